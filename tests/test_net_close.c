/* Closing connections: the paths that end a connection whose output is still queued (a
 * cancelled task's close, the linger running out) close its socket exactly once, and nothing
 * is sent on the descriptor after it was closed. */
#include "net_util.h"

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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_from_a_cancelled_task_with_output_queued_closes_the_socket_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
