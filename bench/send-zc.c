/* send-zc: does zero-copy send (IORING_OP_SEND_ZC) beat a plain send here, and from what size?
 *
 *   send-zc [--mib M] [--rounds N]
 *
 * A uco task on CPU 0 sends M MiB (default 512) over one loopback TCP connection to a reader
 * process on CPU 1, in chunks of 16 KiB .. 1 MiB, alternating plain uco_send_all and
 * uco_send_zc rounds; prints GB/s and the sender's CPU time per MiB for both, and the median
 * ratio. On loopback the kernel copies zero-copy data anyway when it reaches the receiving
 * socket, so zero-copy is not expected to win there; on a real NIC it can. */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uco.h>

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct args {
    int fd;
    size_t mib;
    int rounds;
    int status;
};

/* Sends total bytes in chunks of chunk; returns seconds, CPU seconds via *cpu. */
static double run(int fd, const char *buf, size_t chunk, size_t total, bool zc, double *cpu)
{
    int64_t t0 = uco_now();
    double c0 = cpu_s();
    for (size_t done = 0; done < total;) {
        size_t n = total - done < chunk ? total - done : chunk;
        ssize_t r;
        if (zc) {
            r = 0;
            while ((size_t)r < n) {
                ssize_t k = uco_send_zc(fd, buf + r, n - (size_t)r, 0);
                if (k <= 0) return k < 0 ? (double)k : -1;
                r += k;
            }
        } else {
            r = uco_send_all(fd, buf, n, 0);
        }
        if (r < 0) return (double)r;
        done += n;
    }
    *cpu = cpu_s() - c0;
    return (double)(uco_now() - t0) / 1e9;
}

static intptr_t sender(void *arg)
{
    struct args *a = arg;
    static const size_t chunks[] = {16 << 10, 64 << 10, 256 << 10, 1 << 20};
    size_t total = a->mib << 20;
    char *buf = malloc(1 << 20);
    memset(buf, 'z', 1 << 20);
    double probe_cpu;
    if (run(a->fd, buf, 4096, 4096, true, &probe_cpu) == -EOPNOTSUPP) {
        printf("send-zc: the kernel lacks IORING_OP_SEND_ZC: nothing to compare\n");
        free(buf);
        return 0;
    }
    printf("send-zc: %zu MiB per run over loopback TCP, sender on CPU 0, reader on CPU 1, "
           "%d alternating rounds (medians)\n\n",
           a->mib, a->rounds);
    printf("| chunk   | send GB/s | zc GB/s | send CPU ms/GiB | zc CPU ms/GiB | zc/send speed |\n");
    printf("|---------|-----------|---------|-----------------|---------------|---------------|\n");
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        double sp[32], zp[32], sc[32], zcc[32], ratio[32];
        int n = a->rounds > 32 ? 32 : a->rounds;
        for (int r = 0; r < n; r++) {
            double c1, c2, t1, t2;
            if (r % 2 == 0) {
                t1 = run(a->fd, buf, chunks[i], total, false, &c1);
                t2 = run(a->fd, buf, chunks[i], total, true, &c2);
            } else {
                t2 = run(a->fd, buf, chunks[i], total, true, &c2);
                t1 = run(a->fd, buf, chunks[i], total, false, &c1);
            }
            if (t1 <= 0 || t2 <= 0) {
                fprintf(stderr, "send-zc: send failed: %s\n", strerror((int)-(t1 <= 0 ? t1 : t2)));
                a->status = 1;
                free(buf);
                return 0;
            }
            double gib = (double)total / (1 << 30);
            sp[r] = (double)total / t1 / 1e9;
            zp[r] = (double)total / t2 / 1e9;
            sc[r] = c1 * 1000 / gib;
            zcc[r] = c2 * 1000 / gib;
            ratio[r] = t1 / t2;
        }
        printf("| %4zu KiB | %9.2f | %7.2f | %15.0f | %13.0f | %13.2f |\n", chunks[i] >> 10,
               median(sp, n), median(zp, n), median(sc, n), median(zcc, n), median(ratio, n));
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {.mib = 512, .rounds = 5};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mib")) a.mib = (size_t)strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--rounds")) a.rounds = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (a.mib < 1 || a.rounds < 1) return 2;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &len) < 0) {
        perror("send-zc: listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) { /* the reader: drain everything */
        pin(1);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) _exit(1);
        static char sink[1 << 20];
        while (read(fd, sink, sizeof sink) > 0) {
        }
        _exit(0);
    }
    pin(0);
    a.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    if (a.fd < 0) {
        perror("send-zc: accept");
        return 1;
    }
    intptr_t r = uco_run(sender, &a, NULL);
    close(a.fd);
    waitpid(pid, NULL, 0);
    if (r < 0) {
        fprintf(stderr, "send-zc: %s\n", strerror((int)-r));
        return 1;
    }
    return a.status;
}
