// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stddef.h>
#include <stdio.h>

#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/control/app.h"
#include "modules/control/channel.h"
#include "modules/control/control.h"
#include "modules/control/dnsconf.h"

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct control_conf, name), 0, 0, NULL}
#define KD(name, type, def, doc, check)                                                                        \
    {"dns." #name, type, def, doc, offsetof(struct control_conf, dns.name), 0, 0, NULL, check}
static const struct cfg_key control_keys[] = {
    K(listen, CFG_STR, "127.0.0.1:8080", "plain HTTP listener for clients (/key, /ts2021, /health)"),
    K(tls_listen, CFG_STR, NULL, "TLS listener (needs tls_cert and tls_key), e.g. [::]:443"),
    K(tls_cert, CFG_STR, NULL, "PEM certificate chain for tls_listen"),
    K(tls_key, CFG_STR, NULL, "PEM private key for tls_listen"),
    K(server_url, CFG_STR, "http://127.0.0.1:8080", "the URL clients log in to (tailscale up --login-server=URL)"),
    KD(magic_dns, CFG_BOOL, "true", "give nodes MagicDNS: their names answered by 100.100.100.100", NULL),
    KD(base_domain, CFG_STR, "weft.internal", "nodes' names are NAME.<base_domain> (a domain you do not use "
       "elsewhere, and not the server URL's)", dnsconf_check_domain),
    KD(nameservers, CFG_LIST, NULL, "global nameservers: IP, IP:PORT, [IPv6]:PORT or an https:// URL (DNS over "
       "HTTPS)", dnsconf_check_resolver),
    KD(routes, CFG_MAP, NULL, "split DNS: {domain: [nameserver, ...]} (an empty list: answered by the node from "
       "extra records)", dnsconf_check_route),
    KD(search_domains, CFG_LIST, NULL, "search domains nodes add after <base_domain>", dnsconf_check_domain),
    KD(override_local_dns, CFG_BOOL, "true", "the nameservers replace the machines' own resolvers (false: the "
       "machines keep theirs, the nameservers are a fallback)", NULL),
    KD(extra_records, CFG_LIST, NULL, "extra records, each \"NAME TYPE VALUE\" (A, AAAA, CNAME, TXT, MX, SRV, "
       "PTR, NS, CAA), NAME under base_domain, a routes domain or a search domain", dnsconf_check_record),
    KD(extra_records_file, CFG_STR, NULL, "a file of extra records, one \"NAME TYPE VALUE\" a line (# comments), "
       "watched: a change reaches every node within seconds", dnsconf_check_records_file),
    K(prefix_v4, CFG_STR, "100.64.0.0/10", "IPv4 range node addresses come from"),
    K(prefix_v6, CFG_STR, "fd7a:115c:a1e0::/48", "IPv6 range node addresses come from"),
    K(database, CFG_STR, "control.db", "SQLite database file (relative to state_dir)"),
    K(admin_socket, CFG_STR, "control.sock",
      "unix socket for `weft users|authkeys|nodes` (relative to $RUNTIME_DIRECTORY under systemd, else to "
      "state_dir)"),
    {"ephemeral_timeout", CFG_DURATION, "30m", "an ephemeral node disconnected this long is removed",
     offsetof(struct control_conf, ephemeral_timeout), 1000, 365LL * 86400 * 1000, NULL},
    {"node_expiry", CFG_DURATION, "0s", "node keys expire after this long (0s: never)",
     offsetof(struct control_conf, node_expiry), 0, 3650LL * 86400 * 1000, NULL},
    {"derp_region_id", CFG_INT, "999", "region ID of the embedded DERP relay in the DERP map",
     offsetof(struct control_conf, derp_region_id), 900, 999, NULL},
    {"keepalive", CFG_DURATION, "50s", "a map stream with nothing to say gets a keep-alive this often (+0-9 s)",
     offsetof(struct control_conf, keepalive), 100, 110LL * 1000, NULL},
    {"batch_delay", CFG_DURATION, "100ms", "changes are collected this long before peers get one delta",
     offsetof(struct control_conf, batch_delay), 0, 1000, NULL},
    {"stream_queue_max", CFG_INT, "16777216",
     "a map stream with more bytes than this not yet taken by its client is ended (it reconnects)",
     offsetof(struct control_conf, stream_queue_max), 65536, 1LL << 30, NULL},
    {"derp_stun_port", CFG_INT, "3478", "STUN port advertised for the embedded DERP relay (-1: none)",
     offsetof(struct control_conf, derp_stun_port), -1, 65535, NULL},
    K(derp_map_file, CFG_STR, NULL, "a DERPMap JSON file (tailcfg.DERPMap) used instead of the embedded relay's"),
    K(packet_filter_file, CFG_STR, NULL,
      "a JSON array of FilterRules (tailcfg) sent to every node as its packet filter instead of allow-all "
      "(fixed setups and tests, until an ACL policy is configured)"),
    CFG_END,
};

static void handle_health(struct http_req *req, void *arg)
{
    http_respond_json(req, 200, "{\"status\":\"pass\"}");
}

static int control_start(struct weft_instance *inst)
{
    struct control_conf *conf = inst->conf;
    char err[512];
    const char *addrs[2] = {conf->listen, conf->tls_listen};
    for (int i = 0; i < 2; i++) {
        if (!addrs[i])
            continue;
        struct http_server *srv = weft_http(inst->ctx, addrs[i], i ? conf->tls_cert : NULL,
                                            i ? conf->tls_key : NULL, err, sizeof err);
        if (!srv) {
            log_error("module=control event=listen addr=%s error=\"%s\"", addrs[i], err);
            return -1;
        }
        http_route(srv, "/health", 0, handle_health, inst);
        if (channel_start(inst, srv) != 0 || app_start(inst, srv) != 0)
            return -1;
    }
    if (app_start_admin(inst) != 0)
        return -1;
    log_info("module=control event=ready server_url=%s msg=\"join a client: tailscale up --login-server=%s "
             "--authkey=KEY, or weft up --login-server=%s --authkey=KEY\"",
             conf->server_url, conf->server_url, conf->server_url);
    return 0;
}

WEFT_MODULE(control) = {
    .abi = WEFT_ABI_VERSION,
    .name = "control",
    .version = WEFT_VERSION,
    .summary = "coordination server: registration, keys, addresses, network maps",
    .keys = control_keys,
    .conf_size = sizeof(struct control_conf),
    .is_role = 1,
    .init = app_init,
    .start = control_start,
    .stop = app_stop,
    .reload = app_reload,
    .drained = app_drained,
    .finish = app_finish,
    .verbs = control_verbs,
};
