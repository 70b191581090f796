// SPDX-License-Identifier: BSD-3-Clause
/* Keys (spec keys.md §1-2), private key files, and NaCl box (keys.md §3, disco.md sealed packet). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto/box.h"
#include "core/crypto/key.h"
#include <sodium.h>

#include "t/tap.h"

#define ALICE_PRIV "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define BOB_PRIV "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define BOB_PUB "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
#define SHARED "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

static struct key alice, bob, alice_pub, bob_pub;

static void test_x25519(void)
{
    struct key k;
    uint8_t ss[32];
    ok(key_public(&k, &alice) == 0, "alice public");
    is_hex(k.b, 32, ALICE_PUB, "alice public = RFC 7748");
    key_public(&k, &bob);
    is_hex(k.b, 32, BOB_PUB, "bob public = RFC 7748");
    ok(key_shared(ss, &alice, &bob_pub) == 0, "shared(alice, bob)");
    is_hex(ss, 32, SHARED, "X25519(alice, bob) = RFC 7748 §6.1");
    key_shared(ss, &bob, &alice_pub);
    is_hex(ss, 32, SHARED, "X25519(bob, alice) is the same");

    struct key zero = { { 0 } }, one = { { 1 } };
    ok(key_shared(ss, &alice, &zero) == -1, "shared with the zero point is rejected");
    ok(key_shared(ss, &alice, &one) == -1, "shared with the low-order point 1 is rejected");
    ok(sodium_is_zero(ss, 32), "output wiped on rejection");

    struct key g1, g2, p;
    ok(key_generate(&g1) == 0 && key_generate(&g2) == 0, "generate");
    ok(!key_equal(&g1, &g2), "two generated keys differ");
    ok((g1.b[0] & 7) == 0 && (g1.b[31] & 0xc0) == 0x40, "generated key is clamped");
    ok(key_public(&p, &g1) == 0 && !key_is_zero(&p), "generated key has a public key");
    ok(key_is_zero(&zero) && !key_is_zero(&one), "key_is_zero");
    ok(key_equal(&alice, &alice) && !key_equal(&alice, &bob), "key_equal");
}

static void test_text(void)
{
    char s[KEY_TEXT_MAX];
    struct key k;

    is_int(key_format(s, sizeof(s), KEY_TEXT_NODE, &alice_pub), 72, "nodekey length");
    is_str(s, "nodekey:" ALICE_PUB, "nodekey text");
    key_format(s, sizeof(s), KEY_TEXT_MACHINE, &bob_pub);
    is_str(s, "mkey:" BOB_PUB, "mkey text");
    key_format(s, sizeof(s), KEY_TEXT_DISCO, &alice_pub);
    is_str(s, "discokey:" ALICE_PUB, "discokey text");
    key_format(s, sizeof(s), KEY_TEXT_CHALLENGE, &alice_pub);
    is_str(s, "chalpub:" ALICE_PUB, "chalpub text");
    key_format(s, sizeof(s), KEY_TEXT_NL, &alice_pub);
    is_str(s, "nlpub:" ALICE_PUB, "nlpub text");
    key_format(s, sizeof(s), KEY_TEXT_PRIVATE, &alice);
    is_str(s, "privkey:" ALICE_PRIV, "privkey text");
    key_format(s, sizeof(s), KEY_TEXT_BARE, &bob_pub);
    is_str(s, BOB_PUB, "bare hex");
    struct key zero = { { 0 } };
    key_format(s, sizeof(s), KEY_TEXT_NODE, &zero);
    is_str(s, "nodekey:0000000000000000000000000000000000000000000000000000000000000000", "zero nodekey text");
    ok(key_format(s, 72, KEY_TEXT_NODE, &alice_pub) == -1, "format refuses a buffer one byte short");
    ok(key_format(s, 73, KEY_TEXT_NODE, &alice_pub) == 72, "format fits exactly");
    ok(key_format(s, sizeof(s), (enum key_text)99, &alice_pub) == -1, "format refuses an unknown kind");

    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:" ALICE_PUB) == 0 && key_equal(&k, &alice_pub), "parse nodekey");
    ok(key_parse_str(&k, KEY_TEXT_MACHINE, "mkey:DE9EDB7D7B7DC1B4D35B61C2ECE435373F8343C85B78674DADFC7E146F882B4F")
       == 0 && key_equal(&k, &bob_pub), "parse upper-case hex");
    ok(key_parse_str(&k, KEY_TEXT_DISCO, "discokey:De9edB7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4F")
       == 0 && key_equal(&k, &bob_pub), "parse mixed-case hex");
    ok(key_parse_str(&k, KEY_TEXT_PRIVATE, "privkey:" ALICE_PRIV) == 0 && key_equal(&k, &alice), "parse privkey");
    ok(key_parse_str(&k, KEY_TEXT_BARE, BOB_PUB) == 0 && key_equal(&k, &bob_pub), "parse bare hex");
    ok(key_parse_str(&k, KEY_TEXT_CHALLENGE, "chalpub:" BOB_PUB) == 0, "parse chalpub");
    ok(key_parse_str(&k, KEY_TEXT_NL, "nlpub:" BOB_PUB) == 0, "parse nlpub");
    ok(key_parse(&k, KEY_TEXT_NODE, "nodekey:" ALICE_PUB "junk", 72) == 0 && key_equal(&k, &alice_pub),
       "parse honours the length, not a NUL");

    k = alice;
    ok(key_parse_str(&k, KEY_TEXT_NODE, "mkey:" BOB_PUB) == -1, "wrong prefix rejected");
    ok(key_parse_str(&k, KEY_TEXT_MACHINE, "nodekey:" BOB_PUB) == -1, "nodekey as mkey rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "NODEKEY:" BOB_PUB) == -1, "prefix is case-sensitive");
    ok(key_parse_str(&k, KEY_TEXT_BARE, "nodekey:" BOB_PUB) == -1, "prefixed text is not bare hex");
    ok(key_parse_str(&k, KEY_TEXT_NODE, BOB_PUB) == -1, "missing prefix rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:" BOB_PUB "0") == -1, "65 hex digits rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4")
       == -1, "63 hex digits rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:") == -1, "empty hex rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "") == -1, "empty string rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, NULL) == -1, "NULL rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:ge9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
       == -1, "non-hex 'g' rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey: e9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
       == -1, "space rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4/")
       == -1, "'/' (just below '0') rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4:")
       == -1, "':' (just above '9') rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4@")
       == -1, "'@' (just below 'A') rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4`")
       == -1, "'`' (just below 'a') rejected");
    ok(key_parse_str(&k, KEY_TEXT_NODE, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4G")
       == -1, "'G' rejected");
    ok(key_equal(&k, &alice), "key untouched by failed parses");

    /* Every byte value as a hex digit: exactly 0-9, a-f, A-F are accepted. */
    int bad = 0;
    char t[64 + 1];
    memset(t, '0', 64);
    t[64] = 0;
    for (int c = 1; c < 256; c++) {
        t[63] = (char)c;
        int want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        int got = key_parse_str(&k, KEY_TEXT_BARE, t) == 0;
        if (got != want || (got && k.b[31] != (uint8_t)strtol((char[]){ (char)c, 0 }, NULL, 16))) {
            diag("byte 0x%02x: got %d want %d", c, got, want);
            bad = 1;
        }
    }
    ok(!bad, "hex digit classification over all byte values");

    /* Round trip of random keys through every kind. */
    bad = 0;
    for (int i = 0; i < 200 && !bad; i++) {
        struct key r, back;
        randombytes_buf(r.b, 32);
        for (int kind = KEY_TEXT_MACHINE; kind <= KEY_TEXT_BARE; kind++) {
            int n = key_format(s, sizeof(s), (enum key_text)kind, &r);
            if (n < 0 || key_parse(&back, (enum key_text)kind, s, (size_t)n) < 0 || !key_equal(&r, &back))
                bad = 1;
        }
    }
    ok(!bad, "format/parse round trip, random keys, all kinds");
}

static char tmpdir[] = "/tmp/weft-test-key.XXXXXX";

static void write_file(const char *path, const char *content, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, content, strlen(content)) < 0 || fchmod(fd, mode) < 0)
        diag("cannot write %s", path);
    close(fd);
}

static void test_files(void)
{
    char path[256], err[256];
    struct key k;
    struct stat st;
    int created = -1;

    if (!mkdtemp(tmpdir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/machine.key", tmpdir);

    err[0] = 0;
    ok(key_load_private(path, &k, err, sizeof(err)) == -1 && strstr(err, "machine.key"), "load of a missing file fails");
    ok(key_save_private(path, &alice, err, sizeof(err)) == 0, "save");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "saved file is 0600");
    FILE *f = fopen(path, "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = 0;
        fclose(f);
    }
    is_str(line, "privkey:" ALICE_PRIV "\n", "saved file content");
    memset(&k, 0, sizeof(k));
    ok(key_load_private(path, &k, err, sizeof(err)) == 0 && key_equal(&k, &alice), "load what was saved");
    ok(key_save_private(path, &bob, err, sizeof(err)) == 0, "save over an existing file");
    ok(key_load_private(path, &k, err, sizeof(err)) == 0 && key_equal(&k, &bob), "load the replacement");
    struct key zero = { { 0 } };
    ok(key_save_private(path, &zero, err, sizeof(err)) == -1, "saving the zero key is refused");

    chmod(path, 0640);
    err[0] = 0;
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "group-readable file refused");
    ok(strstr(err, "0640") && strstr(err, "too open"), "error says why: %s", err);
    chmod(path, 0604);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "world-readable file refused");
    chmod(path, 0620);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "group-writable file refused");
    chmod(path, 0400);
    ok(key_load_private(path, &k, err, sizeof(err)) == 0, "0400 file accepted");
    chmod(path, 0600);

    write_file(path, "privkey:" ALICE_PRIV, 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == 0 && key_equal(&k, &alice), "no trailing newline is fine");
    write_file(path, "privkey:" ALICE_PRIV "\r\n", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == 0, "CRLF is fine");
    write_file(path, "privkey:" ALICE_PRIV "\n\n", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "two newlines refused");
    write_file(path, "nodekey:" ALICE_PUB "\n", 0600);
    err[0] = 0;
    ok(key_load_private(path, &k, err, sizeof(err)) == -1 && strstr(err, "malformed"), "wrong prefix refused");
    write_file(path, "privkey:" ALICE_PRIV "00\n", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "too long refused");
    write_file(path, "", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "empty file refused");
    write_file(path, "privkey:0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "zero key refused");
    write_file(path, "{\"PrivateKey\": \"privkey:" ALICE_PRIV "\"}\n", 0600);
    ok(key_load_private(path, &k, err, sizeof(err)) == -1, "JSON is not a key file");
    ok(key_load_private(tmpdir, &k, err, sizeof(err)) == -1, "a directory is refused");

    /* load or create */
    char path2[256];
    snprintf(path2, sizeof(path2), "%s/node.key", tmpdir);
    struct key c1, c2;
    ok(key_load_or_create(path2, &c1, &created, err, sizeof(err)) == 0 && created == 1, "load_or_create creates");
    ok(stat(path2, &st) == 0 && (st.st_mode & 0777) == 0600, "created file is 0600");
    ok(key_load_or_create(path2, &c2, &created, err, sizeof(err)) == 0 && created == 0 && key_equal(&c1, &c2),
       "load_or_create loads the same key the second time");
    write_file(path, "garbage\n", 0600);
    ok(key_load_or_create(path, &c2, &created, err, sizeof(err)) == -1 && created == 0,
       "load_or_create does not replace a bad file");
    f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = 0;
        fclose(f);
    }
    is_str(line, "garbage\n", "bad file left as it was");
    chmod(path2, 0644);
    ok(key_load_or_create(path2, &c2, &created, err, sizeof(err)) == -1, "load_or_create refuses an open file");
    char path3[256];
    snprintf(path3, sizeof(path3), "%s/nodir/x.key", tmpdir);
    ok(key_load_or_create(path3, &c2, &created, err, sizeof(err)) == -1, "load_or_create in a missing dir fails");

    /* no temp files left behind */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c tmp >/dev/null", tmpdir);
    ok(system(cmd) != 0, "no temp files left");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("cannot remove %s", tmpdir);
}

static void test_box(void)
{
    static const char msg[] = "{\"version\":2,\"CanAckPings\":true}";
    uint8_t nonce[24], out[200], back[200];
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t)i;

    is_int(box_seal_nonce(out, nonce, (const uint8_t *)msg, 32, bob_pub.b, alice.b), 72, "seal with nonce: 72 bytes");
    is_hex(out, 24, "000102030405060708090a0b0c0d0e0f1011121314151617", "nonce first");
    is_hex(out + 24, 48, "f857ec21fe9b663e37a51ed82b058c047e6c26c069053c122ea5a24c8fa8fbbf8f83ba8b258ec2ea09f11d4e345f8b61",
           "keys.md §3 box vector (tag ‖ ciphertext)");
    is_int(box_open(back, out, 72, alice_pub.b, bob.b), 32, "bob opens it");
    ok(memcmp(back, msg, 32) == 0, "plaintext back");
    out[30] ^= 1;
    is_int(box_open(back, out, 72, alice_pub.b, bob.b), -1, "flipped tag bit fails");
    out[30] ^= 1;
    out[71] ^= 0x80;
    is_int(box_open(back, out, 72, alice_pub.b, bob.b), -1, "flipped ciphertext bit fails");
    out[71] ^= 0x80;
    out[0] ^= 1;
    is_int(box_open(back, out, 72, alice_pub.b, bob.b), -1, "flipped nonce bit fails");
    out[0] ^= 1;
    is_int(box_open(back, out, 72, bob_pub.b, bob.b), -1, "wrong sender key fails");
    is_int(box_open(back, out, 39, alice_pub.b, bob.b), -1, "shorter than overhead fails");
    is_int(box_open(back, out, 40, alice_pub.b, bob.b), -1, "bare overhead with a wrong tag fails");

    /* Random nonces: two seals of the same message differ, both open. */
    uint8_t o1[100], o2[100];
    box_seal(o1, (const uint8_t *)msg, 32, bob_pub.b, alice.b);
    box_seal(o2, (const uint8_t *)msg, 32, bob_pub.b, alice.b);
    ok(memcmp(o1, o2, 24) != 0, "random nonces differ");
    ok(box_open(back, o1, 72, alice_pub.b, bob.b) == 32 && box_open(back, o2, 72, alice_pub.b, bob.b) == 32,
       "random-nonce boxes open");
    is_int(box_seal(o1, (const uint8_t *)"", 0, bob_pub.b, alice.b), 40, "empty message: 40 bytes");
    is_int(box_open(back, o1, 40, alice_pub.b, bob.b), 0, "empty message opens");
    struct key one = { { 1 } };
    is_int(box_seal(o1, (const uint8_t *)msg, 32, one.b, alice.b), -1, "seal to a low-order key fails");

    /* Precomputed form: the disco.md sealed Ping (alice -> bob, nonce 00..17). */
    struct box_shared sa, sb;
    uint8_t ping[46], pkt[124], want[124];
    unhex("01000102030405060708090a0b0c" ALICE_PUB, ping, sizeof(ping));
    unhex("5453f09f92ac" ALICE_PUB "000102030405060708090a0b0c0d0e0f1011121314151617"
          "70923da0b990b11257582ab871a1a974044e51a71872507b478f9174a8863dfe11cb50d0d2b3d806070f9304b170e3a3300f"
          "9143936599944102cc5f5581", want, sizeof(want));
    ok(box_precompute(&sa, bob_pub.b, alice.b) == 0 && box_precompute(&sb, alice_pub.b, bob.b) == 0, "precompute");
    ok(memcmp(sa.k, sb.k, 32) == 0, "both sides derive the same shared key");
    memcpy(pkt, want, 38);
    is_int(box_seal_shared_nonce(pkt + 38, nonce, ping, 46, &sa), 86, "sealed disco Ping: 86 bytes");
    ok(memcmp(pkt, want, 124) == 0, "disco.md sealed Ping packet byte-for-byte");
    is_int(box_open_shared(back, want + 38, 86, &sb), 46, "bob opens the disco packet");
    ok(memcmp(back, ping, 46) == 0, "Ping plaintext back");
    is_int(box_open(back, want + 38, 86, alice_pub.b, bob.b), 46, "non-precomputed open agrees");
    want[123] ^= 1;
    is_int(box_open_shared(back, want + 38, 86, &sb), -1, "tampered disco packet fails");
    is_int(box_seal_shared(o1, (const uint8_t *)msg, 32, &sa), 72, "seal_shared random nonce");
    is_int(box_open(back, o1, 72, alice_pub.b, bob.b), 32, "opens with the plain API");
    is_int(box_precompute(&sa, one.b, alice.b), -1, "precompute with a low-order key fails");
    box_shared_wipe(&sb);
    ok(sodium_is_zero(sb.k, 32), "wipe");
}

int main(void)
{
    unhex(ALICE_PRIV, alice.b, 32);
    unhex(BOB_PRIV, bob.b, 32);
    unhex(ALICE_PUB, alice_pub.b, 32);
    unhex(BOB_PUB, bob_pub.b, 32);
    if (key_crypto_init() < 0) {
        ok(0, "libsodium init");
        return done_testing();
    }
    test_x25519();
    test_text();
    test_files();
    test_box();
    return done_testing();
}
