// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/ctl.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/control_client.h"
#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/version.h"
#include "core/wire/mapstream.h"
#include "modules/node/dp.h"
#include "modules/node/magicsock/ms.h"
#include "modules/node/node.h"

enum ctl_mode { CTL_LOGIN, CTL_LOGOUT };

struct ctl {
    struct node *n;
    struct control_client *cc;
    bool ready;   /* the channel is up */
    bool stopped; /* no more attempts (refused, logged out) */
    enum ctl_mode mode;
    struct control_call *reg, *map, *lite, *ping;
    char ping_url[512]; /* the last PingRequest answered (control repeats one; each is answered once) */
    struct mapstream_dec dec;
    bool dec_ok;
    bool got_map;     /* this stream delivered its first map */
    unsigned attempt; /* failures since the last good map */
    struct timer t_retry, t_watchdog, t_rotate, t_logout;
    uint64_t retry_at;
    /* node-key rotation */
    bool rotating;
    struct key new_priv;
    int64_t rot_expiry; /* the expiry the rotation timer was planned for */
    uint64_t sent_digest; /* of the home region, endpoints and NetInfo our last map request carried */
    char followup[1024];
    void (*logout_done)(void *arg, const char *err);
    void *logout_arg;
};

static void start(struct ctl *c);
static void do_register(struct ctl *c);
static void start_map(struct ctl *c);

static void hdr_nodekey(const struct key *k, char *buf)
{
    key_format(buf, KEY_TEXT_MAX, KEY_TEXT_NODE, k);
}

/* Drop the channel and its calls without callbacks. */
static void teardown(struct ctl *c)
{
    timer_stop(&c->t_watchdog);
    if (c->cc) {
        control_client_close(c->cc); /* silences every callback of cc and of its calls */
        c->cc = NULL;
    }
    c->reg = c->map = c->lite = c->ping = NULL;
    c->ready = false;
    if (c->dec_ok) {
        mapstream_dec_free(&c->dec);
        c->dec_ok = false;
    }
    c->got_map = false;
    if (c->n->control_ok) {
        c->n->control_ok = false;
        log_info("module=node event=control_lost");
    }
}

/* A transient failure: report it, drop the channel, try again after the backoff. */
static void retry(struct ctl *c, const char *why)
{
    teardown(c);
    if (c->mode == CTL_LOGOUT && c->logout_done) {
        void (*done)(void *, const char *) = c->logout_done;
        c->logout_done = NULL;
        c->stopped = true;
        timer_stop(&c->t_logout);
        done(c->logout_arg, why);
        return;
    }
    if (c->stopped)
        return;
    uint64_t ms = ctl_backoff_ms(c->attempt, randombytes_random());
    if (c->attempt < 16)
        c->attempt++;
    c->retry_at = loop_now(c->n->loop) + ms;
    log_warn("module=node event=control_error error=\"%s\" retry_in_ms=%llu", why, (unsigned long long)ms);
    node_on_control_error(c->n, why);
    timer_start(&c->t_retry, ms);
}

static void on_retry(struct timer *t, void *arg)
{
    struct ctl *c = arg;
    c->retry_at = 0;
    start(c);
}

static void on_watchdog(struct timer *t, void *arg)
{
    retry(arg, "no message from control for 120 s");
}

/* ---- Hostinfo, NetInfo, endpoints ---- */

/* What a request says about us, with the storage its strings point into. */
struct selfinfo {
    struct tc_hostinfo h;
    struct tc_netinfo ni;
    struct tc_derp_latency lat[2 * MS_MAX_REGIONS];
    char latname[2 * MS_MAX_REGIONS][24];
    char hostname[256];
    const char *eps[MS_MAX_LOCAL_EPS];
    char epbuf[MS_MAX_LOCAL_EPS][64];
    int32_t types[MS_MAX_LOCAL_EPS];
    size_t neps;
    const char *routes[NODE_MAX_ROUTES + 2];
    char routebuf[NODE_MAX_ROUTES][64];
    uint64_t digest; /* of what is worth a lite update (latencies alone are not, as Tailscale) */
};

static enum tc_optbool optb(int v)
{
    return v < 0 ? TC_UNSET : v ? TC_TRUE : TC_FALSE;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 1099511628211ull;
}

static void fill_self(struct ctl *c, struct selfinfo *si)
{
    memset(si, 0, sizeof *si);
    struct tc_hostinfo *h = &si->h;
    struct tc_netinfo *ni = &si->ni;
    h->ipn_version = WEFT_VERSION;
    h->backend_log_id = c->n->backend_log_id;
    h->os = "linux";
    h->os_version = c->n->os_version;
    h->hostname = node_hostname(c->n, si->hostname, sizeof si->hostname);
    ni->preferred_derp = c->n->dp ? dp_home_region(c->n->dp) : 0;
    h->netinfo = ni;
    uint64_t d = mix(1469598103934665603ull, (uint64_t)ni->preferred_derp);
    /* the routes we offer (`weft up --advertise-routes`, `--advertise-exit-node`): control stores and,
     * once approved, routes them to us */
    const struct node_routing *rt = &c->n->prefs.routing;
    size_t nr = 0;
    for (size_t i = 0; i < rt->nadvertise && i < NODE_MAX_ROUTES; i++)
        si->routes[nr++] = nl_prefix_format(&rt->advertise[i], 1, si->routebuf[i], sizeof si->routebuf[i]);
    if (rt->advertise_exit) {
        si->routes[nr++] = "0.0.0.0/0";
        si->routes[nr++] = "::/0";
    }
    h->routable_ips = (struct tc_strs){si->routes, nr};
    for (size_t i = 0; i < nr; i++)
        for (const char *p = si->routes[i]; *p; p++)
            d = mix(d, (uint8_t)*p + 0x100u * (i + 1));
    struct ms *ms = c->n->dp ? dp_ms(c->n->dp) : NULL;
    if (!ms) {
        si->digest = d;
        return;
    }
    const struct ms_report *r = ms_report(ms);
    if (r->valid) {
        ni->working_udp = r->udp ? TC_TRUE : TC_FALSE;
        ni->working_ipv6 = r->ipv6 ? TC_TRUE : TC_FALSE;
        ni->os_has_ipv6 = r->os_has_ipv6 ? TC_TRUE : TC_FALSE;
        ni->mapping_varies_by_dest_ip = optb(r->mapping_varies_by_dest_ip);
        ni->upnp = optb(r->upnp);
        ni->pmp = optb(r->pmp);
        ni->pcp = optb(r->pcp);
        ni->have_port_map = r->have_port_map;
        size_t k = 0;
        for (size_t i = 0; i < r->nregions; i++)
            for (int v6 = 0; v6 < 2; v6++) {
                uint32_t us = v6 ? r->latency[i].v6_us : r->latency[i].v4_us;
                if (!us)
                    continue;
                snprintf(si->latname[k], sizeof si->latname[k], "%d-v%d", r->latency[i].region, v6 ? 6 : 4);
                si->lat[k].name = si->latname[k];
                si->lat[k++].seconds = us / 1e6;
            }
        ni->derp_latency = si->lat;
        ni->nderp_latency = k;
        int v[] = {r->udp, r->ipv6, r->os_has_ipv6, r->mapping_varies_by_dest_ip, r->upnp, r->pmp, r->pcp,
                   r->have_port_map};
        for (size_t i = 0; i < sizeof v / sizeof *v; i++)
            d = mix(d, (uint64_t)(uint32_t)v[i] + 7 * i);
    }
    struct ms_endpoint eps[MS_MAX_LOCAL_EPS];
    si->neps = ms_endpoints(ms, eps, MS_MAX_LOCAL_EPS);
    for (size_t i = 0; i < si->neps; i++) {
        si->eps[i] = ms_addr_format(&eps[i].addr, si->epbuf[i], sizeof si->epbuf[i]);
        si->types[i] = (int32_t)eps[i].type;
        for (const char *p = si->eps[i]; *p; p++)
            d = mix(d, (uint8_t)*p);
        d = mix(d, (uint64_t)si->types[i] << 8);
    }
    si->digest = d;
}

/* ---- register ---- */

static void reg_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                     void *arg)
{
    struct ctl *c = arg;
    c->reg = NULL;
    if (err) {
        char why[300];
        snprintf(why, sizeof why, "register: %s", err);
        retry(c, why);
        return;
    }
    if (status != 200) {
        char why[600];
        int blen = len > 300 ? 300 : (int)len;
        while (blen && (body[blen - 1] == '\n' || body[blen - 1] == '\r'))
            blen--;
        snprintf(why, sizeof why, "register request: http %d: %.*s", status, blen, (const char *)body);
        if (status == 400 || status == 401 || status == 403) { /* a refusal, not an outage */
            if (c->mode == CTL_LOGOUT) {
                retry(c, why);
                return;
            }
            c->stopped = true;
            teardown(c);
            node_on_refused(c->n, why);
            return;
        }
        retry(c, why);
        return;
    }
    struct tc_register_response r;
    memset(&r, 0, sizeof r);
    if (tc_register_response_parse(&r, (const char *)body, len)) {
        tc_register_response_clear(&r);
        retry(c, "register: unparsable RegisterResponse");
        return;
    }
    if (c->mode == CTL_LOGOUT) {
        tc_register_response_clear(&r);
        void (*done)(void *, const char *) = c->logout_done;
        c->logout_done = NULL;
        c->stopped = true;
        timer_stop(&c->t_logout);
        teardown(c);
        if (done)
            done(c->logout_arg, NULL);
        return;
    }
    if (r.error && *r.error) {
        char why[600];
        snprintf(why, sizeof why, "%s", r.error);
        tc_register_response_clear(&r);
        c->stopped = true;
        teardown(c);
        node_on_refused(c->n, why);
        return;
    }
    if (r.auth_url && *r.auth_url) {
        snprintf(c->followup, sizeof c->followup, "%s", r.auth_url);
        tc_register_response_clear(&r);
        node_on_auth_url(c->n, c->followup);
        do_register(c); /* the Followup request waits until the login is done */
        return;
    }
    if (r.node_key_expired && !c->rotating) {
        tc_register_response_clear(&r);
        /* our key expired: register a fresh one (needs the auth key, or goes interactive) */
        log_info("module=node event=node_key_expired msg=\"registering a new node key\"");
        c->rotating = true;
        key_generate(&c->new_priv);
        c->followup[0] = 0;
        do_register(c);
        return;
    }
    char login[256];
    snprintf(login, sizeof login, "%s", r.login.login_name ? r.login.login_name : "");
    bool authorized = r.machine_authorized;
    tc_register_response_clear(&r);
    c->followup[0] = 0;
    if (c->rotating) {
        c->rotating = false;
        node_commit_node_key(c->n, &c->new_priv);
        sodium_memzero(&c->new_priv, sizeof c->new_priv);
        /* the old map stream speaks for the old key: start over on this channel */
        if (c->map) {
            control_call_cancel(c->map);
            c->map = NULL;
        }
        if (c->lite) {
            control_call_cancel(c->lite);
            c->lite = NULL;
        }
    }
    if (!authorized)
        log_info("module=node event=register msg=\"machine not authorized yet\"");
    node_on_registered(c->n, login);
    start_map(c);
}

static void do_register(struct ctl *c)
{
    struct node *n = c->n;
    struct tc_register_request rq;
    memset(&rq, 0, sizeof rq);
    rq.version = NODE_CAPVER;
    struct tc_register_auth auth;
    memset(&auth, 0, sizeof auth);
    const struct key *cur = &n->node_pub;
    struct key newpub;
    if (c->rotating) {
        key_public(&newpub, &c->new_priv);
        memcpy(rq.node_key.b, newpub.b, 32);
        memcpy(rq.old_node_key.b, cur->b, 32);
    } else {
        memcpy(rq.node_key.b, cur->b, 32);
    }
    if (c->mode == CTL_LOGOUT) {
        rq.expiry = tc_time_from_unix(123, 0); /* far in the past: logout (§6.3 D) */
    } else if (n->authkey && *n->authkey) {
        auth.auth_key = n->authkey;
        rq.auth = &auth;
    }
    rq.followup = c->followup[0] ? c->followup : NULL;
    struct selfinfo *si = malloc(sizeof *si);
    if (!si) {
        retry(c, "out of memory");
        return;
    }
    fill_self(c, si);
    rq.hostinfo = &si->h;
    rq.has_timestamp = true;
    rq.timestamp = tc_time_now();
    struct jbuf b;
    jbuf_init(&b);
    int erc = tc_register_request_emit(&b, &rq);
    free(si);
    if (erc) {
        jbuf_free(&b);
        retry(c, "out of memory");
        return;
    }
    char lb[KEY_TEXT_MAX];
    hdr_nodekey(c->rotating ? &newpub : cur, lb);
    struct http_header hs[] = {{"ts-lb", lb}};
    static const struct control_call_cbs cbs = {NULL, NULL, reg_done};
    c->reg = control_client_request(c->cc, "POST", "/machine/register", hs, 1, b.p, b.len, &cbs, c);
    jbuf_free(&b);
    if (!c->reg)
        retry(c, "register: cannot send the request");
}

/* ---- map ---- */

static int emit_map_request(struct ctl *c, struct jbuf *b, bool stream)
{
    struct node *n = c->n;
    struct tc_map_request mr;
    memset(&mr, 0, sizeof mr);
    mr.version = NODE_CAPVER;
    mr.compress = "zstd";
    mr.keep_alive = true;
    memcpy(mr.node_key.b, n->node_pub.b, 32);
    memcpy(mr.disco_key.b, n->disco_pub.b, 32);
    mr.stream = stream;
    mr.omit_peers = !stream;
    struct selfinfo *si = malloc(sizeof *si);
    if (!si)
        return -1;
    fill_self(c, si);
    mr.hostinfo = &si->h;
    mr.endpoints = (struct tc_strs){si->eps, si->neps};
    mr.endpoint_types = si->types;
    mr.nendpoint_types = si->neps;
    c->sent_digest = si->digest;
    int rc = tc_map_request_emit(b, &mr);
    free(si);
    return rc;
}

static void lite_done(struct control_call *call, int status, const uint8_t *body, size_t len,
                      const char *err, void *arg)
{
    struct ctl *c = arg;
    c->lite = NULL;
    if (err || status != 200)
        log_warn("module=node event=lite_update_failed status=%d error=\"%s\"", status, err ? err : "");
}

static void send_lite(struct ctl *c)
{
    if (!c->ready || !c->cc)
        return;
    if (c->lite) { /* the newest state replaces an update still in flight */
        control_call_cancel(c->lite);
        c->lite = NULL;
    }
    struct jbuf b;
    jbuf_init(&b);
    if (emit_map_request(c, &b, false) == 0) {
        char lb[KEY_TEXT_MAX];
        hdr_nodekey(&c->n->node_pub, lb);
        struct http_header hs[] = {{"ts-lb", lb}};
        static const struct control_call_cbs cbs = {NULL, NULL, lite_done};
        c->lite = control_client_request(c->cc, "POST", "/machine/map", hs, 1, b.p, b.len, &cbs, c);
    }
    jbuf_free(&b);
}

void ctl_send_update(struct ctl *c)
{
    if (!c || !c->got_map || !c->n->dp)
        return;
    struct selfinfo *si = malloc(sizeof *si);
    if (!si)
        return;
    fill_self(c, si);
    bool changed = si->digest != c->sent_digest;
    free(si);
    if (changed) /* home region, endpoints or NetInfo moved since our last request */
        send_lite(c);
}

/* ---- PingRequest (control-ts2021.md §7.7): control asks whether we are alive ---- */

static void ping_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                      void *arg)
{
    struct ctl *c = arg;
    c->ping = NULL;
    if (err || status != 200)
        log_debug("module=node event=ping_answer status=%d error=\"%s\"", status, err ? err : "");
}

/* A PingRequest without Types wants a HEAD of its URL: control's health probe of subnet routers (a router
 * that does not answer loses its primary routes). Answered over the Noise channel when URLIsNoise (what
 * weft control sends). A plain URL would need an HTTP request outside the channel to wherever it points
 * (Headscale sends those): not made, weft contacts no address it was not given; nor are the other types
 * (disco, TSMP, ICMP, c2n) answered. */
static void answer_ping(struct ctl *c, const struct tc_ping_request *pr)
{
    if (!pr->url || !*pr->url || strlen(pr->url) >= sizeof c->ping_url || !strcmp(pr->url, c->ping_url))
        return;
    snprintf(c->ping_url, sizeof c->ping_url, "%s", pr->url);
    if (pr->types && *pr->types) {
        log_debug("module=node event=ping_request types=\"%.32s\" result=ignored reason=\"only HEAD pings are "
                  "answered\"", pr->types);
        return;
    }
    const char *p = strstr(pr->url, "://");
    const char *path = p ? strchr(p + 3, '/') : NULL;
    if (!path || !pr->url_is_noise) {
        log_debug("module=node event=ping_request result=ignored reason=\"%s\"",
                  path ? "not over the Noise channel" : "no URL path");
        return;
    }
    if (!c->cc || !c->ready)
        return;
    if (c->ping)
        control_call_cancel(c->ping);
    static const struct control_call_cbs cbs = {NULL, NULL, ping_done};
    c->ping = control_client_request(c->cc, "HEAD", path, NULL, 0, NULL, 0, &cbs, c);
    if (pr->log)
        log_info("module=node event=ping_request path=\"%.200s\"", path);
}

static void map_head(struct control_call *call, int status, const struct http_header *hs, size_t n,
                     void *arg)
{
    if (status != 200)
        log_warn("module=node event=map_refused status=%d", status);
}

static void map_data(struct control_call *call, const uint8_t *data, size_t len, void *arg)
{
    struct ctl *c = arg;
    if (!c->dec_ok)
        return;
    while (len) {
        const uint8_t *msg;
        size_t mlen;
        long k = mapstream_dec_feed(&c->dec, data, len, &msg, &mlen);
        if (k < 0) {
            retry(c, "map stream: bad frame");
            return;
        }
        data += k;
        len -= (size_t)k;
        if (!msg)
            continue;
        timer_start(&c->t_watchdog, CTL_WATCHDOG_MS);
        struct tc_map_response m;
        memset(&m, 0, sizeof m);
        if (tc_map_response_parse(&m, (const char *)msg, mlen)) {
            log_warn("module=node event=map_unparsable error=\"%s\"", m.doc.error ? m.doc.error : "?");
            tc_map_response_clear(&m);
            retry(c, "map stream: unparsable MapResponse");
            return;
        }
        if (m.ping_request) /* a keep-alive may carry one too */
            answer_ping(c, m.ping_request);
        if (m.keep_alive) {
            tc_map_response_clear(&m);
            continue;
        }
        char err[256];
        bool first = !c->got_map;
        int rc = node_on_map(c->n, &m, err, sizeof err);
        tc_map_response_clear(&m);
        if (rc) {
            retry(c, err);
            return;
        }
        if (first) {
            c->got_map = true;
            c->attempt = 0;
            c->n->control_ok = true;
            log_info("module=node event=control_connected");
            /* endpoints / home DERP may have been chosen meanwhile */
            send_lite(c);
        }
    }
}

static void map_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                     void *arg)
{
    struct ctl *c = arg;
    c->map = NULL;
    char why[400];
    if (err)
        snprintf(why, sizeof why, "map stream: %s", err);
    else if (status != 200)
        snprintf(why, sizeof why, "map request: http %d", status);
    else
        snprintf(why, sizeof why, "map stream ended by control");
    retry(c, why);
}

static void start_map(struct ctl *c)
{
    if (c->dec_ok)
        mapstream_dec_free(&c->dec);
    c->dec_ok = mapstream_dec_init(&c->dec, true, 0) == 0;
    c->got_map = false;
    if (!c->dec_ok) {
        retry(c, "out of memory");
        return;
    }
    /* as the official client: a lite update first, then the stream (captures/README) */
    send_lite(c);
    struct jbuf b;
    jbuf_init(&b);
    if (emit_map_request(c, &b, true)) {
        jbuf_free(&b);
        retry(c, "out of memory");
        return;
    }
    char lb[KEY_TEXT_MAX];
    hdr_nodekey(&c->n->node_pub, lb);
    struct http_header hs[] = {{"ts-lb", lb}};
    static const struct control_call_cbs cbs = {map_head, map_data, map_done};
    c->map = control_client_request(c->cc, "POST", "/machine/map", hs, 1, b.p, b.len, &cbs, c);
    jbuf_free(&b);
    if (!c->map) {
        retry(c, "map: cannot send the request");
        return;
    }
    timer_start(&c->t_watchdog, CTL_WATCHDOG_MS);
}

/* ---- the channel ---- */

static void on_ready(struct control_client *cc, const char *err, void *arg)
{
    struct ctl *c = arg;
    if (err) {
        c->cc = NULL; /* freed after this returns */
        char why[400];
        snprintf(why, sizeof why, "control unreachable: %s", err);
        retry(c, why);
        return;
    }
    c->ready = true;
    log_debug("module=node event=control_channel_up");
    do_register(c);
}

static void on_close(struct control_client *cc, const char *err, void *arg)
{
    struct ctl *c = arg;
    c->cc = NULL;
    char why[400];
    snprintf(why, sizeof why, "control connection lost: %s", err ? err : "closed");
    retry(c, why);
}

static void start(struct ctl *c)
{
    if (c->stopped || c->cc)
        return;
    struct node *n = c->n;
    struct control_client_opts o;
    memset(&o, 0, sizeof o);
    o.server_url = n->prefs.login_server;
    o.machine_priv = &n->machine_priv;
    o.version = NODE_CAPVER;
    o.timeout_ms = 10000;
    c->cc = control_client_connect(n->loop, &o, on_ready, on_close, c);
    if (!c->cc) {
        if (c->mode == CTL_LOGOUT) {
            retry(c, "bad login server URL");
            return;
        }
        c->stopped = true;
        node_on_refused(n, "bad login server URL");
    }
}

static void on_rotate(struct timer *t, void *arg)
{
    struct ctl *c = arg;
    if (c->mode != CTL_LOGIN || c->stopped)
        return;
    if (c->rotating || !c->ready || c->reg) { /* not now: soon */
        timer_start(&c->t_rotate, 2000);
        return;
    }
    log_info("module=node event=node_key_rotation msg=\"the node key nears its expiry\"");
    c->rotating = true;
    key_generate(&c->new_priv);
    c->followup[0] = 0;
    do_register(c);
}

void ctl_set_key_expiry(struct ctl *c, int64_t expiry)
{
    if (!c || expiry == c->rot_expiry)
        return;
    c->rot_expiry = expiry;
    timer_stop(&c->t_rotate);
    if (!expiry)
        return;
    int64_t now = time(NULL);
    int64_t at = ctl_rotation_time(now, expiry);
    log_info("module=node event=key_expiry expires_in_s=%lld rotate_in_s=%lld", (long long)(expiry - now),
             (long long)(at - now));
    timer_start(&c->t_rotate, (uint64_t)(at - now) * 1000);
}

static void on_logout_timeout(struct timer *t, void *arg)
{
    struct ctl *c = arg;
    retry(c, "logout: control did not answer");
}

void ctl_logout(struct ctl *c, void (*done)(void *arg, const char *err), void *arg)
{
    c->mode = CTL_LOGOUT;
    c->logout_done = done;
    c->logout_arg = arg;
    c->stopped = false;
    c->rotating = false;
    c->followup[0] = 0;
    timer_stop(&c->t_retry);
    timer_stop(&c->t_rotate);
    timer_start(&c->t_logout, 10000);
    if (c->ready && c->cc) {
        if (c->reg) {
            control_call_cancel(c->reg);
            c->reg = NULL;
        }
        if (c->map) {
            control_call_cancel(c->map);
            c->map = NULL;
        }
        do_register(c);
    } else {
        teardown(c);
        start(c);
    }
}

uint64_t ctl_retry_in(const struct ctl *c)
{
    if (!c || !c->retry_at)
        return 0;
    uint64_t now = loop_now(c->n->loop);
    return c->retry_at > now ? c->retry_at - now : 0;
}

struct ctl *ctl_new(struct node *n)
{
    struct ctl *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = n;
    timer_init(&c->t_retry, n->loop, on_retry, c);
    timer_init(&c->t_watchdog, n->loop, on_watchdog, c);
    timer_init(&c->t_rotate, n->loop, on_rotate, c);
    timer_init(&c->t_logout, n->loop, on_logout_timeout, c);
    timer_start(&c->t_retry, 0); /* from the loop: whoever waits for the outcome is registered by then */
    return c;
}

void ctl_free(struct ctl *c)
{
    if (!c)
        return;
    c->stopped = true;
    teardown(c);
    timer_stop(&c->t_retry);
    timer_stop(&c->t_rotate);
    timer_stop(&c->t_logout);
    sodium_memzero(&c->new_priv, sizeof c->new_priv);
    free(c);
}
