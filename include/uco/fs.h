/* uco — files and directories: awaitable file-system calls, a directory iterator, helpers, and
 * the copy engine behind `ucp`.
 *
 * Every call here awaits (it may only be called from a task) and returns >= 0 or -errno, as the
 * kernel reports it, plus -ECANCELED / -ETIMEDOUT / -EPERM as described in <uco/async.h>.
 * Calls with an io_uring opcode submit it; the others (and opcodes the running kernel lacks, as
 * its probe says) run the same system call on the worker pool, so the loop's thread never
 * blocks on a cold inode or a slow disk. Which one ran is invisible to the caller.
 *
 * Paths, names and buffers passed to a call must stay valid until it returns. Relative paths
 * are resolved against dirfd as with the *at(2) calls (AT_FDCWD for the working directory).
 *
 * Reading, writing, vectored and fixed-buffer I/O, fsync/fdatasync and close are in <uco/io.h>.
 * struct statx and struct open_how come from <sys/stat.h> (with _GNU_SOURCE) or <linux/stat.h>,
 * and <linux/openat2.h>; this header only declares them.
 */
#ifndef UCO_FS_H
#define UCO_FS_H

#include <sys/types.h>
#include <uco/io.h>

UCO_BEGIN_DECLS

struct statx;
struct open_how;
struct timespec;

/* --- Opening ------------------------------------------------------------------------------ */

/* openat(2): returns the new file descriptor (>= 0). uco_open is uco_openat(AT_FDCWD, ...). */
UCO_API int uco_open(const char *path, int flags, mode_t mode);
UCO_API int uco_openat(int dirfd, const char *path, int flags, mode_t mode);
/* openat2(2) (Linux 5.6): how and size as for the system call. */
UCO_API int uco_openat2(int dirfd, const char *path, const struct open_how *how, size_t size);

/* Starters (see <uco/async.h>): open and close started now, awaited later. A started close is
 * never cancelled (the descriptor is closed whatever happens to the task). */
UCO_API int uco_op_openat(uco_op *op, int dirfd, const char *path, int flags, mode_t mode);
UCO_API int uco_op_close(uco_op *op, int fd);

/* --- Metadata ----------------------------------------------------------------------------- */

/* statx(2) into *out. flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (with path ""), ...;
 * mask: STATX_BASIC_STATS, STATX_BTIME, ... */
UCO_API int uco_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out);

/* fallocate(2), ftruncate(2) (IORING_OP_FTRUNCATE on Linux 6.9+, the worker pool before),
 * posix_fadvise(2) (returns 0 or -errno), sync_file_range(2). */
UCO_API int uco_fallocate(int fd, int mode, int64_t off, int64_t len);
UCO_API int uco_ftruncate(int fd, int64_t len);
UCO_API int uco_fadvise(int fd, int64_t off, int64_t len, int advice);
UCO_API int uco_sync_file_range(int fd, int64_t off, int64_t len, unsigned flags);

/* Attribute setters with no io_uring opcode (worker pool): fchmodat(2) (flags 0 or
 * AT_SYMLINK_NOFOLLOW where the kernel allows it), fchownat(2) (AT_SYMLINK_NOFOLLOW,
 * AT_EMPTY_PATH), utimensat(2) (times[2] = atime, mtime; NULL = now; AT_SYMLINK_NOFOLLOW), and
 * their descriptor forms. */
UCO_API int uco_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
UCO_API int uco_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags);
UCO_API int uco_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags);
UCO_API int uco_fchmod(int fd, mode_t mode);
UCO_API int uco_fchown(int fd, uid_t uid, gid_t gid);
UCO_API int uco_futimens(int fd, const struct timespec times[2]);

/* --- Names -------------------------------------------------------------------------------- */

/* unlinkat(2) (flags 0 or AT_REMOVEDIR), renameat2(2) (flags RENAME_NOREPLACE, RENAME_EXCHANGE,
 * RENAME_WHITEOUT or 0), mkdirat(2), symlinkat(2), linkat(2) (AT_SYMLINK_FOLLOW, AT_EMPTY_PATH),
 * mknodat(2) (worker pool: FIFOs, device nodes, sockets). */
UCO_API int uco_unlinkat(int dirfd, const char *path, int flags);
UCO_API int uco_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                         unsigned flags);
UCO_API int uco_mkdirat(int dirfd, const char *path, mode_t mode);
UCO_API int uco_symlinkat(const char *target, int newdirfd, const char *linkpath);
UCO_API int uco_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                       int flags);
UCO_API int uco_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);

/* readlinkat(2) (worker pool): returns the target's length; the target is NOT terminated when
 * it fills buf (len < result + 1 means it may have been cut: retry with a larger buffer). */
UCO_API ssize_t uco_readlinkat(int dirfd, const char *path, char *buf, size_t len);

/* --- Moving data between descriptors ------------------------------------------------------ */

/* splice(2): one of the two descriptors must be a pipe; off_* == -1 for "no offset" (pipes,
 * or the file's position). flags: SPLICE_F_*. Returns the bytes moved. */
UCO_API ssize_t uco_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len,
                           unsigned flags);

/* Copies len bytes (or up to end of file, whichever comes first) from fd_in at off_in to fd_out
 * at off_out: copy_file_range(2) on the worker pool, falling back to reads and writes through
 * the ring when the file systems cannot do it (EXDEV, EINVAL, EOPNOTSUPP, ...). Returns the
 * bytes copied (less than len only at end of file), or -errno (bytes already copied stay). */
UCO_API int64_t uco_copy_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, int64_t len);

/* --- Extended attributes ------------------------------------------------------------------ */

/* getxattr / setxattr on a descriptor (IORING_OP_FGETXATTR / FSETXATTR, Linux 5.19+) or a path.
 * Path forms follow symlinks unless flags has AT_SYMLINK_NOFOLLOW (then lgetxattr/lsetxattr on
 * the worker pool). size 0 asks for the value's length. xflags: XATTR_CREATE, XATTR_REPLACE.
 * Listing (no opcode: worker pool) fills list with NUL-terminated names. */
UCO_API ssize_t uco_fgetxattr(int fd, const char *name, void *value, size_t size);
UCO_API int uco_fsetxattr(int fd, const char *name, const void *value, size_t size, int xflags);
UCO_API ssize_t uco_flistxattr(int fd, char *list, size_t size);
UCO_API ssize_t uco_getxattr(const char *path, const char *name, void *value, size_t size,
                             int flags);
UCO_API int uco_setxattr(const char *path, const char *name, const void *value, size_t size,
                         int xflags, int flags);
UCO_API ssize_t uco_listxattr(const char *path, char *list, size_t size, int flags);

/* --- Directory listing -------------------------------------------------------------------- */

/* An open directory read in batches of getdents64(2) on the worker pool, so a cold directory
 * never blocks the loop. Used by one task at a time. */
typedef struct uco_dir uco_dir;

typedef struct uco_dirent {
    const char *name;        /* valid until the next uco_dir_next() or uco_dir_close() */
    size_t namelen;          /* strlen(name) */
    uint64_t ino;            /* inode number */
    unsigned char type;      /* DT_REG, DT_DIR, ... (DT_UNKNOWN on some file systems) */
    const struct statx *stx; /* with UCO_DIR_STAT: the entry's statx (NULL if it failed) */
    int stat_err;            /* with UCO_DIR_STAT: 0, or the -errno of the entry's statx */
} uco_dirent;

/* uco_dir_open flags. STAT: each entry comes with its statx (AT_SYMLINK_NOFOLLOW,
 * STATX_BASIC_STATS), done on the worker pool in the same batch as the listing: one trip to a
 * worker per batch instead of one statx per entry. */
#define UCO_DIR_STAT 1u

/* Opens path (relative to dirfd) as a directory (O_RDONLY | O_DIRECTORY | O_CLOEXEC).
 * bufsize is the getdents buffer (0 = 32 KiB; 1 KiB..1 MiB). *out is released by
 * uco_dir_close. Returns 0, -ENOTDIR, -ENOMEM, -EINVAL, or the open's -errno. */
UCO_API int uco_dir_open(uco_dir **out, int dirfd, const char *path, unsigned flags,
                         size_t bufsize);
/* As uco_dir_open on a descriptor already open on a directory; with own, uco_dir_close closes
 * it. Does not await. */
UCO_API int uco_dir_fdopen(uco_dir **out, int fd, bool own, unsigned flags, size_t bufsize);
/* Next entry, "." and ".." skipped: returns 1 with *ent filled, 0 at the end, or -errno
 * (getdents64 failed; the next call tries again). */
UCO_API int uco_dir_next(uco_dir *d, uco_dirent *ent);
/* The directory's descriptor (for *at calls on its entries). */
UCO_API int uco_dir_fd(const uco_dir *d);
/* Closes (if owned) and frees. Returns 0 or close's -errno; NULL is a no-op. */
UCO_API int uco_dir_close(uco_dir *d);

/* --- Whole-file helpers -------------------------------------------------------------------- */

/* Reads a whole file into a new buffer (*buf, freed with free(); NUL-terminated for
 * convenience, not counted in *len). max: refuse files larger than this (-EFBIG); 0 = 1 GiB.
 * Returns 0 or -errno. */
UCO_API int uco_file_read(int dirfd, const char *path, void **buf, size_t *len, size_t max);

/* Writes len bytes to path, created with mode (or truncated). flags: O_EXCL, O_APPEND,
 * O_SYNC, ... added to O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC. Returns 0 or -errno. */
UCO_API int uco_file_write(int dirfd, const char *path, const void *buf, size_t len, int flags,
                           mode_t mode);

/* --- The copy engine ----------------------------------------------------------------------- *
 *
 * Copies one file or a whole tree with many files in flight. Small files take one read and one
 * write; big files are copied as pipelined chunks; holes stay holes (SEEK_DATA/SEEK_HOLE). The
 * tree is walked by several tasks at once in a streaming way, so memory stays bounded whatever
 * the tree's size: it grows with the options (files in flight, chunk size, queue depth) and the
 * depth of the tree, not with its number of files.
 *
 * Errors never stop the copy unless the error callback says so: the failed path is reported,
 * the rest is copied. A regular file whose copy failed midway is REMOVED from the destination
 * (it never stays looking complete), and the removal is said in the report (removed = true);
 * except an existing file written through a symlink or one with other hard links, which is
 * left, and reported as such (incomplete = true).
 *
 * Threads: everything runs on the caller's loop, the worker pool and the kernel's io_uring
 * workers. One exception to "the loop never blocks": when both trees are on local disk or memory
 * file systems (ext4, xfs, btrfs, tmpfs, ...), the few calls that set an open file's owner, mode,
 * times and xattrs are made from the loop's thread, as they only touch the in-memory inode;
 * a trip to the pool per file measured slower. On other file systems they go to the pool.
 * With UCO_COPY_OWN_LOOP (a loop that runs the copy and nothing that must stay responsive, as
 * in `ucp`; the copy may then use every core), a tree's small files on such file systems are
 * copied in batches of 16 of one directory, each batch by one job on the worker pool with plain
 * system calls, up to (cores + 1) batches at once: a tree of 50,000 small files took 0.84-0.95x
 * the wall time of the copy through the ring in paired runs on two cores, with up to 10 % more
 * CPU (docs/BENCHMARKS.md). A source not in the
 * page cache is left to the ring, which reads many at once (and batches pause for a while).
 * The few small files that are not batched (a single file, a destination that exists) are
 * written from the loop's thread, which can block it while the kernel throttles a writer with
 * too many dirty pages.
 */

/* What to copy and how (uco_copy_opts.flags). */
#define UCO_COPY_RECURSIVE  (1u << 0)  /* copy directories and what they contain */
#define UCO_COPY_NO_DEREF   (1u << 1)  /* copy symlinks as symlinks (else follow them) */
#define UCO_COPY_MODE       (1u << 2)  /* preserve permission bits (incl. setuid/gid, sticky) */
#define UCO_COPY_OWNER      (1u << 3)  /* preserve owner and group, where permitted */
#define UCO_COPY_TIMES      (1u << 4)  /* preserve access and modification times (ns) */
#define UCO_COPY_LINKS      (1u << 5)  /* hard links inside the copy stay hard links */
#define UCO_COPY_XATTR      (1u << 6)  /* copy extended attributes (incl. ACLs) */
#define UCO_COPY_NO_CLOBBER (1u << 7)  /* never overwrite an existing destination */
#define UCO_COPY_FORCE      (1u << 8)  /* remove a destination that cannot be opened, retry */
#define UCO_COPY_UPDATE     (1u << 9)  /* skip files whose destination is as new or newer */
#define UCO_COPY_ONE_FS     (1u << 10) /* do not descend into other file systems */
#define UCO_COPY_DIRECT     (1u << 11) /* O_DIRECT for big files where the fs allows it */
#define UCO_COPY_DEREF_ROOT (1u << 12) /* follow a symlink given as the source itself (-H) */
#define UCO_COPY_OWN_LOOP   (1u << 13) /* the loop (and the cores) are the copy's: see above */
/* cp -p, cp -a. */
#define UCO_COPY_PRESERVE   (UCO_COPY_MODE | UCO_COPY_OWNER | UCO_COPY_TIMES)
#define UCO_COPY_ARCHIVE                                                                           \
    (UCO_COPY_RECURSIVE | UCO_COPY_NO_DEREF | UCO_COPY_PRESERVE | UCO_COPY_LINKS | UCO_COPY_XATTR)

/* Counters, updated as the copy goes. */
typedef struct uco_copy_stats {
    uint64_t files;       /* regular files copied */
    uint64_t dirs;        /* directories created or merged */
    uint64_t symlinks;    /* symlinks created */
    uint64_t hardlinks;   /* entries created as hard links to an earlier copy */
    uint64_t specials;    /* FIFOs, device nodes, sockets */
    uint64_t skipped;     /* left alone (no-clobber, update, other file system) */
    uint64_t errors;      /* failed entries (each reported once) */
    uint64_t bytes;       /* data bytes written (holes not counted) */
    uint64_t bytes_total; /* bytes of the regular files seen so far (grows as the walk goes) */
    uint64_t files_total; /* entries seen so far */
    int64_t elapsed_ns;   /* since uco_copy began */
    uint64_t reserved[4];
} uco_copy_stats;

/* One failed entry. Paths are the source and destination as the caller named them, joined
 * with the names below (so they may be longer than PATH_MAX); valid during the callback. */
typedef struct uco_copy_error {
    const char *src;
    const char *dst;
    const char *op;   /* what failed: "open", "read", "write", "mkdir", "stat", "chown", ... */
    const char *path; /* the path op was applied to: src or dst */
    int err;          /* -errno */
    bool removed;     /* an incomplete destination file was removed */
    bool incomplete;  /* an incomplete destination file was left: it was written through a
                         symlink or has other hard links, so removing its name would not undo
                         the write (and would cut a link that was not the copy's), or removing
                         it failed */
} uco_copy_error;

/* Called once per failed entry, on the loop's thread, from inside the copy; must not await.
 * Return 0 to go on, non-zero to stop the copy (uco_copy then returns -ECANCELED). NULL: keep
 * going silently (errors are still counted). */
typedef int uco_copy_error_fn(const uco_copy_error *e, void *arg);

/* Called at most every progress_ns and once at the end (with done = true). Must not await. */
typedef void uco_copy_progress_fn(const uco_copy_stats *st, bool done, void *arg);

/* Called for each entry copied (type: S_IFREG, S_IFDIR, ...; linked: made as a hard link);
 * for `cp -v`: a directory that existed and was merged into is not one. Must not await. */
typedef void uco_copy_entry_fn(const char *src, const char *dst, mode_t type, bool linked,
                               void *arg);

/* Hard links kept across several copies (cp -a a b dir: a name in b of a file also in a is
 * made a hard link to a's copy): a table shared by the uco_copy calls that pass it in
 * opts.links, which must all use the same dst_dirfd. Without one, links are kept inside one
 * copy. Used with UCO_COPY_LINKS; one call at a time. */
typedef struct uco_copy_links uco_copy_links;
UCO_API uco_copy_links *uco_copy_links_new(void); /* NULL when out of memory */
UCO_API void uco_copy_links_free(uco_copy_links *links);

typedef struct uco_copy_opts {
    unsigned flags;       /* UCO_COPY_* */
    unsigned jobs;        /* files in flight (1..4096); 0 = 256, or RLIMIT_NOFILE / 4 if lower */
    unsigned walkers;     /* directories read at once (1..256); 0 = 32 */
    unsigned queue_depth; /* chunks in flight per big file (1..64); 0 = 4 */
    size_t chunk_size;    /* bytes per chunk (64 KiB..64 MiB, power of two); 0 = 1 MiB */
    uco_copy_error_fn *on_error;
    void *error_arg;
    uco_copy_progress_fn *on_progress;
    void *progress_arg;
    int64_t progress_ns; /* 0 = 200 ms */
    uco_copy_entry_fn *on_entry;
    void *entry_arg;
    uco_copy_links *links; /* NULL, or a table shared with other copies (above) */
    uint64_t reserved[7];  /* must be zero */
} uco_copy_opts;

/* Copies src (relative to src_dirfd) to dst (relative to dst_dirfd): dst is the name of the
 * copy itself, not a directory to copy into (deciding that is the caller's, as `ucp` does).
 * A directory src needs UCO_COPY_RECURSIVE; copied onto an existing directory it is merged.
 * Without it, a FIFO or device src is read into a regular file, as cp does (with it, such
 * files are made anew, as special files).
 * opts may be NULL (defaults, no preservation); stats (may be NULL) receives the final counters.
 * Awaits; runs its own tasks on the caller's loop. Cancelling the caller stops the copy (the
 * file being written is removed) and returns -ECANCELED.
 * Returns 0 when everything was copied; otherwise the -errno of the first failure (the copy
 * went on after it), -EINVAL for bad options (unknown flags included), -EISDIR (directory without
 * RECURSIVE), -ECANCELED when the error callback stopped it. */
UCO_API int uco_copy(int src_dirfd, const char *src, int dst_dirfd, const char *dst,
                     const uco_copy_opts *opts, uco_copy_stats *stats);

UCO_END_DECLS

#endif
