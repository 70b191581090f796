// SPDX-License-Identifier: BSD-3-Clause
/* The requests waiting here for interactive registrations (spec control-ts2021.md §6.3 flow B) to be
 * approved; the registrations themselves are in the store (store.h, struct store_pending), so that any
 * control instance on the database can approve them. Anyone who can reach /ts2021 can start one, so what
 * each costs is bounded: at most one entry per machine key (a new request from the machine replaces its
 * previous one), at most `max` in all, each holding the keys and a few waiters, never the request. Entries
 * are found by AuthID and by machine key through hash tables (SipHash with a random key), and expire in
 * arrival order. */
#ifndef WEFT_CONTROL_PENDING_H
#define WEFT_CONTROL_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/control/model.h"

#define AUTHID_HEX 24

struct reg_waiter;

struct reg_pending {
    char id[AUTHID_HEX + 1];
    uint8_t mkey[32], nkey[32];
    int64_t expires;            /* the registration's (the store holds it: store_pending) */
    bool busy;                  /* its waiters are being answered (register.c) */
    struct reg_waiter *waiters; /* Followup requests held here until approval (register.c) */
    unsigned nwaiters;
    struct reg_pending *id_next, *mk_next; /* hash chains */
    struct reg_pending *older, *newer;     /* arrival order */
};

struct pending_table {
    struct reg_pending **by_id, **by_mkey;
    size_t nbuckets, n, max;
    struct reg_pending *oldest, *newest;
    uint8_t hash_key[16];
};

/* An empty table for at most max entries. 0, or -1 if out of memory. */
int pending_init(struct pending_table *t, size_t max);
/* Frees the table and every entry (their waiters must be gone: see reg_free_all). */
void pending_destroy(struct pending_table *t);

struct reg_pending *pending_by_id(const struct pending_table *t, const char *id);
struct reg_pending *pending_by_mkey(const struct pending_table *t, const uint8_t mkey[32]);
/* Adds p (newest). The caller checked that its machine has no entry and that t->n < t->max. 0 or -1. */
int pending_add(struct pending_table *t, struct reg_pending *p);
/* Takes p out of the table (not freed). */
void pending_unlink(struct pending_table *t, struct reg_pending *p);

#endif
