// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/addr.h"
#include "core/admission.h"
#include "core/cfgcheck.h"
#include "core/crypto/key.h"
#include "core/ctx.h"
#include "core/derp_client.h"
#include "core/frontdoor.h"
#include "core/reload.h"
#include "core/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/module.h"
#include "core/wire/derp_frame.h"
#include "modules/derp/derp.h"
#include "modules/derp/server.h"

static const char *check_mesh_url(const char *v, char *buf, size_t len)
{
    struct derp_url u;
    if (derp_url_parse(v, &u) != 0) {
        snprintf(buf, len, "'%s' is not a relay URL (https://HOST[:PORT], http://HOST[:PORT] or HOST[:PORT])", v);
        return buf;
    }
    return NULL;
}

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct derp_conf, name), 0, 0, NULL, NULL}
#define KC(name, type, def, doc, check) {#name, type, def, doc, offsetof(struct derp_conf, name), 0, 0, NULL, check}
#define KR(name, type, def, doc, min, max)                                                                     \
    {#name, type, def, doc, offsetof(struct derp_conf, name), min, max, NULL, NULL}
static const struct cfg_key derp_keys[] = {
    KC(listen, CFG_STR, "127.0.0.1:8080",
       "plain HTTP listener for /derp (with control in the process and this unset: control's listen)",
       cfg_check_listen),
    KC(tls_listen, CFG_STR, NULL,
       "TLS listener for /derp (needs tls_cert and tls_key, or tls.acme), e.g. [::]:443 (with control in the "
       "process and no TLS keys here: control's tls_listen and certificate)",
       cfg_check_listen),
    TLS_KEYS(struct derp_conf, tls),
    KC(stun_listen, CFG_STR, "127.0.0.1:3478",
       "UDP address of the STUN server (empty: no STUN; :3478 for v4+v6; with control in the process and this "
       "unset: the host of the relay's listener, port 3478)",
       cfg_check_udp_listen),
    K(key_file, CFG_STR, "derp.key", "the relay's private key (relative to state_dir; created 0600)"),
    K(mesh_key, CFG_STR, NULL, "file holding the region's mesh key (64 hex digits)"),
    KC(mesh_with, CFG_LIST, NULL, "URLs of the other relays of this region, e.g. https://derp2.example:443",
       check_mesh_url),
    KC(mesh_ca_file, CFG_STR, NULL, "PEM CA bundle to verify mesh peers with (default: the system store)",
       cfg_check_ca_file),
    KC(verify_clients, CFG_STR, NULL, "admission URL: POST {NodePublic, Source}, admit on {\"Allow\":true}",
       cfg_check_http_url),
    K(verify_fail_open, CFG_BOOL, "false", "admit clients when the admission URL cannot be reached"),
    KR(verify_timeout, CFG_DURATION, "5s", "how long the admission URL may take to answer", 100, 60000),
    KC(metrics_listen, CFG_STR, NULL,
       "another listener for the process's /metrics (see the top-level metrics_listen)", cfg_check_listen),
    KR(max_conns, CFG_INT, "0", "most client connections at once (0: no limit); more get 503", 0, 10000000),
    KR(accept_rate, CFG_INT, "0", "new connections accepted per second (0: no limit); more get 429", 0,
       10000000),
    KR(accept_burst, CFG_INT, "0", "burst for accept_rate (0: one second's worth)", 0, 10000000),
    KR(rate_limit, CFG_INT, "0", "per-client receive limit in bytes per second (0: off; mesh peers exempt)",
       0, 1LL << 40),
    KR(rate_burst, CFG_INT, "1048576", "burst of the per-client receive limit, in bytes", 65568, 1LL << 40),
    KR(queue_depth, CFG_INT, "32",
       "packets queued per busy destination (as many again for disco); senders wait when it is full", 1, 4096),
    KR(backpressure_wait, CFG_DURATION, "100ms",
       "longest a sender's reading pauses while a destination it sends to is full (its other traffic waits "
       "too); then that destination's packets are dropped, oldest first, until it drains",
       1, 60000),
    KR(write_timeout, CFG_DURATION, "2s", "a client whose socket takes no data this long is dropped", 100,
       600000),
    KR(mesh_write_timeout, CFG_DURATION, "30s", "the same for mesh peers", 100, 600000),
    KR(handshake_timeout, CFG_DURATION, "10s", "time from upgrade to a finished handshake", 100, 600000),
    KR(keepalive, CFG_DURATION, "60s", "KeepAlive interval (plus up to 5 s of jitter)", 1000, 3600000),
    KR(tcp_keepalive, CFG_DURATION, "60s",
       "TCP keepalive on client sockets: probes after this idle time, every third of it, the peer dropped "
       "after 3 unanswered (0: off)",
       0, 3600000),
    CFG_END,
};

struct derp_module {
    struct derp_server *srv;
    struct relay_clients clients; /* for an in-process control (core/admission.h) */
    struct relay_info relay;      /* offered to control in the same process (core/frontdoor.h) */
};

static void drop_node(void *ctx, const uint8_t node_key[32])
{
    derp_server_drop_key(ctx, node_key, "the node is no longer admitted by control");
}

static void derp_check(const struct cfg_section *s, struct cfg_errors *err)
{
    const struct derp_conf *c = s->conf;
    tls_conf_check(s, "tls_listen", c->tls_listen, &c->tls, err);
    if (c->mesh_with.n && !c->mesh_key)
        cfg_error(err, s, "mesh_with", "meshing needs derp.mesh_key (the region's shared key)");
}

/* /derp/probe and /derp/latency-check: clients and browsers measure latency with these (CORS open). */
static void handle_probe(struct http_req *req, void *arg)
{
    const char *m = http_req_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_respond_text(req, 405, "bogus probe method\n");
        return;
    }
    static const struct http_header h[] = {{"Access-Control-Allow-Origin", "*"}};
    http_respond(req, 200, h, 1, "", 0);
}

/* Captive-portal check; answers the challenge so clients know they reached a real relay. */
static void handle_generate_204(struct http_req *req, void *arg)
{
    char resp[128];
    struct http_header h[2] = {{"Cache-Control", DERP_NO_CACHE}, {DERP_HDR_RESPONSE, resp}};
    long n = derp_generate_204_response(http_req_header(req, DERP_HDR_CHALLENGE), resp, sizeof(resp));
    http_respond(req, 204, h, n > 0 ? 2 : 1, "", 0);
}

static void handle_home(struct http_req *req, void *arg)
{
    static const char page[] = "<html><body>\n<h1>DERP</h1>\n<p>This is a DERP relay (weft), compatible "
                               "with Tailscale clients.</p>\n"
                               "</body></html>\n";
    static const struct http_header h[] = {{"Content-Type", "text/html; charset=utf-8"}};
    http_respond(req, 200, h, 1, page, sizeof(page) - 1);
}

static void handle_robots(struct http_req *req, void *arg)
{
    http_respond_text(req, 200, "User-agent: *\nDisallow: /\n");
}

static int derp_init(struct weft_instance *inst)
{
    struct derp_conf *conf = inst->conf;
    char path[4096], err[512];
    struct key priv;
    int created = 0;
    const char *kf = conf->key_file;
    if (kf == NULL || kf[0] == 0) {
        log_error("module=derp event=init error=\"key_file is empty\"");
        return -1;
    }
    if (kf[0] != '/' && weft_state_path(inst->ctx, kf, path, sizeof(path)) == NULL)
        return -1;
    if (key_load_or_create(kf[0] == '/' ? kf : path, &priv, &created, err, sizeof(err)) != 0) {
        log_error("module=derp event=init error=\"%s\"", err);
        return -1;
    }
    struct derp_module *dm = calloc(1, sizeof(*dm));
    if (dm == NULL || (dm->srv = derp_server_new(inst->ctx, conf, &priv)) == NULL) {
        free(dm);
        sodium_memzero(&priv, sizeof(priv));
        return -1;
    }
    sodium_memzero(&priv, sizeof(priv));
    if (conf->mesh_key != NULL && conf->mesh_key[0] != 0) {
        if (derp_read_mesh_key(conf->mesh_key, dm->srv->mesh_key, err, sizeof(err)) != 0) {
            log_error("module=derp event=init error=\"%s\"", err);
            derp_server_free(dm->srv);
            free(dm);
            return -1;
        }
        dm->srv->has_mesh_key = 1;
    }
    inst->data = dm;
    if (weft_runs(inst->ctx, "control")) {
        dm->clients.drop_node = drop_node;
        dm->clients.ctx = dm->srv;
        weft_service_put(inst->ctx, RELAY_CLIENTS_SERVICE, &dm->clients);
    }
    struct addr a;
    if (conf->stun_listen && addr_parse(conf->stun_listen, &a) == 0)
        dm->relay.stun_port = a.port;
    weft_service_put(inst->ctx, RELAY_SERVICE, &dm->relay);
    char pub[KEY_TEXT_MAX];
    key_format(pub, sizeof(pub), KEY_TEXT_NODE, &dm->srv->pub);
    if (created)
        log_info("module=derp event=key public=%s created=yes", pub);
    else
        log_info("module=derp event=key public=%s", pub);
    return 0;
}

/* "HOST:PORT" for the host of listen (with its brackets) and port into out; 0, or -1 for a unix socket. */
static int same_host(const char *listen, int port, char *out, size_t len)
{
    struct addr a;
    if (!listen || addr_parse(listen, &a) != 0 || a.sa.ss_family == AF_UNIX)
        return -1;
    if (a.host[0] == 0)
        snprintf(out, len, ":%d", port);
    else if (strchr(a.host, ':'))
        snprintf(out, len, "[%s]:%d", a.host, port);
    else
        snprintf(out, len, "%s:%d", a.host, port);
    return 0;
}

static uint16_t port_of(const char *listen)
{
    struct addr a;
    return listen && addr_parse(listen, &a) == 0 ? a.port : 0;
}

/* Where the relay listens: its own keys, or in a single box (control in the process) control's listeners for
 * what derp's configuration leaves unset, and STUN on the same host. */
struct where {
    const char *listen, *tls_listen;
    const struct tls_conf *tls;
    char stun[300];
};

static void follow(struct weft_instance *inst, const struct frontdoor *fd, struct where *w)
{
    struct derp_conf *conf = inst->conf;
    int own_tls = tls_conf_enabled(&conf->tls) || weft_conf_is_set(inst, "tls_listen");
    if (!weft_conf_is_set(inst, "listen"))
        w->listen = fd->listen;
    if (!own_tls) {
        w->tls_listen = fd->tls_listen;
        w->tls = fd->tls;
    }
    if (!weft_conf_is_set(inst, "stun_listen") && conf->stun_listen) {
        int port = port_of(conf->stun_listen);
        if (same_host(w->listen, port, w->stun, sizeof w->stun) != 0)
            same_host(w->tls_listen, port, w->stun, sizeof w->stun);
    }
    log_info("module=derp event=follow listen=%s tls_listen=%s stun_listen=%s msg=\"single box: the relay "
             "serves on control's listeners unless derp's configuration says otherwise\"",
             w->listen ? w->listen : "-", w->tls_listen ? w->tls_listen : "-", w->stun[0] ? w->stun : "-");
}

/* The DERP map sends clients to the relay at control.server_url's port: if control listens there, so must
 * the relay, or clients get 404 where they expect /derp. Said at start, naming the keys. */
static int check_frontdoor(const struct frontdoor *fd, const struct where *w)
{
    if (!fd->relay_host)
        return 0;
    int on_control = fd->relay_port == (fd->relay_tls ? port_of(fd->tls_listen) : port_of(fd->listen));
    int on_relay = fd->relay_port == (fd->relay_tls ? port_of(w->tls_listen) : port_of(w->listen));
    if (!on_control || on_relay)
        return 0; /* the map points elsewhere (a proxy in front?) or at us: nothing to say */
    log_error("module=derp event=start error=\"the DERP map sends clients to this relay at %s (control.server_url), "
              "where control listens (control.%s %s) but the relay does not (derp.%s is %s): leave derp.listen, "
              "derp.tls_listen and derp.tls_* unset so that the relay follows control, or set them to control's "
              "listener\"",
              fd->relay_url, fd->relay_tls ? "tls_listen" : "listen", fd->relay_tls ? fd->tls_listen : fd->listen,
              fd->relay_tls ? "tls_listen" : "listen",
              (fd->relay_tls ? w->tls_listen : w->listen) ? (fd->relay_tls ? w->tls_listen : w->listen) : "unset");
    return -1;
}

static int derp_start(struct weft_instance *inst)
{
    struct derp_conf *conf = inst->conf;
    struct derp_module *dm = inst->data;
    struct derp_server *srv = dm->srv;
    char err[512];
    struct where w = {conf->listen, conf->tls_listen, &conf->tls, ""};
    if (conf->stun_listen)
        snprintf(w.stun, sizeof w.stun, "%s", conf->stun_listen);
    const struct frontdoor *fd = weft_service_get(inst->ctx, FRONTDOOR_SERVICE);
    if (fd) {
        follow(inst, fd, &w);
        if (check_frontdoor(fd, &w) != 0)
            return -1;
    }
    const char *addrs[2] = {w.listen, w.tls_listen};
    int standalone = !weft_runs(inst->ctx, "control");
    for (int i = 0; i < 2; i++) {
        if (addrs[i] == NULL || addrs[i][0] == 0)
            continue;
        struct http_server *hs = weft_http(inst->ctx, addrs[i], i ? w.tls : NULL, err, sizeof err);
        if (!hs) {
            log_error("module=derp event=listen addr=%s error=\"%s\"", addrs[i], err);
            return -1;
        }
        http_route(hs, "/derp", 0, derp_handle_upgrade, srv);
        http_route(hs, "/derp/probe", 0, handle_probe, srv);
        http_route(hs, "/derp/latency-check", 0, handle_probe, srv);
        http_route(hs, "/generate_204", 0, handle_generate_204, srv);
        if (standalone) { /* with control here, the home page is control's */
            http_route(hs, "/", 0, handle_home, srv);
            http_route(hs, "/robots.txt", 0, handle_robots, srv);
        }
    }
    /* /metrics is the process's (metrics_listen, on loopback by default), never on the public listeners;
     * derp.metrics_listen, from before there was one for the process, adds a listener that serves it too. */
    metrics_add(weft_metrics(inst->ctx), derp_collect_metrics, srv);
    if (conf->metrics_listen != NULL && conf->metrics_listen[0] != 0) {
        if (!weft_metrics_http(inst->ctx, conf->metrics_listen, err, sizeof err)) {
            log_error("module=derp event=listen addr=%s key=derp.metrics_listen error=\"%s\"",
                      conf->metrics_listen, err);
            return -1;
        }
    }
    if (w.stun[0]) {
        if ((srv->stun = stun_server_start(srv, w.stun, err, sizeof err)) == NULL) {
            log_error("module=derp event=stun addr=%s error=\"%s\"", w.stun, err);
            return -1;
        }
        log_info("module=derp event=stun addr=%s", w.stun);
    }
    if (mesh_start(srv) != 0)
        return -1;
    return 0;
}

/* What cannot change while running, and why; the limits and the admission settings apply at once (they are
 * read where they are used; running connections take the new timeouts and receive limit). */
static const struct reload_fixed derp_fixed[] = {
    {"listen", "the listening socket is opened at start"},
    {"tls_listen", "the listening socket is opened at start"},
    {"stun_listen", "the STUN socket is opened at start"},
    {"metrics_listen", "the listening socket is opened at start"},
    {"key_file", "the relay's key is its identity: clients and mesh peers know it"},
    {"mesh_key", "mesh links are authenticated with it when they are dialled"},
    {"mesh_with", "mesh links are dialled at start"},
    {"mesh_ca_file", "mesh links are dialled at start"},
    {NULL, NULL},
};

static int derp_reload(struct weft_instance *inst, void *newconf)
{
    struct derp_module *dm = inst->data;
    struct reload_changes ch;
    reload_take("derp", inst->mod->keys, inst->conf, newconf, derp_fixed, &ch);
    derp_server_limits_changed(dm->srv, reload_changed(&ch, "accept_rate") || reload_changed(&ch, "accept_burst"));
    for (size_t i = 0; i < ch.n; i++)
        log_info("module=derp event=reload key=derp.%s result=applied", ch.keys[i]);
    return 0;
}

static void derp_stop(struct weft_instance *inst)
{
    struct derp_module *dm = inst->data;
    if (dm != NULL)
        derp_server_stop(dm->srv);
}

static int derp_drained(struct weft_instance *inst)
{
    struct derp_module *dm = inst->data;
    return dm == NULL || derp_server_conns(dm->srv) == 0;
}

static void derp_finish(struct weft_instance *inst)
{
    struct derp_module *dm = inst->data;
    if (dm == NULL)
        return;
    metrics_remove(weft_metrics(inst->ctx), dm->srv);
    derp_server_free(dm->srv);
    free(dm);
    inst->data = NULL;
}

WEFT_MODULE(derp) = {
    .abi = WEFT_ABI_VERSION,
    .name = "derp",
    .version = WEFT_VERSION,
    .summary = "DERP relay and STUN server",
    .keys = derp_keys,
    .conf_size = sizeof(struct derp_conf),
    .is_role = 1,
    .init = derp_init,
    .start = derp_start,
    .stop = derp_stop,
    .drained = derp_drained,
    .finish = derp_finish,
    .reload = derp_reload,
    .check = derp_check,
};
