// SPDX-License-Identifier: BSD-3-Clause
/* Tailscale's access policy (the "policy file": ACLs, grants, groups, tags, hosts, IP sets, autogroups,
 * SSH, node attributes, tests) compiled per node the way Tailscale's own control plane compiles it.
 *
 * Two parts:
 *  - policy_parse(): HuJSON text -> a validated, immutable `struct policy`, or every error with its
 *    line and column. Nothing here depends on the tailnet's users or nodes.
 *  - struct pol_engine: the tailnet (users, nodes) plus the policy in force, compiled into what each
 *    node is sent: its packet filter (the rules where it is a destination, reduced to it), the peers
 *    it may see (it may reach them or they may reach it), its SSHPolicy and its node attributes
 *    (CapMap). Changes are incremental: a node joining, leaving or being retagged recomputes only the
 *    nodes whose result depends on it (rules are indexed by the nodes their selectors match), and a new
 *    policy reports only the nodes whose result changed. The engine calls back with what changed
 *    (struct pol_sink) so the caller can send deltas.
 *
 * Single-threaded; no I/O. The control role owns one engine (modules/control/ctrl.h); the golden tool
 * (t/tools/policy-golden) and the benchmark build their own. */
#ifndef WEFT_CONTROL_POLICY_POLICY_H
#define WEFT_CONTROL_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---- */

struct pol_error {
    unsigned line, col; /* 0: not tied to a place in the text (e.g. a failing test names itself) */
    char *msg;
};

struct pol_errors {
    struct pol_error *v;
    size_t n;
};

void pol_errors_free(struct pol_errors *e);
/* "FILE:LINE:COL: message" lines (file may be NULL: "LINE:COL: message"), one per error; malloc'd. */
char *pol_errors_format(const struct pol_errors *e, const char *file);

/* ---- parsing ---- */

struct policy;

/* Parses and validates a policy. NULL with every error found in errs (the caller frees errs). */
struct policy *policy_parse(const char *text, size_t len, struct pol_errors *errs);
void policy_free(struct policy *p);
/* The text it was parsed from. */
const char *policy_text(const struct policy *p, size_t *len);
/* Whether it names user roles (autogroup:admin, :owner, ...), which weft's users do not hold. */
bool policy_uses_roles(const struct policy *p);
/* Whether it has tests (tests, sshTests) that need the tailnet to run. */
bool policy_has_tests(const struct policy *p);

/* ---- the tailnet as the policy sees it ---- */

/* User roles (Tailscale's autogroup:owner, :admin, ...). weft's users have none by default. */
enum {
    POL_ROLE_OWNER = 1 << 0,
    POL_ROLE_ADMIN = 1 << 1,
    POL_ROLE_NETWORK_ADMIN = 1 << 2,
    POL_ROLE_IT_ADMIN = 1 << 3,
    POL_ROLE_BILLING_ADMIN = 1 << 4,
    POL_ROLE_AUDITOR = 1 << 5,
    POL_ROLE_MEMBER = 1 << 6,
};

struct pol_user {
    int64_t id;
    const char *login; /* "alice@example.com", or "alice" (the policy writes "alice@") */
    unsigned roles;
};

struct pol_node {
    int64_t id;
    int64_t user_id;          /* owner; ignored for tagged nodes (they belong to their tags) */
    const char *const *tags;  /* "tag:x"; non-empty: a tagged node */
    size_t ntags;
    bool has4, has6;
    uint8_t ip4[4], ip6[16];
    const char *const *routable; /* advertised routes (Hostinfo.RoutableIPs), CIDR text */
    size_t nroutable;
    const char *const *approved; /* approved routes, CIDR text (0.0.0.0/0 + ::/0: an exit node) */
    size_t napproved;
    const char *os, *os_version, *ts_version; /* for device posture; may be NULL */
};

/* ---- the engine ---- */

enum {
    POL_CH_FILTER = 1 << 0, /* the node's packet filter changed */
    POL_CH_SSH = 1 << 1,    /* its SSHPolicy changed */
    POL_CH_CAPS = 1 << 2,   /* its CapMap (node attributes) changed */
};

struct pol_sink {
    void *arg;
    /* node's own results changed (POL_CH_* bits) */
    void (*node)(void *arg, int64_t id, unsigned what);
    /* peers that became visible to viewer (added) or stopped being visible (removed), by node ID */
    void (*peers)(void *arg, int64_t viewer, const int64_t *added, size_t nadded, const int64_t *removed,
                  size_t nremoved);
};

struct pol_engine;

struct pol_engine *pol_engine_new(void);
void pol_engine_free(struct pol_engine *e);
/* Where changes are reported (may be NULL: nobody listens). */
void pol_engine_set_sink(struct pol_engine *e, const struct pol_sink *sink);

/* The control server's URL: SSH "check" rules send clients to <url>/machine/ssh/action/... 0 or -1. */
int pol_engine_set_server_url(struct pol_engine *e, const char *url);
/* The packet filter every node gets while no policy is in force: a JSON array of FilterRule (NULL:
 * allow-all). Nodes whose filter changes are reported. 0 or -1 (out of memory). */
int pol_engine_set_default_filter(struct pol_engine *e, const char *json, size_t len);
/* Replaces the user table. 0 or -1 (out of memory). */
int pol_engine_set_users(struct pol_engine *e, const struct pol_user *u, size_t n);
/* Adds or updates a node (joins, retags, moves user, new routes). 0 or -1. */
int pol_engine_node_set(struct pol_engine *e, const struct pol_node *n);
/* Removes a node. */
void pol_engine_node_del(struct pol_engine *e, int64_t id);

/* Deferred mode (off by default): a node joining, leaving or changing updates visibility (peers,
 * reported at once) and the node's own results (reported if it was there before), and only marks the
 * other nodes whose results depend on it (through the rules' sides); their results are recomputed and
 * reported by pol_engine_settle, once for every change since the last. A server settles before it
 * sends a batch of changes: many joins in one batch cost one recompute of each node they affect.
 * Turning it off settles. */
void pol_engine_defer(struct pol_engine *e, bool on);
void pol_engine_settle(struct pol_engine *e);
/* Whether marked nodes wait for pol_engine_settle. */
bool pol_engine_unsettled(const struct pol_engine *e);
/* Deferred mode keeps the filter and SSH texts it reports changed until they are sent (pol_filter_json
 * and pol_ssh_json return them, not built again); the server releases them once its batch is out. */
void pol_engine_release(struct pol_engine *e);

/* Puts a policy in force (NULL: none, every node reaches every other). The policy's tests run against
 * the current tailnet first: if one fails, nothing changes and -1 returns with the failures in errs.
 * On success the engine owns p. */
int pol_engine_set_policy(struct pol_engine *e, struct policy *p, struct pol_errors *errs);
const struct policy *pol_engine_policy(const struct pol_engine *e);
/* Runs p's tests against the engine's tailnet without installing it. 0, or -1 with the failures. */
int pol_engine_check(struct pol_engine *e, const struct policy *p, struct pol_errors *errs);

/* Per node (NULL / false for an unknown node). The texts stay valid until the next engine call. */
/* The packet filter: a JSON array of FilterRule ("[]": nothing may reach it). */
const char *pol_filter_json(struct pol_engine *e, int64_t id, size_t *len);
/* Its SSHPolicy: a JSON object ({"rules":[...]}); NULL when no policy is in force. */
const char *pol_ssh_json(struct pol_engine *e, int64_t id, size_t *len);
/* Its node attributes as JSON object members ("\"attr\":null,\"x\":[...]"), "" for none. */
const char *pol_caps_json(struct pol_engine *e, int64_t id, size_t *len);
/* Whether viewer is sent subject as a peer. */
bool pol_visible(const struct pol_engine *e, int64_t viewer, int64_t subject);
/* Whether every node sees every other (no policy in force). */
bool pol_all_visible(const struct pol_engine *e);
/* For testing many pairs fast (the fan-out): a node's slot (-1: unknown), and the bitset over slots of
 * the peers a node sees (NULL when every node sees every other). Valid until the next engine change. */
long pol_slot(const struct pol_engine *e, int64_t id);
const uint64_t *pol_peer_bits(const struct pol_engine *e, int64_t viewer);
/* Calls fn for every peer viewer sees, in node-ID order. */
void pol_each_peer(const struct pol_engine *e, int64_t viewer, void (*fn)(void *arg, int64_t id), void *arg);

/* For registration and routes (the policy's tagOwners and autoApprovers), with the policy in force:
 * whether user (0: none) may put tag on a node — the user is one of the tag's owners (directly, by a
 * group, or as the owner of another tag the node carries in tags) — or, with no policy, true; and
 * whether route (CIDR text; 0.0.0.0/0 or ::/0 for an exit node) is approved for the node by the
 * policy's autoApprovers. */
bool pol_tag_allowed(struct pol_engine *e, const char *tag, int64_t user_id, const char *const *tags, size_t ntags);
bool pol_route_auto_approved(struct pol_engine *e, int64_t node_id, const char *route);

/* Which router viewer is offered a subnet route through (in that router's AllowedIPs and PrimaryRoutes
 * in viewer's map). Only a route the policy lets viewer reach is offered, and via grants ("via": [tags]:
 * the grant's sources reach its destinations only through routers with those tags) steer it to another
 * router than its primary. routers: the routers the route (CIDR text) is live on, in order of preference
 * (the healthy online ones first, lower IDs first); primary: its primary. Returns POL_VIA_PRIMARY when
 * viewer reaches it the ordinary way (or no policy is in force), 0 when viewer is offered it through no
 * router, else the ID of the router a via grant steers it to. pol_has_via: whether the policy in force
 * has via grants. */
#define POL_VIA_PRIMARY (-1)
bool pol_has_via(const struct pol_engine *e);
int64_t pol_via_router(struct pol_engine *e, int64_t viewer, const char *prefix, const int64_t *routers,
                       size_t n, int64_t primary);

/* Figures for the benchmark. */
struct pol_stats {
    uint64_t full_compiles;     /* every node recomputed (a new policy) */
    uint64_t node_recomputes;   /* single-node recomputes (incremental) */
    size_t mem_bytes;           /* approximate heap held by results and indexes */
};
void pol_engine_stats(const struct pol_engine *e, struct pol_stats *s);

#endif
