/* Request bodies: Content-Length and the chunked coding (RFC 9112 6, 7.1).
 *
 * Framing bytes (sizes, extensions, CR LF, trailers) go through a byte-at-a-time state machine,
 * so they may be split anywhere; content is handed back as slices of the caller's buffer. */
#include "http_internal.h"

#include <string.h>

enum chunk_state {
    CH_SIZE_START,     /* first hex digit of a chunk-size */
    CH_SIZE,           /* more hex digits, or what follows them */
    CH_EXT_PRE,        /* BWS before ';' */
    CH_EXT_NAME_PRE,   /* BWS after ';' */
    CH_EXT_NAME,       /* chunk-ext-name */
    CH_EXT_AFTER_NAME, /* BWS after the name, before '=' or ';' */
    CH_EXT_VAL_PRE,    /* BWS after '=' */
    CH_EXT_VAL,        /* token value */
    CH_EXT_QUOTED,     /* quoted-string value */
    CH_EXT_QUOTED_ESC, /* after '\' inside it */
    CH_EXT_AFTER_Q,    /* after the closing quote */
    CH_SIZE_LF,        /* LF ending the size line */
    CH_DATA,           /* chunk-data */
    CH_DATA_CR,        /* CR after chunk-data */
    CH_DATA_LF,        /* LF after chunk-data */
    CH_TRAILER_START,  /* a trailer field, or the final CR LF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF, /* LF of the final empty line */
};

static void body_limits(httpd_body *b, const httpd_limits *lim)
{
    httpd_limits l;
    httpd__limits_fill(&l, lim);
    b->max_body = l.max_body;
    b->max_line = l.max_line;
    b->max_head = l.max_head;
    b->max_headers = l.max_headers;
}

void httpd_body_init_chunked(httpd_body *b, const httpd_limits *lim)
{
    memset(b, 0, sizeof *b);
    body_limits(b, lim);
    b->kind = HTTPD_BODY_CHUNKED;
    b->state = CH_SIZE_START;
}

void httpd_body_init(httpd_body *b, const httpd_request *req, const httpd_limits *lim)
{
    if (req->body == HTTPD_BODY_CHUNKED) {
        httpd_body_init_chunked(b, lim);
        return;
    }
    memset(b, 0, sizeof *b);
    body_limits(b, lim);
    b->kind = (uint8_t)req->body;
    b->remaining = req->body == HTTPD_BODY_LENGTH ? req->content_length : 0;
    b->done = b->remaining == 0;
}

/* One framing byte of the chunked coding: returns 0 or -status. */
static int chunk_byte(httpd_body *b, unsigned char c)
{
    switch (b->state) {
    case CH_SIZE_START:
    case CH_SIZE:
        if (httpd__is(c, HTTPD_C_HEX)) {
            if (++b->ndigits > 16) return -400;
            b->remaining = b->remaining << 4 | (uint64_t)httpd__hexval(c);
            if (b->remaining > b->max_body - b->total) return -413;
            b->state = CH_SIZE;
            return 0;
        }
        if (b->state == CH_SIZE_START) return -400;
        if (c == '\r')
            b->state = CH_SIZE_LF;
        else if (c == ';')
            b->state = CH_EXT_NAME_PRE;
        else if (httpd__ows((char)c))
            b->state = CH_EXT_PRE;
        else
            return -400;
        return 0;
    case CH_EXT_PRE:
        if (c == ';')
            b->state = CH_EXT_NAME_PRE;
        else if (!httpd__ows((char)c))
            return -400;
        return 0;
    case CH_EXT_NAME_PRE:
        if (httpd__is(c, HTTPD_C_TCHAR))
            b->state = CH_EXT_NAME;
        else if (!httpd__ows((char)c))
            return -400;
        return 0;
    case CH_EXT_NAME:
        if (httpd__is(c, HTTPD_C_TCHAR)) return 0;
        if (c == '=')
            b->state = CH_EXT_VAL_PRE;
        else if (c == ';')
            b->state = CH_EXT_NAME_PRE;
        else if (c == '\r')
            b->state = CH_SIZE_LF;
        else if (httpd__ows((char)c))
            b->state = CH_EXT_AFTER_NAME;
        else
            return -400;
        return 0;
    case CH_EXT_AFTER_NAME:
        if (c == '=')
            b->state = CH_EXT_VAL_PRE;
        else if (c == ';')
            b->state = CH_EXT_NAME_PRE;
        else if (!httpd__ows((char)c))
            return -400;
        return 0;
    case CH_EXT_VAL_PRE:
        if (c == '"')
            b->state = CH_EXT_QUOTED;
        else if (httpd__is(c, HTTPD_C_TCHAR))
            b->state = CH_EXT_VAL;
        else if (!httpd__ows((char)c))
            return -400;
        return 0;
    case CH_EXT_VAL:
        if (httpd__is(c, HTTPD_C_TCHAR)) return 0;
        __attribute__((fallthrough)); /* what may follow a value */
    case CH_EXT_AFTER_Q:
        if (c == ';')
            b->state = CH_EXT_NAME_PRE;
        else if (c == '\r')
            b->state = CH_SIZE_LF;
        else if (httpd__ows((char)c))
            b->state = CH_EXT_PRE;
        else
            return -400;
        return 0;
    case CH_EXT_QUOTED:
        if (c == '"')
            b->state = CH_EXT_AFTER_Q;
        else if (c == '\\')
            b->state = CH_EXT_QUOTED_ESC;
        else if (!httpd__is(c, HTTPD_C_QDTEXT))
            return -400;
        return 0;
    case CH_EXT_QUOTED_ESC:
        if (c != '\t' && (c < 0x20 || c == 0x7f)) return -400;
        b->state = CH_EXT_QUOTED;
        return 0;
    case CH_SIZE_LF:
        if (c != '\n') return -400;
        b->state = b->remaining ? CH_DATA : CH_TRAILER_START;
        b->line = 0;
        b->ndigits = 0;
        return 0;
    case CH_DATA_CR:
        if (c != '\r') return -400;
        b->state = CH_DATA_LF;
        return 0;
    case CH_DATA_LF:
        if (c != '\n') return -400;
        b->state = CH_SIZE_START;
        return 0;
    case CH_TRAILER_START:
        if (c == '\r') {
            b->state = CH_END_LF;
            return 0;
        }
        if (!httpd__is(c, HTTPD_C_TCHAR)) return -400; /* also obs-fold and bare LF */
        if (++b->ntrailers > b->max_headers) return -431;
        b->state = CH_TRAILER_NAME;
        return 0;
    case CH_TRAILER_NAME:
        if (c == ':')
            b->state = CH_TRAILER_VALUE;
        else if (!httpd__is(c, HTTPD_C_TCHAR))
            return -400;
        return 0;
    case CH_TRAILER_VALUE:
        if (c == '\r')
            b->state = CH_TRAILER_LF;
        else if (!httpd__is(c, HTTPD_C_VALUE))
            return -400;
        return 0;
    case CH_TRAILER_LF:
        if (c != '\n') return -400;
        b->state = CH_TRAILER_START;
        return 0;
    case CH_END_LF:
        if (c != '\n') return -400;
        b->done = true;
        return 0;
    }
    return -400;
}

/* Which limit a framing byte counts against. */
static int chunk_account(httpd_body *b)
{
    switch (b->state) {
    case CH_SIZE_START:
    case CH_SIZE:
    case CH_SIZE_LF:
        return ++b->line > b->max_line ? -400 : 0;
    case CH_DATA_CR:
    case CH_DATA_LF:
        return 0;
    case CH_TRAILER_START:
    case CH_TRAILER_NAME:
    case CH_TRAILER_VALUE:
    case CH_TRAILER_LF:
    case CH_END_LF:
        return ++b->trailer_len > b->max_head ? -431 : 0;
    default: /* an extension */
        if (++b->line > b->max_line || ++b->ext_bytes > b->max_head) return -400;
        return 0;
    }
}

ssize_t httpd_body_read(httpd_body *b, const char *buf, size_t len, httpd_str *data)
{
    *data = (httpd_str){NULL, 0};
    if (b->done) return 0;
    if (b->kind != HTTPD_BODY_CHUNKED) {
        size_t n = len < b->remaining ? len : (size_t)b->remaining;
        *data = (httpd_str){buf, n};
        b->remaining -= n;
        b->total += n;
        b->done = b->remaining == 0;
        return (ssize_t)n;
    }
    size_t i = 0;
    while (i < len && !b->done) {
        if (b->state == CH_DATA) {
            size_t n = len - i < b->remaining ? len - i : (size_t)b->remaining;
            *data = (httpd_str){buf + i, n};
            b->remaining -= n;
            b->total += n;
            if (!b->remaining) b->state = CH_DATA_CR;
            return (ssize_t)(i + n);
        }
        int r = chunk_account(b);
        if (!r) r = chunk_byte(b, (unsigned char)buf[i]);
        if (r) return r;
        i++;
    }
    return (ssize_t)i;
}
