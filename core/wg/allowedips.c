// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/allowedips.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELETED UINT32_MAX

static int fam_idx(int family)
{
    return family == 6 ? 1 : 0;
}

static unsigned fam_bits(int family)
{
    return family == 6 ? 128 : 32;
}

static void mask(uint8_t out[16], const uint8_t *addr, int family, unsigned cidr)
{
    unsigned nbytes = fam_bits(family) / 8;
    memset(out, 0, 16);
    memcpy(out, addr, nbytes);
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned bit = i * 8;
        if (bit >= cidr)
            out[i] = 0;
        else if (cidr - bit < 8)
            out[i] &= (uint8_t)(0xff << (8 - (cidr - bit)));
    }
}

/* Keyed so that packet addresses chosen by a remote party cannot pile up in one probe chain. */
static uint32_t hash(const struct wg_allowedips *t, const uint8_t a[16], int family, unsigned cidr)
{
    uint64_t w0, w1;
    memcpy(&w0, a, 8);
    memcpy(&w1, a + 8, 8);
    uint64_t h = t->seed ^ ((uint64_t)family << 8 | cidr);
    h ^= w0;
    h *= 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
    h ^= w1;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return (uint32_t)h;
}

void wg_aip_init(struct wg_allowedips *t)
{
    memset(t, 0, sizeof(*t));
    randombytes_buf(&t->seed, sizeof(t->seed));
}

void wg_aip_free(struct wg_allowedips *t)
{
    free(t->e);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* The slot holding (a, family, cidr), or the first free slot of its chain (*found false). */
static uint32_t probe(const struct wg_allowedips *t, const uint8_t a[16], int family, unsigned cidr, bool *found)
{
    uint32_t m = t->n_slots - 1, i = hash(t, a, family, cidr) & m, first_free = UINT32_MAX;
    for (;;) {
        uint32_t s = t->slots[i];
        if (s == 0) {
            *found = false;
            return first_free != UINT32_MAX ? first_free : i;
        }
        if (s == DELETED) {
            if (first_free == UINT32_MAX)
                first_free = i;
        } else {
            const struct wg_aip_entry *e = &t->e[s - 1];
            if (e->family == family && e->cidr == cidr && memcmp(e->addr, a, 16) == 0) {
                *found = true;
                return i;
            }
        }
        i = (i + 1) & m;
    }
}

static int rehash(struct wg_allowedips *t, uint32_t n)
{
    uint32_t *old = t->slots, old_n = t->n_slots;
    t->slots = calloc(n, sizeof(*t->slots));
    if (!t->slots) {
        t->slots = old;
        return -1;
    }
    t->n_slots = n;
    t->tombs = 0;
    for (uint32_t i = 0; i < old_n; i++) {
        uint32_t s = old[i];
        if (s == 0 || s == DELETED)
            continue;
        const struct wg_aip_entry *e = &t->e[s - 1];
        bool found;
        t->slots[probe(t, e->addr, e->family, e->cidr, &found)] = s;
    }
    free(old);
    return 0;
}

static void lens_add(struct wg_allowedips *t, int family, unsigned cidr)
{
    int f = fam_idx(family);
    if (t->len_count[f][cidr]++ > 0)
        return;
    unsigned n = t->n_lens[f], i = 0;
    while (i < n && t->lens[f][i] > cidr)
        i++;
    memmove(&t->lens[f][i + 1], &t->lens[f][i], n - i);
    t->lens[f][i] = (uint8_t)cidr;
    t->n_lens[f]++;
}

static void lens_del(struct wg_allowedips *t, int family, unsigned cidr)
{
    int f = fam_idx(family);
    if (--t->len_count[f][cidr] > 0)
        return;
    unsigned n = t->n_lens[f], i = 0;
    while (i < n && t->lens[f][i] != cidr)
        i++;
    if (i < n) {
        memmove(&t->lens[f][i], &t->lens[f][i + 1], n - i - 1);
        t->n_lens[f]--;
    }
}

static void owner_unlink(struct wg_allowedips *t, uint32_t idx)
{
    struct wg_aip_entry *e = &t->e[idx - 1];
    struct wg_aip_owner *o = e->owner;
    if (e->prev)
        t->e[e->prev - 1].next = e->next;
    else
        o->head = e->next;
    if (e->next)
        t->e[e->next - 1].prev = e->prev;
    else
        o->tail = e->prev;
    o->count--;
    e->next = e->prev = 0;
}

static void owner_link(struct wg_allowedips *t, uint32_t idx, struct wg_aip_owner *o)
{
    struct wg_aip_entry *e = &t->e[idx - 1];
    e->owner = o;
    e->next = 0;
    e->prev = o->tail;
    if (o->tail)
        t->e[o->tail - 1].next = idx;
    else
        o->head = idx;
    o->tail = idx;
    o->count++;
}

int wg_aip_insert(struct wg_allowedips *t, int family, const uint8_t *addr, unsigned cidr,
                  struct wg_aip_owner *owner)
{
    if ((family != 4 && family != 6) || cidr > fam_bits(family) || !owner)
        return -1;
    uint8_t a[16];
    mask(a, addr, family, cidr);
    if ((t->used + t->tombs + 1) * 2 > t->n_slots &&
        rehash(t, t->n_slots ? (t->used + 1) * 4 > t->n_slots ? t->n_slots * 2 : t->n_slots : 16) < 0)
        return -1;
    bool found;
    uint32_t slot = probe(t, a, family, cidr, &found);
    if (found) {
        uint32_t idx = t->slots[slot];
        if (t->e[idx - 1].owner != owner) {
            owner_unlink(t, idx);
            owner_link(t, idx, owner);
        }
        return 0;
    }
    uint32_t idx;
    if (t->free_head) {
        idx = t->free_head;
        t->free_head = t->e[idx - 1].next;
    } else {
        if (t->n_e == t->cap_e) {
            uint32_t nc = t->cap_e ? t->cap_e * 2 : 16;
            struct wg_aip_entry *ne = realloc(t->e, (size_t)nc * sizeof(*ne));
            if (!ne)
                return -1;
            t->e = ne;
            t->cap_e = nc;
        }
        idx = ++t->n_e;
    }
    struct wg_aip_entry *e = &t->e[idx - 1];
    memset(e, 0, sizeof(*e));
    memcpy(e->addr, a, 16);
    e->family = (uint8_t)family;
    e->cidr = (uint8_t)cidr;
    if (t->slots[slot] == DELETED)
        t->tombs--;
    t->slots[slot] = idx;
    t->used++;
    owner_link(t, idx, owner);
    lens_add(t, family, cidr);
    return 0;
}

static void remove_at(struct wg_allowedips *t, uint32_t slot)
{
    uint32_t idx = t->slots[slot];
    struct wg_aip_entry *e = &t->e[idx - 1];
    lens_del(t, e->family, e->cidr);
    owner_unlink(t, idx);
    e->owner = NULL;
    e->next = t->free_head;
    t->free_head = idx;
    t->slots[slot] = DELETED;
    t->used--;
    t->tombs++;
}

int wg_aip_remove(struct wg_allowedips *t, int family, const uint8_t *addr, unsigned cidr,
                  struct wg_aip_owner *owner)
{
    if ((family != 4 && family != 6) || cidr > fam_bits(family) || t->n_slots == 0)
        return -1;
    uint8_t a[16];
    mask(a, addr, family, cidr);
    bool found;
    uint32_t slot = probe(t, a, family, cidr, &found);
    if (!found || (owner && t->e[t->slots[slot] - 1].owner != owner))
        return -1;
    remove_at(t, slot);
    return 0;
}

void wg_aip_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner)
{
    while (owner->head) {
        const struct wg_aip_entry *e = &t->e[owner->head - 1];
        bool found;
        uint32_t slot = probe(t, e->addr, e->family, e->cidr, &found);
        if (!found)
            break; /* cannot happen: every linked entry is in the table */
        remove_at(t, slot);
    }
}

struct wg_aip_owner *wg_aip_lookup(const struct wg_allowedips *t, int family, const uint8_t *addr)
{
    int f = fam_idx(family);
    if (t->used == 0)
        return NULL;
    for (unsigned i = 0; i < t->n_lens[f]; i++) {
        unsigned cidr = t->lens[f][i];
        uint8_t a[16];
        mask(a, addr, family, cidr);
        bool found;
        uint32_t slot = probe(t, a, family, cidr, &found);
        if (found)
            return t->e[t->slots[slot] - 1].owner;
    }
    return NULL;
}

int wg_aip_parse(const char *text, int *family, uint8_t addr[16], unsigned *cidr)
{
    char buf[64];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = 0;
    memset(addr, 0, 16);
    if (strchr(buf, ':')) {
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return -1;
        *family = 6;
    } else {
        if (inet_pton(AF_INET, buf, addr) != 1)
            return -1;
        *family = 4;
    }
    unsigned bits = fam_bits(*family);
    if (!slash) {
        *cidr = bits;
        return 0;
    }
    if (*slash < '0' || *slash > '9' || strlen(slash) > 3)
        return -1;
    char *end;
    unsigned long c = strtoul(slash, &end, 10);
    if (*end || c > bits)
        return -1;
    *cidr = (unsigned)c;
    return 0;
}

char *wg_aip_format(const struct wg_aip_entry *e, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->addr, ip, sizeof(ip));
    snprintf(buf, cap, "%s/%u", ip, e->cidr);
    return buf;
}
