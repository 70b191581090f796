// SPDX-License-Identifier: BSD-3-Clause
/* ts2021 transport on arbitrary bytes, both ways, over the §3.7 session:
 *   first byte even: the rest is a stream of client records; the server opens each record that
 *     record_len delimits, and every opened record must re-seal to the same bytes (deterministic nonce);
 *   first byte odd: the rest is plaintext; the client splits it into records, the server opens them
 *     all and must get the plaintext back. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto/noise_ts2021.h"

static const uint8_t machine_priv[32] = { /* RFC 7748 alice */
    0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
    0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
};
static const uint8_t control_priv[32] = { /* RFC 7748 bob */
    0x5d, 0xab, 0x08, 0x7e, 0x62, 0x4a, 0x8a, 0x4b, 0x79, 0xe1, 0x7f, 0x8b, 0x83, 0x80, 0x0e, 0xe6,
    0x6f, 0x3b, 0xb1, 0x29, 0x26, 0x18, 0xb6, 0xfd, 0x1c, 0x2f, 0x8b, 0x27, 0xff, 0x88, 0xe0, 0xeb,
};

static struct ts2021_transport client0, server0;

static void setup(void)
{
    struct ts2021_handshake ch, sh;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN], cpub[32], mpub[32], e1[32], e2[32];
    uint16_t v;
    memset(e1, 1, 32);
    memset(e2, 2, 32);
    /* The control public key comes out of the responder's transport. */
    static const uint8_t control_pub[32] = {
        0xde, 0x9e, 0xdb, 0x7d, 0x7b, 0x7d, 0xc1, 0xb4, 0xd3, 0x5b, 0x61, 0xc2, 0xec, 0xe4, 0x35, 0x37,
        0x3f, 0x83, 0x43, 0xc8, 0x5b, 0x78, 0x67, 0x4d, 0xad, 0xfc, 0x7e, 0x14, 0x6f, 0x88, 0x2b, 0x4f,
    };
    memcpy(cpub, control_pub, 32);
    if (ts2021_initiator_start(&ch, init, machine_priv, cpub, 145, e1) != 0 ||
        ts2021_responder_read(&sh, init, sizeof(init), control_priv, NULL, &v, mpub) != 0 ||
        ts2021_responder_finish(&sh, &server0, resp, e2) != 0 ||
        ts2021_initiator_finish(&ch, &client0, resp, sizeof(resp)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pt[TS2021_MAX_RECORD], again[TS2021_MAX_RECORD];
    static uint8_t wire[1 << 18], back[1 << 17];
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1 || size > (1 << 16))
        return 0;
    struct ts2021_transport c = client0, s = server0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    if (data[0] & 1) {
        ssize_t w = ts2021_seal(&c, wire, sizeof(wire), p, n);
        if (w != (ssize_t)ts2021_sealed_len(n))
            abort();
        size_t off = 0, got = 0;
        while (off < (size_t)w) {
            ssize_t rl = ts2021_record_len(wire + off, (size_t)w - off);
            if (rl < 19 || rl > TS2021_MAX_RECORD || off + (size_t)rl > (size_t)w)
                abort();
            ssize_t m = ts2021_open_record(&s, back + got, sizeof(back) - got, wire + off, (size_t)rl);
            if (m < 0)
                abort();
            off += (size_t)rl;
            got += (size_t)m;
        }
        if (got != n || (n && memcmp(back, p, n) != 0))
            abort();
        return 0;
    }

    while (n) {
        ssize_t rl = ts2021_record_len(p, n);
        if (rl == 0)
            break; /* incomplete header */
        if (rl < 0) {
            /* Anything delimited as bad must also fail to open. */
            if (ts2021_open_record(&s, pt, sizeof(pt), p, n) >= 0)
                abort();
            break;
        }
        if ((size_t)rl > n) {
            if (ts2021_open_record(&s, pt, sizeof(pt), p, n) >= 0)
                abort();
            break;
        }
        ssize_t m = ts2021_open_record(&s, pt, sizeof(pt), p, (size_t)rl);
        if (m < 0)
            break; /* fatal for the connection */
        if (ts2021_seal_record(&c, again, sizeof(again), pt, (size_t)m) != rl || memcmp(again, p, (size_t)rl) != 0)
            abort();
        p += rl;
        n -= (size_t)rl;
    }
    return 0;
}
