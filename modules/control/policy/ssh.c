// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/control/policy/engine.h"

/* A node's SSHPolicy (spec netmap.md §8.3) as Tailscale's control plane builds it, rule by rule in
 * policy order with the "check" rules moved before the "accept" ones:
 *  - principals: the source nodes' addresses ({"nodeIP":...});
 *  - sshUsers: "root" mapped to itself or to "" (denied), "*":"=" for autogroup:nonroot, each named
 *    user to itself;
 *  - with a "localpart:*@domain" user each source user gets a rule of its own, followed by one that maps
 *    the local part of its login (when in that domain) to itself; and a source of such a rule that is not
 *    a destination still gets its own user's rules (the capture shows Tailscale does so);
 *  - action: accept with forwarding allowed, or check: hold and delegate to control. */

struct principals {
    size_t *slots;
    size_t n, cap;
};

static void pr_add(struct principals *p, size_t slot)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        size_t *v = realloc(p->slots, cap * sizeof *v);
        if (!v)
            return;
        p->slots = v;
        p->cap = cap;
    }
    p->slots[p->n++] = slot;
}

static void emit_principals(const struct pol_engine *e, const struct principals *p, struct jbuf *b)
{
    jbuf_field(b, "principals");
    jbuf_open(b, '[');
    for (size_t i = 0; i < p->n; i++) {
        const struct enode *n = &e->nodes[p->slots[i]];
        const char *ips[2];
        size_t ni = 0;
        if (n->has4)
            ips[ni++] = n->ip4_text;
        if (n->has6)
            ips[ni++] = n->ip6_text;
        for (size_t k = 0; k < ni; k++) {
            jbuf_open(b, '{');
            jbuf_field(b, "nodeIP");
            jbuf_str(b, ips[k]);
            jbuf_close(b, '}');
        }
    }
    jbuf_close(b, ']');
}

static void emit_action(const struct pol_engine *e, const struct sshrule *r, struct jbuf *b)
{
    jbuf_field(b, "action");
    jbuf_open(b, '{');
    if (r->action == SSH_CHECK) {
        jbuf_field(b, "holdAndDelegate");
        struct jbuf u;
        jbuf_init(&u);
        const char *base = e->server_url ? e->server_url : "";
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        jbuf_put(&u, base, bl);
        static const char path[] = "/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER";
        jbuf_put(&u, path, sizeof path - 1);
        jbuf_strn(b, u.p, u.len);
        jbuf_free(&u);
    } else {
        jbuf_field(b, "accept");
        jbuf_bool(b, true);
        jbuf_field(b, "allowAgentForwarding");
        jbuf_bool(b, true);
        jbuf_field(b, "allowLocalPortForwarding");
        jbuf_bool(b, true);
        jbuf_field(b, "allowRemotePortForwarding");
        jbuf_bool(b, true);
    }
    jbuf_close(b, '}');
}

/* One SSHRule: principals, then sshUsers (the rule's common map, or {localpart: localpart}). */
static void emit_rule(const struct pol_engine *e, const struct sshrule *r, const struct principals *p,
                      const char *localpart, struct jbuf *b)
{
    if (!p->n)
        return;
    jbuf_open(b, '{');
    emit_principals(e, p, b);
    jbuf_field(b, "sshUsers");
    jbuf_open(b, '{');
    if (localpart) {
        jbuf_name(b, localpart);
        jbuf_str(b, localpart);
    } else {
        if (r->nonroot) {
            jbuf_name(b, "*");
            jbuf_str(b, "=");
        }
        jbuf_name(b, "root");
        jbuf_str(b, r->root ? "root" : "");
        for (size_t i = 0; i < r->nusers; i++) {
            jbuf_name(b, r->users[i]);
            jbuf_str(b, r->users[i]);
        }
    }
    jbuf_close(b, '}');
    emit_action(e, r, b);
    if (r->naccept_env) {
        jbuf_field(b, "acceptEnv");
        jbuf_open(b, '[');
        for (size_t i = 0; i < r->naccept_env; i++)
            jbuf_str(b, r->accept_env[i]);
        jbuf_close(b, ']');
    }
    jbuf_close(b, '}');
}

/* The local part of a user's login when it is in the rule's localpart domain. */
static char *localpart_of(const struct euser *u, const char *domain)
{
    const char *at = strrchr(u->login, '@');
    if (!at || strcmp(at + 1, domain))
        return NULL;
    return strndup(u->login, (size_t)(at - u->login));
}

static bool src_node(const struct pol_engine *e, const struct crule *r, size_t slot)
{
    (void)e;
    return bit_get(r->S, slot);
}

static int cmp_slot_user(const void *a, const void *b, void *arg);

/* The rules of one SSH rule for node n, appended to b. */
static void rule_for_node(struct pol_engine *e, const struct crule *cr, struct enode *n, size_t slot,
                          struct jbuf *b)
{
    const struct sshrule *r = cr->ssh;
    bool is_dst = false, self_dst = false;
    for (size_t i = 0; i < r->ndst; i++) {
        const struct alias *a = &r->dst[i];
        if (a->k == AL_SELF) {
            if (!n->tagged && n->user >= 0)
                self_dst = true;
        } else if (a->k == AL_PREFIX || a->k == AL_HOST) {
            struct ipaddr ips[2];
            size_t ni;
            eng_node_ips(n, ips, &ni);
            for (size_t k = 0; k < ni; k++)
                is_dst |= prefix_contains(&a->pfx, &ips[k]);
        } else if (sel_ident(e, a, n)) {
            is_dst = true;
        }
    }
    struct principals p = {0};
    /* autogroup:self: the node's own user's nodes among the sources */
    if (self_dst) {
        const struct euser *u = &e->users[n->user];
        for (size_t k = 0; k < u->nnodes; k++)
            if (src_node(e, cr, u->nodes[k]))
                pr_add(&p, u->nodes[k]);
        if (p.n) {
            emit_rule(e, r, &p, NULL, b);
            if (r->localpart_domain) {
                char *lp = localpart_of(u, r->localpart_domain);
                if (lp)
                    emit_rule(e, r, &p, lp, b);
                free(lp);
            }
        }
        p.n = 0;
    }
    if (!is_dst && (self_dst || !(r->localpart_domain && src_node(e, cr, slot)))) {
        free(p.slots);
        return;
    }
    if (!is_dst) {
        /* a localpart rule's source that is not a destination gets its own user's part */
        if (n->tagged || n->user < 0) {
            pr_add(&p, slot);
            emit_rule(e, r, &p, NULL, b);
        } else {
            const struct euser *u = &e->users[n->user];
            for (size_t k = 0; k < u->nnodes; k++)
                if (src_node(e, cr, u->nodes[k]))
                    pr_add(&p, u->nodes[k]);
            emit_rule(e, r, &p, NULL, b);
            char *lp = localpart_of(u, r->localpart_domain);
            if (lp && p.n)
                emit_rule(e, r, &p, lp, b);
            free(lp);
        }
        free(p.slots);
        return;
    }
    /* the sources: users' nodes grouped by user (in user order), then tagged nodes */
    for (size_t s = 0; s < e->nslots; s++)
        if (e->nodes[s].used && src_node(e, cr, s))
            pr_add(&p, s);
    if (p.n)
        qsort_r(p.slots, p.n, sizeof *p.slots, cmp_slot_user, e);
    if (!r->localpart_domain) {
        emit_rule(e, r, &p, NULL, b);
        free(p.slots);
        return;
    }
    struct principals q = {0};
    for (size_t i = 0; i < p.n;) {
        const struct enode *m = &e->nodes[p.slots[i]];
        int user = m->tagged ? -1 : m->user;
        q.n = 0;
        size_t j = i;
        for (; j < p.n; j++) {
            const struct enode *x = &e->nodes[p.slots[j]];
            if ((x->tagged ? -1 : x->user) != user)
                break;
            pr_add(&q, p.slots[j]);
        }
        emit_rule(e, r, &q, NULL, b);
        if (user >= 0) {
            char *lp = localpart_of(&e->users[user], r->localpart_domain);
            if (lp)
                emit_rule(e, r, &q, lp, b);
            free(lp);
        }
        i = j;
    }
    free(q.slots);
    free(p.slots);
}

static int cmp_slot_user(const void *a, const void *b, void *arg)
{
    const struct pol_engine *e = arg;
    const struct enode *x = &e->nodes[*(const size_t *)a], *y = &e->nodes[*(const size_t *)b];
    int ux = x->tagged || x->user < 0 ? INT32_MAX : x->user, uy = y->tagged || y->user < 0 ? INT32_MAX : y->user;
    if (ux != uy)
        return ux < uy ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int ssh_build(struct pol_engine *e, struct enode *n, struct jbuf *b)
{
    if (!e->pol)
        return 0;
    size_t slot = (size_t)(n - e->nodes);
    jbuf_open(b, '{');
    jbuf_field(b, "rules");
    jbuf_open(b, '[');
    /* check rules first, then accept rules, each in policy order */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < e->nrules; i++) {
            const struct crule *r = &e->rules[i];
            if (r->kind != CR_SSH || (r->ssh->action == SSH_CHECK) != (pass == 0))
                continue;
            rule_for_node(e, r, n, slot, b);
        }
    jbuf_close(b, ']');
    jbuf_close(b, '}');
    return b->oom ? -1 : 0;
}
