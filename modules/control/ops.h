// SPDX-License-Identifier: BSD-3-Clause
/* Admin operations shared by the admin socket (admin.c, the CLI's way in) and the REST API (api/): each
 * change to nodes, pre-auth keys and API credentials is made here once, with its log line, so the two
 * front ends differ only in how they name things and shape their JSON.
 *
 * Each returns an HTTP status: 200 on success, else 400 (bad argument), 404, 409 (conflict) or 500, with
 * a sentence for the caller in err. `via` names the front end for the log line ("admin", "api"). */
#ifndef WEFT_CONTROL_OPS_H
#define WEFT_CONTROL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "modules/control/authkey.h"
#include "modules/control/model.h"

struct ctrl;
struct cnode;

/* A node by numeric ID, stable ID or name; NULL if none. */
struct cnode *ops_find_node(struct ctrl *c, const char *ref);

int ops_node_expire(struct ctrl *c, struct cnode *n, const char *via, char *err, size_t errlen);
int ops_node_rename(struct ctrl *c, struct cnode *n, const char *name, const char *via, char *err, size_t errlen);
/* Moves n to the user user_id (its addresses and name stay; peers learn the new owner). */
int ops_node_move(struct ctrl *c, struct cnode *n, int64_t user_id, const char *via, char *err, size_t errlen);
/* n is freed on success. */
int ops_node_delete(struct ctrl *c, struct cnode *n, const char *via, char *err, size_t errlen);
int ops_node_set_tags(struct ctrl *c, struct cnode *n, const struct model_strlist *tags, const char *via,
                      char *err, size_t errlen);
/* Sets n's approved routes to the JSON array routes (CIDR text; the whole list, empty approves none):
 * each must be a prefix without host bits outside the tailnet's ranges, 0.0.0.0/0 and ::/0 only together
 * (an exit node). Stored, primaries re-elected and peers told (routes_set_approved). */
int ops_node_approve_routes(struct ctrl *c, struct cnode *n, struct json_object *routes, const char *via, char *err,
                            size_t errlen);

/* A JSON array of ACL tags (NULL = none) into *out (empty first). 200, or 400 naming the bad element. */
int ops_tags_from_json(struct json_object *arr, struct model_strlist *out, char *err, size_t errlen);

/* A pre-auth key for user_id; expires_in seconds from now (0 = never). The key's text goes to text
 * (shown once); *out is filled (model_authkey_clear it). */
int ops_authkey_create(struct ctrl *c, int64_t user_id, bool reusable, bool ephemeral, int64_t expires_in,
                       const struct model_strlist *tags, const char *description, const char *via,
                       char text[AUTHKEY_TEXT_LEN + 1],
                       struct model_authkey *out, char *err, size_t errlen);
int ops_authkey_expire(struct ctrl *c, int64_t id, const char *via, char *err, size_t errlen);
int ops_authkey_revoke(struct ctrl *c, int64_t id, const char *via, char *err, size_t errlen);

/* API keys (kind MODEL_CRED_APIKEY, scopes "all") and OAuth clients (MODEL_CRED_OAUTH, scopes checked by
 * api_scopes_valid). The secret goes to secret (cap >= CRED_TEXT_MAX, shown once). */
int ops_cred_create(struct ctrl *c, int kind, const char *description, const char *scopes, int64_t expires_in,
                    const char *via, char *secret, size_t cap, struct model_cred *out, char *err, size_t errlen);
/* Expires an API key now, or revokes (deletes) an OAuth client. */
int ops_cred_end(struct ctrl *c, int kind, const char *key_id, const char *via, char *err, size_t errlen);

#endif
