// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the web console's check of a request path below /admin/ (console.c's name_ok and type_of), which
 * decides whether a client-chosen path may be opened under the console's directory. Properties: an accepted
 * name is relative (no leading '/'), has no empty, "." or ".." segment and no hidden file, only the
 * characters [A-Za-z0-9._/-], is shorter than 256 bytes; and a type is found only for a known extension.
 * The control sources are not in libweftcore (the fuzz build's library), so console.c is compiled in. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/console.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0; /* core/http.c refuses a path with a NUL: C sees the string up to the first one */
    if (name_ok(s)) {
        size_t n = strlen(s);
        if (!n || n >= 256 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") || strstr(s, "/.") || s[0] == '.')
            abort();
        for (size_t i = 0; i < n; i++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-", s[i]))
                abort();
    }
    const char *t = type_of(s), *dot = strrchr(s, '.');
    if (t && (!dot || (strcmp(dot, ".html") && strcmp(dot, ".css") && strcmp(dot, ".js") && strcmp(dot, ".json") &&
                       strcmp(dot, ".svg") && strcmp(dot, ".png") && strcmp(dot, ".ico") && strcmp(dot, ".txt"))))
        abort();
    free(s);
    return 0;
}
