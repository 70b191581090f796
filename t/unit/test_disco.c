// SPDX-License-Identifier: BSD-3-Clause
/* Disco against spec/disco.md §2.5 (tailscale's disco_test.go payloads, the Go-verified sealed Ping). */
#include "config.h"

#include <sodium.h>

#include "core/wire/disco.h"
#include "t/tap.h"

#define ALICE_PRIV "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define BOB_PUB "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define NONCE "000102030405060708090a0b0c0d0e0f1011121314151617"
#define TXID "0102030405060708090a0b0c"
#define PING_PLAIN "0100" TXID ALICE_PUB
#define SEALED_PING \
    "5453f09f92ac" ALICE_PUB NONCE \
    "70923da0b990b11257582ab871a1a974044e51a71872507b478f9174a8863dfe11cb50d0d2b3d806070f9304b170e3a3300f" \
    "9143936599944102cc5f5581"

static uint8_t alice_priv[32], alice_pub[32], bob_priv[32], bob_pub[32], nonce[24], txid[12];

static void v4(struct disco_addr *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, uint16_t port)
{
    memset(a->ip, 0, 10);
    a->ip[10] = a->ip[11] = 0xff;
    a->ip[12] = b0;
    a->ip[13] = b1;
    a->ip[14] = b2;
    a->ip[15] = b3;
    a->port = port;
}

static void test_inner_vectors(void)
{
    uint8_t buf[256];
    long n;
    struct disco_msg m;

    n = disco_ping_encode(buf, sizeof(buf), txid, NULL, 0);
    is_hex(buf, (size_t)n, "0100" TXID, "Ping TxID=01..0c");
    uint8_t nk[32] = {0};
    nk[1] = 1;
    nk[2] = 2;
    nk[30] = 0x1e;
    nk[31] = 0x1f;
    n = disco_ping_encode(buf, sizeof(buf), txid, nk, 0);
    is_hex(buf, (size_t)n,
           "0100" TXID "000102"
           "000000000000000000000000000000000000000000000000000000"
           "1e1f",
           "Ping + NodeKey (46 bytes)");
    n = disco_ping_encode(buf, sizeof(buf), txid, NULL, 3);
    is_hex(buf, (size_t)n, "0100" TXID "000000", "Ping with 3 bytes of padding");
    ok(disco_parse(buf, (size_t)n, &m) == 0 && m.type == DISCO_PING && !m.ping.node_key &&
           m.ping.padding == 3,
       "Ping + padding parses: no key, padding 3");

    struct disco_addr a;
    v4(&a, 2, 3, 4, 5, 1234);
    n = disco_pong_encode(buf, sizeof(buf), txid, &a);
    is_hex(buf, (size_t)n,
           "0200" TXID "00000000000000000000ffff02030405"
           "04d2",
           "Pong Src=2.3.4.5:1234");
    uint8_t v6[16] = {0xfe, 0xd0, [15] = 0x12};
    memcpy(a.ip, v6, 16);
    a.port = 6666;
    n = disco_pong_encode(buf, sizeof(buf), txid, &a);
    is_hex(buf, (size_t)n,
           "0200" TXID "fed00000000000000000000000000012"
           "1a0a",
           "Pong Src=[fed0::12]:6666");
    ok(disco_parse(buf, (size_t)n, &m) == 0 && m.pong.src.port == 6666 && !memcmp(m.pong.src.ip, v6, 16) &&
           !memcmp(m.pong.tx_id, txid, 12),
       "Pong parses back");

    n = disco_call_me_maybe_encode(buf, sizeof(buf), NULL, 0);
    is_hex(buf, (size_t)n, "0300", "CallMeMaybe (empty)");
    struct disco_addr eps[2];
    v4(&eps[0], 1, 2, 3, 4, 567);
    uint8_t v6b[16] = {0x20, 0x01, [14] = 0x34, [15] = 0x56};
    memcpy(eps[1].ip, v6b, 16);
    eps[1].port = 789;
    n = disco_call_me_maybe_encode(buf, sizeof(buf), eps, 2);
    is_hex(buf, (size_t)n,
           "0300"
           "00000000000000000000ffff01020304"
           "0237"
           "20010000000000000000000000003456"
           "0315",
           "CallMeMaybe 1.2.3.4:567, [2001::3456]:789");
    ok(disco_parse(buf, (size_t)n, &m) == 0 && !m.empty && m.call_me_maybe.n == 2,
       "CallMeMaybe parses 2 endpoints");
    disco_endpoint_get(m.call_me_maybe.endpoints, 1, &a);
    ok(a.port == 789 && !memcmp(a.ip, v6b, 16), "second endpoint is [2001::3456]:789");
}

static void test_parse_rules(void)
{
    uint8_t b[512] = {0};
    struct disco_msg m;
    b[0] = DISCO_PING;
    ok(disco_parse(b, 13, &m) == DISCO_ERR_SHORT, "Ping body of 11 bytes is short");
    ok(disco_parse(b, 14, &m) == 0 && !m.ping.node_key && m.ping.padding == 0, "Ping with txid only");
    ok(disco_parse(b, 45, &m) == 0 && !m.ping.node_key && m.ping.padding == 31,
       "31 bytes after txid: no key");
    b[1] = 7;
    ok(disco_parse(b, 46 + 100, &m) == 0 && m.version == 7 && m.ping.node_key == b + 14 &&
           m.ping.padding == 100,
       "Ping: any version, key, longer body is padding");
    b[0] = DISCO_PONG;
    b[1] = 0;
    ok(disco_parse(b, 31, &m) == DISCO_ERR_SHORT && disco_parse(b, 32, &m) == 0 &&
           disco_parse(b, 40, &m) == 0,
       "Pong needs 30 body bytes, extra is ignored");
    b[0] = DISCO_CALL_ME_MAYBE;
    ok(disco_parse(b, 2 + 19, &m) == 0 && m.empty, "CallMeMaybe with a partial endpoint is empty");
    b[1] = 1;
    ok(disco_parse(b, 2 + 18, &m) == 0 && m.empty, "CallMeMaybe version 1 is empty");
    b[1] = 0;
    b[0] = DISCO_BIND_UDP_RELAY_ENDPOINT_CHALLENGE;
    ok(disco_parse(b, 2 + 71, &m) == DISCO_ERR_SHORT && disco_parse(b, 2 + 72, &m) == 0,
       "Bind needs 72 bytes");
    b[0] = DISCO_CALL_ME_MAYBE_VIA;
    ok(disco_parse(b, 2 + 124, &m) == DISCO_ERR_SHORT, "CallMeMaybeVia needs at least one endpoint");
    ok(disco_parse(b, 2 + 124 + 18, &m) == 0 && m.via.n_addrs == 1, "CallMeMaybeVia with one endpoint");
    ok(disco_parse(b, 2 + 124 + 19, &m) == DISCO_ERR_SHORT, "CallMeMaybeVia with trailing bytes is refused");
    b[1] = 1;
    ok(disco_parse(b, 2, &m) == 0 && m.empty, "CallMeMaybeVia version 1 is empty");
    b[1] = 0;
    b[0] = DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST;
    ok(disco_parse(b, 2 + 67, &m) == DISCO_ERR_SHORT && disco_parse(b, 2 + 68, &m) == 0,
       "AllocRequest: 68 bytes");
    b[0] = DISCO_ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE;
    ok(disco_parse(b, 5, &m) == DISCO_ERR_SHORT && disco_parse(b, 2 + 4 + 124 + 36, &m) == 0 &&
           m.alloc_resp.ep.n_addrs == 2,
       "AllocResponse: generation + endpoint");
    b[0] = 0x0a;
    ok(disco_parse(b, 10, &m) == DISCO_ERR_UNKNOWN_TYPE && m.type == 0x0a, "type 0x0a is unknown");
    ok(disco_parse(b, 1, &m) == DISCO_ERR_SHORT, "one byte is short");
}

static void test_relay_roundtrip(void)
{
    uint8_t k1[32], k2[32], k3[32], addrs[36], buf[512];
    memset(k1, 1, 32);
    memset(k2, 2, 32);
    memset(k3, 3, 32);
    struct disco_addr a;
    v4(&a, 10, 0, 0, 1, 7);
    disco_endpoint_put(addrs, &a);
    v4(&a, 10, 0, 0, 2, 8);
    disco_endpoint_put(addrs + 18, &a);
    struct disco_relay_endpoint ep = {.server_disco = k1,
                                      .client_disco = {k2, k3},
                                      .lamport_id = 0x0102030405060708ull,
                                      .vni = 0xabcdef,
                                      .bind_lifetime_ns = 30000000000ll,
                                      .steady_state_lifetime_ns = -1,
                                      .addrs = addrs,
                                      .n_addrs = 2};
    long n = disco_alloc_response_encode(buf, sizeof(buf), 42, &ep);
    struct disco_msg m;
    ok(n == 2 + 4 + 124 + 36 && disco_parse(buf, (size_t)n, &m) == 0 && m.alloc_resp.generation == 42 &&
           m.alloc_resp.ep.lamport_id == ep.lamport_id && m.alloc_resp.ep.vni == 0xabcdef &&
           m.alloc_resp.ep.bind_lifetime_ns == 30000000000ll &&
           m.alloc_resp.ep.steady_state_lifetime_ns == -1 &&
           !memcmp(m.alloc_resp.ep.client_disco[1], k3, 32) && m.alloc_resp.ep.n_addrs == 2,
       "AllocateUDPRelayEndpointResponse round trip");
    n = disco_call_me_maybe_via_encode(buf, sizeof(buf), &ep);
    ok(n == 2 + 124 + 36 && disco_parse(buf, (size_t)n, &m) == 0 && m.type == DISCO_CALL_ME_MAYBE_VIA &&
           !memcmp(m.via.server_disco, k1, 32),
       "CallMeMaybeVia round trip");
    n = disco_bind_encode(buf, sizeof(buf), DISCO_BIND_UDP_RELAY_ENDPOINT_ANSWER, 5, 6, k2, k3);
    ok(n == 74 && disco_parse(buf, (size_t)n, &m) == 0 && m.bind.vni == 5 && m.bind.generation == 6 &&
           !memcmp(m.bind.remote_key, k2, 32) && !memcmp(m.bind.challenge, k3, 32),
       "BindUDPRelayEndpointAnswer round trip");
    n = disco_alloc_request_encode(buf, sizeof(buf), k1, k2, 9);
    ok(n == 70 && disco_parse(buf, (size_t)n, &m) == 0 && m.alloc_req.generation == 9,
       "AllocRequest round trip");
    ok(disco_bind_encode(buf, sizeof(buf), DISCO_PING, 0, 0, k1, NULL) < 0, "bind encoder refuses type 1");
    ok(disco_pong_encode(buf, 31, txid, &a) < 0, "pong into 31 bytes does not fit");
}

static void test_seal(void)
{
    uint8_t shared_ab[32], shared_ba[32], plain[64], pkt[256], out[256];
    ok(disco_shared_key(shared_ab, bob_pub, alice_priv) == 0 &&
           disco_shared_key(shared_ba, alice_pub, bob_priv) == 0,
       "shared keys");
    long pl = disco_ping_encode(plain, sizeof(plain), txid, alice_pub, 0);
    is_hex(plain, (size_t)pl, PING_PLAIN, "sealed-vector plaintext: Ping + NodeKey alice");
    long n = disco_seal(pkt, sizeof(pkt), alice_pub, shared_ab, nonce, plain, (size_t)pl);
    is_hex(pkt, n > 0 ? (size_t)n : 0, SEALED_PING, "sealed Ping matches the spec vector (124 bytes)");

    ok(disco_sender_key(pkt, (size_t)n) == pkt + 6 && !memcmp(pkt + 6, alice_pub, 32), "sender key view");
    long ml = disco_open(pkt, (size_t)n, shared_ba, out, sizeof(out));
    struct disco_msg m;
    ok(ml == 46 && disco_parse(out, (size_t)ml, &m) == 0 && m.type == DISCO_PING &&
           !memcmp(m.ping.node_key, alice_pub, 32),
       "bob opens it and parses a Ping from alice");
    pkt[70] ^= 0x80;
    ok(disco_open(pkt, (size_t)n, shared_ba, out, sizeof(out)) < 0, "tampered box does not open");
    pkt[70] ^= 0x80;
    ok(disco_open(pkt, (size_t)n, shared_ba, out, 45) < 0, "open refuses a short output buffer");
    ok(disco_open(pkt, 77, shared_ba, out, sizeof(out)) < 0, "shorter than header + tag");

    /* Seal in place: plaintext already at its position in the packet buffer. */
    memcpy(pkt + 78, plain, (size_t)pl);
    n = disco_seal(pkt, sizeof(pkt), alice_pub, shared_ab, nonce, pkt + 78, (size_t)pl);
    is_hex(pkt, n > 0 ? (size_t)n : 0, SEALED_PING, "in-place seal gives the same bytes");
    n = disco_seal(pkt, sizeof(pkt), alice_pub, shared_ab, NULL, plain, (size_t)pl);
    ok(n == 124 && disco_open(pkt, (size_t)n, shared_ba, out, sizeof(out)) == 46, "random nonce round trip");
    ok(disco_seal(pkt, 123, alice_pub, shared_ab, NULL, plain, (size_t)pl) < 0,
       "seal refuses a short buffer");
    uint8_t zero[32] = {0}, sh[32];
    ok(disco_shared_key(sh, zero, alice_priv) < 0, "all-zero peer key is refused");
}

static void test_classify(void)
{
    uint8_t p[200] = {0};
    unhex(SEALED_PING, p, sizeof(p));
    ok(disco_classify_udp(p, 124) == DISCO_CLASS_DISCO, "sealed ping is disco");
    ok(disco_classify_udp(p, 38) == DISCO_CLASS_DISCO && disco_classify_udp(p, 37) == DISCO_CLASS_OTHER,
       "disco needs magic + sender key (38 bytes)");
    ok(disco_classify_derp(p, 124) == DISCO_CLASS_DISCO, "via DERP too");
    ok(disco_looks_like_wrapper(p, 62) && !disco_looks_like_wrapper(p, 61),
       "LooksLikeDiscoWrapper is >= 62");

    uint8_t stun[20] = {0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
    ok(disco_classify_udp(stun, 20) == DISCO_CLASS_STUN, "STUN binding response");
    stun[1] = 0x11;
    ok(disco_classify_udp(stun, 20) != DISCO_CLASS_STUN, "STUN needs byte 1 == 0x01");

    uint8_t wg[148] = {1, 0, 0, 0};
    ok(disco_classify_udp(wg, 148) == DISCO_CLASS_WIREGUARD &&
           disco_classify_udp(wg, 147) == DISCO_CLASS_OTHER,
       "WireGuard initiation is 148 bytes");
    wg[0] = 2;
    ok(disco_classify_udp(wg, 92) == DISCO_CLASS_WIREGUARD, "response 92");
    wg[0] = 3;
    ok(disco_classify_udp(wg, 64) == DISCO_CLASS_WIREGUARD, "cookie reply 64");
    wg[0] = 4;
    ok(disco_classify_udp(wg, 32) == DISCO_CLASS_WIREGUARD &&
           disco_classify_udp(wg, 31) == DISCO_CLASS_OTHER,
       "transport >= 32");
    ok(disco_classify_derp(wg, 1400) == DISCO_CLASS_WIREGUARD, "WireGuard via DERP");
    wg[2] = 1;
    ok(disco_classify_udp(wg, 100) == DISCO_CLASS_OTHER, "non-zero reserved bytes: other");
    wg[0] = 5;
    wg[2] = 0;
    ok(disco_classify_udp(wg, 100) == DISCO_CLASS_OTHER, "type 5: other");

    uint8_t gv[200] = {0};
    struct geneve_header gh = {.control = true, .protocol = GENEVE_PROTO_DISCO, .vni = 0x123456};
    ok(geneve_encode(gv, sizeof(gv), &gh) == 8, "geneve header");
    is_hex(gv, 8, "00807a1112345600", "Geneve: version 0, control bit, protocol, VNI");
    memcpy(gv + 8, p, 124);
    ok(disco_classify_udp(gv, 132) == DISCO_CLASS_GENEVE_DISCO, "Geneve disco");
    gv[3] = 0x12;
    ok(disco_classify_udp(gv, 40) == DISCO_CLASS_GENEVE_WIREGUARD, "Geneve WireGuard");
    struct geneve_header back;
    ok(geneve_decode(gv, 8, &back) == 0 && back.control && back.vni == 0x123456 &&
           back.protocol == GENEVE_PROTO_WIREGUARD,
       "Geneve decode");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    unhex(ALICE_PRIV, alice_priv, 32);
    unhex(ALICE_PUB, alice_pub, 32);
    unhex(BOB_PRIV, bob_priv, 32);
    unhex(BOB_PUB, bob_pub, 32);
    unhex(NONCE, nonce, 24);
    unhex(TXID, txid, 12);
    test_inner_vectors();
    test_parse_rules();
    test_relay_roundtrip();
    test_seal();
    test_classify();
    ok(!strcmp(disco_type_name(7), "CallMeMaybeVia") && !disco_type_name(0), "type names");
    return done_testing();
}
