// SPDX-License-Identifier: BSD-3-Clause
/* The first look at an IP packet the packet filter needs (after tailscale's net/packet decoding rules):
 * version, addresses, protocol, ports, TCP flags, ICMP type. A packet whose headers do not fit what it
 * claims is "bad" (dropped); a first fragment too short for its transport header is bad (the classic
 * filter-evasion trick); later fragments are marked as such (passed: the kernel drops them without their
 * first). IPv6: the fragment header is the only extension header stepped over; another one is taken
 * as the packet's protocol (only a rule naming that number admits it), as in Tailscale. No allocation, bounds-checked everywhere (fuzzed: t/fuzz/fuzz_node_filter.c). */
#ifndef WEFT_NODE_FILTER_PACKET_H
#define WEFT_NODE_FILTER_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PKT_ICMP4 = 1,
    PKT_IGMP = 2,
    PKT_TCP = 6,
    PKT_UDP = 17,
    PKT_ICMP6 = 58,
    PKT_SCTP = 132,
    PKT_TSMP = 99, /* Tailscale's in-tunnel control messages */
};

#define PKT_TCP_SYN 0x02
#define PKT_TCP_ACK 0x10

struct pkt {
    uint8_t family; /* 4 or 6; 0: not an IP packet */
    bool bad;       /* malformed or not understood: drop */
    bool fragment;  /* a fragment after the first (no transport header) */
    uint8_t proto;
    uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
    uint16_t sport, dport;    /* TCP, UDP, SCTP; 0 otherwise */
    uint8_t tcp_flags;
    bool has_icmp;
    uint8_t icmp_type, icmp_code;
    bool icmp_full; /* at least 8 bytes of ICMP header (what echo/error checks need) */
};

void pkt_parse(const uint8_t *b, size_t n, struct pkt *q);

/* A TCP SYN without ACK (a connection being opened). */
static inline bool pkt_is_syn(const struct pkt *q)
{
    return (q->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN;
}
/* ICMP echo reply / ICMP error (destination unreachable, time exceeded, parameter problem; v6 also
 * packet too big). */
bool pkt_is_echo_reply(const struct pkt *q);
bool pkt_is_icmp_error(const struct pkt *q);

#endif
