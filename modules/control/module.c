// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/cfgcheck.h"
#include "core/ctx.h"
#include "core/frontdoor.h"
#include "core/http.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/control/app.h"
#include "modules/control/channel.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/dnsconf.h"
#include "modules/control/derpmap.h"
#include "modules/control/dsn.h"
#include "modules/control/ipalloc.h"

static const char *const policy_modes[] = {"file", "database", NULL};

static const char *check_prefix(const char *v, int fam, char *buf, size_t len)
{
    int f, plen;
    uint8_t a[16];
    if (ipalloc_parse_prefix(v, &f, a, &plen) || f != fam) {
        snprintf(buf, len, "'%s' is not an IPv%d prefix (ADDRESS/LENGTH with no host bits set)", v, fam);
        return buf;
    }
    return NULL;
}

static const char *check_prefix4(const char *v, char *buf, size_t len)
{
    return check_prefix(v, 4, buf, len);
}

static const char *check_prefix6(const char *v, char *buf, size_t len)
{
    return check_prefix(v, 6, buf, len);
}

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct control_conf, name), 0, 0, NULL, NULL}
#define KC(name, type, def, doc, check)                                                                        \
    {#name, type, def, doc, offsetof(struct control_conf, name), 0, 0, NULL, check}
#define KR(name, type, def, doc, min, max) {#name, type, def, doc, offsetof(struct control_conf, name), min, max, NULL, NULL}
/* control.dns's keys: under "dns:" in the file, control.dns.NAME on the command line */
#define KD(name, type, def, doc, check)                                                                        \
    {"dns." #name, type, def, doc, offsetof(struct control_conf, dns.name), 0, 0, NULL, check}

/* verify_allow: each item a CIDR ("10.0.0.0/8", "::1/128") or a bare address. */
static const char *check_cidr(const char *v, char *buf, size_t len)
{
    struct addr_prefix p;
    if (addr_prefix_parse(v, &p) == 0)
        return NULL;
    snprintf(buf, len, "'%s' is not an address or CIDR prefix (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)", v);
    return buf;
}
/* oidc.extra_params: KEY=VALUE; oidc.algorithms: asymmetric JWS algorithms only (no "none", no HMAC: a
 * public client's secret must not be able to sign tokens). */
static const char *check_param(const char *v, char *buf, size_t len)
{
    const char *eq = strchr(v, '=');
    if (eq && eq > v && !strpbrk(v, "&# \t\r\n"))
        return NULL;
    snprintf(buf, len, "'%s' is not KEY=VALUE (no '&', '#' or spaces)", v);
    return buf;
}

static const char *check_alg(const char *v, char *buf, size_t len)
{
    static const char *const ok[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                                     "ES512", NULL};
    for (size_t i = 0; ok[i]; i++)
        if (!strcmp(v, ok[i]))
            return NULL;
    snprintf(buf, len, "'%s' is not an accepted ID token algorithm (RS256, RS384, RS512, PS256, PS384, PS512, "
                       "ES256, ES384, ES512)", v);
    return buf;
}

#define KO(name, type, def, doc, check)                                                                      \
    {"oidc." #name, type, def, doc, offsetof(struct control_conf, oidc.name), 0, 0, NULL, check}

static const char *check_database(const char *v, char *buf, size_t len) { return dsn_check(v, buf, len); }

static const struct cfg_key control_keys[] = {
    KC(listen, CFG_STR, "127.0.0.1:8080", "plain HTTP listener for clients (/key, /ts2021, /health)",
       cfg_check_listen),
    KC(tls_listen, CFG_STR, NULL, "TLS listener (needs tls_cert and tls_key, or tls.acme), e.g. [::]:443",
       cfg_check_listen),
    TLS_KEYS(struct control_conf, tls),
    KC(server_url, CFG_STR, "http://127.0.0.1:8080", "the URL clients log in to (tailscale up --login-server=URL)",
       cfg_check_http_url),
    KD(magic_dns, CFG_BOOL, "true", "give nodes MagicDNS: their names answered by 100.100.100.100", NULL),
    KD(base_domain, CFG_STR, "weft.internal", "nodes' names are NAME.<base_domain> (a domain you do not use "
       "elsewhere, and not the server URL's)", cfg_check_domain),
    KD(nameservers, CFG_LIST, NULL, "global nameservers: IP, IP:PORT, [IPv6]:PORT or an https:// URL (DNS over "
       "HTTPS)", cfg_check_nameserver),
    KD(routes, CFG_MAP, NULL, "split DNS: {domain: [nameserver, ...]} (an empty list: answered by the node from "
       "extra records)", cfg_check_nameserver),
    KD(search_domains, CFG_LIST, NULL, "search domains nodes add after <base_domain>", cfg_check_domain),
    KD(override_local_dns, CFG_BOOL, "true", "the nameservers replace the machines' own resolvers (false: the "
       "machines keep theirs, the nameservers are a fallback)", NULL),
    KD(extra_records, CFG_LIST, NULL, "extra records, each \"NAME TYPE VALUE\" (A, AAAA, CNAME, TXT, MX, SRV, "
       "PTR, NS, CAA), NAME under base_domain, a routes domain or a search domain", dnsconf_check_record),
    KD(extra_records_file, CFG_STR, NULL, "a file of extra records, one \"NAME TYPE VALUE\" a line (# comments), "
       "watched: a change reaches every node within seconds", NULL),
    KC(prefix_v4, CFG_STR, "100.64.0.0/10", "IPv4 range node addresses come from", check_prefix4),
    KC(prefix_v6, CFG_STR, "fd7a:115c:a1e0::/48", "IPv6 range node addresses come from", check_prefix6),
    KC(database, CFG_STR, "control.db",
       "the database: an SQLite file (relative to state_dir), sqlite:PATH, or postgres://USER@HOST/DB (needs the "
       "store_postgres plugin)", check_database),
    K(database_dsn_file, CFG_STR, NULL,
      "a file holding the database DSN on its first line (postgres://USER:PASSWORD@HOST/DB), instead of database"),
    K(admin_socket, CFG_STR, "control.sock",
      "unix socket for `weft users|authkeys|nodes` (relative to $RUNTIME_DIRECTORY under systemd, else to "
      "state_dir)"),
    {"ephemeral_timeout", CFG_DURATION, "30m", "an ephemeral node disconnected this long is removed",
     offsetof(struct control_conf, ephemeral_timeout), 1000, 365LL * 86400 * 1000, NULL, NULL},
    {"offline_grace", CFG_DURATION, "10s",
     "with several instances: when one dies, its nodes stay online for their peers this long, time to reconnect "
     "to another instance (0s: offline at once)",
     offsetof(struct control_conf, offline_grace), 0, 600LL * 1000, NULL, NULL},
    {"node_expiry", CFG_DURATION, "0s", "node keys expire after this long (0s: never)",
     offsetof(struct control_conf, node_expiry), 0, 3650LL * 86400 * 1000, NULL, NULL},
    {"derp_region_id", CFG_INT, "999", "region ID of the embedded DERP relay in the DERP map",
     offsetof(struct control_conf, derp_region_id), 900, 999, NULL, NULL},
    {"keepalive", CFG_DURATION, "50s", "a map stream with nothing to say gets a keep-alive this often (+0-9 s)",
     offsetof(struct control_conf, keepalive), 100, 110LL * 1000, NULL, NULL},
    {"route_probe_interval", CFG_DURATION, "10s",
     "subnet routers sharing a prefix are probed over their map stream this often; one that does not answer "
     "loses its primary routes (0s: no probes)",
     offsetof(struct control_conf, route_probe_interval), 0, 3600LL * 1000, NULL, NULL},
    {"route_probe_timeout", CFG_DURATION, "5s", "a subnet router's answer to a health probe must come this soon",
     offsetof(struct control_conf, route_probe_timeout), 100, 600LL * 1000, NULL, NULL},
    {"batch_delay", CFG_DURATION, "100ms", "changes are collected this long before peers get one delta",
     offsetof(struct control_conf, batch_delay), 0, 1000, NULL, NULL},
    {"stream_queue_max", CFG_INT, "16777216",
     "a map stream with more bytes than this not yet taken by its client is ended (it reconnects)",
     offsetof(struct control_conf, stream_queue_max), 65536, 1LL << 30, NULL, NULL},
    {"derp_stun_port", CFG_INT, "3478",
     "STUN port advertised for the embedded DERP relay (-1: none; follows derp.stun_listen when unset)",
     offsetof(struct control_conf, derp_stun_port), -1, 65535, NULL, NULL},
    K(derp_map_file, CFG_STR, NULL, "a DERPMap JSON file (tailcfg.DERPMap) used instead of the embedded relay's"),
    KR(max_conns, CFG_INT, "0",
       "most control connections (Noise channels) at once, more get 503 (0: three quarters of the open-file "
       "limit)", 0, 10000000),
    KR(accept_rate, CFG_INT, "0", "new control connections accepted per second (0: no limit); more get 429", 0,
       10000000),
    KR(accept_burst, CFG_INT, "0", "burst for accept_rate (0: one second's worth)", 0, 10000000),
    KR(first_request_timeout, CFG_DURATION, "10s",
       "a control connection must send its first request this soon after the upgrade", 100, 600000),
    KR(idle_timeout, CFG_DURATION, "60s",
       "a control connection with no request open this long is closed (clients reconnect when needed)", 100,
       86400000),
    KR(channel_buffer, CFG_INT, "2097152",
       "request bytes (headers and bodies) one control connection may have buffered across its requests; a "
       "request past it gets 503", 1114112, 1LL << 30),
    KR(max_pending, CFG_INT, "1000",
       "interactive registrations waiting for approval at once (one per machine, kept in the database, "
       "counted over every instance on it); more get 503", 1, 1000000),
    KR(hostinfo_max, CFG_INT, "16384",
       "bytes of a client's Hostinfo kept (control characters stripped, long strings and lists cut)", 1024,
       1048576),
    {"verify_allow", CFG_LIST, "127.0.0.0/8, ::1/128",
     "who may ask /verify (DERP admission): these CIDRs, and this host's own addresses when a relay runs here",
     offsetof(struct control_conf, verify_allow), 0, 0, NULL, check_cidr},
    K(verify_secret_file, CFG_STR, NULL,
      "a file with a secret that lets any address ask /verify (?secret=... or Authorization: Bearer ...)"),
    {"policy.mode", CFG_ENUM, "file", "where the access policy lives: file (policy.path) or database (weft policy set)",
     offsetof(struct control_conf, policy_mode), 0, 0, policy_modes, NULL},
    {"policy.path", CFG_STR, NULL, "the policy file (HuJSON, Tailscale's format; relative to state_dir); none: "
     "every node may reach every other", offsetof(struct control_conf, policy_path), 0, 0, NULL, NULL},
    K(packet_filter_file, CFG_STR, NULL,
      "a JSON array of FilterRules (tailcfg) sent to every node as its packet filter instead of allow-all "
      "while no access policy is in force (fixed setups and tests)"),
    /* interactive login through an OpenID provider: the auth_oidc plugin does the protocol (login/provider.h) */
    KO(issuer, CFG_STR, NULL,
       "OpenID provider's issuer URL: nodes' login links and the console's login go there (needs the auth_oidc "
       "plugin)", cfg_check_http_url),
    KO(client_id, CFG_STR, NULL, "the client ID weft has at the OpenID provider", NULL),
    KO(client_secret, CFG_STR, NULL, "its client secret (or client_secret_file)", NULL),
    KO(client_secret_file, CFG_STR, NULL, "a file holding the client secret", NULL),
    KO(scopes, CFG_LIST, "openid, profile, email", "scopes asked for (openid is always asked for)", NULL),
    KO(allowed_domains, CFG_LIST, NULL, "only verified e-mail addresses in these domains may log in", NULL),
    KO(allowed_users, CFG_LIST, NULL, "only these verified e-mail addresses may log in", NULL),
    KO(allowed_groups, CFG_LIST, NULL, "only members of one of these groups (the ID token's groups claim)", NULL),
    KO(console_users, CFG_LIST, NULL, "e-mail addresses that may log in to the admin console", NULL),
    KO(console_groups, CFG_LIST, NULL, "groups whose members may log in to the admin console", NULL),
    KO(pkce, CFG_BOOL, "true", "use PKCE (S256) in the authorization code flow", NULL),
    KO(extra_params, CFG_LIST, NULL, "extra KEY=VALUE parameters of the authorization request (e.g. prompt=login)",
       check_param),
    KO(algorithms, CFG_LIST, "RS256, ES256", "ID token signature algorithms accepted (RS*, PS*, ES*)",
       check_alg),
    KO(ca_file, CFG_STR, NULL, "verify the provider's TLS certificate against this PEM bundle (default: the "
                                "system's)", cfg_check_ca_file),
    {"oidc.jwks_refresh_min", CFG_DURATION, "60s",
     "an ID token signed with an unknown key fetches the provider's keys again at most this often",
     offsetof(struct control_conf, oidc.jwks_refresh_min), 1000, 86400000, NULL, NULL},
    {"admin.console_dir", CFG_STR, NULL,
     "directory of the web admin console's files, served at /admin/ (default: the installed ones, "
     WEFT_PKGDATADIR "/console)",
     offsetof(struct control_conf, console_dir), 0, 0, NULL, NULL},
    CFG_END,
};

/* What check-config catches beyond single values: what a listener or a client would choke on. */
static void control_check(const struct cfg_section *s, struct cfg_errors *err)
{
    const struct control_conf *c = s->conf;
    char msg[512];
    tls_conf_check(s, "tls_listen", c->tls_listen, &c->tls, err);
    if (!c->listen && !c->tls_listen)
        cfg_error(err, s, "listen", "control needs a listener: set listen or tls_listen");
    if (c->route_probe_interval > 0 && c->route_probe_timeout >= c->route_probe_interval)
        cfg_error(err, s, "route_probe_timeout", "must be shorter than route_probe_interval (%lld ms)",
                  c->route_probe_interval);
    if (c->prefix_v4 && c->prefix_v6) {
        struct ipalloc *a = ipalloc_new(c->prefix_v4, c->prefix_v6, msg, sizeof msg);
        if (a)
            ipalloc_free(a);
        else
            cfg_error(err, s, strstr(msg, "IPv6") || strstr(msg, "prefix_v6") ? "prefix_v6" : "prefix_v4", "%s", msg);
    }
    if (c->console_dir) {
        char index[4096];
        snprintf(index, sizeof index, "%s/index.html", c->console_dir);
        if (access(index, R_OK))
            cfg_error(err, s, "admin.console_dir", "%s has no readable index.html: not the console's files",
                      c->console_dir);
    }
    if (c->oidc.issuer) {
        if (!c->oidc.client_id)
            cfg_error(err, s, "oidc.issuer", "control.oidc.issuer needs control.oidc.client_id");
        if (c->oidc.client_secret && c->oidc.client_secret_file)
            cfg_error(err, s, "oidc.client_secret_file", "set control.oidc.client_secret or client_secret_file, "
                      "not both");
    }
    if (c->oidc.client_secret_file) {
        FILE *f = fopen(c->oidc.client_secret_file, "r");
        if (!f)
            cfg_error(err, s, "oidc.client_secret_file", "cannot read %s", c->oidc.client_secret_file);
        else
            fclose(f);
    }
    if (c->database_dsn_file) {
        char dsn[DSN_MAX];
        if (cfg_is_set(s, "database"))
            cfg_error(err, s, "database_dsn_file", "set database or database_dsn_file, not both");
        else if (dsn_read_file(c->database_dsn_file, dsn, sizeof dsn, msg, sizeof msg))
            cfg_error(err, s, "database_dsn_file", "%s", msg);
        else if (dsn_check(dsn, msg, sizeof msg))
            cfg_error(err, s, "database_dsn_file", "the DSN in %s: %s", c->database_dsn_file, msg);
        sodium_memzero(dsn, sizeof dsn);
    }
    if (c->derp_map_file) {
        char *json;
        size_t len;
        if (derpmap_load(c->derp_map_file, &json, &len, msg, sizeof msg) == 0)
            free(json);
        else
            cfg_error(err, s, "derp_map_file", "%s", msg);
    }
    dnsconf_check(s, err);
}

static void handle_health(struct http_req *req, void *arg)
{
    http_respond_json(req, 200, "{\"status\":\"pass\"}");
}

static uint16_t port_of(const char *listen)
{
    struct addr a;
    return listen && addr_parse(listen, &a) == 0 ? a.port : 0;
}

/* What the front door looks like from a client, compared with what control listens on: warnings for the
 * mistakes that only show up on other machines. */
static void check_reachable(struct control_conf *conf, struct ctrl *c)
{
    struct addr a;
    int loopback_url = strcmp(c->server_host, "localhost") == 0 || strncmp(c->server_host, "127.", 4) == 0 ||
                       strcmp(c->server_host, "::1") == 0;
    if (loopback_url && conf->listen && addr_parse(conf->listen, &a) == 0 &&
        (a.host[0] == 0 || strcmp(a.host, "0.0.0.0") == 0 || strcmp(a.host, "::") == 0))
        log_warn("module=control event=config key=control.server_url msg=\"control listens on %s but server_url "
                 "%s is a loopback address: other machines are sent there (the login URL, the embedded relay "
                 "in the DERP map); set control.server_url=http://THIS-HOST:%u\"",
                 conf->listen, conf->server_url, a.port);
    if (c->server_tls && port_of(conf->listen) == c->server_port && port_of(conf->tls_listen) != c->server_port)
        log_warn("module=control event=config key=control.server_url msg=\"server_url %s is https but port %d is "
                 "control.listen, a plain HTTP listener\"",
                 conf->server_url, c->server_port);
    if (!c->server_tls && port_of(conf->tls_listen) == c->server_port && port_of(conf->listen) != c->server_port)
        log_warn("module=control event=config key=control.server_url msg=\"server_url %s is http but port %d is "
                 "control.tls_listen, a TLS listener\"",
                 conf->server_url, c->server_port);
}

static struct frontdoor front;

static int control_start(struct weft_instance *inst)
{
    struct control_conf *conf = inst->conf;
    struct ctrl *c = app_ctrl(app_of(inst));
    char err[512];
    const char *addrs[2] = {conf->listen, conf->tls_listen};
    for (int i = 0; i < 2; i++) {
        if (!addrs[i])
            continue;
        struct http_server *srv = weft_http(inst->ctx, addrs[i], i ? &conf->tls : NULL, err, sizeof err);
        if (!srv) {
            log_error("module=control event=listen addr=%s error=\"%s\"", addrs[i], err);
            return -1;
        }
        http_route(srv, "/health", 0, handle_health, inst);
        if (channel_start(inst, srv) != 0 || app_start(inst, srv) != 0)
            return -1;
    }
    /* single box: the relay of this process follows these listeners and checks itself against the DERP map;
     * its STUN port goes into the map unless control.derp_stun_port says otherwise */
    front = (struct frontdoor){conf->listen, conf->tls_listen, &conf->tls,
                               c->embedded_derp ? c->server_host : NULL, c->server_port, c->server_tls,
                               conf->server_url};
    weft_service_put(inst->ctx, FRONTDOOR_SERVICE, &front);
    const struct relay_info *relay = weft_service_get(inst->ctx, RELAY_SERVICE);
    if (relay && c->embedded_derp && !weft_conf_is_set(inst, "derp_stun_port") && relay->stun_port != c->stun_port) {
        unsigned changed;
        c->stun_port = relay->stun_port; /* conf keeps its value: a reload compares against it */
        if (mapper_rebuild_static(c, &changed))
            return -1;
    }
    check_reachable(conf, c);
    if (app_start_admin(inst) != 0)
        return -1;
    log_info("module=control event=ready server_url=%s msg=\"join a client: tailscale up --login-server=%s "
             "--authkey=KEY, or weft up --login-server=%s --authkey=KEY\"",
             conf->server_url, conf->server_url, conf->server_url);
    return 0;
}

int control_reload(struct weft_instance *inst, void *newconf); /* reload.c */

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
    .drained = app_drained,
    .finish = app_finish,
    .reload = control_reload,
    .verbs = control_verbs,
    .check = control_check,
};
