/* Access log lines in the Common Log Format, as nginx and Apache write them by default:
 *   127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /index.html HTTP/1.1" 200 2326 */
#include "http_internal.h"

#include <string.h>

/* Copies s, replacing bytes that could forge or break a log line (controls, '"', '\', non-ASCII)
 * with \xHH. The parser lets none of them into a method or target, but peer names and values
 * from elsewhere get the same treatment. */
static size_t put_escaped(char *out, size_t o, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            if (o < cap) out[o] = (char)c;
            o++;
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            for (int k = 0; k < 4; k++, o++)
                if (o < cap) out[o] = e[k];
        }
    }
    return o;
}

static size_t put_raw(char *out, size_t o, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, o++)
        if (o < cap) out[o] = s[i];
    return o;
}

static size_t put_u64(char *out, size_t o, size_t cap, uint64_t v)
{
    char tmp[20];
    return put_raw(out, o, cap, tmp, httpd__fmt_u64(tmp, v));
}

size_t httpd_log_line(char *out, size_t cap, const char *peer, const httpd_request *req, int status,
                      uint64_t bytes, time_t t)
{
    size_t o = 0;
    o = put_escaped(out, o, cap, peer && *peer ? peer : "-", peer && *peer ? strlen(peer) : 1);
    struct httpd__tm tm;
    httpd__utc(t, &tm);
    char d[] = " - - [00/Jan/0000:00:00:00 +0000] \"";
    httpd__two(d + 6, tm.day);
    memcpy(d + 9, httpd__month_name(tm.mon), 3);
    httpd__two(d + 13, tm.year / 100);
    httpd__two(d + 15, tm.year % 100);
    httpd__two(d + 18, tm.hour);
    httpd__two(d + 21, tm.min);
    httpd__two(d + 24, tm.sec);
    o = put_raw(out, o, cap, d, sizeof d - 1);
    if (req && req->method_name.p && req->target.p) {
        o = put_escaped(out, o, cap, req->method_name.p, req->method_name.len);
        o = put_raw(out, o, cap, " ", 1);
        o = put_escaped(out, o, cap, req->target.p, req->target.len);
        o = put_raw(out, o, cap, req->version >= 11 ? " HTTP/1.1\" " : " HTTP/1.0\" ", 11);
    } else {
        o = put_raw(out, o, cap, "-\" ", 3); /* the request line was not understood */
    }
    o = put_u64(out, o, cap, (uint64_t)(status >= 100 && status <= 999 ? status : 0));
    o = put_raw(out, o, cap, " ", 1);
    o = bytes ? put_u64(out, o, cap, bytes) : put_raw(out, o, cap, "-", 1);
    o = put_raw(out, o, cap, "\n", 1);
    if (o >= cap) return 0; /* also leaves room for the caller's NUL */
    out[o] = 0;
    return o;
}
