/* uco-httpd's helpers: Range, HTTP-dates, conditional requests, response heads and the canned
 * benchmark responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static void ranges_follow_rfc_9110(void **state)
{
    static const struct {
        const char *v;
        uint64_t size;
        int status;
        uint64_t first, last;
    } cases[] = {
        {"bytes=0-499", 1000, 206, 0, 499},
        {"bytes=500-999", 1000, 206, 500, 999},
        {"bytes=500-", 1000, 206, 500, 999},
        {"bytes=-500", 1000, 206, 500, 999},
        {"bytes=-5000", 1000, 206, 0, 999}, /* suffix longer than the file: all of it */
        {"bytes=0-0", 1000, 206, 0, 0},
        {"bytes=999-999", 1000, 206, 999, 999},
        {"bytes=900-5000", 1000, 206, 900, 999}, /* last-pos past the end is cut */
        {"Bytes=1-2", 1000, 206, 1, 2},          /* the unit is case-insensitive */
        {"bytes= 1-2 ", 1000, 206, 1, 2},
        {"bytes=1-2,", 1000, 206, 1, 2}, /* empty list elements are ignored */
        {"bytes=0-99999999999999999999999", 10, 206, 0, 9},
        {"bytes=1000-", 1000, 416, 0, 0}, /* first-pos at the end */
        {"bytes=5000-6000", 1000, 416, 0, 0},
        {"bytes=99999999999999999999999-", 10, 416, 0, 0},
        {"bytes=-0", 1000, 416, 0, 0},
        {"bytes=0-", 0, 416, 0, 0}, /* nothing to satisfy in an empty file */
        {"bytes=-1", 0, 416, 0, 0},
        {"bytes=5-2", 1000, 200, 0, 0},     /* invalid: ignored */
        {"bytes=0-1,5-6", 1000, 200, 0, 0}, /* several ranges: the whole file */
        {"bytes=", 1000, 200, 0, 0},
        {"bytes=,", 1000, 200, 0, 0},
        {"bytes=a-b", 1000, 200, 0, 0},
        {"bytes=1", 1000, 200, 0, 0},
        {"bytes=--1", 1000, 200, 0, 0},
        {"bytes=1-2-3", 1000, 200, 0, 0},
        {"bytes=+1-2", 1000, 200, 0, 0},
        {"bytes 1-2", 1000, 200, 0, 0},
        {"items=1-2", 1000, 200, 0, 0},
        {"bytes=1 -2", 1000, 200, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t a = 0, b = 0;
        int s = httpd_range_parse(cases[i].v, strlen(cases[i].v), cases[i].size, &a, &b);
        if (s != cases[i].status || (s == 206 && (a != cases[i].first || b != cases[i].last)))
            fail_msg("'%s' size %lu: %d %lu-%lu", cases[i].v, (unsigned long)cases[i].size, s,
                     (unsigned long)a, (unsigned long)b);
    }
    uint64_t a, b;
    assert_int_equal(httpd_range_parse(NULL, 0, 10, &a, &b), 200);
}

static void dates_format_as_imf_fixdate(void **state)
{
    char d[HTTPD_DATE_LEN + 1];
    assert_int_equal(httpd_date_format(784111777, d), HTTPD_DATE_LEN);
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    httpd_date_format(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    httpd_date_format(951782400, d); /* leap day */
    assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT");
    httpd_date_format(-1, d);
    assert_string_equal(d, "Wed, 31 Dec 1969 23:59:59 GMT");
    httpd_date_format(4102444800LL, d);
    assert_string_equal(d, "Fri, 01 Jan 2100 00:00:00 GMT");
    httpd_date_format((time_t)1 << 40, d); /* clamped */
    assert_string_equal(d, "Fri, 31 Dec 9999 23:59:59 GMT");
    /* Every day of 1999..2030 survives a round trip. */
    for (time_t t = 915148800; t < 1924991999; t += 86400 + 3671) {
        time_t back = 0;
        httpd_date_format(t, d);
        assert_int_equal(httpd_date_parse(d, HTTPD_DATE_LEN, &back), 0);
        assert_int_equal(back, t);
    }
}

static void dates_parse_in_all_three_forms(void **state)
{
    const time_t now = 1764000000; /* November 2025 */
    static const struct {
        const char *s;
        int r;
        time_t t;
    } cases[] = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 784111777},
        {"Sunday, 06-Nov-94 08:49:37 GMT", 0, 784111777},
        {"Sun Nov  6 08:49:37 1994", 0, 784111777},
        {"Thu Nov 16 08:49:37 1994", 0, 784975777},
        {"Wednesday, 01-Jan-70 00:00:00 GMT", 0, 3155760000LL}, /* 2070: < 50 years ahead */
        {"Monday, 01-Jan-80 00:00:00 GMT", 0, 315532800},       /* 2080 is > 50 years ahead: 1980 */
        {"Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400},
        {"Sat, 31 Dec 2016 23:59:60 GMT", 0, 1483228800}, /* leap second */
        {"Wed, 29 Feb 2001 00:00:00 GMT", -400, 0},       /* no such day */
        {"Wed, 31 Apr 2001 00:00:00 GMT", -400, 0},
        {"Wed, 00 Apr 2001 00:00:00 GMT", -400, 0},
        {"Sun, 06 Nov 1994 24:00:00 GMT", -400, 0},
        {"Sun, 06 Nov 1994 08:60:00 GMT", -400, 0},
        {"Sun, 06 Nov 1994 08:49:37 UTC", -400, 0},
        {"sun, 06 Nov 1994 08:49:37 GMT", -400, 0}, /* names are case-sensitive */
        {"Sun, 06 nov 1994 08:49:37 GMT", -400, 0},
        {"Sun, 6 Nov 1994 08:49:37 GMT", -400, 0},
        {"Sun, 06 Nov 94 08:49:37 GMT", -400, 0},
        {"Sun, 06 Nov 1994 08:49:37 GMT ", -400, 0},
        {"Sun, 06 Nov 1994 8:49:37 GMT", -400, 0},
        {"Sunday, 06-Nov-1994 08:49:37 GMT", -400, 0},
        {"Sundae, 06-Nov-94 08:49:37 GMT", -400, 0},
        {"Sun Nov 6 08:49:37 1994", -400, 0},
        {"Sun Nov  6 08:49:37 94", -400, 0},
        {"1994-11-06T08:49:37Z", -400, 0},
        {"", -400, 0},
        {",", -400, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        time_t t = 0;
        int r = httpd_date_parse_at(cases[i].s, strlen(cases[i].s), now, &t);
        if (r != cases[i].r || (r == 0 && t != cases[i].t))
            fail_msg("'%s': %d %ld", cases[i].s, r, (long)t);
    }
}

static void if_modified_since_compares_seconds(void **state)
{
    const char *ims = "Sun, 06 Nov 1994 08:49:37 GMT";
    httpd_str v = {ims, strlen(ims)};
    assert_true(httpd_not_modified(v, 784111777));
    assert_true(httpd_not_modified(v, 784111776));
    assert_false(httpd_not_modified(v, 784111778));
    assert_false(httpd_not_modified((httpd_str){"yesterday", 9}, 0));
    assert_false(httpd_not_modified((httpd_str){NULL, 0}, 0));
}

static int preconditions_with(const char *fields, time_t mtime, const char *etag)
{
    char buf[512];
    static httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", fields);
    assert_int_equal(httpd_parse_request(&p, buf, (size_t)n, &req), n);
    return httpd_preconditions(&req, mtime, etag);
}

static int preconditions_of(const char *fields, time_t mtime)
{
    return preconditions_with(fields, mtime, NULL);
}

static int preconditions_etag(const char *fields, const char *etag)
{
    return preconditions_with(fields, 784111777, etag);
}

static void preconditions_follow_rfc_9110_order(void **state)
{
    const time_t m = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
#define D "Sun, 06 Nov 1994 08:49:37 GMT"
    assert_int_equal(preconditions_of("", m), 0);
    assert_int_equal(preconditions_of("If-Modified-Since: " D "\r\n", m), 304);
    assert_int_equal(preconditions_of("If-Modified-Since: " D "\r\n", m + 1), 0);
    assert_int_equal(preconditions_of("If-Modified-Since: garbage\r\n", m), 0);
    /* If-None-Match takes precedence over If-Modified-Since. */
    assert_int_equal(preconditions_of("If-None-Match: \"x\"\r\nIf-Modified-Since: " D "\r\n", m),
                     0);
    assert_int_equal(preconditions_of("If-None-Match: *\r\n", m), 304);
    assert_int_equal(preconditions_of("If-Unmodified-Since: " D "\r\n", m), 0);
    assert_int_equal(preconditions_of("If-Unmodified-Since: " D "\r\n", m + 1), 412);
    assert_int_equal(preconditions_of("If-Match: *\r\nIf-Unmodified-Since: " D "\r\n", m + 1), 0);
    assert_int_equal(preconditions_of("If-Match: \"x\"\r\n", m), 412);

    httpd_str date = {D, HTTPD_DATE_LEN};
    assert_true(httpd_range_applies((httpd_str){NULL, 0}, m, NULL));
    assert_true(httpd_range_applies(date, m, NULL));
    assert_false(httpd_range_applies(date, m + 1, NULL));
    assert_false(httpd_range_applies((httpd_str){"\"etag\"", 6}, m, NULL));

    /* mtime 0 is "no modification date": the date conditions are ignored (RFC 9110 13.1.3,
     * 13.1.4) and an If-Range date cannot match a Last-Modified that was never sent. */
#define EPOCH "Thu, 01 Jan 1970 00:00:00 GMT"
    assert_int_equal(preconditions_of("If-Modified-Since: " EPOCH "\r\n", 0), 0);
    assert_int_equal(preconditions_of("If-Modified-Since: " D "\r\n", 0), 0);
    assert_int_equal(preconditions_of("If-Unmodified-Since: " EPOCH "\r\n", 0), 0);
    assert_false(httpd_range_applies((httpd_str){EPOCH, HTTPD_DATE_LEN}, 0, NULL));
#undef EPOCH
#undef D
}

/* Entity tags: If-None-Match compares weakly (W/ counts), If-Match and If-Range strongly. */
static void entity_tags_are_compared_as_rfc_9110_says(void **state)
{
    char e[HTTPD_ETAG_MAX];
    httpd_etag_format(e, 0x5f1a, 0x3b9ac9ff, 0x1c);
    assert_string_equal(e, "\"5f1a.3b9ac9ff-1c\"");
    httpd_etag_format(e, INT64_MAX, 999999999, UINT64_MAX);
    assert_true(strlen(e) < HTTPD_ETAG_MAX);
    const char *tag = "\"5f1a.0-1c\"";
    assert_int_equal(preconditions_etag("If-None-Match: \"5f1a.0-1c\"\r\n", tag), 304);
    assert_int_equal(preconditions_etag("If-None-Match: W/\"5f1a.0-1c\"\r\n", tag), 304);
    assert_int_equal(preconditions_etag("If-None-Match: \"a\", W/\"b\" ,\"5f1a.0-1c\"\r\n", tag),
                     304);
    assert_int_equal(preconditions_etag("If-None-Match: \"5f1a.0-1d\"\r\n", tag), 0);
    assert_int_equal(preconditions_etag("If-None-Match: 5f1a.0-1c\r\n", tag), 0); /* no quotes */
    assert_int_equal(preconditions_etag("If-None-Match: \"5f1a.0-1c\"\r\n", NULL), 0);
    /* If-None-Match overrides If-Modified-Since, also when it names no tag of ours. */
    assert_int_equal(
        preconditions_etag("If-None-Match: \"x\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 "
                           "08:49:37 GMT\r\n",
                           tag),
        0);
    assert_int_equal(preconditions_etag("If-Match: \"5f1a.0-1c\"\r\n", tag), 0);
    assert_int_equal(preconditions_etag("If-Match: \"a\", \"5f1a.0-1c\"\r\n", tag), 0);
    assert_int_equal(preconditions_etag("If-Match: W/\"5f1a.0-1c\"\r\n", tag), 412);
    assert_int_equal(preconditions_etag("If-Match: \"5f1a.0-1c\r\n", tag), 412); /* unclosed */
    assert_int_equal(preconditions_etag("If-Match: \"a\" junk, \"5f1a.0-1c\"\r\n", tag), 412);
    assert_true(httpd_range_applies((httpd_str){tag, strlen(tag)}, 1, tag));
    assert_false(httpd_range_applies((httpd_str){"W/\"5f1a.0-1c\"", 13}, 1, tag));
    assert_false(httpd_range_applies((httpd_str){"\"5f1a.0-1d\"", 12}, 1, tag));
    assert_false(httpd_range_applies((httpd_str){tag, strlen(tag)}, 1, NULL));
}

static void date_cache_changes_once_per_second(void **state)
{
    httpd_date_cache c = {0};
    assert_true(httpd_date_cache_set(&c, 784111777));
    assert_string_equal(c.text, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_false(httpd_date_cache_set(&c, 784111777));
    assert_true(httpd_date_cache_set(&c, 784111778));
    assert_string_equal(c.text, "Sun, 06 Nov 1994 08:49:38 GMT");
    const char *now = httpd_date_cache_now(&c);
    time_t t;
    assert_int_equal(httpd_date_parse(now, strlen(now), &t), 0);
    assert_true(t >= time(NULL) - 2 && t <= time(NULL) + 2);
}

static void response_heads_carry_every_field(void **state)
{
    char buf[512];
    httpd_response r = {
        .status = 206,
        .version = 11,
        .keep_alive = true,
        .server = "uco",
        .date = "Sun, 06 Nov 1994 08:49:37 GMT",
        .content_type = "text/html; charset=utf-8",
        .content_length = 500,
        .last_modified = 784111777,
        .accept_ranges = true,
        .content_range = true,
        .range_first = 0,
        .range_last = 499,
        .range_size = 1000,
    };
    const char *want = "HTTP/1.1 206 Partial Content\r\n"
                       "Server: uco\r\n"
                       "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "Content-Type: text/html; charset=utf-8\r\n"
                       "Content-Length: 500\r\n"
                       "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "Accept-Ranges: bytes\r\n"
                       "Content-Range: bytes 0-499/1000\r\n"
                       "\r\n";
    size_t n = httpd_response_head(buf, sizeof buf, &r);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    /* Too small a buffer: 0, at every size. */
    for (size_t cap = 0; cap < strlen(want); cap++)
        assert_int_equal(httpd_response_head(buf, cap, &r), 0);

    httpd_response r416 = {.status = 416,
                           .version = 10,
                           .keep_alive = true,
                           .content_length = 0,
                           .content_range = true,
                           .range_size = 1000};
    want = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n"
           "Content-Range: bytes */1000\r\nConnection: keep-alive\r\n\r\n";
    n = httpd_response_head(buf, sizeof buf, &r416);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    httpd_response r304 = {.status = 304,
                           .version = 11,
                           .keep_alive = false,
                           .content_length = -1,
                           .allow = "GET, HEAD"};
    want = "HTTP/1.1 304 Not Modified\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n";
    n = httpd_response_head(buf, sizeof buf, &r304);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    /* A value with CR or LF would inject a field: refused. */
    r304.allow = "GET\r\nX: y";
    assert_int_equal(httpd_response_head(buf, sizeof buf, &r304), 0);
}

static void error_responses_close_the_connection(void **state)
{
    char buf[256];
    const char *want = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                       "Server: uco\r\n"
                       "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Length: 36\r\n"
                       "Connection: close\r\n"
                       "\r\n"
                       "431 Request Header Fields Too Large\n";
    size_t n =
        httpd_error_response(buf, sizeof buf, 431, "uco", "Sun, 06 Nov 1994 08:49:37 GMT", false);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    n = httpd_error_response(buf, sizeof buf, 400, "uco", "Sun, 06 Nov 1994 08:49:37 GMT", true);
    assert_int_equal(n, strstr(buf, "\r\n\r\n") + 4 - buf);
    assert_int_equal(httpd_error_response(buf, 100, 400, "uco", "x", false), 0);
    for (int s = 400; s < 600; s++)
        assert_true(httpd_error_response(buf, sizeof buf, s, "uco", "Sun, 06 Nov 1994 08:49:37 GMT",
                                         false) > 0);
    assert_string_equal(httpd_reason(414), "URI Too Long");
    assert_string_equal(httpd_reason(999), "Unknown");
    assert_int_equal(strlen(httpd_continue), HTTPD_CONTINUE_LEN);
}

static void canned_responses_are_the_benchmark_form(void **state)
{
    static httpd_canned c;
    httpd_canned_init(&c, "uco", "Sun, 06 Nov 1994 08:49:37 GMT");
    httpd_str s = httpd_canned_get(&c, HTTPD_CANNED_PLAINTEXT, HTTPD_CONN_KEEP_ALIVE_11, false);
    const char *want = "HTTP/1.1 200 OK\r\n"
                       "Server: uco\r\n"
                       "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 13\r\n"
                       "\r\n"
                       "Hello, World!";
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.p, want, s.len);
    httpd_canned_set_date(&c, "Mon, 07 Nov 1994 08:49:37 GMT");
    s = httpd_canned_get(&c, HTTPD_CANNED_JSON, HTTPD_CONN_CLOSE, false);
    want = "HTTP/1.1 200 OK\r\n"
           "Server: uco\r\n"
           "Date: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
           "Content-Type: application/json\r\n"
           "Content-Length: 27\r\n"
           "Connection: close\r\n"
           "\r\n"
           "{\"message\":\"Hello, World!\"}";
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.p, want, s.len);
    s = httpd_canned_get(&c, HTTPD_CANNED_JSON, HTTPD_CONN_KEEP_ALIVE_10, true);
    assert_int_equal(s.len, strstr(s.p, "\r\n\r\n") + 4 - s.p);
    assert_non_null(strstr(s.p, "Connection: keep-alive\r\n"));
    /* The longest server name still fits. */
    char name[100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    httpd_canned_init(&c, name, "Sun, 06 Nov 1994 08:49:37 GMT");
    s = httpd_canned_get(&c, HTTPD_CANNED_JSON, HTTPD_CONN_KEEP_ALIVE_10, false);
    assert_true(s.len > 200);
    assert_memory_equal(s.p + s.len - 27, "{\"message\":\"Hello, World!\"}", 27);
    httpd_request req = {.version = 10, .keep_alive = true};
    assert_int_equal(httpd_conn_mode_of(&req), HTTPD_CONN_KEEP_ALIVE_10);
    req.keep_alive = false;
    assert_int_equal(httpd_conn_mode_of(&req), HTTPD_CONN_CLOSE);
}

static void access_log_lines_use_the_common_log_format(void **state)
{
    char line[256];
    static httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    const char *s = "GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_true(httpd_parse_request(&p, s, strlen(s), &req) > 0);
    size_t n = httpd_log_line(line, sizeof line, "127.0.0.1", &req, 200, 2326, 784111777);
    const char *want =
        "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b=1 HTTP/1.1\" 200 2326\n";
    assert_int_equal(n, strlen(want));
    assert_string_equal(line, want);
    /* Refused before the request line was understood: "-" for the request and for no bytes. */
    s = "\x16\x03\x01\x02\x00";
    assert_int_equal(httpd_parse_request(&p, s, strlen(s), &req), -400);
    n = httpd_log_line(line, sizeof line, "::1", &req, 400, 0, 0);
    assert_string_equal(line, "::1 - - [01/Jan/1970:00:00:00 +0000] \"-\" 400 -\n");
    /* An unknown method is logged with its target once the line is complete. */
    s = "BREW /pot HTTP/1.0\r\n\r\n";
    assert_int_equal(httpd_parse_request(&p, s, strlen(s), &req), -501);
    n = httpd_log_line(line, sizeof line, NULL, &req, 501, 0, 0);
    assert_string_equal(line, "- - - [01/Jan/1970:00:00:00 +0000] \"-\" 501 -\n");
    /* What could forge a line is escaped. */
    n = httpd_log_line(line, sizeof line, "a\"b\n", NULL, 200, 1, 0);
    assert_string_equal(line, "a\\x22b\\x0a - - [01/Jan/1970:00:00:00 +0000] \"-\" 200 1\n");
    assert_int_equal(httpd_log_line(line, 20, "127.0.0.1", NULL, 200, 1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranges_follow_rfc_9110),
        cmocka_unit_test(dates_format_as_imf_fixdate),
        cmocka_unit_test(dates_parse_in_all_three_forms),
        cmocka_unit_test(if_modified_since_compares_seconds),
        cmocka_unit_test(preconditions_follow_rfc_9110_order),
        cmocka_unit_test(entity_tags_are_compared_as_rfc_9110_says),
        cmocka_unit_test(date_cache_changes_once_per_second),
        cmocka_unit_test(response_heads_carry_every_field),
        cmocka_unit_test(error_responses_close_the_connection),
        cmocka_unit_test(canned_responses_are_the_benchmark_form),
        cmocka_unit_test(access_log_lines_use_the_common_log_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
