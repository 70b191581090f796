// SPDX-License-Identifier: BSD-3-Clause
/* Map stream framing: spec/control-ts2021.md §7.2 keep-alive vectors and the headscale capture
 * (testdata/captures/map-response-keepalive-wire.hex / map-response-keepalive.json, inlined). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/wire/mapstream.h"
#include "t/tap.h"

#define KA_JSON "{\"KeepAlive\":true}"
#define KA_ZSTD_L1 "28b52ffd20129100007b224b656570416c697665223a747275657d"
#define KA_ZSTD_HEADSCALE "28b52ffd04009100007b224b656570416c697665223a747275657d0e260c10"
#define KA_ZSTD_TAILSCALE "28b52ffd24129100007b224b656570416c697665223a747275657d0e260c10"
#define CAPTURE_WIRE \
    "4e00000028b52ffd04000902007b224b656570416c697665223a747275652c22436f6e74726f6c54696d65223a2232" \
    "3032362d31312d32345432323a35303a30392e3838353935313039355a227d74990d73"
#define CAPTURE_JSON "{\"KeepAlive\":true,\"ControlTime\":\"2026-11-24T22:50:09.885951095Z\"}"

static int decode_one(const char *hex, const char *want, const char *name)
{
    uint8_t buf[256];
    long n = unhex(hex, buf, sizeof(buf));
    struct mapstream_dec d;
    mapstream_dec_init(&d, true, 0);
    const uint8_t *m;
    size_t ml;
    long r = mapstream_dec_feed(&d, buf, (size_t)n, &m, &ml);
    int good = r == n && m && ml == strlen(want) && !memcmp(m, want, ml);
    mapstream_dec_free(&d);
    return ok(good, "%s", name);
}

int main(void)
{
    uint8_t out[4096];
    struct mapstream_enc e;
    ok(mapstream_enc_init(&e, true, 1) == 0, "encoder with zstd level 1");
    long n = mapstream_encode(&e, out, sizeof(out), KA_JSON, strlen(KA_JSON));
    is_hex(out, n > 0 ? (size_t)n : 0, "1b000000" KA_ZSTD_L1,
           "keep-alive frame: LE length 27 + libzstd level 1");
    ok(mapstream_encode(&e, out, 30, KA_JSON, strlen(KA_JSON)) < 0, "does not fit in 30 bytes");

    decode_one(CAPTURE_WIRE, CAPTURE_JSON, "captured headscale keep-alive decodes to the captured JSON");
    decode_one("1f000000" KA_ZSTD_HEADSCALE, KA_JSON, "headscale's encoder output (XXH64 checksum) decodes");
    decode_one("1f000000" KA_ZSTD_TAILSCALE, KA_JSON, "tailscale zstdframe output decodes");

    /* The captured frame fed one byte at a time. */
    uint8_t wire[256];
    size_t wl = (size_t)unhex(CAPTURE_WIRE, wire, sizeof(wire));
    struct mapstream_dec d;
    mapstream_dec_init(&d, true, 0);
    int msgs = 0, bad = 0;
    for (size_t i = 0; i < wl; i++) {
        const uint8_t *m;
        size_t ml;
        long r = mapstream_dec_feed(&d, wire + i, 1, &m, &ml);
        if (r != 1)
            bad++;
        if (m) {
            msgs++;
            if (i != wl - 1 || ml != strlen(CAPTURE_JSON) || strcmp((const char *)m, CAPTURE_JSON))
                bad++;
        }
    }
    ok(msgs == 1 && !bad, "byte-at-a-time feed yields the message at the last byte (NUL-terminated)");
    /* Corrupt the checksum: libzstd verifies it. */
    wire[wl - 1] ^= 1;
    const uint8_t *m;
    size_t ml;
    ok(mapstream_dec_feed(&d, wire, wl, &m, &ml) == MAPSTREAM_ERR_BAD, "a bad XXH64 checksum is refused");
    ok(mapstream_dec_feed(&d, wire, 1, &m, &ml) == MAPSTREAM_ERR_BAD, "errors are sticky");
    mapstream_dec_free(&d);

    /* Round trip: three messages of different sizes in one buffer, fed in odd chunks. */
    size_t big_len = 3 << 20;
    char *big = malloc(big_len + 1);
    size_t off = 0;
    for (int i = 0; off + 64 < big_len; i++)
        off += (size_t)snprintf(big + off, big_len - off, "{\"ID\":%d,\"Name\":\"node%d.example.com.\"},", i,
                                i % 97);
    big_len = off;
    const char *msgs_in[3] = {KA_JSON, big, "{\"Node\":{}}"};
    size_t lens[3] = {strlen(KA_JSON), big_len, 11};
    size_t cap = 0;
    for (int i = 0; i < 3; i++)
        cap += mapstream_frame_bound(&e, lens[i]);
    uint8_t *stream = malloc(cap);
    size_t sl = 0;
    for (int i = 0; i < 3; i++) {
        long fl = mapstream_encode(&e, stream + sl, cap - sl, msgs_in[i], lens[i]);
        if (fl < 0)
            break;
        sl += (size_t)fl;
    }
    ok(sl > 0 && sl < big_len / 4, "3 MB of repetitive JSON compresses (%zu bytes on the wire)", sl);
    mapstream_dec_init(&d, true, 0);
    int got = 0;
    bad = 0;
    size_t pos = 0, chunk = 1;
    while (pos < sl) {
        size_t take = sl - pos < chunk ? sl - pos : chunk;
        long r = mapstream_dec_feed(&d, stream + pos, take, &m, &ml);
        if (r < 0) {
            bad++;
            break;
        }
        pos += (size_t)r;
        if (m) {
            if (got >= 3 || ml != lens[got] || memcmp(m, msgs_in[got], ml))
                bad++;
            got++;
        }
        chunk = chunk * 7 % 10007 + 1;
    }
    ok(got == 3 && !bad, "round trip of 3 messages through odd-sized chunks");
    mapstream_dec_free(&d);

    /* Caps. */
    mapstream_dec_init(&d, true, 1 << 20);
    ok(mapstream_dec_feed(&d, stream, sl, &m, &ml) > 0 && m, "keep-alive under a 1 MiB cap");
    long r = 0;
    pos = 4 + 27;
    while (pos < sl && (r = mapstream_dec_feed(&d, stream + pos, sl - pos, &m, &ml)) >= 0 && !m)
        pos += (size_t)r;
    ok(r == MAPSTREAM_ERR_TOO_BIG, "a 3 MB message over a 1 MiB cap is refused");
    mapstream_dec_free(&d);
    uint8_t hdr[4] = {0xff, 0xff, 0xff, 0x7f};
    mapstream_dec_init(&d, true, 0);
    ok(mapstream_dec_feed(&d, hdr, 4, &m, &ml) == MAPSTREAM_ERR_TOO_BIG,
       "2 GiB length is refused at the header");
    mapstream_dec_free(&d);
    uint8_t junk[12] = {8, 0, 0, 0, 'n', 'o', 't', ' ', 'z', 's', 't', 'd'};
    mapstream_dec_init(&d, true, 0);
    ok(mapstream_dec_feed(&d, junk, 12, &m, &ml) == MAPSTREAM_ERR_BAD,
       "uncompressed JSON where zstd is expected");
    mapstream_dec_free(&d);
    uint8_t trunc[64];
    long tl = unhex("1a000000" KA_ZSTD_L1, trunc, sizeof(trunc));
    mapstream_dec_init(&d, true, 0);
    ok(mapstream_dec_feed(&d, trunc, (size_t)tl - 1, &m, &ml) == MAPSTREAM_ERR_BAD, "truncated zstd frame");
    mapstream_dec_free(&d);
    uint8_t zero[4] = {0};
    mapstream_dec_init(&d, true, 0);
    ok(mapstream_dec_feed(&d, zero, 4, &m, &ml) == MAPSTREAM_ERR_BAD, "empty compressed frame");
    mapstream_dec_free(&d);

    /* Control sends a big map as several zstd frames in one message (cached peer blocks). When what they
     * decompress to exactly fills the decoder's buffer (sized from the first frame's content size) as the
     * last frame ends, the message is complete: regression test for a node refusing such a map. */
    for (size_t total = 4093; total <= 4097; total++) {
        char *txt = malloc(total);
        for (size_t i = 0; i < total; i++)
            txt[i] = (char)('a' + (i * 7 + i / 13) % 26);
        size_t first = 100, cap = 4 + 2 * ZSTD_compressBound(total);
        uint8_t *w = malloc(cap);
        size_t a = ZSTD_compress(w + 4, cap - 4, txt, first, 1);
        size_t b = ZSTD_compress(w + 4 + a, cap - 4 - a, txt + first, total - first, 1);
        size_t body = a + b;
        w[0] = (uint8_t)body, w[1] = (uint8_t)(body >> 8), w[2] = (uint8_t)(body >> 16), w[3] = (uint8_t)(body >> 24);
        mapstream_dec_init(&d, true, 0);
        long k = mapstream_dec_feed(&d, w, 4 + body, &m, &ml);
        ok(!ZSTD_isError(a) && !ZSTD_isError(b) && k == (long)(4 + body) && m && ml == total &&
               memcmp(m, txt, total) == 0,
           "two frames decompressing to %zu bytes in all make one message", total);
        mapstream_dec_free(&d);
        free(w);
        free(txt);
    }

    /* Plain (uncompressed) mode. */
    struct mapstream_enc pe;
    mapstream_enc_init(&pe, false, 0);
    n = mapstream_encode(&pe, out, sizeof(out), KA_JSON, strlen(KA_JSON));
    is_hex(out, (size_t)n,
           "12000000"
           "7b224b656570416c697665223a747275657d",
           "plain frame: LE length + JSON");
    mapstream_dec_init(&d, false, 0);
    ok(mapstream_dec_feed(&d, out, (size_t)n, &m, &ml) == n && m && ml == 18 &&
           !strcmp((const char *)m, KA_JSON),
       "plain frame decodes");
    mapstream_dec_free(&d);
    mapstream_enc_free(&pe);

    mapstream_enc_free(&e);
    free(stream);
    free(big);
    return done_testing();
}
