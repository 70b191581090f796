// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/offload.h"

#include <string.h>

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

void wg_vnet_hdr_decode(struct wg_vnet_hdr *h, const uint8_t b[WG_VNET_HDR_LEN])
{
    h->flags = b[0];
    h->gso_type = b[1];
    memcpy(&h->hdr_len, b + 2, 2);
    memcpy(&h->gso_size, b + 4, 2);
    memcpy(&h->csum_start, b + 6, 2);
    memcpy(&h->csum_offset, b + 8, 2);
}

void wg_vnet_hdr_encode(const struct wg_vnet_hdr *h, uint8_t b[WG_VNET_HDR_LEN])
{
    b[0] = h->flags;
    b[1] = h->gso_type;
    memcpy(b + 2, &h->hdr_len, 2);
    memcpy(b + 4, &h->gso_size, 2);
    memcpy(b + 6, &h->csum_start, 2);
    memcpy(b + 8, &h->csum_offset, 2);
}

/* Sums native-order 16-bit words (the ones'-complement sum is byte-order independent: the folded result,
 * stored back with memcpy, has the network byte order). Callers add even lengths except the last. */
uint32_t wg_csum_add(uint32_t sum32, const uint8_t *p, size_t len)
{
    uint64_t sum = sum32;
    while (len >= 8) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
        sum += (uint64_t)a + b;
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, last, 2);
        sum += w;
    }
    while (sum >> 32)
        sum = (sum & 0xffffffffULL) + (sum >> 32);
    return (uint32_t)sum;
}

uint16_t wg_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* The pseudo-header sum for an L4 packet of l4_len bytes inside the IP header at ip. */
static uint32_t pseudo_sum(const uint8_t *ip, int family, uint8_t proto, size_t l4_len)
{
    uint8_t tail[8] = {0};
    uint32_t sum;
    if (family == 4) {
        sum = wg_csum_add(0, ip + 12, 8);
        tail[1] = proto;
        put_be16(tail + 2, (uint16_t)l4_len);
        return wg_csum_add(sum, tail, 4);
    }
    sum = wg_csum_add(0, ip + 8, 32);
    put_be32(tail, (uint32_t)l4_len);
    tail[7] = proto;
    return wg_csum_add(sum, tail, 8);
}

static void ipv4_fix_csum(uint8_t *ip, size_t ihl)
{
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~wg_csum_fold(wg_csum_add(0, ip, ihl));
    memcpy(ip + 10, &c, 2);
}

/* Common IP parsing: family, header length, L4 protocol. -1 if malformed. */
static int ip_parse(const uint8_t *pkt, size_t len, int *family, size_t *l3, uint8_t *proto)
{
    if (len < 20)
        return -1;
    switch (pkt[0] >> 4) {
    case 4:
        *family = 4;
        *l3 = (size_t)(pkt[0] & 15) * 4;
        if (*l3 < 20 || *l3 > len)
            return -1;
        *proto = pkt[9];
        return 0;
    case 6:
        if (len < 40)
            return -1;
        *family = 6;
        *l3 = 40;
        *proto = pkt[6];
        return 0;
    default:
        return -1;
    }
}

int wg_gso_begin(struct wg_gso_iter *it, const struct wg_vnet_hdr *h, uint8_t *pkt, size_t len)
{
    uint8_t proto;
    memset(it, 0, sizeof(*it));
    it->pkt = pkt;
    it->len = len;
    it->h = *h;
    if (ip_parse(pkt, len, &it->family, &it->l3_len, &proto) < 0)
        return -1;
    uint8_t type = h->gso_type & (uint8_t)~WG_VNET_GSO_ECN;
    if (type == WG_VNET_GSO_NONE) {
        if (h->flags & WG_VNET_F_NEEDS_CSUM) {
            /* The checksum field holds the pseudo-header sum; the rest is ours to add. */
            size_t start = h->csum_start, field = (size_t)h->csum_start + h->csum_offset;
            if (start >= len || field + 2 > len)
                return -1;
            uint16_t c = (uint16_t)~wg_csum_fold(wg_csum_add(0, pkt + start, len - start));
            if (c == 0 && field == start + 6)
                c = 0xffff; /* UDP: a computed zero is sent as all ones */
            memcpy(pkt + field, &c, 2);
        }
        it->hdr_len = len;
        it->off = len;
        return 0;
    }
    if (h->gso_size == 0)
        return -1;
    if (type == WG_VNET_GSO_TCPV4 || type == WG_VNET_GSO_TCPV6) {
        if (proto != IPPROTO_TCP_ || (type == WG_VNET_GSO_TCPV4) != (it->family == 4))
            return -1;
        if (it->l3_len + 20 > len)
            return -1;
        size_t thl = (size_t)(pkt[it->l3_len + 12] >> 4) * 4;
        if (thl < 20 || it->l3_len + thl > len)
            return -1;
        it->tcp = true;
        it->hdr_len = it->l3_len + thl;
    } else if (type == WG_VNET_GSO_UDP_L4) {
        if (proto != IPPROTO_UDP_ || it->l3_len + 8 > len)
            return -1;
        it->hdr_len = it->l3_len + 8;
    } else {
        return -1;
    }
    it->off = it->hdr_len;
    return 0;
}

int wg_gso_next(struct wg_gso_iter *it, uint8_t *out, size_t cap)
{
    uint8_t type = it->h.gso_type & (uint8_t)~WG_VNET_GSO_ECN;
    if (type == WG_VNET_GSO_NONE) {
        if (it->seg++)
            return 0;
        if (it->len > cap)
            return -1;
        memcpy(out, it->pkt, it->len);
        return (int)it->len;
    }
    if (it->off >= it->len && it->seg > 0)
        return 0;
    size_t plen = it->len - it->off;
    if (plen > it->h.gso_size)
        plen = it->h.gso_size;
    size_t n = it->hdr_len + plen;
    if (n > cap || n > 65535)
        return -1;
    bool last = it->off + plen >= it->len;
    memcpy(out, it->pkt, it->hdr_len);
    memcpy(out + it->hdr_len, it->pkt + it->off, plen);
    size_t l3 = it->l3_len, l4_len = n - l3;
    if (it->family == 4) {
        put_be16(out + 2, (uint16_t)n);
        put_be16(out + 4, (uint16_t)(be16(it->pkt + 4) + it->seg));
        ipv4_fix_csum(out, l3);
    } else {
        put_be16(out + 4, (uint16_t)l4_len);
    }
    uint8_t *l4 = out + l3;
    if (it->tcp) {
        put_be32(l4 + 4, be32(it->pkt + l3 + 4) + (uint32_t)(it->off - it->hdr_len));
        if (!last)
            l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (it->seg > 0)
            l4[13] &= (uint8_t)~TCP_CWR;
        l4[16] = l4[17] = 0;
        uint32_t s = pseudo_sum(out, it->family, IPPROTO_TCP_, l4_len);
        uint16_t c = (uint16_t)~wg_csum_fold(wg_csum_add(s, l4, l4_len));
        memcpy(l4 + 16, &c, 2);
    } else {
        put_be16(l4 + 4, (uint16_t)l4_len);
        l4[6] = l4[7] = 0;
        uint32_t s = pseudo_sum(out, it->family, IPPROTO_UDP_, l4_len);
        uint16_t c = (uint16_t)~wg_csum_fold(wg_csum_add(s, l4, l4_len));
        if (c == 0)
            c = 0xffff;
        memcpy(l4 + 6, &c, 2);
    }
    it->off += plen;
    it->seg++;
    return (int)n;
}

bool wg_tcp_seg_parse(const uint8_t *pkt, size_t len, struct wg_tcp_seg *s)
{
    uint8_t proto;
    if (ip_parse(pkt, len, &s->family, &s->l3_len, &proto) < 0 || proto != IPPROTO_TCP_)
        return false;
    if (s->family == 4) {
        if (s->l3_len != 20 || (be16(pkt + 6) & 0x3fff) != 0 || be16(pkt + 2) != len)
            return false;
    } else if ((size_t)be16(pkt + 4) + 40 != len) {
        return false;
    }
    if (s->l3_len + 20 > len)
        return false;
    const uint8_t *t = pkt + s->l3_len;
    size_t thl = (size_t)(t[12] >> 4) * 4;
    if (thl < 20 || s->l3_len + thl >= len || (t[12] & 0x0f) != 0)
        return false;
    s->flags = t[13];
    if ((s->flags & (uint8_t)~(TCP_ACK | TCP_PSH)) != 0 || !(s->flags & TCP_ACK) || be16(t + 18) != 0)
        return false;
    s->hdr_len = s->l3_len + thl;
    s->payload_len = len - s->hdr_len;
    s->seq = be32(t + 4);
    return true;
}

bool wg_tcp_seg_follows(const uint8_t *a, const struct wg_tcp_seg *sa, uint32_t a_next_seq, const uint8_t *b,
                        const struct wg_tcp_seg *sb)
{
    if (sa->family != sb->family || sa->hdr_len != sb->hdr_len || (sa->flags & TCP_PSH) ||
        sb->seq != a_next_seq)
        return false;
    if (sa->family == 4) {
        /* version/ihl/tos, flags/fragment, ttl/protocol, addresses */
        if (a[0] != b[0] || a[1] != b[1] || memcmp(a + 6, b + 6, 4) != 0 || memcmp(a + 12, b + 12, 8) != 0)
            return false;
    } else if (memcmp(a, b, 4) != 0 || memcmp(a + 6, b + 6, 34) != 0) {
        return false;
    }
    const uint8_t *ta = a + sa->l3_len, *tb = b + sb->l3_len;
    size_t thl = sa->hdr_len - sa->l3_len;
    /* ports, ack, data offset, window; then the options (timestamps must match) */
    return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 5) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
           memcmp(ta + 20, tb + 20, thl - 20) == 0;
}

void wg_tcp_coalesce_finish(uint8_t *head, const struct wg_tcp_seg *s, size_t total_payload, uint16_t gso_size,
                            uint8_t extra_flags, struct wg_vnet_hdr *h)
{
    size_t total = s->hdr_len + total_payload, l4_len = total - s->l3_len;
    if (s->family == 4) {
        put_be16(head + 2, (uint16_t)total);
        ipv4_fix_csum(head, s->l3_len);
    } else {
        put_be16(head + 4, (uint16_t)l4_len);
    }
    uint8_t *t = head + s->l3_len;
    t[13] |= extra_flags;
    /* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum; the kernel needs no more. */
    uint16_t c = wg_csum_fold(pseudo_sum(head, s->family, IPPROTO_TCP_, l4_len));
    memcpy(t + 16, &c, 2);
    memset(h, 0, sizeof(*h));
    h->flags = WG_VNET_F_NEEDS_CSUM;
    h->gso_type = s->family == 4 ? WG_VNET_GSO_TCPV4 : WG_VNET_GSO_TCPV6;
    h->hdr_len = (uint16_t)s->hdr_len;
    h->gso_size = gso_size;
    h->csum_start = (uint16_t)s->l3_len;
    h->csum_offset = 16;
}
