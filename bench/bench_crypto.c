// SPDX-License-Identifier: BSD-3-Clause
/* Crypto throughput: BLAKE2s, ChaCha20-Poly1305 (libsodium), NaCl box, ts2021 handshakes. Each figure is
 * per second of this thread's CPU time (~0.5 s each), so other load on the machine does not skew it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/crypto/blake2s.h"
#include "core/crypto/box.h"
#include "core/crypto/key.h"
#include "core/crypto/noise_ts2021.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint8_t sink;
static uint8_t buf[65536 + 64], out[65536 + 64];

/* Runs op in batches until ~0.5 s of CPU time has passed; returns operations per CPU second. */
static double rate(void (*op)(size_t), size_t arg)
{
    long n = 0, batch = 16;
    double t0 = now(), t;
    do {
        for (long i = 0; i < batch; i++)
            op(arg);
        n += batch;
        if (batch < (1 << 20))
            batch *= 2;
        t = now() - t0;
    } while (t < 0.5);
    return (double)n / t;
}

static void op_blake2s(size_t len)
{
    uint8_t h[32];
    blake2s(h, 32, buf, len, NULL, 0);
    sink ^= h[0];
}

static const uint8_t aead_key[32] = { 1, 2, 3 };
static uint8_t aead_nonce[12];
static uint8_t sealed[1420 + 16];

static void op_aead_seal(size_t len)
{
    aead_nonce[11]++;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, buf, len, NULL, 0, NULL, aead_nonce, aead_key);
    sink ^= out[0];
}

static void op_aead_open(size_t len)
{
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed, len + 16, NULL, 0, aead_nonce, aead_key) != 0)
        abort();
    sink ^= out[0];
}

static struct key alice, bob, alice_pub, bob_pub;
static struct box_shared shared;
static uint8_t box_msg[100 + BOX_OVERHEAD];

static void op_box_seal(size_t len)
{
    if (box_seal(out, buf, len, bob_pub.b, alice.b) < 0)
        abort();
    sink ^= out[30];
}

static void op_box_open(size_t len)
{
    if (box_open(out, box_msg, len + BOX_OVERHEAD, alice_pub.b, bob.b) < 0)
        abort();
    sink ^= out[0];
}

static void op_box_seal_shared(size_t len)
{
    if (box_seal_shared(out, buf, len, &shared) < 0)
        abort();
    sink ^= out[30];
}

static void op_box_open_shared(size_t len)
{
    if (box_open_shared(out, box_msg, len + BOX_OVERHEAD, &shared) < 0)
        abort();
    sink ^= out[0];
}

/* A full ts2021 handshake, both sides in-process, random ephemerals (4 + 4 X25519 operations plus key
 * derivations; the responder is given the control public key). */
static void op_handshake(size_t unused)
{
    struct ts2021_handshake ch, sh;
    struct ts2021_transport ct, st;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN], mpub[32];
    uint16_t v;
    if (ts2021_initiator_start(&ch, init, alice.b, bob_pub.b, 145, NULL) != 0 ||
        ts2021_responder_read(&sh, init, sizeof(init), bob.b, bob_pub.b, &v, mpub) != 0 ||
        ts2021_responder_finish(&sh, &st, resp, NULL) != 0 ||
        ts2021_initiator_finish(&ch, &ct, resp, sizeof(resp)) != 0)
        abort();
    sink ^= ct.tx.key[0] ^ st.rx.key[0];
}

static struct ts2021_transport rec_c, rec_s;
static uint8_t rec_wire[TS2021_MAX_RECORD];

static void op_record_seal(size_t len)
{
    if (ts2021_seal_record(&rec_c, rec_wire, sizeof(rec_wire), buf, len) < 0)
        abort();
    sink ^= rec_wire[5];
}

int main(void)
{
    if (key_crypto_init() < 0)
        return 1;
    randombytes_buf(buf, sizeof(buf));
    key_generate(&alice);
    key_generate(&bob);
    key_public(&alice_pub, &alice);
    key_public(&bob_pub, &bob);

    double r;
    r = rate(op_blake2s, 1420);
    printf("blake2s 1420 B:               %8.1f MB/s (%.0f hashes/s)\n", r * 1420 / 1e6, r);
    r = rate(op_blake2s, 65536);
    printf("blake2s 64 KiB:               %8.1f MB/s\n", r * 65536 / 1e6);

    r = rate(op_aead_seal, 1420);
    printf("chacha20poly1305 seal 1420 B: %8.1f MB/s (%.0f packets/s)\n", r * 1420 / 1e6, r);
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed, NULL, buf, 1420, NULL, 0, NULL, aead_nonce, aead_key);
    r = rate(op_aead_open, 1420);
    printf("chacha20poly1305 open 1420 B: %8.1f MB/s (%.0f packets/s)\n", r * 1420 / 1e6, r);

    r = rate(op_box_seal, 100);
    printf("box seal 100 B:               %8.0f ops/s\n", r);
    box_seal(box_msg, buf, 100, bob_pub.b, alice.b);
    r = rate(op_box_open, 100);
    printf("box open 100 B:               %8.0f ops/s\n", r);
    box_precompute(&shared, bob_pub.b, alice.b);
    r = rate(op_box_seal_shared, 100);
    printf("box seal 100 B precomputed:   %8.0f ops/s\n", r);
    r = rate(op_box_open_shared, 100);
    printf("box open 100 B precomputed:   %8.0f ops/s\n", r);

    r = rate(op_handshake, 0);
    printf("ts2021 handshakes (both sides): %6.0f /s\n", r);

    struct ts2021_handshake ch, sh;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN];
    ts2021_initiator_start(&ch, init, alice.b, bob_pub.b, 145, NULL);
    ts2021_responder_read(&sh, init, sizeof(init), bob.b, NULL, NULL, NULL);
    ts2021_responder_finish(&sh, &rec_s, resp, NULL);
    ts2021_initiator_finish(&ch, &rec_c, resp, sizeof(resp));
    r = rate(op_record_seal, TS2021_MAX_PLAINTEXT);
    printf("ts2021 record seal 4077 B:    %8.1f MB/s\n", r * TS2021_MAX_PLAINTEXT / 1e6);
    return sink == 0x5a ? 0 : 0;
}
