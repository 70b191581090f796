// SPDX-License-Identifier: BSD-3-Clause
/* Wire codec micro-benchmarks: DERP SendPacket encode + stream parse (1400-byte packets), STUN
 * response build and parse, disco seal/open, map stream keep-alive encode/decode. Prints figures. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/wire/derp_frame.h"
#include "core/wire/disco.h"
#include "core/wire/mapstream.h"
#include "core/wire/stun.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

#define RUN_FOR 1.5 /* seconds per figure */

static void bench_derp(void)
{
    static uint8_t stream[64 * (37 + 1400)];
    uint8_t key[32], pkt[1400];
    randombytes_buf(key, sizeof(key));
    randombytes_buf(pkt, sizeof(pkt));

    /* Encode: 64 frames per round into one buffer, as a send queue would. */
    uint64_t frames = 0;
    double t0 = now(), t;
    do {
        size_t off = 0;
        for (int i = 0; i < 64; i++)
            off +=
                (size_t)derp_send_packet_encode(stream + off, sizeof(stream) - off, key, pkt, sizeof(pkt));
        sink += off;
        frames += 64;
    } while ((t = now() - t0) < RUN_FOR);
    printf("derp SendPacket encode (1400 B, copy):       %10.0f frames/s  %8.0f MB/s\n", frames / t,
           frames * (37.0 + 1400) / t / 1e6);

    /* Parse + decode the same stream, the way a relay reads its socket buffer. */
    frames = 0;
    t0 = now();
    do {
        size_t off = 0, len = sizeof(stream);
        struct derp_frame f;
        long r;
        while ((r = derp_frame_parse(stream + off, len - off, DERP_MAX_FRAME_SIZE, &f)) > 0) {
            struct derp_packet p;
            if (derp_send_packet_decode(f.payload, f.len, &p) == 0)
                sink += p.data_len + p.dst_key[0];
            off += (size_t)r;
            frames++;
        }
    } while ((t = now() - t0) < RUN_FOR);
    printf("derp frame parse+decode (1400 B, zero-copy): %10.0f frames/s  %8.0f MB/s\n", frames / t,
           frames * (37.0 + 1400) / t / 1e6);

    /* Relay step: parse a SendPacket and re-frame it as RecvPacket (header only, gather write). */
    frames = 0;
    t0 = now();
    do {
        size_t off = 0, len = sizeof(stream);
        struct derp_frame f;
        uint8_t hdr[40];
        long r;
        while ((r = derp_frame_parse(stream + off, len - off, DERP_MAX_FRAME_SIZE, &f)) > 0) {
            struct derp_packet p;
            if (derp_send_packet_decode(f.payload, f.len, &p) == 0)
                sink += (uint64_t)derp_packet_header_encode(hdr, sizeof(hdr), DERP_FRAME_RECV_PACKET, key,
                                                            NULL, p.data_len);
            off += (size_t)r;
            frames++;
        }
    } while ((t = now() - t0) < RUN_FOR);
    printf("derp relay step (parse + RecvPacket hdr):    %10.0f frames/s  %8.0f MB/s\n", frames / t,
           frames * (37.0 + 1400) / t / 1e6);
}

static void bench_stun(void)
{
    uint8_t tx[12], out[64];
    struct stun_addr a = {.ip = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5}, .port = 41641};
    randombytes_buf(tx, sizeof(tx));
    uint64_t n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1024; i++) {
            tx[0] = (uint8_t)i;
            sink += (uint64_t)stun_response_encode(out, sizeof(out), tx, &a);
        }
        n += 1024;
    } while ((t = now() - t0) < RUN_FOR);
    printf("stun response build (IPv4):        %10.0f ops/s\n", n / t);

    uint8_t req[STUN_REQUEST_LEN];
    stun_request_encode(req, sizeof(req), tx);
    n = 0;
    t0 = now();
    do {
        for (int i = 0; i < 1024; i++) {
            struct stun_request r;
            sink += (uint64_t)stun_request_parse(req, sizeof(req), &r);
        }
        n += 1024;
    } while ((t = now() - t0) < RUN_FOR);
    printf("stun request parse (FINGERPRINT):  %10.0f ops/s\n", n / t);
}

static void bench_disco(void)
{
    uint8_t apriv[32], apub[32], bpriv[32], bpub[32], sab[32], sba[32], tx[12];
    crypto_box_keypair(apub, apriv);
    crypto_box_keypair(bpub, bpriv);
    disco_shared_key(sab, bpub, apriv);
    disco_shared_key(sba, apub, bpriv);
    randombytes_buf(tx, sizeof(tx));
    uint8_t plain[64], pkt[256], out[256];
    long pl = disco_ping_encode(plain, sizeof(plain), tx, apub, 0);
    uint64_t n = 0;
    double t0 = now(), t;
    long sl = 0;
    do {
        for (int i = 0; i < 256; i++)
            sl = disco_seal(pkt, sizeof(pkt), apub, sab, NULL, plain, (size_t)pl);
        n += 256;
    } while ((t = now() - t0) < RUN_FOR);
    printf("disco seal (Ping, 124 B):          %10.0f ops/s\n", n / t);
    n = 0;
    t0 = now();
    do {
        for (int i = 0; i < 256; i++) {
            long ml = disco_open(pkt, (size_t)sl, sba, out, sizeof(out));
            struct disco_msg m;
            sink += (uint64_t)disco_parse(out, (size_t)ml, &m);
        }
        n += 256;
    } while ((t = now() - t0) < RUN_FOR);
    printf("disco open+parse (Ping, 124 B):    %10.0f ops/s\n", n / t);
    n = 0;
    t0 = now();
    do {
        for (int i = 0; i < 1024; i++)
            sink += (uint64_t)disco_classify_udp(pkt, (size_t)sl);
        n += 1024;
    } while ((t = now() - t0) < RUN_FOR);
    printf("udp classify (disco packet):       %10.0f ops/s\n", n / t);
}

static void bench_mapstream(void)
{
    static const char ka[] = "{\"KeepAlive\":true,\"ControlTime\":\"2026-11-24T22:50:09.885951095Z\"}";
    struct mapstream_enc e;
    struct mapstream_dec d;
    mapstream_enc_init(&e, true, 1);
    mapstream_dec_init(&d, true, 0);
    uint8_t frame[256];
    long fl = 0;
    uint64_t n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 256; i++)
            fl = mapstream_encode(&e, frame, sizeof(frame), ka, sizeof(ka) - 1);
        n += 256;
    } while ((t = now() - t0) < RUN_FOR);
    printf("mapstream keep-alive encode (zstd): %9.0f msgs/s\n", n / t);
    n = 0;
    t0 = now();
    do {
        for (int i = 0; i < 256; i++) {
            const uint8_t *m;
            size_t ml;
            sink += (uint64_t)mapstream_dec_feed(&d, frame, (size_t)fl, &m, &ml);
        }
        n += 256;
    } while ((t = now() - t0) < RUN_FOR);
    printf("mapstream keep-alive decode (zstd): %9.0f msgs/s\n", n / t);
    mapstream_enc_free(&e);
    mapstream_dec_free(&d);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    bench_derp();
    bench_stun();
    bench_disco();
    bench_mapstream();
    return 0;
}
