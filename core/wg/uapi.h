// SPDX-License-Identifier: BSD-3-Clause
/* WireGuard's cross-platform userspace API (https://www.wireguard.com/xplatform/): the text protocol that
 * `wg` speaks to a userspace implementation over /var/run/wireguard/IFNAME.sock.
 *
 *   get=1\n\n               -> private_key=..\nlisten_port=..\npublic_key=..\n...errno=0\n\n
 *   set=1\nkey=value\n...\n  -> errno=0\n\n, or errno=-EINVAL (negative) when a line was refused
 *
 * Keys are lowercase hex. A set applies its lines in order (what came before a refused line stays). */
#ifndef WEFT_WG_UAPI_H
#define WEFT_WG_UAPI_H

#include <stddef.h>

struct loop;
struct wg_device;
struct wg_uapi;

#define WG_UAPI_DIR "/var/run/wireguard"

/* The protocol, without sockets. get: the reply text (malloc'd, NUL-terminated, ends "errno=0\n\n"); NULL
 * when out of memory. set: req holds the lines after "set=1\n" up to (not including) the blank line;
 * returns 0 or a negative errno. */
char *wg_uapi_get(struct wg_device *d);
int wg_uapi_set(struct wg_device *d, const char *req, size_t len);

/* Serve the protocol on WG_UAPI_DIR/ifname.sock (created 0600; a stale socket file is replaced, a live
 * one is an error). dir NULL = WG_UAPI_DIR. NULL with a message in err. */
struct wg_uapi *wg_uapi_listen(struct loop *loop, struct wg_device *d, const char *dir, const char *ifname,
                               char *err, size_t errlen);
/* Close the listener and every connection, and remove the socket file. */
void wg_uapi_close(struct wg_uapi *u);

#endif
