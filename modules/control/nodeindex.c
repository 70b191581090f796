/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/control/nodeindex.h"

/* Open addressing with linear probing; deletion shifts the rest of the run back (no tombstones, so a
 * table that sees many renames and rekeys does not fill up with dead slots). */

uint64_t nodeindex_hash(const void *key, size_t len)
{
    const uint8_t *b = key;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a finaliser: names differ in their last bytes */
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static size_t home(const struct nodeindex *ix, uint64_t h)
{
    return (size_t)h & (ix->cap - 1);
}

static int grow(struct nodeindex *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    struct nodeindex_ent *v = calloc(cap, sizeof *v), *old = ix->v;
    if (!v)
        return -1;
    size_t ocap = ix->cap;
    ix->v = v;
    ix->cap = cap;
    ix->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].p)
            nodeindex_add(ix, old[i].h, old[i].p);
    free(old);
    return 0;
}

int nodeindex_add(struct nodeindex *ix, uint64_t h, void *p)
{
    if ((ix->n + 1) * 4 > ix->cap * 3 && grow(ix))
        return -1;
    size_t i = home(ix, h);
    for (; ix->v[i].p; i = (i + 1) & (ix->cap - 1))
        if (ix->v[i].h == h && ix->v[i].p == p)
            return 0;
    ix->v[i].h = h;
    ix->v[i].p = p;
    ix->n++;
    return 0;
}

void nodeindex_del(struct nodeindex *ix, uint64_t h, void *p)
{
    if (!ix->cap)
        return;
    size_t m = ix->cap - 1, i = home(ix, h);
    for (; ix->v[i].p; i = (i + 1) & m)
        if (ix->v[i].h == h && ix->v[i].p == p)
            break;
    if (!ix->v[i].p)
        return;
    ix->v[i].p = NULL;
    ix->n--;
    /* shift back every later entry of the run that may move into the hole (its home is not in (i, j]) */
    for (size_t j = (i + 1) & m; ix->v[j].p; j = (j + 1) & m) {
        size_t k = home(ix, ix->v[j].h);
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        ix->v[i] = ix->v[j];
        ix->v[j].p = NULL;
        i = j;
    }
}

void *nodeindex_next(const struct nodeindex *ix, uint64_t h, size_t *it)
{
    if (!ix->cap)
        return NULL;
    size_t m = ix->cap - 1;
    /* *it counts the slots walked from h's home */
    for (size_t i = (home(ix, h) + *it) & m; *it < ix->cap && ix->v[i].p; i = (i + 1) & m) {
        ++*it;
        if (ix->v[i].h == h)
            return ix->v[i].p;
    }
    return NULL;
}

void nodeindex_free(struct nodeindex *ix)
{
    free(ix->v);
    memset(ix, 0, sizeof *ix);
}
