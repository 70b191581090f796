// SPDX-License-Identifier: BSD-3-Clause
/* Transport messages against a live session. Mode 0: decrypt arbitrary bytes (must never crash, and
 * anything accepted must be refused as a replay the second time). Mode 1: seal a fuzzer-chosen payload
 * under a fuzzer-chosen counter, open it on the other side (round trip), then flip one fuzzer-chosen bit
 * of a fresh copy and require a refusal. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/wg/transport.h"

static struct wg_keypair ka_tmpl, kb_tmpl, ka, kb;

static struct wg_handshake *one_by_key(void *ctx, const uint8_t pub[32])
{
    (void)pub;
    return ctx;
}

static struct wg_handshake *one_by_index(void *ctx, uint32_t idx)
{
    (void)idx;
    return ctx;
}

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    if (sodium_init() < 0)
        abort();
    struct wg_local alice, bob;
    struct wg_handshake a, b, *hs;
    uint8_t apriv[32], bpriv[32], m1[WG_INITIATION_LEN], m2[WG_RESPONSE_LEN];
    memset(apriv, 0x11, 32);
    memset(bpriv, 0x22, 32);
    wg_local_init(&alice, apriv);
    wg_local_init(&bob, bpriv);
    wg_handshake_init(&a, &alice, bob.pub, NULL);
    wg_handshake_init(&b, &bob, alice.pub, NULL);
    /* Fixed ephemerals: the same session every run, so corpus files stay meaningful. */
    uint8_t e1[32], e2[32], ts[12] = { 0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0 };
    memset(e1, 0x03, 32);
    memset(e2, 0x04, 32);
    if (wg_create_initiation(&a, &alice, m1, 0x11223344, e1, ts, 0) < 0 ||
        wg_consume_initiation(&bob, m1, sizeof(m1), one_by_key, &b, 0, &hs) != 0 ||
        wg_create_response(&b, m2, 0x55667788, e2, 0) < 0 ||
        wg_consume_response(&alice, m2, sizeof(m2), one_by_index, &a, 0, &hs) != 0 ||
        wg_handshake_derive_keypair(&a, &ka_tmpl, 0) != 0 ||
        wg_handshake_derive_keypair(&b, &kb_tmpl, 0) != 0)
        abort();
}

static uint8_t buf[4096], buf2[4096];

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    setup();
    if (n < 1 || n > 2048)
        return 0;
    ka = ka_tmpl;
    kb = kb_tmpl;
    if (!(d[0] & 1)) {
        memcpy(buf, d + 1, n - 1);
        int r = wg_transport_decrypt(&kb, buf, n - 1);
        if (r >= 0) {
            memcpy(buf, d + 1, n - 1);
            if (wg_transport_decrypt(&kb, buf, n - 1) != WG_EREPLAY)
                abort();
        }
        return 0;
    }
    if (n < 13)
        return 0;
    uint64_t counter = wg_get_le64(d + 1);
    uint16_t flip = (uint16_t)(d[9] | d[10] << 8);
    size_t mtu = (size_t)(d[11] | d[12] << 8) % 2048;
    const uint8_t *payload = d + 13;
    size_t len = n - 13;
    ka.send_counter = counter;
    memcpy(buf + WG_TRANSPORT_HEADER_LEN, payload, len);
    int m = wg_transport_encrypt(&ka, buf, sizeof(buf), len, mtu);
    if (counter >= WG_REJECT_AFTER_MESSAGES) {
        if (m != WG_ECOUNTER)
            abort();
        return 0;
    }
    size_t want = WG_TRANSPORT_MIN_LEN + wg_transport_padded_len(len, mtu);
    if (m != (int)want || wg_get_le64(buf + WG_DATA_COUNTER) != counter)
        abort();
    memcpy(buf2, buf, (size_t)m);
    buf2[(flip >> 3) % m] ^= (uint8_t)(1u << (flip & 7));
    if (wg_transport_decrypt(&kb, buf2, (size_t)m) >= 0)
        abort(); /* a single flipped bit anywhere is caught */
    int r = wg_transport_decrypt(&kb, buf, (size_t)m);
    if (r != m - WG_TRANSPORT_MIN_LEN || memcmp(buf + WG_TRANSPORT_HEADER_LEN, payload, len) != 0)
        abort();
    for (int i = (int)len; i < r; i++)
        if (buf[WG_TRANSPORT_HEADER_LEN + i])
            abort();
    return 0;
}
