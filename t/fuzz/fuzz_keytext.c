// SPDX-License-Identifier: BSD-3-Clause
/* Key text parsing: first byte picks the kind, the rest is the text. Whatever parses must format back to
 * the same text with the hex lower-cased, and re-parse to the same key. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum key_text kind = (enum key_text)(data[0] % (KEY_TEXT_BARE + 2)); /* one invalid kind too */
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    struct key k, k2;
    char out[KEY_TEXT_MAX];

    memset(&k, 0xa5, sizeof(k));
    if (key_parse(&k, kind, s, len) != 0) {
        struct key untouched;
        memset(&untouched, 0xa5, sizeof(untouched));
        if (memcmp(&k, &untouched, sizeof(k)) != 0)
            abort();
        return 0;
    }
    if (kind > KEY_TEXT_BARE)
        abort();
    int n = key_format(out, sizeof(out), kind, &k);
    if (n < 0 || (size_t)n != len)
        abort();
    size_t plen = strlen(key_text_prefix(kind));
    if (memcmp(out, s, plen) != 0)
        abort();
    for (size_t i = plen; i < len; i++)
        if (out[i] != tolower((unsigned char)s[i]) || !isxdigit((unsigned char)s[i]))
            abort();
    if (key_parse(&k2, kind, out, (size_t)n) != 0 || !key_equal(&k, &k2))
        abort();
    return 0;
}
