// SPDX-License-Identifier: BSD-3-Clause
/* The node's netmap against real MapResponses (headscale v0.26.1 captures: node1's first map alone, node2
 * joining, node2's endpoints; node3's first map with two peers) and synthetic deltas: which callbacks fire,
 * with what, and what the map holds after. Also the DERP URL rule, the backoff and rotation timings, and
 * the prefix helpers of core/netlink. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/tailcfg.h"
#include "core/netlink.h"
#include "modules/node/ctl.h"
#include "modules/node/derpmux.h"
#include "modules/node/netmap.h"
#include "t/tap.h"

struct rec {
    int added, changed, removed, self, derp;
    unsigned last_what, self_what;
    int64_t last_id;
    struct key old_key;
    char log[1024];
};

static void note(struct rec *r, char what, long long id)
{
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, "%c%lld ", what, id);
}

static void on_added(void *arg, struct nm_node *p)
{
    struct rec *r = arg;
    r->added++;
    r->last_id = p->id;
    note(r, '+', (long long)p->id);
}

static void on_changed(void *arg, struct nm_node *p, unsigned what, const struct key *old)
{
    struct rec *r = arg;
    r->changed++;
    r->last_id = p->id;
    r->last_what = what;
    r->old_key = *old;
    note(r, '~', (long long)p->id);
}

static void on_removed(void *arg, struct nm_node *p)
{
    struct rec *r = arg;
    r->removed++;
    r->last_id = p->id;
    note(r, '-', (long long)p->id);
}

static void on_self(void *arg, struct nm_node *self, unsigned what)
{
    struct rec *r = arg;
    r->self++;
    r->self_what = what;
}

static void on_derp(void *arg, struct netmap *nm)
{
    struct rec *r = arg;
    r->derp++;
}

static const struct netmap_ops ops = {on_added, on_changed, on_removed, on_self, on_derp};

static char *slurp(const char *name, size_t *len)
{
    const char *dir = getenv("WEFT_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/t/data/captures/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Parse a MapResponse (a capture file name, or JSON text when it starts with '{') and apply it. */
static int apply(struct netmap *nm, struct rec *r, const char *what)
{
    size_t len;
    char *json = what[0] == '{' ? strdup(what) : slurp(what, &len);
    if (!json) {
        diag("cannot read %s", what);
        return -2;
    }
    len = strlen(json);
    struct tc_map_response m;
    memset(&m, 0, sizeof m);
    int rc = tc_map_response_parse(&m, json, len);
    if (rc == 0) {
        char err[128] = "";
        memset(r, 0, sizeof *r);
        rc = netmap_apply(nm, &m, 1000000, &ops, r, err, sizeof err);
        if (rc)
            diag("apply: %s", err);
    } else {
        diag("parse: %s", m.doc.error ? m.doc.error : "?");
        rc = -3;
    }
    tc_map_response_clear(&m);
    free(json);
    return rc;
}

static const char *pfx(const struct nl_prefix *p, char *buf)
{
    return nl_prefix_format(p, 1, buf, 64);
}

static void test_node1_stream(void)
{
    struct netmap nm;
    netmap_init(&nm);
    struct rec r;
    char b[64];

    ok(apply(&nm, &r, "{\"DNSConfig\":{}}") == -1, "a first map without Node is refused");
    ok(!nm.have_self, "and nothing is applied");

    ok(apply(&nm, &r, "map-response-first-alone.json") == 0, "node1's first map (alone) applies");
    is_int(nm.self.id, 1, "self ID");
    is_str(nm.self.name, "node1.example.com.", "self FQDN with its trailing dot");
    is_int((long long)nm.self.naddrs, 2, "two self addresses");
    is_str(pfx(&nm.self.addrs[0], b), "100.64.0.1/32", "IPv4 host prefix");
    is_str(pfx(&nm.self.addrs[1], b), "fd7a:115c:a1e0::1/128", "IPv6 host prefix");
    is_int(r.self, 1, "self_changed once");
    ok(r.self_what & NM_ADDRS, "with the addresses");
    is_int((long long)nm.npeers, 0, "no peers");
    is_int(r.derp, 1, "derp_map_changed once");
    is_int((long long)nm.nregions, 1, "one DERP region");
    is_int(nm.regions[0].id, 999, "region 999");
    is_str(nm.regions[0].code, "headscale", "its code");
    is_str(nm.regions[0].nodes[0].host, "127.0.0.1", "its relay's host");
    is_int(nm.regions[0].nodes[0].derp_port, 18080, "and port");
    const struct nm_user *u = netmap_user(&nm, nm.self.user);
    is_str(u ? u->login_name : NULL, "alice", "the self user's login name");
    is_str(nm.domain, "127.0.0.1", "domain (headscale sent its server host)");

    ok(apply(&nm, &r, "map-response-delta-peer-joined.json") == 0, "node2 joins (PeersChanged)");
    is_int(r.added, 1, "peer_added once");
    is_int(r.changed + r.removed, 0, "nothing else");
    is_int(r.derp, 0, "the DERP map is unchanged (absent)");
    struct nm_node *p = netmap_peer_by_id(&nm, 2);
    ok(p != NULL, "peer 2 is in the map");
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", p->key.b[i]);
    is_str(hex, "59984ec039f8a1a2398a0e9602cc48b918b286b73990665ed7a23b5f1169a422", "its node key");
    is_int((long long)p->nallowed, 2, "its allowed IPs");
    is_str(pfx(&p->allowed[0], b), "100.64.0.2/32", "= its addresses");
    is_int(p->online, 1, "online");
    is_int(p->home_derp, 0, "no home region yet (HomeDERP absent, legacy DERP 127.3.3.40:0)");
    is_str(p->hostname, "node2", "Hostinfo hostname");
    is_int(r.self, 1, "self changed too (HomeDERP learnt)");
    ok(r.self_what & NM_DERP, "its home region");

    ok(apply(&nm, &r, "map-response-delta-peer-endpoints.json") == 0, "node2's endpoints arrive");
    is_int(r.changed, 1, "peer_changed once");
    ok(r.last_what & NM_ENDPOINTS, "with the endpoints");
    ok(r.last_what & NM_DERP, "and the home region");
    is_int(p->home_derp, 999, "now 999");
    ok(!(r.last_what & (NM_KEY | NM_ADDRS)), "key and addresses unchanged");
    is_int((long long)p->nendpoints, 2, "two endpoints");
    is_str(p->endpoints[0], "127.0.0.1:56763", "the first");
    ok(netmap_peer_by_id(&nm, 2) == p, "the peer object stays put");

    /* patches: a key rotation, online, DERP region */
    ok(apply(&nm, &r,
             "{\"PeersChangedPatch\":[{\"NodeID\":2,\"Key\":\"nodekey:"
             "0101010101010101010101010101010101010101010101010101010101010101\",\"DERPRegion\":900}]}") ==
           0,
       "PeersChangedPatch: new key and region");
    is_int(r.changed, 1, "peer_changed once");
    ok((r.last_what & (NM_KEY | NM_DERP)) == (NM_KEY | NM_DERP), "NM_KEY | NM_DERP");
    is_hex(r.old_key.b, 4, "59984ec0", "the old key is passed along");
    is_int(p->key.b[0], 1, "the new key is in place");
    is_int(p->home_derp, 900, "the new region");
    ok(apply(&nm, &r, "{\"PeersChangedPatch\":[{\"NodeID\":77,\"DERPRegion\":1}]}") == 0 && r.changed == 0,
       "a patch for an unknown ID is ignored");
    /* node capabilities (the packet filter's "cap:" sources): CapMap keys, patched */
    ok(apply(&nm, &r,
             "{\"PeersChangedPatch\":[{\"NodeID\":2,\"CapMap\":{\"https://tailscale.com/cap/x\":null,"
             "\"a-cap\":[1]}}]}") == 0 && r.changed == 1,
       "PeersChangedPatch: a CapMap");
    ok(r.last_what & NM_CAPS, "NM_CAPS");
    ok(nm_node_has_cap(p, "https://tailscale.com/cap/x") && nm_node_has_cap(p, "a-cap") &&
           !nm_node_has_cap(p, "b-cap"),
       "the peer has exactly those capabilities");
    ok(apply(&nm, &r,
             "{\"PeersChangedPatch\":[{\"NodeID\":2,\"CapMap\":{\"a-cap\":[1],"
             "\"https://tailscale.com/cap/x\":[]}}]}") == 0 && r.changed == 0,
       "the same capabilities again: no change");
    ok(apply(&nm, &r, "{\"PeersChangedPatch\":[{\"NodeID\":2,\"CapMap\":{\"a-cap\":null}}]}") == 0 &&
           r.changed == 1 && (r.last_what & NM_CAPS) && !nm_node_has_cap(p, "https://tailscale.com/cap/x"),
       "one capability fewer: NM_CAPS, and it is gone");
    ok(apply(&nm, &r, "{\"OnlineChange\":{\"2\":false}}") == 0 && r.changed == 1 && p->online == 0,
       "OnlineChange false");
    ok(p->was_online == 1, "was_online remembers it was online");
    ok(apply(&nm, &r, "{\"OnlineChange\":{\"2\":false}}") == 0 && r.changed == 0,
       "the same state again: no call");
    ok(apply(&nm, &r, "{\"OnlineChange\":{\"2\":true}}") == 0 && r.changed == 1 && p->online == 1 &&
           p->was_online == 0,
       "back online, was offline");

    /* lookups */
    ok(netmap_peer_lookup(&nm, "node2") == p, "lookup by short name");
    ok(netmap_peer_lookup(&nm, "node2.example.com") == p, "by FQDN");
    ok(netmap_peer_lookup(&nm, "node2.example.com.") == p, "by FQDN with the dot");
    ok(netmap_peer_lookup(&nm, "100.64.0.2") == p, "by IPv4");
    ok(netmap_peer_lookup(&nm, "fd7a:115c:a1e0::2") == p, "by IPv6");
    ok(netmap_peer_lookup(&nm, "node9") == NULL, "an unknown name: NULL");
    ok(netmap_peer_lookup(&nm, "100.64.0.9") == NULL, "an unknown address: NULL");

    ok(apply(&nm, &r, "{\"PeersRemoved\":[2]}") == 0, "PeersRemoved");
    is_int(r.removed, 1, "peer_removed once");
    is_int((long long)nm.npeers, 0, "the map is empty");
    netmap_free(&nm);
}

static void test_node3_full(void)
{
    struct netmap nm;
    netmap_init(&nm);
    struct rec r;
    ok(apply(&nm, &r, "map-response-first.json") == 0, "node3's first map (two peers)");
    is_int(r.added, 2, "two peer_added");
    is_str(r.log, "+1 +2 ", "in ID order");
    struct nm_node *p1 = netmap_peer_by_id(&nm, 1);
    ok(apply(&nm, &r, "map-response-first.json") == 0, "the same full map again");
    is_int(r.added + r.changed + r.removed, 0, "no peer callback: nothing changed");
    is_int(r.self + r.derp, 0, "self and DERP map unchanged");
    ok(apply(&nm, &r, "map-response-delta-self.json") == 0, "node3's self delta");
    is_int(r.added + r.removed, 0, "peers untouched");

    /* a full Peers list replaces: node2 gone, node1 kept, node5 new (AllowedIPs absent) */
    const char *full =
        "{\"Peers\":[{\"ID\":5,\"Name\":\"five.example.com.\",\"Key\":\"nodekey:"
        "0505050505050505050505050505050505050505050505050505050505050505\",\"Addresses\":[\"100.64.0.5/"
        "32\"],"
        "\"DERP\":\"127.3.3.40:901\"},"
        "{\"ID\":1,\"Name\":\"node1.example.com.\",\"User\":1,\"Key\":\"nodekey:"
        "f45aac4cbd83b30746966a6f09feec66095d5afce7e1c7b4921f1fb064395212\","
        "\"Addresses\":[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\"],"
        "\"AllowedIPs\":[\"100.64.0.1/32\",\"fd7a:115c:a1e0::1/128\",\"10.0.0.0/24\"],\"HomeDERP\":999}]}";
    ok(apply(&nm, &r, full) == 0, "a full Peers replacement");
    is_str(r.log, "-2 ~1 +5 ", "node2 removed first, node1 changed, node5 added");
    ok(netmap_peer_by_id(&nm, 1) == p1, "node1 kept its object");
    ok(r.last_id == 5, "the last call is for node5");
    struct nm_node *p5 = netmap_peer_by_id(&nm, 5);
    is_int((long long)p5->nallowed, 1, "absent AllowedIPs = Addresses");
    is_int(p5->home_derp, 901, "home region from the legacy DERP field (127.3.3.40:901)");
    is_int((long long)p1->nallowed, 3, "node1's subnet route is an allowed IP");
    netmap_clear(&nm, &ops, &r);
    is_int((long long)nm.npeers, 0, "netmap_clear empties the map");
    netmap_free(&nm);
}

static void test_derp_url(void)
{
    struct nm_derp_node dn = {.host = "127.0.0.1", .ipv4 = "127.0.0.1", .ipv6 = "", .derp_port = 18080};
    char url[256], dial[128];
    struct derpmux_opts o = {"http://127.0.0.1:18080", 0};
    ok(derpmux_node_url(&o, &dn, url, sizeof url, dial, sizeof dial) == 0, "URL of a relay");
    is_str(url, "http://127.0.0.1:18080/derp", "the login server's own plain listener: plain HTTP");
    is_str(dial, "127.0.0.1:18080", "dialled at its IPv4");
    o.login_server = "https://127.0.0.1:18080";
    derpmux_node_url(&o, &dn, url, sizeof url, dial, sizeof dial);
    is_str(url, "https://127.0.0.1:18080/derp", "behind an https login server: HTTPS");
    o.login_server = "http://example.com";
    dn.host = "derp.example.com";
    dn.ipv4 = "";
    dn.derp_port = 0;
    derpmux_node_url(&o, &dn, url, sizeof url, dial, sizeof dial);
    is_str(url, "https://derp.example.com:443/derp", "any other relay: HTTPS on 443");
    is_str(dial, "", "dialled by name");
    o.plain_http = 1;
    derpmux_node_url(&o, &dn, url, sizeof url, dial, sizeof dial);
    is_str(url, "http://derp.example.com:80/derp", "derp_http: plain HTTP on 80");
    dn.host = "fd00::1";
    dn.ipv6 = "fd00::1";
    dn.derp_port = 3340;
    derpmux_node_url(&o, &dn, url, sizeof url, dial, sizeof dial);
    is_str(url, "http://[fd00::1]:3340/derp", "an IPv6 host in brackets");
    is_str(dial, "[fd00::1]:3340", "dialled at its IPv6");
}

static void test_timing(void)
{
    int okb = 1;
    for (unsigned a = 0; a < 20; a++)
        for (uint32_t rnd = 0; rnd < 100000; rnd += 7919) {
            uint64_t b = CTL_BACKOFF_MIN_MS << (a < 6 ? a : 6);
            if (b > CTL_BACKOFF_MAX_MS)
                b = CTL_BACKOFF_MAX_MS;
            uint64_t d = ctl_backoff_ms(a, rnd);
            if (d < b / 2 || d > b)
                okb = 0;
        }
    ok(okb, "backoff with jitter stays in [b/2, b], b doubling from 500 ms to 30 s");
    is_int((long long)ctl_backoff_ms(0, 0), 250, "first retry: at least 250 ms");
    is_int((long long)ctl_backoff_ms(30, 0xffffffffu), (long long)ctl_backoff_ms(30, 0xffffffffu), "stable");
    ok(ctl_backoff_ms(30, 15000) <= 30000, "capped at 30 s");
    is_int(ctl_rotation_time(1000, 2000), 1800, "rotation at 80% of the time left");
    is_int(ctl_rotation_time(1000, 1002), 1001, "at least 1 s before expiry");
    is_int(ctl_rotation_time(1000, 900), 1000, "already expired: now");
}

static void test_prefix(void)
{
    struct nl_prefix a, b;
    char t[64];
    ok(nl_prefix_parse("100.64.0.0/10", &a) == 0 && a.family == 4 && a.bits == 10, "parse an IPv4 prefix");
    ok(nl_prefix_parse("100.100.1.2", &b) == 0 && b.bits == 32, "a bare address is a host prefix");
    ok(nl_prefix_contains(&a, &b), "100.64.0.0/10 contains 100.100.1.2");
    ok(nl_prefix_parse("100.128.0.1", &b) == 0 && !nl_prefix_contains(&a, &b), "not 100.128.0.1");
    ok(nl_prefix_parse("fd7a:115c:a1e0::/48", &a) == 0 && a.family == 6, "parse an IPv6 prefix");
    ok(nl_prefix_parse("fd7a:115c:a1e0:ab12::1", &b) == 0 && nl_prefix_contains(&a, &b),
       "it contains a node");
    ok(nl_prefix_parse("10.1.2.3/33", &a) < 0, "/33 refused");
    ok(nl_prefix_parse("10.1.2.3/", &a) < 0, "empty length refused");
    ok(nl_prefix_parse("10.1.2.3/-1", &a) < 0, "negative length refused");
    ok(nl_prefix_parse("nonsense", &a) < 0, "a name refused");
    nl_prefix_parse("10.1.2.3/20", &a);
    nl_prefix_mask(&a);
    is_str(nl_prefix_format(&a, 1, t, sizeof t), "10.1.0.0/20", "mask");
    nl_prefix_parse("fd7a:115c:a1e0::1/128", &a);
    is_str(nl_prefix_format(&a, 0, t, sizeof t), "fd7a:115c:a1e0::1", "format without the length");
}

int main(void)
{
    test_node1_stream();
    test_node3_full();
    test_derp_url();
    test_timing();
    test_prefix();
    done_testing();
}
