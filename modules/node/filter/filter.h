// SPDX-License-Identifier: BSD-3-Clause
/* The node's inbound packet filter: the PacketFilter rules control sends (spec netmap.md §5), read the
 * way Tailscale clients read them (wgengine/filter; our own code):
 *
 *  - default deny for packets from peers; outbound is never filtered;
 *  - first, direction-free checks: too short or malformed -> drop; multicast -> drop; link-local
 *    unicast (but 169.254.169.254) -> drop; a fragment after the first -> accept;
 *  - the destination must be one of this node's addresses;
 *  - TCP: a SYN needs a rule (protocol, source, destination address and port); anything else passes
 *    (it belongs to a connection that a SYN opened, in one direction or the other);
 *  - UDP and SCTP: a reply to a flow this node started passes (connection tracking of outbound
 *    flows), otherwise a rule is needed;
 *  - ICMP: echo replies and errors pass; anything else passes if some rule lets the source reach the
 *    destination at all (any port, any protocol);
 *  - TSMP (protocol 99) passes; other protocols need a rule that names them with all ports;
 *  - a rule matches when its IPProto (default TCP, UDP, ICMPv4, ICMPv6) has the packet's protocol, one
 *    of its SrcIPs has the source, and one of its DstPorts has the destination and port. SrcIPs forms:
 *    "*", an address, a masked CIDR, an "a-b" range, "cap:NAME": the addresses of the nodes whose
 *    capabilities (CapMap, Capabilities) include NAME, as the netmap says when the rules are compiled
 *    (the daemon recompiles when peers' capabilities or addresses change). A malformed entry is
 *    skipped (and reported); deprecated Bits make
 *    the whole filter deny everything, as Tailscale does.
 *
 * Compiled per address family into a hash of source prefixes (probed from the longest prefix length in
 * use down), each leading to a hash of the destinations its rules allow ((prefix, protocol) -> merged
 * port ranges; keys with the same rules share one): a lookup costs a few hash probes however many
 * rules there are, also when they all share one source ("*"). No allocation per packet. Connection tracking: an 8-way set-associative table
 * (least recently used out). Everything on the loop's thread. */
#ifndef WEFT_NODE_FILTER_H
#define WEFT_NODE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netlink.h"
#include "modules/node/filter/packet.h"
#include "modules/node/netmap.h"

enum filter_reason {
    FR_ACCEPT = 0,
    FR_BAD,          /* too short, malformed, unknown */
    FR_MULTICAST,
    FR_LINK_LOCAL,
    FR_NOT_LOCAL,    /* not addressed to one of this node's addresses */
    FR_NO_RULE,      /* no rule allows it (and not a reply) */
    FR_COUNT
};
const char *filter_reason_name(enum filter_reason r);

struct filter_stats {
    uint64_t accepted, dropped;
    uint64_t by_reason[FR_COUNT];
    uint64_t replies;          /* UDP/SCTP admitted as replies to our own flows */
    uint64_t flows, evictions; /* outbound flows tracked, and pushed out when full */
    size_t flow_slots;         /* the flow table's size now: it grows up to FILTER_CT_SETS x FILTER_CT_WAYS */
    size_t rules, skipped;     /* rules compiled; entries skipped as malformed */
};

struct filter;

/* A filter that denies everything until rules are set. NULL if out of memory. */
struct filter *filter_new(void);
void filter_free(struct filter *f);

/* Compile rules (the named filters concatenated in name order). Malformed entries are skipped; err gets
 * the first problem ("" if none). Returns 0, or -1 when out of memory (the previous rules stay). */
int filter_set_rules(struct filter *f, const struct nm_filter_rule *rules, size_t n, char *err, size_t errlen);
/* "cap:NAME" sources: fn fills out with the addresses of the nodes that have capability NAME (at most max)
 * and returns how many. Used by the next filter_set_rules; without it such sources match no one. */
#define FILTER_MAX_CAP_ADDRS 8192
typedef size_t (*filter_cap_fn)(void *arg, const char *cap, struct nl_prefix *out, size_t max);
void filter_set_cap_lookup(struct filter *f, filter_cap_fn fn, void *arg);
/* Did the rules last set name a "cap:" source (so capability or address changes need a recompile)? */
bool filter_uses_caps(const struct filter *f);
/* This node's addresses: the only destinations inbound packets may have. */
void filter_set_local(struct filter *f, const struct nl_prefix *addrs, size_t n);

/* An inbound packet from the tunnel: FR_ACCEPT or why it is dropped. now: loop ms. */
enum filter_reason filter_in(struct filter *f, const uint8_t *pkt, size_t len, uint64_t now);
/* An outbound packet: UDP/SCTP flows are remembered so that their replies pass. */
void filter_out(struct filter *f, const uint8_t *pkt, size_t len, uint64_t now);
/* The same decisions on a parsed packet. */
enum filter_reason filter_in_parsed(struct filter *f, const struct pkt *q, uint64_t now);

void filter_get_stats(const struct filter *f, struct filter_stats *out);
/* Tests: off, lookups scan each source key's rules instead of its destination index (the reference). */
void filter_set_indexed(struct filter *f, bool on);

#define FILTER_CT_SETS 512 /* x FILTER_CT_WAYS: 4096 outbound flows remembered (Tailscale keeps 512) */
#define FILTER_CT_WAYS 8
#define FILTER_CT_SETS_MIN 16 /* the table's size at first (6 KiB), doubled when a set fills */

#endif
