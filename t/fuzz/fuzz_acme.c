// SPDX-License-Identifier: BSD-3-Clause
/* The ACME server's answers (core/acme/msg.c) on arbitrary bytes: every parser either refuses them or fills
 * its struct with NUL-terminated strings; nothing leaks or overruns. */
#include "config.h"
#include "core/acme/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct acme_directory d;
    if (acme_directory_parse(body, size, &d) == 0) {
        if (!d.new_nonce || !d.new_account || !d.new_order || strlen(d.new_order) > size)
            abort();
        acme_directory_free(&d);
    }
    struct acme_order_msg o;
    if (acme_order_parse(body, size, &o) == 0) {
        for (size_t i = 0; i < o.nauthz; i++)
            if (strlen(o.authz[i]) > size)
                abort();
        acme_order_msg_free(&o);
    }
    static const char *const types[] = {"http-01", "tls-alpn-01"};
    for (int t = 0; t < 2; t++) {
        struct acme_authz_msg a;
        if (acme_authz_parse(body, size, types[t], &a) == 0) {
            if (!a.status || !a.name || (a.token && !a.url) || strlen(a.name) > size)
                abort();
            acme_authz_msg_free(&a);
        }
    }
    char buf[256];
    int bad;
    if (acme_problem_parse(body, size, buf, sizeof buf, &bad) == 0 && strlen(buf) >= sizeof buf)
        abort();
    return 0;
}
