/* Response heads formatted into caller buffers, error responses, and the canned benchmark
 * responses. No snprintf: this runs once per response. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_PATH, memmem */
#endif
#include "http_internal.h"

#include <string.h>

const char httpd_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

const char *httpd_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* An output cursor that stops (and remembers it) instead of overflowing. */
struct out {
    char *p;
    size_t n, cap;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

#define PUT_LIT(o, lit) put((o), lit, sizeof(lit) - 1)

size_t httpd__fmt_u64(char out[20], uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[20];
    put(o, tmp, httpd__fmt_u64(tmp, v));
}

/* "Name: value\r\n"; a value with a control character (header injection) is refused. */
static void put_field(struct out *o, const char *name, size_t nlen, const char *value)
{
    size_t n = strlen(value);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            o->full = true;
            return;
        }
    }
    put(o, name, nlen);
    put(o, value, n);
    PUT_LIT(o, "\r\n");
}

#define PUT_FIELD(o, lit, value) put_field((o), lit, sizeof(lit) - 1, (value))

size_t httpd_response_head(char *buf, size_t cap, const httpd_response *r)
{
    struct out o = {buf, 0, cap, false};
    int status = r->status >= 100 && r->status <= 999 ? r->status : 500;
    PUT_LIT(&o, "HTTP/1.1 ");
    put_u64(&o, (uint64_t)status);
    PUT_LIT(&o, " ");
    const char *reason = httpd_reason(status);
    put(&o, reason, strlen(reason));
    PUT_LIT(&o, "\r\n");
    if (r->server) PUT_FIELD(&o, "Server: ", r->server);
    if (r->date) PUT_FIELD(&o, "Date: ", r->date);
    if (r->content_type) PUT_FIELD(&o, "Content-Type: ", r->content_type);
    if (r->content_length >= 0) {
        PUT_LIT(&o, "Content-Length: ");
        put_u64(&o, (uint64_t)r->content_length);
        PUT_LIT(&o, "\r\n");
    }
    if (r->last_modified) {
        char d[HTTPD_DATE_LEN + 1];
        httpd_date_format(r->last_modified, d);
        PUT_FIELD(&o, "Last-Modified: ", d);
    }
    if (r->etag) PUT_FIELD(&o, "ETag: ", r->etag);
    if (r->accept_ranges) PUT_LIT(&o, "Accept-Ranges: bytes\r\n");
    if (r->content_range) {
        PUT_LIT(&o, "Content-Range: bytes ");
        if (status == 416) {
            PUT_LIT(&o, "*");
        } else {
            put_u64(&o, r->range_first);
            PUT_LIT(&o, "-");
            put_u64(&o, r->range_last);
        }
        PUT_LIT(&o, "/");
        put_u64(&o, r->range_size);
        PUT_LIT(&o, "\r\n");
    }
    if (r->allow) PUT_FIELD(&o, "Allow: ", r->allow);
    if (!r->keep_alive)
        PUT_LIT(&o, "Connection: close\r\n");
    else if (r->version < 11)
        PUT_LIT(&o, "Connection: keep-alive\r\n");
    PUT_LIT(&o, "\r\n");
    return o.full ? 0 : o.n;
}

size_t httpd_error_response(char *buf, size_t cap, int status, const char *server, const char *date,
                            bool head_only)
{
    const char *reason = httpd_reason(status);
    size_t body_len = 4 + strlen(reason) + 1; /* "400 Bad Request\n" */
    httpd_response r = {
        .status = status,
        .version = 11,
        .keep_alive = false,
        .server = server,
        .date = date,
        .content_type = "text/plain; charset=utf-8",
        .content_length = (int64_t)body_len,
    };
    size_t n = httpd_response_head(buf, cap, &r);
    if (!n || head_only) return n;
    struct out o = {buf, n, cap, false};
    put_u64(&o, (uint64_t)(status >= 100 && status <= 999 ? status : 500));
    PUT_LIT(&o, " ");
    put(&o, reason, strlen(reason));
    PUT_LIT(&o, "\n");
    return o.full ? 0 : o.n;
}

static const struct {
    const char *type, *body;
} canned_kinds[HTTPD_CANNED_KINDS] = {
    [HTTPD_CANNED_PLAINTEXT] = {"text/plain", "Hello, World!"},
    [HTTPD_CANNED_JSON] = {"application/json", "{\"message\":\"Hello, World!\"}"},
};

void httpd_canned_init(httpd_canned *c, const char *server, const char *date)
{
    char name[65];
    size_t n = 0;
    for (const char *s = server; *s && n < 64; s++)
        if ((unsigned char)*s >= 0x20 && *s != 0x7f) name[n++] = *s;
    name[n] = 0;
    for (int k = 0; k < HTTPD_CANNED_KINDS; k++) {
        for (int m = 0; m < HTTPD_CONN_MODES; m++) {
            size_t blen = strlen(canned_kinds[k].body);
            httpd_response r = {
                .status = 200,
                .version = m == HTTPD_CONN_KEEP_ALIVE_10 ? 10 : 11,
                .keep_alive = m != HTTPD_CONN_CLOSE,
                .server = name,
                .date = date,
                .content_type = canned_kinds[k].type,
                .content_length = (int64_t)blen,
            };
            char *text = c->r[k][m].text;
            size_t h = httpd_response_head(text, sizeof c->r[k][m].text - blen, &r);
            /* text fits the longest server name; h is 0 only for a malformed date */
            const char *d = h ? memmem(text, h, "\r\nDate: ", 8) : NULL;
            if (!d) {
                c->r[k][m].len = c->r[k][m].head_len = c->r[k][m].date_off = 0;
                continue;
            }
            memcpy(text + h, canned_kinds[k].body, blen);
            c->r[k][m].head_len = (uint16_t)h;
            c->r[k][m].len = (uint16_t)(h + blen);
            c->r[k][m].date_off = (uint16_t)(d + 8 - text);
        }
    }
}

void httpd_canned_set_date(httpd_canned *c, const char *date)
{
    for (int k = 0; k < HTTPD_CANNED_KINDS; k++)
        for (int m = 0; m < HTTPD_CONN_MODES; m++)
            if (c->r[k][m].len) memcpy(c->r[k][m].text + c->r[k][m].date_off, date, HTTPD_DATE_LEN);
}
