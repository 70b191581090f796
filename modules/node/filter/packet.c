// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/filter/packet.h"

#include <string.h>

/* Fragments after the first may not start inside where a transport header could be: max IPv4 header
 * plus a basic TCP header, in 8-byte blocks (RFC 1858; Tailscale's minFragBlks). */
#define MIN_FRAG_BLKS ((60 + 20) / 8)

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The transport header at sub (len bytes available): ports, flags, ICMP type. */
static void transport(struct pkt *q, const uint8_t *sub, size_t len, bool more_frags)
{
    switch (q->proto) {
    case PKT_ICMP4:
    case PKT_ICMP6:
        if (len < 4) {
            q->bad = true;
            return;
        }
        q->has_icmp = true;
        q->icmp_type = sub[0];
        q->icmp_code = sub[1];
        q->icmp_full = len >= 8;
        return;
    case PKT_IGMP:
        if (len < 8)
            q->bad = true;
        return;
    case PKT_TCP:
        if (len < 20) {
            q->bad = true;
            return;
        }
        q->sport = be16(sub);
        q->dport = be16(sub + 2);
        q->tcp_flags = sub[13];
        return;
    case PKT_UDP:
        if (len < 8) {
            q->bad = true;
            return;
        }
        q->sport = be16(sub);
        q->dport = be16(sub + 2);
        return;
    case PKT_SCTP:
        if (len < 12) {
            q->bad = true;
            return;
        }
        q->sport = be16(sub);
        q->dport = be16(sub + 2);
        return;
    case PKT_TSMP:
        if (more_frags || len < 1)
            q->bad = true; /* never fragmented */
        return;
    default:
        return; /* other protocols: no ports */
    }
}

static void parse4(const uint8_t *b, size_t n, struct pkt *q)
{
    if (n < 20) {
        q->bad = true;
        return;
    }
    q->proto = b[9];
    size_t total = be16(b + 2), ihl = (size_t)(b[0] & 0x0f) * 4;
    if (total > n || ihl < 20 || ihl > total) {
        q->bad = true;
        return;
    }
    memcpy(q->src, b + 12, 4);
    memcpy(q->dst, b + 16, 4);
    uint16_t frag = be16(b + 6);
    bool more = (frag & 0x2000) != 0;
    uint16_t off = frag & 0x1fff;
    if (off) {
        if (off < MIN_FRAG_BLKS)
            q->bad = true;
        else
            q->fragment = true;
        return;
    }
    switch (q->proto) {
    case PKT_ICMP4:
    case PKT_IGMP:
    case PKT_TCP:
    case PKT_UDP:
    case PKT_SCTP:
    case PKT_TSMP:
        transport(q, b + ihl, total - ihl, more);
        return;
    case 255: /* reserved (Tailscale's internal "fragment" marker): never genuine */
        q->bad = true;
        return;
    default:
        return; /* other protocols have no ports we read */
    }
}

static void parse6(const uint8_t *b, size_t n, struct pkt *q)
{
    if (n < 40) {
        q->bad = true;
        return;
    }
    q->proto = b[6];
    size_t total = 40 + (size_t)be16(b + 4);
    if (total > n) {
        q->bad = true;
        return;
    }
    memcpy(q->src, b + 8, 16);
    memcpy(q->dst, b + 24, 16);
    size_t off = 40;
    bool more = false;
    if (q->proto == 44) { /* fragment header: the only extension header we step over */
        if (total < off + 8) {
            q->bad = true;
            return;
        }
        const uint8_t *f = b + off;
        q->proto = f[0];
        uint16_t fo = be16(f + 2) >> 3;
        more = (f[3] & 1) != 0;
        off += 8;
        if (fo) {
            if (fo < MIN_FRAG_BLKS)
                q->bad = true;
            else
                q->fragment = true;
            return;
        }
    }
    switch (q->proto) {
    case PKT_ICMP6:
    case PKT_TCP:
    case PKT_UDP:
    case PKT_SCTP:
    case PKT_TSMP:
        transport(q, b + off, total - off, more);
        return;
    case 255:
        q->bad = true;
        return;
    default:
        /* another protocol, or an extension header (hop-by-hop, routing, ...) taken as the protocol:
         * only a rule naming that number with all ports admits it, as in Tailscale */
        return;
    }
}

void pkt_parse(const uint8_t *b, size_t n, struct pkt *q)
{
    memset(q, 0, sizeof *q);
    if (n < 1) {
        q->bad = true;
        return;
    }
    q->family = (uint8_t)(b[0] >> 4);
    if (q->family == 4)
        parse4(b, n, q);
    else if (q->family == 6)
        parse6(b, n, q);
    else {
        q->family = 0;
        q->bad = true;
    }
}

bool pkt_is_echo_reply(const struct pkt *q)
{
    if (!q->has_icmp || !q->icmp_full || q->icmp_code != 0)
        return false;
    return q->family == 4 ? q->icmp_type == 0 : q->icmp_type == 129;
}

bool pkt_is_icmp_error(const struct pkt *q)
{
    if (!q->has_icmp || !q->icmp_full)
        return false;
    if (q->family == 4)
        return q->icmp_type == 3 || q->icmp_type == 11 || q->icmp_type == 12;
    return q->icmp_type >= 1 && q->icmp_type <= 4;
}
