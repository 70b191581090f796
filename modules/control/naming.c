// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/naming.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modules/control/store.h"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
static bool is_sep(char c) { return c == ' ' || c == '.' || c == '@' || c == '_' || c == '-'; }

static size_t strip_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    if (len > n && strncasecmp(s + len - n, suffix, n) == 0)
        return len - n;
    return len;
}

size_t naming_label(const char *hostname, char out[NAMING_LABEL_MAX + 1])
{
    const char *h = hostname ? hostname : "";
    size_t len = strlen(h);
    size_t l2 = strip_suffix(h, len, ".local");
    if (l2 == len)
        l2 = strip_suffix(h, len, ".localdomain");
    if (l2 == len)
        l2 = strip_suffix(h, len, ".lan");
    len = l2;

    size_t n = 0;
    bool pending_dash = false;
    for (size_t i = 0; i < len && n < NAMING_LABEL_MAX; i++) {
        char c = h[i];
        if (is_alnum(c)) {
            if (pending_dash && n > 0) {
                out[n++] = '-';
                if (n == NAMING_LABEL_MAX)
                    break;
            }
            pending_dash = false;
            out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        } else if (is_sep(c)) {
            pending_dash = true;
        }
        /* anything else (punctuation, bytes of non-ASCII characters) is dropped */
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    if (n == 0) {
        memcpy(out, NAMING_FALLBACK, sizeof(NAMING_FALLBACK));
        return sizeof(NAMING_FALLBACK) - 1;
    }
    out[n] = 0;
    return n;
}

bool naming_label_valid(const char *label)
{
    size_t n = label ? strlen(label) : 0;
    if (n == 0 || n > NAMING_LABEL_MAX || label[0] == '-' || label[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

#define NAMING_SUFFIX_MAX 999999u

/* base + "-i", with base shortened (and stripped of a trailing '-') so that it fits 63 bytes. */
static int with_suffix(const char *base, size_t blen, unsigned i, char out[NAMING_LABEL_MAX + 1])
{
    char suffix[16];
    int sl = snprintf(suffix, sizeof(suffix), "-%u", i);
    size_t keep = blen;
    if (keep + (size_t)sl > NAMING_LABEL_MAX)
        keep = NAMING_LABEL_MAX - (size_t)sl;
    while (keep > 0 && base[keep - 1] == '-')
        keep--;
    if (keep == 0) /* cannot happen for a valid base (it starts with an alphanumeric) */
        return -1;
    memcpy(out, base, keep);
    memcpy(out + keep, suffix, (size_t)sl + 1);
    return 0;
}

/* Tries suffixes start..NAMING_SUFFIX_MAX then 1..start-1; returns the suffix used, or 0. */
static unsigned search(const char *base, unsigned start, naming_taken_fn taken, void *ctx,
                       char out[NAMING_LABEL_MAX + 1])
{
    size_t blen = strlen(base);
    unsigned i = start;
    for (unsigned n = 0; n < NAMING_SUFFIX_MAX; n++) {
        if (with_suffix(base, blen, i, out) < 0)
            return 0;
        if (!taken(ctx, out))
            return i;
        i = i == NAMING_SUFFIX_MAX ? 1 : i + 1;
    }
    return 0;
}

int naming_unique(const char *base, naming_taken_fn taken, void *ctx, char out[NAMING_LABEL_MAX + 1])
{
    return naming_unique_hinted(NULL, base, taken, ctx, out);
}

/* Open-addressing map: base label -> next suffix to try. */
struct naming_hints {
    struct hint {
        char *base;
        unsigned next;
    } *slot;
    size_t cap, n;
};

struct naming_hints *naming_hints_new(void) { return calloc(1, sizeof(struct naming_hints)); }

void naming_hints_free(struct naming_hints *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->cap; i++)
        free(h->slot[i].base);
    free(h->slot);
    free(h);
}

static size_t hint_hash(const char *s)
{
    uint64_t x = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)x;
}

static struct hint *hint_slot(struct naming_hints *h, const char *base)
{
    if ((h->n + 1) * 2 > h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        struct hint *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
            return NULL;
        for (size_t i = 0; i < h->cap; i++)
            if (h->slot[i].base) {
                size_t j = hint_hash(h->slot[i].base) & (ncap - 1);
                while (ns[j].base)
                    j = (j + 1) & (ncap - 1);
                ns[j] = h->slot[i];
            }
        free(h->slot);
        h->slot = ns;
        h->cap = ncap;
    }
    size_t j = hint_hash(base) & (h->cap - 1);
    while (h->slot[j].base && strcmp(h->slot[j].base, base) != 0)
        j = (j + 1) & (h->cap - 1);
    if (!h->slot[j].base) {
        if (!(h->slot[j].base = strdup(base)))
            return NULL;
        h->slot[j].next = 1;
        h->n++;
    }
    return &h->slot[j];
}

int naming_unique_hinted(struct naming_hints *h, const char *base, naming_taken_fn taken, void *ctx,
                         char out[NAMING_LABEL_MAX + 1])
{
    if (!naming_label_valid(base))
        return -1;
    if (!taken(ctx, base)) {
        strcpy(out, base);
        return 0;
    }
    struct hint *hs = h ? hint_slot(h, base) : NULL;
    unsigned used = search(base, hs ? hs->next : 1, taken, ctx, out);
    if (!used)
        return -1;
    if (hs)
        hs->next = used == NAMING_SUFFIX_MAX ? 1 : used + 1;
    return 0;
}

bool naming_taken_in_store(void *store, const char *label)
{
    struct model_node n;
    int rc = store_node_get_by_given_name(store, label, &n);
    if (rc == STORE_OK) {
        model_node_clear(&n);
        return true;
    }
    /* On a storage error say "free": the insert that follows reports the real error (and its unique index
     * still guards the name), rather than probing a million names against a broken database. */
    return false;
}
