/* The ring: setup in each mode, the opcode probe, SQE acquisition when the SQ is full, CQ
 * overflow, one io_uring_enter per turn, and the diagnosis when io_uring is unavailable. */
#include "test_util.h"
#include "core_util.h"

#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <liburing.h>

static void each_mode_sets_up_its_flags(void **state)
{
    for (size_t i = 0; i < T_NMODES; i++) {
        uco_loop_opts o = t_mode_opts(t_modes[i]);
        uco_loop *l;
        assert_int_equal(uco_loop_new(&l, &o), 0);
        uco_loop_stats st;
        assert_int_equal(uco_loop_stats_get(l, &st), 0);
        assert_int_equal(st.ring_mode, t_modes[i]);
        unsigned f = st.setup_flags;
        switch (t_modes[i]) {
        case UCO_RING_DEFER_TASKRUN:
            assert_true(f & IORING_SETUP_DEFER_TASKRUN);
            assert_true(f & IORING_SETUP_SINGLE_ISSUER);
            assert_false(f & IORING_SETUP_COOP_TASKRUN);
            break;
        case UCO_RING_COOP_TASKRUN:
            assert_true(f & IORING_SETUP_COOP_TASKRUN);
            assert_true(f & IORING_SETUP_TASKRUN_FLAG);
            assert_false(f & IORING_SETUP_DEFER_TASKRUN);
            break;
        default:
            assert_false(f & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN));
            break;
        }
        assert_int_equal(uco_loop_free(l), 0);
    }
}

/* The default CQ is 16 x sq_entries (ring.h and docs/DESIGN.md once disagreed). */
static void default_cq_entries_is_sixteen_times_sq_entries(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    uco_loop_stats st;
    assert_int_equal(uco_loop_stats_get(l, &st), 0);
    assert_int_equal(st.sq_entries, 256);
    assert_int_equal(st.cq_entries, 16 * 256);
    uco_loop_free(l);
    uco_loop_opts o = {.sq_entries = 32};
    assert_int_equal(uco_loop_new(&l, &o), 0);
    uco_loop_stats_get(l, &st);
    assert_int_equal(st.cq_entries, 16 * 32);
    uco_loop_free(l);
}

static void auto_mode_chooses_defer_taskrun(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    uco_loop_stats st;
    assert_int_equal(uco_loop_stats_get(l, &st), 0);
    /* Linux 6.1+ has DEFER_TASKRUN; this machine's kernel is 6.18. */
    assert_int_equal(st.ring_mode, UCO_RING_DEFER_TASKRUN);
    assert_string_equal(uco_ring_mode_name(st.ring_mode), "defer_taskrun");
    assert_int_equal(uco_loop_free(l), 0);
}

static void ring_sizes_follow_options(void **state)
{
    uco_loop_opts o = {.sq_entries = 5, .cq_entries = 33};
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, &o), 0);
    uco_loop_stats st;
    uco_loop_stats_get(l, &st);
    assert_int_equal(st.sq_entries, 8); /* the kernel rounds up to powers of two */
    assert_int_equal(st.cq_entries, 64);
    uco_loop_free(l);
}

static void probe_matches_the_kernels(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    struct io_uring_probe *p = io_uring_get_probe();
    assert_non_null(p);
    assert_true(uco_loop_has_op(l, IORING_OP_NOP));
    assert_true(uco_loop_has_op(l, IORING_OP_READ));
    assert_true(uco_loop_has_op(l, IORING_OP_ASYNC_CANCEL));
    for (unsigned op = 0; op <= p->last_op; op++)
        assert_int_equal(uco_loop_has_op(l, op), io_uring_opcode_supported(p, (int)op) != 0);
    assert_false(uco_loop_has_op(l, (unsigned)p->last_op + 1));
    assert_false(uco_loop_has_op(l, 255));
    assert_false(uco_loop_has_op(l, 100000));
    assert_false(uco_loop_has_op(NULL, IORING_OP_NOP));
    io_uring_free_probe(p);
    uco_loop_free(l);
}

/* ---- many ops queued in one turn ------------------------------------------------------ */

#define BURST_TASKS 200
#define BURST_OPS   5

struct burst {
    int fds[2]; /* a pipe read by every other op */
    int ok;
};

static intptr_t burst_task(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < BURST_OPS; i++) {
        if (i % 2) {
            char c = 0;
            T_CHECK_EQ(uco_read(b->fds[0], &c, 1, -1), 1);
            T_CHECK_EQ(c, 'z');
        } else {
            T_CHECK_EQ(uco_nop(), 0);
        }
    }
    b->ok++;
    return 0;
}

static intptr_t burst_body(void *arg)
{
    struct burst *b = arg;
    b->ok = 0;
    /* Every task reads two bytes: have them all in the pipe before the tasks start. */
    static char z[BURST_TASKS * BURST_OPS];
    memset(z, 'z', sizeof z);
    T_CHECK_EQ(write(b->fds[1], z, BURST_TASKS * (BURST_OPS / 2)), BURST_TASKS * (BURST_OPS / 2));
    uco_loop_stats s0 = t_stats();
    uco_task *t[BURST_TASKS];
    for (int i = 0; i < BURST_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], burst_task, b), 0);
    for (int i = 0; i < BURST_TASKS; i++)
        T_CHECK_EQ(uco_task_join(t[i], NULL), 0);
    T_CHECK_EQ(b->ok, BURST_TASKS);
    uco_loop_stats s1 = t_stats();
    T_CHECK(s1.sqes - s0.sqes >= BURST_TASKS * BURST_OPS);
    T_CHECK_EQ(s1.ops_inflight, 0);
    /* 200 SQEs per turn through a 4-entry SQ: flushed mid-turn, dozens of times a turn. */
    uint64_t turns = s1.turns - s0.turns, enters = s1.enters - s0.enters;
    T_CHECK(enters >= turns + BURST_TASKS / 4);
    return (intptr_t)(s1.cq_overflows - s0.cq_overflows);
}

/* Runs burst_body in a loop with a 4-entry SQ and the given CQ; returns the overflows. */
static intptr_t run_burst(unsigned mode, unsigned cq_entries)
{
    struct burst b;
    t_pipe(b.fds);
    uco_loop_opts o = t_mode_opts(mode);
    o.sq_entries = 4;
    o.cq_entries = cq_entries;
    intptr_t overflows = t_run(burst_body, &b, &o);
    assert_int_equal(b.ok, BURST_TASKS);
    t_close2(b.fds);
    return overflows;
}

/* A tiny SQ: every turn queues 200 SQEs, so the SQ fills and is flushed mid-turn. */
static void full_sq_is_flushed_and_nothing_lost(void **state)
{
    for (size_t i = 0; i < T_NMODES; i++)
        assert_true(run_burst(t_modes[i], 1024) >= 0);
}

/* A CQ of 4 entries and 200 completions per turn: the kernel keeps what does not fit
 * (IORING_FEAT_NODROP) and the loop must flush it without losing one wake-up. */
static void cq_overflow_loses_no_completion(void **state)
{
    for (size_t i = 0; i < T_NMODES; i++)
        if (run_burst(t_modes[i], 4) <= 0)
            fail_msg("mode %s: no CQ overflow seen", uco_ring_mode_name(t_modes[i]));
}

/* ---- one io_uring_enter per turn ------------------------------------------------------ */

static intptr_t pinger(void *arg)
{
    int *fds = arg;
    for (int i = 0; i < 500; i++) {
        char c = 'p';
        T_CHECK_EQ(uco_write(fds[1], &c, 1, -1), 1);
        T_CHECK_EQ(uco_read(fds[2], &c, 1, -1), 1);
    }
    return 0;
}

static intptr_t ponger(void *arg)
{
    int *fds = arg;
    for (int i = 0; i < 500; i++) {
        char c;
        T_CHECK_EQ(uco_read(fds[0], &c, 1, -1), 1);
        T_CHECK_EQ(uco_write(fds[3], &c, 1, -1), 1);
    }
    return 0;
}

static intptr_t enters_body(void *arg)
{
    /* Warm up, then count: nops, a sleep-free ping-pong over two pipes, and 20 tasks in
     * parallel doing nops. Each turn must cost one io_uring_enter. */
    T_CHECK_EQ(uco_nop(), 0);
    uco_loop_stats s0 = t_stats();
    for (int i = 0; i < 1000; i++)
        T_CHECK_EQ(uco_nop(), 0);
    int p1[2], p2[2];
    T_CHECK_EQ(pipe(p1), 0);
    T_CHECK_EQ(pipe(p2), 0);
    int fds[4] = {p1[0], p1[1], p2[0], p2[1]};
    uco_task *a, *b;
    T_CHECK_EQ(uco_spawn(&a, pinger, fds), 0);
    T_CHECK_EQ(uco_spawn(&b, ponger, fds), 0);
    T_CHECK_EQ(uco_task_join(a, NULL), 0);
    T_CHECK_EQ(uco_task_join(b, NULL), 0);
    uco_loop_stats s1 = t_stats();
    uint64_t turns = s1.turns - s0.turns, enters = s1.enters - s0.enters;
    T_CHECK(turns >= 1000);
    if (enters > turns + 1) {
        t_fail(__FILE__, __LINE__, "%llu io_uring_enter calls for %llu turns",
               (unsigned long long)enters, (unsigned long long)turns);
        return -1;
    }
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
    return 0;
}

static void one_enter_per_turn_in_steady_state(void **state)
{
    t_run_modes(enters_body, NULL, 0);
}

/* ---- io_uring unavailable --------------------------------------------------------------- */

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* Makes io_uring_setup fail with err in this process (and its future children). */
static int deny_io_uring(int err)
{
#ifdef T_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)(err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return -errno;
    return 0;
#else
    (void)err;
    return -ENOSYS;
#endif
}

struct diag_case {
    int err;            /* what io_uring_setup returns */
    const char *expect; /* in uco_diagnose's message */
};

static intptr_t never_runs(void *arg)
{
    abort();
}

/* Exit codes of the children: 0 as expected, 77 cannot set up the case, else a failure. */
static int seccomp_child(void *arg)
{
    struct diag_case *c = arg;
    if (deny_io_uring(c->err) != 0) return 77;
    uco_loop *l = (uco_loop *)1;
    int r = uco_loop_new(&l, NULL);
    char msg[512];
    uco_diagnose(r, msg, sizeof msg);
    printf("  io_uring_setup -> %s: uco_loop_new = %d: %s\n", strerror(c->err), r, msg);
    if (r != -c->err) return 1;
    if (l != NULL) return 2;
    if (!strstr(msg, c->expect)) return 3;
    if (uco_run(never_runs, NULL, NULL) != -c->err) return 4;
    return 0;
}

static void seccomp_denial_is_diagnosed(void **state)
{
    struct diag_case cases[] = {{EPERM, "seccomp"}, {ENOSYS, "seccomp"}};
    for (size_t i = 0; i < 2; i++) {
        int code = t_exit_code(t_in_child(seccomp_child, &cases[i]));
        if (code == 77) skip();
        assert_int_equal(code, 0);
    }
}

/* Simulates kernel.io_uring_disabled without touching the real sysctl: in a private mount
 * namespace a file saying `value` is bound over /proc/sys/kernel/io_uring_disabled, and a
 * seccomp filter makes io_uring_setup fail with EPERM as the sysctl would. */
struct disabled_case {
    const char *value;
    bool drop_root; /* =1 restricts only unprivileged processes outside io_uring_group */
    const char *expect;
};

static int disabled_child(void *arg)
{
    struct disabled_case *c = arg;
    const char *knob = "/proc/sys/kernel/io_uring_disabled";
    if (access(knob, F_OK) != 0) {
        printf("  SKIP: %s does not exist (kernel before 6.6)\n", knob);
        return 77;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("  SKIP: no private mount namespace (%s): needs root\n", strerror(errno));
        return 77;
    }
    char path[] = "/tmp/uco-test-disabled-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 10;
    if (write(fd, c->value, strlen(c->value)) < 0) return 11;
    fchmod(fd, 0644);
    close(fd);
    int m = mount(path, knob, NULL, MS_BIND, NULL);
    unlink(path);
    if (m != 0) {
        printf("  SKIP: cannot bind a file over %s: %s\n", knob, strerror(errno));
        return 77;
    }
    if (c->drop_root && (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                         setresuid(65534, 65534, 65534) != 0))
        return 12;
    if (deny_io_uring(EPERM) != 0) return 77;
    uco_loop *l;
    int r = uco_loop_new(&l, NULL);
    char msg[512];
    uco_diagnose(r, msg, sizeof msg);
    printf("  io_uring_disabled=%.1s%s: uco_loop_new = %d: %s\n", c->value,
           c->drop_root ? " (uid 65534)" : "", r, msg);
    if (r != -EPERM) return 1;
    if (!strstr(msg, c->expect)) return 3;
    if (strstr(msg, "gid -1")) return 4; /* -1 means "no group", not a group */
    return 0;
}

static void io_uring_disabled_sysctl_is_diagnosed(void **state)
{
    struct disabled_case cases[] = {
        {"2\n", false, "kernel.io_uring_disabled=2"},
        {"1\n", true, "kernel.io_uring_disabled=1"},
    };
    for (size_t i = 0; i < 2; i++) {
        int code = t_exit_code(t_in_child(disabled_child, &cases[i]));
        if (code == 77) skip();
        assert_int_equal(code, 0);
    }
}

static void diagnose_without_error_and_bad_buffers(void **state)
{
    char buf[128];
    assert_ptr_equal(uco_diagnose(0, buf, sizeof buf), buf);
    assert_string_equal(buf, "io_uring is available");
    assert_null(uco_diagnose(-EPERM, NULL, 10));
    char one[1] = {'x'};
    assert_ptr_equal(uco_diagnose(-EPERM, one, 1), one);
    assert_int_equal(one[0], 0);
    char small[8];
    uco_diagnose(-ENOSYS, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, terminated */
    uco_diagnose(-ENOMEM, buf, sizeof buf);
    assert_non_null(strstr(buf, "memory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_mode_sets_up_its_flags),
        cmocka_unit_test(default_cq_entries_is_sixteen_times_sq_entries),
        cmocka_unit_test(auto_mode_chooses_defer_taskrun),
        cmocka_unit_test(ring_sizes_follow_options),
        cmocka_unit_test(probe_matches_the_kernels),
        cmocka_unit_test(full_sq_is_flushed_and_nothing_lost),
        cmocka_unit_test(cq_overflow_loses_no_completion),
        cmocka_unit_test(one_enter_per_turn_in_steady_state),
        cmocka_unit_test(seccomp_denial_is_diagnosed),
        cmocka_unit_test(io_uring_disabled_sysctl_is_diagnosed),
        cmocka_unit_test(diagnose_without_error_and_bad_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
