// SPDX-License-Identifier: BSD-3-Clause
/* A test node for the control server, built on core/control_client (Noise initiator + HTTP/2 client):
 *   tsnode URL DIR NAME register [--authkey K] [--hostname H] [--ephemeral] [--followup URL]
 *   tsnode URL DIR NAME map COUNT [SECONDS]      the long poll: COUNT messages, one line each
 *   tsnode URL DIR NAME lite EP[,EP...] [DERP]   endpoint update
 *   tsnode URL DIR NAME logout
 *   tsnode URL DIR NAME churn COUNT [N]          COUNT endpoint updates in a row on one channel, each
 *                                                with N (default 64) random IPv6 endpoints: peers' streams
 *                                                get COUNT deltas that do not compress
 * With TSNODE_ROUTES=CIDR[,CIDR...] in the environment, map and lite advertise those routes (Hostinfo.RoutableIPs),
 * as an official client's --advertise-routes / --advertise-exit-node do. map answers PingRequests that
 * come with URLIsNoise (control's health probes) with a HEAD over the channel, as the official client does.
 * With TSNODE_HOSTINFO=FILE in the environment, the Hostinfo sent is that file's JSON object, as is
 * (hostile strings, huge ones), instead of {"Hostname":H,"OS":"linux"}.
 * Keys live in DIR/NAME.machine and DIR/NAME.node (created on first use); the hostname given to register
 * in DIR/NAME.hostname, which map and lite report again (as a client does; NAME if there is none). register prints the HTTP status
 * and the RegisterResponse; map prints "<Unix ms> <MapResponse JSON>" per message (zstd-decoded). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "core/control_client.h"
#include "core/crypto/key.h"
#include "core/loop.h"
#include "core/wire/mapstream.h"

static struct loop *L;
static int rc = 1, want, got;
static struct mapstream_dec dec;
static struct control_client *cc;

static void ready(struct control_client *c, const char *err, void *arg)
{
    (void)c, (void)arg;
    if (err) {
        fprintf(stderr, "tsnode: connect: %s\n", err);
        cc = NULL;
        loop_stop(L);
    }
}

static void closed(struct control_client *c, const char *err, void *arg)
{
    (void)c, (void)arg;
    cc = NULL;
    if (err)
        fprintf(stderr, "tsnode: closed: %s\n", err);
    loop_stop(L);
}

static void done_whole(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                       void *arg)
{
    (void)call, (void)arg;
    if (err) {
        fprintf(stderr, "tsnode: %s\n", err);
    } else {
        printf("%d %.*s\n", status, (int)len, body ? (const char *)body : "");
        rc = status == 200 ? 0 : 3;
    }
    loop_stop(L);
}

static void map_head(struct control_call *call, int status, const struct http_header *hs, size_t n, void *arg)
{
    (void)call, (void)hs, (void)n, (void)arg;
    if (status != 200) {
        printf("status %d\n", status);
        rc = 3;
    }
}

static void ping_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                      void *arg)
{
    (void)call, (void)body, (void)len, (void)arg;
    if (err || status != 200)
        fprintf(stderr, "tsnode: ping answer: %s %d\n", err ? err : "", status);
}

/* A PingRequest with URLIsNoise (control's health probe): HEAD of its path over the channel, as the
 * official client's answerHeadPing does. */
static void answer_ping(const char *m, size_t ml)
{
    static const char key[] = "\"PingRequest\":{\"URL\":\"";
    char buf[1024];
    if (!cc || ml >= sizeof buf)
        return;
    memcpy(buf, m, ml);
    buf[ml] = 0;
    char *u = strstr(buf, key);
    if (!u || !strstr(buf, "\"URLIsNoise\":true"))
        return;
    u += sizeof key - 1;
    char *end = strchr(u, '"'), *p = strstr(u, "://");
    if (!end || !p || !(p = strchr(p + 3, '/')) || p > end)
        return;
    *end = 0;
    static const struct control_call_cbs cbs = {NULL, NULL, ping_done};
    control_client_request(cc, "HEAD", p, NULL, 0, NULL, 0, &cbs, NULL);
}

static void map_data(struct control_call *call, const uint8_t *d, size_t len, void *arg)
{
    (void)call, (void)arg;
    while (len) {
        const uint8_t *m;
        size_t ml;
        long r = mapstream_dec_feed(&dec, d, len, &m, &ml);
        if (r < 0) {
            fprintf(stderr, "tsnode: bad map stream (%ld)\n", r);
            loop_stop(L);
            return;
        }
        d += r;
        len -= (size_t)r;
        if (m) {
            struct timeval tv;
            gettimeofday(&tv, NULL);
            printf("%llu %.*s\n", (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000,
                   (int)ml, (const char *)m);
            fflush(stdout);
            answer_ping((const char *)m, ml);
            if (++got >= want) {
                rc = 0;
                loop_stop(L);
                return;
            }
        }
    }
}

static void map_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                     void *arg)
{
    (void)call, (void)arg;
    if (body && len) /* a one-map answer (expired node) arrives whole */
        map_data(NULL, body, len, NULL);
    if (err || status != 200)
        fprintf(stderr, "tsnode: map ended: %s %d\n", err ? err : "", status);
    else
        fprintf(stderr, "tsnode: the server ended the stream after %d message(s)\n", got);
    loop_stop(L);
}

/* ",\"RoutableIPs\":[...]" from TSNODE_ROUTES, or "" */
static const char *routable(void)
{
    static char out[2048];
    const char *e = getenv("TSNODE_ROUTES");
    if (!e || !*e)
        return "";
    size_t l = (size_t)snprintf(out, sizeof out, ",\"RoutableIPs\":[");
    for (const char *p = e; *p && l < sizeof out - 8;) {
        size_t n = strcspn(p, ",");
        l += (size_t)snprintf(out + l, sizeof out - l, "%s\"%.*s\"", out[l - 1] == '[' ? "" : ",", (int)n, p);
        p += n + (p[n] == ',');
    }
    snprintf(out + l, sizeof out - l, "]");
    return out;
}

/* TSNODE_HOSTINFO's file (malloc'd), or the default Hostinfo for hostname (its TSNODE_ROUTES, plus extra
 * members). */
static char *hostinfo_json(const char *hostname, const char *extra)
{
    const char *f = getenv("TSNODE_HOSTINFO");
    if (f && *f) {
        FILE *fp = fopen(f, "rb");
        if (!fp || fseek(fp, 0, SEEK_END)) {
            fprintf(stderr, "tsnode: %s: cannot read\n", f);
            exit(2);
        }
        long n = ftell(fp);
        rewind(fp);
        char *b = malloc((size_t)n + 1);
        if (!b || fread(b, 1, (size_t)n, fp) != (size_t)n)
            exit(2);
        fclose(fp);
        b[n] = 0;
        return b;
    }
    const char *routes = routable();
    size_t n = strlen(hostname) + strlen(routes) + strlen(extra) + 64;
    char *b = malloc(n);
    snprintf(b, n, "{\"Hostname\":\"%s\",\"OS\":\"linux\"%s%s}", hostname, routes, extra);
    return b;
}

/* churn: one lite update after another, each answered before the next */
static struct {
    int left, sent, n;
    const char *nk, *dk, *hostname;
    char *body;
} churn;

static void churn_next(void);

static void churn_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                       void *arg)
{
    (void)call, (void)body, (void)len, (void)arg;
    if (err || status != 200) {
        fprintf(stderr, "tsnode: churn %d: %s %d\n", churn.sent, err ? err : "", status);
        loop_stop(L);
        return;
    }
    churn.sent++;
    if (--churn.left <= 0) {
        printf("churn %d\n", churn.sent);
        rc = 0;
        loop_stop(L);
        return;
    }
    churn_next();
}

static void churn_next(void)
{
    size_t cap = (size_t)churn.n * 64 + 1024, l = 0;
    if (!churn.body && !(churn.body = malloc(cap)))
        exit(2);
    l += (size_t)snprintf(churn.body + l, cap - l,
                          "{\"Version\":97,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"%s\","
                          "\"DiscoKey\":\"%s\",\"Stream\":false,\"OmitPeers\":true,\"Hostinfo\":{\"Hostname\":"
                          "\"%s\",\"OS\":\"linux\"},\"Endpoints\":[",
                          churn.nk, churn.dk, churn.hostname);
    for (int i = 0; i < churn.n; i++) {
        uint16_t w[7];
        randombytes_buf(w, sizeof w);
        l += (size_t)snprintf(churn.body + l, cap - l, "%s\"[2001:db8:%x:%x:%x:%x:%x:%x]:%u\"", i ? "," : "",
                              w[0], w[1], w[2], w[3], w[4], w[5], w[6] | 1024u);
    }
    l += (size_t)snprintf(churn.body + l, cap - l, "]}");
    static const struct control_call_cbs cbs = {NULL, NULL, churn_done};
    control_client_request(cc, "POST", "/machine/map", NULL, 0, churn.body, l, &cbs, NULL);
}

static void timeout_cb(struct timer *t, void *arg)
{
    (void)t, (void)arg;
    fprintf(stderr, "tsnode: timeout after %d message(s)\n", got);
    loop_stop(L);
}

static int keyfile(const char *dir, const char *name, const char *kind, struct key *pub)
{
    char path[1024], err[256];
    struct key priv;
    int created;
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, kind);
    if (key_load_or_create(path, &priv, &created, err, sizeof err)) {
        fprintf(stderr, "tsnode: %s: %s\n", path, err);
        return -1;
    }
    if (pub)
        key_public(pub, &priv);
    sodium_memzero(&priv, sizeof priv);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: tsnode URL DIR NAME register|map|lite|logout ...\n");
        return 2;
    }
    const char *url = argv[1], *dir = argv[2], *name = argv[3], *cmd = argv[4];
    char path[1024], err[256];
    struct key mpriv, npub, dpub;
    int created;
    snprintf(path, sizeof path, "%s/%s.machine", dir, name);
    if (key_load_or_create(path, &mpriv, &created, err, sizeof err) || keyfile(dir, name, "node", &npub) ||
        keyfile(dir, name, "disco", &dpub)) {
        fprintf(stderr, "tsnode: keys: %s\n", err);
        return 2;
    }
    char nk[KEY_TEXT_MAX], dk[KEY_TEXT_MAX];
    key_format(nk, sizeof nk, KEY_TEXT_NODE, &npub);
    key_format(dk, sizeof dk, KEY_TEXT_DISCO, &dpub);
    L = loop_new();
    struct control_client_opts o = {.server_url = url, .machine_priv = &mpriv};
    /* the client's 10 s default, scaled as the tests' waits are (an ASan build on a loaded machine is slow) */
    const char *scale = getenv("WEFT_WAIT_SCALE");
    if (scale != NULL && atoi(scale) > 1)
        o.timeout_ms = 10000u * (unsigned)atoi(scale);
    cc = control_client_connect(L, &o, ready, closed, NULL);
    sodium_memzero(&mpriv, sizeof mpriv);
    if (!cc)
        return 2;
    static char *body;
    size_t bodycap = 0;
    char *hi = NULL;
    const char *hostname = name;
    char hpath[1024], saved[300] = "";
    snprintf(hpath, sizeof hpath, "%s/%s.hostname", dir, name);
    FILE *hf = fopen(hpath, "r");
    if (hf) {
        if (fgets(saved, sizeof saved, hf) && saved[0])
            hostname = saved;
        fclose(hf);
    }
    struct control_call_cbs whole = {NULL, NULL, done_whole};
    struct timer tm;
    timer_init(&tm, L, timeout_cb, NULL);
    if (!strcmp(cmd, "register") || !strcmp(cmd, "logout")) {
        const char *authkey = NULL, *followup = "";
        int eph = 0;
        for (int i = 5; i < argc; i++) {
            if (!strcmp(argv[i], "--authkey") && i + 1 < argc)
                authkey = argv[++i];
            else if (!strcmp(argv[i], "--hostname") && i + 1 < argc)
                hostname = argv[++i];
            else if (!strcmp(argv[i], "--followup") && i + 1 < argc)
                followup = argv[++i];
            else if (!strcmp(argv[i], "--ephemeral"))
                eph = 1;
        }
        if ((hf = fopen(hpath, "w"))) {
            fputs(hostname, hf);
            fclose(hf);
        }
        char auth[256] = "";
        if (authkey)
            snprintf(auth, sizeof auth, "\"Auth\":{\"AuthKey\":\"%s\"},", authkey);
        hi = hostinfo_json(hostname, "");
        body = malloc(bodycap = strlen(hi) + strlen(followup) + 1024);
        snprintf(body, bodycap,
                 "{\"Version\":97,\"NodeKey\":\"%s\",\"OldNodeKey\":\"nodekey:%064d\",%s\"Expiry\":\"%s\","
                 "\"Followup\":\"%s\",\"Hostinfo\":%s,%s"
                 "\"NodeKeySignature\":null}",
                 nk, 0, auth, strcmp(cmd, "logout") ? "0001-01-01T00:00:00Z" : "1970-01-01T00:02:03Z", followup,
                 hi, eph ? "\"Ephemeral\":true," : "");
        control_client_request(cc, "POST", "/machine/register", NULL, 0, body, strlen(body), &whole, NULL);
    } else if (!strcmp(cmd, "map") && argc >= 6) {
        want = atoi(argv[5]);
        timer_start(&tm, (uint64_t)(argc >= 7 ? atof(argv[6]) * 1000 : 10000));
        mapstream_dec_init(&dec, true, 0);
        hi = hostinfo_json(hostname, "");
        body = malloc(bodycap = strlen(hi) + 1024);
        snprintf(body, bodycap,
                 "{\"Version\":97,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"%s\",\"DiscoKey\":\"%s\","
                 "\"Stream\":true,\"Hostinfo\":%s}",
                 nk, dk, hi);
        struct control_call_cbs cbs = {map_head, map_data, map_done};
        control_client_request(cc, "POST", "/machine/map", NULL, 0, body, strlen(body), &cbs, NULL);
    } else if (!strcmp(cmd, "lite") && argc >= 6) {
        char eps[1024] = "";
        size_t el = 0;
        for (const char *e = argv[5]; *e;) {
            size_t l = strcspn(e, ",");
            el += (size_t)snprintf(eps + el, sizeof eps - el, "%s\"%.*s\"", el ? "," : "", (int)l, e);
            e += l + (e[l] == ',');
        }
        char ni[64];
        snprintf(ni, sizeof ni, ",\"NetInfo\":{\"PreferredDERP\":%d}", argc >= 7 ? atoi(argv[6]) : 999);
        hi = hostinfo_json(hostname, ni);
        body = malloc(bodycap = strlen(hi) + strlen(eps) + 1024);
        snprintf(body, bodycap,
                 "{\"Version\":97,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"%s\",\"DiscoKey\":\"%s\","
                 "\"Stream\":false,\"Hostinfo\":%s,\"Endpoints\":[%s],\"OmitPeers\":true}",
                 nk, dk, hi, eps);
        control_client_request(cc, "POST", "/machine/map", NULL, 0, body, strlen(body), &whole, NULL);
    } else if (!strcmp(cmd, "churn") && argc >= 6) {
        churn.left = atoi(argv[5]);
        churn.n = argc >= 7 ? atoi(argv[6]) : 64;
        churn.nk = nk, churn.dk = dk, churn.hostname = hostname;
        if (churn.left <= 0 || churn.n <= 0 || churn.n > 10000) {
            fprintf(stderr, "tsnode: churn COUNT [N]: COUNT > 0, N 1-10000\n");
            return 2;
        }
        churn_next();
    } else {
        fprintf(stderr, "tsnode: unknown command %s\n", cmd);
        return 2;
    }
    loop_run(L);
    free(hi);
    free(body);
    timer_stop(&tm);
    if (cc)
        control_client_close(cc);
    if (want)
        mapstream_dec_free(&dec);
    free(churn.body);
    loop_free(L);
    return rc;
}
