/* Name resolution: getaddrinfo(3) blocks, so it runs on the worker pool while the task waits.
 * The job's arguments live in the task's frame; uco_work waits for a job that has started, so
 * they outlive it even when the task is cancelled. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "net/internal.h"

struct gai_job {
    const char *node, *service;
    const struct addrinfo *hints;
    struct addrinfo *res;
    int err; /* errno saved for EAI_SYSTEM */
};

static intptr_t gai_run(void *arg)
{
    struct gai_job *j = arg;
    int r = getaddrinfo(j->node, j->service, j->hints, &j->res);
    if (r == EAI_SYSTEM) j->err = errno;
    return -(intptr_t)r; /* EAI_* codes are negative: keep negatives for uco_work's own */
}

static int gai_errno(int eai, int sys)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -ENXIO;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return sys ? -sys : -EIO;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_SERVICE:
    case EAI_BADFLAGS:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int uco_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res)
{
    if (!res || (!node && !service)) return -EINVAL;
    *res = NULL;
    struct gai_job j = {.node = node, .service = service, .hints = hints};
    intptr_t r = uco_work(gai_run, &j);
    if (r < 0) {
        /* Interrupted before a worker took the job (-ECANCELED/-ETIMEDOUT/-EPERM), or the
         * job ran and must be cleaned up. */
        if (j.res) freeaddrinfo(j.res);
        return (int)r;
    }
    int e = gai_errno(-(int)r, j.err);
    if (e) return e;
    *res = j.res;
    return 0;
}

int uco_resolve(const char *host, uint16_t port, int family, int socktype, uco_addr *out,
                size_t max)
{
    if (!out || max == 0) return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) return -EINVAL;
    if (socktype != 0 && socktype != SOCK_STREAM && socktype != SOCK_DGRAM) return -EINVAL;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype ? socktype : SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (host ? 0 : AI_PASSIVE);
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo *res;
    int r = uco_getaddrinfo(host, service, &hints, &res);
    if (r < 0) return r;
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next)
        if (uco_addr_from_sockaddr(&out[n], ai->ai_addr, ai->ai_addrlen) == 0) n++;
    freeaddrinfo(res);
    return n ? (int)n : -ENXIO;
}
