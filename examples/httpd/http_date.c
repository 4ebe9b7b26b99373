/* HTTP-date (RFC 9110 5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and asctime() in. Calendar
 * arithmetic is done here (proleptic Gregorian, days since 1970-01-01) so that neither direction
 * depends on the time zone, the locale or gmtime's static buffer. */
#include "http_internal.h"

#include <string.h>

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_names_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days from 1970-01-01 to y-m-d, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void httpd__utc(time_t t, struct httpd__tm *tm)
{
    const int64_t lo = -62167219200LL, hi = 253402300799LL; /* 0000-01-01, 9999-12-31 */
    int64_t s = (int64_t)t;
    if (s < lo) s = lo;
    if (s > hi) s = hi;
    int64_t days = (s >= 0 ? s : s - 86399) / 86400, y;
    unsigned sec = (unsigned)(s - days * 86400);
    civil_from_days(days, &y, &tm->mon, &tm->day);
    tm->year = (unsigned)y;
    tm->wday = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    tm->hour = sec / 3600;
    tm->min = sec / 60 % 60;
    tm->sec = sec % 60;
}

void httpd__two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

const char *httpd__month_name(unsigned mon)
{
    return month_names[mon - 1];
}

size_t httpd_date_format(time_t t, char out[HTTPD_DATE_LEN + 1])
{
    struct httpd__tm tm;
    httpd__utc(t, &tm);
    memcpy(out, "Sun, 00 Jan 0000 00:00:00 GMT", HTTPD_DATE_LEN + 1);
    memcpy(out, day_names[tm.wday], 3);
    httpd__two(out + 5, tm.day);
    memcpy(out + 8, month_names[tm.mon - 1], 3);
    httpd__two(out + 12, tm.year / 100);
    httpd__two(out + 14, tm.year % 100);
    httpd__two(out + 17, tm.hour);
    httpd__two(out + 20, tm.min);
    httpd__two(out + 23, tm.sec);
    return HTTPD_DATE_LEN;
}

/* n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (!memcmp(s, month_names[i], 3)) return i + 1;
    return 0;
}

static int day_name_of(const char *s)
{
    for (int i = 0; i < 7; i++)
        if (!memcmp(s, day_names[i], 3)) return i;
    return -1;
}

/* "HH:MM:SS" into seconds of the day; -1 if malformed. */
static int time_of_day(const char *s)
{
    int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
    if (h < 0 || m < 0 || sec < 0 || s[2] != ':' || s[5] != ':') return -1;
    if (h > 23 || m > 59 || sec > 60) return -1;
    return h * 3600 + m * 60 + sec;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int finish(int64_t y, int mon, int day, int tod, time_t *t)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!mon || day < 1 || tod < 0) return -400;
    if (day > mdays[mon - 1] + (mon == 2 && leap(y))) return -400;
    *t = (time_t)(days_from_civil(y, (unsigned)mon, (unsigned)day) * 86400 + tod);
    return 0;
}

int httpd_date_parse_at(const char *s, size_t len, time_t now, time_t *t)
{
    if (len == 29 && s[3] == ',' && s[4] == ' ' && day_name_of(s) >= 0) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4)) return -400;
        int y = digits(s + 12, 4);
        if (y < 0) return -400;
        return finish(y, month_of(s + 8), digits(s + 5, 2), time_of_day(s + 17), t);
    }
    if (len == 24 && s[3] == ' ' && day_name_of(s) >= 0) {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return -400;
        int day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
        int y = digits(s + 20, 4);
        if (y < 0) return -400;
        return finish(y, month_of(s + 4), day, time_of_day(s + 11), t);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    const char *comma = memchr(s, ',', len < 10 ? len : 10);
    if (!comma) return -400;
    size_t dn = (size_t)(comma - s);
    int wd = -1;
    for (int i = 0; i < 7; i++)
        if (strlen(day_names_long[i]) == dn && !memcmp(s, day_names_long[i], dn)) wd = i;
    if (wd < 0 || len != dn + 24) return -400;
    const char *p = comma + 1;
    if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || memcmp(p + 19, " GMT", 4))
        return -400;
    int yy = digits(p + 8, 2);
    if (yy < 0) return -400;
    int64_t now_y;
    unsigned nm, nd;
    civil_from_days(((int64_t)now >= 0 ? (int64_t)now : (int64_t)now - 86399) / 86400, &now_y, &nm,
                    &nd);
    int64_t y = now_y - now_y % 100 + yy;
    if (y > now_y + 50) y -= 100;
    return finish(y, month_of(p + 4), digits(p + 1, 2), time_of_day(p + 11), t);
}

int httpd_date_parse(const char *s, size_t len, time_t *t)
{
    return httpd_date_parse_at(s, len, time(NULL), t);
}

bool httpd_date_cache_set(httpd_date_cache *c, time_t now)
{
    if (now == c->sec && c->text[0]) return false;
    c->sec = now;
    httpd_date_format(now, c->text);
    return true;
}

const char *httpd_date_cache_now(httpd_date_cache *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    httpd_date_cache_set(c, ts.tv_sec);
    return c->text;
}
