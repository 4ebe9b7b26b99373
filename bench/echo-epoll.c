/* echo-epoll: the epoll baseline for the echo benchmark. One thread, level-triggered epoll,
 * non-blocking sockets: read into one shared buffer, write it straight back; what a write
 * leaves over waits in the connection (reading stops until it is out: back-pressure).
 *
 *   echo-epoll [--bind ADDR] [--port N]      (defaults 127.0.0.1 and 7000) */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uco/net.h>

#define BUF 65536

struct conn {
    int fd;
    size_t off, len; /* unsent bytes in pending[off, len) */
    char *pending;
};

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static void set_events(int ep, struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Sends the leftover; true when the connection should stay open. */
static int flush(int ep, struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 1 : 0;
        c->off += (size_t)n;
    }
    c->off = c->len = 0;
    set_events(ep, c, EPOLLIN);
    return 1;
}

static int on_readable(int ep, struct conn *c, char *buf)
{
    ssize_t n = recv(c->fd, buf, BUF, 0);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN ? 1 : 0;
    ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN) return 0;
        w = 0;
    }
    if (w < n) {
        if (!c->pending && !(c->pending = malloc(BUF))) return 0;
        memcpy(c->pending, buf + w, (size_t)(n - w));
        c->off = 0;
        c->len = (size_t)(n - w);
        set_events(ep, c, EPOLLOUT);
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *bind_s = "127.0.0.1";
    long port = 7000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bind"))
            bind_s = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = strtol(argv[i + 1], NULL, 10);
    }
    uco_addr addr;
    if (uco_addr_parse(&addr, bind_s, (uint16_t)port) < 0) {
        fprintf(stderr, "echo-epoll: bad address '%s'\n", bind_s);
        return 2;
    }
    uco_nofile_raise();
    signal(SIGPIPE, SIG_IGN);
    int lfd = uco_bind_socket(&addr, SOCK_STREAM, 0, UCO_SOCK_NODELAY);
    if (lfd < 0) {
        fprintf(stderr, "echo-epoll: listen on %s: %s\n", bind_s, strerror(-lfd));
        return 1;
    }
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    uco_addr bound;
    uco_sock_addr(lfd, &bound);
    char name[UCO_ADDR_STRLEN];
    uco_addr_format(&bound, name, sizeof name);
    printf("echo-epoll: listening on %s\n", name);
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    static char buf[BUF];
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int ok = 1;
            if (evs[i].events & EPOLLOUT)
                ok = flush(ep, c);
            else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                ok = on_readable(ep, c, buf);
            if (!ok) conn_close(ep, c);
        }
    }
}
