// SPDX-License-Identifier: BSD-3-Clause
/* The policy as parsed: every section of Tailscale's policy file in plain structs, each selector
 * ("alias") already classified and checked against the policy's own definitions (groups, tags, hosts,
 * IP sets), every element keeping its position in the file. Built by parse.c, immutable afterwards,
 * compiled per node by the engine (engine.c) and its helpers. Internal to modules/control/policy/. */
#ifndef WEFT_CONTROL_POLICY_MODEL_H
#define WEFT_CONTROL_POLICY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/control/policy/hujson.h"
#include "modules/control/policy/netset.h"
#include "modules/control/policy/policy.h"

/* What a selector names. Node selectors match tailnet nodes by identity; address selectors name IP
 * ranges (and match a node whose address lies in them, or whose approved subnet routes overlap them). */
enum al_kind {
    AL_STAR,        /* "*" */
    AL_USER,        /* "alice@example.com", "alice@" (login "alice") */
    AL_USER_DOMAIN, /* "user:*@example.com": every user of a domain */
    AL_GROUP,       /* "group:x" */
    AL_TAG,         /* "tag:x" */
    AL_HOST,        /* a name from "hosts" */
    AL_PREFIX,      /* an IP address or CIDR */
    AL_IPSET,       /* "ipset:x" */
    AL_MEMBER,      /* autogroup:member: nodes owned by a user (untagged) */
    AL_TAGGED,      /* autogroup:tagged */
    AL_SELF,        /* autogroup:self: in a destination, the source's own user's nodes */
    AL_INTERNET,    /* autogroup:internet: through exit nodes */
    AL_DANGER_ALL,  /* autogroup:danger-all: any address at all */
    AL_ROLE,        /* autogroup:admin, :owner, ... (users holding a role) */
    AL_NONROOT,     /* autogroup:nonroot (ssh users only) */
    AL_SHARED,      /* autogroup:shared: nodes shared in from other tailnets (never, here) */
};

struct alias {
    enum al_kind k;
    const char *text; /* as written */
    struct hj_pos pos;
    int idx;             /* AL_GROUP/AL_TAG/AL_IPSET: index in the policy's table; AL_ROLE: POL_ROLE_* bit */
    struct ipprefix pfx; /* AL_PREFIX, AL_HOST */
    const char *user;    /* AL_USER: the login it names; AL_USER_DOMAIN: the domain */
};

struct portrange {
    uint16_t first, last;
};

struct pol_group {
    const char *name;
    struct hj_pos pos;
    struct alias *members; /* AL_USER / AL_USER_DOMAIN */
    size_t nmembers;
};

struct pol_tag {
    const char *name; /* "tag:x" */
    struct hj_pos pos;
    struct alias *owners;
    size_t nowners;
};

struct pol_host {
    const char *name;
    struct hj_pos pos;
    struct ipprefix pfx;
};

struct pol_ipset {
    const char *name; /* "ipset:x" */
    struct hj_pos pos;
    struct netset set;
    bool resolving, resolved; /* cycle detection while parsing */
    const struct hj_val *def;
};

/* A destination with its ports: an ACL's "tag:x:22,80", or one of a grant's destinations paired with
 * one protocol's ports. */
struct dst_ent {
    struct alias a;
    const struct portrange *ports;
    size_t nports;
};

/* One network rule as Tailscale's control plane emits it before reducing it per node: ACL entries and
 * grants both become these (a grant gives one per protocol of its "ip" list). */
struct netrule {
    int grant;                 /* index of the grant it came from (ACLs are grants too) */
    const struct alias *src;
    size_t nsrc;
    const int32_t *protos;     /* IPProto; none = the client's default (TCP, UDP, ICMP, ICMPv6) */
    size_t nprotos;
    struct dst_ent *dst;
    size_t ndst;
    bool self;                 /* the autogroup:self part of a rule (dst holds only self entries) */
    const struct alias *via;   /* grants through specific routers */
    size_t nvia;
    const int *posture;        /* srcPosture (or defaultSrcPosture): a source must meet one of them */
    size_t nposture;
};

/* An application capability grant ("app"): CapGrant rules to the destinations. */
struct caprule {
    int grant;
    const struct alias *src;
    size_t nsrc;
    const struct alias *dst;
    size_t ndst;
    bool self;
    const char *capmap;        /* JSON object text {"example.com/cap/x":[...],...} */
    const char *companion;     /* a capability Tailscale answers with in reverse (drive -> drive-sharer) */
    const struct alias *via;
    size_t nvia;
    const int *posture;
    size_t nposture;
};

enum { SSH_ACCEPT = 1, SSH_CHECK = 2 };

struct sshrule {
    int action;
    struct hj_pos pos;
    struct alias *src;
    size_t nsrc;
    struct alias *dst;
    size_t ndst;
    const char **users; /* literal local users ("root", "ubuntu") */
    size_t nusers;
    bool root;          /* "root" among users */
    bool nonroot;       /* autogroup:nonroot */
    const char *localpart_domain; /* "localpart:*@example.com" */
    const char **accept_env;
    size_t naccept_env;
    int64_t check_period; /* seconds; -1 unset, 0 "always" */
    const int *posture;
    size_t nposture;
};

struct nodeattr {
    struct alias *target;
    size_t ntarget;
    const char **attrs;
    size_t nattrs;
    const char *app; /* JSON object text of "app", or NULL */
    struct hj_pos pos;
};

struct pol_test {
    struct alias src;
    bool has_src;
    const char *src_text;
    int32_t proto; /* -1: any */
    const char **accept, **deny;
    size_t naccept, ndeny;
    struct hj_pos pos;
};

struct pol_sshtest {
    struct alias src;
    bool has_src;
    const char *src_text;
    struct alias *dst;
    size_t ndst;
    const char **accept, **check, **deny;
    size_t naccept, ncheck, ndeny;
    struct hj_pos pos;
};

struct autoapprover {
    struct ipprefix route; /* route prefix (exit: 0.0.0.0/0 + ::/0 separately) */
    bool exit;
    struct alias *who;
    size_t nwho;
};

struct posture {
    const char *name; /* "posture:x" */
    struct hj_pos pos;
    struct posture_cond *conds;
    size_t nconds;
};

enum { PC_EQ, PC_NE, PC_LT, PC_LE, PC_GT, PC_GE, PC_IN, PC_NOT_IN, PC_IS_SET, PC_NOT_SET };
enum { PA_OS, PA_OS_VERSION, PA_TS_VERSION, PA_TS_RELEASE_TRACK };
struct posture_cond {
    int attr, op;
    const char **vals;
    size_t nvals;
};

struct pol_domain {
    const char *domain;
    struct hj_pos pos;
};

struct policy {
    struct hj_doc doc;        /* the text's tree: every const char * below points into it or the arena */
    struct tc_arena arena;
    char *text;               /* the source text, kept for `weft policy get` */
    size_t textlen;

    struct pol_group *groups;
    size_t ngroups;
    struct pol_tag *tags;
    size_t ntags;
    struct pol_host *hosts;
    size_t nhosts;
    struct pol_ipset *ipsets;
    size_t nipsets;
    struct posture *postures;
    size_t npostures;
    int *default_src_posture; /* indexes into postures */
    size_t ndefault_src_posture;

    bool has_rules;           /* "acls" or "grants" present: otherwise every node may reach every other */
    size_t ngrants;           /* ACL entries + grants, in file order */
    struct netrule *net;
    size_t nnet;
    struct caprule *caps;
    size_t ncaps;
    struct sshrule *ssh;
    size_t nssh;
    bool has_ssh;
    struct nodeattr *attrs;
    size_t nattrs;
    bool randomize_client_port;
    struct autoapprover *approvers;
    size_t napprovers;
    struct pol_test *tests;
    size_t ntests;
    struct pol_sshtest *sshtests;
    size_t nsshtests;
    bool uses_roles;          /* autogroup:admin etc. appear somewhere */
    struct pol_domain *domains; /* of user:*@domain and localpart:*@domain */
    size_t ndomains;
};

/* parse.c */
int tag_index(const struct policy *p, const char *tag);
/* alias.c: the selector grammar (shared by every section). ctx names the place for messages. */
enum {
    AC_SRC = 1 << 0, AC_DST = 1 << 1, AC_SSH = 1 << 2, AC_ATTR = 1 << 3, AC_OWNER = 1 << 4,
    AC_GRANT = 1 << 5, AC_TEST = 1 << 6, AC_IPSET = 1 << 7, AC_GROUP = 1 << 8, AC_APPROVER = 1 << 9,
};
struct perr;
int alias_parse(struct policy *p, const char *s, struct hj_pos pos, int ctx, struct alias *out, struct perr *e);
/* ports: "*", "22", "80,443", "1000-2000". 0, or -1 with the reason in why. */
int ports_parse(struct tc_arena *a, const char *s, struct portrange **out, size_t *n, const char **why);

/* errors collected while parsing */
struct perr {
    struct pol_errors *errs;
    const char *file;
};
void perr_add(struct perr *e, struct hj_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
