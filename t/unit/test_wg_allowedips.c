// SPDX-License-Identifier: BSD-3-Clause
/* Allowed IPs: longest-prefix match over IPv4 and IPv6, ownership moves, removal, listing order, and a
 * randomised comparison against a brute-force matcher. */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>

#include "core/wg/allowedips.h"
#include "t/tap.h"

static struct wg_aip_owner A, B, C;

static int ins(struct wg_allowedips *t, const char *pfx, struct wg_aip_owner *o)
{
    int fam;
    uint8_t a[16];
    unsigned cidr;
    if (wg_aip_parse(pfx, &fam, a, &cidr) < 0)
        return -1;
    return wg_aip_insert(t, fam, a, cidr, o);
}

static struct wg_aip_owner *look(struct wg_allowedips *t, const char *ip)
{
    uint8_t a[16];
    if (strchr(ip, ':')) {
        inet_pton(AF_INET6, ip, a);
        return wg_aip_lookup(t, 6, a);
    }
    inet_pton(AF_INET, ip, a);
    return wg_aip_lookup(t, 4, a);
}

static void list(struct wg_allowedips *t, struct wg_aip_owner *o, char *out, size_t cap)
{
    out[0] = 0;
    char buf[64];
    for (uint32_t it = o->head; it; it = wg_aip_next(t, it)) {
        if (out[0])
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, wg_aip_format(wg_aip_at(t, it), buf, sizeof(buf)), cap - strlen(out) - 1);
    }
}

/* brute force reference */
struct ref {
    uint8_t a[16];
    int fam;
    unsigned cidr;
    int owner;
};

static bool ref_match(const struct ref *r, int fam, const uint8_t *a)
{
    if (r->fam != fam)
        return false;
    for (unsigned b = 0; b < r->cidr; b++)
        if (((r->a[b / 8] ^ a[b / 8]) >> (7 - b % 8)) & 1)
            return false;
    return true;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct wg_allowedips t;
    wg_aip_init(&t);
    char buf[256];

    ok(look(&t, "10.0.0.1") == NULL, "empty table matches nothing");
    ok(ins(&t, "10.0.0.0/8", &A) == 0, "insert 10/8");
    ok(ins(&t, "10.1.0.0/16", &B) == 0, "insert 10.1/16");
    ok(ins(&t, "10.1.2.3/32", &C) == 0, "insert 10.1.2.3/32");
    ok(ins(&t, "0.0.0.0/0", &C) == 0, "insert default route");
    ok(look(&t, "10.9.9.9") == &A, "10.9.9.9 -> /8");
    ok(look(&t, "10.1.9.9") == &B, "10.1.9.9 -> /16");
    ok(look(&t, "10.1.2.3") == &C, "10.1.2.3 -> /32");
    ok(look(&t, "10.1.2.4") == &B, "10.1.2.4 -> /16");
    ok(look(&t, "192.168.1.1") == &C, "elsewhere -> /0");
    ok(look(&t, "::1") == NULL, "no IPv6 route");

    ok(ins(&t, "fd7a:115c:a1e0::/48", &A) == 0, "insert v6 /48");
    ok(ins(&t, "fd7a:115c:a1e0::5/128", &B) == 0, "insert v6 /128");
    ok(look(&t, "fd7a:115c:a1e0::5") == &B, "v6 /128 wins");
    ok(look(&t, "fd7a:115c:a1e0:1::5") == &A, "v6 /48");
    ok(look(&t, "fd7a:115c:a1e1::5") == NULL, "v6 outside");

    ok(ins(&t, "10.1.77.77/16", &C) == 0, "re-insert 10.1/16 (host bits set) for C");
    ok(look(&t, "10.1.9.9") == &C, "prefix moved to C");
    list(&t, &B, buf, sizeof(buf));
    is_str(buf, "fd7a:115c:a1e0::5/128", "B lost 10.1/16");
    list(&t, &C, buf, sizeof(buf));
    is_str(buf, "10.1.2.3/32 0.0.0.0/0 10.1.0.0/16", "C's prefixes in order, masked");
    is_int(C.count, 3, "C owns 3");

    ok(wg_aip_remove(&t, 4, (uint8_t[]){10, 1, 2, 3}, 32, &A) < 0, "A cannot remove C's prefix");
    ok(wg_aip_remove(&t, 4, (uint8_t[]){10, 1, 2, 3}, 32, &C) == 0, "C removes 10.1.2.3/32");
    ok(look(&t, "10.1.2.3") == &C, "10.1.2.3 now via C's /16");
    wg_aip_remove_owner(&t, &C);
    is_int(C.count, 0, "C owns nothing");
    ok(look(&t, "10.1.2.3") == &A, "falls back to A's /8");
    ok(look(&t, "192.168.1.1") == NULL, "default route gone");

    int fam;
    uint8_t a[16];
    unsigned cidr;
    ok(wg_aip_parse("10.0.0.0/33", &fam, a, &cidr) < 0, "/33 refused");
    ok(wg_aip_parse("::/129", &fam, a, &cidr) < 0, "/129 refused");
    ok(wg_aip_parse("10.0.0/8", &fam, a, &cidr) < 0, "bad address refused");
    ok(wg_aip_parse("10.0.0.1/", &fam, a, &cidr) < 0, "empty length refused");
    ok(wg_aip_parse("1.2.3.4", &fam, a, &cidr) == 0 && cidr == 32, "bare address is /32");
    wg_aip_free(&t);

    /* random prefixes against brute force, with removals */
    enum { N = 600, Q = 4000 };
    static struct ref refs[N];
    static struct wg_aip_owner owners[8];
    wg_aip_init(&t);
    uint32_t rnd = 12345;
#define R() (rnd = rnd * 1103515245u + 12345u, rnd >> 8)
    for (int i = 0; i < N; i++) {
        struct ref *r = &refs[i];
        r->fam = R() % 3 ? 4 : 6;
        memset(r->a, 0, 16);
        for (int k = 0; k < (r->fam == 4 ? 4 : 16); k++)
            r->a[k] = (uint8_t)(k == 0 ? 10 + R() % 3 : R() % 4);
        r->cidr = R() % (r->fam == 4 ? 33 : 129);
        r->owner = (int)(R() % 8);
        wg_aip_insert(&t, r->fam, r->a, r->cidr, &owners[r->owner]);
    }
    /* later equal prefixes took ownership: the reference keeps the last */
    int bad = 0;
    for (int q = 0; q < Q; q++) {
        int f = R() % 3 ? 4 : 6;
        uint8_t x[16] = {0};
        for (int k = 0; k < (f == 4 ? 4 : 16); k++)
            x[k] = (uint8_t)(k == 0 ? 10 + R() % 3 : R() % 4);
        int best = -1;
        for (int i = 0; i < N; i++) {
            if (!ref_match(&refs[i], f, x))
                continue;
            if (best < 0 || refs[i].cidr >= refs[best].cidr)
                best = i; /* equal prefix: the later insert owns it */
        }
        struct wg_aip_owner *want = best < 0 ? NULL : &owners[refs[best].owner];
        if (wg_aip_lookup(&t, f, x) != want)
            bad++;
    }
    is_int(bad, 0, "4000 random lookups agree with brute force");
    for (int o = 0; o < 8; o += 2)
        wg_aip_remove_owner(&t, &owners[o]);
    bad = 0;
    for (int q = 0; q < Q; q++) {
        int f = R() % 3 ? 4 : 6;
        uint8_t x[16] = {0};
        for (int k = 0; k < (f == 4 ? 4 : 16); k++)
            x[k] = (uint8_t)(k == 0 ? 10 + R() % 3 : R() % 4);
        int best = -1;
        for (int i = 0; i < N; i++) {
            bool mine_last = true; /* the prefix's final owner is the last equal insert */
            for (int j = i + 1; j < N; j++)
                if (refs[j].fam == refs[i].fam && refs[j].cidr == refs[i].cidr &&
                    ref_match(&refs[j], refs[i].fam, refs[i].a) && ref_match(&refs[i], refs[j].fam, refs[j].a))
                    mine_last = false;
            if (!mine_last || refs[i].owner % 2 == 0 || !ref_match(&refs[i], f, x))
                continue;
            if (best < 0 || refs[i].cidr > refs[best].cidr)
                best = i;
        }
        struct wg_aip_owner *want = best < 0 ? NULL : &owners[refs[best].owner];
        if (wg_aip_lookup(&t, f, x) != want)
            bad++;
        if (q > 400)
            break; /* the reference is quadratic: a few hundred queries suffice */
    }
    is_int(bad, 0, "after removing half the owners, lookups still agree");
    wg_aip_free(&t);
    done_testing();
}
