/* Whole-file helpers: read a file, write a file, copy a range between descriptors. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/internal.h"

#define READ_MAX_DEFAULT ((size_t)1 << 30)
#define RANGE_CHUNK      ((int64_t)64 << 20) /* per copy_file_range trip to the worker */
#define RANGE_BUF        ((size_t)256 << 10) /* read/write fallback */

int uco_file_read(int dirfd, const char *path, void **buf, size_t *len, size_t max)
{
    if (!path || !buf || !len) return -EFAULT;
    *buf = NULL;
    *len = 0;
    if (!max) max = READ_MAX_DEFAULT;
    int fd = uco_openat(dirfd, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    struct statx stx;
    int r = uco_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx);
    /* The size is a hint: /proc and sysfs files say 0, and files change. Read to the end, at
     * most max + 1 bytes (one more than allowed means too big). The buffer takes limit + 1 (the
     * NUL), so limit stops below SIZE_MAX: no file that big can be read anyway. */
    size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
    size_t cap =
        r == 0 && stx.stx_size > 0 && stx.stx_size < limit ? (size_t)stx.stx_size + 1 : 4096;
    if (cap > limit) cap = limit;
    char *p = NULL;
    size_t n = 0;
    r = 0;
    for (;;) {
        if (!p || n == cap) {
            if (p) {
                if (cap == limit) break;
                cap = cap > limit / 2 ? limit : cap * 2;
            }
            char *q = realloc(p, cap + 1); /* + 1 for the NUL */
            if (!q) {
                r = -ENOMEM;
                break;
            }
            p = q;
        }
        ssize_t got = uco_read(fd, p + n, cap - n, (int64_t)n);
        if (got <= 0) {
            r = (int)got;
            break;
        }
        n += (size_t)got;
    }
    if (r == 0 && n > max) r = -EFBIG;
    uco_close(fd);
    if (r < 0) {
        free(p);
        return r;
    }
    p[n] = 0;
    *buf = p;
    *len = n;
    return 0;
}

int uco_file_write(int dirfd, const char *path, const void *buf, size_t len, int flags, mode_t mode)
{
    if (!path || (!buf && len)) return -EFAULT;
    int fd = uco_openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | flags, mode);
    if (fd < 0) return fd;
    ssize_t n = len ? uco_write_all(fd, buf, len, (flags & O_APPEND) ? -1 : 0) : 0;
    int c = uco_close(fd);
    if (n < 0) return (int)n;
    return c;
}

static int64_t sys_copy_file_range(const int64_t *a)
{
    loff_t in = a[1], out = a[3];
    ssize_t n = copy_file_range((int)a[0], &in, (int)a[2], &out, (size_t)a[4], 0);
    return n < 0 ? -(int64_t)errno : n;
}

static int64_t copy_rw(int fd_in, int64_t off_in, int fd_out, int64_t off_out, int64_t len)
{
    char *buf = malloc(RANGE_BUF);
    if (!buf) return -ENOMEM;
    int64_t done = 0, r = 0;
    while (done < len) {
        size_t want = len - done < (int64_t)RANGE_BUF ? (size_t)(len - done) : RANGE_BUF;
        ssize_t n = uco_read(fd_in, buf, want, off_in + done);
        if (n <= 0) {
            r = n;
            break;
        }
        ssize_t w = uco_write_all(fd_out, buf, (size_t)n, off_out + done);
        if (w < 0) {
            r = w;
            break;
        }
        done += n;
    }
    free(buf);
    return r < 0 ? r : done;
}

int64_t uco_copy_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, int64_t len)
{
    if (off_in < 0 || off_out < 0 || len < 0) return -EINVAL;
    int64_t done = 0;
    while (done < len) {
        int64_t want = len - done < RANGE_CHUNK ? len - done : RANGE_CHUNK;
        int64_t n = uco__fs_blocking("uco_copy_range", sys_copy_file_range, fd_in, off_in + done,
                                     fd_out, off_out + done, want, 0);
        if (n == 0) break; /* end of file */
        if (n < 0) {
            if (done == 0 && uco__cfr_unsupported(n))
                return copy_rw(fd_in, off_in, fd_out, off_out, len);
            return n;
        }
        done += n;
    }
    return done;
}
