// SPDX-License-Identifier: BSD-3-Clause
/* DERP frames against the byte-exact vectors of spec/derp.md §3.1 (verified against Go). */
#include "config.h"

#include <sodium.h>

#include "core/wire/derp_frame.h"
#include "t/tap.h"

#define ALICE_PRIV "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define BOB_PUB "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define NONCE "000102030405060708090a0b0c0d0e0f1011121314151617"

#define SERVER_KEY_FRAME "010000002844455250f09f9491" BOB_PUB
#define CLIENT_INFO_FRAME \
    "0200000068" ALICE_PUB NONCE \
    "f857ec21fe9b663e37a51ed82b058c047e6c26c069053c122ea5a24c8fa8fbbf8f83ba8b258ec2ea09f11d4e345f8b61"
#define SERVER_INFO_FRAME "0300000035" NONCE "11e118cc364743f90f807d6f5edac2477e6c26c069053c122ea5a24cde"

static uint8_t alice_priv[32], alice_pub[32], bob_priv[32], bob_pub[32], nonce[24];

static void test_vectors(void)
{
    uint8_t buf[512];
    long n;

    n = derp_server_key_encode(buf, sizeof(buf), bob_pub);
    is_hex(buf, (size_t)n, SERVER_KEY_FRAME, "ServerKey frame matches the spec vector");

    struct derp_client_info ci = {.version = 2, .can_ack_pings = true};
    char json[256];
    n = derp_client_info_to_json(&ci, json, sizeof(json));
    is_str(n > 0 ? json : NULL, "{\"version\":2,\"CanAckPings\":true}",
           "ClientInfo JSON as tailscaled sends it");

    n = derp_client_info_seal(buf, sizeof(buf), alice_priv, alice_pub, bob_pub, nonce, &ci);
    is_hex(buf, n > 0 ? (size_t)n : 0, CLIENT_INFO_FRAME, "sealed ClientInfo frame matches the spec vector");

    struct derp_server_info si = {.version = 2};
    n = derp_server_info_to_json(&si, json, sizeof(json));
    is_str(n > 0 ? json : NULL, "{\"version\":2}", "ServerInfo JSON");
    n = derp_server_info_seal(buf, sizeof(buf), bob_priv, alice_pub, nonce, &si);
    is_hex(buf, n > 0 ? (size_t)n : 0, SERVER_INFO_FRAME, "sealed ServerInfo frame matches the spec vector");

    n = derp_note_preferred_encode(buf, sizeof(buf), true);
    is_hex(buf, (size_t)n, "070000000101", "NotePreferred(true)");
    const uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    n = derp_ping_encode(buf, sizeof(buf), ping);
    is_hex(buf, (size_t)n, "12000000080102030405060708", "Ping 01..08");
    n = derp_pong_encode(buf, sizeof(buf), ping);
    is_hex(buf, (size_t)n, "13000000080102030405060708", "Pong 01..08");
    n = derp_peer_gone_encode(buf, sizeof(buf), bob_pub, DERP_PEER_GONE_NOT_HERE);
    is_hex(buf, (size_t)n, "0800000021" BOB_PUB "01", "PeerGone(K, NotHere)");
    n = derp_keep_alive_encode(buf, sizeof(buf));
    is_hex(buf, (size_t)n, "0600000000", "KeepAlive is an empty frame");
    n = derp_watch_conns_encode(buf, sizeof(buf));
    is_hex(buf, (size_t)n, "1000000000", "WatchConns is an empty frame");
    n = derp_restarting_encode(buf, sizeof(buf), 1500, 60000);
    is_hex(buf, (size_t)n, "1500000008000005dc0000ea60", "Restarting: two BE uint32 durations");
    uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    n = derp_peer_present_encode(buf, sizeof(buf), alice_pub, ip, 41641, DERP_PEER_PRESENT_IS_REGULAR);
    is_hex(buf, (size_t)n, "0900000033" ALICE_PUB "00000000000000000000ffffc0000201a2a901",
           "PeerPresent: key, v4-mapped IP, port, flags (51 bytes)");
    n = derp_close_peer_encode(buf, sizeof(buf), alice_pub);
    is_hex(buf, (size_t)n, "1100000020" ALICE_PUB, "ClosePeer");
    n = derp_health_encode(buf, sizeof(buf), "dup", 3);
    is_hex(buf, (size_t)n, "1400000003647570", "Health text");
}

static void test_open(void)
{
    uint8_t frame[512], client_key[32];
    long n = unhex(CLIENT_INFO_FRAME, frame, sizeof(frame));
    struct derp_client_info ci;
    ok(derp_client_info_open(frame + 5, (size_t)n - 5, bob_priv, client_key, &ci) == 0,
       "server opens the ClientInfo vector");
    ok(!memcmp(client_key, alice_pub, 32), "client key is alice");
    ok(ci.version == 2 && ci.can_ack_pings && !ci.is_prober && !ci.has_mesh_key, "ClientInfo fields");
    frame[n - 1] ^= 1;
    ok(derp_client_info_open(frame + 5, (size_t)n - 5, bob_priv, client_key, &ci) < 0,
       "a flipped ciphertext bit is refused");
    frame[n - 1] ^= 1;
    ok(derp_client_info_open(frame + 5, (size_t)n - 5, alice_priv, client_key, &ci) < 0,
       "the wrong server key is refused");

    n = unhex(SERVER_INFO_FRAME, frame, sizeof(frame));
    struct derp_server_info si;
    ok(derp_server_info_open(frame + 5, (size_t)n - 5, alice_priv, bob_pub, &si) == 0 && si.version == 2,
       "client opens the ServerInfo vector: version 2");
    ok(derp_server_info_open(frame + 5, 39, alice_priv, bob_pub, &si) < 0,
       "ServerInfo shorter than nonce+tag");

    /* Round trip with every optional field. */
    struct derp_client_info full = {
        .has_mesh_key = true, .version = 2, .can_ack_pings = true, .is_prober = true};
    memset(full.mesh_key, 0xab, 32);
    strcpy(full.app_name, "weft-mesh");
    char json[512];
    long jl = derp_client_info_to_json(&full, json, sizeof(json));
    is_str(jl > 0 ? json : NULL,
           "{\"meshKey\":\"abababababababababababababababababababababababababababababababab\",\"version\":2,"
           "\"CanAckPings\":true,\"IsProber\":true,\"AppName\":\"weft-mesh\"}",
           "full ClientInfo JSON in Go's field order");
    n = derp_client_info_seal(frame, sizeof(frame), alice_priv, alice_pub, bob_pub, NULL, &full);
    struct derp_client_info back;
    ok(n > 0 && derp_client_info_open(frame + 5, (size_t)n - 5, bob_priv, client_key, &back) == 0 &&
           back.has_mesh_key && !memcmp(back.mesh_key, full.mesh_key, 32) && back.is_prober &&
           !strcmp(back.app_name, "weft-mesh"),
       "ClientInfo round trip with random nonce and all fields");
    ok(derp_client_info_seal(frame, 60, alice_priv, alice_pub, bob_pub, NULL, &full) < 0,
       "seal refuses a buffer that is too small");
}

static void test_json(void)
{
    struct derp_client_info ci;
    const char *j = "{\"Version\":2,\"canackpings\":true,\"Unknown\":[1,2]}";
    ok(derp_client_info_from_json(j, strlen(j), &ci) == 0 && ci.version == 2 && ci.can_ack_pings,
       "keys match case-insensitively and unknown keys are ignored (as Go)");
    j = "{\"version\":\"2\"}";
    ok(derp_client_info_from_json(j, strlen(j), &ci) < 0, "a string version is refused");
    j = "{\"meshKey\":\"abcd\"}";
    ok(derp_client_info_from_json(j, strlen(j), &ci) < 0, "a short meshKey is refused");
    j = "{\"version\":2} x";
    ok(derp_client_info_from_json(j, strlen(j), &ci) < 0, "trailing garbage is refused");
    j = "[1]";
    ok(derp_client_info_from_json(j, strlen(j), &ci) < 0, "a non-object is refused");
    j = "{\"version\":2,\"CanAckPings\":null}\n";
    ok(derp_client_info_from_json(j, strlen(j), &ci) == 0 && !ci.can_ack_pings, "null leaves the default");
    struct derp_server_info si;
    j = "{\"version\":2,\"TokenBucketBytesPerSecond\":1000000,\"TokenBucketBytesBurst\":65568}";
    ok(derp_server_info_from_json(j, strlen(j), &si) == 0 && si.token_bucket_bytes_per_second == 1000000 &&
           si.token_bucket_bytes_burst == 65568,
       "ServerInfo token bucket fields");
}

static void test_parser(void)
{
    uint8_t stream[1024];
    size_t len = 0;
    len += (size_t)unhex(SERVER_KEY_FRAME, stream + len, sizeof(stream) - len);
    len += (size_t)unhex("0b00000003aabbcc", stream + len, sizeof(stream) - len); /* unknown type 0x0b */
    len += (size_t)unhex(SERVER_INFO_FRAME, stream + len, sizeof(stream) - len);
    len += (size_t)unhex("0600000000", stream + len, sizeof(stream) - len);

    /* Feed the stream one byte at a time, as a socket could deliver it. */
    uint8_t want_types[] = {0x01, 0x0b, 0x03, 0x06};
    uint32_t want_lens[] = {40, 3, 53, 0};
    size_t have = 0, off = 0;
    int frames = 0, bad = 0;
    while (have < len || off < have) {
        if (have < len)
            have++;
        struct derp_frame f;
        long r = derp_frame_parse(stream + off, have - off, DERP_MAX_FRAME_SIZE, &f);
        if (r < 0) {
            bad++;
            break;
        }
        if (r == 0) {
            if (have == len)
                break;
            continue;
        }
        if (frames >= 4 || f.type != want_types[frames] || f.len != want_lens[frames] ||
            f.payload != stream + off + 5)
            bad++;
        if (f.type == DERP_FRAME_SERVER_KEY) {
            struct derp_server_key sk;
            if (derp_server_key_decode(f.payload, f.len, &sk) < 0 || memcmp(sk.key, bob_pub, 32))
                bad++;
        }
        frames++;
        off += (size_t)r;
    }
    ok(frames == 4 && bad == 0 && off == len,
       "byte-at-a-time parse yields 4 frames incl. unknown type 0x0b");

    struct derp_frame f;
    uint8_t hdr[5];
    derp_frame_header_put(hdr, DERP_FRAME_SEND_PACKET, DERP_MAX_FRAME_SIZE + 1);
    ok(derp_frame_parse(hdr, 5, DERP_MAX_FRAME_SIZE, &f) == DERP_PARSE_OVERSIZED,
       "oversized frame is an error");
    derp_frame_header_put(hdr, DERP_FRAME_SEND_PACKET, 100);
    ok(derp_frame_parse(hdr, 5, DERP_MAX_FRAME_SIZE, &f) == 0 && f.len == 100 && f.type == 4,
       "partial frame: need more, header known");
    ok(derp_frame_parse(hdr, 3, DERP_MAX_FRAME_SIZE, &f) == 0, "partial header: need more");
    derp_frame_header_put(hdr, 0xff, 0xffffffffu);
    ok(derp_frame_parse(hdr, 5, 0xffffffffu, &f) == 0 && f.len == 0xffffffffu,
       "4 GiB length with no cap does not overflow");
}

static void test_decoders(void)
{
    uint8_t p[2000] = {0};
    struct derp_packet pk;
    struct derp_peer_gone pg;
    struct derp_peer_present pp;
    const uint8_t *v;
    bool pref;
    memcpy(p, alice_pub, 32);
    memcpy(p + 32, bob_pub, 32);
    ok(derp_send_packet_decode(p, 32 + 1400, &pk) == 0 && pk.dst_key == p && !pk.src_key &&
           pk.data == p + 32 && pk.data_len == 1400,
       "SendPacket: dst key then data");
    ok(derp_send_packet_decode(p, 31, &pk) < 0, "SendPacket shorter than a key");
    ok(derp_send_packet_decode(p, 32 + DERP_MAX_PACKET_SIZE + 1, &pk) < 0, "SendPacket over 64 KiB");
    ok(derp_send_packet_decode(p, 32, &pk) == 0 && pk.data_len == 0, "empty SendPacket is fine");
    ok(derp_forward_packet_decode(p, 64 + 10, &pk) == 0 && pk.src_key == p && pk.dst_key == p + 32 &&
           pk.data_len == 10,
       "ForwardPacket: src, dst, data");
    ok(derp_recv_packet_decode(p, 40, &pk) == 0 && pk.src_key == p && pk.data_len == 8, "RecvPacket");
    ok(derp_peer_gone_decode(p, 32, &pg) == 0 && pg.reason == DERP_PEER_GONE_DISCONNECTED,
       "PeerGone without a reason byte = disconnected");
    ok(derp_peer_present_decode(p, 32, &pp) == 0 && !pp.has_addr && !pp.has_flags, "PeerPresent key-only");
    p[32 + 16] = 0xa2;
    p[32 + 17] = 0xa9;
    p[50] = 3;
    ok(derp_peer_present_decode(p, 50, &pp) == 0 && pp.has_addr && pp.port == 41641 && !pp.has_flags,
       "PeerPresent with address, no flags");
    ok(derp_peer_present_decode(p, 51, &pp) == 0 && pp.has_flags && pp.flags == 3, "PeerPresent with flags");
    ok(derp_note_preferred_decode(p, 2, &pref) < 0, "NotePreferred must be 1 byte");
    ok(derp_ping_decode(p, 7, &v) < 0 && derp_ping_decode(p, 1000, &v) == 0 &&
           derp_ping_decode(p, 1001, &v) < 0,
       "Ping: 8..1000 bytes");
    ok(derp_close_peer_decode(p, 33, &v) < 0 && derp_close_peer_decode(p, 32, &v) == 0,
       "ClosePeer: exactly a key");
    uint8_t bad_magic[40] = "DERP!!!!";
    struct derp_server_key sk;
    ok(derp_server_key_decode(bad_magic, 40, &sk) < 0, "ServerKey with a wrong magic");
    struct derp_restarting rs;
    uint8_t r8[8] = {0, 0, 5, 0xdc, 0, 0, 0xea, 0x60};
    ok(derp_restarting_decode(r8, 8, &rs) == 0 && rs.reconnect_in_ms == 1500 && rs.try_for_ms == 60000,
       "Restarting durations");

    uint8_t hdr[80];
    long n = derp_packet_header_encode(hdr, sizeof(hdr), DERP_FRAME_SEND_PACKET, bob_pub, NULL, 1400);
    is_hex(hdr, n > 0 ? 5 : 0, "0400000598", "SendPacket header for a gather write: len 32+1400");
    ok(n == 37 &&
           derp_packet_header_encode(hdr, sizeof(hdr), DERP_FRAME_FORWARD_PACKET, bob_pub, NULL, 1) < 0,
       "ForwardPacket header needs two keys");
}

static void test_http(void)
{
    char buf[512];
    long n = derp_http_request(buf, sizeof(buf), "derp.example.com", NULL, false);
    ok(n > 0 &&
           !strncmp(buf,
                    "GET /derp HTTP/1.1\r\nHost: derp.example.com\r\nUpgrade: DERP\r\n"
                    "Connection: Upgrade\r\n",
                    77) &&
           !strstr(buf, "Fast-Start") && !strcmp(buf + n - 4, "\r\n\r\n"),
       "client upgrade request");
    n = derp_http_request(buf, sizeof(buf), "h", "900a", true);
    ok(n > 0 && strstr(buf, "\r\nIdeal-Node: 900a\r\n") && strstr(buf, "\r\nDerp-Fast-Start: 1\r\n"),
       "Ideal-Node and Derp-Fast-Start when asked");
    ok(derp_http_request(buf, sizeof(buf), "h\r\nX: y", NULL, false) < 0, "CR/LF in Host is refused");
    n = derp_http_response_101(buf, sizeof(buf), bob_pub);
    is_str(n > 0 ? buf : NULL,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n"
           "Derp-Public-Key: " BOB_PUB "\r\n\r\n",
           "101 response with bare hex key");
    ok(derp_http_response_101(buf, 50, bob_pub) < 0, "101 response into a short buffer");
    uint8_t k[32];
    ok(derp_http_parse_public_key(" DE9EDB7D7B7DC1B4D35B61C2ECE435373F8343C85B78674DADFC7E146F882B4F ", k) ==
               0 &&
           !memcmp(k, bob_pub, 32),
       "Derp-Public-Key parses upper-case hex");
    ok(derp_http_parse_public_key("nodekey:" BOB_PUB, k) < 0, "a prefixed key is not a bare key");
    ok(derp_http_upgrade_kind("derp") == DERP_UPGRADE_DERP &&
           derp_http_upgrade_kind("WebSocket") == DERP_UPGRADE_WEBSOCKET &&
           derp_http_upgrade_kind("h2c") == DERP_UPGRADE_NONE &&
           derp_http_upgrade_kind(NULL) == DERP_UPGRADE_NONE,
       "Upgrade header kinds");
    ok(derp_http_fast_start("1") && !derp_http_fast_start("true") && !derp_http_fast_start(NULL),
       "fast start only for \"1\"");

    n = derp_generate_204_response("abc-1.2_x:y", buf, sizeof(buf));
    is_str(n > 0 ? buf : NULL, "response abc-1.2_x:y", "generate_204 answers a valid challenge");
    ok(derp_generate_204_response("bad/char", buf, sizeof(buf)) == 0, "no answer for a bad character");
    char c65[66];
    memset(c65, 'a', 65);
    c65[65] = 0;
    ok(derp_generate_204_response(c65, buf, sizeof(buf)) == 0, "no answer for 65 chars");
    c65[64] = 0;
    ok(derp_generate_204_response(c65, buf, sizeof(buf)) == 73, "64 chars are answered");
    ok(derp_generate_204_response("", buf, sizeof(buf)) == 0 &&
           derp_generate_204_response(NULL, buf, 10) == 0,
       "no answer without a challenge");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    unhex(ALICE_PRIV, alice_priv, 32);
    unhex(ALICE_PUB, alice_pub, 32);
    unhex(BOB_PRIV, bob_priv, 32);
    unhex(BOB_PUB, bob_pub, 32);
    unhex(NONCE, nonce, 24);
    test_vectors();
    test_open();
    test_json();
    test_parser();
    test_decoders();
    test_http();
    ok(!strcmp(derp_frame_type_name(0x0a), "ForwardPacket") && !derp_frame_type_name(0x0b),
       "frame type names");
    return done_testing();
}
