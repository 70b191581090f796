// SPDX-License-Identifier: BSD-3-Clause
/* Sorted arrays of C strings (a policy node's tags, a netmap node's capabilities): the comparator their
 * sort and their lookup share, and the lookup itself (bsearch(3)), so the two roles do not each keep a
 * binary search of their own. */
#ifndef WEFT_CORE_STRV_H
#define WEFT_CORE_STRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* qsort(3) / bsearch(3) comparator for elements of type char * (strcmp order). */
static inline int strv_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether s is one of v[0..n), sorted by strv_cmp (v may be NULL when n is 0). */
static inline bool strv_sorted_has(char *const *v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof *v, strv_cmp);
}

#endif
