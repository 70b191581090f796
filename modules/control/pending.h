// SPDX-License-Identifier: BSD-3-Clause
/* Interactive registrations waiting for an admin (spec control-ts2021.md §6.3 flow B). Anyone who can
 * reach /ts2021 can start one, so what each costs is bounded: at most one entry per machine key (a new
 * request from the machine replaces its previous one), at most `max` in all, each holding a small cleaned
 * summary of the client (hostname, a trimmed Hostinfo), never the request. Entries are found by AuthID
 * and by machine key through hash tables (SipHash with a random key), and expire in arrival order. */
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
    char *hostinfo; /* cleaned, only hostinfo_approval_keys; NULL if none */
    char hostname[MODEL_HOSTNAME_MAX + 1];
    bool ephemeral;
    int capver;
    int64_t created;
    bool done;
    int64_t node_id;            /* once approved */
    struct reg_waiter *waiters; /* Followup requests held until approval (register.c) */
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
