// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/api/limit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct slot {
    uint8_t key[16]; /* IPv4 mapped, or an IPv6 /64 */
    bool used;
    double tokens;
    uint64_t last_ms;
};

struct api_limit {
    struct slot s[API_LIMIT_SLOTS];
    uint8_t seed[crypto_shorthash_KEYBYTES]; /* the slot of an address is not predictable from outside */
};

struct api_limit *api_limit_new(void)
{
    struct api_limit *l = calloc(1, sizeof *l);
    if (l && sodium_init() >= 0)
        randombytes_buf(l->seed, sizeof l->seed);
    return l;
}

void api_limit_free(struct api_limit *l)
{
    free(l);
}

static void key_of(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, a, memcmp(a, v4mapped, 12) ? 8 : 16);
    } /* unix socket or unknown: all share the zero key */
}

/* The 4-way set an address belongs to; its own slot, or NULL (and *victim the one to reuse). */
static struct slot *find(struct api_limit *l, const uint8_t key[16], struct slot **victim)
{
    uint8_t h[8];
    crypto_shorthash(h, key, 16, l->seed);
    size_t base = (((size_t)h[0] << 8 | h[1]) % (API_LIMIT_SLOTS / 4)) * 4;
    *victim = NULL;
    for (size_t i = base; i < base + 4; i++) {
        struct slot *s = &l->s[i];
        if (s->used && !memcmp(s->key, key, 16))
            return s;
        if (!*victim || !s->used || ((*victim)->used && s->last_ms < (*victim)->last_ms))
            *victim = s;
    }
    return NULL;
}

static void refill(struct slot *s, uint64_t now_ms)
{
    if (now_ms > s->last_ms)
        s->tokens += (double)(now_ms - s->last_ms) * API_LIMIT_RATE / 60000.0;
    if (s->tokens > API_LIMIT_BURST)
        s->tokens = API_LIMIT_BURST;
    s->last_ms = now_ms;
}

bool api_limit_allowed(struct api_limit *l, const struct sockaddr *sa, uint64_t now_ms, int *retry_s)
{
    uint8_t key[16];
    struct slot *v, *s;
    key_of(sa, key);
    if (!(s = find(l, key, &v)))
        return true;
    refill(s, now_ms);
    if (s->tokens >= 1)
        return true;
    *retry_s = (int)((1 - s->tokens) * 60 / API_LIMIT_RATE) + 1;
    return false;
}

void api_limit_failed(struct api_limit *l, const struct sockaddr *sa, uint64_t now_ms)
{
    uint8_t key[16];
    struct slot *v, *s;
    key_of(sa, key);
    if (!(s = find(l, key, &v))) {
        s = v;
        memcpy(s->key, key, 16);
        s->used = true;
        s->tokens = API_LIMIT_BURST;
        s->last_ms = now_ms;
    }
    refill(s, now_ms);
    s->tokens = s->tokens >= 1 ? s->tokens - 1 : 0;
}
