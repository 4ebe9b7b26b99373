/* Target paths: percent-decoding and normalisation (RFC 3986 2.1, 5.2.4), and media types. */
#include "http_internal.h"

#include <string.h>

ssize_t httpd_path_decode(const char *in, size_t len, char *out, size_t cap)
{
    if (len == 0 || in[0] != '/') return -400;
    if (cap < 2) return -414;
    size_t o = 0, i = 1;
    bool trail;
    /* One segment (between raw slashes) per turn, decoded after a '/' written at out[o]; empty
     * and "." segments are dropped by not advancing o, ".." is refused outright. */
    for (;;) {
        out[o] = '/';
        size_t s = o + 1, w = s;
        while (i < len && in[i] != '/') {
            unsigned char c = (unsigned char)in[i];
            if (c == '%') {
                if (i + 2 >= len || !httpd__is((unsigned char)in[i + 1], HTTPD_C_HEX) ||
                    !httpd__is((unsigned char)in[i + 2], HTTPD_C_HEX))
                    return -400;
                c = (unsigned char)(httpd__hexval((unsigned char)in[i + 1]) << 4 |
                                    httpd__hexval((unsigned char)in[i + 2]));
                if (c == '/') return -400;
                i += 3;
            } else {
                i++;
            }
            if (c == '\\' || c < 0x20 || c == 0x7f) return -400;
            if (w + 1 >= cap) return -414;
            out[w++] = (char)c;
        }
        size_t n = w - s;
        if (n == 2 && out[s] == '.' && out[s + 1] == '.') return -400;
        bool drop = n == 0 || (n == 1 && out[s] == '.');
        if (!drop) o = w;
        if (i >= len) {
            trail = drop;
            break;
        }
        i++;
        if (o + 1 >= cap) return -414;
    }
    if (trail || o == 0) out[o++] = '/';
    out[o] = 0;
    /* A decoded "%XX" means the client encoded twice (%252e): a later decoder could turn it
     * into a dot or a slash, so refuse it here. */
    for (size_t j = 0; j + 2 < o; j++)
        if (out[j] == '%' && httpd__is((unsigned char)out[j + 1], HTTPD_C_HEX) &&
            httpd__is((unsigned char)out[j + 2], HTTPD_C_HEX))
            return -400;
    return (ssize_t)o;
}

size_t httpd_path_encode(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        unsigned char c = *p;
        /* pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; '%' itself is encoded. */
        bool plain = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                     (c && strchr("-._~!$&'()*+,;=:@/", c));
        if (o + (plain ? 1 : 3) >= cap) { /* and the NUL */
            if (cap) out[0] = 0;
            return 0;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= cap) return 0; /* cap 0 */
    out[o] = 0;
    return o;
}

static const struct mime {
    const char *ext;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"map", "application/json"},
};

const char *httpd_mime_type(const char *name, size_t len)
{
    size_t i = len;
    while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
        i--;
    /* No dot, or a dot file without extension (".bashrc"). */
    if (i == 0 || name[i - 1] != '.' || i == 1 || name[i - 2] == '/')
        return "application/octet-stream";
    const char *ext = name + i;
    size_t n = len - i;
    for (size_t k = 0; k < sizeof mime_types / sizeof mime_types[0]; k++) {
        const char *e = mime_types[k].ext;
        if (strlen(e) != n) continue;
        size_t j = 0;
        while (j < n) {
            char c = ext[j];
            if (c >= 'A' && c <= 'Z') c = (char)(c | 0x20);
            if (c != e[j]) break;
            j++;
        }
        if (j == n) return mime_types[k].type;
    }
    return "application/octet-stream";
}
