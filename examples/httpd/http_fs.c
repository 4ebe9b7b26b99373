/* Opening files beneath a root directory, so that no target can name a file outside it.
 *
 * The kernel does the confinement: openat2(RESOLVE_BENEATH) refuses any resolution step that
 * would leave the directory (".." above it, absolute symlinks, symlinks climbing out), atomically,
 * so a symlink swapped in between checks cannot win a race. Kernels before 5.6 (or seccomp filters
 * that do not know openat2) get a component-by-component walk that follows no symlink at all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, memmem */
#endif
#include "http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int httpd_root_open(const char *dir)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static const char *skip_slashes(const char *rel)
{
    while (*rel == '/')
        rel++;
    return rel;
}

int httpd_open_beneath_walk(int rootfd, const char *rel, int flags)
{
    rel = skip_slashes(rel);
    int dir = rootfd;
    char name[256];
    for (;;) {
        const char *slash = strchr(rel, '/');
        size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
        const char *next = slash ? skip_slashes(slash) : rel + n;
        int err = 0, fd = -1;
        if (n >= sizeof name) {
            err = -ENAMETOOLONG;
        } else if (n == 2 && rel[0] == '.' && rel[1] == '.') {
            err = -EXDEV;
        } else {
            memcpy(name, rel, n);
            name[n] = 0;
            if (n == 0) name[n++] = '.', name[n] = 0; /* the root itself */
            bool last = *next == 0;
            /* O_NOFOLLOW: a symlink as the last component fails with ELOOP; with O_PATH |
             * O_DIRECTORY in the middle it opens the link itself, which is no directory:
             * ENOTDIR. Either way no link is followed. */
            fd = last ? openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC)
                      : openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) err = -errno;
            if (!err && last) {
                if (dir != rootfd) close(dir);
                return fd;
            }
        }
        if (dir != rootfd) close(dir);
        if (err) return err;
        dir = fd;
        rel = next;
    }
}

static const char *beneath_how(const char *rel, int flags, struct open_how *how)
{
    rel = skip_slashes(rel);
    *how = (struct open_how){
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return *rel ? rel : ".";
}

int httpd_open_beneath(int rootfd, const char *rel, int flags)
{
    struct open_how how;
    const char *path = beneath_how(rel, flags, &how);
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    int err = errno;
    if (err == ENOSYS || err == EPERM) return httpd_open_beneath_walk(rootfd, rel, flags);
    return -err;
}

/* O_NONBLOCK: opening a FIFO someone left in the root must not hang the server. */
#define FILE_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY)

const char *httpd_file_how(const char *rel, struct open_how *how)
{
    return beneath_how(rel, FILE_FLAGS, how);
}

int httpd_file_check(int fd, struct stat *st)
{
    int err = 0;
    if (fstat(fd, st) < 0)
        err = -errno;
    else if (S_ISDIR(st->st_mode))
        err = -EISDIR;
    else if (!S_ISREG(st->st_mode))
        err = -EACCES;
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

int httpd_file_open(int rootfd, const char *rel, struct stat *st)
{
    int fd = httpd_open_beneath(rootfd, rel, FILE_FLAGS);
    return fd < 0 ? fd : httpd_file_check(fd, st);
}

int httpd_status_for_errno(int err)
{
    switch (err < 0 ? -err : err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    case ENAMETOOLONG:
        return 414;
    default:
        return 500;
    }
}
