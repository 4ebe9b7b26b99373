/* The copy engine's metadata: owner, mode, times and extended attributes of copied entries;
 * hard-link groups; buffers. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/copy_internal.h"

void uco__cp_meta_from_statx(struct cp_meta *m, const struct statx *stx)
{
    m->mode = stx->stx_mode;
    m->uid = stx->stx_uid;
    m->gid = stx->stx_gid;
    m->atime.tv_sec = stx->stx_atime.tv_sec;
    m->atime.tv_nsec = stx->stx_atime.tv_nsec;
    m->mtime.tv_sec = stx->stx_mtime.tv_sec;
    m->mtime.tv_nsec = stx->stx_mtime.tv_nsec;
}

static bool fail(struct cp_meta_call *c, const char *op)
{
    if (!c->err) {
        c->err = -errno;
        c->op = op;
    }
    return false;
}

/* Errors that mean "this file system keeps no such attribute", which cp -a ignores too. */
static bool xattr_unsupported(int err, const char *name)
{
    if (err != ENOTSUP && err != EOPNOTSUPP && err != EPERM) return false;
    /* A lost ACL is a lost permission: never silent. */
    return strncmp(name, "system.posix_acl_", 17) != 0;
}

static void copy_xattrs(struct cp_meta_call *c)
{
    char small[1024];
    char *list = small;
    ssize_t n = flistxattr(c->src_fd, list, sizeof small);
    if (n < 0 && errno == ERANGE) {
        n = flistxattr(c->src_fd, NULL, 0);
        if (n > 0) {
            list = malloc((size_t)n);
            if (!list) {
                errno = ENOMEM;
                fail(c, "list xattrs");
                return;
            }
            n = flistxattr(c->src_fd, list, (size_t)n);
        }
    }
    if (n < 0) {
        if (errno != ENOTSUP && errno != EOPNOTSUPP) fail(c, "list xattrs");
        if (list != small) free(list);
        return;
    }
    char *val = NULL;
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
        const char *name = list + off;
        if (!val && !(val = malloc(XATTR_SIZE_MAX))) {
            errno = ENOMEM;
            fail(c, "get xattr");
            break;
        }
        ssize_t v = fgetxattr(c->src_fd, name, val, XATTR_SIZE_MAX);
        if (v < 0) {
            if (errno != ENODATA) fail(c, "get xattr");
            continue;
        }
        if (fsetxattr(c->fd, name, val, (size_t)v, 0) < 0 && !xattr_unsupported(errno, name))
            fail(c, "set xattr");
    }
    free(val);
    if (list != small) free(list);
}

void uco__cp_meta_run(struct cp_meta_call *c)
{
    bool by_name = c->fd < 0;
    if (c->chown) {
        int r = by_name ? fchownat(c->dirfd, c->name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW)
                        : fchown(c->fd, c->uid, c->gid);
        if (r < 0 && !c->privileged && (errno == EPERM || errno == EINVAL)) {
            /* Not ours to give away: keep our user, try the group alone (as cp does; failing
             * that too is not an error for an unprivileged copy). Without the source's owner
             * the copy does not get its set-id bits either, nor a file its sticky bit (as cp):
             * a copy of root's setuid file must not be setuid as ours. */
            (void)(by_name ? fchownat(c->dirfd, c->name, (uid_t)-1, c->gid, AT_SYMLINK_NOFOLLOW)
                           : fchown(c->fd, (uid_t)-1, c->gid));
            c->mode &= ~c->drop;
        } else if (r < 0) {
            fail(c, "chown");
        }
    }
    if (c->src_fd >= 0 && !by_name) copy_xattrs(c);
    if (c->chmod) {
        int r = by_name ? fchmodat(c->dirfd, c->name, c->mode, 0) : fchmod(c->fd, c->mode);
        if (r < 0) fail(c, "chmod");
    }
    if (c->times) {
        int r = by_name ? utimensat(c->dirfd, c->name, c->ts, AT_SYMLINK_NOFOLLOW)
                        : futimens(c->fd, c->ts);
        if (r < 0) fail(c, "set times");
    }
}

static intptr_t meta_job(void *arg)
{
    uco__cp_meta_run(arg);
    return 0;
}

/* Whether applying m to dir/name changes its owner. created: we made it, so it is ours and its
 * group is known (the root's is not: it may have merged into an existing directory). */
static bool changes_owner(const struct cp_engine *e, const struct cp_dir *dir,
                          const struct cp_meta *m, bool created)
{
    if (!(e->flags & UCO_COPY_OWNER)) return false;
    /* What a new entry got: our user, and our group or the directory's (setgid). */
    gid_t got = dir->dst_sgid ? dir->dst_gid : e->egid;
    bool known = created && dir->depth > 0;
    return !known || m->uid != e->euid || m->gid != got;
}

mode_t uco__cp_create_mode(const struct cp_engine *e, const struct cp_dir *dir,
                           const struct cp_meta *m)
{
    /* Never set-id or sticky at creation: until chown the entry is ours (root's, often), and
     * a set-id file of root's must not exist even for a moment. Those bits come last, with
     * the chmod after the chown (which would clear set-id bits anyway). */
    mode_t mode = m->mode & 0777;
    /* Owner only while it is not yet the new owner's, so nobody else opens it meanwhile. */
    if (changes_owner(e, dir, m, true)) mode &= 0700;
    return mode;
}

int uco__cp_meta_apply(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                       const struct cp_meta *m, bool created)
{
    return uco__cp_meta_apply_x(e, dir, name, fd, -1, m, created);
}

int uco__cp_meta_apply_x(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                         int src_fd, const struct cp_meta *m, bool created)
{
    const char *op = NULL;
    int r = uco__cp_meta_set(e, dir, name, fd, src_fd, m, created, &op);
    if (r < 0 && op) uco__cp_fail(e, dir, dir->depth ? name : NULL, op, true, r, false);
    return r;
}

bool uco__cp_meta_prep(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd,
                       int src_fd, const struct cp_meta *m, bool created, struct cp_meta_call *c)
{
    mode_t type = m->mode & S_IFMT;
    *c = (struct cp_meta_call){.fd = fd, .dirfd = dir->dst_fd, .name = name, .src_fd = -1};
    c->privileged = e->privileged;
    if (e->flags & UCO_COPY_OWNER) {
        c->chown = changes_owner(e, dir, m, created);
        c->uid = m->uid;
        c->gid = m->gid;
    }
    if (!S_ISLNK(type)) {
        mode_t want = m->mode & 07777;
        /* What a new entry other than a directory got (directories were made owner-writable
         * to be filled: they always need their mode). */
        mode_t got = uco__cp_create_mode(e, dir, m) & ~e->umask;
        bool made = created && !S_ISDIR(type);
        if (e->flags & UCO_COPY_MODE) {
            c->chmod = !made || got != want;
        } else if (created && S_ISDIR(type)) {
            /* As cp: a new directory keeps the sticky bit, loses the set-id bits. */
            want &= 01777 & ~e->umask;
            c->chmod = true;
        } else if (made) {
            /* Made owner-only for a new owner: what the umask would have given. */
            want &= 0777 & ~e->umask;
            c->chmod = got != want;
        }
        c->mode = want;
        c->drop = S_ISUID | S_ISGID | (S_ISDIR(type) ? 0 : S_ISVTX);
    }
    if (e->flags & UCO_COPY_TIMES) {
        c->times = true;
        c->ts[0] = m->atime;
        c->ts[1] = m->mtime;
    }
    if ((e->flags & UCO_COPY_XATTR) && fd >= 0) c->src_fd = src_fd;
    if (!c->chown && !c->chmod && !c->times && c->src_fd < 0) return false;
    return fd >= 0 || name; /* nothing to name it by (cannot happen for entries) */
}

int uco__cp_meta_set(struct cp_engine *e, struct cp_dir *dir, const char *name, int fd, int src_fd,
                     const struct cp_meta *m, bool created, const char **op)
{
    *op = NULL;
    struct cp_meta_call c;
    if (!uco__cp_meta_prep(e, dir, name, fd, src_fd, m, created, &c)) return 0;
    if (e->meta_inline) {
        uco__cp_meta_run(&c);
    } else {
        intptr_t r = uco_work(meta_job, &c);
        if (r < 0) return (int)r; /* cancelled before it ran: -ECANCELED */
    }
    if (c.err) *op = c.op;
    return c.err;
}

/* ---- hard-link groups ----------------------------------------------------------------- */

static size_t link_hash(dev_t dev, uint64_t ino, size_t buckets)
{
    uint64_t h = (ino ^ ((uint64_t)dev << 32) ^ (uint64_t)dev) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (buckets - 1);
}

static void links_grow(struct uco_copy_links *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 256;
    struct cp_link **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct cp_link *l = t->links[i];
        while (l) {
            struct cp_link *next = l->next;
            size_t h = link_hash(l->dev, l->ino, nb);
            l->next = b[h];
            b[h] = l;
            l = next;
        }
    }
    free(t->links);
    t->links = b;
    t->nbuckets = nb;
}

struct cp_link *uco__cp_link_find(struct cp_engine *e, dev_t dev, uint64_t ino, bool *created,
                                  uint32_t nlink)
{
    struct uco_copy_links *t = e->lt;
    *created = false;
    if (t->n >= t->nbuckets) links_grow(t);
    if (!t->links) return NULL;
    size_t h = link_hash(dev, ino, t->nbuckets);
    for (struct cp_link *l = t->links[h]; l; l = l->next)
        if (l->dev == dev && l->ino == ino) {
            if (l->left) l->left--;
            l->users++;
            return l;
        }
    if (t->n >= CP_LINKS_MAX) {
        t->full = true;
        return NULL;
    }
    struct cp_link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->dev = dev;
    l->ino = ino;
    l->left = nlink ? nlink - 1 : 0;
    l->state = CP_LINK_COPYING;
    l->users = 1;
    l->next = t->links[h];
    t->links[h] = l;
    t->n++;
    *created = true;
    return l;
}

/* Forgets a group once every name of the inode has been seen and nobody holds it. */
void uco__cp_link_release(struct cp_engine *e, struct cp_link *l)
{
    struct uco_copy_links *t = e->lt;
    if (l->users) l->users--;
    if (l->left || l->users) return;
    size_t h = link_hash(l->dev, l->ino, t->nbuckets);
    for (struct cp_link **p = &t->links[h]; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            t->n--;
            free(l->dst);
            free(l);
            return;
        }
}

static void links_clear(struct uco_copy_links *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct cp_link *l = t->links[i];
        while (l) {
            struct cp_link *next = l->next;
            free(l->dst);
            free(l);
            l = next;
        }
    }
    free(t->links);
    memset(t, 0, sizeof *t);
}

void uco__cp_links_free(struct cp_engine *e)
{
    links_clear(&e->own_links); /* a shared table stays the caller's */
}

uco_copy_links *uco_copy_links_new(void)
{
    return calloc(1, sizeof(uco_copy_links));
}

void uco_copy_links_free(uco_copy_links *links)
{
    if (!links) return;
    links_clear(links);
    free(links);
}

/* ---- buffers -------------------------------------------------------------------------- */

static unsigned buf_class(size_t size)
{
    unsigned c = 0;
    while (c + 1 < CP_CLASSES && ((size_t)4096 << c) < size)
        c++;
    return c;
}

void *uco__cp_buf_get(struct cp_engine *e, size_t size, size_t align, size_t *cap)
{
    if (align < 4096) align = 4096;
    unsigned c = buf_class(size);
    *cap = (size_t)4096 << c;
    /* Every buffer is page aligned: a larger alignment (O_DIRECT) takes the first that has it. */
    for (struct cp_buf **pp = &e->free_bufs[c]; *pp; pp = &(*pp)->next)
        if ((uintptr_t)*pp % align == 0) {
            struct cp_buf *b = *pp;
            *pp = b->next;
            return b;
        }
    void *buf;
    return posix_memalign(&buf, align, *cap) == 0 ? buf : NULL;
}

void uco__cp_buf_put(struct cp_engine *e, void *buf, size_t cap)
{
    if (!buf) return;
    unsigned c = buf_class(cap);
    struct cp_buf *b = buf;
    b->next = e->free_bufs[c];
    e->free_bufs[c] = b;
}

void uco__cp_bufs_free(struct cp_engine *e)
{
    for (unsigned c = 0; c < CP_CLASSES; c++)
        while (e->free_bufs[c]) {
            struct cp_buf *b = e->free_bufs[c];
            e->free_bufs[c] = b->next;
            free(b);
        }
}
