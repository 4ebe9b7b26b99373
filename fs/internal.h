/* fs/ — private helpers shared by the file-system awaitables and the copy engine. */
#ifndef UCO_FS_INTERNAL_H
#define UCO_FS_INTERNAL_H

#include <uco/fs.h>

#include "async/internal.h"

/* Whether the calling task's loop has opcode op (false outside a task). */
static inline bool uco__fs_has_op(unsigned op)
{
    struct uco_task *t = uco__self();
    return t && uco__ring_has_op(&t->loop->ring, op);
}

/* A system call run on the worker pool: fn receives the arguments and returns >= 0 or -errno
 * (read from its own thread's errno). */
typedef int64_t uco__fs_fn(const int64_t *a);
int64_t uco__fs_blocking(const char *name, uco__fs_fn *fn, int64_t a0, int64_t a1, int64_t a2,
                         int64_t a3, int64_t a4, int64_t a5);

/* copy_file_range(2) errors that mean "not between these two files" (other file systems, a file
 * system without it, special files): read and write instead. */
static inline bool uco__cfr_unsupported(int64_t r)
{
    return r == -EXDEV || r == -EINVAL || r == -EOPNOTSUPP || r == -ENOSYS || r == -EBADF ||
           r == -ETXTBSY || r == -EPERM;
}

#define UCO__P(p)         ((int64_t)(uintptr_t)(p))
#define UCO__PTR(T, v)    ((T)(uintptr_t)(v))
#define UCO__SYSRET(expr) ((expr) < 0 ? -(int64_t)errno : 0)

#endif
