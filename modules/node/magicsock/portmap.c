// SPDX-License-Identifier: BSD-3-Clause
/* A UDP port mapping on the gateway for our WireGuard port, offered to peers as an endpoint (type
 * "portmapped"), and what the gateway speaks for netcheck. Own small clients on the loop for NAT-PMP
 * (RFC 6886) and PCP (RFC 6887): both are a fixed binary exchange with the default gateway on UDP 5351
 * (pmp.c encodes and parses them), so a library would add little; and no call here may block the
 * node's one loop. UPnP IGD (SSDP discovery, HTTP, SOAP/XML) goes through libminiupnpc on a thread
 * (upnp.c): it is asked only when neither NAT-PMP nor PCP gave a mapping - they are cheaper, and a
 * gateway that speaks them all (miniupnpd) keeps one mapping for us, not two.
 *
 * The gateway is the IPv4 default route's (/proc/net/route). A probe (NAT-PMP external-address request
 * and PCP ANNOUNCE) tells which protocols answer; a mapping is asked of both (the first success wins),
 * for 2 hours, renewed at half its life, retried 250 ms / 500 ms / 1 s, then left alone for a minute. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/udp.h"
#include "core/wg/device.h"
#include "modules/node/magicsock/ms_int.h"
#include "modules/node/magicsock/pmp.h"

#define PM_LIFETIME 7200      /* seconds asked for */
#define PM_TRIES 3
#define PM_FIRST_RETRY_MS 250
#define PM_BACKOFF_MS 60000   /* after a failed round */
#define PM_PROBE_STALE_MS 300000

enum pm_state { PM_IDLE, PM_PROBING, PM_MAPPING };

struct ms_portmap {
    struct ms *m;
    struct udp_sock *u;
    struct udp_msg rx[4];
    uint8_t rxbuf[4][1100];
    struct timer t;
    enum pm_state state;
    int tries;
    uint64_t retry_after; /* no new round before this (loop ms) */
    bool have_gw;
    uint8_t gw[4], self[4];
    int pmp, pcp, upnp;
    uint64_t probed_at;
    bool have_pmp_ext;
    uint8_t pmp_ext[4];
    uint8_t nonce[PCP_NONCE_LEN];
    uint16_t internal_port;
    struct ms_upnp *up;   /* NULL: UPnP not built in */
    bool via_upnp;        /* the live mapping is UPnP's: renewed and deleted there */
    uint64_t upnp_retry_after;
    bool have;            /* a live mapping */
    struct disco_addr ext;
    uint64_t renew_at, expires;
};

/* The IPv4 default gateway, and our address toward it. */
static bool find_gateway(struct ms_portmap *pm)
{
    FILE *f = fopen("/proc/net/route", "r");
    if (!f)
        return false;
    char line[256];
    bool found = false;
    uint32_t gw = 0;
    while (fgets(line, sizeof line, f)) {
        char ifn[64];
        unsigned dst, g, flags;
        if (sscanf(line, "%63s %x %x %x", ifn, &dst, &g, &flags) == 4 && dst == 0 && (flags & 2) && g) {
            gw = g; /* in network order as the kernel prints it */
            found = true;
            break;
        }
    }
    fclose(f);
    if (!found)
        return false;
    memcpy(pm->gw, &gw, 4);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PMP_PORT)};
    memcpy(&a.sin_addr, pm->gw, 4);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&me, &ml) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        return false;
    memcpy(pm->self, &me.sin_addr, 4);
    return true;
}

static void send_gw(struct ms_portmap *pm, const uint8_t *b, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PMP_PORT)};
    memcpy(&a.sin_addr, pm->gw, 4);
    udp_send(pm->u, b, n, (struct sockaddr *)&a, sizeof a);
}

static void self16(const struct ms_portmap *pm, uint8_t out[16])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, pm->self, 4);
}

static void pm_send_round(struct ms_portmap *pm)
{
    uint8_t b[PCP_MAP_LEN], me[16];
    self16(pm, me);
    if (pm->state == PM_PROBING) {
        send_gw(pm, b, pmp_extaddr_request(b));
        send_gw(pm, b, pcp_announce_request(b, me));
        return;
    }
    if (pm->pcp != 0)
        send_gw(pm, b, pcp_map_request(b, me, pm->nonce, pm->internal_port, NULL, pm->internal_port, PM_LIFETIME));
    if (pm->pmp != 0) {
        if (!pm->have_pmp_ext)
            send_gw(pm, b, pmp_extaddr_request(b));
        send_gw(pm, b, pmp_map_request(b, pm->internal_port, pm->internal_port, PM_LIFETIME));
    }
}

static void pm_start(struct ms_portmap *pm, enum pm_state st)
{
    uint64_t now = loop_now(pm->m->loop);
    if (pm->state != PM_IDLE || now < pm->retry_after || !pm->u)
        return;
    if (!(pm->have_gw = find_gateway(pm)))
        return;
    pm->state = st;
    pm->tries = 0;
    pm->internal_port = wg_device_listen_port(pm->m->dev);
    if (st == PM_MAPPING)
        randombytes_buf(pm->nonce, sizeof pm->nonce);
    pm_send_round(pm);
    timer_start(&pm->t, PM_FIRST_RETRY_MS);
}

static void got_mapping(struct ms_portmap *pm, const uint8_t ip4[4], uint16_t port, uint32_t lifetime, const char *how)
{
    uint64_t now = loop_now(pm->m->loop);
    struct disco_addr a;
    ms_addr_from4(&a, ip4, port);
    bool changed = !pm->have || !ms_addr_eq(&a, &pm->ext);
    pm->have = true;
    pm->via_upnp = strcmp(how, "upnp") == 0;
    pm->ext = a;
    if (lifetime < 10)
        lifetime = 10;
    pm->expires = now + (uint64_t)lifetime * 1000;
    pm->renew_at = now + (uint64_t)lifetime * 500;
    pm->state = PM_IDLE;
    timer_start_at(&pm->t, pm->renew_at);
    if (changed) {
        char t[64];
        log_info("module=node event=portmap protocol=%s external=%s lifetime_s=%u", how,
                 ms_addr_format(&a, t, sizeof t), lifetime);
        ms_restun(pm->m, "portmap-changed");
    }
}

static void lose_mapping(struct ms_portmap *pm)
{
    pm->have = pm->via_upnp = false;
    log_info("module=node event=portmap msg=\"the mapping expired and was not renewed\"");
    ms_restun(pm->m, "portmap-lost");
}

/* Ask the gateway's IGD for (or to refresh) our mapping, on upnp.c's thread. */
static void upnp_map(struct ms_portmap *pm)
{
    uint64_t now = loop_now(pm->m->loop);
    if (!pm->up || ms_upnp_busy(pm->up) || now < pm->upnp_retry_after || pm->upnp == 0)
        return;
    if (!pm->have_gw && !(pm->have_gw = find_gateway(pm)))
        return;
    ms_upnp_map(pm->up, pm->self, wg_device_listen_port(pm->m->dev), PM_LIFETIME);
}

static void on_upnp(void *arg, const struct ms_upnp_result *r)
{
    struct ms_portmap *pm = arg;
    uint64_t now = loop_now(pm->m->loop);
    if (r->delete) {
        if (r->deleted)
            log_info("module=node event=portmap protocol=upnp msg=\"mapping deleted\"");
        return;
    }
    pm->upnp = r->igd ? 1 : 0;
    if (r->probe) {
        /* an IGD, and neither NAT-PMP nor PCP answered: map there now, not at the next look */
        if (r->igd && !pm->have && pm->pmp == 0 && pm->pcp == 0)
            upnp_map(pm);
        return;
    }
    if (r->mapped) {
        got_mapping(pm, r->ext_ip, r->ext_port, r->lifetime ? r->lifetime : PM_LIFETIME, "upnp");
        return;
    }
    log_info("module=node event=portmap protocol=upnp error=\"%s\"", r->err);
    pm->upnp_retry_after = now + PM_BACKOFF_MS;
    if (pm->have && pm->via_upnp) { /* a failed refresh: try again before the mapping runs out */
        if (now >= pm->expires)
            lose_mapping(pm);
        else
            timer_start(&pm->t, pm->expires - now < PM_BACKOFF_MS ? pm->expires - now : PM_BACKOFF_MS);
    }
}

/* The probe is over: map now, with what answered, rather than at the next endpoint update (up to ~26 s). */
static void probe_done(struct ms_portmap *pm)
{
    if (pm->have)
        return;
    if (pm->pmp == 1 || pm->pcp == 1)
        pm_start(pm, PM_MAPPING);
    else if (pm->upnp == 1)
        upnp_map(pm);
}

static void on_pm_rx(struct udp_sock *u, struct udp_msg *msgs, size_t n, void *arg)
{
    struct ms_portmap *pm = arg;
    (void)u;
    for (size_t i = 0; i < n; i++) {
        const struct sockaddr_in *from = (const struct sockaddr_in *)&msgs[i].addr;
        if (msgs[i].addr.ss_family != AF_INET || memcmp(&from->sin_addr, pm->gw, 4) != 0 ||
            ntohs(from->sin_port) != PMP_PORT)
            continue; /* only the gateway's answers count */
        const uint8_t *b = msgs[i].buf;
        size_t len = msgs[i].len;
        struct pmp_response pr;
        struct pcp_response cr;
        if (len >= 1 && b[0] == 0 && pmp_response_parse(b, len, &pr) == 0) {
            pm->pmp = 1;
            if (pr.op == PMP_OP_EXTADDR && pr.result == 0) {
                memcpy(pm->pmp_ext, pr.ext_ip, 4);
                pm->have_pmp_ext = true;
            } else if (pr.op == PMP_OP_MAP_UDP && pr.result == 0 && pm->state == PM_MAPPING && pm->have_pmp_ext &&
                       pr.internal_port == pm->internal_port && pr.ext_port) {
                got_mapping(pm, pm->pmp_ext, pr.ext_port, pr.lifetime, "nat-pmp");
            }
        } else if (len >= 1 && b[0] == PCP_VERSION && pcp_response_parse(b, len, &cr) == 0) {
            pm->pcp = 1;
            if (cr.op == PCP_OP_MAP && cr.result == 0 && pm->state == PM_MAPPING &&
                memcmp(cr.nonce, pm->nonce, PCP_NONCE_LEN) == 0 && cr.internal_port == pm->internal_port &&
                cr.ext_port) {
                static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (memcmp(cr.ext_ip, v4, 12) == 0)
                    got_mapping(pm, cr.ext_ip + 12, cr.ext_port, cr.lifetime, "pcp");
            }
        } else if (len >= 1 && b[0] == 1 && len >= 4 && b[1] >= 128) {
            /* a PCP-only server answers a NAT-PMP request with version 1... and the reverse with
             * "unsupported version": either way it speaks one of them; nothing more to read */
        }
        if (pm->state == PM_PROBING && pm->pmp == 1 && pm->pcp == 1) {
            pm->state = PM_IDLE;
            pm->probed_at = loop_now(pm->m->loop);
            timer_stop(&pm->t);
            probe_done(pm);
        }
    }
}

static void on_pm_timer(struct timer *t, void *arg)
{
    struct ms_portmap *pm = arg;
    uint64_t now = loop_now(pm->m->loop);
    if (pm->state == PM_IDLE) {
        if (pm->have && pm->via_upnp && now >= pm->expires) {
            lose_mapping(pm);
        } else if (pm->have && now >= pm->renew_at) { /* renew, keeping what we have until it expires */
            if (pm->via_upnp) {
                pm->upnp_retry_after = 0;
                upnp_map(pm);
            } else {
                pm->retry_after = 0;
                pm_start(pm, PM_MAPPING);
            }
        }
        return;
    }
    if (++pm->tries < PM_TRIES) {
        pm_send_round(pm);
        timer_start(&pm->t, (uint64_t)PM_FIRST_RETRY_MS << pm->tries);
        return;
    }
    /* no (more) answers */
    if (pm->state == PM_PROBING) {
        if (pm->pmp < 0)
            pm->pmp = 0;
        if (pm->pcp < 0)
            pm->pcp = 0;
        pm->probed_at = now;
    } else if (pm->have && now >= pm->expires) {
        lose_mapping(pm);
    }
    enum pm_state was = pm->state;
    pm->state = PM_IDLE;
    if (was == PM_PROBING) {
        probe_done(pm);
        return;
    }
    pm->retry_after = now + PM_BACKOFF_MS;
    if (!pm->have) /* neither NAT-PMP nor PCP mapped: UPnP's turn */
        upnp_map(pm);
}

struct ms_portmap *ms_pm_new(struct ms *m)
{
    struct ms_portmap *pm = calloc(1, sizeof *pm);
    if (!pm)
        return NULL;
    pm->m = m;
    pm->pmp = pm->pcp = pm->upnp = -1;
    timer_init(&pm->t, m->loop, on_pm_timer, pm);
    pm->up = ms_upnp_new(m->loop, on_upnp, pm);
    char err[200];
    pm->u = udp_bind(m->loop, "0.0.0.0:0", err, sizeof err);
    if (pm->u) {
        for (size_t i = 0; i < 4; i++) {
            pm->rx[i].buf = pm->rxbuf[i];
            pm->rx[i].cap = sizeof pm->rxbuf[i];
        }
        udp_recv_start(pm->u, pm->rx, 4, on_pm_rx, pm);
    } else {
        log_warn("module=node event=portmap error=\"%s\"", err);
    }
    return pm;
}

void ms_pm_free(struct ms_portmap *pm)
{
    if (!pm)
        return;
    timer_stop(&pm->t);
    if (pm->u) {
        if (pm->have && !pm->via_upnp) { /* give the mapping back */
            uint8_t b[PCP_MAP_LEN], me[16];
            self16(pm, me);
            if (pm->pcp == 1)
                send_gw(pm, b, pcp_map_request(b, me, pm->nonce, pm->internal_port, NULL, 0, 0));
            if (pm->pmp == 1)
                send_gw(pm, b, pmp_map_request(b, pm->internal_port, 0, 0));
        }
        udp_close(pm->u);
    }
    ms_upnp_free(pm->up); /* deletes a UPnP mapping */
    free(pm);
}

bool ms_pm_mapping(struct ms_portmap *pm, struct disco_addr *ext)
{
    uint64_t now = loop_now(pm->m->loop);
    if (pm->have && now < pm->expires) {
        *ext = pm->ext;
        return true;
    }
    if (pm->pmp != 0 || pm->pcp != 0)
        pm_start(pm, PM_MAPPING);
    else
        upnp_map(pm);
    return false;
}

void ms_pm_services(struct ms_portmap *pm, int *upnp, int *pmp, int *pcp)
{
    uint64_t now = loop_now(pm->m->loop);
    if (!pm->probed_at || now - pm->probed_at > PM_PROBE_STALE_MS) {
        pm_start(pm, PM_PROBING);
        if (pm->up && pm->have_gw && pm->state == PM_PROBING)
            ms_upnp_probe(pm->up, pm->self);
    }
    *upnp = pm->upnp;
    *pmp = pm->pmp;
    *pcp = pm->pcp;
}

void ms_pm_link_changed(struct ms_portmap *pm)
{
    /* another network: another gateway, another mapping */
    timer_stop(&pm->t);
    pm->state = PM_IDLE;
    pm->have = pm->have_pmp_ext = pm->via_upnp = false;
    pm->pmp = pm->pcp = pm->upnp = -1;
    pm->probed_at = pm->retry_after = pm->upnp_retry_after = 0;
    if (pm->up)
        ms_upnp_forget(pm->up);
}
