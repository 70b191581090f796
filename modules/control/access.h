// SPDX-License-Identifier: BSD-3-Clause
/* The tailnet's access policy in the control role: where it lives (control.policy.mode: a file,
 * control.policy.path, re-read on SIGHUP and when it changes; or the database, set with `weft policy set`),
 * and the policy engine (policy/policy.h) fed with the tailnet's users and nodes, whose changes become map
 * deltas (fanout.c). Without a policy every node reaches every other (allow-all), as before.
 *
 * A policy that does not parse, or whose tests fail, is refused with every error (FILE:LINE:COL); the one
 * in force stays. At startup a bad policy is an error: weft does not fall back to allow-all. */
#ifndef WEFT_CONTROL_ACCESS_H
#define WEFT_CONTROL_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/control/policy/policy.h"

struct ctrl;
struct cnode;
struct control_conf;

enum { POLICY_MODE_FILE = 0, POLICY_MODE_DATABASE = 1 };

/* Builds the engine over the loaded users and nodes and loads the configured policy. 0, or -1 with
 * the reason in err (every error of a refused policy, one per line). */
int access_init(struct ctrl *c, char *err, size_t errlen);
/* Starts watching the policy file (core/filewatch: inotify, else polling) once the loop runs. */
void access_start(struct ctrl *c);
void access_free(struct ctrl *c);

/* Re-reads the policy from where conf says it lives (SIGHUP, a changed file). 0 when the new policy (or
 * the unchanged one) is in force; -1 when it was refused (the old one stays; the reasons are logged). */
int access_reload(struct ctrl *c, const struct control_conf *conf);

/* The tailnet changed: keep the engine in step (the node as it is now; a node gone; the user table). */
void access_node(struct ctrl *c, struct cnode *n);
void access_node_gone(struct ctrl *c, int64_t id);
void access_users(struct ctrl *c);
/* The engine runs deferred (pol_engine_defer): a node's change updates visibility and the node's own
 * results at once, and marks the nodes it affects; they are recomputed (and their deltas queued) here,
 * once per batch, called by fanout_flush. */
void access_settle(struct ctrl *c);
/* The batch is out: the texts the engine kept for it are dropped (pol_engine_release). */
void access_flushed(struct ctrl *c);

/* Database mode: validates text against the tailnet (parse, tests) and, if it passes, stores it and puts
 * it in force. 0, or -1 with the errors (errs->v[i].msg; line 0 for store failures). */
int access_set(struct ctrl *c, const char *text, size_t len, struct pol_errors *errs);
/* Validates text against the running tailnet without installing it. 0 or -1 with errs. */
int access_check(struct ctrl *c, const char *text, size_t len, struct pol_errors *errs);
/* The policy in force: its text (NULL when none) and where it came from ("file PATH", "database"). */
const char *access_text(struct ctrl *c, size_t *len);
const char *access_source(struct ctrl *c);

/* The engine itself (benchmarks read its figures). */
struct pol_engine *access_engine(struct ctrl *c);

/* Results per node for the maps (valid until the next engine call). */
bool access_visible(struct ctrl *c, const struct cnode *viewer, const struct cnode *subject);
bool access_all_visible(struct ctrl *c);
/* The router viewer is offered the subnet route prefix through (pol_via_router; POL_VIA_PRIMARY without
 * a policy). */
int64_t access_via_router(struct ctrl *c, const struct cnode *viewer, const char *prefix, const int64_t *routers,
                          size_t n, int64_t primary);
/* viewer's streams get peer again whole (its routes as viewer sees them changed). */
void access_resend_peer(struct ctrl *c, struct cnode *viewer, struct cnode *peer);
/* Fast pair tests for the fan-out: a node's slot, and the peers bitset of a viewer (see pol_peer_bits). */
long access_slot(struct ctrl *c, const struct cnode *n);
const uint64_t *access_peer_bits(struct ctrl *c, const struct cnode *viewer);
/* The node's packet filter (a JSON array of FilterRule). */
const char *access_filter(struct ctrl *c, const struct cnode *n, size_t *len);
/* Its SSHPolicy object, NULL without a policy. */
const char *access_ssh(struct ctrl *c, const struct cnode *n, size_t *len);
/* Its node attributes as CapMap members ("\"attr\":null,..."), "" for none. */
const char *access_caps(struct ctrl *c, const struct cnode *n, size_t *len);

#endif
