/* Shared harness of uco's benchmark programs.
 *
 * A benchmark compares contenders (uco and its baselines) that each run "n iterations" of the
 * same work. The harness calibrates n so that one run of a contender lasts about --round-ms,
 * warms every contender up, then times --rounds rounds, alternating the order of the
 * contenders in each round (A B C, C B A, ...) so that drift on a busy machine hits all of
 * them alike. It reports per contender the median (and minimum) time per operation and, against
 * the first contender, the median of the per-round ratios.
 *
 * A contender may bracket its steady state with bench_mark_start() / bench_mark_stop() (after
 * creating its loop or ring, warming up, ...): only the bracketed part is timed, counted by
 * callgrind and checked for heap allocations. Without marks the whole run is measured.
 *
 * Common flags (every program): --quick, --rounds N, --round-ms MS, --cpu N (-1: no pinning),
 * --tsv FILE (append machine-readable results), --only ID,... (run only these contenders), --count
 * (one run per contender with callgrind client requests around the steady state: run the program
 * under `valgrind --tool=callgrind --callgrind-out-file=F`; bench/run.sh turns the dumps into
 * instructions per operation). */
#ifndef UCO_BENCH_UTIL_H
#define UCO_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_opts {
    bool quick;
    bool count;       /* callgrind mode: one marked run per contender, no timing */
    int rounds;       /* timed rounds */
    double round_ms;  /* target duration of one contender's run */
    int cpu;          /* CPU the process is pinned to, -1: none */
    const char *tsv;  /* file to append results to, or NULL */
    const char *only; /* comma-separated contender ids to run, or NULL: all */
    const char *prog;
};

/* Extra flags of one program: --name VALUE, stored as a long or a string. */
enum bench_flag_type { BENCH_LONG, BENCH_STR };
struct bench_flag {
    const char *name; /* "--tasks" */
    enum bench_flag_type type;
    void *ptr; /* long * or const char ** */
    const char *help;
};

/* Parses the common flags and extra (NULL-terminated by name, may be NULL), pins the process
 * (unless --cpu -1) and prints a header line. Exits 2 on a bad flag, 0 after --help. */
void bench_init(struct bench_opts *o, int argc, char **argv, const struct bench_flag *extra,
                const char *what);

typedef int bench_run_fn(void *arg, uint64_t iters);

struct bench_contender {
    const char *id;      /* short key: "uco_ctx", "boost", ... (TSV, callgrind label) */
    const char *label;   /* shown in the table */
    bench_run_fn *run;   /* does iters iterations; 0 or -errno */
    void *arg;           /* handed to run */
    double ops_per_iter; /* operations per iteration (0 = 1), e.g. 2 switches per ping-pong */
    const char *missing; /* non-NULL: this baseline is not available here (the reason) */
    /* results, filled by bench_measure */
    uint64_t iters;
    double med_ns, min_ns; /* per operation */
    double allocs_per_op;  /* heap allocations per operation in the marked part, -1: unknown */
    double samples[64];    /* per round, ns per operation */
    int nsamples;
};

/* Measures the contenders (see the top of this file) and prints a table headed by title;
 * key prefixes the TSV rows ("<key>.<id>.ns"). Returns 0, or the first contender's -errno. */
int bench_measure(const struct bench_opts *o, const char *key, const char *title,
                  struct bench_contender *c, size_t n);

/* Median over the rounds of time(a) / time(b): how many times more a costs than b. 0 when
 * either was not measured. */
double bench_ratio(const struct bench_contender *a, const struct bench_contender *b);

/* Brackets the steady state of a contender's run (see above). */
void bench_mark_start(void);
void bench_mark_stop(void);

/* Prints "TARGET [MET|MISSED] what: measured" and records it in the TSV. */
void bench_target(const struct bench_opts *o, const char *key, const char *what, bool met,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints "TARGET [N/A] what: why" (a baseline it needs is missing). */
void bench_target_na(const struct bench_opts *o, const char *key, const char *what,
                     const char *why);
/* Records one named value in the TSV ("<key> <value> <unit>"). */
void bench_record(const struct bench_opts *o, const char *key, double value, const char *unit);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);
double bench_median(double *v, int n); /* sorts v */

/* Heap allocations (malloc, calloc, realloc, aligned allocations) made by the process so far,
 * when the program links bench/bench_malloc.c in a build without sanitizers; else absent
 * (NULL) and allocation counts are reported as unknown. */
extern uint64_t bench_mallocs(void) __attribute__((weak));

#endif
