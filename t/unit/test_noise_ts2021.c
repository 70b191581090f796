// SPDX-License-Identifier: BSD-3-Clause
/* ts2021 Noise IK handshake and records: the spec's transcript (control-ts2021.md §3.7) byte for byte,
 * plus the failure paths. */
#include "config.h"

#include <sodium.h>

#include "core/crypto/key.h"
#include "core/crypto/noise_ts2021.h"
#include "t/tap.h"

#define ALICE_PRIV "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define BOB_PUB "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"

#define INITIATION "0091010060a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209" \
    "427da9adfcb9076db51a9da3e0856733959977fd64c1fe2659f23eca3ac4e27901dbb4dfb2c5939ae0ac98ef9a075918" \
    "fab4c9d10c4da7ea13d10e63820e5c09"
#define RESPONSE "020030ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59" \
    "ef5fa7fa9e638393195b84ecab2ab179"
#define HHASH "acf4557b7ce1249bf5e83a4c7a69ec6c8a4c976df65d1021edb2ac8f79385a4a"
#define K1 "fc15805af72b2d0824c2023866385504b8358a1467cbcf43bfb863977a08abf2"
#define K2 "529d1d51f006412bf626d56257278de61697a7bd8eca8eeecda9ba2fb254fdf1"
#define C_REC0 "040015ca3374bdc942685a3ed31a55f49044b887b49cfcca"
#define C_REC1 "040015c15948450f52f7e4b687aceb3d2de58d4bb9d2e4cb"
#define S_REC0 "04001b8c20062b5b3e8bb599db65afd02bbbd3f2f1d83862d3fe404541ae"

static uint8_t machine_priv[32], machine_pub[32], control_priv[32], control_pub[32];
static uint8_t eph_c[32], eph_s[32];

/* Runs the §3.7 handshake; fills both transports. */
static int handshake(struct ts2021_transport *ct, struct ts2021_transport *st, uint16_t version)
{
    struct ts2021_handshake ch, sh;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN], mpub[32];
    uint16_t v;
    if (ts2021_initiator_start(&ch, init, machine_priv, control_pub, version, eph_c) != 0)
        return -1;
    if (ts2021_responder_read(&sh, init, sizeof(init), control_priv, NULL, &v, mpub) != 0 || v != version)
        return -1;
    if (ts2021_responder_finish(&sh, st, resp, eph_s) != 0)
        return -1;
    return ts2021_initiator_finish(&ch, ct, resp, sizeof(resp));
}

static void test_vector(void)
{
    struct ts2021_handshake ch, sh;
    struct ts2021_transport ct, st;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN], mpub[32] = { 0 };
    uint16_t version = 0;

    is_int(ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, eph_c), 0, "initiator start");
    is_hex(init, sizeof(init), INITIATION, "initiation (101 bytes) = §3.7");
    char b64[200];
    sodium_bin2base64(b64, sizeof(b64), init, sizeof(init), sodium_base64_VARIANT_ORIGINAL);
    is_str(b64, "AJEBAGCk4JKStlHCeLl3LFafX6m7E9kGtGq2jJ353CtECfiiCUJ9qa38uQdttRqdo+CFZzOVmXf9ZMH+JlnyPso6xOJ5Adu0"
           "37LFk5rgrJjvmgdZGPq0ydEMTafqE9EOY4IOXAk=", "X-Tailscale-Handshake base64");

    is_int(ts2021_responder_read(&sh, init, sizeof(init), control_priv, control_pub, &version, mpub), 0,
           "responder reads the initiation");
    is_int(version, 145, "responder sees version 145");
    is_hex(mpub, 32, ALICE_PUB, "responder learns the machine key");
    is_int(ts2021_responder_finish(&sh, &st, resp, eph_s), 0, "responder finish");
    is_hex(resp, sizeof(resp), RESPONSE, "response (51 bytes) = §3.7");
    is_int(ts2021_initiator_finish(&ch, &ct, resp, sizeof(resp)), 0, "initiator finish");

    is_hex(ct.handshake_hash, 32, HHASH, "client handshake hash");
    is_hex(st.handshake_hash, 32, HHASH, "server handshake hash");
    is_hex(ct.tx.key, 32, K1, "client sends with k1");
    is_hex(ct.rx.key, 32, K2, "client receives with k2");
    is_hex(st.tx.key, 32, K2, "server sends with k2");
    is_hex(st.rx.key, 32, K1, "server receives with k1");
    is_hex(ct.peer, 32, BOB_PUB, "client transport knows the control key");
    is_hex(st.peer, 32, ALICE_PUB, "server transport knows the machine key");
    is_int(ct.version, 145, "transport version");
    ok(sodium_is_zero((uint8_t *)&ch, sizeof(ch)) && sodium_is_zero((uint8_t *)&sh, sizeof(sh)),
       "handshake states wiped after finishing");

    uint8_t rec[64], pt[64];
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"hello", 5), 24, "client record #0 length");
    is_hex(rec, 24, C_REC0, "client record #0 \"hello\" = §3.7");
    is_int(ts2021_open_record(&st, pt, sizeof(pt), rec, 24), 5, "server opens record #0");
    ok(memcmp(pt, "hello", 5) == 0, "\"hello\" back");
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"world", 5), 24, "client record #1 length");
    is_hex(rec, 24, C_REC1, "client record #1 \"world\" = §3.7 (big-endian nonce)");
    is_int(ts2021_open_record(&st, pt, sizeof(pt), rec, 24), 5, "server opens record #1");
    ok(memcmp(pt, "world", 5) == 0, "\"world\" back");
    static const uint8_t early[] = { 0xff, 0xff, 0xff, 0x54, 0x53, 0, 0, 0, 2, '{', '}' };
    /* In place: plaintext already at rec + 3. */
    memcpy(rec + 3, early, sizeof(early));
    is_int(ts2021_seal_record(&st, rec, sizeof(rec), rec + 3, sizeof(early)), 30, "server record #0 (in place)");
    is_hex(rec, 30, S_REC0, "server record #0 early payload = §3.7");
    is_int(ts2021_open_record(&ct, rec + 3, sizeof(rec) - 3, rec, 30), 11, "client opens it in place");
    ok(memcmp(rec + 3, early, sizeof(early)) == 0, "early payload back");

    /* Replaying an old record fails (the counter moved on) and does not advance rx. */
    uint8_t r0[24];
    unhex(C_REC0, r0, sizeof(r0));
    is_int(ts2021_open_record(&st, pt, sizeof(pt), r0, 24), TS2021_ERR_AUTH, "replayed record #0 rejected");
    is_int((long long)st.rx.nonce, 2, "rx counter not advanced by a failure");
}

static void test_handshake_failures(void)
{
    struct ts2021_handshake ch, sh;
    struct ts2021_transport ct, st;
    uint8_t init[TS2021_INITIATION_LEN], resp[TS2021_RESPONSE_LEN], bad[TS2021_INITIATION_LEN + 1];
    uint8_t mpub[32];
    uint16_t v;

    unhex(INITIATION, init, sizeof(init));
    is_int(ts2021_responder_read(&sh, init, 100, control_priv, NULL, &v, mpub), TS2021_ERR, "100 bytes rejected");
    memcpy(bad, init, sizeof(init));
    bad[101] = 0;
    is_int(ts2021_responder_read(&sh, bad, 102, control_priv, NULL, &v, mpub), TS2021_ERR, "102 bytes rejected");
    bad[2] = 2;
    is_int(ts2021_responder_read(&sh, bad, 101, control_priv, NULL, &v, mpub), TS2021_ERR, "type 2 rejected");
    memcpy(bad, init, sizeof(init));
    bad[4] = 0x61;
    is_int(ts2021_responder_read(&sh, bad, 101, control_priv, NULL, &v, mpub), TS2021_ERR, "length 97 rejected");
    memcpy(bad, init, sizeof(init));
    bad[1] = 0x90;
    is_int(ts2021_responder_read(&sh, bad, 101, control_priv, NULL, &v, mpub), TS2021_ERR_AUTH,
           "version changed in header fails (prologue binds it)");
    ok(sodium_is_zero((uint8_t *)&sh, sizeof(sh)), "failed responder state wiped");
    int flips_ok = 1;
    for (int i = 5; i < 101; i++) {
        memcpy(bad, init, sizeof(init));
        bad[i] ^= 0x04;
        if (ts2021_responder_read(&sh, bad, 101, control_priv, NULL, &v, mpub) == 0)
            flips_ok = 0;
    }
    ok(flips_ok, "any bit flip in ephemeral/static/tag fails");
    uint8_t other[32];
    memcpy(other, machine_priv, 32);
    is_int(ts2021_responder_read(&sh, init, 101, other, NULL, &v, mpub), TS2021_ERR_AUTH,
           "wrong control private key fails");
    memcpy(bad, init, sizeof(init));
    memset(bad + 5, 0, 32);
    is_int(ts2021_responder_read(&sh, bad, 101, control_priv, NULL, &v, mpub), TS2021_ERR_AUTH,
           "zero (low-order) ephemeral fails");

    /* Other versions work end to end, and the version is reported. */
    is_int(handshake(&ct, &st, 97), 0, "handshake at version 97");
    is_int(st.version, 97, "server transport version 97");
    is_int(handshake(&ct, &st, 0xffff), 0, "handshake at version 65535");

    /* Initiator side. */
    ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, eph_c);
    unhex(RESPONSE, resp, sizeof(resp));
    is_int(ts2021_initiator_finish(&ch, &ct, resp, 50), TS2021_ERR, "short response rejected");
    is_int(ts2021_initiator_finish(&ch, &ct, resp, 51), TS2021_ERR, "finish twice is a state error");
    int rflips_ok = 1;
    for (int i = 0; i < 51; i++) {
        ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, eph_c);
        resp[i] ^= 0x10;
        if (ts2021_initiator_finish(&ch, &ct, resp, 51) == 0)
            rflips_ok = 0;
        resp[i] ^= 0x10;
    }
    ok(rflips_ok, "any bit flip in the response fails");
    ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, eph_c);
    is_int(ts2021_initiator_finish(&ch, &ct, resp, 51), 0, "untouched response still works");
    ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, NULL);
    is_int(ts2021_initiator_finish(&ch, &ct, resp, 51), TS2021_ERR_AUTH, "response to another ephemeral fails");

    /* Error frame instead of a response. */
    uint8_t ef[64];
    const uint8_t *text;
    size_t tl;
    static const char msg[] = "wrong handshake initiation size";
    ssize_t n = ts2021_error_frame(ef, sizeof(ef), msg, strlen(msg));
    is_int(n, 3 + 31, "error frame length");
    is_hex(ef, 3, "03001f", "error frame header");
    ok(ts2021_error_text(ef, (size_t)n, &text, &tl) == 0 && tl == 31 && memcmp(text, msg, 31) == 0, "error text");
    is_int(ts2021_error_text(ef, (size_t)n - 1, &text, &tl), TS2021_ERR, "truncated error frame");
    is_int(ts2021_error_frame(ef, 10, msg, strlen(msg)), TS2021_ERR_SPACE, "error frame needs room");
    ts2021_initiator_start(&ch, init, machine_priv, control_pub, 145, eph_c);
    is_int(ts2021_initiator_finish(&ch, &ct, ef, (size_t)n), TS2021_ERR_SERVER, "error frame -> ERR_SERVER");
    uint8_t type = 0;
    is_int(ts2021_frame_len(ef, 3, &type), 34, "frame_len of the error frame");
    is_int(type, 3, "frame type 3");
    is_int(ts2021_frame_len(resp, 2, &type), 0, "frame_len needs 3 bytes");
    is_int(ts2021_frame_len(resp, 51, &type), 51, "frame_len of the response");

    /* Responder state machine. */
    memset(&sh, 0, sizeof(sh));
    is_int(ts2021_responder_finish(&sh, &st, resp, eph_s), TS2021_ERR, "responder finish without read");
    struct key one = { { 1 } };
    is_int(ts2021_initiator_start(&ch, init, machine_priv, one.b, 145, eph_c), TS2021_ERR_AUTH,
           "initiator refuses a low-order control key");
}

static void test_records(void)
{
    struct ts2021_transport ct, st;
    static uint8_t pt[20000], wire[21000], back[20000];
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 7 + 3);

    handshake(&ct, &st, 145);
    /* 5000 bytes -> a full 4096-byte record (header 04 0f fd) and one of 942 (§3.7). */
    is_int((long long)ts2021_sealed_len(5000), 5038, "sealed_len(5000) = 5038");
    is_int((long long)ts2021_sealed_len(0), 0, "sealed_len(0) = 0");
    is_int((long long)ts2021_sealed_len(4077), 4096, "sealed_len(4077) = 4096");
    is_int((long long)ts2021_sealed_len(4078), 4096 + 20, "sealed_len(4078)");
    is_int(ts2021_seal(&ct, wire, sizeof(wire), pt, 5000), 5038, "seal 5000 bytes");
    is_hex(wire, 3, "040ffd", "first record header 04 0f fd");
    is_hex(wire + 4096, 3, "0403ab", "second record header: 923 + 16 = 0x3ab");
    is_int(ts2021_record_len(wire, 5038), 4096, "record_len first");
    is_int(ts2021_record_len(wire + 4096, 942), 942, "record_len second");
    ssize_t a = ts2021_open_record(&st, back, sizeof(back), wire, 4096);
    ssize_t b = ts2021_open_record(&st, back + 4077, sizeof(back) - 4077, wire + 4096, 942);
    ok(a == 4077 && b == 923 && memcmp(back, pt, 5000) == 0, "both records open to the 5000 bytes");
    is_int(ts2021_seal(&ct, wire, sizeof(wire), pt, 0), 0, "seal of nothing writes nothing");
    is_int((long long)ct.tx.nonce, 2, "and uses no nonce");
    is_int(ts2021_seal(&ct, wire, 5037, pt, 5000), TS2021_ERR_SPACE, "seal needs room for everything");
    is_int((long long)ct.tx.nonce, 2, "nothing consumed when out of room");

    /* Lengths 0..20000 in odd steps round-trip through seal + record_len + open_record. */
    int bad = 0;
    for (size_t len = 0; len <= 20000 && !bad; len += 997) {
        ssize_t w = ts2021_seal(&ct, wire, sizeof(wire), pt, len);
        if (w != (ssize_t)ts2021_sealed_len(len)) {
            bad = 1;
            break;
        }
        size_t off = 0, got = 0;
        while (off < (size_t)w) {
            ssize_t rl = ts2021_record_len(wire + off, (size_t)w - off);
            if (rl <= 0 || rl > TS2021_MAX_RECORD) {
                bad = 1;
                break;
            }
            ssize_t n = ts2021_open_record(&st, back + got, sizeof(back) - got, wire + off, (size_t)rl);
            if (n < 0) {
                bad = 1;
                break;
            }
            off += (size_t)rl;
            got += (size_t)n;
        }
        if (got != len || memcmp(back, pt, len) != 0)
            bad = 1;
    }
    ok(!bad, "split/open round trip for many lengths");

    uint8_t rec[TS2021_MAX_RECORD + 16];
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), pt, 4077), 4096, "4077-byte plaintext fits one record");
    is_int(ts2021_open_record(&st, back, sizeof(back), rec, 4096), 4077, "and opens");
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), pt, 4078), TS2021_ERR, "4078 bytes do not");
    is_int(ts2021_seal_record(&ct, rec, 23, (const uint8_t *)"hello", 5), TS2021_ERR_SPACE, "record needs room");
    is_int(ts2021_seal_record(&ct, rec, 19, NULL, 0), 19, "empty record is 19 bytes");
    is_int(ts2021_open_record(&st, back, 0, rec, 19), 0, "empty record opens");
    ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"hello", 5);
    is_int(ts2021_open_record(&st, back, 4, rec, 24), TS2021_ERR_SPACE, "open needs room");
    is_int(ts2021_open_record(&st, back, 5, rec, 23), TS2021_ERR, "open needs the exact record length");
    rec[0] = 3;
    is_int(ts2021_open_record(&st, back, 5, rec, 24), TS2021_ERR, "type 3 after the handshake rejected");
    is_int(ts2021_record_len(rec, 24), TS2021_ERR, "record_len rejects type 3");
    rec[0] = 4;
    is_int(ts2021_open_record(&st, back, 5, rec, 24), 5, "then the record opens");

    /* Record length checks (header only). */
    uint8_t h[3] = { 4, 0x0f, 0xfd };
    is_int(ts2021_record_len(h, 3), 4096, "record_len 4096");
    h[2] = 0xfe;
    is_int(ts2021_record_len(h, 3), TS2021_ERR, "record_len 4097 rejected");
    h[1] = 0;
    h[2] = 15;
    is_int(ts2021_record_len(h, 3), TS2021_ERR, "record shorter than a tag rejected");
    h[2] = 16;
    is_int(ts2021_record_len(h, 3), 19, "record of just a tag");
    is_int(ts2021_record_len(h, 2), 0, "record_len needs 3 bytes");

    /* Direction keys: a client record does not open as a server record of the other direction. */
    ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"hello", 5);
    is_int(ts2021_open_record(&ct, back, 5, rec, 24), TS2021_ERR_AUTH, "own record does not open with rx key");
    ts2021_transport_wipe(&ct);
    ts2021_transport_wipe(&st);
}

static void test_nonce_exhaustion(void)
{
    struct ts2021_transport ct, st;
    uint8_t rec[64], back[64];

    handshake(&ct, &st, 145);
    ct.tx.nonce = UINT64_MAX - 2;
    st.rx.nonce = UINT64_MAX - 2;
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"a", 1), 20, "counter 2^64-3 usable");
    is_int(ts2021_open_record(&st, back, sizeof(back), rec, 20), 1, "and opens");
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"b", 1), 20, "counter 2^64-2 usable");
    is_int(ts2021_open_record(&st, back, sizeof(back), rec, 20), 1, "and opens (last)");
    is_int(ts2021_seal_record(&ct, rec, sizeof(rec), (const uint8_t *)"c", 1), TS2021_ERR_NONCE,
           "counter 2^64-1 refused for sending");
    is_int(ts2021_open_record(&st, back, sizeof(back), rec, 20), TS2021_ERR_NONCE, "and for receiving");
    ct.tx.nonce = UINT64_MAX - 2;
    is_int(ts2021_seal(&ct, back, sizeof(back), (const uint8_t *)"x", 1), 20, "seal: one record left ok");
    ct.tx.nonce = UINT64_MAX - 1;
    static uint8_t big[10000], wire[10100];
    is_int(ts2021_seal(&ct, wire, sizeof(wire), big, 5000), TS2021_ERR_NONCE, "seal needing 2 records refused");
    is_int((long long)ct.tx.nonce, (long long)(UINT64_MAX - 1), "nothing consumed");
}

int main(void)
{
    unhex(ALICE_PRIV, machine_priv, 32);
    unhex(ALICE_PUB, machine_pub, 32);
    unhex(BOB_PRIV, control_priv, 32);
    unhex(BOB_PUB, control_pub, 32);
    memset(eph_c, 0x01, 32);
    memset(eph_s, 0x02, 32);
    test_vector();
    test_handshake_failures();
    test_records();
    test_nonce_exhaustion();
    return done_testing();
}
