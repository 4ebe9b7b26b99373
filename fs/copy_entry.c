/* The copy engine's entries: regular files, symlinks, FIFOs, device nodes and sockets, hard
 * links, and what to do when the destination already exists (as cp does). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/copy_internal.h"

/* The name failures of dir/name are reported under (NULL for the root: its own path). */
static const char *rname(const struct cp_dir *dir, const char *name)
{
    return dir->depth ? name : NULL;
}

static bool same_inode(const struct statx *a, const struct statx *b)
{
    return a->stx_ino == b->stx_ino && a->stx_dev_major == b->stx_dev_major &&
           a->stx_dev_minor == b->stx_dev_minor;
}

static bool not_newer(const struct statx *src, const struct statx *dst)
{
    if (dst->stx_mtime.tv_sec != src->stx_mtime.tv_sec)
        return dst->stx_mtime.tv_sec > src->stx_mtime.tv_sec;
    return dst->stx_mtime.tv_nsec >= src->stx_mtime.tv_nsec;
}

/* Removes a destination left incomplete; works in a cancelled task too. */
static bool remove_dst(struct cp_dir *dir, const char *name)
{
    int r = uco_unlinkat(dir->dst_fd, name, 0);
    if (r == -ECANCELED || r == -ETIMEDOUT) r = unlinkat(dir->dst_fd, name, 0) < 0 ? -errno : 0;
    return r == 0;
}

/* Undoes a copy that failed midway: removes the destination when it is this name's alone (own);
 * one reached through a symlink or with other hard links is left, as removing this name would
 * not undo the write. Returns CP_LEFT_REMOVED or CP_LEFT_INCOMPLETE. */
static int undo(struct cp_dir *dir, const char *name, bool own)
{
    if (!own) return CP_LEFT_INCOMPLETE;
    return remove_dst(dir, name) ? CP_LEFT_REMOVED : CP_LEFT_INCOMPLETE;
}

/* The last component of path (trailing slashes ignored) and its length. */
static const char *last_name(const char *path, size_t *len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    *len = n - s;
    return path + s;
}

/* Whether two paths name the same directory entry: the same last name in the same directory. */
static bool same_entry(int adirfd, const char *a, int bdirfd, const char *b)
{
    size_t an, bn;
    const char *as = last_name(a, &an), *bs = last_name(b, &bn);
    if (an != bn || memcmp(as, bs, an) != 0) return false;
    char *ap = as > a ? strndup(a, (size_t)(as - a)) : strdup(".");
    char *bp = bs > b ? strndup(b, (size_t)(bs - b)) : strdup(".");
    struct statx x, y;
    bool same = ap && bp && uco_statx(adirfd, ap, 0, STATX_INO, &x) == 0 &&
                uco_statx(bdirfd, bp, 0, STATX_INO, &y) == 0 && same_inode(&x, &y);
    free(ap);
    free(bp);
    return same;
}

/* Whether the source and the existing destination dst are the same file, by cp's rules: 1 (a
 * refusal), -1 (two hard links of one symlink: nothing to do, as cp), 0. Copying symlinks as
 * symlinks (and only then), a symlink is the same file as the file it leads to: copied over it,
 * it would replace it by a link to itself. */
static int same_file(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *name,
                     const struct statx *src, const struct statx *dst)
{
    bool slink = S_ISLNK(src->stx_mode), dlink = S_ISLNK(dst->stx_mode);
    bool never = (e->flags & UCO_COPY_NO_DEREF) && !(e->flags & UCO_COPY_DEREF_ROOT);
    if (!never || (!slink && !dlink)) return same_inode(src, dst);
    if (slink && dlink) {
        if (!same_inode(src, dst)) return 0;
        /* Inside a tree the two are in different directories: only the caller's paths can be
         * the same entry. */
        return dir->depth == 0 && same_entry(dir->src_fd, sname, dir->dst_fd, name) ? 1 : -1;
    }
    struct statx a = *src, b = *dst;
    if (slink && uco_statx(dir->src_fd, sname, 0, STATX_TYPE | STATX_INO, &a) < 0) return 0;
    if (dlink && uco_statx(dir->dst_fd, name, 0, STATX_TYPE | STATX_INO, &b) < 0) return 0;
    return same_inode(&a, &b);
}

/* The destination exists. Decides, in cp's order, whether to overwrite it (regular file: opened
 * and truncated, following a symlink there; anything else: removed and made anew), skip it
 * (-n before anything else, -u), or refuse (the source itself; a directory). sname is the
 * source's name in dir (the source's symlink is followed to compare it with the destination).
 * *named (may be NULL) receives the name's own statx (not following a symlink). Returns 0
 * (overwrite it), 1 (skip it) or -EEXIST (refused, and reported). */
static int existing(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *name,
                    const struct statx *src, bool through_symlink, struct statx *named)
{
    struct statx dst;
    int r = uco_statx(dir->dst_fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &dst);
    if (r == 0 && named) *named = dst;
    if (r == 0 && through_symlink && S_ISLNK(dst.stx_mode)) {
        r = uco_statx(dir->dst_fd, name, 0, STATX_BASIC_STATS, &dst);
        if (r == -ENOENT) {
            uco__cp_fail(e, dir, rname(dir, name), "write through dangling symlink", true, -ENOENT,
                         false);
            return -EEXIST;
        }
    }
    if (r < 0) {
        uco__cp_fail(e, dir, rname(dir, name), "stat", true, r, false);
        return -EEXIST;
    }
    /* cp -n looks no further: not even at whether it is the source itself, or a directory. */
    int same = e->flags & UCO_COPY_NO_CLOBBER ? 0 : same_file(e, dir, sname, name, src, &dst);
    if (same > 0) {
        uco__cp_fail(e, dir, rname(dir, name), "same file", true, -EINVAL, false);
        return -EEXIST;
    }
    if (same < 0 || (e->flags & UCO_COPY_NO_CLOBBER) ||
        ((e->flags & UCO_COPY_UPDATE) && not_newer(src, &dst))) {
        e->st.skipped++;
        return 1;
    }
    if (S_ISDIR(dst.stx_mode)) {
        uco__cp_fail(e, dir, rname(dir, name), "overwrite directory with non-directory", true,
                     -EISDIR, false);
        return -EEXIST;
    }
    return 0;
}

/* Removes dir/name and creates it afresh. */
static int recreate(struct cp_dir *dir, const char *name, mode_t cmode)
{
    int r = uco_unlinkat(dir->dst_fd, name, 0);
    if (r < 0 && r != -ENOENT) return r;
    return uco_openat(dir->dst_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, cmode);
}

/* Opens an existing regular destination for overwriting, as cp does: O_TRUNC, following a
 * symlink; with -f, one that cannot be opened is removed and created afresh; keeping hard links
 * (cp -a), one with other names is replaced, not written through, so they keep their content.
 * *own: the file opened is this name's alone (not reached through a symlink, no other hard
 * link), so removing the name undoes the copy if it fails. */
static int open_existing(struct cp_engine *e, struct cp_dir *dir, const char *sname,
                         const char *name, const struct statx *src, mode_t cmode, bool *created,
                         bool *skip, bool *own)
{
    *created = false;
    *skip = false;
    *own = false;
    struct statx named;
    int v = existing(e, dir, sname, name, src, true, &named);
    if (v) {
        *skip = v > 0;
        return v > 0 ? 0 : v;
    }
    bool linked = !S_ISLNK(named.stx_mode) && named.stx_nlink > 1;
    bool replace = linked && (e->flags & UCO_COPY_LINKS);
    int fd = -1;
    if (!replace) {
        fd = uco_openat(dir->dst_fd, name, O_WRONLY | O_TRUNC | O_CLOEXEC, 0);
        replace = fd < 0 && (e->flags & UCO_COPY_FORCE);
    }
    if (replace) {
        fd = recreate(dir, name, cmode);
        *created = *own = fd >= 0;
        return fd;
    }
    struct statx opened;
    *own = fd >= 0 && !S_ISLNK(named.stx_mode) &&
           uco_statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &opened) == 0 &&
           opened.stx_nlink == 1 && opened.stx_ino == named.stx_ino;
    return fd;
}

/* Closes a source and a destination descriptor at once (two closes in flight, one wait).
 * Returns the destination's close result: a file system that writes back late (NFS, FUSE, a
 * full disk) reports there that data did not make it; the source's says nothing of the copy. */
static int close2(int src, int dst)
{
    uco_op cs, cd;
    bool ss = src >= 0 && uco_op_close(&cs, src) == 0;
    int r = dst >= 0 ? uco_op_close(&cd, dst) : 0;
    if (ss) uco_op_wait(&cs);
    if (dst >= 0 && r == 0) r = (int)uco_op_wait(&cd);
    return r;
}

/* How a regular file's source is opened and its destination created. */
struct reg_open {
    int sflags, cflags;
    bool noatime;
    mode_t cmode;
    struct cp_meta m;
};

static void reg_open_of(const struct cp_engine *e, const struct cp_dir *dir,
                        const struct statx *stx, bool follow, struct reg_open *o)
{
    o->sflags = O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
    /* Reading the source need not touch its access time (ours to skip only as its owner). */
    o->noatime = e->privileged || stx->stx_uid == e->euid;
    if (o->noatime) o->sflags |= O_NOATIME;
    uco__cp_meta_from_statx(&o->m, stx);
    o->cmode = uco__cp_create_mode(e, dir, &o->m);
    o->cflags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
}

/* Copies a regular file (or, not recursive, what a FIFO or device gives). pre: the result of
 * the file's job in a batch, which opened (src, dst) and maybe copied it; NULL: all here. */
static int copy_reg(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *dname,
                    const struct statx *stx, bool follow, const struct cp_pool_file *pre)
{
    const char *rn = rname(dir, dname);
    struct reg_open o;
    reg_open_of(e, dir, stx, follow, &o);
    int r, src, dst;
    if (pre) {
        src = pre->src;
        dst = pre->dst;
    } else if (S_ISREG(stx->stx_mode)) {
        /* Open the source and create the destination at once. */
        uco_op os, od;
        r = uco_op_openat(&os, dir->src_fd, sname, o.sflags, 0);
        if (r < 0) return uco__cp_fail(e, dir, rn, "open", false, r, false);
        r = uco_op_openat(&od, dir->dst_fd, dname, o.cflags, o.cmode);
        src = (int)uco_op_wait(&os);
        dst = r < 0 ? r : (int)uco_op_wait(&od);
        if (src == -EPERM && o.noatime) /* some file systems refuse O_NOATIME */
            src = uco_openat(dir->src_fd, sname, o.sflags & ~O_NOATIME, 0);
    } else {
        /* A FIFO, a device: open first (a socket cannot be), then create; the reads wait for a
         * FIFO's writer, as cp's open does. */
        src = uco_openat(dir->src_fd, sname, o.sflags, 0);
        if (src == -EPERM && o.noatime)
            src = uco_openat(dir->src_fd, sname, o.sflags & ~O_NOATIME, 0);
        dst = src < 0 ? src : uco_openat(dir->dst_fd, dname, o.cflags, o.cmode);
    }
    size_t dlen = strlen(dname);
    if (dst == -EISDIR && dlen && dname[dlen - 1] == '/') {
        /* O_CREAT says so of any name ending in '/': it is only true of a directory. */
        struct statx ds;
        if (uco_statx(dir->dst_fd, dname, 0, STATX_TYPE, &ds) < 0 || !S_ISDIR(ds.stx_mode))
            dst = -ENOTDIR;
    }
    bool created = dst >= 0, own = created;
    if (src < 0) {
        if (created) {
            uco_close(dst);
            remove_dst(dir, dname);
        }
        if (dst == -EEXIST) {
            /* cp looks at the destination before it opens the source: -n or -u may skip it
             * (no error then), and a refusal of it comes first. */
            int v = existing(e, dir, sname, dname, stx, true, NULL);
            if (v) return v > 0 ? 0 : v; /* skipped, or refused (reported) */
        }
        return uco__cp_fail(e, dir, rn, "open", false, src, false);
    }
    if (dst == -EEXIST) {
        bool skip;
        dst = open_existing(e, dir, sname, dname, stx, o.cmode, &created, &skip, &own);
        if (skip || dst == -EEXIST) {
            uco_close(src);
            return skip ? 0 : -EEXIST;
        }
    }
    if (dst < 0) {
        uco_close(src);
        return uco__cp_fail(e, dir, rn, "create", true, dst, false);
    }
    struct cp_fds f = {src, -1, dst, -1, CP_DIO_ALIGN_DEFAULT, CP_DIO_ALIGN_DEFAULT};
    if ((e->flags & UCO_COPY_DIRECT) && stx->stx_size > e->small_max) {
        /* Best effort: a file system without O_DIRECT just uses the page cache; unaligned
         * pieces (a file's tail) go through it too. */
        int d = uco_openat(dir->dst_fd, dname, O_WRONLY | O_DIRECT | O_CLOEXEC, 0);
        if (d >= 0) f.dst_direct = d;
        int s = uco_openat(dir->src_fd, sname, o.sflags | O_DIRECT, 0);
        if (s >= 0) f.src_direct = s;
        /* The alignment the two files ask for (statx), not a guess. */
        if (f.src_direct >= 0 || f.dst_direct >= 0) uco__cp_dio_align(&f);
    }
    /* The job went on to the data when it opened both: the task opened nothing itself. */
    bool in_job = pre && pre->src >= 0 && pre->dst >= 0;
    const char *where = "read";
    int64_t n;
    int cr = 0;
    if (in_job) {
        n = pre->n;
        if (n < 0)
            where = pre->where;
        else
            e->st.bytes += (uint64_t)n;
    } else {
        n = uco__cp_data(e, &f, stx, &where);
        cr = close2(f.src_direct, f.dst_direct);
    }
    if (n >= 0 && cr < 0) {
        n = cr;
        where = "close";
    }
    if (n < 0) {
        close2(src, dst);
        return uco__cp_fail(e, dir, rn, where, where[0] != 'r', (int)n, undo(dir, dname, own));
    }
    const char *mop;
    if (in_job) {
        r = pre->mc.err;
        mop = pre->mc.op;
        cr = pre->close_err;
    } else {
        r = uco__cp_meta_set(e, dir, dname, dst, src, &o.m, created, &mop);
        cr = close2(src, dst);
    }
    if (cr < 0) {
        /* The data may not have made it: the copy is incomplete, and removed. One report for
         * the file: its first failure (the metadata's, if that failed too), saying the removal. */
        int left = undo(dir, dname, own);
        if (r < 0 && mop) return uco__cp_fail(e, dir, rn, mop, true, r, left);
        return uco__cp_fail(e, dir, rn, "close", true, cr, left);
    }
    if (r < 0) {
        /* The data is complete, its metadata is not (mop NULL: cancelled, nothing failed). */
        return mop ? uco__cp_fail(e, dir, rn, mop, true, r, false) : r;
    }
    e->st.files++;
    uco__cp_entry_done(e, dir, rn, S_IFREG, false);
    return 0;
}

/* Creates a non-regular entry with make(); an existing destination is replaced as cp does. */
static int make_replacing(struct cp_engine *e, struct cp_dir *dir, const char *sname,
                          const char *name, const struct statx *stx, int (*make)(void *), void *arg,
                          const char *op)
{
    int r = make(arg);
    if (r == -EEXIST) {
        int v = existing(e, dir, sname, name, stx, false, NULL);
        if (v) return v; /* 1: skipped; -EEXIST: refused (reported) */
        r = uco_unlinkat(dir->dst_fd, name, 0);
        if (r == 0 || r == -ENOENT) r = make(arg);
    }
    if (r < 0) uco__cp_fail(e, dir, rname(dir, name), op, true, r, false);
    return r;
}

struct mk_symlink {
    const char *target;
    struct cp_dir *dir;
    const char *name;
};

static int mk_symlink(void *arg)
{
    struct mk_symlink *a = arg;
    return uco_symlinkat(a->target, a->dir->dst_fd, a->name);
}

static int copy_symlink(struct cp_engine *e, struct cp_dir *dir, const char *sname,
                        const char *dname, const struct statx *stx)
{
    /* The stat'ed size is the target's length, unless the link changed since. */
    size_t cap =
        stx->stx_size > 0 && stx->stx_size < PATH_MAX ? (size_t)stx->stx_size + 1 : PATH_MAX;
    char *target = NULL;
    ssize_t n;
    for (;;) {
        char *t = realloc(target, cap);
        if (!t) {
            free(target);
            return uco__cp_fail(e, dir, rname(dir, dname), "readlink", false, -ENOMEM, false);
        }
        target = t;
        n = uco_readlinkat(dir->src_fd, sname, target, cap);
        if (n < 0 || (size_t)n < cap) break;
        cap *= 2; /* filled: it may be longer */
    }
    if (n < 0) {
        free(target);
        return uco__cp_fail(e, dir, rname(dir, dname), "readlink", false, (int)n, false);
    }
    target[n] = 0;
    struct mk_symlink a = {target, dir, dname};
    int r = make_replacing(e, dir, sname, dname, stx, mk_symlink, &a, "symlink");
    free(target);
    if (r != 0) return r < 0 ? r : 0;
    struct cp_meta m;
    uco__cp_meta_from_statx(&m, stx);
    r = uco__cp_meta_apply(e, dir, dname, -1, &m, true);
    if (r < 0) return r;
    e->st.symlinks++;
    uco__cp_entry_done(e, dir, rname(dir, dname), S_IFLNK, false);
    return 0;
}

struct mk_node {
    struct cp_dir *dir;
    const char *name;
    mode_t mode;
    dev_t rdev;
};

static int mk_node(void *arg)
{
    struct mk_node *a = arg;
    return uco_mknodat(a->dir->dst_fd, a->name, a->mode, a->rdev);
}

static int copy_special(struct cp_engine *e, struct cp_dir *dir, const char *sname,
                        const char *dname, const struct statx *stx)
{
    struct cp_meta m;
    uco__cp_meta_from_statx(&m, stx);
    struct mk_node a = {dir, dname, (stx->stx_mode & S_IFMT) | uco__cp_create_mode(e, dir, &m),
                        makedev(stx->stx_rdev_major, stx->stx_rdev_minor)};
    int r = make_replacing(e, dir, sname, dname, stx, mk_node, &a, "mknod");
    if (r != 0) return r < 0 ? r : 0;
    r = uco__cp_meta_apply(e, dir, dname, -1, &m, true);
    if (r < 0) return r;
    e->st.specials++;
    uco__cp_entry_done(e, dir, rname(dir, dname), stx->stx_mode & S_IFMT, false);
    return 0;
}

struct mk_link {
    struct cp_engine *e;
    struct cp_link *l;
    struct cp_dir *dir;
    const char *name;
};

static int mk_link(void *arg)
{
    struct mk_link *a = arg;
    int from = a->e->links_shared ? a->e->dst_dirfd : a->e->root->dst_fd;
    return uco_linkat(from, a->l->dst, a->dir->dst_fd, a->name, 0);
}

/* Another name of an inode already copied: a hard link to the copy. */
static int make_link(struct cp_engine *e, struct cp_dir *dir, const char *name,
                     const struct statx *stx, struct cp_link *l)
{
    struct mk_link a = {e, l, dir, name};
    int r = make_replacing(e, dir, name, name, stx, mk_link, &a, "link");
    if (r != 0) return r < 0 ? r : 0;
    e->st.hardlinks++;
    uco__cp_entry_done(e, dir, name, stx->stx_mode & S_IFMT, true);
    return 0;
}

/* Whether an entry of dir is opened through a symlink (the caller's own source with -H). */
static bool follows(const struct cp_engine *e, const struct cp_dir *dir)
{
    return !(e->flags & UCO_COPY_NO_DEREF) || (dir->depth == 0 && (e->flags & UCO_COPY_DEREF_ROOT));
}

static int copy_one(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *dname,
                    const struct statx *stx)
{
    bool follow = follows(e, dir);
    switch (stx->stx_mode & S_IFMT) {
    case S_IFREG:
        return copy_reg(e, dir, sname, dname, stx, follow, NULL);
    case S_IFLNK:
        return copy_symlink(e, dir, sname, dname, stx);
    case S_IFIFO:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFSOCK:
        /* Not recursive, cp reads what it gives into a regular file (cp fifo f, cp /dev/null f,
         * cp <(cmd) f); a socket cannot be opened, and says so. */
        if (!(e->flags & UCO_COPY_RECURSIVE))
            return copy_reg(e, dir, sname, dname, stx, follow, NULL);
        return copy_special(e, dir, sname, dname, stx);
    default:
        return uco__cp_fail(e, dir, rname(dir, dname), "copy (unknown file type)", false, -EINVAL,
                            false);
    }
}

int uco__cp_entry(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *dname,
                  const struct statx *stx)
{
    struct cp_link *l = NULL;
    /* The copy's own top is its only name in it; with a shared table, others may follow. */
    if ((e->flags & UCO_COPY_LINKS) && (dir->depth > 0 || e->links_shared) && stx->stx_nlink > 1) {
        bool created;
        dev_t dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
        l = uco__cp_link_find(e, dev, stx->stx_ino, &created, stx->stx_nlink);
        if (!l) {
            /* Said once: from here on, new hard-link groups are copied as separate files. */
            static const char op[] = "keep hard links (too many groups open; copied as a file)";
            if (!e->links_reported) uco__cp_fail(e, dir, dname, op, false, -ENOMEM, false);
            e->links_reported = true;
        }
        if (l && !created) {
            while (l->state == CP_LINK_COPYING) {
                int r = uco__cp_wait(&l->waiters, "first copy of a hard link");
                if (r < 0) {
                    uco__cp_link_release(e, l);
                    return r;
                }
            }
            if (l->dst) {
                int r = make_link(e, dir, dname, stx, l);
                uco__cp_link_release(e, l);
                return r;
            }
            l->state = CP_LINK_COPYING; /* the earlier copy failed: this name tries */
        }
    }
    int r = copy_one(e, dir, sname, dname, stx);
    if (l) {
        if (r == 0 && !l->dst)
            l->dst =
                e->links_shared ? uco__cp_path(e, dir, dname, true) : uco__cp_relpath(dir, dname);
        l->state = CP_LINK_DONE;
        uco__wq_wake_all(&l->waiters, 0);
        uco__cp_link_release(e, l);
    }
    return r;
}

/* ---- batches of small files ----------------------------------------------------------- */

bool uco__cp_batchable(const struct cp_engine *e, const struct statx *stx)
{
    if (!e->write_inline || !S_ISREG(stx->stx_mode) || stx->stx_size > e->small_max) return false;
    if (e->st.files_total < e->batch_off_until) return false; /* a cold source was seen */
    /* Sparse: the chunk pipeline keeps its holes. */
    if ((int64_t)stx->stx_blocks * 512 < (int64_t)stx->stx_size) return false;
    /* A name of a hard-link group waits for the group's first copy: not in a worker. */
    if ((e->flags & UCO_COPY_LINKS) && stx->stx_nlink > 1) return false;
    /* Fault rules (tests) apply to the ring's operations and the loop's own calls. */
    return !(uco__tls_loop && uco__tls_loop->faults.n);
}

void uco__cp_batch_add(struct cp_engine *e, struct cp_batch *b, struct cp_dir *dir,
                       const char *name, const struct statx *stx)
{
    unsigned i = b->n++;
    if (i == 0) {
        b->src_dirfd = dir->src_fd;
        b->dst_dirfd = dir->dst_fd;
    }
    b->f[i].stx = *stx;
    snprintf(b->f[i].name, sizeof b->f[i].name, "%s", name);
    struct reg_open o;
    reg_open_of(e, dir, stx, follows(e, dir), &o);
    struct cp_pool_file *pf = &b->f[i].pf;
    *pf = (struct cp_pool_file){.sflags = o.sflags,
                                .cflags = o.cflags,
                                .cmode = o.cmode,
                                .noatime = o.noatime,
                                .size = (int64_t)stx->stx_size};
    pf->xattr = (e->flags & UCO_COPY_XATTR) != 0;
    /* Prepared by name: the job sets the descriptors (and the xattrs' source) once open. */
    pf->meta = uco__cp_meta_prep(e, dir, b->f[i].name, -1, -1, &o.m, true, &pf->mc);
}

static int sys_fd(int r)
{
    return r < 0 ? -errno : r;
}

#ifndef __NR_cachestat
#define __NR_cachestat 451 /* Linux 6.5; one number on every architecture */
#endif

/* 1: the first len bytes of fd are all in the page cache; 0: not; -1: unknown (no cachestat
 * before Linux 6.5; refused, as for a file of another user that can't be written: Linux 6.18
 * here says EPERM then, even to a reader; a file system without a page cache).
 * It reads nothing: a read with RWF_NOWAIT of pages not in the cache starts reading them, and
 * a thread descheduled meanwhile finds them there and takes the file for cached (seen in 0.1
 * to 0.2 % of such reads on a loaded machine, enough to make a cold batch warm now and then). */
static int in_page_cache(int fd, int64_t len)
{
    static atomic_bool absent;
    if (len <= 0) return 1;
    if (atomic_load_explicit(&absent, memory_order_relaxed)) return -1;
    struct {
        uint64_t off, len;
    } range = {0, (uint64_t)len};
    struct {
        uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
    } cs;
    if (syscall(__NR_cachestat, fd, &range, &cs, 0) < 0) {
        if (errno == ENOSYS) atomic_store_explicit(&absent, true, memory_order_relaxed);
        return -1;
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return cs.nr_cache >= ((uint64_t)len + page - 1) / page;
}

/* One file of a batch, on a worker thread. probe: a source not in the page cache is left to
 * the ring (cold), before anything was created: there many reads are in flight at once, while
 * a worker would wait for each in turn. Asked with cachestat, else with a read that must not
 * wait (which costs more than a plain one, measured: one probe per batch). */
static void pool_file_run(struct cp_pool_file *p, int sdir, int ddir, const char *name, char *buf,
                          size_t cap, bool probe)
{
    p->src = sys_fd(openat(sdir, name, p->sflags, 0));
    if (p->src == -EPERM && p->noatime) /* some file systems refuse O_NOATIME */
        p->src = sys_fd(openat(sdir, name, p->sflags & ~O_NOATIME, 0));
    ssize_t n = 0;
    bool have = false; /* buf holds the first read's n bytes */
    if (p->src >= 0 && probe) {
        int cached = in_page_cache(p->src, p->size);
        if (cached < 0) {
            struct iovec v = {buf, cap};
            n = preadv2(p->src, &v, 1, 0, RWF_NOWAIT);
            cached = !(n < 0 && errno == EAGAIN);
            have = n >= 0; /* else (no RWF_NOWAIT here, EINTR, an error) read again, waiting */
        }
        if (!cached) {
            close(p->src);
            p->src = -1;
            p->cold = true;
            return;
        }
    }
    p->dst = sys_fd(openat(ddir, name, p->cflags, p->cmode));
    if (p->src < 0 || p->dst < 0) return;
    int64_t off = 0;
    for (;;) {
        if (!have) n = pread(p->src, buf, cap, (off_t)off);
        have = false;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            p->n = -errno;
            p->where = "read";
            return;
        }
        if (n == 0) break;
        ssize_t w = uco__cp_pwrite_all(p->dst, buf, (size_t)n, off);
        if (w < 0) {
            p->n = w;
            p->where = "write";
            return;
        }
        off += n;
        /* Short of the buffer and at (or past) the stat'ed size: that was the end. Short
         * before it: the file shrank, or the read was cut; the next read says which. */
        if ((size_t)n < cap && off >= p->size) break;
    }
    p->n = off;
    p->copied = true;
    if (p->meta || p->xattr) {
        p->mc.fd = p->dst;
        p->mc.src_fd = p->xattr ? p->src : -1;
        uco__cp_meta_run(&p->mc);
    }
    close(p->src);
    p->close_err = close(p->dst) < 0 ? -errno : 0;
}

static bool batch_cold(const struct cp_batch *b)
{
    return b->n > 1 && b->f[0].pf.cold && b->f[1].pf.cold;
}

static intptr_t batch_job(void *arg)
{
    struct cp_batch *b = arg;
    for (unsigned i = 0; i < b->n; i++) {
        /* The first file says whether the batch's sources are in the page cache, and the
         * second confirms a no (a warm tree has a few files that are not). */
        if (i > 1 && batch_cold(b)) {
            b->f[i].pf.cold = true;
            continue;
        }
        bool probe = i == 0 || (i == 1 && b->f[0].pf.cold);
        pool_file_run(&b->f[i].pf, b->src_dirfd, b->dst_dirfd, b->f[i].name, b->buf, b->cap, probe);
    }
    return 0;
}

void uco__cp_batch_copy(struct cp_engine *e, struct cp_dir *dir, struct cp_batch *b)
{
    /* One buffer for the batch: one more byte than the largest file, so that a read that
     * fills it says the file grew. */
    size_t need = 0;
    for (unsigned i = 0; i < b->n; i++)
        if ((size_t)b->f[i].stx.stx_size + 1 > need) need = (size_t)b->f[i].stx.stx_size + 1;
    b->buf = uco__cp_buf_get(e, need, 0, &b->cap);
    intptr_t r = b->buf ? uco__work_group(batch_job, b, &e->batch_group) : -ENOMEM;
    if (b->buf) uco__cp_buf_put(e, b->buf, b->cap);
    b->buf = NULL;
    if (r == -ECANCELED) return; /* the copy stopped before the job ran: nothing was made */
    bool follow = follows(e, dir);
    /* The batch's sources are not in the page cache: most likely the next files' are not
     * either, and the ring's path reads many at once: no batches for a while. */
    if (r >= 0 && batch_cold(b)) e->batch_off_until = e->st.files_total + CP_COLD_SKIP;
    for (unsigned i = 0; i < b->n; i++) {
        if (r < 0) {
            uco__cp_fail(e, dir, b->f[i].name, "copy", true, (int)r, false);
            continue;
        }
        const struct cp_pool_file *pf = &b->f[i].pf;
        copy_reg(e, dir, b->f[i].name, b->f[i].name, &b->f[i].stx, follow, pf->cold ? NULL : pf);
    }
}
