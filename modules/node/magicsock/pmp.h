// SPDX-License-Identifier: BSD-3-Clause
/* NAT-PMP (RFC 6886) and PCP (RFC 6887) messages for a UDP port mapping on the gateway (port 5351): the
 * requests magicsock sends and the responses it reads. Bytes in, bytes out; no I/O. Responses are
 * checked for length, version, opcode and (PCP) the nonce of our request; fuzzed
 * (t/fuzz/fuzz_node_pmp.c). */
#ifndef WEFT_NODE_MAGICSOCK_PMP_H
#define WEFT_NODE_MAGICSOCK_PMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMP_PORT 5351
#define PMP_EXTADDR_REQ_LEN 2
#define PMP_EXTADDR_RESP_LEN 12
#define PMP_MAP_REQ_LEN 12
#define PMP_MAP_RESP_LEN 16
#define PCP_MAP_LEN 60      /* header 24 + MAP opcode data 36 */
#define PCP_ANNOUNCE_LEN 24 /* header only */
#define PCP_NONCE_LEN 12

enum { PMP_OP_EXTADDR = 0, PMP_OP_MAP_UDP = 1 };
enum { PCP_OP_ANNOUNCE = 0, PCP_OP_MAP = 1 };
enum { PCP_VERSION = 2 };

/* NAT-PMP: "what is your external address" and "map UDP internal_port (to suggested), for lifetime s"
 * (lifetime 0 deletes). Lengths as above. */
size_t pmp_extaddr_request(uint8_t out[PMP_EXTADDR_REQ_LEN]);
size_t pmp_map_request(uint8_t out[PMP_MAP_REQ_LEN], uint16_t internal_port, uint16_t suggested, uint32_t lifetime);

struct pmp_response {
    uint8_t op;      /* the request's opcode (the response's minus 128) */
    uint16_t result; /* 0: success */
    uint32_t epoch;
    uint8_t ext_ip[4];                 /* PMP_OP_EXTADDR */
    uint16_t internal_port, ext_port; /* PMP_OP_MAP_UDP */
    uint32_t lifetime;
};
/* 0, or -1 (not a NAT-PMP response we understand). */
int pmp_response_parse(const uint8_t *p, size_t n, struct pmp_response *r);

/* PCP: ANNOUNCE (is a PCP server there?) and MAP (UDP, internal_port, a suggested external address:port,
 * lifetime s) from client_ip (16 bytes, IPv4 as ::ffff:a.b.c.d). */
size_t pcp_announce_request(uint8_t out[PCP_ANNOUNCE_LEN], const uint8_t client_ip[16]);
size_t pcp_map_request(uint8_t out[PCP_MAP_LEN], const uint8_t client_ip[16], const uint8_t nonce[PCP_NONCE_LEN],
                       uint16_t internal_port, const uint8_t *suggested_ip16, uint16_t suggested_port,
                       uint32_t lifetime);

struct pcp_response {
    uint8_t op;
    uint8_t result; /* 0: success */
    uint32_t lifetime, epoch;
    /* MAP only */
    uint8_t nonce[PCP_NONCE_LEN];
    uint8_t protocol;
    uint16_t internal_port, ext_port;
    uint8_t ext_ip[16];
};
/* 0, or -1 (not a PCP response we understand). A MAP response carries the nonce: compare it. */
int pcp_response_parse(const uint8_t *p, size_t n, struct pcp_response *r);

#endif
