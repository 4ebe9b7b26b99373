/* uco-httpd: the access log (Common Log Format, one line per answer) and the error lines on
 * stderr.
 *
 * Access log lines go into one of two buffers; a writer task writes a full one with
 * uco_write_all (the loop never blocks on the disk) while the other fills, and the sweeper
 * writes what is there once a second. If both are full (a disk slower than the requests),
 * lines are dropped and counted, and the count is logged: memory stays bounded. Each thread
 * has its own buffers; they share the file, whose O_APPEND keeps every write whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define LOG_BUF   (256u << 10)
#define LOG_FLUSH (64u << 10) /* start writing at this fill */
#define LOG_LINE  (40u << 10) /* room kept for the longest line (an 8 KiB target, escaped) */

static int log_fd = -1; /* shared by the threads: O_APPEND keeps their writes whole */
static _Thread_local char *bufs[2];
static _Thread_local size_t fill; /* bytes in bufs[cur] */
static _Thread_local int cur;
static _Thread_local bool writing;
static _Thread_local uint64_t dropped;

int access_log_open(const char *path)
{
    int fd = strcmp(path, "-") == 0 ? dup(1)
                                    : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    log_fd = fd;
    return 0;
}

/* The calling thread's buffers, made on first use: false when out of memory. */
static bool bufs_ready(void)
{
    if (bufs[0]) return true;
    bufs[0] = malloc(LOG_BUF);
    bufs[1] = malloc(LOG_BUF);
    if (bufs[0] && bufs[1]) return true;
    free(bufs[0]);
    free(bufs[1]);
    bufs[0] = bufs[1] = NULL;
    return false;
}

bool access_log_on(void)
{
    return log_fd >= 0;
}

/* Writes the current buffer (and any that fill meanwhile). Awaits. */
static void write_out(void)
{
    if (writing) return;
    writing = true;
    while (fill) {
        char *b = bufs[cur];
        size_t n = fill;
        cur ^= 1;
        fill = 0;
        ssize_t r = uco_write_all(log_fd, b, n, -1);
        if (r < 0 && r != -ECANCELED) {
            fprintf(stderr, "%s: writing the access log: %s\n", SERVER_NAME, strerror((int)-r));
            break;
        }
    }
    writing = false;
}

static intptr_t writer_task(void *arg)
{
    (void)arg;
    write_out();
    return 0;
}

void access_log(const struct session *s, const httpd_request *req, int status, uint64_t bytes)
{
    if (log_fd < 0) return;
    if (!bufs_ready() || LOG_BUF - fill < LOG_LINE) {
        dropped++;
        return;
    }
    const char *peer = s->peer ? s->peer : "-";
    fill +=
        httpd_log_line(bufs[cur] + fill, LOG_BUF - fill, peer, req, status, bytes, srv.date.sec);
    if (fill >= LOG_FLUSH && !writing) {
        uco_task_opts o = {.name = "access log", .detached = true};
        uco_spawn_opts(NULL, writer_task, NULL, &o); /* on failure: the sweeper writes it */
    }
}

void access_log_flush(void)
{
    if (log_fd < 0) return;
    if (dropped) {
        fprintf(stderr, "%s: the access log could not keep up: %llu lines dropped\n", SERVER_NAME,
                (unsigned long long)dropped);
        dropped = 0;
    }
    for (int i = 0; writing && i < 5000; i++)
        uco_sleep(UCO_MSEC); /* the writer task is at it: let it finish (at most 5 s) */
    write_out();
}

void access_log_thread_end(void)
{
    if (log_fd < 0 || !bufs[0]) return;
    /* Outside the loop now: plain blocking writes. A buffer being written when the loop was
     * left was written to its end (the writer is not cancelled mid-way). */
    for (const char *p = bufs[cur]; fill;) {
        ssize_t n = write(log_fd, p, fill);
        if (n <= 0) break;
        p += n;
        fill -= (size_t)n;
    }
    free(bufs[0]);
    free(bufs[1]);
    bufs[0] = bufs[1] = NULL;
}

void access_log_close(void)
{
    if (log_fd < 0) return;
    close(log_fd);
    log_fd = -1;
}

/* At most this many connection lines a second, so a flood of bad clients cannot flood the
 * log; the rest are counted and the count is said. */
#define CONN_LOG_PER_SEC 10

void conn_log(const struct session *s, const char *fmt, ...)
{
    static _Thread_local int64_t window;
    static _Thread_local unsigned lines, held_back;
    int64_t now = uco_now();
    if (now - window >= UCO_SEC) {
        if (held_back)
            fprintf(stderr, "%s: %u more connection lines not shown\n", SERVER_NAME, held_back);
        window = now;
        lines = held_back = 0;
    }
    if (lines++ >= CONN_LOG_PER_SEC) {
        held_back++;
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: connection %llu%s%s%s: %s\n", SERVER_NAME, (unsigned long long)s->id,
            s->peer ? " (" : "", s->peer ? s->peer : "", s->peer ? ")" : "", msg);
}
