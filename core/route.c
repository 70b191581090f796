// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int route_key_init(struct route_key *k, const char *path, int prefix)
{
    if ((k->path = strdup(path)) == NULL)
        return -1;
    k->len = strlen(path);
    k->prefix = !!prefix;
    return 0;
}

const void *route_find(const void *first, size_t n, size_t stride, const char *path, size_t len)
{
    const struct route_key *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct route_key *k = (const struct route_key *)((const uint8_t *)first + i * stride);
        if (!k->prefix) {
            if (k->len == len && memcmp(k->path, path, len) == 0)
                return k;
        } else if (k->len <= len && memcmp(k->path, path, k->len) == 0) {
            if (best == NULL || k->len > best->len)
                best = k;
        }
    }
    return best;
}
