/* SPDX-License-Identifier: BSD-3-Clause */
/* Hash indexes of the control mirror's nodes (by node key, machine key, name), so that the lookups done
 * at every registration, admission and map request cost the same at 10,000 nodes as at 10.
 *
 * An index is a multimap from a key's 64-bit hash to entries (opaque pointers): it does not keep the
 * keys, so a lookup walks the entries under the hash and the caller checks each against the key it has
 * now (ctrl.c). Two nodes may hold one key for a moment (a name moving between nodes in a cluster);
 * the caller picks among them. */
#ifndef WEFT_CONTROL_NODEINDEX_H
#define WEFT_CONTROL_NODEINDEX_H

#include <stddef.h>
#include <stdint.h>

struct nodeindex_ent {
    uint64_t h;
    void *p; /* NULL: free */
};

struct nodeindex {
    struct nodeindex_ent *v;
    size_t cap, n; /* cap: a power of two (or 0) */
};

uint64_t nodeindex_hash(const void *key, size_t len);
/* Adds entry p under h (an entry already there is not added twice). 0 or -1 (out of memory). */
int nodeindex_add(struct nodeindex *ix, uint64_t h, void *p);
/* Removes entry p under h, if there. */
void nodeindex_del(struct nodeindex *ix, uint64_t h, void *p);
/* The entries under h, one per call: *it starts at 0; NULL when there are no more. */
void *nodeindex_next(const struct nodeindex *ix, uint64_t h, size_t *it);
void nodeindex_free(struct nodeindex *ix);

#endif
