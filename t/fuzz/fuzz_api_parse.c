// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the REST API's parsers of request input that is not JSON (modules/control/api/parse.c): the
 * Authorization header, form bodies (the OAuth token request), scope lists, the Cookie header, and secret
 * texts (cred.c).
 * Input: a selector byte, then the text. Properties: no crash or overread (ASan), outputs always
 * NUL-terminated within their buffers, and what parses is consistent (a parsed Bearer token is the header's
 * value; a found form value holds no NUL; valid scopes allow themselves). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/api/cred.c"
#include "modules/control/api/parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    int sel = data[0] % 5;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    size_t len = size - 1; /* the form parser takes a length: embedded NULs are data */
    char user[API_SECRET_MAX], pass[API_SECRET_MAX], out[64], key_id[MODEL_CRED_ID_MAX + 1];
    switch (sel) {
    case 0:
        if (api_parse_authorization(s, user, sizeof user, pass, sizeof pass) == 0) {
            if (strlen(user) >= sizeof user || strlen(pass) >= sizeof pass)
                abort();
            if (!strncasecmp(s + strspn(s, " "), "Bearer", 6) && pass[0])
                abort();
        }
        break;
    case 1: {
        int r = api_form_get(s, len, "client_id", out, sizeof out);
        if (r == 1 && strlen(out) >= sizeof out)
            abort();
        r = api_form_get(s, len, "scope", out, 1);
        if (r == 1 && out[0])
            abort();
        break;
    }
    case 2: {
        char bad[80];
        if (api_scopes_valid(s, bad, sizeof bad)) {
            const char *p = s + strspn(s, " ,");
            size_t n = strcspn(p, " ,");
            char one[64];
            if (n && n < sizeof one) {
                memcpy(one, p, n);
                one[n] = 0;
                if (!api_scope_allows(s, one))
                    abort();
            }
        } else if (strlen(bad) >= sizeof bad) {
            abort();
        }
        break;
    }
    case 3: { /* the console's session cookie: the value found lies within the header, and fits */
        char v[65];
        if (api_cookie_get(s, "weft_session", v, sizeof v) == 1 && (strlen(v) >= sizeof v || !strstr(s, v)))
            abort();
        break;
    }
    default:
        if (cred_parse(CRED_APIKEY_PREFIX, s, strlen(s), key_id) == 0 &&
            (strlen(key_id) != 1 + CRED_ID_HEX || strncmp(s + strlen(CRED_APIKEY_PREFIX), key_id, strlen(key_id))))
            abort();
        break;
    }
    free(s);
    return 0;
}
