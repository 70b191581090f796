// SPDX-License-Identifier: BSD-3-Clause
/* The control role's brain under load: N simulated nodes register (pre-auth key, real SQLite store) and
 * hold map streams; then one change is made and we time, for every stream that should learn of it, how
 * long from the moment the server takes the change to the moment that stream has decompressed (zstd)
 * and parsed (tailcfg) a MapResponse carrying it.
 *
 * What is in the figure: the server's handling of the request, the batch window it waits (batch_delay),
 * building and compressing the delta, writing it to every stream, and the receiving client's own zstd
 * decode and JSON parse. What is not: Noise, HTTP/2, sockets and the network (the streams are in-process
 * sinks that keep the bytes; bench_channel measures the transport). The clients are simulated in this one
 * process but decode as they would on their own machines, in parallel: a stream's figure is the moment
 * the server finished writing to it plus that stream's own decode and parse time, never the others'.
 * Clocks: CLOCK_MONOTONIC read fresh at each point (never the loop's cached time); the change arrives as
 * an fd event while the loop is blocked after 200 ms of quiet, as a request does in the running server.
 *
 * Scenarios (struct scenario) say how the change is made and what a stream must find in a message to
 * count it as delivered; add one to scenarios[] to measure another kind of change.
 * Then the same under a realistic access policy (bench_control_policy.c): a node joins, the policy is edited.
 *   bench_control [N...]   (default 100 1000 10000, then policy runs at 1000 10000; WEFT_BENCH_QUICK=1:
 *                           100 1000, then 1000)
 *   bench_control --policy [N...]   (only the policy runs)
 * Exits 1 if any N failed (setup, or a stream that did not get and parse the change within 5 s). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/wire/mapstream.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

#include "bench/bench_control.h"

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

double cpu_s(void) /* this process's CPU time (user + system), to the nanosecond */
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

long rss_kb(void)
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
    s->bytes += len;
    if (s->waiting) {
        if (s->rx_len + len > s->rx_cap) {
            size_t cap = (s->rx_len + len) * 2;
            uint8_t *p = realloc(s->rx, cap);
            if (!p)
                return -1;
            s->rx = p;
            s->rx_cap = cap;
        }
        memcpy(s->rx + s->rx_len, d, len);
        s->rx_len += len;
        s->written_at = now_s();
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

/* ---- scenario: one node reports new endpoints (a lite MapRequest), the others get a patch ---- */


static int endpoints_change(struct bench *b)
{
    struct sim *s = &b->v[0];
    char nh[65], dh[65];
    hex(s->nk, nh), hex(s->dk, dh);
    snprintf(b->want, sizeof b->want, "203.0.113.%d:41641", b->round % 250 + 1); /* new each round */
    snprintf(b->body, sizeof b->body,
             "{\"Version\":106,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"nodekey:%s\",\"DiscoKey\":"
             "\"discokey:%s\",\"Stream\":false,\"OmitPeers\":true,\"Endpoints\":[\"%s\"]}",
             nh, dh, b->want);
    struct map_decision d;
    map_handle(b->c, s->mk, 106, (const uint8_t *)b->body, strlen(b->body), &d);
    free(d.body);
    return d.kind == MAP_RESPOND && d.status == 200 ? 0 : -1;
}

static bool endpoints_carries(struct bench *b, struct sim *s, const struct tc_map_response *r)
{
    int64_t id = b->v[0].node->m.id;
    (void)s;
    for (size_t i = 0; i < r->npeers_changed_patch; i++) {
        const struct tc_peer_change *p = &r->peers_changed_patch[i];
        if (p->node_id == id && p->endpoints.n == 1 && !strcmp(p->endpoints.v[0], b->want))
            return true;
    }
    return false;
}

static bool all_but_first(struct bench *b, struct sim *s) { return s != &b->v[0]; }

static const struct scenario scenarios[] = {
    {"endpoint change", endpoints_change, endpoints_carries, all_but_first},
};

/* ---- setup: N nodes registered, each with a map stream open ---- */

void bench_free(struct bench *b)
{
    if (b->c)
        ctrl_free(b->c);
    if (b->st)
        store_close(b->st);
    if (b->L)
        loop_free(b->L);
    for (int i = 0; b->v && i < b->n; i++)
        free(b->v[i].rx);
    free(b->v);
    if (b->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
        if (system(cmd))
            fprintf(stderr, "bench_control: cannot remove %s\n", b->dir);
    }
}

int bench_join(struct bench *b, const char *key)
{
    if (b->n >= b->cap)
        return -1;
    int i = b->n;
    struct sim *s = &b->v[i];
    randombytes_buf(s->mk, 32), randombytes_buf(s->nk, 32), randombytes_buf(s->dk, 32);
    char nh[65], dh[65];
    hex(s->nk, nh), hex(s->dk, dh);
    snprintf(b->body, sizeof b->body,
             "{\"Version\":106,\"NodeKey\":\"nodekey:%s\",\"OldNodeKey\":\"nodekey:%064d\",\"Auth\":"
             "{\"AuthKey\":\"%s\"},\"Expiry\":\"0001-01-01T00:00:00Z\",\"Followup\":\"\",\"Hostinfo\":"
             "{\"IPNVersion\":\"1.68.2\",\"OS\":\"linux\",\"Hostname\":\"sim%d\",\"Services\":[{\"Proto\":"
             "\"peerapi4\",\"Port\":41000}]}}",
             nh, 0, key, i);
    struct reg_answer a;
    struct reg_waiter *w;
    if (reg_handle(b->c, s->mk, 106, (const uint8_t *)b->body, strlen(b->body), &a, NULL, NULL, &w) ||
        a.status != 200) {
        fprintf(stderr, "bench_control: registration %d: %d %.*s\n", i, a.status, (int)a.len, a.body);
        reg_answer_free(&a);
        return -1;
    }
    reg_answer_free(&a);
    snprintf(b->body, sizeof b->body,
             "{\"Version\":106,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"nodekey:%s\",\"DiscoKey\":"
             "\"discokey:%s\",\"Stream\":true,\"Hostinfo\":{\"IPNVersion\":\"1.68.2\",\"OS\":\"linux\","
             "\"Hostname\":\"sim%d\",\"Services\":[{\"Proto\":\"peerapi4\",\"Port\":41000}],\"NetInfo\":"
             "{\"PreferredDERP\":999}},\"Endpoints\":[\"198.51.100.%d:41641\",\"10.0.%d.%d:41641\"]}",
             nh, dh, i, i % 250 + 1, i / 250 % 250, i % 250 + 1);
    struct map_decision d;
    map_handle(b->c, s->mk, 106, (const uint8_t *)b->body, strlen(b->body), &d);
    if (d.kind != MAP_STREAM || !ctrl_sess_open(b->c, d.node, d.capver, d.compress, &sim_ops, s)) {
        fprintf(stderr, "bench_control: map stream %d refused\n", i);
        free(d.body);
        return -1;
    }
    s->node = d.node;
    b->n++;
    return 0;
}

int bench_setup(struct bench *b, int n, int extra, const struct bench_hooks *h, void *ext)
{
    char err[512];
    memset(b, 0, sizeof *b);
    b->hooks = h;
    b->ext = ext;
    b->cap = n + extra;
    snprintf(b->dir, sizeof b->dir, "/tmp/weft-bench-control.XXXXXX");
    if (!mkdtemp(b->dir)) {
        b->dir[0] = 0;
        return -1;
    }
    char db[128];
    snprintf(db, sizeof db, "%s/control.db", b->dir);
    if (!(b->L = loop_new()) || !(b->st = store_open(db, true, err, sizeof err))) {
        fprintf(stderr, "bench_control: %s\n", err);
        return -1;
    }
    struct model_user u = {0};
    snprintf(u.name, sizeof u.name, "bench");
    struct model_authkey k;
    if (store_user_create(b->st, &u) || authkey_create(b->st, u.id, true, false, 0, NULL, b->key, &k))
        return -1;
    b->user_id = u.id;
    model_authkey_clear(&k);
    struct control_conf *conf = &b->conf;
    conf->server_url = "http://127.0.0.1:8080";
    conf->dns.base_domain = "bench.internal";
    conf->dns.magic_dns = 1;
    conf->prefix_v4 = "100.64.0.0/10";
    conf->prefix_v6 = "fd7a:115c:a1e0::/48";
    conf->ephemeral_timeout = 1800000;
    conf->keepalive = 50000;
    conf->batch_delay = 100;
    conf->derp_region_id = 999;
    if (h && h->conf)
        h->conf(b, conf);
    if (!(b->c = ctrl_new(conf, b->L, b->st, true, 3478, err, sizeof err))) {
        fprintf(stderr, "bench_control: %s\n", err);
        return -1;
    }
    if (!(b->v = calloc((size_t)b->cap, sizeof *b->v)))
        return -1;
    if (h && h->prepare && h->prepare(b))
        return -1;
    b->rss0 = rss_kb();
    for (int i = 0; i < n; i++) {
        const char *key = h && h->key ? h->key(b, i) : b->key;
        if (bench_join(b, key))
            return -1;
        loop_run_once(b->L, 0); /* joins arrive over time: let due batches go out */
    }
    fanout_flush(b->c);
    return 0;
}

/* ---- one change, timed ---- */

struct change_ev {
    struct bench *b;
    const struct scenario *sc;
    int rc, fired;
};

/* The flush timer's callback while a change is timed: marks when the batch window ended and when the
 * delta had been written to every stream. */
static void timed_flush(struct timer *t, void *arg)
{
    struct bench *b = arg;
    (void)t;
    b->t_flush = now_s();
    fanout_flush(b->c);
    b->t_flushed = now_s();
    b->cpu_flushed = cpu_s();
}

/* Which streams must get the change (waiting), how many in all (b->expected). */
static void arm(struct bench *b, const struct scenario *sc)
{
    b->expected = 0;
    for (int i = 0; i < b->n; i++) {
        struct sim *s = &b->v[i];
        s->waiting = sc->expects(b, s);
        b->expected += s->waiting;
        s->rx_len = 0, s->carried = 0, s->written_at = 0;
    }
}

static void change_cb(struct loop_watch *w, int fd, int events, void *arg)
{
    struct change_ev *e = arg;
    struct bench *b = e->b;
    uint64_t x;
    (void)w, (void)events;
    if (read(fd, &x, sizeof x) != sizeof x || e->fired)
        return;
    e->fired = 1;
    b->t_change = now_s();
    b->cpu_change = cpu_s();
    e->rc = e->sc->change(b);
    if (e->sc->expects_after)
        arm(b, e->sc);
    if (timer_armed(&b->c->flush)) { /* the batch that carries the change: time its flush */
        b->c->flush.cb = timed_flush;
        b->c->flush.arg = b;
    }
}

static int waiting_left(struct bench *b)
{
    int left = 0;
    for (int i = 0; i < b->n; i++)
        left += b->v[i].waiting && !b->v[i].rx_len;
    return left;
}

/* The client's side: decode and parse every message stream s was sent after the change. dec is a warm
 * decoder (a client keeps one for its stream's life), at a message boundary between streams. */
static int client_decode(struct bench *b, const struct scenario *sc, struct sim *s, struct mapstream_dec *dec)
{
    double t = now_s();
    const uint8_t *in = s->rx;
    size_t left = s->rx_len;
    while (left) {
        const uint8_t *msg;
        size_t len;
        long used = mapstream_dec_feed(dec, in, left, &msg, &len);
        if (used < 0)
            return -1;
        in += used, left -= (size_t)used;
        if (msg) {
            struct tc_map_response r;
            if (!tc_map_response_parse(&r, (const char *)msg, len) && sc->carries(b, s, &r))
                s->carried = 1;
            tc_map_response_clear(&r);
        }
    }
    s->decode_s = now_s() - t;
    return dec->hdr_have ? -1 : 0; /* a stream ends on a whole message (no header begun) */
}

/* Figures of one scenario over its rounds. */
struct tally {
    double *lat, *dec; /* ms per stream and round; us per stream and round */
    size_t nlat, cap;
    double window[ROUNDS], fan[ROUNDS], cpu[ROUNDS];
    int expected, missed;
};

/* One round: the change, the streams that got it. -1 if the change was refused. */
static int measure_once(struct bench *b, const struct scenario *sc, struct tally *t)
{
    /* The change arrives as an fd event (a timerfd) while the loop is blocked waiting, after 200 ms of
     * quiet: as a request reaches the running server. */
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        return -1;
    struct change_ev e = {b, sc, 0, 0};
    struct loop_watch *w = loop_watch_add(b->L, tfd, LOOP_READ, change_cb, &e);
    if (sc->expects_after) /* nobody until the change is made */
        for (int i = 0; i < b->n; i++)
            b->v[i].waiting = 0, b->v[i].rx_len = 0, b->v[i].carried = 0, b->v[i].written_at = 0;
    else
        arm(b, sc);
    b->t_flush = b->t_flushed = 0;
    struct itimerspec its = {.it_value = {0, 200 * 1000000}};
    if (w && !timerfd_settime(tfd, 0, &its, NULL)) {
        double start = now_s();
        while (now_s() - start < (sc->wait_s > 0 ? sc->wait_s : WAIT_S) && (!e.fired || waiting_left(b) || !b->t_flushed))
            loop_run_once(b->L, 1000);
    }
    if (w)
        loop_watch_free(w);
    close(tfd);
    if (!e.fired || e.rc) {
        fprintf(stderr, "bench_control: N=%d: the %s was refused\n", b->n, sc->name);
        return -1;
    }
    /* the clients, each on its own (after the server is done: their time is not the server's) */
    struct mapstream_dec dec;
    if (mapstream_dec_init(&dec, true, 0))
        return -1;
    int got = 0, bad = 0;
    for (int i = 0; i < b->n; i++) {
        struct sim *s = &b->v[i];
        if (!s->waiting)
            continue;
        s->waiting = 0;
        if (!s->rx_len)
            continue;
        if (client_decode(b, sc, s, &dec)) { /* a broken stream: count it missing, start clean */
            bad++;
            mapstream_dec_free(&dec);
            if (mapstream_dec_init(&dec, true, 0))
                return -1;
            continue;
        }
        if (!s->carried)
            continue;
        t->lat[t->nlat] = (s->written_at - b->t_change + s->decode_s) * 1000;
        t->dec[t->nlat++] = s->decode_s * 1e6;
        got++;
    }
    mapstream_dec_free(&dec);
    if (bad)
        fprintf(stderr, "bench_control: N=%d: %d streams did not decode\n", b->n, bad);
    t->window[b->round] = b->t_flushed ? (b->t_flush - b->t_change) * 1000 : -1;
    t->fan[b->round] = b->t_flushed ? (b->t_flushed - b->t_flush) * 1000 : -1;
    t->cpu[b->round] = b->t_flushed ? (b->cpu_flushed - b->cpu_change) * 1000 : -1;
    t->expected += b->expected;
    t->missed += b->expected - got;
    return 0;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n ? v[n / 2] : -1;
}

int measure(struct bench *b, const struct scenario *sc)
{
    struct tally t;
    memset(&t, 0, sizeof t);
    t.cap = (size_t)b->cap * ROUNDS;
    t.lat = calloc(t.cap, sizeof *t.lat);
    t.dec = calloc(t.cap, sizeof *t.dec);
    int rc = t.lat && t.dec ? 0 : -1;
    for (b->round = 0; !rc && b->round < ROUNDS; b->round++)
        rc = measure_once(b, sc, &t);
    if (!rc) {
        size_t k = t.nlat;
        qsort(t.lat, k, sizeof *t.lat, cmp_d);
        double wmin = t.window[0], wmax = t.window[0];
        for (int r = 1; r < ROUNDS; r++)
            wmin = t.window[r] < wmin ? t.window[r] : wmin, wmax = t.window[r] > wmax ? t.window[r] : wmax;
        printf("         %s, %d rounds -> %d/%d deliveries decoded and parsed: median %.1f ms, p99 %.1f ms, "
               "max %.1f ms\n",
               sc->name, ROUNDS, t.expected - t.missed, t.expected, k ? t.lat[k / 2] : -1,
               k ? t.lat[(size_t)((double)(k - 1) * 0.99)] : -1, k ? t.lat[k - 1] : -1);
        printf("           from the server taking the change to the stream's parsed message: the batch window "
               "(waited %.1f-%.1f ms, batch_delay %lld ms), the delta built and written to every stream "
               "(median %.1f ms), the client's zstd decode + JSON parse; no Noise, no HTTP/2, no sockets\n",
               wmin, wmax, b->conf.batch_delay, median(t.fan, ROUNDS));
        printf("           CPU per change: server %.2f ms (request + delta + %d stream writes, median of rounds); "
               "each client %.0f us to decode + parse (median)\n",
               median(t.cpu, ROUNDS), t.expected / ROUNDS, median(t.dec, k));
        if (wmin < (double)b->conf.batch_delay - 1)
            printf("           note: the batch window closed before batch_delay: the loop armed the flush timer from "
                   "a time it had cached before blocking (timers fire early after idle, issue 10 item 13)\n");
        if (t.missed) {
            fprintf(stderr, "bench_control: N=%d %s: %d of %d deliveries missing or unparsed after %.0f s\n",
                    b->n, sc->name, t.missed, t.expected, sc->wait_s > 0 ? sc->wait_s : WAIT_S);
            rc = -1;
        }
    }
    free(t.lat);
    free(t.dec);
    return rc;
}

static int run(int n)
{
    struct bench b;
    double t0 = now_s(), c0 = cpu_s();
    int rc = -1;
    if (bench_setup(&b, n, 0, NULL, NULL))
        goto out;
    double admit = now_s() - t0, admit_cpu = cpu_s() - c0;
    long rss1 = rss_kb();
    uint64_t first_bytes = 0;
    for (int i = 0; i < n; i++)
        first_bytes += b.v[i].bytes;
    printf("N=%-6d admit: %.2f s (%.2f s CPU, %.0f joins/s), %.1f MB written to the streams (the last first "
           "map: %.1f KB; first maps are counted, not decoded)\n",
           n, admit, admit_cpu, n / admit, first_bytes / 1e6, b.v[n - 1].bytes / 1e3);
    printf("         RSS per connected node: %.1f KB (server state, no transport buffers)\n",
           (double)(rss1 - b.rss0) / n);
    rc = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (measure(&b, &scenarios[i]))
            rc = -1;
out:
    fflush(stdout);
    bench_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    bool policy_only = argc > 1 && !strcmp(argv[1], "--policy");
    if (policy_only)
        argc--, argv++;
    int ns[8] = {100, 1000, 10000}, nn = getenv("WEFT_BENCH_QUICK") ? 2 : 3, failed = 0;
    int ps[8] = {1000, 10000}, np = getenv("WEFT_BENCH_QUICK") ? 1 : 2;
    if (argc > 1) {
        nn = np = 0;
        for (int i = 1; i < argc && nn < 8; i++)
            ns[nn++] = ps[np++] = atoi(argv[i]);
    }
    for (int i = 0; !policy_only && i < nn; i++)
        if (ns[i] < 2 || run(ns[i])) {
            fprintf(stderr, "bench_control: N=%d failed\n", ns[i]);
            failed = 1;
        }
    printf("-- under an access policy (bench_control_policy.c)\n");
    for (int i = 0; i < np; i++)
        if (ps[i] < 2 || bench_policy(ps[i])) {
            fprintf(stderr, "bench_control: policy N=%d failed\n", ps[i]);
            failed = 1;
        }
    return failed;
}
