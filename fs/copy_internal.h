/* fs/ — the copy engine's private structures.
 *
 * Shape of a copy: the caller's task (the coordinator) creates the root, then a few walker
 * tasks read directories depth-first (each with its own stack of open iterators) and hand every
 * non-directory entry to an entry task; at most `jobs` entry tasks exist at once, so a walker
 * that finds the slots full waits. A walker that finds a subdirectory while another walker is
 * idle hands it over, so several directories are filled at once (creates in one directory are
 * serialised by the kernel's directory lock; in different directories they run in parallel).
 *
 * With UCO_COPY_OWN_LOOP on local file systems, a walker puts small regular files (no other
 * hard links, no holes) in batches of up to CP_BATCH of one directory instead; an entry task
 * per batch hands the whole batch to one job on the worker pool, which copies each file with
 * plain system calls (open, create, read, write, metadata, close), and then goes through the
 * results, finishing on the ring's path any file the job could not (a destination that exists,
 * a failure). One hand-off per batch instead of a trip through the ring per system call, and
 * the batches run on as many threads as there are cores plus one (a pool group), so every core
 * copies; as many more wait queued, so a worker never waits for the loop between batches. A
 * file whose data is not in the page cache (cachestat says so; where it can't, a read with
 * RWF_NOWAIT) is left to the ring, where many reads are in flight at once, and batches pause for
 * the next CP_COLD_SKIP entries.
 *
 * Directory nodes are reference counted: the walker listing a directory, each entry task in it
 * and each child directory hold a reference. When the last one goes, the directory's own
 * metadata (mode, owner, times) is applied — after everything inside it was created, or its
 * modification time would move again — its descriptors are closed and the parent released.
 * Memory is bounded by jobs, walkers x depth, batches (walkers + 2 x (cores + 1), about 10 KiB
 * each) and the hard-link groups still open.
 */
#ifndef UCO_FS_COPY_INTERNAL_H
#define UCO_FS_COPY_INTERNAL_H

#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fs/internal.h"

/* ---- waiting for a slot, a directory, the end (async's wait queues) --------------------- */

/* Parks the calling task on q until woken; returns 0, or -ECANCELED / -ETIMEDOUT. */
int uco__cp_wait(struct uco__waitq *q, const char *what);

/* ---- metadata to preserve -------------------------------------------------------------- */

struct cp_meta {
    mode_t mode; /* type and permission bits */
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime;
};

void uco__cp_meta_from_statx(struct cp_meta *m, const struct statx *stx);

/* ---- directories ---------------------------------------------------------------------- */

struct cp_dir {
    struct cp_dir *parent;
    int src_fd, dst_fd;
    unsigned refs;
    unsigned depth;
    bool created;  /* made by us (not merged into an existing one) */
    bool dst_sgid; /* the destination has S_ISGID while being filled: new entries get dst_gid */
    gid_t dst_gid;
    dev_t dev;    /* source device (one-file-system, cycle checks) */
    uint64_t ino; /* source inode (cycle checks when following symlinks) */
    struct cp_meta meta;
    uint16_t namelen;
    char name[]; /* the root's name is the path the caller gave */
};

/* ---- hard links ----------------------------------------------------------------------- */

enum { CP_LINK_COPYING, CP_LINK_DONE };

struct cp_link {
    struct cp_link *next; /* hash chain */
    dev_t dev;
    uint64_t ino;
    uint32_t left;  /* names of this inode not seen yet */
    uint32_t users; /* entry tasks holding it (find .. release) */
    uint8_t state;
    struct uco__waitq waiters;
    char *dst; /* path of the first copy, relative to the destination root (to the caller's
                * dst_dirfd, the path as named, when the table is shared) */
};

/* The hard-link groups of a copy, or of several (uco_copy_links). */
struct uco_copy_links {
    struct cp_link **links;
    size_t nbuckets, n;
    bool full; /* CP_LINKS_MAX groups open: further ones are not tracked */
};

/* ---- buffers -------------------------------------------------------------------------- */

#define CP_CLASSES 15 /* 4 KiB << 0..14 = 4 KiB..64 MiB */

struct cp_buf {
    struct cp_buf *next;
};

/* ---- entries in flight ---------------------------------------------------------------- */

struct cp_engine;

struct cp_batch;

struct cp_job {
    struct cp_engine *e;
    struct cp_job *next, *prev; /* live list (cancellation) or free list */
    struct uco_task *task;
    struct cp_dir *dir;     /* parent: holds a reference */
    struct cp_batch *batch; /* a batch of small files of dir (stx and name unused), or NULL */
    struct statx stx;
    size_t name_cap; /* room in name[]: NAME_MAX + 1, or more for a longer name */
    char name[];     /* some file systems (FUSE, CIFS) list names longer than NAME_MAX */
};

/* ---- the engine ----------------------------------------------------------------------- */

struct cp_engine {
    uco_copy_opts o;
    unsigned flags;
    mode_t umask;
    uid_t euid;
    gid_t egid;
    bool privileged; /* may chown to anyone, write anywhere */
    size_t chunk, small_max;
    int64_t t0, last_progress;
    uco_copy_stats st;
    int first_err;
    int stop; /* -errno: stop copying (callback said so, or the caller was cancelled) */

    const char *src_root, *dst_root; /* as the caller named them */
    int src_dirfd, dst_dirfd;
    struct cp_dir *root;
    dev_t root_dev;

    /* entry tasks */
    unsigned jobs_busy;
    struct uco__waitq job_q;
    struct cp_job *live, *free_jobs;
    unsigned big_busy, big_max;
    struct uco__waitq big_q;

    /* walkers */
    struct cp_dir **pending; /* directories waiting for a walker (LIFO) */
    unsigned npending, idle, walkers_alive;
    bool walk_over;
    struct uco__waitq walk_q;
    struct uco_task **walker_tasks;

    /* all tasks of the copy have ended */
    unsigned tasks_alive;
    struct uco__waitq end_q;

    /* hard links: the caller's table (links_shared), or this copy's own */
    struct uco_copy_links own_links, *lt;
    bool links_shared;
    bool links_reported; /* lt->full was reported */

    /* batches of small files copied on the worker pool (write_inline) */
    unsigned batch_busy; /* started (running or queued): at most 2 x batch_group.max */
    struct uco__waitq batch_q;
    struct uco__pool_group batch_group; /* how many run at once */
    uint64_t batch_off_until;           /* no batches until files_total gets here (cold) */
    struct cp_batch *free_batches;

    /* buffers */
    struct cp_buf *free_bufs[CP_CLASSES];
    bool meta_inline; /* metadata system calls on the loop's thread instead of the pool */
    /* UCO_COPY_OWN_LOOP on local file systems: a tree's small files go in batches on the
     * worker pool, and small files not batched are written from the loop's thread. */
    bool write_inline;
};

/* Path of a node's source or destination (root name + "/" + ... + "/" + name), malloc'd;
 * name may be NULL (the directory itself). NULL when out of memory. */
char *uco__cp_path(const struct cp_engine *e, const struct cp_dir *d, const char *name, bool dst);
/* The destination path of dir/name relative to the destination root (hard links). */
char *uco__cp_relpath(const struct cp_dir *d, const char *name);

/* What a failure left of a destination file (uco__cp_fail's last argument; false: nothing). */
enum { CP_LEFT_REMOVED = 1, CP_LEFT_INCOMPLETE = 2 };

/* Reports a failure of entry dir/name (NULL dir: the root itself). Counts it once per entry:
 * call it once per failed entry. left: 0, or what was left of an incomplete destination
 * (CP_LEFT_*). Always returns err. */
int uco__cp_fail(struct cp_engine *e, const struct cp_dir *dir, const char *name, const char *op,
                 bool on_dst, int err, int left);
/* Progress and entry callbacks. */
void uco__cp_progress(struct cp_engine *e, bool done);
void uco__cp_entry_done(struct cp_engine *e, const struct cp_dir *dir, const char *name,
                        mode_t type, bool linked);

/* A buffer of at least size bytes (*cap), aligned to align (a power of two) and at least to a
 * page, from a per-size free list. */
void *uco__cp_buf_get(struct cp_engine *e, size_t size, size_t align, size_t *cap);
void uco__cp_buf_put(struct cp_engine *e, void *buf, size_t cap);
void uco__cp_bufs_free(struct cp_engine *e);

/* Directory references. */
void uco__cp_dir_get(struct cp_dir *d);
void uco__cp_dir_put(struct cp_engine *e, struct cp_dir *d);

/* Copies one non-directory entry (regular, symlink, special), with hard-link handling: source
 * dir->src_fd/sname to dir->dst_fd/dname (the same name inside a tree; the caller's two paths
 * for a single file, where dir is the pseudo-directory above the root). stx is the source's
 * statx (lstat unless following). Reports its own failures. Returns 0 or -errno. */
int uco__cp_entry(struct cp_engine *e, struct cp_dir *dir, const char *sname, const char *dname,
                  const struct statx *stx);

/* Applies metadata to an open destination (fd) or to a name (fd < 0: dirfd/name, without
 * following symlinks). created: we made it (so what it got at creation is known). Reports
 * failures as an error of dir/name and returns the first -errno. */
int uco__cp_meta_apply(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                       const struct cp_meta *m, bool created);
/* The permission bits to create an entry of dir with, m being what it will get (the rest comes
 * with uco__cp_meta_apply, in an order that never opens a window: chown, then chmod). */
mode_t uco__cp_create_mode(const struct cp_engine *e, const struct cp_dir *dir,
                           const struct cp_meta *m);
/* As uco__cp_meta_apply, also copying extended attributes from src_fd (with UCO_COPY_XATTR). */
int uco__cp_meta_apply_x(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                         int src_fd, const struct cp_meta *m, bool created);
/* The system calls of one entry's metadata, run in one go (on a worker or inline). */
struct cp_meta_call {
    int fd; /* target, or -1: dirfd/name without following symlinks */
    int dirfd;
    const char *name;
    int src_fd; /* xattrs from here; -1: none */
    bool chown, chmod, times, privileged;
    uid_t uid;
    gid_t gid;
    mode_t mode;
    mode_t drop; /* bits of mode to drop when the owner cannot be kept */
    struct timespec ts[2];
    const char *op; /* what failed */
    int err;
};

/* Fills c with what uco__cp_meta_set would do; false when there is nothing to do. */
bool uco__cp_meta_prep(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                       int src_fd, const struct cp_meta *m, bool created, struct cp_meta_call *c);
/* Makes c's system calls (any thread); c->err and c->op say the first that failed. */
void uco__cp_meta_run(struct cp_meta_call *c);

/* As uco__cp_meta_apply_x, without reporting: returns 0 or the first -errno, *op saying what
 * failed (NULL with an error: cancelled before anything ran, nothing of the entry failed). The
 * caller reports it (once per entry, with whatever else failed of that entry). */
int uco__cp_meta_set(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd, int src_fd,
                     const struct cp_meta *m, bool created, const char **op);

/* ---- batches of small files ----------------------------------------------------------- */

/* One small regular file copied by plain system calls on a worker thread: open, create, read,
 * write, metadata, close. The job stops after the opens when either failed, and after the data
 * when that failed; the entry's task goes on from there with the descriptors, on the same path
 * as a file copied through the ring. */
struct cp_pool_file {
    /* in */
    int sflags, cflags;
    mode_t cmode;
    bool noatime, xattr, meta;
    int64_t size;
    struct cp_meta_call mc;
    /* out */
    int src, dst;
    bool cold;         /* the source is not in the page cache: nothing was done (src -1) */
    bool copied;       /* the data was copied: n, mc, close_err set, both descriptors closed */
    int64_t n;         /* bytes copied, or -errno with where */
    const char *where; /* "read" or "write" */
    int close_err;     /* the destination's close */
};

/* Small files of one directory, copied in one worker job: a hand-off per batch instead of a
 * trip through the ring per system call, and several batches run at once on the pool's threads,
 * so every core copies. */
#define CP_BATCH     16
/* Entries listed without batches after a batch found a source not in the page cache. */
#define CP_COLD_SKIP 4096

struct cp_batch {
    struct cp_batch *next; /* free list */
    unsigned n;
    int src_dirfd, dst_dirfd;
    char *buf;
    size_t cap;
    struct {
        struct statx stx;
        struct cp_pool_file pf;
        char name[NAME_MAX + 1];
    } f[CP_BATCH];
};

/* Whether the entry dir/name with this statx (its name at most NAME_MAX) may go in a batch. */
bool uco__cp_batchable(const struct cp_engine *e, const struct statx *stx);
/* Adds dir/name to b (which has room, and is dir's). */
void uco__cp_batch_add(struct cp_engine *e, struct cp_batch *b, struct cp_dir *dir,
                       const char *name, const struct statx *stx);
/* Copies batch b of dir (in an entry task): its job on the pool, then each file's result. */
void uco__cp_batch_copy(struct cp_engine *e, struct cp_dir *dir, struct cp_batch *b);

/* O_DIRECT alignment when the kernel does not say (before Linux 6.1's STATX_DIOALIGN): a
 * device's logical block is 512 or 4096 bytes, and 4096 serves both. */
#define CP_DIO_ALIGN_DEFAULT ((size_t)4096)
/* More than this (or not a power of two) is not believed: that side uses the page cache. */
#define CP_DIO_ALIGN_MAX     ((size_t)1 << 20)

/* A regular file's descriptors: src and dst, and each again with O_DIRECT (or -1), used for
 * aligned blocks only: offsets and lengths multiples of align, buffers of mem_align (powers of
 * two; CP_DIO_ALIGN_DEFAULT for both unless uco__cp_dio_align said otherwise). */
struct cp_fds {
    int src, src_direct, dst, dst_direct;
    size_t align, mem_align;
};

/* What an open file needs for O_DIRECT, from statx's STATX_DIOALIGN (Linux 6.1+): 1 with
 * *offset_align and *mem_align set; 0 when the kernel does not say (older kernel, or a file
 * system that does not report it); -1 when it says the file has no direct I/O. */
int uco__cp_dio_of(int fd, size_t *offset_align, size_t *mem_align);
/* Sets f->align and f->mem_align for f's O_DIRECT descriptors: the larger of what each side's
 * file asks for, CP_DIO_ALIGN_DEFAULT where the kernel does not say. A side whose file has no
 * direct I/O (or asks for an alignment past CP_DIO_ALIGN_MAX) has its O_DIRECT descriptor
 * closed (-1): the page cache serves it. */
void uco__cp_dio_align(struct cp_fds *f);

/* write_all with pwrite(2), not through the ring: from the loop's thread (UCO_COPY_OWN_LOOP:
 * ext4 and others have no non-blocking buffered write, so io_uring would hand each one to a
 * kernel worker), where the loop's fault rules for writes apply to it (tests of the error
 * paths), or from a worker thread (batches), where there is no loop and no rule. Returns len
 * or -errno. */
ssize_t uco__cp_pwrite_all(int fd, const char *buf, size_t len, int64_t off);

/* Regular files: copies the data of src (open) into dst (open, new or truncated), to the
 * source's end of file; holes of a sparse source stay holes. Returns the bytes of the copy (its
 * size) or -errno, with *where saying which side failed ("read" or "write"). */
int64_t uco__cp_data(struct cp_engine *e, const struct cp_fds *f, const struct statx *stx,
                     const char **where);

/* Hard-link groups open at once (about 130 bytes each): a tree whose files have other names
 * outside it would otherwise grow the table without bound. */
#define CP_LINKS_MAX 200000

/* Hard links: the group of (dev, ino), created when absent (NULL when CP_LINKS_MAX are open,
 * or out of memory: the name is then copied as a file of its own); each find is paired with a
 * release, and the group goes when all the inode's names were seen and nobody holds it. */
struct cp_link *uco__cp_link_find(struct cp_engine *e, dev_t dev, uint64_t ino, bool *created,
                                  uint32_t nlink);
void uco__cp_link_release(struct cp_engine *e, struct cp_link *l);
void uco__cp_links_free(struct cp_engine *e);

#endif
