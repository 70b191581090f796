// SPDX-License-Identifier: BSD-3-Clause
/* Our candidate endpoints (spec disco.md §4.1), in Tailscale's order: the gateway's port mapping, the
 * STUN-mapped addresses, the public IPv4 address with our fixed port when the NAT maps per destination
 * (a hand-made port forward may exist), then every local interface address with our port. They are
 * gathered after each netcheck ("ReSTUN"): when the DERP map arrives, every 20-26 s while a peer is
 * active (just under the 30 s many NATs forget an idle mapping), when a CallMeMaybe needs fresher ones
 * than 27 s, and when the interfaces change. Control hears of them (a lite map request) only when the
 * set, or what NetInfo says, changed. */
#include "config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>

#include "core/log.h"
#include "core/wg/device.h"
#include "modules/node/magicsock/ms_int.h"

size_t ms_local_addrs(const char *tun, struct disco_addr *out, size_t cap)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return 0;
    size_t n = 0;
    for (struct ifaddrs *i = ifa; i && n < cap; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (tun && *tun && strcmp(i->ifa_name, tun) == 0)
            continue; /* our own tunnel: its addresses are reached through us, not to us */
        if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)
            continue;
        struct disco_addr a;
        ms_addr_from_sa(&a, i->ifa_addr);
        if (ms_addr_is_loopback(&a) || ms_addr_is_linklocal(&a))
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = memcmp(out[k].ip, a.ip, 16) == 0;
        if (!dup)
            out[n++] = a;
    }
    freeifaddrs(ifa);
    return n;
}

static void add(struct ms_endpoint *eps, size_t *n, const struct disco_addr *a, enum ms_ep_type t)
{
    if (!ms_addr_valid(a) || *n >= MS_MAX_LOCAL_EPS)
        return;
    for (size_t i = 0; i < *n; i++)
        if (ms_addr_eq(&eps[i].addr, a))
            return;
    eps[*n].addr = *a;
    eps[*n].type = t;
    (*n)++;
}

/* The part of NetInfo whose change is worth telling control (latencies alone are not: Tailscale's
 * NetInfo.BasicallyEqual). */
static uint64_t netinfo_digest(const struct ms_report *r)
{
    uint64_t h = 1469598103934665603ull;
    int v[] = {r->udp, r->ipv6, r->os_has_ipv6, r->mapping_varies_by_dest_ip, r->upnp, r->pmp, r->pcp,
               r->have_port_map, r->preferred_derp};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        h = (h ^ (uint64_t)(uint32_t)v[i]) * 1099511628211ull;
    return h;
}

void ms_endpoints_update(struct ms *m)
{
    struct ms_endpoint eps[MS_MAX_LOCAL_EPS];
    size_t n = 0;
    const struct ms_report *r = &m->report;
    uint16_t port = wg_device_listen_port(m->dev);
    struct disco_addr pm;
    if (m->pm && ms_pm_mapping(m->pm, &pm)) {
        add(eps, &n, &pm, MS_EP_PORTMAPPED);
        m->report.have_port_map = true;
    }
    if (r->ipv4)
        add(eps, &n, &r->global4, MS_EP_STUN);
    if (r->ipv6)
        add(eps, &n, &r->global6, MS_EP_STUN);
    if (r->ipv4 && r->mapping_varies_by_dest_ip == 1 && m->opts.port) {
        struct disco_addr a = r->global4;
        a.port = m->opts.port;
        add(eps, &n, &a, MS_EP_STUN4LOCALPORT);
    }
    struct disco_addr local[MS_MAX_LOCAL_EPS];
    size_t nl = port ? ms_local_addrs(m->tun, local, MS_MAX_LOCAL_EPS) : 0;
    for (size_t i = 0; i < nl; i++) {
        local[i].port = port;
        add(eps, &n, &local[i], MS_EP_LOCAL);
    }
    bool changed = n != m->neps || memcmp(eps, m->eps, n * sizeof *eps) != 0;
    uint64_t digest = netinfo_digest(&m->report);
    bool ni_changed = digest != m->ni_digest;
    m->ni_digest = digest;
    memcpy(m->eps, eps, n * sizeof *eps);
    m->neps = n;
    m->eps_time = loop_now(m->loop);
    if (changed) {
        char list[MS_MAX_LOCAL_EPS * 56] = "";
        for (size_t i = 0; i < n; i++) {
            char a[64];
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? "," : "", ms_addr_format(&eps[i].addr, a, sizeof a));
        }
        log_info("module=node event=endpoints endpoints=%s why=%s", n ? list : "-",
                 m->restun_why ? m->restun_why : "-");
        /* peers we have no working path to hear of them now (a CallMeMaybe through DERP), not after
         * control's round trip: they ping the new ones and the path comes back */
        uint64_t now = loop_now(m->loop);
        for (struct ms_peer *p = m->first; p; p = p->next)
            if (p->last_send_ext && now - p->last_send_ext < MS_SESSION_ACTIVE_MS &&
                !(p->have_best && now <= p->trust_until))
                p->want_cmm = true;
    }
    if ((changed || ni_changed) && m->cbs.changed)
        m->cbs.changed(m->arg);
    for (struct ms_peer *p = m->first; p; p = p->next)
        ms_peer_endpoints_fresh(p);
}

/* ---- re-STUN ---- */

static bool any_active(const struct ms *m)
{
    uint64_t now = loop_now(m->loop);
    for (const struct ms_peer *p = m->first; p; p = p->next)
        if (p->last_send_ext && now - p->last_send_ext < MS_SESSION_ACTIVE_MS)
            return true;
    return false;
}

static void on_restun(struct timer *t, void *arg)
{
    ms_restun(arg, "periodic");
}

void ms_nc_done(struct ms *m, const struct ms_report *r)
{
    int old = m->report.preferred_derp;
    bool had_map = m->report.have_port_map;
    m->report = *r;
    m->report.have_port_map = had_map;
    if (m->pm)
        ms_pm_services(m->pm, &m->report.upnp, &m->report.pmp, &m->report.pcp);
    m->st.netchecks++;
    m->nc_running = false;
    if (m->report.preferred_derp && m->report.preferred_derp != old && m->cbs.preferred_derp)
        m->cbs.preferred_derp(m->arg, m->report.preferred_derp);
    ms_endpoints_update(m);
    size_t nw = m->nwaiters;
    struct ms_waiter w[MS_MAX_WAITERS];
    memcpy(w, m->waiters, nw * sizeof *w);
    m->nwaiters = 0;
    for (size_t i = 0; i < nw; i++)
        w[i].done(w[i].arg, &m->report);
    if (m->nc_again) {
        m->nc_again = false;
        ms_restun(m, m->restun_next_why ? m->restun_next_why : "queued");
        return;
    }
    /* periodically while someone is talking to a peer; otherwise the next CallMeMaybe re-STUNs */
    if (m->npeers && any_active(m))
        timer_start(&m->t_restun, MS_RESTUN_MIN_MS + randombytes_uniform(MS_RESTUN_MAX_MS - MS_RESTUN_MIN_MS));
    else
        timer_stop(&m->t_restun);
}

void ms_path_lost(struct ms *m)
{
    uint64_t now = loop_now(m->loop);
    if (m->path_lost_restun && now - m->path_lost_restun < MS_DISCO_PING_INTERVAL_MS)
        return; /* many peers' paths going at once is one change */
    m->path_lost_restun = now;
    ms_restun(m, "path-lost");
}

void ms_endpoints_active(struct ms *m)
{
    if (m->nc_running || timer_armed(&m->t_restun) || !m->nm)
        return; /* the netcheck under way arms it when it finishes */
    /* the endpoints' age counts: if they are 20-26 s old already, re-STUN now */
    uint64_t now = loop_now(m->loop);
    uint64_t at = m->eps_time + MS_RESTUN_MIN_MS + randombytes_uniform(MS_RESTUN_MAX_MS - MS_RESTUN_MIN_MS);
    timer_start_at(&m->t_restun, at > now ? at : now);
}

void ms_restun(struct ms *m, const char *why)
{
    if (m->nc_running) {
        m->nc_again = true;
        m->restun_next_why = why;
        return;
    }
    log_debug("module=node event=restun why=%s", why);
    m->restun_why = why;
    m->restun_next_why = NULL;
    timer_stop(&m->t_restun);
    m->nc_running = true;
    if (ms_nc_start(m->nc) != 0) {
        /* nothing to probe (no DERP map, no STUN server): local endpoints only */
        struct ms_report r = m->report;
        r.valid = false;
        ms_nc_done(m, &r);
    }
}

int ms_netcheck(struct ms *m, void (*done)(void *arg, const struct ms_report *r), void *arg)
{
    if (!m->nm || m->nwaiters == MS_MAX_WAITERS)
        return -1;
    m->waiters[m->nwaiters++] = (struct ms_waiter){done, arg};
    if (m->nc_running)
        m->nc_again = true; /* the one under way may have started before the caller's question */
    else
        ms_restun(m, "netcheck");
    return 0;
}

void ms_netcheck_cancel(struct ms *m, void *arg)
{
    for (size_t i = 0; i < m->nwaiters;)
        if (m->waiters[i].arg == arg)
            m->waiters[i] = m->waiters[--m->nwaiters];
        else
            i++;
}

/* ---- link changes ---- */

static void on_link(struct timer *t, void *arg)
{
    struct ms *m = arg;
    m->link_major = false;
    /* major only if our addresses changed (Tailscale compares interface state too): address churn that
     * leaves the set as it was (a DHCP renewal, our own TUN) must not cost every peer its path */
    struct disco_addr now[MS_MAX_LOCAL_EPS];
    size_t n = ms_local_addrs(m->tun, now, MS_MAX_LOCAL_EPS);
    bool major = n != m->nlocal || memcmp(now, m->local, n * sizeof *now) != 0;
    memcpy(m->local, now, n * sizeof *now);
    m->nlocal = n;
    if (major) {
        log_info("module=node event=link_change local_addresses=%zu", n);
        /* addresses moved: what we proved about paths may no longer hold (Tailscale's Rebind +
         * resetEndpointStates) */
        for (struct ms_peer *p = m->first; p; p = p->next)
            ms_peer_reset(p);
        if (m->pm)
            ms_pm_link_changed(m->pm);
    }
    ms_restun(m, major ? "link-change-major" : "link-change");
}

void ms_link_changed(struct ms *m, bool major)
{
    m->link_major |= major;
    if (!timer_armed(&m->t_link))
        timer_start(&m->t_link, 300); /* a burst of netlink events is one change */
}

void ms_endpoints_init(struct ms *m)
{
    m->nlocal = ms_local_addrs(m->tun, m->local, MS_MAX_LOCAL_EPS);
    timer_init(&m->t_restun, m->loop, on_restun, m);
    timer_init(&m->t_link, m->loop, on_link, m);
}

void ms_endpoints_stop(struct ms *m)
{
    timer_stop(&m->t_restun);
    timer_stop(&m->t_link);
}
