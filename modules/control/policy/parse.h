// SPDX-License-Identifier: BSD-3-Clause
/* The policy parser's shared pieces (parse.c: the document, definitions and helpers; parse_access.c: ACLs
 * and grants; parse_nodes.c: SSH rules, node attributes, auto approvers; parse_tests.c: tests). Internal
 * to modules/control/policy/. */
#ifndef WEFT_CONTROL_POLICY_PARSE_H
#define WEFT_CONTROL_POLICY_PARSE_H

#include "modules/control/policy/model.h"

struct pctx {
    struct policy *p;
    struct perr e;
};

bool key_is(const struct hj_member *m, const char *k);
/* The string of v, or NULL after reporting a wrong type (v NULL: NULL, silently). */
const char *want_str(struct pctx *c, const struct hj_val *v, const char *what);
/* An array of strings (null and absent are empty). -1 after reporting a wrong type. */
int want_strs(struct pctx *c, const struct hj_val *v, const char *what, struct hj_val ***out, size_t *n);
int want_obj(struct pctx *c, const struct hj_val *v, const char *what);
/* n zeroed elements in the policy's arena. */
void *alloc(struct pctx *c, size_t n, size_t size);
/* A domain of user:*@domain or localpart:*@domain, checked against the tailnet later. */
void add_domain(struct pctx *c, const char *d, struct hj_pos pos);
/* The selectors of a list; those that fail are reported and skipped. */
struct alias *aliases(struct pctx *c, const struct hj_val *v, const char *what, int ctx, size_t *n);
/* A protocol name or number (1..255); -1 if neither. */
int32_t proto_parse(const char *s);
/* Whether packets of the protocol carry ports (TCP, UDP, SCTP). */
bool proto_has_ports(int32_t p);
bool all_ports(const struct portrange *r, size_t n);
/* Posture names -> indexes; a rule's postures (its srcPosture, else defaultSrcPosture). */
int *posture_refs(struct pctx *c, const struct hj_val *v, const char *what, size_t *n);
const int *rule_postures(struct pctx *c, const struct hj_val *v, size_t *n);

/* parse_access.c */
/* Sources allowed with an autogroup:self destination (users, groups, autogroup:member, roles; an ACL
 * also takes "*"). */
bool self_src_ok(const struct alias *src, size_t n, bool star_ok);
/* A capability name ("domain/path", not tailscale.com's own unless grants may carry it); the companion
 * capability Tailscale answers with in reverse, if any. 0, or -1 after reporting. */
int cap_name_ok(struct pctx *c, const struct hj_member *m, const char **companion);
void parse_acl(struct pctx *c, const struct hj_val *v, int grant);
void parse_grant(struct pctx *c, const struct hj_val *v, int grant);
/* parse_nodes.c */
void parse_ssh(struct pctx *c, const struct hj_val *v);
void parse_nodeattr(struct pctx *c, const struct hj_val *v);
void parse_auto_approvers(struct pctx *c, const struct hj_val *v);
/* parse_tests.c */
void parse_test(struct pctx *c, const struct hj_val *v);
void parse_sshtest(struct pctx *c, const struct hj_val *v);

#endif
