// SPDX-License-Identifier: BSD-3-Clause
/* BLAKE2s, HMAC-BLAKE2s and the Noise KDF against known answers (spec wireguard.md §2). */
#include "config.h"

#include "core/crypto/blake2s.h"
#include "core/crypto/kdf.h"
#include "t/tap.h"

static uint8_t seq[1024];
static uint8_t key32[32];

/* Keyed BLAKE2s-256, key = 00..1f, message = 00 01 .. (n-1): entries of the official blake2s-kat.txt
 * (cross-checked with Python hashlib.blake2s, the reference implementation). */
static const struct { size_t n; const char *hex; } kat[] = {
    { 0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49" },
    { 1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1" },
    { 63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd" },
    { 64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4" },
    { 65, "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8" },
    { 128, "0c311f38c35a4fb90d651c289d486856cd1413df9b0677f53ece2cd9e477c60a" },
    { 255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd" },
};

static void test_oneshot(void)
{
    uint8_t out[32];
    char name[64];

    blake2s(out, 32, "", 0, NULL, 0);
    is_hex(out, 32, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9", "BLAKE2s-256(\"\")");
    blake2s(out, 32, "abc", 3, NULL, 0);
    is_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
           "BLAKE2s-256(\"abc\") RFC 7693 App. B");
    blake2s(out, 16, "abc", 3, NULL, 0);
    is_hex(out, 16, "aa4938119b1dc7b87cbad0ffd200d0ae", "BLAKE2s-128(\"abc\")");
    blake2s(out, 16, "", 0, key32, 32);
    is_hex(out, 16, "9536f9b267655743dee97b8a670f9f53", "BLAKE2s-128 keyed, empty message");
    blake2s(out, 16, seq, 64, key32, 32);
    is_hex(out, 16, "f1efa90d2547036841ecd3627fafbc36", "BLAKE2s-128 keyed, 64-byte message");
    blake2s(out, 32, "abc", 3, key32, 16);
    is_hex(out, 32, "033a40b64c6296fc2e3584d2a06bcf1a8003ebb9b8007940e2f820b645917a4e",
           "BLAKE2s-256 with a 16-byte key");
    blake2s(out, 32, seq, 1000, NULL, 0);
    is_hex(out, 32, "b5f9d7799111edafc9326fbf667be98140b5e20ce5e151793c59125bf654ac18",
           "BLAKE2s-256 unkeyed, 1000 bytes");
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        snprintf(name, sizeof(name), "keyed KAT, %zu-byte message", kat[i].n);
        blake2s(out, 32, seq, kat[i].n, key32, 32);
        is_hex(out, 32, kat[i].hex, name);
    }
}

/* Feeding input in chunks of every size from 1 to 130 (crossing block boundaries at every offset)
 * must give the one-shot result, keyed and unkeyed, for 16- and 32-byte outputs. */
static void test_incremental(void)
{
    static const size_t outlens[] = { 16, 32 };
    for (int keyed = 0; keyed <= 1; keyed++) {
        for (int o = 0; o < 2; o++) {
            size_t outlen = outlens[o];
            int bad = 0;
            for (size_t total = 0; total <= 300 && !bad; total += 37) {
                uint8_t want[32], got[32];
                blake2s(want, outlen, seq, total, keyed ? key32 : NULL, keyed ? 32 : 0);
                for (size_t chunk = 1; chunk <= 130; chunk++) {
                    struct blake2s_state s;
                    blake2s_init_key(&s, outlen, keyed ? key32 : NULL, keyed ? 32 : 0);
                    for (size_t off = 0; off < total; off += chunk) {
                        size_t n = total - off < chunk ? total - off : chunk;
                        blake2s_update(&s, seq + off, n);
                        blake2s_update(&s, seq, 0); /* empty updates are no-ops */
                    }
                    blake2s_final(&s, got);
                    if (memcmp(want, got, outlen) != 0) {
                        diag("mismatch: keyed=%d outlen=%zu total=%zu chunk=%zu", keyed, outlen, total, chunk);
                        bad = 1;
                        break;
                    }
                }
            }
            ok(!bad, "incremental == one-shot (keyed=%d, outlen=%zu)", keyed, outlen);
        }
    }
    /* The 255-byte KAT through blake2s_init_key/update/final in odd chunks. */
    struct blake2s_state s;
    uint8_t out[32];
    blake2s_init_key(&s, 32, key32, 32);
    blake2s_update(&s, seq, 1);
    blake2s_update(&s, seq + 1, 63);
    blake2s_update(&s, seq + 64, 64);
    blake2s_update(&s, seq + 128, 127);
    blake2s_final(&s, out);
    is_hex(out, 32, kat[6].hex, "keyed KAT 255 bytes, fed as 1+63+64+127");
    blake2s_init(&s, 32);
    blake2s_update(&s, "a", 1);
    blake2s_update(&s, "bc", 2);
    blake2s_final(&s, out);
    is_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982", "\"abc\" as a + bc");
}

static void test_hmac(void)
{
    uint8_t out[32];
    hmac_blake2s(out, key32, 32, (const uint8_t *)"abc", 3);
    is_hex(out, 32, "82623be5bc0a391b24dce53e67d028eff92d586de0485ac37822e597d049c74f",
           "HMAC-BLAKE2s(00..1f, \"abc\")");
    /* Key longer than the block size is hashed first (Python hmac + hashlib.blake2s). */
    hmac_blake2s(out, seq, 100, (const uint8_t *)"abc", 3);
    is_hex(out, 32, "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656",
           "HMAC-BLAKE2s(100-byte key, \"abc\")");
}

static void kdf_case(const char *key, const char *input, const char *t0, const char *t1, const char *t2)
{
    uint8_t o1[32], o2[32], o3[32];
    char name[96];
    hkdf_blake2s((const uint8_t *)key, strlen(key), (const uint8_t *)input, strlen(input), o1, o2, o3);
    snprintf(name, sizeof(name), "wireguard-go KDF key=\"%s\" t0", key);
    is_hex(o1, 32, t0, name);
    snprintf(name, sizeof(name), "wireguard-go KDF key=\"%s\" t1", key);
    is_hex(o2, 32, t1, name);
    snprintf(name, sizeof(name), "wireguard-go KDF key=\"%s\" t2", key);
    is_hex(o3, 32, t2, name);
}

static void test_kdf(void)
{
    kdf_case("test-key", "test-input",
             "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
             "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
             "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24");
    kdf_case("wireguard", "wireguard",
             "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
             "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
             "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160");
    kdf_case("", "",
             "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
             "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
             "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e");
}

/* noise_kdf with a 32-byte chaining key: cross-checked with Python (hmac + hashlib.blake2s). */
#define NOISE_KDF_T1 "c67e0b211ebf48c12c6d41da8fcee207d4c325a8c30f054d97401b14ed212f9f"
#define NOISE_KDF_T2 "923b032867c597d1df124053325e553b104bf3b76180a46e0c21b44001ec50f6"
#define NOISE_KDF_T3 "73e5eae9c5d230ea6becb29ab8a49f627aff1eb27586b938a71ae090d4c7a184"
static void test_noise_kdf(void)
{
    uint8_t ck[32], o1[32], o2[32], o3[32], p1[32], p2[32];
    memcpy(ck, key32, 32);
    noise_kdf(ck, (const uint8_t *)"abc", 3, o1, o2, o3);
    is_hex(o1, 32, NOISE_KDF_T1, "noise_kdf out1");
    is_hex(o2, 32, NOISE_KDF_T2, "noise_kdf out2");
    is_hex(o3, 32, NOISE_KDF_T3, "noise_kdf out3");
    noise_kdf(ck, (const uint8_t *)"abc", 3, p1, NULL, NULL);
    ok(memcmp(p1, o1, 32) == 0, "noise_kdf with one output == first of three");
    noise_kdf(ck, (const uint8_t *)"abc", 3, NULL, p2, NULL);
    ok(memcmp(p2, o2, 32) == 0, "noise_kdf with only out2 == second of three");
    /* MixKey style: outputs aliasing the chaining key. */
    noise_kdf(ck, (const uint8_t *)"abc", 3, ck, p2, NULL);
    ok(memcmp(ck, o1, 32) == 0 && memcmp(p2, o2, 32) == 0, "noise_kdf with out1 aliasing ck");
}

int main(void)
{
    for (size_t i = 0; i < sizeof(seq); i++)
        seq[i] = (uint8_t)i;
    memcpy(key32, seq, 32);
    test_oneshot();
    test_incremental();
    test_hmac();
    test_kdf();
    test_noise_kdf();
    return done_testing();
}
