// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "modules/node/dp.h"
#include "modules/node/netmap.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"

#define MAX_TROUTES 1024

struct troute {
    struct nl_prefix p;
    bool throw_;
};

struct router {
    struct node *n;
    char ifname[IFNAMSIZ];
    int ifindex;
    char *nft;          /* the ruleset in force (NULL: no table) */
    bool forwarding;    /* we serve routes: IP forwarding is on */
    int fwd_before[2];  /* IPv4 / IPv6 forwarding before we switched it on (-1: we did not change it) */
    struct troute *rt;  /* routes we put in ROUTER_TABLE */
    size_t nrt;
    bool rule[2];       /* our rule for IPv4 / IPv6 is in */
    int64_t exit_id;
    char exit_warned[256]; /* the exit node we last warned about (not found / not an exit node) */
};

/* ---- prefs ---- */

static bool in_tailnet(const struct nl_prefix *p)
{
    struct nl_prefix r;
    nl_prefix_parse(p->family == 4 ? DP_RANGE_V4 : DP_RANGE_V6, &r);
    return nl_prefix_contains(&r, p) || nl_prefix_contains(p, &r);
}

int router_parse_routes(const char *text, struct node_routing *r, char *err, size_t errlen)
{
    r->nadvertise = 0;
    for (const char *p = text; p && *p;) {
        size_t l = strcspn(p, ",");
        char one[80];
        snprintf(one, sizeof one, "%.*s", (int)(l < sizeof one - 1 ? l : sizeof one - 1), p);
        p += l + (p[l] == ',');
        if (!*one)
            continue;
        struct nl_prefix x, m;
        if (!strchr(one, '/') || nl_prefix_parse(one, &x)) {
            snprintf(err, errlen, "--advertise-routes: '%s' is not an IP prefix (ADDRESS/BITS)", one);
            return -1;
        }
        m = x;
        nl_prefix_mask(&m);
        char t[64];
        if (!nl_prefix_equal(&m, &x)) {
            snprintf(err, errlen, "--advertise-routes: %s has host bits set (the prefix is %s)", one,
                     nl_prefix_format(&m, 1, t, sizeof t));
            return -1;
        }
        if (!x.bits) {
            snprintf(err, errlen, "--advertise-routes: %s: offer the default route with --advertise-exit-node", one);
            return -1;
        }
        if (in_tailnet(&x)) {
            snprintf(err, errlen, "--advertise-routes: %s overlaps the tailnet's own range", one);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < r->nadvertise; i++)
            dup |= nl_prefix_equal(&r->advertise[i], &x);
        if (dup)
            continue;
        if (r->nadvertise == NODE_MAX_ROUTES) {
            snprintf(err, errlen, "--advertise-routes: more than %d routes", NODE_MAX_ROUTES);
            return -1;
        }
        r->advertise[r->nadvertise++] = x;
    }
    return 0;
}

static bool offers_exit(const struct nm_node *p)
{
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < p->nallowed; i++)
        if (!p->allowed[i].bits) {
            v4 |= p->allowed[i].family == 4;
            v6 |= p->allowed[i].family == 6;
        }
    return v4 && v6;
}

int router_check(const struct node_routing *r, const struct netmap *nm, char *err, size_t errlen)
{
    if (r->exit_node[0] && r->advertise_exit) {
        snprintf(err, errlen, "--exit-node and --advertise-exit-node exclude each other");
        return -1;
    }
    if (r->exit_node[0] && nm->have_self) {
        const struct nm_node *p = netmap_peer_lookup(nm, r->exit_node);
        if (!p) {
            snprintf(err, errlen, "--exit-node: no peer %s (a name, hostname or tailnet address)", r->exit_node);
            return -1;
        }
        if (!offers_exit(p)) {
            snprintf(err, errlen, "--exit-node: %s is not an exit node (it does not offer 0.0.0.0/0 and ::/0, "
                                  "or they are not approved: weft nodes approve-routes on the server)",
                     r->exit_node);
            return -1;
        }
    }
    return 0;
}

bool router_prefix_wanted(const struct node_routing *r, int64_t exit_id, int64_t peer_id, const struct nl_prefix *p,
                          bool is_address)
{
    if (is_address)
        return true;
    if (!p->bits)
        return exit_id && peer_id == exit_id;
    return r->accept_routes;
}

/* ---- system ---- */

static int write_sysctl(const char *path, const char *v)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
    if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v)) {
        log_error("module=node event=forwarding file=%s error=\"%s\"", path, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* 0 or 1, or -1 if it cannot be read. */
static int read_sysctl(const char *path)
{
    char b[8] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k = fd >= 0 ? read(fd, b, sizeof b - 1) : -1;
    if (fd >= 0)
        close(fd);
    return k > 0 && (b[0] == '0' || b[0] == '1') ? b[0] - '0' : -1;
}

/* IP forwarding is a setting of the whole machine (of the network namespace): switched on while we serve
 * routes, and put back as it was when we stop (down, logout, exit, routes withdrawn). What it was is also
 * written next to the prefs, so that the next start puts it back after a killed daemon. */
static const char *const fwd_sysctl[2] = {"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"};

static void state_file(const char *prefs_path, const char *name, char *out, size_t cap)
{
    const char *slash = strrchr(prefs_path, '/');
    snprintf(out, cap, "%.*s%s", slash ? (int)(slash - prefs_path + 1) : 0, prefs_path, name);
}

static void fwd_file(const char *prefs_path, char *out, size_t cap)
{
    state_file(prefs_path, "forwarding.before", out, cap);
}

/* "nft.table" next to the prefs says our table is (or may be) in the kernel, so that the start after a killed
 * daemon deletes it; a node that never served routes then never loads libnftables to look. */
static void nft_mark(const char *prefs_path, bool on)
{
    char path[4200];
    state_file(prefs_path, "nft.table", path, sizeof path);
    if (!on) {
        unlink(path);
        return;
    }
    FILE *fp = fopen(path, "w");
    if (!fp || fputs("table inet " ROUTER_NFT_TABLE "\n", fp) < 0 || fclose(fp)) {
        log_warn("module=node event=nft_table file=%s error=\"%s\" msg=\"a killed daemon's successor will not know "
                 "to delete the table\"", path, strerror(errno));
        if (fp)
            fclose(fp);
    }
}

/* Put back what fwd_before says (-1: leave); "why" for the log. */
static void fwd_put_back(const int before[2], const char *why)
{
    for (int f = 0; f < 2; f++)
        if (before[f] >= 0 && !write_sysctl(fwd_sysctl[f], before[f] ? "1" : "0"))
            log_info("module=node event=forwarding state=restored family=ipv%d value=%d reason=\"%s\"", f ? 6 : 4,
                     before[f], why);
}

static void forwarding_on(struct router *r)
{
    bool changed = false;
    for (int f = 0; f < 2; f++) {
        int v = read_sysctl(fwd_sysctl[f]);
        r->fwd_before[f] = -1;
        if (v == 1)
            continue; /* on already: not ours to switch off later */
        if (!write_sysctl(fwd_sysctl[f], "1") && v == 0) {
            r->fwd_before[f] = 0;
            changed = true;
        }
    }
    if (changed) {
        char path[4200];
        fwd_file(r->n->path_prefs, path, sizeof path);
        FILE *fp = fopen(path, "w");
        if (!fp || fprintf(fp, "ipv4=%d ipv6=%d\n", r->fwd_before[0], r->fwd_before[1]) < 0 || fclose(fp)) {
            log_warn("module=node event=forwarding file=%s error=\"%s\" msg=\"a killed daemon's successor will not "
                     "know to switch forwarding off again\"", path, strerror(errno));
            if (fp)
                fclose(fp);
        }
    }
    log_info("module=node event=forwarding state=on ipv4_before=%d ipv6_before=%d msg=\"IP forwarding switched on "
             "for the advertised routes (-1: it was on already)\"", r->fwd_before[0], r->fwd_before[1]);
    r->forwarding = true;
}

static void forwarding_off(struct router *r)
{
    if (!r->forwarding)
        return;
    fwd_put_back(r->fwd_before, "no routes served any more");
    char path[4200];
    fwd_file(r->n->path_prefs, path, sizeof path);
    unlink(path);
    r->forwarding = false;
}

void router_cleanup_stale(const char *prefs_path)
{
    char err[256], path[4200];
    fwd_file(prefs_path, path, sizeof path);
    FILE *fp = fopen(path, "r");
    if (fp) {
        int before[2] = {-1, -1};
        if (fscanf(fp, "ipv4=%d ipv6=%d", &before[0], &before[1]) == 2 && before[0] <= 1 && before[1] <= 1)
            fwd_put_back(before, "a killed daemon had switched it on");
        fclose(fp);
        unlink(path);
    }
    /* a table of ours left by a killed daemon (its mark is there) */
    state_file(prefs_path, "nft.table", path, sizeof path);
    if (access(path, F_OK) == 0) {
        if (router_nft_apply(NULL, err, sizeof err))
            log_error("module=node event=nft_table action=delete_stale error=\"%s\"", err);
        else {
            log_info("module=node event=nft_table action=deleted_stale table=\"inet %s\"", ROUTER_NFT_TABLE);
            unlink(path);
        }
    }
    int n = nl_table_flush(ROUTER_TABLE);
    int rules = 0;
    for (int fam = 4; fam <= 6; fam += 2)
        while (nl_rule_del(fam, ROUTER_RULE_PRIO, ROUTER_TABLE) == 0 && rules < 64)
            rules++;
    if (n || rules)
        log_info("module=node event=stale_routes_removed routes=%d rules=%d", n, rules);
}

struct router *router_new(struct node *n, const char *ifname, int ifindex)
{
    struct router *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->n = n;
    snprintf(r->ifname, sizeof r->ifname, "%s", ifname);
    r->ifindex = ifindex;
    return r;
}

static void set_routes(struct router *r, const struct troute *want, size_t nwant)
{
    char t[64];
    for (size_t i = 0; i < r->nrt; i++) {
        bool keep = false;
        for (size_t j = 0; j < nwant && !keep; j++)
            keep = nl_prefix_equal(&r->rt[i].p, &want[j].p) && r->rt[i].throw_ == want[j].throw_;
        if (!keep) {
            nl_table_route_del(r->ifindex, &r->rt[i].p, ROUTER_TABLE, r->rt[i].throw_);
            /* throw routes follow peers' endpoints: debug, or they would flood the log */
            log_msg(r->rt[i].throw_ ? LOG_DEBUG : LOG_INFO, "module=node event=route_del route=%s table=%d%s",
                    nl_prefix_format(&r->rt[i].p, 1, t, sizeof t), ROUTER_TABLE, r->rt[i].throw_ ? " type=throw" : "");
        }
    }
    struct troute *v = nwant ? malloc(nwant * sizeof *v) : NULL;
    size_t nv = 0;
    for (size_t j = 0; j < nwant; j++) {
        bool had = false;
        for (size_t i = 0; i < r->nrt && !had; i++)
            had = nl_prefix_equal(&r->rt[i].p, &want[j].p) && r->rt[i].throw_ == want[j].throw_;
        int rc = had ? 0 : nl_table_route_add(r->ifindex, &want[j].p, ROUTER_TABLE, want[j].throw_);
        nl_prefix_format(&want[j].p, 1, t, sizeof t);
        if (rc) {
            log_error("module=node event=route_add route=%s table=%d error=\"%s\"", t, ROUTER_TABLE, strerror(-rc));
            continue;
        }
        if (!had)
            log_msg(want[j].throw_ ? LOG_DEBUG : LOG_INFO, "module=node event=route_add route=%s table=%d%s%s", t,
                    ROUTER_TABLE, want[j].throw_ ? " type=throw" : " dev=", want[j].throw_ ? "" : r->ifname);
        if (v)
            v[nv++] = want[j];
    }
    free(r->rt);
    r->rt = v;
    r->nrt = nv;
    for (int f = 0; f < 2; f++) {
        int fam = f ? 6 : 4;
        bool need = false;
        for (size_t i = 0; i < nv; i++)
            need |= v[i].p.family == fam && !v[i].throw_;
        if (need && !r->rule[f]) {
            int rc = nl_rule_add(fam, ROUTER_RULE_PRIO, ROUTER_TABLE);
            if (rc && rc != -EEXIST)
                log_error("module=node event=rule_add family=ipv%d error=\"%s\"", fam, strerror(-rc));
            else
                log_info("module=node event=rule_add family=ipv%d priority=%d table=%d", fam, ROUTER_RULE_PRIO,
                         ROUTER_TABLE);
            r->rule[f] = !rc || rc == -EEXIST;
        } else if (!need && r->rule[f]) {
            nl_rule_del(fam, ROUTER_RULE_PRIO, ROUTER_TABLE);
            log_info("module=node event=rule_del family=ipv%d priority=%d", fam, ROUTER_RULE_PRIO);
            r->rule[f] = false;
        }
    }
}

void router_free(struct router *r)
{
    if (!r)
        return;
    set_routes(r, NULL, 0);
    forwarding_off(r);
    if (r->nft) {
        char err[256];
        if (router_nft_apply(NULL, err, sizeof err))
            log_error("module=node event=nft_table action=delete error=\"%s\"", err);
        else {
            log_info("module=node event=nft_table action=deleted table=\"inet %s\"", ROUTER_NFT_TABLE);
            nft_mark(r->n->path_prefs, false);
        }
        free(r->nft);
    }
    free(r->rt);
    free(r);
}

int64_t router_exit_node(const struct router *r)
{
    return r ? r->exit_id : 0;
}

/* want: add a route (or throw) once */
static void want_add(struct troute *v, size_t *n, const struct nl_prefix *p, bool throw_)
{
    struct nl_prefix m = *p;
    nl_prefix_mask(&m);
    for (size_t i = 0; i < *n; i++)
        if (nl_prefix_equal(&v[i].p, &m) && v[i].throw_ == throw_)
            return;
    if (*n < MAX_TROUTES)
        v[(*n)++] = (struct troute){m, throw_};
}

static void want_host(struct troute *v, size_t *n, const char *host)
{
    struct nl_prefix p;
    if (!host || !*host)
        return;
    if (!nl_prefix_parse(host, &p) && p.bits == (p.family == 4 ? 32 : 128)) {
        want_add(v, n, &p, true);
        return;
    }
    /* a name: what it resolves to (control's host, once per sync with an exit node) */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res))
        return;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char ip[64];
        if (getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) == 0 &&
            !nl_prefix_parse(ip, &p))
            want_add(v, n, &p, true);
    }
    freeaddrinfo(res);
}

/* "1.2.3.4:5", "[fd00::1]:5" */
static void want_endpoint(struct troute *v, size_t *n, const char *ep)
{
    char h[80];
    const char *colon = strrchr(ep, ':');
    if (!colon)
        return;
    size_t l = (size_t)(colon - ep);
    if (ep[0] == '[' && l >= 2 && ep[l - 1] == ']')
        snprintf(h, sizeof h, "%.*s", (int)(l - 2), ep + 1);
    else
        snprintf(h, sizeof h, "%.*s", (int)l, ep);
    struct nl_prefix p;
    if (!nl_prefix_parse(h, &p))
        want_add(v, n, &p, true);
}

/* The LANs this machine is on (every address's prefix but the TUN's and loopback's). */
static void want_lans(struct router *r, struct troute *v, size_t *n)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs))
        return;
    for (struct ifaddrs *a = ifs; a; a = a->ifa_next) {
        if (!a->ifa_addr || !a->ifa_netmask || !strcmp(a->ifa_name, r->ifname) || (a->ifa_flags & IFF_LOOPBACK))
            continue;
        int fam = a->ifa_addr->sa_family;
        if (fam != AF_INET && fam != AF_INET6)
            continue;
        char ip[64];
        if (getnameinfo(a->ifa_addr, fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6), ip,
                        sizeof ip, NULL, 0, NI_NUMERICHOST))
            continue;
        ip[strcspn(ip, "%")] = 0;
        struct nl_prefix p;
        if (nl_prefix_parse(ip, &p))
            continue;
        const uint8_t *mask = fam == AF_INET ? (const uint8_t *)&((struct sockaddr_in *)a->ifa_netmask)->sin_addr
                                             : ((struct sockaddr_in6 *)a->ifa_netmask)->sin6_addr.s6_addr;
        unsigned bits = 0;
        for (size_t i = 0; i < (fam == AF_INET ? 4u : 16u); i++)
            bits += (unsigned)__builtin_popcount(mask[i]);
        p.bits = (uint8_t)bits;
        if (fam == AF_INET6 && p.addr[0] == 0xfe && (p.addr[1] & 0xc0) == 0x80)
            continue; /* link-local */
        want_add(v, n, &p, true);
    }
    freeifaddrs(ifs);
}

static const char *login_host(const char *url, char *buf, size_t cap)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    if (*h == '[') {
        size_t l = strcspn(h + 1, "]");
        snprintf(buf, cap, "%.*s", (int)l, h + 1);
    } else {
        snprintf(buf, cap, "%.*s", (int)strcspn(h, ":/"), h);
    }
    return buf;
}

static bool is_own(const struct node_routing *rt, const struct nl_prefix *p)
{
    for (size_t i = 0; i < rt->nadvertise; i++)
        if (nl_prefix_equal(&rt->advertise[i], p))
            return true;
    return false;
}

void router_sync(struct router *r)
{
    if (!r)
        return;
    struct node *n = r->n;
    const struct node_routing *rt = &n->prefs.routing;
    const struct netmap *nm = &n->nm;
    char err[512], t[64];

    /* ---- serving ---- */
    char *text = router_nft_text(rt, r->ifname);
    if ((!text != !r->nft) || (text && strcmp(text, r->nft))) {
        if (text && !r->nft)
            nft_mark(n->path_prefs, true); /* before the table exists: a kill -9 in between leaves the mark */
        if (router_nft_apply(text, err, sizeof err)) {
            log_error("module=node event=nft_table table=\"inet %s\" error=\"%s\"", ROUTER_NFT_TABLE, err);
            free(text);
        } else {
            log_info("module=node event=nft_table table=\"inet %s\" action=%s snat=%s exit=%s", ROUTER_NFT_TABLE,
                     text ? "written" : "deleted", rt->no_snat ? "no" : "yes", rt->advertise_exit ? "yes" : "no");
            free(r->nft);
            r->nft = text;
            if (!text)
                nft_mark(n->path_prefs, false);
        }
    } else {
        free(text);
    }
    if ((rt->nadvertise || rt->advertise_exit) && !r->forwarding)
        forwarding_on(r);
    else if (!rt->nadvertise && !rt->advertise_exit && r->forwarding)
        forwarding_off(r);
    struct nl_prefix served[NODE_MAX_ROUTES + 2];
    size_t ns = 0;
    for (size_t i = 0; i < rt->nadvertise; i++)
        served[ns++] = rt->advertise[i];
    if (rt->advertise_exit) {
        nl_prefix_parse("0.0.0.0/0", &served[ns++]);
        nl_prefix_parse("::/0", &served[ns++]);
    }
    dp_set_served(n->dp, served, ns);

    /* ---- using ---- */
    int64_t exit_id = 0;
    const struct nm_node *ex = NULL;
    if (rt->exit_node[0] && nm->have_self) {
        ex = netmap_peer_lookup(nm, rt->exit_node);
        if (ex && offers_exit(ex)) {
            exit_id = ex->id;
        } else if (strcmp(r->exit_warned, rt->exit_node)) {
            log_warn("module=node event=exit_node name=%s msg=\"%s: traffic to the internet takes the usual path\"",
                     rt->exit_node, ex ? "not an exit node (its exit routes are not approved)" : "no such peer");
            snprintf(r->exit_warned, sizeof r->exit_warned, "%s", rt->exit_node);
        }
        if (exit_id)
            r->exit_warned[0] = 0;
    }
    if (exit_id != r->exit_id) {
        char nb[64];
        log_info("module=node event=exit_node peer=%lld name=%s", (long long)exit_id,
                 ex && exit_id ? nm_node_short_name(ex, nb, sizeof nb) : "-");
        r->exit_id = exit_id;
    }
    dp_set_route_prefs(n->dp, rt, exit_id);

    struct troute *want = malloc(MAX_TROUTES * sizeof *want);
    if (!want)
        return;
    size_t nw = 0;
    for (size_t i = 0; i < nm->npeers; i++) {
        const struct nm_node *p = nm->peers[i];
        if (!p->data) /* not a usable WireGuard peer (expired, duplicate key) */
            continue;
        for (size_t j = 0; j < p->nallowed; j++) {
            const struct nl_prefix *a = &p->allowed[j];
            bool is_addr = false;
            for (size_t k = 0; k < p->naddrs && !is_addr; k++)
                is_addr = nl_prefix_equal(&p->addrs[k], a);
            if (is_addr || !router_prefix_wanted(rt, exit_id, p->id, a, false))
                continue;
            if (a->bits && (in_tailnet(a) || is_own(rt, a))) {
                log_debug("module=node event=route_skipped peer=%lld route=%s", (long long)p->id,
                          nl_prefix_format(a, 1, t, sizeof t));
                continue;
            }
            want_add(want, &nw, a, false);
        }
    }
    if (nw) {
        /* what carries the tunnel itself keeps the physical path */
        char host[256];
        want_host(want, &nw, login_host(n->prefs.login_server, host, sizeof host));
        for (size_t i = 0; i < nm->nregions; i++)
            for (size_t j = 0; j < nm->regions[i].nnodes; j++) {
                const struct nm_derp_node *d = &nm->regions[i].nodes[j];
                if ((d->ipv4 && *d->ipv4) || (d->ipv6 && *d->ipv6)) {
                    want_host(want, &nw, d->ipv4);
                    want_host(want, &nw, d->ipv6);
                } else {
                    want_host(want, &nw, d->host);
                }
            }
        for (size_t i = 0; i < nm->npeers; i++)
            for (size_t j = 0; j < nm->peers[i]->nendpoints; j++)
                want_endpoint(want, &nw, nm->peers[i]->endpoints[j]);
        if (exit_id && rt->exit_allow_lan)
            want_lans(r, want, &nw);
    }
    set_routes(r, want, nw);
    free(want);
}
