/* Basic awaitables (include/uco/io.h) on pipes and regular files, each test run over the three
 * ring modes: nop, read/write, readv/writev, fixed buffers, fsync, poll, close, timeout,
 * cancel_fd, write_all/read_full on short transfers. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* An unlinked temporary regular file. */
static int tmp_file(void)
{
    char path[] = "/tmp/uco-test-io-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

static intptr_t nop_body(void *arg)
{
    for (int i = 0; i < 100; i++)
        T_CHECK_EQ(uco_nop(), 0);
    return 0;
}

static void nop_completes_with_zero(void **state)
{
    t_run_modes(nop_body, NULL, 0);
}

static intptr_t pipe_rw_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(uco_write(p[1], "hello", 5, -1), 5);
    char buf[16] = {0};
    T_CHECK_EQ(uco_read(p[0], buf, sizeof buf, -1), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);
    /* (io_uring ignores the offset of a stream such as a pipe, unlike pread(2).) */
    /* End of file once the writer is gone. */
    close(p[1]);
    T_CHECK_EQ(uco_read(p[0], buf, sizeof buf, -1), 0);
    close(p[0]);
    return 0;
}

static void read_write_on_a_pipe(void **state)
{
    t_run_modes(pipe_rw_body, NULL, 0);
}

/* A reader that parks until another task writes. */
static intptr_t late_writer(void *arg)
{
    int fd = *(int *)arg;
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_write(fd, "late", 4, -1), 4);
    return 0;
}

static intptr_t pipe_wait_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    uco_task *w;
    T_CHECK_EQ(uco_spawn(&w, late_writer, &p[1]), 0);
    char buf[8];
    T_CHECK_EQ(uco_read(p[0], buf, sizeof buf, -1), 4);
    T_CHECK(memcmp(buf, "late", 4) == 0);
    T_CHECK_EQ(uco_task_join(w, NULL), 0);
    t_close2(p);
    return 0;
}

static void read_parks_until_data_arrives(void **state)
{
    t_run_modes(pipe_wait_body, NULL, 0);
}

static intptr_t file_rw_body(void *arg)
{
    int fd = tmp_file();
    T_CHECK(fd >= 0);
    /* Positional writes do not move the file position; -1 uses and advances it. */
    T_CHECK_EQ(uco_write(fd, "abcdef", 6, 10), 6);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    T_CHECK_EQ(uco_write(fd, "0123", 4, -1), 4);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
    T_CHECK_EQ(uco_write(fd, "45", 2, -1), 2);
    struct stat st;
    T_CHECK_EQ(fstat(fd, &st), 0);
    T_CHECK_EQ(st.st_size, 16);
    char buf[32];
    T_CHECK_EQ(uco_read(fd, buf, sizeof buf, 0), 16);
    T_CHECK(memcmp(buf, "012345", 6) == 0);
    T_CHECK(buf[6] == 0 && buf[9] == 0); /* the hole */
    T_CHECK(memcmp(buf + 10, "abcdef", 6) == 0);
    T_CHECK_EQ(uco_read(fd, buf, 3, 12), 3);
    T_CHECK(memcmp(buf, "cde", 3) == 0);
    T_CHECK_EQ(uco_read(fd, buf, sizeof buf, 100), 0); /* past the end */
    T_CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
    T_CHECK_EQ(uco_read(fd, buf, 2, -1), 2);
    T_CHECK(memcmp(buf, "12", 2) == 0);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);
    close(fd);
    return 0;
}

static void read_write_on_a_file_with_offsets(void **state)
{
    t_run_modes(file_rw_body, NULL, 0);
}

static intptr_t vec_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    struct iovec w[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    T_CHECK_EQ(uco_writev(p[1], w, 3, -1), 6);
    char x[3], y[5];
    struct iovec r[2] = {{x, 3}, {y, 5}};
    T_CHECK_EQ(uco_readv(p[0], r, 2, -1), 6);
    T_CHECK(memcmp(x, "abc", 3) == 0 && memcmp(y, "def", 3) == 0);
    t_close2(p);

    int fd = tmp_file();
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_writev(fd, w, 3, 4), 6);
    T_CHECK_EQ(uco_writev(fd, w, 1, -1), 2);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    T_CHECK_EQ(uco_readv(fd, r, 2, 0), 8);
    T_CHECK(memcmp(x, "ab\0", 3) == 0 && memcmp(y, "\0abcd", 5) == 0);
    T_CHECK_EQ(lseek(fd, 5, SEEK_SET), 5);
    T_CHECK_EQ(uco_readv(fd, r, 1, -1), 3);
    T_CHECK(memcmp(x, "bcd", 3) == 0);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 8);
    close(fd);
    return 0;
}

static void readv_writev_on_pipes_and_files(void **state)
{
    t_run_modes(vec_body, NULL, 0);
}

/* ---- fixed buffers ------------------------------------------------------------------------ */

#define FIXED_LEN (64 * 1024)

static intptr_t fixed_body(void *arg)
{
    uco_loop *l = uco_loop_current();
    char *mem =
        mmap(NULL, 2 * FIXED_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_CHECK(mem != MAP_FAILED);
    struct iovec bufs[2] = {{mem, FIXED_LEN}, {mem + FIXED_LEN, FIXED_LEN}};
    T_CHECK_EQ(uco_buf_register(l, bufs, 2), 0);
    T_CHECK_EQ(uco_buf_register(l, bufs, 2), -EBUSY);
    int fd = tmp_file();
    T_CHECK(fd >= 0);
    memset(mem, 'w', FIXED_LEN);
    memcpy(mem + 100, "fixed", 5);
    T_CHECK_EQ(uco_write_fixed(fd, mem, FIXED_LEN, 0, 0), FIXED_LEN);
    T_CHECK_EQ(uco_write_fixed(fd, mem + 100, 5, FIXED_LEN, 0), 5);
    T_CHECK_EQ(uco_write_fixed(fd, mem + 100, 5, -1, 0), 5); /* at the position: 0 */
    char *in = mem + FIXED_LEN;
    memset(in, 0, FIXED_LEN);
    T_CHECK_EQ(uco_read_fixed(fd, in, 10, FIXED_LEN - 2, 1), 7);
    T_CHECK(memcmp(in, "wwfixed", 7) == 0);
    T_CHECK_EQ(uco_read_fixed(fd, in, 5, -1, 1), 5); /* position 5 now */
    T_CHECK(memcmp(in, "wwwww", 5) == 0);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);
    /* Outside the registered buffer, or the wrong one: -EFAULT. */
    T_CHECK_EQ(uco_read_fixed(fd, in, 10, 0, 0), -EFAULT);
    T_CHECK_EQ(uco_read_fixed(fd, in + FIXED_LEN - 4, 10, 0, 1), -EFAULT);
    char stack_buf[8];
    T_CHECK_EQ(uco_write_fixed(fd, stack_buf, 8, 0, 0), -EFAULT);
    T_CHECK_EQ(uco_read_fixed(fd, in, 10, 0, 2), -EFAULT); /* no buffer 2 */
    /* Short ones through fault injection. */
    uco_fault f = {.op = UCO_OP_READ_FIXED, .fd = fd, .count = 1, .max_len = 3};
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    T_CHECK_EQ(uco_read_fixed(fd, in, 10, 0, 1), 3);
    uco_fault_clear(l);
    T_CHECK_EQ(uco_buf_unregister(l), 0);
    T_CHECK_EQ(uco_buf_unregister(l), -ENXIO);
    T_CHECK_EQ(uco_read_fixed(fd, in, 10, 0, 1), -EFAULT); /* nothing registered */
    /* Registering again after an unregister works. */
    T_CHECK_EQ(uco_buf_register(l, bufs, 1), 0);
    T_CHECK_EQ(uco_read_fixed(fd, mem, 4, 0, 0), 4);
    close(fd);
    munmap(mem, 2 * FIXED_LEN); /* still registered: freeing the loop drops it */
    return 0;
}

static void fixed_buffers_read_write_and_bounds(void **state)
{
    t_run_modes(fixed_body, NULL, 0);
}

static intptr_t fsync_body(void *arg)
{
    int fd = tmp_file();
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_write(fd, "data", 4, 0), 4);
    T_CHECK_EQ(uco_fsync(fd, 0), 0);
    T_CHECK_EQ(uco_fsync(fd, UCO_FSYNC_DATASYNC), 0);
    T_CHECK_EQ(uco_fsync(fd, 2), -EINVAL);
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(uco_fsync(p[0], 0), -EINVAL); /* as fsync(2) on a pipe */
    t_close2(p);
    close(fd);
    T_CHECK_EQ(uco_fsync(fd, 0), -EBADF);
    return 0;
}

static void fsync_and_fdatasync(void **state)
{
    t_run_modes(fsync_body, NULL, 0);
}

static intptr_t poll_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(uco_poll(p[1], POLLOUT), POLLOUT);
    uco_task *w;
    T_CHECK_EQ(uco_spawn(&w, late_writer, &p[1]), 0);
    int r = uco_poll(p[0], POLLIN); /* parks until the writer wrote */
    T_CHECK_EQ(r, POLLIN);
    T_CHECK_EQ(uco_task_join(w, NULL), 0);
    close(p[1]);
    char buf[8];
    T_CHECK_EQ(read(p[0], buf, sizeof buf), 4);
    T_CHECK(uco_poll(p[0], POLLIN) & POLLHUP); /* writer gone */
    close(p[0]);
    return 0;
}

static void poll_waits_for_readiness(void **state)
{
    t_run_modes(poll_body, NULL, 0);
}

static intptr_t close_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(uco_close(p[0]), 0);
    T_CHECK(fcntl(p[0], F_GETFD) < 0);
    T_CHECK_EQ(uco_close(p[0]), -EBADF);
    /* Cancelled: every await fails, but close still closes. */
    T_CHECK_EQ(uco_task_cancel(uco_task_self()), 0);
    T_CHECK_EQ(uco_nop(), -ECANCELED);
    T_CHECK_EQ(uco_close(p[1]), 0);
    T_CHECK(fcntl(p[1], F_GETFD) < 0);
    return 0;
}

static void close_works_even_in_a_cancelled_task(void **state)
{
    t_run_modes(close_body, NULL, 0);
}

static intptr_t timeout_body(void *arg)
{
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_timeout(20 * UCO_MSEC), 0);
    int64_t took = uco_now() - t0;
    T_CHECK(took >= 20 * UCO_MSEC);
    T_CHECK(took < 2 * UCO_SEC);
    T_CHECK_EQ(uco_timeout(0), 0);
    T_CHECK_EQ(uco_timeout(-5), 0);
    return 0;
}

static void kernel_timeout_expires(void **state)
{
    t_run_modes(timeout_body, NULL, 0);
}

static intptr_t blocked_reader(void *arg)
{
    int fd = *(int *)arg;
    char c;
    return uco_read(fd, &c, 1, -1);
}

static intptr_t cancel_fd_body(void *arg)
{
    int p[2], q[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(pipe(q), 0);
    T_CHECK_EQ(uco_cancel_fd(p[0]), 0); /* nothing in flight */
    uco_task *t[3];
    T_CHECK_EQ(uco_spawn(&t[0], blocked_reader, &p[0]), 0);
    T_CHECK_EQ(uco_spawn(&t[1], blocked_reader, &p[0]), 0);
    T_CHECK_EQ(uco_spawn(&t[2], blocked_reader, &q[0]), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(t_stats().ops_inflight, 3);
    T_CHECK_EQ(uco_cancel_fd(p[0]), 2);
    intptr_t r;
    T_CHECK_EQ(uco_task_join(t[0], &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    T_CHECK_EQ(uco_task_join(t[1], &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    /* The read on another fd is untouched. */
    T_CHECK_EQ(t_stats().ops_inflight, 1);
    T_CHECK_EQ(write(q[1], "k", 1), 1);
    T_CHECK_EQ(uco_task_join(t[2], &r), 0);
    T_CHECK_EQ(r, 1);
    T_CHECK_EQ(uco_cancel_fd(-1), -EBADF);
    t_close2(p);
    t_close2(q);
    return 0;
}

static void cancel_fd_cancels_every_op_on_that_fd(void **state)
{
    t_run_modes(cancel_fd_body, NULL, 0);
}

/* ---- write_all / read_full ------------------------------------------------------------- */

static intptr_t full_body(void *arg)
{
    uco_loop *l = uco_loop_current();
    int fd = tmp_file();
    T_CHECK(fd >= 0);
    char data[1000], back[1200];
    for (int i = 0; i < 1000; i++)
        data[i] = (char)('a' + i % 26);
    /* Every write and read of this file comes back after at most 7 bytes. */
    uco_fault f = {.fd = fd, .max_len = 7};
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    uint64_t sqes0 = t_stats().sqes;
    T_CHECK_EQ(uco_write_all(fd, data, 1000, 0), 1000);
    T_CHECK(t_stats().sqes - sqes0 >= 1000 / 7);
    T_CHECK_EQ(uco_write(fd, data, 1000, 2000), 7); /* a plain write is short indeed */
    T_CHECK_EQ(uco_write_all(fd, data, 20, -1), 20);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 20);
    memset(back, 0, sizeof back);
    T_CHECK_EQ(uco_read_full(fd, back, 1000, 0), 1000);
    T_CHECK(memcmp(back, data, 1000) == 0);
    /* Stops at end of file with what it got. */
    T_CHECK_EQ(ftruncate(fd, 1000), 0);
    T_CHECK_EQ(uco_read_full(fd, back, 1200, 990), 10);
    T_CHECK_EQ(lseek(fd, 5, SEEK_SET), 5);
    T_CHECK_EQ(uco_read_full(fd, back, 30, -1), 30);
    T_CHECK(memcmp(back, data + 5, 30) == 0);
    T_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 35);
    T_CHECK_EQ(uco_write_all(fd, data, 0, 0), 0);
    uco_fault_clear(l);
    /* An error on the way is reported. */
    uco_fault g = {.op = UCO_OP_WRITE, .fd = fd, .count = 2, .max_len = 7};
    uco_fault e = {.op = UCO_OP_WRITE, .fd = fd, .count = 1, .error = ENOSPC};
    T_CHECK_EQ(uco_fault_add(l, &g), 0);
    T_CHECK_EQ(uco_fault_add(l, &e), 1);
    T_CHECK_EQ(ftruncate(fd, 0), 0);
    T_CHECK_EQ(uco_write_all(fd, data, 100, 0), -ENOSPC);
    struct stat st;
    T_CHECK_EQ(fstat(fd, &st), 0);
    T_CHECK_EQ(st.st_size, 14); /* two short writes made it, the third failed */
    uco_fault_clear(l);
    close(fd);
    /* On a pipe (off = -1). */
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    T_CHECK_EQ(uco_fault_add(l, &f), 0);
    f.fd = p[0];
    T_CHECK_EQ(uco_fault_add(l, &f), 1);
    f.fd = p[1];
    T_CHECK_EQ(uco_fault_add(l, &f), 2);
    T_CHECK_EQ(uco_write_all(p[1], data, 500, -1), 500);
    T_CHECK_EQ(uco_read_full(p[0], back, 500, -1), 500);
    T_CHECK(memcmp(back, data, 500) == 0);
    uco_fault_clear(l);
    t_close2(p);
    return 0;
}

static void write_all_and_read_full_loop_over_short_transfers(void **state)
{
    t_run_modes(full_body, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nop_completes_with_zero),
        cmocka_unit_test(read_write_on_a_pipe),
        cmocka_unit_test(read_parks_until_data_arrives),
        cmocka_unit_test(read_write_on_a_file_with_offsets),
        cmocka_unit_test(readv_writev_on_pipes_and_files),
        cmocka_unit_test(fixed_buffers_read_write_and_bounds),
        cmocka_unit_test(fsync_and_fdatasync),
        cmocka_unit_test(poll_waits_for_readiness),
        cmocka_unit_test(close_works_even_in_a_cancelled_task),
        cmocka_unit_test(kernel_timeout_expires),
        cmocka_unit_test(cancel_fd_cancels_every_op_on_that_fd),
        cmocka_unit_test(write_all_and_read_full_loop_over_short_transfers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
