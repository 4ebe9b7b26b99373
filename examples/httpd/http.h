/* uco-httpd's HTTP/1.1 core: everything the server needs that does not touch a socket.
 *
 * A strict, incremental, zero-copy request parser (RFC 9110 / RFC 9112), a body decoder for
 * Content-Length and chunked bodies, path decoding and confinement to a root directory, Range
 * and HTTP-date handling, and response heads formatted into caller buffers. Nothing here
 * allocates; only httpd_root_open(), httpd_open_beneath*() and httpd_file_open() make system
 * calls (they are in http_fs.c so the rest stays pure and fuzzable).
 *
 * Error convention. Functions that judge a request return a negative HTTP status on failure
 * (-400, -413, -414, -417, -431, -501, -505): the server answers that status (see
 * httpd_error_response()) and then closes the connection, because after a framing error the
 * start of the next request is unknown. The file-system functions return -errno, like the rest
 * of uco; httpd_status_for_errno() maps those to a status.
 *
 * Request life cycle on one connection (keep-alive and pipelining):
 *
 *     httpd_parser p;  httpd_parser_init(&p, &limits);
 *     loop:
 *       n = httpd_parse_request(&p, buf, len, &req);   // buf: the request's bytes so far
 *       n == 0 -> receive more, append, call again (same p, same start of request)
 *       n <  0 -> answer -n with httpd_error_response(), close
 *       n >  0 -> the head is buf[0..n); httpd_body_init(&b, &req, &limits) and feed the bytes
 *                 after the head (and later receives) to httpd_body_read() until
 *                 httpd_body_done(&b); answer; if !req.keep_alive close; the next pipelined
 *                 request starts right after the body.
 *
 * With multishot receives over a buffer ring (the net layer's model): parse straight from the ring
 * buffer while requests are whole inside it (zero copy; pipelined requests one after another).
 * When a buffer ends inside a head, copy that partial request into the connection's own buffer
 * (max_line + max_head bytes suffice; the parser never looks further) and append later receives
 * to it until the call returns non-zero: the parser keeps offsets, not pointers, so the bytes may
 * move between calls. Body bytes are consumed wherever they are (httpd_body_read never copies).
 * Answers to a batch of pipelined requests go into one send buffer, in order: the canned
 * responses are a memcpy each. Timeouts: httpd_parser_busy() says whether a head is in progress
 * (header timeout, then 408 and close) or the connection is idle between requests (idle timeout,
 * close silently). Nothing here blocks or allocates except httpd_*open* (file-system calls).
 *
 * Grammar decisions (strict by design; each is an RFC 9112 "MAY reject" taken):
 *  - Lines end with CR LF. A bare LF or bare CR anywhere in the head or in chunked framing is
 *    400 (RFC 9112 2.2 allows accepting bare LF; refusing it removes a request-smuggling
 *    disagreement with front ends that do not).
 *  - Up to 4 empty lines before the request line are ignored (RFC 9112 2.2); a fifth is 400.
 *  - Request line: method SP target SP "HTTP/" DIGIT "." DIGIT, single spaces. Method names
 *    are case-sensitive; a valid token that is not GET HEAD POST PUT DELETE OPTIONS TRACE
 *    PATCH is 501 (so is CONNECT: this is not a proxy). Major version other than 1 is 505;
 *    HTTP/1.2..1.9 are treated as 1.1 (RFC 9110 2.5).
 *  - Targets: origin-form ("/path?query"), absolute-form ("http://host/path", scheme http or
 *    https, no userinfo; its authority replaces Host as RFC 9112 3.2.2 requires) and "*" for
 *    OPTIONS. Only RFC 3986 characters; '%' must be followed by two hex digits; no '#', no
 *    backslash, no bytes >= 0x80.
 *  - Field lines: token ":" OWS value OWS CRLF. Whitespace before the colon, obs-fold (a line
 *    starting with SP/HTAB), an empty name and control characters (NUL, DEL, CR, LF; HTAB is
 *    allowed) in values are 400. obs-text (0x80-0xFF) is allowed in values.
 *  - Host: exactly one for HTTP/1.1 (missing or repeated is 400, also for 1.0 if repeated);
 *    its value must be uri-host [":" port].
 *  - Content-Length: 1*DIGIT, or a list of identical values ("5, 5"); repeated fields must
 *    agree; anything else is 400; more than limits.max_body is 413.
 *  - Transfer-Encoding: only "chunked", as the final and only coding; any other coding is 501,
 *    "chunked" not last or twice is 400, together with Content-Length 400, in HTTP/1.0 400.
 *  - Expect: "100-continue" sets expect_continue (HTTP/1.1 only); any other expectation 417.
 *  - Connection: a token list; "close" and "keep-alive" are honoured. Keep-alive is the default
 *    in HTTP/1.1 and needs "Connection: keep-alive" in HTTP/1.0. Every error result closes.
 *
 * Limits (httpd_limits) and their statuses: request line (including skipped empty lines and
 * CR LF) longer than max_line -> 414; header section (after the request line, through the
 * final empty line) longer than max_head, or more than max_headers field lines -> 431; body
 * larger than max_body -> 413.
 *
 * Determinism: the answer for a byte stream does not depend on how it was split between calls.
 * The request line is judged when its LF arrives (or earlier if its method is already invalid,
 * or when its window fills), the rest of the head when its empty line, a bare LF, or too many
 * lines arrive (or its window fills); until then the call returns 0, whatever it saw. Incomplete
 * calls cost O(new bytes).
 */
#ifndef UCO_HTTPD_HTTP_H
#define UCO_HTTPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A slice of memory owned by someone else (usually the caller's receive buffer). p is NULL
 * and len 0 for an absent value. */
typedef struct httpd_str {
    const char *p;
    size_t len;
} httpd_str;

/* ---------------------------------------------------------------------------------------- */
/* Limits                                                                                    */

/* Compile-time capacity of httpd_request.headers; limits.max_headers is clamped to it. */
#define HTTPD_HEADERS_MAX 100

typedef struct httpd_limits {
    uint32_t max_line;    /* request line bytes incl. CR LF (default 8192) -> 414 */
    uint32_t max_head;    /* header section bytes incl. final CR LF (default 16384) -> 431 */
    uint32_t max_headers; /* field lines (default 64, at most HTTPD_HEADERS_MAX) -> 431 */
    uint64_t max_body;    /* body bytes, decoded (default 1 MiB) -> 413 */
} httpd_limits;

/* Fills *lim with the defaults above. A zero field in limits passed to the functions below also
 * means "default". */
void httpd_limits_default(httpd_limits *lim);

/* ---------------------------------------------------------------------------------------- */
/* Request head parser                                                                       */

typedef enum httpd_method {
    HTTPD_GET = 1,
    HTTPD_HEAD,
    HTTPD_POST,
    HTTPD_PUT,
    HTTPD_DELETE,
    HTTPD_OPTIONS,
    HTTPD_TRACE,
    HTTPD_PATCH,
} httpd_method;

typedef enum httpd_body_kind {
    HTTPD_BODY_NONE = 0,   /* no body: the next request starts right after the head */
    HTTPD_BODY_LENGTH = 1, /* content_length bytes follow */
    HTTPD_BODY_CHUNKED = 2 /* chunked coding follows (decode with httpd_body_read) */
} httpd_body_kind;

typedef enum httpd_target_form {
    HTTPD_TARGET_ORIGIN = 0,   /* "/path?query" */
    HTTPD_TARGET_ABSOLUTE = 1, /* "http://authority/path?query" */
    HTTPD_TARGET_ASTERISK = 2  /* "*" (OPTIONS only) */
} httpd_target_form;

typedef struct httpd_header {
    httpd_str name;  /* a token, as sent (compare case-insensitively) */
    httpd_str value; /* without leading and trailing whitespace; may be empty */
} httpd_header;

/* The parsed head. Every httpd_str points into the buffer given to httpd_parse_request() (except
 * path "/" for an absolute-form target without path, which points to a constant): they are
 * valid while that buffer is. Filled only when httpd_parse_request() returns > 0, except `error`
 * which is set on an error result. */
typedef struct httpd_request {
    httpd_method method;
    httpd_body_kind body;
    httpd_target_form form;
    uint8_t version;      /* 10 for HTTP/1.0, 11 for HTTP/1.1 (and 1.2-1.9) */
    bool keep_alive;      /* false: close after answering this request */
    bool expect_continue; /* send "100 Continue" before reading the body (httpd_continue) */
    uint32_t head_len;    /* bytes of the head: the body or the next request starts here */
    uint64_t content_length;
    httpd_str method_name; /* as sent */
    httpd_str target;      /* the request-target as sent */
    httpd_str path;        /* its path, still percent-encoded (see httpd_path_decode) */
    httpd_str query;       /* after '?', without it; p NULL if there is no '?' */
    httpd_str host;        /* Host value, or the absolute-form authority */
    /* Headers the server acts on, picked out while parsing (the last one if repeated). */
    httpd_str range, if_modified_since, if_unmodified_since, if_range, if_none_match;
    const char *error; /* static reason for an error result, for logs */
    uint32_t nheaders;
    httpd_header headers[HTTPD_HEADERS_MAX];
} httpd_request;

/* Per-connection parser state: small, no pointers into buffers, so the caller may move or
 * refill its buffer between calls. */
typedef struct httpd_parser {
    httpd_limits lim;
    uint32_t seen;     /* bytes of the current request seen by an incomplete call (0: fresh) */
    uint32_t scan;     /* bytes already scanned for the end of the head */
    uint32_t skip;     /* bytes of empty lines before the request line */
    uint32_t mscan;    /* bytes scanned for the method token */
    uint32_t line_end; /* offset just past the request line's LF, 0 if not seen yet */
    uint32_t lstart;   /* start of the field line being received */
    uint32_t nlf;      /* LFs seen after the request line */
} httpd_parser;

/* Initialises p with lim (NULL: defaults). */
void httpd_parser_init(httpd_parser *p, const httpd_limits *lim);

/* Forgets a partial request (the next call starts a new one). httpd_parse_request() does this
 * itself after every complete or failed head. */
void httpd_parser_reset(httpd_parser *p);

/* True while part of a head has been seen (the last call returned 0 with bytes): the server then
 * runs its header timeout instead of its idle timeout (and may answer 408 when it fires). */
static inline bool httpd_parser_busy(const httpd_parser *p)
{
    return p->seen != 0;
}

/* Parses the head of one request from buf[0..len), which holds every byte received so far for
 * this request, starting with its first byte (later calls pass the same bytes plus more, at the
 * same or another address). Returns:
 *   > 0   the head is complete and is buf[0..ret); *req is filled; its slices point into buf.
 *   0     more bytes are needed (p remembers how far it got; *req is undefined).
 *   < 0   -status (400, 413, 414, 417, 431, 501, 505): answer it and close; req->error says why.
 * Pipelined requests: call again with the bytes after the head and its body. */
int httpd_parse_request(httpd_parser *p, const char *buf, size_t len, httpd_request *req);

/* Whether the server closes the connection after answering: after every error result (rc < 0)
 * and after a request without keep-alive. */
static inline bool httpd_close_after(int rc, const httpd_request *req)
{
    return rc < 0 || !req->keep_alive;
}

/* The first header named `name` (case-insensitive), or {NULL, 0}. */
httpd_str httpd_request_header(const httpd_request *req, const char *name);

/* The method's name ("GET"), or "?" for an invalid value. */
const char *httpd_method_name(httpd_method m);

/* ---------------------------------------------------------------------------------------- */
/* Body decoder: Content-Length and chunked (RFC 9112 6, 7.1)                                */

typedef struct httpd_body {
    uint8_t kind;  /* httpd_body_kind */
    uint8_t state; /* chunked: where in the framing we are */
    bool done;
    uint8_t ndigits;      /* chunk-size hex digits seen */
    uint64_t remaining;   /* Content-Length: bytes left; chunked: bytes left in this chunk */
    uint64_t total;       /* decoded bytes so far */
    uint64_t max_body;    /* limit on total -> 413 */
    uint32_t line;        /* bytes of the current size or trailer line */
    uint32_t ext_bytes;   /* chunk-extension bytes in the whole body */
    uint32_t trailer_len; /* trailer section bytes */
    uint32_t ntrailers;
    uint32_t max_line, max_head, max_headers;
} httpd_body;

/* Prepares to read the body announced by req (a parsed head) under lim (NULL: defaults). */
void httpd_body_init(httpd_body *b, const httpd_request *req, const httpd_limits *lim);

/* Prepares to decode a chunked body on its own (without a request head). */
void httpd_body_init_chunked(httpd_body *b, const httpd_limits *lim);

/* Consumes body bytes from buf[0..len). Returns the bytes consumed (<= len) and sets *data to the
 * body content found in them (a slice of buf, possibly empty); or -400 (malformed chunked
 * framing), -413 (body larger than max_body), -431 (trailers over max_head or max_headers).
 * Each call returns at most one run of content, so call it in a loop:
 *     while (!httpd_body_done(&b) && off < len) {
 *         ssize_t n = httpd_body_read(&b, buf + off, len - off, &d);
 *         if (n < 0) fail(-n);
 *         use(d); off += n;
 *     }
 * Bytes after the end of the body (the next pipelined request) are not consumed. Chunk
 * extensions are validated (RFC 9112 7.1.1 grammar) and ignored; trailer fields are validated
 * like header fields and discarded. A chunk-size has at most 16 hex digits. */
ssize_t httpd_body_read(httpd_body *b, const char *buf, size_t len, httpd_str *data);

/* True once the whole body (for chunked: through the trailer section) has been consumed. */
static inline bool httpd_body_done(const httpd_body *b)
{
    return b->done;
}

/* ---------------------------------------------------------------------------------------- */
/* Paths (pure)                                                                              */

/* Percent-decodes and normalises an origin-form path (req->path) into out[0..cap), NUL
 * terminated. The result starts with '/', has no empty, "." or ".." segments, and keeps a
 * trailing '/'. Returns its length, or
 *   -400  not starting with '/', bad %-escape, a ".." segment (in any spelling: "..", ".%2e",
 *         "%2E%2e"), a decoded '/' or '\' (%2f, %5c), a raw '\', NUL or another control
 *         character (raw or decoded), or a decoded "%XX" (double encoding such as %252e)
 *   -414  the result does not fit in cap.
 * A ".." is refused rather than resolved, so no spelling of it can climb out of a root. */
ssize_t httpd_path_decode(const char *in, size_t len, char *out, size_t cap);

/* Percent-encodes a decoded path (NUL terminated, as httpd_path_decode makes it) into out[0..cap)
 * for a header such as Location: every byte that is not a pchar (RFC 3986 3.3) or '/' becomes
 * %XX. A path from httpd_path_decode has no "//", so the result is never a network-path
 * reference ("//host/...") that would send a client to another host. Returns its length, or 0
 * if it does not fit (out is then "" when cap > 0). */
size_t httpd_path_encode(const char *path, char *out, size_t cap);

/* The media type for a file name's extension (case-insensitive), with "; charset=utf-8" for
 * text types; "application/octet-stream" when unknown. Never NULL. */
const char *httpd_mime_type(const char *name, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* Files under a root (system calls)                                                         */

/* Opens dir as a root (O_PATH | O_DIRECTORY). Returns the fd or -errno. */
int httpd_root_open(const char *dir);

/* Opens rel (a decoded path; leading '/' ignored; "" or "/" is the root itself) beneath rootfd
 * with open flags `flags` (O_CLOEXEC is added). Symlinks inside the root are followed; nothing
 * may leave it: ".." components, absolute symlinks and symlinks climbing out fail with -EXDEV
 * (or -ELOOP), /proc magic links with -ELOOP. Uses openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS); where the kernel lacks it (ENOSYS, or EPERM from a seccomp filter)
 * falls back to httpd_open_beneath_walk(). Returns the fd or -errno. May block on a cold
 * disk: a server on an event loop runs it on a worker. */
int httpd_open_beneath(int rootfd, const char *rel, int flags);

/* The fallback: opens rel one component at a time with O_NOFOLLOW, so it refuses every
 * symlink (-ELOOP or -ENOTDIR), even one that stays inside the root. */
int httpd_open_beneath_walk(int rootfd, const char *rel, int flags);

/* Opens a regular file for a static response: httpd_open_beneath(O_RDONLY | O_NONBLOCK |
 * O_NOCTTY), then fstat into *st. Returns the fd, -EISDIR for a directory (the caller may try
 * an index file), -EACCES for anything that is not a regular file (FIFOs, devices, sockets),
 * or the -errno of the failed call. */
int httpd_file_open(int rootfd, const char *rel, struct stat *st);

/* For a caller that runs the openat2 itself (e.g. on io_uring): the path and struct open_how
 * that httpd_file_open passes to openat2 for rel, and the check it makes of the opened fd:
 * fstat into *st, then fd, or -EISDIR / -EACCES / -errno as above with fd closed. */
struct open_how;
const char *httpd_file_how(const char *rel, struct open_how *how);
int httpd_file_check(int fd, struct stat *st);

/* The status for an -errno of the functions above: 404 for ENOENT, ENOTDIR, ELOOP, EXDEV (an
 * escape is answered as if the file did not exist), 403 for EACCES and EPERM, 414 for
 * ENAMETOOLONG, 500 otherwise. */
int httpd_status_for_errno(int err);

/* ---------------------------------------------------------------------------------------- */
/* Range (RFC 9110 14)                                                                       */

/* Judges a Range field value against a representation of `size` bytes. Returns
 *   206  a single satisfiable range: bytes [*first, *last] (inclusive) of the representation
 *   416  unsatisfiable (first-pos >= size, a zero suffix, or any range of an empty file):
 *        answer 416 with "Content-Range: bytes (star)/size"
 *   200  ignore the header and send the whole representation: absent, not "bytes=", bad
 *        syntax (including first > last), or several ranges (multipart/byteranges is not
 *        produced: a full 200 is a valid answer to a multi-range request).
 * Numbers too large for 64 bits saturate. */
int httpd_range_parse(const char *v, size_t len, uint64_t size, uint64_t *first, uint64_t *last);

/* Whether to answer 304 to a GET or HEAD with an If-Modified-Since value `ims` (may be {NULL,
 * 0}) for a file modified at mtime: true only if ims is a valid HTTP-date and mtime <= it.
 * Callers must ignore it when the request has If-None-Match (RFC 9110 13.1.3). */
bool httpd_not_modified(httpd_str ims, time_t mtime);

/* A file's entity tag, strong, with its quotes: "<mtime seconds>.<nanoseconds>-<size>" in hex
 * (nginx's form plus the nanoseconds, so a file rewritten within a second at the same size
 * still gets a new tag). */
#define HTTPD_ETAG_MAX 48
void httpd_etag_format(char out[HTTPD_ETAG_MAX], int64_t sec, long nsec, uint64_t size);

/* Whether a Range applies given the request's If-Range (may be {NULL, 0}): true without one;
 * with an entity tag, when it is etag (ours, may be NULL: none), compared strongly (a weak tag
 * never matches); with an HTTP-date, when it equals mtime (the Last-Modified sent; none for
 * mtime 0). When false, answer 200 with the whole representation (RFC 9110 13.1.5). */
bool httpd_range_applies(httpd_str if_range, time_t mtime, const char *etag);

/* Evaluates the preconditions of req against a file modified at mtime whose entity tag is etag
 * (may be NULL: none), in RFC 9110 13.2.2 order: If-Match (strong comparison, or "*"),
 * If-Unmodified-Since, If-None-Match (weak comparison, or "*"), If-Modified-Since. Returns 0
 * (go on), 304 (Not Modified, GET and HEAD) or 412 (Precondition Failed). Invalid dates are
 * ignored, as RFC 9110 requires, and so are the date conditions when mtime is 0: that is "no
 * modification date" (no Last-Modified is sent). A malformed entity-tag list matches nothing. */
int httpd_preconditions(const httpd_request *req, time_t mtime, const char *etag);

/* ---------------------------------------------------------------------------------------- */
/* HTTP-date (RFC 9110 5.6.7)                                                                */

#define HTTPD_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes the IMF-fixdate for t (seconds since the epoch, UTC) into out[0..30), NUL terminated.
 * Years outside 0..9999 are clamped. Returns HTTPD_DATE_LEN. */
size_t httpd_date_format(time_t t, char out[HTTPD_DATE_LEN + 1]);

/* Parses an IMF-fixdate, an RFC 850 date or an asctime() date into *t. Two-digit RFC 850 years
 * are read relative to `now` (more than 50 years ahead means the previous century). Returns 0,
 * or -400 if s is none of the three forms or names an impossible date. */
int httpd_date_parse_at(const char *s, size_t len, time_t now, time_t *t);

/* httpd_date_parse_at() with now = the current time. */
int httpd_date_parse(const char *s, size_t len, time_t *t);

/* The Date value of the current second, reformatted at most once per second. */
typedef struct httpd_date_cache {
    time_t sec;
    char text[HTTPD_DATE_LEN + 1];
} httpd_date_cache;

/* Sets the cache to `now` (reformats only if the second changed). Returns true if it changed
 * (so canned responses need the new date, see httpd_canned_set_date). */
bool httpd_date_cache_set(httpd_date_cache *c, time_t now);

/* Reads CLOCK_REALTIME_COARSE (vDSO, no system call) and returns the cached text for it. */
const char *httpd_date_cache_now(httpd_date_cache *c);

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                 */

/* The reason phrase for a status ("Not Found"), "Unknown" for others. */
const char *httpd_reason(int status);

/* What a response head carries. Fields left zero/NULL are omitted. */
typedef struct httpd_response {
    int status;
    uint8_t version;          /* the request's (10 or 11): decides the Connection header */
    bool keep_alive;          /* false: "Connection: close" */
    const char *server;       /* Server value, e.g. "uco" */
    const char *date;         /* Date value (httpd_date_cache_now()) */
    const char *content_type; /* e.g. httpd_mime_type() */
    int64_t content_length;   /* -1: no Content-Length (use for 304 and 1xx) */
    time_t last_modified;     /* 0: none */
    const char *etag;         /* ETag value with its quotes (httpd_etag_format), NULL: none */
    bool accept_ranges;       /* "Accept-Ranges: bytes" */
    /* Content-Range: 206 -> "bytes first-last/size"; 416 -> "bytes (star)/size". */
    bool content_range;
    uint64_t range_first, range_last, range_size;
    const char *allow; /* Allow value (required with 405), e.g. "GET, HEAD" */
} httpd_response;

/* Formats the status line and fields of r, then the empty line, into out[0..cap). Returns the
 * length, or 0 if it does not fit (nothing useful is left in out then). HTTP/1.1 keep-alive
 * sends no Connection field; HTTP/1.0 keep-alive sends "Connection: keep-alive". */
size_t httpd_response_head(char *out, size_t cap, const httpd_response *r);

/* A complete error response (status line, Server, Date, Content-Type text/plain, Content-Length,
 * "Connection: close", and a one-line body naming the status; no body if head_only) into
 * out[0..cap). Returns the length or 0 if it does not fit (256 bytes always suffice with a
 * server name up to 64 bytes). */
size_t httpd_error_response(char *out, size_t cap, int status, const char *server, const char *date,
                            bool head_only);

/* One access log line in the Common Log Format, with "\n", NUL terminated, into out[0..cap):
 *     peer - - [06/Nov/1994:08:49:37 +0000] "GET /x HTTP/1.1" 200 2326
 * req is the request as httpd_parse_request() just left it (also after an error: its method and
 * target are logged if the request line got that far, "-" otherwise), or NULL; its slices must
 * still be valid. bytes 0 is logged as "-". Bytes that could forge a line (controls, '"', '\',
 * non-ASCII) are written as \xHH. Returns the length, or 0 if it does not fit. */
size_t httpd_log_line(char *out, size_t cap, const char *peer, const httpd_request *req, int status,
                      uint64_t bytes, time_t t);

/* The interim response for Expect: 100-continue. */
extern const char httpd_continue[];
#define HTTPD_CONTINUE_LEN 25

/* The benchmark endpoints, prebuilt for each connection mode, with the Date patched in place
 * once per second: answering one is a single memcpy. */
typedef enum httpd_canned_kind {
    HTTPD_CANNED_PLAINTEXT, /* text/plain "Hello, World!" */
    HTTPD_CANNED_JSON,      /* application/json {"message":"Hello, World!"} */
    HTTPD_CANNED_KINDS
} httpd_canned_kind;

typedef enum httpd_conn_mode {
    HTTPD_CONN_KEEP_ALIVE_11, /* HTTP/1.1, keep-alive: no Connection field */
    HTTPD_CONN_KEEP_ALIVE_10, /* HTTP/1.0 keep-alive: "Connection: keep-alive" */
    HTTPD_CONN_CLOSE,         /* "Connection: close" */
    HTTPD_CONN_MODES
} httpd_conn_mode;

typedef struct httpd_canned {
    struct {
        char text[240];
        uint16_t len;      /* whole response */
        uint16_t head_len; /* without the body (for HEAD) */
        uint16_t date_off; /* where the 29 date bytes are */
    } r[HTTPD_CANNED_KINDS][HTTPD_CONN_MODES];
} httpd_canned;

/* Builds every canned response with server name `server` (at most 64 bytes; longer is cut)
 * and date `date` (HTTPD_DATE_LEN bytes). */
void httpd_canned_init(httpd_canned *c, const char *server, const char *date);

/* Patches a new date (HTTPD_DATE_LEN bytes) into every canned response. */
void httpd_canned_set_date(httpd_canned *c, const char *date);

/* The connection mode that answers req. */
static inline httpd_conn_mode httpd_conn_mode_of(const httpd_request *req)
{
    if (!req->keep_alive) return HTTPD_CONN_CLOSE;
    return req->version >= 11 ? HTTPD_CONN_KEEP_ALIVE_11 : HTTPD_CONN_KEEP_ALIVE_10;
}

/* The canned response of `kind` for `mode`; head_only (HEAD requests) leaves the body out. */
static inline httpd_str httpd_canned_get(const httpd_canned *c, httpd_canned_kind kind,
                                         httpd_conn_mode mode, bool head_only)
{
    httpd_str s = {c->r[kind][mode].text,
                   head_only ? c->r[kind][mode].head_len : c->r[kind][mode].len};
    return s;
}

#ifdef __cplusplus
}
#endif

#endif
