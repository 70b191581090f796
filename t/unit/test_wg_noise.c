// SPDX-License-Identifier: BSD-3-Clause
/* The WireGuard handshake and transport: the spec's transcript byte for byte, then live handshakes
 * between in-process peers, mac1/mac2/cookie handling, initiation replay and flood refusal, PSK, and
 * transport packets both ways. */
#include "config.h"

#include <sodium.h>

#include "core/crypto/blake2s.h"
#include "core/wg/constants.h"
#include "core/wg/noise.h"
#include "core/wg/transport.h"
#include "t/tap.h"

#define MS WG_NSEC_PER_MSEC
#define S WG_NSEC_PER_SEC

static const char *alice_priv_hex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char *alice_pub_hex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char *bob_priv_hex = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";

static const char *vec_init =
    "0100000044332211"
    "5dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef22"
    "5eeba176146ce766f834ac97bbfff810a6a0e70607bf5f3512326630c7d08755f51eca54f478ebb3643df30262e06a9b"
    "65422e400be61537d25b04c751a789beaef05fa3938edf704674b4f0"
    "a3cbc215b92486bc832cde660baefdd6"
    "00000000000000000000000000000000";
static const char *vec_resp =
    "020000008877665544332211"
    "ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b"
    "5e46269b88922eaed8bd2702eb9dcf04"
    "ad83daa273be096468b716ce97e70724"
    "00000000000000000000000000000000";
static const char *vec_tsend = "39d8211c46214eb1bfce4b0c3a3dcc9586953661fe92d0c51dcfc0a92bb87e98";
static const char *vec_trecv = "43fcc6bfaded98e5d33916043ea778ecfc8738b365fc34f748f25cfa7cec34c8";
static const char *vec_keepalive = "04000000887766550000000000000000" "63ebb355e41233c2b294995da3a15078";

/* A node: its identity and one peer (enough for two-party tests). */
struct node {
    struct wg_local local;
    struct wg_handshake peer;
};

static struct wg_handshake *by_key(void *ctx, const uint8_t pub[32])
{
    struct node *n = ctx;
    return memcmp(n->peer.remote_static, pub, 32) == 0 ? &n->peer : NULL;
}

static struct wg_handshake *by_index(void *ctx, uint32_t idx)
{
    struct node *n = ctx;
    return n->peer.local_index == idx ? &n->peer : NULL;
}

static void node_init(struct node *n, const uint8_t priv[32], const uint8_t remote_pub[32],
                      const uint8_t *psk)
{
    wg_local_init(&n->local, priv);
    wg_handshake_init(&n->peer, &n->local, remote_pub, psk);
}

static void hash2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
    struct blake2s_state s;
    blake2s_init(&s, 32);
    blake2s_update(&s, a, alen);
    blake2s_update(&s, b, blen);
    blake2s_final(&s, out);
}

static struct node alice, bob;
static struct wg_keypair ka, kb;

static void test_vector(void)
{
    uint8_t apriv[32], bpriv[32], e3[32], e4[32], ts[12], out[148], h[32];
    struct wg_handshake *hs = NULL;
    unhex(alice_priv_hex, apriv, 32);
    unhex(bob_priv_hex, bpriv, 32);
    memset(e3, 0x03, 32);
    memset(e4, 0x04, 32);
    unhex("400000006553f1000000002a", ts, 12);

    blake2s(h, 32, WG_CONSTRUCTION, strlen(WG_CONSTRUCTION), NULL, 0);
    ok(memcmp(h, wg_initial_chain_key, 32) == 0, "Ci0 = HASH(CONSTRUCTION)");
    hash2(h, wg_initial_chain_key, 32, WG_IDENTIFIER, strlen(WG_IDENTIFIER));
    ok(memcmp(h, wg_initial_hash, 32) == 0, "Hi0 = HASH(Ci0 || IDENTIFIER)");

    wg_local_init(&alice.local, apriv);
    wg_local_init(&bob.local, bpriv);
    is_hex(alice.local.pub, 32, alice_pub_hex, "alice public key");
    wg_handshake_init(&alice.peer, &alice.local, bob.local.pub, NULL);
    wg_handshake_init(&bob.peer, &bob.local, alice.local.pub, NULL);
    is_hex(bob.local.cookies.mac1_key, 32,
           "52c0a95717f46ba7941f80cec1ead35984c9f023a996170d9e47e314d260dc96",
           "responder mac1 key = HASH(\"mac1----\" || bob_pub)");
    ok(memcmp(alice.peer.cookies.mac1_key, bob.local.cookies.mac1_key, 32) == 0,
       "initiator's mac1 key for bob is the same");

    is_int(wg_create_initiation(&alice.peer, &alice.local, out, 0x11223344, e3, ts, 0), 148,
           "initiation created");
    is_hex(out, 148, vec_init, "initiation matches the transcript byte for byte");
    is_int(wg_consume_initiation(&bob.local, out, 148, by_key, &bob, 0, &hs), 0, "responder consumes it");
    ok(hs == &bob.peer, "and finds alice by her static key");
    is_int((long long)bob.peer.remote_index, 0x11223344, "remote index taken from the initiation");
    is_hex(bob.peer.last_timestamp, 12, "400000006553f1000000002a", "timestamp recorded");

    uint8_t resp[92];
    is_int(wg_create_response(&bob.peer, resp, 0x55667788, e4, 0), 92, "response created");
    is_hex(resp, 92, vec_resp, "response matches the transcript byte for byte");
    hs = NULL;
    is_int(wg_consume_response(&alice.local, resp, 92, by_index, &alice, 0, &hs), 0,
           "initiator consumes it");
    ok(hs == &alice.peer, "found by the receiver index");

    is_int(wg_handshake_derive_keypair(&alice.peer, &ka, 7), 0, "initiator keypair");
    is_int(wg_handshake_derive_keypair(&bob.peer, &kb, 7), 0, "responder keypair");
    is_hex(ka.send_key, 32, vec_tsend, "T_send(initiator)");
    is_hex(ka.recv_key, 32, vec_trecv, "T_recv(initiator)");
    ok(memcmp(kb.recv_key, ka.send_key, 32) == 0 && memcmp(kb.send_key, ka.recv_key, 32) == 0,
       "responder keys are the initiator's swapped");
    ok(ka.initiator && !kb.initiator, "roles recorded");
    ok(ka.local_index == 0x11223344 && ka.remote_index == 0x55667788, "initiator keypair indices");
    ok(kb.local_index == 0x55667788 && kb.remote_index == 0x11223344, "responder keypair indices");
    is_int(alice.peer.state, WG_HS_ZEROED, "handshake state wiped after derivation");
    is_int(wg_handshake_derive_keypair(&alice.peer, &ka, 7), WG_ESTATE, "no second derivation");

    uint8_t pkt[64];
    is_int(wg_transport_encrypt(&ka, pkt, sizeof(pkt), 0, 1280), 32, "keepalive is 32 bytes");
    is_hex(pkt, 32, vec_keepalive, "keepalive matches the transcript");
    is_int(wg_transport_decrypt(&kb, pkt, 32), 0, "responder opens it: empty payload");
    is_int(wg_transport_decrypt(&kb, pkt, 32), WG_EREPLAY, "the same keepalive again is a replay");
}

static int handshake(struct node *i, struct node *r, uint64_t now, struct wg_keypair *ki,
                     struct wg_keypair *kr)
{
    uint8_t m1[148], m2[92];
    struct wg_handshake *hs;
    uint32_t ii = randombytes_random(), ri = randombytes_random();
    if (wg_create_initiation(&i->peer, &i->local, m1, ii, NULL, NULL, now) != 148)
        return -1;
    int rc = wg_consume_initiation(&r->local, m1, 148, by_key, r, now, &hs);
    if (rc)
        return rc;
    if (wg_create_response(hs, m2, ri, NULL, now) != 92)
        return -2;
    if ((rc = wg_consume_response(&i->local, m2, 92, by_index, i, now, &hs)) != 0)
        return rc;
    if (wg_handshake_derive_keypair(&i->peer, ki, now) || wg_handshake_derive_keypair(&r->peer, kr, now))
        return -3;
    return 0;
}

static void test_live(void)
{
    uint8_t apriv[32], apub[32], bpriv[32], bpub[32];
    wg_key_generate(apriv, apub);
    wg_key_generate(bpriv, bpub);
    node_init(&alice, apriv, bpub, NULL);
    node_init(&bob, bpriv, apub, NULL);
    is_int(handshake(&alice, &bob, 1 * S, &ka, &kb), 0, "handshake between random keys");
    ok(memcmp(ka.send_key, kb.recv_key, 32) == 0 && memcmp(ka.recv_key, kb.send_key, 32) == 0,
       "both sides agree on the session keys");

    /* Transport both ways, several sizes. */
    static uint8_t buf[2048], data[1500];
    randombytes_buf(data, sizeof(data));
    size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1279, 1280, 1420 };
    int okall = 1, padok = 1;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (int dir = 0; dir < 2; dir++) {
            struct wg_keypair *tx = dir ? &kb : &ka, *rx = dir ? &ka : &kb;
            memcpy(buf + 16, data, sizes[k]);
            int n = wg_transport_encrypt(tx, buf, sizeof(buf), sizes[k], 1420);
            size_t want = 32 + ((sizes[k] + 15) & ~(size_t)15);
            if (want > 32 + 1420)
                want = 32 + 1420;
            padok &= n == (int)want;
            int m = wg_transport_decrypt(rx, buf, (size_t)n);
            okall &= m == n - 32 && memcmp(buf + 16, data, sizes[k]) == 0;
            for (int z = (int)sizes[k]; z < m; z++)
                okall &= buf[16 + z] == 0;
        }
    }
    ok(padok, "payloads padded to 16, capped at the MTU");
    ok(okall, "transport round trips both ways, padding is zeros");
    is_int((long long)ka.send_counter, 9, "counter advances per packet");

    /* Reordering, replay, tampering, misaddressing. */
    uint8_t p[4][64];
    for (int k = 0; k < 4; k++) {
        memset(p[k] + 16, k, 10);
        wg_transport_encrypt(&ka, p[k], 64, 10, 1280);
    }
    uint8_t copy[64];
    memcpy(copy, p[1], 48);
    is_int(wg_transport_decrypt(&kb, p[2], 48), 16, "packet 2 first (10 bytes padded to 16)");
    is_int(wg_transport_decrypt(&kb, p[0], 48), 16, "packet 0 late, within the window");
    is_int(wg_transport_decrypt(&kb, p[0], 48), WG_EREPLAY, "packet 0 replayed");
    p[1][20] ^= 1;
    is_int(wg_transport_decrypt(&kb, p[1], 48), WG_EDECRYPT, "tampered packet refused");
    memcpy(p[1], copy, 48); /* (a refused message's payload is wiped by the failed open) */
    is_int(wg_transport_decrypt(&kb, p[1], 48), 16, "the genuine one then passes");
    p[3][4] ^= 1;
    is_int(wg_transport_decrypt(&kb, p[3], 48), WG_EPEER, "wrong receiver index");
    p[3][4] ^= 1;
    is_int(wg_transport_decrypt(&kb, p[3], 31), WG_EINVAL, "shorter than a keepalive");
    memcpy(copy, p[3], 48);
    is_int(wg_transport_decrypt(&kb, copy, 47), WG_EDECRYPT, "truncated");
    is_int(wg_transport_decrypt(&ka, p[3], 48), WG_EPEER, "not for the sender's own keypair");
    is_int(wg_transport_decrypt(&kb, p[3], 48), 16, "the last one");
    is_int(wg_transport_encrypt(&ka, buf, 31, 0, 0), WG_EINVAL, "encrypt needs room for a keepalive");
    is_int(wg_transport_encrypt(&ka, buf, 45, 10, 0), 42, "no room for padding: sent unpadded");
    is_int(wg_transport_decrypt(&kb, buf, 42), 10, "and opened");

    ka.send_counter = WG_REJECT_AFTER_MESSAGES - 1;
    int n = wg_transport_encrypt(&ka, buf, 64, 0, 0);
    is_int(n, 32, "last nonce usable");
    is_int(wg_transport_decrypt(&kb, buf, 32), 0, "and accepted at the far end");
    is_int(wg_transport_encrypt(&ka, buf, 64, 0, 0), WG_ECOUNTER, "then nonces are exhausted");
    is_int(wg_transport_encrypt(&ka, buf, 64, 0, 0), WG_ECOUNTER, "and stay exhausted");

    is_int((long long)wg_transport_padded_len(0, 1280), 0, "pad 0");
    is_int((long long)wg_transport_padded_len(1, 0), 16, "pad 1, no MTU");
    is_int((long long)wg_transport_padded_len(1275, 1280), 1280, "pad to MTU at most");
    is_int((long long)wg_transport_padded_len(1279, 1280), 1280, "pad 1279 to 1280");
}

static void test_refusals(void)
{
    uint8_t apriv[32], apub[32], bpriv[32], bpub[32], cpriv[32], cpub[32], m1[148], m2[92];
    struct wg_handshake *hs = NULL;
    wg_key_generate(apriv, apub);
    wg_key_generate(bpriv, bpub);
    wg_key_generate(cpriv, cpub);
    node_init(&alice, apriv, bpub, NULL);
    node_init(&bob, bpriv, apub, NULL);

    /* mac1 */
    wg_create_initiation(&alice.peer, &alice.local, m1, 1, NULL, NULL, 0);
    ok(wg_cookie_check_mac1(&bob.local.cookies, m1, 148), "mac1 verifies for the responder");
    ok(!wg_cookie_check_mac1(&alice.local.cookies, m1, 148), "but not for someone else");
    int rej = 1;
    for (int off = 0; off < 132; off++) {
        m1[off] ^= 0x80;
        rej &= wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 0, &hs) ==
               (off < 4 ? WG_EINVAL : WG_EMAC);
        m1[off] ^= 0x80;
    }
    ok(rej, "a flip in any byte before mac2 fails mac1 (the type: refused earlier)");
    m1[140] ^= 1;
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 0, &hs), 0,
           "mac2 is not checked by consume (only under load, by the caller)");
    is_int(wg_consume_initiation(&bob.local, m1, 147, by_key, &bob, 0, &hs), WG_EINVAL, "short initiation");

    /* Replay and flood: timestamps injected around a fixed second. */
    uint8_t ts[12], m1b[148];
    wg_tai64n_from_unix_ns(ts, 1700000000ULL * S);
    node_init(&bob, bpriv, apub, NULL);
    wg_create_initiation(&alice.peer, &alice.local, m1, 1, NULL, ts, 0);
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 0, &hs), 0, "initiation consumed");
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 10 * S, &hs), WG_EREPLAY,
           "the same initiation again (same timestamp) is refused");
    wg_tai64n_from_unix_ns(ts, 1700000001ULL * S);
    wg_create_initiation(&alice.peer, &alice.local, m1b, 2, NULL, ts, 0);
    is_int(wg_consume_initiation(&bob.local, m1b, 148, by_key, &bob, 20 * MS, &hs), WG_EFLOOD,
           "a newer one within 20 ms is a flood");
    is_int(wg_consume_initiation(&bob.local, m1b, 148, by_key, &bob, 20 * MS + 1, &hs), 0,
           "after 20 ms it is accepted");
    wg_tai64n_from_unix_ns(ts, 1700000000ULL * S + 500 * MS);
    wg_create_initiation(&alice.peer, &alice.local, m1b, 3, NULL, ts, 0);
    is_int(wg_consume_initiation(&bob.local, m1b, 148, by_key, &bob, 1 * S, &hs), WG_EREPLAY,
           "an older timestamp is refused");

    /* Unknown peer: carol writes to bob, who only knows alice. */
    struct node carol;
    node_init(&carol, cpriv, bpub, NULL);
    wg_create_initiation(&carol.peer, &carol.local, m1, 4, NULL, NULL, 0);
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 2 * S, &hs), WG_EPEER,
           "unknown static key");

    /* Response state checks. */
    wg_create_initiation(&alice.peer, &alice.local, m1, 5, NULL, NULL, 0);
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, 3 * S, &hs), 0, "fresh initiation");
    is_int(wg_create_response(&alice.peer, m2, 6, NULL, 0), WG_ESTATE,
           "the initiator cannot respond to itself");
    wg_create_response(&bob.peer, m2, 6, NULL, 0);
    m2[8] ^= 1;
    is_int(wg_consume_response(&alice.local, m2, 92, by_index, &alice, 0, &hs), WG_EMAC,
           "response with a changed receiver index fails mac1");
    m2[8] ^= 1;
    uint8_t bad[92];
    memcpy(bad, m2, 92);
    bad[50] ^= 1; /* inside the empty AEAD, then re-MAC it as a peer would */
    wg_cookie_add_macs(&bob.peer.cookies, bad, 92, 0);
    is_int(wg_consume_response(&alice.local, bad, 92, by_index, &alice, 0, &hs), WG_EDECRYPT,
           "response with a bad tag (valid mac1) refused");
    is_int(alice.peer.state, WG_HS_CREATED_INITIATION, "and the initiator's state is untouched");
    is_int(wg_consume_response(&alice.local, m2, 92, by_index, &alice, 0, &hs), 0, "the genuine response");
    is_int(wg_consume_response(&alice.local, m2, 92, by_index, &alice, 0, &hs), WG_ESTATE,
           "a second copy is refused");
    alice.peer.local_index = 999;
    is_int(wg_consume_response(&alice.local, m2, 92, by_index, &alice, 0, &hs), WG_EPEER, "unknown index");

    /* PSK */
    uint8_t psk[32], psk2[32];
    randombytes_buf(psk, 32);
    memcpy(psk2, psk, 32);
    psk2[0] ^= 1;
    node_init(&alice, apriv, bpub, psk);
    node_init(&bob, bpriv, apub, psk);
    is_int(handshake(&alice, &bob, 0, &ka, &kb), 0, "handshake with a PSK on both sides");
    ok(memcmp(ka.send_key, kb.recv_key, 32) == 0, "keys agree");
    uint8_t k0[32];
    memcpy(k0, ka.send_key, 32);
    node_init(&alice, apriv, bpub, NULL);
    node_init(&bob, bpriv, apub, NULL);
    handshake(&alice, &bob, 0, &ka, &kb);
    ok(memcmp(k0, ka.send_key, 32) != 0, "the PSK changes the keys");
    node_init(&alice, apriv, bpub, psk);
    node_init(&bob, bpriv, apub, psk2);
    is_int(handshake(&alice, &bob, 0, &ka, &kb), WG_EDECRYPT, "mismatched PSKs: the response does not open");

    /* Low-order peer key. */
    uint8_t zero[32] = { 0 };
    struct wg_handshake lo;
    is_int(wg_handshake_init(&lo, &alice.local, zero, NULL), WG_EDH,
           "an all-zero DH with the peer is refused");
    is_int(wg_create_initiation(&lo, &alice.local, m1, 1, NULL, NULL, 0), WG_EDH, "no initiation to it");
    uint8_t evil[148];
    wg_create_initiation(&alice.peer, &alice.local, evil, 1, NULL, NULL, 0);
    memset(evil + 8, 0, 32); /* zero ephemeral */
    wg_cookie_add_macs(&alice.peer.cookies, evil, 148, 0);
    is_int(wg_consume_initiation(&bob.local, evil, 148, by_key, &bob, 50 * S, &hs), WG_EDH,
           "a low-order ephemeral is refused");
}

static void test_cookies(void)
{
    uint8_t apriv[32], apub[32], bpriv[32], bpub[32], m1[148], reply[64], m2[92];
    struct wg_handshake *hs;
    const uint8_t src[6] = { 192, 0, 2, 1, 0x1c, 0x29 }, src2[6] = { 192, 0, 2, 2, 0x1c, 0x29 };
    wg_key_generate(apriv, apub);
    wg_key_generate(bpriv, bpub);
    node_init(&alice, apriv, bpub, NULL);
    node_init(&bob, bpriv, apub, NULL);

    uint64_t t0 = 1000 * S;
    wg_create_initiation(&alice.peer, &alice.local, m1, 0xabcdef01, NULL, NULL, t0);
    ok(sodium_is_zero(m1 + 132, 16), "no cookie yet: mac2 is zero");
    ok(!wg_cookie_check_mac2(&bob.local.cookies, m1, 148, src, 6, t0), "and does not pass under load");
    is_int(wg_cookie_create_reply(&bob.local.cookies, reply, m1, 148, src, 6, t0, NULL), 64,
           "responder under load answers with a cookie reply");
    is_int(reply[0], 3, "type 3");
    is_int((long long)wg_get_le32(reply + 4), 0xabcdef01, "addressed to the initiation's sender index");
    is_int(wg_msg_classify(reply, 64), WG_MSG_COOKIE_REPLY, "classified");
    is_int((long long)wg_msg_receiver(reply, WG_MSG_COOKIE_REPLY), 0xabcdef01, "its receiver index");

    struct wg_cookie_gen other;
    wg_cookie_gen_init(&other, apub);
    other.have_last_mac1 = true;
    memcpy(other.last_mac1, m1 + 116, 16);
    ok(wg_cookie_consume_reply(&other, reply, 64, t0) == WG_EDECRYPT,
       "a reply from another key does not open");
    reply[40] ^= 1;
    is_int(wg_cookie_consume_reply(&alice.peer.cookies, reply, 64, t0), WG_EDECRYPT,
           "tampered reply refused");
    reply[40] ^= 1;
    is_int(wg_cookie_consume_reply(&alice.peer.cookies, reply, 63, t0), WG_EINVAL, "short reply refused");
    is_int(wg_cookie_consume_reply(&alice.peer.cookies, reply, 64, t0 + S), 0, "initiator takes the cookie");

    wg_create_initiation(&alice.peer, &alice.local, m1, 2, NULL, NULL, t0 + 2 * S);
    ok(!sodium_is_zero(m1 + 132, 16), "next initiation carries mac2");
    ok(wg_cookie_check_mac2(&bob.local.cookies, m1, 148, src, 6, t0 + 2 * S),
       "mac2 verifies from that source");
    ok(!wg_cookie_check_mac2(&bob.local.cookies, m1, 148, src2, 6, t0 + 2 * S), "not from another source");
    m1[20] ^= 1;
    ok(!wg_cookie_check_mac2(&bob.local.cookies, m1, 148, src, 6, t0 + 2 * S), "nor over a changed message");
    m1[20] ^= 1;
    ok(!wg_cookie_check_mac2(&bob.local.cookies, m1, 148, src, 6, t0 + 121 * S),
       "the secret is stale after 2 minutes");
    is_int(wg_consume_initiation(&bob.local, m1, 148, by_key, &bob, t0 + 2 * S, &hs), 0,
           "the initiation with mac2 is consumed");

    /* The response carries mac2 too when the responder holds a cookie from the initiator. */
    is_int(wg_cookie_create_reply(&alice.local.cookies, reply, m1, 148, src2, 6, t0, NULL), 64,
           "(initiator makes a cookie for bob's address)");
    wg_create_response(&bob.peer, m2, 9, NULL, t0 + 3 * S);
    /* The reply answered m1's mac1, but bob's last mac1 is now the response's: it no longer opens. */
    is_int(wg_cookie_consume_reply(&bob.peer.cookies, reply, 64, t0 + 3 * S), WG_EDECRYPT,
           "a cookie reply must answer our latest message");
    wg_cookie_create_reply(&alice.local.cookies, reply, m2, 92, src2, 6, t0 + 3 * S, NULL);
    is_int(wg_cookie_consume_reply(&bob.peer.cookies, reply, 64, t0 + 3 * S), 0, "reply to the response");
    wg_cookie_add_macs(&bob.peer.cookies, m2, 92, t0 + 4 * S);
    ok(wg_cookie_check_mac2(&alice.local.cookies, m2, 92, src2, 6, t0 + 4 * S), "response mac2 verifies");
    wg_cookie_add_macs(&bob.peer.cookies, m2, 92, t0 + 124 * S);
    ok(sodium_is_zero(m2 + 76, 16), "a cookie older than 120 s is not used");

    /* Rotation: after 2 minutes the responder draws a new secret; old cookies stop working. */
    uint8_t m1c[148], reply2[64], nonce[24] = { 1 };
    wg_create_initiation(&alice.peer, &alice.local, m1c, 3, NULL, NULL, t0 + 130 * S);
    wg_cookie_create_reply(&bob.local.cookies, reply2, m1c, 148, src, 6, t0 + 130 * S, nonce);
    ok(memcmp(reply2 + 8, nonce, 24) == 0, "injected nonce used");
    is_int((long long)bob.local.cookies.secret_birth, (long long)(t0 + 130 * S), "secret rotated");
    wg_cookie_consume_reply(&alice.peer.cookies, reply2, 64, t0 + 130 * S);
    wg_create_initiation(&alice.peer, &alice.local, m1c, 4, NULL, NULL, t0 + 131 * S);
    ok(wg_cookie_check_mac2(&bob.local.cookies, m1c, 148, src, 6, t0 + 131 * S), "new cookie works");
}

static void test_tai64n(void)
{
    uint8_t a[12], b[12];
    wg_tai64n_from_unix_ns(a, 1700000000ULL * S + 123456789);
    is_hex(a, 12, "400000006553f10a07000000", "TAI64N with whitened nanoseconds");
    wg_tai64n_from_unix_ns(b, 1700000000ULL * S + 123456789 + 20 * MS);
    ok(wg_tai64n_after(b, a), "20 ms later is later");
    wg_tai64n_from_unix_ns(b, 1700000000ULL * S + 123456789 + 1 * MS);
    ok(!wg_tai64n_after(b, a), "1 ms later is the same after whitening");
    wg_tai64n_now(b);
    ok(wg_tai64n_after(b, a), "now is after 2023");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_vector();
    test_live();
    test_refusals();
    test_cookies();
    test_tai64n();
    return done_testing();
}
