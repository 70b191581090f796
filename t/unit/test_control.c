// SPDX-License-Identifier: BSD-3-Clause
/* The control role's brain without the channel: registration flows, the first map, deltas, keep-alives,
 * ephemeral removal and a restart, over a real SQLite store and the real event loop. Streams are fake
 * sinks that decode what they get with the map stream decoder (zstd) and the tailcfg parser. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/cfgcheck.h"
#include "core/json/tailcfg.h"
#include "core/loop.h"
#include "core/wire/mapstream.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/dnsconf.h"
#include "modules/control/store.h"
#include "t/tap.h"

#define MAXMSG 256

struct sink {
    struct mapstream_dec dec;
    char *msg[MAXMSG];
    int n;
    int ended;
    uint64_t last_ms;
    struct loop *loop;
};

static int sink_write(void *h, const void *data, size_t len)
{
    struct sink *s = h;
    const uint8_t *p = data;
    while (len) {
        const uint8_t *m;
        size_t ml;
        long r = mapstream_dec_feed(&s->dec, p, len, &m, &ml);
        if (r < 0)
            return -1;
        p += r;
        len -= (size_t)r;
        if (m && s->n < MAXMSG) {
            s->msg[s->n++] = strndup((const char *)m, ml);
            s->last_ms = loop_update_now(s->loop);
        }
    }
    return 0;
}
static size_t sink_queued(void *h) { (void)h; return 0; }
static void sink_end(void *h) { ((struct sink *)h)->ended = 1; }
static const struct ctrl_sink_ops sink_ops = {sink_write, sink_queued, sink_end};

static void sink_init(struct sink *s, struct loop *l)
{
    memset(s, 0, sizeof *s);
    mapstream_dec_init(&s->dec, true, 0);
    s->loop = l;
}
static void sink_free(struct sink *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->msg[i]);
    mapstream_dec_free(&s->dec);
}

static struct loop *L;

/* Run the loop until s has want messages or ms pass; returns the ms waited. */
static uint64_t wait_msgs(struct sink *s, int want, int ms)
{
    uint64_t t0 = loop_update_now(L);
    while (s->n < want && loop_update_now(L) - t0 < (uint64_t)ms)
        loop_run_once(L, 10);
    return loop_update_now(L) - t0;
}
static void run_for(int ms)
{
    uint64_t t0 = loop_update_now(L);
    while (loop_update_now(L) - t0 < (uint64_t)ms)
        loop_run_once(L, 10);
}

static void hexkey(const uint8_t k[32], char out[65])
{
    sodium_bin2hex(out, 65, k, 32);
}

static char *reg_json(const uint8_t nk[32], const uint8_t *old, const char *authkey, const char *host,
                      const char *expiry, const char *followup)
{
    static char buf[2048];
    char nh[65], oh[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    hexkey(nk, nh);
    if (old)
        hexkey(old, oh);
    char auth[256] = "";
    if (authkey)
        snprintf(auth, sizeof auth, "\"Auth\":{\"AuthKey\":\"%s\"},", authkey);
    snprintf(buf, sizeof buf,
             "{\"Version\":97,\"NodeKey\":\"nodekey:%s\",\"OldNodeKey\":\"nodekey:%s\",%s\"Expiry\":\"%s\","
             "\"Followup\":\"%s\",\"Hostinfo\":{\"Hostname\":\"%s\",\"OS\":\"linux\"},\"NodeKeySignature\":null}",
             nh, oh, auth, expiry ? expiry : "0001-01-01T00:00:00Z", followup ? followup : "", host);
    return buf;
}

static const char *map_host = "x"; /* Hostinfo.Hostname the map requests of unknown keys carry */
static const char *map_routes = ""; /* more Hostinfo members (",\"RoutableIPs\":[...]") */
static struct ctrl *C;

static char *map_json(const uint8_t nk[32], const uint8_t dk[32], bool stream, bool omit, const char *eps,
                      int derp)
{
    static char buf[2048];
    /* a client reports the hostname it registered with (a changed one renames the node) */
    struct cnode *self = C ? ctrl_node_by_node_key(C, nk) : NULL;
    const char *host = self ? self->m.hostname : map_host;
    char nh[65], dh[65];
    hexkey(nk, nh);
    hexkey(dk, dh);
    char ni[128] = "";
    if (derp)
        snprintf(ni, sizeof ni, ",\"NetInfo\":{\"PreferredDERP\":%d}", derp);
    snprintf(buf, sizeof buf,
             "{\"Version\":97,\"Compress\":\"zstd\",\"KeepAlive\":true,\"NodeKey\":\"nodekey:%s\","
             "\"DiscoKey\":\"discokey:%s\",\"Stream\":%s,\"Hostinfo\":{\"Hostname\":\"%s\",\"OS\":\"linux\"%s%s}%s%s%s"
             "%s}",
             nh, dh, stream ? "true" : "false", host, map_routes, ni, eps ? ",\"Endpoints\":[" : "", eps ? eps : "", eps ? "]" : "",
             omit ? ",\"OmitPeers\":true" : "");
    return buf;
}

struct regres {
    int status;
    struct tc_register_response r;
    int parsed;
    char *body;
};

static void do_register(const uint8_t mk[32], const char *json, struct regres *out)
{
    struct reg_answer a;
    struct reg_waiter *w = NULL;
    memset(out, 0, sizeof *out);
    int rc = reg_handle(C, mk, 97, (const uint8_t *)json, strlen(json), &a, NULL, NULL, &w);
    if (rc != 0) {
        out->status = -1;
        return;
    }
    out->status = a.status;
    out->body = a.body;
    if (a.status == 200)
        out->parsed = !tc_register_response_parse(&out->r, a.body, a.len);
}
static void regres_free(struct regres *r)
{
    if (r->parsed)
        tc_register_response_clear(&r->r);
    free(r->body);
}

static struct ctrl_sess *open_stream(const uint8_t mk[32], const uint8_t nk[32], const uint8_t dk[32],
                                     struct sink *s)
{
    struct map_decision d;
    const char *j = map_json(nk, dk, true, false, NULL, 0);
    map_handle(C, mk, 97, (const uint8_t *)j, strlen(j), &d);
    if (d.kind != MAP_STREAM) {
        diag("map: status %d %.*s", d.status, (int)d.len, d.body ? (char *)d.body : "");
        free(d.body);
        return NULL;
    }
    return ctrl_sess_open(C, d.node, d.capver, d.compress, &sink_ops, s);
}

static int lite(const uint8_t mk[32], const uint8_t nk[32], const uint8_t dk[32], const char *eps, int derp)
{
    struct map_decision d;
    const char *j = map_json(nk, dk, false, true, eps, derp);
    map_handle(C, mk, 97, (const uint8_t *)j, strlen(j), &d);
    free(d.body);
    return d.kind == MAP_RESPOND ? d.status : -1;
}

struct waited {
    int called;
    int authorized;
};
static void followup_done(void *arg, const struct reg_answer *a)
{
    struct waited *w = arg;
    w->called++;
    w->authorized = a->status == 200 && strstr(a->body, "\"MachineAuthorized\":true") != NULL;
}

static int has(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

/* The autoApprovers hook (routes.h): approves 10.20.0.0/16 for every node, the exit routes for one. */
static int64_t approve_exit_for;
static int approver_calls;
static bool test_approver(void *arg, const struct cnode *n, const char *route)
{
    (void)arg;
    approver_calls++;
    if (!strcmp(route, "10.20.0.0/16"))
        return true;
    return n->m.id == approve_exit_for && (!strcmp(route, "0.0.0.0/0") || !strcmp(route, "::/0"));
}

static const char *strlist_text(const struct model_strlist *l, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", l->v[i]);
    return buf;
}

/* The id of the last PingRequest in s's messages into id (33 bytes), or "" */
static void last_probe_id(const struct sink *s, char *id)
{
    id[0] = 0;
    for (int i = 0; i < s->n; i++) {
        const char *p = strstr(s->msg[i], "/machine/ping-response?id=");
        if (p && strstr(s->msg[i], "\"KeepAlive\":true") && strstr(s->msg[i], "\"URLIsNoise\":true"))
            snprintf(id, PROBE_ID_LEN + 1, "%s", p + strlen("/machine/ping-response?id="));
    }
}

/* Health probes (probe.h): routers a (n[0]) and b (n[1], primary) share 10.20.0.0/16. */
static void test_probes(struct cnode **n, struct sink *s, uint8_t (*mk)[32])
{
    char ida[PROBE_ID_LEN + 1], idb[PROBE_ID_LEN + 1], q[64], buf[256];
    int before[2] = {s[0].n, s[1].n};
    probe_cycle(C);
    ok(s[0].n == before[0] + 1 && s[1].n == before[1] + 1, "a probe cycle: one message to each router");
    last_probe_id(&s[0], ida);
    last_probe_id(&s[1], idb);
    ok(strlen(ida) == PROBE_ID_LEN && strlen(idb) == PROBE_ID_LEN && strcmp(ida, idb),
       "a keep-alive with a PingRequest (URLIsNoise, its own random id) for each");
    snprintf(q, sizeof q, "id=%s", ida);
    ok(probe_answer(C, mk[1], q) == 404, "a's id answered over b's channel: 404");
    ok(probe_answer(C, mk[0], "id=00") == 404 && probe_answer(C, mk[0], "") == 404, "unknown ids: 404");
    ok(probe_answer(C, mk[0], q) == 200, "a answers its probe: 200");
    ok(probe_answer(C, mk[0], q) == 404, "once");
    probe_judge(C);
    ok(!n[0]->unhealthy && n[1]->unhealthy, "b did not answer: unhealthy, a is not");
    is_str(strlist_text(&n[0]->primary, buf, sizeof buf), "10.20.0.0/16", "the unhealthy primary's prefix goes to a");
    ok(n[1]->primary.n == 0 && n[1]->m.online, "b keeps its stream but is primary for nothing");
    probe_cycle(C);
    last_probe_id(&s[0], ida);
    last_probe_id(&s[1], idb);
    snprintf(q, sizeof q, "id=%s", idb);
    ok(probe_answer(C, mk[1], q) == 200 && !n[1]->unhealthy, "b answers the next probe: healthy again");
    ok(n[0]->primary.n == 1 && n[1]->primary.n == 0, "and a keeps the prefix (no flapping)");
    probe_judge(C);
    ok(n[0]->unhealthy && n[0]->primary.n == 0 && n[1]->primary.n == 1, "a does not answer: b is primary again");
    probe_cycle(C);
    probe_judge(C);
    ok(n[0]->unhealthy && n[1]->unhealthy && n[1]->primary.n == 1,
       "neither answers: the primary keeps the prefix (no healthy one to give it to)");
    probe_cycle(C);
    last_probe_id(&s[0], ida);
    snprintf(q, sizeof q, "id=%s", ida);
    probe_answer(C, mk[0], q);
    probe_judge(C);
    ok(!n[0]->unhealthy && n[0]->primary.n == 1 && n[1]->primary.n == 0, "a answers again: it takes over from b");
    last_probe_id(&s[1], idb); /* of the cycle just judged */
    snprintf(q, sizeof q, "id=%s", idb);
    n[1]->unhealthy = false;
    routes_node_update(C, n[1]);
    probe_cycle(C);
    ok(probe_answer(C, mk[1], q) == 404, "an answer to an earlier cycle's probe: 404");
    last_probe_id(&s[0], ida);
    snprintf(q, sizeof q, "id=%s", ida);
    probe_answer(C, mk[0], q);
    probe_judge(C);
    ok(n[1]->unhealthy, "and it does not count");
    n[1]->unhealthy = false; /* healthy again for what follows */
    routes_node_update(C, n[1]);
    ok(!n[0]->unhealthy && n[0]->primary.n == 1, "(a answered that one: still primary)");
}

/* Routes through map requests, the approval hook, and the primary election on stream ends. */
static void test_routes(const char *key)
{
    uint8_t mk[2][32], nk[2][32], dk[2][32];
    struct cnode *n[2];
    char buf[256];
    struct regres r;
    for (int i = 0; i < 2; i++) {
        randombytes_buf(mk[i], 32), randombytes_buf(nk[i], 32), randombytes_buf(dk[i], 32);
        do_register(mk[i], reg_json(nk[i], NULL, key, i ? "router-b" : "router-a", NULL, NULL), &r);
        regres_free(&r);
        n[i] = ctrl_node_by_node_key(C, nk[i]);
    }
    if (!ok(n[0] && n[1], "two routers registered"))
        return;
    approve_exit_for = n[0]->m.id;
    C->approver = (struct route_approver){test_approver, NULL};
    map_routes = ",\"RoutableIPs\":[\"10.20.0.0/16\",\"10.30.0.0/24\",\"0.0.0.0/0\",\"::/0\"]";
    for (int i = 0; i < 2; i++)
        ok(lite(mk[i], nk[i], dk[i], NULL, 0) == 200, "router %d advertises in a lite update", i);
    is_str(strlist_text(&n[0]->m.routes_advertised, buf, sizeof buf), "0.0.0.0/0,10.20.0.0/16,10.30.0.0/24,::/0",
       "advertised routes stored, sorted");
    is_str(strlist_text(&n[0]->m.routes_approved, buf, sizeof buf), "0.0.0.0/0,10.20.0.0/16,::/0",
       "the hook approved 10.20.0.0/16 and router a's exit routes");
    is_str(strlist_text(&n[1]->m.routes_approved, buf, sizeof buf), "10.20.0.0/16", "and router b's subnet only");
    ok(routes_is_exit(n[0]) && !routes_is_exit(n[1]), "a is an exit node, b is not");
    int calls = approver_calls;
    lite(mk[0], nk[0], dk[0], "\"10.0.0.1:41641\"", 0);
    ok(approver_calls == calls, "the same routes again: the hook is not asked again");
    ok(n[0]->primary.n == 0 && n[1]->primary.n == 0, "offline routers are primary for nothing");

    struct sink s[2];
    struct ctrl_sess *ss[2];
    for (int i = 0; i < 2; i++) {
        sink_init(&s[i], L);
        ss[i] = open_stream(mk[i], nk[i], dk[i], &s[i]);
    }
    is_str(strlist_text(&n[0]->primary, buf, sizeof buf), "10.20.0.0/16", "a came first: primary for 10.20.0.0/16");
    ok(n[1]->primary.n == 0, "b is not");
    size_t len;
    const char *pj = mapper_peer_json(C, n[0], &len);
    ok(has(pj, "\"PrimaryRoutes\":[\"10.20.0.0/16\"]") &&
           has(pj, "\"AllowedIPs\":[\"100.") && has(pj, "\"10.20.0.0/16\",\"0.0.0.0/0\",\"::/0\"]"),
       "a's entry: the subnet in AllowedIPs and PrimaryRoutes, the exit routes in AllowedIPs");
    const char *al = pj ? strstr(pj, "\"AllowedIPs\":[") : NULL;
    ok(al && !memmem(al, strcspn(al, "]"), "10.30.0.0/24", 12) && has(pj, "\"RoutableIPs\":[\"10.20.0.0/16\",\"10.30.0.0/24\""),
       "the unapproved 10.30.0.0/24 is in its Hostinfo.RoutableIPs only, never in AllowedIPs");
    ctrl_sess_end(ss[0]);
    is_str(strlist_text(&n[1]->primary, buf, sizeof buf), "10.20.0.0/16", "a's stream ends: b takes over");
    pj = mapper_peer_json(C, n[1], &len);
    ok(has(pj, "\"PrimaryRoutes\":[\"10.20.0.0/16\"]"), "b's entry carries it");
    ok(n[1]->pending & CH_FULL, "b is queued for its peers as a whole node");
    ss[0] = open_stream(mk[0], nk[0], dk[0], &s[0]);
    ok(n[0]->primary.n == 0 && n[1]->primary.n == 1, "a back: b stays primary");
    test_probes(n, s, mk);
    map_routes = ",\"RoutableIPs\":[\"0.0.0.0/0\"]";
    lite(mk[1], nk[1], dk[1], NULL, 0);
    ok(n[1]->m.routes_advertised.n == 0, "b withdraws its subnet (a lone 0.0.0.0/0 is ignored)");
    is_str(strlist_text(&n[0]->primary, buf, sizeof buf), "10.20.0.0/16", "a is primary again");
    ok(C->routes.n == 1 && C->routes.v[0].nnodes == 1, "the table: one prefix, one node");
    /* a new policy: what is advertised and unapproved is offered to the approver again */
    map_routes = ",\"RoutableIPs\":[\"10.40.0.0/24\"]";
    C->approver = (struct route_approver){NULL, NULL};
    lite(mk[1], nk[1], dk[1], NULL, 0);
    ok(!model_strlist_contains(&n[1]->m.routes_approved, "10.40.0.0/24"), "no approver: 10.40.0.0/24 waits");
    C->approver = (struct route_approver){test_approver, NULL};
    routes_auto_approve_all(C);
    ok(!model_strlist_contains(&n[1]->m.routes_approved, "10.40.0.0/24"), "an approver that refuses it: still waits");
    approve_exit_for = -1;
    struct model_strlist none = {0};
    routes_set_approved(C, n[0], &none);
    ok(!routes_is_exit(n[0]) && n[0]->primary.n == 0, "approvals withdrawn by hand: a is neither exit nor primary");
    routes_auto_approve_all(C);
    is_str(strlist_text(&n[0]->m.routes_approved, buf, sizeof buf), "10.20.0.0/16",
           "routes_auto_approve_all: the approver approves a's subnet again (not its exit routes)");
    is_str(strlist_text(&n[0]->primary, buf, sizeof buf), "10.20.0.0/16", "and a is primary again");
    map_routes = "";
    for (int i = 0; i < 2; i++) {
        if (ss[i])
            ctrl_sess_end(ss[i]);
        sink_free(&s[i]);
    }
    C->approver = (struct route_approver){NULL, NULL};
}

int main(void)
{
    char dir[] = "/tmp/weft-test-control.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char dbpath[256], err[512];
    snprintf(dbpath, sizeof dbpath, "%s/control.db", dir);
    L = loop_new();
    struct store *st = store_open(dbpath, true, err, sizeof err);
    ok(st != NULL, "store opens: %s", st ? "" : err);
    struct model_user alice = {0};
    model_strlcpy(alice.name, "alice", sizeof alice.name);
    is_int(store_user_create(st, &alice), 0, "user alice");

    char reusable[AUTHKEY_TEXT_LEN + 1], single[AUTHKEY_TEXT_LEN + 1], expired[AUTHKEY_TEXT_LEN + 1],
        eph[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey k;
    is_int(authkey_create(st, alice.id, true, false, 0, NULL, NULL, reusable, &k), 0, "reusable key");
    model_authkey_clear(&k);
    is_int(authkey_create(st, alice.id, false, false, 0, NULL, NULL, single, &k), 0, "single-use key");
    model_authkey_clear(&k);
    is_int(authkey_create(st, alice.id, true, false, ctrl_now() - 10, NULL, NULL, expired, &k), 0, "expired key");
    model_authkey_clear(&k);
    is_int(authkey_create(st, alice.id, true, true, 0, NULL, NULL, eph, &k), 0, "ephemeral key");
    model_authkey_clear(&k);

    struct control_conf conf;
    memset(&conf, 0, sizeof conf);
    conf.server_url = "http://127.0.0.1:18080";
    conf.dns.base_domain = "example.com";
    conf.dns.magic_dns = 1;
    conf.prefix_v4 = "100.64.0.0/10";
    conf.prefix_v6 = "fd7a:115c:a1e0::/48";
    conf.ephemeral_timeout = 300;
    conf.keepalive = 400;
    conf.batch_delay = 50;
    conf.derp_region_id = 999;
    C = ctrl_new(&conf, L, st, true, 3478, err, sizeof err);
    ok(C != NULL, "ctrl starts: %s", C ? "" : err);

    uint8_t mk1[32], nk1[32], dk1[32], mk2[32], nk2[32], dk2[32], mk3[32], nk3[32];
    randombytes_buf(mk1, 32), randombytes_buf(nk1, 32), randombytes_buf(dk1, 32);
    randombytes_buf(mk2, 32), randombytes_buf(nk2, 32), randombytes_buf(dk2, 32);
    randombytes_buf(mk3, 32), randombytes_buf(nk3, 32);

    /* A: pre-auth key */
    struct regres r;
    do_register(mk1, reg_json(nk1, NULL, reusable, "Node One", NULL, NULL), &r);
    is_int(r.status, 200, "register with a pre-auth key: 200");
    ok(r.parsed && r.r.machine_authorized && !r.r.node_key_expired, "MachineAuthorized, not expired");
    ok(r.parsed && r.r.user.id == alice.id && !strcmp(r.r.login.login_name, "alice"), "User and Login are alice");
    ok(r.parsed && !(r.r.auth_url && *r.r.auth_url) && !(r.r.error && *r.r.error), "no AuthURL, no Error");
    regres_free(&r);

    /* the first map */
    struct sink s1;
    sink_init(&s1, L);
    struct ctrl_sess *ss1 = open_stream(mk1, nk1, dk1, &s1);
    ok(ss1 != NULL && s1.n == 1, "stream opens with one message");
    struct tc_map_response m;
    int parsed = s1.n && !tc_map_response_parse(&m, s1.msg[0], strlen(s1.msg[0]));
    ok(parsed, "first message is a MapResponse (zstd, LE length)");
    if (parsed) {
        ok(m.node && m.node->machine_authorized, "Node.MachineAuthorized");
        is_str(m.node ? m.node->name : "", "node-one.example.com.", "Node.Name is the FQDN with a trailing dot");
        ok(m.node && m.node->addresses.n == 2 && !strcmp(m.node->addresses.v[0], "100.64.0.1/32") &&
               !strcmp(m.node->addresses.v[1], "fd7a:115c:a1e0::1/128"),
           "Node.Addresses are host prefixes");
        ok(m.derp_map && m.derp_map->nregions == 1 && m.derp_map->regions[0].region_id == 999 &&
               !strcmp(m.derp_map->regions[0].nodes[0].host_name, "127.0.0.1") &&
               m.derp_map->regions[0].nodes[0].derp_port == 18080,
           "DERPMap: region 999 at the server_url's host and port");
        ok(m.peers.n == 0 && !has(s1.msg[0], "\"Peers\""), "alone: no Peers key");
        ok(m.dns_config && m.dns_config->proxied && m.dns_config->domains.n == 1 &&
               !strcmp(m.dns_config->domains.v[0], "example.com"),
           "DNSConfig: MagicDNS on, base domain as search domain");
        ok(has(s1.msg[0], "\"64.100.in-addr.arpa\":[]") && has(s1.msg[0], "\"0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa\":[]"),
           "DNSConfig.Routes: reverse zones of the tailnet");
        ok(has(s1.msg[0], "\"PacketFilters\":{\"base\":[{\"SrcIPs\":[\"*\"],\"DstPorts\":[{\"IP\":\"*\","
                          "\"Ports\":{\"First\":0,\"Last\":65535}}]}]}"),
           "PacketFilters: explicit allow-all");
        ok(m.nuser_profiles == 1 && !strcmp(m.user_profiles[0].login_name, "alice"), "UserProfiles: alice");
        is_str(m.domain ? m.domain : "", "127.0.0.1", "Domain is the server_url host");
        ok(m.collect_services == TC_FALSE && has(s1.msg[0], "\"Debug\":{\"DisableLogTail\":true}"),
           "CollectServices false, Debug.DisableLogTail");
        ok(has(s1.msg[0], "\"CapMap\":{\"https://tailscale.com/cap/file-sharing\":[]"), "self CapMap");
        ok(has(s1.msg[0], "\"DERP\":\"127.3.3.40:0\""), "legacy DERP for a cap-97 client");
        tc_map_response_clear(&m);
    }

    /* a second node's registration reaches the first stream as a delta */
    do_register(mk2, reg_json(nk2, NULL, reusable, "node2", NULL, NULL), &r);
    is_int(r.status, 200, "second node registers");
    regres_free(&r);
    uint64_t waited = wait_msgs(&s1, 2, 2000);
    ok(s1.n == 2 && waited < 1000, "delta on the first stream within 1 s (%llu ms)", (unsigned long long)waited);
    parsed = s1.n >= 2 && !tc_map_response_parse(&m, s1.msg[1], strlen(s1.msg[1]));
    if (parsed) {
        ok(m.peers_changed.n == 1 && m.peers_changed.v[0].id == 2 && !m.node,
           "PeersChanged: node 2, no Node, no Peers");
        ok(m.peers_changed.n == 1 && !strcmp(m.peers_changed.v[0].name, "node2.example.com.") &&
               m.peers_changed.v[0].online == TC_FALSE,
           "the new peer's name; offline until it polls");
        tc_map_response_clear(&m);
    } else {
        ok(0, "delta parses");
        ok(0, "delta parses");
    }

    /* the second node polls: first stream sees it online; its map has the first as a peer */
    struct sink s2;
    sink_init(&s2, L);
    map_host = "node2";
    struct ctrl_sess *ss2 = open_stream(mk2, nk2, dk2, &s2);
    ok(ss2 != NULL && s2.n == 1, "second stream opens");
    parsed = s2.n && !tc_map_response_parse(&m, s2.msg[0], strlen(s2.msg[0]));
    if (parsed) {
        ok(m.peers.n == 1 && m.peers.v[0].id == 1 && m.peers.v[0].online == TC_TRUE, "Peers: node 1, online");
        ok(m.peers.n == 1 && !memcmp(m.peers.v[0].disco_key.b, dk1, 32), "peer DiscoKey from its map request");
        tc_map_response_clear(&m);
    } else {
        ok(0, "second map parses");
        ok(0, "second map parses");
    }
    wait_msgs(&s1, 3, 2000);
    ok(s1.n >= 3 && has(s1.msg[2], "\"OnlineChange\":{\"2\":true}"), "OnlineChange to the first stream");
    ok(s1.n >= 3 && has(s1.msg[2], "\"PeersChangedPatch\":[{\"NodeID\":2,\"DiscoKey\":\"discokey:"),
       "disco key as a patch");

    /* lite update with endpoints: a patch, not a whole node */
    is_int(lite(mk2, nk2, dk2, "\"203.0.113.5:41641\",\"10.0.0.2:41641\"", 999), 200, "lite update: 200");
    wait_msgs(&s1, 4, 2000);
    ok(s1.n >= 4 && has(s1.msg[3], "\"PeersChangedPatch\":[{\"NodeID\":2,\"DERPRegion\":999,"
                                   "\"Endpoints\":[\"203.0.113.5:41641\",\"10.0.0.2:41641\"]}]"),
       "endpoints and home DERP as PeersChangedPatch");
    ok(s1.n >= 4 && !has(s1.msg[3], "\"PeersChanged\""), "no whole node for an endpoint change");
    int s2n = s2.n;
    ok(s2n == 1, "the node that changed gets nothing about itself");

    /* keep-alives */
    int before = s1.n;
    run_for(650);
    ok(s1.n > before && !strcmp(s1.msg[s1.n - 1], "{\"KeepAlive\":true}"), "keep-alive on a quiet stream");

    /* refusals */
    do_register(mk3, reg_json(nk3, NULL, "weft-auth-000000000000000000000000000000000000000000000000", "x",
                              NULL, NULL), &r);
    ok(r.parsed && r.r.error && *r.r.error && !r.r.machine_authorized, "unknown key refused: %s", r.parsed ? r.r.error : "");
    regres_free(&r);
    do_register(mk3, reg_json(nk3, NULL, expired, "x", NULL, NULL), &r);
    ok(r.parsed && r.r.error && !r.r.machine_authorized, "expired key refused: %s", r.parsed ? r.r.error : "");
    regres_free(&r);
    do_register(mk3, reg_json(nk3, NULL, single, "x", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "single-use key works once");
    regres_free(&r);
    uint8_t mk4[32], nk4[32];
    randombytes_buf(mk4, 32), randombytes_buf(nk4, 32);
    do_register(mk4, reg_json(nk4, NULL, single, "y", NULL, NULL), &r);
    ok(r.parsed && r.r.error && !r.r.machine_authorized, "spent single-use key refused: %s",
       r.parsed ? r.r.error : "");
    regres_free(&r);
    do_register(mk3, reg_json(nk3, NULL, single, "x", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "the same machine and key again with its spent key: accepted");
    regres_free(&r);
    do_register(mk4, reg_json(nk1, NULL, reusable, "y", NULL, NULL), &r);
    is_int(r.status, 401, "a node key registered under another machine key: 401");
    regres_free(&r);
    {
        struct map_decision d;
        const char *j = map_json(nk1, dk1, true, false, NULL, 0);
        map_handle(C, mk4, 97, (const uint8_t *)j, strlen(j), &d);
        ok(d.kind == MAP_RESPOND && d.status == 401, "map poll with another machine's node key: 401");
        free(d.body);
    }

    /* C: re-login without auth */
    do_register(mk1, reg_json(nk1, NULL, NULL, "Node One", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized && !(r.r.auth_url && *r.r.auth_url),
       "known node key, no auth: authorized at once");
    regres_free(&r);

    /* B: interactive */
    uint8_t mk5[32], nk5[32];
    randombytes_buf(mk5, 32), randombytes_buf(nk5, 32);
    do_register(mk5, reg_json(nk5, NULL, NULL, "laptop", NULL, NULL), &r);
    ok(r.parsed && r.r.auth_url && !strncmp(r.r.auth_url, "http://127.0.0.1:18080/register/", 32) &&
           !r.r.machine_authorized,
       "unknown node, no auth: AuthURL %s", r.parsed && r.r.auth_url ? r.r.auth_url : "");
    char url[256] = "";
    if (r.parsed && r.r.auth_url)
        snprintf(url, sizeof url, "%s", r.r.auth_url);
    regres_free(&r);
    struct waited wt = {0};
    struct reg_answer a;
    struct reg_waiter *w = NULL;
    const char *fj = reg_json(nk5, NULL, NULL, "laptop", NULL, url);
    int rc = reg_handle(C, mk5, 97, (const uint8_t *)fj, strlen(fj), &a, followup_done, &wt, &w);
    is_int(rc, 1, "the Followup request waits");
    const char *authid = strrchr(url, '/') ? strrchr(url, '/') + 1 : "";
    ok(reg_pending_info(C, authid, NULL, 0), "pending registration is known by its id");
    ok(reg_approve(C, authid, "nobody", err, sizeof err) < 0, "approving for an unknown user fails: %s", err);
    ok(reg_approve(C, authid, "alice", err, sizeof err) > 0, "weft nodes register approves");
    ok(wt.called == 1 && wt.authorized, "the waiting request is answered: MachineAuthorized");
    ok(ctrl_node_by_node_key(C, nk5) != NULL, "the node exists");

    /* E: key rotation keeps ID, addresses, name */
    struct cnode *n1 = ctrl_node_by_node_key(C, nk1);
    int64_t id1 = n1->m.id;
    uint8_t v4[4];
    memcpy(v4, n1->m.ipv4, 4);
    uint8_t nk1b[32];
    randombytes_buf(nk1b, 32);
    do_register(mk1, reg_json(nk1b, nk1, reusable, "Node One", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "rotation with OldNodeKey and a key: authorized");
    regres_free(&r);
    struct cnode *n1b = ctrl_node_by_node_key(C, nk1b);
    ok(n1b && n1b->m.id == id1 && !memcmp(n1b->m.ipv4, v4, 4) && !strcmp(n1b->m.given_name, "node-one"),
       "same node ID, address and name under the new key");
    ok(s1.ended, "the stream under the old key is ended");
    int s2before = s2.n;
    wait_msgs(&s2, s2before + 1, 2000);
    ok(s2.n > s2before && has(s2.msg[s2.n - 1], "\"PeersChanged\":[{\"ID\":1,"), "peers get the rotated node");

    /* D: logout of node 2 reaches node 1's new stream */
    struct sink s1b;
    sink_init(&s1b, L);
    ss1 = open_stream(mk1, nk1b, dk1, &s1b);
    ok(ss1 != NULL, "stream under the new key");
    run_for(100);
    int nb = s1b.n;
    do_register(mk2, reg_json(nk2, NULL, NULL, "node2", "1970-01-01T00:02:03Z", NULL), &r);
    ok(r.parsed && r.r.node_key_expired, "logout: NodeKeyExpired");
    regres_free(&r);
    wait_msgs(&s1b, nb + 1, 2000);
    ok(s1b.n > nb && has(s1b.msg[s1b.n - 1], "\"ID\":2,") && has(s1b.msg[s1b.n - 1], "\"Expired\":true"),
       "peers see the logged-out node expired");
    ok(s2.ended, "the logged-out node's stream is ended");
    {
        struct map_decision d;
        const char *j = map_json(nk2, dk2, true, false, NULL, 0);
        map_handle(C, mk2, 97, (const uint8_t *)j, strlen(j), &d);
        ok(d.kind == MAP_RESPOND && d.status == 200 && d.len > 4, "an expired node's poll gets one map");
        free(d.body);
    }

    /* G: ephemeral nodes go after the grace period offline */
    uint8_t mk6[32], nk6[32], dk6[32];
    randombytes_buf(mk6, 32), randombytes_buf(nk6, 32), randombytes_buf(dk6, 32);
    do_register(mk6, reg_json(nk6, NULL, eph, "ephemeral", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "ephemeral node registers");
    regres_free(&r);
    struct sink s6;
    sink_init(&s6, L);
    struct ctrl_sess *ss6 = open_stream(mk6, nk6, dk6, &s6);
    ok(ss6 != NULL, "ephemeral node polls");
    struct cnode *n6 = ctrl_node_by_node_key(C, nk6);
    int64_t id6 = n6 ? n6->m.id : 0;
    ctrl_sess_gone(ss6);
    run_for(150);
    ok(ctrl_node_by_node_key(C, nk6) != NULL, "still there within the grace period");
    nb = s1b.n;
    run_for(400);
    ok(ctrl_node_by_node_key(C, nk6) == NULL, "removed after it");
    char want[64];
    snprintf(want, sizeof want, "\"PeersRemoved\":[%lld]", (long long)id6);
    int seen = 0;
    for (int i = nb; i < s1b.n; i++)
        seen |= has(s1b.msg[i], want);
    ok(seen, "peers get PeersRemoved");
    struct model_node tmp;
    ok(store_node_get_by_id(st, id6, &tmp) == STORE_NOTFOUND, "deleted from the store");

    /* A user's first node: the delta its peers get carries that user's profile only (clients upsert
     * UserProfiles by ID, spec netmap.md), not every user's. Regression (6df1a58): every message of a
     * join's batch carried every profile, which made admission quadratic. */
    struct model_user bob = {0};
    model_strlcpy(bob.name, "bob", sizeof bob.name);
    is_int(store_user_create(st, &bob), 0, "user bob");
    char bobkey[AUTHKEY_TEXT_LEN + 1];
    is_int(authkey_create(st, bob.id, true, false, 0, NULL, NULL, bobkey, &k), 0, "bob's key");
    model_authkey_clear(&k);
    is_int(ctrl_users_reload(C), 0, "users reloaded");
    fanout_flush(C); /* the reload's batch (every profile, as after a rename) goes first */
    nb = s1b.n;
    uint8_t mk8[32], nk8[32];
    randombytes_buf(mk8, 32), randombytes_buf(nk8, 32);
    do_register(mk8, reg_json(nk8, NULL, bobkey, "bob-laptop", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "bob's first node registers");
    regres_free(&r);
    struct cnode *n8 = ctrl_node_by_node_key(C, nk8);
    int found = -1;
    uint64_t tw = loop_update_now(L);
    for (int i = nb; found < 0 && n8 && loop_update_now(L) - tw < 2000;) {
        loop_run_once(L, 10);
        for (; i < s1b.n && found < 0; i++)
            if (has(s1b.msg[i], "\"PeersChanged\"") && has(s1b.msg[i], "bob-laptop"))
                found = i;
    }
    parsed = found >= 0 && !tc_map_response_parse(&m, s1b.msg[found], strlen(s1b.msg[found]));
    ok(parsed && m.nuser_profiles == 1 && m.user_profiles[0].id == bob.id &&
           !strcmp(m.user_profiles[0].login_name, "bob"),
       "the delta with bob's first node carries bob's profile only (%zu profiles)", parsed ? m.nuser_profiles : 0);
    if (parsed)
        tc_map_response_clear(&m);
    ok(n8 && ctrl_node_remove(C, n8, true) == 0, "bob's node removed (the rest of the test counts alice's)");
    fanout_flush(C);

    /* restart: state survives */
    size_t nn = C->nnodes;
    ctrl_free(C);
    store_close(st);
    sink_free(&s1);
    sink_free(&s1b);
    sink_free(&s2);
    sink_free(&s6);
    st = store_open(dbpath, true, err, sizeof err);
    /* control.dns in full for the restarted server: nameservers as a fallback (override_local_dns off),
     * split DNS, an inline record and a watched file of records */
    char recfile[300];
    snprintf(recfile, sizeof recfile, "%s/records", dir);
    FILE *rf = fopen(recfile, "w");
    fputs("# test records\nwiki.example.com CNAME grafana.example.com.\n", rf);
    fclose(rf);
    char *ns[] = {"10.0.0.1", "https://doh.example/dns-query"}, *inl[] = {"grafana.example.com A 100.64.0.7"};
    char *rkeys[] = {"corp.example"};
    char *corp[] = {"10.0.0.53"};
    struct cfg_list rvals[] = {{corp, 1}};
    conf.dns.nameservers = (struct cfg_list){ns, 2};
    conf.dns.extra_records = (struct cfg_list){inl, 1};
    conf.dns.routes = (struct cfg_map){rkeys, rvals, 1};
    conf.dns.extra_records_file = recfile;
    conf.dns.override_local_dns = 0;
    C = st ? ctrl_new(&conf, L, st, true, 3478, err, sizeof err) : NULL;
    ok(C && C->nnodes == nn, "after a restart the same %zu nodes", nn);
    n1b = C ? ctrl_node_by_node_key(C, nk1b) : NULL;
    ok(n1b && n1b->m.id == id1 && !memcmp(n1b->m.ipv4, v4, 4), "with their IDs and addresses");
    uint8_t mk7[32], nk7[32];
    randombytes_buf(mk7, 32), randombytes_buf(nk7, 32);
    do_register(mk7, reg_json(nk7, NULL, reusable, "Node One", NULL, NULL), &r);
    ok(r.parsed && r.r.machine_authorized, "a new node after the restart");
    regres_free(&r);
    struct cnode *n7 = C ? ctrl_node_by_node_key(C, nk7) : NULL;
    ok(n7 && !strcmp(n7->m.given_name, "node-one-1") && memcmp(n7->m.ipv4, v4, 4),
       "gets a fresh name and address (%s)", n7 ? n7->m.given_name : "");
    test_routes(reusable);

    /* its map: the DNSConfig of control.dns */
    uint8_t dk7[32];
    randombytes_buf(dk7, 32);
    struct sink s7;
    sink_init(&s7, L);
    map_host = "Node One";
    struct ctrl_sess *ss7 = open_stream(mk7, nk7, dk7, &s7);
    ok(ss7 && s7.n == 1, "a stream for the new node");
    const char *m7 = s7.n ? s7.msg[0] : "";
    ok(has(m7, "\"FallbackResolvers\":[{\"Addr\":\"10.0.0.1\"},{\"Addr\":\"https://doh.example/dns-query\"}]") &&
           !has(m7, "\"Resolvers\":[{"),
       "without override_local_dns the nameservers (an IP, a DoH URL) are FallbackResolvers");
    ok(has(m7, "\"corp.example\":[{\"Addr\":\"10.0.0.53\"}]") && has(m7, "\"64.100.in-addr.arpa\":[]"),
       "Routes: the split domain with its resolver, and the reverse zones");
    ok(has(m7, "{\"Name\":\"grafana.example.com\",\"Type\":\"A\",\"Value\":\"100.64.0.7\"}") &&
           has(m7, "{\"Name\":\"wiki.example.com\",\"Type\":\"CNAME\",\"Value\":\"grafana.example.com.\"}"),
       "ExtraRecords: the inline record and the file's");
    /* the file changes: every node gets the new DNSConfig as a delta */
    usleep(20000); /* a new mtime even on coarse clocks */
    rf = fopen(recfile, "w");
    fputs("wiki.example.com CNAME grafana.example.com.\nnas.example.com AAAA fd7a:115c:a1e0::99\n", rf);
    fclose(rf);
    int got = -1;
    uint64_t t0 = loop_update_now(L);
    for (int i = 1; got < 0 && loop_update_now(L) - t0 < 5000;) {
        loop_run_once(L, 10);
        for (; i < s7.n && got < 0; i++)
            if (has(s7.msg[i], "\"DNSConfig\""))
                got = i;
    }
    ok(got > 0 && has(s7.msg[got], "\"Name\":\"nas.example.com\",\"Type\":\"AAAA\"") &&
           has(s7.msg[got], "grafana.example.com"),
       "a changed records file reaches the node as a delta with the whole DNSConfig (%llu ms)",
       (unsigned long long)(loop_update_now(L) - t0));
    /* a bad file: reported, the nodes keep what they have */
    int n_before = s7.n;
    rf = fopen(recfile, "w");
    fputs("nas.example.com AAAA fd7a:115c:a1e0::99\nbad.example.com A 300.1.1.1\n", rf);
    fclose(rf);
    run_for(2500);
    bool dns_again = false;
    for (int i = n_before; i < s7.n; i++)
        dns_again |= has(s7.msg[i], "\"DNSConfig\"");
    ok(!dns_again && has(C->dns_json, "nas.example.com") && has(C->dns_json, "grafana.example.com"),
       "a bad records file changes nothing");
    char cerr[512];
    /* check-config's share (control's check hook): the records file, records outside every domain */
    struct cfg_section sec = {"control", NULL, sizeof conf, &conf};
    struct cfg_errors ce = {0};
    char *inl2[] = {"grafana.example.com A 100.64.0.7", "x.elsewhere.org A 1.2.3.4", "a.corp.example TXT hello world",
                    "b.example.com fd7a:115c:a1e0::5"};
    conf.dns.extra_records = (struct cfg_list){inl2, 4};
    dnsconf_check(&sec, &ce);
    ok(ce.count == 2 && strstr(ce.text, "/records:2:19: '300.1.1.1' is not an IPv4 address"),
       "check-config names the records file's line and column");
    ok(ce.text && strstr(ce.text, "control.dns.extra_records: x.elsewhere.org is outside every configured domain"),
       "a record outside every configured domain is refused (records under a split domain, without a type: fine)");
    if (ce.count != 2)
        diag("%s", ce.text ? ce.text : "");
    cfg_errors_free(&ce);
    conf.dns.extra_records = (struct cfg_list){inl, 1};
    ok(dnsconf_check_record("grafana.example.com A 300.1.1.1", cerr, sizeof cerr) &&
           !dnsconf_check_record("x.elsewhere.org A 1.2.3.4", cerr, sizeof cerr),
       "a record's own check: its form, not its domain (the hook sees the domains)");
    static const char *const good[] = {"10.0.0.1", "10.0.0.1:5353", "[fd00::1]:53", "fd00::1", "https://d.example/q"};
    static const char *const bad[] = {"10.0.0", "10.0.0.1:0", "10.0.0.1:x", "fd00::1:53:", "https://", "tls://x",
                                      "dns.example"};
    int goods = 0, bads = 0;
    for (size_t i = 0; i < 5; i++)
        goods += !cfg_check_nameserver(good[i], cerr, sizeof cerr);
    for (size_t i = 0; i < 7; i++)
        bads += cfg_check_nameserver(bad[i], cerr, sizeof cerr) != NULL;
    ok(goods == 5 && bads == 7, "nameservers: IP, IP:PORT, [IPv6]:PORT, https:// (%d of 5); not others (%d of 7)",
       goods, bads);
    sink_free(&s7);

    ctrl_free(C);
    store_close(st);
    loop_free(L);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        return 1;
    done_testing();
}
