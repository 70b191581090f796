// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the hostname -> DNS label sanitizer (client-controlled input) and the unique-name search.
 * Properties: the label is always valid (1..63 bytes of [a-z0-9-], no dash at either end), sanitizing is
 * idempotent, and naming_unique returns a valid label that the "taken" set refuses.
 * The control sources are not in libweftcore (the fuzz build's library), so they are compiled in here. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/model.c"
#include "modules/control/naming.c"

/* Takes the base and the first k suffixed candidates (k from the input). */
static bool taken_first_k(void *ctx, const char *label)
{
    int *k = ctx;
    (void)label;
    return (*k)-- > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0; /* an embedded NUL just ends the hostname early, as it would in C */
    char out[NAMING_LABEL_MAX + 1], again[NAMING_LABEL_MAX + 1], uniq[NAMING_LABEL_MAX + 1];
    size_t n = naming_label(s, out);
    if (n == 0 || n > NAMING_LABEL_MAX || n != strlen(out) || !naming_label_valid(out))
        abort();
    if (naming_label(out, again) != n || strcmp(out, again) != 0)
        abort();
    int k = size ? data[0] % 40 : 0;
    if (naming_unique(out, taken_first_k, &k, uniq) != 0 || !naming_label_valid(uniq) || k != -1)
        abort();
    free(s);
    return 0;
}
