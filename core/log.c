// SPDX-License-Identifier: BSD-3-Clause
/* logfmt lines on stderr. The format's literal text is ours; what %s (and %c) bring in may come from a peer
 * (a hostname, a path, an error text), so it is never written raw: it is escaped (\n, \", \\, \x1b...), and
 * quoted whenever it is not a plain word, so a value can neither end the line nor pose as another key. */
#include "config.h"
#include "core/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A line longer than this is cut (a 1 MiB Hostinfo must not become a 1 MiB log line). */
#define LOG_LINE_MAX 8192

static enum log_level cur = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};
static int stamp; /* off until configured: the CLI's messages and tests' logs stay as they are */

void log_set_timestamps(enum log_timestamps t)
{
    stamp = t == LOG_TS_ON;
    if (t == LOG_TS_AUTO) { /* "DEV:INO" of the journal's stream; stderr may have been redirected since */
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        stamp = !(js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                  (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino);
    }
}

void log_set_level(enum log_level l) { cur = l; }

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

struct line {
    char b[LOG_LINE_MAX];
    size_t n;
    int cut;
};

static void put(struct line *o, const char *s, size_t n)
{
    if (o->n + n > sizeof o->b - 1) {
        n = sizeof o->b - 1 - o->n;
        o->cut = 1;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void putc_(struct line *o, char c) { put(o, &c, 1); }

/* Length of the valid UTF-8 sequence at s (at most n bytes) that is not a C1 control, else 0. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < len)
        return 0;
    cp = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return len;
}

/* A bare word: printable ASCII without space, quote, backslash or '='; anything else gets quotes. */
static int plain(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return 0;
    }
    return 1;
}

static void put_escaped(struct line *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n && !o->cut;) {
        unsigned char c = p[i];
        size_t u;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
        } else if (c == '\n') {
            put(o, "\\n", 2);
        } else if (c == '\r') {
            put(o, "\\r", 2);
        } else if (c == '\t') {
            put(o, "\\t", 2);
        } else if (c >= 0x20 && c < 0x7f) {
            putc_(o, (char)c);
        } else if (c >= 0x80 && (u = utf8_ok(p + i, n - i)) > 0) {
            put(o, s + i, u); /* printable UTF-8 stays readable */
            i += u;
            continue;
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]}; /* controls, DEL, C1, stray bytes */
            put(o, e, 4);
        }
        i++;
    }
}

/* A value from %s: bare if it is a plain word and the format did not quote it; escaped in quotes otherwise. */
static void put_value(struct line *o, const char *s, size_t n, int in_quotes)
{
    if (in_quotes) {
        put_escaped(o, s, n);
    } else if (plain(s, n)) {
        put(o, s, n);
    } else {
        putc_(o, '"');
        put_escaped(o, s, n);
        putc_(o, '"');
    }
}

/* Format fmt into o. Conversions other than %s and %c are printf's own (their arguments are numbers): each goes
 * to snprintf as the one-conversion spec cut from fmt, which the compiler checked at the log call. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format(struct line *o, const char *fmt, va_list ap)
{
    int in_quotes = 0;
    for (const char *p = fmt; *p;) {
        if (*p != '%') {
            if (*p == '"' && (p == fmt || p[-1] != '\\'))
                in_quotes = !in_quotes;
            putc_(o, *p++);
            continue;
        }
        const char *start = p++;
        while (*p && strchr("-+ #0'", *p))
            p++;
        int width_star = 0, prec = -1, prec_star = 0;
        if (*p == '*') {
            width_star = 1;
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec_star = 1;
                p++;
            } else {
                while (*p >= '0' && *p <= '9')
                    prec = prec * 10 + (*p++ - '0');
            }
        }
        int lng = 0; /* 1 l, 2 ll, 3 z, 4 j, 5 t, 6 L, -1 h, -2 hh */
        if (p[0] == 'h' && p[1] == 'h') {
            lng = -2;
            p += 2;
        } else if (p[0] == 'l' && p[1] == 'l') {
            lng = 2;
            p += 2;
        } else if (*p && strchr("hlzjtL", *p)) {
            lng = *p == 'h' ? -1 : *p == 'l' ? 1 : *p == 'z' ? 3 : *p == 'j' ? 4 : *p == 't' ? 5 : 6;
            p++;
        }
        char conv = *p;
        if (!conv)
            break;
        p++;
        char spec[32];
        size_t sl = (size_t)(p - start);
        if (sl >= sizeof spec)
            sl = sizeof spec - 1; /* absurd widths: cut (the conversion letter is last, keep it) */
        memcpy(spec, start, sl - 1);
        spec[sl - 1] = conv;
        spec[sl] = 0;
        int w = width_star ? va_arg(ap, int) : 0;
        if (prec_star)
            prec = va_arg(ap, int);
        char num[128];
        int nn = -1;
        switch (conv) {
        case '%':
            putc_(o, '%');
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (s == NULL)
                s = "(null)";
            size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
            put_value(o, s, n, in_quotes);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            put_value(o, &c, 1, in_quotes);
            break;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
#define NUM(T) (width_star && prec_star ? snprintf(num, sizeof num, spec, w, prec, va_arg(ap, T))                  \
                : width_star            ? snprintf(num, sizeof num, spec, w, va_arg(ap, T))                        \
                : prec_star             ? snprintf(num, sizeof num, spec, prec, va_arg(ap, T))                     \
                                        : snprintf(num, sizeof num, spec, va_arg(ap, T)))
            if (lng == 2)
                nn = NUM(long long);
            else if (lng == 1)
                nn = NUM(long);
            else if (lng == 3)
                nn = NUM(size_t);
            else if (lng == 4)
                nn = NUM(intmax_t);
            else if (lng == 5)
                nn = NUM(ptrdiff_t);
            else
                nn = NUM(int); /* h and hh are promoted to int */
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
            if (lng == 6)
                nn = NUM(long double);
            else
                nn = NUM(double);
            break;
        case 'p':
            nn = snprintf(num, sizeof num, "%p", va_arg(ap, void *));
            break;
#undef NUM
        default: /* not something we write: show the spec, consume nothing */
            put(o, start, (size_t)(p - start));
            break;
        }
        if (nn > 0)
            put(o, num, (size_t)nn < sizeof num ? (size_t)nn : sizeof num - 1);
    }
}
#pragma GCC diagnostic pop

void log_vmsg(enum log_level l, const char *fmt, va_list ap)
{
    if (l > cur)
        return;
    struct line o;
    o.n = 0;
    o.cut = 0;
    if (stamp) {
        struct timespec ts;
        struct tm tm;
        char t[48];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t tl = strftime(t, sizeof t, "time=%Y-%m-%dT%H:%M:%S", &tm);
        tl += (size_t)snprintf(t + tl, sizeof t - tl, ".%03ldZ ", ts.tv_nsec / 1000000);
        put(&o, t, tl);
    }
    put(&o, "level=", 6);
    put(&o, names[l], strlen(names[l]));
    putc_(&o, ' ');
    format(&o, fmt, ap);
    if (o.cut) {
        const char *more = " ...(cut)";
        size_t ml = strlen(more);
        o.n = sizeof o.b - 1 - ml;
        memcpy(o.b + o.n, more, ml);
        o.n += ml;
    }
    o.b[o.n++] = '\n';
    /* one write: lines from threads or other processes on the same stderr don't interleave */
    size_t off = 0;
    while (off < o.n) {
        ssize_t w = write(STDERR_FILENO, o.b + off, o.n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void log_msg(enum log_level l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(l, fmt, ap);
    va_end(ap);
}
