// SPDX-License-Identifier: BSD-3-Clause
/* Fuzz disco: message parse + re-encode (byte-identical apart from the version byte), the sealed
 * envelope (open must fail cleanly; seal → open round trip), and the packet classifier. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/wire/disco.h"

#define CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

static uint8_t out[70000], plain[70000], pkt[70200];

static void roundtrip(const uint8_t *p, size_t n)
{
    struct disco_msg m;
    int r = disco_parse(p, n, &m);
    if (r == DISCO_ERR_UNKNOWN_TYPE) {
        CHECK(disco_type_name(p[0]) == NULL);
        return;
    }
    if (r < 0 || m.empty)
        return;
    size_t body = n - 2;
    long e = -1;
    switch (m.type) {
    case DISCO_PING:
        CHECK(DISCO_TXID_LEN + (m.ping.node_key ? DISCO_KEY_LEN : 0) + m.ping.padding == body);
        /* Padding is zeros on the wire only if the sender made it so: compare only then. */
        for (size_t i = n - m.ping.padding; i < n; i++)
            if (p[i])
                return;
        e = disco_ping_encode(out, sizeof(out), m.ping.tx_id, m.ping.node_key, m.ping.padding);
        break;
    case DISCO_PONG:
        if (body != DISCO_PONG_BODY_LEN)
            return;
        e = disco_pong_encode(out, sizeof(out), m.pong.tx_id, &m.pong.src);
        break;
    case DISCO_CALL_ME_MAYBE: {
        struct disco_addr eps[3641];
        CHECK(m.call_me_maybe.n * DISCO_EP_LEN == body && m.call_me_maybe.n <= 3641);
        for (size_t i = 0; i < m.call_me_maybe.n; i++)
            disco_endpoint_get(m.call_me_maybe.endpoints, i, &eps[i]);
        e = disco_call_me_maybe_encode(out, sizeof(out), eps, m.call_me_maybe.n);
        break;
    }
    case DISCO_BIND_UDP_RELAY_ENDPOINT:
    case DISCO_BIND_UDP_RELAY_ENDPOINT_CHALLENGE:
    case DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER:
        if (body != DISCO_BIND_COMMON_LEN)
            return;
        e = disco_bind_encode(out, sizeof(out), m.type, m.bind.vni, m.bind.generation, m.bind.remote_key,
                              m.bind.challenge);
        break;
    case DISCO_CALL_ME_MAYBE_VIA: e = disco_call_me_maybe_via_encode(out, sizeof(out), &m.via); break;
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST:
        if (body != DISCO_ALLOC_REQ_LEN)
            return;
        e = disco_alloc_request_encode(out, sizeof(out), m.alloc_req.client_disco[0],
                                       m.alloc_req.client_disco[1], m.alloc_req.generation);
        break;
    case DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE:
        e = disco_alloc_response_encode(out, sizeof(out), m.alloc_resp.generation, &m.alloc_resp.ep);
        break;
    }
    if (n > 65535 + 2 && e < 0)
        return; /* encoders cap list sizes */
    CHECK(e == (long)n);
    CHECK(out[0] == p[0] && out[1] == 0 && memcmp(out + 2, p + 2, n - 2) == 0);
    struct disco_msg m2;
    CHECK(disco_parse(out, n, &m2) == 0 && m2.type == m.type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t shared[32], pub[32];
    static int init;
    if (!init) {
        uint8_t priv[32] = {7};
        if (sodium_init() < 0)
            abort();
        crypto_scalarmult_base(pub, priv);
        if (disco_shared_key(shared, pub, priv) < 0)
            abort();
        init = 1;
    }
    if (size > 65000)
        return 0;
    roundtrip(data, size);

    /* The input as a received packet: opening must fail (or, rarely, succeed) without harm. */
    long ol = disco_open(data, size, shared, plain, sizeof(plain));
    if (ol >= 0)
        roundtrip(plain, (size_t)ol);
    /* The input as plaintext: seal then open gives it back. */
    long sl = disco_seal(pkt, sizeof(pkt), pub, shared, NULL, data, size);
    CHECK(sl == (long)(size + DISCO_HEADER_LEN + DISCO_BOX_OVERHEAD));
    CHECK(disco_sender_key(pkt, (size_t)sl) == pkt + DISCO_MAGIC_LEN);
    CHECK(disco_open(pkt, (size_t)sl, shared, plain, sizeof(plain)) == (long)size &&
          !memcmp(plain, data, size));
    CHECK(disco_classify_udp(pkt, (size_t)sl) == DISCO_CLASS_DISCO);

    enum disco_class c = disco_classify_udp(data, size);
    if (c == DISCO_CLASS_DISCO)
        CHECK(disco_is_disco(data, size));
    if (c == DISCO_CLASS_WIREGUARD)
        CHECK(disco_wireguard_type(data, size) > 0);
    if (c == DISCO_CLASS_GENEVE_DISCO || c == DISCO_CLASS_GENEVE_WIREGUARD) {
        struct geneve_header g;
        CHECK(geneve_decode(data, size, &g) == 0);
        uint8_t h[8];
        CHECK(geneve_encode(h, sizeof(h), &g) == 8 && h[1] == (data[1] & 0x80) &&
              !memcmp(h + 2, data + 2, 6));
    }
    (void)disco_classify_derp(data, size);
    return 0;
}
