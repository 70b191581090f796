// SPDX-License-Identifier: BSD-3-Clause
/* Control store figures: full registrations (name + addresses + node insert + key use, one transaction
 * each) into a SQLite file, lookups by node key, listing, and address allocation. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modules/control/authkey.h"
#include "modules/control/ipalloc.h"
#include "modules/control/naming.h"
#include "modules/control/store.h"

#define N 20000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Names taken so far: the label's numeric suffix tells which "build-box-N" are used. All hosts share one
 * hostname, the worst case for the suffix search (naming_hints keeps it O(1)). */
struct names {
    unsigned char *used;
    size_t cap;
};

static bool names_taken(void *ctx, const char *label)
{
    struct names *nm = ctx;
    if (strcmp(label, "build-box") == 0)
        return nm->used[0];
    unsigned long i = strtoul(label + 10, NULL, 10);
    return i < nm->cap && nm->used[i];
}

int main(void)
{
    char dir[256], p[300], err[STORE_ERR_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/weft-bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return perror("mkdtemp"), 1;
    snprintf(p, sizeof(p), "%s/db", dir);
    struct store *s = store_open(p, true, err, sizeof(err));
    if (!s)
        return fprintf(stderr, "%s\n", err), 1;
    struct ipalloc *ia = ipalloc_new(IPALLOC_DEFAULT_V4, IPALLOC_DEFAULT_V6, err, sizeof(err));
    struct model_user u = {0};
    strcpy(u.name, "bench");
    store_user_create(s, &u);
    char keytext[AUTHKEY_TEXT_LEN + 1];
    struct model_authkey key;
    authkey_create(s, u.id, true, false, 0, NULL, NULL, keytext, &key);
    struct names nm = {calloc(N + 1, 1), N + 1};
    struct naming_hints *hints = naming_hints_new();

    double t0 = now_s();
    for (uint32_t i = 0; i < N; i++) {
        struct model_node n = {0};
        struct ipalloc_pair ap;
        struct model_authkey k;
        n.user_id = u.id;
        memset(n.machine_key, 0x11, 32);
        memset(n.node_key, 0x22, 32);
        memcpy(n.machine_key, &i, 4);
        memcpy(n.node_key, &i, 4);
        strcpy(n.hostname, "Build Box");
        n.hostinfo = strdup("{\"OS\":\"linux\",\"Hostname\":\"Build Box\",\"IPNVersion\":\"1.80.0\"}");
        model_strlist_add(&n.endpoints, "203.0.113.5:41641");
        char label[NAMING_LABEL_MAX + 1];
        naming_label(n.hostname, label);
        if (authkey_lookup(s, keytext, 1, &k) != AUTHKEY_OK ||
            naming_unique_hinted(hints, label, names_taken, &nm, n.given_name) != 0 ||
            ipalloc_next(ia, &ap) != 0)
            return fprintf(stderr, "registration %u refused\n", i), 1;
        model_authkey_clear(&k);
        n.has_ipv4 = ap.has4, n.has_ipv6 = ap.has6;
        memcpy(n.ipv4, ap.v4, 4);
        memcpy(n.ipv6, ap.v6, 16);
        n.authkey_id = key.id;
        if (store_begin(s) || store_node_insert(s, &n) || store_authkey_mark_used(s, key.id) ||
            store_commit(s))
            return fprintf(stderr, "%s\n", store_errmsg(s)), 1;
        nm.used[i] = 1;
        model_node_clear(&n);
    }
    double dt = now_s() - t0;
    printf("registrations (key check, name, addresses, insert + key use in one transaction): %d in %.2f s, "
           "%.0f/s\n", N, dt, N / dt);

    t0 = now_s();
    for (uint32_t i = 0; i < N; i++) {
        uint8_t nk[32];
        uint32_t j = (i * 7919u) % N;
        struct model_node g;
        memset(nk, 0x22, 32);
        memcpy(nk, &j, 4);
        if (store_node_get_by_node_key(s, nk, &g) != STORE_OK)
            return fprintf(stderr, "lookup: %s\n", store_errmsg(s)), 1;
        model_node_clear(&g);
    }
    dt = now_s() - t0;
    printf("lookups by node key: %.0f/s\n", N / dt);

    struct model_node *list;
    size_t cnt;
    t0 = now_s();
    store_node_list(s, &list, &cnt);
    printf("list of %zu nodes: %.1f ms\n", cnt, (now_s() - t0) * 1e3);
    model_nodes_free(list, cnt);
    store_close(s);

    ipalloc_free(ia);
    ia = ipalloc_new(IPALLOC_DEFAULT_V4, IPALLOC_DEFAULT_V6, err, sizeof(err));
    struct ipalloc_pair ap;
    t0 = now_s();
    long allocs = 0;
    while (allocs < 1000000 && ipalloc_next(ia, &ap) == 0)
        allocs++;
    dt = now_s() - t0;
    printf("address allocations (IPv4 + IPv6 pairs, /10 + /48): %.2f M/s\n", allocs / dt / 1e6);
    ipalloc_free(ia);

    model_authkey_clear(&key);
    free(nm.used);
    naming_hints_free(hints);
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    return system(p) != 0;
}
