/* uco-echo: a TCP echo server on uco. One task per connection: receive a buffer, queue that
 * same buffer to be sent back.
 *
 *   uco-echo [--bind ADDR] [--port N] [--lean]     (defaults 127.0.0.1 and 7000)
 *
 * Prints "uco-echo: listening on ADDR" on stdout once it accepts connections. A connection
 * that fails (reset, error) is closed and logged in one line; running out of descriptors
 * is logged once and accepting pauses; everyone else keeps being served. SIGINT/SIGTERM stop
 * it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uco.h>

static const char *prog = "uco-echo";
static uco_loop *loop;
static uint64_t next_conn_id;

/* At most this many error lines per second, so a flood of bad clients cannot flood the log. */
#define LOG_PER_SEC 10

static void log_conn_error(uint64_t id, const char *op, int err)
{
    static int64_t window;
    static unsigned lines, dropped;
    int64_t now = uco_now();
    if (now - window >= UCO_SEC) {
        if (dropped) fprintf(stderr, "%s: %u more connection errors not shown\n", prog, dropped);
        window = now;
        lines = dropped = 0;
    }
    if (lines++ >= LOG_PER_SEC) {
        dropped++;
        return;
    }
    fprintf(stderr, "%s: connection %llu: %s: %s; closed it\n", prog, (unsigned long long)id, op,
            strerror(-err));
}

/* Live connections, so that a signal can end them all and the loop can end cleanly. */
struct session {
    uco_conn *conn;
    uco_task *task; /* its task; lean mode: none (a task runs only while there is input) */
    uint64_t id;
    unsigned refs; /* held by end_sessions across its awaits */
    bool dead;     /* ended while held: freed by the last holder */
    struct session *prev, *next;
};
static struct session *sessions;
static bool lean;
static const uco_task_opts lean_opts = {.stack_size = 32 * 1024, .name = "echo"};

static void session_end(struct session *s)
{
    uco_conn_close(s->conn);
    if (s->prev)
        s->prev->next = s->next;
    else
        sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    if (s->task) uco_task_detach(s->task);
    s->dead = true;
    if (!s->refs) free(s);
}

/* One task per connection for its whole life: receive a buffer, queue that same buffer out
 * (no copy, and no waiting for the send: the connection sends its queue in order and gives
 * each buffer back once it is out). */
static intptr_t serve(void *arg)
{
    struct session *s = arg;
    uco_buf b;
    ssize_t n;
    while ((n = uco_conn_recv_buf(s->conn, &b)) > 0) {
        ssize_t w = uco_conn_send_buf(s->conn, &b);
        if (w < 0) {
            log_conn_error(s->id, "send", (int)w);
            break;
        }
    }
    if (n < 0 && n != -ECANCELED) log_conn_error(s->id, "recv", (int)n);
    session_end(s);
    return 0;
}

/* Lean mode: a task starts when input arrives, echoes what is there and ends; an idle
 * connection holds no task and no stack. */
static intptr_t serve_lean(void *arg)
{
    struct session *s = arg;
    uco_buf b;
    ssize_t n = uco_conn_recv_buf(s->conn, &b); /* input is there: no waiting */
    const char *op = "recv";
    if (n > 0) {
        op = "send";
        n = uco_conn_send_buf(s->conn, &b);
        if (n >= 0) {
            op = "wait";
            n = uco_conn_recv_spawn(s->conn, serve_lean, s, &lean_opts);
            if (n == 0) return 0;
        }
    }
    if (n < 0) log_conn_error(s->id, op, (int)n);
    session_end(s);
    return 0;
}

/* Ends every session through its own task, which frees it: a lean session's task may
 * already be queued to start (its input arrived), so freeing it from here would leave that
 * task a dangling session. Shutting the socket down gives every lean session end of stream,
 * which starts (or is met by) its task; a task-per-connection session is cancelled. */
static void end_sessions(void)
{
    if (!lean) {
        for (struct session *s = sessions; s; s = s->next)
            uco_task_cancel(s->task);
        return;
    }
    /* Sessions end (and would be freed) during the awaits of the shutdowns: hold them. */
    size_t n = 0, k = 0;
    for (struct session *s = sessions; s; s = s->next)
        n++;
    struct session **v = n ? malloc(n * sizeof *v) : NULL;
    for (struct session *s = sessions; v && s; s = s->next) {
        s->refs++;
        v[k++] = s;
    }
    for (size_t i = 0; i < k; i++) {
        if (!v[i]->dead) uco_conn_shutdown(v[i]->conn, SHUT_RDWR);
        if (--v[i]->refs == 0 && v[i]->dead) free(v[i]);
    }
    free(v);
    /* Lean sessions have no task to keep the loop running until they are gone: wait here.
     * Bounded: whatever is left after the linger time is closed by force. */
    int64_t give_up = uco_now() + UCO_CONN_LINGER + UCO_SEC;
    while (sessions && uco_now() < give_up)
        uco_sleep(2 * UCO_MSEC);
    while (sessions)
        session_end(sessions);
}

/* Gives connection c its session and its task (or, lean, its wait for input). */
static int session_start(uco_conn *c)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->conn = c;
    s->id = ++next_conn_id;
    int r = lean ? uco_conn_recv_spawn(c, serve_lean, s, &lean_opts)
                 : uco_spawn_opts(&s->task, serve, s, &lean_opts);
    if (r < 0) {
        free(s);
        return r;
    }
    s->next = sessions;
    if (sessions) sessions->prev = s;
    sessions = s;
    return 0;
}

struct server_args {
    uco_addr addr;
    int status;
};

static intptr_t server(void *arg)
{
    struct server_args *sa = arg;
    char name[UCO_ADDR_STRLEN];
    uco_addr_format(&sa->addr, name, sizeof name);
    uco_listener *l;
    int r = uco_listener_open(&l, &sa->addr, NULL);
    if (r < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", prog, name, strerror(-r));
        sa->status = 1;
        return r;
    }
    uco_addr bound;
    uco_listener_addr(l, &bound);
    uco_addr_format(&bound, name, sizeof name);
    printf("%s: listening on %s\n", prog, name);
    fflush(stdout);
    for (;;) {
        uco_conn *c;
        r = uco_listener_accept(l, &c);
        if (r == -ECANCELED) break;
        if (r < 0) {
            /* Out of descriptors: said once; the listener pauses before accepting again. */
            /* ENFILE also means the loop's io_uring descriptor table (as big as RLIMIT_NOFILE
             * allowed) is full: say so, an operator would look at fs.file-max instead. */
            fprintf(stderr, "%s: accept on %s: %s%s; pausing accepts\n", prog, name, strerror(-r),
                    r == -ENFILE ? " (or this loop's io_uring descriptor table is full)" : "");
            continue;
        }
        r = session_start(c);
        if (r < 0) {
            fprintf(stderr, "%s: starting a connection's task: %s; closed it\n", prog,
                    strerror(-r));
            uco_conn_close(c);
        }
    }
    uco_listener_close(l);
    return 0;
}

/* After a signal: stops the server (cancelled, so its awaits all return at once) and then,
 * from this task, which is not cancelled and can still wait, ends every session. */
static intptr_t stopper(void *arg)
{
    uco_task *server_task = arg;
    uco_task_cancel(server_task);
    uco_task_join(server_task, NULL);
    end_sessions();
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    uco_loop_stop(loop);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [--bind ADDR] [--port N] [--lean]\n"
            "A TCP echo server on uco (io_uring).\n"
            "  --bind ADDR  address to listen on: 127.0.0.1, ::1, [::1]:7000, unix:/path\n"
            "               (default 127.0.0.1)\n"
            "  --port N     port, 0 for any free one (default 7000; a port in ADDR wins)\n"
            "  --lean       run a task only while a connection has input: idle connections\n"
            "               then cost no task stack (less memory, a little more CPU)\n"
            "  --help       this text\n",
            prog);
}

int main(int argc, char **argv)
{
    const char *bind = "127.0.0.1";
    long port = 7000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--lean") == 0) {
            lean = true;
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "%s: bad port '%s': expected 0..65535\n", prog, argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog, argv[i]);
            usage(stderr);
            return 2;
        }
    }
    struct server_args sa = {.status = 0};
    if (uco_addr_parse(&sa.addr, bind, (uint16_t)port) < 0) {
        fprintf(stderr, "%s: bad address '%s': expected IPv4, [IPv6]:port or unix:/path\n", prog,
                bind);
        return 2;
    }
    long lim = uco_nofile_raise();
    if (lim < 0) fprintf(stderr, "%s: raising RLIMIT_NOFILE: %s\n", prog, strerror((int)-lim));
    signal(SIGPIPE, SIG_IGN);

    int r = uco_loop_new(&loop, NULL);
    if (r < 0) {
        char why[512];
        fprintf(stderr, "%s: cannot start io_uring: %s\n", prog, uco_diagnose(r, why, sizeof why));
        return 1;
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    uco_task *main_task;
    r = uco_loop_spawn(loop, &main_task, server, &sa, NULL);
    if (r < 0) {
        fprintf(stderr, "%s: starting: %s\n", prog, strerror(-r));
        return 1;
    }
    r = uco_loop_run(loop);
    if (r == 1) {
        /* Stopped by a signal: stop accepting and let every connection close. */
        r = uco_loop_spawn(loop, NULL, stopper, main_task, NULL);
        if (r == 0) r = uco_loop_run(loop);
    }
    if (r < 0) fprintf(stderr, "%s: loop: %s\n", prog, strerror(-r));
    uco_loop_free(loop);
    return sa.status;
}
