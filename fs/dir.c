/* Directory iterator: getdents64(2) in batches on the worker pool (no io_uring opcode lists a
 * directory), optionally with each entry's statx done in the same trip to the worker. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/internal.h"

#define DIR_BUF_DEFAULT ((size_t)32 * 1024)
#define DIR_BUF_MIN     ((size_t)1024)
#define DIR_BUF_MAX     ((size_t)1024 * 1024)
#define STAT_WINDOW     64 /* entries stat'ed per trip to the worker, at most */

/* The kernel's record, as getdents64(2) writes it. */
struct kdirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct uco_dir {
    int fd;
    bool own, eof;
    bool at_end; /* getdents64 found the end: once the buffer is used up, that is all */
    unsigned flags;
    size_t bufsize, len, pos; /* buffer size, bytes of records in it, cursor */
    /* UCO_DIR_STAT: statx of the entries from stat_pos up to stat_end (dots excluded) */
    size_t stat_end;
    unsigned stat_n, stat_i;
    unsigned window;   /* entries stat'ed per trip: smaller with smaller buffers */
    struct statx *stx; /* [window] */
    int stx_err[STAT_WINDOW];
    char *buf;
};

static bool is_dot(const char *n)
{
    return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0));
}

static const struct kdirent64 *rec_at(const struct uco_dir *d, size_t pos)
{
    return (const struct kdirent64 *)(const void *)(d->buf + pos);
}

/* Worker side: stat the next window of entries from d->pos. */
static void stat_window(struct uco_dir *d)
{
    size_t pos = d->pos;
    unsigned n = 0;
    while (pos < d->len && n < d->window) {
        const struct kdirent64 *e = rec_at(d, pos);
        if (!is_dot(e->d_name)) {
            int r = statx(d->fd, e->d_name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                          STATX_BASIC_STATS, &d->stx[n]);
            d->stx_err[n] = r < 0 ? -errno : 0;
            n++;
        }
        pos += e->d_reclen;
    }
    d->stat_end = pos;
    d->stat_n = n;
    d->stat_i = 0;
}

/* Room for the longest record getdents64 may return (header + 255-byte name + NUL, aligned). */
#define DIRENT_MAX ((offsetof(struct kdirent64, d_name) + NAME_MAX + 1 + 7) & ~(size_t)7)

/* Worker side: refill the buffer when it is used up, then stat ahead if asked. The buffer is
 * filled while there is room, so a directory that fits is read to its end in one trip and the
 * trip that would only find the end is saved. */
static intptr_t dir_job(void *arg)
{
    struct uco_dir *d = arg;
    if (d->pos >= d->len) {
        d->len = d->pos = 0;
        while (!d->at_end && d->bufsize - d->len >= DIRENT_MAX) {
            ssize_t n = getdents64(d->fd, d->buf + d->len, d->bufsize - d->len);
            if (n < 0 && d->len == 0) return -errno;
            if (n < 0) break; /* hand out what was read; the error comes back next time */
            if (n == 0) d->at_end = true;
            d->len += (size_t)n;
        }
        if (d->len == 0) {
            d->eof = true;
            return 0;
        }
    }
    if (d->flags & UCO_DIR_STAT) stat_window(d);
    return 0;
}

int uco_dir_fdopen(uco_dir **out, int fd, bool own, unsigned flags, size_t bufsize)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (fd < 0) return -EBADF;
    if (flags & ~UCO_DIR_STAT) return -EINVAL;
    if (!bufsize) bufsize = DIR_BUF_DEFAULT;
    if (bufsize < DIR_BUF_MIN || bufsize > DIR_BUF_MAX) return -EINVAL;
    /* A statx is 256 bytes: about one per 128 bytes of listing, 8..64 per trip. */
    unsigned window = (unsigned)(bufsize / 128);
    if (window < 8) window = 8;
    if (window > STAT_WINDOW) window = STAT_WINDOW;
    size_t stx_size = (flags & UCO_DIR_STAT) ? sizeof(struct statx) * window : 0;
    struct uco_dir *d = malloc(sizeof *d + stx_size + bufsize);
    if (!d) return -ENOMEM;
    memset(d, 0, sizeof *d);
    d->fd = fd;
    d->own = own;
    d->flags = flags;
    d->window = window;
    d->bufsize = bufsize;
    d->stx = stx_size ? (struct statx *)(void *)(d + 1) : NULL;
    d->buf = (char *)(d + 1) + stx_size;
    *out = d;
    return 0;
}

int uco_dir_open(uco_dir **out, int dirfd, const char *path, unsigned flags, size_t bufsize)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (flags & ~UCO_DIR_STAT) return -EINVAL;
    if (bufsize && (bufsize < DIR_BUF_MIN || bufsize > DIR_BUF_MAX)) return -EINVAL;
    int fd = uco_openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    int r = uco_dir_fdopen(out, fd, true, flags, bufsize);
    if (r < 0) uco_close(fd);
    return r;
}

int uco_dir_next(uco_dir *d, uco_dirent *ent)
{
    if (!d || !ent) return -EINVAL;
    for (;;) {
        if (d->eof) return 0;
        bool need_list = d->pos >= d->len;
        if (need_list && d->at_end) {
            d->eof = true;
            return 0;
        }
        bool need_stat = (d->flags & UCO_DIR_STAT) && d->pos >= d->stat_end;
        if (need_list || need_stat) {
            intptr_t r = uco_work(dir_job, d);
            if (r < 0) return (int)r;
            continue;
        }
        const struct kdirent64 *e = rec_at(d, d->pos);
        d->pos += e->d_reclen;
        if (is_dot(e->d_name)) continue;
        ent->name = e->d_name;
        ent->namelen = strlen(e->d_name);
        ent->ino = e->d_ino;
        ent->type = e->d_type;
        ent->stx = NULL;
        ent->stat_err = 0;
        if (d->flags & UCO_DIR_STAT) {
            unsigned i = d->stat_i++;
            ent->stat_err = d->stx_err[i];
            if (!ent->stat_err) ent->stx = &d->stx[i];
        }
        return 1;
    }
}

int uco_dir_fd(const uco_dir *d)
{
    return d ? d->fd : -EBADF;
}

int uco_dir_close(uco_dir *d)
{
    if (!d) return 0;
    int r = 0;
    if (d->own) {
        /* Outside a task (cleanup after the loop ended) close directly. */
        r = uco_task_self() ? uco_close(d->fd) : (close(d->fd) < 0 ? -errno : 0);
    }
    free(d);
    return r;
}
