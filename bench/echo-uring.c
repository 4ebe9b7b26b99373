/* echo-uring: the raw-liburing baseline for the echo benchmark, tuned as
 * shared/notes/loopback-networking.md describes: SINGLE_ISSUER|DEFER_TASKRUN (else
 * COOP_TASKRUN), registered ring fd, multishot accept into direct descriptors, multishot recv
 * over a provided-buffer ring (the same 1024 x 16 KiB as uco's default pool), send straight
 * from the ring buffer, one send in flight per connection, the buffer returned when its send
 * completes. Callbacks, no coroutines: what uco's coroutine layer is measured against.
 *
 *   echo-uring [--bind ADDR] [--port N]      (defaults 127.0.0.1 and 7000) */
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <uco/net.h>

#define NBUFS   1024
#define BUFSIZE 16384
#define NOBUF   0xffff

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_IGNORE = 4 };

struct conn {
    int slot;
    int refs; /* armed recv + send in flight */
    bool recv_armed, closing, starved;
    uint16_t q_head, q_tail; /* received buffers waiting for their send */
    uint16_t send_bid;
    uint32_t send_off;
    struct conn *starved_next;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufmem;
static uint16_t bnext[NBUFS];
static uint32_t blen[NBUFS];
static struct conn *starved;
static int listen_fd;

static inline uint64_t ud(void *p, int op)
{
    return (uint64_t)(uintptr_t)p | (uint64_t)op;
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept_direct(sqe, listen_fd, NULL, NULL, 0);
    sqe->user_data = ud(NULL, OP_ACCEPT);
}

static void arm_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, c->slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = ud(c, OP_RECV);
    c->recv_armed = true;
    c->refs++;
}

static void buf_put(uint16_t bid)
{
    io_uring_buf_ring_add(br, bufmem + (size_t)bid * BUFSIZE, BUFSIZE, bid,
                          io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
    if (starved) {
        struct conn *c = starved;
        starved = c->starved_next;
        c->starved = false;
        if (!c->closing && !c->recv_armed) arm_recv(c);
    }
}

static void send_next(struct conn *c)
{
    uint16_t bid = c->send_bid;
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, c->slot, bufmem + (size_t)bid * BUFSIZE + c->send_off,
                       blen[bid] - c->send_off, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->user_data = ud(c, OP_SEND);
    c->refs++;
}

static void start_send(struct conn *c, uint16_t bid)
{
    c->send_bid = bid;
    c->send_off = 0;
    send_next(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing) return;
    c->closing = true;
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_close_direct(sqe, (unsigned)c->slot);
    sqe->user_data = ud(NULL, OP_IGNORE);
    if (c->recv_armed) {
        sqe = sqe_get();
        io_uring_prep_cancel64(sqe, ud(c, OP_RECV), 0);
        sqe->user_data = ud(NULL, OP_IGNORE);
    }
    for (uint16_t b = c->q_head; b != NOBUF;) {
        uint16_t n = bnext[b];
        buf_put(b);
        b = n;
    }
    c->q_head = c->q_tail = NOBUF;
}

static void conn_unref(struct conn *c)
{
    if (--c->refs == 0 && c->closing) free(c);
}

static void on_recv(struct conn *c, int res, unsigned flags)
{
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        if (res > 0 && !c->closing) {
            blen[bid] = (uint32_t)res;
            if (c->send_bid == NOBUF) {
                start_send(c, bid);
            } else {
                bnext[bid] = NOBUF;
                if (c->q_tail != NOBUF)
                    bnext[c->q_tail] = bid;
                else
                    c->q_head = bid;
                c->q_tail = bid;
            }
        } else {
            buf_put(bid);
        }
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        if (res == -ENOBUFS && !c->closing) {
            c->starved = true;
            c->starved_next = starved;
            starved = c;
        } else if (res > 0 && !c->closing) {
            arm_recv(c);
        } else if (!c->closing) {
            conn_close(c); /* end of stream or error */
        }
        conn_unref(c);
    }
}

static void on_send(struct conn *c, int res)
{
    uint16_t bid = c->send_bid;
    if (res <= 0 || c->closing) {
        c->send_bid = NOBUF;
        buf_put(bid);
        conn_close(c);
    } else if (c->send_off + (uint32_t)res < blen[bid]) {
        c->send_off += (uint32_t)res;
        send_next(c);
    } else {
        c->send_bid = NOBUF;
        buf_put(bid);
        if (c->q_head != NOBUF) {
            uint16_t next = c->q_head;
            c->q_head = bnext[next];
            if (c->q_head == NOBUF) c->q_tail = NOBUF;
            start_send(c, next);
        }
    }
    conn_unref(c);
}

int main(int argc, char **argv)
{
    const char *bind_s = "127.0.0.1";
    long port = 7000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bind"))
            bind_s = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = strtol(argv[i + 1], NULL, 10);
    }
    uco_addr addr;
    if (uco_addr_parse(&addr, bind_s, (uint16_t)port) < 0) {
        fprintf(stderr, "echo-uring: bad address '%s'\n", bind_s);
        return 2;
    }
    long nofile = uco_nofile_raise();
    signal(SIGPIPE, SIG_IGN);
    listen_fd = uco_bind_socket(&addr, SOCK_STREAM, 0, UCO_SOCK_NODELAY);
    if (listen_fd < 0) {
        fprintf(stderr, "echo-uring: listen on %s: %s\n", bind_s, strerror(-listen_fd));
        return 1;
    }
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = 4096;
    int r = io_uring_queue_init_params(256, &ring, &p);
    if (r < 0) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE;
        p.cq_entries = 4096;
        r = io_uring_queue_init_params(256, &ring, &p);
    }
    if (r < 0) {
        fprintf(stderr, "echo-uring: io_uring_queue_init: %s\n", strerror(-r));
        return 1;
    }
    io_uring_register_ring_fd(&ring);
    r = io_uring_register_files_sparse(&ring, nofile > 0 && nofile < (1 << 20) ? (unsigned)nofile
                                                                               : 1u << 20);
    bufmem = mmap(NULL, (size_t)NBUFS * BUFSIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r < 0 || bufmem == MAP_FAILED || br == MAP_FAILED) {
        fprintf(stderr, "echo-uring: setting up: %s\n", strerror(r < 0 ? -r : ENOMEM));
        return 1;
    }
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUFS, .bgid = 0};
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) {
        fprintf(stderr, "echo-uring: io_uring_register_buf_ring: %s\n", strerror(-r));
        return 1;
    }
    for (int i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(br, bufmem + (size_t)i * BUFSIZE, BUFSIZE, (uint16_t)i,
                              io_uring_buf_ring_mask(NBUFS), i);
    io_uring_buf_ring_advance(br, NBUFS);

    uco_addr bound;
    uco_sock_addr(listen_fd, &bound);
    char name[UCO_ADDR_STRLEN];
    uco_addr_format(&bound, name, sizeof name);
    printf("echo-uring: listening on %s\n", name);
    fflush(stdout);
    arm_accept();
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            n++;
            uint64_t u = cqe->user_data;
            int op = (int)(u & 7);
            struct conn *c = (struct conn *)(uintptr_t)(u & ~(uint64_t)7);
            switch (op) {
            case OP_ACCEPT:
                if (cqe->res >= 0) {
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (nc) {
                        nc->slot = cqe->res;
                        nc->q_head = nc->q_tail = nc->send_bid = NOBUF;
                        arm_recv(nc);
                    }
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
                break;
            case OP_RECV:
                on_recv(c, cqe->res, cqe->flags);
                break;
            case OP_SEND:
                on_send(c, cqe->res);
                break;
            default:
                break;
            }
        }
        io_uring_cq_advance(&ring, n);
    }
}
