// SPDX-License-Identifier: BSD-3-Clause
/* A responder and an initiator consume arbitrary handshake messages (mode 0), and a round trip (mode 1):
 * a handshake built from fuzzer-chosen ephemerals/timestamp/indices, with fuzzer-chosen bytes flipped in
 * transit; it must succeed exactly when the flips spare every byte the protocol authenticates. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/wg/noise.h"

static struct wg_local alice, bob;
static struct wg_handshake a_tmpl, b_tmpl, a_peer, b_peer;

static struct wg_handshake *by_key(void *ctx, const uint8_t pub[32])
{
    struct wg_handshake *hs = ctx;
    return memcmp(hs->remote_static, pub, 32) == 0 ? hs : NULL;
}

static struct wg_handshake *by_index(void *ctx, uint32_t idx)
{
    struct wg_handshake *hs = ctx;
    return hs->local_index == idx ? hs : NULL;
}

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    if (sodium_init() < 0)
        abort();
    uint8_t a[32], b[32];
    memset(a, 0x11, 32);
    memset(b, 0x22, 32);
    wg_local_init(&alice, a);
    wg_local_init(&bob, b);
    wg_handshake_init(&a_tmpl, &alice, bob.pub, NULL);
    wg_handshake_init(&b_tmpl, &bob, alice.pub, NULL);
}

/* Which bytes the receiver authenticates, once macs are recomputed (fix) or not. */
static int must_fail(const uint8_t *mask, size_t len, size_t index_off, size_t index_len, int fix)
{
    size_t end = fix ? len - 32 : len - 16; /* mac2 is never checked by consume */
    for (size_t i = 0; i < end; i++) {
        if (!mask[i])
            continue;
        if (fix && i >= index_off && i < index_off + index_len)
            continue; /* the index fields are covered by the macs only */
        return 1;
    }
    return 0;
}

static void mutate(uint8_t *msg, size_t len, const uint8_t *data, size_t n, uint8_t *mask)
{
    memset(mask, 0, len);
    for (size_t i = 0; i + 1 < n; i += 2)
        mask[data[i] % len] ^= data[i + 1];
    for (size_t i = 0; i < len; i++)
        msg[i] ^= mask[i];
}

static void round_trip(const uint8_t *d, size_t n)
{
    if (n < 85)
        return;
    uint8_t flags = d[0];
    const uint8_t *ei = d + 1, *er = d + 33, *ts = d + 65;
    uint32_t ii = wg_get_le32(d + 77), ri = wg_get_le32(d + 81);
    d += 85, n -= 85;
    size_t half = n / 2;

    a_peer = a_tmpl;
    b_peer = b_tmpl;
    uint8_t m1[WG_INITIATION_LEN], m2[WG_RESPONSE_LEN], mask[WG_INITIATION_LEN];
    struct wg_handshake *hs = NULL;
    if (wg_create_initiation(&a_peer, &alice, m1, ii, ei, ts, 1000) != WG_INITIATION_LEN)
        abort();
    mutate(m1, sizeof(m1), d, half, mask);
    if (flags & 2)
        wg_cookie_add_macs(&a_peer.cookies, m1, sizeof(m1), 1000);
    int rc = wg_consume_initiation(&bob, m1, sizeof(m1), by_key, &b_peer, 1000, &hs);
    int fail = must_fail(mask, sizeof(m1), WG_INIT_SENDER, 4, flags & 2);
    int ts_ok = memcmp(ts, (uint8_t[12]){ 0 }, 12) != 0; /* the all-zero timestamp is never "newer" */
    if ((rc == 0) != (!fail && ts_ok))
        abort();
    if (rc != 0)
        return;
    if (hs != &b_peer || b_peer.remote_index != wg_get_le32(m1 + WG_INIT_SENDER) ||
        memcmp(b_peer.last_timestamp, ts, 12) != 0)
        abort();

    uint32_t seen_index = b_peer.remote_index;
    if (wg_create_response(&b_peer, m2, ri, er, 1000) != WG_RESPONSE_LEN)
        abort();
    mutate(m2, sizeof(m2), d + half, n - half, mask);
    if (flags & 4)
        wg_cookie_add_macs(&b_peer.cookies, m2, sizeof(m2), 1000);
    rc = wg_consume_response(&alice, m2, sizeof(m2), by_index, &a_peer, 1000, &hs);
    fail = must_fail(mask, sizeof(m2), WG_RESP_SENDER, 8, flags & 4);
    /* The receiver index routes the response: it finds the handshake only if it arrives as ii, whatever
     * happened on the way (two changes, to the initiation's sender and the response's receiver, may cancel). */
    if (wg_get_le32(m2 + WG_RESP_RECEIVER) != ii)
        fail = 1;
    if ((rc == 0) != !fail)
        abort();
    if (rc != 0)
        return;
    struct wg_keypair ka, kb;
    if (wg_handshake_derive_keypair(&a_peer, &ka, 1) || wg_handshake_derive_keypair(&b_peer, &kb, 1))
        abort();
    if (memcmp(ka.send_key, kb.recv_key, 32) || memcmp(ka.recv_key, kb.send_key, 32))
        abort();
    if (ka.remote_index != wg_get_le32(m2 + WG_RESP_SENDER) || kb.remote_index != seen_index)
        abort();
}

static void raw(const uint8_t *d, size_t n)
{
    uint8_t flags = d[0];
    d++, n--;
    uint8_t buf[256];
    if (n > sizeof(buf))
        return;
    memcpy(buf, d, n);
    a_peer = a_tmpl;
    b_peer = b_tmpl;
    uint8_t m1[WG_INITIATION_LEN], out[WG_RESPONSE_LEN];
    struct wg_handshake *hs;
    /* Alice has an initiation outstanding (the same every run, as in the seed corpus), so responses to
     * it and cookie replies answering it reach decryption. */
    uint8_t e1[32], ts[12] = { 0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0 };
    memset(e1, 0x03, 32);
    wg_create_initiation(&a_peer, &alice, m1, 0x11223344, e1, ts, 0);
    int type = wg_msg_classify(buf, n);
    if (flags & 1)
        wg_cookie_add_macs(type == WG_MSG_INITIATION ? &a_peer.cookies : &b_peer.cookies, buf, n, 0);
    switch (type) {
    case WG_MSG_INITIATION:
        if (wg_consume_initiation(&bob, buf, n, by_key, &b_peer, 0, &hs) == 0) {
            struct wg_keypair kp;
            if (wg_create_response(hs, out, 2, NULL, 0) != WG_RESPONSE_LEN ||
                wg_handshake_derive_keypair(hs, &kp, 0) != 0)
                abort();
        }
        break;
    case WG_MSG_RESPONSE:
        if (wg_consume_response(&alice, buf, n, by_index, &a_peer, 0, &hs) == 0) {
            struct wg_keypair kp;
            if (wg_handshake_derive_keypair(hs, &kp, 0) != 0)
                abort();
        }
        break;
    case WG_MSG_COOKIE_REPLY:
        wg_cookie_consume_reply(&a_peer.cookies, buf, n, 0);
        break;
    default:
        /* Whatever classify refused, the consumers refuse too. */
        if (wg_consume_initiation(&bob, buf, n, by_key, &b_peer, 0, &hs) != WG_EINVAL ||
            wg_consume_response(&alice, buf, n, by_index, &a_peer, 0, &hs) != WG_EINVAL)
            abort();
        if (n >= 4 && wg_cookie_consume_reply(&a_peer.cookies, buf, n, 0) == 0)
            abort();
    }
    /* The cookie checker on arbitrary input: a reply is made for any handshake-sized message. */
    uint8_t reply[WG_COOKIE_REPLY_LEN];
    int made = wg_cookie_create_reply(&bob.cookies, reply, buf, n, d, n < 18 ? n : 18, 0, NULL);
    if ((made > 0) != (n == WG_INITIATION_LEN || n == WG_RESPONSE_LEN))
        abort();
    wg_cookie_check_mac1(&bob.cookies, buf, n);
    wg_cookie_check_mac2(&bob.cookies, buf, n, d, n < 18 ? n : 18, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    setup();
    if (n < 1)
        return 0;
    if (d[0] & 0x80)
        round_trip(d, n);
    else
        raw(d, n);
    return 0;
}
