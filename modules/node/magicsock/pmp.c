// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/magicsock/pmp.h"

#include <string.h>

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

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t pmp_extaddr_request(uint8_t out[PMP_EXTADDR_REQ_LEN])
{
    out[0] = 0; /* version */
    out[1] = PMP_OP_EXTADDR;
    return PMP_EXTADDR_REQ_LEN;
}

size_t pmp_map_request(uint8_t out[PMP_MAP_REQ_LEN], uint16_t internal_port, uint16_t suggested, uint32_t lifetime)
{
    memset(out, 0, PMP_MAP_REQ_LEN);
    out[1] = PMP_OP_MAP_UDP;
    put16(out + 4, internal_port);
    put16(out + 6, suggested);
    put32(out + 8, lifetime);
    return PMP_MAP_REQ_LEN;
}

int pmp_response_parse(const uint8_t *p, size_t n, struct pmp_response *r)
{
    memset(r, 0, sizeof *r);
    if (n < 8 || p[0] != 0 || p[1] < 128)
        return -1;
    r->op = (uint8_t)(p[1] - 128);
    r->result = get16(p + 2);
    r->epoch = get32(p + 4);
    switch (r->op) {
    case PMP_OP_EXTADDR:
        if (n < PMP_EXTADDR_RESP_LEN)
            return -1;
        memcpy(r->ext_ip, p + 8, 4);
        return 0;
    case PMP_OP_MAP_UDP:
        if (n < PMP_MAP_RESP_LEN)
            return -1;
        r->internal_port = get16(p + 8);
        r->ext_port = get16(p + 10);
        r->lifetime = get32(p + 12);
        return 0;
    default:
        return -1;
    }
}

static void pcp_header(uint8_t *out, uint8_t op, uint32_t lifetime, const uint8_t client_ip[16])
{
    memset(out, 0, 24);
    out[0] = PCP_VERSION;
    out[1] = op; /* R bit clear: a request */
    put32(out + 4, lifetime);
    memcpy(out + 8, client_ip, 16);
}

size_t pcp_announce_request(uint8_t out[PCP_ANNOUNCE_LEN], const uint8_t client_ip[16])
{
    pcp_header(out, PCP_OP_ANNOUNCE, 0, client_ip);
    return PCP_ANNOUNCE_LEN;
}

size_t pcp_map_request(uint8_t out[PCP_MAP_LEN], const uint8_t client_ip[16], const uint8_t nonce[PCP_NONCE_LEN],
                       uint16_t internal_port, const uint8_t *suggested_ip16, uint16_t suggested_port,
                       uint32_t lifetime)
{
    pcp_header(out, PCP_OP_MAP, lifetime, client_ip);
    uint8_t *m = out + 24;
    memset(m, 0, 36);
    memcpy(m, nonce, PCP_NONCE_LEN);
    m[12] = 17; /* UDP */
    put16(m + 16, internal_port);
    put16(m + 18, suggested_port);
    if (suggested_ip16)
        memcpy(m + 20, suggested_ip16, 16);
    else { /* "any" IPv4: ::ffff:0.0.0.0 */
        m[30] = m[31] = 0xff;
    }
    return PCP_MAP_LEN;
}

int pcp_response_parse(const uint8_t *p, size_t n, struct pcp_response *r)
{
    memset(r, 0, sizeof *r);
    if (n < 24 || n > 1100 || p[0] != PCP_VERSION || !(p[1] & 0x80))
        return -1;
    r->op = p[1] & 0x7f;
    r->result = p[3];
    r->lifetime = get32(p + 4);
    r->epoch = get32(p + 8);
    if (r->op == PCP_OP_ANNOUNCE)
        return 0;
    if (r->op != PCP_OP_MAP || n < PCP_MAP_LEN)
        return -1;
    const uint8_t *m = p + 24;
    memcpy(r->nonce, m, PCP_NONCE_LEN);
    r->protocol = m[12];
    r->internal_port = get16(m + 16);
    r->ext_port = get16(m + 18);
    memcpy(r->ext_ip, m + 20, 16);
    return 0;
}
