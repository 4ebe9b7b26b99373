/* Test trees for the copy tests: build a tree with every kind of file, compare two trees
 * (content, type, mode, owner, ns times, link targets, hard-link groups, sparseness, user
 * xattrs), run a program and capture its output. Plain blocking code, used outside tasks. */
#ifndef UCO_TEST_TREE_UTIL_H
#define UCO_TEST_TREE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What build_tree puts in: bit flags. */
#define TREE_OWNERS  1u /* chown entries to other users (root only) */
#define TREE_DEVICES 2u /* character and block device nodes (root only) */
#define TREE_XATTRS  4u /* user.* xattrs (where the file system has them) */
#define TREE_MODES   8u /* one file per mode 0000..0777, plus set-id and sticky */

/* Builds the test tree under root (which must not exist). Returns 0, or -1 with a message. */
int build_tree(const char *root, unsigned what);

/* What compare_trees compares beyond types, names, sizes, contents, link targets and device
 * numbers (always). */
#define CMP_MODE   1u
#define CMP_OWNER  2u
#define CMP_MTIME  4u
#define CMP_ATIME  8u
#define CMP_LINKS  16u /* hard-link groups and link counts */
#define CMP_SPARSE 32u /* allocated blocks */
#define CMP_XATTR  64u /* user.* xattrs */
#define CMP_ALL    127u

/* Compares trees a and b: returns the number of differences (each printed to stdout, the first
 * few only). Each inode's access time is compared before the comparison reads it (symlink
 * targets and directories; files are opened with O_NOATIME). */
int compare_trees(const char *a, const char *b, unsigned what);

/* Runs argv (argv[0] a path) with uid/gid (-1: unchanged) and returns its exit status (or
 * 128 + signal); its stderr (and stdout) are stored in err/out (NUL-terminated, cut to size). */
int run_prog(char *const argv[], uid_t uid, char *err, size_t errlen, char *out, size_t outlen);

/* rm -rf path (as a child process). */
void remove_tree(const char *path);

/* Moves this process to a mount namespace of its own (once): what it mounts is invisible to
 * others and goes away with it. Returns 0 or -errno. */
int private_mounts(void);

/* Mounts a private tmpfs of size bytes on dir (in this process's own mount namespace, made
 * at the first call). Returns 0, or -errno (then the caller skips). */
int mount_tmpfs(const char *dir, size_t size);
#ifdef skip /* in a test: cmocka.h came first */
#include <stdio.h>
#include <string.h>
/* As mount_tmpfs, or skips the test saying why. */
static inline void mount_tmpfs_or_skip(const char *dir, size_t size)
{
    int r = mount_tmpfs(dir, size);
    if (r < 0) {
        printf("SKIP: cannot mount a tmpfs on %s: %s\n", dir, strerror(-r));
        skip();
    }
}
#endif

/* Whether path's file system is ext4 / tmpfs. */
bool is_fs(const char *path, long magic);

/* Reads every file of a tree (cp -a), again until relatime has settled every access time, so
 * that later reads by the programs under test change none. */
void settle_atimes(const char *root);

#endif
