/* uco-httpd's request parser: a corpus of malformed requests and the status each must get,
 * valid requests parsed identically however they are split, pipelining and keep-alive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"
#include "fuzz/http_replay.h"

/* Small limits so that the limit cases stay short. */
static const httpd_limits small = {
    .max_line = 256, .max_head = 512, .max_headers = 16, .max_body = 1024};

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"

struct bad {
    const char *name;
    const char *req;
    size_t len;
    int nok;    /* requests read to the end of their body before the failure */
    int status; /* status of the failure; 0: the stream ends inside a request (no answer) */
};

#define BAD(name, s, nok, status)                                                                  \
    {                                                                                              \
        name, s, sizeof(s) - 1, nok, status                                                        \
    }

static const struct bad corpus[] = {
    /* methods */
    BAD("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 501),
    BAD("unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 501),
    BAD("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, 501),
    BAD("invalid token char in method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("space before method", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("tab after method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("no method", "/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("NUL in method", "GE\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    /* request line and versions */
    BAD("double space before target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("HTTP/0.9 request", "GET /\r\n", 0, 400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505),
    BAD("HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 0, 505),
    BAD("lowercase protocol", "GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("two-digit minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, 400),
    BAD("version without dot", "GET / HTTP/11\r\nHost: a\r\n\r\n", 0, 400),
    BAD("letter minor", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 0, 400),
    BAD("space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400),
    BAD("bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 0, 400),
    BAD("bare CR after request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 0, 400),
    BAD("five empty lines first", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("leading bare LF", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    /* targets */
    BAD("relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("backslash in target", "GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("bad percent escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("short percent escape", "GET /%2 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("byte >= 0x80 in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("NUL in target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("userinfo in absolute-form", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("empty authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("unknown scheme", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("brackets in path", "GET /[x] HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    BAD("authority-form for GET", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400),
    /* Host */
    BAD("missing Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 0, 400),
    BAD("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 400),
    BAD("two identical Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 0, 400),
    BAD("two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 0, 400),
    BAD("space in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400),
    BAD("slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, 400),
    BAD("userinfo in Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 0, 400),
    BAD("letters in Host port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 0, 400),
    BAD("unclosed IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 0, 400),
    BAD("list in Host", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 0, 400),
    BAD("bad escape in Host", "GET / HTTP/1.1\r\nHost: a%4g\r\n\r\n", 0, 400),
    BAD("short escape in Host", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 0, 400),
    BAD("port too long", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 0, 400),
    BAD("port without host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 0, 400),
    /* Content-Length */
    BAD("negative Content-Length", H11 "Content-Length: -1\r\n\r\n", 0, 400),
    BAD("plus sign in Content-Length", H11 "Content-Length: +5\r\n\r\nhello", 0, 400),
    BAD("hex Content-Length", H11 "Content-Length: 0x10\r\n\r\n", 0, 400),
    BAD("Content-Length with inner space", H11 "Content-Length: 5 5\r\n\r\nhello", 0, 400),
    BAD("empty Content-Length", H11 "Content-Length:\r\n\r\n", 0, 400),
    BAD("conflicting Content-Lengths", H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 0,
        400),
    BAD("conflicting Content-Length list", H11 "Content-Length: 5, 6\r\n\r\nhello", 0, 400),
    BAD("exponent Content-Length", H11 "Content-Length: 1e3\r\n\r\n", 0, 400),
    BAD("empty element in Content-Length", H11 "Content-Length: 5,,5\r\n\r\nhello", 0, 400),
    BAD("huge Content-Length", H11 "Content-Length: 99999999999999999999999\r\n\r\n", 0, 413),
    BAD("Content-Length over max_body", H11 "Content-Length: 1025\r\n\r\n", 0, 413),
    /* Transfer-Encoding */
    BAD("Content-Length with Transfer-Encoding",
        H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("Transfer-Encoding then Content-Length",
        H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("gzip coding", H11 "Transfer-Encoding: gzip\r\n\r\n", 0, 501),
    BAD("identity coding", H11 "Transfer-Encoding: identity\r\n\r\n", 0, 501),
    BAD("gzip then chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, 501),
    BAD("chunked then gzip", H11 "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("chunked twice in two fields",
        H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0,
        400),
    BAD("parameter on chunked", H11 "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("empty Transfer-Encoding", H11 "Transfer-Encoding:\r\n\r\n", 0, 400),
    BAD("quoted chunked", H11 "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("space before colon in Transfer-Encoding",
        H11 "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("vertical tab in Transfer-Encoding",
        H11 "Transfer-Encoding: \x0b"
            "chunked\r\n\r\n0\r\n\r\n",
        0, 400),
    BAD("coding with quoted parameter before chunked",
        H11 "Transfer-Encoding: gzip;level=\"9\\\"x\", chunked\r\n\r\n0\r\n\r\n", 0, 501),
    BAD("unterminated quoted parameter",
        H11 "Transfer-Encoding: gzip;level=\"9, chunked\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("control char in quoted parameter",
        H11 "Transfer-Encoding: gzip;l=\"\\\x01\", chunked\r\n\r\n0\r\n\r\n", 0, 400),
    BAD("parameter without name", H11 "Transfer-Encoding: gzip;=9, chunked\r\n\r\n0\r\n\r\n", 0,
        400),
    BAD("parameter without value", H11 "Transfer-Encoding: gzip;l, chunked\r\n\r\n0\r\n\r\n", 0,
        400),
    BAD("obfuscated coding name", H11 "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 0, 501),
    BAD("chunked then identity", H11 "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 0,
        400),
    BAD("LF inside Transfer-Encoding name", H11 "Transfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n", 0,
        400),
    BAD("second Transfer-Encoding hides chunked",
        H11 "Transfer-Encoding: chunked\r\nTransfer-encoding: cow\r\n\r\n0\r\n\r\n", 0, 400),
    /* field lines */
    BAD("obs-fold", H11 "X-A: a\r\n b\r\n\r\n", 0, 400),
    BAD("obs-fold with tab", H11 "X-A: a\r\n\tb\r\n\r\n", 0, 400),
    BAD("whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, 400),
    BAD("field without colon", H11 "X-A a\r\n\r\n", 0, 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 400),
    BAD("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 0, 400),
    BAD("invalid token char in name", H11 "X(A): a\r\n\r\n", 0, 400),
    BAD("empty field name", H11 ": a\r\n\r\n", 0, 400),
    BAD("NUL in field name", H11 "X-\0A: a\r\n\r\n", 0, 400),
    BAD("NUL in field value", H11 "X-A: a\0b\r\n\r\n", 0, 400),
    BAD("bare CR in field value", H11 "X-A: a\rb\r\n\r\n", 0, 400),
    BAD("bare LF ending a field", H11 "X-A: a\n\r\n", 0, 400),
    BAD("bare LF ending the head", H11 "\n", 0, 400),
    BAD("bare CR ending the head", H11 "\r\r\n", 0, 400),
    BAD("DEL in field value", H11 "X-A: a\x7f\r\n\r\n", 0, 400),
    BAD("control char in field value", H11 "X-A: a\x01\r\n\r\n", 0, 400),
    BAD("unknown expectation", H11 "Expect: 200-ok\r\n\r\n", 0, 417),
    BAD("invalid Connection token", H11 "Connection: close;\r\n\r\n", 0, 400),
    /* limits (with `small`) */
    BAD("too many fields",
        H11 "a:1\r\nb:1\r\nc:1\r\nd:1\r\ne:1\r\nf:1\r\ng:1\r\nh:1\r\ni:1\r\nj:1\r\nk:1\r\n"
            "l:1\r\nm:1\r\nn:1\r\no:1\r\np:1\r\n\r\n",
        0, 431),
    BAD("chunk of exactly max_body, cut short", H11 "Transfer-Encoding: chunked\r\n\r\n400\r\n", 0,
        0),
    BAD("chunked body past max_body", H11 "Transfer-Encoding: chunked\r\n\r\n401\r\n", 0, 413),
    /* truncated */
    BAD("truncated request line", "GET / HT", 0, 0),
    BAD("truncated head", "GET / HTTP/1.1\r\nHost: a\r\n", 0, 0),
    BAD("truncated body", H11 "Content-Length: 10\r\n\r\nhello", 0, 0),
    BAD("truncated chunked body", H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhel", 0, 0),
    /* chunked framing */
    BAD("non-hex chunk size", H11 "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 400),
    BAD("negative chunk size", H11 "Transfer-Encoding: chunked\r\n\r\n-5\r\n", 0, 400),
    BAD("no CRLF after chunk data",
        H11 "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 0, 400),
    BAD("space after chunk size", H11 "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", 0, 400),
    BAD("bare LF after chunk size", H11 "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n", 0, 400),
    BAD("17 hex digits", H11 "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\n", 0, 400),
    BAD("extension without name", H11 "Transfer-Encoding: chunked\r\n\r\n5;=x\r\n", 0, 400),
    BAD("obs-fold in trailer", H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 0,
        400),
    BAD("space before colon in trailer", H11 "Transfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n",
        0, 400),
    /* pipelines */
    BAD("garbage after a valid request", H11 "\r\ngarbage\r\n\r\n", 1, 400),
    BAD("bad field in the third request",
        H11 "\r\n" H11 "\r\n"
            "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
        2, 400),
    BAD("smuggled request in a chunk extension",
        H11 "Transfer-Encoding: chunked\r\n\r\n2;a=\"\r\nGET /admin "
            "HTTP/1.1\r\n\r\n\"\r\nhi\r\n0\r\n\r\n",
        0, 400),
    BAD("body of the second request too large", H11 "\r\n" H11 "Content-Length: 2000\r\n\r\n", 1,
        413),
};

/* Inputs the fuzzer found (examples/httpd/fuzz/crashers), each named after what broke. */
static const struct bad fuzz_regressions[] = {
    /* The version was judged only once 8 bytes were there: a line whose LF came earlier was
     * "incomplete" when split at the LF, and then never looked at again. */
    BAD("LF inside the HTTP version", "POST / HTTP/\n1H\r.1", 0, 400),
    BAD("LF right after a percent sign", "GET /%\nHost: a\r\n\r\n", 0, 400),
};

static size_t split_at(void *arg, size_t delivered)
{
    size_t k = *(size_t *)arg;
    return delivered < k ? k - delivered : (size_t)-1;
}

static size_t split_bytes(void *arg, size_t delivered)
{
    return 1;
}

/* Checks the last event of a replay against the expectation; returns a message or NULL. */
static const char *judge(const struct bad *c, const replay *r)
{
    static char msg[256];
    int nok = 0;
    for (int i = 0; i < r->n; i++)
        nok += r->ev[i].kind == REPLAY_BODY;
    const replay_event *last = r->n ? &r->ev[r->n - 1] : NULL;
    bool ok = last && nok == c->nok &&
              (c->status ? (last->kind == REPLAY_HEAD_ERROR || last->kind == REPLAY_BODY_ERROR) &&
                               last->status == c->status
                         : last->kind == REPLAY_EOF);
    if (ok) return NULL;
    snprintf(msg, sizeof msg, "'%s': %d bodies, last event %d status %d; expected %d, status %d",
             c->name, nok, last ? last->kind : -1, last ? last->status : -1, c->nok, c->status);
    return msg;
}

static void malformed_requests_get_their_status(void **state)
{
    assert_true(sizeof corpus / sizeof corpus[0] >= 60);
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        replay r;
        replay_run(corpus[i].req, corpus[i].len, &small, NULL, NULL, NULL, &r);
        const char *why = judge(&corpus[i], &r);
        if (why) fail_msg("%s", why);
    }
}

static void malformed_requests_get_the_same_status_at_every_split(void **state)
{
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const struct bad *c = &corpus[i];
        replay whole, part;
        replay_run(c->req, c->len, &small, NULL, NULL, NULL, &whole);
        for (size_t k = 1; k < c->len; k++) {
            replay_run(c->req, c->len, &small, split_at, &k, NULL, &part);
            if (!replay_equal(&whole, &part)) fail_msg("'%s' split at %zu differs", c->name, k);
        }
        replay_run(c->req, c->len, &small, split_bytes, NULL, NULL, &part);
        if (!replay_equal(&whole, &part)) fail_msg("'%s' byte by byte differs", c->name);
    }
}

/* A request line of exactly max_line bytes (CR LF included) passes; one more byte is 414, and
 * is refused as soon as max_line bytes without a line end have arrived. */
static void fuzz_regressions_get_the_same_status_at_every_split(void **state)
{
    for (size_t i = 0; i < sizeof fuzz_regressions / sizeof fuzz_regressions[0]; i++) {
        const struct bad *c = &fuzz_regressions[i];
        replay whole, part;
        for (int l = 0; l < 2; l++) {
            const httpd_limits *lim = l ? &small : NULL;
            replay_run(c->req, c->len, lim, NULL, NULL, NULL, &whole);
            const char *why = judge(c, &whole);
            if (why) fail_msg("%s", why);
            for (size_t k = 1; k < c->len; k++) {
                replay_run(c->req, c->len, lim, split_at, &k, NULL, &part);
                if (!replay_equal(&whole, &part)) fail_msg("'%s' split at %zu differs", c->name, k);
            }
        }
    }
}

static void request_line_limit_is_exact(void **state)
{
    char buf[600];
    httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, &small);
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n",
                                (int)small.max_line - 16, 0);
    assert_int_equal(httpd_parse_request(&p, buf, n, &req), (int)n);
    assert_int_equal(req.target.len, small.max_line - 15);

    n = (size_t)snprintf(buf, sizeof buf, "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n",
                         (int)small.max_line - 15, 0);
    assert_int_equal(httpd_parse_request(&p, buf, n, &req), -414);
    assert_string_equal(req.error, "request line too long");
    /* Without ever a line end: incomplete below the limit, 414 at it. */
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "GET /", 5);
    assert_int_equal(httpd_parse_request(&p, buf, small.max_line - 1, &req), 0);
    assert_int_equal(httpd_parse_request(&p, buf, small.max_line, &req), -414);
}

static void header_section_limit_is_exact(void **state)
{
    char buf[1200];
    httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, &small);
    /* Header section: "Host: a\r\n" (9) + "X: <v>\r\n" (5 + v) + "\r\n" (2) = max_head. */
    int v = (int)small.max_head - 16;
    size_t n =
        (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", v, 0);
    assert_int_equal(httpd_parse_request(&p, buf, n, &req), (int)n);
    assert_int_equal(req.headers[1].value.len, v);
    n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %0*d\r\n\r\n", v + 1, 0);
    assert_int_equal(httpd_parse_request(&p, buf, n, &req), -431);
    /* Default limits: a 20 KiB cookie is refused. */
    static char big[24000];
    n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nCookie: %0*d\r\n\r\n",
                         20000, 0);
    httpd_parser_init(&p, NULL);
    assert_int_equal(httpd_parse_request(&p, big, n, &req), -431);
}

static void header_count_limit_is_exact(void **state)
{
    char buf[1000];
    httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, &small);
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (unsigned i = 0; i < small.max_headers; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s: %u\r\n", i ? "X" : "Host", i);
    memcpy(buf + n, "\r\n", 2);
    assert_int_equal(httpd_parse_request(&p, buf, n + 2, &req), (int)n + 2);
    assert_int_equal(req.nheaders, small.max_headers);
    memcpy(buf + n, "Y: 1\r\n\r\n", 8);
    assert_int_equal(httpd_parse_request(&p, buf, n + 8, &req), -431);
    assert_string_equal(req.error, "too many header fields");
}

static void str_is(httpd_str s, const char *want)
{
    if (!want) {
        assert_null(s.p);
        return;
    }
    assert_non_null(s.p);
    if (s.len != strlen(want) || memcmp(s.p, want, s.len))
        fail_msg("'%.*s' != '%s'", (int)s.len, s.p, want);
}

static int parse_all(const char *s, httpd_request *req)
{
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    return httpd_parse_request(&p, s, strlen(s), req);
}

static void parses_a_typical_benchmark_request(void **state)
{
    const char *s = "GET /plaintext HTTP/1.1\r\n"
                    "Host: 127.0.0.1:8080\r\n"
                    "Accept: text/plain,text/html;q=0.9,*/*;q=0.7\r\n"
                    "Connection: keep-alive\r\n"
                    "\r\n"
                    "GET /next";
    static httpd_request req;
    int n = parse_all(s, &req);
    assert_int_equal(n, strlen(s) - strlen("GET /next"));
    assert_int_equal(req.head_len, n);
    assert_int_equal(req.method, HTTPD_GET);
    str_is(req.method_name, "GET");
    assert_int_equal(req.version, 11);
    assert_int_equal(req.form, HTTPD_TARGET_ORIGIN);
    str_is(req.target, "/plaintext");
    str_is(req.path, "/plaintext");
    str_is(req.query, NULL);
    str_is(req.host, "127.0.0.1:8080");
    assert_true(req.keep_alive);
    assert_int_equal(req.body, HTTPD_BODY_NONE);
    assert_int_equal(req.nheaders, 3);
    str_is(req.headers[1].name, "Accept");
    str_is(req.headers[1].value, "text/plain,text/html;q=0.9,*/*;q=0.7");
    str_is(httpd_request_header(&req, "connection"), "keep-alive");
    str_is(httpd_request_header(&req, "x-missing"), NULL);
    assert_null(req.error);
}

static void parses_fields_values_and_targets(void **state)
{
    static httpd_request req;
    assert_true(parse_all("POST /a/b?x=1&y=%20 HTTP/1.1\r\n"
                          "host:example.com\r\n"
                          "X-Empty:\r\n"
                          "X-Spaces: \t padded value \t \r\n"
                          "X-Obs: caf\xc3\xa9\r\n"
                          "Content-Length: 5, 5\r\n"
                          "Range: bytes=0-1\r\n"
                          "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                          "If-None-Match: \"x\"\r\n"
                          "If-Range: \"y\"\r\n"
                          "If-Unmodified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
                          "Expect: 100-Continue\r\n"
                          "\r\nhello",
                          &req) > 0);
    assert_int_equal(req.method, HTTPD_POST);
    str_is(req.path, "/a/b");
    str_is(req.query, "x=1&y=%20");
    str_is(req.host, "example.com");
    str_is(req.headers[1].value, "");
    str_is(req.headers[2].value, "padded value");
    str_is(req.headers[3].value, "caf\xc3\xa9");
    assert_int_equal(req.body, HTTPD_BODY_LENGTH);
    assert_int_equal(req.content_length, 5);
    str_is(req.range, "bytes=0-1");
    str_is(req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
    str_is(req.if_none_match, "\"x\"");
    str_is(req.if_range, "\"y\"");
    str_is(req.if_unmodified_since, "Mon, 07 Nov 1994 08:49:37 GMT");
    assert_true(req.expect_continue);

    assert_true(parse_all("GET http://Example.com:8080?q HTTP/1.1\r\nHost: other\r\n\r\n", &req) >
                0);
    assert_int_equal(req.form, HTTPD_TARGET_ABSOLUTE);
    str_is(req.host, "Example.com:8080"); /* the target's authority wins over Host */
    str_is(req.path, "/");
    str_is(req.query, "q");
    assert_true(parse_all("GET HTTPS://[::1]:443/x/y HTTP/1.1\r\nHost: [::1]\r\n\r\n", &req) > 0);
    str_is(req.host, "[::1]:443");
    str_is(req.path, "/x/y");
    assert_true(parse_all("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(req.form, HTTPD_TARGET_ASTERISK);
    assert_true(parse_all("GET / HTTP/1.1\r\nHost:\r\n\r\n", &req) > 0); /* empty Host is valid */
    str_is(req.host, "");
    /* Up to four empty lines before the request line are skipped, and counted in head_len. */
    assert_int_equal(parse_all("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &req), 22);
    str_is(req.host, NULL);
    /* HTTP/1.2 is served as 1.1. */
    assert_true(parse_all("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(req.version, 11);
    /* Every method we know. */
    for (httpd_method m = HTTPD_GET; m <= HTTPD_PATCH; m++) {
        char line[64];
        snprintf(line, sizeof line, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", httpd_method_name(m));
        assert_true(parse_all(line, &req) > 0);
        assert_int_equal(req.method, m);
    }
}

static void keep_alive_follows_the_version_rules(void **state)
{
    static const struct {
        const char *req;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: , upgrade ,\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    };
    static httpd_request req;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = parse_all(cases[i].req, &req);
        assert_true(r > 0);
        if (req.keep_alive != cases[i].keep_alive) fail_msg("case %zu: %s", i, cases[i].req);
        assert_int_equal(httpd_close_after(r, &req), !cases[i].keep_alive);
    }
    /* Every error closes. */
    int r = parse_all("GET / HTTP/1.1\r\n\r\n", &req);
    assert_int_equal(r, -400);
    assert_true(httpd_close_after(r, &req));
}

/* Valid streams, each parsed as a whole, at every split and byte by byte. */
static const char *const valid[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\nGET /x?y HTTP/1.0\r\nUser-Agent: t\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    "GET /q HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
    "5;a=b;c=\"d;e\\\"\"\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: v\r\n\r\n"
    "GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\nExpect: 100-continue\r\n\r\n"
    "3\r\nabc\r\n0\r\n\r\n",
    "GET http://h/x HTTP/1.1\r\nHost: h\r\nX-A: \t\r\nX-B: v1 v2\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: ex%41mple.com:\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
};

static void valid_requests_parse_identically_at_every_split(void **state)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        size_t len = strlen(valid[i]);
        replay whole, part;
        replay_run(valid[i], len, NULL, NULL, NULL, NULL, &whole);
        assert_true(whole.n >= 2);
        for (int e = 0; e < whole.n; e++)
            if (whole.ev[e].kind != REPLAY_HEAD && whole.ev[e].kind != REPLAY_BODY &&
                whole.ev[e].kind != REPLAY_CLOSE)
                fail_msg("valid stream %zu: event %d is %d", i, e, whole.ev[e].kind);
        for (size_t k = 1; k < len; k++) {
            replay_run(valid[i], len, NULL, split_at, &k, NULL, &part);
            if (!replay_equal(&whole, &part)) fail_msg("stream %zu split at %zu differs", i, k);
        }
        replay_run(valid[i], len, NULL, split_bytes, NULL, NULL, &part);
        if (!replay_equal(&whole, &part)) fail_msg("stream %zu byte by byte differs", i);
    }
}

/* 16 pipelined requests in one buffer come out in order, each from its own bytes. */
static void pipelined_requests_are_parsed_in_order(void **state)
{
    char buf[2048];
    size_t len = 0;
    for (int i = 0; i < 16; i++)
        len +=
            (size_t)snprintf(buf + len, sizeof buf - len, "GET /r%d HTTP/1.1\r\nHost: a\r\n%s\r\n",
                             i, i == 15 ? "Connection: close\r\n" : "");
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    static httpd_request req;
    size_t off = 0;
    for (int i = 0; i < 16; i++) {
        int n = httpd_parse_request(&p, buf + off, len - off, &req);
        assert_true(n > 0);
        char want[8];
        snprintf(want, sizeof want, "/r%d", i);
        str_is(req.path, want);
        assert_int_equal(req.keep_alive, i != 15);
        off += (size_t)n;
    }
    assert_int_equal(off, len);
    assert_int_equal(httpd_parse_request(&p, buf + off, 0, &req), 0);
}

/* The caller may move its buffer between calls (copying from receive buffers into a bigger one):
 * the parser keeps offsets, not pointers. */
static void parser_resumes_after_the_buffer_moved(void **state)
{
    const char *s = "GET /moved HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
    size_t len = strlen(s);
    char *a = malloc(len), *b = malloc(len);
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    static httpd_request req;
    memcpy(a, s, 20);
    assert_int_equal(httpd_parse_request(&p, a, 20, &req), 0);
    memcpy(a, s, 40);
    assert_int_equal(httpd_parse_request(&p, a, 40, &req), 0);
    memcpy(b, s, len);
    free(a);
    assert_int_equal(httpd_parse_request(&p, b, len, &req), (int)len);
    str_is(req.path, "/moved");
    assert_ptr_equal(req.path.p, b + 4);
    str_is(req.headers[1].value, "0123456789");
    free(b);
}

/* A header arriving one byte at a time reaches the full parse only a few times: the status of
 * the request line is known when its line ends, before any header arrives. */
static void request_line_errors_are_reported_before_the_head_ends(void **state)
{
    const char *s = "GET / HTTP/2.0\r\nHost: a\r\n";
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    static httpd_request req;
    int r = 0;
    size_t i;
    for (i = 1; i <= strlen(s) && r == 0; i++)
        r = httpd_parse_request(&p, s, i, &req);
    assert_int_equal(r, -505);
    assert_int_equal(i - 1, strlen("GET / HTTP/2.0\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_requests_get_their_status),
        cmocka_unit_test(malformed_requests_get_the_same_status_at_every_split),
        cmocka_unit_test(fuzz_regressions_get_the_same_status_at_every_split),
        cmocka_unit_test(request_line_limit_is_exact),
        cmocka_unit_test(header_section_limit_is_exact),
        cmocka_unit_test(header_count_limit_is_exact),
        cmocka_unit_test(parses_a_typical_benchmark_request),
        cmocka_unit_test(parses_fields_values_and_targets),
        cmocka_unit_test(keep_alive_follows_the_version_rules),
        cmocka_unit_test(valid_requests_parse_identically_at_every_split),
        cmocka_unit_test(pipelined_requests_are_parsed_in_order),
        cmocka_unit_test(parser_resumes_after_the_buffer_moved),
        cmocka_unit_test(request_line_errors_are_reported_before_the_head_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
