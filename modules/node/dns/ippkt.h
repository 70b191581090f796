// SPDX-License-Identifier: BSD-3-Clause
/* IP packets to and from the local resolver on the TUN: the IPv4/IPv6 + UDP/TCP headers of what the OS sends
 * to 100.100.100.100 or fd7a:115c:a1e0::53, and the answers built back with their checksums. Only what a
 * DNS exchange needs: no IP options kept, no fragments (a fragment is refused), IPv6 extension headers
 * refused. Pure: no I/O. */
#ifndef WEFT_NODE_DNS_IPPKT_H
#define WEFT_NODE_DNS_IPPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { IPP_UDP = 17, IPP_TCP = 6 };

enum {
    TCPF_FIN = 0x01,
    TCPF_SYN = 0x02,
    TCPF_RST = 0x04,
    TCPF_PSH = 0x08,
    TCPF_ACK = 0x10,
};

/* One endpoint pair: family 4 or 6, addresses in network order, ports in host order. */
struct ipp_flow {
    uint8_t family;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
};

struct ipp_packet {
    struct ipp_flow flow;
    uint8_t proto; /* IPP_UDP or IPP_TCP */
    /* TCP only */
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    uint16_t mss; /* the MSS option of a SYN, 0 if none */
    const uint8_t *payload;
    size_t len;
};

/* Read an IP packet; 0, or -1 if it is not a whole, unfragmented UDP or TCP packet with good lengths and a
 * good checksum (a zero UDP checksum over IPv4 is accepted, as the RFC allows). */
int ipp_parse(const uint8_t *pkt, size_t len, struct ipp_packet *out);

/* The header room ipp_build needs before the payload (IPv6 + TCP with the MSS option). */
#define IPP_HEADROOM 64

/* Build a packet from the reversed flow (our address and port as source) into buf (cap bytes) with the
 * payload copied in: UDP, or TCP with seq/ack/flags/window (a SYN gets an MSS option). Returns the packet's
 * length, 0 if it does not fit. */
size_t ipp_build(uint8_t *buf, size_t cap, const struct ipp_flow *reply_flow, uint8_t proto, uint32_t seq,
                 uint32_t ack, uint8_t flags, uint16_t window, uint16_t mss, const uint8_t *payload, size_t len);

/* The flow with source and destination swapped. */
void ipp_flow_reverse(const struct ipp_flow *in, struct ipp_flow *out);

#endif
