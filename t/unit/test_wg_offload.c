// SPDX-License-Identifier: BSD-3-Clause
/* TUN offloads: TSO/USO superpackets split into valid IP packets (lengths, sequence numbers, flags,
 * checksums), a partial checksum completed, and TCP segments merged back into one superpacket. */
#include "config.h"

#include <arpa/inet.h>

#include "core/wg/offload.h"
#include "t/tap.h"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A checksum over a block including its checksum field verifies when it folds to 0xffff. */
static bool sum_ok(uint32_t s)
{
    return wg_csum_fold(s) == 0xffff;
}

static bool l4_ok(const uint8_t *pkt, size_t len, int family, uint8_t proto)
{
    size_t l3 = family == 4 ? 20 : 40, l4 = len - l3;
    uint8_t ph[40] = {0};
    size_t phl;
    if (family == 4) {
        memcpy(ph, pkt + 12, 8);
        ph[9] = proto;
        ph[10] = (uint8_t)(l4 >> 8);
        ph[11] = (uint8_t)l4;
        phl = 12;
    } else {
        memcpy(ph, pkt + 8, 32);
        ph[34] = (uint8_t)(l4 >> 8);
        ph[35] = (uint8_t)l4;
        ph[39] = proto;
        phl = 40;
    }
    return sum_ok(wg_csum_add(wg_csum_add(0, ph, phl), pkt + l3, l4));
}

/* IPv4/TCP superpacket: 20 + 32 (TCP with 12 bytes of options) + payload. */
static size_t make_tcp4(uint8_t *p, size_t payload, uint8_t flags)
{
    memset(p, 0, 52);
    p[0] = 0x45;
    p[2] = (uint8_t)((52 + payload) >> 8);
    p[3] = (uint8_t)(52 + payload);
    p[4] = 0x12;
    p[5] = 0x34;
    p[6] = 0x40; /* DF */
    p[8] = 64;
    p[9] = 6;
    inet_pton(AF_INET, "10.0.0.1", p + 12);
    inet_pton(AF_INET, "10.0.0.2", p + 16);
    uint8_t *t = p + 20;
    t[0] = 0x13, t[1] = 0x88; /* 5000 */
    t[2] = 0xc3, t[3] = 0x50; /* 50000 */
    t[4] = 0x10, t[5] = 0x20, t[6] = 0x30, t[7] = 0x40; /* seq */
    t[8] = 0xaa, t[11] = 0x01;                          /* ack */
    t[12] = 8 << 4;
    t[13] = flags;
    t[14] = 0xff, t[15] = 0xff;
    t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10; /* NOP NOP timestamps */
    memcpy(t + 24, "\x00\x00\x01\x00\x00\x00\x02\x00", 8);
    for (size_t i = 0; i < payload; i++)
        p[52 + i] = (uint8_t)(i * 7 + 3);
    return 52 + payload;
}

int main(void)
{
    static uint8_t sp[70000], seg[70][2048], orig[70000];
    struct wg_vnet_hdr h;
    struct wg_gso_iter it;

    /* vnet header round trip */
    uint8_t hb[WG_VNET_HDR_LEN];
    struct wg_vnet_hdr h1 = {1, 4, 66, 1228, 40, 16}, h2;
    wg_vnet_hdr_encode(&h1, hb);
    wg_vnet_hdr_decode(&h2, hb);
    ok(memcmp(&h1, &h2, sizeof(h1)) == 0, "vnet header encodes and decodes");

    /* RFC 1071 example: sum of 0001 f203 f4f5 f6f7 = ddf2 (folded) */
    uint8_t ex[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint16_t f = wg_csum_fold(wg_csum_add(0, ex, 8));
    uint8_t fb[2];
    memcpy(fb, &f, 2);
    ok(fb[0] == 0xdd && fb[1] == 0xf2, "RFC 1071 checksum example");

    /* TSO over IPv4: 10000 bytes in 1228-byte segments, PSH|ACK|FIN on the superpacket */
    size_t payload = 10000;
    size_t len = make_tcp4(sp, payload, 0x19);
    memcpy(orig, sp, len);
    h = (struct wg_vnet_hdr){WG_VNET_F_NEEDS_CSUM, WG_VNET_GSO_TCPV4, 52, 1228, 20, 16};
    ok(wg_gso_begin(&it, &h, sp, len) == 0, "TSO v4 superpacket accepted");
    size_t nseg = 0, lens[70];
    int n;
    while ((n = wg_gso_next(&it, seg[nseg], sizeof(seg[0]))) > 0)
        lens[nseg++] = (size_t)n;
    is_int((long long)nseg, 9, "10000 bytes -> 9 segments");
    bool good = n == 0;
    size_t total = 0;
    for (size_t i = 0; i < nseg; i++) {
        const uint8_t *s = seg[i];
        size_t pl = lens[i] - 52;
        good &= be16(s + 2) == lens[i];
        good &= sum_ok(wg_csum_add(0, s, 20));
        good &= l4_ok(s, lens[i], 4, 6);
        good &= be32(s + 24) == 0x10203040u + (uint32_t)total;
        good &= be16(s + 4) == 0x1234 + i;
        good &= memcmp(s + 52, orig + 52 + total, pl) == 0;
        uint8_t fl = s[33];
        good &= i + 1 < nseg ? fl == 0x10 : fl == 0x19;
        good &= i + 1 < nseg ? pl == 1228 : pl == 10000 - 8 * 1228;
        total += pl;
    }
    ok(good && total == payload, "segments: lengths, ids, seq, flags, payload, IP and TCP checksums");

    /* merge the segments (without FIN, which never coalesces) back */
    struct wg_tcp_seg s0, si;
    if (nseg == 9)
        seg[8][33] = 0x18; /* last: PSH|ACK */
    ok(wg_tcp_seg_parse(seg[0], lens[0], &s0), "first segment parses as a plain TCP segment");
    uint32_t next = s0.seq + (uint32_t)s0.payload_len;
    size_t merged = s0.payload_len;
    bool follows = true;
    uint8_t extra = 0;
    for (size_t i = 1; i < nseg; i++) {
        const uint8_t *prev = seg[0];
        follows &= wg_tcp_seg_parse(seg[i], lens[i], &si) && wg_tcp_seg_follows(prev, &s0, next, seg[i], &si);
        next += (uint32_t)si.payload_len;
        merged += si.payload_len;
        extra |= si.flags & 0x08;
    }
    ok(follows, "each segment follows the head");
    struct wg_tcp_seg bad_seq = si;
    bad_seq.seq += 1;
    ok(!wg_tcp_seg_follows(seg[0], &s0, next, seg[nseg - 1], &bad_seq), "a gap in sequence does not follow");
    uint8_t other[2048];
    memcpy(other, seg[1], lens[1]);
    other[20 + 24] ^= 1; /* a different timestamp */
    ok(wg_tcp_seg_parse(other, lens[1], &si) &&
           !wg_tcp_seg_follows(seg[0], &s0, s0.seq + (uint32_t)s0.payload_len, other, &si),
       "different TCP options do not follow");
    struct wg_vnet_hdr mh;
    wg_tcp_coalesce_finish(seg[0], &s0, merged, (uint16_t)s0.payload_len, extra, &mh);
    ok(mh.gso_type == WG_VNET_GSO_TCPV4 && mh.gso_size == 1228 && mh.hdr_len == 52 && mh.csum_start == 20 &&
           mh.csum_offset == 16 && mh.flags == WG_VNET_F_NEEDS_CSUM,
       "coalesced vnet header");
    ok(be16(seg[0] + 2) == 52 + payload && sum_ok(wg_csum_add(0, seg[0], 20)), "coalesced IP length and checksum");
    ok(seg[0][33] == 0x18, "coalesced flags carry the last PSH");
    /* the partial checksum equals the pseudo-header sum of the whole */
    {
        uint8_t ph[12] = {0};
        memcpy(ph, seg[0] + 12, 8);
        ph[9] = 6;
        ph[10] = (uint8_t)((32 + payload) >> 8);
        ph[11] = (uint8_t)(32 + payload);
        uint16_t want = wg_csum_fold(wg_csum_add(0, ph, 12)), got;
        memcpy(&got, seg[0] + 36, 2);
        ok(got == want, "partial checksum is the pseudo-header sum");
    }

    /* a SYN is no plain segment; nor is a packet without payload */
    len = make_tcp4(sp, 0, 0x10);
    ok(!wg_tcp_seg_parse(sp, len, &si), "pure ACK is not coalesced");
    len = make_tcp4(sp, 100, 0x02);
    ok(!wg_tcp_seg_parse(sp, len, &si), "SYN is not coalesced");

    /* USO over IPv6: 3000 bytes of UDP in 1200-byte datagrams */
    memset(sp, 0, 48);
    sp[0] = 0x60;
    sp[6] = 17;
    sp[7] = 64;
    inet_pton(AF_INET6, "fd00::1", sp + 8);
    inet_pton(AF_INET6, "fd00::2", sp + 24);
    sp[40] = 0x30, sp[41] = 0x39, sp[42] = 0x00, sp[43] = 0x35;
    for (int i = 0; i < 3000; i++)
        sp[48 + i] = (uint8_t)i;
    sp[4] = (uint8_t)(3008 >> 8), sp[5] = (uint8_t)(3008 & 0xff);
    h = (struct wg_vnet_hdr){WG_VNET_F_NEEDS_CSUM, WG_VNET_GSO_UDP_L4, 48, 1200, 40, 6};
    ok(wg_gso_begin(&it, &h, sp, 3048) == 0, "USO v6 superpacket accepted");
    nseg = 0;
    good = true;
    while ((n = wg_gso_next(&it, seg[nseg], sizeof(seg[0]))) > 0) {
        size_t pl = (size_t)n - 48;
        good &= be16(seg[nseg] + 4) == pl + 8 && be16(seg[nseg] + 44) == pl + 8;
        good &= l4_ok(seg[nseg], (size_t)n, 6, 17);
        good &= seg[nseg][48] == (uint8_t)(nseg * 1200);
        nseg++;
    }
    ok(good && nseg == 3, "3 UDP datagrams with lengths and checksums");

    /* a plain packet with a partial checksum gets it completed */
    len = make_tcp4(sp, 300, 0x18);
    uint8_t ph[12] = {0};
    memcpy(ph, sp + 12, 8);
    ph[9] = 6;
    ph[11] = (uint8_t)(len - 20);
    ph[10] = (uint8_t)((len - 20) >> 8);
    uint16_t psum = wg_csum_fold(wg_csum_add(0, ph, 12));
    memcpy(sp + 36, &psum, 2);
    h = (struct wg_vnet_hdr){WG_VNET_F_NEEDS_CSUM, 0, 0, 0, 20, 16};
    ok(wg_gso_begin(&it, &h, sp, len) == 0 && wg_gso_next(&it, seg[0], sizeof(seg[0])) == (int)len &&
           wg_gso_next(&it, seg[0] + 1000, 1000) == 0,
       "plain packet passes as one segment");
    ok(l4_ok(seg[0], len, 4, 6), "its TCP checksum is completed");

    /* malformed */
    h = (struct wg_vnet_hdr){0, WG_VNET_GSO_TCPV4, 0, 1200, 0, 0};
    ok(wg_gso_begin(&it, &h, sp, 10) < 0, "runt refused");
    sp[0] = 0x45;
    sp[9] = 17;
    ok(wg_gso_begin(&it, &h, sp, len) < 0, "TSO on a UDP packet refused");
    h = (struct wg_vnet_hdr){WG_VNET_F_NEEDS_CSUM, 0, 0, 0, 2000, 16};
    ok(wg_gso_begin(&it, &h, sp, len) < 0, "checksum offset beyond the packet refused");
    done_testing();
}
