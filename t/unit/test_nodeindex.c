/* SPDX-License-Identifier: BSD-3-Clause */
/* modules/control/nodeindex: the hash multimap behind ctrl's node lookups. 5,000 entries (the table
 * grows from 64 slots), each found under its hash; many entries under one hash (a run that wraps the
 * table); entries taken out from the middle of runs, the rest still found; re-adding is idempotent;
 * what is not there is not found. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "modules/control/nodeindex.h"
#include "t/tap.h"

#define N 5000

static int count(const struct nodeindex *ix, uint64_t h, void *want)
{
    size_t it = 0;
    void *p;
    int n = 0;
    while ((p = nodeindex_next(ix, h, &it)))
        n += !want || p == want;
    return n;
}

int main(void)
{
    static int obj[N];
    static uint64_t h[N];
    struct nodeindex ix = {0};
    int added = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "node-%d", i);
        h[i] = nodeindex_hash(key, sizeof key);
        added += nodeindex_add(&ix, h[i], &obj[i]) == 0;
    }
    is_int(added, N, "5000 added");
    is_int((long long)ix.n, N, "counted");
    ok(ix.cap >= N + N / 3, "the table grew with them (%zu slots)", ix.cap);
    int found = 0;
    for (int i = 0; i < N; i++)
        found += count(&ix, h[i], &obj[i]) == 1;
    is_int(found, N, "each found once under its hash");
    nodeindex_add(&ix, h[7], &obj[7]);
    is_int((long long)ix.n, N, "adding an entry again adds nothing");
    ok(nodeindex_hash("a", 1) != nodeindex_hash("b", 1), "different keys, different hashes");

    /* every other entry out: the runs they were in shift back, the rest stay reachable */
    for (int i = 0; i < N; i += 2)
        nodeindex_del(&ix, h[i], &obj[i]);
    is_int((long long)ix.n, N / 2, "half taken out");
    int gone = 0, kept = 0;
    for (int i = 0; i < N; i++) {
        if (i % 2)
            kept += count(&ix, h[i], &obj[i]) == 1;
        else
            gone += count(&ix, h[i], &obj[i]) == 0;
    }
    is_int(gone, N / 2, "the ones taken out are not found");
    is_int(kept, N / 2, "the others still are");
    nodeindex_del(&ix, h[0], &obj[0]);
    nodeindex_del(&ix, 12345, &obj[1]);
    is_int((long long)ix.n, N / 2, "taking out what is not there changes nothing");
    nodeindex_free(&ix);

    /* a multimap: 100 entries under one hash, placed near the end of the table so that the run wraps */
    struct nodeindex m = {0};
    uint64_t same = 255; /* the last slot of 64, 128 and 256: the run wraps to the start */
    for (int i = 0; i < 100; i++)
        nodeindex_add(&m, same, &obj[i]);
    nodeindex_add(&m, 254, &obj[200]);
    nodeindex_add(&m, 257, &obj[201]); /* home 1: inside the wrapped run */
    is_int(count(&m, same, NULL), 100, "100 entries under one hash, all found");
    is_int((long long)m.cap, 256, "in a table of 256 slots");
    is_int(count(&m, 257, &obj[201]), 1, "an entry whose home is inside that run is found");
    for (int i = 0; i < 100; i += 3)
        nodeindex_del(&m, same, &obj[i]);
    int left = 0;
    for (int i = 0; i < 100; i++)
        left += count(&m, same, &obj[i]) == (i % 3 != 0);
    is_int(left, 100, "a third taken out of the run, exactly the rest left");
    is_int(count(&m, 254, &obj[200]) + count(&m, 257, &obj[201]), 2, "the neighbours of the run still found");
    is_int(count(&m, 99, NULL), 0, "nothing under a hash never added");
    nodeindex_free(&m);
    struct nodeindex empty = {0};
    size_t it = 0;
    ok(!nodeindex_next(&empty, 1, &it), "an empty index finds nothing");
    nodeindex_del(&empty, 1, &obj[0]);
    return done_testing();
}
