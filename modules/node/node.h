// SPDX-License-Identifier: BSD-3-Clause
/* The node role: its configuration, and the daemon's state shared by its parts (daemon.c: life and state
 * machine; ctl.c: the control session; dp.c: TUN + WireGuard engine + DERP; localapi.c: the unix socket
 * the CLI talks to; verbs.c: the CLI). */
#ifndef WEFT_MODULES_NODE_H
#define WEFT_MODULES_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/crypto/key.h"
#include "core/loop.h"
#include "modules/node/dns/dns.h"
#include "modules/node/netmap.h"

struct node_conf {
    char *socket;
    char *socket_group;
    char *tun;
    long long port;
    char *login_server;
    char *hostname;
    int derp_http;         /* reach DERP relays over plain HTTP (development, tests) */
    char *resolv_conf;     /* /etc/resolv.conf, or a file of the tests' own */
    char *dns_ca_file;     /* CA certificates for DNS-over-HTTPS nameservers (NULL: the system's) */
    int portmap;           /* ask the gateway for a port mapping (NAT-PMP, PCP, UPnP IGD) */
    int log_filter_drops;  /* log what the packet filter drops (rate-limited) */
    long long timer_scale; /* tests: divide the WireGuard timers */
};

/* The daemon's states, as `weft status` names them (tailscale's ipn.State). */
enum node_state {
    NODE_NO_STATE, /* never logged in */
    NODE_STOPPED,  /* `weft down` */
    NODE_NEEDS_LOGIN,
    NODE_STARTING, /* registered, waiting for the first map */
    NODE_RUNNING,
};
const char *node_state_name(enum node_state s);

/* Subnet routes and exit nodes (`weft up` flags; router/router.h applies them). */
#define NODE_MAX_ROUTES 32
struct node_routing {
    struct nl_prefix advertise[NODE_MAX_ROUTES]; /* --advertise-routes (canonical, no /0) */
    size_t nadvertise;
    bool advertise_exit;  /* --advertise-exit-node: 0.0.0.0/0 and ::/0 */
    bool no_snat;         /* --snat-subnet-routes=false: the LAN sees tailnet source addresses */
    bool accept_routes;   /* --accept-routes: peers' subnet routes are used */
    char exit_node[256];  /* --exit-node: a peer's name or address; "" none */
    bool exit_allow_lan;  /* --exit-node-allow-lan-access */
};

/* What the daemon keeps across restarts besides its keys (node-prefs.json, mode 0600). */
struct node_prefs {
    char login_server[512];
    char hostname[256];
    bool want_running; /* up (not down) */
    bool accept_dns;   /* point the OS's resolver at MagicDNS (`weft up --accept-dns`, default true) */
    bool logged_in;    /* the current node key was registered */
    struct node_routing routing;
};

struct ctl;
struct dp;
struct lapi;
struct router;
struct weft_instance;

struct node {
    struct weft_instance *inst;
    struct node_conf *conf;
    struct loop *loop;
    char path_machine[4096], path_node[4096], path_disco[4096], path_prefs[4096];
    char path_resolv_backup[4096]; /* /etc/resolv.conf as it was before we rewrote it */
    struct key machine_priv, node_priv, disco_priv;
    struct key machine_pub, node_pub, disco_pub;
    struct node_prefs prefs;
    char *authkey; /* the last `weft up --authkey`, in memory only */
    char backend_log_id[65];
    char os_version[65];

    enum node_state state;
    char last_error[512];  /* the last control failure, "" when fine */
    char auth_url[1024];   /* interactive login pending */
    bool control_ok;       /* the map stream is up */
    int64_t registered_at; /* unix seconds of the last successful registration */

    struct netmap nm;
    struct ctl *ctl;
    struct dp *dp;
    struct lapi *lapi;
    struct router *router;  /* routes, rules and NAT of subnet routes and exit nodes (with a TUN) */
    struct dns_service *dns;            /* MagicDNS: the resolver at 100.100.100.100 (dns/dns.h) */
    struct dns_os *dns_os;              /* what the OS was told (dns/os.h) */
    struct dns_os_wants dns_applied;    /* ... and what for */
    uint64_t dns_names_print;           /* a hash of the names and addresses the resolver's names came from */
    void *logout;           /* the logout under way, if any */
    uint64_t handshakes;    /* WireGuard sessions established with peers (for /metrics) */
    struct timer t_logout;  /* a logout with nothing to tell control finishes from the loop */
};

/* ---- daemon.c: what the parts report, and the commands ---- */

void node_set_state(struct node *n, enum node_state s);
/* control answered the registration (flows A, C, E) */
void node_on_registered(struct node *n, const char *login_name);
void node_on_auth_url(struct node *n, const char *url);
/* login refused for good (bad key, 401...): no retry until the next `weft up` */
void node_on_refused(struct node *n, const char *why);
/* a transient failure (control unreachable, stream broke): the session retries by itself */
void node_on_control_error(struct node *n, const char *why);
/* one MapResponse (not a keep-alive); -1 if it cannot be used (the session restarts) */
struct tc_map_response;
int node_on_map(struct node *n, const struct tc_map_response *m, char *err, size_t errlen);
/* a node-key rotation was accepted: switch to it */
void node_commit_node_key(struct node *n, const struct key *priv);
/* the home DERP region changed (the data plane picked or lost it) */
void node_on_home_derp(struct node *n, int region);
/* our endpoints or the netcheck report changed: control should hear */
void node_on_netinfo(struct node *n);

/* `weft up`: login parameters (NULL: keep the stored ones). 0, or -1 with a reason. */
int node_up(struct node *n, const char *login_server, const char *authkey, const char *hostname, char *err,
            size_t errlen);
void node_down(struct node *n);
/* New routing preferences (validated by the caller: router_check): stored, advertised to control, applied. */
void node_set_routing(struct node *n, const struct node_routing *r);
/* Logout: tell control (if reachable), forget the node key; done(arg, err) when finished. */
int node_logout(struct node *n, void (*done)(void *arg, const char *err), void *arg);
int node_prefs_save(struct node *n);

/* ---- dns/node_dns.c: MagicDNS in the daemon ---- */

/* At start: undo a resolv.conf left by a weft that did not stop cleanly. */
void node_dns_recover(struct node *n);
/* With the data plane: the resolver starts answering; the OS is told when a map brings a DNS config. */
void node_dns_start(struct node *n);
void node_dns_stop(struct node *n);
/* After each applied map: its DNSConfig (if any), the names if the netmap changed. */
void node_dns_on_map(struct node *n, const struct tc_map_response *m, bool names_changed);
void node_dns_set_accept(struct node *n, bool accept);
/* The "DNS" field of the status object. */
struct jbuf;
void node_dns_status(struct node *n, struct jbuf *b);

/* The module's hooks (module.c's descriptor). */
int node_module_init(struct weft_instance *inst);
int node_module_start(struct weft_instance *inst);
void node_module_stop(struct weft_instance *inst);
void node_module_finish(struct weft_instance *inst);

/* metrics.c: the role's collector (arg: the node). */
struct metrics_w;
void node_collect_metrics(struct metrics_w *w, void *arg);

/* The hostname we register: node.hostname, `weft up --hostname`, else the system's. */
const char *node_hostname(struct node *n, char *buf, size_t cap);

#endif
