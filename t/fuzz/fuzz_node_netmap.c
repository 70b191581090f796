// SPDX-License-Identifier: BSD-3-Clause
/* MapResponses (one JSON document per line) applied in order to the node's netmap, each twice: whatever
 * the input, no crash, leak or UB; the peers stay sorted by unique ID; the callbacks' net count of peers
 * matches the map; and applying the same message again changes nothing (deltas are idempotent) unless it
 * names one peer in two of its edits (removed and changed, two patches...), which order makes differ. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/json/tailcfg.h"
#include "modules/node/netmap.c" /* the module's files, built into the target */
#include "modules/node/filter/filter.c"
#include "modules/node/filter/packet.c"

static long live, calls;

static void added(void *arg, struct nm_node *p)
{
    live++;
    calls++;
}
static void changed(void *arg, struct nm_node *p, unsigned what, const struct key *old)
{
    if (!what)
        abort(); /* a change must say what changed */
    calls++;
}
static void removed(void *arg, struct nm_node *p)
{
    live--;
    calls++;
}
static void self(void *arg, struct nm_node *s, unsigned what)
{
    calls++;
}
static void derp(void *arg, struct netmap *nm)
{
    calls++;
}

/* the packet filter compiles whatever rules control sent */
static void filters(void *arg, struct netmap *nm)
{
    static struct filter *f;
    if (!f)
        f = filter_new();
    size_t n = 0;
    for (size_t i = 0; i < nm->nfilters; i++)
        n += nm->filters[i].nrules;
    struct nm_filter_rule *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < nm->nfilters; i++) {
        if (i && strcmp(nm->filters[i - 1].name, nm->filters[i].name) >= 0)
            abort(); /* kept sorted by name, no duplicates */
        for (size_t j = 0; j < nm->filters[i].nrules; j++)
            all[k++] = nm->filters[i].rules[j];
    }
    char err[256];
    if (filter_set_rules(f, all, n, err, sizeof err))
        abort();
    free(all);
}

static const struct netmap_ops ops = {added, changed, removed, self, derp, filters};

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 if no peer ID appears twice among the message's edits (a full Peers list counts once per ID, and
 * replaces PeersChanged / PeersRemoved). */
static int edits_distinct(const struct tc_map_response *m)
{
    size_t n = m->peers.n + m->npeers_removed + m->peers_changed.n + m->npeers_changed_patch +
               m->nonline_change + m->npeer_seen_change;
    if (n < 2)
        return 1;
    int64_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return 0;
    size_t k = 0;
    if (m->peers.n) {
        for (size_t i = 0; i < m->peers.n; i++)
            ids[k++] = m->peers.v[i].id;
        qsort(ids, k, sizeof *ids, cmp64);
        size_t u = 0;
        for (size_t i = 0; i < k; i++)
            if (!u || ids[i] != ids[u - 1])
                ids[u++] = ids[i];
        k = u;
    } else {
        for (size_t i = 0; i < m->npeers_removed; i++)
            ids[k++] = m->peers_removed[i];
        for (size_t i = 0; i < m->peers_changed.n; i++)
            ids[k++] = m->peers_changed.v[i].id;
    }
    for (size_t i = 0; i < m->npeers_changed_patch; i++)
        ids[k++] = m->peers_changed_patch[i].node_id;
    for (size_t i = 0; i < m->nonline_change; i++)
        ids[k++] = m->online_change[i].id;
    for (size_t i = 0; i < m->npeer_seen_change; i++)
        ids[k++] = m->peer_seen_change[i].id;
    qsort(ids, k, sizeof *ids, cmp64);
    int ok = 1;
    for (size_t i = 1; i < k && ok; i++)
        ok = ids[i] != ids[i - 1];
    free(ids);
    return ok;
}

static void check(const struct netmap *nm)
{
    if ((size_t)live != nm->npeers)
        abort();
    for (size_t i = 1; i < nm->npeers; i++)
        if (nm->peers[i - 1]->id >= nm->peers[i]->id)
            abort();
    for (size_t i = 0; i < nm->npeers; i++)
        if (netmap_peer_by_id(nm, nm->peers[i]->id) != nm->peers[i])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netmap nm;
    netmap_init(&nm);
    live = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct tc_map_response m;
        memset(&m, 0, sizeof m);
        if (tc_map_response_parse(&m, p, len) == 0) {
            char err[128];
            if (netmap_apply(&nm, &m, 1000, &ops, NULL, err, sizeof err) == 0) {
                check(&nm);
                calls = 0;
                if (netmap_apply(&nm, &m, 1000, &ops, NULL, err, sizeof err) != 0)
                    abort();
                if (calls != 0 && edits_distinct(&m))
                    abort();
                check(&nm);
            }
            char name[64];
            for (size_t i = 0; i < nm.npeers; i++)
                nm_node_short_name(nm.peers[i], name, sizeof name);
            netmap_peer_lookup(&nm, "node1");
            netmap_peer_lookup(&nm, "100.64.0.1");
        }
        tc_map_response_clear(&m);
        p += len + 1;
    }
    check(&nm);
    netmap_clear(&nm, &ops, NULL);
    if (live != 0)
        abort();
    netmap_free(&nm);
    return 0;
}
