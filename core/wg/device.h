// SPDX-License-Identifier: BSD-3-Clause
/* The WireGuard engine: one device (our static key, the peers, their allowed IPs, sessions and timers)
 * between a tunnel side (IP packets: a Linux TUN, or the caller) and transports (WireGuard datagrams:
 * the device's own UDP sockets, or any transport the caller plugs in, e.g. DERP).
 *
 * Everything runs on the loop's thread: configuration calls, packet paths and timers. Packets move in
 * batches (recvmmsg/sendmmsg, UDP GSO/GRO, TUN offloads) through preallocated buffers; nothing is
 * allocated per packet. Peers can be added, changed and removed at any time without disturbing others.
 *
 * Lifetimes: a struct wg_peer pointer stays valid until wg_peer_remove() or wg_device_free().
 *
 * The data plane's share of the protocol lives here: keypair rotation (current / previous / next as
 * WireGuard does), the timer machine's actions (core/wg/timers.h), staged packets while a handshake is
 * under way, cookie replies when under load (mac2 required), roaming (a peer's endpoint follows its last
 * authenticated packet), and the inner-source check against the sending peer's allowed IPs. */
#ifndef WEFT_WG_DEVICE_H
#define WEFT_WG_DEVICE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

struct loop;
struct wg_device;
struct wg_peer;
struct wg_tun;

#define WG_DEFAULT_MTU 1280
#define WG_TRANSPORT_UDP 0 /* the device's own UDP sockets */

/* Where a peer's datagrams go: a transport id and an address in that transport's terms. For UDP, addr is
 * a sockaddr_in/sockaddr_in6; another transport stores what it needs (up to sizeof addr bytes, e.g. a
 * DERP region and node key) and len says how much of it counts (endpoints compare bytewise). */
struct wg_endpoint {
    uint32_t transport;
    socklen_t len; /* 0: no endpoint */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
        uint8_t bytes[128];
    } addr;
};

/* A pluggable transport. send() carries n WireGuard datagrams to one endpoint: pkts[i] are whole
 * datagrams (iov_base/iov_len), valid only during the call. Returns how many went out (a prefix), or -1.
 * Datagrams the transport receives go to wg_device_input(). */
struct wg_transport_ops {
    const char *name;
    int (*send)(void *ctx, const struct wg_endpoint *to, const struct iovec *pkts, size_t n);
};

enum wg_event {
    WG_EVENT_HANDSHAKE,        /* a session with the peer was established (either side started it) */
    WG_EVENT_ENDPOINT_CHANGED, /* the peer roamed: its endpoint follows its last authenticated packet */
    WG_EVENT_KEYS_ZEROED,      /* no session left (timers expired every key) */
};
typedef void (*wg_event_fn)(void *ctx, struct wg_peer *p, enum wg_event ev);

/* The tunnel side when there is no TUN attached: decrypted IP packets, in batches. */
typedef void (*wg_deliver_fn)(void *ctx, struct wg_peer *from, const struct iovec *pkts, size_t n);

struct wg_peer_stats {
    uint64_t rx_bytes, tx_bytes;       /* WireGuard datagrams received from / sent to the peer */
    struct timespec last_handshake;    /* wall clock; 0 if never */
    struct wg_endpoint endpoint;
    uint16_t persistent_keepalive;     /* seconds, 0 off */
    bool have_session;                 /* a usable sending keypair exists */
};

struct wg_device_stats {
    uint64_t rx_packets, tx_packets;   /* inner packets delivered / sent */
    uint64_t rx_dropped;               /* bad, replayed, unknown or refused datagrams */
    uint64_t tx_dropped;               /* packets with no route, no endpoint, or too big */
    uint64_t cookie_replies;           /* sent because we were under load */
    uint64_t rx_filtered, tx_filtered; /* dropped by the packet hooks */
    uint64_t udp_other;                /* non-WireGuard datagrams handed to the udp_other hook */
    uint64_t idle_releases;            /* times the packet buffers went back to the kernel while idle */
};

/* ---- the device ---- */

/* A device on `loop`, without key, peers, sockets or tunnel. NULL on failure. */
struct wg_device *wg_device_new(struct loop *loop);
/* Remove every peer (their keys are wiped), close the sockets; the TUN is the caller's to free. */
void wg_device_free(struct wg_device *d);

/* The static key. NULL removes it (no handshakes until another is set). Changing it drops every session
 * (and a peer whose public key equals ours, as WireGuard does). 0 or -1 (a key with a low-order public). */
int wg_device_set_private_key(struct wg_device *d, const uint8_t priv[32]);
/* Our public key; false if no key is set. */
bool wg_device_public_key(const struct wg_device *d, uint8_t pub[32], uint8_t *priv_or_null);

/* Bind the UDP sockets (IPv4 and IPv6, same port; 0 picks one). Rebinding keeps the peers. 0, or -1
 * with errno (EADDRINUSE...). wg_device_listen_port() is the bound port, 0 when not bound. */
int wg_device_set_listen_port(struct wg_device *d, uint16_t port);
uint16_t wg_device_listen_port(const struct wg_device *d);
/* SO_MARK on the UDP sockets (0 clears). 0 or -1 with errno. */
int wg_device_set_fwmark(struct wg_device *d, uint32_t mark);
uint32_t wg_device_fwmark(const struct wg_device *d);

/* The inner MTU (padding is capped by it; packets read from a TUN are segmented to it). */
void wg_device_set_mtu(struct wg_device *d, unsigned mtu);

/* Attach a TUN (core/wg/tun.h): packets read from it are routed to peers, decrypted packets are written to
 * it. NULL detaches. Without a TUN, wg_device_send() and the deliver hook are the tunnel side. */
void wg_device_attach_tun(struct wg_device *d, struct wg_tun *tun);
void wg_device_set_deliver(struct wg_device *d, wg_deliver_fn fn, void *ctx);
/* Called once when reading the TUN fails for good (the interface was deleted); the TUN is then paused. */
void wg_device_set_tun_gone(struct wg_device *d, void (*fn)(void *ctx), void *ctx);
/* Route and send n IP packets (the tunnel side without a TUN). Returns how many were accepted. */
size_t wg_device_send(struct wg_device *d, const struct iovec *pkts, size_t n);

/* Roaming (on by default, as WireGuard): a peer's endpoint follows its last authenticated datagram. A
 * caller that picks paths itself (the node's magicsock: direct UDP or DERP per peer) turns it off; the
 * endpoint then changes only through wg_peer_set_endpoint, and replies go where the caller decides. */
void wg_device_set_roaming(struct wg_device *d, bool on);

/* Datagrams on the device's UDP sockets that are not WireGuard messages (disco and STUN share the
 * socket with WireGuard on a Tailscale node) go to fn instead of being dropped. buf is writable and
 * valid during the call only. */
typedef void (*wg_udp_other_fn)(void *ctx, const struct sockaddr *from, socklen_t fromlen, uint8_t *buf,
                                size_t len);
void wg_device_set_udp_other(struct wg_device *d, wg_udp_other_fn fn, void *ctx);
/* Send n datagrams to one address from the device's UDP socket of its family (GSO batches them). For
 * disco and STUN, and for a transport that carries WireGuard over the device's own socket. Returns 0,
 * or -1 with errno (EAFNOSUPPORT: no socket of that family; the datagrams are dropped). */
int wg_device_udp_send(struct wg_device *d, const struct sockaddr *to, socklen_t tolen, const struct iovec *pkts,
                       size_t n);

/* Packet hooks on the tunnel side, one call per IP packet, no allocation. `in` sees each packet
 * decrypted from peer `from` (after the allowed-IPs source check), before it reaches the TUN or the
 * deliver hook; `out` sees each packet read from the TUN (or given to wg_device_send) before routing.
 * WG_PKT_DROP drops it (counted in rx_filtered / tx_filtered); WG_PKT_TAKEN (out only) means the hook
 * handled the packet itself (e.g. a local resolver answering through wg_device_tun_inject). */
enum wg_pkt_verdict { WG_PKT_PASS = 0, WG_PKT_DROP, WG_PKT_TAKEN };
typedef enum wg_pkt_verdict (*wg_in_hook)(void *ctx, struct wg_peer *from, const uint8_t *pkt, size_t len);
typedef enum wg_pkt_verdict (*wg_out_hook)(void *ctx, const uint8_t *pkt, size_t len);
void wg_device_set_packet_hooks(struct wg_device *d, wg_in_hook in, wg_out_hook out, void *ctx);
/* Write IP packets to the attached TUN as if they had come through the tunnel (locally made answers; the
 * TUN may rewrite their headers in place). Without a TUN they go to the deliver hook with a NULL peer.
 * Returns how many were taken. */
size_t wg_device_tun_inject(struct wg_device *d, struct iovec *pkts, size_t n);

/* Register a transport; returns its id for wg_endpoint.transport (> 0), or -1. */
int wg_device_add_transport(struct wg_device *d, const struct wg_transport_ops *ops, void *ctx);
/* A transport received one datagram from `from`. buf may be modified (decryption is in place). */
void wg_device_input(struct wg_device *d, const struct wg_endpoint *from, uint8_t *buf, size_t len);

void wg_device_set_event_hook(struct wg_device *d, wg_event_fn fn, void *ctx);
void wg_device_get_stats(const struct wg_device *d, struct wg_device_stats *s);

/* Test-only switches (the integration tests shorten the protocol's timers). timer_scale divides every
 * protocol duration (1 = real); under_load forces cookie replies for every handshake without mac2. */
void wg_device_set_test_knobs(struct wg_device *d, unsigned timer_scale, bool always_under_load);

/* ---- peers ---- */

struct wg_peer *wg_peer_find(const struct wg_device *d, const uint8_t pub[32]);
/* Add a peer (or return the existing one). NULL on failure. */
struct wg_peer *wg_peer_add(struct wg_device *d, const uint8_t pub[32]);
/* Wipe its keys and forget it; the pointer is dead afterwards. */
void wg_peer_remove(struct wg_peer *p);
/* The peers in the order added: first with NULL, then the one after p; NULL at the end. */
struct wg_peer *wg_peer_next(const struct wg_device *d, const struct wg_peer *p);

const uint8_t *wg_peer_public_key(const struct wg_peer *p);
/* NULL = zero (no PSK). */
void wg_peer_set_psk(struct wg_peer *p, const uint8_t psk[32]);
bool wg_peer_psk(const struct wg_peer *p, uint8_t psk[32]); /* false when zero */
void wg_peer_set_endpoint(struct wg_peer *p, const struct wg_endpoint *ep);
/* Seconds, 0 = off. Turning it on sends a keepalive at once. */
void wg_peer_set_keepalive(struct wg_peer *p, uint16_t seconds);

/* Allowed IPs: family 4 or 6, the address bytes (4 or 16), the prefix length. 0 or -1. */
int wg_peer_allowed_ip_add(struct wg_peer *p, int family, const uint8_t *addr, unsigned cidr);
int wg_peer_allowed_ip_remove(struct wg_peer *p, int family, const uint8_t *addr, unsigned cidr);
void wg_peer_allowed_ips_clear(struct wg_peer *p);
/* Call fn for each of the peer's prefixes as text ("10.0.0.0/24"), in the order added. */
void wg_peer_allowed_ips_each(const struct wg_peer *p, void (*fn)(void *ctx, const char *prefix), void *ctx);
/* The peer owning the longest prefix that contains addr (family 4 or 6), or NULL. */
struct wg_peer *wg_device_route(const struct wg_device *d, int family, const uint8_t *addr);

void wg_peer_get_stats(const struct wg_peer *p, struct wg_peer_stats *s);
/* Caller data attached to a peer (e.g. the node role's node record). */
void wg_peer_set_data(struct wg_peer *p, void *data);
void *wg_peer_data(const struct wg_peer *p);

/* Start a handshake now (if none is under way); e.g. after the endpoint changed. */
void wg_peer_initiate(struct wg_peer *p);

/* Endpoint text forms for UDP: "1.2.3.4:51820", "[fd00::1]:51820". 0 or -1. */
int wg_endpoint_parse(const char *text, struct wg_endpoint *ep);
char *wg_endpoint_format(const struct wg_endpoint *ep, char *buf, size_t cap);

#endif
