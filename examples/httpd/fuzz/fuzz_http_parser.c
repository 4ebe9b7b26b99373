/* libFuzzer target for uco-httpd's HTTP core.
 *
 * Each input is a connection's byte stream. It is replayed through the parser and the body
 * decoder whole, byte by byte, and in pieces chosen from the input's hash, under the default
 * limits and under tiny ones; every replay must produce the same events (the split-invariance
 * the parser promises). Every parsed head is checked (slices inside the buffer, names are tokens,
 * values hold no CR, LF or NUL and no outer whitespace, framing consistent) and its path, Range
 * and date fields go through the helpers, whose results are checked too. The raw input also goes
 * straight to the helpers, so that they are reached without a valid head around them: the Range
 * parser (against a naive model of its grammar), the chunked decoder (whole, byte by byte, and
 * three bytes at a time must agree) and the path normaliser. A violated check traps.
 *
 * Built by scripts/fuzz.sh (clang, -DUCO_FUZZ=ON); tests/test_http_fuzz_corpus.c replays the seed
 * corpus and the saved crashers through the same function in the normal test suite. */
#include "http.h"
#include "http_replay.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifdef UCO_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);            \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(httpd_str s, const char *buf, size_t len)
{
    return !s.p || (s.p >= buf && s.p + s.len <= buf + len);
}

static bool is_token(httpd_str s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!s.len) return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool ok = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                  (c && strchr(extra, c));
        if (!ok) return false;
    }
    return true;
}

static void check_path(httpd_str path)
{
    char out[512];
    ssize_t n = httpd_path_decode(path.p, path.len, out, sizeof out);
    CHECK(n == -400 || n == -414 || (n > 0 && (size_t)n < sizeof out));
    if (n < 0) return;
    CHECK(out[0] == '/' && out[n] == 0 && strlen(out) == (size_t)n);
    CHECK(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../") && !strchr(out, '\\'));
    CHECK(strcmp(out + (n >= 3 ? n - 3 : 0), "/..") && strcmp(out + (n >= 2 ? n - 2 : 0), "/."));
    for (ssize_t i = 0; i < n; i++)
        CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
    /* Encoded for a Location: no "//" start, and it decodes back to the same path. */
    char enc[3 * sizeof out], back[sizeof out];
    size_t m = httpd_path_encode(out, enc, sizeof enc);
    CHECK(m > 0 && m == strlen(enc) && !(enc[0] == '/' && enc[1] == '/'));
    CHECK(httpd_path_decode(enc, m, back, sizeof back) == n && !strcmp(back, out));
}

static void check_head(const httpd_request *r, const char *buf, size_t len)
{
    CHECK(r->head_len > 0 && r->head_len <= len);
    CHECK(r->method >= HTTPD_GET && r->method <= HTTPD_PATCH);
    CHECK(r->version == 10 || r->version == 11);
    CHECK(r->nheaders <= HTTPD_HEADERS_MAX);
    CHECK(!memcmp(buf + r->head_len - 4, "\r\n\r\n", 4) ||
          (r->nheaders == 0 && !memcmp(buf + r->head_len - 2, "\r\n", 2)));
    httpd_str all[] = {r->method_name,       r->target,        r->host,    r->query, r->range,
                       r->if_modified_since, r->if_none_match, r->if_range};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(inside(all[i], buf, r->head_len));
    CHECK(inside(r->path, buf, r->head_len) || (r->path.len == 1 && r->path.p[0] == '/'));
    CHECK(r->version == 10 || r->host.p);
    for (uint32_t i = 0; i < r->nheaders; i++) {
        httpd_str n = r->headers[i].name, v = r->headers[i].value;
        CHECK(inside(n, buf, r->head_len) && inside(v, buf, r->head_len) && v.p);
        CHECK(is_token(n));
        for (size_t j = 0; j < v.len; j++)
            CHECK(v.p[j] != '\r' && v.p[j] != '\n' && v.p[j] != 0);
        CHECK(!v.len ||
              (v.p[0] != ' ' && v.p[0] != '\t' && v.p[v.len - 1] != ' ' && v.p[v.len - 1] != '\t'));
    }
    if (r->body == HTTPD_BODY_CHUNKED) {
        CHECK(r->version == 11 && !httpd_request_header(r, "content-length").p);
        CHECK(httpd_request_header(r, "transfer-encoding").p);
    } else {
        CHECK(!httpd_request_header(r, "transfer-encoding").p);
        CHECK((r->body == HTTPD_BODY_LENGTH) == (r->content_length > 0));
    }
    if (r->form == HTTPD_TARGET_ORIGIN) check_path(r->path);

    uint64_t first = 0, last = 0;
    uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        int s = httpd_range_parse(r->range.p, r->range.len, sizes[i], &first, &last);
        CHECK(s == 200 || s == 206 || s == 416);
        if (s == 206) CHECK(first <= last && last < sizes[i]);
    }
    static const char etag[] = "\"2ebc4d21.0-3e8\"";
    int pre = httpd_preconditions(r, 784111777, etag);
    CHECK(pre == 0 || pre == 304 || pre == 412);
    pre = httpd_preconditions(r, 784111777, NULL);
    CHECK(pre == 0 || pre == 304 || pre == 412);
    (void)httpd_range_applies(r->if_range, 784111777, etag);
    (void)httpd_range_applies(r->if_range, 0, NULL);
    time_t t;
    if (r->if_modified_since.p &&
        httpd_date_parse(r->if_modified_since.p, r->if_modified_since.len, &t) == 0) {
        char d[HTTPD_DATE_LEN + 1];
        time_t back;
        httpd_date_format(t, d);
        CHECK(httpd_date_parse(d, HTTPD_DATE_LEN, &back) == 0);
        CHECK(back == t || t < 0 || t > 253402300799LL); /* clamped outside 0000..9999 */
    }
    char head[512];
    httpd_response resp = {.status = 200,
                           .version = r->version,
                           .keep_alive = r->keep_alive,
                           .server = "uco",
                           .content_length = 1};
    char ctype[64];
    size_t cl = r->target.len < sizeof ctype - 1 ? r->target.len : sizeof ctype - 1;
    memcpy(ctype, r->target.p, cl);
    ctype[cl] = 0;
    resp.content_type = ctype;
    size_t n = httpd_response_head(head, sizeof head, &resp);
    if (n)
        CHECK(n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4) &&
              memmem(head, n, "\r\n\r\n", 4) == head + n - 4);
    (void)httpd_mime_type(r->path.p, r->path.len);
    char line[1024];
    n = httpd_log_line(line, sizeof line, "peer", r, 200, 1, 0);
    if (n) CHECK(line[n - 1] == '\n' && !memchr(line, '\n', n - 1) && strlen(line) == n);
}

struct hashed_split {
    uint64_t state;
    size_t max;
};

static size_t split_hashed(void *arg, size_t delivered)
{
    struct hashed_split *h = arg;
    h->state = h->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return 1 + (size_t)(h->state >> 33) % h->max;
}

static size_t split_bytes(void *arg, size_t delivered)
{
    return 1;
}

static void check_replays(const char *data, size_t size, const httpd_limits *lim)
{
    static replay whole, part;
    replay_run(data, size, lim, NULL, NULL, check_head, &whole);
    replay_run(data, size, lim, split_bytes, NULL, NULL, &part);
    CHECK(replay_equal(&whole, &part));
    struct hashed_split h = {replay_hash(0xcbf29ce484222325ULL, data, size), 1 + size / 4};
    replay_run(data, size, lim, split_hashed, &h, NULL, &part);
    CHECK(replay_equal(&whole, &part));
}

static void check_dates(const char *data, size_t size)
{
    time_t t;
    if (httpd_date_parse_at(data, size, 1764000000, &t) == 0) {
        char d[HTTPD_DATE_LEN + 1];
        time_t back;
        httpd_date_format(t, d);
        CHECK(httpd_date_parse(d, HTTPD_DATE_LEN, &back) == 0);
        CHECK(back == t || t > 253402300799LL); /* 9999-12-31 23:59:60 is clamped */
    }
}

/* ---- the helpers on the raw input (no head needed to reach them) ------------------------- */

/* A second, naive reading of RFC 9110 14.1.2 / 14.1.1 as httpd_range_parse documents it: one
 * range-spec (empty list elements ignored, OWS around elements), numbers saturating. */
static int range_model(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (len < 6 || strncasecmp(v, "bytes=", 6)) return 200;
    unsigned count = 0;
    size_t i = 6;
    bool suffix = false, has_b = false;
    uint64_t a = 0, b = 0;
    while (i <= len) {
        size_t e = i;
        while (e < len && v[e] != ',')
            e++;
        size_t s = i, t = e;
        while (s < t && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (t > s && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if (s < t) {
            if (++count > 1) return 200;
            const char *dash = memchr(v + s, '-', t - s);
            if (!dash) return 200;
            size_t d = (size_t)(dash - v);
            for (size_t k = s; k < t; k++)
                if (k != d && (v[k] < '0' || v[k] > '9')) return 200;
            uint64_t x = 0, y = 0;
            for (size_t k = s; k < d; k++)
                x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX : x * 10 + (uint64_t)(v[k] - '0');
            for (size_t k = d + 1; k < t; k++)
                y = y > (UINT64_MAX - 9) / 10 ? UINT64_MAX : y * 10 + (uint64_t)(v[k] - '0');
            if (d == s) {
                if (d + 1 == t) return 200; /* "-" */
                suffix = true;
                b = y;
            } else {
                a = x;
                has_b = d + 1 < t;
                b = y;
                if (has_b && b < a) return 200;
            }
        }
        i = e + 1;
    }
    if (!count) return 200;
    if (size == 0) return 416;
    if (suffix) {
        if (!b) return 416;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 206;
    }
    if (a >= size) return 416;
    *first = a;
    *last = has_b && b < size - 1 ? b : size - 1;
    return 206;
}

static void check_range_raw(const char *data, size_t size)
{
    static const uint64_t sizes[] = {0, 1, 2, 7, 1000, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t f1 = 1, l1 = 1, f2 = 1, l2 = 1;
        int s1 = httpd_range_parse(data, size, sizes[i], &f1, &l1);
        int s2 = range_model(data, size, sizes[i], &f2, &l2);
        CHECK(s1 == s2);
        if (s1 == 206) CHECK(f1 == f2 && l1 == l2 && f1 <= l1 && l1 < sizes[i]);
    }
}

struct chunked_run {
    ssize_t status;  /* 0, or the first error */
    size_t used;     /* input consumed */
    uint64_t digest; /* of the content */
    bool done;
};

/* Decodes data as a chunked body, delivered `piece` bytes at a time (0: all at once). */
static void chunked_run(const char *data, size_t size, const httpd_limits *lim, size_t piece,
                        struct chunked_run *out)
{
    httpd_body b;
    httpd_body_init_chunked(&b, lim);
    *out = (struct chunked_run){0, 0, 0xcbf29ce484222325ULL, false};
    size_t avail = 0;
    while (!httpd_body_done(&b) && out->used < size) {
        if (out->used == avail) avail = piece && size - avail > piece ? avail + piece : size;
        httpd_str d;
        ssize_t n = httpd_body_read(&b, data + out->used, avail - out->used, &d);
        if (n < 0) {
            out->status = n;
            break;
        }
        CHECK(n > 0 || !d.len);
        CHECK(!d.len || (d.p >= data + out->used && d.p + d.len <= data + out->used + n));
        out->digest = replay_hash(out->digest, d.p, d.len);
        out->used += (size_t)n;
        if (n == 0 && out->used < avail) break; /* no progress: must be done */
    }
    out->done = httpd_body_done(&b);
    if (out->done) out->digest = replay_hash(out->digest, &b.total, sizeof b.total);
}

static void check_chunked_raw(const char *data, size_t size, const httpd_limits *lim)
{
    struct chunked_run whole, bytes, threes;
    chunked_run(data, size, lim, 0, &whole);
    chunked_run(data, size, lim, 1, &bytes);
    chunked_run(data, size, lim, 3, &threes);
    /* The same outcome; where it ended and what came out only count when it did not fail
     * (a failing call reports no partial progress, so the split moves the error's offset). */
    CHECK(whole.status == bytes.status && whole.status == threes.status);
    CHECK(whole.done == bytes.done && whole.done == threes.done);
    if (!whole.status)
        CHECK(whole.used == bytes.used && whole.digest == bytes.digest &&
              whole.used == threes.used && whole.digest == threes.digest);
    CHECK(whole.status == 0 || whole.status == -400 || whole.status == -413 ||
          whole.status == -431);
}

static void check_path_raw(const char *data, size_t size)
{
    if (size && data[0] == '/') check_path((httpd_str){data, size});
    char small[8];
    ssize_t n = httpd_path_decode(data, size, small, sizeof small);
    CHECK(n == -400 || n == -414 || (n > 0 && (size_t)n < sizeof small));
}

#ifdef UCO_HAVE_HTTP_PARSER
/* Request smuggling check against an independent parser (nodejs http-parser): where both accept
 * a message, both must frame it the same way (same end, same body, same method and target).
 * Their accepted sets differ (ours is stricter), which is fine; disagreeing on framing is not. */
#define DIFF_MAX 64

struct framed {
    int n;
    size_t end[DIFF_MAX];
    uint64_t body[DIFF_MAX], target[DIFF_MAX];
    int method[DIFF_MAX];
};

struct hp_state {
    uint64_t body, target;
};

static int hp_url(http_parser *p, const char *at, size_t len)
{
    struct hp_state *st = p->data;
    st->target = replay_hash(st->target, at, len);
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len)
{
    struct hp_state *st = p->data;
    st->body = replay_hash(st->body, at, len);
    return 0;
}

static int hp_begin(http_parser *p)
{
    struct hp_state *st = p->data;
    st->body = st->target = 0xcbf29ce484222325ULL;
    return 0;
}

static int hp_done(http_parser *p)
{
    http_parser_pause(p, 1); /* so that execute() returns right at the message's end */
    return 0;
}

static void frame_baseline(const char *data, size_t size, struct framed *f)
{
    static http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_begin = hp_begin;
    s.on_url = hp_url;
    s.on_body = hp_body;
    s.on_message_complete = hp_done;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    struct hp_state st = {0, 0};
    p.data = &st;
    size_t off = 0;
    f->n = 0;
    while (off < size && f->n < DIFF_MAX) {
        size_t n = http_parser_execute(&p, &s, data + off, size - off);
        off += n;
        if (HTTP_PARSER_ERRNO(&p) != HPE_PAUSED) break;
        f->end[f->n] = off;
        f->body[f->n] = st.body;
        f->target[f->n] = st.target;
        f->method[f->n] = (int)p.method;
        f->n++;
        http_parser_pause(&p, 0);
    }
}

static void frame_uco(const char *data, size_t size, struct framed *f)
{
    static httpd_request req;
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    size_t off = 0;
    f->n = 0;
    while (off < size && f->n < DIFF_MAX) {
        int r = httpd_parse_request(&p, data + off, size - off, &req);
        if (r <= 0) return;
        httpd_body b;
        httpd_body_init(&b, &req, NULL);
        uint64_t body = 0xcbf29ce484222325ULL;
        size_t o = off + (size_t)r;
        while (!httpd_body_done(&b) && o < size) {
            httpd_str d;
            ssize_t n = httpd_body_read(&b, data + o, size - o, &d);
            if (n < 0) return;
            body = replay_hash(body, d.p, d.len);
            o += (size_t)n;
        }
        if (!httpd_body_done(&b)) return;
        f->end[f->n] = o;
        f->body[f->n] = body;
        f->target[f->n] = replay_hash(0xcbf29ce484222325ULL, req.target.p, req.target.len);
        f->method[f->n] = (int)req.method;
        f->n++;
        off = o;
        if (!req.keep_alive) return;
    }
}

static void check_against_baseline(const char *data, size_t size)
{
    static const int methods[] = {
        [HTTPD_GET] = HTTP_GET,     [HTTPD_HEAD] = HTTP_HEAD,     [HTTPD_POST] = HTTP_POST,
        [HTTPD_PUT] = HTTP_PUT,     [HTTPD_DELETE] = HTTP_DELETE, [HTTPD_OPTIONS] = HTTP_OPTIONS,
        [HTTPD_TRACE] = HTTP_TRACE, [HTTPD_PATCH] = HTTP_PATCH};
    static struct framed ours, theirs;
    frame_uco(data, size, &ours);
    frame_baseline(data, size, &theirs);
    int n = ours.n < theirs.n ? ours.n : theirs.n;
    for (int i = 0; i < n; i++) {
        if (ours.end[i] != theirs.end[i] || ours.body[i] != theirs.body[i] ||
            ours.target[i] != theirs.target[i] || methods[ours.method[i]] != theirs.method[i]) {
            fprintf(stderr, "framing differs from http-parser at message %d: end %zu vs %zu\n", i,
                    ours.end[i], theirs.end[i]);
            __builtin_trap();
        }
    }
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    static const httpd_limits tiny = {
        .max_line = 40, .max_head = 80, .max_headers = 3, .max_body = 64};
    check_replays((const char *)data, size, NULL);
    check_replays((const char *)data, size, &tiny);
    check_dates((const char *)data, size);
#ifdef UCO_HAVE_HTTP_PARSER
    check_against_baseline((const char *)data, size);
#endif
    check_range_raw((const char *)data, size);
    check_chunked_raw((const char *)data, size, NULL);
    check_chunked_raw((const char *)data, size, &tiny);
    check_path_raw((const char *)data, size);
    return 0;
}
