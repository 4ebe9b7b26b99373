/* The copy engine: the coordinator (uco_copy), the walkers, directory nodes, reporting.
 * See fs/copy_internal.h for the shape of a copy. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fs/copy_internal.h"

#define JOBS_DEFAULT     256 /* measured: cold trees want many reads in flight */
#define WALKERS_DEFAULT  32
#define QD_DEFAULT       4
#define CHUNK_DEFAULT    ((size_t)1 << 20)
#define PROGRESS_DEFAULT (200 * UCO_MSEC)
#define DIRBUF_SHALLOW   ((size_t)8 * 1024)
#define DIRBUF_DEEP      ((size_t)1024) /* below DEEP_LEVEL, to bound memory on deep trees */
#define DEEP_LEVEL       32
/* Files up to this size are read and written in one go with a buffer of their own; bigger ones
 * go through copy_file_range (no buffer) or the chunk pipeline. */
#define SMALL_MAX        ((size_t)64 * 1024 - 1)
#define ENTRY_STACK      ((size_t)64 * 1024)
/* Every UCO_COPY_* flag: a caller built against a later library may pass one this one lacks. */
#define COPY_FLAGS_KNOWN                                                                           \
    (UCO_COPY_ARCHIVE | UCO_COPY_NO_CLOBBER | UCO_COPY_FORCE | UCO_COPY_UPDATE | UCO_COPY_ONE_FS | \
     UCO_COPY_DIRECT | UCO_COPY_DEREF_ROOT | UCO_COPY_OWN_LOOP)

/* ---- waiting ---------------------------------------------------------------------------- */

int uco__cp_wait(struct uco__waitq *q, const char *what)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco__cp_wait");
    int r = uco__await_check(t);
    if (r) return r;
    struct uco__waiter w;
    return uco__wq_wait(q, &w, t, what);
}

/* ---- paths and reports ---------------------------------------------------------------- */

static bool is_top(const struct cp_dir *d)
{
    return d && d->depth == 0;
}

/* prefix (may be NULL or end with '/') + the names from the root's child down to d + name. */
static char *join_path(const char *prefix, const struct cp_dir *d, const char *name)
{
    size_t plen = prefix ? strlen(prefix) : 0, nlen = name ? strlen(name) : 0;
    bool slash = plen && prefix[plen - 1] != '/';
    size_t len = plen + 1;
    for (const struct cp_dir *p = d; !is_top(p->parent); p = p->parent)
        len += p->namelen + 1u;
    len += nlen + 1;
    char *out = malloc(len);
    if (!out) return NULL;
    /* Fill from the end: name, then each directory up to the root's child, then the prefix. */
    char *w = out + len - 1;
    *w = 0;
    w -= nlen;
    memcpy(w, name ? name : "", nlen);
    for (const struct cp_dir *p = d; !is_top(p->parent); p = p->parent) {
        *--w = '/';
        w -= p->namelen;
        memcpy(w, p->name, p->namelen);
    }
    if (prefix) {
        if (slash && *w) *--w = '/';
        w -= plen;
        memcpy(w, prefix, plen);
    }
    if (w != out) memmove(out, w, strlen(w) + 1);
    size_t n = strlen(out);
    if (n > 1 && out[n - 1] == '/' && !name) out[n - 1] = 0; /* "root/" + "a/" + nothing */
    return out;
}

char *uco__cp_path(const struct cp_engine *e, const struct cp_dir *d, const char *name, bool dst)
{
    const char *root = dst ? e->dst_root : e->src_root;
    if (!d || is_top(d)) return strdup(root);
    return join_path(root, d, name);
}

char *uco__cp_relpath(const struct cp_dir *d, const char *name)
{
    return join_path(NULL, d, name);
}

static void cp_stop(struct cp_engine *e, int err);

int uco__cp_fail(struct cp_engine *e, const struct cp_dir *dir, const char *name, const char *op,
                 bool on_dst, int err, int left)
{
    e->st.errors++;
    if (!e->first_err) e->first_err = err;
    if (!e->o.on_error || e->stop) return err;
    char *src = uco__cp_path(e, dir, name, false);
    char *dst = uco__cp_path(e, dir, name, true);
    uco_copy_error ce = {
        .src = src ? src : "?",
        .dst = dst ? dst : "?",
        .op = op,
        .err = err,
        .removed = left == CP_LEFT_REMOVED,
        .incomplete = left == CP_LEFT_INCOMPLETE,
    };
    ce.path = on_dst ? ce.dst : ce.src;
    int stop = e->o.on_error(&ce, e->o.error_arg);
    free(src);
    free(dst);
    if (stop) cp_stop(e, -ECANCELED);
    return err;
}

void uco__cp_progress(struct cp_engine *e, bool done)
{
    if (!e->o.on_progress) return;
    int64_t now = uco_now();
    if (!done && now - e->last_progress < e->o.progress_ns) return;
    e->last_progress = now;
    e->st.elapsed_ns = now - e->t0;
    e->o.on_progress(&e->st, done, e->o.progress_arg);
}

void uco__cp_entry_done(struct cp_engine *e, const struct cp_dir *dir, const char *name,
                        mode_t type, bool linked)
{
    if (!e->o.on_entry) return;
    char *src = uco__cp_path(e, dir, name, false);
    char *dst = uco__cp_path(e, dir, name, true);
    if (src && dst) e->o.on_entry(src, dst, type, linked, e->o.entry_arg);
    free(src);
    free(dst);
}

/* ---- directory nodes ------------------------------------------------------------------ */

void uco__cp_dir_get(struct cp_dir *d)
{
    d->refs++;
}

/* Applies a finished directory's metadata, closes it, and goes up while parents finish too. */
void uco__cp_dir_put(struct cp_engine *e, struct cp_dir *d)
{
    while (d && !is_top(d) && --d->refs == 0) {
        struct cp_dir *parent = d->parent;
        const char *name = is_top(parent) ? NULL : d->name;
        if (d->dst_fd >= 0 && !e->stop)
            uco__cp_meta_apply_x(e, parent, name, d->dst_fd, d->src_fd, &d->meta, d->created);
        if (d->src_fd >= 0) uco_task_self() ? uco_close(d->src_fd) : close(d->src_fd);
        if (d->dst_fd >= 0) uco_task_self() ? uco_close(d->dst_fd) : close(d->dst_fd);
        free(d);
        d = parent;
    }
}

/* Whether directory (dev, ino) is d or one of its ancestors (a symlink loop when following). */
static bool is_ancestor(const struct cp_dir *d, dev_t dev, uint64_t ino)
{
    for (; d && !is_top(d); d = d->parent)
        if (d->dev == dev && d->ino == ino) return true;
    return false;
}

/* Creates (or merges into) the destination directory of parent/sname -> dname and opens both
 * sides. Returns the node with one reference (the caller's), or NULL after reporting. A node
 * with src_fd < 0 has nothing to list (unreadable, or another file system with -x) but still
 * gets its metadata when released. */
static struct cp_dir *dir_open(struct cp_engine *e, struct cp_dir *parent, const char *sname,
                               const char *dname, const struct statx *stx)
{
    const char *rname = is_top(parent) ? NULL : sname; /* reported name */
    dev_t dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
    if (is_ancestor(parent, dev, stx->stx_ino)) {
        uco__cp_fail(e, parent, rname, "copy cyclic directory", false, -ELOOP, false);
        return NULL;
    }
    size_t nlen = strlen(dname);
    if (nlen > UINT16_MAX) nlen = UINT16_MAX;
    struct cp_dir *d = calloc(1, sizeof *d + nlen + 1);
    if (!d) {
        uco__cp_fail(e, parent, rname, "mkdir", true, -ENOMEM, false);
        return NULL;
    }
    memcpy(d->name, dname, nlen);
    d->namelen = (uint16_t)nlen;
    d->parent = parent;
    d->depth = parent->depth + 1;
    d->refs = 1;
    d->src_fd = d->dst_fd = -1;
    d->dev = dev;
    d->ino = stx->stx_ino;
    uco__cp_meta_from_statx(&d->meta, stx);

    /* Owner rwx while we fill it (the real mode comes at the end); owner only when it is to
     * change hands, as cp does, so nobody else goes in meanwhile. */
    mode_t tmp = uco__cp_create_mode(e, parent, &d->meta) | S_IRWXU;
    int r = uco_mkdirat(parent->dst_fd, dname, tmp);
    if (r == -EEXIST) {
        /* A symlink there is not a directory to merge into, even to one (cp refuses it too). */
        struct statx dst;
        r = uco_statx(parent->dst_fd, dname, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO, &dst);
        if (r == 0 && !S_ISDIR(dst.stx_mode)) r = -ENOTDIR;
        if (r == -ENOTDIR) {
            uco__cp_fail(e, parent, rname, "overwrite non-directory with directory", true, r,
                         false);
            free(d);
            return NULL;
        }
        if (r == 0 && makedev(dst.stx_dev_major, dst.stx_dev_minor) == dev &&
            dst.stx_ino == stx->stx_ino) {
            uco__cp_fail(e, parent, rname, "copy a directory into itself", true, -EINVAL, false);
            free(d);
            return NULL;
        }
    } else if (r == 0) {
        d->created = true;
    }
    if (r < 0) {
        uco__cp_fail(e, parent, rname, "mkdir", true, r, false);
        free(d);
        return NULL;
    }
    d->dst_fd = uco_openat(parent->dst_fd, dname,
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC | (d->created ? O_NOFOLLOW : 0), 0);
    if (d->dst_fd < 0) {
        uco__cp_fail(e, parent, rname, "open", true, d->dst_fd, false);
        free(d);
        return NULL;
    }
    if (!is_top(parent)) uco__cp_dir_get(parent); /* released when d is */
    /* What entries created in it get as their group (see uco__cp_meta_apply). */
    if (d->created && !is_top(parent)) {
        d->dst_sgid = parent->dst_sgid;
        d->dst_gid = parent->dst_sgid ? parent->dst_gid : e->egid;
    } else {
        struct statx ds;
        d->dst_sgid = false;
        d->dst_gid = e->egid;
        if (uco_statx(d->dst_fd, "", AT_EMPTY_PATH, STATX_MODE | STATX_GID, &ds) == 0) {
            d->dst_sgid = (ds.stx_mode & S_ISGID) != 0;
            d->dst_gid = ds.stx_gid;
        }
    }
    e->st.dirs++;
    if (d->created) uco__cp_entry_done(e, parent, rname, S_IFDIR, false); /* cp -v: made ones */
    if ((e->flags & UCO_COPY_ONE_FS) && dev != e->root_dev && !is_top(parent))
        return d; /* a mount point: made, not entered (cp -x) */
    int follow =
        (e->flags & UCO_COPY_NO_DEREF) && !(is_top(parent) && (e->flags & UCO_COPY_DEREF_ROOT));
    d->src_fd = uco_openat(parent->src_fd, sname,
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? O_NOFOLLOW : 0), 0);
    if (d->src_fd < 0) {
        uco__cp_fail(e, parent, rname, "open directory", false, d->src_fd, false);
        d->src_fd = -1;
    }
    return d;
}

/* ---- tasks of the copy ---------------------------------------------------------------- */

static void task_begin(struct cp_engine *e)
{
    e->tasks_alive++;
}

static void task_end(struct cp_engine *e)
{
    if (--e->tasks_alive == 0) uco__wq_wake_all(&e->end_q, 0);
}

/* Cancels every task of the copy: they unwind (removing files they left incomplete). */
static void cp_stop(struct cp_engine *e, int err)
{
    if (e->stop) return;
    e->stop = err;
    struct uco_task *self = uco_task_self();
    for (struct cp_job *j = e->live; j; j = j->next)
        if (j->task && j->task != self) uco_task_cancel(j->task);
    for (unsigned i = 0; i < e->walkers_alive; i++)
        if (e->walker_tasks[i] && e->walker_tasks[i] != self) uco_task_cancel(e->walker_tasks[i]);
    uco__wq_wake_all(&e->walk_q, 0);
}

static void job_unlink(struct cp_engine *e, struct cp_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        e->live = j->next;
    if (j->next) j->next->prev = j->prev;
}

static intptr_t entry_main(void *arg)
{
    struct cp_job *j = arg;
    struct cp_engine *e = j->e;
    j->task = uco_task_self();
    if (j->batch) {
        if (!e->stop) uco__cp_batch_copy(e, j->dir, j->batch);
        j->batch->next = e->free_batches;
        e->free_batches = j->batch;
        j->batch = NULL;
        e->batch_busy--;
        uco__wq_wake(&e->batch_q, 0);
    } else if (!e->stop) {
        uco__cp_entry(e, j->dir, j->name, j->name, &j->stx);
    }
    uco__cp_dir_put(e, j->dir);
    job_unlink(e, j);
    j->next = e->free_jobs;
    e->free_jobs = j;
    e->jobs_busy--;
    uco__wq_wake(&e->job_q, 0);
    uco__cp_progress(e, false);
    task_end(e);
    return 0;
}

/* Hands dir/name (or batch b of dir's small files: name and stx unused) to a new entry task,
 * waiting for a free slot. Failing, reports it and leaves b to the caller. */
static int spawn_job(struct cp_engine *e, struct cp_dir *dir, const char *name,
                     const struct statx *stx, struct cp_batch *b)
{
    while (e->jobs_busy >= e->o.jobs) {
        int r = uco__cp_wait(&e->job_q, "copy slot");
        if (r < 0) return r;
        if (e->stop) return e->stop;
    }
    size_t n = strlen(name);
    struct cp_job *j = e->free_jobs;
    if (j && j->name_cap > n) {
        e->free_jobs = j->next;
    } else {
        /* A job's name has room for NAME_MAX; a longer one gets a job of its own size. */
        size_t cap = n + 1 > NAME_MAX + 1 ? n + 1 : NAME_MAX + 1;
        j = malloc(sizeof *j + cap);
        if (!j) return uco__cp_fail(e, dir, name, "copy", true, -ENOMEM, false);
        j->name_cap = cap;
    }
    j->e = e;
    j->dir = dir;
    j->task = NULL;
    j->batch = b;
    if (stx) j->stx = *stx;
    memcpy(j->name, name, n + 1);
    j->prev = NULL;
    j->next = e->live;
    if (e->live) e->live->prev = j;
    e->live = j;
    uco_task_opts to = {.stack_size = ENTRY_STACK, .name = "ucp-entry", .detached = true};
    int r = uco_spawn_opts(NULL, entry_main, j, &to);
    if (r < 0) {
        job_unlink(e, j);
        j->next = e->free_jobs;
        e->free_jobs = j;
        j->batch = NULL;
        return uco__cp_fail(e, dir, name, "copy", true, r, false);
    }
    uco__cp_dir_get(dir);
    e->jobs_busy++;
    if (b) e->batch_busy++;
    task_begin(e);
    return 0;
}

/* ---- walkers -------------------------------------------------------------------------- */

/* The next directory to list, or NULL when the walk is over (or stopped). */
static struct cp_dir *take_pending(struct cp_engine *e)
{
    while (e->npending == 0) {
        if (e->walk_over || e->stop) return NULL;
        if (e->idle + 1 == e->walkers_alive) {
            /* Everyone else is idle and nothing is queued: the tree is done. */
            e->walk_over = true;
            uco__wq_wake_all(&e->walk_q, 0);
            return NULL;
        }
        e->idle++;
        int r = uco__cp_wait(&e->walk_q, "directory to walk");
        e->idle--;
        if (r < 0) return NULL;
    }
    return e->pending[--e->npending];
}

/* Bytes a regular file will have copied: its size, or its allocation when it has holes. */
static uint64_t data_bytes(const struct statx *stx)
{
    if (!S_ISREG(stx->stx_mode)) return 0;
    uint64_t alloc = stx->stx_blocks * 512;
    return alloc < stx->stx_size ? alloc : stx->stx_size;
}

struct frame {
    struct cp_dir *dir;
    uco_dir *it;
};

/* Entry stat for following mode: what the symlink points to. */
static int follow_stat(struct cp_engine *e, struct cp_dir *d, const char *name, struct statx *stx)
{
    if (!S_ISLNK(stx->stx_mode) || (e->flags & UCO_COPY_NO_DEREF)) return 0;
    return uco_statx(d->src_fd, name, 0, STATX_BASIC_STATS, stx);
}

/* Starts batch *bp of dir (when it has files) in an entry task, waiting for a free batch slot;
 * *bp is NULL after. */
static void batch_flush(struct cp_engine *e, struct cp_dir *dir, struct cp_batch **bp)
{
    struct cp_batch *b = *bp;
    if (!b) return;
    *bp = NULL;
    int r = 0;
    while (!e->stop && e->batch_busy >= 2 * e->batch_group.max && r == 0)
        r = uco__cp_wait(&e->batch_q, "batch slot");
    if (b->n && !e->stop && r == 0) {
        r = spawn_job(e, dir, b->f[0].name, NULL, b);
        if (r == 0) return;
        /* No task for it: the first file was reported; the others are failures too (as each
         * entry whose task could not start), unless the copy is stopping. */
        for (unsigned i = 1; i < b->n && !e->stop; i++)
            uco__cp_fail(e, dir, b->f[i].name, "copy", true, r, false);
    }
    b->next = e->free_batches;
    e->free_batches = b;
}

/* Adds dir/name to the walker's batch *bp (a new one when there is none, or it is another
 * directory's), and starts the batch when full. Returns false when no batch could be had:
 * the caller copies the entry alone. */
static bool batch_put(struct cp_engine *e, struct cp_dir *dir, const char *name,
                      const struct statx *stx, struct cp_batch **bp, struct cp_dir **bdir)
{
    if (*bp && *bdir != dir) batch_flush(e, *bdir, bp);
    if (!*bp) {
        struct cp_batch *b = e->free_batches;
        if (b)
            e->free_batches = b->next;
        else if (!(b = malloc(sizeof *b)))
            return false;
        b->n = 0;
        b->buf = NULL;
        *bp = b;
        *bdir = dir;
    }
    uco__cp_batch_add(e, *bp, dir, name, stx);
    if ((*bp)->n == CP_BATCH) batch_flush(e, dir, bp);
    return true;
}

/* Lists d and, depth-first, its subdirectories (unless another walker is idle: then it gets
 * them). Consumes the caller's reference to d. Small files go in batches (one directory's
 * each), started when full and when the walker leaves their directory. */
static void walk(struct cp_engine *e, struct cp_dir *d)
{
    struct frame *st = NULL;
    size_t n = 0, cap = 0;
    struct cp_dir *next = d;
    struct cp_batch *batch = NULL;
    struct cp_dir *bdir = NULL;
    for (;;) {
        if (next) {
            if (next->src_fd < 0) {
                uco__cp_dir_put(e, next);
            } else {
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    struct frame *ns = realloc(st, nc * sizeof *ns);
                    if (!ns) {
                        uco__cp_fail(e, next, NULL, "read directory", false, -ENOMEM, false);
                        uco__cp_dir_put(e, next);
                        next = NULL;
                        continue;
                    }
                    st = ns;
                    cap = nc;
                }
                size_t bs = next->depth > DEEP_LEVEL ? DIRBUF_DEEP : DIRBUF_SHALLOW;
                int r = uco_dir_fdopen(&st[n].it, next->src_fd, false, UCO_DIR_STAT, bs);
                if (r < 0) {
                    uco__cp_fail(e, next->parent, is_top(next->parent) ? NULL : next->name,
                                 "read directory", false, r, false);
                    uco__cp_dir_put(e, next);
                } else {
                    st[n++].dir = next;
                }
            }
            next = NULL;
        }
        if (n == 0) break;
        struct frame *f = &st[n - 1];
        uco_dirent ent;
        int r = e->stop ? 0 : uco_dir_next(f->it, &ent);
        if (r <= 0) {
            if (r < 0 && !e->stop)
                uco__cp_fail(e, f->dir->parent, is_top(f->dir->parent) ? NULL : f->dir->name,
                             "read directory", false, r, false);
            uco_dir_close(f->it);
            /* A batch is always of a directory on the stack: started here, none is left when
             * the walk ends. */
            if (batch && bdir == f->dir) batch_flush(e, bdir, &batch);
            uco__cp_dir_put(e, f->dir);
            n--;
            continue;
        }
        if (ent.stat_err) {
            uco__cp_fail(e, f->dir, ent.name, "stat", false, ent.stat_err, false);
            continue;
        }
        struct statx stx = *ent.stx;
        r = follow_stat(e, f->dir, ent.name, &stx);
        if (r < 0) {
            uco__cp_fail(e, f->dir, ent.name, "stat", false, r, false);
            continue;
        }
        e->st.files_total++;
        e->st.bytes_total += data_bytes(&stx);
        if (!S_ISDIR(stx.stx_mode)) {
            if (!(uco__cp_batchable(e, &stx) && strlen(ent.name) <= NAME_MAX &&
                  batch_put(e, f->dir, ent.name, &stx, &batch, &bdir)))
                spawn_job(e, f->dir, ent.name, &stx, NULL);
            continue;
        }
        struct cp_dir *child = dir_open(e, f->dir, ent.name, ent.name, &stx);
        if (!child) continue;
        if (child->src_fd >= 0 && e->idle > 0 && e->npending < e->o.walkers) {
            e->pending[e->npending++] = child;
            uco__wq_wake(&e->walk_q, 0);
        } else {
            next = child;
        }
    }
    free(st);
}

static intptr_t walker_main(void *arg)
{
    struct cp_engine *e = arg;
    struct cp_dir *d;
    while ((d = take_pending(e)) != NULL)
        walk(e, d);
    /* The handle dies with the task: forget it so cp_stop never cancels a reused slot. */
    struct uco_task *self = uco_task_self();
    for (unsigned i = 0; i < e->walkers_alive; i++)
        if (e->walker_tasks[i] == self) e->walker_tasks[i] = NULL;
    task_end(e);
    return 0;
}

/* ---- the coordinator ------------------------------------------------------------------ */

static int opts_check(struct cp_engine *e, const uco_copy_opts *opts)
{
    if (opts) {
        e->o = *opts;
        for (size_t i = 0; i < sizeof e->o.reserved / sizeof e->o.reserved[0]; i++)
            if (e->o.reserved[i]) return -EINVAL;
    }
    uco_copy_opts *o = &e->o;
    if (!o->jobs) {
        /* Each file in flight holds two descriptors: stay well inside the process's limit. */
        struct rlimit rl;
        o->jobs = JOBS_DEFAULT;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur / 4 < o->jobs)
            o->jobs = rl.rlim_cur / 4 > 8 ? (unsigned)(rl.rlim_cur / 4) : 8;
    }
    if (!o->walkers) o->walkers = WALKERS_DEFAULT;
    if (!o->queue_depth) o->queue_depth = QD_DEFAULT;
    if (!o->chunk_size) o->chunk_size = CHUNK_DEFAULT;
    if (!o->progress_ns) o->progress_ns = PROGRESS_DEFAULT;
    if (o->jobs > 4096 || o->walkers > 256 || o->queue_depth > 64 || o->progress_ns < 0)
        return -EINVAL;
    if (o->flags & ~COPY_FLAGS_KNOWN) return -EINVAL;
    if (o->chunk_size < ((size_t)64 << 10) || o->chunk_size > ((size_t)64 << 20) ||
        (o->chunk_size & (o->chunk_size - 1)))
        return -EINVAL;
    e->flags = o->flags;
    e->chunk = o->chunk_size;
    /* Files up to this size are read in one go into a buffer of their own size class. */
    e->small_max = SMALL_MAX;
    if (e->small_max >= e->chunk) e->small_max = e->chunk - 1;
    e->big_max = 4;
    return 0;
}

/* The process umask, without changing it (reading it with umask(2) would race with threads). */
static mode_t read_umask(void)
{
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return m;
    char line[128];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Umask:", 6) == 0) {
            m = (mode_t)strtoul(line + 6, NULL, 8);
            break;
        }
    fclose(f);
    return m;
}

/* Whether fd is on a local disk or memory file system, where setting an open file's owner,
 * mode and times only updates the in-memory inode: those few system calls are then made from the
 * loop's thread, which measured faster than a trip to the worker pool per file (docs/BENCHMARKS.md
 * "File copy"). Network and FUSE file systems may block on them: they go to the pool. */
static bool local_fs(int fd)
{
    static const long local[] = {
        0xEF53,     /* ext2/3/4 */
        0x58465342, /* xfs */
        0x9123683E, /* btrfs */
        0x01021994, /* tmpfs */
        0x858458F6, /* ramfs */
        0xF2F52010, /* f2fs */
        0xCA451A4E, /* bcachefs */
        0x4D44,     /* vfat */
        0x5346544E, /* ntfs */
        0x2011BAB0, /* exfat */
    };
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0) return false;
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if ((long)sf.f_type == local[i]) return true;
    return false;
}

/* Refuses to copy a directory into itself: walks up from the destination (or its parent when
 * it does not exist yet) to the root, comparing each directory with the source. Returns 0,
 * 1 when the destination is the source itself, 2 when it is inside it, or -errno. */
static int into_itself(int dst_dirfd, const char *dst, dev_t dev, uint64_t ino)
{
    int fd = uco_openat(dst_dirfd, dst, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    bool exists = fd >= 0;
    if (!exists) {
        const char *slash = strrchr(dst, '/');
        char *parent = slash ? strndup(dst, (size_t)(slash - dst) + 1) : strdup(".");
        if (!parent) return -ENOMEM;
        fd = uco_openat(dst_dirfd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        free(parent);
        if (fd < 0) return 0; /* the destination's parent is missing: mkdir will say so */
    }
    int r = 0;
    struct statx a;
    for (int level = 0; level < 8192; level++) {
        r = uco_statx(fd, "", AT_EMPTY_PATH, STATX_INO, &a);
        if (r < 0) break;
        if (makedev(a.stx_dev_major, a.stx_dev_minor) == dev && a.stx_ino == ino) {
            r = exists && level == 0 ? 1 : 2;
            break;
        }
        int up = uco_openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        uco_close(fd);
        fd = up;
        if (fd < 0) {
            r = 0;
            break;
        }
        struct statx b;
        if (uco_statx(fd, "", AT_EMPTY_PATH, STATX_INO, &b) < 0 ||
            (b.stx_ino == a.stx_ino && b.stx_dev_major == a.stx_dev_major &&
             b.stx_dev_minor == a.stx_dev_minor)) {
            r = 0; /* the root: its ".." is itself */
            break;
        }
    }
    if (fd >= 0) uco_close(fd);
    return r;
}

static int copy_tree(struct cp_engine *e, struct cp_dir *top, const char *src, const char *dst,
                     const struct statx *stx)
{
    int r = into_itself(e->dst_dirfd, dst, makedev(stx->stx_dev_major, stx->stx_dev_minor),
                        stx->stx_ino);
    if (r == 1) return uco__cp_fail(e, top, NULL, "same file", true, -EINVAL, false);
    if (r == 2)
        return uco__cp_fail(e, top, NULL, "copy a directory into itself", true, -EINVAL, false);
    struct cp_dir *root = dir_open(e, top, src, dst, stx);
    if (!root) return e->first_err;
    e->root = root;
    e->meta_inline = local_fs(root->dst_fd) && (root->src_fd < 0 || local_fs(root->src_fd));
    e->write_inline = e->meta_inline && (e->flags & UCO_COPY_OWN_LOOP);
    /* Small files in batches on the pool: one more running than there are cores (a batch
     * sometimes waits on a directory's lock), and as many again queued (batch_flush), so a
     * worker that ends one starts the next without waiting for the loop (measured:
     * docs/BENCHMARKS.md). */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    e->batch_group.max = cpus > 1 ? (unsigned)cpus + 1 : 2;
    unsigned w = e->o.walkers;
    e->pending = calloc(w, sizeof *e->pending);
    e->walker_tasks = calloc(w, sizeof *e->walker_tasks);
    if (!e->pending || !e->walker_tasks) {
        uco__cp_dir_put(e, root);
        return uco__cp_fail(e, top, NULL, "copy", true, -ENOMEM, false);
    }
    if (root->src_fd < 0) {
        uco__cp_dir_put(e, root);
        return e->first_err;
    }
    e->pending[e->npending++] = root;
    for (unsigned i = 0; i < w; i++) {
        uco_task *t;
        uco_task_opts to = {.name = "ucp-walker"};
        r = uco_spawn_opts(&t, walker_main, e, &to);
        if (r < 0) break;
        uco_task_detach(t); /* the handle stays valid while it runs: we only cancel live ones */
        e->walker_tasks[e->walkers_alive++] = t;
        task_begin(e);
    }
    if (e->walkers_alive == 0) {
        e->npending = 0;
        uco__cp_dir_put(e, root);
        return uco__cp_fail(e, top, NULL, "copy", true, r, false);
    }
    while (e->tasks_alive) {
        r = uco__cp_wait(&e->end_q, "copy");
        if (r < 0) {
            cp_stop(e, r);
            if (!e->first_err) e->first_err = r;
            /* Even a cancelled task waits: its tasks use the copy's memory. */
            while (e->tasks_alive) {
                struct uco__waiter stop_w;
                uco__wq_wait_uninterruptible(&e->end_q, &stop_w, uco__self(), "copy (stopping)");
            }
        }
    }
    return e->first_err;
}

int uco_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst,
             const uco_copy_opts *opts, uco_copy_stats *stats)
{
    if (!uco__self()) return uco__not_in_task("uco_copy");
    if (!src || !dst) return -EFAULT;
    struct cp_engine *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    int r = opts_check(e, opts);
    if (r < 0) {
        free(e);
        return r;
    }
    e->umask = read_umask();
    e->euid = geteuid();
    e->egid = getegid();
    e->privileged = e->euid == 0;
    e->t0 = e->last_progress = uco_now();
    e->src_root = src;
    e->dst_root = dst;
    e->src_dirfd = src_dirfd;
    e->dst_dirfd = dst_dirfd;
    e->links_shared = e->o.links != NULL;
    e->lt = e->links_shared ? e->o.links : &e->own_links;

    /* The pseudo-directory above the root: the caller's descriptors, never released. */
    struct cp_dir top = {.src_fd = src_dirfd, .dst_fd = dst_dirfd, .depth = 0, .refs = 1};
    struct statx stx;
    bool follow = !(e->flags & UCO_COPY_NO_DEREF) || (e->flags & UCO_COPY_DEREF_ROOT);
    r = uco_statx(src_dirfd, src, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
    if (r < 0) {
        uco__cp_fail(e, &top, NULL, "stat", false, r, false);
    } else if (!*dst) {
        /* As cp: an empty name is no file (an empty source fails its stat above). */
        uco__cp_fail(e, &top, NULL, "create", true, -ENOENT, false);
    } else {
        e->root_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        e->st.files_total = 1;
        e->st.bytes_total = data_bytes(&stx);
        if (S_ISDIR(stx.stx_mode)) {
            if (e->flags & UCO_COPY_RECURSIVE)
                copy_tree(e, &top, src, dst, &stx);
            else
                uco__cp_fail(e, &top, NULL, "omit directory", false, -EISDIR, false);
        } else {
            uco__cp_entry(e, &top, src, dst, &stx);
        }
    }
    uco__cp_progress(e, true);
    r = e->stop ? e->stop : e->first_err;
    if (stats) {
        e->st.elapsed_ns = uco_now() - e->t0;
        *stats = e->st;
    }
    while (e->free_jobs) {
        struct cp_job *j = e->free_jobs;
        e->free_jobs = j->next;
        free(j);
    }
    while (e->free_batches) {
        struct cp_batch *b = e->free_batches;
        e->free_batches = b->next;
        free(b);
    }
    uco__cp_links_free(e);
    uco__cp_bufs_free(e);
    free(e->pending);
    free(e->walker_tasks);
    free(e);
    return r;
}
