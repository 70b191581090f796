// SPDX-License-Identifier: BSD-3-Clause
/* STUN as Tailscale uses it (spec/derp.md §8, RFC 5389 subset): binding request with SOFTWARE
 * "tailnode" and FINGERPRINT, binding success response with XOR-MAPPED-ADDRESS.
 * Bytes in, bytes out; addresses are 16 bytes with IPv4 in the ::ffff:a.b.c.d form. */
#ifndef WEFT_WIRE_STUN_H
#define WEFT_WIRE_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STUN_HEADER_LEN 20
#define STUN_TXID_LEN 12
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_SOFTWARE "tailnode"
#define STUN_REQUEST_LEN 40 /* header + SOFTWARE (4+8) + FINGERPRINT (4+4) */
#define STUN_RESPONSE_V4_LEN 32
#define STUN_RESPONSE_V6_LEN 44
#define STUN_FINGERPRINT_XOR 0x5354554eu

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_ATTR_MAPPED_ADDRESS 0x0001
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_XOR_MAPPED_ADDRESS_ALT 0x8020 /* sent by some servers */
#define STUN_ATTR_SOFTWARE 0x8022
#define STUN_ATTR_FINGERPRINT 0x8028

struct stun_addr {
    uint8_t ip[16]; /* IPv4 as ::ffff:a.b.c.d */
    uint16_t port;
};

/* CRC-32 (IEEE 802.3, reflected, as zlib/Go's crc32.ChecksumIEEE). */
uint32_t stun_crc32(const uint8_t *p, size_t n);

/* Go's stun.Is: >= 20 bytes, top two bits of byte 0 clear, magic cookie at 4..7. */
bool stun_is(const uint8_t *p, size_t n);

/* The 40-byte binding request tailscaled sends. Length or -1. */
long stun_request_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12]);

struct stun_request {
    const uint8_t *tx_id; /* view */
    bool software_tailnode; /* SOFTWARE == "tailnode" (what official DERPs require) */
    bool has_fingerprint; /* present (and then verified) */
};
/* A binding request: 0, or -1 (not STUN, not a binding request, length field != datagram size,
 * malformed attributes, FINGERPRINT not last or wrong). SOFTWARE/FINGERPRINT are optional. */
int stun_request_parse(const uint8_t *p, size_t n, struct stun_request *r);

/* Binding success with one XOR-MAPPED-ADDRESS: 32 bytes for IPv4 (including v4-mapped), 44 for IPv6. */
long stun_response_encode(uint8_t *out, size_t cap, const uint8_t tx_id[12], const struct stun_addr *a);

/* A binding success response: XOR-MAPPED-ADDRESS (0x0020 or 0x8020) wins, MAPPED-ADDRESS is the
 * fallback; bytes after the header's length are ignored. tx_id is a view. 0 / -1. */
int stun_response_parse(const uint8_t *p, size_t n, const uint8_t **tx_id, struct stun_addr *a);

#endif
