// SPDX-License-Identifier: BSD-3-Clause
/* The control role's configuration. */
#ifndef WEFT_MODULES_CONTROL_H
#define WEFT_MODULES_CONTROL_H
#include "core/cfg.h"
#include "core/tls.h"
#include "modules/control/login/provider.h"
/* control.dns: what nodes are told about DNS (modules/control/dnsconf.c) */
struct control_dns_conf {
    int magic_dns;
    char *base_domain;
    struct cfg_list nameservers;
    struct cfg_map routes;
    struct cfg_list search_domains;
    int override_local_dns;
    struct cfg_list extra_records;
    char *extra_records_file;
};
struct control_conf {
    char *listen;
    char *tls_listen;
    struct tls_conf tls; /* tls_cert, tls_key, tls.acme.* */
    char *server_url;
    struct control_dns_conf dns;
    char *prefix_v4;
    char *prefix_v6;
    char *database;
    char *database_dsn_file; /* a file holding the DSN (with its password) instead of database */
    char *admin_socket;
    long long ephemeral_timeout;
    long long offline_grace; /* several instances: a dead instance's nodes stay online this long (cluster.c) */
    long long node_expiry;
    long long derp_region_id;
    /* ctrlapp: map streams, DERP map */
    long long keepalive;
    long long route_probe_interval, route_probe_timeout; /* health probes of subnet routers (probe.h) */
    long long batch_delay;
    long long derp_stun_port;
    long long stream_queue_max;
    char *derp_map_file;
    /* the access policy */
    int policy_mode; /* POLICY_MODE_FILE, POLICY_MODE_DATABASE (access.h) */
    char *policy_path;
    /* not a key: set by the module before ctrl_new (relative paths are under it) */
    const char *state_dir;
    /* limits on what clients may hold (issue 10): the channel, pending registrations, Hostinfo */
    long long max_conns; /* 0: three quarters of the open-file limit */
    long long accept_rate, accept_burst;
    long long first_request_timeout, idle_timeout;
    long long channel_buffer;
    long long max_pending;
    long long hostinfo_max;
    /* who may ask /verify */
    struct cfg_list verify_allow;
    char *verify_secret_file;
    char *packet_filter_file;
    /* the web console's files (admin.console_dir; NULL: $(pkgdatadir)/console) */
    char *console_dir;
    /* interactive login through an OpenID provider (the auth_oidc plugin) */
    struct login_oidc_conf oidc;
};
#endif
