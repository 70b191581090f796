// SPDX-License-Identifier: BSD-3-Clause
/* Packet offloads between the engine and a TUN opened with IFF_VNET_HDR: every packet crosses the TUN
 * behind a virtio-net header, so the kernel can hand us one TCP (TSO) or UDP (USO) superpacket of up to
 * 64 KiB instead of dozens of MTU-sized packets, and take back TCP segments we coalesced (GRO).
 *
 * Pure functions over bytes: segmentation of a superpacket into IP packets (headers replicated and fixed
 * up, checksums computed), completion of a partial checksum, and the test and header rewrite that merge
 * consecutive TCP segments of one flow into one superpacket. */
#ifndef WEFT_WG_OFFLOAD_H
#define WEFT_WG_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_VNET_HDR_LEN 10

enum {
    WG_VNET_F_NEEDS_CSUM = 1,
    WG_VNET_GSO_NONE = 0,
    WG_VNET_GSO_TCPV4 = 1,
    WG_VNET_GSO_UDP = 3, /* UFO: IP fragmentation, never enabled */
    WG_VNET_GSO_TCPV6 = 4,
    WG_VNET_GSO_UDP_L4 = 5,
    WG_VNET_GSO_ECN = 0x80,
};

/* struct virtio_net_hdr, host byte order (the legacy TUN header is native-endian). */
struct wg_vnet_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

void wg_vnet_hdr_decode(struct wg_vnet_hdr *h, const uint8_t b[WG_VNET_HDR_LEN]);
void wg_vnet_hdr_encode(const struct wg_vnet_hdr *h, uint8_t b[WG_VNET_HDR_LEN]);

/* Ones'-complement sum helpers (RFC 1071): a 32-bit accumulator, folded at the end. */
uint32_t wg_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t wg_csum_fold(uint32_t sum);

/* Walks the segments of a packet read from the TUN. A packet without GSO is one segment (its partial
 * checksum completed if the header asks). */
struct wg_gso_iter {
    uint8_t *pkt;
    size_t len;
    struct wg_vnet_hdr h;
    size_t l3_len, hdr_len; /* IP header, IP + L4 header */
    size_t off;             /* next payload byte */
    uint32_t seg;           /* segments produced */
    int family;             /* 4 or 6 */
    bool tcp;
};

/* Prepare to split pkt (len bytes, after the vnet header). It may be modified (checksum completion).
 * Returns 0, or -1 if the packet is malformed (drop it). */
int wg_gso_begin(struct wg_gso_iter *it, const struct wg_vnet_hdr *h, uint8_t *pkt, size_t len);
/* Write the next segment (a whole IP packet) to out (cap bytes). Returns its length, 0 when done, -1 if
 * it does not fit or the packet is malformed. */
int wg_gso_next(struct wg_gso_iter *it, uint8_t *out, size_t cap);

/* The TCP flow key and sequence of an IP packet, for coalescing: false if it is not a plain TCP segment
 * that may be merged (IPv4 with options or fragments, IPv6 with extension headers, flags other than
 * ACK/PSH, no payload). */
struct wg_tcp_seg {
    int family;
    size_t l3_len, hdr_len, payload_len;
    uint32_t seq;
    uint8_t flags;
};
bool wg_tcp_seg_parse(const uint8_t *pkt, size_t len, struct wg_tcp_seg *s);
/* May segment b (parsed as sb) follow a (sa, whose merged payload so far ends at a_next_seq) in one
 * superpacket? Same addresses, ports, header bytes (but lengths, ids, checksums, seq), no PSH yet. */
bool wg_tcp_seg_follows(const uint8_t *a, const struct wg_tcp_seg *sa, uint32_t a_next_seq, const uint8_t *b,
                        const struct wg_tcp_seg *sb);
/* Rewrite the head segment's headers for a superpacket of total_payload bytes in segments of gso_size,
 * with the TCP flags of the last segment or-ed in (PSH), and fill the vnet header (partial checksum). */
void wg_tcp_coalesce_finish(uint8_t *head, const struct wg_tcp_seg *s, size_t total_payload, uint16_t gso_size,
                            uint8_t extra_flags, struct wg_vnet_hdr *h);

#endif
