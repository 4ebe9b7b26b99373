/* uco-httpd, the program: what its files share.
 *
 *   server_main.c    options, threads (one loop each), the listener and its accept task, the
 *                    sweeper (idle timeouts), signals and the graceful shutdown
 *   server_conn.c    one connection: receive views, parse, answer, bodies, closing
 *   server_static.c  static files under --root
 *   server_log.c     the access log and the rate-limited error log
 *
 * Model. One loop per thread (--threads, default 1); a connection lives on the loop that
 * accepted it, so nothing below is shared between threads but the settings. A connection with no
 * input holds no task: its session waits in the idle list with uco_conn_recv_spawn() armed, costing
 * the session and the uco_conn (well under 1 KiB). Input starts a task that answers every request
 * it finds, queues the answers out in one send, arms the spawn again and ends. A task waits inside
 * a request only when its bytes are incomplete (head split across receives, body still coming) or
 * when it sends a file; each such wait has a deadline (header timeout, body timeout, send timeout).
 * Idle sessions are timed out by the sweeper, which shuts their socket down so that their own task
 * (spawned by the end of stream) closes them: a session is only ever freed by its own task, never
 * under the feet of one about to start.
 */
#ifndef UCO_HTTPD_SERVER_H
#define UCO_HTTPD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <uco.h>

#include "http.h"

#define SERVER_NAME "uco-httpd"

/* Settings from the command line. */
struct config {
    const char *bind;
    long port;
    const char *root; /* NULL: no static files */
    const char *access_log;
    unsigned threads;
    int64_t header_timeout; /* ns: a request head must be complete within it */
    int64_t body_timeout;   /* ns: longest wait for the next bytes of a body */
    int64_t idle_timeout;   /* ns: keep-alive connection with no request */
    int64_t send_timeout;   /* ns: longest a connection may make no progress sending */
    int64_t drain_timeout;  /* ns: how long a graceful shutdown waits for in-flight requests */
    httpd_limits limits;
    bool stats; /* print the loop's counters at exit */
};

enum session_state {
    SESSION_IDLE,   /* no task: waiting for input (uco_conn_recv_spawn armed) */
    SESSION_ACTIVE, /* its task runs (or is about to) */
};

/* One connection. Kept small: an idle keep-alive connection is this plus its uco_conn. */
struct session {
    uco_conn *conn;
    struct session *prev, *next; /* in the idle or the active list */
    int64_t idle_since;          /* coarse_now() when it went idle */
    uint64_t id;
    char *head;          /* a request head split across receives (NULL: none) */
    uint32_t head_len;   /* bytes in head */
    uint16_t refs;       /* the sweeper's hold while it shuts the socket down */
    uint64_t out_mark;   /* bytes sent when out_since was taken (idle with output queued, or
                            sending a file) */
    int64_t out_since;   /* coarse_now() of the last send progress seen then */
    uco_task *file_task; /* sending a file (NULL: not): the sweeper watches its progress */
    bool stalled;        /* timed out by the sweeper: the file made no progress */
    uint8_t state;       /* enum session_state */
    bool swept;          /* already shut down by the sweeper or the drain */
    bool shed;           /* shut down by the shedder (sessions_shed) */
    int64_t shed_since;  /* the shedder's stall clock: when it first saw these buffers held with
                            no send progress (0: not seen since the last state change) */
    uint64_t shed_mark;  /* bytes_out then */
    bool dead;           /* closed: freed once refs is 0 */
    int8_t paced;        /* its TCP congestion control is BBR (1), another (0), not asked (-1) */
    char *peer;          /* "addr:port" for the access log, or NULL */
    httpd_parser parser;
};

/* One loop's server state: each thread has its own (srv is thread-local), copied at its start
 * from the settings main() prepared. */
struct server {
    struct config cfg;
    int rootfd;        /* -1: no static files */
    bool draining;     /* graceful shutdown: finish what is in flight, keep nothing alive */
    bool want_peers;   /* the access log needs peer addresses */
    uint64_t accepted; /* connections this loop took */
    uint64_t shed;     /* connections closed by sessions_shed */
    uco_bufpool *pool; /* the receive buffers (NULL: the loop's default pool, not watched) */
    unsigned nsessions;
    struct session *idle_head, *idle_tail; /* oldest idle first */
    struct session *active;
    httpd_date_cache date;
    httpd_canned canned;
    uco_task_opts task_opts;
};

extern _Thread_local struct server srv;

/* A connection number unique in the process (for log lines). */
uint64_t next_conn_id(void);

/* server_conn.c */
/* Frees what the calling thread cached (at its end). */
void conn_thread_end(void);
/* Frees the thread's cached static-file buffers (server_static.c). */
void static_thread_end(void);
/* Takes an accepted connection: makes its session and waits for its input. Returns 0 or
 * -errno (the caller closes c). */
int conn_start(uco_conn *c);
/* List handling shared with the sweeper. */
void session_unlink(struct session *s);
void session_release(struct session *s);
/* Shuts s's socket down so that its task sees the end of the stream and closes it. Awaits. */
void session_shutdown(struct session *s);
/* CLOCK_MONOTONIC at the kernel tick's resolution (a few ms), cheaper than uco_now(). */
int64_t coarse_now(void);
/* Shuts down every idle session that went idle before idle_before (coarse_now()). Awaits. */
void sessions_shutdown_idle(int64_t idle_before);
/* Shuts down every idle session whose queued answers made no progress for the send timeout,
 * and times out (its task's deadline: now) every session whose file made none (a client that
 * does not read). Awaits. */
void sessions_shutdown_stalled(void);
/* Pressure shedding. Clients that send but never read hold receive buffers (at most
 * CONN_MAX_BUFS each) until the send timeout; enough of them hold the whole shared pool, and
 * then nobody's receive gets a buffer. So when fewer than 1/SHED_LOW_DIV of the pool's buffers
 * are free, or a receive waits for one, the sessions that hold buffers while their answers made
 * no send progress for SHED_GRACE are shut down, the longest stalled first, until the pool is
 * back above that mark (with a buffer for each waiting receive). A slow reader whose answers
 * move is never taken. Returns how many were shut down. Awaits. */
#define SHED_LOW_DIV 8
#define SHED_GRACE   UCO_SEC
unsigned sessions_shed(uco_bufpool *pool);
/* Shuts down every session still active (the end of a graceful shutdown that ran out of time);
 * returns how many. Awaits. */
unsigned sessions_shutdown_all(void);

/* The output of one task: responses are formatted here, then sent in one piece. */
#define OUT_CAP 8192
struct out {
    size_t n;
    char buf[OUT_CAP];
};

/* server_static.c */
/* Answers a GET or HEAD for decoded path `path` under the root: formats the head into o
 * (and, for a body, sends o and then the file), setting *written to the status it wrote (0:
 * none) and *body_bytes to the bytes of the file sent; keep_alive false says "Connection:
 * close" (the caller's decision, not just the request's). Returns the status, or -errno when the
 * connection failed and must be closed (*written and *body_bytes then say how far the answer
 * got: a client that resets or stops reading mid-file still gets its log line). Statuses it
 * does not write (*written 0) are for the caller to answer: 301 (a directory: redirect to
 * path + "/"), 403, 404, 414, 500, 503. Awaits. */
int static_serve(struct session *s, struct out *o, const httpd_request *req, const char *path,
                 bool keep_alive, int *written, uint64_t *body_bytes);
/* Sends o's bytes now (awaits, with the send deadline): 0 or -errno. */
int out_send(struct session *s, struct out *o);
/* The same with MSG_MORE (uco_conn_send_more): for a head the body follows at once. */
int out_send_more(struct session *s, struct out *o);
/* Sets the calling task's deadline to now + ns; returns the previous one. */
int64_t deadline_in(int64_t ns);

/* server_log.c */
/* Opens the access log (path "-" is stdout). 0 or -errno. */
int access_log_open(const char *path);
bool access_log_on(void);
/* Adds one line for a request answered with status (req may be NULL: nothing parsed). */
void access_log(const struct session *s, const httpd_request *req, int status, uint64_t bytes);
/* Writes what is buffered. Awaits. */
void access_log_flush(void);
/* Writes what the calling thread has buffered with blocking writes (at its end, outside the
 * loop) and frees its buffers. */
void access_log_thread_end(void);
/* Closes the access log (at exit, after every thread ended). */
void access_log_close(void);
/* One line on stderr about connection s (rate-limited: at most 10 a second, then a count). */
void conn_log(const struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
