// SPDX-License-Identifier: BSD-3-Clause
/* Client admission offered by the control role to an in-process DERP relay ("is this node key one of
 * ours?"), and the relay's way to drop clients control no longer admits. Each role registers its side
 * with weft_service_put(ctx, NAME, &iface); the other finds it with weft_service_get. Neither role
 * includes the other's headers. */
#ifndef WEFT_CORE_ADMISSION_H
#define WEFT_CORE_ADMISSION_H

#include <stdint.h>

#define ADMISSION_SERVICE "node-admission"

struct admission {
    /* 1 if node_key belongs to a registered, unexpired node; 0 if not. Called on the loop's thread. */
    int (*node_admitted)(void *ctx, const uint8_t node_key[32]);
    void *ctx;
};

/* The other way round: an in-process relay offers this under RELAY_CLIENTS_SERVICE, and control calls it when a
 * node key stops being admitted (the node was deleted or expired, or registered a new key), so that the
 * relay drops the connections it already admitted with that key. */
#define RELAY_CLIENTS_SERVICE "relay-clients"

struct relay_clients {
    /* Close every client connection (not mesh links) authenticated with node_key. Loop thread. */
    void (*drop_node)(void *ctx, const uint8_t node_key[32]);
    void *ctx;
};

#endif
