// SPDX-License-Identifier: BSD-3-Clause
/* Fuzz the map stream decoder (zstd and plain) fed in input-chosen chunks; every message that comes
 * out is re-encoded and decoded again. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/mapstream.h"

#define CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

static struct mapstream_enc enc;

static void reencode(const uint8_t *m, size_t ml)
{
    size_t cap = mapstream_frame_bound(&enc, ml);
    uint8_t *f = malloc(cap);
    long fl = mapstream_encode(&enc, f, cap, m, ml);
    CHECK(fl > 0);
    struct mapstream_dec d;
    CHECK(mapstream_dec_init(&d, true, 1 << 20) == 0);
    const uint8_t *m2;
    size_t ml2;
    CHECK(mapstream_dec_feed(&d, f, (size_t)fl, &m2, &ml2) == fl && m2 && ml2 == ml && !memcmp(m2, m, ml));
    mapstream_dec_free(&d);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!enc.cctx && mapstream_enc_init(&enc, true, 1) < 0)
        abort();
    if (size < 1)
        return 0;
    bool compressed = !(data[0] & 0x80);
    size_t chunk = (data[0] & 0x7f) + 1;
    struct mapstream_dec d;
    /* A 1 MiB cap keeps memory bounded whatever the input announces. */
    CHECK(mapstream_dec_init(&d, compressed, 1 << 20) == 0);
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    while (left) {
        size_t take = left < chunk ? left : chunk;
        const uint8_t *m;
        size_t ml;
        long r = mapstream_dec_feed(&d, p, take, &m, &ml);
        if (r < 0)
            break;
        CHECK((size_t)r <= take);
        if (m) {
            CHECK(ml <= (1 << 20) && m[ml] == 0);
            reencode(m, ml);
        } else {
            CHECK((size_t)r == take);
        }
        p += r;
        left -= (size_t)r;
    }
    mapstream_dec_free(&d);
    return 0;
}
