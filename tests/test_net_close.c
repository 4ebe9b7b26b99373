/* Closing connections: the paths that end a connection whose output is still queued (a
 * cancelled task's close, the linger running out) close its socket exactly once, and nothing
 * is sent on the descriptor after it was closed. */
#include "net_util.h"

#include "net/internal.h"

#include <fcntl.h>
#include <poll.h>

/* ---- a close from a cancelled task, with output queued --------------------------------- */

struct cancelled_close {
    uco_conn *c;
    ssize_t got, queued;
};

static intptr_t cancelled_closer(void *arg)
{
    struct cancelled_close *cc = arg;
    uco_buf b;
    cc->got = uco_conn_recv_buf(cc->c, &b);
    uco_task_cancel(uco_task_self()); /* as if its deadline had passed */
    cc->queued = uco_conn_send_buf(cc->c, &b);
    uco_conn_close(cc->c); /* from a cancelled task: the queued output is dropped */
    return 0;
}

static intptr_t cancelled_close_body(void *arg)
{
    (void)arg;
    int sv[2];
    T_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int conn_fd = sv[0];
    struct cancelled_close cc = {0};
    T_CHECK_EQ(uco_conn_open(&cc.c, conn_fd, NULL), 0);
    T_CHECK_EQ(write(sv[1], "hello", 5), 5);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, cancelled_closer, &cc), 0);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK_EQ(cc.got, 5);
    T_CHECK_EQ(cc.queued, 5);
    /* Wait for the connection's socket to be closed (the peer sees it hang up), looking before
     * every turn of the loop: the moment it is, its number is free and the next file opened
     * takes it. */
    struct pollfd pf = {.fd = sv[1], .events = POLLIN};
    for (int i = 0; i < 100 && !(poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP)); i++)
        T_CHECK_EQ(uco_nop(), 0);
    T_CHECK(pf.revents & POLLHUP);
    int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
    T_CHECK_EQ(other, conn_fd);
    /* Whatever the connection still had queued (a second close was) reaches the kernel now:
     * the unrelated file must stay open. */
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_nop(), 0);
    T_CHECK(fcntl(other, F_GETFD) >= 0);
    char buf[16];
    ssize_t n, total = 0;
    while ((n = uco_recv(sv[1], buf, sizeof buf, 0)) > 0)
        total += n;
    T_CHECK_EQ(n, 0);
    T_CHECK(total <= 5); /* the echo may or may not have left before the cancel */
    close(other);
    close(sv[1]);
    return 0;
}

static void close_from_a_cancelled_task_with_output_queued_closes_the_socket_once(void **state)
{
    (void)state;
    assert_int_equal(t_run(cancelled_close_body, NULL, NULL), 0);
}

/* ---- the linger running out while a send completes -------------------------------------- */

#define LINGER_BUF  1024
#define LINGER_BUFS 32

struct echoer {
    uco_conn *c;
    size_t want;
    int ok;
};

/* Echoes want bytes back with queued sends (the peer does not read: they back up). */
static intptr_t echoer_task(void *arg)
{
    struct echoer *e = arg;
    size_t got = 0;
    while (got < e->want) {
        uco_buf b;
        ssize_t n = uco_conn_recv_buf(e->c, &b);
        T_CHECK(n > 0);
        got += (size_t)n;
        T_CHECK_EQ(uco_conn_send_buf(e->c, &b), n);
    }
    e->ok = 1;
    return 0;
}

static intptr_t linger_race_body(void *arg)
{
    (void)arg;
    uco_bufpool *pool;
    T_CHECK_EQ(uco_bufpool_new(&pool, NULL, 2 * LINGER_BUFS, LINGER_BUF), 0);
    int sv[2];
    T_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096; /* the connection's socket holds a few of its sends, not all */
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    uco_conn_opts o = {.pool = pool, .max_bufs = LINGER_BUFS};
    struct echoer e = {.want = LINGER_BUFS * LINGER_BUF};
    T_CHECK_EQ(uco_conn_open(&e.c, sv[0], &o), 0);
    struct uco_conn *c = e.c; /* its insides stay readable until it is freed */
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, echoer_task, &e), 0);
    char *data = malloc(e.want);
    fill_pattern(data, e.want, 3);
    T_CHECK_EQ(uco_send_all(sv[1], data, e.want, 0), (ssize_t)e.want);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK(e.ok);
    /* Output is stuck behind the send in flight; the close waits for it (the linger). */
    YIELD_UNTIL(c->out_head != c->out_tail);
    uco_conn_close(c);
    /* The peer reads what its socket holds: the send in flight completes, and the queue starts
     * the next one (taken, not yet submitted). */
    uint64_t out0 = c->stats.bytes_out;
    char *sink = malloc(e.want);
    T_CHECK(read(sv[1], sink, e.want) > 0);
    YIELD_UNTIL(c->stats.bytes_out != out0);
    /* Now the linger runs out: its cancel goes to the kernel behind that next send, which goes
     * out at once (there is room) and leaves the cancel nothing to cancel. The expiry must hold
     * anyway: the rest is dropped and the socket closed, with the peer still not reading. */
    uco__timer_disarm(&uco__tls_loop->timers, &c->linger);
    uco__conn_linger_fire(&c->linger);
    int64_t old = uco_deadline_set(uco_now() + 2 * UCO_SEC);
    int r = uco_poll(sv[1], POLLRDHUP);
    uco_deadline_set(old);
    T_CHECK(r > 0 && (r & (POLLRDHUP | POLLHUP)));
    free(data);
    free(sink);
    close(sv[1]);
    uco_bufpool_free(pool);
    return 0;
}

static void linger_expiry_drops_the_output_even_when_a_send_completes_first(void **state)
{
    (void)state;
    assert_int_equal(t_run(linger_race_body, NULL, NULL), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_from_a_cancelled_task_with_output_queued_closes_the_socket_once),
        cmocka_unit_test(linger_expiry_drops_the_output_even_when_a_send_completes_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
