/* echo-load: a closed-loop echo load generator (one thread, level-triggered epoll).
 *
 *   echo-load [--addr HOST:PORT] [-c CONNS] [-s BYTES] [-d SECONDS] [--warmup SECONDS]
 *             [--server-cpu N] [--server-pid PID]
 *
 * Each connection sends a message, waits for the whole echo, checks every byte, and sends the
 * next one. Prints requests per second and latency percentiles. With --server-cpu it also
 * reads the busy time of that CPU over the measured window (/proc/stat) and prints the server
 * CPU time per request: the figure that still ranks servers when this generator's own core
 * saturates first. --server-pid adds the server process's own CPU time (/proc/PID/stat).
 * Exits 1 on any mismatch, reset or early close. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uco/net.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two (~1.6 % precision) -- */
#define SUB      64
#define HBUCKETS (64 * SUB)
static uint64_t hist[HBUCKETS];

static unsigned bucket_of(uint64_t ns)
{
    if (ns < SUB) return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = msb - 6;
    return (msb - 5) * SUB + (unsigned)((ns >> shift) & (SUB - 1));
}

static uint64_t bucket_value(unsigned b)
{
    if (b < SUB) return b;
    unsigned msb = b / SUB + 5, sub = b % SUB;
    return ((uint64_t)(SUB + sub) << (msb - 6)) + ((uint64_t)1 << (msb - 6)) / 2;
}

static double percentile(uint64_t total, double p)
{
    uint64_t want = (uint64_t)((double)total * p);
    if (want >= total) want = total - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HBUCKETS; b++) {
        seen += hist[b];
        if (seen > want) return (double)bucket_value(b) / 1000.0;
    }
    return 0;
}

/* ---- CPU accounting -------------------------------------------------------------------- */

/* Busy and total jiffies of one CPU from /proc/stat. */
static int cpu_times(int cpu, uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return -1;
    char line[512], want[16];
    snprintf(want, sizeof want, "cpu%d ", cpu);
    int r = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0) continue;
        unsigned long long v[10] = {0};
        sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        /* user nice system idle iowait irq softirq steal guest guest_nice */
        *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        *total = *busy + v[3] + v[4];
        r = 0;
        break;
    }
    fclose(f);
    return r;
}

/* utime + stime of a process, in clock ticks. */
static int proc_ticks(int pid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    *ticks = ut + st;
    return 0;
}

/* ---- connections ----------------------------------------------------------------------- */

struct conn {
    int fd;
    size_t sent, got;
    int64_t t0;
    uint64_t seq;
    unsigned char *msg, *rbuf;
};

static size_t msg_size;
static uint64_t done_reqs;
static bool measuring, stopping;
static long busy_conns; /* connections with a request in flight */

static void die(const char *what, const char *detail, int err)
{
    fprintf(stderr, "echo-load: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "",
            strerror(err));
    exit(1);
}

static void fill(struct conn *c, unsigned id)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (id + 1);
    for (size_t i = 0; i < msg_size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c->msg[i] = (unsigned char)x;
    }
}

/* Starts the next request: a new sequence number in the first bytes, then send. */
static void start(struct conn *c, int ep)
{
    c->seq++;
    size_t k = msg_size < sizeof c->seq ? msg_size : sizeof c->seq;
    memcpy(c->msg, &c->seq, k);
    c->sent = c->got = 0;
    c->t0 = now_ns();
    ssize_t n = send(c->fd, c->msg, msg_size, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) die("send", NULL, errno);
    if (n > 0) c->sent = (size_t)n;
    if (c->sent < msg_size) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void on_event(struct conn *c, uint32_t events, int ep)
{
    if ((events & EPOLLOUT) && c->sent < msg_size) {
        ssize_t n = send(c->fd, c->msg + c->sent, msg_size - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) die("send", NULL, errno);
        if (n > 0) c->sent += (size_t)n;
        if (c->sent == msg_size) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n = recv(c->fd, c->rbuf + c->got, msg_size - c->got, 0);
        if (n == 0) {
            fprintf(stderr, "echo-load: the server closed a connection mid-request\n");
            exit(1);
        }
        if (n < 0) {
            if (errno == EAGAIN) return;
            die("recv", NULL, errno);
        }
        c->got += (size_t)n;
        if (c->got > c->sent) {
            fprintf(stderr, "echo-load: received bytes that were never sent\n");
            exit(1);
        }
        if (c->got == msg_size) {
            if (memcmp(c->rbuf, c->msg, msg_size) != 0) {
                fprintf(stderr, "echo-load: echoed bytes differ from those sent\n");
                exit(1);
            }
            if (measuring && !stopping) {
                uint64_t lat = (uint64_t)(now_ns() - c->t0);
                unsigned b = bucket_of(lat);
                hist[b < HBUCKETS ? b : HBUCKETS - 1]++;
                done_reqs++;
            }
            if (stopping)
                busy_conns--; /* finished cleanly: nothing in flight when we close */
            else
                start(c, ep);
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo-load [--addr HOST:PORT] [-c CONNS] [-s BYTES] [-d SECONDS]\n"
               "                 [--warmup SECONDS] [--server-cpu N] [--server-pid PID]\n");
}

int main(int argc, char **argv)
{
    const char *addr_s = "127.0.0.1:7000";
    long conns = 50, server_cpu = -1, server_pid = -1;
    double secs = 5, warmup = 0.5;
    msg_size = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!v) {
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--addr")) {
            addr_s = v;
        } else if (!strcmp(a, "-c")) {
            conns = strtol(v, NULL, 10);
        } else if (!strcmp(a, "-s")) {
            msg_size = (size_t)strtoul(v, NULL, 10);
        } else if (!strcmp(a, "-d")) {
            secs = strtod(v, NULL);
        } else if (!strcmp(a, "--warmup")) {
            warmup = strtod(v, NULL);
        } else if (!strcmp(a, "--server-cpu")) {
            server_cpu = strtol(v, NULL, 10);
        } else if (!strcmp(a, "--server-pid")) {
            server_pid = strtol(v, NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (conns < 1 || conns > 1000000 || msg_size < 1 || msg_size > (64u << 20) || secs <= 0) {
        fprintf(stderr, "echo-load: bad arguments\n");
        return 2;
    }
    uco_addr addr;
    if (uco_addr_parse(&addr, addr_s, 7000) < 0) {
        fprintf(stderr, "echo-load: bad address '%s'\n", addr_s);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (!cs || ep < 0) die("setting up", NULL, errno ? errno : ENOMEM);
    for (long i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->msg = malloc(msg_size);
        c->rbuf = malloc(msg_size);
        if (!c->msg || !c->rbuf) die("allocating buffers", NULL, ENOMEM);
        fill(c, (unsigned)i);
        c->fd = socket(addr.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) die("socket", NULL, errno);
        if (connect(c->fd, &addr.u.sa, addr.len) < 0) die("connect to", addr_s, errno);
        int one = 1;
        if (addr.u.sa.sa_family != AF_UNIX)
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    for (long i = 0; i < conns; i++)
        start(&cs[i], ep);
    busy_conns = conns;

    struct epoll_event evs[256];
    int64_t t_start = now_ns(), t_measure = t_start + (int64_t)(warmup * 1e9);
    int64_t t_end = t_measure + (int64_t)(secs * 1e9), t_m0 = 0;
    uint64_t busy0 = 0, total0 = 0, ticks0 = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait", NULL, errno);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, ep);
        int64_t t = now_ns();
        if (!measuring && t >= t_measure) {
            measuring = true;
            t_m0 = t;
            if (server_cpu >= 0) cpu_times((int)server_cpu, &busy0, &total0);
            if (server_pid > 0) proc_ticks((int)server_pid, &ticks0);
        }
        if (measuring && t >= t_end) break;
    }
    double el = (double)(now_ns() - t_m0) / 1e9;
    uint64_t busy1 = 0, total1 = 0, ticks1 = 0;
    bool have_cpu = server_cpu >= 0 && cpu_times((int)server_cpu, &busy1, &total1) == 0;
    bool have_proc = server_pid > 0 && proc_ticks((int)server_pid, &ticks1) == 0;
    /* Let the requests in flight finish, so closing resets nothing on the server. */
    stopping = true;
    for (int64_t t_drain = now_ns() + 2000000000; busy_conns > 0 && now_ns() < t_drain;) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, ep);
    }
    double rps = (double)done_reqs / el;
    printf("echo-load: conns=%ld size=%zu secs=%.2f requests=%llu rps=%.0f", conns, msg_size, el,
           (unsigned long long)done_reqs, rps);
    if (done_reqs)
        printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f", percentile(done_reqs, 0.50),
               percentile(done_reqs, 0.90), percentile(done_reqs, 0.99),
               percentile(done_reqs, 0.999));
    if (have_cpu) {
        if (total1 > total0) {
            double util = (double)(busy1 - busy0) / (double)(total1 - total0);
            double hz = (double)sysconf(_SC_CLK_TCK);
            double busy_s = (double)(busy1 - busy0) / hz;
            printf(" server_cpu_util=%.3f server_ns_per_req=%.0f", util,
                   done_reqs ? busy_s * 1e9 / (double)done_reqs : 0.0);
        }
    }
    if (have_proc) {
        {
            double s = (double)(ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK);
            printf(" server_proc_ns_per_req=%.0f", done_reqs ? s * 1e9 / (double)done_reqs : 0.0);
        }
    }
    printf("\n");
    for (long i = 0; i < conns; i++)
        close(cs[i].fd);
    return 0;
}
