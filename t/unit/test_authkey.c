// SPDX-License-Identifier: BSD-3-Clause
/* Pre-auth keys: text form, hashing, validation reasons, tags, and the store round trip. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modules/control/authkey.h"
#include "modules/control/store.h"
#include "t/tap.h"
#include "t/unit/store_backend.h"

/* Whether the bytes of `needle` occur anywhere in the file. */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    int found = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

int main(void)
{
    uint8_t h[32];
    authkey_hash("abc", 3, h);
    is_hex(h, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "hash is SHA-256 (FIPS vector)");

    char t1[AUTHKEY_TEXT_LEN + 1], t2[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey k1 = {0}, k2 = {0};
    is_int(authkey_generate(t1, &k1), 0, "generate");
    authkey_generate(t2, &k2);
    is_int((long long)strlen(t1), 58, "58 characters");
    ok(strncmp(t1, "weft-auth-", 10) == 0, "prefixed weft-auth-: %.18s...", t1);
    ok(authkey_well_formed(t1), "well formed");
    ok(strcmp(t1, t2) != 0, "two keys differ");
    ok(strncmp(k1.prefix, t1, 18) == 0 && strlen(k1.prefix) == 18,
       "display prefix is the first 18 characters");
    authkey_hash(t1, strlen(t1), h);
    ok(memcmp(h, k1.hash, 32) == 0, "stored hash is SHA-256 of the text");

    ok(!authkey_well_formed("weft-auth-"), "malformed: no secret");
    char bad[AUTHKEY_TEXT_LEN + 2];
    strcpy(bad, t1);
    bad[20] = 'A';
    ok(!authkey_well_formed(bad), "malformed: uppercase hex");
    strcpy(bad, t1);
    strcat(bad, "0");
    ok(!authkey_well_formed(bad), "malformed: too long");
    strcpy(bad, t1);
    memcpy(bad, "hskey-au", 8);
    ok(!authkey_well_formed(bad), "malformed: other prefix");

    /* Validation order and reasons. */
    int64_t now = 1700000000;
    struct model_authkey k = {0};
    is_int(authkey_check(&k, now), AUTHKEY_OK, "fresh single-use key, no expiry: ok");
    k.used_count = 1;
    is_int(authkey_check(&k, now), AUTHKEY_USED, "single-use key used once: refused");
    k.reusable = true;
    k.used_count = 5;
    is_int(authkey_check(&k, now), AUTHKEY_OK, "reusable key used 5 times: ok");
    k.expiration = now + 60;
    is_int(authkey_check(&k, now), AUTHKEY_OK, "expires in a minute: ok");
    k.expiration = now;
    is_int(authkey_check(&k, now), AUTHKEY_EXPIRED, "expiring now: refused");
    k.revoked = true;
    is_int(authkey_check(&k, now), AUTHKEY_REVOKED, "revoked and expired: revoked first");
    const char *r[] = {authkey_reason(AUTHKEY_UNKNOWN), authkey_reason(AUTHKEY_REVOKED),
                       authkey_reason(AUTHKEY_EXPIRED), authkey_reason(AUTHKEY_USED),
                       authkey_reason(AUTHKEY_ERROR)};
    int distinct = 1;
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            distinct &= strcmp(r[i], r[j]) != 0;
    ok(distinct, "each refusal has its own reason");
    diag("reasons: '%s' / '%s' / '%s' / '%s'", r[0], r[1], r[2], r[3]);

    ok(authkey_tag_valid("tag:server"), "tag:server");
    ok(authkey_tag_valid("tag:Prod-2"), "tag:Prod-2");
    ok(!authkey_tag_valid("tag:"), "tag: (empty)");
    ok(!authkey_tag_valid("server"), "no tag: prefix");
    ok(!authkey_tag_valid("tag:1abc"), "starts with a digit");
    ok(!authkey_tag_valid("tag:a_b"), "underscore");
    ok(!authkey_tag_valid("tag:a b"), "space");
    char longtag[200] = "tag:";
    memset(longtag + 4, 'a', 150);
    longtag[154] = 0;
    ok(!authkey_tag_valid(longtag), "too long");

    /* With a store. */
    char dir[256], p[1100], err[STORE_ERR_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/weft-authkey-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return printf("not ok - mkdtemp: %s\n", strerror(errno)), 1;
    if (tb_setup())
        return printf("not ok - register the PostgreSQL backend\n"), 1;
    diag("store backend: %s", tb_name());
    tb_dsn(dir, "authkey.db", p, sizeof p);
    struct store *s = store_open(p, true, err, sizeof(err));
    ok(s != NULL, "store opened");
    struct model_user u = {0};
    strcpy(u.name, "ops");
    store_user_create(s, &u);

    struct model_strlist tags = {0};
    model_strlist_add(&tags, "tag:ci");
    char text[AUTHKEY_TEXT_LEN + 1], rtext[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey single, reusable, got;
    is_int(authkey_create(s, u.id, false, true, 0, &tags, NULL, text, &single), STORE_OK,
           "create single-use key");
    is_int(authkey_create(s, u.id, true, false, now + 3600, NULL, "for CI", rtext, &reusable), STORE_OK,
           "create reusable");
    now = (int64_t)time(NULL);

    is_int(authkey_lookup(s, text, now, &got), AUTHKEY_OK, "lookup: ok");
    ok(got.id == single.id && got.ephemeral && got.tags.n == 1 && !strcmp(got.tags.v[0], "tag:ci"),
       "found with its flags and tags");
    model_authkey_clear(&got);
    store_authkey_mark_used(s, single.id);
    is_int(authkey_lookup(s, text, now, &got), AUTHKEY_USED, "after use: already used");
    ok(got.id == single.id && got.used_count == 1, "refusal still returns the key (for re-registration)");
    model_authkey_clear(&got);

    for (int i = 0; i < 3; i++)
        store_authkey_mark_used(s, reusable.id);
    is_int(authkey_lookup(s, rtext, 1700000000, &got), AUTHKEY_OK, "reusable used 3 times: ok");
    is_str(got.description, "for CI", "the description is stored with the key");
    model_authkey_clear(&got);
    is_int(authkey_lookup(s, rtext, 1700000000 + 3600, &got), AUTHKEY_EXPIRED,
           "past its expiration: expired");
    model_authkey_clear(&got);
    store_authkey_revoke(s, reusable.id);
    is_int(authkey_lookup(s, rtext, 1700000000, &got), AUTHKEY_REVOKED, "revoked");
    model_authkey_clear(&got);

    char unknown[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey scratch = {0};
    authkey_generate(unknown, &scratch);
    is_int(authkey_lookup(s, unknown, now, &got), AUTHKEY_UNKNOWN, "well-formed but unknown");
    is_int(authkey_lookup(s, "tskey-auth-xyz", now, &got), AUTHKEY_UNKNOWN, "malformed: unknown");
    is_int(authkey_lookup(s, "", now, &got), AUTHKEY_UNKNOWN, "empty: unknown");

    struct model_strlist badtags = {0};
    model_strlist_add(&badtags, "tag:ok");
    model_strlist_add(&badtags, "nope");
    is_int(authkey_create(s, u.id, false, false, 0, &badtags, NULL, text, &got), STORE_INVALID, "bad tag refused");
    ok(strstr(store_errmsg(s), "'nope'") != NULL, "message names it: %s", store_errmsg(s));
    is_int(authkey_create(s, 9999, false, false, 0, NULL, NULL, unknown, &got), STORE_INVALID,
           "missing user refused");

    struct model_authkey *list;
    size_t n;
    store_authkey_list(s, &list, &n);
    is_int((long long)n, 2, "two keys stored");
    model_authkeys_free(list, n);
    store_close(s);

    /* Only the hash is stored: the secret part of the key is nowhere in the database files. */
    if (!tb_pg()) { /* on PostgreSQL the files are the server's (the rows are the same: only the hash) */
        char f[1200];
        int leaked = 0;
        const char *suffixes[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(f, sizeof(f), "%s%s", p, suffixes[i]);
            leaked |= file_contains(f, rtext + 18) | file_contains(f, text + 18);
        }
        ok(!leaked, "key secrets are not in the database files");
    }

    model_strlist_free(&tags);
    model_strlist_free(&badtags);
    model_authkey_clear(&single);
    model_authkey_clear(&reusable);
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    if (system(p) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
