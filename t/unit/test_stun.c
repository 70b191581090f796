// SPDX-License-Identifier: BSD-3-Clause
/* STUN: Tailscale's request layout, RFC 5769 §2.1 (a third-party request with FINGERPRINT),
 * response vectors from tailscale's stun_test.go and spec/derp.md §8. */
#include "config.h"

#include "core/wire/stun.h"
#include "t/tap.h"

/* Request for txid 01..0c; FINGERPRINT computed independently (zlib.crc32 ^ 0x5354554e). */
#define TS_REQUEST \
    "000100142112a442" \
    "0102030405060708090a0b0c" \
    "802200087461696c6e6f6465" \
    "80280004b32c370f"
/* RFC 5769 §2.1 sample request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY,
 * FINGERPRINT. */
#define RFC5769_REQUEST \
    "000100582112a442b7e7a701bc34d686fa87dfae" \
    "80220010" \
    "5354554e207465737420636c69656e74" \
    "002400046e0001ff" \
    "80290008932ff9b151263b36" \
    "000600096576746a3a68367659202020" \
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2" \
    "80280004e57a3bcf"

static int is_v4(const struct stun_addr *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a->ip, pre, 12) && a->ip[12] == b0 && a->ip[13] == b1 && a->ip[14] == b2 &&
           a->ip[15] == b3;
}

int main(void)
{
    uint8_t buf[256], pkt[256], txid[12];
    struct stun_request r;
    struct stun_addr a;
    const uint8_t *tx;
    long n;

    is_int(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926, "CRC-32 check value");
    unhex("0102030405060708090a0b0c", txid, 12);
    n = stun_request_encode(buf, sizeof(buf), txid);
    is_hex(buf, (size_t)n, TS_REQUEST, "binding request as tailscaled builds it (40 bytes)");
    ok(stun_request_parse(buf, (size_t)n, &r) == 0 && r.software_tailnode && r.has_fingerprint &&
           !memcmp(r.tx_id, txid, 12),
       "our request parses: tailnode, fingerprint, txid");
    buf[27] ^= 1;
    ok(stun_request_parse(buf, (size_t)n, &r) < 0, "a changed byte breaks the FINGERPRINT");
    ok(stun_request_encode(buf, 39, txid) < 0, "request into 39 bytes does not fit");

    n = unhex(RFC5769_REQUEST, pkt, sizeof(pkt));
    ok(stun_request_parse(pkt, (size_t)n, &r) == 0 && r.has_fingerprint && !r.software_tailnode,
       "RFC 5769 sample request: FINGERPRINT verifies, SOFTWARE is not tailnode");
    ok(stun_request_parse(pkt, (size_t)n - 1, &r) < 0, "datagram shorter than the length field");

    n = unhex("000000002112a442"
              "0102030405060708090a0b0c",
              pkt, sizeof(pkt));
    pkt[1] = 1;
    ok(stun_request_parse(pkt, 20, &r) == 0 && !r.has_fingerprint && !r.software_tailnode,
       "a bare RFC 5389 binding request (no attributes) is accepted");
    n = unhex("000100102112a442"
              "0102030405060708090a0b0c"
              "80280004b32c370f"
              "802200087461696c",
              pkt, sizeof(pkt));
    ok(stun_request_parse(pkt, (size_t)n, &r) < 0, "FINGERPRINT that is not last is refused");
    n = unhex("000100082112a442"
              "0102030405060708090a0b0c"
              "80220009"
              "74616900",
              pkt, sizeof(pkt));
    ok(stun_request_parse(pkt, (size_t)n, &r) < 0, "attribute longer than the message is refused");
    n = unhex("010100002112a442"
              "0102030405060708090a0b0c",
              pkt, sizeof(pkt));
    ok(stun_request_parse(pkt, (size_t)n, &r) < 0, "a response is not a request");

    /* Responses. */
    n = unhex("0101000c2112a4422360b11e3ec68ffa93e0800700200008"
              "0001c7866957856f",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) == 0 && is_v4(&a, 72, 69, 33, 45) && a.port == 59028,
       "spec/derp.md §8 example (Google): 72.69.33.45:59028");
    is_hex(tx, 12, "2360b11e3ec68ffa93e08007", "its txid");
    uint8_t rebuilt[64];
    long rn = stun_response_encode(rebuilt, sizeof(rebuilt), tx, &a);
    ok(rn == STUN_RESPONSE_V4_LEN && !memcmp(rebuilt, pkt, (size_t)rn),
       "our server builds the same 32 bytes");

    /* stuntman IPv6 (MAPPED-ADDRESS, 0x802b, XOR-MAPPED-ADDRESS), from stun_test.go. */
    n = unhex("010100482112a44206f56685d28af3e69ce341e2000100140002"
              "90ce260200d1b4cfc10038b231fffeef96f6"
              "802b00140002"
              "0d962604a880000200d10000000000c57001"
              "002000140002b1dc0710a493b23aa785ea38c219"
              "620cd714",
              pkt, sizeof(pkt));
    uint8_t want6[16] = {0x26, 0x02, 0x00, 0xd1, 0xb4, 0xcf, 0xc1, 0x00,
                         0x38, 0xb2, 0x31, 0xff, 0xfe, 0xef, 0x96, 0xf6};
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) == 0 && !memcmp(a.ip, want6, 16) && a.port == 37070,
       "IPv6 XOR-MAPPED-ADDRESS: [2602:d1:b4cf:c100:38b2:31ff:feef:96f6]:37070");
    rn = stun_response_encode(rebuilt, sizeof(rebuilt), tx, &a);
    struct stun_addr b;
    const uint8_t *tx2;
    ok(rn == STUN_RESPONSE_V6_LEN && stun_response_parse(rebuilt, (size_t)rn, &tx2, &b) == 0 &&
           !memcmp(b.ip, want6, 16) && b.port == 37070 && !memcmp(tx2, tx, 12),
       "IPv6 response round trip (44 bytes)");
    is_hex(rebuilt, 44,
           "010100182112a44206f56685d28af3e69ce341e2"
           "002000140002b1dc0710a493b23aa785ea38c219620cd714",
           "IPv6 response: header + the same XOR-MAPPED-ADDRESS bytes stuntman sent");

    /* pion: SOFTWARE with padding, XOR-MAPPED, FINGERPRINT, then trailing bytes beyond the length. */
    n = unhex("010100242112a442ebc2d36ef471217c4f3e308e8022000a656e64706f696e7465720000"
              "002000080001ce665e12a443"
              "80280004b699bb02"
              "010100242112a442",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) == 0 && is_v4(&a, 127, 0, 0, 1) && a.port == 61300,
       "pion response with trailing bytes: 127.0.0.1:61300");

    /* sipgate: MAPPED-ADDRESS first, then 0x8020 (XOR-MAPPED alt) wins. */
    n = unhex("010100442112a442482eb64715e8b28eaead644400010008"
              "0001e4ab4845212d"
              "000400080001"
              "2710d90a4498"
              "000500080001"
              "2711d9747a8a"
              "802000080001c5b96957856f"
              "80220010566f766964612e6f726720302e393600",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) == 0 && is_v4(&a, 72, 69, 33, 45) && a.port == 58539,
       "0x8020 XOR-MAPPED-ADDRESS is preferred over MAPPED-ADDRESS");
    /* MAPPED-ADDRESS only. */
    n = unhex("0101000c2112a442482eb64715e8b28eaead6444000100080001e4ab4845212d", pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) == 0 && is_v4(&a, 72, 69, 33, 45) && a.port == 58539,
       "MAPPED-ADDRESS is the fallback");
    n = unhex("010100082112a442482eb64715e8b28eaead644480220004"
              "61626364",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) < 0, "no address attribute: error");
    n = unhex("0101000c2112a4422360b11e3ec68ffa93e0800700200008"
              "0003c7866957856f",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, (size_t)n, &tx, &a) < 0, "unknown address family: error");
    n = unhex("0101000c2112a4422360b11e3ec68ffa93e0800700200008"
              "0001c7866957856f",
              pkt, sizeof(pkt));
    ok(stun_response_parse(pkt, 31, &tx, &a) < 0, "truncated response: error");
    pkt[4] = 0;
    ok(!stun_is(pkt, (size_t)n) && stun_response_parse(pkt, (size_t)n, &tx, &a) < 0,
       "wrong cookie: not STUN");
    pkt[4] = 0x21;
    pkt[0] = 0x41;
    ok(!stun_is(pkt, (size_t)n), "top bits set: not STUN");
    return done_testing();
}
