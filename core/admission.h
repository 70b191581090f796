// SPDX-License-Identifier: BSD-3-Clause
/* Client admission offered by the control role to an in-process DERP relay ("is this node key one of
 * ours?"). Control registers it with weft_service_put(ctx, ADMISSION_SERVICE, &iface); derp finds it with
 * weft_service_get. Neither role includes the other's headers. */
#ifndef WEFT_CORE_ADMISSION_H
#define WEFT_CORE_ADMISSION_H

#include <stdint.h>

#define ADMISSION_SERVICE "node-admission"

struct admission {
    /* 1 if node_key belongs to a registered, unexpired node; 0 if not. Called on the loop's thread. */
    int (*node_admitted)(void *ctx, const uint8_t node_key[32]);
    void *ctx;
};

#endif
