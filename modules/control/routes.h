// SPDX-License-Identifier: BSD-3-Clause
/* Subnet routes and exit nodes on the control server (spec netmap.md §8.2).
 *
 * A node advertises routes in Hostinfo.RoutableIPs; the valid ones are kept in model_node.routes_advertised
 * (updated from every map request that carries Hostinfo). An admin (`weft nodes approve-routes`) or the
 * policy's autoApprovers (through struct route_approver) put routes in model_node.routes_approved. A route
 * is live when it is both advertised and approved:
 *   - 0.0.0.0/0 and ::/0 together make an exit node: every peer gets both in that node's AllowedIPs (no
 *     election: clients choose their exit node);
 *   - any other prefix is a subnet route: among the online nodes for which it is live, one is primary
 *     (the current one stays while it is online and answers health probes, probe.h; otherwise the
 *     healthy one with the lowest node ID takes over), and peers get the prefix in the primary's
 *     AllowedIPs and PrimaryRoutes only.
 * The table below keeps, per prefix, the nodes it is live on and its primary. A change of one node
 * (routes, online, expiry, removal) re-elects only that node's prefixes, and only the nodes whose primary
 * set changed are sent again (CH_FULL): work proportional to the change, never a full recompute. */
#ifndef WEFT_CONTROL_ROUTES_H
#define WEFT_CONTROL_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/tailcfg.h"
#include "modules/control/model.h"

struct ctrl;
struct cnode;

#define ROUTES_MAX 64 /* routes kept per node (advertised or approved); more are ignored with a log line */
#define ROUTE_TEXT_MAX 64

/* The automatic approval hook (the policy's autoApprovers). When a node advertises a route that is not
 * approved yet, control asks approve(arg, node, route) (route: canonical CIDR text, "0.0.0.0/0" / "::/0"
 * for an exit node); true adds it to the node's approved routes. approve NULL (the default): nothing is
 * approved automatically. The policy connects here with pol_route_auto_approved (see routes.c). */
struct route_approver {
    bool (*approve)(void *arg, const struct cnode *n, const char *route);
    void *arg;
};

/* One prefix with the nodes it is live on (sorted by ID) and its primary (0: none online). */
struct route_entry {
    char prefix[ROUTE_TEXT_MAX];
    int64_t primary;
    int64_t *nodes;
    size_t nnodes, cap;
};

struct route_table {
    struct route_entry *v; /* sorted by prefix text */
    size_t n, cap;
};

/* Canonical CIDR text of a route an admin or a node gives, or -1 with the reason in why: not a prefix,
 * host bits set, inside (or around) the tailnet's own ranges. A lone /0 is accepted here (the caller
 * checks exit pairs). */
int routes_canonical(struct ctrl *c, const char *text, char *out, size_t cap, char *why, size_t whylen);

/* Hostinfo.RoutableIPs of node n into out (canonical, deduplicated, sorted): invalid prefixes, a /0
 * without its other half, a prefix inside the tailnet's ranges, one covered by another of the node's
 * routes are left out, each with a logged reason. 0, or -1 when out of memory. */
int routes_from_hostinfo(struct ctrl *c, const struct cnode *n, const struct tc_strs *routable,
                         struct model_strlist *out);

/* The node advertised out (from routes_from_hostinfo): stores it when it differs, asks the approver about
 * the new routes, re-elects. Returns 1 when something changed (stored), 0 if not, -1 on a store failure. */
int routes_set_advertised(struct ctrl *c, struct cnode *n, struct model_strlist *adv);
/* An admin's approved list (canonical text, validated): stores it, re-elects. 0 or a store_rc. */
int routes_set_approved(struct ctrl *c, struct cnode *n, struct model_strlist *approved);

/* The approver changed (a new policy): every node's advertised, unapproved routes are offered to it
 * again; what it approves is stored and elected. */
void routes_auto_approve_all(struct ctrl *c);

/* n's routes, online state or expiry changed: update the table for its prefixes and re-elect them; peers
 * of every node whose primaries changed are told (CH_FULL). */
void routes_node_update(struct ctrl *c, struct cnode *n);
/* n is being removed: its prefixes get other primaries. */
void routes_node_forget(struct ctrl *c, struct cnode *n);
void routes_free(struct route_table *t);

/* Whether n is an exit node now (both /0 advertised and approved). */
bool routes_is_exit(const struct cnode *n);
/* Whether route is in both of n's lists. */
bool routes_live(const struct cnode *n, const char *route);

#endif
