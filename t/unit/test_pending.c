// SPDX-License-Identifier: BSD-3-Clause
/* modules/control/pending: the table of interactive registrations. 5,000 entries (the hash tables grow
 * past their first 64 buckets), each found by AuthID and by machine key, arrival order kept, entries taken
 * out from the middle and the ends, lookups of what is not there. */
#include "config.h"

#include <sodium.h>
#include <stdio.h>

#include "modules/control/pending.h"
#include "t/tap.h"

#define N 5000

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct pending_table t;
    ok(pending_init(&t, N) == 0, "a table for %d", N);
    static struct reg_pending *e[N];
    int added = 0;
    for (int i = 0; i < N; i++) {
        e[i] = calloc(1, sizeof(*e[i]));
        snprintf(e[i]->id, sizeof(e[i]->id), "%024x", i * 7919);
        randombytes_buf(e[i]->mkey, 32);
        added += pending_add(&t, e[i]) == 0;
    }
    is_int(added, N, "5000 added");
    is_int((long long)t.n, N, "counted");
    ok(t.nbuckets >= N, "the buckets grew with them (%zu)", t.nbuckets);
    int by_id = 0, by_mk = 0;
    for (int i = 0; i < N; i++) {
        by_id += pending_by_id(&t, e[i]->id) == e[i];
        by_mk += pending_by_mkey(&t, e[i]->mkey) == e[i];
    }
    is_int(by_id, N, "each found by its AuthID");
    is_int(by_mk, N, "each found by its machine key");
    ok(t.oldest == e[0] && t.newest == e[N - 1], "arrival order: oldest and newest");
    uint8_t other[32];
    randombytes_buf(other, 32);
    ok(pending_by_mkey(&t, other) == NULL, "an unknown machine key: none");
    ok(pending_by_id(&t, "ffffffffffffffffffffffff") == NULL, "an unknown AuthID: none");
    ok(pending_by_id(&t, "") == NULL && pending_by_id(&t, "00000000") == NULL, "a malformed AuthID: none");

    /* take out every third, the first and the last */
    int removed = 0;
    for (int i = 0; i < N; i++)
        if (i % 3 == 0 || i == N - 1) {
            pending_unlink(&t, e[i]);
            removed++;
        }
    is_int((long long)t.n, N - removed, "counted after taking entries out");
    int gone = 0, kept = 0;
    for (int i = 0; i < N; i++) {
        int out = i % 3 == 0 || i == N - 1;
        struct reg_pending *a = pending_by_id(&t, e[i]->id), *b = pending_by_mkey(&t, e[i]->mkey);
        if (out)
            gone += a == NULL && b == NULL;
        else
            kept += a == e[i] && b == e[i];
    }
    is_int(gone, removed, "what was taken out is not found");
    is_int(kept, N - removed, "the rest still is");
    ok(t.oldest == e[1] && t.newest == e[N - 3], "the ends moved"); /* 4998 = 3 x 1666 went too */
    size_t walked = 0;
    for (struct reg_pending *p = t.oldest; p; p = p->newer)
        walked++;
    is_int((long long)walked, N - removed, "the arrival list holds exactly the rest");
    for (int i = 0; i < N; i++)
        if (i % 3 == 0 || i == N - 1)
            free(e[i]);
    pending_destroy(&t); /* frees what is left */
    return done_testing();
}
