/* The request head parser: request line, field lines, and the framing decisions (RFC 9112).
 *
 * parse_head() walks a head once, left to right, looking only inside the limit windows, and
 * stops at the first problem. It gives its answer only at a "decision point", a property of the
 * bytes received so far that no later byte can undo (scan() finds them incrementally):
 *   - the request line: its LF arrived, its window is full, or its method token is already
 *     impossible (say a TLS ClientHello): the request line is judged;
 *   - the head: its empty line arrived, a bare LF or a CR inside a line arrived, its window is
 *     full, or more than max_headers lines arrived: the whole head is judged.
 * So every split of a stream gets the same answer, and a request trickling in byte by byte costs
 * O(n) plus at most two parses. A fresh call first tries parse_head() on the whole buffer: a
 * complete valid head (the common case) is then parsed in a single pass. */
#include "http_internal.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

const unsigned char httpd__ctype[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x44, 0xe7, 0x04, 0x45, 0xe7, 0x47, 0xe7, 0xe7, 0xe6, 0xe6, 0xe7, 0xe7, 0xe6, 0xe7, 0xe7, 0xc6,
    0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xc6, 0xe6, 0x44, 0xe6, 0x44, 0xc6,
    0xc6, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7,
    0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0x56, 0x04, 0x56, 0x45, 0xe7,
    0x45, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7,
    0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0xe7, 0x44, 0x45, 0x44, 0xe7, 0x00,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
    0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,
};

void httpd_limits_default(httpd_limits *lim)
{
    lim->max_line = 8192;
    lim->max_head = 16384;
    lim->max_headers = 64;
    lim->max_body = 1 << 20;
}

void httpd__limits_fill(httpd_limits *dst, const httpd_limits *src)
{
    httpd_limits def;
    httpd_limits_default(&def);
    if (!src) src = &def;
    /* The caps keep every offset the parser computes far from overflowing 32 bits. */
    const uint32_t cap = 1u << 30;
    dst->max_line = src->max_line ? src->max_line : def.max_line;
    dst->max_head = src->max_head ? src->max_head : def.max_head;
    dst->max_headers = src->max_headers ? src->max_headers : def.max_headers;
    dst->max_body = src->max_body ? src->max_body : def.max_body;
    if (dst->max_line > cap) dst->max_line = cap;
    if (dst->max_head > cap) dst->max_head = cap;
    if (dst->max_headers > HTTPD_HEADERS_MAX) dst->max_headers = HTTPD_HEADERS_MAX;
}

void httpd_parser_init(httpd_parser *p, const httpd_limits *lim)
{
    httpd__limits_fill(&p->lim, lim);
    httpd_parser_reset(p);
}

void httpd_parser_reset(httpd_parser *p)
{
    p->seen = p->scan = p->skip = p->mscan = p->line_end = p->lstart = p->nlf = 0;
}

static const char *const method_names[] = {
    [HTTPD_GET] = "GET",     [HTTPD_HEAD] = "HEAD",     [HTTPD_POST] = "POST",
    [HTTPD_PUT] = "PUT",     [HTTPD_DELETE] = "DELETE", [HTTPD_OPTIONS] = "OPTIONS",
    [HTTPD_TRACE] = "TRACE", [HTTPD_PATCH] = "PATCH",
};

const char *httpd_method_name(httpd_method m)
{
    if ((unsigned)m >= sizeof method_names / sizeof method_names[0] || !method_names[m]) return "?";
    return method_names[m];
}

/* Method names are case-sensitive (RFC 9110 9.1). */
static httpd_method method_lookup(const char *s, size_t n)
{
    switch (n) {
    case 3:
        if (!memcmp(s, "GET", 3)) return HTTPD_GET;
        if (!memcmp(s, "PUT", 3)) return HTTPD_PUT;
        break;
    case 4:
        if (!memcmp(s, "HEAD", 4)) return HTTPD_HEAD;
        if (!memcmp(s, "POST", 4)) return HTTPD_POST;
        break;
    case 5:
        if (!memcmp(s, "TRACE", 5)) return HTTPD_TRACE;
        if (!memcmp(s, "PATCH", 5)) return HTTPD_PATCH;
        break;
    case 6:
        if (!memcmp(s, "DELETE", 6)) return HTTPD_DELETE;
        break;
    case 7:
        if (!memcmp(s, "OPTIONS", 7)) return HTTPD_OPTIONS;
        break;
    }
    return 0;
}

/* uri-host [":" port] (RFC 3986 3.2.2): an IP-literal "[...]" or a reg-name (possibly empty,
 * RFC 9110 7.2), then an optional port of at most 5 digits. */
static bool valid_host(const char *s, size_t n)
{
    size_t i = 0;
    if (n && s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!httpd__is((unsigned char)s[i], HTTPD_C_HEX) && s[i] != ':' && s[i] != '.')
                return false;
        if (i >= n || i < 3) return false; /* no ']' or too short for an address */
        i++;
    } else {
        for (;;) {
            while (i < n && httpd__is((unsigned char)s[i], HTTPD_C_HOST))
                i++;
            if (i == n || s[i] != '%') break;
            if (i + 2 >= n || !httpd__is((unsigned char)s[i + 1], HTTPD_C_HEX) ||
                !httpd__is((unsigned char)s[i + 2], HTTPD_C_HEX))
                return false;
            i += 3;
        }
        if (i == 0 && i < n) return false; /* ":80" has no host */
    }
    if (i == n) return true;
    if (s[i] != ':' || n - i - 1 > 5) return false;
    for (i++; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* What the framing fields said, gathered while the field lines are read. */
struct framing {
    uint32_t nhost;
    bool has_cl, has_te, te_chunked, te_other;
    bool conn_close, conn_keep_alive;
    bool expect_100, expect_other;
    uint64_t cl;
};

/* Content-Length = 1*DIGIT, or a list of identical values (RFC 9110 8.6, RFC 9112 6.3).
 * Returns 0 or a static reason. Values past 2^64 saturate (and are then refused as too large). */
static const char *field_content_length(struct framing *f, const char *v, size_t n)
{
    size_t i = 0;
    if (n == 0) return "empty Content-Length";
    for (;;) {
        uint64_t x = 0;
        size_t d = i;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            unsigned dig = (unsigned)(v[i++] - '0');
            x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX : x * 10 + dig;
        }
        if (i == d) return "invalid Content-Length";
        if (f->has_cl && f->cl != x) return "conflicting Content-Length values";
        f->has_cl = true;
        f->cl = x;
        while (i < n && httpd__ows(v[i]))
            i++;
        if (i == n) return NULL;
        if (v[i] != ',') return "invalid Content-Length";
        i++;
        while (i < n && httpd__ows(v[i]))
            i++;
    }
}

/* Skips a token at v[*i]; false if there is none. */
static bool skip_token(const char *v, size_t n, size_t *i)
{
    size_t s = *i;
    while (*i < n && httpd__is((unsigned char)v[*i], HTTPD_C_TCHAR))
        (*i)++;
    return *i > s;
}

/* quoted-string at v[*i] (which is '"'); false if malformed. */
static bool skip_quoted(const char *v, size_t n, size_t *i)
{
    for ((*i)++; *i < n; (*i)++) {
        unsigned char c = (unsigned char)v[*i];
        if (c == '"') {
            (*i)++;
            return true;
        }
        if (c == '\\') {
            if (++(*i) >= n) return false;
            c = (unsigned char)v[*i];
            if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
        } else if (!httpd__is(c, HTTPD_C_QDTEXT)) {
            return false;
        }
    }
    return false;
}

/* Iterates a comma-separated list (RFC 9110 5.6.1), skipping empty elements. Each element is a
 * token followed, if params, by *( OWS ";" OWS token "=" ( token / quoted-string ) ). Calls
 * fn(f, token, len, has_params) for each; returns a static reason on a syntax error. */
typedef const char *list_fn(struct framing *f, const char *tok, size_t len, bool has_params);

static const char *field_list(struct framing *f, const char *v, size_t n, bool params, list_fn *fn,
                              const char *bad)
{
    size_t i = 0;
    for (;;) {
        while (i < n && (httpd__ows(v[i]) || v[i] == ','))
            i++;
        if (i == n) return NULL;
        size_t t = i;
        if (!skip_token(v, n, &i)) return bad;
        size_t tlen = i - t;
        bool has_params = false;
        for (;;) {
            size_t j = i;
            while (j < n && httpd__ows(v[j]))
                j++;
            if (!params || j == n || v[j] != ';') break;
            j++;
            while (j < n && httpd__ows(v[j]))
                j++;
            if (!skip_token(v, n, &j) || j == n || v[j] != '=') return bad;
            j++;
            if (j < n && v[j] == '"') {
                if (!skip_quoted(v, n, &j)) return bad;
            } else if (!skip_token(v, n, &j)) {
                return bad;
            }
            i = j;
            has_params = true;
        }
        const char *why = fn(f, v + t, tlen, has_params);
        if (why) return why;
        while (i < n && httpd__ows(v[i]))
            i++;
        if (i < n && v[i] != ',') return bad;
    }
}

static const char *te_element(struct framing *f, const char *tok, size_t len, bool has_params)
{
    if (HTTPD__IEQ(tok, len, "chunked")) {
        if (f->te_chunked) return "chunked applied twice";
        if (has_params) return "parameters on chunked";
        f->te_chunked = true;
        return NULL;
    }
    /* RFC 9112 6.3: chunked must be the final coding of a request. */
    if (f->te_chunked) return "chunked is not the final transfer coding";
    f->te_other = true;
    return NULL;
}

static const char *connection_element(struct framing *f, const char *tok, size_t len, bool p)
{
    if (HTTPD__IEQ(tok, len, "close")) f->conn_close = true;
    if (HTTPD__IEQ(tok, len, "keep-alive")) f->conn_keep_alive = true;
    return NULL;
}

/* Looks at one field line; returns a static reason (always status 400) if its value is bad. */
static const char *field(struct framing *f, httpd_request *req, const char *name, size_t nlen,
                         httpd_str value)
{
    const char *v = value.p;
    size_t n = value.len;
    switch (nlen) {
    case 4:
        if (HTTPD__IEQ(name, nlen, "host")) {
            if (++f->nhost > 1) return "more than one Host";
            if (!valid_host(v, n)) return "invalid Host";
            if (req->form != HTTPD_TARGET_ABSOLUTE) req->host = value;
        }
        break;
    case 5:
        if (HTTPD__IEQ(name, nlen, "range")) req->range = value;
        break;
    case 6:
        if (HTTPD__IEQ(name, nlen, "expect")) {
            if (HTTPD__IEQ(v, n, "100-continue"))
                f->expect_100 = true;
            else
                f->expect_other = true;
        }
        break;
    case 8:
        if (HTTPD__IEQ(name, nlen, "if-range")) req->if_range = value;
        break;
    case 10:
        if (HTTPD__IEQ(name, nlen, "connection"))
            return field_list(f, v, n, false, connection_element, "invalid Connection");
        break;
    case 13:
        if (HTTPD__IEQ(name, nlen, "if-none-match")) req->if_none_match = value;
        break;
    case 14:
        if (HTTPD__IEQ(name, nlen, "content-length")) return field_content_length(f, v, n);
        break;
    case 17:
        if (HTTPD__IEQ(name, nlen, "transfer-encoding")) {
            f->has_te = true;
            return field_list(f, v, n, true, te_element, "invalid Transfer-Encoding");
        }
        if (HTTPD__IEQ(name, nlen, "if-modified-since")) req->if_modified_since = value;
        break;
    case 19:
        if (HTTPD__IEQ(name, nlen, "if-unmodified-since")) req->if_unmodified_since = value;
        break;
    }
    return NULL;
}

static const char root_path[] = "/";

/* absolute-form (RFC 9112 3.2.2): "http" ["s"] "://" authority path-abempty ["?" query]. */
static bool parse_absolute(httpd_request *req, const char *t, size_t n)
{
    size_t i;
    if (n > 7 && HTTPD__IEQ(t, 7, "http://"))
        i = 7;
    else if (n > 8 && HTTPD__IEQ(t, 8, "https://"))
        i = 8;
    else
        return false;
    size_t a = i;
    while (i < n && t[i] != '/' && t[i] != '?')
        i++;
    /* No userinfo (RFC 9110 4.2.4), and a host is required. */
    if (i == a || t[a] == ':' || memchr(t + a, '@', i - a) || !valid_host(t + a, i - a))
        return false;
    req->host = (httpd_str){t + a, i - a};
    for (size_t j = i; j < n; j++)
        if (t[j] == '[' || t[j] == ']') return false;
    const char *q = memchr(t + i, '?', n - i);
    size_t pend = q ? (size_t)(q - t) : n;
    req->path = pend > i ? (httpd_str){t + i, pend - i} : (httpd_str){root_path, 1};
    if (q) req->query = (httpd_str){q + 1, n - pend - 1};
    return true;
}

/* Sorts out the request-target once the request line is complete. */
static const char *target_form(httpd_request *req, unsigned seen)
{
    const char *t = req->target.p;
    size_t n = req->target.len;
    if (t[0] == '/') {
        if (seen & HTTPD_C_BRACKET) return "invalid character in target";
        req->form = HTTPD_TARGET_ORIGIN;
        const char *q = memchr(t, '?', n);
        req->path = (httpd_str){t, q ? (size_t)(q - t) : n};
        if (q) req->query = (httpd_str){q + 1, n - (size_t)(q - t) - 1};
        return NULL;
    }
    if (n == 1 && t[0] == '*') {
        if (req->method != HTTPD_OPTIONS) return "asterisk-form target without OPTIONS";
        req->form = HTTPD_TARGET_ASTERISK;
        req->path = req->target;
        return NULL;
    }
    req->form = HTTPD_TARGET_ABSOLUTE;
    return parse_absolute(req, t, n) ? NULL : "invalid request target";
}

#define FAIL(status, why)                                                                          \
    do {                                                                                           \
        req->error = (why);                                                                        \
        return -(status);                                                                          \
    } while (0)

/* Past the end of a window: an error if the window was cut by its limit, else "need more". */
#define MORE(cut, status, why)                                                                     \
    do {                                                                                           \
        if (cut) FAIL(status, why);                                                                \
        return 0;                                                                                  \
    } while (0)

#define NEED_LINE(n)                                                                               \
    do {                                                                                           \
        if (pos + (n) > lend) MORE(lcut, 414, "request line too long");                            \
    } while (0)

/* Returns the first byte at or after `pos` (< end) that is not a field-value character. Values
 * are most of a head's bytes, so they are checked 16 at a time where SSE2 exists (every x86-64):
 * a byte is bad if it is a control other than HTAB (unsigned <= 0x1f) or DEL. */
static size_t scan_value(const unsigned char *b, size_t pos, size_t end)
{
#ifdef __SSE2__
    const __m128i c1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
    while (end - pos >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(b + pos));
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f);
        __m128i bad =
            _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);
        if (mask) return pos + (size_t)__builtin_ctz(mask);
        pos += 16;
    }
#endif
    while (pos < end && httpd__is(b[pos], HTTPD_C_VALUE))
        pos++;
    return pos;
}

/* Parses the request line; returns its length (> 0), 0 for "need more", or -status. */
static int parse_request_line(const httpd_limits *lim, const char *buf, size_t len,
                              httpd_request *req)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t lend = len < lim->max_line ? len : lim->max_line;
    bool lcut = len >= lim->max_line;
    size_t pos = 0;
    unsigned empty = 0;

    /* RFC 9112 2.2: ignore a few empty lines before the request line. */
    while (pos < lend && b[pos] == '\r') {
        NEED_LINE(2);
        if (b[pos + 1] != '\n') FAIL(400, "bare CR");
        if (++empty > 4) FAIL(400, "too many empty lines before the request line");
        pos += 2;
    }

    size_t m = pos;
    if (lend - pos >= 4 && !memcmp(b + pos, "GET ", 4)) {
        req->method = HTTPD_GET;
        pos += 3;
    } else {
        while (pos < lend && httpd__is(b[pos], HTTPD_C_TCHAR))
            pos++;
        NEED_LINE(1);
        if (b[pos] != ' ' || pos == m) FAIL(400, b[pos] == '\n' ? "bare LF" : "invalid method");
        req->method = method_lookup(buf + m, pos - m);
        if (!req->method) {
            req->method_name = (httpd_str){buf + m, pos - m};
            FAIL(501, "method not implemented");
        }
    }
    req->method_name = (httpd_str){buf + m, pos - m};
    pos++;

    size_t t = pos;
    unsigned seen = 0;
    for (;;) {
        while (pos < lend && httpd__is(b[pos], HTTPD_C_TARGET_PLAIN))
            pos++;
        NEED_LINE(1);
        unsigned k = httpd__ctype[b[pos]];
        if (!(k & HTTPD_C_TARGET)) break;
        seen |= k;
        if (b[pos] == '%') {
            /* Judge each byte as soon as it is here: a complete line never needs more. */
            NEED_LINE(2);
            if (!httpd__is(b[pos + 1], HTTPD_C_HEX)) FAIL(400, "bad percent-encoding in target");
            NEED_LINE(3);
            if (!httpd__is(b[pos + 2], HTTPD_C_HEX)) FAIL(400, "bad percent-encoding in target");
            pos += 3;
        } else {
            pos++;
        }
    }
    if (b[pos] != ' ')
        FAIL(400,
             b[pos] == '\r' || b[pos] == '\n' ? "no HTTP version" : "invalid character in target");
    if (pos == t) FAIL(400, "empty target");
    req->target = (httpd_str){buf + t, pos - t};
    pos++;

    if (lend - pos >= 10 && !memcmp(b + pos, "HTTP/1.1\r\n", 10)) {
        req->version = 11;
        pos += 10;
    } else {
        static const char proto[] = "HTTP/";
        for (size_t i = 0; i < 5; i++) {
            NEED_LINE(i + 1);
            if (b[pos + i] != (unsigned char)proto[i]) FAIL(400, "invalid HTTP version");
        }
        NEED_LINE(6);
        unsigned char major = b[pos + 5];
        if (major < '0' || major > '9') FAIL(400, "invalid HTTP version");
        NEED_LINE(7);
        if (b[pos + 6] != '.') FAIL(400, "invalid HTTP version");
        NEED_LINE(8);
        unsigned char minor = b[pos + 7];
        if (minor < '0' || minor > '9') FAIL(400, "invalid HTTP version");
        NEED_LINE(9);
        if (b[pos + 8] != '\r') FAIL(400, b[pos + 8] == '\n' ? "bare LF" : "invalid HTTP version");
        NEED_LINE(10);
        if (b[pos + 9] != '\n') FAIL(400, "bare CR");
        if (major != '1') FAIL(505, "HTTP version not supported");
        req->version = minor == '0' ? 10 : 11;
        pos += 10;
    }
    const char *why = target_form(req, seen);
    if (why) FAIL(400, why);
    return (int)pos;
}

/* Parses a head from buf[0..len). Returns its length, 0 for "need more", or -status. With
 * whole false only the request line is judged (0 if it is fine). */
static int parse_head(const httpd_limits *lim, const char *buf, size_t len, httpd_request *req,
                      bool whole)
{
    const unsigned char *b = (const unsigned char *)buf;
    memset(req, 0, offsetof(httpd_request, headers));
    int r = parse_request_line(lim, buf, len, req);
    if (r <= 0 || !whole) return r < 0 ? r : 0;

    size_t pos = (size_t)r;
    size_t hlim = pos + lim->max_head;
    size_t hend = len < hlim ? len : hlim;
    bool hcut = len >= hlim;
    struct framing f = {0};
    uint32_t nh = 0;
    for (;;) {
        if (pos >= hend) MORE(hcut, 431, "header section too large");
        if (b[pos] == '\r') {
            if (pos + 1 >= hend) MORE(hcut, 431, "header section too large");
            if (b[pos + 1] != '\n') FAIL(400, "bare CR");
            pos += 2;
            break;
        }
        if (nh == lim->max_headers) FAIL(431, "too many header fields");
        size_t n0 = pos;
        while (pos < hend && httpd__is(b[pos], HTTPD_C_TCHAR))
            pos++;
        if (pos >= hend) MORE(hcut, 431, "header section too large");
        if (b[pos] != ':') {
            if (pos > n0)
                FAIL(400, httpd__ows((char)b[pos]) ? "whitespace before colon"
                          : b[pos] == '\r'         ? "header without colon"
                                                   : "invalid character in header name");
            if (httpd__ows((char)b[pos]))
                FAIL(400, nh ? "obs-fold" : "whitespace before the first header");
            FAIL(400, b[pos] == '\n' ? "bare LF" : "invalid character in header name");
        }
        if (pos == n0) FAIL(400, "empty header name");
        size_t nlen = pos - n0;
        pos++;
        while (pos < hend && httpd__ows((char)b[pos]))
            pos++;
        size_t v0 = pos;
        pos = scan_value(b, pos, hend);
        if (pos >= hend) MORE(hcut, 431, "header section too large");
        if (b[pos] != '\r')
            FAIL(400, b[pos] == '\n' ? "bare LF" : "control character in header value");
        if (pos + 1 >= hend) MORE(hcut, 431, "header section too large");
        if (b[pos + 1] != '\n') FAIL(400, "bare CR");
        size_t v1 = pos;
        while (v1 > v0 && httpd__ows((char)b[v1 - 1]))
            v1--;
        httpd_header *h = &req->headers[nh++];
        h->name = (httpd_str){buf + n0, nlen};
        h->value = (httpd_str){buf + v0, v1 - v0};
        const char *why = field(&f, req, buf + n0, nlen, h->value);
        if (why) FAIL(400, why);
        pos += 2;
    }
    req->nheaders = nh;

    /* The framing decisions, once every field is known (RFC 9112 6.3). */
    if (req->version >= 11 && f.nhost == 0) FAIL(400, "missing Host");
    if (f.has_te) {
        if (req->version < 11) FAIL(400, "Transfer-Encoding in HTTP/1.0");
        if (f.has_cl) FAIL(400, "both Content-Length and Transfer-Encoding");
        if (f.te_other) FAIL(501, "transfer coding not implemented");
        if (!f.te_chunked) FAIL(400, "empty Transfer-Encoding");
        req->body = HTTPD_BODY_CHUNKED;
    } else if (f.has_cl && f.cl > 0) {
        if (f.cl > lim->max_body) FAIL(413, "body too large");
        req->body = HTTPD_BODY_LENGTH;
        req->content_length = f.cl;
    }
    if (req->version >= 11) {
        if (f.expect_other) FAIL(417, "unsupported expectation");
        req->expect_continue = f.expect_100 && req->body != HTTPD_BODY_NONE;
        req->keep_alive = !f.conn_close;
    } else {
        req->keep_alive = f.conn_keep_alive && !f.conn_close;
    }
    req->head_len = (uint32_t)pos;
    return (int)pos;
}

enum { DUE_NONE, DUE_LINE, DUE_HEAD };

/* Looks at the bytes that arrived since the last call (from p->scan) and says which decision
 * point, if any, has been reached (see the top of this file). */
static int scan(httpd_parser *p, const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    int due = DUE_NONE;
    size_t i = p->scan;
    if (!p->line_end) {
        while (p->skip + 1 < len && b[p->skip] == '\r' && b[p->skip + 1] == '\n')
            if ((p->skip += 2) > 8) return DUE_LINE;                  /* a fifth empty line */
        if (p->skip + 1 < len && b[p->skip] == '\r') return DUE_LINE; /* bare CR */
        if (p->skip >= len || b[p->skip] == '\r')
            return len >= p->lim.max_line ? DUE_LINE : DUE_NONE;
        /* The method: a token then SP. Anything else is wrong already. */
        size_t m = p->mscan > p->skip ? p->mscan : p->skip;
        while (m < len && httpd__is(b[m], HTTPD_C_TCHAR))
            m++;
        p->mscan = (uint32_t)m;
        if (m < len && (b[m] != ' ' || m == p->skip)) return DUE_LINE;
        if (i < p->skip) i = p->skip;
        const unsigned char *lf = memchr(b + i, '\n', len - i);
        if (!lf) {
            p->scan = (uint32_t)len;
            return len >= p->lim.max_line ? DUE_LINE : DUE_NONE;
        }
        p->line_end = p->lstart = (uint32_t)(lf - b) + 1;
        i = p->line_end;
        due = DUE_LINE;
    }
    while (i < len) {
        const unsigned char *lf = memchr(b + i, '\n', len - i);
        if (!lf) {
            i = len;
            break;
        }
        size_t at = (size_t)(lf - b), ls = p->lstart;
        p->nlf++;
        i = at + 1;
        p->lstart = (uint32_t)i;
        /* A bare LF or a CR inside a line is always an error; an empty line ends the head. */
        if (b[at - 1] != '\r' || at == ls + 1 ||
            (at > ls + 1 && memchr(b + ls, '\r', at - 1 - ls))) {
            p->scan = (uint32_t)i;
            return DUE_HEAD;
        }
    }
    p->scan = (uint32_t)i;
    if (p->nlf > p->lim.max_headers || len - p->line_end >= p->lim.max_head) return DUE_HEAD;
    return due;
}

int httpd_parse_request(httpd_parser *p, const char *buf, size_t len, httpd_request *req)
{
    /* Nothing past the largest possible head matters. */
    size_t most = (size_t)p->lim.max_line + p->lim.max_head;
    if (len > most) len = most;
    if (!p->seen || len < p->seen) {
        httpd_parser_reset(p);
        if (len == 0) return 0;
        /* A complete valid head is final whatever the decision points say. */
        int r = parse_head(&p->lim, buf, len, req, true);
        if (r > 0) return r;
    }
    int due = scan(p, buf, len);
    p->seen = (uint32_t)len;
    if (due == DUE_NONE) return 0;
    int r = parse_head(&p->lim, buf, len, req, due == DUE_HEAD);
    if (r != 0) httpd_parser_reset(p);
    return r;
}

httpd_str httpd_request_header(const httpd_request *req, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const httpd_header *h = &req->headers[i];
        if (h->name.len != n) continue;
        size_t j = 0;
        while (j < n && ((unsigned char)h->name.p[j] | 0x20) == ((unsigned char)name[j] | 0x20))
            j++;
        if (j == n) return h->value;
    }
    return (httpd_str){NULL, 0};
}
