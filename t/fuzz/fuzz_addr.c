// SPDX-License-Identifier: BSD-3-Clause
/* addr_parse on arbitrary text: a numeric result, formatted by addr_format, must parse the same. */
#include "config.h"
#include "core/addr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[512], buf[ADDR_STRLEN];
    struct addr a, b;
    if (size >= sizeof(text) || memchr(data, 0, size) != NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    if (addr_parse(text, &a) != 0 || a.len == 0)
        return 0;
    addr_format((struct sockaddr *)&a.sa, a.len, buf, sizeof(buf));
    if (addr_parse_numeric(buf, &b) != 0)
        abort();
    if (a.len != b.len || a.sa.ss_family != b.sa.ss_family || memcmp(&a.sa, &b.sa, a.len) != 0)
        abort();
    if (addr_port((struct sockaddr *)&a.sa) != addr_port((struct sockaddr *)&b.sa))
        abort();
    return 0;
}
