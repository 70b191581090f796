// SPDX-License-Identifier: BSD-3-Clause
/* Path routing shared by the HTTP server and the control channel: an exact path wins, else the longest
 * matching prefix. A route table is any array of structs that begin with a struct route_key. */
#ifndef WEFT_CORE_ROUTE_H
#define WEFT_CORE_ROUTE_H

#include <stddef.h>

struct route_key {
    char *path; /* owned */
    size_t len;
    int prefix;
};

/* Fill k with a copy of path; 0, or -1 if out of memory. */
int route_key_init(struct route_key *k, const char *path, int prefix);

/* The best route for path[0..len) among n routes laid out stride bytes apart from first, each beginning with
 * its struct route_key; NULL if none matches. */
const void *route_find(const void *first, size_t n, size_t stride, const char *path, size_t len);

#endif
