// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/localapi.h"

#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/http.h"
#include "core/json/jbuf.h"
#include "core/log.h"
#include "core/netlink.h"
#include "modules/node/ctl.h"
#include "modules/node/dp.h"
#include "modules/node/filter/filter.h"
#include "modules/node/magicsock/ms.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"
#include "modules/node/ping.h"

/* A request that waits for something: `weft up`, `weft logout`, `weft ping`. */
struct waiter {
    struct lapi *l;
    struct waiter *next, **pprev;
    enum { W_UP, W_LOGOUT, W_PING, W_NETCHECK } kind;
    struct http_req *req;     /* W_LOGOUT, W_PING: answered once */
    struct http_reply *reply; /* W_UP: streamed */
    struct timer t;
    struct pinger *ping;
    bool gone;
    int64_t peer_id;
    char peer[128], ip[64], path[128];
};

struct lapi {
    struct node *n;
    struct http_server *srv;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct waiter *waiters;
};

int lapi_socket_path(const char *state_dir, const char *socket, char *out, size_t cap)
{
    const char *s = socket && *socket ? socket : "/run/weft/node.sock";
    int n = s[0] == '/' ? snprintf(out, cap, "%s", s) : snprintf(out, cap, "%s/%s", state_dir, s);
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    return n > 0 && (size_t)n < cap && (size_t)n < max ? 0 : -1;
}

static void waiter_free(struct waiter *w)
{
    timer_stop(&w->t);
    ping_cancel(w->ping);
    if (w->kind == W_NETCHECK && dp_ms(w->l->n->dp))
        ms_netcheck_cancel(dp_ms(w->l->n->dp), w);
    if (w->next)
        w->next->pprev = w->pprev;
    *w->pprev = w->next;
    free(w);
}

static struct waiter *waiter_new(struct lapi *l, int kind)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->l = l;
    w->kind = kind;
    /* initialised here, before anything can fail: every path out ends in waiter_free, which stops it */
    timer_init(&w->t, l->n->loop, NULL, NULL);
    w->next = l->waiters;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &l->waiters;
    l->waiters = w;
    return w;
}

static void json_err(struct http_req *req, int status, const char *kind, const char *msg)
{
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '{');
    jbuf_field(&b, "Error");
    jbuf_str(&b, msg);
    jbuf_field(&b, "Kind");
    jbuf_str(&b, kind);
    jbuf_close(&b, '}');
    jbuf_putc(&b, '\n');
    jbuf_putc(&b, 0);
    http_respond_json(req, status, b.oom ? "{\"Error\":\"out of memory\"}\n" : b.p);
    jbuf_free(&b);
}

static struct json_object *body_json(struct http_req *req)
{
    size_t len;
    const uint8_t *body = http_req_body(req, &len);
    if (!body || !len)
        return json_object_new_object();
    struct json_tokener *t = json_tokener_new();
    struct json_object *o = t ? json_tokener_parse_ex(t, (const char *)body, (int)len) : NULL;
    if (t)
        json_tokener_free(t);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *k, int64_t def)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
        return def;
    return json_object_get_int64(v);
}

/* ---- status ---- */

/* A node's routes: its AllowedIPs beyond its addresses (what control approved and made it primary for). */
static void routes_json(struct jbuf *b, const struct nm_node *p)
{
    jbuf_open(b, '[');
    for (size_t i = 0; i < p->nallowed; i++) {
        bool is_addr = false;
        for (size_t k = 0; k < p->naddrs && !is_addr; k++)
            is_addr = nl_prefix_equal(&p->addrs[k], &p->allowed[i]);
        char t[64];
        if (!is_addr)
            jbuf_str(b, nl_prefix_format(&p->allowed[i], 1, t, sizeof t));
    }
    jbuf_close(b, ']');
}

static void routing_json(struct jbuf *b, struct node *n)
{
    const struct node_routing *r = &n->prefs.routing;
    jbuf_field(b, "Routing");
    jbuf_open(b, '{');
    jbuf_field(b, "AdvertiseRoutes");
    jbuf_open(b, '[');
    for (size_t i = 0; i < r->nadvertise; i++) {
        char t[64];
        jbuf_str(b, nl_prefix_format(&r->advertise[i], 1, t, sizeof t));
    }
    jbuf_close(b, ']');
    jbuf_field(b, "AdvertiseExitNode");
    jbuf_bool(b, r->advertise_exit);
    jbuf_field(b, "SNATSubnetRoutes");
    jbuf_bool(b, !r->no_snat);
    jbuf_field(b, "AcceptRoutes");
    jbuf_bool(b, r->accept_routes);
    jbuf_field(b, "ExitNode"); /* as given */
    jbuf_str(b, r->exit_node);
    jbuf_field(b, "ExitNodeID"); /* the peer in use (0: none) */
    jbuf_i64(b, router_exit_node(n->router));
    jbuf_field(b, "ExitNodeAllowLANAccess");
    jbuf_bool(b, r->exit_allow_lan);
    jbuf_close(b, '}');
}

static void addrs_json(struct jbuf *b, const struct nm_node *p)
{
    jbuf_open(b, '[');
    for (size_t i = 0; i < p->naddrs; i++) {
        char t[64];
        jbuf_str(b, nl_prefix_format(&p->addrs[i], 0, t, sizeof t));
    }
    jbuf_close(b, ']');
}

static void key_json(struct jbuf *b, const char *field, enum key_text kind, const struct key *k)
{
    char t[KEY_TEXT_MAX];
    key_format(t, sizeof t, kind, k);
    jbuf_field(b, field);
    jbuf_str(b, t);
}

static void region_json(struct jbuf *b, const struct netmap *nm, int region)
{
    const struct nm_region *r = netmap_region(nm, region);
    jbuf_field(b, "Relay");
    jbuf_str(b, r ? r->code : "");
    jbuf_field(b, "RelayRegion");
    jbuf_i64(b, region);
}

static void report_json(struct jbuf *b, const struct ms_report *r, const struct netmap *nm)
{
    jbuf_open(b, '{');
    jbuf_field(b, "UDP");
    jbuf_bool(b, r->udp);
    char a[64];
    jbuf_field(b, "IPv4");
    jbuf_str(b, r->ipv4 ? ms_addr_format(&r->global4, a, sizeof a) : "");
    jbuf_field(b, "IPv6");
    jbuf_str(b, r->ipv6 ? ms_addr_format(&r->global6, a, sizeof a) : "");
    jbuf_field(b, "OSHasIPv6");
    jbuf_bool(b, r->os_has_ipv6);
    const char *tri[] = {"", "false", "true"};
    jbuf_field(b, "MappingVariesByDestIP");
    jbuf_str(b, tri[r->mapping_varies_by_dest_ip + 1]);
    jbuf_field(b, "UPnP");
    jbuf_str(b, tri[r->upnp + 1]);
    jbuf_field(b, "PMP");
    jbuf_str(b, tri[r->pmp + 1]);
    jbuf_field(b, "PCP");
    jbuf_str(b, tri[r->pcp + 1]);
    jbuf_field(b, "HavePortMap");
    jbuf_bool(b, r->have_port_map);
    jbuf_field(b, "PreferredDERP");
    jbuf_i64(b, r->preferred_derp);
    jbuf_field(b, "RegionLatency");
    jbuf_open(b, '[');
    for (size_t i = 0; i < r->nregions; i++) {
        const struct nm_region *reg = nm ? netmap_region(nm, r->latency[i].region) : NULL;
        jbuf_open(b, '{');
        jbuf_field(b, "Region");
        jbuf_i64(b, r->latency[i].region);
        jbuf_field(b, "Code");
        jbuf_str(b, reg && reg->code ? reg->code : "");
        jbuf_field(b, "Name");
        jbuf_str(b, reg && reg->name ? reg->name : "");
        jbuf_field(b, "V4ms");
        jbuf_f64(b, r->latency[i].v4_us / 1000.0);
        jbuf_field(b, "V6ms");
        jbuf_f64(b, r->latency[i].v6_us / 1000.0);
        jbuf_close(b, '}');
    }
    jbuf_close(b, ']');
    jbuf_close(b, '}');
}

/* Our endpoints, the last netcheck report and the path manager's counters. */
static void status_paths(struct jbuf *b, struct node *n)
{
    struct ms *ms = dp_ms(n->dp);
    jbuf_field(b, "Endpoints");
    jbuf_open(b, '[');
    struct ms_endpoint eps[MS_MAX_LOCAL_EPS];
    size_t ne = ms ? ms_endpoints(ms, eps, MS_MAX_LOCAL_EPS) : 0;
    static const char *const types[] = {"?", "local", "stun", "portmap", "stun4localport"};
    for (size_t i = 0; i < ne; i++) {
        char a[64];
        jbuf_open(b, '{');
        jbuf_field(b, "Addr");
        jbuf_str(b, ms_addr_format(&eps[i].addr, a, sizeof a));
        jbuf_field(b, "Type");
        jbuf_str(b, types[eps[i].type <= 4 ? eps[i].type : 0]);
        jbuf_close(b, '}');
    }
    jbuf_close(b, ']');
    if (!ms)
        return;
    const struct ms_report *r = ms_report(ms);
    if (r->valid) {
        jbuf_field(b, "NetInfo");
        report_json(b, r, &n->nm);
    }
    const struct filter *f = dp_filter(n->dp);
    if (f) {
        struct filter_stats fs;
        filter_get_stats(f, &fs);
        jbuf_field(b, "Filter");
        jbuf_open(b, '{');
        jbuf_field(b, "Rules");
        jbuf_i64(b, (int64_t)fs.rules);
        jbuf_field(b, "Skipped");
        jbuf_i64(b, (int64_t)fs.skipped);
        jbuf_field(b, "Accepted");
        jbuf_i64(b, (int64_t)fs.accepted);
        jbuf_field(b, "Dropped");
        jbuf_i64(b, (int64_t)fs.dropped);
        for (int why = 1; why < FR_COUNT; why++) {
            char k[32];
            snprintf(k, sizeof k, "Dropped-%s", filter_reason_name(why));
            jbuf_field(b, k);
            jbuf_i64(b, (int64_t)fs.by_reason[why]);
        }
        jbuf_field(b, "Replies");
        jbuf_i64(b, (int64_t)fs.replies);
        jbuf_field(b, "FlowsTracked");
        jbuf_i64(b, (int64_t)fs.flows);
        jbuf_close(b, '}');
    }
    struct ms_stats st;
    ms_get_stats(ms, &st);
    jbuf_field(b, "Magicsock");
    jbuf_open(b, '{');
#define STAT(f)                                                                                             \
    jbuf_field(b, #f);                                                                                      \
    jbuf_i64(b, (int64_t)st.f)
    STAT(disco_rx_udp);
    STAT(disco_rx_derp);
    STAT(disco_tx_udp);
    STAT(disco_tx_derp);
    STAT(disco_unknown_key);
    STAT(disco_bad_box);
    STAT(disco_bad_msg);
    STAT(disco_ignored);
    STAT(ping_rx);
    STAT(pong_rx);
    STAT(cmm_rx);
    STAT(ping_tx);
    STAT(pong_tx);
    STAT(cmm_tx);
    STAT(ping_dup);
    STAT(ping_limited);
    STAT(pong_unknown);
    STAT(pong_wrong_path);
    STAT(cmm_refused);
    STAT(candidates_dropped);
    STAT(stun_tx);
    STAT(stun_rx);
    STAT(stun_bad);
    STAT(udp_junk);
    STAT(path_changes);
    STAT(netchecks);
#undef STAT
    jbuf_close(b, '}');
}

static void handle_status(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    struct node *n = l->n;
    const struct netmap *nm = &n->nm;
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '{');
    jbuf_field(&b, "State");
    jbuf_str(&b, node_state_name(n->state));
    jbuf_field(&b, "LoginServer");
    jbuf_str(&b, n->prefs.login_server);
    jbuf_field(&b, "Error");
    jbuf_str(&b, n->last_error);
    jbuf_field(&b, "AuthURL");
    jbuf_str(&b, n->auth_url);
    jbuf_field(&b, "ControlConnected");
    jbuf_bool(&b, n->control_ok);
    jbuf_field(&b, "ControlRetryInMs");
    jbuf_i64(&b, (int64_t)ctl_retry_in(n->ctl));
    jbuf_field(&b, "TUN");
    jbuf_str(&b, dp_tun_name(n->dp));
    jbuf_field(&b, "HomeDERP");
    jbuf_i64(&b, dp_home_region(n->dp));
    jbuf_field(&b, "HomeDERPConnected");
    jbuf_bool(&b, dp_home_connected(n->dp));
    jbuf_field(&b, "Domain");
    jbuf_str(&b, nm->domain);
    node_dns_status(n, &b);
    status_paths(&b, n);
    routing_json(&b, n);
    jbuf_field(&b, "Self");
    jbuf_open(&b, '{');
    char hn[256];
    jbuf_field(&b, "ID");
    jbuf_i64(&b, nm->self.id);
    jbuf_field(&b, "Name");
    jbuf_str(&b, nm->self.name);
    jbuf_field(&b, "HostName");
    jbuf_str(&b, node_hostname(n, hn, sizeof hn));
    jbuf_field(&b, "Addresses");
    addrs_json(&b, &nm->self);
    jbuf_field(&b, "Routes"); /* the routes control routes to us (approved, primary) */
    routes_json(&b, &nm->self);
    key_json(&b, "NodeKey", KEY_TEXT_NODE, &n->node_pub);
    key_json(&b, "MachineKey", KEY_TEXT_MACHINE, &n->machine_pub);
    key_json(&b, "DiscoKey", KEY_TEXT_DISCO, &n->disco_pub);
    jbuf_field(&b, "KeyExpiry");
    jbuf_i64(&b, nm->self.key_expiry);
    const struct nm_user *u = netmap_user(nm, nm->self.user);
    jbuf_field(&b, "User");
    jbuf_str(&b, u ? u->login_name : "");
    jbuf_close(&b, '}');
    jbuf_field(&b, "Peers");
    jbuf_open(&b, '[');
    for (size_t i = 0; i < nm->npeers; i++) {
        const struct nm_node *p = nm->peers[i];
        struct dp_peer_info pi;
        dp_peer_info(n->dp, p, &pi);
        jbuf_open(&b, '{');
        jbuf_field(&b, "ID");
        jbuf_i64(&b, p->id);
        jbuf_field(&b, "Name");
        jbuf_str(&b, p->name);
        jbuf_field(&b, "HostName");
        jbuf_str(&b, p->hostname);
        jbuf_field(&b, "OS");
        jbuf_str(&b, p->os);
        jbuf_field(&b, "Addresses");
        addrs_json(&b, p);
        jbuf_field(&b, "Routes"); /* its approved subnet routes (primary) and exit routes */
        routes_json(&b, p);
        jbuf_field(&b, "ExitNode"); /* our exit node */
        jbuf_bool(&b, p->id == router_exit_node(n->router) && p->id);
        key_json(&b, "NodeKey", KEY_TEXT_NODE, &p->key);
        jbuf_field(&b, "Online");
        if (p->online < 0)
            jbuf_null(&b);
        else
            jbuf_bool(&b, p->online);
        jbuf_field(&b, "LastSeen");
        jbuf_i64(&b, p->last_seen);
        jbuf_field(&b, "Expired");
        jbuf_bool(&b, p->expired || (p->key_expiry && p->key_expiry <= time(NULL)));
        region_json(&b, nm, pi.region);
        jbuf_field(&b, "RelayConnected");
        jbuf_bool(&b, pi.region_connected);
        char ab[64] = "";
        if (pi.have_addr)
            ms_addr_format(&pi.addr, ab, sizeof ab);
        jbuf_field(&b, "Direct"); /* the UDP address in use when the path is direct, "" over DERP */
        jbuf_str(&b, pi.direct ? ab : "");
        jbuf_field(&b, "CurAddr"); /* the best direct address known, trusted or being re-validated */
        jbuf_str(&b, ab);
        jbuf_field(&b, "LatencyMs");
        jbuf_f64(&b, pi.latency_us / 1000.0);
        jbuf_field(&b, "DirectSince"); /* Unix ms CurAddr was chosen */
        jbuf_i64(&b, pi.direct_since_ms);
        jbuf_field(&b, "Active");
        jbuf_bool(&b, pi.active);
        jbuf_field(&b, "TxDirect");
        jbuf_i64(&b, (int64_t)pi.tx_direct);
        jbuf_field(&b, "TxDERP");
        jbuf_i64(&b, (int64_t)pi.tx_derp);
        jbuf_field(&b, "Endpoints"); /* what control says the peer reported */
        jbuf_open(&b, '[');
        for (size_t k = 0; k < p->nendpoints; k++)
            jbuf_str(&b, p->endpoints[k]);
        jbuf_close(&b, ']');
        jbuf_field(&b, "FilterDrops");
        jbuf_i64(&b, (int64_t)pi.filter_drops);
        jbuf_field(&b, "InEngine");
        jbuf_bool(&b, pi.present);
        jbuf_field(&b, "LastHandshake");
        jbuf_i64(&b, pi.last_handshake.tv_sec);
        jbuf_field(&b, "RxBytes");
        jbuf_i64(&b, (int64_t)pi.rx_bytes);
        jbuf_field(&b, "TxBytes");
        jbuf_i64(&b, (int64_t)pi.tx_bytes);
        jbuf_close(&b, '}');
    }
    jbuf_close(&b, ']');
    jbuf_close(&b, '}');
    jbuf_putc(&b, '\n');
    jbuf_putc(&b, 0);
    if (b.oom)
        json_err(req, 500, "internal", "out of memory");
    else
        http_respond_json(req, 200, b.p);
    jbuf_free(&b);
}

/* ---- up ---- */

static void up_line(struct waiter *w, const char *field, const char *value, const char *kind)
{
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '{');
    jbuf_field(&b, field);
    jbuf_str(&b, value);
    if (kind) {
        jbuf_field(&b, "Kind");
        jbuf_str(&b, kind);
    }
    jbuf_close(&b, '}');
    jbuf_putc(&b, '\n');
    if (!b.oom && !w->gone)
        http_reply_write(w->reply, b.p, b.len);
    jbuf_free(&b);
}

static void up_end(struct waiter *w)
{
    http_reply_end(w->reply);
    waiter_free(w);
}

static void up_gone(void *arg)
{
    struct waiter *w = arg;
    w->gone = true;
}

static void up_timeout(struct timer *t, void *arg)
{
    struct waiter *w = arg;
    char msg[700];
    struct node *n = w->l->n;
    if (n->state == NODE_RUNNING)
        snprintf(msg, sizeof msg,
                 "logged in, but the home relay (DERP region %d) is not connected; the daemon "
                 "keeps trying",
                 dp_home_region(n->dp));
    else
        snprintf(msg, sizeof msg, "not running after the timeout (state %s%s%s); the daemon keeps trying",
                 node_state_name(n->state), n->last_error[0] ? ": " : "", n->last_error);
    up_line(w, "Error", msg, "timeout");
    up_end(w);
}

static void handle_up(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    struct json_object *o = body_json(req);
    if (!o) {
        json_err(req, 400, "usage", "the body is not a JSON object");
        return;
    }
    char err[600];
    const char *hostname = jstr(o, "Hostname");
    /* routing flags: only those given change */
    struct node_routing rt = l->n->prefs.routing;
    struct json_object *v;
    const char *adv = jstr(o, "AdvertiseRoutes"), *exitn = jstr(o, "ExitNode");
    if (adv && router_parse_routes(adv, &rt, err, sizeof err)) {
        json_object_put(o);
        json_err(req, 200, "usage", err);
        return;
    }
    if (json_object_object_get_ex(o, "AdvertiseExitNode", &v))
        rt.advertise_exit = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "SNATSubnetRoutes", &v))
        rt.no_snat = !json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "AcceptRoutes", &v))
        rt.accept_routes = json_object_get_boolean(v);
    if (exitn)
        snprintf(rt.exit_node, sizeof rt.exit_node, "%s", exitn);
    if (json_object_object_get_ex(o, "ExitNodeAllowLANAccess", &v))
        rt.exit_allow_lan = json_object_get_boolean(v);
    if (router_check(&rt, &l->n->nm, err, sizeof err)) {
        json_object_put(o);
        json_err(req, 200, "usage", err);
        return;
    }
    node_set_routing(l->n, &rt);
    struct json_object *ad;
    if (json_object_object_get_ex(o, "AcceptDNS", &ad) && json_object_is_type(ad, json_type_boolean)) {
        node_dns_set_accept(l->n, json_object_get_boolean(ad));
        node_prefs_save(l->n);
    }
    int rc = node_up(l->n, jstr(o, "LoginServer"), jstr(o, "AuthKey"),
                     hostname && *hostname ? hostname : NULL, err, sizeof err);
    int64_t timeout = jint(o, "Timeout", 60);
    json_object_put(o);
    if (rc) {
        json_err(req, 200, "usage", err);
        return;
    }
    struct waiter *w = waiter_new(l, W_UP);
    if (!w) {
        json_err(req, 500, "internal", "out of memory");
        return;
    }
    timer_init(&w->t, l->n->loop, up_timeout, w); /* started below, unless `up` ends at once */
    static const struct http_header h[] = {{"Content-Type", "application/x-ndjson"}};
    w->reply = http_reply_start(req, 200, h, 1, up_gone, w);
    if (!w->reply) {
        waiter_free(w);
        json_err(req, 500, "internal", "out of memory"); /* the request is still unanswered */
        return;
    }
    if (l->n->state == NODE_RUNNING && dp_home_connected(l->n->dp)) {
        up_line(w, "State", "Running", NULL);
        up_end(w);
        return;
    }
    if (l->n->auth_url[0])
        up_line(w, "AuthURL", l->n->auth_url, NULL);
    timer_start(&w->t, (uint64_t)(timeout > 0 ? timeout : 60) * 1000);
}

/* ---- down, logout ---- */

static void handle_down(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    node_down(l->n);
    http_respond_json(req, 200, "{\"State\":\"Stopped\"}\n");
}

static void logout_done(void *arg, const char *err)
{
    struct waiter *w = arg;
    if (!w->gone) {
        if (err) {
            char msg[600];
            snprintf(msg, sizeof msg, "logged out here, but control was not told: %s", err);
            json_err(w->req, 200, "unreachable", msg);
        } else {
            http_respond_json(w->req, 200, "{}\n");
        }
    }
    waiter_free(w);
}

static void req_gone(void *arg)
{
    struct waiter *w = arg;
    w->gone = true;
    if (w->kind == W_PING || w->kind == W_NETCHECK) /* nobody to tell */
        waiter_free(w);
}

static void handle_logout(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    if (l->n->logout) {
        json_err(req, 200, "usage", "a logout is already under way");
        return;
    }
    struct waiter *w = waiter_new(l, W_LOGOUT);
    if (!w) {
        json_err(req, 500, "internal", "out of memory");
        return;
    }
    w->req = req;
    http_req_on_gone(req, req_gone, w);
    if (node_logout(l->n, logout_done, w)) {
        json_err(req, 500, "internal", "out of memory");
        waiter_free(w);
    }
}

/* ---- ping ---- */

/* How packets to p go now: "1.2.3.4:41641" over a direct path, else "DERP(code, region N)". */
static void peer_path_text(struct node *n, const struct nm_node *p, char *buf, size_t cap)
{
    struct dp_peer_info pi;
    dp_peer_info(n->dp, p, &pi);
    if (pi.direct) {
        ms_addr_format(&pi.addr, buf, cap);
        return;
    }
    const struct nm_region *r = netmap_region(&n->nm, pi.region);
    snprintf(buf, cap, "DERP(%s, region %d)", r && r->code[0] ? r->code : "?", pi.region);
}

static void ping_done(void *arg, const char *err, double rtt)
{
    struct waiter *w = arg;
    w->ping = NULL;
    struct nm_node *p = netmap_peer_by_id(&w->l->n->nm, w->peer_id);
    if (p && !err) /* the path the echo came back on */
        peer_path_text(w->l->n, p, w->path, sizeof w->path);
    if (err) {
        char msg[300];
        snprintf(msg, sizeof msg, "no reply from %s (%s): %s", w->peer, w->ip, err);
        json_err(w->req, 200, "timeout", msg);
    } else {
        struct jbuf b;
        jbuf_init(&b);
        jbuf_open(&b, '{');
        jbuf_field(&b, "Peer");
        jbuf_str(&b, w->peer);
        jbuf_field(&b, "IP");
        jbuf_str(&b, w->ip);
        jbuf_field(&b, "Path");
        jbuf_str(&b, w->path);
        jbuf_field(&b, "RTTms");
        jbuf_f64(&b, rtt);
        jbuf_close(&b, '}');
        jbuf_putc(&b, '\n');
        jbuf_putc(&b, 0);
        http_respond_json(w->req, 200, b.oom ? "{}" : b.p);
        jbuf_free(&b);
    }
    waiter_free(w);
}

static void handle_ping(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    struct node *n = l->n;
    struct json_object *o = body_json(req);
    const char *peer = o ? jstr(o, "Peer") : NULL;
    if (!peer || !*peer) {
        json_object_put(o);
        json_err(req, 400, "usage", "which peer?");
        return;
    }
    int64_t timeout = jint(o, "Timeout", 5);
    int want_family = (int)jint(o, "Family", 0);
    char msg[400];
    if (n->state != NODE_RUNNING || !n->dp) {
        snprintf(msg, sizeof msg, "not running (state %s)", node_state_name(n->state));
        json_object_put(o);
        json_err(req, 200, "usage", msg);
        return;
    }
    struct nm_node *p = netmap_peer_lookup(&n->nm, peer);
    struct nl_prefix ip;
    if (!p) {
        snprintf(msg, sizeof msg, "no peer '%s' in the tailnet", peer);
        json_object_put(o);
        json_err(req, 200, "usage", msg);
        return;
    }
    int have = 0;
    if (nl_prefix_parse(peer, &ip) == 0) {
        have = 1;
    } else {
        for (size_t i = 0; i < p->naddrs && !have; i++)
            if (!want_family || p->addrs[i].family == want_family) {
                ip = p->addrs[i];
                have = 1;
            }
    }
    json_object_put(o);
    if (!have) {
        snprintf(msg, sizeof msg, "peer '%s' has no address of that family", peer);
        json_err(req, 200, "usage", msg);
        return;
    }
    const uint8_t *src = NULL;
    for (size_t i = 0; i < n->nm.self.naddrs && !src; i++)
        if (n->nm.self.addrs[i].family == ip.family)
            src = n->nm.self.addrs[i].addr;
    struct waiter *w = waiter_new(l, W_PING);
    if (!w) {
        json_err(req, 500, "internal", "out of memory");
        return;
    }
    w->req = req;
    nm_node_short_name(p, w->peer, sizeof w->peer);
    nl_prefix_format(&ip, 0, w->ip, sizeof w->ip);
    w->peer_id = p->id;
    peer_path_text(n, p, w->path, sizeof w->path);
    w->ping = ping_start(n->loop, ip.family, src, ip.addr, (unsigned)(timeout > 0 ? timeout : 5) * 1000,
                         ping_done, w, msg, sizeof msg);
    if (!w->ping) {
        json_err(req, 200, "internal", msg);
        waiter_free(w);
        return;
    }
    http_req_on_gone(req, req_gone, w);
}

/* ---- netcheck ---- */

static void netcheck_done(void *arg, const struct ms_report *r)
{
    struct waiter *w = arg;
    if (!r) {
        json_err(w->req, 200, "stopped", "the data plane stopped");
    } else {
        struct jbuf b;
        jbuf_init(&b);
        report_json(&b, r, &w->l->n->nm);
        jbuf_putc(&b, '\n');
        jbuf_putc(&b, 0);
        http_respond_json(w->req, 200, b.oom ? "{}" : b.p);
        jbuf_free(&b);
    }
    w->kind = W_PING; /* answered: nothing to cancel */
    waiter_free(w);
}

static void handle_netcheck(struct http_req *req, void *arg)
{
    struct lapi *l = arg;
    struct ms *ms = dp_ms(l->n->dp);
    if (!ms || !l->n->nm.nregions) {
        json_err(req, 200, "usage", "no DERP map yet: the node is not up (weft up)");
        return;
    }
    struct waiter *w = waiter_new(l, W_NETCHECK);
    if (!w) {
        json_err(req, 500, "internal", "out of memory");
        return;
    }
    w->req = req;
    timer_init(&w->t, l->n->loop, NULL, NULL);
    if (ms_netcheck(ms, netcheck_done, w)) {
        w->kind = W_PING;
        waiter_free(w);
        json_err(req, 200, "usage", "a netcheck cannot start now (too many waiting)");
        return;
    }
    http_req_on_gone(req, req_gone, w);
}

/* ---- events ---- */

void lapi_notify(struct lapi *l, enum lapi_event ev, const char *text)
{
    if (!l)
        return;
    for (struct waiter *w = l->waiters, *next; w; w = next) {
        next = w->next;
        if (w->kind != W_UP)
            continue;
        switch (ev) {
        case LAPI_EV_STATE:
            /* Running with the home relay connected: peers can reach us as soon as `up` returns */
            if (l->n->state == NODE_RUNNING && dp_home_connected(l->n->dp)) {
                up_line(w, "State", "Running", NULL);
                up_end(w);
            } else if (strcmp(text, "Stopped") == 0) {
                up_line(w, "Error", "stopped (weft down)", "stopped");
                up_end(w);
            }
            break;
        case LAPI_EV_AUTH_URL:
            up_line(w, "AuthURL", text, NULL);
            break;
        case LAPI_EV_REFUSED: {
            char msg[700];
            snprintf(msg, sizeof msg, "login refused: %s", text);
            up_line(w, "Error", msg, "refused");
            up_end(w);
            break;
        }
        case LAPI_EV_CONTROL_ERROR:
            /* before the first map an outage fails `up` at once; the daemon keeps trying */
            if (l->n->state != NODE_RUNNING) {
                char msg[700];
                snprintf(msg, sizeof msg, "%s (the daemon keeps trying)", text);
                up_line(w, "Error", msg, "unreachable");
                up_end(w);
            }
            break;
        }
    }
}

/* ---- life ---- */

/* Someone answers on path: another daemon owns it. */
static int socket_alive(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int alive = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return alive;
}

static void mkdir_parent(const char *path)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = 0;
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    mkdir(dir, 0755);
}

struct lapi *lapi_new(struct node *n, const char *path, const char *group, char *err, size_t errlen)
{
    struct lapi *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->n = n;
    snprintf(l->path, sizeof l->path, "%s", path);
    if (socket_alive(path)) {
        snprintf(err, errlen, "another daemon answers on %s", path);
        free(l);
        return NULL;
    }
    gid_t gid = (gid_t)-1;
    if (group && *group) {
        struct group *g = getgrnam(group);
        if (!g) {
            snprintf(err, errlen, "no group '%s' (node.socket_group)", group);
            free(l);
            return NULL;
        }
        gid = g->gr_gid;
    }
    mkdir_parent(path);
    l->srv = http_server_new(n->loop);
    if (!l->srv) {
        snprintf(err, errlen, "cannot create the HTTP server");
        free(l);
        return NULL;
    }
    char addr[sizeof l->path + 8];
    snprintf(addr, sizeof addr, "unix:%s", path);
    struct http_listen_opts lo = {.mode = gid != (gid_t)-1 ? 0660 : 0600};
    if (http_listen(l->srv, addr, &lo, err, errlen) < 0) {
        http_server_free(l->srv);
        free(l);
        return NULL;
    }
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)
        log_warn("module=node event=localapi socket=%s error=\"chown: %s\"", path, strerror(errno));
    http_server_set_max_body(l->srv, 64 * 1024);
    http_route(l->srv, "/v1/status", 0, handle_status, l);
    http_route(l->srv, "/v1/up", 0, handle_up, l);
    http_route(l->srv, "/v1/down", 0, handle_down, l);
    http_route(l->srv, "/v1/logout", 0, handle_logout, l);
    http_route(l->srv, "/v1/ping", 0, handle_ping, l);
    http_route(l->srv, "/v1/netcheck", 0, handle_netcheck, l);
    return l;
}

void lapi_close(struct lapi *l)
{
    if (!l || !l->srv)
        return;
    /* waiters get their answer now: the daemon is going */
    for (struct waiter *w = l->waiters, *next; w; w = next) {
        next = w->next;
        if (w->kind == W_UP) {
            up_line(w, "Error", "the daemon is shutting down", "stopped");
            up_end(w);
        }
    }
    http_server_close(l->srv);
}

void lapi_free(struct lapi *l)
{
    if (!l)
        return;
    while (l->waiters) {
        struct waiter *w = l->waiters;
        if (w->kind == W_UP)
            http_reply_end(w->reply);
        waiter_free(w);
    }
    if (l->srv)
        http_server_free(l->srv); /* removes the socket file, if it is still ours */
    free(l);
}
