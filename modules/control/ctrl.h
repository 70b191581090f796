// SPDX-License-Identifier: BSD-3-Clause
/* The control role's running state ("the brain"): every node in memory with its serialized form as peers
 * see it, the open map streams, the pending change set that is fanned out to them, pending interactive
 * registrations. register.c, mapper.c, fanout.c, admin.c all work on one struct ctrl from the loop thread.
 *
 * The store (store.h) is the durable truth; this is its mirror plus runtime state (who is online). Every
 * change goes to the store first, then to the mirror, then to fanout, which batches deltas to the streams. */
#ifndef WEFT_CONTROL_CTRL_H
#define WEFT_CONTROL_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/json/jbuf.h"
#include "core/json/tailcfg.h"
#include "core/limit.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/wire/mapstream.h"
#include "modules/control/control.h"
#include "modules/control/dnsover.h"
#include "modules/control/model.h"
#include "modules/control/nodeindex.h"
#include "modules/control/routes.h"
#include "modules/control/pending.h"
#include "modules/control/probe.h"

struct store;
struct ipalloc;
struct ctrl_sess;
struct peer_block;
#define MAPPER_BLOCK 128

/* What changed about a node, for its peers (and itself). */
enum {
    CH_FULL = 1 << 0,      /* anything a peer can only learn from the whole Node: PeersChanged */
    CH_ENDPOINTS = 1 << 1, /* PeersChangedPatch fields ... */
    CH_DERP = 1 << 2,
    CH_DISCO = 1 << 3,
    CH_ONLINE = 1 << 4,    /* OnlineChange */
    CH_SELF = 1 << 5,      /* the node's own streams get Node again (rename, expiry, key) */
    CH_REMOVED = 1 << 6,   /* PeersRemoved (the node is gone from memory already) */
    CH_POLICY = 1 << 7,    /* the node's own policy results changed (filter, SSH, attributes, peers): its
                            * streams get a message of their own (cnode.pol, padd, prem) */
};

struct cnode {
    struct model_node m;
    char *peer_json; /* this node as its peers see it; NULL when stale (rebuilt on demand) */
    size_t peer_json_len;
    char *peer_hostinfo; /* the trimmed Hostinfo peers get (JSON), NULL if none */
    struct ctrl_sess *sess; /* open map streams of this node */
    unsigned nsess;
    unsigned pending;       /* CH_* bits waiting in the fanout batch */
    size_t pending_idx;     /* position in ctrl.changed while pending */
    unsigned flushing;      /* the bits being sent by the flush under way */
    struct timer eph_timer; /* ephemeral removal after ephemeral_timeout offline */
    bool removing;          /* being forgotten: its streams' ends are not online changes */
    struct model_strlist primary; /* subnet routes it is primary for (routes.h), sorted */
    struct model_strlist cand;    /* subnet routes live on it (advertised and approved): its table entries */
    bool routes_read;             /* its RoutableIPs were read from a map request since the start */
    bool unhealthy;               /* online but not answering health probes (probe.h): no primary */
    struct route_view *views;     /* peers whose routes differ for this node (policy, via: routes.h) */
    size_t nviews;
    uint64_t online_gen;          /* counts its online periods (a probe is judged within one) */
    uint64_t online_since_ms;     /* loop time it last came online */
    bool seen_dirty;        /* last_seen is newer in memory than in the store (queued in ctrl.seen) */
    int64_t seen_stored;    /* the last_seen the store has */
    struct ctrl *c;
    /* the access policy (access.c): what changed for this node's own streams */
    unsigned pol, pol_flushing;       /* POL_CH_* */
    int64_t *padd, *prem;             /* peers that became visible / invisible to it */
    size_t npadd, nprem, capadd, caprem;
    int64_t *fadd, *frem;             /* the same, being sent by the flush under way */
    size_t nfadd, nfrem;
    /* what the policy reads from its Hostinfo */
    char *hi_os, *hi_os_version, *hi_version;
    /* the hashes it is filed under in ctrl's node indexes (nodeindex.h), to take it out again */
    uint64_t ix_nkey, ix_mkey, ix_name;
    bool indexed;
    /* other control instances holding a stream for it (cluster.c); online = nsess or nremote or held */
    int64_t *remote;
    size_t nremote;
    /* the instance it streamed from died: it counts as online until this loop time (control.offline_grace),
     * in case it reconnects to another instance; 0 when not held */
    uint64_t held_until;
};

/* How a map stream's bytes leave (the HTTP/2 reply, or a benchmark's counter). */
struct ctrl_sink_ops {
    int (*write)(void *h, const void *data, size_t len); /* 0, or -1 if the stream is gone */
    size_t (*queued)(void *h);                           /* bytes not yet sent */
    void (*end)(void *h);                                /* server ends the stream (no callbacks after) */
};

struct ctrl_sess {
    struct ctrl *c;
    struct cnode *node;
    const struct ctrl_sink_ops *ops;
    void *h;
    int capver;
    bool compress;
    struct timer keepalive;
    struct ctrl_sess *next, *prev;           /* all sessions */
    struct ctrl_sess *node_next, *node_prev; /* the node's sessions */
};

struct access;
struct cluster;

/* Counts behind /metrics that the mirror does not already hold (metrics.c writes them). */
enum ctrl_reg_result { REG_OK_AUTHKEY, REG_OK_INTERACTIVE, REG_OK_KNOWN, REG_LOGOUT, REG_PENDING, REG_NRESULTS };
enum ctrl_refusal {
    REFUSED_MALFORMED,
    REFUSED_OTHER_MACHINE, /* a node key registered to another machine key */
    REFUSED_KEY_UNKNOWN,
    REFUSED_KEY_REVOKED,
    REFUSED_KEY_EXPIRED,
    REFUSED_KEY_USED,
    REFUSED_TOO_MANY_PENDING, /* control.max_pending interactive logins wait already (503) */
    REFUSED_TOO_MANY_WAITERS, /* a Followup past the few that may wait on one login (429) */
    REFUSED_NREASONS
};
struct ctrl_stats {
    uint64_t registrations[REG_NRESULTS];
    uint64_t refused[REFUSED_NREASONS];
    uint64_t verify_refused; /* /verify asked from outside control.verify_allow without the secret (403) */
    struct mhist batch_nodes;   /* nodes changed or removed per fan-out flush */
    struct mhist batch_latency; /* seconds from a batch's first change to its delta written to every stream */
    struct mhist flush_seconds; /* seconds one flush takes (building and writing the deltas) */
    struct mhist store_seconds; /* seconds per store call */
    double batch_t0;            /* metrics_now() of the pending batch's first change */
};

struct ctrl {
    struct control_conf *conf;
    struct login *login; /* interactive login (login/), NULL when not configured */
    char *state_dir; /* for relative paths (the policy file) */
    struct access *acc; /* the access policy (access.h) */
    struct loop *loop;
    struct store *store;
    struct ipalloc *ipa;
    char *server_host; /* host of server_url, e.g. "127.0.0.1" (MapResponse.Domain) */
    int server_port;
    bool server_tls;

    struct cnode **nodes; /* sorted by id */
    size_t nnodes, cap;
    /* the nodes by node key, machine key and given name (ctrl_node_reindex keeps them current) */
    struct nodeindex by_nkey, by_mkey, by_name;
    bool ix_broken; /* an index could not grow: lookups scan the nodes */
    struct model_user *users; /* sorted by id */
    size_t nusers;

    char *derp_json, *dns_json;
    size_t derp_len, dns_len;
    bool embedded_derp; /* the DERP map names the relay of this process (at server_url) */
    int stun_port;      /* its STUN port (0: none) */
    unsigned statics_changed; /* STATIC_* waiting in the fanout batch: every stream gets them in a delta */

    struct ctrl_sess *sessions;
    size_t nsessions;
    long long keepalive_ms, batch_ms;

    /* fanout: nodes with pending changes, removed ids, the flush timer */
    struct cnode **changed;
    size_t nchanged, changed_cap;
    int64_t *removed;
    size_t nremoved, removed_cap;
    bool users_changed; /* every user's profile goes with the next batch (the users were reloaded) */
    int64_t *users_new; /* users whose first node joined: only their profiles go with the next batch */
    size_t nusers_new, users_new_cap;
    struct timer flush;
    uint64_t first_change_ms;

    struct pending_table pending; /* interactive registrations (pending.h, register.c) */
    struct log_every pending_log;
    int64_t pending_swept; /* when expired registrations were last removed from the store */

    /* last_seen of online nodes, written to the store in batches (ctrl_node_seen) */
    int64_t *seen;
    size_t nseen, seen_cap;
    struct timer seen_flush;

    /* app.c: a node key stopped being admitted (node deleted, expired, re-keyed): drop its relay
     * connections. NULL: nothing to tell. */
    void (*on_revoke)(void *arg, const uint8_t node_key[32]);
    void *on_revoke_arg;

    /* subnet routes: per prefix, the nodes it is live on and its primary (routes.h) */
    struct route_table routes;
    struct route_approver approver; /* autoApprovers; approve NULL: none */
    bool views_stale;               /* the per-viewer route views need a refresh (routes.h) */
    struct probe_state probe;       /* health probes of subnet routers (probe.h) */

    /* DNS (dnsconf.c): the extra records file's records, what it was when read, the watch */
    struct tc_dns_record *dns_file_recs;
    size_t dns_file_nrecs;
    bool dns_file_seen;
    struct timespec dns_file_mtime;
    long long dns_file_size;
    unsigned long long dns_file_ino;
    struct filewatch *dns_watch; /* on the extra records file (core/filewatch.h) */
    /* DNS settings set through the REST API, over the file's (dnsover.h) */
    struct dns_over dns_over;

    /* scratch shared by the builders (single thread) */
    struct mapstream_enc enc_zstd, enc_plain;
    struct jbuf jb;
    uint8_t *frame;
    size_t frame_cap;
    uint8_t keepalive_frame[64];
    size_t keepalive_len;
    struct tc_raw *raws;
    size_t raws_cap;
    /* peers' entries in blocks of MAPPER_BLOCK nodes (by position), each cached as one compressed zstd
     * frame: a full map is a few fresh frames around the cached ones (see mapper_full_frame) */
    struct peer_block *blocks;
    size_t nblocks;
    struct jbuf jb2;
    uint32_t rng;
    size_t max_queued; /* a stream with more unsent bytes than this is ended (it reconnects) */

    /* figures for tests, the benchmark and /metrics */
    uint64_t full_maps, deltas_built, frames_written, bytes_written;
    struct ctrl_stats st;
    const char *reg_src; /* the client address of the registration being handled (for logs), or NULL */
    struct cluster *cl; /* several instances on one database (cluster.c); NULL: this one alone */
    void (*on_flush)(struct ctrl *c, void *arg); /* test/bench hook: after each fanout flush */
    void *on_flush_arg;
};

/* conf: the control config (kept, not copied); loop; store (kept; the caller closes it after ctrl_free).
 * Loads every node and user, builds the static texts (DERP map, DNS, filter). NULL with err on failure. */
struct ctrl *ctrl_new(struct control_conf *conf, struct loop *loop, struct store *store, bool embedded_derp,
                      int derp_stun_port, char *err, size_t errlen);
/* Ends every stream (sink end) and frees. */
void ctrl_free(struct ctrl *c);

int64_t ctrl_now(void); /* Unix seconds */

/* ---- the node mirror ---- */
struct cnode *ctrl_node_by_id(struct ctrl *c, int64_t id);
struct cnode *ctrl_node_by_node_key(struct ctrl *c, const uint8_t key[32]);
struct cnode *ctrl_node_by_machine_key(struct ctrl *c, const uint8_t key[32]);
struct cnode *ctrl_node_by_name(struct ctrl *c, const char *given_name);
/* Files the node under its current node key, machine key and name (after any of them changed; the
 * mirror's own paths call it: ctrl_node_add, mapper_invalidate, renames, rollbacks). */
void ctrl_node_reindex(struct ctrl *c, struct cnode *n);
/* Takes a stored node (m is moved in and zeroed). NULL if out of memory. */
struct cnode *ctrl_node_add(struct ctrl *c, struct model_node *m);
/* Forget a node: ends its streams, releases its addresses; deletes it from the store when del. Peers
 * get PeersRemoved. */
int ctrl_node_remove(struct ctrl *c, struct cnode *n, bool del);
/* Persist n->m (store_node_update) and tell peers what changed (CH_*). 0, or a store_rc. */
int ctrl_node_save(struct ctrl *c, struct cnode *n, unsigned what);
bool ctrl_node_expired(const struct cnode *n, int64_t now);
/* The node's hostinfo changed: recompute the trimmed copy; returns 1 if what peers see changed. */
int ctrl_node_set_hostinfo(struct cnode *n, const char *json, size_t len);
const struct model_user *ctrl_user(struct ctrl *c, int64_t id);
int ctrl_users_reload(struct ctrl *c);
/* The node went online/offline here (first stream opened / last one closed). It is online while a stream
 * is open here or on another instance (cluster.c). */
void ctrl_node_online(struct ctrl *c, struct cnode *n, bool online);
/* Another instance's marks for n changed (cluster.c): apply the resulting online state if it changed. */
void ctrl_node_online_changed(struct ctrl *c, struct cnode *n);

/* ---- cluster.c: several control instances on one database (the store's change feed) ---- */
/* Joins when the store has a feed (PostgreSQL): listens from now on (before the mirror is loaded, so that
 * nothing committed meanwhile is missed); 0 (also without a feed) or -1 with err. cluster_run, once the
 * mirror is loaded, takes the other instances' online marks and starts the rounds. */
int cluster_start(struct ctrl *c, char *err, size_t errlen);
void cluster_run(struct ctrl *c);
void cluster_stop(struct ctrl *c);
/* Whether singleton jobs (ephemeral node removal) run here: the leader, or the only instance. */
bool cluster_leader(const struct ctrl *c);
/* This instance opened its first / closed its last stream for n. */
void cluster_local_online(struct ctrl *c, struct cnode *n, bool online);
int64_t cluster_instance(const struct ctrl *c);
uint64_t cluster_applied(const struct ctrl *c); /* changes from other instances applied */
/* The node as the mirror holds it; with other instances on the database (a feed), one registered through
 * another instance whose change has not reached this one yet is read from the store into the mirror now,
 * as its change would be. NULL when there is none. Without a feed the mirror is the whole tailnet. */
struct cnode *cluster_node_fetch(struct ctrl *c, int64_t id);
struct cnode *cluster_node_by_node_key(struct ctrl *c, const uint8_t key[32]);
struct cnode *cluster_node_by_machine_key(struct ctrl *c, const uint8_t key[32]);
/* The node was heard from (a map request, its stream taking data): last_seen is now. The store gets it
 * at most once a minute per node, in batches. */
void ctrl_node_seen(struct ctrl *c, struct cnode *n);
/* The client reports hostname (cleaned here): n->m.hostname takes it and, unless an admin named the node,
 * its given name follows (unique in the tailnet). Returns CH_FULL | CH_SELF if the name changed, else 0;
 * the caller saves. */
unsigned ctrl_node_set_hostname(struct ctrl *c, struct cnode *n, const char *hostname);
/* node_key is no longer admitted: connections made with it elsewhere (the in-process relay) are dropped. */
void ctrl_revoke(struct ctrl *c, const uint8_t node_key[32]);
/* A client's Hostinfo as control keeps it (hostinfo.h: cleaned, at most control.hostinfo_max bytes);
 * malloc'd, or NULL if it is not an object. */
char *ctrl_hostinfo_clean(struct ctrl *c, const char *json, size_t len, size_t *outlen);

/* ---- mapper.c: MapResponses ---- */
/* The node as its peers see it (cached). NULL if out of memory. */
const char *mapper_peer_json(struct ctrl *c, struct cnode *n, size_t *len);
/* n as viewer sees it: its cached entry, or one built for viewer when its routes differ for it (a
 * route view, routes.h; valid until the next call for the same pair). viewer may be NULL. */
const char *mapper_peer_json_for(struct ctrl *c, struct cnode *viewer, struct cnode *n, size_t *len);
void mapper_invalidate(struct cnode *n);
/* JSON of the whole map for self into c->jb (reset first). 0 or -1. */
int mapper_full(struct ctrl *c, struct cnode *self, int capver);
/* JSON of self's Node into jb (appended as a value). 0 or -1. */
int mapper_self_node(struct ctrl *c, struct cnode *self, int capver, struct jbuf *jb);
/* The whole first map, framed for the stream: with zstd, the peers come from the cached compressed
 * blocks (a zstd stream may be several frames; decoders concatenate them). NULL on failure. */
const uint8_t *mapper_full_frame(struct ctrl *c, struct cnode *self, int capver, bool compress, size_t *len);
/* A node at position pos was added/removed/changed: its block (and with shift, every later one) is stale. */
void mapper_blocks_stale(struct ctrl *c, size_t pos, bool shift);
void mapper_blocks_free(struct ctrl *c);
size_t ctrl_node_pos(struct ctrl *c, int64_t id);
/* Frames c->jb's JSON for the stream: returns a pointer to c->frame and its length, or NULL. */
const uint8_t *mapper_frame(struct ctrl *c, bool compress, size_t *len);
/* The node's packet filter (PacketFilters from capability version 81, PacketFilter before) and SSH policy
 * into r, as the flags ask; the texts live in fb / sb (the caller frees them after emitting r). 0 or -1. */
struct tc_map_response;
int mapper_policy_parts(struct ctrl *c, struct cnode *self, int capver, struct tc_map_response *r,
                        struct jbuf *fb, struct jbuf *sb, bool filter, bool ssh);
/* Builds the static parts (DERP map, DNS config). 0 or -1. */
int mapper_init_static(struct ctrl *c, bool embedded_derp, int stun_port);
enum { STATIC_DERP = 1 << 0, STATIC_DNS = 1 << 1 };
/* Build the DERP map and DNS config again from c->conf (after a reload); which changed into *changed
 * (STATIC_*). On failure (-1) the running ones stay. */
int mapper_rebuild_static(struct ctrl *c, unsigned *changed);

/* ---- fanout.c: map streams and deltas ---- */
/* A new stream for node n: writes the full map and keeps it for deltas and keep-alives. NULL if the
 * first write fails (the caller ends the reply). */
struct ctrl_sess *ctrl_sess_open(struct ctrl *c, struct cnode *n, int capver, bool compress,
                                 const struct ctrl_sink_ops *ops, void *h);
/* The transport lost the stream: forget it (the sink is not called again). */
void ctrl_sess_gone(struct ctrl_sess *s);
/* End a stream from our side (sink end, then forget). */
void ctrl_sess_end(struct ctrl_sess *s);
/* Queue a change of n for its peers (and itself with CH_SELF); sent within batch_ms. */
void fanout_node(struct ctrl *c, struct cnode *n, unsigned what);
/* One message (already framed: zstd for compressing streams, plain for the others) on every open stream
 * of n, now. 0, or -1 if n has no stream left. */
int fanout_node_message(struct ctrl *c, struct cnode *n, const uint8_t *zframe, size_t zlen,
                        const uint8_t *pframe, size_t plen);
void fanout_removed(struct ctrl *c, int64_t id);
/* A user's first node joined: its profile goes to every stream with the next batch (UserProfiles are
 * upserted by ID, so a delta carries only the new ones). */
void fanout_user(struct ctrl *c, int64_t user_id);
/* The DERP map and/or DNS config changed (STATIC_*): every stream gets them in the next delta (dnsconf.c
 * calls it when the extra records file changed). */
void fanout_statics(struct ctrl *c, unsigned what);
/* Something every node sees about every node changed (e.g. the MagicDNS domain in their names): write a
 * whole new map to every open stream, now (what is batched goes with it). */
void fanout_full_maps(struct ctrl *c);
/* Send what is queued now (the flush timer calls this). The access policy's deferred recomputes are
 * settled first (access_settle): their deltas go in this batch. */
void fanout_flush(struct ctrl *c);
/* Arms the flush timer (if it is not armed): something will be in the next batch (access.c: the policy
 * engine has nodes to recompute). */
void fanout_soon(struct ctrl *c);

/* ---- poll.c: /machine/map (spec control-ts2021.md §7) ---- */
enum { MAP_RESPOND = 0, MAP_STREAM = 1 };
struct map_decision {
    int kind;
    int status;        /* MAP_RESPOND */
    const char *ctype;
    uint8_t *body;     /* malloc'd (NULL: empty) */
    size_t len;
    struct cnode *node; /* MAP_STREAM: open with ctrl_sess_open(c, node, capver, compress, ...) */
    int capver;
    bool compress;
};
/* One MapRequest from machine mkey: applies what it reports (endpoints, disco key, Hostinfo, home DERP)
 * and tells peers, then says how to answer. */
void map_handle(struct ctrl *c, const uint8_t mkey[32], int capver, const uint8_t *body, size_t len,
                struct map_decision *d);

/* ---- register.c: /machine/register (spec control-ts2021.md §6) ---- */
struct reg_answer {
    int status;
    const char *ctype; /* "application/json" or text */
    char *body;        /* malloc'd */
    size_t len;
};
struct reg_waiter;
typedef void (*reg_done_cb)(void *arg, const struct reg_answer *a);
void reg_answer_free(struct reg_answer *a);
/* One RegisterRequest from the machine whose Noise key is mkey. Returns 0 with *a to send now, or 1 when
 * the request waits for an admin (a Followup): cb(arg, answer) runs later, unless reg_cancel(*w) first. */
/* metrics.c: the role's collector (arg: the ctrl). */
struct metrics_w;
void ctrl_collect_metrics(struct metrics_w *w, void *arg);

int reg_handle(struct ctrl *c, const uint8_t mkey[32], int capver, const uint8_t *body, size_t len,
               struct reg_answer *a, reg_done_cb cb, void *arg, struct reg_waiter **w);
void reg_cancel(struct reg_waiter *w);
/* Approve the interactive registration authid for user: the node is created (or its key replaced) and
 * waiting requests answered. The node's ID, or -1 with err. */
int64_t reg_approve(struct ctrl *c, const char *authid, const char *user, char *err, size_t errlen);
/* Whether authid is a pending (unapproved, unexpired) registration; its hostname into host. */
bool reg_pending_info(struct ctrl *c, const char *authid, char *host, size_t hostlen);
/* Another instance approved a registration that registered node_id (the change feed): requests waiting
 * here for it are answered. */
void reg_remote_done(struct ctrl *c, int64_t node_id);
/* After the change feed was down: every registration waited on here is read again, and those approved
 * meanwhile are answered (their 'R' change was missed). */
void reg_recheck(struct ctrl *c);
void reg_free_all(struct ctrl *c);

#endif
