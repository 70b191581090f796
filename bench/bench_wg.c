// SPDX-License-Identifier: BSD-3-Clause
/* WireGuard figures: full handshakes per second (both sides in-process: create initiation, consume,
 * create response, consume, derive both keypairs) and transport encrypt / decrypt MB/s on 1420-byte
 * payloads. Timed in process CPU time, so a busy shared machine does not skew the figures. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/wg/constants.h"
#include "core/wg/transport.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct wg_local alice, bob;
static struct wg_handshake a, b;

static struct wg_handshake *by_key(void *ctx, const uint8_t pub[32])
{
    (void)ctx;
    return memcmp(pub, alice.pub, 32) == 0 ? &b : NULL;
}

static struct wg_handshake *by_index(void *ctx, uint32_t idx)
{
    (void)ctx;
    return a.local_index == idx ? &a : NULL;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    uint8_t ap[32], apub[32], bp[32], bpub[32];
    wg_key_generate(ap, apub);
    wg_key_generate(bp, bpub);
    wg_local_init(&alice, ap);
    wg_local_init(&bob, bp);
    wg_handshake_init(&a, &alice, bob.pub, NULL);
    wg_handshake_init(&b, &bob, alice.pub, NULL);

    static struct wg_keypair ka, kb;
    uint8_t m1[WG_INITIATION_LEN], m2[WG_RESPONSE_LEN], ts[WG_TAI64N_LEN];
    struct wg_handshake *hs;
    long n = 0, failed = 0;
    /* A virtual clock, 1 s per handshake, for both the monotonic time (flood limit) and the TAI64N
     * timestamp (which must grow; the real one only ticks every ~16 ms after whitening). */
    uint64_t vt = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 50; k++, n++) {
            vt += WG_NSEC_PER_SEC;
            wg_tai64n_from_unix_ns(ts, 1700000000ULL * WG_NSEC_PER_SEC + vt);
            if (wg_create_initiation(&a, &alice, m1, (uint32_t)n, NULL, ts, vt) < 0 ||
                wg_consume_initiation(&bob, m1, sizeof(m1), by_key, NULL, vt, &hs) != 0 ||
                wg_create_response(hs, m2, (uint32_t)n + 1, NULL, vt) < 0 ||
                wg_consume_response(&alice, m2, sizeof(m2), by_index, NULL, vt, &hs) != 0 ||
                wg_handshake_derive_keypair(&a, &ka, vt) || wg_handshake_derive_keypair(&b, &kb, vt))
                failed++;
        }
        t = now_s() - t0;
    } while (t < 2.0);
    printf("handshakes (initiation + response, created and consumed, keys derived): %.0f /s%s\n", n / t,
           failed ? " (SOME FAILED)" : "");

    /* Transport on 1420-byte payloads (MTU 1420: no padding). */
    enum { PAYLOAD = 1420, MSG = PAYLOAD + WG_TRANSPORT_MIN_LEN, BATCH = 2048 };
    static uint8_t pkt[MSG], batch[BATCH][MSG];
    randombytes_buf(pkt + WG_TRANSPORT_HEADER_LEN, PAYLOAD);
    long iters = 0;
    t0 = now_s();
    do {
        for (int k = 0; k < 1000; k++, iters++)
            wg_transport_encrypt(&ka, pkt, sizeof(pkt), PAYLOAD, PAYLOAD);
        t = now_s() - t0;
    } while (t < 2.0);
    printf("transport encrypt %d B: %.1f MB/s (%.0f packets/s)\n", PAYLOAD,
           iters * (double)PAYLOAD / t / 1e6, iters / t);

    /* Decrypt: each message opens once (replay window), so a batch is sealed ahead and copied into the
     * work buffer before each open; the window is reset between passes over the batch. The copy
     * (1452 B) is included in the figure. */
    ka.send_counter = 0;
    for (int k = 0; k < BATCH; k++) {
        randombytes_buf(batch[k] + WG_TRANSPORT_HEADER_LEN, PAYLOAD);
        wg_transport_encrypt(&ka, batch[k], MSG, PAYLOAD, PAYLOAD);
    }
    long good = 0;
    iters = 0;
    t0 = now_s();
    do {
        wg_replay_init(&kb.replay);
        for (int k = 0; k < BATCH; k++, iters++) {
            memcpy(pkt, batch[k], MSG);
            good += wg_transport_decrypt(&kb, pkt, MSG) == PAYLOAD;
        }
        t = now_s() - t0;
    } while (t < 2.0);
    printf("transport decrypt %d B: %.1f MB/s (%.0f packets/s)%s\n", PAYLOAD,
           iters * (double)PAYLOAD / t / 1e6, iters / t, good == iters ? "" : " (SOME FAILED)");
    return good == iters && !failed ? 0 : 1;
}
