/* Request parse throughput of uco-httpd's parser against the nodejs http-parser (Debian's
 * libhttp-parser-dev), on the requests wrk sends: alone, and pipelined 16 deep in one buffer.
 *
 *   http_parse [rounds]             (default 9 rounds of ~0.1 s per contender and case)
 *   http_parse --iters N [case]     N parses per contender, one round (case: 0..4, default all)
 *
 * A last case feeds one request in 16-byte pieces (a slow client): the uco parser is handed
 * everything received so far each time, the baseline each new piece.
 * Both parsers do the work a server needs: method, target, version, every header as a slice
 * (the baseline's callbacks store them), keep-alive. The contenders alternate round by round
 * and the medians are compared; the ratio is baseline time / uco time (> 1: uco is faster).
 * Instruction counts, which do not depend on a quiet machine (inclusive cost of parse_uco and
 * parse_baseline divided by N times the depth is instructions per request):
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/http_parse --iters 10000 0
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'parse_(uco|baseline)' */
#include "http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef UCO_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

static const char wrk_plain[] = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/* The headers TechEmpower's wrk script adds to every request. */
static const char wrk_techempower[] =
    "GET /plaintext HTTP/1.1\r\n"
    "Host: server\r\n"
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;"
    "q=0.7\r\n"
    "Connection: keep-alive\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20130501 Firefox/30.0 "
    "AppleWebKit/600.00 Chrome/30.0.0000.0 Trident/10.0 Safari/600.00\r\n"
    "Cookie: uid=12345678901234567890; __utma=1.1234567890.1234567890.1234567890.1234567890.12; "
    "wd=2560x1600\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "\r\n";

static volatile uint64_t sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses every request in buf (n of them); returns the requests parsed. */
__attribute__((noinline)) static int parse_uco(const char *buf, size_t len)
{
    static httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    size_t off = 0;
    int n = 0;
    while (off < len) {
        int r = httpd_parse_request(&p, buf + off, len - off, &req);
        if (r <= 0) {
            fprintf(stderr, "http_parse: uco parser failed: %d\n", r);
            exit(1);
        }
        sink += req.nheaders + req.keep_alive + req.path.len;
        off += (size_t)r;
        n++;
    }
    return n;
}

/* The same request arriving in 16-byte pieces: each call sees everything so far. */
__attribute__((noinline)) static int parse_uco_pieces(const char *buf, size_t len)
{
    static httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    for (size_t have = 16;; have += 16) {
        int r = httpd_parse_request(&p, buf, have < len ? have : len, &req);
        if (r > 0) return 1;
        if (r < 0 || have >= len) exit(1);
    }
}

#ifdef UCO_HAVE_HTTP_PARSER
struct hp_ctx {
    const char *url;
    size_t url_len;
    struct {
        const char *p;
        size_t len;
    } hdr[2 * HTTPD_HEADERS_MAX];
    unsigned nhdr;
    int done;
};

static int hp_url(http_parser *p, const char *at, size_t len)
{
    struct hp_ctx *c = p->data;
    c->url = at;
    c->url_len = len;
    return 0;
}

static int hp_field(http_parser *p, const char *at, size_t len)
{
    struct hp_ctx *c = p->data;
    if (c->nhdr < 2 * HTTPD_HEADERS_MAX) c->hdr[c->nhdr++] = (typeof(c->hdr[0])){at, len};
    return 0;
}

static int hp_complete(http_parser *p)
{
    struct hp_ctx *c = p->data;
    sink += c->nhdr / 2 + http_should_keep_alive(p) + c->url_len;
    c->nhdr = 0;
    c->done++;
    return 0;
}

static http_parser_settings hp_settings;

__attribute__((noinline)) static int parse_baseline(const char *buf, size_t len)
{
    static struct hp_ctx ctx;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &ctx;
    ctx.done = 0;
    size_t n = http_parser_execute(&p, &hp_settings, buf, len);
    if (n != len || HTTP_PARSER_ERRNO(&p) != HPE_OK) {
        fprintf(stderr, "http_parse: http-parser failed: %s\n",
                http_errno_name(HTTP_PARSER_ERRNO(&p)));
        exit(1);
    }
    return ctx.done;
}

__attribute__((noinline)) static int parse_baseline_pieces(const char *buf, size_t len)
{
    static struct hp_ctx ctx;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &ctx;
    ctx.done = 0;
    for (size_t off = 0; off < len; off += 16) {
        size_t n = len - off < 16 ? len - off : 16;
        if (http_parser_execute(&p, &hp_settings, buf + off, n) != n) exit(1);
    }
    return ctx.done;
}
#endif

typedef int parse_fn(const char *buf, size_t len);

/* One round: ns per request over `iters` parses of buf. */
static double round_ns(parse_fn *fn, const char *buf, size_t len, long iters, int per)
{
    double t0 = now();
    for (long i = 0; i < iters; i++)
        if (fn(buf, len) != per) exit(1);
    return (now() - t0) * 1e9 / ((double)iters * per);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* With --iters N: exactly N parses per contender and one round (for callgrind). */
static long fixed_iters;

static void run_case(const char *name, const char *req, int depth, int rounds, bool pieces)
{
    parse_fn *uco = pieces ? parse_uco_pieces : parse_uco;
#ifdef UCO_HAVE_HTTP_PARSER
    parse_fn *base = pieces ? parse_baseline_pieces : parse_baseline;
#endif
    size_t one = strlen(req), len = one * (size_t)depth;
    char *buf = malloc(len);
    for (int i = 0; i < depth; i++)
        memcpy(buf + one * (size_t)i, req, one);
    /* Calibrate to ~0.1 s per round on uco. */
    long iters = fixed_iters ? fixed_iters : 1000;
    while (!fixed_iters && round_ns(uco, buf, len, iters, depth) * (double)iters * depth < 1e8 &&
           iters < 1L << 30)
        iters *= 2;
    double u[64], b[64];
    if (rounds > 64) rounds = 64;
    for (int r = 0; r < rounds; r++) {
        u[r] = round_ns(uco, buf, len, iters, depth);
#ifdef UCO_HAVE_HTTP_PARSER
        b[r] = round_ns(base, buf, len, iters, depth);
#endif
    }
    double mu = median(u, rounds);
    printf("%-28s %4zu B x%-2d  uco %7.1f ns/req %7.0f MB/s", name, one, depth, mu,
           (double)one / mu * 1e3);
#ifdef UCO_HAVE_HTTP_PARSER
    double mb = median(b, rounds);
    printf("   http-parser %7.1f ns/req %7.0f MB/s   ratio %.2fx\n", mb, (double)one / mb * 1e3,
           mb / mu);
#else
    (void)b;
    printf("   (no baseline: install libhttp-parser-dev)\n");
#endif
    free(buf);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 9, only = -1;
    if (argc > 2 && !strcmp(argv[1], "--iters")) {
        fixed_iters = atol(argv[2]);
        rounds = 1;
        only = argc > 3 ? atoi(argv[3]) : -1;
    }
    if (rounds < 1) rounds = 1;
#ifdef UCO_HAVE_HTTP_PARSER
    http_parser_settings_init(&hp_settings);
    hp_settings.on_url = hp_url;
    hp_settings.on_header_field = hp_field;
    hp_settings.on_header_value = hp_field;
    hp_settings.on_message_complete = hp_complete;
#endif
    printf("request parse throughput, median of %d alternating rounds (ratio: http-parser time / "
           "uco time)\n",
           rounds);
    static const struct {
        const char *name, *req;
        int depth;
        bool pieces;
    } cases[] = {
        {"wrk (Host only)", wrk_plain, 1, false},
        {"wrk (Host only) pipelined", wrk_plain, 16, false},
        {"TechEmpower headers", wrk_techempower, 1, false},
        {"TechEmpower pipelined", wrk_techempower, 16, false},
        {"TechEmpower in 16 B pieces", wrk_techempower, 1, true},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        if (only < 0 || only == i)
            run_case(cases[i].name, cases[i].req, cases[i].depth, rounds, cases[i].pieces);
    return 0;
}
