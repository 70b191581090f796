// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stddef.h>

#include "core/cfgcheck.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/module.h"
#include "core/reload.h"
#include "modules/node/node.h"

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct node_conf, name), 0, 0, NULL, NULL}
static const struct cfg_key node_keys[] = {
    K(socket, CFG_STR, "/run/weft/node.sock",
      "the local API socket the CLI talks to (mode 0600, or 0660 with socket_group)"),
    K(socket_group, CFG_STR, NULL, "group allowed to use the local API socket"),
    K(tun, CFG_STR, "weft0", "name of the TUN interface"),
    {"port", CFG_INT, "41641", "UDP port for WireGuard and disco (0: any)", offsetof(struct node_conf, port),
     0, 65535, NULL},
    {"login_server", CFG_STR, NULL, "control server URL to log in to (also `weft up --login-server`)",
     offsetof(struct node_conf, login_server), 0, 0, NULL, cfg_check_http_url},
    K(hostname, CFG_STR, NULL, "the name to register (default: the system's hostname)"),
    K(derp_http, CFG_BOOL, "false", "reach DERP relays over plain HTTP (development and tests only)"),
    K(resolv_conf, CFG_STR, "/etc/resolv.conf",
      "the resolver file MagicDNS is set up through (`weft up --accept-dns`): its manager (systemd-resolved, "
      "resolvconf) is used, or it is rewritten with a backup"),
    {"dns_ca_file", CFG_STR, NULL,
     "CA certificates (PEM) that DNS-over-HTTPS nameservers are checked against instead of the system's (a "
     "DoH server with a private CA)",
     offsetof(struct node_conf, dns_ca_file), 0, 0, NULL, cfg_check_ca_file},
    K(log_filter_drops, CFG_BOOL, "false",
      "log the packets the packet filter drops (at most 5 a second; counts are in `weft status --json`)"),
    K(portmap, CFG_BOOL, "true",
      "ask the gateway for a UDP port mapping (NAT-PMP, PCP) to offer peers as an endpoint"),
    {"timer_scale", CFG_INT, "1", "tests only: divide the WireGuard protocol timers by this",
     offsetof(struct node_conf, timer_scale), 1, 1000, NULL},
    CFG_END,
};

/* login_server, hostname, derp_http, dns_ca_file and log_filter_drops are read when they are used (the next login, the next
 * connection, the next dropped packet). */
static const struct reload_fixed node_fixed[] = {
    {"socket", "the local API socket is bound at start"},
    {"socket_group", "the local API socket is bound at start"},
    {"tun", "the TUN interface is created at start"},
    {"port", "the UDP socket is bound at start"},
    {"timer_scale", "the WireGuard engine is set up at start"},
    {"portmap", "the path manager is set up once, when the data plane starts"},
    {NULL, NULL},
};

static int node_reload(struct weft_instance *inst, void *newconf)
{
    struct reload_changes ch;
    reload_take("node", inst->mod->keys, inst->conf, newconf, node_fixed, &ch);
    for (size_t i = 0; i < ch.n; i++)
        log_info("module=node event=reload key=node.%s result=applied", ch.keys[i]);
    return 0;
}

extern const struct weft_verb node_verbs[];     /* wireguard.c: `weft wireguard` */
extern const struct weft_verb node_cli_verbs[]; /* verbs.c: up, down, logout, status, ip, ping */

/* The descriptor takes one verb table: the two are joined when the module is loaded (a constructor runs
 * at dlopen, or at program start when linked in), so each file keeps its own list. */
static struct weft_verb all_verbs[32];

__attribute__((constructor)) static void join_verbs(void)
{
    size_t n = 0;
    const struct weft_verb *lists[] = {node_cli_verbs, node_verbs};
    for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
        for (const struct weft_verb *v = lists[l]; v->name && n + 1 < sizeof all_verbs / sizeof *all_verbs;
             v++)
            all_verbs[n++] = *v;
}


WEFT_MODULE(node) = {
    .abi = WEFT_ABI_VERSION,
    .name = "node",
    .version = WEFT_VERSION,
    .summary = "client daemon: joins a tailnet, TUN + WireGuard to its peers",
    .keys = node_keys,
    .conf_size = sizeof(struct node_conf),
    .is_role = 1,
    .init = node_module_init,
    .start = node_module_start,
    .stop = node_module_stop,
    .finish = node_module_finish,
    .reload = node_reload,
    .verbs = all_verbs,
};
