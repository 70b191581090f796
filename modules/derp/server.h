// SPDX-License-Identifier: BSD-3-Clause
/* The relay's insides, shared by the derp module's files: connections, the key table, mesh links,
 * admission, STUN and the counters behind /metrics. One loop, no locks. */
#ifndef WEFT_MODULES_DERP_SERVER_H
#define WEFT_MODULES_DERP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/crypto/key.h"
#include "core/limit.h"
#include "core/loop.h"
#include "modules/derp/derp.h"

struct weft_ctx;
struct stream;
struct http_req;
struct derp_client;
struct dconn;
struct mesh_link;
struct verify_req;
struct stun_server;

/* Why packets were dropped (a metric label each). */
enum drop_reason {
    DROP_UNKNOWN_DEST,     /* no such key here or on a mesh peer */
    DROP_UNKNOWN_DEST_FWD, /* forwarded to us for a key we don't have */
    DROP_QUEUE_HEAD,       /* the destination's queue was full: its oldest packet went */
    DROP_GONE,             /* the destination was closing */
    DROP_WRITE_ERROR,
    DROP_MESH_QUEUE, /* the mesh link's buffer was full */
    DROP_NOT_MESH,   /* ForwardPacket from a connection that is not a mesh peer */
    DROP_NREASONS
};

struct derp_metrics {
    uint64_t accepts, accepts_refused_limit, accepts_refused_rate;
    uint64_t handshake_failures, admission_denied, admission_errors;
    uint64_t packets_recv, bytes_recv;           /* SendPacket/ForwardPacket payloads received */
    uint64_t packets_relayed, bytes_relayed;     /* delivered to a local client */
    uint64_t packets_forwarded, bytes_forwarded; /* sent on to a mesh peer */
    uint64_t drops[DROP_NREASONS];
    uint64_t pings, pongs_sent, keepalives, peer_gone_sent, not_here_sent, peer_present_sent;
    uint64_t frames_unknown, clients_dropped_malformed, clients_dropped_oversized, home_conns_total;
    uint64_t clients_dropped_not_mesh;
    uint64_t stun_requests, stun_responses, stun_ignored;
    uint64_t rate_limited;
    uint64_t bp_pauses, bp_overflows; /* senders paused for a full destination; waits that ran out */
};

/* Senders paused because something they send to is full (a local client's queue or a mesh link): TCP
 * back-pressure instead of reading packets only to drop them. Each waits at most derp.backpressure_wait;
 * when one has waited that long the destination is "overflowing": nobody waits for it any more and its
 * packets are dropped (oldest first) until it drains. */
struct bp_room {
    struct dconn *head; /* paused senders, linked through their struct bp_pause */
    uint8_t overflowing;
};
/* Wake everyone waiting for room (it drained, or is going away); overflowing ends too. */
void bp_room_release(struct bp_room *r);
/* c waits for room in r (its reading stops until then): 1, or 0 if it cannot wait (it should not, or out of
 * memory: the packet takes the drop path). */
int bp_wait(struct dconn *c, struct bp_room *r);

/* A key we know: connected here (conns), and/or present on a mesh peer (fwd). */
struct peer {
    uint8_t key[32];
    struct peer *hnext;
    struct dconn *conns;   /* local connections for the key, newest first */
    struct dconn *active;  /* the one packets go to: the last that sent */
    struct mesh_link *fwd; /* mesh link that announced it */
    /* keys this one sent packets to: they hear PeerGone when it leaves the region */
    uint8_t (*sent)[32];
    uint32_t nsent, capsent;
};

struct derp_server {
    struct loop *loop;
    struct weft_ctx *ctx;
    const struct derp_conf *conf;
    struct key priv, pub;
    uint8_t mesh_key[32];
    int has_mesh_key;
    int stopping;

    /* key table: chained hash, SipHash with a random key */
    struct peer **buckets;
    size_t nbuckets, npeers;
    uint8_t hash_key[16];

    /* every connection (handshaking or running), for shutdown */
    struct dconn *conns;
    size_t nconns, nclients, nmesh, nws, npreferred;
    uint64_t next_id;

    /* mesh peers that sent WatchConns */
    struct dconn **watchers;
    size_t nwatchers, capwatchers;

    /* frames to write at the end of the current read, per destination (no copy: views of the input) */
    struct bent {
        const uint8_t *p;
        uint32_t len;
        int32_t next;
    } * bents;
    size_t nbents, capbents;
    struct dconn **dirty;
    size_t ndirty, capdirty;

    /* connections with buffered input to process on the next round (after a hold ends) */
    struct dconn **kicks;
    size_t nkicks, capkicks;
    struct timer kick_t;

    /* max_conns and the accept rate (core/limit.h) */
    struct accept_limit accept;

    struct mesh_link *links;
    size_t nlinks_up;
    struct stun_server *stun;
    struct derp_metrics m;
};

/* ---- server.c ---- */
struct derp_server *derp_server_new(struct weft_ctx *ctx, const struct derp_conf *conf,
                                    const struct key *priv);
/* Graceful: tell clients we restart, end their connections, stop the mesh and STUN. */
void derp_server_stop(struct derp_server *srv);
/* Close everything now and free. */
void derp_server_free(struct derp_server *srv);
/* The /derp handler (routes on every listener). */
void derp_handle_upgrade(struct http_req *req, void *arg);
size_t derp_server_conns(const struct derp_server *srv);
/* Drop every client connection (not mesh links) of key now, logging why. */
void derp_server_drop_key(struct derp_server *srv, const uint8_t key[32], const char *why);
/* After a reload changed the limits in srv->conf: running connections take the new write timeouts and
 * receive limit (a bucket added, removed or capped); accept_changed: the accept bucket starts again. Queues
 * already allocated keep their depth; handshake and TCP keepalive settings apply to new connections. */
void derp_server_limits_changed(struct derp_server *srv, int accept_changed);

struct peer *peer_find(struct derp_server *srv, const uint8_t key[32]);
struct peer *peer_get(struct derp_server *srv, const uint8_t key[32]);
/* Free p if nothing refers to it any more (no local conn, no forwarder), telling those it sent to. */
void peer_maybe_free(struct derp_server *srv, struct peer *p);

/* ---- admit.c: admission of a client that finished its handshake ---- */
/* Decide for c (not a mesh peer): calls derp_admit_done(c, allow, why) now (returns NULL), or later (returns
 * the pending request, which c keeps so that verify_cancel can end it if c goes first). */
struct verify_req *derp_admit(struct derp_server *srv, struct dconn *c, const uint8_t key[32],
                              const char *source_ip);
void derp_admit_done(struct dconn *c, int allow, const char *why);
void verify_cancel(struct verify_req *v);

/* ---- mesh.c ---- */
int mesh_start(struct derp_server *srv);
void mesh_stop(struct derp_server *srv);
/* Should sender c wait before forwarding through l (its link is backed up)? 1 if c now waits. */
int mesh_wait(struct derp_server *srv, struct mesh_link *l, struct dconn *c);
/* Send a packet from src to dst through the link that announced dst. 0, or -1 if dropped. */
int mesh_forward(struct derp_server *srv, struct mesh_link *l, const uint8_t src[32], const uint8_t dst[32],
                 const uint8_t *data, size_t len);
int derp_read_mesh_key(const char *path, uint8_t key[32], char *err, size_t errlen);

/* ---- stun_server.c ---- */
struct stun_server *stun_server_start(struct derp_server *srv, const char *addr, char *err, size_t errlen);
void stun_server_free(struct stun_server *s);

/* ---- metrics.c ---- */
struct metrics_w;
void derp_collect_metrics(struct metrics_w *w, void *arg); /* arg: the derp_server */

/* ---- ws.c: WebSocket framing for browser clients (RFC 6455, server side) ---- */
/* The Sec-WebSocket-Accept value for a client key (29 chars + NUL into out). */
void ws_accept_key(const char *client_key, char out[32]);
/* Header of one unmasked binary frame of len bytes into out (<= 10 bytes); its length. */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len);
struct ws_frame {
    uint8_t fin, opcode;
    uint64_t len; /* payload length */
    size_t hdr;   /* header bytes (mask key included) */
    uint8_t mask[4];
    int masked;
};
/* Parse a frame header at p: 1 when whole (f filled), 0 when more bytes are needed, -1 if malformed. */
int ws_parse_header(const uint8_t *p, size_t n, struct ws_frame *f);
/* A client connection's reassembly state. */
struct ws_state {
    uint8_t *buf; /* unmasked DERP bytes not yet parsed */
    size_t len, cap;
    uint8_t in_msg; /* a fragmented data message is open (its continuation frames may follow) */
};
/* Unwrap the client frames at in[0..len) (unmasked in place): the payloads of whole data frames are appended
 * to w->buf, pings are answered through pong(arg, payload, n), pongs ignored. *used gets the bytes consumed
 * (whole frames only): it stops early, before a data frame that would take w->buf past 4 * max_frame (the
 * rest waits until the owner has parsed some of w->buf). 0 when more input is needed or w->buf is full; -1
 * on a close frame (*why = NULL) or a malformed or oversized frame (*why says why); w stays valid either
 * way. */
int ws_unwrap_input(struct ws_state *w, uint8_t *in, size_t len, size_t max_frame, size_t *used,
                    void (*pong)(void *arg, const uint8_t *p, size_t n), void *arg, const char **why);

#endif
