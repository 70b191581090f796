// SPDX-License-Identifier: BSD-3-Clause
/* Helpers for a module's reload hook (SIGHUP): take the keys whose new values can apply while running,
 * name the ones that cannot and why, and leave the running value of those in place. */
#ifndef WEFT_CORE_RELOAD_H
#define WEFT_CORE_RELOAD_H

#include <stddef.h>

#include "core/cfg.h"

/* A key that cannot change while the process runs, and why (said in the log when it changed). A key ending
 * in '*' names every key that starts with what comes before it ("oidc.*"). */
struct reload_fixed {
    const char *key;
    const char *why;
};

struct reload_changes {
    const char *keys[128]; /* names of the keys taken (pointing into the key table) */
    size_t n;
};

/* For every key of the table whose value differs between cur (the running config) and next (the re-read
 * one): a fixed key (NULL-key-terminated list) is logged with its reason and keeps its running value; any
 * other is moved into cur (next gets the old value, to be freed with it) and listed in out. Returns out->n. */
size_t reload_take(const char *module, const struct cfg_key *keys, void *cur, void *next,
                   const struct reload_fixed *fixed, struct reload_changes *out);
/* 1 if key, or any key under "key." (e.g. "tls.acme"), is in ch. */
int reload_changed(const struct reload_changes *ch, const char *key);
/* If key is in ch: put its running value back (cur gets its old value again, from next) and drop it from
 * ch. For a change the module could not apply. */
void reload_undo(const struct cfg_key *keys, void *cur, void *next, const char *key, struct reload_changes *ch);

#endif
