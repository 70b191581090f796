// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/http.h"
#include "core/version.h"

struct collector {
    metrics_collect_fn fn;
    void *arg;
};

struct metrics {
    struct collector *c;
    size_t n;
};

struct metrics_w {
    char *p;
    size_t len, cap;
    int oom;
};

struct metrics *metrics_new(void) { return calloc(1, sizeof(struct metrics)); }

void metrics_free(struct metrics *m)
{
    if (m)
        free(m->c);
    free(m);
}

int metrics_add(struct metrics *m, metrics_collect_fn fn, void *arg)
{
    struct collector *c = realloc(m->c, (m->n + 1) * sizeof *c);
    if (!c)
        return -1;
    m->c = c;
    m->c[m->n++] = (struct collector){fn, arg};
    return 0;
}

void metrics_remove(struct metrics *m, void *arg)
{
    for (size_t i = 0; i < m->n;)
        if (m->c[i].arg == arg)
            memmove(&m->c[i], &m->c[i + 1], (--m->n - i) * sizeof *m->c);
        else
            i++;
}

static void put(struct metrics_w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct metrics_w *w, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(w->p ? w->p + w->len : NULL, w->p ? w->cap - w->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (w->p && w->len + (size_t)n < w->cap) {
            w->len += (size_t)n;
            return;
        }
        size_t cap = w->cap ? w->cap * 2 : 16384;
        while (cap < w->len + (size_t)n + 1)
            cap *= 2;
        char *q = realloc(w->p, cap);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
}

/* Go's %g-like shortest form that Prometheus parses: integers without a fraction, +Inf, NaN. */
static void put_value(struct metrics_w *w, double v)
{
    if (isnan(v))
        put(w, "NaN");
    else if (isinf(v))
        put(w, v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 1e15 && v == (double)(long long)v)
        put(w, "%.0f", v);
    else
        put(w, "%.17g", v);
}

void mw_family(struct metrics_w *w, const char *name, const char *type, const char *help)
{
    put(w, "# HELP %s ", name);
    for (const char *h = help; *h; h++) /* the format escapes \ and newline in help text */
        put(w, "%s", *h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : (char[]){*h, 0});
    put(w, "\n# TYPE %s %s\n", name, type);
}

static void put_label_value(struct metrics_w *w, const char *v)
{
    for (; *v; v++)
        put(w, "%s", *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : (char[]){*v, 0});
}

void mw_sample(struct metrics_w *w, const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    put(w, "%s", name);
    const char *k = va_arg(ap, const char *);
    if (k) {
        put(w, "{");
        for (int first = 1; k; k = va_arg(ap, const char *), first = 0) {
            const char *val = va_arg(ap, const char *);
            put(w, "%s%s=\"", first ? "" : ",", k);
            put_label_value(w, val ? val : "");
            put(w, "\"");
        }
        put(w, "}");
    }
    va_end(ap);
    put(w, " ");
    put_value(w, v);
    put(w, "\n");
}

void mw_counter(struct metrics_w *w, const char *name, const char *help, double v)
{
    mw_family(w, name, "counter", help);
    mw_sample(w, name, v, NULL);
}

void mw_gauge(struct metrics_w *w, const char *name, const char *help, double v)
{
    mw_family(w, name, "gauge", help);
    mw_sample(w, name, v, NULL);
}

void mhist_init(struct mhist *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n < MHIST_MAX_BUCKETS ? n : MHIST_MAX_BUCKETS;
}

void mhist_observe(struct mhist *h, double v)
{
    for (size_t i = 0; i < h->n; i++)
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum += v;
}

void mw_hist(struct metrics_w *w, const char *name, const char *help, const struct mhist *h)
{
    char b[256], le[32];
    uint64_t cum = 0;
    mw_family(w, name, "histogram", help);
    snprintf(b, sizeof b, "%s_bucket", name);
    for (size_t i = 0; i < h->n; i++) {
        cum += h->counts[i];
        snprintf(le, sizeof le, "%g", h->bounds[i]);
        mw_sample(w, b, (double)cum, "le", le, NULL);
    }
    mw_sample(w, b, (double)h->count, "le", "+Inf", NULL);
    snprintf(b, sizeof b, "%s_sum", name);
    mw_sample(w, b, h->sum, NULL);
    snprintf(b, sizeof b, "%s_count", name);
    mw_sample(w, b, (double)h->count, NULL);
}

const double mhist_seconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 10};
const size_t mhist_seconds_n = sizeof mhist_seconds / sizeof *mhist_seconds;
const double mhist_sizes[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
const size_t mhist_sizes_n = sizeof mhist_sizes / sizeof *mhist_sizes;

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *metrics_render(struct metrics *m, size_t *len)
{
    struct metrics_w w = {0};
    for (size_t i = 0; i < m->n; i++)
        m->c[i].fn(&w, m->c[i].arg);
    if (w.oom || !w.p) {
        free(w.p);
        w.p = strdup("");
        w.len = 0;
    }
    *len = w.len;
    return w.p;
}

void metrics_http(struct http_req *req, void *arg)
{
    size_t len;
    char *body = metrics_render(arg, &len);
    static const struct http_header h[] = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    http_respond(req, 200, h, 1, body ? body : "", body ? len : 0);
    free(body);
}

/* ---- the process ---- */

static double start_time; /* unix seconds this process started (from /proc: boot time + starttime ticks) */

static double proc_start_time(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces: fields count from after it */
    unsigned long long ticks = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &ticks) == 1) {
        double btime = 0;
        f = fopen("/proc/stat", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "btime %lf", &btime) == 1)
                break;
        if (f)
            fclose(f);
        long hz = sysconf(_SC_CLK_TCK);
        if (btime > 0 && hz > 0)
            return btime + (double)ticks / (double)hz;
    }
    return (double)time(NULL);
}

static void collect_process(struct metrics_w *w, void *arg)
{
    (void)arg;
    mw_family(w, "weft_build_info", "gauge", "weft's version and module ABI; always 1.");
    char abi[16];
    snprintf(abi, sizeof abi, "%d", WEFT_ABI_VERSION);
    mw_sample(w, "weft_build_info", 1, "version", WEFT_VERSION, "abi", abi, NULL);

    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        mw_counter(w, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                       (double)ru.ru_stime.tv_usec / 1e6);
    unsigned long long pages_vm = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &pages_vm, &pages_rss) == 2) {
            double page = (double)sysconf(_SC_PAGESIZE);
            mw_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.", (double)pages_rss * page);
            mw_gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.", (double)pages_vm * page);
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        double n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            n += e->d_name[0] != '.';
        closedir(d);
        mw_gauge(w, "process_open_fds", "Number of open file descriptors.", n - 1); /* less opendir's own */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        mw_gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
                 rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    mw_gauge(w, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start_time);
}

void metrics_add_process(struct metrics *m)
{
    if (!start_time)
        start_time = proc_start_time();
    metrics_add(m, collect_process, NULL);
}
