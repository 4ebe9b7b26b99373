/* Range requests (RFC 9110 14) and conditional requests (RFC 9110 13) for static files, which
 * have a Last-Modified date and a strong entity tag made from the file's mtime and size. */
#include "http_internal.h"

#include <stdio.h>
#include <string.h>

/* 1*DIGIT at v[*i], saturating at UINT64_MAX; false if there is no digit. */
static bool parse_u64(const char *v, size_t n, size_t *i, uint64_t *out)
{
    size_t s = *i;
    uint64_t x = 0;
    while (*i < n && v[*i] >= '0' && v[*i] <= '9') {
        unsigned d = (unsigned)(v[(*i)++] - '0');
        x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *out = x;
    return *i > s;
}

int httpd_range_parse(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (!v || len < 6 || !HTTPD__IEQ(v, 5, "bytes") || v[5] != '=') return 200;
    size_t i = 6;
    unsigned count = 0;
    bool suffix = false, has_last = false;
    uint64_t a = 0, b = 0;
    /* range-set = 1#range-spec: empty list elements are allowed and ignored. */
    for (;;) {
        while (i < len && (httpd__ows(v[i]) || v[i] == ','))
            i++;
        if (i == len) break;
        if (++count > 1) return 200; /* several ranges: answer with the whole representation */
        if (v[i] == '-') {
            i++;
            suffix = true;
            if (!parse_u64(v, len, &i, &b)) return 200;
        } else {
            if (!parse_u64(v, len, &i, &a) || i == len || v[i] != '-') return 200;
            i++;
            has_last = parse_u64(v, len, &i, &b);
            if (has_last && b < a) return 200; /* invalid range-spec */
        }
        while (i < len && httpd__ows(v[i]))
            i++;
        if (i < len && v[i] != ',') return 200;
    }
    if (count == 0) return 200;
    if (size == 0) return 416;
    if (suffix) {
        if (b == 0) return 416;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 206;
    }
    if (a >= size) return 416;
    *first = a;
    *last = has_last && b < size - 1 ? b : size - 1;
    return 206;
}

bool httpd_not_modified(httpd_str ims, time_t mtime)
{
    time_t t;
    if (!ims.p || httpd_date_parse(ims.p, ims.len, &t) < 0) return false;
    return mtime <= t;
}

void httpd_etag_format(char out[HTTPD_ETAG_MAX], int64_t sec, long nsec, uint64_t size)
{
    snprintf(out, HTTPD_ETAG_MAX, "\"%llx.%lx-%llx\"", (unsigned long long)sec, (unsigned long)nsec,
             (unsigned long long)size);
}

/* Whether entity-tag list v (RFC 9110 8.8.3: #( [W/] DQUOTE etagc DQUOTE )) names etag (ours,
 * strong, with its quotes). weak: the weak comparison (W/ tags count, If-None-Match), else the
 * strong one (If-Match). A malformed list names nothing. */
static bool etag_listed(httpd_str v, const char *etag, bool weak)
{
    if (!etag) return false;
    size_t elen = strlen(etag);
    const char *p = v.p, *end = v.p + v.len;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end) return false;
        bool is_weak = end - p >= 2 && p[0] == 'W' && p[1] == '/';
        if (is_weak) p += 2;
        if (p == end || *p != '"') return false;
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (!q) return false;
        size_t n = (size_t)(q + 1 - p);
        if ((weak || !is_weak) && n == elen && memcmp(p, etag, n) == 0) return true;
        p = q + 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != ',') return false;
    }
}

bool httpd_range_applies(httpd_str if_range, time_t mtime, const char *etag)
{
    time_t t;
    if (!if_range.p) return true;
    /* An entity tag must be ours, compared strongly (RFC 9110 13.1.5); a date must be exactly
     * Last-Modified, and there is none for mtime 0 (httpd_response sends none then). */
    if (if_range.p[0] == '"') /* one strong tag (the parser gives a non-empty value) */
        return etag && if_range.len == strlen(etag) && memcmp(if_range.p, etag, if_range.len) == 0;
    if (if_range.len >= 2 && if_range.p[0] == 'W' && if_range.p[1] == '/') return false;
    return mtime != 0 && httpd_date_parse(if_range.p, if_range.len, &t) == 0 && t == mtime;
}

static bool is_star(httpd_str v)
{
    return v.len == 1 && v.p[0] == '*';
}

int httpd_preconditions(const httpd_request *req, time_t mtime, const char *etag)
{
    time_t t;
    httpd_str if_match = httpd_request_header(req, "if-match");
    if (if_match.p) {
        if (!is_star(if_match) && !etag_listed(if_match, etag, false)) return 412;
    } else if (mtime != 0 && req->if_unmodified_since.p &&
               httpd_date_parse(req->if_unmodified_since.p, req->if_unmodified_since.len, &t) ==
                   0 &&
               mtime > t) {
        return 412;
    }
    bool get = req->method == HTTPD_GET || req->method == HTTPD_HEAD;
    if (req->if_none_match.p) {
        if (!is_star(req->if_none_match) && !etag_listed(req->if_none_match, etag, true)) return 0;
        return get ? 304 : 412;
    }
    if (get && mtime != 0 && httpd_not_modified(req->if_modified_since, mtime)) return 304;
    return 0;
}
