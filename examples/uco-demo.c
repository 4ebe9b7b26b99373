/* uco-demo: many tasks doing concurrent file reads, deadlines, sleeps, worker-pool jobs and a
 * cancellation on one thread, and a report of what happened.
 *
 *   uco-demo [--files N] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uco.h>

static unsigned nfiles = 256;
static char dir[4096];

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* ---- 1. concurrent file reads --------------------------------------------------------- */

struct file_job {
    char path[4200];
    size_t size;
    uint64_t expect, got;
    int err;
};

static intptr_t write_file(void *arg)
{
    struct file_job *f = arg;
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return f->err = -errno;
    unsigned char buf[16384]; /* per task: other tasks run while this write is in flight */
    uint64_t seed = f->size, h = 0xcbf29ce484222325ull;
    size_t off = 0;
    while (off < f->size) {
        size_t n = f->size - off < sizeof buf ? f->size - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rnd(&seed);
        h = fnv1a(h, buf, n);
        ssize_t w = uco_write_all(fd, buf, n, (int64_t)off);
        if (w < 0) {
            f->err = (int)w;
            break;
        }
        off += n;
    }
    f->expect = h;
    uco_close(fd);
    return f->err;
}

static intptr_t read_file(void *arg)
{
    struct file_job *f = arg;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return f->err = -errno;
    unsigned char buf[16384];
    uint64_t h = 0xcbf29ce484222325ull;
    int64_t off = 0;
    for (;;) {
        ssize_t n = uco_read(fd, buf, sizeof buf, off);
        if (n < 0) {
            f->err = (int)n;
            break;
        }
        if (n == 0) break;
        h = fnv1a(h, buf, (size_t)n);
        off += n;
    }
    f->got = h;
    uco_close(fd);
    return f->err;
}

static int phase_files(void)
{
    struct file_job *jobs = calloc(nfiles, sizeof *jobs);
    uco_task **tasks = calloc(nfiles, sizeof *tasks);
    if (!jobs || !tasks) return -ENOMEM;
    uint64_t seed = 42, total = 0;
    for (unsigned i = 0; i < nfiles; i++) {
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/file-%03u", dir, i);
        jobs[i].size = 4096 + rnd(&seed) % (256 * 1024);
        total += jobs[i].size;
    }
    int64_t t0 = uco_now();
    for (unsigned i = 0; i < nfiles; i++)
        uco_spawn(&tasks[i], write_file, &jobs[i]);
    for (unsigned i = 0; i < nfiles; i++)
        uco_task_join(tasks[i], NULL);
    int64_t t1 = uco_now();
    for (unsigned i = 0; i < nfiles; i++)
        uco_spawn(&tasks[i], read_file, &jobs[i]);
    for (unsigned i = 0; i < nfiles; i++)
        uco_task_join(tasks[i], NULL);
    int64_t t2 = uco_now();
    unsigned ok = 0, bad = 0;
    for (unsigned i = 0; i < nfiles; i++) {
        if (jobs[i].err) {
            fprintf(stderr, "uco-demo: %s: %s\n", jobs[i].path, strerror(-jobs[i].err));
            bad++;
        } else if (jobs[i].got != jobs[i].expect) {
            fprintf(stderr, "uco-demo: %s: checksum mismatch\n", jobs[i].path);
            bad++;
        } else {
            ok++;
        }
        unlink(jobs[i].path);
    }
    printf("files:    %u tasks wrote %.1f MiB in %.1f ms, %u tasks read it back in %.1f ms: "
           "%u checksums match, %u failed\n",
           nfiles, total / 1048576.0, (t1 - t0) / 1e6, nfiles, (t2 - t1) / 1e6, ok, bad);
    free(jobs);
    free(tasks);
    return bad ? -EIO : 0;
}

/* ---- 2. reads with deadlines ---------------------------------------------------------- */

#define NPIPES 64

struct pipe_job {
    int fds[2];
    int64_t deadline;
    bool late; /* the byte is written only after the reader has given up */
    int result;
    uco_task *reader;
};

static intptr_t wait_byte(void *arg)
{
    struct pipe_job *p = arg;
    char c;
    int64_t old = uco_deadline_set(p->deadline);
    ssize_t n = uco_read(p->fds[0], &c, 1, -1);
    uco_deadline_set(old);
    p->result = (int)n;
    return 0;
}

static intptr_t producer(void *arg)
{
    struct pipe_job *p = arg;
    if (p->late)
        uco_task_join(p->reader, NULL);
    else
        uco_sleep((int64_t)(p->fds[0] % 10) * UCO_MSEC);
    uco_write(p->fds[1], "!", 1, -1);
    return 0;
}

static int phase_deadlines(void)
{
    static struct pipe_job jobs[NPIPES];
    uco_task *t[NPIPES];
    uint64_t seed = 7;
    int64_t now = uco_now();
    unsigned expect_late = 0;
    for (int i = 0; i < NPIPES; i++) {
        if (pipe2(jobs[i].fds, O_CLOEXEC) < 0) return -errno;
        /* Odd: the byte comes within 10 ms, well inside a 250 ms deadline. Even: a 20-50 ms
         * deadline, and the byte is written only once the read has timed out. */
        jobs[i].late = i % 2 == 0;
        jobs[i].deadline = now + (jobs[i].late ? (20 + rnd(&seed) % 30) : 250) * UCO_MSEC;
        expect_late += jobs[i].late;
        uco_spawn(&jobs[i].reader, wait_byte, &jobs[i]);
        uco_spawn(&t[i], producer, &jobs[i]);
    }
    for (int i = 0; i < NPIPES; i++) {
        uco_task_join(t[i], NULL);
        if (!jobs[i].late) uco_task_join(jobs[i].reader, NULL);
    }
    unsigned got = 0, timed_out = 0, kept = 0;
    for (int i = 0; i < NPIPES; i++) {
        char c;
        if (jobs[i].result == 1)
            got++;
        else if (jobs[i].result == -ETIMEDOUT)
            timed_out++;
        if (jobs[i].late && read(jobs[i].fds[0], &c, 1) == 1) kept++;
        close(jobs[i].fds[0]);
        close(jobs[i].fds[1]);
    }
    printf("deadline: %d reads: %u got their byte in time, %u timed out after 20-50 ms (expected "
           "%u); the %u bytes written after a timeout were still in their pipes\n",
           NPIPES, got, timed_out, expect_late, kept);
    return timed_out == expect_late && got == NPIPES - expect_late && kept == expect_late ? 0
                                                                                          : -EIO;
}

/* ---- 3. many sleepers ----------------------------------------------------------------- */

/* ThreadSanitizer counts each task's fiber as a thread and dies past 8128 of them alive. */
#if defined(__SANITIZE_THREAD__)
#define NSLEEP 4000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NSLEEP 4000
#endif
#endif
#ifndef NSLEEP
#define NSLEEP 10000
#endif

static int64_t max_late;

static intptr_t sleeper(void *arg)
{
    int64_t until = uco_now() + (int64_t)(intptr_t)arg;
    uco_sleep_until(until);
    int64_t late = uco_now() - until;
    if (late > max_late) max_late = late;
    return 0;
}

static int phase_sleep(void)
{
    uint64_t seed = 99;
    uco_task **t = calloc(NSLEEP, sizeof *t);
    if (!t) return -ENOMEM;
    int64_t t0 = uco_now();
    for (int i = 0; i < NSLEEP; i++)
        uco_spawn(&t[i], sleeper, (void *)(intptr_t)((1 + rnd(&seed) % 100) * UCO_MSEC));
    for (int i = 0; i < NSLEEP; i++)
        uco_task_join(t[i], NULL);
    free(t);
    printf("sleep:    %d tasks slept 1-100 ms each; all done after %.1f ms, latest wake-up %.2f "
           "ms after its time\n",
           NSLEEP, (uco_now() - t0) / 1e6, max_late / 1e6);
    return 0;
}

/* ---- 4. worker pool, loop stays responsive -------------------------------------------- */

static intptr_t crunch(void *arg)
{
    uint64_t h = (uint64_t)(intptr_t)arg;
    for (int i = 0; i < 30000000; i++)
        h = h * 6364136223846793005ull + 1;
    return (intptr_t)(h & 0xffff);
}

static intptr_t pool_job(void *arg)
{
    return uco_work(crunch, arg);
}

static volatile int ticking;

static intptr_t ticker(void *arg)
{
    int *ticks = arg;
    while (ticking) {
        uco_sleep(5 * UCO_MSEC);
        (*ticks)++;
    }
    return 0;
}

static int phase_pool(void)
{
    int ticks = 0;
    uco_task *tk, *jobs[8];
    ticking = 1;
    uco_spawn(&tk, ticker, &ticks);
    int64_t t0 = uco_now();
    for (intptr_t i = 0; i < 8; i++)
        uco_spawn(&jobs[i], pool_job, (void *)(i + 1));
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        intptr_t r = -1;
        uco_task_join(jobs[i], &r);
        ok += r >= 0;
    }
    int64_t took = uco_now() - t0;
    ticking = 0;
    uco_task_join(tk, NULL);
    printf("pool:     8 CPU-heavy jobs (%d ok) ran on worker threads for %.0f ms while a 5 ms "
           "ticker on the loop ticked %d times\n",
           ok, took / 1e6, ticks);
    return ok == 8 ? 0 : -EIO;
}

/* ---- 5. cancellation with a read in flight -------------------------------------------- */

struct cancel_job {
    int fd;
    char buf[64];
};

static intptr_t blocked_read(void *arg)
{
    struct cancel_job *c = arg;
    return uco_read(c->fd, c->buf, sizeof c->buf, -1);
}

static int phase_cancel(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    struct cancel_job c = {.fd = fds[0]};
    memset(c.buf, '.', sizeof c.buf);
    uco_task *t;
    uco_spawn(&t, blocked_read, &c);
    uco_sleep(2 * UCO_MSEC);
    uco_task_cancel(t);
    intptr_t r = 0;
    uco_task_join(t, &r);
    ssize_t w = write(fds[1], "late", 4);
    (void)w;
    int untouched = 1;
    for (size_t i = 0; i < sizeof c.buf; i++)
        untouched &= c.buf[i] == '.';
    printf("cancel:   a task blocked in read was cancelled: read returned %s, buffer %s, the "
           "late bytes are still in the pipe\n",
           r == -ECANCELED ? "-ECANCELED" : "something else", untouched ? "untouched" : "WRITTEN");
    close(fds[0]);
    close(fds[1]);
    return r == -ECANCELED && untouched ? 0 : -EIO;
}

static intptr_t demo(void *arg)
{
    (void)arg;
    int bad = 0;
    bad |= phase_files() != 0;
    bad |= phase_deadlines() != 0;
    bad |= phase_sleep() != 0;
    bad |= phase_pool() != 0;
    bad |= phase_cancel() != 0;
    uco_loop_stats st;
    uco_loop_stats_get(uco_loop_current(), &st);
    printf("loop:     ring %s; %llu tasks spawned, %llu switches, %llu turns, %llu io_uring_enter, "
           "%llu SQEs, %llu CQEs, %llu timers fired\n",
           uco_ring_mode_name(st.ring_mode), (unsigned long long)st.tasks_spawned,
           (unsigned long long)st.switches, (unsigned long long)st.turns,
           (unsigned long long)st.enters, (unsigned long long)st.sqes, (unsigned long long)st.cqes,
           (unsigned long long)st.timers_fired);
    return bad ? 1 : 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: uco-demo [--files N] [--dir DIR]\n"
                 "Runs many uco tasks on one thread: concurrent file writes and reads (N files in\n"
                 "a temporary directory under DIR, default /tmp), reads with deadlines, 10,000\n"
                 "sleepers, CPU-heavy jobs on the worker pool and a cancellation, then reports.\n");
}

int main(int argc, char **argv)
{
    const char *base = "/tmp";
    static const struct option lo[] = {{"files", required_argument, NULL, 'n'},
                                       {"dir", required_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:d:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n':
            nfiles = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            base = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (nfiles == 0 || nfiles > 100000) {
        fprintf(stderr, "uco-demo: --files must be 1..100000\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/uco-demo.XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "uco-demo: mkdtemp '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    printf("uco %s demo: one thread, one io_uring\n", uco_version());
    intptr_t r = uco_run(demo, NULL, NULL);
    rmdir(dir);
    if (r < 0) {
        char why[512];
        fprintf(stderr, "uco-demo: %s\n",
                r == -EPERM || r == -ENOSYS || r == -ENOMEM ? uco_diagnose((int)r, why, sizeof why)
                                                            : strerror((int)-r));
        return 1;
    }
    printf(r ? "FAILED\n" : "all phases behaved as expected\n");
    return r ? 1 : 0;
}
