/* Socket addresses: numeric parse and format for IPv4, IPv6 (with scope) and Unix sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uco/net.h>

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5) return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535) return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* An IPv6 literal with an optional "%scope" (interface name or number). */
static int parse_v6(uco_addr *a, const char *s, size_t n, uint16_t port)
{
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (n == 0 || n >= sizeof buf) return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = 0;
    uint32_t scope = 0;
    char *pct = strchr(buf, '%');
    if (pct) {
        *pct++ = 0;
        if (!*pct) return -EINVAL;
        char *end;
        unsigned long v = strtoul(pct, &end, 10);
        if (*end == 0 && pct[0] >= '0' && pct[0] <= '9') {
            if (v > UINT32_MAX) return -EINVAL;
            scope = (uint32_t)v;
        } else {
            scope = if_nametoindex(pct);
            if (!scope) return -EINVAL;
        }
    }
    struct sockaddr_in6 *in6 = &a->u.in6;
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1) return -EINVAL;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_scope_id = scope;
    a->len = sizeof *in6;
    return 0;
}

static int parse_v4(uco_addr *a, const char *s, size_t n, uint16_t port)
{
    char buf[INET_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf) return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = 0;
    struct sockaddr_in *in4 = &a->u.in4;
    if (inet_pton(AF_INET, buf, &in4->sin_addr) != 1) return -EINVAL;
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    a->len = sizeof *in4;
    return 0;
}

/* A path, or "@name" for the abstract namespace (stored with a leading NUL). */
static int parse_unix(uco_addr *a, const char *path)
{
    size_t n = strlen(path);
    struct sockaddr_un *un = &a->u.un;
    if (n == 0 || n >= sizeof un->sun_path || (path[0] == '@' && n == 1)) return -EINVAL;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n);
    if (path[0] == '@') {
        un->sun_path[0] = 0;
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        un->sun_path[n] = 0;
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

static int parse(uco_addr *a, const char *s, uint16_t port)
{
    if (strncmp(s, "unix:", 5) == 0) return parse_unix(a, s + 5);
    if (s[0] == '/' || s[0] == '@') return parse_unix(a, s);
    size_t n = strlen(s);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close) return -EINVAL;
        if (close[1] == ':') {
            int r = parse_port(close + 2, strlen(close + 2), &port);
            if (r) return r;
        } else if (close[1] != 0) {
            return -EINVAL;
        }
        return parse_v6(a, s + 1, (size_t)(close - s - 1), port);
    }
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':')) return parse_v6(a, s, n, port); /* bare IPv6 */
    if (colon) {
        int r = parse_port(colon + 1, strlen(colon + 1), &port);
        if (r) return r;
        n = (size_t)(colon - s);
    }
    return parse_v4(a, s, n, port);
}

int uco_addr_parse(uco_addr *a, const char *s, uint16_t default_port)
{
    if (!a) return -EINVAL;
    memset(a, 0, sizeof *a);
    if (!s) return -EINVAL;
    int r = parse(a, s, default_port);
    if (r) memset(a, 0, sizeof *a);
    return r;
}

int uco_addr_ip(uco_addr *a, const char *ip, uint16_t port)
{
    if (!a) return -EINVAL;
    memset(a, 0, sizeof *a);
    if (!ip) return -EINVAL;
    size_t n = strlen(ip);
    int r = strchr(ip, ':') ? parse_v6(a, ip, n, port) : parse_v4(a, ip, n, port);
    if (r) memset(a, 0, sizeof *a);
    return r;
}

int uco_addr_format(const uco_addr *a, char *buf, size_t len)
{
    if (!buf || len == 0) return -ENOSPC;
    buf[0] = 0;
    if (!a || a->len == 0) return -EAFNOSUPPORT;
    char ip[INET6_ADDRSTRLEN];
    int n;
    switch (a->u.sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof ip);
        n = snprintf(buf, len, "%s:%u", ip, ntohs(a->u.in4.sin_port));
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
        if (a->u.in6.sin6_scope_id)
            n = snprintf(buf, len, "[%s%%%u]:%u", ip, a->u.in6.sin6_scope_id,
                         ntohs(a->u.in6.sin6_port));
        else
            n = snprintf(buf, len, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
        break;
    case AF_UNIX: {
        size_t plen = a->len - offsetof(struct sockaddr_un, sun_path);
        const char *p = a->u.un.sun_path;
        if (plen > 0 && p[0] == 0) /* abstract: exactly plen bytes, shown after '@' */
            n = snprintf(buf, len, "unix:@%.*s", (int)(plen - 1), p + 1);
        else
            n = snprintf(buf, len, "unix:%.*s", (int)strnlen(p, plen), p);
        break;
    }
    default:
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = 0;
        return -ENOSPC;
    }
    return n;
}

int uco_addr_from_sockaddr(uco_addr *a, const struct sockaddr *sa, socklen_t len)
{
    if (!a || !sa || len > sizeof a->u || len < sizeof(sa_family_t)) return -EINVAL;
    switch (sa->sa_family) {
    case AF_INET:
        if (len < sizeof(struct sockaddr_in)) return -EINVAL;
        break;
    case AF_INET6:
        if (len < sizeof(struct sockaddr_in6)) return -EINVAL;
        break;
    case AF_UNIX:
        break;
    default:
        return -EINVAL;
    }
    memset(a, 0, sizeof *a);
    memcpy(&a->u, sa, len);
    a->len = len;
    return 0;
}

uint16_t uco_addr_port(const uco_addr *a)
{
    if (!a || !a->len) return 0;
    if (a->u.sa.sa_family == AF_INET) return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6) return ntohs(a->u.in6.sin6_port);
    return 0;
}

int uco_addr_set_port(uco_addr *a, uint16_t port)
{
    if (!a || !a->len) return -EAFNOSUPPORT;
    if (a->u.sa.sa_family == AF_INET)
        a->u.in4.sin_port = htons(port);
    else if (a->u.sa.sa_family == AF_INET6)
        a->u.in6.sin6_port = htons(port);
    else
        return -EAFNOSUPPORT;
    return 0;
}

int uco_addr_family(const uco_addr *a)
{
    return a && a->len ? a->u.sa.sa_family : AF_UNSPEC;
}

bool uco_addr_equal(const uco_addr *a, const uco_addr *b)
{
    if (!a || !b || a->len != b->len) return false;
    if (a->len == 0) return true;
    if (a->u.sa.sa_family != b->u.sa.sa_family) return false;
    switch (a->u.sa.sa_family) {
    case AF_INET:
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    case AF_INET6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof(struct in6_addr)) == 0;
    default:
        return memcmp(&a->u, &b->u, a->len) == 0;
    }
}

static int sock_name(int fd, uco_addr *out, bool peer)
{
    if (!out) return -EINVAL;
    memset(out, 0, sizeof *out);
    socklen_t len = sizeof out->u;
    int r = peer ? getpeername(fd, &out->u.sa, &len) : getsockname(fd, &out->u.sa, &len);
    if (r < 0) return -errno;
    out->len = len;
    return 0;
}

int uco_sock_addr(int fd, uco_addr *out)
{
    return sock_name(fd, out, false);
}

int uco_sock_peer(int fd, uco_addr *out)
{
    return sock_name(fd, out, true);
}
