// SPDX-License-Identifier: BSD-3-Clause
/* A Linux TUN interface for the engine: IFF_TUN | IFF_NO_PI | IFF_VNET_HDR with checksum, TSO and (when
 * the kernel has it, 6.2+) USO offloads, so that one read() carries up to 64 KiB of one flow and one
 * write() can hand the kernel a coalesced TCP superpacket (core/wg/offload.h).
 *
 * Reads come out as plain IP packets written into the caller's slots; a superpacket bigger than the
 * slots left is continued at the next call. Writes take a batch of IP packets and coalesce consecutive
 * TCP segments of the same flow. */
#ifndef WEFT_WG_TUN_H
#define WEFT_WG_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct wg_tun;

/* Create (or attach to) the interface `name` (IFNAMSIZ-1 chars at most) and set its MTU (0: leave it).
 * Does not bring it up. NULL with a message in err. */
struct wg_tun *wg_tun_open(const char *name, unsigned mtu, char *err, size_t errlen);
void wg_tun_close(struct wg_tun *t);
int wg_tun_fd(const struct wg_tun *t);
const char *wg_tun_name(const struct wg_tun *t);
/* The interface's current MTU (SIOCGIFMTU), or -1. */
int wg_tun_mtu(const struct wg_tun *t);
/* Offloads in use: TSO (and USO) reads, coalesced writes. */
bool wg_tun_offloads(const struct wg_tun *t);

/* Read IP packets into slots: packet i is written at bufs[i] (room: cap bytes) and its length stored in
 * lens[i]. Returns the count (0: nothing to read now), or -1 on a read error other than EAGAIN.
 * Packets that cannot be split or do not fit are dropped (counted in *dropped). */
int wg_tun_read(struct wg_tun *t, uint8_t *const *bufs, size_t *lens, size_t n, size_t cap, uint64_t *dropped);

/* Write n IP packets (pkts[i].iov_base, .iov_len: exactly the IP packet). The headers of coalesced TCP
 * segments are rewritten in place. Returns the number of packets written (failures are dropped). */
size_t wg_tun_write(struct wg_tun *t, struct iovec *pkts, size_t n);

#endif
