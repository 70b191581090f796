// SPDX-License-Identifier: BSD-3-Clause
/* Initiator side of the ts2021 handshake: after building the §3.7 initiation, parse arbitrary responses
 * (and error frames). An accepted response must give a working transport. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto/noise_ts2021.h"

static const uint8_t machine_priv[32] = { /* RFC 7748 alice */
    0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
    0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
};
static const uint8_t control_pub[32] = { /* RFC 7748 bob */
    0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61, 0xc2, 0xec, 0xe4, 0x35, 0x37,
    0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78, 0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14, 0x6f, 0x88, 0x2b, 0x4f,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ts2021_handshake start;
    static int ready;
    struct ts2021_handshake hs;
    struct ts2021_transport t;
    uint8_t init[TS2021_INITIATION_LEN], eph[32], rec[64];

    /* The initiation is deterministic; build it once and copy the state for every input. */
    if (!ready) {
        memset(eph, 0x01, sizeof(eph));
        if (ts2021_initiator_start(&start, init, machine_priv, control_pub, 145, eph) != 0)
            abort();
        ready = 1;
    }
    hs = start;
    int r = ts2021_initiator_finish(&hs, &t, data, size);
    if (r == TS2021_ERR_SERVER) {
        const uint8_t *text;
        size_t tl;
        if (ts2021_error_text(data, size, &text, &tl) != 0 || text != data + 3 || tl != size - 3)
            abort();
        return 0;
    }
    if (r != 0)
        return 0;
    if (size != TS2021_RESPONSE_LEN || memcmp(t.peer, control_pub, 32) != 0)
        abort();
    if (ts2021_seal_record(&t, rec, sizeof(rec), (const uint8_t *)"hello", 5) != 24)
        abort();
    ts2021_transport_wipe(&t);
    return 0;
}
