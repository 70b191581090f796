// SPDX-License-Identifier: BSD-3-Clause
/* The UAPI set parser on arbitrary text against a device, then get: never crash, and the listing must
 * end with errno=0 and parse again as a set request that is accepted (get -> set round trip).
 * listen_port is left out of the round trip: a set that names a free port really binds it (as root even
 * port 66), and the second device could not bind the same port while the first holds it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/wg/device.h"
#include "core/wg/uapi.h"

static struct loop *loop;

/* Turn a get listing into a set request: keep the keys set understands. */
static size_t to_set(const char *get, char *out, size_t cap)
{
    static const char *const keep[] = {"private_key=", "fwmark=", "public_key=", "preshared_key=", "endpoint=",
                                       "persistent_keepalive_interval=", "allowed_ip=", "protocol_version=", NULL};
    size_t n = 0;
    out[0] = 0;
    for (const char *p = get; *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        for (int i = 0; keep[i]; i++)
            if (strncmp(p, keep[i], strlen(keep[i])) == 0 && n + ll + 1 < cap) {
                memcpy(out + n, p, ll);
                out[n + ll] = '\n';
                n += ll + 1;
                out[n] = 0;
            }
        p += ll + (nl ? 1 : 0);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        loop = loop_new();
    struct wg_device *d = wg_device_new(loop);
    wg_uapi_set(d, (const char *)data, size);
    char *get = wg_uapi_get(d);
    if (!get)
        abort();
    size_t gl = strlen(get);
    if (gl < 9 || strcmp(get + gl - 9, "errno=0\n\n") != 0)
        abort();
    static char set[1 << 20];
    size_t n = to_set(get, set, sizeof(set));
    struct wg_device *d2 = wg_device_new(loop);
    if (wg_uapi_set(d2, set, n) != 0)
        abort();
    char *get2 = wg_uapi_get(d2);
    /* the same device again, but for the first one's listen_port line */
    static char want[1 << 20];
    size_t wl = 0;
    for (const char *p = get; *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p, "listen_port=", 12) != 0 && wl + ll < sizeof(want)) {
            memcpy(want + wl, p, ll);
            wl += ll;
        }
        p += ll;
    }
    want[wl] = 0;
    if (!get2 || strcmp(want, get2) != 0)
        abort();
    free(get);
    free(get2);
    wg_device_free(d2);
    wg_device_free(d);
    return 0;
}
