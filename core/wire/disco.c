// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wire/disco.h"

#include <string.h>

#include <sodium.h>

#include "core/wire/byteorder.h"

/* ---- envelope ---- */

bool disco_is_disco(const uint8_t *pkt, size_t n)
{
    return n >= DISCO_MAGIC_LEN + DISCO_KEY_LEN && memcmp(pkt, DISCO_MAGIC, DISCO_MAGIC_LEN) == 0;
}

bool disco_looks_like_wrapper(const uint8_t *pkt, size_t n)
{
    return n >= DISCO_HEADER_LEN && memcmp(pkt, DISCO_MAGIC, DISCO_MAGIC_LEN) == 0;
}

const uint8_t *disco_sender_key(const uint8_t *pkt, size_t n)
{
    return disco_looks_like_wrapper(pkt, n) ? pkt + DISCO_MAGIC_LEN : NULL;
}

int disco_shared_key(uint8_t shared[32], const uint8_t peer_pub[32], const uint8_t my_priv[32])
{
    return crypto_box_beforenm(shared, peer_pub, my_priv) == 0 ? 0 : -1;
}

long disco_seal(uint8_t *out, size_t cap, const uint8_t my_pub[32], const uint8_t shared[32],
                const uint8_t *nonce, const uint8_t *plain, size_t plain_len)
{
    if (cap < DISCO_HEADER_LEN + DISCO_BOX_OVERHEAD ||
        cap - DISCO_HEADER_LEN - DISCO_BOX_OVERHEAD < plain_len)
        return -1;
    uint8_t *n = out + DISCO_MAGIC_LEN + DISCO_KEY_LEN, *box = out + DISCO_HEADER_LEN;
    /* The plaintext may already sit at its place in out (box + 16): memmove first, then header. */
    memmove(box + DISCO_BOX_OVERHEAD, plain, plain_len);
    memcpy(out, DISCO_MAGIC, DISCO_MAGIC_LEN);
    memmove(out + DISCO_MAGIC_LEN, my_pub, DISCO_KEY_LEN);
    if (nonce)
        memmove(n, nonce, DISCO_NONCE_LEN);
    else
        randombytes_buf(n, DISCO_NONCE_LEN);
    if (crypto_box_detached_afternm(box + DISCO_BOX_OVERHEAD, box, box + DISCO_BOX_OVERHEAD, plain_len, n,
                                    shared) != 0)
        return -1;
    return (long)(DISCO_HEADER_LEN + DISCO_BOX_OVERHEAD + plain_len);
}

long disco_open(const uint8_t *pkt, size_t n, const uint8_t shared[32], uint8_t *out, size_t cap)
{
    if (!disco_looks_like_wrapper(pkt, n) || n < DISCO_HEADER_LEN + DISCO_BOX_OVERHEAD)
        return -1;
    size_t clen = n - DISCO_HEADER_LEN, mlen = clen - DISCO_BOX_OVERHEAD;
    if (cap < mlen)
        return -1;
    if (crypto_box_open_easy_afternm(out, pkt + DISCO_HEADER_LEN, clen,
                                     pkt + DISCO_MAGIC_LEN + DISCO_KEY_LEN, shared) != 0)
        return -1;
    return (long)mlen;
}

/* ---- inner messages ---- */

const char *disco_type_name(uint8_t type)
{
    switch (type) {
    case DISCO_PING: return "Ping";
    case DISCO_PONG: return "Pong";
    case DISCO_CALL_ME_MAYBE: return "CallMeMaybe";
    case DISCO_BIND_UDP_RELAY_ENDPOINT: return "BindUDPRelayEndpoint";
    case DISCO_BIND_UDP_RELAY_ENDPOINT_CHALLENGE: return "BindUDPRelayEndpointChallenge";
    case DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER: return "BindUDPRelayEndpointAnswer";
    case DISCO_CALL_ME_MAYBE_VIA: return "CallMeMaybeVia";
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST: return "AllocateUDPRelayEndpointRequest";
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE: return "AllocateUDPRelayEndpointResponse";
    default: return NULL;
    }
}

void disco_endpoint_get(const uint8_t *list, size_t i, struct disco_addr *a)
{
    const uint8_t *p = list + i * DISCO_EP_LEN;
    memcpy(a->ip, p, 16);
    a->port = wire_be16(p + 16);
}

void disco_endpoint_put(uint8_t *out18, const struct disco_addr *a)
{
    memcpy(out18, a->ip, 16);
    wire_put_be16(out18 + 16, a->port);
}

/* UDPRelayEndpoint: fixed part then a non-empty whole number of endpoints, nothing after. */
static int relay_ep_decode(const uint8_t *p, size_t n, struct disco_relay_endpoint *ep)
{
    if (n < DISCO_RELAY_EP_FIXED_LEN + DISCO_EP_LEN || (n - DISCO_RELAY_EP_FIXED_LEN) % DISCO_EP_LEN)
        return DISCO_ERR_SHORT;
    ep->server_disco = p;
    ep->client_disco[0] = p + 32;
    ep->client_disco[1] = p + 64;
    ep->lamport_id = wire_be64(p + 96);
    ep->vni = wire_be32(p + 104);
    ep->bind_lifetime_ns = (int64_t)wire_be64(p + 108);
    ep->steady_state_lifetime_ns = (int64_t)wire_be64(p + 116);
    ep->addrs = p + DISCO_RELAY_EP_FIXED_LEN;
    ep->n_addrs = (n - DISCO_RELAY_EP_FIXED_LEN) / DISCO_EP_LEN;
    return 0;
}

int disco_parse(const uint8_t *p, size_t n, struct disco_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (n < 2)
        return DISCO_ERR_SHORT;
    m->type = p[0];
    m->version = p[1];
    const uint8_t *b = p + 2;
    size_t bl = n - 2;

    switch (m->type) {
    case DISCO_PING:
        /* Any version; lax on longer bodies (padding) for future compatibility. */
        if (bl < DISCO_TXID_LEN)
            return DISCO_ERR_SHORT;
        m->ping.tx_id = b;
        bl -= DISCO_TXID_LEN;
        if (bl >= DISCO_KEY_LEN) {
            m->ping.node_key = b + DISCO_TXID_LEN;
            bl -= DISCO_KEY_LEN;
        }
        m->ping.padding = bl;
        return 0;
    case DISCO_PONG:
        if (bl < DISCO_PONG_BODY_LEN)
            return DISCO_ERR_SHORT;
        m->pong.tx_id = b;
        disco_endpoint_get(b + DISCO_TXID_LEN, 0, &m->pong.src);
        return 0;
    case DISCO_CALL_ME_MAYBE:
        if (m->version != 0 || bl % DISCO_EP_LEN || bl == 0) {
            m->empty = true;
            return 0;
        }
        m->call_me_maybe.endpoints = b;
        m->call_me_maybe.n = bl / DISCO_EP_LEN;
        return 0;
    case DISCO_BIND_UDP_RELAY_ENDPOINT:
    case DISCO_BIND_UDP_RELAY_ENDPOINT_CHALLENGE:
    case DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER:
        if (bl < DISCO_BIND_COMMON_LEN)
            return DISCO_ERR_SHORT;
        m->bind.vni = wire_be32(b);
        m->bind.generation = wire_be32(b + 4);
        m->bind.remote_key = b + 8;
        m->bind.challenge = b + 40;
        return 0;
    case DISCO_CALL_ME_MAYBE_VIA:
        if (m->version != 0) {
            m->empty = true;
            return 0;
        }
        return relay_ep_decode(b, bl, &m->via);
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST:
        if (m->version != 0) {
            m->empty = true;
            return 0;
        }
        if (bl < DISCO_ALLOC_REQ_LEN)
            return DISCO_ERR_SHORT;
        m->alloc_req.client_disco[0] = b;
        m->alloc_req.client_disco[1] = b + 32;
        m->alloc_req.generation = wire_be32(b + 64);
        return 0;
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE:
        if (m->version != 0) {
            m->empty = true;
            return 0;
        }
        if (bl < 4)
            return DISCO_ERR_SHORT;
        m->alloc_resp.generation = wire_be32(b);
        return relay_ep_decode(b + 4, bl - 4, &m->alloc_resp.ep);
    default: return DISCO_ERR_UNKNOWN_TYPE;
    }
}

/* Type, version 0, and room for body bytes; returns the body pointer or NULL. */
static uint8_t *msg_start(uint8_t *out, size_t cap, uint8_t type, size_t body_len)
{
    if (cap < 2 || cap - 2 < body_len)
        return NULL;
    out[0] = type;
    out[1] = 0;
    return out + 2;
}

long disco_ping_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12], const uint8_t *node_key,
                       size_t padding)
{
    size_t keylen = node_key ? DISCO_KEY_LEN : 0;
    if (padding > 65535)
        return -1;
    uint8_t *b = msg_start(out, cap, DISCO_PING, DISCO_TXID_LEN + keylen + padding);
    if (!b)
        return -1;
    memmove(b, tx_id, DISCO_TXID_LEN);
    if (node_key)
        memmove(b + DISCO_TXID_LEN, node_key, DISCO_KEY_LEN);
    memset(b + DISCO_TXID_LEN + keylen, 0, padding);
    return (long)(2 + DISCO_TXID_LEN + keylen + padding);
}

long disco_pong_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12], const struct disco_addr *src)
{
    uint8_t *b = msg_start(out, cap, DISCO_PONG, DISCO_PONG_BODY_LEN);
    if (!b)
        return -1;
    memmove(b, tx_id, DISCO_TXID_LEN);
    disco_endpoint_put(b + DISCO_TXID_LEN, src);
    return 2 + DISCO_PONG_BODY_LEN;
}

long disco_call_me_maybe_encode(uint8_t *out, size_t cap, const struct disco_addr *eps, size_t n)
{
    if (n > 65535 / DISCO_EP_LEN)
        return -1;
    uint8_t *b = msg_start(out, cap, DISCO_CALL_ME_MAYBE, n * DISCO_EP_LEN);
    if (!b)
        return -1;
    for (size_t i = 0; i < n; i++)
        disco_endpoint_put(b + i * DISCO_EP_LEN, &eps[i]);
    return (long)(2 + n * DISCO_EP_LEN);
}

long disco_bind_encode(uint8_t *out, size_t cap, uint8_t type, uint32_t vni, uint32_t generation,
                       const uint8_t remote_key[32], const uint8_t *challenge)
{
    if (type < DISCO_BIND_UDP_RELAY_ENDPOINT || type > DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER)
        return -1;
    uint8_t *b = msg_start(out, cap, type, DISCO_BIND_COMMON_LEN);
    if (!b)
        return -1;
    wire_put_be32(b, vni);
    wire_put_be32(b + 4, generation);
    memmove(b + 8, remote_key, 32);
    if (challenge)
        memmove(b + 40, challenge, 32);
    else
        memset(b + 40, 0, 32);
    return 2 + DISCO_BIND_COMMON_LEN;
}

static void relay_ep_put(uint8_t *b, const struct disco_relay_endpoint *ep)
{
    memmove(b, ep->server_disco, 32);
    memmove(b + 32, ep->client_disco[0], 32);
    memmove(b + 64, ep->client_disco[1], 32);
    wire_put_be64(b + 96, ep->lamport_id);
    wire_put_be32(b + 104, ep->vni);
    wire_put_be64(b + 108, (uint64_t)ep->bind_lifetime_ns);
    wire_put_be64(b + 116, (uint64_t)ep->steady_state_lifetime_ns);
    memmove(b + DISCO_RELAY_EP_FIXED_LEN, ep->addrs, ep->n_addrs * DISCO_EP_LEN);
}

long disco_call_me_maybe_via_encode(uint8_t *out, size_t cap, const struct disco_relay_endpoint *ep)
{
    if (ep->n_addrs > 65535 / DISCO_EP_LEN)
        return -1;
    size_t body = DISCO_RELAY_EP_FIXED_LEN + ep->n_addrs * DISCO_EP_LEN;
    uint8_t *b = msg_start(out, cap, DISCO_CALL_ME_MAYBE_VIA, body);
    if (!b)
        return -1;
    relay_ep_put(b, ep);
    return (long)(2 + body);
}

long disco_alloc_request_encode(uint8_t *out, size_t cap, const uint8_t client_disco0[32],
                                const uint8_t client_disco1[32], uint32_t generation)
{
    uint8_t *b = msg_start(out, cap, DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST, DISCO_ALLOC_REQ_LEN);
    if (!b)
        return -1;
    memmove(b, client_disco0, 32);
    memmove(b + 32, client_disco1, 32);
    wire_put_be32(b + 64, generation);
    return 2 + DISCO_ALLOC_REQ_LEN;
}

long disco_alloc_response_encode(uint8_t *out, size_t cap, uint32_t generation,
                                 const struct disco_relay_endpoint *ep)
{
    if (ep->n_addrs > 65535 / DISCO_EP_LEN)
        return -1;
    size_t body = 4 + DISCO_RELAY_EP_FIXED_LEN + ep->n_addrs * DISCO_EP_LEN;
    uint8_t *b = msg_start(out, cap, DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE, body);
    if (!b)
        return -1;
    wire_put_be32(b, generation);
    relay_ep_put(b + 4, ep);
    return (long)(2 + body);
}

/* ---- classification ---- */

int disco_wireguard_type(const uint8_t *pkt, size_t n)
{
    if (n < 4 || pkt[1] || pkt[2] || pkt[3])
        return 0;
    switch (pkt[0]) {
    case 1: return n == 148 ? 1 : 0; /* handshake initiation */
    case 2: return n == 92 ? 2 : 0; /* handshake response */
    case 3: return n == 64 ? 3 : 0; /* cookie reply */
    case 4: return n >= 32 ? 4 : 0; /* transport data (32 = keepalive) */
    default: return 0;
    }
}

int geneve_decode(const uint8_t *pkt, size_t n, struct geneve_header *h)
{
    if (n < GENEVE_HEADER_LEN || (pkt[0] & 0xC0) || (pkt[1] & 0x3F) || pkt[7])
        return -1;
    h->control = (pkt[1] & 0x80) != 0;
    h->protocol = wire_be16(pkt + 2);
    h->vni = (uint32_t)pkt[4] << 16 | (uint32_t)pkt[5] << 8 | pkt[6];
    return 0;
}

long geneve_encode(uint8_t *out, size_t cap, const struct geneve_header *h)
{
    if (cap < GENEVE_HEADER_LEN || h->vni > 0xFFFFFF)
        return -1;
    out[0] = 0;
    out[1] = h->control ? 0x80 : 0;
    wire_put_be16(out + 2, h->protocol);
    out[4] = (uint8_t)(h->vni >> 16);
    out[5] = (uint8_t)(h->vni >> 8);
    out[6] = (uint8_t)h->vni;
    out[7] = 0;
    return GENEVE_HEADER_LEN;
}

enum disco_class disco_classify_udp(const uint8_t *pkt, size_t n)
{
    /* STUN first: header, top two bits clear, magic cookie, and a binding-class byte 1. */
    if (n >= 20 && !(pkt[0] & 0xC0) && pkt[1] == 0x01 && pkt[4] == 0x21 && pkt[5] == 0x12 &&
        pkt[6] == 0xa4 && pkt[7] == 0x42)
        return DISCO_CLASS_STUN;
    struct geneve_header g;
    if (geneve_decode(pkt, n, &g) == 0) {
        if (g.protocol == GENEVE_PROTO_DISCO &&
            disco_is_disco(pkt + GENEVE_HEADER_LEN, n - GENEVE_HEADER_LEN))
            return DISCO_CLASS_GENEVE_DISCO;
        if (g.protocol == GENEVE_PROTO_WIREGUARD)
            return DISCO_CLASS_GENEVE_WIREGUARD;
    }
    if (disco_is_disco(pkt, n))
        return DISCO_CLASS_DISCO;
    if (disco_wireguard_type(pkt, n))
        return DISCO_CLASS_WIREGUARD;
    return DISCO_CLASS_OTHER;
}

enum disco_class disco_classify_derp(const uint8_t *pkt, size_t n)
{
    if (disco_is_disco(pkt, n))
        return DISCO_CLASS_DISCO;
    if (disco_wireguard_type(pkt, n))
        return DISCO_CLASS_WIREGUARD;
    return DISCO_CLASS_OTHER;
}
