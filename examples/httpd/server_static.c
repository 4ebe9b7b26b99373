/* uco-httpd: static files under --root. The file is opened with openat2(RESOLVE_BENEATH), which
 * keeps it inside the root (see http_fs.c), checked against the request's preconditions and
 * Range, and its bytes go to the socket: a body that fits beside the head is read into the
 * output, one up to 32 KiB into a buffer after the output, and either goes out with the head in
 * one send; a larger one goes with uco_conn_sendfile. */
#include <errno.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

struct open_job {
    int rootfd; /* srv is the loop thread's: the worker gets what it needs here */
    const char *rel;
    struct stat st;
    int fd;
};

static intptr_t open_run(void *arg)
{
    struct open_job *j = arg;
    j->fd = httpd_file_open(j->rootfd, j->rel, &j->st);
    return 0;
}

/* Opens rel (decoded, under the root): fd or -errno. The openat2 goes on the ring, where the
 * kernel runs it inline when every component is in the dentry cache (RESOLVE_CACHED) and on
 * an io_uring worker otherwise, so a cold disk never stalls the loop; the fstat of an open
 * file does no I/O. Where openat2 is missing or filtered (-ENOSYS, -EPERM), the worker pool
 * runs httpd_file_open, whose fallback walks the path. */
static int open_file(const char *rel, struct stat *st)
{
    struct open_how how;
    const char *path = httpd_file_how(rel, &how);
    int fd = uco_openat2(srv.rootfd, path, &how, sizeof how);
    if (fd >= 0) return httpd_file_check(fd, st);
    if (fd != -ENOSYS && fd != -EPERM) return fd;
    struct open_job j = {.rootfd = srv.rootfd, .rel = rel, .fd = -EIO};
    intptr_t r = uco_work(open_run, &j);
    *st = j.st; /* zeroed when the job did not run: gcc cannot see that *st is unused then */
    if (r < 0) return (int)r; /* cancelled: the job did not run, or its fd is ours to close */
    return j.fd;
}

static int status_for_open_error(int err)
{
    if (err == -EMFILE || err == -ENFILE || err == -ENOMEM) return 503;
    return httpd_status_for_errno(err);
}

/* The bytes the connection has sent so far (its counter, which a send that fails part-way
 * has advanced too). */
static uint64_t bytes_out(struct session *s)
{
    uco_conn_stats cs;
    return uco_conn_stats_get(s->conn, &cs) == 0 ? cs.bytes_out : 0;
}

/* Sends len bytes of fd from off in one uco_conn_sendfile, which the sweeper watches: when the
 * connection's bytes out do not move for the send timeout (the socket took nothing: the client
 * does not read), it times the task out (-ETIMEDOUT), which ends the send.
 * A slow reader is not held to a rate, as with nginx's send_timeout. (A deadline per 256 KiB,
 * the way before, made a sendfile(2) call per 256 KiB: 1.12x the server's CPU per 1 MiB answer
 * under CUBIC, see docs/BENCHMARKS.md.)
 * *sent: the bytes that went out (all of them, or as far as it got when it failed). */
static int send_file(struct session *s, int fd, uint64_t off, uint64_t len, uint64_t *sent)
{
    uint64_t base = bytes_out(s);
    s->out_mark = base;
    s->out_since = coarse_now();
    s->file_task = uco_task_self();
    ssize_t w = uco_conn_sendfile(s->conn, fd, (int64_t)off, (size_t)len);
    s->file_task = NULL;
    int e = 0;
    if (w < 0)
        e = s->stalled ? -ETIMEDOUT : (int)w;
    else if ((uint64_t)w < len) /* the file shrank under us: Content-Length was a lie */
        e = -EIO;
    uint64_t done = w > 0 ? (uint64_t)w : 0, counted = bytes_out(s) - base;
    *sent = e && counted > done ? counted : done; /* a failed send's part counts */
    return e;
}

/* Whether the head of a body of len bytes (more than MID_MAX) should wait to leave in the
 * body's first segment (MSG_MORE) rather than in a segment of its own. Measured over loopback
 * with wrk and 100 connections (docs/BENCHMARKS.md, "Static files: large bodies"): with
 * CUBIC, the wait paid at every size. With BBR, which paces its own sending when the device
 * has no fq queue (loopback has none), a head on its own before a body of 512 KiB or more made
 * the client's TCP work harder (zero windows, spurious retransmits) and wrk read 0.55-0.9x
 * the responses, but below 512 KiB the wait cost CPU (1.1-1.5x per response at 256 KiB, up
 * to 2x at 128 KiB) and responses. So it waits, except under BBR below 512 KiB. */
static bool head_waits(struct session *s, uint64_t len)
{
    if (len >= (512u << 10)) return true;
    if (s->paced < 0) { /* asked once per connection */
        char cc[16] = "";
        socklen_t n = sizeof cc - 1;
        int fd = uco_conn_fd(s->conn);
        s->paced = fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &n) == 0 &&
                   strncmp(cc, "bbr", 3) == 0;
    }
    return !s->paced;
}

/* Bodies up to MID_MAX that do not fit beside the head in the output go out in one send with
 * the output and the head, from a buffer of this thread's cache (no allocation per request in
 * steady state): one send where a head send and a sendfile would be two. */
#define MID_MAX (32u << 10) /* above it, uco_conn_sendfile sends a cached file cheaper */
#define MID_CAP (OUT_CAP + MID_MAX)
static _Thread_local char *mid_cache[16];
static _Thread_local unsigned mid_cached;

static void mid_put(char *b)
{
    if (mid_cached < sizeof mid_cache / sizeof mid_cache[0])
        mid_cache[mid_cached++] = b;
    else
        free(b);
}

void static_thread_end(void)
{
    while (mid_cached)
        free(mid_cache[--mid_cached]);
}

int static_serve(struct session *s, struct out *o, const httpd_request *req, const char *path,
                 bool keep_alive, int *written, uint64_t *body_bytes)
{
    *written = 0;
    *body_bytes = 0;
    char rel[4096 + 16];
    size_t plen = strlen(path);
    if (plen >= sizeof rel - 16) return 414;
    memcpy(rel, path, plen + 1);
    struct stat st;
    int fd = open_file(rel, &st);
    if (fd == -EISDIR) {
        if (rel[plen - 1] != '/') return 301; /* the caller redirects to path + "/" */
        memcpy(rel + plen, "index.html", sizeof "index.html");
        fd = open_file(rel, &st);
        if (fd == -EISDIR) fd = -ENOENT;
    }
    if (fd == -ECANCELED || fd == -ETIMEDOUT) return fd;
    if (fd < 0) return status_for_open_error(fd);

    char etag[HTTPD_ETAG_MAX];
    httpd_etag_format(etag, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (uint64_t)st.st_size);
    httpd_response r = {
        .status = 200,
        .version = req->version,
        .keep_alive = keep_alive,
        .server = SERVER_NAME,
        .date = srv.date.text,
        .content_type = httpd_mime_type(rel, strlen(rel)),
        .content_length = st.st_size,
        .last_modified = st.st_mtime,
        .etag = etag,
        .accept_ranges = true,
    };
    uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
    int pre = httpd_preconditions(req, st.st_mtime, etag);
    if (pre) {
        r.status = pre;
        r.content_length = pre == 304 ? -1 : 0;
        r.content_type = pre == 304 ? NULL : r.content_type;
    } else if (req->range.p && httpd_range_applies(req->if_range, st.st_mtime, etag)) {
        int rs = httpd_range_parse(req->range.p, req->range.len, size, &first, &last);
        if (rs == 200) { /* ignored: the whole file */
            first = 0;
        } else {
            r.status = rs;
            r.content_range = true;
            r.range_first = first;
            r.range_last = last;
            r.range_size = size;
            r.content_length = rs == 206 ? (int64_t)(last - first + 1) : 0;
        }
    }
    bool body = r.status != 304 && r.content_length > 0 && req->method != HTTPD_HEAD &&
                (r.status == 200 || r.status == 206);
    int e = 0;
    if (OUT_CAP - o->n < 1024) e = out_send(s, o);
    size_t n = e ? 0 : httpd_response_head(o->buf + o->n, OUT_CAP - o->n, &r);
    if (!e && !n) e = -EINVAL;
    if (!e && body && (uint64_t)r.content_length <= MID_MAX) {
        /* Up to MID_MAX the body goes out with the head in one send: in the output if it fits
         * beside it, else in a cached buffer after the output and the head. It is read before
         * anything is sent, so a failed (or short: the file shrank) read can still be a 500. */
        size_t ahead = o->n + n, len = (size_t)r.content_length;
        bool inside = len <= OUT_CAP - ahead;
        char *buf = inside ? o->buf : mid_cached ? mid_cache[--mid_cached] : malloc(MID_CAP);
        if (buf) {
            if (!inside) memcpy(buf, o->buf, ahead);
            ssize_t rd = uco_read_full(fd, buf + ahead, len, (int64_t)first);
            close(fd);
            if (rd >= 0 && (size_t)rd < len) rd = -EIO;
            if (rd < 0) {
                if (!inside) mid_put(buf);
                return rd == -ECANCELED || rd == -ETIMEDOUT ? (int)rd : 500;
            }
            *written = r.status;
            *body_bytes = len;
            if (inside) {
                o->n = ahead + len;
                return r.status;
            }
            uint64_t base = bytes_out(s);
            int64_t old = deadline_in(srv.cfg.send_timeout);
            ssize_t w = uco_conn_send_all(s->conn, buf, ahead + len);
            uco_deadline_set(old);
            mid_put(buf);
            o->n = 0;
            if (w < 0) { /* the body's part of what went out, for the log */
                uint64_t out = bytes_out(s) - base;
                *body_bytes = out > ahead ? out - ahead : 0;
                return (int)w;
            }
            return r.status;
        }
        /* out of memory for the buffer: the head and uco_conn_sendfile below */
    }
    if (!e) {
        o->n += n;
        *written = r.status;
        if (body) {
            e = head_waits(s, (uint64_t)r.content_length) ? out_send_more(s, o) : out_send(s, o);
            if (!e) e = send_file(s, fd, first, (uint64_t)r.content_length, body_bytes);
        }
    }
    close(fd);
    return e < 0 ? e : r.status;
}
