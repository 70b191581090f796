// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/parse.h"

/* "tests" and "sshTests": only their shape is checked here; a malformed test is a failing test
 * (tests.c runs them), as Tailscale treats it. */

static const char **str_list(struct pctx *c, const struct hj_val *v, const char *what, size_t *n)
{
    struct hj_val **s;
    *n = 0;
    if (want_strs(c, v, what, &s, n))
        return NULL;
    const char **r = alloc(c, *n, sizeof *r);
    for (size_t i = 0; r && i < *n; i++)
        r[i] = s[i]->s;
    return r;
}

/* Tests are refused at load when they fail; a malformed test is a failing test, as Tailscale reports it
 * ("test(s) failed"), so only the structure is checked here. */
void parse_test(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "tests[]"))
        return;
    struct pol_test t;
    memset(&t, 0, sizeof t);
    t.pos = v->pos;
    t.proto = -1;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "src")) {
            t.src_text = want_str(c, m->val, "src");
        } else if (key_is(m, "proto")) {
            const char *ps = want_str(c, m->val, "proto");
            if (ps && *ps && (t.proto = proto_parse(ps)) < 0) {
                t.proto = -2; /* an unknown protocol: the test fails */
            }
        } else if (key_is(m, "accept")) {
            t.accept = str_list(c, m->val, "accept", &t.naccept);
        } else if (key_is(m, "deny")) {
            t.deny = str_list(c, m->val, "deny", &t.ndeny);
        } else if (key_is(m, "srcPostureAttrs")) {
            perr_add(&c->e, m->pos, "tests: srcPostureAttrs is not supported");
        } else {
            perr_add(&c->e, m->pos, "tests: unknown field \"%s\"", m->key);
        }
    }
    struct pol_test *vv = realloc(c->p->tests, (c->p->ntests + 1) * sizeof *vv);
    if (!vv)
        return;
    c->p->tests = vv;
    vv[c->p->ntests++] = t;
}

void parse_sshtest(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "sshTests[]"))
        return;
    struct pol_sshtest t;
    memset(&t, 0, sizeof t);
    t.pos = v->pos;
    const struct hj_val *dst = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "src"))
            t.src_text = want_str(c, m->val, "src");
        else if (key_is(m, "dst"))
            dst = m->val;
        else if (key_is(m, "accept"))
            t.accept = str_list(c, m->val, "accept", &t.naccept);
        else if (key_is(m, "check"))
            t.check = str_list(c, m->val, "check", &t.ncheck);
        else if (key_is(m, "deny"))
            t.deny = str_list(c, m->val, "deny", &t.ndeny);
        else
            perr_add(&c->e, m->pos, "sshTests: unknown field \"%s\"", m->key);
    }
    const char **lists[3] = {t.accept, t.check, t.deny};
    size_t ns[3] = {t.naccept, t.ncheck, t.ndeny};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < ns[l]; i++)
            if (!strcmp(lists[l][i], "*") || !*lists[l][i])
                perr_add(&c->e, v->pos, "user \"%s\" is not valid", lists[l][i]);
    struct hj_val **ds;
    size_t nd;
    if (!want_strs(c, dst, "dst", &ds, &nd)) {
        t.dst = alloc(c, nd, sizeof *t.dst);
        for (size_t i = 0; t.dst && i < nd; i++) {
            const char *x = ds[i]->s;
            struct ipprefix pf;
            bool cidr = strchr(x, '/') && !prefix_parse(x, strlen(x), false, &pf);
            if (!strcmp(x, "autogroup:internet") || !strcmp(x, "*") || cidr || !strcmp(x, "autogroup:danger-all")) {
                perr_add(&c->e, ds[i]->pos, "SSH tests dst contains disallowed element \"%s\"", x);
                continue;
            }
            struct perr quiet = {NULL, NULL};
            struct alias a;
            if (alias_parse(c->p, x, ds[i]->pos, AC_DST | AC_TEST, &a, &quiet)) {
                /* unknown names make the test fail rather than the policy */
                memset(&a, 0, sizeof a);
                a.k = AL_PREFIX;
                a.text = x;
                a.idx = -1;
                a.pfx.bits = 255; /* matches nothing */
            }
            t.dst[t.ndst++] = a;
        }
    }
    struct pol_sshtest *vv = realloc(c->p->sshtests, (c->p->nsshtests + 1) * sizeof *vv);
    if (!vv)
        return;
    c->p->sshtests = vv;
    vv[c->p->nsshtests++] = t;
}
