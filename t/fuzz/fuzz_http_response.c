// SPDX-License-Identifier: BSD-3-Clause
/* http_response_parse on arbitrary bytes; a parsed head is written back out and must parse the same. */
#include "config.h"
#include "core/http_client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response a, b;
    int n = http_response_parse((const char *)data, size, &a);
    if (n <= 0)
        return 0;
    if ((size_t)n > size || a.status < 100 || a.status > 999)
        abort();
    size_t cap = 64 + strlen(a.reason);
    for (size_t i = 0; i < a.num_headers; i++)
        cap += strlen(a.headers[i].name) + strlen(a.headers[i].value) + 4;
    char *out = malloc(cap);
    size_t off = (size_t)snprintf(out, cap, "HTTP/1.%d %d %s\r\n", a.minor_version, a.status, a.reason);
    for (size_t i = 0; i < a.num_headers; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s: %s\r\n", a.headers[i].name, a.headers[i].value);
    off += (size_t)snprintf(out + off, cap - off, "\r\n");
    int m = http_response_parse(out, off, &b);
    if (m != (int)off || b.status != a.status || b.num_headers != a.num_headers ||
        strcmp(a.reason, b.reason) != 0)
        abort();
    for (size_t i = 0; i < a.num_headers; i++)
        if (strcmp(a.headers[i].name, b.headers[i].name) != 0 ||
            strcmp(a.headers[i].value, b.headers[i].value) != 0)
            abort();
    if (a.num_headers > 0 && http_response_header(&b, a.headers[0].name) == NULL)
        abort();
    http_response_free(&b);
    http_response_free(&a);
    free(out);
    return 0;
}
