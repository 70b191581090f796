// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/reload.h"

#include <string.h>

#include "core/log.h"

static const char *fixed_why(const struct reload_fixed *fixed, const char *key)
{
    for (; fixed && fixed->key; fixed++) {
        size_t n = strlen(fixed->key); /* "oidc.*": every key under oidc. */
        if (n && fixed->key[n - 1] == '*' ? strncmp(fixed->key, key, n - 1) == 0 : strcmp(fixed->key, key) == 0)
            return fixed->why;
    }
    return NULL;
}

size_t reload_take(const char *module, const struct cfg_key *keys, void *cur, void *next,
                   const struct reload_fixed *fixed, struct reload_changes *out)
{
    out->n = 0;
    for (const struct cfg_key *k = keys; k && k->name; k++) {
        if (cfg_key_equal(k, cur, next))
            continue;
        const char *why = fixed_why(fixed, k->name);
        if (why) {
            log_warn("event=reload key=%s%s%s result=kept msg=\"cannot change while running: %s; restart to "
                     "apply\"",
                     module ? module : "", module ? "." : "", k->name, why);
            continue;
        }
        cfg_key_swap(k, cur, next);
        if (out->n < sizeof out->keys / sizeof *out->keys)
            out->keys[out->n++] = k->name;
    }
    return out->n;
}

int reload_changed(const struct reload_changes *ch, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < ch->n; i++)
        if (strncmp(ch->keys[i], key, kl) == 0 && (ch->keys[i][kl] == 0 || ch->keys[i][kl] == '.'))
            return 1;
    return 0;
}

void reload_undo(const struct cfg_key *keys, void *cur, void *next, const char *key, struct reload_changes *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        if (strcmp(ch->keys[i], key) == 0) {
            for (const struct cfg_key *k = keys; k && k->name; k++)
                if (strcmp(k->name, key) == 0)
                    cfg_key_swap(k, cur, next);
            ch->keys[i] = ch->keys[--ch->n];
            return;
        }
}
