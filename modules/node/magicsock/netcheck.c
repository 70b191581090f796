// SPDX-License-Identifier: BSD-3-Clause
/* netcheck (the report Hostinfo.NetInfo and `weft netcheck` show), after tailscale's net/netcheck: STUN
 * binding requests from the node's own UDP socket (so the mapped address is the one peers must use) to
 * every DERP region's STUN servers, three tries 100 ms apart alternating the region's nodes; a try that
 * would teach nothing new is skipped. From the answers: whether UDP works, our public IPv4/IPv6
 * address:port, whether the NAT maps per destination (two servers saw different ports: a "hard" NAT),
 * the latency to each region, and the preferred (home) region: the lowest latency seen over the last
 * 5 minutes, kept unless another region is at least 10 ms and a third faster (no flapping).
 *
 * The probes stop after 3 s, or once each region answered (and with 3 regions, after twice the slowest
 * latency). STUN servers are taken from the DERP map's IPv4/IPv6 literals, else from their HostName: a
 * name is looked up off the loop's thread (core/resolve.h) and kept 10 minutes; a report never waits
 * for a lookup (it probes what it has), and a lookup that brings a new address starts another report. */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/resolve.h"
#include "core/wire/stun.h"
#include "modules/node/magicsock/ms_int.h"
#include "modules/node/netmap.h"

#define NC_MAX_PROBES 256
#define NC_TRIES 3
#define NC_RETRANSMIT_MS 100
#define NC_STUN_TIMEOUT_MS 3000
#define NC_ENOUGH_REGIONS 3
#define NC_HISTORY 32
#define NC_HISTORY_MS (5 * 60 * 1000 + 5000)
#define NC_PREFERRED_ABS_DIFF_US 10000
#define NC_NAMES 32                  /* STUN host names remembered */
#define NC_NAME_TTL_MS (10 * 60000)  /* an answer is used this long, then looked up again (still used) */
#define NC_NAME_RETRY_MS 30000       /* after a failed lookup */

/* A STUN server's HostName and what it resolved to. */
struct ncname {
    char host[256];
    struct resolve *pending;
    bool have4, have6;
    struct disco_addr a4, a6;
    uint64_t at;   /* when the last answer came (loop ms), 0: never */
    bool failed;
    uint64_t used; /* last asked for (loop ms): the least recently used gives way */
    struct ms_netcheck *nc;
};

struct probe {
    bool sent, done;
    bool v6;
    uint8_t txid[STUN_TXID_LEN];
    int region;
    struct disco_addr to;
    uint64_t due;     /* loop ms */
    uint64_t sent_us; /* for the latency */
};

struct hist {
    uint64_t at;
    size_t n;
    struct {
        int region;
        uint32_t us;
    } lat[MS_MAX_REGIONS];
};

struct ms_netcheck {
    struct ms *m;
    struct timer t;
    bool running;
    uint64_t start, deadline;
    struct probe p[NC_MAX_PROBES];
    size_t np;
    struct ms_report r;
    struct hist hist[NC_HISTORY];
    size_t nhist;
    int prev_preferred;
    struct ncname names[NC_NAMES];
};

static uint32_t *lat_slot(struct ms_report *r, int region, bool v6)
{
    for (size_t i = 0; i < r->nregions; i++)
        if (r->latency[i].region == region)
            return v6 ? &r->latency[i].v6_us : &r->latency[i].v4_us;
    if (r->nregions == MS_MAX_REGIONS)
        return NULL;
    r->latency[r->nregions].region = region;
    r->latency[r->nregions].v4_us = r->latency[r->nregions].v6_us = 0;
    r->nregions++;
    return v6 ? &r->latency[r->nregions - 1].v6_us : &r->latency[r->nregions - 1].v4_us;
}

/* The region's latency: the lower of v4 and v6; 0 if none. */
static uint32_t region_lat(const struct ms_report *r, size_t i)
{
    uint32_t a = r->latency[i].v4_us, b = r->latency[i].v6_us;
    return !a ? b : !b ? a : a < b ? a : b;
}

static bool have_region(const struct ms_report *r, int region)
{
    for (size_t i = 0; i < r->nregions; i++)
        if (r->latency[i].region == region && region_lat(r, i))
            return true;
    return false;
}

static bool have_v6(const struct ms_report *r)
{
    for (size_t i = 0; i < r->nregions; i++)
        if (r->latency[i].v6_us)
            return true;
    return false;
}

/* Would this try tell us anything new (netcheck's probeWouldHelp)? */
static bool would_help(const struct ms_netcheck *nc, const struct probe *p)
{
    if (!have_region(&nc->r, p->region))
        return true;
    if (p->v6 && !have_v6(&nc->r))
        return true;
    return !p->v6 && nc->r.mapping_varies_by_dest_ip < 0;
}

static bool literal(const char *s, int family, struct disco_addr *a)
{
    uint8_t b[16];
    if (!s || !*s)
        return false;
    if (family == 4 && inet_pton(AF_INET, s, b) == 1) {
        ms_addr_from4(a, b, 0);
        return true;
    }
    if (family == 6 && inet_pton(AF_INET6, s, b) == 1) {
        memcpy(a->ip, b, 16);
        return !ms_addr_is4(a);
    }
    return false;
}

static void on_resolved(void *arg, const struct addrinfo *res, const char *err)
{
    struct ncname *n = arg;
    struct ms_netcheck *nc = n->nc;
    n->pending = NULL;
    uint64_t now = loop_now(nc->m->loop);
    if (!res) {
        log_warn("module=node event=stun_resolve host=\"%.200s\" error=\"%s\"", n->host, err ? err : "?");
        n->failed = true;
        n->at = now;
        return;
    }
    struct disco_addr a4, a6;
    bool h4 = false, h6 = false;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        struct disco_addr a;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        ms_addr_from_sa(&a, ai->ai_addr);
        a.port = 0;
        if (ms_addr_is4(&a) && !h4)
            a4 = a, h4 = true;
        else if (!ms_addr_is4(&a) && !h6)
            a6 = a, h6 = true;
    }
    bool news = (h4 && (!n->have4 || !ms_addr_eq(&a4, &n->a4))) || (h6 && (!n->have6 || !ms_addr_eq(&a6, &n->a6)));
    n->failed = !h4 && !h6;
    n->at = now;
    if (h4 || h6) {
        n->have4 = h4;
        n->have6 = h6;
        if (h4)
            n->a4 = a4;
        if (h6)
            n->a6 = a6;
    }
    char t[64];
    log_debug("module=node event=stun_resolved host=\"%.200s\" v4=%s", n->host,
              h4 ? ms_addr_format(&a4, t, sizeof t) : "-");
    if (news)
        ms_restun(nc->m, "stun-resolved"); /* probe the server we could not before */
}

/* The addresses a STUN HostName has (from the last lookup, however old); starts a lookup when there is
 * none or it is stale. False while there is nothing to use yet. */
static bool name_lookup(struct ms_netcheck *nc, const char *host, int family, struct disco_addr *a)
{
    uint64_t now = loop_now(nc->m->loop);
    struct ncname *n = NULL, *lru = &nc->names[0];
    for (size_t i = 0; i < NC_NAMES && !n; i++) {
        if (strcmp(nc->names[i].host, host) == 0)
            n = &nc->names[i];
        else if (!nc->names[i].pending && nc->names[i].used < lru->used)
            lru = &nc->names[i];
    }
    if (!n) {
        if (strlen(host) >= sizeof lru->host || lru->pending)
            return false;
        memset(lru, 0, sizeof *lru);
        snprintf(lru->host, sizeof lru->host, "%s", host);
        lru->nc = nc;
        n = lru;
    }
    n->used = now;
    bool stale = !n->at || now - n->at > (n->failed ? NC_NAME_RETRY_MS : NC_NAME_TTL_MS);
    if (stale && !n->pending) {
        log_debug("module=node event=stun_resolve host=\"%.200s\"", n->host);
        n->pending = resolve_start(nc->m->loop, n->host, AF_UNSPEC, on_resolved, n);
        if (!n->pending)
            n->at = now, n->failed = true;
    }
    if (family == 4 && n->have4)
        *a = n->a4;
    else if (family == 6 && n->have6)
        *a = n->a6;
    else
        return false;
    return true;
}

static bool os_has_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void plan(struct ms_netcheck *nc)
{
    const struct netmap *nm = nc->m->nm;
    uint64_t now = loop_now(nc->m->loop);
    nc->np = 0;
    bool v6ok = nc->r.os_has_ipv6;
    for (size_t ri = 0; nm && ri < nm->nregions; ri++) {
        const struct nm_region *reg = &nm->regions[ri];
        if (reg->no_home || (reg->avoid && reg->id != nc->m->home))
            continue; /* NoMeasureNoHome; Avoid unless it is our home */
        const struct nm_derp_node *stun[16];
        size_t ns = 0;
        for (size_t k = 0; k < reg->nnodes && ns < 16; k++)
            if (reg->nodes[k].stun_port >= 0)
                stun[ns++] = &reg->nodes[k];
        for (int tr = 0; tr < NC_TRIES && ns; tr++) {
            const struct nm_derp_node *dn = stun[tr % ns];
            uint16_t port = dn->stun_port ? (uint16_t)dn->stun_port : 3478;
            for (int fam = 4; fam <= 6; fam += 2) {
                struct disco_addr a;
                memset(&a, 0, sizeof a);
                const char *lit = fam == 4 ? dn->ipv4 : dn->ipv6;
                if (lit && strcmp(lit, "none") == 0)
                    continue;
                if (!literal(lit, fam, &a) && !literal(dn->host, fam, &a)) {
                    /* no address of this family given: the HostName's, unless it is a literal (of the
                     * other family) */
                    struct disco_addr tmp;
                    if ((lit && *lit) || !dn->host || !*dn->host || literal(dn->host, fam == 4 ? 6 : 4, &tmp) ||
                        !name_lookup(nc, dn->host, fam, &a))
                        continue;
                }
                if (fam == 6 && !v6ok)
                    continue;
                if (nc->np == NC_MAX_PROBES)
                    return;
                struct probe *p = &nc->p[nc->np++];
                memset(p, 0, sizeof *p);
                a.port = port;
                p->to = a;
                p->v6 = fam == 6;
                p->region = reg->id;
                p->due = now + (uint64_t)tr * NC_RETRANSMIT_MS;
                randombytes_buf(p->txid, sizeof p->txid);
            }
        }
    }
}

static void finish(struct ms_netcheck *nc);

/* Preferred region over the recent reports, with Tailscale's stickiness. */
static int preferred(struct ms_netcheck *nc, uint64_t now)
{
    struct ms_report *r = &nc->r;
    /* remember this report's latencies, forget what is older than 5 minutes */
    struct hist h = {.at = now};
    for (size_t i = 0; i < r->nregions && h.n < MS_MAX_REGIONS; i++)
        if (region_lat(r, i)) {
            h.lat[h.n].region = r->latency[i].region;
            h.lat[h.n++].us = region_lat(r, i);
        }
    size_t k = 0;
    for (size_t i = 0; i < nc->nhist; i++)
        if (now - nc->hist[i].at <= NC_HISTORY_MS)
            nc->hist[k++] = nc->hist[i];
    nc->nhist = k;
    if (nc->nhist == NC_HISTORY)
        memmove(nc->hist, nc->hist + 1, --nc->nhist * sizeof *nc->hist);
    nc->hist[nc->nhist++] = h;

    int best_region = 0, prev = nc->prev_preferred;
    uint32_t best_any = 0, old_cur = 0;
    for (size_t i = 0; i < h.n; i++) {
        uint32_t best = h.lat[i].us;
        for (size_t j = 0; j < nc->nhist; j++)
            for (size_t q = 0; q < nc->hist[j].n; q++)
                if (nc->hist[j].lat[q].region == h.lat[i].region && nc->hist[j].lat[q].us < best)
                    best = nc->hist[j].lat[q].us;
        if (h.lat[i].region == prev)
            old_cur = h.lat[i].us;
        if (!best_region || best < best_any) {
            best_any = best;
            best_region = h.lat[i].region;
        }
    }
    if (prev && best_region && best_region != prev && old_cur) {
        if (old_cur - best_any < NC_PREFERRED_ABS_DIFF_US || best_any > old_cur / 3 * 2)
            best_region = prev; /* not clearly better: stay */
    }
    if (!best_region)
        best_region = prev; /* nothing answered: keep the home we have */
    nc->prev_preferred = best_region;
    return best_region;
}

static void send_due(struct ms_netcheck *nc, uint64_t now)
{
    struct ms *m = nc->m;
    for (size_t i = 0; i < nc->np; i++) {
        struct probe *p = &nc->p[i];
        if (p->sent || p->due > now)
            continue;
        p->sent = true;
        if (!would_help(nc, p)) {
            p->done = true;
            continue;
        }
        uint8_t req[STUN_REQUEST_LEN];
        long n = stun_request_encode(req, sizeof req, p->txid);
        struct iovec iov = {req, (size_t)n};
        p->sent_us = ms_now_us();
        if (n > 0 && ms_send_udp(m, &p->to, &iov, 1))
            m->st.stun_tx++;
        else
            p->done = true; /* cannot send (no IPv6 route...) */
    }
}

static bool all_done(const struct ms_netcheck *nc)
{
    for (size_t i = 0; i < nc->np; i++) {
        const struct probe *p = &nc->p[i];
        if (!p->done && (!p->sent ? would_help(nc, p) : !have_region(&nc->r, p->region) || would_help(nc, p)))
            return false;
    }
    return true;
}

static void arm(struct ms_netcheck *nc)
{
    uint64_t next = nc->deadline;
    for (size_t i = 0; i < nc->np; i++)
        if (!nc->p[i].sent && nc->p[i].due < next)
            next = nc->p[i].due;
    timer_start_at(&nc->t, next);
}

static void on_timer(struct timer *t, void *arg)
{
    struct ms_netcheck *nc = arg;
    uint64_t now = loop_now(nc->m->loop);
    if (now >= nc->deadline) {
        finish(nc);
        return;
    }
    send_due(nc, now);
    if (all_done(nc)) {
        finish(nc);
        return;
    }
    arm(nc);
}

void ms_nc_input(struct ms_netcheck *nc, const struct disco_addr *from, const uint8_t *pkt, size_t len)
{
    const uint8_t *txid;
    struct stun_addr mapped;
    if (stun_response_parse(pkt, len, &txid, &mapped) != 0) {
        nc->m->st.stun_bad++;
        return;
    }
    struct probe *p = NULL;
    for (size_t i = 0; nc->running && i < nc->np && !p; i++)
        if (nc->p[i].sent && !nc->p[i].done && memcmp(nc->p[i].txid, txid, STUN_TXID_LEN) == 0)
            p = &nc->p[i];
    if (!p) {
        nc->m->st.stun_bad++; /* late, or not ours */
        return;
    }
    /* Matched by its 96-bit transaction id alone: a server bound to a wildcard address answers from
     * whichever address its route picks (derper does), not necessarily the one we asked. */
    (void)from;
    p->done = true;
    uint64_t lat = ms_now_us() - p->sent_us;
    uint32_t us = lat ? (lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat) : 1;
    struct ms_report *r = &nc->r;
    uint32_t *slot = lat_slot(r, p->region, p->v6);
    if (slot && (!*slot || us < *slot))
        *slot = us;
    r->udp = true;
    struct disco_addr a;
    memcpy(a.ip, mapped.ip, 16);
    a.port = mapped.port;
    if (p->v6) {
        r->ipv6 = true;
        r->global6 = a;
    } else if (!r->ipv4) {
        r->ipv4 = true;
        r->global4 = a;
    } else if (!ms_addr_eq(&r->global4, &a)) {
        r->mapping_varies_by_dest_ip = 1; /* another server saw another address:port */
    } else if (r->mapping_varies_by_dest_ip < 0) {
        r->mapping_varies_by_dest_ip = 0;
    }
    /* enough regions answered: wait twice the slowest for the rest, no longer */
    size_t answered = 0;
    uint32_t maxlat = 0;
    for (size_t i = 0; i < r->nregions; i++)
        if (region_lat(r, i)) {
            answered++;
            if (region_lat(r, i) > maxlat)
                maxlat = region_lat(r, i);
        }
    if (answered == NC_ENOUGH_REGIONS) {
        uint64_t dl = loop_now(nc->m->loop) + 2 * (maxlat / 1000 + 1);
        if (dl < nc->deadline)
            nc->deadline = dl;
    }
    if (all_done(nc))
        finish(nc);
    else
        arm(nc);
}

static void finish(struct ms_netcheck *nc)
{
    timer_stop(&nc->t);
    nc->running = false;
    uint64_t now = loop_now(nc->m->loop);
    nc->r.valid = true;
    nc->r.preferred_derp = preferred(nc, now);
    nc->r.at_ms = now;
    char g4[64] = "-", g6[64] = "-";
    if (nc->r.ipv4)
        ms_addr_format(&nc->r.global4, g4, sizeof g4);
    if (nc->r.ipv6)
        ms_addr_format(&nc->r.global6, g6, sizeof g6);
    log_debug("module=node event=netcheck udp=%d v4=%s v6=%s mapping_varies=%d preferred_derp=%d regions=%zu "
              "ms=%llu",
              nc->r.udp, g4, g6, nc->r.mapping_varies_by_dest_ip, nc->r.preferred_derp, nc->r.nregions,
              (unsigned long long)(now - nc->start));
    ms_nc_done(nc->m, &nc->r);
}

int ms_nc_start(struct ms_netcheck *nc)
{
    struct ms *m = nc->m;
    if (nc->running || !m->nm)
        return -1;
    memset(&nc->r, 0, sizeof nc->r);
    nc->r.mapping_varies_by_dest_ip = nc->r.upnp = nc->r.pmp = nc->r.pcp = -1;
    nc->r.os_has_ipv6 = os_has_ipv6();
    if (!nc->prev_preferred)
        nc->prev_preferred = m->home;
    plan(nc);
    if (!nc->np)
        return -1;
    nc->running = true;
    nc->start = loop_now(m->loop);
    nc->deadline = nc->start + NC_STUN_TIMEOUT_MS;
    send_due(nc, nc->start);
    arm(nc);
    return 0;
}

bool ms_nc_running(const struct ms_netcheck *nc)
{
    return nc->running;
}

struct ms_netcheck *ms_nc_new(struct ms *m)
{
    struct ms_netcheck *nc = calloc(1, sizeof *nc);
    if (!nc)
        return NULL;
    nc->m = m;
    timer_init(&nc->t, m->loop, on_timer, nc);
    return nc;
}

void ms_nc_free(struct ms_netcheck *nc)
{
    if (!nc)
        return;
    timer_stop(&nc->t);
    for (size_t i = 0; i < NC_NAMES; i++)
        resolve_cancel(nc->names[i].pending); /* its answer lands after we are gone: dropped */
    free(nc);
}
