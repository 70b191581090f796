// SPDX-License-Identifier: BSD-3-Clause
/* magicsock internals shared by its files (see ms.h for the picture). */
#ifndef WEFT_NODE_MAGICSOCK_INT_H
#define WEFT_NODE_MAGICSOCK_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/wire/disco.h"
#include "modules/node/magicsock/ms.h"

/* Timing, as tailscale's magicsock (wgengine/magicsock: magicsock.go, endpoint.go), in milliseconds. */
#define MS_PING_TIMEOUT_MS 5000          /* pingTimeoutDuration */
#define MS_DISCO_PING_INTERVAL_MS 5000   /* discoPingInterval: one discovery ping per endpoint per 5 s */
#define MS_HEARTBEAT_MS 3000             /* heartbeatInterval: ping the best address while active */
#define MS_TRUST_UDP_MS 6500             /* trustUDPAddrDuration: a pong makes a path trusted this long */
#define MS_SESSION_ACTIVE_MS 45000       /* sessionActiveTimeout: no sends this long = idle */
#define MS_UPGRADE_DIRECT_MS 60000       /* upgradeUDPDirectInterval: look for a better path */
#define MS_GOOD_ENOUGH_LATENCY_US 5000   /* goodEnoughLatency: no upgrade search below this */
#define MS_ENDPOINTS_FRESH_MS 27000      /* endpointsFreshEnoughDuration: re-STUN before CallMeMaybe */
#define MS_RESTUN_MIN_MS 20000           /* periodic re-STUN, just under common 30 s NAT timeouts */
#define MS_RESTUN_MAX_MS 26000
#define MS_LIKELY_HEARTBEAT_MS 5000
#define MS_PING_BACK_MS 1000             /* ours: a ping back to a pinging address at most this often */      /* a ping from the same source this soon is a heartbeat (logs) */

/* Limits (ours): bounded per-peer state whatever a peer sends. */
#define MS_MAX_EPS 32          /* candidate endpoints per peer (netmap + CallMeMaybe + learned from pings) */
#define MS_MAX_PINGS 32        /* disco pings in flight per peer */
#define MS_PONG_BURST 64       /* pongs a peer may draw at once, refilled at MS_PONG_RATE per second */
#define MS_PONG_RATE 32
#define MS_DISCO_BUF 1500

enum ms_ping_purpose { MS_PING_DISCOVERY, MS_PING_HEARTBEAT, MS_PING_CLI };

struct ms_epstate {
    bool used;
    bool cmm;                  /* listed in the peer's last CallMeMaybe */
    int16_t index;             /* position in the netmap's Endpoints, -1: not there */
    struct disco_addr addr;
    uint64_t last_ping;        /* when we last pinged it, 0: never */
    uint64_t last_got_ping;    /* learned at runtime from a ping (0: from the netmap) */
    uint8_t last_got_ping_txid[DISCO_TXID_LEN];
    uint64_t cmm_time;         /* when a CallMeMaybe last listed it, 0: never */
    uint64_t last_pong;        /* 0: never */
    uint32_t latency_us;
    struct disco_addr pong_src; /* what the peer saw as our address */
};

struct ms_sent_ping {
    bool used, derp;
    uint8_t purpose;
    uint8_t txid[DISCO_TXID_LEN];
    struct disco_addr to; /* UDP */
    int region;           /* DERP */
    uint64_t at;          /* loop ms */
    uint64_t at_us;       /* for latency */
};

struct ms_peer {
    struct ms *m;
    struct ms_peer *next, *prev;   /* all peers */
    struct ms_peer *knext, *dnext; /* hash chains: by node key, by disco key */
    int64_t id;
    char name[64];
    uint8_t key[32];
    bool have_disco;
    uint8_t disco[32];
    uint8_t shared[32]; /* crypto_box_beforenm(peer disco, our disco) */
    int home_derp;
    int last_derp_region; /* where its packets last came from: the fallback when it has no home */

    /* candidates and pings in flight, each array grown as needed up to its limit (most peers have a few
     * of each: 32 of both inline were 5 KiB a peer) */
    struct ms_epstate *eps;
    struct ms_sent_ping *pings;
    uint8_t eps_cap, pings_cap;

    bool have_best;
    struct disco_addr best;
    uint32_t best_latency_us;
    uint64_t best_at, trust_until;
    int64_t best_since_ms; /* wall clock (Unix ms) the current best address was chosen */

    uint64_t last_send_ext, last_full_ping;
    struct timer t_heartbeat, t_ping;
    bool want_cmm; /* a CallMeMaybe waits for fresh endpoints */

    struct disco_addr last_ping_from;
    uint64_t last_ping_time;
    uint32_t pong_tokens;
    uint64_t pong_refill;

    uint64_t tx_direct, tx_derp, rx_disco;
};

struct ms_netcheck;

struct ms_waiter {
    void (*done)(void *arg, const struct ms_report *r);
    void *arg;
};
#define MS_MAX_WAITERS 8

struct ms {
    struct loop *loop;
    struct wg_device *dev;
    int tid;
    struct ms_cbs cbs;
    void *arg;
    struct ms_opts opts;
    char tun[32];
    bool have_keys;
    uint8_t node_pub[32], disco_priv[32], disco_pub[32];
    const struct netmap *nm;
    int home;

    struct ms_peer *first;
    size_t npeers;
    struct ms_peer **by_key, **by_disco;
    size_t nbuckets;

    /* our endpoints */
    struct ms_endpoint eps[MS_MAX_LOCAL_EPS];
    size_t neps;
    uint64_t eps_time; /* last refresh (lastEndpointsTime), 0: never */
    uint64_t ni_digest; /* of the NetInfo fields last reported */
    struct timer t_restun, t_link;
    const char *restun_why, *restun_next_why; /* what started the netcheck under way / the queued one */
    uint64_t path_lost_restun;                /* last re-STUN for a lost path (loop ms) */
    bool link_major;
    struct disco_addr local[MS_MAX_LOCAL_EPS]; /* interface addresses at the last look */
    size_t nlocal;

    /* netcheck */
    struct ms_netcheck *nc;
    struct ms_report report;
    bool nc_running, nc_again;
    struct ms_waiter waiters[MS_MAX_WAITERS];
    size_t nwaiters;

    struct ms_portmap *pm;

    struct ms_stats st;
    uint8_t buf[MS_DISCO_BUF]; /* an opened disco message */
    uint8_t rx[65536];         /* a DERP packet for the engine, which decrypts in place */
};

/* ---- conn.c ---- */
uint64_t ms_now_us(void);
struct ms_peer *ms_peer_by_key(const struct ms *m, const uint8_t key[32]);
/* Seal and send a disco message to p: over UDP to `to`, or through DERP region `region` when to is NULL. */
bool ms_send_disco(struct ms *m, struct ms_peer *p, const struct disco_addr *to, int region,
                   const uint8_t *plain, size_t len);
bool ms_send_udp(struct ms *m, const struct disco_addr *to, const struct iovec *pkts, size_t n);
/* The DERP region packets to p go through (its home, else where it last came from, else ours). */
int ms_peer_region(const struct ms_peer *p);
void ms_disco_index_update(struct ms *m, struct ms_peer *p, bool had, const uint8_t old[32]);

/* ---- peer.c ---- */
void ms_peer_init(struct ms_peer *p);
void ms_peer_stop(struct ms_peer *p);
/* Reset every path of the peer (new disco key, link change). */
void ms_peer_reset(struct ms_peer *p);
void ms_peer_set_netmap_endpoints(struct ms_peer *p, const char *const *eps, size_t n);
/* The engine sends n datagrams to p. */
void ms_peer_send(struct ms_peer *p, const struct iovec *pkts, size_t n);
/* Disco messages for p (already opened and parsed). via_derp: region (0 = UDP from src). */
bool ms_peer_add_candidate(struct ms_peer *p, const struct disco_addr *src, const uint8_t txid[12]);
bool ms_peer_handle_pong(struct ms_peer *p, const struct disco_msg *msg, const struct disco_addr *src,
                         int region);
void ms_peer_handle_cmm(struct ms_peer *p, const struct disco_msg *msg);
bool ms_peer_pong_allowed(struct ms_peer *p);
/* A ping came over UDP from src: ping back if we have no trusted path (see peer.c). */
void ms_peer_ping_back(struct ms_peer *p, const struct disco_addr *src);
/* Our endpoints were refreshed: send the CallMeMaybe that waited for them. */
void ms_peer_endpoints_fresh(struct ms_peer *p);

/* ---- endpoints.c ---- */
void ms_endpoints_init(struct ms *m);
void ms_endpoints_stop(struct ms *m);
/* (Re)gather endpoints now, running a netcheck first (ReSTUN). why: for the log. */
void ms_restun(struct ms *m, const char *why);
/* A direct path stopped answering: our own public address may be what changed (a NAT that rebinds or
 * renumbers leaves no trace on our interfaces), so re-STUN now, not at the next periodic one. */
void ms_path_lost(struct ms *m);
/* A peer became active: make sure the periodic re-STUN runs. */
void ms_endpoints_active(struct ms *m);
/* The netcheck finished: rebuild the endpoint list, report changes, release waiting CallMeMaybes. */
void ms_endpoints_update(struct ms *m);
/* Local interface addresses usable as endpoints (not loopback, not link-local, not our TUN's). */
size_t ms_local_addrs(const char *tun, struct disco_addr *out, size_t cap);

/* ---- netcheck.c ---- */
struct ms_netcheck *ms_nc_new(struct ms *m);
void ms_nc_free(struct ms_netcheck *nc);
/* Start a report (-1: nothing to probe). ms_nc_done() is called when it finishes. */
int ms_nc_start(struct ms_netcheck *nc);
bool ms_nc_running(const struct ms_netcheck *nc);
/* A STUN datagram arrived on the socket. */
void ms_nc_input(struct ms_netcheck *nc, const struct disco_addr *from, const uint8_t *pkt, size_t len);
void ms_nc_done(struct ms *m, const struct ms_report *r);

/* ---- portmap.c ---- */
struct ms_portmap;
struct ms_portmap *ms_pm_new(struct ms *m);
void ms_pm_free(struct ms_portmap *pm);
/* The external address of our mapping, if one is live; starts getting one otherwise. */
bool ms_pm_mapping(struct ms_portmap *pm, struct disco_addr *ext);
/* What the gateway speaks (-1 unknown, 0, 1), probing it when stale. */
void ms_pm_services(struct ms_portmap *pm, int *upnp, int *pmp, int *pcp);
void ms_pm_link_changed(struct ms_portmap *pm);

/* ---- upnp.c: UPnP IGD through libminiupnpc, one blocking job at a time on a thread of its own ---- */
struct ms_upnp;
struct ms_upnp_result {
    bool probe, delete;   /* which job this was */
    bool igd;             /* an Internet Gateway Device answered */
    bool mapped;          /* a mapping was made (or refreshed) */
    bool deleted;
    uint8_t ext_ip[4];
    uint16_t ext_port;
    uint32_t lifetime;    /* seconds granted, 0: permanent (refreshed all the same) */
    char err[160];        /* why not, when not */
};
/* r: valid during the call only; called on the loop's thread. */
typedef void (*ms_upnp_cb)(void *arg, const struct ms_upnp_result *r);
/* NULL when UPnP is not built in (configure without libminiupnpc) or on failure. */
struct ms_upnp *ms_upnp_new(struct loop *l, ms_upnp_cb cb, void *arg);
bool ms_upnp_busy(const struct ms_upnp *u);
/* Start a job: false when one is under way (or it cannot start). self: our LAN address. */
bool ms_upnp_probe(struct ms_upnp *u, const uint8_t self[4]);
bool ms_upnp_map(struct ms_upnp *u, const uint8_t self[4], uint16_t internal_port, uint32_t lifetime);
/* Another network: delete our mapping (a job) and forget the gateway. false when a job is under way. */
bool ms_upnp_forget(struct ms_upnp *u);
/* Wait for a job under way, delete our mapping (blocking, bounded by libminiupnpc's timeouts), free. */
void ms_upnp_free(struct ms_upnp *u);

/* ---- addresses ---- */
static inline bool ms_addr_is4(const struct disco_addr *a)
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->ip, pre, 12) == 0;
}
static inline bool ms_addr_eq(const struct disco_addr *a, const struct disco_addr *b)
{
    return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}
static inline bool ms_addr_valid(const struct disco_addr *a)
{
    static const uint8_t zero[16];
    return a->port != 0 && memcmp(a->ip, zero, 16) != 0;
}
void ms_addr_from4(struct disco_addr *a, const uint8_t ip4[4], uint16_t port);
void ms_addr_from_sa(struct disco_addr *a, const struct sockaddr *sa);
socklen_t ms_addr_to_sa(const struct disco_addr *a, struct sockaddr_storage *ss);
bool ms_addr_is_private(const struct disco_addr *a);
bool ms_addr_is_loopback(const struct disco_addr *a);
bool ms_addr_is_linklocal(const struct disco_addr *a);
/* 127.3.3.40: the DERP magic address (a DERP "source" in Pongs). */
bool ms_addr_is_derp_magic(const struct disco_addr *a);

#endif
