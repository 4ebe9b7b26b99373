/* uco-httpd: one connection. A task started by input parses every request found in the
 * received views, formats the answers into one output buffer, sends them in one piece and
 * ends, leaving the connection idle with a task start armed for its next input.
 *
 * Zero copy on the common path: heads are parsed straight from the pool buffer the kernel
 * received into, and the batch of answers is written back into that same buffer and queued
 * out with uco_conn_send_buf (no wait, no copy into a buffer of ours). Bytes are copied only
 * when a head is split across receives (into the session's head buffer, held until that
 * request is answered) and for bodies echoed back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include "server.h"

/* A task's working state: the view being parsed, the answers not sent yet, the request. */
struct ctx {
    struct session *s;
    uco_conn *c;
    uco_buf b;  /* the current view (b.data NULL: none) */
    size_t pos; /* bytes of b consumed */
    struct out o;
    httpd_request req;
};

/* What a request's handling decided about the connection. */
enum { NEXT = 1, CLOSE = 2 };

/* ---- sessions and their lists ------------------------------------------------------------ */

static void list_push(struct session **head, struct session **tail, struct session *s)
{
    s->next = NULL;
    s->prev = tail ? *tail : NULL;
    if (s->prev)
        s->prev->next = s;
    else
        *head = s;
    if (tail) *tail = s;
}

void session_unlink(struct session *s)
{
    struct session **head = s->state == SESSION_IDLE ? &srv.idle_head : &srv.active;
    if (s->prev)
        s->prev->next = s->next;
    else if (*head == s)
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else if (s->state == SESSION_IDLE && srv.idle_tail == s)
        srv.idle_tail = s->prev;
    s->prev = s->next = NULL;
}

int64_t coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO, no clock read: enough for timeouts */
    return (int64_t)ts.tv_sec * UCO_SEC + ts.tv_nsec;
}

static void session_set_state(struct session *s, enum session_state st)
{
    session_unlink(s);
    s->state = (uint8_t)st;
    s->shed_since = 0; /* the shedder's clock starts again when it next looks */
    if (st == SESSION_IDLE) {
        s->idle_since = coarse_now();
        /* The stall clock of the answers queued out (sessions_shutdown_stalled). */
        uco_conn_stats cs;
        s->out_since = s->idle_since;
        s->out_mark = uco_conn_stats_get(s->conn, &cs) == 0 ? cs.bytes_out : 0;
        list_push(&srv.idle_head, &srv.idle_tail, s);
    } else {
        /* the active list is not ordered: push at its head */
        s->prev = NULL;
        s->next = srv.active;
        if (srv.active) srv.active->prev = s;
        srv.active = s;
    }
}

/* Head buffers (a head split across receives) are recycled: no allocation per request
 * in steady state even for clients whose heads always straddle receives. */
static _Thread_local char *head_cache[64];
static _Thread_local unsigned head_cached;

static size_t head_cap(void)
{
    return (size_t)srv.cfg.limits.max_line + srv.cfg.limits.max_head;
}

static char *head_get(void)
{
    return head_cached ? head_cache[--head_cached] : malloc(head_cap());
}

static void head_drop(struct session *s)
{
    if (!s->head) return;
    if (head_cached < sizeof head_cache / sizeof head_cache[0])
        head_cache[head_cached++] = s->head;
    else
        free(s->head);
    s->head = NULL;
    s->head_len = 0;
}

void conn_thread_end(void)
{
    while (head_cached)
        free(head_cache[--head_cached]);
}

void session_release(struct session *s)
{
    s->dead = true;
    if (s->refs) return; /* the sweeper frees it after its shutdown */
    head_drop(s);
    free(s->peer);
    free(s);
}

/* session_shutdown for a caller that holds a reference to s across the await. */
static void session_shutdown_held(struct session *s)
{
    if (s->swept || s->dead) return;
    s->swept = true;
    /* The end of stream this causes starts (or wakes) the session's task, which closes it. */
    uco_conn_shutdown(s->conn, SHUT_RDWR);
}

void session_shutdown(struct session *s)
{
    s->refs++;
    session_shutdown_held(s);
    if (--s->refs == 0 && s->dead) session_release(s);
}

static void session_close(struct ctx *x)
{
    struct session *s = x->s;
    if (x->b.data) uco_conn_buf_release(x->c, &x->b);
    session_unlink(s);
    srv.nsessions--;
    uco_conn_close(x->c); /* queued output still goes out (bounded by UCO_CONN_LINGER) */
    session_release(s);
}

/* ---- output ------------------------------------------------------------------------------- */

int64_t deadline_in(int64_t ns)
{
    return uco_deadline_set(uco_now() + ns);
}

static int out_send_flags(struct session *s, struct out *o, bool more)
{
    if (!o->n) return 0;
    int64_t old = deadline_in(srv.cfg.send_timeout);
    ssize_t r =
        more ? uco_conn_send_more(s->conn, o->buf, o->n) : uco_conn_send_all(s->conn, o->buf, o->n);
    uco_deadline_set(old);
    o->n = 0;
    return r < 0 ? (int)r : 0;
}

int out_send(struct session *s, struct out *o)
{
    return out_send_flags(s, o, false);
}

int out_send_more(struct session *s, struct out *o)
{
    return out_send_flags(s, o, true);
}

/* Appends len bytes to the output, sending what is there first when they do not fit. */
static int out_put(struct ctx *x, const void *p, size_t len)
{
    if (len > OUT_CAP - x->o.n) {
        int r = out_send(x->s, &x->o);
        if (r < 0) return r;
        if (len > OUT_CAP) {
            int64_t old = deadline_in(srv.cfg.send_timeout);
            ssize_t n = uco_conn_send_all(x->c, p, len);
            uco_deadline_set(old);
            return n < 0 ? (int)n : 0;
        }
    }
    memcpy(x->o.buf + x->o.n, p, len);
    x->o.n += len;
    return 0;
}

/* Sends the output. When the current view is used up, the answers are written into its buffer
 * and queued out with no wait (the common case); else they are sent from our buffer. */
static int flush(struct ctx *x)
{
    if (x->b.data && x->pos == x->b.len) {
        if (x->o.n && x->o.n <= x->b.cap) {
            memcpy(x->b.data, x->o.buf, x->o.n);
            x->b.len = x->o.n;
            x->o.n = 0;
            ssize_t r = uco_conn_send_buf(x->c, &x->b); /* takes the view */
            return r < 0 ? (int)r : 0;
        }
        uco_conn_buf_release(x->c, &x->b);
    }
    return out_send(x->s, &x->o);
}

/* The current view is used up: sends what is pending, then waits (until deadline) for the next
 * bytes. Returns their count, 0 at end of stream, or -errno (-ETIMEDOUT). */
static ssize_t more(struct ctx *x, int64_t deadline)
{
    int r = flush(x);
    if (r < 0) return r;
    if (x->b.data) uco_conn_buf_release(x->c, &x->b);
    int64_t old = uco_deadline_set(deadline);
    ssize_t n = uco_conn_recv_buf(x->c, &x->b);
    uco_deadline_set(old);
    x->pos = 0;
    return n;
}

/* Formats a response head with extra field lines (each ending in CR LF) into the output.
 * Returns 0 or -errno. */
static int put_head(struct ctx *x, const httpd_response *r, const char *extra)
{
    char head[1024];
    size_t e = extra ? strlen(extra) : 0;
    if (e > 512) return -EINVAL;
    size_t n = httpd_response_head(head, sizeof head - e, r);
    if (!n) return -EINVAL;
    if (e) { /* before the empty line that ends the head */
        memcpy(head + n - 2, extra, e);
        memcpy(head + n - 2 + e, "\r\n", 2);
        n += e;
    }
    return out_put(x, head, n);
}

static httpd_response response_for(const struct ctx *x, int status, bool keep_alive)
{
    httpd_response r = {
        .status = status,
        .version = x->req.version,
        .keep_alive = keep_alive,
        .server = SERVER_NAME,
        .date = srv.date.text,
        .content_length = -1,
    };
    return r;
}

/* A short answer whose body names the status ("404 Not Found\n"); none for 204, 304 and HEAD. */
static int put_simple(struct ctx *x, int status, bool keep_alive, const char *allow,
                      const char *extra, uint64_t *bytes)
{
    char body[64];
    size_t blen = 0;
    httpd_response r = response_for(x, status, keep_alive);
    r.allow = allow;
    if (status != 204 && status != 304) {
        const char *reason = httpd_reason(status);
        blen = (size_t)snprintf(body, sizeof body, "%d %s\n", status, reason);
        r.content_type = "text/plain; charset=utf-8";
        r.content_length = (int64_t)blen;
    }
    if (x->req.method == HTTPD_HEAD) blen = 0;
    int e = put_head(x, &r, extra);
    if (!e && blen) e = out_put(x, body, blen);
    *bytes = blen;
    return e;
}

/* ---- closing after an error ------------------------------------------------------------- */

/* Sends the error answer in the output, then closes gracefully: our side is shut down and the
 * client's remaining input read and dropped for a little while, so that the close does not
 * turn into a reset that could destroy the answer before the client has read it. */
static void linger_close(struct ctx *x)
{
    /* Sent and waited for (not queued): the shutdown must not overtake the answer. */
    if (x->b.data && x->pos == x->b.len) uco_conn_buf_release(x->c, &x->b);
    if (out_send(x->s, &x->o) < 0) return;
    if (uco_conn_shutdown(x->c, SHUT_WR) < 0) return;
    int64_t until =
        uco_now() + (srv.cfg.header_timeout < 2 * UCO_SEC ? srv.cfg.header_timeout : 2 * UCO_SEC);
    size_t drained = 0;
    while (drained < ((size_t)1 << 20)) {
        if (x->b.data) uco_conn_buf_release(x->c, &x->b);
        int64_t old = uco_deadline_set(until);
        ssize_t n = uco_conn_recv_buf(x->c, &x->b);
        uco_deadline_set(old);
        if (n <= 0) break;
        drained += (size_t)n;
    }
    if (x->b.data) uco_conn_buf_release(x->c, &x->b);
}

/* Answers status (a parse or body error, or a timeout) and closes. req: for the log. */
static int fail(struct ctx *x, int status, const httpd_request *req, const char *why)
{
    char buf[256];
    size_t n = httpd_error_response(buf, sizeof buf, status, SERVER_NAME, srv.date.text,
                                    req && req->method == HTTPD_HEAD);
    if (n) out_put(x, buf, n);
    access_log(x->s, req, status, 0);
    conn_log(x->s, "%d %s (%s); closed", status, httpd_reason(status), why ? why : "-");
    linger_close(x);
    return CLOSE;
}

/* ---- bodies ------------------------------------------------------------------------------- */

/* What to do with the decoded content of a body: nothing, or echo it. */
struct sink {
    bool echo, chunked;
    uint64_t bytes; /* content echoed so far */
};

static int sink_put(struct ctx *x, struct sink *k, httpd_str d)
{
    if (!k->echo || !d.len) return 0;
    k->bytes += d.len;
    if (k->chunked) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", d.len);
        int e = out_put(x, size, (size_t)n);
        if (!e) e = out_put(x, d.p, d.len);
        if (!e) e = out_put(x, "\r\n", 2);
        return e;
    }
    return out_put(x, d.p, d.len);
}

/* Reads the body of x->req to its end through sink k. Returns 0, a negative errno (the
 * connection failed or timed out) or a positive status (malformed or too large body). */
static int body_read(struct ctx *x, struct sink *k)
{
    httpd_body bd;
    httpd_body_init(&bd, &x->req, &srv.cfg.limits);
    while (!httpd_body_done(&bd)) {
        if (x->pos == x->b.len) {
            ssize_t n = more(x, uco_now() + srv.cfg.body_timeout);
            if (n == 0) return -ECONNABORTED;
            if (n < 0) return (int)n;
        }
        httpd_str d;
        ssize_t n = httpd_body_read(&bd, x->b.data + x->pos, x->b.len - x->pos, &d);
        if (n < 0) return (int)-n;
        x->pos += (size_t)n;
        int e = sink_put(x, k, d);
        if (e < 0) return e;
    }
    return 0;
}

/* A request with a body is answered after the body: its head moves into the session's head
 * buffer first (if it is not there already) so that the view can be given back as the body
 * comes in. Returns 0 or -ENOMEM. */
static int head_keep(struct ctx *x, const char *head, size_t len)
{
    struct session *s = x->s;
    if (s->head == head) return 0; /* already there */
    s->head = head_get();
    if (!s->head) return -ENOMEM;
    memcpy(s->head, head, len);
    s->head_len = (uint32_t)len;
    httpd_parser_reset(&s->parser);
    int r = httpd_parse_request(&s->parser, s->head, len, &x->req); /* same head, new home */
    return r == (int)len ? 0 : -EIO;
}

/* POST/PUT /echo: the body comes back with the same framing (Content-Length, or chunked).
 * *begun: its 200 was put out (a failure after that still makes a log line, with the *bytes
 * echoed until then). */
static int echo(struct ctx *x, bool keep_alive, uint64_t *bytes, bool *begun)
{
    httpd_request *req = &x->req;
    httpd_response r = response_for(x, 200, keep_alive);
    r.content_type = "application/octet-stream";
    bool chunked = req->body == HTTPD_BODY_CHUNKED;
    if (req->body == HTTPD_BODY_LENGTH) r.content_length = (int64_t)req->content_length;
    if (req->body == HTTPD_BODY_NONE) r.content_length = 0;
    int e = 0;
    if (req->expect_continue) e = out_put(x, httpd_continue, HTTPD_CONTINUE_LEN);
    if (!e) e = put_head(x, &r, chunked ? "Transfer-Encoding: chunked\r\n" : NULL);
    if (e) return e;
    *begun = true;
    struct sink k = {.echo = true, .chunked = chunked};
    e = body_read(x, &k);
    *bytes = k.bytes;
    if (e > 0) { /* the answer has begun: a broken body can only end the connection */
        conn_log(x->s, "echo: %d %s in the body after a 200 was started; closed", e,
                 httpd_reason(e));
        return -EPROTO;
    }
    if (!e && chunked) e = out_put(x, "0\r\n\r\n", 5);
    return e;
}

/* ---- routing ----------------------------------------------------------------------------- */

static bool path_is(httpd_str p, const char *lit, size_t n)
{
    return p.len == n && memcmp(p.p, lit, n) == 0;
}

#define PATH_IS(p, lit) path_is((p), lit, sizeof(lit) - 1)

/* Answers the canned /plaintext or /json. */
static int canned(struct ctx *x, httpd_canned_kind kind, bool keep_alive, uint64_t *bytes)
{
    const httpd_request *req = &x->req;
    httpd_conn_mode mode = keep_alive ? httpd_conn_mode_of(req) : HTTPD_CONN_CLOSE;
    bool head = req->method == HTTPD_HEAD;
    httpd_str t = httpd_canned_get(&srv.canned, kind, mode, head);
    *bytes = head ? 0 : srv.canned.r[kind][mode].len - srv.canned.r[kind][mode].head_len;
    if (t.len <= OUT_CAP - x->o.n) { /* the hot path */
        memcpy(x->o.buf + x->o.n, t.p, t.len);
        x->o.n += t.len;
        return 0;
    }
    return out_put(x, t.p, t.len);
}

enum route { R_PLAINTEXT, R_JSON, R_ECHO, R_STATIC, R_NONE };

static const char *const allow_of[] = {
    [R_PLAINTEXT] = "GET, HEAD, OPTIONS", [R_JSON] = "GET, HEAD, OPTIONS",
    [R_ECHO] = "POST, PUT, OPTIONS",      [R_STATIC] = "GET, HEAD, OPTIONS",
    [R_NONE] = "GET, HEAD, OPTIONS",
};

static bool method_allowed(enum route rt, httpd_method m)
{
    if (m == HTTPD_OPTIONS) return true;
    if (rt == R_ECHO) return m == HTTPD_POST || m == HTTPD_PUT;
    return m == HTTPD_GET || m == HTTPD_HEAD;
}

/* Answers a request whose head is parsed (the head's bytes end at x->pos, in the view or in the
 * session's head buffer). Returns NEXT, CLOSE, or -errno (connection failed: close). */
static int answer(struct ctx *x)
{
    httpd_request *req = &x->req;
    bool keep_alive = req->keep_alive && !srv.draining;
    uint64_t bytes = 0;
    int status = 200, e = 0;
    char path[4096];
    enum route rt = R_NONE;
    if (req->form == HTTPD_TARGET_ASTERISK) {
        rt = R_NONE; /* OPTIONS *: what the server as a whole allows */
    } else if (PATH_IS(req->path, "/plaintext")) {
        rt = R_PLAINTEXT;
    } else if (PATH_IS(req->path, "/json")) {
        rt = R_JSON;
    } else {
        ssize_t n = httpd_path_decode(req->path.p, req->path.len, path, sizeof path);
        if (n < 0) {
            status = (int)-n; /* a bad path is this request's fault only: keep the connection */
        } else if (strcmp(path, "/plaintext") == 0) {
            rt = R_PLAINTEXT;
        } else if (strcmp(path, "/json") == 0) {
            rt = R_JSON;
        } else if (strcmp(path, "/echo") == 0) {
            rt = R_ECHO;
        } else if (srv.rootfd >= 0) {
            rt = R_STATIC;
        } else {
            status = 404;
        }
    }
    if (status == 200 && !method_allowed(rt, req->method)) status = 405;
    if (status == 200 && req->method == HTTPD_OPTIONS) status = 204;
    bool body_unread = false;
    if (req->body != HTTPD_BODY_NONE && !(status == 200 && rt == R_ECHO)) {
        /* A body nobody wants: read and drop it to keep the connection, unless the client
         * waits for a 100 Continue first: then answer now, with "Connection: close", and
         * close (RFC 9110 10.1.1: the body may still come, and is not a request). */
        if (req->expect_continue) {
            keep_alive = false;
            body_unread = true;
        } else {
            e = body_read(x, &(struct sink){0});
            if (e > 0) return fail(x, e, req, "body");
            if (e < 0) return e;
        }
    }
    if (status != 200) {
        e = put_simple(x, status, keep_alive, status == 405 || status == 204 ? allow_of[rt] : NULL,
                       NULL, &bytes);
    } else if (rt == R_PLAINTEXT || rt == R_JSON) {
        e = canned(x, rt == R_PLAINTEXT ? HTTPD_CANNED_PLAINTEXT : HTTPD_CANNED_JSON, keep_alive,
                   &bytes);
    } else if (rt == R_ECHO) {
        bool begun = false;
        e = echo(x, keep_alive, &bytes, &begun);
        if (e < 0 && begun) access_log(x->s, req, 200, bytes); /* cut off: as far as it went */
    } else {
        int written;
        int st = static_serve(x->s, &x->o, req, path, keep_alive, &written, &bytes);
        if (st < 0) {
            /* Begun, then cut off (a reset, a client that stopped reading): it was answered,
             * as far as it went, and gets its line like any other answer. */
            if (written) access_log(x->s, req, written, bytes);
            return st;
        }
        status = st;
        if (st == 301) { /* a directory without its '/': send the client there */
            /* From the normalised path, not the raw one: "//host" (a target's empty segments)
             * in a Location would be a network-path reference to another host. */
            char enc[500], loc[sizeof enc + 16];
            size_t n = httpd_path_encode(path, enc, sizeof enc);
            if (n) snprintf(loc, sizeof loc, "Location: %s/\r\n", enc);
            e = put_simple(x, 301, keep_alive, NULL, n ? loc : NULL, &bytes);
        } else if (!written) {
            e = put_simple(x, st, keep_alive, NULL, NULL, &bytes);
        }
    }
    if (e < 0) return e;
    access_log(x->s, req, status, bytes);
    if (body_unread) {
        /* The client may send the body after our answer (it need not wait for a 100 that
         * never comes): close gracefully, dropping it, so that the close is not a reset
         * that destroys the answer. */
        linger_close(x);
        return CLOSE;
    }
    return keep_alive ? NEXT : CLOSE;
}

/* ---- the request loop -------------------------------------------------------------------- */

/* Parses the next head from the view, or from the head buffer when it is split across
 * receives. Returns > 0 (the head is parsed; x->pos is past it), 0 (nothing left to do: the
 * connection is between requests and its input is used up), -status, or -errno. */
static int next_head(struct ctx *x)
{
    struct session *s = x->s;
    if (!s->head) {
        if (x->pos == x->b.len) return 0;
        const char *p = x->b.data + x->pos;
        size_t len = x->b.len - x->pos;
        int r = httpd_parse_request(&s->parser, p, len, &x->req);
        if (r > 0) x->pos += (size_t)r;
        if (r != 0) return r;
        /* A head split across receives: keep its start. */
        s->head = head_get();
        if (!s->head) return -ENOMEM;
        memcpy(s->head, p, len);
        s->head_len = (uint32_t)len;
        x->pos = x->b.len;
    }
    int64_t deadline = uco_now() + srv.cfg.header_timeout;
    for (;;) {
        /* The answers so far go first: their send timing out is the client not reading, not
         * the head's timeout (no 408 then: it could not be sent either). */
        int f = flush(x);
        if (f < 0) return f;
        ssize_t n = more(x, deadline);
        if (n == -ETIMEDOUT) return -408;
        if (n == 0) return -ECONNABORTED;
        if (n < 0) return (int)n;
        size_t take = head_cap() - s->head_len;
        if (take > (size_t)n) take = (size_t)n;
        memcpy(s->head + s->head_len, x->b.data, take);
        int r = httpd_parse_request(&s->parser, s->head, s->head_len + take, &x->req);
        if (r > 0) {
            x->pos = (size_t)r - s->head_len; /* the rest of the view follows the head */
            s->head_len = (uint32_t)r;
            return r;
        }
        if (r < 0) return r;
        if (take < (size_t)n) return -431; /* the parser's window is the buffer: cannot happen */
        s->head_len += (uint32_t)take;
        x->pos = x->b.len;
    }
}

/* One line about why a connection ends early. */
static void conn_error(struct ctx *x, int err)
{
    if (x->s->shed) /* the shedder said why: what its shutdown did to a send is no news */
        return;
    if (err == -ECONNABORTED)
        conn_log(x->s, "the client closed the connection inside a request; closed");
    else if (err == -ETIMEDOUT)
        conn_log(x->s, "timed out waiting for the client; closed");
    else if (err != -EPROTO) /* EPROTO: said already */
        conn_log(x->s, "%s; closed", strerror(-err));
}

/* Serves requests while input lasts. Returns 0 when the connection goes idle (the input is
 * used up between two requests), or CLOSE / -errno to close it. */
static int serve(struct ctx *x)
{
    ssize_t n = uco_conn_recv_buf(x->c, &x->b); /* input is there: no wait */
    if (n <= 0) {
        /* Between requests a client may go away as it likes, even with a reset (load
         * generators do): only other errors are worth a line. */
        if (n < 0 && n != -ECONNRESET) conn_log(x->s, "receive: %s; closed", strerror((int)-n));
        return CLOSE;
    }
    x->pos = 0;
    for (;;) {
        int r = next_head(x);
        if (r == 0) return 0;
        if (r < 0 && r > -400) { /* -errno (statuses are 400 and up) */
            conn_error(x, r);
            return CLOSE;
        }
        if (r < 0) {
            const httpd_request *req = r == -408 ? NULL : &x->req;
            return fail(x, -r, req, req ? req->error : "request head timed out");
        }
        if (x->req.body != HTTPD_BODY_NONE &&
            head_keep(x, x->s->head ? x->s->head : x->b.data + x->pos - (size_t)r, (size_t)r) < 0)
            return CLOSE;
        r = answer(x);
        head_drop(x->s);
        if (r < 0) {
            conn_error(x, r);
            return CLOSE;
        }
        if (r == CLOSE) return CLOSE;
    }
}

static void date_refresh(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (httpd_date_cache_set(&srv.date, ts.tv_sec))
        httpd_canned_set_date(&srv.canned, srv.date.text);
}

/* The task of one burst of input on a connection. */
static intptr_t conn_task(void *arg)
{
    struct session *s = arg;
    session_set_state(s, SESSION_ACTIVE);
    date_refresh();
    struct ctx x;
    x.s = s;
    x.c = s->conn;
    x.b.data = NULL;
    x.pos = 0;
    x.o.n = 0;
    int r = serve(&x);
    if (r == 0 && flush(&x) == 0 && !srv.draining) {
        /* Idle: no task until the next input. Listed first, as the next task may be started
         * at once (it runs after we return). */
        session_set_state(s, SESSION_IDLE);
        if (uco_conn_recv_spawn(x.c, conn_task, s, &srv.task_opts) == 0) return 0;
        session_set_state(s, SESSION_ACTIVE);
    }
    if (r == CLOSE && x.b.data && x.pos < x.b.len)
        linger_close(&x); /* requests pipelined after the last one: do not reset them */
    else if (r == CLOSE && x.o.n)
        flush(&x); /* the answer to a request that asked for the close */
    session_close(&x);
    return 0;
}

int conn_start(uco_conn *c)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->conn = c;
    s->paced = -1;
    s->id = next_conn_id();
    srv.accepted++;
    httpd_parser_init(&s->parser, &srv.cfg.limits);
    if (srv.want_peers) { /* the client's address, as the Common Log Format has it */
        uco_addr a;
        char name[INET6_ADDRSTRLEN];
        int fd = uco_conn_fd(c);
        if (fd >= 0 && uco_sock_peer(fd, &a) == 0) {
            if (a.u.sa.sa_family == AF_INET)
                s->peer = strdup(inet_ntop(AF_INET, &a.u.in4.sin_addr, name, sizeof name));
            else if (a.u.sa.sa_family == AF_INET6)
                s->peer = strdup(inet_ntop(AF_INET6, &a.u.in6.sin6_addr, name, sizeof name));
            else
                s->peer = strdup("unix");
        }
    }
    s->state = SESSION_ACTIVE;
    session_set_state(s, SESSION_IDLE);
    int r = uco_conn_recv_spawn(c, conn_task, s, &srv.task_opts);
    if (r < 0) {
        session_unlink(s);
        free(s->peer);
        free(s);
        return r;
    }
    srv.nsessions++;
    return 0;
}

/* ---- the sweeper's and the shutdown's side ---------------------------------------------- */

void sessions_shutdown_idle(int64_t idle_before)
{
    struct session *s;
    while ((s = srv.idle_head) && s->idle_since < idle_before) {
        /* Its task is due: listed as active from now on, so it is not taken twice. */
        session_set_state(s, SESSION_ACTIVE);
        session_shutdown(s);
    }
}

/* Whether s's output made no progress since before: restarts its stall clock if it moved. */
static bool out_stalled(struct session *s, uint64_t bytes_out, int64_t now, int64_t before)
{
    if (bytes_out != s->out_mark) { /* progress: the clock starts again */
        s->out_mark = bytes_out;
        s->out_since = now;
        return false;
    }
    return s->out_since < before;
}

void sessions_shutdown_stalled(void)
{
    int64_t now = coarse_now(), before = now - srv.cfg.send_timeout;
    struct session *v[256]; /* at most this many a tick */
    unsigned n = 0;
    uco_conn_stats st;
    for (struct session *s = srv.idle_head; s && s->idle_since < before && n < 256;) {
        struct session *next = s->next;
        /* Idle, so no views are held: buffers held are answers queued out, not yet sent. */
        if (uco_conn_stats_get(s->conn, &st) == 0 && st.bufs_held &&
            out_stalled(s, st.bytes_out, now, before)) {
            session_set_state(s, SESSION_ACTIVE); /* its task is due, as for idle ones */
            s->refs++;                            /* kept alive across the awaits below */
            v[n++] = s;
        }
        s = next;
    }
    /* Files being sent: their task waits in uco_conn_sendfile (a poll, or a splice on an
     * io_uring worker, which a shutdown of the socket does not always wake). Its deadline, set
     * to now, ends the wait and cancels the splice; the task says why ("timed out"). */
    for (struct session *s = srv.active; s; s = s->next)
        if (s->file_task && !s->stalled && uco_conn_stats_get(s->conn, &st) == 0 &&
            out_stalled(s, st.bytes_out, now, before)) {
            s->stalled = true;
            uco_task_set_deadline(s->file_task, uco_now());
        }
    for (unsigned i = 0; i < n; i++) {
        conn_log(v[i], "sent nothing for the send timeout (the client does not read); closed");
        session_shutdown_held(v[i]);
        if (--v[i]->refs == 0 && v[i]->dead) session_release(v[i]);
    }
}

/* ---- shedding under receive-buffer pressure ----------------------------------------------- */

struct shed_candidate {
    struct session *s;
    int64_t since; /* its answers' last progress */
    unsigned held;
};

static int shed_order(const void *a, const void *b)
{
    const struct shed_candidate *x = a, *y = b;
    return x->since < y->since ? -1 : x->since > y->since;
}

/* Looks at s for the shedder: adds it to v when it holds buffers while its answers made no
 * progress for SHED_GRACE, restarts its stall clock when they did. Buffers of sessions already
 * shut down are on their way back: added to *coming. */
static void shed_look(struct session *s, int64_t now, struct shed_candidate *v, unsigned *n,
                      unsigned cap, unsigned *coming)
{
    uco_conn_stats st;
    if (s->dead || uco_conn_stats_get(s->conn, &st) < 0) return;
    if (!st.bufs_held) {
        s->shed_since = 0; /* holds nothing: nothing to take back */
        return;
    }
    if (s->swept) {
        *coming += st.bufs_held;
        return;
    }
    /* Its own clock, not the send-timeout sweeper's: that one runs from when the session went
     * idle, which for a connection that waited for its first buffer is long before it held one. */
    if (s->shed_since == 0 || st.bytes_out != s->shed_mark) { /* progress, or not seen yet */
        s->shed_mark = st.bytes_out;
        s->shed_since = now;
        return;
    }
    if (now - s->shed_since >= SHED_GRACE && *n < cap)
        v[(*n)++] = (struct shed_candidate){s, s->shed_since, st.bufs_held};
}

unsigned sessions_shed(uco_bufpool *pool)
{
    uco_bufpool_stats ps;
    if (!pool || uco_bufpool_stats_get(pool, &ps) < 0) return 0;
    unsigned low = ps.count / SHED_LOW_DIV;
    if (ps.free >= low && !ps.starved) return 0;
    unsigned cap = srv.nsessions ? srv.nsessions : 1, n = 0, coming = 0;
    struct shed_candidate *v = malloc(cap * sizeof *v);
    if (!v) return 0;
    int64_t now = coarse_now();
    for (struct session *s = srv.active; s; s = s->next)
        shed_look(s, now, v, &n, cap, &coming);
    for (struct session *s = srv.idle_head; s; s = s->next)
        shed_look(s, now, v, &n, cap, &coming);
    qsort(v, n, sizeof *v, shed_order); /* the longest stalled first */
    /* Enough to bring the pool back above its low mark with a buffer for each receive that
     * waits: the buffers of those shut down already count as back. */
    unsigned want = low + ps.starved, have = ps.free + coming, k = 0;
    while (k < n && have < want)
        have += v[k++].held;
    for (unsigned i = 0; i < k; i++) {
        struct session *s = v[i].s;
        if (s->state == SESSION_IDLE) session_set_state(s, SESSION_ACTIVE); /* its task is due */
        s->shed = true;
        s->refs++; /* kept alive across the awaits below */
    }
    for (unsigned i = 0; i < k; i++) {
        struct session *s = v[i].s;
        conn_log(s,
                 "held %u receive buffers with no send progress for %.1f s while the pool ran "
                 "short (%u of %u free, %u receives waiting): shed; closed",
                 v[i].held, (double)(now - v[i].since) / UCO_SEC, ps.free, ps.count, ps.starved);
        session_shutdown_held(s);
        if (--s->refs == 0 && s->dead) session_release(s);
    }
    free(v);
    srv.shed += k;
    return k;
}

unsigned sessions_shutdown_all(void)
{
    unsigned n = 0;
    for (struct session *s = srv.active; s; s = s->next)
        n++;
    struct session **v = n ? malloc(n * sizeof *v) : NULL;
    if (!v) return 0;
    unsigned k = 0;
    for (struct session *s = srv.active; s && k < n; s = s->next) {
        s->refs++; /* kept alive across the awaits below */
        v[k++] = s;
    }
    for (unsigned i = 0; i < k; i++) {
        v[i]->swept = false;
        session_shutdown_held(v[i]);
        if (--v[i]->refs == 0 && v[i]->dead) session_release(v[i]);
    }
    free(v);
    return k;
}
