// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/ippkt.h"

#include <string.h>

#include "core/wg/offload.h"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The ones'-complement sum of the pseudo-header and the L4 bytes. */
static uint32_t l4_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto, const uint8_t *l4,
                       size_t len)
{
    size_t al = family == 4 ? 4 : 16;
    uint8_t tail[8] = {0};
    uint32_t s = wg_csum_add(0, src, al);
    s = wg_csum_add(s, dst, al);
    put32(tail, (uint32_t)len);
    tail[7] = proto;
    s = wg_csum_add(s, tail, 8);
    return wg_csum_add(s, l4, len);
}

int ipp_parse(const uint8_t *pkt, size_t len, struct ipp_packet *out)
{
    memset(out, 0, sizeof *out);
    const uint8_t *l4;
    size_t l4len;
    if (len >= 20 && pkt[0] >> 4 == 4) {
        size_t ihl = (size_t)(pkt[0] & 0xf) * 4, tot = be16(pkt + 2);
        if (ihl < 20 || tot < ihl || tot > len)
            return -1;
        if (be16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
            return -1;
        if (wg_csum_fold(wg_csum_add(0, pkt, ihl)) != 0xffff)
            return -1;
        out->flow.family = 4;
        memcpy(out->flow.src, pkt + 12, 4);
        memcpy(out->flow.dst, pkt + 16, 4);
        out->proto = pkt[9];
        l4 = pkt + ihl;
        l4len = tot - ihl;
    } else if (len >= 40 && pkt[0] >> 4 == 6) {
        size_t pl = be16(pkt + 4);
        if (40 + pl > len)
            return -1;
        out->flow.family = 6;
        memcpy(out->flow.src, pkt + 8, 16);
        memcpy(out->flow.dst, pkt + 24, 16);
        out->proto = pkt[6]; /* extension headers (fragments among them) are not for us */
        l4 = pkt + 40;
        l4len = pl;
    } else {
        return -1;
    }
    if (out->proto == IPP_UDP) {
        if (l4len < 8 || be16(l4 + 4) < 8 || be16(l4 + 4) > l4len)
            return -1;
        l4len = be16(l4 + 4);
        uint16_t ck = be16(l4 + 6);
        if ((ck || out->flow.family == 6) &&
            wg_csum_fold(l4_sum(out->flow.family, out->flow.src, out->flow.dst, IPP_UDP, l4, l4len)) != 0xffff)
            return -1;
        out->flow.sport = be16(l4);
        out->flow.dport = be16(l4 + 2);
        out->payload = l4 + 8;
        out->len = l4len - 8;
        return 0;
    }
    if (out->proto == IPP_TCP) {
        if (l4len < 20)
            return -1;
        size_t off = (size_t)(l4[12] >> 4) * 4;
        if (off < 20 || off > l4len)
            return -1;
        if (wg_csum_fold(l4_sum(out->flow.family, out->flow.src, out->flow.dst, IPP_TCP, l4, l4len)) != 0xffff)
            return -1;
        out->flow.sport = be16(l4);
        out->flow.dport = be16(l4 + 2);
        out->seq = be32(l4 + 4);
        out->ack = be32(l4 + 8);
        out->flags = l4[13] & 0x3f;
        out->window = be16(l4 + 14);
        for (size_t i = 20; i < off;) { /* options: only the MSS matters */
            uint8_t kind = l4[i];
            if (kind == 0)
                break;
            if (kind == 1) {
                i++;
                continue;
            }
            if (i + 1 >= off || l4[i + 1] < 2 || i + l4[i + 1] > off)
                return -1;
            if (kind == 2 && l4[i + 1] == 4)
                out->mss = be16(l4 + i + 2);
            i += l4[i + 1];
        }
        out->payload = l4 + off;
        out->len = l4len - off;
        return 0;
    }
    return -1;
}

void ipp_flow_reverse(const struct ipp_flow *in, struct ipp_flow *out)
{
    struct ipp_flow t = *in;
    memcpy(t.src, in->dst, 16);
    memcpy(t.dst, in->src, 16);
    t.sport = in->dport;
    t.dport = in->sport;
    *out = t;
}

size_t ipp_build(uint8_t *buf, size_t cap, const struct ipp_flow *f, uint8_t proto, uint32_t seq, uint32_t ack,
                 uint8_t flags, uint16_t window, uint16_t mss, const uint8_t *payload, size_t len)
{
    size_t iph = f->family == 4 ? 20 : 40;
    size_t l4h = proto == IPP_UDP ? 8 : (flags & TCPF_SYN) ? 24 : 20;
    size_t tot = iph + l4h + len;
    if (tot > cap || tot > 65535)
        return 0;
    memset(buf, 0, iph + l4h);
    uint8_t *l4 = buf + iph;
    if (f->family == 4) {
        buf[0] = 0x45;
        put16(buf + 2, (uint16_t)tot);
        put16(buf + 6, 0x4000); /* DF */
        buf[8] = 64;
        buf[9] = proto;
        memcpy(buf + 12, f->src, 4);
        memcpy(buf + 16, f->dst, 4);
        uint16_t ck = (uint16_t)~wg_csum_fold(wg_csum_add(0, buf, 20));
        memcpy(buf + 10, &ck, 2);
    } else {
        buf[0] = 0x60;
        put16(buf + 4, (uint16_t)(l4h + len));
        buf[6] = proto;
        buf[7] = 64;
        memcpy(buf + 8, f->src, 16);
        memcpy(buf + 24, f->dst, 16);
    }
    put16(l4, f->sport);
    put16(l4 + 2, f->dport);
    if (len)
        memcpy(l4 + l4h, payload, len);
    if (proto == IPP_UDP) {
        put16(l4 + 4, (uint16_t)(l4h + len));
        uint16_t ck = (uint16_t)~wg_csum_fold(l4_sum(f->family, f->src, f->dst, IPP_UDP, l4, l4h + len));
        if (!ck)
            ck = 0xffff;
        memcpy(l4 + 6, &ck, 2);
    } else {
        put32(l4 + 4, seq);
        put32(l4 + 8, ack);
        l4[12] = (uint8_t)((l4h / 4) << 4);
        l4[13] = flags;
        put16(l4 + 14, window);
        if (flags & TCPF_SYN) {
            l4[20] = 2;
            l4[21] = 4;
            put16(l4 + 22, mss);
        }
        uint16_t ck = (uint16_t)~wg_csum_fold(l4_sum(f->family, f->src, f->dst, IPP_TCP, l4, l4h + len));
        memcpy(l4 + 16, &ck, 2);
    }
    return tot;
}
