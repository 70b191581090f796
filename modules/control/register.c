// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "modules/control/authkey.h"
#include "modules/control/ctrl.h"
#include "modules/control/hostinfo.h"
#include "modules/control/ipalloc.h"
#include "modules/control/naming.h"
#include "modules/control/pending.h"
#include "modules/control/store.h"

/* /machine/register: every flow of spec control-ts2021.md §6.3.
 *   A  pre-auth key          -> node created (or its key replaced), MachineAuthorized
 *   B  interactive           -> AuthURL; the Followup request waits until `weft nodes register`
 *   C  known key, no auth    -> answered at once (NodeKeyExpired if it expired)
 *   D  logout (past Expiry)  -> the node expires (ephemeral: removed); peers told
 *   E  new key, old known    -> same node: ID, addresses and name kept, key replaced, peers told
 * The Noise peer key is the machine key: a node key registered under another machine key is refused. */

#define PENDING_TTL 1800 /* seconds an interactive registration may wait for approval */
#define MAX_WAITERS 4      /* Followup requests held at once for one registration */
/* An interactive registration keeps a trimmed Hostinfo (STORE_PENDING_HOSTINFO_MAX) until it is approved
 * (the client sends its whole Hostinfo again with its first map request). */
#define REFUSE_LOG_MS 60000

struct reg_waiter {
    struct ctrl *c;
    struct reg_pending *p;
    reg_done_cb cb;
    void *arg;
    struct reg_waiter *next, **pprev;
};

void reg_answer_free(struct reg_answer *a)
{
    free(a->body);
    a->body = NULL;
}

static void answer_text(struct reg_answer *a, int status, const char *text)
{
    a->status = status;
    a->ctype = "text/plain; charset=utf-8";
    a->body = strdup(text);
    a->len = a->body ? strlen(a->body) : 0;
}

static void answer_json(struct reg_answer *a, struct tc_register_response *r)
{
    struct jbuf b;
    jbuf_init(&b);
    if (tc_register_response_emit(&b, r) || b.oom) {
        jbuf_free(&b);
        answer_text(a, 500, "out of memory");
        return;
    }
    a->status = 200;
    a->ctype = "application/json; charset=utf-8";
    a->body = jbuf_take(&b, &a->len);
    jbuf_free(&b);
}

/* The answer for a registered node (flow A, C, E), or its refusal text in err (logout, expired). */
static void answer_node(struct ctrl *c, const struct cnode *n, bool key_expired, const char *auth_url,
                        const char *error, struct reg_answer *a)
{
    struct tc_register_response r;
    memset(&r, 0, sizeof r);
    const struct model_user *u = n ? ctrl_user(c, n->m.user_id) : NULL;
    if (u) {
        const char *dn = u->display_name[0] ? u->display_name : u->name;
        r.user.id = u->id;
        r.user.display_name = dn;
        r.user.created = tc_time_from_unix(u->created, 0);
        r.login.id = u->id;
        r.login.login_name = u->name;
        r.login.display_name = dn;
    }
    r.node_key_expired = key_expired;
    r.machine_authorized = n && !key_expired && !auth_url && !error;
    r.auth_url = auth_url;
    r.error = error;
    answer_json(a, &r);
}

static bool taken_in_memory(void *ctx, const char *label)
{
    return ctrl_node_by_name(ctx, label) != NULL;
}

/* A name held in the mirror or in the database (another instance's node not yet heard of). */
static bool taken_anywhere(void *ctx, const char *label)
{
    struct ctrl *c = ctx;
    if (ctrl_node_by_name(c, label))
        return true;
    struct model_node m;
    int rc = store_node_get_by_given_name(c->store, label, &m);
    if (rc == STORE_OK)
        model_node_clear(&m);
    return rc != STORE_NOTFOUND;
}

/* The user's first node: peers need its UserProfile. */
static bool first_of_user(struct ctrl *c, const struct cnode *n)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i] != n && c->nodes[i]->m.user_id == n->m.user_id)
            return false;
    return true;
}

struct reg_params {
    const uint8_t *mkey, *nkey;
    int64_t user_id;
    const char *hostinfo; /* JSON or NULL */
    size_t hostinfo_len;
    const char *hostname;
    bool ephemeral;
    const struct model_strlist *tags;
    int64_t authkey_id; /* 0: none; else marked used in the same transaction */
    int capver;
    const char *pending_id; /* an approved interactive registration: marked done in the same transaction */
};

/* Creates a node, or gives the machine's existing node the new key (flow E: ID, addresses and kind
 * kept; the name follows a changed hostname unless an admin named the node). Returns the node, or NULL
 * with the reason in err (for the log and the admin) and in pub what may be told the client (never the
 * database's path or SQL). p->hostinfo is cleaned already. */
static struct cnode *enroll(struct ctrl *c, const struct reg_params *p, char *err, size_t errlen, char *pub,
                            size_t publen)
{
    snprintf(pub, publen, "the server could not register this node (see its log)");
    int64_t now = ctrl_now();
    int64_t expiry = p->tags && p->tags->n ? 0 : c->conf->node_expiry ? now + c->conf->node_expiry / 1000 : 0;
    /* the machine's node may have registered through another instance a moment ago */
    struct cnode *n = cluster_node_by_machine_key(c, p->mkey);
    if (n) {
        struct model_node old;
        memset(&old, 0, sizeof old);
        if (model_node_copy(&old, &n->m)) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(n->m.node_key, p->nkey, 32);
        n->m.user_id = p->user_id;
        n->m.expiry = expiry;
        /* n->m.ephemeral stays: an ephemeral key does not make an existing node ephemeral (it would be
         * deleted when it next goes offline), nor does a plain key make an ephemeral one permanent */
        unsigned renamed = p->hostname ? ctrl_node_set_hostname(c, n, p->hostname) : 0;
        if (p->tags)
            model_strlist_copy(&n->m.tags, p->tags);
        if (p->authkey_id)
            n->m.authkey_id = p->authkey_id;
        if (p->capver)
            n->m.capver = p->capver;
        if (p->hostinfo) {
            free(n->m.hostinfo);
            n->m.hostinfo = strndup(p->hostinfo, p->hostinfo_len);
            ctrl_node_set_hostinfo(n, p->hostinfo, p->hostinfo_len);
        }
        int rc = store_begin(c->store);
        if (!rc)
            rc = store_node_update(c->store, &n->m);
        if (!rc && p->authkey_id)
            rc = store_authkey_mark_used(c->store, p->authkey_id);
        if (!rc && p->pending_id)
            rc = store_pending_done(c->store, p->pending_id, p->user_id, n->m.id);
        if (!rc)
            rc = store_commit(c->store);
        if (rc) {
            snprintf(err, errlen, "store: %s", store_errmsg(c->store));
            store_rollback(c->store);
            model_node_clear(&n->m);
            n->m = old;
            ctrl_node_reindex(c, n);
            ctrl_node_set_hostinfo(n, n->m.hostinfo, n->m.hostinfo ? strlen(n->m.hostinfo) : 0);
            return NULL;
        }
        if (memcmp(old.node_key, n->m.node_key, 32))
            ctrl_revoke(c, old.node_key);
        model_node_clear(&old);
        /* streams under the old key are stale: the client polls again with the new one */
        n->removing = true;
        while (n->sess)
            ctrl_sess_end(n->sess);
        n->removing = false;
        if (n->m.online)
            ctrl_node_online(c, n, false);
        timer_stop(&n->eph_timer);
        mapper_invalidate(n);
        fanout_node(c, n, CH_FULL | CH_SELF);
        log_info("module=control event=node_rekeyed node=%lld name=%s renamed=%s", (long long)n->m.id,
                 n->m.given_name, renamed ? "yes" : "no");
        return n;
    }

    struct model_node m;
    memset(&m, 0, sizeof m);
    m.user_id = p->user_id;
    memcpy(m.machine_key, p->mkey, 32);
    memcpy(m.node_key, p->nkey, 32);
    hostinfo_clean_str(m.hostname, sizeof m.hostname, p->hostname ? p->hostname : "");
    char label[NAMING_LABEL_MAX + 1];
    naming_label(m.hostname, label);
    if (p->hostinfo)
        m.hostinfo = strndup(p->hostinfo, p->hostinfo_len);
    m.capver = p->capver;
    m.expiry = expiry;
    m.created = now;
    m.last_seen = now;
    m.ephemeral = p->ephemeral;
    if (p->tags)
        model_strlist_copy(&m.tags, p->tags);
    m.authkey_id = p->authkey_id;
    /* The name and the addresses are chosen from the mirror; the database's unique constraints decide.
     * Another control instance on the same database (cluster.c) may have taken either a moment ago and
     * not told us yet: then the insert conflicts, the taken address stays reserved here (someone holds
     * it), the name is checked against the database too, and the registration tries again. */
    struct ipalloc_pair pair;
    int rc = STORE_CONFLICT;
    for (int attempt = 0; rc == STORE_CONFLICT && attempt < 8; attempt++) {
        if (naming_unique(label, attempt ? taken_anywhere : taken_in_memory, c, m.given_name)) {
            snprintf(err, errlen, "no free name for %s", label);
            model_node_clear(&m);
            return NULL;
        }
        if (ipalloc_next(c->ipa, &pair)) {
            snprintf(err, errlen, "addresses: %s", ipalloc_error(c->ipa));
            snprintf(pub, publen, "the server has no free address for a new node");
            model_node_clear(&m);
            return NULL;
        }
        m.has_ipv4 = pair.has4;
        m.has_ipv6 = pair.has6;
        memcpy(m.ipv4, pair.v4, 4);
        memcpy(m.ipv6, pair.v6, 16);
        rc = store_begin(c->store);
        if (!rc)
            rc = store_node_insert(c->store, &m);
        if (!rc && p->authkey_id)
            rc = store_authkey_mark_used(c->store, p->authkey_id);
        /* approved through two instances at once: one registers, the other's transaction is undone */
        if (!rc && p->pending_id)
            rc = store_pending_done(c->store, p->pending_id, p->user_id, m.id);
        if (!rc)
            rc = store_commit(c->store);
        if (rc) {
            snprintf(err, errlen, "store: %s", store_errmsg(c->store));
            store_rollback(c->store);
            bool addr_taken = strstr(err, ": the IPv4 address is") || strstr(err, ": the IPv6 address is");
            if (rc == STORE_CONFLICT && addr_taken)
                log_info("module=control event=register_retry reason=\"%s\"", err);
            else
                ipalloc_release_pair(c->ipa, &pair);
            if (rc == STORE_CONFLICT && !addr_taken && !strstr(err, ": the name is"))
                break; /* the machine or node key: not ours to retry */
        }
    }
    if (rc) {
        model_node_clear(&m);
        return NULL;
    }
    n = ctrl_node_add(c, &m);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (first_of_user(c, n))
        fanout_user(c, n->m.user_id);
    fanout_node(c, n, CH_FULL);
    if (n->m.ephemeral) /* removed if it never polls */
        timer_start(&n->eph_timer, (uint64_t)c->conf->ephemeral_timeout);
    log_info("module=control event=node_registered node=%lld name=%s user=%lld", (long long)n->m.id,
             n->m.given_name, (long long)n->m.user_id);
    return n;
}

/* ---- interactive registrations ----
 * The registrations are in the store (store_pending): any instance on the database shows and approves them,
 * and they outlive a restart. c->pending holds only the Followup requests waiting here: an entry per
 * registration that has any, gone with its last waiter. An approval made here answers them at once; one
 * made through another instance reaches them through the change feed (reg_remote_done, from cluster.c). */

#define EXPIRED_MSG "registration expired: it was not approved within 30 minutes; log in again"

static void pending_forget(struct ctrl *c, struct reg_pending *p)
{
    pending_unlink(&c->pending, p);
    free(p);
}

void reg_cancel(struct reg_waiter *w)
{
    struct reg_pending *p = w->p;
    struct ctrl *c = w->c;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    p->nwaiters--;
    free(w);
    if (!p->waiters && !p->busy)
        pending_forget(c, p);
}

/* Every request waiting on p gets answer a; p leaves the table. */
static void pending_answer(struct ctrl *c, struct reg_pending *p, const struct reg_answer *a)
{
    p->busy = true; /* a callback may cancel another waiter of p: p stays until the loop ends */
    while (p->waiters) {
        struct reg_waiter *w = p->waiters;
        reg_done_cb cb = w->cb;
        void *arg = w->arg;
        reg_cancel(w);
        cb(arg, a);
    }
    pending_forget(c, p);
}

/* The registration ends here without an approval (expired, superseded). */
static void pending_drop(struct ctrl *c, struct reg_pending *p, const char *why)
{
    struct reg_answer a = {0};
    answer_node(c, NULL, false, NULL, why, &a);
    pending_answer(c, p, &a);
    reg_answer_free(&a);
}

/* Waiters whose registration expired leave from the oldest end (entries are added in the order their
 * first waiter came, which is close to their expiry order: a few may be answered late, none early). The
 * store's expired rows are removed by the next registration, or here once a minute (on the leader). */
static void pending_gc(struct ctrl *c, int64_t now)
{
    while (c->pending.oldest && c->pending.oldest->expires <= now)
        pending_drop(c, c->pending.oldest, EXPIRED_MSG);
    if (now - c->pending_swept >= 60 && cluster_leader(c)) {
        c->pending_swept = now;
        int64_t gone = 0;
        if (store_pending_expire(c->store, now, &gone))
            log_warn("module=control event=pending_expire error=\"%s\"", store_errmsg(c->store));
        else if (gone)
            log_debug("module=control event=pending_expired count=%lld", (long long)gone);
        /* expired login state (access tokens, console sessions, OpenID logins) goes in the same sweep: lookups
         * ignore it already, this only keeps the table small */
        if (store_login_expire(c->store, now, &gone))
            log_warn("module=control event=login_expire error=\"%s\"", store_errmsg(c->store));
        else if (gone)
            log_debug("module=control event=login_expired count=%lld", (long long)gone);
    }
}

static void auth_url(struct ctrl *c, const char *id, char *out, size_t len)
{
    const char *base = c->conf->server_url ? c->conf->server_url : "";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    snprintf(out, len, "%.*s/register/%s", (int)bl, base, id);
}

/* The stored registration authid: STORE_OK, STORE_NOTFOUND (also when it expired or the id is malformed),
 * or another store_rc. */
static int pending_load(struct ctrl *c, const char *authid, struct store_pending *sp)
{
    if (strlen(authid) != AUTHID_HEX || strspn(authid, "0123456789abcdef") != AUTHID_HEX)
        return STORE_NOTFOUND;
    int rc = store_pending_get(c->store, authid, sp);
    if (rc == STORE_OK && sp->expires <= ctrl_now())
        rc = STORE_NOTFOUND;
    return rc;
}

bool reg_pending_info(struct ctrl *c, const char *authid, char *host, size_t hostlen)
{
    pending_gc(c, ctrl_now());
    struct store_pending sp;
    if (pending_load(c, authid, &sp) != STORE_OK || sp.node_id)
        return false;
    if (host)
        snprintf(host, hostlen, "%s", sp.hostname);
    return true;
}

int64_t reg_approve(struct ctrl *c, const char *authid, const char *user, char *err, size_t errlen)
{
    pending_gc(c, ctrl_now());
    struct store_pending sp;
    int rc = pending_load(c, authid, &sp);
    if (rc == STORE_NOTFOUND) {
        snprintf(err, errlen, "no pending registration %s (expired, or never asked for)", authid);
        return -1;
    }
    if (rc) {
        snprintf(err, errlen, "store: %s", store_errmsg(c->store));
        return -1;
    }
    if (sp.node_id) {
        snprintf(err, errlen, "registration %s is already approved", authid);
        return -1;
    }
    struct model_user u;
    if (store_user_get_by_name(c->store, user, &u)) {
        snprintf(err, errlen, "no user %s", user);
        return -1;
    }
    struct reg_params rp = {
        .mkey = sp.machine_key, .nkey = sp.node_key, .user_id = u.id, .hostinfo = sp.hostinfo[0] ? sp.hostinfo : NULL,
        .hostinfo_len = strlen(sp.hostinfo), .hostname = sp.hostname, .ephemeral = sp.ephemeral,
        .capver = sp.capver, .pending_id = sp.id,
    };
    char pub[128];
    struct cnode *n = enroll(c, &rp, err, errlen, pub, sizeof pub);
    if (!n)
        return -1;
    c->st.registrations[REG_OK_INTERACTIVE]++;
    log_info("module=control event=register_approved authid=%s node=%lld user=%s", sp.id, (long long)n->m.id,
             u.name);
    struct reg_pending *p = pending_by_id(&c->pending, sp.id);
    if (p) {
        struct reg_answer a = {0};
        answer_node(c, n, false, NULL, NULL, &a);
        pending_answer(c, p, &a);
        reg_answer_free(&a);
    }
    return n->m.id;
}

void reg_remote_done(struct ctrl *c, int64_t node_id)
{
    if (!c->pending.n) /* nobody waits here */
        return;
    struct cnode *n = cluster_node_fetch(c, node_id);
    struct reg_pending *p = n ? pending_by_mkey(&c->pending, n->m.machine_key) : NULL;
    if (!p)
        return;
    struct store_pending sp;
    if (store_pending_get(c->store, p->id, &sp) != STORE_OK || sp.node_id != node_id)
        return; /* an approval of another registration of this machine (superseded here) */
    log_info("module=control event=register_approved_elsewhere authid=%s node=%lld", p->id, (long long)node_id);
    struct reg_answer a = {0};
    answer_node(c, n, false, NULL, NULL, &a);
    pending_answer(c, p, &a);
    reg_answer_free(&a);
}

void reg_recheck(struct ctrl *c)
{
    struct reg_pending *p = c->pending.oldest;
    while (p) {
        struct reg_pending *next = p->newer; /* p may be answered and leave */
        struct store_pending sp;
        struct cnode *n;
        if (store_pending_get(c->store, p->id, &sp) == STORE_OK && sp.node_id &&
            (n = cluster_node_fetch(c, sp.node_id))) {
            struct reg_answer a = {0};
            answer_node(c, n, false, NULL, NULL, &a);
            pending_answer(c, p, &a);
            reg_answer_free(&a);
        }
        p = next;
    }
}

void reg_free_all(struct ctrl *c)
{
    for (struct reg_pending *p = c->pending.oldest; p; p = p->newer)
        while (p->waiters) {
            struct reg_waiter *w = p->waiters;
            p->waiters = w->next;
            free(w);
        }
    pending_destroy(&c->pending);
}

/* Flow B, first request: a pending registration for the machine in the store (it replaces the machine's
 * previous one) and its AuthURL. */
static void start_interactive(struct ctrl *c, const uint8_t mkey[32], const struct tc_register_request *req,
                              const char *hostinfo, size_t hostinfo_len, struct reg_answer *a)
{
    int64_t now = ctrl_now();
    struct store_pending sp, old;
    memset(&sp, 0, sizeof sp);
    int rc = store_pending_get_by_machine_key(c->store, mkey, &old);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        log_error("module=control event=register_failed error=\"%s\"", store_errmsg(c->store));
        answer_text(a, 500, "the server could not register this node (see its log)");
        return;
    }
    if (rc == STORE_OK && !old.node_id && old.expires > now && !memcmp(old.node_key, req->node_key.b, 32)) {
        /* the same login asked again (a restarted `up`): the same AuthID, so an admin who already has
         * the URL approves the right one; what it reports now replaces what it reported then */
        memcpy(sp.id, old.id, sizeof sp.id);
        sp.created = old.created;
        sp.expires = old.expires;
    } else {
        uint8_t rnd[AUTHID_HEX / 2];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(sp.id, sizeof sp.id, rnd, sizeof rnd);
        sp.created = now;
        sp.expires = now + PENDING_TTL;
    }
    struct reg_pending *lp = pending_by_mkey(&c->pending, mkey);
    if (lp && strcmp(lp->id, sp.id))
        pending_drop(c, lp, "superseded by a newer registration request from this machine");
    memcpy(sp.machine_key, mkey, 32);
    memcpy(sp.node_key, req->node_key.b, 32);
    if (hostinfo) {
        char *h = hostinfo_clean(hostinfo, hostinfo_len, hostinfo_approval_keys, STORE_PENDING_HOSTINFO_MAX, NULL);
        if (h)
            snprintf(sp.hostinfo, sizeof sp.hostinfo, "%s", h);
        free(h);
    }
    hostinfo_clean_str(sp.hostname, sizeof sp.hostname,
                       req->hostinfo && req->hostinfo->hostname ? req->hostinfo->hostname : "");
    sp.ephemeral = req->ephemeral;
    sp.capver = req->version;
    rc = store_pending_put(c->store, &sp, c->pending.max);
    if (rc == STORE_INUSE) {
        c->st.refused[REFUSED_TOO_MANY_PENDING]++;
        uint64_t held = 0;
        if (log_every_ok(&c->pending_log, loop_now(c->loop), REFUSE_LOG_MS, &held))
            log_warn("module=control event=register_refused reason=too_many_pending max_pending=%zu "
                     "refused_before=%llu msg=\"interactive registrations are refused until some are approved or "
                     "expire (control.max_pending, counted over every instance; logged once a minute)\"",
                     c->pending.max, (unsigned long long)held);
        answer_text(a, 503, "too many registrations are waiting for approval; try again later");
        return;
    }
    if (rc) {
        log_error("module=control event=register_failed error=\"%s\"", store_errmsg(c->store));
        answer_text(a, 500, "the server could not register this node (see its log)");
        return;
    }
    char url[512];
    auth_url(c, sp.id, url, sizeof url);
    c->st.registrations[REG_PENDING]++;
    log_info("module=control event=register_pending authid=%s hostname=\"%s\" src=%s msg=\"approve with: weft "
             "nodes register --user USER %s\"", sp.id, sp.hostname, c->reg_src ? c->reg_src : "-", sp.id);
    answer_node(c, NULL, false, url, NULL, a);
}

int reg_handle(struct ctrl *c, const uint8_t mkey[32], int capver, const uint8_t *body, size_t len,
               struct reg_answer *a, reg_done_cb cb, void *arg, struct reg_waiter **wout)
{
    memset(a, 0, sizeof *a);
    struct tc_register_request req;
    if (tc_register_request_parse(&req, (const char *)body, len)) {
        c->st.refused[REFUSED_MALFORMED]++;
        log_info("module=control event=register_refused src=%s reason=\"malformed RegisterRequest\"",
                 c->reg_src ? c->reg_src : "-");
        answer_text(a, 400, "malformed RegisterRequest");
        return 0;
    }
    int64_t now = ctrl_now();
    pending_gc(c, now);
    int ret = 0;
    struct store_pending *sp = NULL;
    const char *raw_hostinfo = NULL;
    size_t raw_len = 0, hostinfo_len = 0;
    if (req.hostinfo)
        raw_hostinfo = tc_raw_text(&req.hostinfo->raw, &raw_len);
    /* what the client says about itself is cleaned once, before anything keeps or forwards it */
    char *hostinfo = raw_hostinfo ? ctrl_hostinfo_clean(c, raw_hostinfo, raw_len, &hostinfo_len) : NULL;
    if (tc_key_is_zero(&req.node_key)) {
        c->st.refused[REFUSED_MALFORMED]++;
        log_info("module=control event=register_refused src=%s reason=\"RegisterRequest without NodeKey\"",
                 c->reg_src ? c->reg_src : "-");
        answer_text(a, 400, "RegisterRequest without NodeKey");
        goto out;
    }
    /* a node registered through another instance whose change has not arrived here yet is read from the store */
    struct cnode *byk = cluster_node_by_node_key(c, req.node_key.b);
    if (byk && memcmp(byk->m.machine_key, mkey, 32)) {
        c->st.refused[REFUSED_OTHER_MACHINE]++;
        log_warn("module=control event=register_refused src=%s node=%lld reason=\"node key of another machine\"",
                 c->reg_src ? c->reg_src : "-", (long long)byk->m.id);
        answer_text(a, 401, "this node key is registered to another machine");
        goto out;
    }
    int64_t want_expiry = tc_time_is_zero(&req.expiry) ? 0 : tc_time_to_unix(&req.expiry);

    /* D: logout: an Expiry in the past with the current key */
    if (want_expiry && want_expiry < now) {
        if (byk) {
            c->st.registrations[REG_LOGOUT]++;
            log_info("module=control event=logout node=%lld name=%s", (long long)byk->m.id, byk->m.given_name);
            if (byk->m.ephemeral) {
                ctrl_node_remove(c, byk, true);
            } else {
                ctrl_revoke(c, byk->m.node_key);
                byk->removing = true;
                while (byk->sess)
                    ctrl_sess_end(byk->sess);
                byk->removing = false;
                if (byk->m.online)
                    ctrl_node_online(c, byk, false);
                byk->m.expiry = now;
                ctrl_node_save(c, byk, CH_FULL | CH_SELF);
            }
        }
        answer_node(c, NULL, true, NULL, NULL, a);
        goto out;
    }

    const char *authkey = req.auth && req.auth->auth_key && *req.auth->auth_key ? req.auth->auth_key : NULL;

    /* C (and A again with the same key: containers run `tailscale up --authkey` on every start) */
    if (byk) {
        bool expired = ctrl_node_expired(byk, now);
        if (!expired || !authkey) {
            if (hostinfo && !expired) {
                free(byk->m.hostinfo);
                byk->m.hostinfo = strndup(hostinfo, hostinfo_len);
                unsigned what = ctrl_node_set_hostinfo(byk, hostinfo, hostinfo_len) ? CH_FULL : 0;
                /* `tailscale up --hostname=NEW` again: the name follows unless an admin named it */
                if (req.hostinfo->hostname)
                    what |= ctrl_node_set_hostname(c, byk, req.hostinfo->hostname);
                ctrl_node_save(c, byk, what);
            }
            if (!expired)
                c->st.registrations[REG_OK_KNOWN]++;
            answer_node(c, byk, expired, NULL, NULL, a);
            goto out;
        }
    }

    struct reg_params rp = {
        .mkey = mkey, .nkey = req.node_key.b, .hostinfo = hostinfo, .hostinfo_len = hostinfo_len,
        .hostname = req.hostinfo ? req.hostinfo->hostname : NULL, .ephemeral = req.ephemeral,
        .capver = req.version ? req.version : capver,
    };
    /* E (a known machine with a new key) is A or B whose enroll() finds the machine's node */
    if (authkey) { /* A */
        struct model_authkey k;
        memset(&k, 0, sizeof k);
        int st = authkey_lookup(c->store, authkey, now, &k);
        if (st == AUTHKEY_ERROR) {
            log_error("module=control event=register_failed error=\"%s\"", store_errmsg(c->store));
            answer_text(a, 500, "the server could not check the auth key (see its log)");
            goto out;
        }
        if (st != AUTHKEY_OK) {
            c->st.refused[st == AUTHKEY_REVOKED   ? REFUSED_KEY_REVOKED
                          : st == AUTHKEY_EXPIRED ? REFUSED_KEY_EXPIRED
                          : st == AUTHKEY_USED    ? REFUSED_KEY_USED
                                                  : REFUSED_KEY_UNKNOWN]++;
            log_info("module=control event=register_refused src=%s reason=\"%s\"", c->reg_src ? c->reg_src : "-",
                     authkey_reason(st));
            if (st != AUTHKEY_UNKNOWN)
                model_authkey_clear(&k);
            answer_node(c, NULL, false, NULL, authkey_reason(st), a);
            goto out;
        }
        rp.user_id = k.user_id;
        rp.ephemeral = rp.ephemeral || k.ephemeral;
        rp.tags = &k.tags;
        rp.authkey_id = k.id;
        char err[STORE_ERR_MAX + 64], pub[128];
        struct cnode *n = enroll(c, &rp, err, sizeof err, pub, sizeof pub);
        model_authkey_clear(&k);
        if (!n) {
            log_error("module=control event=register_failed error=\"%s\"", err);
            answer_text(a, 500, pub);
            goto out;
        }
        c->st.registrations[REG_OK_AUTHKEY]++;
        answer_node(c, n, false, NULL, NULL, a);
        goto out;
    }

    /* B: interactive. The registration's state is in the store (another instance may have started or
     * approved it); only the requests waiting for it are held here. */
    if (req.followup && *req.followup) {
        const char *id = strrchr(req.followup, '/');
        id = id ? id + 1 : req.followup;
        if (!(sp = malloc(sizeof *sp))) {
            answer_text(a, 500, "out of memory");
            goto out;
        }
        int rc = pending_load(c, id, sp);
        if (rc != STORE_OK && rc != STORE_NOTFOUND) {
            log_error("module=control event=register_failed error=\"%s\"", store_errmsg(c->store));
            answer_text(a, 500, "the server could not read the registration (see its log)");
            goto out;
        }
        if (rc == STORE_OK && !memcmp(sp->machine_key, mkey, 32) && !memcmp(sp->node_key, req.node_key.b, 32)) {
            if (sp->node_id) {
                struct cnode *n = cluster_node_fetch(c, sp->node_id);
                answer_node(c, n, false, NULL, n ? NULL : "node was removed", a);
                goto out;
            }
            struct reg_pending *p = pending_by_id(&c->pending, sp->id);
            if (!p) {
                struct reg_pending *old = pending_by_mkey(&c->pending, mkey);
                if (old)
                    pending_drop(c, old, "superseded by a newer registration request from this machine");
                if (c->pending.n >= c->pending.max || !(p = calloc(1, sizeof *p))) {
                    answer_text(a, 503, "too many requests are waiting for approval; try again later");
                    goto out;
                }
                memcpy(p->id, sp->id, sizeof p->id);
                memcpy(p->mkey, mkey, 32);
                memcpy(p->nkey, sp->node_key, 32);
                p->expires = sp->expires;
                if (pending_add(&c->pending, p)) {
                    free(p);
                    answer_text(a, 500, "out of memory");
                    goto out;
                }
            }
            if (p->nwaiters >= MAX_WAITERS) {
                c->st.refused[REFUSED_TOO_MANY_WAITERS]++;
                answer_text(a, 429, "too many requests are waiting for this registration");
                goto out;
            }
            struct reg_waiter *w = calloc(1, sizeof *w);
            if (!w) {
                if (!p->waiters)
                    pending_forget(c, p);
                answer_text(a, 500, "out of memory");
                goto out;
            }
            w->c = c;
            w->p = p;
            w->cb = cb;
            w->arg = arg;
            w->next = p->waiters;
            if (w->next)
                w->next->pprev = &w->next;
            w->pprev = &p->waiters;
            p->waiters = w;
            p->nwaiters++;
            *wout = w;
            ret = 1;
            goto out;
        }
        /* unknown or expired: start again with a fresh AuthURL */
    }
    start_interactive(c, mkey, &req, hostinfo, hostinfo_len, a);
out:
    free(sp);
    free(hostinfo);
    tc_register_request_clear(&req);
    return ret;
}
