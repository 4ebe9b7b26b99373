/* Private helpers shared by the files of uco-httpd's HTTP core. */
#ifndef UCO_HTTPD_HTTP_INTERNAL_H
#define UCO_HTTPD_HTTP_INTERNAL_H

#include "http.h"

/* Character classes (httpd__ctype bits). */
enum {
    HTTPD_C_TCHAR = 0x01,        /* token character (RFC 9110 5.6.2) */
    HTTPD_C_TARGET = 0x02,       /* allowed in a request-target (RFC 3986, plus '%' and '[' ']') */
    HTTPD_C_VALUE = 0x04,        /* field-value character: HTAB, SP, VCHAR, obs-text */
    HTTPD_C_HEX = 0x08,          /* hex digit */
    HTTPD_C_BRACKET = 0x10,      /* '[' or ']': only inside an absolute-form authority */
    HTTPD_C_HOST = 0x20,         /* reg-name character: unreserved / sub-delims */
    HTTPD_C_QDTEXT = 0x40,       /* quoted-string text (RFC 9110 5.6.4) */
    HTTPD_C_TARGET_PLAIN = 0x80, /* HTTPD_C_TARGET but '%', '[' and ']' */
};

extern const unsigned char httpd__ctype[256];

static inline bool httpd__is(unsigned char c, unsigned cls)
{
    return (httpd__ctype[c] & cls) != 0;
}

static inline bool httpd__ows(char c)
{
    return c == ' ' || c == '\t';
}

static inline int httpd__hexval(unsigned char c)
{
    if (c <= '9') return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* Case-insensitive comparison of s[0..n) with `lower`, which has n lowercase letters, digits or
 * '-'. Exact for any s whose bytes are token characters or digits. */
static inline bool httpd__ieq(const char *s, size_t n, const char *lower, size_t ln)
{
    if (n != ln) return false;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] | 0x20) != (unsigned char)lower[i]) return false;
    return true;
}

#define HTTPD__IEQ(s, n, lit) httpd__ieq((s), (n), lit, sizeof(lit) - 1)

/* A UTC time split into fields (years clamped to 0..9999); months and days count from 1. */
struct httpd__tm {
    unsigned year, mon, day, hour, min, sec, wday;
};
void httpd__utc(time_t t, struct httpd__tm *tm);
/* Two decimal digits of v at p. */
void httpd__two(char *p, unsigned v);
/* The decimal digits of v at out; returns how many. */
size_t httpd__fmt_u64(char out[20], uint64_t v);
/* "Jan".."Dec" for 1..12. */
const char *httpd__month_name(unsigned mon);

/* Fills dst from src (NULL: defaults), replacing zero fields with defaults and clamping. */
void httpd__limits_fill(httpd_limits *dst, const httpd_limits *src);

#endif
