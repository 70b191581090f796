// SPDX-License-Identifier: BSD-3-Clause
/* The node daemon's local API: HTTP over a unix socket (node.socket, mode 0600, or 0660 for
 * node.socket_group), JSON bodies. The CLI verbs are its client (verbs.c).
 *
 *   GET  /v1/status                       the state, self and peers (what `weft status --json` prints)
 *   POST /v1/up     {LoginServer,AuthKey,Hostname,Timeout}
 *                                         streams NDJSON: {"AuthURL":...} while an interactive login waits,
 *                                         then {"State":"Running"} or {"Error":...,"Kind":...}
 *   POST /v1/down                         {"State":"Stopped"}
 *   POST /v1/logout                       {} or {"Error":...}
 *   POST /v1/ping   {Peer,Timeout}        one ICMP echo through the tunnel: {Peer,IP,Path,RTTms} or {Error};
 *                                         Path: the direct "ip:port" or "DERP(code, region N)"
 *   POST /v1/netcheck                     a fresh netcheck report: {UDP,IPv4,IPv6,OSHasIPv6,
 *                                         MappingVariesByDestIP,UPnP,PMP,PCP,HavePortMap,PreferredDERP,
 *                                         RegionLatency:[{Region,Code,Name,V4ms,V6ms}]} or {Error}
 * Kinds of errors: "refused" (control said no), "unreachable" (no answer from control), "timeout",
 * "usage" (bad request), "internal". */
#ifndef WEFT_NODE_LOCALAPI_H
#define WEFT_NODE_LOCALAPI_H

#include <stddef.h>

struct node;
struct lapi;

struct lapi *lapi_new(struct node *n, const char *path, const char *group, char *err, size_t errlen);
/* Stop accepting (shutdown begins); open requests are answered. */
void lapi_close(struct lapi *l);
void lapi_free(struct lapi *l);

enum lapi_event {
    LAPI_EV_STATE,        /* the state changed (text: its name) */
    LAPI_EV_AUTH_URL,     /* visit text to log in */
    LAPI_EV_REFUSED,      /* text: why */
    LAPI_EV_CONTROL_ERROR /* text: why (transient) */
};
/* Tell the `weft up` requests waiting what happened. */
void lapi_notify(struct lapi *l, enum lapi_event ev, const char *text);

/* The socket path: node.socket, relative to the state directory unless absolute. */
int lapi_socket_path(const char *state_dir, const char *socket, char *out, size_t cap);

#endif
