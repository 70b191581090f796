// SPDX-License-Identifier: BSD-3-Clause
/* The control role's brain under load: N simulated nodes register (pre-auth key, real SQLite store) and
 * hold map streams; then one node changes its endpoints and we time how long until every other stream has
 * the delta (median, p99), with the server's CPU for that. Streams are in-process sinks that count bytes
 * (the first map is counted, not decoded): this measures registration, map building, compression and
 * fan-out, not the Noise/HTTP/2 transport (bench_channel measures that).
 * Then the same under a realistic access policy (bench_control_policy.c) at N = 1,000 and 10,000.
 *   bench_control [N...]   (default 100 1000 10000; WEFT_BENCH_QUICK=1: 100 1000)
 *   bench_control --policy [N...]   (only the policy runs; default 1000 10000) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/log.h"
#include "core/loop.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

struct sim {
    uint8_t mk[32], nk[32], dk[32];
    uint64_t bytes, frames;
    double got_at; /* seconds (monotonic) when the awaited delta arrived */
    int waiting;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int sim_write(void *h, const void *d, size_t len)
{
    struct sim *s = h;
    (void)d;
    s->bytes += len;
    s->frames++;
    if (s->waiting) {
        s->waiting = 0;
        s->got_at = now_s();
    }
    return 0;
}
static size_t sim_queued(void *h) { (void)h; return 0; }
static void sim_end(void *h) { (void)h; }
static const struct ctrl_sink_ops sim_ops = {sim_write, sim_queued, sim_end};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void hex(const uint8_t k[32], char out[65]) { sodium_bin2hex(out, 65, k, 32); }

static int run(int n)
{
    char dir[] = "/tmp/weft-bench-control.XXXXXX", db[256], err[512];
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/control.db", dir);
    struct loop *L = loop_new();
    struct store *st = store_open(db, true, err, sizeof err);
    struct model_user u = {0};
    snprintf(u.name, sizeof u.name, "bench");
    store_user_create(st, &u);
    char key[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey k;
    authkey_create(st, u.id, true, false, 0, NULL, key, &k);
    model_authkey_clear(&k);
    struct control_conf conf = {0};
    conf.server_url = "http://127.0.0.1:8080";
    conf.base_domain = "bench.internal";
    conf.magic_dns = 1;
    conf.prefix_v4 = "100.64.0.0/10";
    conf.prefix_v6 = "fd7a:115c:a1e0::/48";
    conf.ephemeral_timeout = 1800000;
    conf.keepalive = 50000;
    conf.batch_delay = 100;
    conf.derp_region_id = 999;
    struct ctrl *c = ctrl_new(&conf, L, st, true, 3478, err, sizeof err);
    if (!c)
        return -1;
    struct sim *v = calloc((size_t)n, sizeof *v);
    long rss0 = rss_kb();
    double t0 = now_s(), c0 = cpu_s();
    static char body[4096];
    for (int i = 0; i < n; i++) {
        struct sim *s = &v[i];
        randombytes_buf(s->mk, 32), randombytes_buf(s->nk, 32), randombytes_buf(s->dk, 32);
        char nh[65], dh[65];
        hex(s->nk, nh), hex(s->dk, dh);
        snprintf(body, sizeof body,
                 "{\"Version\":106,\"NodeKey\":\"nodekey:%s\",\"OldNodeKey\":\"nodekey:%064d\",\"Auth\":"
                 "{\"AuthKey\":\"%s\"},\"Expiry\":\"0001-01-01T00:00:00Z\",\"Followup\":\"\",\"Hostinfo\":"
                 "{\"IPNVersion\":\"1.68.2\",\"OS\":\"linux\",\"Hostname\":\"sim%d\",\"Services\":[{\"Proto\":"
                 "\"peerapi4\",\"Port\":41000}]}}",
                 nh, 0, key, i);
        struct reg_answer a;
        struct reg_waiter *w;
        if (reg_handle(c, s->mk, 106, (const uint8_t *)body, strlen(body), &a, NULL, NULL, &w) || a.status != 200)
            return -1;
        reg_answer_free(&a);
        snprintf(body, sizeof body,
                 "{\"Version\":106,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"nodekey:%s\",\"DiscoKey\":"
                 "\"discokey:%s\",\"Stream\":true,\"Hostinfo\":{\"IPNVersion\":\"1.68.2\",\"OS\":\"linux\","
                 "\"Hostname\":\"sim%d\",\"Services\":[{\"Proto\":\"peerapi4\",\"Port\":41000}],\"NetInfo\":"
                 "{\"PreferredDERP\":999}},\"Endpoints\":[\"198.51.100.%d:41641\",\"10.0.%d.%d:41641\"]}",
                 nh, dh, i, i % 250 + 1, i / 250 % 250, i % 250 + 1);
        struct map_decision d;
        map_handle(c, s->mk, 106, (const uint8_t *)body, strlen(body), &d);
        if (d.kind != MAP_STREAM || !ctrl_sess_open(c, d.node, d.capver, d.compress, &sim_ops, s))
            return -1;
        loop_run_once(L, 0); /* joins arrive over time: let due batches go out */
    }
    fanout_flush(c);
    double admit = now_s() - t0, admit_cpu = cpu_s() - c0;
    long rss1 = rss_kb();
    uint64_t first_bytes = 0;
    for (int i = 0; i < n; i++)
        first_bytes += v[i].bytes;

    /* one node changes its endpoints; everyone else waits for the delta */
    for (int i = 1; i < n; i++)
        v[i].waiting = 1;
    char nh[65], dh[65];
    hex(v[0].nk, nh), hex(v[0].dk, dh);
    snprintf(body, sizeof body,
             "{\"Version\":106,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"nodekey:%s\",\"DiscoKey\":"
             "\"discokey:%s\",\"Stream\":false,\"OmitPeers\":true,\"Endpoints\":[\"203.0.113.9:41641\"]}",
             nh, dh);
    uint64_t before = c->bytes_written;
    double tc = now_s(), cc = cpu_s();
    struct map_decision d;
    map_handle(c, v[0].mk, 106, (const uint8_t *)body, strlen(body), &d);
    free(d.body);
    while (now_s() - tc < 5) {
        int left = 0;
        for (int i = 1; i < n; i++)
            left += v[i].waiting;
        if (!left)
            break;
        loop_run_once(L, 5);
    }
    double prop_cpu = cpu_s() - cc;
    double *lat = calloc((size_t)n, sizeof *lat);
    int got = 0;
    for (int i = 1; i < n; i++)
        if (!v[i].waiting)
            lat[got++] = (v[i].got_at - tc) * 1000;
    qsort(lat, (size_t)got, sizeof *lat, cmp_d);
    /* the batch window is part of the latency; the CPU figure is the work itself */
    printf("N=%-6d admit: %.2f s (%.2f s CPU, %.0f joins/s), %.1f MB written to the streams (the last first map: %.1f KB)"
           "\n",
           n, admit, admit_cpu, n / admit, first_bytes / 1e6, v[n - 1].bytes / 1e3);
    printf("         endpoint change -> %d/%d streams: median %.1f ms, p99 %.1f ms (batch_delay %lld ms); "
           "CPU %.1f ms, %.0f bytes per stream\n",
           got, n - 1, got ? lat[got / 2] : -1, got ? lat[(size_t)(got * 0.99)] : -1, conf.batch_delay,
           prop_cpu * 1000, n > 1 ? (double)(c->bytes_written - before) / (n - 1) : 0);
    printf("         RSS per connected node: %.1f KB (server state, no transport buffers)\n",
           (double)(rss1 - rss0) / n);
    fflush(stdout);
    ctrl_free(c);
    store_close(st);
    loop_free(L);
    free(v);
    free(lat);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int bench_policy(int n);

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    bool policy_only = argc > 1 && !strcmp(argv[1], "--policy");
    if (policy_only)
        argc--, argv++;
    int ns[8] = {100, 1000, 10000}, nn = getenv("WEFT_BENCH_QUICK") ? 2 : 3;
    int ps[8] = {1000, 10000}, np = getenv("WEFT_BENCH_QUICK") ? 1 : 2;
    if (argc > 1) {
        nn = np = 0;
        for (int i = 1; i < argc && nn < 8; i++)
            ns[nn++] = ps[np++] = atoi(argv[i]);
    }
    for (int i = 0; !policy_only && i < nn; i++)
        if (run(ns[i]))
            fprintf(stderr, "bench_control: N=%d failed\n", ns[i]);
    printf("-- under an access policy\n");
    for (int i = 0; i < np; i++)
        if (bench_policy(ps[i]))
            fprintf(stderr, "bench_control: policy N=%d failed\n", ps[i]);
    return 0;
}
