// SPDX-License-Identifier: BSD-3-Clause
/* The engine's insides, shared by engine.c (nodes, indexes, incremental updates), select.c (which nodes
 * a selector matches), filter.c (packet filters), ssh.c (SSHPolicy), nodeattrs.c (CapMap) and tests.c.
 *
 * Nodes live in slots (dense indexes, reused after a node leaves) so that every set of nodes is a
 * bitset over slots. For each compiled rule the engine keeps which slots its sources and destinations
 * match; a node's results read those bits, and a change to one node finds the nodes it affects through
 * them: the destinations of rules it is a source of, the sources of rules it is a destination of. */
#ifndef WEFT_CONTROL_POLICY_ENGINE_H
#define WEFT_CONTROL_POLICY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/model.h"

/* ---- bitsets over node slots ---- */
static inline bool bit_get(const uint64_t *b, size_t i) { return (b[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *b, size_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void bit_clr(uint64_t *b, size_t i) { b[i >> 6] &= ~((uint64_t)1 << (i & 63)); }
static inline void bit_put(uint64_t *b, size_t i, bool v)
{
    if (v)
        bit_set(b, i);
    else
        bit_clr(b, i);
}

struct euser {
    int64_t id;
    char *login;
    const char *domain; /* after '@' in login, "" if none */
    unsigned roles;
    uint64_t *groups;   /* policy groups holding this user (bitset over group index) */
    size_t *nodes;      /* slots of its untagged nodes */
    size_t nnodes, capnodes;
};

struct enode {
    bool used;
    int64_t id;
    int user;           /* index in e->users, -1 for none (or tagged) */
    int64_t user_id;
    bool tagged;
    char **tags;        /* sorted */
    size_t ntags;
    bool has4, has6;
    struct ipaddr ip4, ip6;
    /* their texts, formatted once: every filter listing the node as a source or destination, and every
     * SSH principal, writes them ("100.64.0.1", "100.64.0.1/32") */
    char ip4_text[16], ip6_text[40], ip4_pfx[20], ip6_pfx[44];
    struct ipprefix *routes; /* approved subnet routes (not the exit routes), explicitly or by the
                              * policy's autoApprovers */
    size_t nroutes;
    bool exit;          /* approved 0.0.0.0/0 or ::/0 */
    struct ipprefix *adv;    /* advertised routes */
    size_t nadv;
    struct ipprefix *appr;   /* explicitly approved routes (exit routes included) */
    size_t nappr;
    char *os, *os_version, *ts_version;

    /* results, as last computed: the texts are built on demand (a filter can be large and the same
     * sources repeat in many nodes' filters), only their hashes are kept to tell what changed */
    uint64_t filter_hash, ssh_hash;
    char *caps;
    size_t caps_len;
    uint64_t *peers;    /* bitset over slots */
    /* deferred mode: the filter and SSH texts a recompute found changed, kept until they are sent (the
     * delta or the fresh node's map reads them, pol_engine_release drops them) instead of built twice;
     * dropped too when the node is marked again */
    char *ftext, *stext;
    size_t flen, slen;
    bool kept;          /* listed in e->kept */
    bool dirty;         /* queued for recompute */
    unsigned parts;     /* which results to recompute (POL_CH_*): a source joining a network rule changes
                         * its destinations' filters, not their SSH policies */
};

/* A compiled rule: a network rule, an application capability grant, or an SSH rule, with the slots its
 * sides match. */
enum { CR_NET, CR_CAP, CR_SSH };
struct crule {
    int kind;
    const struct netrule *net;
    const struct caprule *cap;
    const struct sshrule *ssh;
    const struct alias *src, *dst; /* dst: aliases (caps, ssh) */
    size_t nsrc, ndst;
    bool self;
    uint64_t *S;   /* slots matched by the sources (identity or address: for visibility) */
    uint64_t *Sid; /* slots whose addresses the sources list (identity selectors) */
    uint64_t *D;   /* slots the rule applies to as a destination */
    char *src_text; /* JSON array of SrcIPs; NULL when stale */
    size_t src_len;
    char *dst_text; /* caps with a companion: the destinations' addresses (the reverse rule's SrcIPs) */
    size_t dst_len;
    bool src_star, src_danger, via;
    const int *posture; /* the sources must meet one of these postures (they are then listed one by one) */
    size_t nposture;
};

struct pol_engine {
    struct pol_sink sink;
    struct policy *pol;        /* NULL: allow-all */

    struct euser *users;       /* sorted by id */
    size_t nusers;

    struct enode *nodes;       /* slots */
    size_t nslots, capslots;
    size_t words;              /* bitset length in uint64_t for capslots */
    size_t *free_slots;
    size_t nfree;
    /* id -> slot: open addressing */
    int64_t *map_id;
    size_t *map_slot;
    size_t map_cap, map_n;

    struct crule *rules;
    size_t nrules;

    /* "*" in a source: the tailnet ranges and every approved subnet route */
    char **star;
    size_t nstar;
    bool star_stale;

    size_t *queue;             /* slots to recompute */
    size_t nqueue, capqueue;
    bool deferred;             /* the queue waits for pol_engine_settle (policy.h) */
    size_t *kept;              /* slots holding kept texts (enode.ftext, stext) */
    size_t nkept, capkept;

    char *server_url;          /* base of SSH check URLs */
    struct jbuf jb;            /* scratch */
    char *allow_all;           /* filter text without a policy (NULL: allow-all) */
    size_t allow_all_len;
    struct pol_stats stats;
};

/* engine.c */
uint64_t eng_hash(const void *p, size_t n);
struct enode *eng_node(const struct pol_engine *e, int64_t id);
void eng_mark(struct pol_engine *e, size_t slot); /* every result of the node */
void eng_mark_set(struct pol_engine *e, const uint64_t *set);
/* Only some results (POL_CH_*) of the node / of every node of set. */
void eng_mark_parts(struct pol_engine *e, size_t slot, unsigned parts);
void eng_mark_set_parts(struct pol_engine *e, const uint64_t *set, unsigned parts);
uint64_t *eng_bits(struct pol_engine *e);
void eng_node_ips(const struct enode *n, struct ipaddr *out, size_t *count);
void eng_star_refresh(struct pol_engine *e);
/* Recomputes n's effective routes (advertised ones, approved explicitly or by the policy's
 * autoApprovers); true if they changed. */
bool eng_routes(struct pol_engine *e, struct enode *n);
void rule_free(struct crule *r);

/* rules.c: the compiled rules. rules_build compiles the policy's rules (their sides empty); rules_eval_all
 * fills every side for every node (a whole compile); rule_eval re-evaluates one node against one rule
 * (POL_CH_* of what changed); rules_free drops them all. */
int rules_build(struct pol_engine *e);
int rules_eval_all(struct pol_engine *e);
unsigned rule_eval(struct pol_engine *e, struct crule *r, size_t slot, bool present);
void rules_free(struct pol_engine *e);

/* select.c: does a selector match a node? ident: only by identity (the node's addresses would be
 * listed), addr: by address (its address lies in the range, or its approved subnet routes overlap it). */
bool sel_ident(const struct pol_engine *e, const struct alias *a, const struct enode *n);
bool sel_addr(const struct pol_engine *e, const struct alias *a, const struct enode *n);
static inline bool sel_any(const struct pol_engine *e, const struct alias *a, const struct enode *n)
{
    return sel_ident(e, a, n) || sel_addr(e, a, n);
}
/* By address, but only the node's own addresses (not its routes): node attribute targets, tests. */
bool sel_addr_ip(const struct pol_engine *e, const struct alias *a, const struct enode *n);
/* Whether the selector names addresses (prefix, host, IP set, internet, "*") rather than nodes. */
bool sel_is_addr(const struct alias *a);
/* The address ranges of an address selector (into s). */
int sel_ranges(const struct pol_engine *e, const struct alias *a, struct netset *s);
/* Whether a node meets one of the postures (none: every node does). */
bool sel_posture(const struct pol_engine *e, const int *postures, size_t n, const struct enode *node);
/* Resolves user logins and groups to the current user table (after a policy or user change). */
void sel_resolve_users(struct pol_engine *e, const struct policy *p);

/* filter.c */
int filter_build(struct pol_engine *e, struct enode *n, struct jbuf *out);
int rule_src_text(struct pol_engine *e, struct crule *r);
void ip_text(const struct ipaddr *a, char *out);

/* ssh.c */
int ssh_build(struct pol_engine *e, struct enode *n, struct jbuf *out);

/* nodeattrs.c */
int caps_build(struct pol_engine *e, struct enode *n, struct jbuf *out);

/* tests.c */
int tests_run(struct pol_engine *e, const struct policy *p, struct pol_errors *errs);

#endif
