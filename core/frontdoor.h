// SPDX-License-Identifier: BSD-3-Clause
/* Single box: what the coordination server and a DERP relay in the same process tell each other, so that
 * the relay can follow control onto its listeners (one port, one certificate) and both can check, at start,
 * that clients will find the relay where the DERP map says. Control offers FRONTDOOR_SERVICE, derp offers
 * RELAY_SERVICE (weft_service_put/get); neither role includes the other's headers. */
#ifndef WEFT_CORE_FRONTDOOR_H
#define WEFT_CORE_FRONTDOOR_H

struct tls_conf;

#define FRONTDOOR_SERVICE "front-door"

struct frontdoor {
    const char *listen;         /* control's plain HTTP listener, or NULL */
    const char *tls_listen;     /* its TLS listener, or NULL */
    const struct tls_conf *tls; /* that listener's certificate source (kept current across reloads) */
    /* Where the DERP map sends clients for the in-process relay (from control.server_url); relay_host is
     * NULL when the map comes from a file and names no relay of this process. */
    const char *relay_host;
    int relay_port;
    int relay_tls;
    const char *relay_url; /* server_url, for messages */
};

#define RELAY_SERVICE "relay"

struct relay_info {
    int stun_port; /* the UDP port its STUN server answers on; 0: no STUN */
};

#endif
