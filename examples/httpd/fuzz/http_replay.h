/* Replays a byte stream through the parser and the body decoder the way a server reads a
 * connection (delivered in pieces, requests pipelined), recording what happened. The fuzz
 * harness and the tests use it to check that every split of a stream gives the same events.
 *
 * Under AddressSanitizer the bytes not delivered yet are poisoned, so a read past what a call
 * was given is reported even though the memory exists. */
#ifndef UCO_HTTPD_HTTP_REPLAY_H
#define UCO_HTTPD_HTTP_REPLAY_H

#include "http.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif
#ifdef REPLAY_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(a, n)   ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

enum replay_kind {
    REPLAY_HEAD = 1,   /* a head parsed: status 0, digest of its fields */
    REPLAY_BODY,       /* a body read to its end: digest of the content */
    REPLAY_HEAD_ERROR, /* parse error: status */
    REPLAY_BODY_ERROR, /* body decoding error: status */
    REPLAY_EOF,        /* the stream ended inside a request (nothing to answer) */
    REPLAY_CLOSE,      /* a request without keep-alive was answered: the server closes */
};

#define REPLAY_MAX_EVENTS 256

typedef struct replay_event {
    int kind;
    int status;
    uint64_t digest;
} replay_event;

typedef struct replay {
    replay_event ev[REPLAY_MAX_EVENTS];
    int n;
} replay;

/* Returns the size of the next piece to deliver (>= 1), given how much was delivered. */
typedef size_t replay_split_fn(void *arg, size_t delivered);

static inline uint64_t replay_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static inline uint64_t replay_hash_str(uint64_t h, httpd_str s)
{
    h = replay_hash(h, &s.len, sizeof s.len);
    h = replay_hash(h, s.p ? "1" : "0", 1);
    return s.p ? replay_hash(h, s.p, s.len) : h;
}

/* Everything the server would act on in a parsed head. */
static inline uint64_t replay_digest_head(const httpd_request *r)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    uint64_t nums[] = {r->method,   r->body,           r->form,
                       r->version,  r->keep_alive,     r->expect_continue,
                       r->head_len, r->content_length, r->nheaders};
    h = replay_hash(h, nums, sizeof nums);
    httpd_str s[] = {r->method_name,
                     r->target,
                     r->path,
                     r->query,
                     r->host,
                     r->range,
                     r->if_modified_since,
                     r->if_unmodified_since,
                     r->if_range,
                     r->if_none_match};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        h = replay_hash_str(h, s[i]);
    for (uint32_t i = 0; i < r->nheaders; i++) {
        h = replay_hash_str(h, r->headers[i].name);
        h = replay_hash_str(h, r->headers[i].value);
    }
    return h;
}

static inline void replay_add(replay *out, int kind, int status, uint64_t digest)
{
    if (out->n < REPLAY_MAX_EVENTS) out->ev[out->n++] = (replay_event){kind, status, digest};
}

/* Called with every parsed head (may be NULL): for extra checks by the fuzz harness. */
typedef void replay_head_fn(const httpd_request *req, const char *buf, size_t len);

/* Runs data[0..size) through a parser with limits lim, delivering pieces chosen by split. */
static inline void replay_run(const char *data, size_t size, const httpd_limits *lim,
                              replay_split_fn *split, void *arg, replay_head_fn *on_head,
                              replay *out)
{
    char *buf = (char *)malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    ASAN_POISON_MEMORY_REGION(buf, size);
    size_t start = 0, avail = 0;
    httpd_parser p;
    httpd_parser_init(&p, lim);
    httpd_body b;
    bool in_body = false, keep_alive = true;
    uint64_t body_hash = 0;
    static httpd_request req; /* large: keep it off small fuzzing stacks */
    out->n = 0;
    for (;;) {
        if (!in_body) {
            int r = httpd_parse_request(&p, buf + start, avail - start, &req);
            if (r < 0) {
                replay_add(out, REPLAY_HEAD_ERROR, -r, 0);
                break;
            }
            if (r > 0) {
                replay_add(out, REPLAY_HEAD, 0, replay_digest_head(&req));
                if (on_head) on_head(&req, buf + start, avail - start);
                httpd_body_init(&b, &req, lim);
                keep_alive = req.keep_alive;
                body_hash = 0xcbf29ce484222325ULL;
                start += (size_t)r;
                in_body = true;
            }
        }
        if (in_body) {
            int err = 0;
            while (!httpd_body_done(&b) && start < avail) {
                httpd_str d;
                ssize_t n = httpd_body_read(&b, buf + start, avail - start, &d);
                if (n < 0) {
                    err = (int)-n;
                    break;
                }
                body_hash = replay_hash(body_hash, d.p, d.len);
                start += (size_t)n;
            }
            if (err) {
                replay_add(out, REPLAY_BODY_ERROR, err, 0);
                break;
            }
            if (httpd_body_done(&b)) {
                replay_add(out, REPLAY_BODY, 0, replay_hash(body_hash, &b.total, sizeof b.total));
                in_body = false;
                if (!keep_alive) {
                    replay_add(out, REPLAY_CLOSE, 0, 0);
                    break;
                }
                if (start < avail) continue; /* a pipelined request is already here */
            }
        }
        if (avail == size) {
            if (in_body || start < avail) replay_add(out, REPLAY_EOF, 0, 0);
            break;
        }
        size_t n = split ? split(arg, avail) : size - avail;
        if (n < 1) n = 1;
        if (n > size - avail) n = size - avail;
        ASAN_UNPOISON_MEMORY_REGION(buf + avail, n);
        avail += n;
    }
    ASAN_UNPOISON_MEMORY_REGION(buf, size);
    free(buf);
}

static inline bool replay_equal(const replay *a, const replay *b)
{
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (a->ev[i].kind != b->ev[i].kind || a->ev[i].status != b->ev[i].status ||
            a->ev[i].digest != b->ev[i].digest)
            return false;
    return true;
}

#endif
