// SPDX-License-Identifier: BSD-3-Clause
/* Disco (spec/disco.md): the sealed packet envelope, the inner messages 0x01-0x09, and the
 * classifier for the shared magicsock UDP socket and for packets that arrive via DERP.
 *
 * Parsers return views into the caller's buffer; encoders write into a caller buffer and return the
 * length or -1 when it does not fit. No I/O, no allocation. */
#ifndef WEFT_WIRE_DISCO_H
#define WEFT_WIRE_DISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISCO_MAGIC "TS\xf0\x9f\x92\xac" /* "TS💬" */
#define DISCO_MAGIC_LEN 6
#define DISCO_KEY_LEN 32
#define DISCO_NONCE_LEN 24
#define DISCO_BOX_OVERHEAD 16
#define DISCO_HEADER_LEN (DISCO_MAGIC_LEN + DISCO_KEY_LEN + DISCO_NONCE_LEN) /* 62 */
#define DISCO_MIN_PACKET (DISCO_HEADER_LEN + DISCO_BOX_OVERHEAD + 2) /* 80 */
#define DISCO_TXID_LEN 12
#define DISCO_EP_LEN 18 /* 16-byte IP (v4-mapped for IPv4) + 2-byte port */
#define DISCO_PONG_BODY_LEN 30 /* txid + endpoint */
#define DISCO_BIND_COMMON_LEN 72 /* VNI, generation, remote disco key, challenge */
#define DISCO_RELAY_EP_FIXED_LEN 124 /* UDPRelayEndpoint without its AddrPorts */
#define DISCO_ALLOC_REQ_LEN 68 /* two disco keys + generation */

enum disco_type {
    DISCO_PING = 0x01,
    DISCO_PONG = 0x02,
    DISCO_CALL_ME_MAYBE = 0x03,
    DISCO_BIND_UDP_RELAY_ENDPOINT = 0x04,
    DISCO_BIND_UDP_RELAY_ENDPOINT_CHALLENGE = 0x05,
    DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER = 0x06,
    DISCO_CALL_ME_MAYBE_VIA = 0x07,
    DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST = 0x08,
    DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE = 0x09,
};

enum disco_err {
    DISCO_ERR_SHORT = -1, /* a known type with a body too short (or malformed) for it */
    DISCO_ERR_UNKNOWN_TYPE = -2, /* callers skip these */
};

struct disco_addr {
    uint8_t ip[16]; /* IPv4 as ::ffff:a.b.c.d */
    uint16_t port;
};

struct disco_relay_endpoint {
    const uint8_t *server_disco, *client_disco[2];
    uint64_t lamport_id;
    uint32_t vni;
    int64_t bind_lifetime_ns, steady_state_lifetime_ns;
    const uint8_t *addrs; /* n_addrs × 18 bytes; read with disco_endpoint_get */
    size_t n_addrs;
};

struct disco_msg {
    uint8_t type, version;
    /* Types 3, 7, 8, 9 with a version other than 0 (and 3 with a body that is not a whole number of
     * endpoints) parse as an empty message, as Go does: no fields are set. */
    bool empty;
    union {
        struct {
            const uint8_t *tx_id;
            const uint8_t *node_key; /* NULL when the sender omitted it (old clients) */
            size_t padding; /* bytes after the txid and key (path-MTU probing) */
        } ping;
        struct {
            const uint8_t *tx_id;
            struct disco_addr src;
        } pong;
        struct {
            const uint8_t *endpoints; /* n × 18 bytes */
            size_t n;
        } call_me_maybe;
        struct { /* types 4, 5, 6 */
            uint32_t vni, generation;
            const uint8_t *remote_key, *challenge;
        } bind;
        struct disco_relay_endpoint via; /* type 7 */
        struct {
            const uint8_t *client_disco[2];
            uint32_t generation;
        } alloc_req; /* type 8 */
        struct {
            uint32_t generation;
            struct disco_relay_endpoint ep;
        } alloc_resp; /* type 9 */
    };
};

/* ---- envelope ---- */

/* magic + sender key present (>= 38 bytes): what the UDP demultiplexer calls disco. */
bool disco_is_disco(const uint8_t *pkt, size_t n);
/* Go's LooksLikeDiscoWrapper: >= 62 bytes and the magic (DERP servers use this too). */
bool disco_looks_like_wrapper(const uint8_t *pkt, size_t n);
/* The sender's disco public key (view), or NULL if pkt does not look like a disco wrapper. */
const uint8_t *disco_sender_key(const uint8_t *pkt, size_t n);

/* Precomputed NaCl box key for a peer: 0, or -1 for a low-order peer key. */
int disco_shared_key(uint8_t shared[32], const uint8_t peer_pub[32], const uint8_t my_priv[32]);
/* magic ‖ my_pub ‖ nonce ‖ box(plain). nonce NULL = random. Packet length or -1. */
long disco_seal(uint8_t *out, size_t cap, const uint8_t my_pub[32], const uint8_t shared[32],
                const uint8_t *nonce, const uint8_t *plain, size_t plain_len);
/* Opens a disco packet into out (may not overlap pkt). Plaintext length, or -1 (not disco, too
 * short, or the box does not open). */
long disco_open(const uint8_t *pkt, size_t n, const uint8_t shared[32], uint8_t *out, size_t cap);

/* ---- inner messages ---- */

/* 0, DISCO_ERR_SHORT or DISCO_ERR_UNKNOWN_TYPE (m->type/version are set in every case once p has
 * 2 bytes). */
int disco_parse(const uint8_t *p, size_t n, struct disco_msg *m);
/* The i-th 18-byte endpoint of a list. */
void disco_endpoint_get(const uint8_t *list, size_t i, struct disco_addr *a);
void disco_endpoint_put(uint8_t *out18, const struct disco_addr *a);
/* Name of a message type, or NULL. */
const char *disco_type_name(uint8_t type);

/* node_key NULL omits it; padding zero bytes follow (MTU probing). */
long disco_ping_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12], const uint8_t *node_key,
                       size_t padding);
long disco_pong_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12], const struct disco_addr *src);
long disco_call_me_maybe_encode(uint8_t *out, size_t cap, const struct disco_addr *eps, size_t n);
/* type 4, 5 or 6; challenge NULL = zeros. */
long disco_bind_encode(uint8_t *out, size_t cap, uint8_t type, uint32_t vni, uint32_t generation,
                       const uint8_t remote_key[32], const uint8_t *challenge);
/* ep->addrs/n_addrs are read as an 18-byte list. */
long disco_call_me_maybe_via_encode(uint8_t *out, size_t cap, const struct disco_relay_endpoint *ep);
long disco_alloc_request_encode(uint8_t *out, size_t cap, const uint8_t client_disco0[32],
                                const uint8_t client_disco1[32], uint32_t generation);
long disco_alloc_response_encode(uint8_t *out, size_t cap, uint32_t generation,
                                 const struct disco_relay_endpoint *ep);

/* ---- telling packets apart (spec/disco.md §3) ---- */

enum disco_class {
    DISCO_CLASS_OTHER = 0,
    DISCO_CLASS_STUN, /* STUN binding request/response (netcheck) */
    DISCO_CLASS_DISCO, /* disco envelope */
    DISCO_CLASS_WIREGUARD, /* WireGuard message type 1-4 with a plausible size */
    DISCO_CLASS_GENEVE_DISCO, /* Geneve (peer relay) carrying disco at offset 8 */
    DISCO_CLASS_GENEVE_WIREGUARD, /* Geneve carrying WireGuard at offset 8 */
};

#define GENEVE_HEADER_LEN 8
#define GENEVE_PROTO_DISCO 0x7A11
#define GENEVE_PROTO_WIREGUARD 0x7A12

/* A datagram on the magicsock UDP socket. */
enum disco_class disco_classify_udp(const uint8_t *pkt, size_t n);
/* A RecvPacket payload from DERP: disco or WireGuard (anything not disco goes to WireGuard, which
 * drops what it does not understand: OTHER is returned for that). */
enum disco_class disco_classify_derp(const uint8_t *pkt, size_t n);
/* WireGuard message type (1-4) if the first 4 bytes and the size fit it, else 0. */
int disco_wireguard_type(const uint8_t *pkt, size_t n);

struct geneve_header {
    bool control; /* the relay handshake bit (byte 1, 0x80) */
    uint16_t protocol;
    uint32_t vni; /* 24 bits */
};
int geneve_decode(const uint8_t *pkt, size_t n, struct geneve_header *h);
long geneve_encode(uint8_t *out, size_t cap, const struct geneve_header *h);

#endif
