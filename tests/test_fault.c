/* Fault injection (uco_fault_add): forced errors that do not run the operation, short
 * transfers, skip/count, matching by kind and fd, rule order, clearing, bad rules. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <sys/ioctl.h>

static uco_loop *loop_of_task(void)
{
    return uco_loop_current();
}

/* Bytes waiting in a pipe. */
static int pipe_bytes(int fd)
{
    int n = -1;
    if (ioctl(fd, FIONREAD, &n) != 0) return -1;
    return n;
}

static intptr_t forced_error_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    uco_loop *l = loop_of_task();
    uco_fault f = {.op = UCO_OP_WRITE, .fd = p[1], .count = 1, .error = EIO};
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    /* The write fails without running: nothing reaches the pipe. */
    T_CHECK_EQ(uco_write(p[1], "abc", 3, -1), -EIO);
    T_CHECK_EQ(pipe_bytes(p[0]), 0);
    /* count = 1: the rule is spent, the next write runs. */
    T_CHECK_EQ(uco_write(p[1], "abc", 3, -1), 3);
    T_CHECK_EQ(pipe_bytes(p[0]), 3);
    /* A forced error of any errno, on a started op too. */
    f.error = ENOSPC;
    T_CHECK_EQ(uco_fault_add(l, &f), 1);
    uco_op op;
    T_CHECK_EQ(uco_op_write(&op, p[1], "de", 2, -1), 0);
    T_CHECK_EQ(uco_op_wait(&op), -ENOSPC);
    T_CHECK_EQ(pipe_bytes(p[0]), 3);
    uco_fault_clear(l);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void forced_error_does_not_run_the_operation(void **state)
{
    t_run_modes(forced_error_body, NULL, 0);
}

static intptr_t short_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    uco_loop *l = loop_of_task();
    uco_fault f = {.fd = -1, .max_len = 3}; /* every op, every fd, clamped to 3 bytes */
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    T_CHECK_EQ(uco_write(p[1], "0123456789", 10, -1), 3);
    T_CHECK_EQ(pipe_bytes(p[0]), 3);
    char buf[16] = {0};
    T_CHECK_EQ(write(p[1], "3456789", 7), 7);
    T_CHECK_EQ(uco_read(p[0], buf, sizeof buf, -1), 3);
    T_CHECK(memcmp(buf, "012", 3) == 0);
    /* readv / writev: the iovec array is clamped, over several elements. */
    char a[2], b[2], c[4];
    struct iovec riov[3] = {{a, 2}, {b, 2}, {c, 4}};
    T_CHECK_EQ(uco_readv(p[0], riov, 3, -1), 3);
    T_CHECK(memcmp(a, "34", 2) == 0 && b[0] == '5');
    T_CHECK_EQ(read(p[0], buf, sizeof buf), 4); /* "6789" left */
    struct iovec wiov[3] = {{"ab", 2}, {"cd", 2}, {"ef", 2}};
    T_CHECK_EQ(uco_writev(p[1], wiov, 3, -1), 3);
    T_CHECK_EQ(read(p[0], buf, sizeof buf), 3);
    T_CHECK(memcmp(buf, "abc", 3) == 0);
    /* The caller's iovecs are untouched (the clamp works on a copy). */
    T_CHECK_EQ(wiov[1].iov_len, 2);
    T_CHECK_EQ(riov[2].iov_len, 4);
    /* Ops without a length are not affected by a length rule. */
    T_CHECK_EQ(uco_nop(), 0);
    /* Started ops too. */
    uco_op op;
    T_CHECK_EQ(uco_op_writev(&op, p[1], wiov, 3, -1), 0);
    T_CHECK_EQ(uco_op_wait(&op), 3);
    T_CHECK_EQ(read(p[0], buf, sizeof buf), 3);
    uco_fault_clear(l);
    T_CHECK_EQ(uco_write(p[1], "0123456789", 10, -1), 10);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void max_len_makes_transfers_short(void **state)
{
    t_run_modes(short_body, NULL, 0);
}

static intptr_t skip_count_body(void *arg)
{
    uco_loop *l = loop_of_task();
    /* Let 2 through, fail the next 3, then spent. */
    uco_fault f = {.op = UCO_OP_NOP, .fd = -1, .skip = 2, .count = 3, .error = EAGAIN};
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    int want[8] = {0, 0, -EAGAIN, -EAGAIN, -EAGAIN, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        T_CHECK_EQ(uco_nop(), want[i]);
    uco_fault_clear(l);
    /* count = 0: every matching op, for good. */
    f.skip = 1;
    f.count = 0;
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    T_CHECK_EQ(uco_nop(), 0);
    for (int i = 0; i < 20; i++)
        T_CHECK_EQ(uco_nop(), -EAGAIN);
    uco_fault_clear(l);
    T_CHECK_EQ(uco_nop(), 0);
    return 0;
}

static void skip_and_count_select_which_ops_fail(void **state)
{
    t_run(skip_count_body, NULL, NULL);
}

static intptr_t matching_body(void *arg)
{
    int p[2], q[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(pipe(q), 0);
    uco_loop *l = loop_of_task();
    /* Rules are tried in order; the first match applies. */
    uco_fault r0 = {.op = UCO_OP_WRITE, .fd = q[1], .error = EPIPE};
    uco_fault r1 = {.op = UCO_OP_ANY, .fd = p[1], .error = EBADMSG};
    uco_fault r2 = {.op = UCO_OP_WRITE, .fd = -1, .error = EDQUOT};
    T_CHECK_EQ(uco_fault_add(l, &r0), 0);
    T_CHECK_EQ(uco_fault_add(l, &r1), 1);
    T_CHECK_EQ(uco_fault_add(l, &r2), 2);
    T_CHECK_EQ(uco_write(q[1], "x", 1, -1), -EPIPE);
    T_CHECK_EQ(uco_write(p[1], "x", 1, -1), -EBADMSG);
    T_CHECK_EQ(uco_fsync(p[1], 0), -EBADMSG); /* ANY kind on that fd */
    T_CHECK_EQ(uco_poll(p[1], POLLOUT), -EBADMSG);
    int other = dup(p[1]);
    T_CHECK_EQ(uco_write(other, "x", 1, -1), -EDQUOT); /* another fd: the catch-all */
    T_CHECK_EQ(uco_nop(), 0);                          /* matches nothing */
    T_CHECK_EQ(pipe_bytes(p[0]), 0);
    T_CHECK_EQ(pipe_bytes(q[0]), 0);
    uco_fault_clear(l);
    T_CHECK_EQ(uco_write(other, "x", 1, -1), 1);
    close(other);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    return 0;
}

static void rules_match_kind_and_fd_in_order(void **state)
{
    t_run(matching_body, NULL, NULL);
}

static intptr_t fail_close_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    uco_fault f = {.op = UCO_OP_CLOSE, .fd = p[0], .count = 1, .error = EINTR};
    T_CHECK_EQ(uco_fault_add(loop_of_task(), &f), 0);
    T_CHECK_EQ(uco_close(p[0]), -EINTR);
    T_CHECK(fcntl(p[0], F_GETFD) >= 0); /* still open: the close did not run */
    T_CHECK_EQ(uco_close(p[0]), 0);
    T_CHECK(fcntl(p[0], F_GETFD) < 0);
    T_CHECK_EQ(uco_close(p[1]), 0);
    return 0;
}

static void failed_close_leaves_the_fd_open(void **state)
{
    t_run(fail_close_body, NULL, NULL);
}

/* A clamped readv holds a copy of the iovecs until its completion: cancelled mid-flight it
 * must still be freed (ASan's leak check sees it otherwise) and the buffer left alone. */
static intptr_t cancelled_clamped_reader(void *arg)
{
    int fd = *(int *)arg;
    char a[8];
    memset(a, 'q', sizeof a);
    struct iovec iov[2] = {{a, 4}, {a + 4, 4}};
    ssize_t n = uco_readv(fd, iov, 2, -1);
    for (int i = 0; i < 8; i++)
        T_CHECK_EQ(a[i], 'q');
    return n;
}

static intptr_t cancel_clamped_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    uco_fault f = {.op = UCO_OP_READV, .fd = -1, .max_len = 5};
    T_CHECK_EQ(uco_fault_add(loop_of_task(), &f), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, cancelled_clamped_reader, &p[0]), 0);
    T_CHECK_EQ(uco_yield(), 0); /* the reader parks on its readv */
    T_CHECK_EQ(t_stats().ops_inflight, 1);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

static void cancelled_short_readv_frees_its_iovec_copy(void **state)
{
    t_run(cancel_clamped_body, NULL, NULL);
}

static void bad_rules_are_refused(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    uco_fault ok = {.fd = -1, .error = EIO};
    uco_fault bad_op = {.op = UCO_OP__COUNT, .fd = -1, .error = EIO};
    uco_fault bad_fd = {.fd = -2, .error = EIO};
    uco_fault bad_err = {.fd = -1, .error = -EIO};
    uco_fault nothing = {.fd = -1};
    uco_fault work = {.op = UCO_OP_WORK, .fd = -1, .error = EIO}; /* no SQE to act on */
    uco_fault join = {.op = UCO_OP_JOIN, .fd = -1, .error = EIO};
    assert_int_equal(uco_fault_add(NULL, &ok), -EINVAL);
    assert_int_equal(uco_fault_add(l, NULL), -EINVAL);
    assert_int_equal(uco_fault_add(l, &bad_op), -EINVAL);
    assert_int_equal(uco_fault_add(l, &bad_fd), -EINVAL);
    assert_int_equal(uco_fault_add(l, &bad_err), -EINVAL);
    assert_int_equal(uco_fault_add(l, &nothing), -EINVAL);
    assert_int_equal(uco_fault_add(l, &work), -EINVAL);
    assert_int_equal(uco_fault_add(l, &join), -EINVAL);
    for (int i = 0; i < 16; i++)
        assert_int_equal(uco_fault_add(l, &ok), i);
    assert_int_equal(uco_fault_add(l, &ok), -ENOSPC);
    uco_fault_clear(l);
    assert_int_equal(uco_fault_add(l, &ok), 0);
    uco_fault_clear(NULL); /* no-op */
    assert_int_equal(uco_loop_free(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forced_error_does_not_run_the_operation),
        cmocka_unit_test(max_len_makes_transfers_short),
        cmocka_unit_test(skip_and_count_select_which_ops_fail),
        cmocka_unit_test(rules_match_kind_and_fd_in_order),
        cmocka_unit_test(failed_close_leaves_the_fd_open),
        cmocka_unit_test(cancelled_short_readv_frees_its_iovec_copy),
        cmocka_unit_test(bad_rules_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
