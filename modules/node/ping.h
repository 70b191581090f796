// SPDX-License-Identifier: BSD-3-Clause
/* One ICMP / ICMPv6 echo through the kernel (and so through the TUN and the tunnel): a ping socket
 * (SOCK_DGRAM) when the system allows it, else a raw socket. For `weft ping`. */
#ifndef WEFT_NODE_PING_H
#define WEFT_NODE_PING_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct pinger;

/* err NULL: the echo reply came after rtt_ms. The pinger is freed after the callback. */
typedef void (*ping_cb)(void *arg, const char *err, double rtt_ms);

/* family 4 or 6; src (may be NULL) and dst are 4 or 16 bytes. NULL with a message in err. */
struct pinger *ping_start(struct loop *l, int family, const uint8_t *src, const uint8_t *dst,
                          unsigned timeout_ms, ping_cb cb, void *arg, char *err, size_t errlen);
/* Stop without calling back. */
void ping_cancel(struct pinger *p);

#endif
