// SPDX-License-Identifier: BSD-3-Clause
/* The derp role's configuration. */
#ifndef WEFT_MODULES_DERP_H
#define WEFT_MODULES_DERP_H
#include "core/cfg.h"
#include "core/tls.h"
struct derp_conf {
    char *listen;
    char *tls_listen;
    struct tls_conf tls; /* tls_cert, tls_key, tls.acme.* */
    char *stun_listen;
    char *key_file;
    char *mesh_key;
    struct cfg_list mesh_with;
    char *mesh_ca_file;
    char *verify_clients;
    int verify_fail_open;
    long long verify_timeout; /* ms */
    char *metrics_listen;
    long long max_conns;   /* 0: no limit */
    long long accept_rate; /* new connections per second, 0: no limit */
    long long accept_burst;
    long long rate_limit; /* per-client receive bytes per second, 0: off */
    long long rate_burst;
    long long queue_depth;        /* packets per destination (and as many again for disco) */
    long long write_timeout;      /* ms */
    long long backpressure_wait;  /* ms a sender may be paused for a full destination */
    long long mesh_write_timeout; /* ms */
    long long handshake_timeout;  /* ms */
    long long keepalive;          /* ms */
    long long tcp_keepalive;      /* ms, 0: off */
};
#endif
