// SPDX-License-Identifier: BSD-3-Clause
/* The node's path manager ("magicsock", spec disco.md): one UDP socket (the WireGuard device's, node.port)
 * carries WireGuard, disco and STUN; each peer is reached directly over UDP when disco has proved a path,
 * through DERP otherwise, and both while a direct path is unproven.
 *
 * It plugs into the WireGuard engine as a transport whose endpoints are peers' node keys: the engine
 * hands it a peer's datagrams and it picks the path for each send (a path change never touches the
 * WireGuard session). It also owns what the node reports about its network: its endpoints (local
 * interface addresses, STUN-mapped addresses, a gateway port mapping) and the netcheck report that goes
 * into Hostinfo.NetInfo.
 *
 * Rooms: conn.c (the socket, peers, sending, receiving), peer.c (one peer's path state machine: pings,
 * pongs, CallMeMaybe, heartbeats, the best address), netcheck.c (STUN probes, DERP latency, the
 * report), endpoints.c (our candidate endpoints, periodic re-STUN, link changes), portmap*.c (NAT-PMP,
 * PCP, UPnP IGD). Everything runs on the loop's thread. */
#ifndef WEFT_NODE_MAGICSOCK_H
#define WEFT_NODE_MAGICSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/wire/disco.h"

struct loop;
struct netmap;
struct wg_device;
struct ms;
struct ms_peer;

/* Endpoint types as MapRequest.EndpointTypes numbers them (tailcfg.EndpointType). */
enum ms_ep_type { MS_EP_LOCAL = 1, MS_EP_STUN = 2, MS_EP_PORTMAPPED = 3, MS_EP_STUN4LOCALPORT = 4 };

#define MS_MAX_LOCAL_EPS 16
#define MS_MAX_REGIONS 64

struct ms_endpoint {
    struct disco_addr addr;
    enum ms_ep_type type;
};

/* A netcheck report (tailscale's netcheck.Report, the part NetInfo carries). Tri-state ints: -1 unknown. */
struct ms_report {
    bool valid;  /* a netcheck finished */
    bool udp;    /* a STUN round trip completed */
    bool ipv4, ipv6, os_has_ipv6;
    int mapping_varies_by_dest_ip;
    int upnp, pmp, pcp;
    bool have_port_map;
    struct disco_addr global4, global6; /* valid when ipv4 / ipv6 */
    int preferred_derp;
    size_t nregions;
    struct {
        int region;
        uint32_t v4_us, v6_us; /* 0: no answer */
    } latency[MS_MAX_REGIONS];
    uint64_t at_ms; /* loop time it finished */
};

struct ms_cbs {
    /* Send one packet (the concatenation of iov) to a node key through a DERP region (0: home). 0 / -1. */
    int (*derp_send)(void *arg, int region, const uint8_t key[32], const struct iovec *iov, size_t n);
    /* Our endpoints or the report's NetInfo changed: tell control (a lite map request). */
    void (*changed)(void *arg);
    /* netcheck prefers another home DERP region. */
    void (*preferred_derp)(void *arg, int region);
};

struct ms_opts {
    uint16_t port;       /* the configured port (node.port; 0 = random): STUN4LocalPort endpoints */
    const char *tun;     /* our TUN's name: its addresses are never endpoints */
    bool no_portmap;     /* don't ask the gateway for a port mapping */
};

struct ms *ms_new(struct loop *l, struct wg_device *dev, const struct ms_opts *o, const struct ms_cbs *cbs,
                  void *arg);
void ms_free(struct ms *m);
/* The WireGuard transport id of peers' endpoints (wg_endpoint.transport). */
int ms_transport(const struct ms *m);
/* Our node key (pings carry its public half) and disco key. */
void ms_set_keys(struct ms *m, const uint8_t node_pub[32], const uint8_t disco_priv[32]);
/* The DERP map (STUN servers, region names); NULL forgets it. Starts a netcheck when it changes. */
void ms_set_derp_map(struct ms *m, const struct netmap *nm);
/* Our home DERP region (where CallMeMaybe pongs come back; the preferred region's stickiness). */
void ms_set_home(struct ms *m, int region);

/* ---- peers ---- */

/* A peer of the netmap: node key, disco key (zero: no disco, DERP only), home region, endpoints. */
struct ms_peer_conf {
    int64_t id;
    const char *name; /* for logs */
    const uint8_t *key;
    const uint8_t *disco;
    int home_derp;
    const char *const *endpoints; /* "ip:port" */
    size_t nendpoints;
};
struct ms_peer *ms_peer_add(struct ms *m, const struct ms_peer_conf *c);
/* New disco key (the peer restarted: its paths are reset), home region or endpoints. */
void ms_peer_update(struct ms_peer *p, const struct ms_peer_conf *c);
void ms_peer_remove(struct ms_peer *p);
/* The engine's endpoint for this peer (transport ms_transport, the node key). */
struct wg_endpoint;
void ms_peer_wg_endpoint(const struct ms_peer *p, struct wg_endpoint *ep);

struct ms_path {
    bool direct;              /* sending over UDP only: a direct path is proven and trusted */
    struct disco_addr addr;   /* the direct address (best), valid when have_addr */
    bool have_addr;
    uint32_t latency_us;      /* of the best address's last pong */
    int64_t since_ms;         /* Unix ms the best address was chosen (0: none) */
    int derp_region;          /* where DERP packets to it go */
    bool active;              /* we sent to it in the last 45 s */
    uint64_t tx_direct, tx_derp, rx_disco;
};
void ms_peer_path(const struct ms_peer *p, struct ms_path *out);

/* A DERP RecvPacket: disco goes to the path logic, anything else to WireGuard. */
void ms_derp_input(struct ms *m, int region, const uint8_t src[32], const uint8_t *pkt, size_t len);

/* ---- what we report ---- */

/* Our current endpoints (MapRequest.Endpoints / EndpointTypes); count. */
size_t ms_endpoints(const struct ms *m, struct ms_endpoint *out, size_t cap);
const struct ms_report *ms_report(const struct ms *m);
/* Run a netcheck now; done(arg, report) when it finishes (report NULL: the conn went away). Returns 0, or
 * -1 without a DERP map. */
int ms_netcheck(struct ms *m, void (*done)(void *arg, const struct ms_report *r), void *arg);
/* Forget a netcheck waiter (its requester went away). */
void ms_netcheck_cancel(struct ms *m, void *arg);
/* The interfaces or their addresses changed (rtnetlink): re-gather endpoints, re-STUN, re-validate paths. */
void ms_link_changed(struct ms *m, bool major);

/* Counters (status, metrics). */
struct ms_stats {
    uint64_t disco_rx_udp, disco_rx_derp, disco_tx_udp, disco_tx_derp;
    uint64_t disco_unknown_key, disco_bad_box, disco_bad_msg, disco_ignored;
    uint64_t ping_rx, pong_rx, cmm_rx, ping_tx, pong_tx, cmm_tx;
    uint64_t ping_dup, ping_limited, pong_unknown, pong_wrong_path, cmm_refused, candidates_dropped;
    uint64_t stun_tx, stun_rx, stun_bad, udp_junk;
    uint64_t path_changes, netchecks;
};
void ms_get_stats(const struct ms *m, struct ms_stats *out);

/* Text helpers. "1.2.3.4:5" / "[::1]:5". */
char *ms_addr_format(const struct disco_addr *a, char *buf, size_t cap);
int ms_addr_parse(const char *text, struct disco_addr *a);

#endif
