// SPDX-License-Identifier: BSD-3-Clause
/* Fuzz the STUN request and response parsers; re-encode what parses and parse it again. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/stun.h"

#define CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stun_request r;
    if (stun_request_parse(data, size, &r) == 0) {
        CHECK(stun_is(data, size) && r.tx_id == data + 8);
        uint8_t req[STUN_REQUEST_LEN];
        struct stun_request r2;
        CHECK(stun_request_encode(req, sizeof(req), r.tx_id) == STUN_REQUEST_LEN);
        CHECK(stun_request_parse(req, sizeof(req), &r2) == 0 && r2.software_tailnode && r2.has_fingerprint &&
              !memcmp(r2.tx_id, r.tx_id, STUN_TXID_LEN));
    }
    const uint8_t *tx;
    struct stun_addr a;
    if (stun_response_parse(data, size, &tx, &a) == 0) {
        uint8_t resp[STUN_RESPONSE_V6_LEN];
        const uint8_t *tx2;
        struct stun_addr b;
        long n = stun_response_encode(resp, sizeof(resp), tx, &a);
        CHECK(n == STUN_RESPONSE_V4_LEN || n == STUN_RESPONSE_V6_LEN);
        CHECK(stun_response_parse(resp, (size_t)n, &tx2, &b) == 0);
        CHECK(!memcmp(tx2, tx, STUN_TXID_LEN) && !memcmp(a.ip, b.ip, 16) && a.port == b.port);
    }
    return 0;
}
