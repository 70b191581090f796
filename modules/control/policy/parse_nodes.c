// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/parse.h"

/* The sections about nodes' own behaviour: SSH rules, node attributes, auto approvers. */

/* Go's time.ParseDuration for the forms a checkPeriod takes ("12h", "1h30m", "90s"). Seconds, or -1. */
static int64_t parse_duration(const char *s)
{
    if (!*s)
        return -1;
    if (!strcmp(s, "0"))
        return 0;
    double total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return -1;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        double unit;
        if (!strncmp(p, "ns", 2)) {
            unit = 1e-9;
            p += 2;
        } else if (!strncmp(p, "us", 2) || !strncmp(p, "\xc2\xb5s", 3)) {
            unit = 1e-6;
            p += *p == 'u' ? 2 : 3;
        } else if (!strncmp(p, "ms", 2)) {
            unit = 1e-3;
            p += 2;
        } else if (*p == 's') {
            unit = 1;
            p++;
        } else if (*p == 'm') {
            unit = 60;
            p++;
        } else if (*p == 'h') {
            unit = 3600;
            p++;
        } else {
            return -1;
        }
        total += v * unit;
    }
    return (int64_t)total;
}

void parse_ssh(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "ssh[]"))
        return;
    const struct hj_val *action = NULL, *src = NULL, *dst = NULL, *users = NULL, *period = NULL, *env = NULL,
                        *posture = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "action"))
            action = m->val;
        else if (key_is(m, "src"))
            src = m->val;
        else if (key_is(m, "dst"))
            dst = m->val;
        else if (key_is(m, "users"))
            users = m->val;
        else if (key_is(m, "checkPeriod"))
            period = m->val;
        else if (key_is(m, "acceptEnv"))
            env = m->val;
        else if (key_is(m, "srcPosture"))
            posture = m->val;
        else
            perr_add(&c->e, m->pos, "ssh: unknown field \"%s\"", m->key);
    }
    size_t nerr = c->e.errs->n;
    struct sshrule r;
    memset(&r, 0, sizeof r);
    r.pos = v->pos;
    r.check_period = -1;
    const char *act = action ? want_str(c, action, "action") : NULL;
    if (!action || (action->type == HJ_STR && !*act)) {
        perr_add(&c->e, v->pos, "action must be specified");
    } else if (act && !strcmp(act, "accept")) {
        r.action = SSH_ACCEPT;
    } else if (act && !strcmp(act, "check")) {
        r.action = SSH_CHECK;
    } else if (act) {
        perr_add(&c->e, action->pos, "\"%s\" is not a valid action", act);
    }
    r.src = aliases(c, src, "src", AC_SRC | AC_SSH, &r.nsrc);
    r.dst = aliases(c, dst, "dst", AC_DST | AC_SSH, &r.ndst);
    bool has_self = false, has_user_dst = false;
    for (size_t i = 0; i < r.ndst; i++) {
        const struct alias *a = &r.dst[i];
        if (a->k == AL_STAR) {
            perr_add(&c->e, a->pos, "wildcard (*) is not supported as SSH destination");
        } else if ((a->k == AL_HOST || a->k == AL_PREFIX) && !prefix_is_single(&a->pfx)) {
            perr_add(&c->e, a->pos, "invalid dst \"%s\"", a->text);
        } else if (a->k == AL_IPSET) {
            perr_add(&c->e, a->pos, "invalid dst \"%s\"", a->text);
        }
        has_self |= a->k == AL_SELF;
        has_user_dst |= a->k == AL_USER || a->k == AL_GROUP || a->k == AL_USER_DOMAIN;
    }
    (void)has_user_dst;
    if (has_self && !self_src_ok(r.src, r.nsrc, false))
        perr_add(&c->e, v->pos, "autogroup:self can only be used with users, groups, or supported autogroups");
    struct hj_val **us;
    size_t nu;
    if (!users || users->type == HJ_NULL || (users->type == HJ_ARR && !users->len)) {
        perr_add(&c->e, users ? users->pos : v->pos, "users must be specified");
    } else if (!want_strs(c, users, "users", &us, &nu)) {
        r.users = alloc(c, nu, sizeof *r.users);
        for (size_t i = 0; r.users && i < nu; i++) {
            /* Tailscale trims the names and takes anything else as a literal local user name */
            const char *u = us[i]->s;
            size_t ul = us[i]->len;
            while (ul && (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r'))
                u++, ul--;
            while (ul && (u[ul - 1] == ' ' || u[ul - 1] == '\t' || u[ul - 1] == '\n' || u[ul - 1] == '\r'))
                ul--;
            char *t = tc_arena_alloc(&c->p->arena, ul + 1);
            if (!t)
                break;
            memcpy(t, u, ul);
            t[ul] = 0;
            if (!ul || !strcmp(t, "*")) {
                perr_add(&c->e, us[i]->pos, "user \"%s\" is not valid", t);
            } else if (!strcmp(t, "root")) {
                r.root = true;
            } else if (!strcmp(t, "autogroup:nonroot")) {
                r.nonroot = true;
            } else if (!strncmp(t, "localpart:*@", 12) && t[12]) {
                if (strchr(t + 12, '*') || strchr(t + 12, '@'))
                    perr_add(&c->e, us[i]->pos,
                             "%s is not associated with this Tailnet and cannot be used in user:*@<domain> "
                             "expressions", t + 12);
                else
                    r.localpart_domain = t + 12;
                add_domain(c, t + 12, us[i]->pos);
            } else {
                bool dup = false;
                for (size_t k = 0; k < r.nusers; k++)
                    dup |= !strcmp(r.users[k], t);
                if (!dup)
                    r.users[r.nusers++] = t;
            }
        }
    }
    if (period && period->type != HJ_NULL) {
        const char *ps = want_str(c, period, "checkPeriod");
        if (ps) {
            if (!strcmp(ps, "always")) {
                r.check_period = 0;
            } else {
                int64_t d = parse_duration(ps);
                if (d < 0)
                    perr_add(&c->e, period->pos, "time: invalid duration \"%s\"", ps);
                else
                    r.check_period = d;
            }
        }
        if (r.action == SSH_ACCEPT)
            perr_add(&c->e, period->pos, "checkPeriod is only valid with action \"check\"");
    }
    struct hj_val **es;
    size_t ne;
    if (env && !want_strs(c, env, "acceptEnv", &es, &ne)) {
        r.accept_env = alloc(c, ne, sizeof *r.accept_env);
        for (size_t i = 0; r.accept_env && i < ne; i++) {
            if (!es[i]->len) {
                perr_add(&c->e, es[i]->pos, "acceptEnv values cannot be empty");
                continue;
            }
            r.accept_env[r.naccept_env++] = es[i]->s;
        }
    }
    r.posture = rule_postures(c, posture, &r.nposture);
    if (c->e.errs->n != nerr)
        return;
    struct sshrule *vv = realloc(c->p->ssh, (c->p->nssh + 1) * sizeof *vv);
    if (!vv)
        return;
    c->p->ssh = vv;
    vv[c->p->nssh++] = r;
}

void parse_nodeattr(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "nodeAttrs[]"))
        return;
    struct nodeattr na;
    memset(&na, 0, sizeof na);
    na.pos = v->pos;
    const struct hj_val *target = NULL, *attr = NULL, *app = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "target"))
            target = m->val;
        else if (key_is(m, "attr"))
            attr = m->val;
        else if (key_is(m, "app"))
            app = m->val;
        else if (key_is(m, "ipPool"))
            perr_add(&c->e, m->pos, "nodeAttrs: ipPool is not supported by weft (it allocates from "
                                    "control.prefix_v4/prefix_v6)");
        else
            perr_add(&c->e, m->pos, "nodeAttrs: unknown field \"%s\"", m->key);
    }
    size_t nerr = c->e.errs->n;
    na.target = aliases(c, target, "target", AC_ATTR, &na.ntarget);
    for (size_t i = 0; i < na.ntarget; i++)
        if (na.target[i].k == AL_INTERNET || na.target[i].k == AL_DANGER_ALL)
            perr_add(&c->e, na.target[i].pos, "nodeAttrs target does not support %s", na.target[i].text);
    struct hj_val **as;
    size_t nas;
    if (!want_strs(c, attr, "attr", &as, &nas)) {
        na.attrs = alloc(c, nas, sizeof *na.attrs);
        for (size_t i = 0; na.attrs && i < nas; i++) {
            if (!as[i]->len) {
                perr_add(&c->e, as[i]->pos, "attr: empty attribute");
                continue;
            }
            na.attrs[na.nattrs++] = as[i]->s;
        }
    }
    if (app && app->type != HJ_NULL) {
        if (want_obj(c, app, "app") == 0) {
            struct jbuf b;
            jbuf_init(&b);
            for (size_t i = 0; i < app->len; i++) {
                const char *comp;
                if (cap_name_ok(c, &app->obj[i], &comp))
                    continue;
                jbuf_strn(&b, app->obj[i].key, app->obj[i].keylen);
                jbuf_putc(&b, ':');
                hj_emit(&b, app->obj[i].val);
            }
            char *t = jbuf_take(&b, NULL);
            if (t) {
                char *x = tc_arena_alloc(&c->p->arena, strlen(t) + 1);
                if (x)
                    strcpy(x, t);
                na.app = x;
                free(t);
            }
        }
    }
    if (c->e.errs->n != nerr)
        return;
    struct nodeattr *vv = realloc(c->p->attrs, (c->p->nattrs + 1) * sizeof *vv);
    if (!vv)
        return;
    c->p->attrs = vv;
    vv[c->p->nattrs++] = na;
}

void parse_auto_approvers(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "autoApprovers"))
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "routes")) {
            if (want_obj(c, m->val, "autoApprovers.routes"))
                continue;
            for (size_t k = 0; k < m->val->len; k++) {
                const struct hj_member *r = &m->val->obj[k];
                struct autoapprover a;
                memset(&a, 0, sizeof a);
                if (prefix_parse(r->key, r->keylen, true, &a.route)) {
                    perr_add(&c->e, r->pos, "autoApprovers.routes: \"%s\": not a CIDR", r->key);
                    continue;
                }
                a.who = aliases(c, r->val, "autoApprovers", AC_APPROVER, &a.nwho);
                struct autoapprover *vv = realloc(c->p->approvers, (c->p->napprovers + 1) * sizeof *vv);
                if (!vv)
                    return;
                c->p->approvers = vv;
                vv[c->p->napprovers++] = a;
            }
        } else if (key_is(m, "exitNode")) {
            struct autoapprover a;
            memset(&a, 0, sizeof a);
            a.exit = true;
            a.who = aliases(c, m->val, "autoApprovers", AC_APPROVER, &a.nwho);
            struct autoapprover *vv = realloc(c->p->approvers, (c->p->napprovers + 1) * sizeof *vv);
            if (!vv)
                return;
            c->p->approvers = vv;
            vv[c->p->napprovers++] = a;
        } else if (key_is(m, "services")) {
            perr_add(&c->e, m->pos, "autoApprovers.services: Tailscale Services are not supported by weft");
        } else {
            perr_add(&c->e, m->pos, "autoApprovers: unknown field \"%s\"", m->key);
        }
    }
}
