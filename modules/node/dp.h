// SPDX-License-Identifier: BSD-3-Clause
/* The node's data plane: the TUN interface with the node's addresses and the routes of the tailnet's
 * ranges (core/netlink), the WireGuard engine (core/wg/device) with one peer per netmap peer (allowed IPs
 * = its AllowedIPs), and the DERP transport that carries the engine's datagrams (derpmux). The netmap's
 * callbacks (dp_netmap_ops) keep it in step, peer by peer. Each peer's WireGuard endpoint belongs to the
 * path manager (magicsock/ms.h), which sends over a direct UDP path when disco proved one, through DERP
 * otherwise. */
#ifndef WEFT_NODE_DP_H
#define WEFT_NODE_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "core/wire/disco.h"
#include "modules/node/netmap.h"

struct node;
struct dp;

/* The tailnet's ranges, routed into the TUN (spec README: ports and defaults). */
#define DP_RANGE_V4 "100.64.0.0/10"
#define DP_RANGE_V6 "fd7a:115c:a1e0::/48"
#define DP_MTU 1280

/* Open the TUN (unless n->conf->tun is "" or "none"), create the engine with the node key. NULL with a
 * message in err. */
struct dp *dp_new(struct node *n, char *err, size_t errlen);
/* Remove the addresses and routes we added, close the TUN and the DERP connections, free the engine. */
void dp_free(struct dp *d);

extern const struct netmap_ops dp_netmap_ops; /* arg: the struct dp */

/* A new node key (rotation). */
void dp_set_key(struct dp *d, const struct key *priv);
int dp_home_region(const struct dp *d);
int dp_home_connected(const struct dp *d);
const char *dp_tun_name(const struct dp *d);
int dp_tun_index(const struct dp *d); /* 0 without a TUN */

/* Routes (router/router.h). Served: prefixes the packet filter accepts as ours besides our addresses.
 * Route prefs: which of each peer's AllowedIPs its WireGuard peer gets (its subnet routes with
 * accept_routes, its exit routes when it is exit_id); every peer is redone when they change. */
struct node_routing;
void dp_set_served(struct dp *d, const struct nl_prefix *v, size_t n);
void dp_set_route_prefs(struct dp *d, const struct node_routing *r, int64_t exit_id);

struct dp_peer_info {
    bool present; /* the engine knows the peer */
    uint64_t rx_bytes, tx_bytes;
    struct timespec last_handshake; /* 0: never */
    int region;                     /* the relay region packets to it go through (0: none) */
    bool region_connected;
    bool direct;                    /* sending over UDP to addr only (a proven, trusted direct path) */
    bool have_addr;                 /* a direct address is known (trusted or being re-validated) */
    struct disco_addr addr;
    uint32_t latency_us;            /* of its last pong */
    int64_t direct_since_ms;        /* Unix ms the direct address was chosen */
    bool active;                    /* we sent to it in the last 45 s */
    uint64_t tx_direct, tx_derp;    /* datagrams sent each way */
    uint64_t filter_drops;          /* its packets our packet filter dropped */
};
void dp_peer_info(const struct dp *d, const struct nm_node *p, struct dp_peer_info *out);
/* The path manager (endpoints, netcheck report), NULL without a data plane. */
struct ms *dp_ms(const struct dp *d);
/* The packet filter (its counters), NULL without a data plane. */
struct filter;
const struct filter *dp_filter(const struct dp *d);

/* The local resolver's hook (MagicDNS): packets from the TUN to 100.100.100.100 or fd7a:115c:a1e0::53
 * (the whole IP packet, valid during the call) go to fn instead of a peer; fn returns true if it took
 * the packet (false drops it). Answers go back with dp_tun_inject (headers may be rewritten in place).
 * Without a handler those packets are routed as any other (and dropped: no peer owns the address). */
typedef bool (*dp_local_fn)(void *ctx, const uint8_t *pkt, size_t len);
void dp_set_local_handler(struct dp *d, dp_local_fn fn, void *ctx);
size_t dp_tun_inject(struct dp *d, struct iovec *pkts, size_t n);

#endif
