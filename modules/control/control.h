// SPDX-License-Identifier: BSD-3-Clause
/* The control role's configuration. */
#ifndef WEFT_MODULES_CONTROL_H
#define WEFT_MODULES_CONTROL_H
#include "core/cfg.h"
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
    char *tls_cert;
    char *tls_key;
    char *server_url;
    struct control_dns_conf dns;
    char *prefix_v4;
    char *prefix_v6;
    char *database;
    char *admin_socket;
    long long ephemeral_timeout;
    long long node_expiry;
    long long derp_region_id;
    /* ctrlapp: map streams, DERP map */
    long long keepalive;
    long long batch_delay;
    long long derp_stun_port;
    long long stream_queue_max;
    char *derp_map_file;
    char *packet_filter_file;
};
#endif
