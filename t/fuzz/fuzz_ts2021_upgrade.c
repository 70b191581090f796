// SPDX-License-Identifier: BSD-3-Clause
/* Fuzz the X-Tailscale-Handshake header parser and the early-payload decoder (fed in chunks chosen
 * by the input), with encode → decode round trips. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/ts2021.h"

#define CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* Header value: the input as a string. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    uint8_t init[TS2021_INIT_LEN];
    if (ts2021_handshake_header_parse(s, init) == TS2021_HS_OK) {
        char b64[200];
        uint8_t back[TS2021_INIT_LEN];
        CHECK(ts2021_base64_encode(b64, sizeof(b64), init, sizeof(init)) == 136);
        CHECK(ts2021_handshake_header_parse(b64, back) == TS2021_HS_OK && !memcmp(back, init, sizeof(init)));
    }
    uint8_t chal[32];
    if (ts2021_early_noise_parse(s, size, chal) == 1) {
        char j[128];
        uint8_t chal2[32];
        long jl = ts2021_early_noise_json(j, sizeof(j), chal);
        CHECK(jl == 95 && ts2021_early_noise_parse(j, (size_t)jl, chal2) == 1 && !memcmp(chal, chal2, 32));
    }
    (void)ts2021_upgrade_kind(s);
    free(s);

    /* Early payload stream: byte 0 is the chunk size. */
    size_t chunk = data[0] ? data[0] : 1;
    const uint8_t *p = data + 1;
    size_t left = size - 1, used = 0;
    struct ts2021_early e;
    ts2021_early_init(&e);
    while (left && e.state == TS2021_EARLY_READING) {
        size_t take = left < chunk ? left : chunk;
        long r = ts2021_early_feed(&e, p, take);
        if (r < 0)
            break;
        CHECK((size_t)r <= take);
        used += (size_t)r;
        p += r;
        left -= (size_t)r;
        if ((size_t)r < take)
            CHECK(e.state != TS2021_EARLY_READING);
    }
    if (e.state == TS2021_EARLY_GOT) {
        CHECK(used == TS2021_EARLY_HEADER_LEN + e.json_len && e.json[e.json_len] == 0);
        uint8_t *re = malloc(used);
        CHECK(ts2021_early_payload_encode(re, used, e.json, e.json_len) == (long)used);
        CHECK(!memcmp(re, data + 1, used));
        free(re);
    } else if (e.state == TS2021_EARLY_NONE) {
        CHECK(e.hdr_have >= 1 && e.hdr_have <= TS2021_EARLY_MAGIC_LEN && used == e.hdr_have &&
              !memcmp(e.hdr, data + 1, e.hdr_have));
    }
    ts2021_early_free(&e);
    return 0;
}
