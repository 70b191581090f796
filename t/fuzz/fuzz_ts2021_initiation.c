// SPDX-License-Identifier: BSD-3-Clause
/* Responder side of the ts2021 handshake on arbitrary initiations (fixed control key). When one is
 * accepted, the response is built and checked for shape; parse helpers see the same bytes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto/noise_ts2021.h"

/* RFC 7748 "bob" as the control key, as in control-ts2021.md §3.7. */
static const uint8_t control_priv[32] = {
    0x5d, 0xab, 0x08, 0x7e, 0x62, 0x4a, 0x8a, 0x4b, 0x79, 0xe1, 0x7f, 0x8b, 0x83, 0x80, 0x0e, 0xe6,
    0x6f, 0x3b, 0xb1, 0x29, 0x26, 0x18, 0xb6, 0xfd, 0x1c, 0x2f, 0x8b, 0x27, 0xff, 0x88, 0xe0, 0xeb,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ts2021_handshake hs;
    struct ts2021_transport t;
    uint8_t mpub[32], resp[TS2021_RESPONSE_LEN], eph[32];
    uint16_t version;
    uint8_t type;

    ssize_t fl = ts2021_frame_len(data, size, &type);
    if (size < 3 ? fl != 0 : fl != 3 + (ssize_t)(data[1] << 8 | data[2]))
        abort();
    ts2021_error_text(data, size, NULL, NULL);

    int r = ts2021_responder_read(&hs, data, size, control_priv, NULL, &version, mpub);
    if (r != 0)
        return 0;
    if (size != TS2021_INITIATION_LEN || version != (data[0] << 8 | data[1]))
        abort();
    memset(eph, 0x02, sizeof(eph));
    if (ts2021_responder_finish(&hs, &t, resp, eph) != 0)
        return 0;
    if (resp[0] != TS2021_TYPE_RESPONSE || resp[1] != 0 || resp[2] != 48 || memcmp(t.peer, mpub, 32) != 0)
        abort();
    ts2021_transport_wipe(&t);
    return 0;
}
