// SPDX-License-Identifier: BSD-3-Clause
/* MagicDNS in the node daemon: the resolver follows the data plane's life (it answers on the TUN), takes
 * each map's DNSConfig and names, and points the OS at itself when `weft up --accept-dns` (the default). */
#include "config.h"

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "core/json/tailcfg.h"
#include "core/log.h"
#include "modules/node/dns/dns.h"
#include "modules/node/dns/os.h"
#include "modules/node/dp.h"
#include "modules/node/node.h"

#define RESOLV_CONF (n->conf->resolv_conf ? n->conf->resolv_conf : "/etc/resolv.conf")

static void inject(void *arg, uint8_t *pkt, size_t len)
{
    struct node *n = arg;
    struct iovec iov = {pkt, len};
    dp_tun_inject(n->dp, &iov, 1);
}

static bool on_local(void *ctx, const uint8_t *pkt, size_t len)
{
    struct node *n = ctx;
    return n->dns && dns_service_packet(n->dns, pkt, len);
}

void node_dns_recover(struct node *n)
{
    dns_os_recover(RESOLV_CONF, n->path_resolv_backup);
}

void node_dns_start(struct node *n)
{
    if (!n->dp || n->dns)
        return;
    static const struct dns_service_ops ops = {inject};
    n->dns = dns_service_new(n->loop, DP_MTU, &ops, n);
    if (!n->dns) {
        log_error("module=node event=dns error=\"out of memory: no MagicDNS\"");
        return;
    }
    dp_set_local_handler(n->dp, on_local, n);
    dns_service_set_ca_file(n->dns, &n->conf->dns_ca_file);
    char **ns = NULL;
    size_t nns = 0;
    dns_os_read_resolvers(RESOLV_CONF, n->path_resolv_backup, &ns, &nns);
    dns_service_set_os_resolvers(n->dns, ns, nns);
    for (size_t i = 0; i < nns; i++)
        free(ns[i]);
    free(ns);
    const char *tun = dp_tun_name(n->dp);
    int ifindex = tun && *tun ? (int)if_nametoindex(tun) : 0;
    if (ifindex)
        n->dns_os = dns_os_new(RESOLV_CONF, n->path_resolv_backup, tun, ifindex);
    memset(&n->dns_applied, 0, sizeof n->dns_applied);
    n->dns_names_print = 0;
}

void node_dns_stop(struct node *n)
{
    dns_os_free(n->dns_os); /* restores the OS's settings */
    n->dns_os = NULL;
    dns_os_wants_free(&n->dns_applied);
    if (n->dp)
        dp_set_local_handler(n->dp, NULL, NULL);
    dns_service_free(n->dns);
    n->dns = NULL;
}

/* Tell the OS what the current config wants, if that changed (or accept-dns did). */
static void apply_os(struct node *n)
{
    if (!n->dns_os)
        return;
    struct dns_os_wants w;
    dns_service_os_wants(n->dns, &w);
    if (!n->prefs.accept_dns)
        w.enabled = false;
    if (dns_os_wants_equal(&w, &n->dns_applied) &&
        (dns_os_mode(n->dns_os) != DNS_OS_NONE) == w.enabled) {
        dns_os_wants_free(&w);
        return;
    }
    char err[300];
    dns_os_apply(n->dns_os, &w, err, sizeof err);
    dns_os_wants_free(&n->dns_applied);
    n->dns_applied = w;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t node_print(uint64_t h, const struct nm_node *p)
{
    h = fnv(h, &p->id, sizeof p->id);
    h = fnv(h, p->name ? p->name : "", p->name ? strlen(p->name) + 1 : 1);
    return fnv(h, p->addrs, p->naddrs * sizeof *p->addrs);
}

/* What the names depend on (names and addresses of the node and its peers): most map changes are
 * endpoints and presence, which leave it alone, and then the names are not built again. */
static uint64_t names_print(const struct netmap *nm)
{
    uint64_t h = 1469598103934665603ULL;
    if (!nm->have_self)
        return h;
    h = node_print(h, &nm->self);
    for (size_t i = 0; i < nm->npeers; i++)
        h = node_print(h, nm->peers[i]);
    return h;
}

void node_dns_on_map(struct node *n, const struct tc_map_response *m, bool changed)
{
    if (!n->dns)
        return;
    if (m->dns_config) /* absent: unchanged (capability version >= 15) */
        dns_service_set_config(n->dns, m->dns_config);
    uint64_t print = changed ? names_print(&n->nm) : n->dns_names_print;
    if (m->dns_config || print != n->dns_names_print)
        dns_service_set_netmap(n->dns, &n->nm);
    n->dns_names_print = print;
    apply_os(n);
}

void node_dns_set_accept(struct node *n, bool accept)
{
    if (n->prefs.accept_dns == accept)
        return;
    n->prefs.accept_dns = accept;
    log_info("module=node event=accept_dns value=%s", accept ? "true" : "false");
    if (n->dns)
        apply_os(n);
}

void node_dns_status(struct node *n, struct jbuf *b)
{
    jbuf_field(b, "DNS");
    jbuf_open(b, '{');
    jbuf_field(b, "AcceptDNS");
    jbuf_bool(b, n->prefs.accept_dns);
    jbuf_field(b, "Running");
    jbuf_bool(b, n->dns != NULL);
    if (n->dns)
        dns_service_status(n->dns, b);
    jbuf_field(b, "OS");
    jbuf_open(b, '{');
    dns_os_status(n->dns_os, b);
    jbuf_close(b, '}');
    jbuf_close(b, '}');
}
