/* uco-httpd's body decoder: Content-Length and chunked bodies, valid and malformed, split at
 * every byte, with their limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

/* Decodes s delivered in pieces of `step` bytes (0: all at once); returns the decoded length
 * (content in out) or -status, and the bytes consumed in *used. */
static long decode(const char *s, size_t len, size_t step, const httpd_limits *lim, char *out,
                   size_t cap, size_t *used)
{
    httpd_body b;
    httpd_body_init_chunked(&b, lim);
    size_t off = 0, avail = 0, o = 0;
    while (!httpd_body_done(&b)) {
        if (off == avail) {
            if (avail == len) break;
            avail = step && len - avail > step ? avail + step : len;
        }
        httpd_str d;
        ssize_t n = httpd_body_read(&b, s + off, avail - off, &d);
        if (n < 0) return n;
        if (d.len) {
            assert_true(d.p >= s + off && d.p + d.len <= s + off + n);
            assert_true(o + d.len <= cap);
            memcpy(out + o, d.p, d.len);
            o += d.len;
        }
        off += (size_t)n;
    }
    *used = off;
    assert_int_equal(b.total, o);
    return httpd_body_done(&b) ? (long)o : -1; /* -1: incomplete */
}

static void chunked_bodies_decode_at_every_split(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"0\r\n\r\n", ""},
        {"5\r\nhello\r\n0\r\n\r\n", "hello"},
        {"5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n", "hello world"},
        {"A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
        {"a;name\r\n0123456789\r\n0;last=1\r\n\r\n", "0123456789"},
        {"3 ; a = b ; c=\"q \\\" ;\" ;d\r\nabc\r\n0\r\n\r\n", "abc"},
        {"2\r\nhi\r\n0\r\nX-Trailer: 1\r\nX-Other:\r\n\r\n", "hi"},
        {"2;a ;b =c\t; d=\"\" ;e\r\nhi\r\n0\r\n\r\n", "hi"},
        {"0000000000000002\r\nok\r\n0\r\n\r\n", "ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].in), used;
        char out[64];
        for (size_t step = 0; step <= len; step++) {
            long n = decode(cases[i].in, len, step, NULL, out, sizeof out, &used);
            if (n != (long)strlen(cases[i].out) || memcmp(out, cases[i].out, (size_t)n))
                fail_msg("case %zu step %zu: got %ld", i, step, n);
            assert_int_equal(used, len);
        }
    }
}

static void malformed_chunked_bodies_are_refused(void **state)
{
#define M(s, status)                                                                               \
    {                                                                                              \
        s, sizeof(s) - 1, status                                                                   \
    }
    static const struct {
        const char *in;
        size_t len;
        long status;
    } cases[] = {
        M("\r\n", -400),                        /* no size */
        M("g\r\n", -400),                       /* not hex */
        M("-1\r\n", -400),                      /* sign */
        M("0x5\r\nhello\r\n0\r\n\r\n", -400),   /* C prefix */
        M("5\r\nhelloX", -400),                 /* data longer than announced */
        M("5\r\nhello\n0\r\n\r\n", -400),       /* bare LF after data */
        M("5\rxhello", -400),                   /* bare CR after size */
        M("5\nhello", -400),                    /* bare LF after size */
        M("5 \r\nhello\r\n", -400),             /* trailing space without extension */
        M("5;\r\nhello\r\n", -400),             /* ';' without a name */
        M("5;a=\r\nhello\r\n", -400),           /* '=' without a value */
        M("5;a=\"x\r\nhello\r\n", -400),        /* unterminated quoted value */
        M("5;a=b c\r\nhello\r\n", -400),        /* two tokens */
        M("5;a \x01\r\nhello\r\n", -400),       /* control after a name */
        M("5;a=\"x\" y\r\nhello\r\n", -400),    /* token after a quoted value */
        M("5;a=\"x\"y\r\nhello\r\n", -400),     /* no separator after a quoted value */
        M("5;a=\"\\\x01\"\r\nhello\r\n", -400), /* escaped control */
        M("5 x\r\nhello\r\n", -400),            /* junk after whitespace */
        M("5;a\x01\r\nhello\r\n", -400),        /* control in extension */
        M("5;a=\"\x7f\"\r\nhello\r\n", -400),   /* DEL in quoted value */
        M("0\r\n \r\n\r\n", -400),              /* trailer starting with space */
        M("0\r\nX-A: a\r\n b\r\n\r\n", -400),   /* obs-fold in trailer */
        M("0\r\nX-A\r\n\r\n", -400),            /* trailer without colon */
        M("0\r\nX-A: \0\r\n\r\n", -400),        /* NUL in trailer value */
        M("0\r\n\n", -400),                     /* bare LF at the end */
        M("0\r\n\rx", -400),                    /* bare CR at the end */
        M("00000000000000001\r\n", -400),       /* 17 digits */
        M("ffffffffffffffff\r\n", -413),        /* larger than max_body */
        M("100001\r\n", -413),                  /* max_body (1 MiB) + 1 */
    };
#undef M
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t used;
        for (size_t step = 0; step <= cases[i].len; step++) {
            long n = decode(cases[i].in, cases[i].len, step, NULL, out, sizeof out, &used);
            if (n != cases[i].status) fail_msg("case %zu step %zu: got %ld", i, step, n);
        }
    }
    char out[8];
    size_t used;
    assert_int_equal(decode("100000\r\n", 8, 0, NULL, out, sizeof out, &used), -1);
}

static void chunked_limits_cover_extensions_and_trailers(void **state)
{
    const httpd_limits lim = {.max_line = 32, .max_head = 64, .max_headers = 2, .max_body = 100};
    char in[512], out[128];
    size_t used;
    /* A size line (with its extension) of max_line bytes passes, one more byte does not. */
    snprintf(in, sizeof in, "1;%0*d\r\nx\r\n0\r\n\r\n", 32 - 4, 0);
    assert_int_equal(decode(in, strlen(in), 0, &lim, out, sizeof out, &used), 1);
    snprintf(in, sizeof in, "1;%0*d\r\nx\r\n0\r\n\r\n", 32 - 3, 0);
    assert_int_equal(decode(in, strlen(in), 0, &lim, out, sizeof out, &used), -400);
    /* Extensions over the whole body count against max_head. */
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "1;%020d\r\nx\r\n", i);
    snprintf(in + n, sizeof in - n, "0\r\n\r\n");
    assert_int_equal(decode(in, strlen(in), 0, &lim, out, sizeof out, &used), -400);
    /* More trailer fields than max_headers, or more trailer bytes than max_head: 431. */
    assert_int_equal(decode("0\r\na:1\r\nb:2\r\n\r\n", 16, 0, &lim, out, sizeof out, &used), 0);
    assert_int_equal(decode("0\r\na:1\r\nb:2\r\nc:3\r\n\r\n", 21, 0, &lim, out, sizeof out, &used),
                     -431);
    snprintf(in, sizeof in, "0\r\nX: %070d\r\n\r\n", 0);
    assert_int_equal(decode(in, strlen(in), 0, &lim, out, sizeof out, &used), -431);
    /* Decoded bytes over max_body across chunks: 413 when the size that crosses it arrives. */
    assert_int_equal(decode("32\r\n", 4, 0, &lim, out, sizeof out, &used), -1);
    n = (size_t)snprintf(in, sizeof in, "32\r\n%050d\r\n33\r\n", 0);
    assert_int_equal(decode(in, n, 0, &lim, out, sizeof out, &used), -413);
}

/* The decoder stops at the end of the body: the next pipelined request is left alone. */
static void body_stops_at_its_end(void **state)
{
    const char *s = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    char out[16];
    size_t used;
    assert_int_equal(decode(s, strlen(s), 0, NULL, out, sizeof out, &used), 5);
    assert_int_equal(used, strlen("5\r\nhello\r\n0\r\n\r\n"));

    httpd_request req = {.body = HTTPD_BODY_LENGTH, .content_length = 7};
    httpd_body b;
    httpd_body_init(&b, &req, NULL);
    httpd_str d;
    assert_false(httpd_body_done(&b));
    assert_int_equal(httpd_body_read(&b, "abc", 3, &d), 3);
    assert_int_equal(d.len, 3);
    assert_int_equal(httpd_body_read(&b, "defgGET", 7, &d), 4);
    assert_int_equal(d.len, 4);
    assert_memory_equal(d.p, "defg", 4);
    assert_true(httpd_body_done(&b));
    assert_int_equal(httpd_body_read(&b, "GET", 3, &d), 0);
    assert_int_equal(d.len, 0);

    req.body = HTTPD_BODY_NONE;
    httpd_body_init(&b, &req, NULL);
    assert_true(httpd_body_done(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chunked_bodies_decode_at_every_split),
        cmocka_unit_test(malformed_chunked_bodies_are_refused),
        cmocka_unit_test(chunked_limits_cover_extensions_and_trailers),
        cmocka_unit_test(body_stops_at_its_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
