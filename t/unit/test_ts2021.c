// SPDX-License-Identifier: BSD-3-Clause
/* ts2021 upgrade helpers and the early payload: spec/control-ts2021.md §3.7 (initiation and its
 * base64), §4, and the headscale capture (upgrade-request.txt, the 3-record early payload). */
#include "config.h"

#include "core/wire/ts2021.h"
#include "t/tap.h"

#define INIT_HEX \
    "0091010060a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209" \
    "427da9adfcb9076db51a9da3e0856733959977fd64c1fe2659f23eca3ac4e27901dbb4dfb2c5939ae0ac98ef9a075918" \
    "fab4c9d10c4da7ea13d10e63820e5c09"
#define INIT_B64 \
    "AJEBAGCk4JKStlHCeLl3LFafX6m7E9kGtGq2jJ353CtECfiiCUJ9qa38uQdttRqdo+CFZzOVmXf9ZMH+JlnyPso6xOJ5Adu0" \
    "37LFk5rgrJjvmgdZGPq0ydEMTafqE9EOY4IOXAk="
/* From testdata/captures/upgrade-request.txt (headscale v0.26.1 <-> tailscaled v1.68.2, version 97). */
#define CAPTURE_B64 \
    "AGEBAGAHIAE2O/F2pD92+1IogNQxg1ZFtVp4zXzvCyatw7LrFSYZCHn+eTqApvvv8r1K9ZixOWt0F60qFKMlLk4inx4LInpf" \
    "lYjonQ4Nmwsx/mQufy1BUJPH+sgZEZoX8IMCOTk="
#define CAPTURE_JSON \
    "{\"nodeKeyChallenge\":\"chalpub:00fe058a136cd397d92ec3d5f881a0279dfde7bb50d1ae53429767a2058a3643\"}"

static void test_upgrade(void)
{
    uint8_t init[TS2021_INIT_LEN], back[TS2021_INIT_LEN];
    char b64[200], req[600];
    unhex(INIT_HEX, init, sizeof(init));
    long n = ts2021_base64_encode(b64, sizeof(b64), init, sizeof(init));
    is_str(n == 136 ? b64 : NULL, INIT_B64,
           "X-Tailscale-Handshake of the §3.7 initiation (std base64, padded)");
    ok(ts2021_base64_encode(b64, 136, init, sizeof(init)) < 0, "base64 needs room for the NUL");

    n = ts2021_http_request(req, sizeof(req), "127.0.0.1:18081", init);
    is_str(n > 0 ? req : NULL,
           "POST /ts2021 HTTP/1.1\r\nHost: 127.0.0.1:18081\r\nUser-Agent: weft/" PACKAGE_VERSION "\r\n"
           "Content-Length: 0\r\nConnection: upgrade\r\nUpgrade: tailscale-control-protocol\r\n"
           "X-Tailscale-Handshake: " INIT_B64 "\r\n\r\n",
           "client upgrade request (Go's header order)");
    ok(ts2021_http_request(req, sizeof(req), "a\nb", init) < 0, "newline in Host is refused");

    ok(ts2021_handshake_header_parse(INIT_B64, back) == TS2021_HS_OK && !memcmp(back, init, sizeof(init)),
       "server decodes the §3.7 header back to the initiation");
    ok(ts2021_handshake_header_parse(CAPTURE_B64, back) == TS2021_HS_OK && back[0] == 0 && back[1] == 0x61 &&
           back[2] == 1 && back[3] == 0 && back[4] == 0x60,
       "captured header: version 97, type 1, length 96");
    ok(ts2021_handshake_header_parse(NULL, back) == TS2021_HS_BAD, "absent header: 400");
    ok(ts2021_handshake_header_parse("AJEB*AGC", back) == TS2021_HS_BAD, "not base64: 400");
    ok(ts2021_handshake_header_parse("AJEBAGCk", back) == TS2021_HS_BAD_LEN, "6 bytes: Noise error frame");
    char unpadded[200];
    strcpy(unpadded, INIT_B64);
    unpadded[strlen(unpadded) - 1] = 0;
    ok(ts2021_handshake_header_parse(unpadded, back) == TS2021_HS_BAD, "missing padding: 400 (StdEncoding)");

    ok(ts2021_upgrade_kind("Tailscale-Control-Protocol") == TS2021_UPGRADE_CONTROL &&
           ts2021_upgrade_kind("websocket") == TS2021_UPGRADE_WEBSOCKET &&
           ts2021_upgrade_kind("DERP") == TS2021_UPGRADE_NONE &&
           ts2021_upgrade_kind(NULL) == TS2021_UPGRADE_NONE,
       "Upgrade header kinds");
    n = ts2021_http_response_101(req, sizeof(req));
    is_str(n > 0 ? req : NULL,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: "
           "upgrade\r\n\r\n",
           "101 response head");
    ok(ts2021_http_response_ok(101, "tailscale-control-protocol") &&
           !ts2021_http_response_ok(200, TS2021_UPGRADE) && !ts2021_http_response_ok(101, NULL),
       "client accepts only 101 with the right Upgrade");

    uint8_t ef[64];
    n = ts2021_error_frame_encode(ef, sizeof(ef), "bad");
    is_hex(ef, (size_t)n, "030003626164", "Noise error frame: 03, BE length, text");
}

static void test_early(void)
{
    uint8_t buf[256];
    long n = ts2021_early_payload_encode(buf, sizeof(buf), "{}", 2);
    is_hex(buf, (size_t)n, "ffffff5453000000027b7d",
           "early payload \"{}\" (plaintext of server record #0, §3.7)");

    uint8_t chal[32];
    unhex("00fe058a136cd397d92ec3d5f881a0279dfde7bb50d1ae53429767a2058a3643", chal, 32);
    char json[128];
    n = ts2021_early_noise_json(json, sizeof(json), chal);
    is_str(n == 95 ? json : NULL, CAPTURE_JSON, "EarlyNoise JSON is 95 bytes, as captured");

    /* Headscale writes 5 magic bytes, 4 length bytes and the JSON as three records, then HTTP/2. */
    uint8_t stream[256];
    size_t len = (size_t)ts2021_early_payload_encode(stream, sizeof(stream), CAPTURE_JSON, 95);
    const uint8_t settings[9] = {0, 0, 0x1e, 4, 0, 0, 0, 0, 0};
    memcpy(stream + len, settings, 9);
    struct ts2021_early e;
    ts2021_early_init(&e);
    long a = ts2021_early_feed(&e, stream, 5);
    long b = ts2021_early_feed(&e, stream + 5, 4);
    ok(a == 5 && b == 4 && e.state == TS2021_EARLY_READING && e.json_len == 95, "magic and length records");
    long c = ts2021_early_feed(&e, stream + 9, 95 + 9); /* JSON record and HTTP/2 in one read */
    ok(c == 95 && e.state == TS2021_EARLY_GOT && !strcmp(e.json, CAPTURE_JSON),
       "JSON record completes it; the HTTP/2 bytes after it are not consumed");
    uint8_t got[32];
    ok(ts2021_early_noise_parse(e.json, e.json_len, got) == 1 && !memcmp(got, chal, 32),
       "chalpub key parsed");
    ok(ts2021_early_feed(&e, stream + 104, 9) == 0, "after completion nothing more is consumed");
    ts2021_early_free(&e);

    /* Byte at a time. */
    ts2021_early_init(&e);
    size_t used = 0;
    for (size_t i = 0; i < len + 9; i++)
        used += (size_t)ts2021_early_feed(&e, stream + i, 1);
    ok(used == len && e.state == TS2021_EARLY_GOT && e.json_len == 95, "byte-at-a-time feed");
    ts2021_early_free(&e);

    /* No early payload: the stream starts with an HTTP/2 frame. */
    ts2021_early_init(&e);
    n = ts2021_early_feed(&e, settings, 9);
    ok(n == 1 && e.state == TS2021_EARLY_NONE && e.hdr_have == 1 && e.hdr[0] == 0,
       "HTTP/2 first: decided on the first byte, which is handed back");
    ts2021_early_free(&e);
    ts2021_early_init(&e);
    const uint8_t almost[] = {0xff, 0xff, 0xff, 'T', 'X'};
    n = ts2021_early_feed(&e, almost, 5);
    ok(n == 5 && e.state == TS2021_EARLY_NONE && e.hdr_have == 5, "mismatch in the 5th magic byte");
    ts2021_early_free(&e);

    ts2021_early_init(&e);
    const uint8_t huge[9] = {0xff, 0xff, 0xff, 'T', 'S', 0x00, 0xa0, 0x00, 0x01};
    ok(ts2021_early_feed(&e, huge, 9) < 0 && e.state == TS2021_EARLY_ERROR,
       "length over 10 MiB is an error");
    ts2021_early_free(&e);
    ts2021_early_init(&e);
    const uint8_t empty[9] = {0xff, 0xff, 0xff, 'T', 'S', 0, 0, 0, 0};
    ok(ts2021_early_feed(&e, empty, 9) == 9 && e.state == TS2021_EARLY_GOT && e.json_len == 0,
       "zero-length payload completes at once");
    ts2021_early_free(&e);

    ok(ts2021_early_noise_parse("{}", 2, got) == 0, "EarlyNoise without a challenge");
    ok(ts2021_early_noise_parse("{\"nodeKeyChallenge\":\"nodekey:00\"}", 33, got) < 0, "wrong prefix");
    ok(ts2021_early_noise_parse("{\"nodeKeyChallenge\"", 19, got) < 0, "truncated JSON");
}

int main(void)
{
    test_upgrade();
    test_early();
    return done_testing();
}
