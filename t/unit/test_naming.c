// SPDX-License-Identifier: BSD-3-Clause
/* Node DNS labels from client hostnames, and unique names with "-N" suffixes. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modules/control/naming.h"
#include "modules/control/store.h"
#include "t/tap.h"
#include "t/unit/store_backend.h"

static void label_is(const char *host, const char *want)
{
    char out[NAMING_LABEL_MAX + 1];
    size_t n = naming_label(host, out);
    char name[200];
    snprintf(name, sizeof(name), "label of '%.60s'", host ? host : "(null)");
    if (is_str(out, want, name))
        ok(n == strlen(out) && naming_label_valid(out), "  valid, length returned");
    else
        ok(0, "  (skipped)");
}

struct set {
    const char *v[16];
    int n;
    int calls;
};

static bool in_set(void *ctx, const char *label)
{
    struct set *s = ctx;
    s->calls++;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], label) == 0)
            return true;
    return false;
}

/* A growing set of labels for the hinted test (linear search is fine: we count probes, not time). */
static char *hset_v[4096];
static int hset_n;
static void hinted_add(const char *l) { hset_v[hset_n++] = strdup(l); }
static void hinted_remove(const char *l)
{
    for (int i = 0; i < hset_n; i++)
        if (hset_v[i] && !strcmp(hset_v[i], l)) {
            free(hset_v[i]);
            hset_v[i] = NULL;
        }
}
static bool hinted_taken(void *ctx, const char *label)
{
    ((int *)ctx)[1]++;
    for (int i = 0; i < hset_n; i++)
        if (hset_v[i] && !strcmp(hset_v[i], label))
            return true;
    return false;
}

static bool always(void *ctx, const char *label)
{
    (void)label;
    ++*(int *)ctx;
    return true;
}

int main(void)
{
    label_is("MyHost", "myhost");
    label_is("my host.local", "my-host");
    label_is("BUILD-01.localdomain", "build-01");
    label_is("nas.lan", "nas");
    label_is("host.example.com", "host-example-com");
    label_is("J\xc3\xbcrgen's MacBook Pro", "jrgens-macbook-pro");
    label_is("--weird__name--", "weird-name");
    label_is("a  b", "a-b");
    label_is("user@laptop", "user-laptop");
    label_is("UPPER_case-123", "upper-case-123");
    label_is("", "node");
    label_is(NULL, "node");
    label_is("!!!", "node");
    label_is("\xe6\x97\xa5\xe6\x9c\xac", "node");
    label_is("local", "local");
    label_is(".local", "local");
    label_is("a.b.c.local", "a-b-c");

    char longh[200], want[64];
    memset(longh, 'A', 100);
    longh[100] = 0;
    memset(want, 'a', 63);
    want[63] = 0;
    label_is(longh, want);
    /* 62 letters then ".b": the dash would be the 63rd byte and the "b" does not fit: both go. */
    memset(longh, 'x', 62);
    strcpy(longh + 62, ".b");
    memset(want, 'x', 62);
    want[62] = 0;
    label_is(longh, want);
    /* Characters dropped early do not count against the limit. */
    memset(longh, '#', 100);
    strcpy(longh + 100, "short");
    label_is(longh, "short");

    ok(naming_label_valid("a"), "valid: a");
    ok(naming_label_valid("a-1"), "valid: a-1");
    ok(!naming_label_valid(""), "invalid: empty");
    ok(!naming_label_valid("-a"), "invalid: leading dash");
    ok(!naming_label_valid("a-"), "invalid: trailing dash");
    ok(!naming_label_valid("A"), "invalid: uppercase");
    ok(!naming_label_valid("a.b"), "invalid: dot");
    ok(!naming_label_valid("a_b"), "invalid: underscore");
    memset(longh, 'a', 64);
    longh[64] = 0;
    ok(!naming_label_valid(longh), "invalid: 64 bytes");
    longh[63] = 0;
    ok(naming_label_valid(longh), "valid: 63 bytes");

    char out[NAMING_LABEL_MAX + 1];
    struct set s = {{"other"}, 1, 0};
    is_int(naming_unique("host", in_set, &s, out), 0, "free name");
    is_str(out, "host", "kept as is");
    struct set s1 = {{"host"}, 1, 0};
    naming_unique("host", in_set, &s1, out);
    is_str(out, "host-1", "collision: host-1");
    struct set s3 = {{"host", "host-1", "host-2"}, 3, 0};
    naming_unique("host", in_set, &s3, out);
    is_str(out, "host-3", "three taken: host-3");
    struct set s2 = {{"host", "host-2"}, 2, 0};
    naming_unique("host", in_set, &s2, out);
    is_str(out, "host-1", "first free suffix (host-1 while host-2 is taken)");

    /* Long base: shortened so that base + suffix fits 63. */
    memset(longh, 'b', 63);
    longh[63] = 0;
    struct set sl = {{longh}, 1, 0};
    naming_unique(longh, in_set, &sl, out);
    memset(want, 'b', 61);
    strcpy(want + 61, "-1");
    is_str(out, want, "63-byte base: 61 bytes + -1");
    /* A cut that would end on '-' drops it. */
    memset(longh, 'c', 60);
    strcpy(longh + 60, "-de");
    static char names[12][64];
    struct set sd = {{0}, 0, 0};
    strcpy(names[0], longh);
    sd.v[sd.n++] = names[0];
    for (int i = 1; i <= 9; i++) {
        memset(names[i], 'c', 60);
        snprintf(names[i] + 60, 4, "-%d", i);
        sd.v[sd.n++] = names[i];
    }
    naming_unique(longh, in_set, &sd, out);
    memset(want, 'c', 60);
    strcpy(want + 60, "-10");
    is_str(out, want, "cut at a dash: 60 bytes + -10");
    ok(strlen(out) <= 63 && naming_label_valid(out), "  and valid");

    int calls = 0;
    is_int(naming_unique("x", always, &calls, out), -1, "everything taken: gives up");
    is_int(calls, 1000000, "after base and base-1..base-999999");
    is_int(naming_unique("Bad Name", in_set, &s, out), -1, "invalid base refused");

    /* Hinted search: each new "box" costs a couple of probes, not one per existing box. */
    struct naming_hints *hints = naming_hints_new();
    static char hn[2000][64];
    int counters[2] = {0, 0}; /* [1] = probes */
    int worst = 0, okall = 1;
    for (int i = 0; i < 2000; i++) {
        int before = counters[1];
        if (naming_unique_hinted(hints, "box", hinted_taken, counters, hn[i]) != 0)
            okall = 0;
        hinted_add(hn[i]);
        if (counters[1] - before > worst)
            worst = counters[1] - before;
    }
    ok(okall && !strcmp(hn[0], "box") && !strcmp(hn[1], "box-1") && !strcmp(hn[1999], "box-1999"),
       "2000 boxes: box, box-1 ... box-1999");
    ok(worst <= 2, "at most 2 probes per name with hints (worst %d)", worst);
    hinted_remove("box-5");
    naming_unique_hinted(hints, "box", hinted_taken, counters, out);
    is_str(out, "box-2000", "a freed suffix is not reused right away");
    naming_hints_free(hints);

    /* Against the store. */
    char dir[256], p[1100], err[STORE_ERR_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/weft-naming-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return printf("not ok - mkdtemp: %s\n", strerror(errno)), 1;
    if (tb_setup())
        return printf("not ok - register the PostgreSQL backend\n"), 1;
    diag("store backend: %s", tb_name());
    tb_dsn(dir, "naming.db", p, sizeof p);
    struct store *st = store_open(p, true, err, sizeof(err));
    struct model_user u = {0};
    strcpy(u.name, "u");
    store_user_create(st, &u);
    for (int i = 0; i < 3; i++) {
        struct model_node n = {0};
        n.user_id = u.id;
        n.machine_key[0] = n.node_key[0] = (uint8_t)(i + 1);
        char label[NAMING_LABEL_MAX + 1];
        naming_label("Build Box", label);
        is_int(naming_unique(label, naming_taken_in_store, st, n.given_name), 0,
               "unique name from the store");
        is_int(store_node_insert(st, &n), STORE_OK, "insert");
        is_str(n.given_name, i == 0 ? "build-box" : i == 1 ? "build-box-1" : "build-box-2", "  named");
    }
    store_close(st);
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    if (system(p) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
