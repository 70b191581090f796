// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/pending.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket(const struct pending_table *t, const void *p, size_t n)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, p, n, t->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (t->nbuckets - 1));
}

static void link_hashes(struct pending_table *t, struct reg_pending *p)
{
    size_t b = bucket(t, p->id, strlen(p->id));
    p->id_next = t->by_id[b];
    t->by_id[b] = p;
    b = bucket(t, p->mkey, 32);
    p->mk_next = t->by_mkey[b];
    t->by_mkey[b] = p;
}

/* Doubles the buckets once entries outnumber them (chains stay ~1 long). */
static int grow(struct pending_table *t)
{
    size_t nb = t->nbuckets * 2;
    struct reg_pending **a = calloc(nb, sizeof(*a)), **b = calloc(nb, sizeof(*b));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return -1;
    }
    free(t->by_id);
    free(t->by_mkey);
    t->by_id = a;
    t->by_mkey = b;
    t->nbuckets = nb;
    for (struct reg_pending *p = t->oldest; p != NULL; p = p->newer)
        link_hashes(t, p);
    return 0;
}

int pending_init(struct pending_table *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->max = max;
    t->nbuckets = 64;
    t->by_id = calloc(t->nbuckets, sizeof(*t->by_id));
    t->by_mkey = calloc(t->nbuckets, sizeof(*t->by_mkey));
    if (t->by_id == NULL || t->by_mkey == NULL) {
        pending_destroy(t);
        return -1;
    }
    randombytes_buf(t->hash_key, sizeof(t->hash_key));
    return 0;
}

void pending_destroy(struct pending_table *t)
{
    while (t->oldest != NULL) {
        struct reg_pending *p = t->oldest;
        t->oldest = p->newer;
        free(p);
    }
    free(t->by_id);
    free(t->by_mkey);
    memset(t, 0, sizeof(*t));
}

struct reg_pending *pending_by_id(const struct pending_table *t, const char *id)
{
    size_t n = strlen(id);
    if (n != AUTHID_HEX)
        return NULL;
    for (struct reg_pending *p = t->by_id[bucket(t, id, n)]; p != NULL; p = p->id_next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

struct reg_pending *pending_by_mkey(const struct pending_table *t, const uint8_t mkey[32])
{
    for (struct reg_pending *p = t->by_mkey[bucket(t, mkey, 32)]; p != NULL; p = p->mk_next)
        if (memcmp(p->mkey, mkey, 32) == 0)
            return p;
    return NULL;
}

int pending_add(struct pending_table *t, struct reg_pending *p)
{
    if (t->n >= t->nbuckets && grow(t) != 0)
        return -1;
    link_hashes(t, p);
    p->newer = NULL;
    p->older = t->newest;
    if (t->newest != NULL)
        t->newest->newer = p;
    else
        t->oldest = p;
    t->newest = p;
    t->n++;
    return 0;
}

void pending_unlink(struct pending_table *t, struct reg_pending *p)
{
    for (struct reg_pending **pp = &t->by_id[bucket(t, p->id, strlen(p->id))]; *pp; pp = &(*pp)->id_next)
        if (*pp == p) {
            *pp = p->id_next;
            break;
        }
    for (struct reg_pending **pp = &t->by_mkey[bucket(t, p->mkey, 32)]; *pp; pp = &(*pp)->mk_next)
        if (*pp == p) {
            *pp = p->mk_next;
            break;
        }
    if (p->older != NULL)
        p->older->newer = p->newer;
    else
        t->oldest = p->newer;
    if (p->newer != NULL)
        p->newer->older = p->older;
    else
        t->newest = p->older;
    p->older = p->newer = NULL;
    t->n--;
}
