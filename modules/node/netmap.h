// SPDX-License-Identifier: BSD-3-Clause
/* The node's network map: itself, its peers, the DERP map, as the control server's MapResponses describe
 * them (spec netmap.md §1-§2). A full map replaces the peer list; deltas (PeersChanged, PeersRemoved,
 * PeersChangedPatch, OnlineChange, PeerSeenChange) edit it. Every change is reported through callbacks,
 * peer by peer, so the data plane touches only what changed and never disturbs the other peers.
 *
 * The map owns copies of what it keeps (the parsed message can go right after netmap_apply); peers are
 * heap objects that stay put until removed, so the data plane may keep pointers to them (and its own in
 * .data). Pure logic: no I/O, no clock except the `now` passed in. */
#ifndef WEFT_NODE_NETMAP_H
#define WEFT_NODE_NETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto/key.h"
#include "core/netlink.h"

struct tc_map_response;
struct tc_node;

/* What changed about a peer or the self node (a bit set). */
enum {
    NM_KEY = 1 << 0,       /* node key (a peer with a new key is a new WireGuard peer) */
    NM_ADDRS = 1 << 1,     /* Addresses or AllowedIPs */
    NM_DERP = 1 << 2,      /* home DERP region */
    NM_ENDPOINTS = 1 << 3, /* UDP endpoints (for direct paths) */
    NM_DISCO = 1 << 4,     /* disco key */
    NM_ONLINE = 1 << 5,    /* Online / LastSeen */
    NM_NAME = 1 << 6,      /* Name, Hostinfo.Hostname, OS, User */
    NM_EXPIRY = 1 << 7,    /* KeyExpiry, Expired */
    NM_CAPS = 1 << 8,      /* node capabilities (CapMap keys, Capabilities) */
};

#define NM_MAX_PREFIXES                                                                                     \
    64 /* addresses + allowed IPs kept per node; more are ignored (logged by the caller) */
#define NM_MAX_ENDPOINTS 16
#define NM_MAX_CAPS 64 /* node capabilities kept per node */

struct nm_node {
    int64_t id;
    int64_t user;
    struct key key, disco;
    char *name;     /* FQDN with its trailing dot, "" if none */
    char *hostname; /* Hostinfo.Hostname */
    char *os;
    struct nl_prefix *addrs; /* Addresses */
    size_t naddrs;
    struct nl_prefix *allowed; /* AllowedIPs (= Addresses when absent) */
    size_t nallowed;
    char **endpoints; /* "ip:port" */
    size_t nendpoints;
    char **caps; /* node capabilities: CapMap's keys and the older Capabilities, sorted, no duplicates */
    size_t ncaps;
    int32_t home_derp;  /* region ID, 0 unknown */
    int online;         /* -1 unknown, 0, 1 */
    int was_online;     /* online before the last change that touched it */
    int64_t last_seen;  /* unix seconds, 0 unknown */
    int64_t key_expiry; /* unix seconds, 0 never */
    bool expired;
    bool machine_authorized;
    void *data; /* the data plane's (its WireGuard peer) */
};

struct nm_derp_node {
    char *name, *host, *cert_name, *ipv4, *ipv6;
    int32_t derp_port; /* 0: 443 */
    int32_t stun_port; /* 0: 3478, -1: none */
    bool stun_only, insecure_for_tests;
};

struct nm_region {
    int32_t id;
    char *code, *name;
    bool avoid, no_home;
    struct nm_derp_node *nodes;
    size_t nnodes;
};

/* A FilterRule as control sent it (parsed by the packet filter, modules/node/filter). */
struct nm_port_range {
    char *ip; /* "*", address, CIDR, "a-b" */
    uint16_t first, last;
    bool bits; /* the deprecated Bits field was present */
};
struct nm_filter_rule {
    char **srcs;
    size_t nsrcs;
    struct nm_port_range *dsts;
    size_t ndsts;
    int32_t *protos; /* none: TCP, UDP, ICMPv4, ICMPv6 */
    size_t nprotos;
};
/* A named filter of PacketFilters (PacketFilter is the one named "base"). */
struct nm_filter {
    char *name;
    struct nm_filter_rule *rules;
    size_t nrules;
};

struct nm_user {
    int64_t id;
    char *login_name, *display_name;
};

struct netmap {
    bool have_self; /* a first full map arrived */
    struct nm_node self;
    struct nm_node **peers; /* sorted by id */
    size_t npeers, cap;
    struct nm_region *regions; /* sorted by id */
    size_t nregions;
    struct nm_user *users;
    size_t nusers;
    char *domain;
    struct nm_filter *filters; /* sorted by name: the packet filter is their rules in this order */
    size_t nfilters;
    bool have_filter;          /* control sent one (until then: deny all) */
    uint64_t generation; /* bumped by every apply that changed something */
};

struct netmap_ops {
    void (*peer_added)(void *arg, struct nm_node *p);
    /* what: NM_* bits; for NM_KEY old_key is the key the peer had (p->data still belongs to it) */
    void (*peer_changed)(void *arg, struct nm_node *p, unsigned what, const struct key *old_key);
    /* p is freed after this returns */
    void (*peer_removed)(void *arg, struct nm_node *p);
    void (*self_changed)(void *arg, struct nm_node *self, unsigned what);
    void (*derp_map_changed)(void *arg, struct netmap *nm);
    /* PacketFilter or PacketFilters arrived (nm->filters is the new set) */
    void (*filter_changed)(void *arg, struct netmap *nm);
};

void netmap_init(struct netmap *nm);
/* Free everything; peers are dropped without callbacks. */
void netmap_free(struct netmap *nm);
/* Drop every peer through peer_removed (e.g. `weft down`, logout), then forget the rest. */
void netmap_clear(struct netmap *nm, const struct netmap_ops *ops, void *arg);

/* Apply one (non-keep-alive) MapResponse. The first one must carry Node (else -1, nothing applied).
 * now: unix seconds (PeerSeenChange). Returns 0, or -1 with a reason in err. */
int netmap_apply(struct netmap *nm, const struct tc_map_response *m, int64_t now,
                 const struct netmap_ops *ops, void *arg, char *err, size_t errlen);

struct nm_node *netmap_peer_by_id(const struct netmap *nm, int64_t id);
struct nm_node *netmap_peer_by_key(const struct netmap *nm, const struct key *k);
/* A peer by name: FQDN (with or without the trailing dot), first label, Hostinfo hostname, or one of its
 * addresses. NULL if none or ambiguous. */
struct nm_node *netmap_peer_lookup(const struct netmap *nm, const char *what);
const struct nm_region *netmap_region(const struct netmap *nm, int32_t id);
const struct nm_user *netmap_user(const struct netmap *nm, int64_t id);

/* Does the node have capability cap? */
bool nm_node_has_cap(const struct nm_node *n, const char *cap);

/* The node's short name: the first label of its FQDN, else its hostname. */
const char *nm_node_short_name(const struct nm_node *n, char *buf, size_t cap);

#endif
