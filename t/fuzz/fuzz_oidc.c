// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes what the auth_oidc plugin reads from the network (plugins/auth_oidc/): the callback's query and the
 * Cookie header (params.c), a provider's JWK Set and ID tokens (idtoken.c, over cjose). Input: a selector
 * byte, then the text. Properties: no crash, leak or overread (ASan); outputs NUL-terminated within their
 * buffers; and no input passes as an ID token: the seed's token is valid only for its own bytes, under a
 * key whose private half is not here, so every mutation must fail to verify. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/auth_oidc/idtoken.c"
#include "plugins/auth_oidc/params.c"

/* an RSA public key (kid "fz"); the seed corpus holds a token it signed for iss https://idp.example, aud
 * weft, nonce n0, valid from 1700000000 for an hour */
static const char fixed_jwks[] = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"rdZE_sLZ0p95fV9KfktDJ9bFnvkDbnev6drlmJSNnLRHV4PQS-aOStuV11qEhEYrpa_4mkWOUjDg6cIsrePp34kDxlaXmfMC19klgKEki2w6rbXwOwJ0gEIHq6FIPYJg1qxEOiTG1q9wj6JYd3sYsWba1rn5Twj2Z8yleEj2SoIHqBgXn7xUKJeHbnHQr_A8ahGYLwGm1stVQ6w_xc6Y8KXTtigfE-boQXa0Yj2l-gUc6COIVzkv84ZbM2VwNLfRS9Jshn2ubYS7SG-ZLdtly1zs4ihF369xlLhWhY8doWytN7Mu6U4-rzjHG2njZdVm_jcKMmYyYb428E1CyaXaBw\",\"e\":\"AQAB\",\"kid\":\"fz\",\"alg\":\"RS256\",\"use\":\"sig\"}]}";
static const char seed_token[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ6In0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiYXVkIjoid2VmdCIsInN1YiI6ImFsaWNlIiwibm9uY2UiOiJuMCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwiZW1haWxfdmVyaWZpZWQiOnRydWV9.Xx1kkbhcbgtQIBAAafdgHE6MtW1Y0lRtkxw7hxJkSkdTP-InAXf7uC9lyKU2NCaAMj_rQRAJi8Xo3PNJXgBv39JTRr9XHSkgDwQqsgdYMNFTjUYxIi3PzpOfPKorqOdh-IPxwSysROfbD0Krb0xD9iq-zU9WeVgOUghaqFxt4hdcL-I18E8Q_ZD8woOnZzNTx095vegUfZW27_ML-X3oxY5FNRjRYU-PJb3iGhZj_pSbLVH9qbUMGKLtTsDKDhawIPleGQrMQzJ2nZKsIvCMPhR_sl8vBeGcNTuX1CB4V7F1nwnS0onwATIf292V5SHMmFPb-UKEPwC8JNzO_3jNHw";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jwks keys;
    static int loaded;
    if (!loaded) {
        char err[256];
        if (jwks_load(&keys, fixed_jwks, strlen(fixed_jwks), err, sizeof err))
            abort();
        loaded = 1;
    }
    if (size < 1 || size > 16384)
        return 0;
    int sel = data[0] % 4;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    size_t len = size - 1;
    char out[64];
    switch (sel) {
    case 0: {
        int r = param_get(s, len, "state", out, sizeof out);
        if (r == 1 && strlen(out) >= sizeof out)
            abort();
        break;
    }
    case 1:
        if (cookie_get(s, "weft_oidc", out, sizeof out) == 1 && strlen(out) >= sizeof out)
            abort();
        break;
    case 2: {
        struct jwks k = {.n = 0};
        char err[256];
        if (jwks_load(&k, s, len, err, sizeof err) == 0 && (k.n == 0 || k.n > JWKS_MAX))
            abort();
        jwks_clear(&k);
        break;
    }
    default: {
        static const char *const algs[] = {"RS256", "ES256", "PS256", NULL};
        struct idt_expect want = {"https://idp.example", "weft", "n0", algs, 1700000100};
        struct json_object *claims = NULL;
        char err[300];
        int r = idt_check(s, len, &keys, &want, &claims, err, sizeof err);
        /* only the seed's own token verifies */
        if (r == IDT_OK && strcmp(s, seed_token))
            abort();
        json_object_put(claims);
        break;
    }
    }
    free(s);
    return 0;
}
