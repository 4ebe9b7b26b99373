/* Bad input: every call returns its documented -errno or is a documented no-op; none crashes
 * or hangs. */
#include "test_util.h"
#include "core_util.h"

#include <limits.h>
#include <poll.h>
#include <sys/mman.h>

static intptr_t ret_zero(void *arg)
{
    return 0;
}

static void null_handles_outside_a_task(void **state)
{
    assert_int_equal(uco_loop_new(NULL, NULL), -EINVAL);
    assert_int_equal(uco_loop_free(NULL), 0);
    assert_int_equal(uco_loop_run(NULL), -EINVAL);
    uco_loop_stop(NULL);
    uco_loop_stats st;
    assert_int_equal(uco_loop_stats_get(NULL, &st), -EINVAL);
    uco_loop_dump(NULL, stdout);
    assert_false(uco_loop_has_op(NULL, 0));
    assert_int_equal(uco_loop_spawn(NULL, NULL, ret_zero, NULL, NULL), -EINVAL);
    struct iovec iov = {&st, sizeof st};
    assert_int_equal(uco_buf_register(NULL, &iov, 1), -EINVAL);
    assert_int_equal(uco_buf_unregister(NULL), -EINVAL);
    uco_fault f = {.fd = -1, .error = EIO};
    assert_int_equal(uco_fault_add(NULL, &f), -EINVAL);
    uco_fault_clear(NULL);
    assert_int_equal(uco_task_join(NULL, NULL), -EPERM); /* awaitable outside a task */
    assert_int_equal(uco_task_detach(NULL), -EINVAL);
    assert_int_equal(uco_task_cancel(NULL), -EINVAL);
    assert_int_equal(uco_task_set_deadline(NULL, 0), -EINVAL);
    assert_int_equal(uco_task_id(NULL), 0);
    assert_string_equal(uco_task_name(NULL), "");
    assert_false(uco_op_done(NULL));
    assert_int_equal(uco_run(NULL, NULL, NULL), -EINVAL);
    assert_null(uco_diagnose(-EPERM, NULL, 64));
    assert_string_equal(uco_ring_mode_name(99), "?");
    assert_string_equal(uco_op_kind_name(UCO_OP__COUNT), "?");
    assert_string_equal(uco_op_kind_name(UCO_OP_READ), "read");
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    assert_int_equal(uco_loop_stats_get(l, NULL), -EINVAL);
    assert_int_equal(uco_loop_spawn(l, NULL, NULL, NULL, NULL), -EINVAL);
    uco_loop_dump(l, NULL);
    assert_int_equal(uco_buf_register(l, NULL, 1), -EINVAL);
    assert_int_equal(uco_buf_register(l, &iov, 0), -EINVAL);
    assert_int_equal(uco_buf_register(l, &iov, 16385), -EINVAL);
    assert_int_equal(uco_buf_unregister(l), -ENXIO);
    uco_task_opts big = {.stack_size = ((size_t)1 << 30) + 1};
    assert_int_equal(uco_loop_spawn(l, NULL, ret_zero, NULL, &big), -EINVAL);
    for (int i = 0; i < 4; i++) {
        uco_task_opts r = {.name = "x"};
        r.reserved[i] = 1;
        assert_int_equal(uco_loop_spawn(l, NULL, ret_zero, NULL, &r), -EINVAL);
    }
    uco_loop_stats ls;
    uco_loop_stats_get(l, &ls);
    assert_int_equal(ls.tasks_alive, 0); /* nothing was started */
    assert_int_equal(uco_loop_free(l), 0);
}

static intptr_t null_in_task_body(void *arg)
{
    T_CHECK_EQ(uco_spawn(NULL, NULL, NULL), -EINVAL);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, NULL, NULL), -EINVAL);
    T_CHECK_EQ(uco_task_join(NULL, NULL), -EINVAL);
    T_CHECK_EQ(uco_op_wait(NULL), -EINVAL);
    T_CHECK_EQ(uco_op_result(NULL), -EINVAL);
    T_CHECK_EQ(uco_op_cancel(NULL), -EINVAL);
    T_CHECK_EQ(uco_op_wait_all(NULL, 2), -EINVAL);
    T_CHECK_EQ(uco_op_wait_any(NULL, 2), -EINVAL);
    T_CHECK_EQ(uco_op_nop(NULL), -EINVAL);
    T_CHECK_EQ(uco_op_timeout(NULL, 1), -EINVAL);
    T_CHECK_EQ(uco_op_read(NULL, 0, NULL, 0, 0), -EINVAL);
    T_CHECK_EQ(uco_op_write(NULL, 1, "", 0, 0), -EINVAL);
    T_CHECK_EQ(uco_op_readv(NULL, 0, NULL, 1, 0), -EINVAL);
    T_CHECK_EQ(uco_op_writev(NULL, 1, NULL, 1, 0), -EINVAL);
    T_CHECK_EQ(uco_op_poll(NULL, 0, POLLIN), -EINVAL);
    T_CHECK_EQ(uco_op_work(NULL, ret_zero, NULL), -EINVAL);
    T_CHECK_EQ(uco_op_join(NULL, NULL), -EINVAL);
    uco_op op;
    T_CHECK_EQ(uco_op_join(&op, NULL), -EINVAL);
    T_CHECK_EQ(uco_task_id(NULL) != 0, 1);
    /* A NULL buffer is the kernel's business: -EFAULT, nothing crashes. */
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(write(p[1], "abc", 3), 3);
    T_CHECK_EQ(uco_read(p[0], NULL, 3, -1), -EFAULT);
    T_CHECK_EQ(uco_write(p[1], NULL, 3, -1), -EFAULT);
    T_CHECK_EQ(uco_readv(p[0], NULL, 1, -1), -EFAULT);
    t_close2(p);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    return 0;
}

static void null_handles_inside_a_task(void **state)
{
    t_run(null_in_task_body, NULL, NULL);
}

static intptr_t bad_fd_body(void *arg)
{
    char buf[8];
    struct iovec iov = {buf, sizeof buf};
    int fds[] = {-1, 100000, INT_MAX};
    for (int i = 0; i < 3; i++) {
        int fd = fds[i];
        T_CHECK_EQ(uco_read(fd, buf, sizeof buf, -1), -EBADF);
        T_CHECK_EQ(uco_write(fd, buf, sizeof buf, 0), -EBADF);
        T_CHECK_EQ(uco_readv(fd, &iov, 1, -1), -EBADF);
        T_CHECK_EQ(uco_writev(fd, &iov, 1, 0), -EBADF);
        T_CHECK_EQ(uco_fsync(fd, 0), -EBADF);
        T_CHECK_EQ(uco_close(fd), -EBADF);
        T_CHECK_EQ(uco_write_all(fd, buf, sizeof buf, 0), -EBADF);
        T_CHECK_EQ(uco_read_full(fd, buf, sizeof buf, -1), -EBADF);
        uco_op op;
        T_CHECK_EQ(uco_op_read(&op, fd, buf, sizeof buf, -1), 0); /* fails on completion */
        T_CHECK_EQ(uco_op_wait(&op), -EBADF);
    }
    /* poll of a bad fd reports POLLNVAL like poll(2), or -EBADF. */
    int r = uco_poll(100000, POLLIN);
    T_CHECK(r == -EBADF || r == POLLNVAL);
    T_CHECK_EQ(uco_cancel_fd(-1), -EBADF);
    T_CHECK_EQ(uco_cancel_fd(100000), -EBADF); /* the kernel checks the fd */
    return 0;
}

static void bad_fds_give_ebadf(void **state)
{
    t_run_modes(bad_fd_body, NULL, 0);
}

static intptr_t lengths_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    char buf[16];
    /* Zero lengths move nothing. */
    T_CHECK_EQ(uco_write(p[1], buf, 0, -1), 0);
    T_CHECK_EQ(write(p[1], "hello", 5), 5);
    T_CHECK_EQ(uco_read(p[0], buf, 0, -1), 0);
    struct iovec empty = {buf, 0};
    T_CHECK_EQ(uco_readv(p[0], &empty, 1, -1), 0);
    T_CHECK_EQ(uco_read_full(p[0], buf, 0, -1), 0);
    T_CHECK_EQ(uco_write_all(p[1], buf, 0, -1), 0);
    /* Huge lengths are clamped to UCO_IO_MAX: a read returns what there is. */
    T_CHECK_EQ(uco_read(p[0], buf, SIZE_MAX, -1), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);
    /* A huge write into a non-blocking pipe writes what fits (64 KiB) from a big buffer. */
    size_t big = 256 * 1024;
    char *mem = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_CHECK(mem != MAP_FAILED);
    ssize_t n = uco_write(p[1], mem, SIZE_MAX, -1);
    T_CHECK(n > 0 && (size_t)n <= big);
    munmap(mem, big);
    /* iovec counts: 1..IOV_MAX. */
    struct iovec one = {buf, 1};
    T_CHECK_EQ(uco_readv(p[0], &one, 0, -1), -EINVAL);
    T_CHECK_EQ(uco_writev(p[1], &one, 0, -1), -EINVAL);
    T_CHECK_EQ(uco_readv(p[0], &one, -1, -1), -EINVAL);
    T_CHECK_EQ(uco_writev(p[1], &one, IOV_MAX + 1, -1), -EINVAL);
    uco_op op;
    T_CHECK_EQ(uco_op_readv(&op, p[0], &one, 0, -1), -EINVAL);
    T_CHECK_EQ(uco_op_writev(&op, p[1], &one, IOV_MAX + 1, -1), -EINVAL);
    t_close2(p);
    return 0;
}

static void zero_and_huge_lengths(void **state)
{
    t_run(lengths_body, NULL, NULL);
}

static intptr_t offsets_body(void *arg)
{
    char path[] = "/tmp/uco-test-bad-XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0);
    unlink(path);
    char buf[8] = "abcdefg";
    struct iovec iov = {buf, 4};
    uint64_t sqes = t_stats().sqes;
    int64_t offs[] = {-2, -100, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        int64_t off = offs[i];
        T_CHECK_EQ(uco_read(fd, buf, 4, off), -EINVAL);
        T_CHECK_EQ(uco_write(fd, buf, 4, off), -EINVAL);
        T_CHECK_EQ(uco_readv(fd, &iov, 1, off), -EINVAL);
        T_CHECK_EQ(uco_writev(fd, &iov, 1, off), -EINVAL);
        T_CHECK_EQ(uco_read_fixed(fd, buf, 4, off, 0), -EINVAL);
        T_CHECK_EQ(uco_write_fixed(fd, buf, 4, off, 0), -EINVAL);
        T_CHECK_EQ(uco_write_all(fd, buf, 4, off), -EINVAL);
        T_CHECK_EQ(uco_read_full(fd, buf, 4, off), -EINVAL);
        uco_op op;
        T_CHECK_EQ(uco_op_read(&op, fd, buf, 4, off), -EINVAL);
        T_CHECK_EQ(uco_op_write(&op, fd, buf, 4, off), -EINVAL);
        T_CHECK_EQ(uco_op_readv(&op, fd, &iov, 1, off), -EINVAL);
        T_CHECK_EQ(uco_op_writev(&op, fd, &iov, 1, off), -EINVAL);
    }
    T_CHECK_EQ(t_stats().sqes, sqes);      /* refused before anything was submitted */
    T_CHECK_EQ(lseek(fd, 0, SEEK_END), 0); /* and nothing written */
    T_CHECK_EQ(uco_read_fixed(fd, buf, 4, 0, 16384), -EINVAL);
    close(fd);
    return 0;
}

/* Regression: write_all / read_full took any negative offset for -1 and wrote at the file
 * position instead of refusing it. */
static void negative_offsets_other_than_minus_one_are_einval(void **state)
{
    t_run(offsets_body, NULL, NULL);
}

static intptr_t sleeper(void *arg)
{
    return uco_sleep(60 * UCO_SEC);
}

static intptr_t second_joiner(void *arg)
{
    return uco_task_join(arg, NULL);
}

static intptr_t handles_body(void *arg)
{
    uco_task *t, *d, *j;
    /* joining twice */
    T_CHECK_EQ(uco_spawn(&t, ret_zero, NULL), 0);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK_EQ(uco_task_join(t, NULL), -EINVAL);
    T_CHECK_EQ(uco_task_detach(t), -EINVAL);
    T_CHECK_EQ(uco_task_cancel(t), -EINVAL); /* released */
    /* joining self */
    T_CHECK_EQ(uco_task_join(uco_task_self(), NULL), -EDEADLK);
    /* joining a detached task */
    T_CHECK_EQ(uco_spawn(&d, sleeper, NULL), 0);
    T_CHECK_EQ(uco_task_detach(d), 0);
    T_CHECK_EQ(uco_task_join(d, NULL), -EINVAL);
    T_CHECK_EQ(uco_task_detach(d), -EINVAL);
    T_CHECK_EQ(uco_task_cancel(d), 0); /* it still runs: cancelling it is fine */
    /* two joiners */
    T_CHECK_EQ(uco_spawn(&t, sleeper, NULL), 0);
    uco_op op;
    T_CHECK_EQ(uco_op_join(&op, t), 0);
    T_CHECK_EQ(uco_spawn(&j, second_joiner, t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(j, &r), 0);
    T_CHECK_EQ(r, -EINVAL); /* t's handle belongs to the join op */
    T_CHECK_EQ(uco_task_detach(t), -EINVAL);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    T_CHECK_EQ(uco_op_wait(&op), -ECANCELED); /* t's result */
    /* cancelling a finished task */
    T_CHECK_EQ(uco_spawn(&t, ret_zero, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_task_cancel(t), -ESRCH);
    T_CHECK_EQ(uco_task_set_deadline(t, 1), -ESRCH);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    return 0;
}

static void bad_task_handles(void **state)
{
    t_run(handles_body, NULL, NULL);
}

static void bad_loop_options_are_einval(void **state)
{
    uco_loop *l = (uco_loop *)&l;
    uco_loop_opts o;
    for (int i = 0; i < 8; i++) {
        memset(&o, 0, sizeof o);
        o.reserved[i] = 1;
        assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
        assert_null(l);
    }
    memset(&o, 0, sizeof o);
    o.ring_mode = UCO_RING_PLAIN + 1;
    assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
    memset(&o, 0, sizeof o);
    o.sq_entries = 64;
    o.cq_entries = 32; /* smaller than the SQ */
    assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
    memset(&o, 0, sizeof o);
    o.sq_entries = 1u << 20;
    assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
    memset(&o, 0, sizeof o);
    o.stall_ns = -1;
    assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
    memset(&o, 0, sizeof o);
    o.stack_size = (size_t)2 << 30;
    assert_int_equal(uco_loop_new(&l, &o), -EINVAL);
    /* Small values are raised to what works. */
    memset(&o, 0, sizeof o);
    o.stack_size = 1;
    o.sq_entries = 1;
    assert_int_equal(uco_loop_new(&l, &o), 0);
    assert_int_equal(uco_loop_free(l), 0);
}

static void awaitables_outside_a_task_are_eperm(void **state)
{
    char buf[4];
    struct iovec iov = {buf, 4};
    uco_op op;
    uco_op *ops[1] = {&op};
    memset(&op, 0, sizeof op);
    assert_int_equal(uco_nop(), -EPERM);
    assert_int_equal(uco_read(0, buf, 4, -1), -EPERM);
    assert_int_equal(uco_write(1, buf, 4, -1), -EPERM);
    assert_int_equal(uco_readv(0, &iov, 1, -1), -EPERM);
    assert_int_equal(uco_writev(1, &iov, 1, -1), -EPERM);
    assert_int_equal(uco_read_fixed(0, buf, 4, -1, 0), -EPERM);
    assert_int_equal(uco_write_fixed(1, buf, 4, -1, 0), -EPERM);
    assert_int_equal(uco_write_all(1, buf, 4, -1), -EPERM);
    assert_int_equal(uco_read_full(0, buf, 4, -1), -EPERM);
    assert_int_equal(uco_fsync(1, 0), -EPERM);
    assert_int_equal(uco_poll(0, POLLIN), -EPERM);
    assert_int_equal(uco_close(1000), -EPERM);
    assert_int_equal(uco_timeout(1), -EPERM);
    assert_int_equal(uco_cancel_fd(0), -EPERM);
    assert_int_equal(uco_sleep(1), -EPERM);
    assert_int_equal(uco_sleep_until(0), -EPERM);
    assert_int_equal(uco_yield(), -EPERM);
    assert_int_equal(uco_work(ret_zero, NULL), -EPERM);
    assert_int_equal(uco_spawn(NULL, ret_zero, NULL), -EPERM);
    assert_int_equal(uco_spawn_opts(NULL, ret_zero, NULL, NULL), -EPERM);
    assert_int_equal(uco_task_join(NULL, NULL), -EPERM);
    assert_int_equal(uco_op_nop(&op), -EPERM);
    assert_int_equal(uco_op_timeout(&op, 1), -EPERM);
    assert_int_equal(uco_op_read(&op, 0, buf, 4, -1), -EPERM);
    assert_int_equal(uco_op_write(&op, 1, buf, 4, -1), -EPERM);
    assert_int_equal(uco_op_readv(&op, 0, &iov, 1, -1), -EPERM);
    assert_int_equal(uco_op_writev(&op, 1, &iov, 1, -1), -EPERM);
    assert_int_equal(uco_op_poll(&op, 0, POLLIN), -EPERM);
    assert_int_equal(uco_op_work(&op, ret_zero, NULL), -EPERM);
    assert_int_equal(uco_op_join(&op, NULL), -EPERM);
    assert_int_equal(uco_op_wait(&op), -EPERM);
    assert_int_equal(uco_op_wait_all(ops, 1), -EPERM);
    assert_int_equal(uco_op_wait_any(ops, 1), -EPERM);
    assert_int_equal(uco_op_result(&op), -EPERM);
    assert_int_equal(uco_op_cancel(&op), -EPERM);
    assert_null(uco_task_self());
    assert_null(uco_loop_current());
    assert_int_equal(uco_interrupted(), 0);
    assert_int_equal(uco_deadline_set(1), UCO_FOREVER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_handles_outside_a_task),
        cmocka_unit_test(null_handles_inside_a_task),
        cmocka_unit_test(bad_fds_give_ebadf),
        cmocka_unit_test(zero_and_huge_lengths),
        cmocka_unit_test(negative_offsets_other_than_minus_one_are_einval),
        cmocka_unit_test(bad_task_handles),
        cmocka_unit_test(bad_loop_options_are_einval),
        cmocka_unit_test(awaitables_outside_a_task_are_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
