/* uco-httpd as a real process on loopback: the endpoints, keep-alive and pipelining, a corpus
 * of malformed requests, path traversal, static files (types, Range, If-Modified-Since, a large
 * file through splice), request bodies, slow and bad clients (slowloris, resets, a client
 * that never reads), graceful shutdown with a request in flight, the access log, and running
 * out of descriptors. Timeouts are set short on the command line so that it all takes seconds. */
#include "net_util.h"

#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "http.h"
#include "fuzz/http_replay.h"

#ifndef UCO_HTTPD_PATH
#define UCO_HTTPD_PATH ""
#endif
#ifndef HTTPD_CORPUS_DIRS
#define HTTPD_CORPUS_DIRS ""
#endif

/* ---- the server process ------------------------------------------------------------------ */

struct server {
    pid_t pid;
    uco_addr addr;
    char errpath[64];
};

/* Starts uco-httpd on 127.0.0.1, port 0, with extra arguments (NULL-terminated list) and an
 * optional RLIMIT_NOFILE for the child (0: inherited). 0, or -1. */
static int server_start_lim(struct server *s, const char *const *extra, rlim_t nofile)
{
    const char *argv[32] = {"uco-httpd", "--bind", "127.0.0.1", "--port", "0"};
    int n = 5;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = server_spawn(UCO_HTTPD_PATH, argv, nofile, s->errpath, &s->addr);
    return s->pid > 0 ? 0 : -1;
}

static int server_start(struct server *s, const char *const *extra)
{
    return server_start_lim(s, extra, 0);
}

/* SIGTERM: the server must shut down cleanly. Returns its exit status. */
static int server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    return wait_child(s->pid, 20);
}

static char *server_log(struct server *s)
{
    static char buf[16384];
    int fd = open(s->errpath, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0) close(fd);
    return buf;
}

static void server_done(struct server *s)
{
    assert_int_equal(server_stop(s), 0);
    unlink(s->errpath);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ---- a small blocking HTTP client ------------------------------------------------------- */

static int dial(const uco_addr *a)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, &a->u.sa, a->len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_str(int fd, const char *s)
{
    return write_full(fd, s, strlen(s));
}

struct reader {
    int fd;
    size_t len;
    char buf[1 << 16];
};

struct resp {
    int status;
    char head[8192];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len, body_cap;
};

/* Makes sure at least n bytes are buffered: 0, or -1 at end of stream or error. */
static int rd_fill(struct reader *r, size_t n)
{
    while (r->len < n) {
        ssize_t k = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        r->len += (size_t)k;
    }
    return 0;
}

static void rd_take(struct reader *r, void *out, size_t n)
{
    if (out) memcpy(out, r->buf, n);
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

/* Reads until the buffer holds a line (or the head's end marker): its length with CR LF. */
static ssize_t rd_until(struct reader *r, const char *marker)
{
    size_t ml = strlen(marker);
    for (;;) {
        char *e = memmem(r->buf, r->len, marker, ml);
        if (e) return e - r->buf + (ssize_t)ml;
        if (r->len == sizeof r->buf) return -1;
        ssize_t k = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        r->len += (size_t)k;
    }
}

static const char *hdr(const struct resp *p, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    for (const char *l = strstr(p->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
            const char *v = l + 3 + nl;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r");
            if (n >= sizeof val) n = sizeof val - 1;
            memcpy(val, v, n);
            val[n] = 0;
            return val;
        }
    }
    return NULL;
}

static void body_append(struct resp *p, const char *b, size_t n)
{
    if (p->body_len + n + 1 > p->body_cap) {
        p->body_cap = (p->body_len + n + 1) * 2;
        p->body = realloc(p->body, p->body_cap);
    }
    memcpy(p->body + p->body_len, b, n);
    p->body_len += n;
    p->body[p->body_len] = 0;
}

/* Reads one response (interim 1xx responses are skipped). head_only: a HEAD request's (no
 * body). Returns 0, or -1 at end of stream / malformed. */
static int read_resp(struct reader *r, struct resp *p, bool head_only)
{
    free(p->body);
    memset(p, 0, sizeof *p);
    p->body = calloc(1, 1);
    p->body_cap = 1;
    for (;;) {
        ssize_t h = rd_until(r, "\r\n\r\n");
        if (h < 0 || (size_t)h >= sizeof p->head) return -1;
        rd_take(r, p->head, (size_t)h);
        p->head[h] = 0;
        if (sscanf(p->head, "HTTP/1.1 %d", &p->status) != 1) return -1;
        if (p->status >= 200) break;
    }
    if (head_only || p->status == 204 || p->status == 304) return 0;
    const char *te = hdr(p, "Transfer-Encoding");
    if (te && strcmp(te, "chunked") == 0) {
        for (;;) {
            ssize_t l = rd_until(r, "\r\n");
            if (l < 0) return -1;
            size_t size = strtoul(r->buf, NULL, 16);
            rd_take(r, NULL, (size_t)l);
            if (rd_fill(r, size + 2) < 0) return -1;
            body_append(p, r->buf, size);
            rd_take(r, NULL, size + 2);
            if (size == 0) return 0;
        }
    }
    const char *cl = hdr(p, "Content-Length");
    size_t left = cl ? strtoul(cl, NULL, 10) : 0;
    while (left) {
        if (r->len == 0 && rd_fill(r, 1) < 0) return -1;
        size_t n = r->len < left ? r->len : left;
        body_append(p, r->buf, n);
        rd_take(r, NULL, n);
        left -= n;
    }
    return 0;
}

/* Whether the server closed the connection (after what was read): true at end of stream. */
static bool rd_closed(struct reader *r)
{
    if (r->len) return false;
    char c;
    ssize_t n = read(r->fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static struct reader *reader_new(int fd)
{
    struct reader *r = calloc(1, sizeof *r);
    r->fd = fd;
    return r;
}

static void reader_free(struct reader *r)
{
    if (r->fd >= 0) close(r->fd);
    free(r);
}

/* One request on a new connection: returns the status, the response in *p. */
static int request(const uco_addr *a, const char *req, struct resp *p)
{
    int fd = dial(a);
    if (fd < 0) return -1;
    struct reader *r = reader_new(fd);
    int st = send_str(fd, req) == 0 && read_resp(r, p, strncmp(req, "HEAD ", 5) == 0) == 0
                 ? p->status
                 : -1;
    reader_free(r);
    return st;
}

static int get_status(const uco_addr *a, const char *target)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    struct resp p = {0};
    int st = request(a, req, &p);
    free(p.body);
    return st;
}

static void assert_serving(const uco_addr *a)
{
    struct resp p = {0};
    assert_int_equal(request(a, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "Hello, World!");
    free(p.body);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
    (void)state;
    if (!UCO_HTTPD_PATH[0] || access(UCO_HTTPD_PATH, X_OK) != 0)
        t_skip_all("uco-httpd is not built (UCO_BUILD_EXAMPLES=OFF)");
    return 0;
}

/* ---- endpoints, keep-alive, pipelining ---------------------------------------------------- */

static void benchmark_endpoints_answer_exactly(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    struct resp p = {0};
    assert_int_equal(request(&s.addr, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "Hello, World!");
    assert_string_equal(hdr(&p, "Content-Type"), "text/plain");
    assert_string_equal(hdr(&p, "Server"), "uco-httpd");
    assert_int_equal(strlen(hdr(&p, "Date")), HTTPD_DATE_LEN);
    assert_int_equal(request(&s.addr, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
    assert_string_equal(hdr(&p, "Content-Type"), "application/json");
    assert_int_equal(request(&s.addr, "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(hdr(&p, "Content-Length"), "27");
    assert_int_equal(p.body_len, 0);
    assert_int_equal(request(&s.addr, "DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 405);
    assert_string_equal(hdr(&p, "Allow"), "GET, HEAD, OPTIONS");
    assert_int_equal(request(&s.addr, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", &p), 204);
    assert_null(hdr(&p, "Content-Length"));
    assert_int_equal(request(&s.addr, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n", &p), 404);
    /* HTTP/1.0 without keep-alive: answered, then closed. */
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    assert_int_equal(send_str(fd, "GET /plaintext HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_string_equal(hdr(&p, "Connection"), "close");
    assert_true(rd_closed(r));
    reader_free(r);
    free(p.body);
    server_done(&s);
}

static void keep_alive_and_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    struct resp p = {0};
    /* Keep-alive: one after the other on one connection. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(send_str(fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
    }
    /* Pipelined: 300 requests of several kinds in one write, answered in order. */
    static const char *const kinds[] = {"GET /plaintext", "GET /json", "GET /missing",
                                        "POST /echo"};
    size_t cap = 300 * 128, len = 0;
    char *all = malloc(cap);
    for (int i = 0; i < 300; i++) {
        if (i % 4 == 3)
            len += (size_t)snprintf(all + len, cap - len,
                                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n"
                                    "n%05d",
                                    i);
        else
            len += (size_t)snprintf(all + len, cap - len, "%s HTTP/1.1\r\nHost: t\r\n\r\n",
                                    kinds[i % 4]);
    }
    assert_int_equal(write_full(fd, all, len), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(read_resp(r, &p, false), 0);
        switch (i % 4) {
        case 0:
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, "Hello, World!");
            break;
        case 1:
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
            break;
        case 2:
            assert_int_equal(p.status, 404);
            break;
        default: {
            char want[8];
            snprintf(want, sizeof want, "n%05d", i);
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, want);
        }
        }
    }
    /* The same stream a byte at a time: the answers do not depend on how it is cut. */
    for (size_t i = 0; i < 600 && i < len; i++)
        assert_int_equal(write_full(fd, all + i, 1), 0);
    int whole = 0;
    for (size_t off = 0; off < 600;) { /* count the requests the 600 bytes hold completely */
        const char *e = memmem(all + off, len - off, "\r\n\r\n", 4);
        size_t end = (size_t)(e - all) + 4;
        if (strncmp(all + off, "POST", 4) == 0) end += 6;
        if (end > 600) break;
        whole++;
        off = end;
    }
    for (int i = 0; i < whole; i++) {
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, i % 4 == 2 ? 404 : 200);
    }
    free(all);
    free(p.body);
    reader_free(r);
    server_done(&s);
}

/* More connections asking at once than the server has receive buffers (1024): the ones that
 * find the pool empty wait for buffers to come back, and every request is answered. */
static void more_clients_than_receive_buffers_are_all_served(void **state)
{
    (void)state;
    enum { N = 2500 };
    if (nofile_at_least(N + 100) < N + 50) {
        printf("SKIP: RLIMIT_NOFILE cannot reach %d here\n", N + 50);
        skip();
    }
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    struct reader **rs = calloc(N, sizeof *rs);
    for (int i = 0; i < N; i++) {
        int fd = dial(&s.addr);
        if (fd < 0) fail_msg("connect %d: %s", i, strerror(errno));
        rs[i] = reader_new(fd);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) /* two pipelined requests each, all sent before any read */
            assert_int_equal(send_str(rs[i]->fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
                                                 "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"),
                             0);
        struct resp p = {0};
        for (int i = 0; i < N; i++) {
            assert_int_equal(read_resp(rs[i], &p, false), 0);
            assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
            assert_int_equal(read_resp(rs[i], &p, false), 0);
            assert_string_equal(p.body, "Hello, World!");
        }
        free(p.body);
    }
    for (int i = 0; i < N; i++)
        reader_free(rs[i]);
    free(rs);
    assert_serving(&s.addr);
    server_done(&s);
}

/* ---- malformed requests --------------------------------------------------------------------- */

struct bad {
    const char *req;
    int status;
};

static void malformed_requests_get_their_status_and_the_server_stays_up(void **state)
{
    (void)state;
    static char long_line[9000], big_head[17000], many[4000];
    memset(long_line, 0, sizeof long_line);
    strcpy(long_line, "GET /");
    memset(long_line + 5, 'a', 8400);
    strcat(long_line, " HTTP/1.1\r\nHost: t\r\n\r\n");
    strcpy(big_head, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
    memset(big_head + strlen(big_head), 'b', 16500);
    strcat(big_head, "\r\n\r\n");
    strcpy(many, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 70; i++)
        sprintf(many + strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    const struct bad cases[] = {
        {"GET / HTTP/1.1\nHost: t\r\n\r\n", 400},                 /* bare LF */
        {"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400}, /* obs-fold */
        {"GET / HTTP/1.1\r\n\r\n", 400},                          /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},    /* two */
        {"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400},              /* double space */
        {"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},              /* space before the colon */
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n", 400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501},
        {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "800\r\n",
         0 /* 413: filled in below, the body is over --max-body */},
        {"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"GET /a\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {long_line, 414},
        {big_head, 431},
        {many, 431},
        /* garbage after a good request: the good one is answered first (checked below) */
        {"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\x16\x03\x01\x02\x00garbage", 400},
    };
    const char *const args[] = {"--max-body", "1024", NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = dial(&s.addr);
        assert_true(fd >= 0);
        struct reader *r = reader_new(fd);
        const char *req = cases[i].req;
        int want = cases[i].status ? cases[i].status : 413;
        assert_int_equal(send_str(fd, req), 0);
        if (want == 413 && !cases[i].status) { /* a chunked body over the limit */
            char chunk[2048 + 2];
            memset(chunk, 'c', 2048);
            memcpy(chunk + 2048, "\r\n", 2);
            write_full(fd, chunk, sizeof chunk); /* may fail: the server stops reading */
        }
        struct resp p = {0};
        assert_int_equal(read_resp(r, &p, false), 0);
        if (strncmp(req, "GET /plaintext", 14) == 0) { /* the good one first */
            assert_int_equal(p.status, 200);
            assert_int_equal(read_resp(r, &p, false), 0);
        }
        if (p.status != want) fail_msg("case %zu: status %d, expected %d", i, p.status, want);
        assert_string_equal(hdr(&p, "Connection"), "close");
        assert_true(rd_closed(r));
        free(p.body);
        reader_free(r);
    }
    assert_serving(&s.addr);
    server_done(&s);
}

/* Each file of the parser's fuzz corpus through the real server: as many answers as the
 * parser finds requests, the same error statuses, and the server still up afterwards. */
struct expect {
    int answers;
    int error; /* status of the last answer if the stream ends in an error, else 0 */
    bool closes;
};

static struct expect expect_of(const char *data, size_t len)
{
    static replay rep;
    httpd_limits lim;
    httpd_limits_default(&lim);
    replay_run(data, len, &lim, NULL, NULL, NULL, &rep);
    struct expect e = {0};
    for (int i = 0; i < rep.n; i++) {
        switch (rep.ev[i].kind) {
        case REPLAY_BODY:
            e.answers++;
            break;
        case REPLAY_HEAD_ERROR:
        case REPLAY_BODY_ERROR:
            e.answers++;
            e.error = rep.ev[i].status;
            e.closes = true;
            break;
        case REPLAY_CLOSE:
            e.closes = true;
            break;
        default:
            break;
        }
    }
    return e;
}

static void parser_corpus_through_the_server(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    char dirs[] = HTTPD_CORPUS_DIRS;
    int files = 0;
    for (char *dir = strtok(dirs, ":"); dir; dir = strtok(NULL, ":")) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            int f = open(path, O_RDONLY | O_CLOEXEC);
            static char data[1 << 16];
            ssize_t n = read(f, data, sizeof data);
            close(f);
            assert_true(n >= 0);
            struct expect e = expect_of(data, (size_t)n);
            int fd = dial(&s.addr);
            struct reader *r = reader_new(fd);
            assert_int_equal(write_full(fd, data, (size_t)n), 0);
            shutdown(fd, SHUT_WR); /* the stream ends where the file does */
            struct resp p = {0};
            int got = 0;
            while (read_resp(r, &p, strstr(data, "HEAD ") == data) == 0) {
                got++;
                if (got == e.answers && e.error && p.status != e.error)
                    fail_msg("%s: last status %d, expected %d", de->d_name, p.status, e.error);
            }
            if (got != e.answers)
                fail_msg("%s: %d answers, the parser finds %d", de->d_name, got, e.answers);
            free(p.body);
            reader_free(r);
            files++;
        }
        closedir(d);
    }
    assert_true(files >= 10);
    assert_serving(&s.addr);
    server_done(&s);
}

/* ---- static files ------------------------------------------------------------------------- */

static char tmp_root[96], tmp_top[64];

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write_full(fd, data, len), 0);
    close(fd);
}

/* tmp_top/secret (outside), tmp_top/root/ with files, a directory and symlinks. */
static void make_tree(void)
{
    strcpy(tmp_top, "/tmp/uco-httpd-test-XXXXXX");
    assert_non_null(mkdtemp(tmp_top));
    snprintf(tmp_root, sizeof tmp_root, "%s/root", tmp_top);
    assert_int_equal(mkdir(tmp_root, 0755), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/secret", tmp_top);
    write_file(p, "TOP-SECRET", 10);
    snprintf(p, sizeof p, "%s/index.html", tmp_root);
    write_file(p, "<h1>hi</h1>", 11);
    snprintf(p, sizeof p, "%s/style.css", tmp_root);
    write_file(p, "a{}", 3);
    snprintf(p, sizeof p, "%s/data.json", tmp_root);
    write_file(p, "[1]", 3);
    snprintf(p, sizeof p, "%s/pic.png", tmp_root);
    write_file(p, "\x89PNG", 4);
    snprintf(p, sizeof p, "%s/blob", tmp_root);
    write_file(p, "0123456789", 10);
    snprintf(p, sizeof p, "%s/sub", tmp_root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/a b.txt", tmp_root);
    write_file(p, "space", 5);
    snprintf(p, sizeof p, "%s/up", tmp_root);
    assert_int_equal(symlink("../secret", p), 0); /* climbs out */
    snprintf(p, sizeof p, "%s/abs", tmp_root);
    assert_int_equal(symlink("/etc/passwd", p), 0); /* absolute */
    snprintf(p, sizeof p, "%s/outdir", tmp_root);
    assert_int_equal(symlink("..", p), 0); /* a directory outside */
    snprintf(p, sizeof p, "%s/inside", tmp_root);
    assert_int_equal(symlink("sub/a b.txt", p), 0); /* stays inside: allowed */
    snprintf(p, sizeof p, "%s/fifo", tmp_root);
    assert_int_equal(mkfifo(p, 0644), 0);
}

static void remove_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_top);
    assert_int_equal(system(cmd), 0);
}

static void path_traversal_is_refused_in_every_spelling(void **state)
{
    (void)state;
    make_tree();
    const char *const args[] = {"--root", tmp_root, NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    static const struct {
        const char *target;
        int status;
    } cases[] = {
        {"/../secret", 400},
        {"/%2e%2e/secret", 400},
        {"/%2E%2e/secret", 400},
        {"/.%2e/secret", 400},
        {"/sub/../../secret", 400},
        {"/..%2fsecret", 400},
        {"/%2e%2e%2fsecret", 400},
        {"/%252e%252e/secret", 400},
        {"/..%5csecret", 400},
        {"/%00/secret", 400},
        {"http://t/../secret", 400},
        {"//../secret", 400},
        {"/up", 404},
        {"/abs", 404},
        {"/outdir/secret", 404},
        {"/fifo", 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].target);
        struct resp p = {0};
        int st = request(&s.addr, req, &p);
        if (st != cases[i].status)
            fail_msg("%s: status %d, expected %d", cases[i].target, st, cases[i].status);
        assert_null(strstr(p.body, "SECRET"));
        assert_null(strstr(p.body, "root:"));
        free(p.body);
    }
    struct resp p = {0};
    assert_int_equal(request(&s.addr, "GET /inside HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "space");
    free(p.body);
    server_done(&s);
    remove_tree();
}

static void static_files_types_ranges_and_conditionals(void **state)
{
    (void)state;
    make_tree();
    const char *const args[] = {"--root", tmp_root, NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    struct resp p = {0};
    static const struct {
        const char *path, *type;
    } types[] = {
        {"/", "text/html; charset=utf-8"},
        {"/index.html", "text/html; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/data.json", "application/json"},
        {"/pic.png", "image/png"},
        {"/blob", "application/octet-stream"},
        {"/sub/a%20b.txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", types[i].path);
        assert_int_equal(request(&s.addr, req, &p), 200);
        if (strcmp(hdr(&p, "Content-Type"), types[i].type) != 0)
            fail_msg("%s: %s", types[i].path, hdr(&p, "Content-Type"));
    }
    assert_int_equal(request(&s.addr, "GET /sub HTTP/1.1\r\nHost: t\r\n\r\n", &p), 301);
    assert_string_equal(hdr(&p, "Location"), "/sub/");
    assert_int_equal(request(&s.addr, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n", &p), 404);
    /* Range */
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n", &p), 206);
    assert_string_equal(p.body, "2345");
    assert_string_equal(hdr(&p, "Content-Range"), "bytes 2-5/10");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n", &p), 206);
    assert_string_equal(p.body, "789");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=10-\r\n\r\n", &p), 416);
    assert_string_equal(hdr(&p, "Content-Range"), "bytes */10");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "0123456789");
    /* If-Modified-Since with the Last-Modified sent: 304; with an older date: 200. */
    assert_int_equal(request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    char lm[64], req[256];
    snprintf(lm, sizeof lm, "%s", hdr(&p, "Last-Modified"));
    snprintf(req, sizeof req, "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n", lm);
    assert_int_equal(request(&s.addr, req, &p), 304);
    assert_int_equal(p.body_len, 0);
    assert_int_equal(
        request(&s.addr,
                "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 "
                "GMT\r\n\r\n",
                &p),
        200);
    snprintf(req, sizeof req,
             "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 "
             "GMT\r\n\r\n");
    assert_int_equal(request(&s.addr, req, &p), 412);
    assert_int_equal(request(&s.addr, "HEAD /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(hdr(&p, "Content-Length"), "10");
    assert_int_equal(request(&s.addr, "POST /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 405);
    free(p.body);
    server_done(&s);
    remove_tree();
}

static void large_file_goes_through_splice_whole(void **state)
{
    (void)state;
    make_tree();
    enum { SIZE = 12 << 20 }; /* twelve 1 MiB sends, each spliced through a pipe */
    char *data = malloc(SIZE);
    fill_pattern(data, SIZE, 7);
    char path[256];
    snprintf(path, sizeof path, "%s/large.bin", tmp_root);
    write_file(path, data, SIZE);
    struct ck want = {0}, want_range = {0};
    ck_update(&want, data, SIZE);
    ck_update(&want_range, data + 1000000, 5000000);
    const char *const args[] = {"--root", tmp_root, NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    struct resp p = {0};
    /* Twice on one connection (keep-alive after a splice), then a range. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(send_str(fd, "GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.body_len, SIZE);
        struct ck got = {0};
        ck_update(&got, p.body, p.body_len);
        assert_true(got.h == want.h);
    }
    assert_int_equal(
        send_str(fd, "GET /large.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-5999999\r\n\r\n"),
        0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 206);
    struct ck got = {0};
    ck_update(&got, p.body, p.body_len);
    assert_true(got.h == want_range.h && got.n == 5000000);
    free(p.body);
    free(data);
    reader_free(r);
    server_done(&s);
    remove_tree();
}

/* ---- request bodies ------------------------------------------------------------------------ */

static void request_bodies_echo_or_are_discarded(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    struct resp p = {0};
    /* Content-Length, split across writes */
    assert_int_equal(
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhel"), 0);
    assert_int_equal(send_str(fd, "lo world"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(p.body, "hello world");
    /* chunked in, chunked out, with extensions and trailers */
    assert_int_equal(send_str(fd, "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n5;x=y\r\nhello\r\n1\r\n \r\n"),
                     0);
    assert_int_equal(send_str(fd, "5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(hdr(&p, "Transfer-Encoding"), "chunked");
    assert_string_equal(p.body, "hello world");
    /* A large body (many receives) */
    enum { BIG = 600000 };
    char *big = malloc(BIG);
    fill_pattern(big, BIG, 3);
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
             BIG);
    assert_int_equal(send_str(fd, head), 0);
    assert_int_equal(write_full(fd, big, BIG), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.body_len, BIG);
    assert_memory_equal(p.body, big, BIG);
    free(big);
    /* Expect: 100-continue */
    assert_int_equal(send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                                  "Expect: 100-continue\r\n\r\n"),
                     0);
    assert_true(rd_until(r, "\r\n\r\n") > 0);
    assert_int_equal(strncmp(r->buf, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    assert_int_equal(send_str(fd, "ok"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_string_equal(p.body, "ok");
    /* A body sent where none is wanted is read and dropped; the connection goes on. */
    assert_int_equal(send_str(fd, "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                                  "\r\nabcdGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"),
                     0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 405);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    free(p.body);
    reader_free(r);
    server_done(&s);
}

/* ---- slow and bad clients ----------------------------------------------------------------- */

static void slowloris_gets_408_and_idle_connections_are_closed(void **state)
{
    (void)state;
    const char *const args[] = {"--header-timeout", "0.4", "--idle-timeout", "0.4", NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    /* Slowloris: a head a byte every 50 ms, never finished. */
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    const char *head = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    double t0 = now_s();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    size_t i = 0;
    while (head[i] && poll(&pfd, 1, 50) == 0) /* the slow client's pace is the test's subject */
        assert_int_equal(write_full(fd, head + i++, 1), 0);
    struct resp p = {0};
    assert_int_equal(read_resp(r, &p, false), 0);
    double took = now_s() - t0;
    assert_int_equal(p.status, 408);
    assert_true(rd_closed(r));
    assert_true(took >= 0.35 && took < 5);
    reader_free(r);
    /* Meanwhile and after, others are served. */
    assert_serving(&s.addr);
    /* An idle keep-alive connection is closed after the idle timeout, silently. */
    fd = dial(&s.addr);
    r = reader_new(fd);
    assert_int_equal(send_str(fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    t0 = now_s();
    assert_true(rd_closed(r));
    took = now_s() - t0;
    assert_true(took >= 0.3 && took < 5);
    reader_free(r);
    /* A connection that sends nothing at all is idle too. */
    fd = dial(&s.addr);
    r = reader_new(fd);
    assert_true(rd_closed(r));
    reader_free(r);
    free(p.body);
    const char *log = server_log(&s);
    assert_int_equal(count(log, "408 Request Timeout"), 1);
    server_done(&s);
}

static void peer_reset_mid_request_closes_that_connection_only(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    int keep = dial(&s.addr);
    struct reader *kr = reader_new(keep);
    struct resp p = {0};
    assert_int_equal(send_str(keep, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(kr, &p, false), 0);
    /* Half a head then a reset; half a body then a reset. */
    const char *halves[] = {"GET /plaintext HTTP/1.1\r\nHo",
                            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"};
    for (int i = 0; i < 2; i++) {
        int fd = dial(&s.addr);
        assert_int_equal(send_str(fd, halves[i]), 0);
        if (i == 1) { /* the echo's head and first bytes show the server is inside the body */
            struct reader *r = reader_new(fd);
            assert_true(rd_until(r, "abc") > 0);
            r->fd = -1;
            reader_free(r);
        }
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    /* The other connection and new ones go on. */
    assert_int_equal(send_str(keep, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(kr, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_serving(&s.addr);
    reader_free(kr);
    free(p.body);
    assert_int_equal(server_stop(&s), 0);
    /* One line for each of the two. */
    const char *log = server_log(&s);
    assert_int_equal(count(log, "\n"), 2);
    assert_int_equal(count(log, "Connection reset by peer; closed\n"), 2);
    unlink(s.errpath);
}

/* Resident memory of process pid, in KiB. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

/* CPU time (user + system) of process pid, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    const char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st);
    return ut + st;
}

static void client_that_never_reads_is_closed_after_the_timeout(void **state)
{
    (void)state;
    const char *const args[] = {"--idle-timeout", "0.5", NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    assert_serving(&s.addr);
    long rss0 = rss_kib(s.pid);
    int fd = dial(&s.addr);
    int rcv = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    /* Pipelined requests, never reading, until neither side has room left. */
    static char reqs[64 * 1024];
    size_t len = 0;
    while (len + 64 < sizeof reqs)
        len += (size_t)snprintf(reqs + len, sizeof reqs - len,
                                "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    size_t sent = 0;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    double t0 = now_s();
    while (now_s() - t0 < 10) {
        ssize_t n = send(fd, reqs, len, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN) break; /* closed by the server already */
        if (poll(&p, 1, 200) == 0) break;    /* no room for 200 ms: the client is stuck */
    }
    assert_true(sent > 0);
    /* The server is not spinning on it (little CPU while it waits) nor buffering for it (the
     * client's pipelined requests stay in the socket: its receive stops at a few buffers). */
    long c0 = cpu_ticks(s.pid);
    assert_true(rss_kib(s.pid) - rss0 < 32 * 1024);
    assert_serving(&s.addr);
    /* ... and it closes the connection after the timeout: reading now finds the end. */
    fcntl(fd, F_SETFL, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char sink[1 << 16];
    ssize_t n;
    size_t got = 0;
    while ((n = read(fd, sink, sizeof sink)) > 0)
        got += (size_t)n;
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    long used = cpu_ticks(s.pid) - c0;
    assert_true(used < sysconf(_SC_CLK_TCK) / 2); /* < 0.5 s of CPU over the whole wait */
    close(fd);
    assert_serving(&s.addr);
    server_done(&s);
}

/* ---- shutdown, access log, descriptors --------------------------------------------------- */

static void sigterm_lets_the_request_in_flight_finish_and_exits_0(void **state)
{
    (void)state;
    char logpath[] = "/tmp/uco-httpd-access-XXXXXX";
    int lfd = mkstemp(logpath);
    close(lfd);
    const char *const args[] = {"--access-log", logpath, NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    assert_serving(&s.addr);
    assert_int_equal(get_status(&s.addr, "/nope"), 404);
    int idle = dial(&s.addr);
    struct reader *ir = reader_new(idle);
    struct resp p = {0};
    assert_int_equal(send_str(idle, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(ir, &p, false), 0);
    /* A request in flight: the echo has started answering, half of its body is still due. */
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    assert_int_equal(send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
                                  "01234"),
                     0);
    assert_true(rd_until(r, "01234") > 0);
    kill(s.pid, SIGTERM);
    /* New connections are refused once the listener is closed; the idle one is closed. */
    assert_true(rd_closed(ir));
    int tries = 0, c;
    while ((c = dial(&s.addr)) >= 0 && tries++ < 1000) {
        close(c);
        struct pollfd none = {.fd = -1};
        poll(&none, 1, 5); /* until the server has stopped accepting */
    }
    assert_true(c < 0);
    /* The request in flight completes, then the connection is closed and the server exits 0. */
    assert_int_equal(send_str(fd, "56789"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(p.body, "0123456789");
    assert_true(rd_closed(r));
    assert_int_equal(wait_child(s.pid, 20), 0);
    reader_free(r);
    reader_free(ir);
    free(p.body);
    /* The access log has a line per answer, in the Common Log Format. */
    int f = open(logpath, O_RDONLY | O_CLOEXEC);
    static char log[8192];
    ssize_t n = read(f, log, sizeof log - 1);
    close(f);
    log[n > 0 ? n : 0] = 0;
    assert_int_equal(count(log, "\n"), 4);
    assert_int_equal(count(log, "127.0.0.1 - - ["), 4);
    assert_int_equal(count(log, "] \"GET /plaintext HTTP/1.1\" 200 13\n"), 1);
    assert_int_equal(count(log, "] \"GET /nope HTTP/1.1\" 404 14\n"), 1);
    assert_int_equal(count(log, "] \"GET /json HTTP/1.1\" 200 27\n"), 1);
    assert_int_equal(count(log, "] \"POST /echo HTTP/1.1\" 200 10\n"), 1);
    unlink(logpath);
    unlink(s.errpath);
}

static void running_out_of_descriptors_backs_off_and_keeps_serving(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start_lim(&s, NULL, 48), 0);
    enum { N = 80 };
    int fds[N];
    struct reader *rs[N];
    for (int i = 0; i < N; i++) {
        fds[i] = dial(&s.addr);
        assert_true(fds[i] >= 0);
        rs[i] = reader_new(fds[i]);
    }
    /* Each asks; the ones the server could take are answered, the others were closed by the
     * kernel or wait in the backlog. Wait for all answers together, for at most 1.5 s. */
    struct resp p = {0};
    struct pollfd pf[N];
    for (int i = 0; i < N; i++) {
        pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (send_str(fds[i], "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n") < 0) pf[i].fd = -1;
    }
    int served = 0, refused = 0;
    double t0 = now_s();
    while (served + refused < N && now_s() - t0 < 1.5) {
        if (poll(pf, N, 100) <= 0) continue;
        for (int i = 0; i < N; i++) {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            if (read_resp(rs[i], &p, false) == 0 && p.status == 200)
                served++;
            else
                refused++;
            pf[i].fd = -1;
        }
    }
    refused = N - served;
    assert_true(served >= 20 && refused >= 10);
    for (int i = 0; i < N; i++)
        reader_free(rs[i]);
    /* Descriptors are back: new clients are served again (after the listener's pause). */
    int fd = -1;
    for (int i = 0; i < 50; i++) {
        fd = dial(&s.addr);
        struct reader *r = reader_new(fd);
        int ok = send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n") == 0 &&
                 read_resp(r, &p, false) == 0 && p.status == 200;
        reader_free(r);
        if (ok) break;
        fd = -1;
    }
    assert_true(fd != -1);
    free(p.body);
    const char *log = server_log(&s);
    assert_int_equal(count(log, "accept on"), 1);
    assert_non_null(strstr(log, "pausing new connections, serving the open ones"));
    server_done(&s);
}

static void threads_share_the_port_and_each_serves_its_connections(void **state)
{
    (void)state;
    char logpath[] = "/tmp/uco-httpd-access-XXXXXX";
    close(mkstemp(logpath));
    const char *const args[] = {"--threads", "2", "--stats", "--access-log", logpath, NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    enum { N = 200 };
    struct reader *rs[N];
    for (int i = 0; i < N; i++) {
        rs[i] = reader_new(dial(&s.addr));
        assert_true(rs[i]->fd >= 0);
    }
    struct resp p = {0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            assert_int_equal(send_str(rs[i]->fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(read_resp(rs[i], &p, false), 0);
            assert_int_equal(p.status, 200);
        }
    }
    free(p.body);
    for (int i = 0; i < N; i++)
        reader_free(rs[i]);
    assert_int_equal(server_stop(&s), 0);
    /* Both loops took connections (SO_REUSEPORT spreads them), and every answer was logged. */
    const char *log = server_log(&s);
    const char *t0 = strstr(log, "thread 0 loop"), *t1 = strstr(log, "thread 1 loop");
    assert_non_null(t0);
    assert_non_null(t1);
    unsigned long long c0 = 0, c1 = 0;
    assert_int_equal(sscanf(strstr(t0, "; ") + 2, "%llu connections", &c0), 1);
    assert_int_equal(sscanf(strstr(t1, "; ") + 2, "%llu connections", &c1), 1);
    assert_true(c0 > 0 && c1 > 0 && c0 + c1 == N);
    int f = open(logpath, O_RDONLY | O_CLOEXEC);
    static char alog[64 << 10];
    ssize_t n = read(f, alog, sizeof alog - 1);
    close(f);
    alog[n > 0 ? n : 0] = 0;
    assert_int_equal(count(alog, "\"GET /json HTTP/1.1\" 200 27\n"), 3 * N);
    unlink(logpath);
    unlink(s.errpath);
}

/* ---- the command line --------------------------------------------------------------------- */

static int run_status(const char *const argv[], char *out, size_t outlen)
{
    return run_capture(UCO_HTTPD_PATH, argv, out, outlen);
}

static void command_line_help_and_errors(void **state)
{
    (void)state;
    char out[4096];
    const char *help[] = {"uco-httpd", "--help", NULL};
    assert_int_equal(run_status(help, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: uco-httpd [--bind ADDR] [--port N] [--root DIR]"));
    const char *bad_port[] = {"uco-httpd", "--port", "x", NULL};
    assert_int_equal(run_status(bad_port, out, sizeof out), 2);
    assert_non_null(strstr(out, "bad port 'x'"));
    const char *bad_secs[] = {"uco-httpd", "--idle-timeout", "-1", NULL};
    assert_int_equal(run_status(bad_secs, out, sizeof out), 2);
    assert_non_null(strstr(out, "bad --idle-timeout '-1'"));
    const char *bad_threads[] = {"uco-httpd", "--threads", "0", NULL};
    assert_int_equal(run_status(bad_threads, out, sizeof out), 2);
    assert_non_null(strstr(out, "bad --threads '0'"));
    const char *bad_root[] = {"uco-httpd", "--root", "/nonexistent/dir", NULL};
    assert_int_equal(run_status(bad_root, out, sizeof out), 1);
    assert_non_null(strstr(out, "root '/nonexistent/dir': No such file or directory"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(benchmark_endpoints_answer_exactly),
        cmocka_unit_test(keep_alive_and_pipelined_requests_are_answered_in_order),
        cmocka_unit_test(more_clients_than_receive_buffers_are_all_served),
        cmocka_unit_test(malformed_requests_get_their_status_and_the_server_stays_up),
        cmocka_unit_test(parser_corpus_through_the_server),
        cmocka_unit_test(path_traversal_is_refused_in_every_spelling),
        cmocka_unit_test(static_files_types_ranges_and_conditionals),
        cmocka_unit_test(large_file_goes_through_splice_whole),
        cmocka_unit_test(request_bodies_echo_or_are_discarded),
        cmocka_unit_test(slowloris_gets_408_and_idle_connections_are_closed),
        cmocka_unit_test(peer_reset_mid_request_closes_that_connection_only),
        cmocka_unit_test(client_that_never_reads_is_closed_after_the_timeout),
        cmocka_unit_test(sigterm_lets_the_request_in_flight_finish_and_exits_0),
        cmocka_unit_test(running_out_of_descriptors_backs_off_and_keeps_serving),
        cmocka_unit_test(threads_share_the_port_and_each_serves_its_connections),
        cmocka_unit_test(command_line_help_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
