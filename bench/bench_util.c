/* Shared harness of the benchmark programs: flags, pinning, calibration, alternating rounds,
 * medians, ratios, targets, callgrind marks. See bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#endif

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- flags ---------------------------------------------------------------------------- */

static void usage(const char *prog, const struct bench_flag *extra, const char *what)
{
    printf("%s: %s\n"
           "  --quick          a short run that checks the benchmark works (noisy figures)\n"
           "  --rounds N       timed rounds per contender (default 11, quick 3)\n"
           "  --round-ms MS    duration of one contender's run in a round (default 40, quick 2)\n"
           "  --cpu N          pin to CPU N (default: the last allowed CPU; -1: no pinning)\n"
           "  --tsv FILE       append results as tab-separated rows\n"
           "  --only ID,...    run only these contenders (ids as in the TSV keys)\n"
           "  --count          one run per contender with callgrind marks (under callgrind)\n",
           prog, what);
    for (const struct bench_flag *f = extra; f && f->name; f++)
        printf("  %-16s %s\n", f->name, f->help);
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static int last_allowed_cpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    for (int c = CPU_SETSIZE - 1; c >= 0; c--)
        if (CPU_ISSET(c, &set)) return c;
    return -1;
}

static void bad_flag(const char *prog, const char *flag, const char *why)
{
    fprintf(stderr, "%s: %s: %s (see --help)\n", prog, flag, why);
    exit(2);
}

void bench_init(struct bench_opts *o, int argc, char **argv, const struct bench_flag *extra,
                const char *what)
{
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    memset(o, 0, sizeof *o);
    o->prog = prog;
    o->cpu = last_allowed_cpu();
    long rounds = 0, cpu = o->cpu;
    double round_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(prog, extra, what);
            exit(0);
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--count")) {
            o->count = true;
        } else if (!strcmp(a, "--rounds")) {
            if (!val || !parse_long(val, &v) || v < 1 || v > 64) bad_flag(prog, a, "needs 1..64");
            rounds = v;
            i++;
        } else if (!strcmp(a, "--round-ms")) {
            if (!val || !parse_long(val, &v) || v < 1 || v > 100000)
                bad_flag(prog, a, "needs 1..100000");
            round_ms = (double)v;
            i++;
        } else if (!strcmp(a, "--cpu")) {
            if (!val || !parse_long(val, &v) || v < -1 || v >= CPU_SETSIZE)
                bad_flag(prog, a, "needs a CPU number or -1");
            cpu = v;
            i++;
        } else if (!strcmp(a, "--only")) {
            if (!val) bad_flag(prog, a, "needs contender ids");
            o->only = val;
            i++;
        } else if (!strcmp(a, "--tsv")) {
            if (!val) bad_flag(prog, a, "needs a file name");
            o->tsv = val;
            i++;
        } else {
            const struct bench_flag *f = extra;
            while (f && f->name && strcmp(f->name, a))
                f++;
            if (!f || !f->name) bad_flag(prog, a, "unknown flag");
            if (!val) bad_flag(prog, a, "needs a value");
            if (f->type == BENCH_LONG) {
                if (!parse_long(val, &v)) bad_flag(prog, a, "needs a number");
                *(long *)f->ptr = v;
            } else {
                *(const char **)f->ptr = val;
            }
            i++;
        }
    }
    o->rounds = rounds ? (int)rounds : o->quick ? 3 : 11;
    o->round_ms = round_ms > 0 ? round_ms : o->quick ? 2 : 40;
    o->cpu = (int)cpu;
    if (o->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            fprintf(stderr, "%s: pinning to CPU %d: %s\n", prog, o->cpu, strerror(errno));
            exit(1);
        }
    }
    printf("# %s: %s\n", prog, what);
    if (o->count)
        printf("# count mode: one run per contender, callgrind marks around the steady state\n");
    else
        printf("# %d rounds, ~%.0f ms per contender per round, order alternating; %s\n", o->rounds,
               o->round_ms, o->cpu >= 0 ? "pinned" : "not pinned");
    if (o->cpu >= 0) printf("# pinned to CPU %d\n", o->cpu);
    fflush(stdout);
}

/* ---- marks ---------------------------------------------------------------------------- */

static struct {
    uint64_t t0, t1, m0, m1;
    bool started, stopped;
    const char *cg_label; /* count mode: the callgrind dump's name */
} mk;

void bench_mark_start(void)
{
    mk.started = true;
    mk.stopped = false;
    if (bench_mallocs) mk.m0 = bench_mallocs();
#ifdef BENCH_HAVE_CALLGRIND_H
    if (mk.cg_label) CALLGRIND_ZERO_STATS;
#endif
    mk.t0 = bench_now_ns();
}

void bench_mark_stop(void)
{
    if (mk.stopped) return;
    mk.t1 = bench_now_ns();
#ifdef BENCH_HAVE_CALLGRIND_H
    if (mk.cg_label) CALLGRIND_DUMP_STATS_AT(mk.cg_label);
#endif
    if (bench_mallocs) mk.m1 = bench_mallocs();
    mk.stopped = true;
}

/* One run of c with iters iterations: the marked (or whole) duration in ns, < 0 on error. */
static double run_once(struct bench_contender *c, uint64_t iters, const char *cg_label)
{
    mk.cg_label = cg_label;
    bench_mark_start();
    mk.started = false; /* let the contender's own mark replace ours */
    int r = c->run(c->arg, iters);
    bench_mark_stop();
    mk.cg_label = NULL;
    if (r < 0) {
        fprintf(stderr, "%s: %s failed: %s\n", c->id, c->label, strerror(-r));
        return r;
    }
    double ops = (double)iters * (c->ops_per_iter > 0 ? c->ops_per_iter : 1);
    c->allocs_per_op = bench_mallocs ? (double)(mk.m1 - mk.m0) / ops : -1;
    return (double)(mk.t1 - mk.t0);
}

/* Iterations that make one run last about ms milliseconds. */
static int64_t calibrate(struct bench_contender *c, double ms)
{
    uint64_t n = 1;
    double target = ms * 1e6;
    for (;;) {
        double t = run_once(c, n, NULL);
        if (t < 0) return (int64_t)t;
        if (t >= target / 4 || n >= (UINT64_C(1) << 40)) {
            double scaled = t > 0 ? (double)n * target / t : (double)n * 2;
            return scaled < 1 ? 1 : (int64_t)scaled;
        }
        n = t < target / 1000 ? n * 16 : n * 4;
    }
}

/* ---- measuring ------------------------------------------------------------------------ */

double bench_ratio(const struct bench_contender *a, const struct bench_contender *b)
{
    int n = a->nsamples < b->nsamples ? a->nsamples : b->nsamples;
    if (n == 0) return 0;
    double r[64];
    for (int i = 0; i < n; i++)
        r[i] = b->samples[i] > 0 ? a->samples[i] / b->samples[i] : 0;
    return bench_median(r, n);
}

static void tsv_row(const struct bench_opts *o, const char *key, const char *value,
                    const char *unit)
{
    if (!o->tsv) return;
    FILE *f = fopen(o->tsv, "a");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", o->prog, o->tsv, strerror(errno));
        return;
    }
    fprintf(f, "%s\t%s\t%s\t%s\n", o->prog, key, value, unit);
    fclose(f);
}

void bench_record(const struct bench_opts *o, const char *key, double value, const char *unit)
{
    char v[64];
    snprintf(v, sizeof v, "%.6g", value);
    tsv_row(o, key, v, unit);
}

static void fmt_rate(char *buf, size_t len, double ns)
{
    double r = ns > 0 ? 1e9 / ns : 0;
    if (r >= 1e9)
        snprintf(buf, len, "%.2f G", r / 1e9);
    else if (r >= 1e6)
        snprintf(buf, len, "%.2f M", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, len, "%.2f k", r / 1e3);
    else
        snprintf(buf, len, "%.2f ", r);
}

static void print_table(const struct bench_opts *o, const char *key, struct bench_contender *c,
                        size_t n)
{
    printf("  %-40s %10s %10s %10s %12s %10s\n", "contender", "ns/op", "min ns", "ops/s",
           "time vs 1st", "allocs/op");
    char k[160], rate[32], allocs[32];
    for (size_t i = 0; i < n; i++) {
        if (c[i].missing) {
            printf("  %-40s baseline missing: %s\n", c[i].label, c[i].missing);
            snprintf(k, sizeof k, "%s.%s.missing", key, c[i].id);
            tsv_row(o, k, c[i].missing, "");
            continue;
        }
        if (!c[i].nsamples) continue;
        fmt_rate(rate, sizeof rate, c[i].med_ns);
        if (c[i].allocs_per_op < 0)
            snprintf(allocs, sizeof allocs, "?");
        else
            snprintf(allocs, sizeof allocs, "%.3g", c[i].allocs_per_op);
        double ratio = bench_ratio(&c[i], &c[0]);
        printf("  %-40s %10.4g %10.4g %9ss %11.3gx %10s\n", c[i].label, c[i].med_ns, c[i].min_ns,
               rate, ratio, allocs);
        snprintf(k, sizeof k, "%s.%s.ns", key, c[i].id);
        bench_record(o, k, c[i].med_ns, "ns/op");
        snprintf(k, sizeof k, "%s.%s.ratio", key, c[i].id);
        bench_record(o, k, ratio, "x");
        if (c[i].allocs_per_op >= 0) {
            snprintf(k, sizeof k, "%s.%s.allocs", key, c[i].id);
            bench_record(o, k, c[i].allocs_per_op, "allocs/op");
        }
    }
}

/* Count mode: one run per contender, bracketed by callgrind's zero / dump. */
static int count_all(const struct bench_opts *o, const char *key, struct bench_contender *c,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c[i].missing) continue;
        int64_t iters = calibrate(&c[i], o->round_ms);
        if (iters < 0) return (int)iters;
        double ops = (double)iters * (c[i].ops_per_iter > 0 ? c[i].ops_per_iter : 1);
        char label[200];
        snprintf(label, sizeof label, "%s.%s ops=%.0f", key, c[i].id, ops);
        double t = run_once(&c[i], (uint64_t)iters, label);
        if (t < 0) return (int)t;
        printf("  counted %-36s %12.0f ops  (%s)\n", c[i].id, ops, c[i].label);
    }
    return 0;
}

/* Whether id is in the comma-separated list. */
static bool in_list(const char *list, const char *id)
{
    size_t len = strlen(id);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, id, n)) return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

int bench_measure(const struct bench_opts *o, const char *key, const char *title,
                  struct bench_contender *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (o->only && !c[i].missing && !in_list(o->only, c[i].id))
            c[i].missing = "left out (--only)";
    printf("\n== %s\n", title);
    fflush(stdout);
    if (o->count) return count_all(o, key, c, n);
    for (size_t i = 0; i < n; i++) {
        c[i].nsamples = 0;
        if (c[i].missing) continue;
        int64_t iters = calibrate(&c[i], o->round_ms); /* also warms it up */
        if (iters < 0) return (int)iters;
        c[i].iters = (uint64_t)iters;
    }
    for (int r = 0; r < o->rounds && r < 64; r++) {
        for (size_t j = 0; j < n; j++) {
            struct bench_contender *x = &c[r % 2 ? n - 1 - j : j];
            if (x->missing) continue;
            double t = run_once(x, x->iters, NULL);
            if (t < 0) return (int)t;
            double ops = (double)x->iters * (x->ops_per_iter > 0 ? x->ops_per_iter : 1);
            x->samples[x->nsamples++] = t / ops;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!c[i].nsamples) continue;
        double v[64];
        memcpy(v, c[i].samples, sizeof(double) * (size_t)c[i].nsamples);
        c[i].med_ns = bench_median(v, c[i].nsamples);
        c[i].min_ns = v[0];
    }
    print_table(o, key, c, n);
    fflush(stdout);
    return 0;
}

/* ---- targets -------------------------------------------------------------------------- */

void bench_target(const struct bench_opts *o, const char *key, const char *what, bool met,
                  const char *fmt, ...)
{
    if (o->count) return;
    char measured[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(measured, sizeof measured, fmt, ap);
    va_end(ap);
    printf("TARGET [%s] %s: %s\n", met ? "MET" : "MISSED", what, measured);
    char k[160];
    snprintf(k, sizeof k, "target.%s", key);
    tsv_row(o, k, met ? "met" : "missed", measured);
    fflush(stdout);
}

void bench_target_na(const struct bench_opts *o, const char *key, const char *what, const char *why)
{
    if (o->count) return;
    printf("TARGET [N/A] %s: %s\n", what, why);
    char k[160];
    snprintf(k, sizeof k, "target.%s", key);
    tsv_row(o, k, "n/a", why);
    fflush(stdout);
}
