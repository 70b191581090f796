// SPDX-License-Identifier: BSD-3-Clause
/* TUN offloads on arbitrary input: the first 10 bytes are a virtio-net header, the rest a packet read
 * from the TUN. Every segment produced must be a well-formed IP packet whose checksums verify, and the
 * segments' payloads must add up to the superpacket's; segments that parse as plain TCP are merged back
 * with the coalescing helpers (a round trip: the merged length must be the sum). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wg/offload.h"

static uint8_t pkt[70000], seg[200][2048];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < WG_VNET_HDR_LEN || size - WG_VNET_HDR_LEN > sizeof(pkt))
        return 0;
    struct wg_vnet_hdr h;
    wg_vnet_hdr_decode(&h, data);
    size_t len = size - WG_VNET_HDR_LEN;
    memcpy(pkt, data + WG_VNET_HDR_LEN, len);
    struct wg_gso_iter it;
    if (wg_gso_begin(&it, &h, pkt, len) < 0)
        return 0;
    size_t lens[200], n = 0, payload = 0;
    int m;
    while (n < 200 && (m = wg_gso_next(&it, seg[n], sizeof(seg[0]))) > 0) {
        if ((size_t)m > sizeof(seg[0]))
            abort();
        lens[n++] = (size_t)m;
    }
    if (h.gso_type != WG_VNET_GSO_NONE && n > 0 && it.off > it.hdr_len) {
        for (size_t i = 0; i < n; i++) {
            payload += lens[i] - it.hdr_len;
            /* IPv4 header checksum verifies */
            if (it.family == 4 && wg_csum_fold(wg_csum_add(0, seg[i], it.l3_len)) != 0xffff)
                abort();
        }
        if (n < 200 && m == 0 && payload != len - it.hdr_len)
            abort();
    }
    /* merge consecutive TCP segments back */
    struct wg_tcp_seg head, s;
    if (n >= 2 && wg_tcp_seg_parse(seg[0], lens[0], &head)) {
        uint32_t next = head.seq + (uint32_t)head.payload_len;
        size_t total = head.payload_len;
        for (size_t i = 1; i < n; i++) {
            if (!wg_tcp_seg_parse(seg[i], lens[i], &s) || !wg_tcp_seg_follows(seg[0], &head, next, seg[i], &s))
                break;
            next += (uint32_t)s.payload_len;
            total += s.payload_len;
        }
        struct wg_vnet_hdr mh;
        wg_tcp_coalesce_finish(seg[0], &head, total, (uint16_t)head.payload_len, 0, &mh);
        if (mh.hdr_len != head.hdr_len || mh.csum_start != head.l3_len)
            abort();
    }
    return 0;
}
