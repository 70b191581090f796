// SPDX-License-Identifier: BSD-3-Clause
/* A DERP v2 client on the loop (spec derp.md §1-§5): dial http:// or https:// (certificate verified against
 * the system store, a CA file, or a pinned certificate), upgrade, handshake with ClientInfo/ServerInfo, then
 * send and receive frames; answers server pings itself; optionally reconnects with backoff.
 * Used by the relay's mesh links, the node role, the tests and the benchmark. Loop thread only. */
#ifndef WEFT_CORE_DERP_CLIENT_H
#define WEFT_CORE_DERP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct loop;
struct derp_client;
struct derp_peer_present;

/* A parsed DERP URL: "http://host:port/path", "https://host/derp", or a bare "host[:port]" (https). */
struct derp_url {
    int tls;
    char host[256];     /* without brackets */
    uint16_t port;      /* 80 / 443 by default */
    char hostport[272]; /* "host:port" / "[v6]:port": what stream_connect takes and the Host header says */
    char path[256];     /* "/derp" by default */
};
/* 0, or -1 if malformed (unknown scheme, bad port, too long). */
int derp_url_parse(const char *url, struct derp_url *out);

struct derp_client_opts {
    const char *url;           /* where to connect (see derp_url_parse) */
    const uint8_t *priv;       /* our 32-byte X25519 private key (copied) */
    const uint8_t *mesh_key;   /* 32 bytes: connect as a mesh peer (NULL: a regular client) */
    const char *connect_addr;  /* dial this "ip:port" instead of the URL's host (the DERP map's IPv4/IPv6) */
    const char *sni;           /* TLS name to send and check (default: the URL's host) */
    const char *ca_file;       /* PEM CA bundle (default: the system store) */
    const char *pin_cert_file; /* PEM certificate the server must present exactly */
    int insecure;              /* accept any certificate: tests only */
    int is_prober;             /* ClientInfo IsProber */
    int no_ack_pings;          /* don't advertise CanAckPings */
    int reconnect;           /* after a failure or a close, dial again with backoff (else report and stop) */
    unsigned backoff_min_ms; /* first retry delay (default 250) */
    unsigned backoff_max_ms; /* cap on the doubling delay (default 30000) */
    unsigned read_timeout_ms;    /* no frame for this long: the connection is dead (default 120000) */
    unsigned connect_timeout_ms; /* dial + TLS + upgrade + handshake (default 10000) */
};

/* Every callback is optional. Views passed in are valid during the call only. A callback may call any
 * derp_client_* function on its client, derp_client_free included. */
struct derp_client_cbs {
    /* The handshake is done: frames can flow. server_key is the relay's public key. */
    void (*on_connected)(struct derp_client *c, const uint8_t server_key[32], void *arg);
    /* The connection failed or closed (err says why); with reconnect a new attempt is scheduled. */
    void (*on_disconnected)(struct derp_client *c, const char *err, void *arg);
    void (*on_packet)(struct derp_client *c, const uint8_t src[32], const uint8_t *data, size_t len,
                      void *arg);
    void (*on_peer_gone)(struct derp_client *c, const uint8_t key[32], uint8_t reason, void *arg);
    void (*on_peer_present)(struct derp_client *c, const struct derp_peer_present *p, void *arg);
    void (*on_pong)(struct derp_client *c, const uint8_t data[8], void *arg);
    void (*on_keep_alive)(struct derp_client *c, void *arg);
    void (*on_health)(struct derp_client *c, const char *text, size_t len, void *arg);
    void (*on_restarting)(struct derp_client *c, uint32_t reconnect_in_ms, uint32_t try_for_ms, void *arg);
    /* Everything queued so far has reached the kernel: a good moment to send more. */
    void (*on_writable)(struct derp_client *c, void *arg);
};

/* A client; it starts dialling at once. NULL on bad options (malformed URL, no key) or out of memory. */
struct derp_client *derp_client_new(struct loop *l, const struct derp_client_opts *o,
                                    const struct derp_client_cbs *cbs, void *arg);
/* Close the connection and free (no callback follows). Safe inside the client's own callbacks. */
void derp_client_free(struct derp_client *c);

/* 1 once the handshake is done (until the connection goes). */
int derp_client_connected(const struct derp_client *c);
/* Our public key, and the relay's (zero until the first ServerKey). */
const uint8_t *derp_client_public_key(const struct derp_client *c);
const uint8_t *derp_client_server_key(const struct derp_client *c);

/* Frames to send: queued (copied) and written together once the current callback returns, one write per loop
 * round. 0, or -1 when not connected (nothing queued) or the packet is too big. */
int derp_client_send(struct derp_client *c, const uint8_t dst[32], const void *pkt, size_t len);
/* Gather form: the packet is the concatenation of iov[0..n). */
int derp_client_sendv(struct derp_client *c, const uint8_t dst[32], const struct iovec *iov, size_t n);
/* Mesh peers only: relay pkt from src to dst on the far server (ForwardPacket). */
int derp_client_forward(struct derp_client *c, const uint8_t src[32], const uint8_t dst[32], const void *pkt,
                        size_t len);
int derp_client_ping(struct derp_client *c, const uint8_t data[8]);
int derp_client_note_preferred(struct derp_client *c, int preferred);
int derp_client_watch_conns(struct derp_client *c);
int derp_client_close_peer(struct derp_client *c, const uint8_t key[32]);
/* Bytes accepted by the send functions and not yet written to the socket. */
size_t derp_client_queued(const struct derp_client *c);

/* Drop the connection now and (with reconnect) dial again after the backoff. */
void derp_client_reconnect(struct derp_client *c);

#endif
