/* Buffer pools (provided-buffer rings) and the net layer's per-loop state. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "net/internal.h"

static void pool_destroy(struct uco_bufpool *p)
{
    uco__bufring_fini(&p->loop->ring, &p->ring);
    if (p->mem) munmap(p->mem, (size_t)p->count * p->size);
    free(p->next);
    free(p->len);
    free(p->off);
    free(p);
}

static void net_fini(struct uco_loop *l)
{
    struct uco__net *n = l->layer[UCO__LAYER_NET];
    if (!n) return;
    for (unsigned i = 0; i < n->npipes; i++) {
        close(n->pipes[i].fd[0]);
        close(n->pipes[i].fd[1]);
    }
    for (unsigned i = 0; i < n->ncopybufs; i++)
        free(n->copybufs[i]);
    /* Every connection is gone by now (the loop waited for their last completions), so
     * the default pool has only its owner's reference left. */
    if (n->default_pool) pool_destroy(n->default_pool);
    free(n);
    l->layer[UCO__LAYER_NET] = NULL;
    l->layer_fini[UCO__LAYER_NET] = NULL;
}

struct uco__net *uco__net_get(struct uco_loop *l)
{
    struct uco__net *n = l->layer[UCO__LAYER_NET];
    if (UCO__LIKELY(n != NULL)) return n;
    n = calloc(1, sizeof *n);
    if (!n) return NULL;
    l->layer[UCO__LAYER_NET] = n;
    l->layer_fini[UCO__LAYER_NET] = net_fini;
    return n;
}

int uco_bufpool_new(uco_bufpool **out, uco_loop *loop, unsigned count, unsigned size)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!loop) loop = uco__tls_loop;
    if (!loop || !pthread_equal(loop->thread, pthread_self())) return -EINVAL;
    if (count == 0 || count > 32768 || (count & (count - 1)) || size < 64 || size > (1u << 20))
        return -EINVAL;
    struct uco_bufpool *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->loop = loop;
    p->count = count;
    p->size = size;
    p->refs = 1;
    p->next = malloc(count * sizeof *p->next);
    p->len = malloc(count * sizeof *p->len);
    p->off = malloc(count * sizeof *p->off);
    void *mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    p->mem = mem == MAP_FAILED ? NULL : mem;
    if (!p->next || !p->len || !p->off || !p->mem) {
        pool_destroy(p);
        return -ENOMEM;
    }
    int r = uco__bufring_init(&loop->ring, &p->ring, count);
    if (r < 0) {
        pool_destroy(p);
        return r == -EINVAL ? -EOPNOTSUPP : r;
    }
    for (unsigned i = 0; i < count; i++) {
        io_uring_buf_ring_add(p->ring.br, p->mem + (size_t)i * size, size, (uint16_t)i,
                              (int)p->ring.mask, (int)i);
        p->next[i] = UCO__NOBUF;
    }
    io_uring_buf_ring_advance(p->ring.br, (int)count);
    p->in_ring = count;
    *out = p;
    return 0;
}

void uco__bufpool_ref(struct uco_bufpool *p)
{
    p->refs++;
}

void uco__bufpool_unref(struct uco_bufpool *p)
{
    if (--p->refs == 0) pool_destroy(p);
}

void uco_bufpool_free(uco_bufpool *p)
{
    if (!p || p->freed) return;
    p->freed = true;
    uco__bufpool_unref(p);
}

void uco__bufpool_starve(struct uco_bufpool *p, struct uco_conn *c)
{
    if (c->starved) return;
    c->starved = true;
    c->starved_next = NULL;
    if (p->starved_tail)
        p->starved_tail->starved_next = c;
    else
        p->starved_head = c;
    p->starved_tail = c;
    p->nstarved++;
}

void uco__bufpool_unstarve(struct uco_bufpool *p, struct uco_conn *c)
{
    if (!c->starved) return;
    struct uco_conn **pp = &p->starved_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->starved_next;
    }
    if (*pp) *pp = c->starved_next;
    if (p->starved_tail == c) p->starved_tail = prev;
    p->nstarved--;
    c->starved = false;
    c->starved_next = NULL;
}

void uco__bufpool_rearm_starved(struct uco_bufpool *p)
{
    /* One buffer back, one starved receive re-armed: re-arming them all at once would have
     * all but one fail again. */
    struct uco_conn *c = p->starved_head;
    uco__bufpool_unstarve(p, c);
    uco__conn_arm(c);
}

int uco_bufpool_stats_get(const uco_bufpool *p, uco_bufpool_stats *out)
{
    if (!p || !out) return -EINVAL;
    *out = (uco_bufpool_stats){
        .count = p->count, .free = p->in_ring, .starved = p->nstarved, .nobufs = p->nobufs};
    return 0;
}
