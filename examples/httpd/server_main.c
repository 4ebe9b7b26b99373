/* uco-httpd: an HTTP/1.1 server on uco (io_uring), one loop per thread (--threads N, default
 * 1: each thread has its own loop and its own SO_REUSEPORT listener on the same address, and
 * the kernel spreads new connections over them; a connection stays on its thread).
 *
 *   uco-httpd [--bind ADDR] [--port N] [--root DIR] [--access-log FILE] [options]
 *
 * Serves GET/HEAD /plaintext and /json (the usual benchmark answers), POST/PUT /echo (the
 * request body comes back), and with --root the files under DIR. Keep-alive and pipelining;
 * the strict parser of http.h (400, 413, 414, 431, 501, 505 as they apply); timeouts for
 * heads, bodies, sends and idle connections; SIGINT/SIGTERM stop accepting, let the requests
 * in flight finish and exit 0 (a second signal exits at once). Prints "uco-httpd: listening
 * on ADDR" on stdout once it accepts connections. See server.h for the design. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define RECV_BUFS     1024u
#define RECV_BUF_SIZE 4096u
/* Buffers one connection may hold: its view, and answers queued out (the library counts them
 * alike, and stops receiving at the cap). A client that pipelines without reading is thus
 * parked at 2 buffers, its requests left in its socket (TCP's window closes on it), until it
 * reads or the send timeout closes it: 512 of them to empty the pool, not 128 (at the
 * library's default of 8). Before they do, the sweeper sheds them (sessions_shed): stalled
 * holders go once the pool runs short, so the others keep getting buffers. */
#define CONN_MAX_BUFS 2u

#define MAX_THREADS 64

/* One thread's loop. */
struct worker {
    unsigned index;
    pthread_t thread;
    uco_addr addr;  /* where to listen (thread 0 learns the port for the others) */
    uco_loop *loop; /* while it may be stopped by a signal (under loops_lock) */
    int status;     /* exit status: 0, or 1 if it could not start */
};

_Thread_local struct server srv;
static struct server proto; /* what every thread's srv starts from */
static struct worker workers[MAX_THREADS];
static unsigned nthreads = 1; /* asked for */
static unsigned nstarted = 1; /* started (threads 1.. are joined at exit) */
static _Atomic uint64_t conn_ids;
static _Atomic unsigned listeners_ready; /* threads whose listener is open (or failed) */
static _Atomic unsigned signals;         /* SIGINT/SIGTERM received so far */
/* Guards every worker's loop pointer: the signal thread stops the loops it finds there, and a
 * worker takes its loop out before freeing it, so no loop is stopped after it is freed. */
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct worker *self;
static _Thread_local uco_listener *listener;
static _Thread_local uco_task *accept_handle, *sweeper_handle;
static char listen_name[UCO_ADDR_STRLEN];

uint64_t next_conn_id(void)
{
    return atomic_fetch_add_explicit(&conn_ids, 1, memory_order_relaxed) + 1;
}

/* ---- tasks ------------------------------------------------------------------------------- */

/* Takes connections until cancelled. Running out of descriptors is said once per episode (the
 * listener pauses and retries by itself); the connections already open are served as usual. */
static intptr_t accept_task(void *arg)
{
    (void)arg;
    for (;;) {
        uco_conn *c;
        int r = uco_listener_accept(listener, &c);
        if (r == -ECANCELED || r == -EBADF) break;
        if (r < 0) {
            /* ENFILE also means the loop's io_uring descriptor table (as big as RLIMIT_NOFILE
             * allowed) is full: say so, an operator would look at fs.file-max instead. */
            fprintf(stderr,
                    "%s: accept on %s: %s%s; pausing new connections, serving the open ones\n",
                    SERVER_NAME, listen_name, strerror(-r),
                    r == -ENFILE ? " (or this loop's io_uring descriptor table is full)" : "");
            continue;
        }
        r = conn_start(c);
        if (r < 0) {
            fprintf(stderr, "%s: starting a connection: %s; closed it\n", SERVER_NAME,
                    strerror(-r));
            uco_conn_close(c);
        }
    }
    uco_listener_close(listener); /* stop accepting: the port is free from here on */
    listener = NULL;
    return 0;
}

/* How often the sweeper looks at the receive pool (a read of its counters when all is well). */
#define SHED_TICK (100 * UCO_MSEC)

/* Times out idle connections and writes the access log, a few times per idle timeout; sheds
 * stalled connections whenever the receive pool runs short. */
static intptr_t sweeper_task(void *arg)
{
    (void)arg;
    int64_t tick = (srv.cfg.send_timeout < srv.cfg.idle_timeout ? srv.cfg.send_timeout
                                                                : srv.cfg.idle_timeout) /
                   4;
    if (tick > UCO_SEC) tick = UCO_SEC;
    if (tick < 10 * UCO_MSEC) tick = 10 * UCO_MSEC;
    int64_t step = tick < SHED_TICK ? tick : SHED_TICK;
    int64_t last_flush = uco_now(), last_sweep = last_flush;
    while (uco_sleep(step) == 0) {
        sessions_shed(srv.pool);
        int64_t now = uco_now();
        if (now - last_sweep < tick) continue;
        last_sweep = now;
        sessions_shutdown_idle(coarse_now() - srv.cfg.idle_timeout);
        sessions_shutdown_stalled();
        if (now - last_flush >= UCO_SEC) {
            access_log_flush();
            last_flush = now;
        }
    }
    return 0;
}

/* The graceful shutdown: no new connections (the accept task is cancelled), idle ones closed,
 * requests in flight answered (with "Connection: close"), for at most the drain timeout. */
static intptr_t drain_task(void *arg)
{
    (void)arg;
    srv.draining = true;
    sessions_shutdown_idle(INT64_MAX);
    int64_t until = uco_now() + srv.cfg.drain_timeout;
    while (srv.nsessions && uco_now() < until)
        uco_sleep(5 * UCO_MSEC);
    if (srv.nsessions) {
        fprintf(stderr, "%s: %u connections still busy after the drain timeout; closing them\n",
                SERVER_NAME, srv.nsessions);
        sessions_shutdown_all();
        until = uco_now() + UCO_SEC;
        while (srv.nsessions && uco_now() < until)
            uco_sleep(5 * UCO_MSEC);
    }
    access_log_flush();
    if (srv.nsessions) uco_loop_stop(self->loop); /* give up: the process ends */
    return 0;
}

static void *thread_main(void *arg);

/* Starts threads 1.. once thread 0 knows the port (SIGINT and SIGTERM are blocked in every
 * thread: the signal thread takes them). Returns how many could start. */
static unsigned start_threads(const uco_addr *bound)
{
    unsigned n = 1;
    for (; n < nthreads; n++) {
        workers[n].addr = *bound;
        int r = pthread_create(&workers[n].thread, NULL, thread_main, &workers[n]);
        if (r) {
            fprintf(stderr, "%s: starting thread %u: %s; going on with %u\n", SERVER_NAME, n,
                    strerror(r), n);
            break;
        }
    }
    return n;
}

/* Opens the listener, says where, and becomes the accept task. */
static intptr_t start_task(void *arg)
{
    struct worker *w = arg;
    char name[UCO_ADDR_STRLEN];
    uco_addr_format(&w->addr, name, sizeof name);
    uco_listen_opts lo = {.backlog = 0, .conn = {.max_bufs = CONN_MAX_BUFS}};
    if (nthreads > 1) lo.flags |= UCO_LISTEN_REUSEPORT;
    /* The access log names peers: regular descriptors have an address to ask for. */
    if (srv.want_peers) lo.flags |= UCO_LISTEN_FDS;
    /* Receive buffers: requests are small, and the ring hands its buffers out in turn, so the
     * pool's size is the memory every request walks through: 1024 x 4 KiB (4 MiB) stays in
     * the caches where the default 1024 x 16 KiB does not (measured: ~10 % less CPU per request
     * at 500 connections). Larger heads and bodies span several buffers. */
    if (uco_bufpool_new(&lo.conn.pool, NULL, RECV_BUFS, RECV_BUF_SIZE) < 0)
        lo.conn.pool = NULL; /* the loop's default pool then */
    int r = uco_listener_open(&listener, &w->addr, &lo);
    srv.pool = lo.conn.pool; /* kept (for the shedder) until the loop ends */
    if (r < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", SERVER_NAME, name, strerror(-r));
    } else {
        uco_task_opts so = {.name = "sweeper"};
        r = uco_spawn_opts(&sweeper_handle, sweeper_task, NULL, &so);
        if (r < 0) {
            fprintf(stderr, "%s: starting the sweeper: %s\n", SERVER_NAME, strerror(-r));
            uco_listener_close(listener);
        }
    }
    if (r < 0) w->status = 1;
    atomic_fetch_add(&listeners_ready, 1);
    if (r < 0) return r;
    if (w->index == 0) {
        uco_addr bound;
        uco_listener_addr(listener, &bound);
        uco_addr_format(&bound, listen_name, sizeof listen_name);
        nstarted = start_threads(&bound);
        /* "listening" once every thread listens (or gave up): a client that connects then may
         * be given to any of them. */
        for (int i = 0; i < 5000 && atomic_load(&listeners_ready) < nstarted; i++)
            uco_sleep(UCO_MSEC);
        printf("%s: listening on %s\n", SERVER_NAME, listen_name);
        fflush(stdout);
    }
    return accept_task(NULL);
}

/* ---- the command line ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s [--bind ADDR] [--port N] [--root DIR] [--access-log FILE] [options]\n"
        "An HTTP/1.1 server on uco (io_uring): keep-alive, pipelining, static files.\n"
        "  --bind ADDR           address to listen on: 127.0.0.1, ::1, [::1]:8080,\n"
        "                        unix:/path (default 127.0.0.1)\n"
        "  --port N              port, 0 for any free one (default 8080; a port in ADDR wins)\n"
        "  --root DIR            serve the files under DIR (default: none)\n"
        "  --access-log FILE     one line per request (Common Log Format); '-' is stdout\n"
        "  --threads N           N threads, each with its own loop and SO_REUSEPORT\n"
        "                        listener on ADDR (an IP address; default 1)\n"
        "  --header-timeout S    a request head must arrive within S seconds (default 10)\n"
        "  --body-timeout S      longest wait for more of a request body (default 30)\n"
        "  --idle-timeout S      keep-alive connections idle this long are closed (default 60)\n"
        "  --send-timeout S      a connection whose answers make no progress this long (the\n"
        "                        client does not read) is closed (default 10, at most the\n"
        "                        idle timeout)\n"
        "  --drain-timeout S     on SIGINT/SIGTERM, how long requests in flight may take to\n"
        "                        finish (default 10)\n"
        "  --max-body BYTES      largest request body (default 1048576): above it, 413\n"
        "  --stats               print the loop's counters on stderr at exit\n"
        "  --help                this text\n"
        "Endpoints: GET/HEAD /plaintext and /json; POST/PUT /echo answers with the request\n"
        "body; other paths are files under --root (404 without one).\n",
        SERVER_NAME);
}

/* Seconds (a decimal, e.g. 0.25) into nanoseconds; false if malformed or out of range. */
static bool parse_secs(const char *s, int64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v <= 0 || v > 86400 * 365) return false;
    *out = (int64_t)(v * 1e9);
    return *out > 0;
}

/* Returns 0 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *secs = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(a, "--stats") == 0) {
            cfg->stats = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", SERVER_NAME, a);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--bind") == 0) {
            cfg->bind = v;
        } else if (strcmp(a, "--port") == 0) {
            char *end;
            cfg->port = strtol(v, &end, 10);
            if (!*v || *end || cfg->port < 0 || cfg->port > 65535) {
                fprintf(stderr, "%s: bad port '%s': expected 0..65535\n", SERVER_NAME, v);
                return 2;
            }
        } else if (strcmp(a, "--root") == 0) {
            cfg->root = v;
        } else if (strcmp(a, "--threads") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > MAX_THREADS) {
                fprintf(stderr, "%s: bad --threads '%s': expected 1..%d\n", SERVER_NAME, v,
                        MAX_THREADS);
                return 2;
            }
            cfg->threads = (unsigned)n;
        } else if (strcmp(a, "--access-log") == 0) {
            cfg->access_log = v;
        } else if (strcmp(a, "--max-body") == 0) {
            char *end;
            unsigned long long n = strtoull(v, &end, 10);
            if (!*v || *end || *v == '-') {
                fprintf(stderr, "%s: bad --max-body '%s': expected a byte count\n", SERVER_NAME, v);
                return 2;
            }
            cfg->limits.max_body = n ? n : 1;
        } else if (strcmp(a, "--header-timeout") == 0) {
            secs = &cfg->header_timeout;
        } else if (strcmp(a, "--body-timeout") == 0) {
            secs = &cfg->body_timeout;
        } else if (strcmp(a, "--idle-timeout") == 0) {
            secs = &cfg->idle_timeout;
        } else if (strcmp(a, "--send-timeout") == 0) {
            secs = &cfg->send_timeout;
        } else if (strcmp(a, "--drain-timeout") == 0) {
            secs = &cfg->drain_timeout;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", SERVER_NAME, a);
            usage(stderr);
            return 2;
        }
        if (secs && !parse_secs(v, secs)) {
            fprintf(stderr, "%s: bad %s '%s': expected seconds, e.g. 10 or 0.5\n", SERVER_NAME, a,
                    v);
            return 2;
        }
    }
    return 0;
}

static void print_stats(uco_loop *loop)
{
    uco_loop_stats st;
    if (uco_loop_stats_get(loop, &st) < 0) return;
    char who[32] = "";
    if (nthreads > 1) snprintf(who, sizeof who, " thread %u", self->index);
    fprintf(stderr,
            "%s:%s loop (%s): %llu turns, %llu io_uring_enter, %llu SQEs, %llu CQEs, %llu task "
            "switches, %llu tasks started, %llu CQ overflows; %llu connections, %llu shed\n",
            SERVER_NAME, who, uco_ring_mode_name(st.ring_mode), (unsigned long long)st.turns,
            (unsigned long long)st.enters, (unsigned long long)st.sqes, (unsigned long long)st.cqes,
            (unsigned long long)st.switches, (unsigned long long)st.tasks_spawned,
            (unsigned long long)st.cq_overflows, (unsigned long long)srv.accepted,
            (unsigned long long)srv.shed);
}

/* Takes SIGINT and SIGTERM (blocked everywhere else) and stops every loop. A thread, not a
 * handler: a handler could run while a worker frees its loop, and stop it after the free. */
static void *signal_thread(void *arg)
{
    const sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0) continue;
        pthread_mutex_lock(&loops_lock);
        atomic_fetch_add(&signals, 1);
        for (unsigned i = 0; i < MAX_THREADS; i++) /* a loop not made yet sees `signals` */
            if (workers[i].loop) uco_loop_stop(workers[i].loop);
        pthread_mutex_unlock(&loops_lock);
    }
    return NULL;
}

/* Makes w's loop reachable by the signal thread (loop) or not (NULL). Returns whether a signal
 * came before: then the loop must stop at once, as nobody else will stop it. */
static bool publish_loop(struct worker *w, uco_loop *loop)
{
    pthread_mutex_lock(&loops_lock);
    w->loop = loop;
    bool signalled = atomic_load(&signals) != 0;
    pthread_mutex_unlock(&loops_lock);
    return signalled;
}

/* Runs one thread's loop: serve until a signal, then the graceful shutdown. */
static void run_worker(struct worker *w)
{
    self = w;
    srv = proto;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    httpd_date_cache_set(&srv.date, ts.tv_sec);
    httpd_canned_init(&srv.canned, SERVER_NAME, srv.date.text);
    uco_loop *loop;
    int r = uco_loop_new(&loop, NULL);
    if (r < 0) {
        char why[512];
        fprintf(stderr, "%s: cannot start io_uring: %s\n", SERVER_NAME,
                uco_diagnose(r, why, sizeof why));
        w->status = 1;
        return;
    }
    bool signalled = publish_loop(w, loop);
    r = uco_loop_spawn(loop, &accept_handle, start_task, w, &(uco_task_opts){.name = "accept"});
    if (r == 0 && signalled) uco_loop_stop(loop); /* a signal came before the loop was known */
    if (r == 0) r = uco_loop_run(loop);
    if (r == 1 && atomic_load(&signals) == 1) {
        uco_task_cancel(accept_handle);
        if (sweeper_handle) uco_task_cancel(sweeper_handle);
        r = uco_loop_spawn(loop, NULL, drain_task, NULL, &(uco_task_opts){.name = "drain"});
        if (r == 0) r = uco_loop_run(loop);
    }
    if (r < 0) fprintf(stderr, "%s: loop: %s\n", SERVER_NAME, strerror(-r));
    if (srv.cfg.stats) print_stats(loop);
    access_log_thread_end();
    if (srv.nsessions == 0) {
        publish_loop(w, NULL); /* no signal reaches it from here on */
        uco_task_detach(accept_handle);
        if (sweeper_handle) uco_task_detach(sweeper_handle);
        uco_bufpool_free(srv.pool); /* the listener and the connections are gone */
        srv.pool = NULL;
        uco_loop_free(loop);
        conn_thread_end();
        static_thread_end();
    } /* else: connections that would not end (a second signal); the process exits anyway */
}

static void *thread_main(void *arg)
{
    run_worker(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    struct config *cfg = &proto.cfg;
    cfg->bind = "127.0.0.1";
    cfg->port = 8080;
    cfg->threads = 1;
    cfg->header_timeout = 10 * UCO_SEC;
    cfg->body_timeout = 30 * UCO_SEC;
    cfg->idle_timeout = 60 * UCO_SEC;
    cfg->send_timeout = 0; /* below: 10 s, at most the idle timeout */
    cfg->drain_timeout = 10 * UCO_SEC;
    httpd_limits_default(&cfg->limits);
    int r = parse_args(argc, argv, cfg);
    if (r) return r < 0 ? 0 : r;
    nthreads = cfg->threads;
    if (!cfg->send_timeout) cfg->send_timeout = 10 * UCO_SEC;
    if (cfg->send_timeout > cfg->idle_timeout) cfg->send_timeout = cfg->idle_timeout;

    if (uco_addr_parse(&workers[0].addr, cfg->bind, (uint16_t)cfg->port) < 0) {
        fprintf(stderr, "%s: bad address '%s': expected IPv4, [IPv6]:port or unix:/path\n",
                SERVER_NAME, cfg->bind);
        return 2;
    }
    for (unsigned i = 0; i < MAX_THREADS; i++)
        workers[i].index = i;
    proto.rootfd = -1;
    if (cfg->root) {
        proto.rootfd = httpd_root_open(cfg->root);
        if (proto.rootfd < 0) {
            fprintf(stderr, "%s: root '%s': %s\n", SERVER_NAME, cfg->root, strerror(-proto.rootfd));
            return 1;
        }
    }
    if (cfg->access_log) {
        r = access_log_open(cfg->access_log);
        if (r < 0) {
            fprintf(stderr, "%s: access log '%s': %s\n", SERVER_NAME, cfg->access_log,
                    strerror(-r));
            return 1;
        }
        proto.want_peers = true;
    }
    /* Connection tasks run only while there is input; their stacks are pooled. (No name: it
     * would be copied at every task start.) */
    proto.task_opts = (uco_task_opts){.stack_size = 0};

    long lim = uco_nofile_raise();
    if (lim < 0)
        fprintf(stderr, "%s: raising RLIMIT_NOFILE: %s\n", SERVER_NAME, strerror((int)-lim));
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts (every thread inherits the mask), taken by sigwait. */
    static sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    pthread_t sig_thread;
    r = pthread_create(&sig_thread, NULL, signal_thread, &stop_signals);
    if (r) {
        fprintf(stderr, "%s: starting the signal thread: %s\n", SERVER_NAME, strerror(r));
        return 1;
    }

    run_worker(&workers[0]); /* starts the other threads once it listens */
    int status = workers[0].status;
    for (unsigned i = 1; i < nstarted; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].status) status = workers[i].status;
    }
    unsigned nsig = atomic_load(&signals);
    if (nsig > 1) fprintf(stderr, "%s: second signal: stopping now\n", SERVER_NAME);
    access_log_close();
    return status ? status : nsig > 1 ? 1 : 0;
}
