// SPDX-License-Identifier: BSD-3-Clause
/* The ClientHello extension parsers every TLS listener runs on what any client sends (core/tls.c): ALPN
 * lists and server names of arbitrary bytes are refused or read within bounds. */
#include "config.h"
#include "core/tls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[256];
    (void)tls_hello_alpn_has(data, size, "acme-tls/1");
    (void)tls_hello_alpn_has(data, size, "h2");
    if (tls_hello_sni(data, size, name, sizeof name) == 0) {
        size_t n = strlen(name);
        if (n == 0 || n + 5 > size || memcmp(name, data + 5, n) != 0)
            abort();
    }
    return 0;
}
