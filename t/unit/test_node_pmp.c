// SPDX-License-Identifier: BSD-3-Clause
/* NAT-PMP and PCP messages (modules/node/magicsock/pmp.c): requests byte for byte as RFC 6886 / 6887 lay
 * them out, responses parsed, and what is not a response refused. */
#include "config.h"

#include "modules/node/magicsock/pmp.h"
#include "t/tap.h"

int main(void)
{
    uint8_t b[PCP_MAP_LEN];
    ok(pmp_extaddr_request(b) == 2 && b[0] == 0 && b[1] == 0, "NAT-PMP external address request: 00 00");
    is_int((long long)pmp_map_request(b, 41641, 41641, 7200), 12, "NAT-PMP map request: 12 bytes");
    is_hex(b, 12, "00010000a2a9a2a900001c20", "version 0, op 1 (UDP), ports, lifetime");
    static const uint8_t ext[] = {0, 128, 0, 0, 0, 0, 0, 9, 203, 0, 113, 7};
    struct pmp_response r;
    ok(pmp_response_parse(ext, sizeof ext, &r) == 0 && r.op == 0 && r.result == 0 && r.epoch == 9 &&
           r.ext_ip[0] == 203 && r.ext_ip[3] == 7,
       "external address response");
    static const uint8_t map[] = {0, 129, 0, 0, 0, 0, 0, 9, 0xa2, 0xa9, 0xa2, 0xaa, 0, 0, 0x1c, 0x20};
    ok(pmp_response_parse(map, sizeof map, &r) == 0 && r.op == 1 && r.internal_port == 41641 &&
           r.ext_port == 41642 && r.lifetime == 7200,
       "map response");
    ok(pmp_response_parse(map, 15, &r) < 0, "a map response cut short is refused");
    ok(pmp_response_parse(b, 12, &r) < 0, "a request is not a response");
    static const uint8_t err[] = {0, 129, 0, 3, 0, 0, 0, 9, 0xa2, 0xa9, 0, 0, 0, 0, 0, 0};
    ok(pmp_response_parse(err, sizeof err, &r) == 0 && r.result == 3, "an error result is read (3: out of resources)");

    uint8_t me[16] = {[10] = 0xff, [11] = 0xff, 192, 168, 1, 11}, nonce[12];
    for (int i = 0; i < 12; i++)
        nonce[i] = (uint8_t)i;
    is_int((long long)pcp_announce_request(b, me), 24, "PCP ANNOUNCE: a 24-byte header");
    ok(b[0] == 2 && b[1] == 0 && b[23] == 11, "version 2, opcode 0, our address");
    is_int((long long)pcp_map_request(b, me, nonce, 41641, NULL, 41641, 7200), 60, "PCP MAP: 60 bytes");
    is_hex(b + 24, 36,
           "000102030405060708090a0b11000000a2a9a2a9" "00000000000000000000ffff00000000",
           "MAP data: nonce, UDP, ports, any IPv4 suggested");
    uint8_t resp[60];
    memcpy(resp, b, 60);
    resp[1] = 0x81;
    resp[3] = 0;
    resp[24 + 18] = 0xa2;
    resp[24 + 19] = 0xaa;
    resp[24 + 32] = 203;
    resp[24 + 35] = 7;
    struct pcp_response c;
    ok(pcp_response_parse(resp, 60, &c) == 0 && c.op == 1 && c.result == 0 && c.lifetime == 7200 &&
           c.ext_port == 41642 && c.ext_ip[12] == 203 && memcmp(c.nonce, nonce, 12) == 0,
       "MAP response: result, lifetime, nonce, external address and port");
    ok(pcp_response_parse(b, 60, &c) < 0, "a request (R bit clear) is not a response");
    ok(pcp_response_parse(resp, 59, &c) < 0, "a MAP response cut short is refused");
    resp[0] = 1;
    ok(pcp_response_parse(resp, 60, &c) < 0, "another version is refused");
    done_testing();
}
