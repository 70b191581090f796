// SPDX-License-Identifier: BSD-3-Clause
/* Prometheus metrics: one registry per process that every role adds its collectors to, and the text
 * exposition (format 0.0.4) they write through. A collector runs at scrape time and writes what its module
 * already counts (no locks: one loop). The core adds build info and the process's own metrics
 * (resident memory, CPU seconds, open and maximum fds, start time). Names follow Prometheus conventions:
 * base units (_seconds, _bytes), _total on counters, a module prefix (weft_control_, weft_derp_, ...). */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct http_req;
struct metrics;   /* a registry */
struct metrics_w; /* the exposition being written */

typedef void (*metrics_collect_fn)(struct metrics_w *w, void *arg);

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Add a collector (called at every scrape, in the order added); remove it by its arg. 0 or -1. */
int metrics_add(struct metrics *m, metrics_collect_fn fn, void *arg);
void metrics_remove(struct metrics *m, void *arg);

/* The whole exposition (malloc'ed, NUL-terminated; *len without the NUL). */
char *metrics_render(struct metrics *m, size_t *len);

/* An http_handler (core/http.h) answering with the exposition of the registry arg. */
void metrics_http(struct http_req *req, void *arg);

/* ---- writing, for collectors ---- */

/* A family's # HELP and # TYPE lines (type: "counter", "gauge", "histogram"). */
void mw_family(struct metrics_w *w, const char *name, const char *type, const char *help);
/* One sample. labels: NULL, or "key", "value" pairs ending in NULL; values are escaped as the format wants. */
void mw_sample(struct metrics_w *w, const char *name, double v, ...) __attribute__((sentinel));
/* A family of one unlabelled sample. */
void mw_counter(struct metrics_w *w, const char *name, const char *help, double v);
void mw_gauge(struct metrics_w *w, const char *name, const char *help, double v);

/* A histogram: cumulative counts over fixed upper bounds (ascending; +Inf is implied). */
#define MHIST_MAX_BUCKETS 16
struct mhist {
    const double *bounds;
    size_t n;
    uint64_t counts[MHIST_MAX_BUCKETS]; /* per bucket, not cumulative; counts[i]: v <= bounds[i] */
    uint64_t count;
    double sum;
};
void mhist_init(struct mhist *h, const double *bounds, size_t n);
void mhist_observe(struct mhist *h, double v);
/* Its family (# HELP/# TYPE), then _bucket{le=...}, _sum and _count. */
void mw_hist(struct metrics_w *w, const char *name, const char *help, const struct mhist *h);

/* Bounds that fit common cases: seconds from 100 µs to 10 s, and sizes from 1 to 10,000. */
extern const double mhist_seconds[];
extern const size_t mhist_seconds_n;
extern const double mhist_sizes[];
extern const size_t mhist_sizes_n;

/* The core's own collectors: weft_build_info{version,abi} and process_* from /proc/self. */
void metrics_add_process(struct metrics *m);

/* Monotonic seconds, for timing what a histogram observes. */
double metrics_now(void);

#endif
