// SPDX-License-Identifier: BSD-3-Clause
/* The node as a subnet router or exit node (serving), and as a user of peers' routes (using).
 *
 * Serving (`weft up --advertise-routes=... --advertise-exit-node`): the routes go to control in
 * Hostinfo.RoutableIPs (ctl.c); here IP forwarding is switched on, and nftables rules in weft's own
 * table (`inet weft`, nft.c) masquerade tailnet traffic leaving to the LAN (unless --snat-subnet-routes=
 * false) and to the default route (exit node), and clamp TCP MSS to the route's MTU. The packet filter
 * accepts packets for the advertised routes (dp_set_served). No other table is read or touched.
 *
 * Using (`--accept-routes`, `--exit-node=PEER`): peers' approved routes (their AllowedIPs beyond their
 * addresses) go into the WireGuard peers (dp_set_route_prefs) and into routing table ROUTER_TABLE through
 * the TUN, looked up by a rule at ROUTER_RULE_PRIO ahead of the main table. With an exit node the table
 * also gets 0.0.0.0/0 and ::/0, and "throw" routes (lookup goes on in the main table) for the control
 * server, the DERP relays, peers' direct endpoints and, with --exit-node-allow-lan-access, the LANs the
 * machine is on: those keep their physical path.
 *
 * Everything is removed by router_free (`weft down`, logout, exit), and IP forwarding is put back as it
 * was; router_cleanup_stale removes what a crashed daemon left (at start), forwarding included. */
#ifndef WEFT_NODE_ROUTER_H
#define WEFT_NODE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/netlink.h"

struct node;
struct node_routing;
struct netmap;

#define ROUTER_TABLE 52        /* the routing table of peers' routes (as tailscaled's) */
#define ROUTER_RULE_PRIO 5270  /* the rule that looks it up, ahead of main (32766) */
#define ROUTER_NFT_TABLE "weft" /* nftables: table inet weft */

struct router;

struct router *router_new(struct node *n, const char *ifname, int ifindex);
/* Removes the routes, rules and the nft table it installed. */
void router_free(struct router *r);
/* Brings the system in line with n->prefs.routing and the netmap (differences only). Cheap when nothing
 * changed: called after every map. */
void router_sync(struct router *r);
/* Before the first router: the table, rules and routes a killed daemon left. */
void router_cleanup_stale(const char *prefs_path);

/* Checks routing prefs (from `weft up`) against the netmap: 0, or -1 with a sentence in err. */
int router_check(const struct node_routing *r, const struct netmap *nm, char *err, size_t errlen);
/* Parses --advertise-routes text ("10.0.0.0/24,192.168.1.0/24"; "" = none) into r. 0 or -1 with err. */
int router_parse_routes(const char *text, struct node_routing *r, char *err, size_t errlen);
/* The netmap peer id that is our exit node now (0: none or not found / not offering exit routes). */
int64_t router_exit_node(const struct router *r);
/* Whether peer's prefix p (one of its AllowedIPs) is used by this node: its addresses always, a /0 only
 * from the chosen exit node, others with --accept-routes. */
bool router_prefix_wanted(const struct node_routing *r, int64_t exit_id, int64_t peer_id, const struct nl_prefix *p,
                          bool is_address);

/* nft.c: the serving rules. text NULL: remove the table. 0, or -1 with nft's message in err (also when
 * libnftables, loaded at the first call, cannot be). */
int router_nft_apply(const char *text, char *err, size_t errlen);
/* The ruleset text for the prefs (NULL when nothing is served); malloc'd. */
char *router_nft_text(const struct node_routing *r, const char *ifname);

#endif
