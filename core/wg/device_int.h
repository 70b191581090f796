// SPDX-License-Identifier: BSD-3-Clause
/* The WireGuard device's own state, shared by its files: device.c (packets: the index table, sending,
 * receiving, handshakes, timers) and peers.c (the peer table and the configuration API of device.h).
 * Not for use outside core/wg. */
#ifndef WEFT_CORE_WG_DEVICE_INT_H
#define WEFT_CORE_WG_DEVICE_INT_H

#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/wg/allowedips.h"
#include "core/wg/constants.h"
#include "core/wg/device.h"
#include "core/wg/noise.h"
#include "core/wg/timers.h"
#include "core/wg/transport.h"
#include "core/wg/tun.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* A slot holds one packet: the 16-byte transport header in front, the payload (an IP packet up to
 * SLOT_PAYLOAD bytes: jumbo MTUs fit), then room for the padding and the tag. */
#define SLOT_PAYLOAD 9216
#define SLOT_CAP (WG_TRANSPORT_HEADER_LEN + SLOT_PAYLOAD + 16 + WG_TAG_LEN)
#define TX_BATCH 256        /* packets read from the tunnel per round */
#define RX_MSGS 32          /* datagrams (or GRO trains) per recvmmsg */
#define RX_BUF 65536        /* one GRO train of up to 64 KiB */
#define RX_PKTS (RX_MSGS * 64)
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define SEND_MSGS 64
#define MAX_STAGED 128      /* packets waiting for a handshake, per peer (as wireguard-go) */
#define STAGED_ALL_MAX 2048 /* packets waiting for a handshake, all peers together */
#define IDLE_RELEASE_MS 10000 /* no packets this long: the arenas' pages go back */
#define TX_ARENA_LEN ((size_t)TX_BATCH * SLOT_CAP)
#define RX_ARENA_LEN ((size_t)RX_MSGS * RX_BUF)
#define UNDER_LOAD_PER_SEC 1024 /* handshake messages per second beyond which mac2 is required */
#define MAX_TRANSPORTS 8
#define IO_ROUNDS 8

enum { IDX_EMPTY, IDX_HANDSHAKE, IDX_KEYPAIR, IDX_DELETED };

struct kp {
    struct wg_keypair k;
    struct wg_peer *peer;
};

struct idx_entry {
    uint32_t idx;
    uint8_t kind;
    struct wg_peer *peer;
    struct kp *kp;
};

/* A packet waiting for a handshake, in a buffer of its own size: the transport header's room, the payload
 * at +16, then room for the padding and the tag (cap bytes in all). Not a SLOT_CAP buffer: a node that
 * starts a session with each of 100 peers stages 100 small packets, which would hold 100 x 9 KiB of heap. */
struct staged {
    uint8_t *buf;
    uint32_t len, cap;
};

struct wg_peer {
    struct wg_device *d;
    struct wg_peer *next, *prev; /* in the order added */
    struct wg_peer *hnext;       /* public key hash chain */
    uint8_t pub[32];
    void *data;
    struct wg_handshake hs;
    uint32_t hs_index; /* registered index of our pending initiation, 0 none */
    struct kp *cur, *prev_kp, *next_kp;
    struct wg_timers tm;
    struct timer timer;
    uint64_t timer_deadline;
    struct wg_aip_owner aip;
    struct wg_endpoint ep;
    uint16_t keepalive;
    uint64_t rx_bytes, tx_bytes;
    struct timespec last_hs;
    struct staged *staged; /* a ring of MAX_STAGED while packets wait, else NULL (2 KiB less a peer) */
    unsigned n_staged, staged_head;
    /* this round's outbound packets: indices into the tx batch, chained */
    int txq_head, txq_tail, txq_n;
    struct wg_peer *tx_next;
    bool in_tx;
};

struct transport {
    const struct wg_transport_ops *ops;
    void *ctx;
};

struct wg_device {
    struct loop *loop;
    struct wg_local local;
    bool have_key;
    struct wg_peer *first, *last;
    size_t n_peers;
    struct wg_peer **buckets;
    size_t n_buckets;
    struct idx_entry *idx;
    uint32_t idx_cap, idx_used, idx_tombs;
    struct wg_allowedips aip;

    int fd4, fd6;
    struct loop_watch *w4, *w6;
    uint16_t port;
    uint32_t fwmark;
    bool gso_ok;

    struct wg_tun *tun;
    struct loop_watch *wtun;
    wg_deliver_fn deliver;
    void *deliver_ctx;
    void (*tun_gone)(void *ctx);
    void *tun_gone_ctx;
    struct transport tr[MAX_TRANSPORTS];
    unsigned n_tr;
    wg_event_fn ev;
    void *ev_ctx;
    bool no_roam;
    wg_udp_other_fn udp_other;
    void *udp_other_ctx;
    wg_in_hook in_hook;
    wg_out_hook out_hook;
    void *hook_ctx;

    unsigned mtu;
    unsigned timer_scale;
    bool always_load;
    uint64_t now;
    uint64_t load_window;
    unsigned load_count;
    bool under_load;

    /* tx: slots for one round of tunnel packets */
    uint8_t *tx_arena;
    uint8_t *tx_slot[TX_BATCH];
    uint8_t *tx_payload[TX_BATCH];
    size_t tx_len[TX_BATCH];
    int tx_nextq[TX_BATCH];
    struct wg_peer *tx_peers;
    /* rx: recvmmsg buffers, and the decrypted packets of the round */
    uint8_t *rx_arena;
    struct mmsghdr rx_hdr[RX_MSGS];
    struct iovec rx_iov[RX_MSGS];
    struct sockaddr_storage rx_addr[RX_MSGS];
    uint8_t rx_cmsg[RX_MSGS][CMSG_SPACE(sizeof(int))];
    struct iovec *rx_pkts;     /* RX_PKTS of each, taken with the first packet (48 KiB) */
    struct wg_peer **rx_from;
    size_t rx_n;
    /* sending */
    struct iovec send_iov[TX_BATCH];
    struct mmsghdr send_hdr[SEND_MSGS];
    uint8_t send_cmsg[SEND_MSGS][CMSG_SPACE(sizeof(uint16_t))];
    unsigned n_staged_all; /* staged packets of all peers */
    /* idle release: the arenas (4+ MiB once a burst has touched them) are given back to the kernel after
     * IDLE_RELEASE_MS without packets; an idle node keeps none of it */
    struct timer t_idle;
    uint64_t last_io_ms;
    bool arenas_used;

    struct wg_device_stats st;
};

/* device.c, for peers.c (wgd_: the library links these; core has its own udp_send) */
bool wgd_kp_send_usable(const struct wg_peer *p, const struct kp *k);
uint64_t wgd_mono_ns(void);
void wgd_peer_arm(struct wg_peer *p);
int wgd_rx_arena_get(struct wg_device *d);
void wgd_send_keepalive(struct wg_peer *p, bool from_timers);
void wgd_staged_drop(struct wg_peer *p);
int wgd_tx_arena_get(struct wg_device *d);
void wgd_udp_close_all(struct wg_device *d);
int wgd_udp_fd_for(struct wg_device *d, const struct wg_endpoint *ep);
void wgd_udp_send(struct wg_device *d, const struct wg_endpoint *ep, const struct iovec *pkts, size_t n);
void wgd_want_handshake(struct wg_peer *p);
void wgd_zero_keys(struct wg_peer *p);
void wgd_on_peer_timer(struct timer *t, void *arg);
void wgd_on_tun(struct loop_watch *w, int fd, int events, void *arg);
void wgd_on_udp(struct loop_watch *w, int fd, int events, void *arg);


#endif
