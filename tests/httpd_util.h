/* Helpers for the tests of uco-httpd as a real process: starting and stopping it, and a small
 * blocking HTTP/1.1 client (responses with Content-Length or chunked bodies, pipelining). */
#ifndef UCO_TEST_HTTPD_UTIL_H
#define UCO_TEST_HTTPD_UTIL_H

#include "net_util.h"

#include <poll.h>
#include <time.h>

#include "http.h"

#ifndef UCO_HTTPD_PATH
#define UCO_HTTPD_PATH ""
#endif

/* ---- the server process ------------------------------------------------------------------ */

struct server {
    pid_t pid;
    uco_addr addr;
    char errpath[64];
};

/* The server of the test running now (one at a time), so that a failed test's teardown can
 * end it: an assertion leaves the test function without its own cleanup. */
static pid_t t_server_pid;
static char t_server_err[64];

/* Starts uco-httpd on 127.0.0.1, port 0, with extra arguments (NULL-terminated list) and an
 * optional RLIMIT_NOFILE for the child (0: inherited). 0, or -1. */
static inline int server_start_lim(struct server *s, const char *const *extra, rlim_t nofile)
{
    const char *argv[32] = {"uco-httpd", "--bind", "127.0.0.1", "--port", "0"};
    int n = 5;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = server_spawn(UCO_HTTPD_PATH, argv, nofile, s->errpath, &s->addr);
    if (s->pid <= 0) return -1;
    t_server_pid = s->pid;
    memcpy(t_server_err, s->errpath, sizeof t_server_err);
    return 0;
}

/* Waits for the server to exit by itself (at most 20 s): its exit status, or -1. */
static inline int server_wait(struct server *s)
{
    int st = wait_child(s->pid, 20);
    t_server_pid = 0;
    return st;
}

/* Teardown of every test: kills and collects a server a failed test left running. */
static inline int server_teardown(void **state)
{
    (void)state;
    if (t_server_pid > 0) {
        kill(t_server_pid, SIGKILL);
        waitpid(t_server_pid, NULL, 0);
        unlink(t_server_err);
        t_server_pid = 0;
    }
    return 0;
}

static inline int server_start(struct server *s, const char *const *extra)
{
    return server_start_lim(s, extra, 0);
}

/* SIGTERM: the server must shut down cleanly. Returns its exit status. */
static inline int server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    return server_wait(s);
}

static inline char *server_log(struct server *s)
{
    static char buf[16384];
    int fd = open(s->errpath, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0) close(fd);
    return buf;
}

static inline void server_done(struct server *s)
{
    assert_int_equal(server_stop(s), 0);
    unlink(s->errpath);
}

static inline int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ---- a small blocking HTTP client ------------------------------------------------------- */

static inline int dial(const uco_addr *a)
{
    return dial_timeout(a, 10);
}

static inline int send_str(int fd, const char *s)
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
static inline int rd_fill(struct reader *r, size_t n)
{
    while (r->len < n) {
        ssize_t k = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        r->len += (size_t)k;
    }
    return 0;
}

static inline void rd_take(struct reader *r, void *out, size_t n)
{
    if (out) memcpy(out, r->buf, n);
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

/* Reads until the buffer holds a line (or the head's end marker): its length with CR LF. */
static inline ssize_t rd_until(struct reader *r, const char *marker)
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

static inline const char *hdr(const struct resp *p, const char *name)
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

static inline void body_append(struct resp *p, const char *b, size_t n)
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
static inline int read_resp(struct reader *r, struct resp *p, bool head_only)
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
static inline bool rd_closed(struct reader *r)
{
    if (r->len) return false;
    char c;
    ssize_t n = read(r->fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static inline struct reader *reader_new(int fd)
{
    struct reader *r = calloc(1, sizeof *r);
    r->fd = fd;
    return r;
}

static inline void reader_free(struct reader *r)
{
    if (r->fd >= 0) close(r->fd);
    free(r);
}

/* One request on a new connection: returns the status, the response in *p. */
static inline int request(const uco_addr *a, const char *req, struct resp *p)
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

static inline int get_status(const uco_addr *a, const char *target)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    struct resp p = {0};
    int st = request(a, req, &p);
    free(p.body);
    return st;
}

static inline void assert_serving(const uco_addr *a)
{
    struct resp p = {0};
    assert_int_equal(request(a, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "Hello, World!");
    free(p.body);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int setup(void **state)
{
    (void)state;
    if (!UCO_HTTPD_PATH[0] || access(UCO_HTTPD_PATH, X_OK) != 0)
        t_skip_all("uco-httpd is not built (UCO_BUILD_EXAMPLES=OFF)");
    return 0;
}

#endif
