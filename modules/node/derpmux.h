// SPDX-License-Identifier: BSD-3-Clause
/* The node's DERP connections (spec derp.md): one to its home region, kept up, and more to peers' home
 * regions opened on demand and closed after a minute unused. Packets are sent as SendPacket to a peer's
 * node key through the region the caller names; what arrives (RecvPacket) is handed up with its region.
 * Packets sent while a region's connection is still being set up wait in a short queue. */
#ifndef WEFT_NODE_DERPMUX_H
#define WEFT_NODE_DERPMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct loop;
struct netmap;
struct derpmux;

struct derpmux_cbs {
    void (*on_packet)(void *arg, int region, const uint8_t src[32], const uint8_t *pkt, size_t len);
    /* the home region's connection came up (1) or went (0) */
    void (*on_home)(void *arg, int region, int connected);
    /* the relay says a peer left (reason 1) or is not connected to it (reason 2) */
    void (*on_peer_gone)(void *arg, int region, const uint8_t key[32], int reason);
};

struct derpmux_opts {
    const char *login_server; /* a relay on the login server's own host:port speaks its scheme */
    int plain_http;           /* every relay over plain HTTP (development, tests) */
};

struct derpmux *derpmux_new(struct loop *l, const uint8_t priv[32], const struct derpmux_opts *o,
                            const struct derpmux_cbs *cbs, void *arg);
void derpmux_free(struct derpmux *m);

/* A new DERP map: pick the home region (the lowest-numbered usable one, or keep the current), close
 * connections to regions gone. */
void derpmux_set_map(struct derpmux *m, const struct netmap *nm);
/* netcheck prefers this region (the lowest latency): make it home if the map allows. 0, or -1. */
int derpmux_set_preferred(struct derpmux *m, int region);
/* A new node key (rotation): every connection is made again with it. */
void derpmux_set_key(struct derpmux *m, const uint8_t priv[32]);

/* The home region (0: none yet). */
int derpmux_home(const struct derpmux *m);
/* 1 if the region's connection is up. */
int derpmux_connected(const struct derpmux *m, int region);
/* Number of open (or opening) connections. */
size_t derpmux_count(const struct derpmux *m);

/* Send one packet (the concatenation of iov) to dst through region (0: home). 0, or -1 if dropped. */
int derpmux_sendv(struct derpmux *m, int region, const uint8_t dst[32], const struct iovec *iov, size_t n);

/* How a relay of the map is reached: its URL and the address to dial (or "" for the host itself). */
struct nm_derp_node;
int derpmux_node_url(const struct derpmux_opts *o, const struct nm_derp_node *dn, char *url, size_t ucap,
                     char *dial, size_t dcap);

#endif
