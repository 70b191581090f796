// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/model.h"

/* HuJSON tree -> struct policy, section by section. Definitions (tagOwners, groups, hosts, IP sets,
 * postures) are read first so that every selector in the rules can be checked as it is read. Every
 * mistake is collected with its position; a policy with any error is refused whole. */

void perr_add(struct perr *e, struct hj_pos pos, const char *fmt, ...)
{
    struct pol_errors *es = e->errs;
    if (!es || es->n >= 1000) /* a hostile file cannot make the error list unbounded */
        return;
    struct pol_error *v = realloc(es->v, (es->n + 1) * sizeof *v);
    if (!v)
        return;
    es->v = v;
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    v[es->n].line = pos.line;
    v[es->n].col = pos.col;
    v[es->n].msg = strdup(buf);
    if (v[es->n].msg)
        es->n++;
}

void pol_errors_free(struct pol_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].msg);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

char *pol_errors_format(const struct pol_errors *e, const char *file)
{
    struct jbuf b;
    jbuf_init(&b);
    for (size_t i = 0; i < e->n; i++) {
        char head[512];
        int n;
        if (e->v[i].line)
            n = snprintf(head, sizeof head, "%s%s%u:%u: ", file ? file : "", file ? ":" : "", e->v[i].line,
                         e->v[i].col);
        else
            n = snprintf(head, sizeof head, "%s%s", file ? file : "", file ? ": " : "");
        jbuf_put(&b, head, n > 0 ? (size_t)n : 0);
        jbuf_put(&b, e->v[i].msg, strlen(e->v[i].msg));
        jbuf_putc(&b, '\n');
    }
    if (!e->n)
        jbuf_put(&b, "", 0);
    char *s = jbuf_take(&b, NULL);
    return s ? s : strdup("");
}

/* ---- helpers over the tree ---- */

struct pctx {
    struct policy *p;
    struct perr e;
};

static bool key_is(const struct hj_member *m, const char *k)
{
    return strlen(k) == m->keylen && !strncasecmp(m->key, k, m->keylen);
}

static const char *want_str(struct pctx *c, const struct hj_val *v, const char *what)
{
    if (!v || v->type != HJ_STR) {
        if (v)
            perr_add(&c->e, v->pos, "%s: want a string, not %s", what, hj_type_name(v->type));
        return NULL;
    }
    return v->s;
}

/* An array of strings (null and absent are empty). -1 after reporting a wrong type. */
static int want_strs(struct pctx *c, const struct hj_val *v, const char *what, struct hj_val ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v || v->type == HJ_NULL)
        return 0;
    if (v->type != HJ_ARR) {
        perr_add(&c->e, v->pos, "%s: want a list of strings, not %s", what, hj_type_name(v->type));
        return -1;
    }
    for (size_t i = 0; i < v->len; i++)
        if (v->arr[i]->type != HJ_STR) {
            perr_add(&c->e, v->arr[i]->pos, "%s: want a string, not %s", what, hj_type_name(v->arr[i]->type));
            return -1;
        }
    *out = v->arr;
    *n = v->len;
    return 0;
}

static int want_obj(struct pctx *c, const struct hj_val *v, const char *what)
{
    if (v->type != HJ_OBJ) {
        perr_add(&c->e, v->pos, "%s: want an object, not %s", what, hj_type_name(v->type));
        return -1;
    }
    return 0;
}

static void *alloc(struct pctx *c, size_t n, size_t size)
{
    return tc_arena_array(&c->p->arena, n ? n : 1, size);
}

/* A domain a user:*@domain or localpart:*@domain names: it must belong to the tailnet (checked against
 * the users when the policy is put in force). */
static void add_domain(struct pctx *c, const char *d, struct hj_pos pos)
{
    struct policy *p = c->p;
    struct pol_domain *v = realloc(p->domains, (p->ndomains + 1) * sizeof *v);
    if (!v)
        return;
    p->domains = v;
    v[p->ndomains].domain = d;
    v[p->ndomains].pos = pos;
    p->ndomains++;
}

/* Aliases of a list; entries that fail are reported and skipped. */
static struct alias *aliases(struct pctx *c, const struct hj_val *v, const char *what, int ctx, size_t *n)
{
    struct hj_val **s;
    size_t ns;
    *n = 0;
    if (want_strs(c, v, what, &s, &ns))
        return NULL;
    struct alias *a = alloc(c, ns, sizeof *a);
    if (!a)
        return NULL;
    for (size_t i = 0; i < ns; i++)
        if (!alias_parse(c->p, s[i]->s, s[i]->pos, ctx, &a[*n], &c->e)) {
            if (a[*n].k == AL_USER_DOMAIN)
                add_domain(c, a[*n].user, a[*n].pos);
            (*n)++;
        }
    return a;
}

/* ---- protocols ---- */

static const struct {
    const char *name;
    int32_t num;
} protos[] = {
    {"icmp", 1}, {"igmp", 2}, {"ipv4", 4}, {"ip-in-ip", 4}, {"tcp", 6}, {"egp", 8}, {"igp", 9},
    {"udp", 17}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"ipv6-icmp", 58}, {"sctp", 132}, {"fc", 133},
};

/* A protocol name or number (1..255). -1 if neither. */
static int32_t proto_parse(const char *s)
{
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (!strcmp(s, protos[i].name))
            return protos[i].num;
    if (!*s || strlen(s) > 3 || (s[0] == '0' && s[1]))
        return -1;
    int32_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 255 ? v : -1;
}

/* Protocols whose packets carry ports (TCP, UDP, SCTP). */
static bool proto_has_ports(int32_t p)
{
    return p == 6 || p == 17 || p == 132;
}

static bool all_ports(const struct portrange *r, size_t n)
{
    return n == 1 && r[0].first == 0 && r[0].last == 65535;
}

/* ---- definitions ---- */

static void parse_tag_names(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "tagOwners"))
        return;
    c->p->tags = alloc(c, v->len, sizeof *c->p->tags);
    if (!c->p->tags)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (strncmp(m->key, "tag:", 4) || !((m->key[4] >= 'a' && m->key[4] <= 'z') ||
                                            (m->key[4] >= 'A' && m->key[4] <= 'Z'))) {
            perr_add(&c->e, m->pos, "tagOwners: \"%s\": tag names are tag:<name>, the name starting with a letter",
                     m->key);
            continue;
        }
        if (tag_index(c->p, m->key) >= 0) {
            perr_add(&c->e, m->pos, "tagOwners: \"%s\" defined twice", m->key);
            continue;
        }
        struct pol_tag *t = &c->p->tags[c->p->ntags++];
        t->name = m->key;
        t->pos = m->pos;
    }
}

static void parse_tag_owners(struct pctx *c, const struct hj_val *v)
{
    for (size_t i = 0; i < v->len; i++) {
        int t = tag_index(c->p, v->obj[i].key);
        if (t < 0)
            continue;
        char what[300];
        snprintf(what, sizeof what, "tagOwners[\"%s\"]", v->obj[i].key);
        c->p->tags[t].owners = aliases(c, v->obj[i].val, what, AC_OWNER, &c->p->tags[t].nowners);
    }
}

static void parse_group_names(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "groups"))
        return;
    c->p->groups = alloc(c, v->len, sizeof *c->p->groups);
    if (!c->p->groups)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (strncmp(m->key, "group:", 6) || !m->key[6]) {
            perr_add(&c->e, m->pos, "groups: \"%s\": group names are group:<name>", m->key);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < c->p->ngroups; j++)
            dup |= !strcmp(c->p->groups[j].name, m->key);
        if (dup) {
            perr_add(&c->e, m->pos, "groups: \"%s\" defined twice", m->key);
            continue;
        }
        struct pol_group *g = &c->p->groups[c->p->ngroups++];
        g->name = m->key;
        g->pos = m->pos;
    }
}

static void parse_group_members(struct pctx *c, const struct hj_val *v)
{
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        struct pol_group *g = NULL;
        for (size_t j = 0; j < c->p->ngroups; j++)
            if (!strcmp(c->p->groups[j].name, m->key) && c->p->groups[j].pos.line == m->pos.line &&
                c->p->groups[j].pos.col == m->pos.col)
                g = &c->p->groups[j];
        if (!g)
            continue;
        char what[300];
        snprintf(what, sizeof what, "groups[\"%s\"]", m->key);
        struct hj_val **s;
        size_t ns;
        if (m->val->type != HJ_NULL && m->val->type != HJ_ARR) {
            perr_add(&c->e, m->val->pos, "%s: group value must be an array of users", what);
            continue;
        }
        if (want_strs(c, m->val, what, &s, &ns))
            continue;
        g->members = alloc(c, ns, sizeof *g->members);
        if (!g->members)
            continue;
        for (size_t k = 0; k < ns; k++) {
            const char *x = s[k]->s;
            if (!strncmp(x, "group:", 6)) {
                perr_add(&c->e, s[k]->pos, "%s: \"%s\": group members cannot be recursive", what, x);
                continue;
            }
            struct alias a;
            if (alias_parse(c->p, x, s[k]->pos, AC_GROUP, &a, &c->e))
                continue;
            if (a.k != AL_USER && a.k != AL_USER_DOMAIN) {
                perr_add(&c->e, s[k]->pos, "%s: \"%s\": groups hold users only", what, x);
                continue;
            }
            g->members[g->nmembers++] = a;
        }
    }
}

static void parse_hosts(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "hosts"))
        return;
    c->p->hosts = alloc(c, v->len, sizeof *c->p->hosts);
    if (!c->p->hosts)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        const char *val = want_str(c, m->val, "hosts");
        if (!val)
            continue;
        bool name_ok = m->keylen > 0 && !strchr(m->key, ':') && !strchr(m->key, '@') && strcmp(m->key, "*");
        for (const char *q = m->key; name_ok && *q; q++)
            name_ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                      *q == '-' || *q == '.' || *q == '_';
        struct ipprefix tmp;
        if (!name_ok || !prefix_parse(m->key, m->keylen, false, &tmp)) {
            perr_add(&c->e, m->pos, "hosts: \"%s\": invalid host name", m->key);
            continue;
        }
        struct ipprefix pf;
        if (prefix_parse(val, m->val->len, false, &pf)) {
            perr_add(&c->e, m->val->pos, "hosts[\"%s\"]: \"%s\": not an IP address or CIDR", m->key, val);
            continue;
        }
        if (prefix_parse(val, m->val->len, true, &tmp)) {
            perr_add(&c->e, m->val->pos, "hosts[\"%s\"]: \"%s\": prefix has bits set beyond its mask", m->key,
                     val);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < c->p->nhosts; j++)
            dup |= !strcmp(c->p->hosts[j].name, m->key);
        if (dup) {
            perr_add(&c->e, m->pos, "hosts: \"%s\" defined twice", m->key);
            continue;
        }
        struct pol_host *h = &c->p->hosts[c->p->nhosts++];
        h->name = m->key;
        h->pos = m->pos;
        h->pfx = pf;
    }
}

static int resolve_ipset(struct pctx *c, struct pol_ipset *s);

/* One "add X" / "remove X" / "X" entry of an IP set into its set. */
static void ipset_entry(struct pctx *c, struct pol_ipset *s, const struct hj_val *ev, bool need_op)
{
    const char *x = ev->s;
    bool remove = false;
    if (!strncmp(x, "add ", 4)) {
        x += 4;
    } else if (!strncmp(x, "remove ", 7)) {
        x += 7;
        remove = true;
    } else if (need_op) {
        perr_add(&c->e, ev->pos, "ipsets[\"%s\"]: \"%s\": with a remove in the set, every entry needs add or remove",
                 s->name, ev->s);
        return;
    }
    while (*x == ' ')
        x++;
    struct netset add;
    netset_init(&add);
    struct iprange r;
    if (strchr(x, '-') && !iprange_parse(x, strlen(x), &r)) {
        netset_add_range(&add, &r);
    } else if (!strncmp(x, "ipset:", 6)) {
        struct pol_ipset *o = NULL;
        for (size_t i = 0; i < c->p->nipsets; i++)
            if (!strcmp(c->p->ipsets[i].name, x))
                o = &c->p->ipsets[i];
        if (!o) {
            perr_add(&c->e, ev->pos, "ipsets[\"%s\"]: \"%s\": no such IP set", s->name, x);
        } else if (o->resolving) {
            perr_add(&c->e, ev->pos, "ipsets[\"%s\"]: \"%s\": IP sets cannot refer to themselves", s->name, x);
        } else if (!resolve_ipset(c, o)) {
            netset_add_set(&add, &o->set);
        }
    } else {
        struct alias a;
        if (!alias_parse(c->p, x, ev->pos, AC_IPSET, &a, &c->e)) {
            if (a.k == AL_PREFIX || a.k == AL_HOST)
                netset_add_prefix(&add, &a.pfx);
            else if (a.k == AL_INTERNET)
                netset_internet(&add);
        }
    }
    for (size_t i = 0; i < add.n; i++) {
        if (remove)
            netset_remove_range(&s->set, &add.v[i]);
        else
            netset_add_range(&s->set, &add.v[i]);
    }
    netset_free(&add);
}

static int resolve_ipset(struct pctx *c, struct pol_ipset *s)
{
    if (s->resolved)
        return 0;
    s->resolving = true;
    const struct hj_val *v = s->def;
    bool any_remove = false;
    for (size_t i = 0; i < v->len; i++)
        any_remove |= v->arr[i]->type == HJ_STR && !strncmp(v->arr[i]->s, "remove ", 7);
    for (size_t i = 0; i < v->len; i++)
        ipset_entry(c, s, v->arr[i], any_remove);
    s->resolving = false;
    s->resolved = true;
    return 0;
}

static void parse_ipsets(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "ipsets"))
        return;
    c->p->ipsets = alloc(c, v->len, sizeof *c->p->ipsets);
    if (!c->p->ipsets)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (strncmp(m->key, "ipset:", 6) || !m->key[6]) {
            perr_add(&c->e, m->pos, "ipsets: \"%s\": IP set names are ipset:<name>", m->key);
            continue;
        }
        struct hj_val **s;
        size_t ns;
        if (want_strs(c, m->val, "ipsets", &s, &ns) || !ns) {
            if (!ns && m->val->type == HJ_ARR)
                perr_add(&c->e, m->val->pos, "ipsets[\"%s\"]: an IP set needs at least one entry", m->key);
            continue;
        }
        struct pol_ipset *x = &c->p->ipsets[c->p->nipsets++];
        x->name = m->key;
        x->pos = m->pos;
        x->def = m->val;
        netset_init(&x->set);
    }
    for (size_t i = 0; i < c->p->nipsets; i++)
        resolve_ipset(c, &c->p->ipsets[i]);
}

/* ---- postures ---- */

static const char *const posture_attrs[] = {"node:os", "node:osVersion", "node:tsVersion", "node:tsReleaseTrack"};

static int posture_value_list(struct pctx *c, const struct hj_val *ev, const char *s, struct posture_cond *pc)
{
    /* 'a' or ['a', 'b'] */
    const char *vals[64];
    size_t n = 0;
    bool list = *s == '[';
    if (list)
        s++;
    for (;;) {
        while (*s == ' ')
            s++;
        if (list && *s == ']')
            break;
        char q = *s;
        if (q != '\'' && q != '"') {
            perr_add(&c->e, ev->pos, "posture condition \"%s\": values are quoted strings", ev->s);
            return -1;
        }
        const char *end = strchr(s + 1, q);
        if (!end || n == 64) {
            perr_add(&c->e, ev->pos, "posture condition \"%s\": unterminated value", ev->s);
            return -1;
        }
        char *v = tc_arena_alloc(&c->p->arena, (size_t)(end - s));
        if (!v)
            return -1;
        memcpy(v, s + 1, (size_t)(end - s - 1));
        vals[n++] = v;
        s = end + 1;
        while (*s == ' ')
            s++;
        if (!list)
            break;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s != ']') {
            perr_add(&c->e, ev->pos, "posture condition \"%s\": want ',' or ']'", ev->s);
            return -1;
        }
        break;
    }
    pc->vals = alloc(c, n, sizeof *pc->vals);
    if (!pc->vals)
        return -1;
    memcpy(pc->vals, vals, n * sizeof *vals);
    pc->nvals = n;
    return 0;
}

static void parse_postures(struct pctx *c, const struct hj_val *v)
{
    if (want_obj(c, v, "postures"))
        return;
    c->p->postures = alloc(c, v->len, sizeof *c->p->postures);
    if (!c->p->postures)
        return;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (strncmp(m->key, "posture:", 8) || !m->key[8]) {
            perr_add(&c->e, m->pos, "postures: \"%s\": posture names are posture:<name>", m->key);
            continue;
        }
        struct hj_val **s;
        size_t ns;
        if (want_strs(c, m->val, "postures", &s, &ns))
            continue;
        struct posture *ps = &c->p->postures[c->p->npostures++];
        ps->name = m->key;
        ps->pos = m->pos;
        ps->conds = alloc(c, ns, sizeof *ps->conds);
        if (!ps->conds)
            continue;
        for (size_t k = 0; k < ns; k++) {
            const char *x = s[k]->s;
            size_t al = strcspn(x, " =!<>");
            int attr = -1;
            for (size_t a = 0; a < sizeof posture_attrs / sizeof posture_attrs[0]; a++)
                if (strlen(posture_attrs[a]) == al && !strncmp(x, posture_attrs[a], al))
                    attr = (int)a;
            if (attr < 0) {
                perr_add(&c->e, s[k]->pos,
                         "postures[\"%s\"]: \"%.*s\": weft can only evaluate node:os, node:osVersion, "
                         "node:tsVersion and node:tsReleaseTrack (it has no device posture integrations)",
                         m->key, (int)al, x);
                continue;
            }
            const char *op = x + al;
            while (*op == ' ')
                op++;
            static const struct {
                const char *t;
                int op;
            } ops[] = {{"==", PC_EQ}, {"!=", PC_NE}, {"<=", PC_LE}, {">=", PC_GE}, {"<", PC_LT}, {">", PC_GT},
                       {"NOT IN", PC_NOT_IN}, {"IN", PC_IN}, {"IS SET", PC_IS_SET}, {"NOT SET", PC_NOT_SET}};
            struct posture_cond *pc = &ps->conds[ps->nconds];
            pc->attr = attr;
            pc->op = -1;
            for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
                if (!strncmp(op, ops[o].t, strlen(ops[o].t))) {
                    pc->op = ops[o].op;
                    op += strlen(ops[o].t);
                    break;
                }
            if (pc->op < 0) {
                perr_add(&c->e, s[k]->pos, "postures[\"%s\"]: \"%s\": unknown operator", m->key, x);
                continue;
            }
            while (*op == ' ')
                op++;
            if (pc->op == PC_IS_SET || pc->op == PC_NOT_SET) {
                if (*op) {
                    perr_add(&c->e, s[k]->pos, "postures[\"%s\"]: \"%s\": trailing text", m->key, x);
                    continue;
                }
            } else if (posture_value_list(c, s[k], op, pc)) {
                continue;
            }
            ps->nconds++;
        }
    }
}

/* "srcPosture" / "defaultSrcPosture": posture names -> indexes. */
static int *posture_refs(struct pctx *c, const struct hj_val *v, const char *what, size_t *n)
{
    struct hj_val **s;
    size_t ns;
    *n = 0;
    if (want_strs(c, v, what, &s, &ns))
        return NULL;
    int *r = alloc(c, ns, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < ns; i++) {
        int found = -1;
        for (size_t k = 0; k < c->p->npostures; k++)
            if (!strcmp(c->p->postures[k].name, s[i]->s))
                found = (int)k;
        if (found < 0) {
            perr_add(&c->e, s[i]->pos, "%s: \"%s\": no such posture", what, s[i]->s);
            continue;
        }
        r[(*n)++] = found;
    }
    return r;
}

/* A rule's postures: its own srcPosture, else the policy's defaultSrcPosture. */
static const int *rule_postures(struct pctx *c, const struct hj_val *v, size_t *n)
{
    *n = 0;
    if (v)
        return posture_refs(c, v, "srcPosture", n);
    *n = c->p->ndefault_src_posture;
    return c->p->default_src_posture;
}

/* ---- rules ---- */

/* Sources allowed with an autogroup:self destination: users, groups, autogroup:member, roles; an ACL
 * (not a grant) also takes "*" there, as Tailscale does. */
static bool self_src_ok(const struct alias *src, size_t n, bool star_ok)
{
    for (size_t i = 0; i < n; i++) {
        enum al_kind k = src[i].k;
        if (k != AL_USER && k != AL_USER_DOMAIN && k != AL_GROUP && k != AL_MEMBER && k != AL_ROLE &&
            !(star_ok && k == AL_STAR))
            return false;
    }
    return true;
}

static struct netrule *new_net(struct pctx *c)
{
    struct policy *p = c->p;
    struct netrule *v = realloc(p->net, (p->nnet + 1) * sizeof *v);
    if (!v)
        return NULL;
    p->net = v;
    memset(&v[p->nnet], 0, sizeof v[p->nnet]);
    return &v[p->nnet++];
}

static struct caprule *new_cap(struct pctx *c)
{
    struct policy *p = c->p;
    struct caprule *v = realloc(p->caps, (p->ncaps + 1) * sizeof *v);
    if (!v)
        return NULL;
    p->caps = v;
    memset(&v[p->ncaps], 0, sizeof v[p->ncaps]);
    return &v[p->ncaps++];
}

/* Splits "alias:ports" at its last colon ("[v6]:ports" too). 0 or -1. */
static int split_dst(struct tc_arena *a, const char *s, char **alias, const char **ports)
{
    const char *colon;
    size_t alen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        colon = rb + 1;
        s++;
        alen = (size_t)(rb - s);
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        alen = (size_t)(colon - s);
    }
    char *x = tc_arena_alloc(a, alen + 1);
    if (!x)
        return -1;
    memcpy(x, s, alen);
    *alias = x;
    *ports = colon + 1;
    return 0;
}

static void parse_acl(struct pctx *c, const struct hj_val *v, int grant)
{
    if (want_obj(c, v, "acls[]"))
        return;
    const struct hj_val *action = NULL, *src = NULL, *dst = NULL, *proto = NULL, *posture = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "action"))
            action = m->val;
        else if (key_is(m, "src") || key_is(m, "users"))
            src = m->val;
        else if (key_is(m, "dst") || key_is(m, "ports"))
            dst = m->val;
        else if (key_is(m, "proto"))
            proto = m->val;
        else if (key_is(m, "srcPosture"))
            posture = m->val;
        else
            perr_add(&c->e, m->pos, "acls: unknown field \"%s\"", m->key);
    }
    const char *act = action ? want_str(c, action, "action") : NULL;
    if (!action) {
        perr_add(&c->e, v->pos, "acls: action must be specified");
        return;
    }
    if (act && strcmp(act, "accept")) {
        perr_add(&c->e, action->pos, "\"%s\" is not a valid action (want \"accept\")", act);
        return;
    }
    int32_t pr = -1;
    if (proto && proto->type != HJ_NULL) {
        const char *ps = NULL;
        char num[16];
        if (proto->type == HJ_NUM) {
            snprintf(num, sizeof num, "%.*s", (int)proto->srclen, proto->src);
            ps = num;
        } else {
            ps = want_str(c, proto, "proto");
        }
        if (ps && *ps && (pr = proto_parse(ps)) < 0) {
            perr_add(&c->e, proto->pos, "proto \"%s\": not a protocol name or number (1-255)", ps);
            return;
        }
    }
    size_t nsrc;
    struct alias *sa = aliases(c, src, "src", AC_SRC, &nsrc);
    struct hj_val **ds;
    size_t nds;
    if (want_strs(c, dst, "dst", &ds, &nds))
        return;
    struct dst_ent *de = alloc(c, nds, sizeof *de);
    if (!de)
        return;
    size_t n = 0, nself = 0;
    for (size_t i = 0; i < nds; i++) {
        char *al;
        const char *ports;
        if (split_dst(&c->p->arena, ds[i]->s, &al, &ports)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": hostport must contain a colon", ds[i]->s);
            continue;
        }
        struct portrange *pv;
        size_t np;
        const char *why = NULL;
        if (ports_parse(&c->p->arena, ports, &pv, &np, &why)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": port range \"%s\": %s", ds[i]->s, ports, why ? why : "invalid");
            continue;
        }
        if (pr > 0 && !proto_has_ports(pr) && !all_ports(pv, np)) {
            perr_add(&c->e, ds[i]->pos, "dst=\"%s\": protocol %d has no ports: use \":*\"", ds[i]->s, pr);
            continue;
        }
        if (alias_parse(c->p, al, ds[i]->pos, AC_DST, &de[n].a, &c->e))
            continue;
        de[n].a.text = ds[i]->s;
        de[n].ports = pv;
        de[n].nports = np;
        nself += de[n].a.k == AL_SELF;
        n++;
    }
    if (nself && !self_src_ok(sa, nsrc, true)) {
        perr_add(&c->e, v->pos, "autogroup:self can only be used with users, groups, or supported autogroups");
        return;
    }
    size_t npost = 0;
    const int *post = rule_postures(c, posture, &npost);
    if (!nsrc || !n)
        return; /* nothing to emit (an empty src or dst is legal) */
    int32_t *pp = NULL;
    if (pr > 0) {
        pp = alloc(c, 1, sizeof *pp);
        if (!pp)
            return;
        *pp = pr;
    }
    /* the autogroup:self destinations become a rule of their own */
    for (int self = 0; self < 2; self++) {
        size_t cnt = self ? nself : n - nself;
        if (!cnt)
            continue;
        struct netrule *r = new_net(c);
        if (!r)
            return;
        r->grant = grant;
        r->src = sa;
        r->nsrc = nsrc;
        r->protos = pp;
        r->nprotos = pp ? 1 : 0;
        r->self = self;
        r->posture = post;
        r->nposture = npost;
        r->dst = alloc(c, cnt, sizeof *r->dst);
        if (!r->dst)
            return;
        for (size_t i = 0; i < n; i++)
            if ((de[i].a.k == AL_SELF) == (bool)self)
                r->dst[r->ndst++] = de[i];
    }
}

/* Well-known capabilities of Tailscale's own that grants may carry, and the capability each is answered
 * with in the other direction. */
static const struct {
    const char *cap, *companion;
} ts_caps[] = {
    {"tailscale.com/cap/drive", "tailscale.com/cap/drive-sharer"},
    {"tailscale.com/cap/relay", "tailscale.com/cap/relay-target"},
    {"tailscale.com/cap/kubernetes", NULL},
    {"tailscale.com/cap/webui", NULL},
    {"tailscale.com/cap/tsidp", NULL},
    {"tailscale.com/cap/golink", NULL},
    {"tailscale.com/cap/drive-sharer", NULL},
    {"tailscale.com/cap/relay-target", NULL},
};

/* "domain/path", no scheme, not tailscale.com's own unless one Tailscale lets grants carry. */
static int cap_name_ok(struct pctx *c, const struct hj_member *m, const char **companion)
{
    const char *k = m->key;
    const char *slash = strchr(k, '/');
    *companion = NULL;
    if (!slash || slash == k || !slash[1] || strstr(k, "://") || strchr(k, ' ')) {
        perr_add(&c->e, m->pos, "capability name must have the form {domain}/{path}");
        return -1;
    }
    size_t dl = (size_t)(slash - k);
    bool ts = (dl == 13 && !strncmp(k, "tailscale.com", 13)) ||
              (dl > 14 && !strncmp(k + dl - 14, ".tailscale.com", 14));
    if (!ts)
        return 0;
    for (size_t i = 0; i < sizeof ts_caps / sizeof ts_caps[0]; i++)
        if (!strcmp(k, ts_caps[i].cap)) {
            *companion = ts_caps[i].companion;
            return 0;
        }
    perr_add(&c->e, m->pos, "capability name must not be in the tailscale.com domain");
    return -1;
}

/* A grant's "ip" entry: "*", "22", "80-443", "tcp:443", "udp:*", "icmp:*". */
struct ipspec {
    int32_t proto; /* -1 any */
    struct portrange *ports;
    size_t nports;
};

static int parse_ipspec(struct pctx *c, const struct hj_val *ev, struct ipspec *out)
{
    const char *s = ev->s;
    const char *colon = strchr(s, ':');
    out->proto = -1;
    const char *ports = s;
    if (colon) {
        if (strchr(colon + 1, ':')) {
            perr_add(&c->e, ev->pos, "ip \"%s\": expected only one colon in Internet protocol and port type", s);
            return -1;
        }
        char name[32];
        size_t nl = (size_t)(colon - s);
        if (nl >= sizeof name) {
            perr_add(&c->e, ev->pos, "ip \"%s\": unknown protocol", s);
            return -1;
        }
        memcpy(name, s, nl);
        name[nl] = 0;
        if (strcmp(name, "*") && (out->proto = proto_parse(name)) < 0) {
            perr_add(&c->e, ev->pos, "ip \"%s\": unknown protocol \"%s\"", s, name);
            return -1;
        }
        ports = colon + 1;
    }
    const char *why = NULL;
    if (ports_parse(&c->p->arena, ports, &out->ports, &out->nports, &why)) {
        perr_add(&c->e, ev->pos, "port range \"%s\": %s", ports, why ? why : "invalid");
        return -1;
    }
    if (out->proto > 0 && !proto_has_ports(out->proto) && !all_ports(out->ports, out->nports)) {
        perr_add(&c->e, ev->pos, "ip \"%s\": protocol does not support specific ports", s);
        return -1;
    }
    return 0;
}

static bool is_default_route(const struct alias *a)
{
    return (a->k == AL_PREFIX || a->k == AL_HOST) && a->pfx.bits == 0;
}

static void parse_grant(struct pctx *c, const struct hj_val *v, int grant)
{
    if (want_obj(c, v, "grants[]"))
        return;
    const struct hj_val *src = NULL, *dst = NULL, *ip = NULL, *app = NULL, *via = NULL, *posture = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const struct hj_member *m = &v->obj[i];
        if (key_is(m, "src"))
            src = m->val;
        else if (key_is(m, "dst"))
            dst = m->val;
        else if (key_is(m, "ip"))
            ip = m->val;
        else if (key_is(m, "app"))
            app = m->val;
        else if (key_is(m, "via"))
            via = m->val;
        else if (key_is(m, "srcPosture"))
            posture = m->val;
        else
            perr_add(&c->e, m->pos, "grants: unknown field \"%s\"", m->key);
    }
    size_t nerr = c->e.errs->n;
    size_t nsrc, ndst, nvia = 0, nip = 0;
    struct alias *sa = aliases(c, src, "src", AC_SRC | AC_GRANT, &nsrc);
    struct alias *da = aliases(c, dst, "dst", AC_DST | AC_GRANT, &ndst);
    struct alias *va = NULL;
    if (via) {
        struct hj_val **vs;
        size_t nv;
        if (!want_strs(c, via, "via", &vs, &nv)) {
            va = alloc(c, nv, sizeof *va);
            for (size_t i = 0; va && i < nv; i++) {
                if (strncmp(vs[i]->s, "tag:", 4)) {
                    perr_add(&c->e, vs[i]->pos, "via can only be a tag");
                    continue;
                }
                if (!alias_parse(c->p, vs[i]->s, vs[i]->pos, AC_DST, &va[nvia], &c->e))
                    nvia++;
            }
        }
    }
    size_t npost = 0;
    const int *post = rule_postures(c, posture, &npost);
    struct ipspec *specs = NULL;
    struct hj_val **is = NULL;
    if (ip && !want_strs(c, ip, "ip", &is, &nip)) {
        specs = alloc(c, nip, sizeof *specs);
        size_t k = 0;
        for (size_t i = 0; specs && i < nip; i++)
            if (!parse_ipspec(c, is[i], &specs[k]))
                k++;
        nip = k;
    }
    bool has_app = app && app->type == HJ_OBJ && app->len > 0;
    if (app && app->type != HJ_OBJ && app->type != HJ_NULL)
        perr_add(&c->e, app->pos, "app: want an object of capabilities, not %s", hj_type_name(app->type));
    if ((!ip || ip->type == HJ_NULL || (is && !ip->len)) && !has_app) {
        if (!(ip && ip->type == HJ_ARR && ip->len))
            perr_add(&c->e, v->pos, "ip and app can not both be empty");
    }
    bool self = false, internet = false;
    for (size_t i = 0; i < ndst; i++) {
        self |= da[i].k == AL_SELF;
        internet |= da[i].k == AL_INTERNET;
        if (is_default_route(&da[i]))
            perr_add(&c->e, da[i].pos, "dst \"%s\": to allow all IP addresses, use \"*\" or \"autogroup:internet\"",
                     da[i].text);
    }
    if (self && !self_src_ok(sa, nsrc, false))
        perr_add(&c->e, v->pos, "autogroup:self can only be used with users, groups, or supported autogroups");
    if (has_app && internet)
        perr_add(&c->e, app->pos, "cannot use app grants with autogroup:internet");
    /* the capability map, checked and kept as compact JSON */
    const char *capmap = NULL, *companion = NULL;
    if (has_app) {
        struct jbuf b;
        jbuf_init(&b);
        jbuf_open(&b, '{');
        for (size_t i = 0; i < app->len; i++) {
            const struct hj_member *m = &app->obj[i];
            const char *comp;
            if (cap_name_ok(c, m, &comp))
                continue;
            if (comp)
                companion = comp;
            if (m->val->type != HJ_ARR && m->val->type != HJ_NULL) {
                perr_add(&c->e, m->val->pos, "app[\"%s\"]: want a list of objects, not %s", m->key,
                         hj_type_name(m->val->type));
                continue;
            }
            for (size_t k = 0; m->val->type == HJ_ARR && k < m->val->len; k++)
                if (m->val->arr[k]->type != HJ_OBJ)
                    perr_add(&c->e, m->val->arr[k]->pos, "app[\"%s\"]: want objects, not %s", m->key,
                             hj_type_name(m->val->arr[k]->type));
            jbuf_strn(&b, m->key, m->keylen);
            jbuf_putc(&b, ':');
            if (m->val->type == HJ_NULL)
                jbuf_put(&b, "null", 4);
            else
                hj_emit(&b, m->val);
        }
        jbuf_close(&b, '}');
        char *t = jbuf_take(&b, NULL);
        if (t) {
            char *x = tc_arena_alloc(&c->p->arena, strlen(t) + 1);
            if (x)
                strcpy(x, t);
            capmap = x;
            free(t);
        }
    }
    if (c->e.errs->n != nerr || !nsrc || !ndst)
        return;
    /* network rules: one per protocol, ports in the order written */
    size_t nself = 0;
    for (size_t i = 0; i < ndst; i++)
        nself += da[i].k == AL_SELF;
    bool *done = alloc(c, nip, sizeof *done);
    for (size_t i = 0; done && i < nip; i++) {
        if (done[i])
            continue;
        int32_t pr = specs[i].proto;
        size_t nports = 0;
        for (size_t k = i; k < nip; k++)
            if (specs[k].proto == pr)
                nports += specs[k].nports;
        struct portrange *pv = alloc(c, nports, sizeof *pv);
        if (!pv)
            return;
        size_t np = 0;
        for (size_t k = i; k < nip; k++)
            if (specs[k].proto == pr) {
                memcpy(pv + np, specs[k].ports, specs[k].nports * sizeof *pv);
                np += specs[k].nports;
                done[k] = true;
            }
        int32_t *pp = NULL;
        if (pr > 0) {
            pp = alloc(c, 1, sizeof *pp);
            if (!pp)
                return;
            *pp = pr;
        }
        for (int s = 0; s < 2; s++) {
            size_t cnt = s ? nself : ndst - nself;
            if (!cnt)
                continue;
            struct netrule *r = new_net(c);
            if (!r)
                return;
            r->grant = grant;
            r->src = sa;
            r->nsrc = nsrc;
            r->protos = pp;
            r->nprotos = pp ? 1 : 0;
            r->self = s;
            r->via = va;
            r->nvia = nvia;
            r->posture = post;
            r->nposture = npost;
            r->dst = alloc(c, cnt, sizeof *r->dst);
            if (!r->dst)
                return;
            for (size_t k = 0; k < ndst; k++)
                if ((da[k].k == AL_SELF) == (bool)s)
                    r->dst[r->ndst++] = (struct dst_ent){da[k], pv, np};
        }
    }
    if (capmap) {
        for (int s = 0; s < 2; s++) {
            size_t cnt = s ? nself : ndst - nself;
            if (!cnt)
                continue;
            struct caprule *r = new_cap(c);
            if (!r)
                return;
            struct alias *d = alloc(c, cnt, sizeof *d);
            if (!d)
                return;
            size_t k = 0;
            for (size_t j = 0; j < ndst; j++)
                if ((da[j].k == AL_SELF) == (bool)s)
                    d[k++] = da[j];
            r->grant = grant;
            r->src = sa;
            r->nsrc = nsrc;
            r->dst = d;
            r->ndst = k;
            r->self = s;
            r->capmap = capmap;
            r->companion = companion;
            r->via = va;
            r->nvia = nvia;
            r->posture = post;
            r->nposture = npost;
        }
    }
}

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

static void parse_ssh(struct pctx *c, const struct hj_val *v)
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

static void parse_nodeattr(struct pctx *c, const struct hj_val *v)
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

static void parse_auto_approvers(struct pctx *c, const struct hj_val *v)
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
static void parse_test(struct pctx *c, const struct hj_val *v)
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

static void parse_sshtest(struct pctx *c, const struct hj_val *v)
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

static void each(struct pctx *c, const struct hj_val *v, const char *what, void (*fn)(struct pctx *, const struct hj_val *))
{
    if (!v || v->type == HJ_NULL)
        return;
    if (v->type != HJ_ARR) {
        perr_add(&c->e, v->pos, "%s: want a list, not %s", what, hj_type_name(v->type));
        return;
    }
    for (size_t i = 0; i < v->len; i++)
        fn(c, v->arr[i]);
}

struct policy *policy_parse(const char *text, size_t len, struct pol_errors *errs)
{
    memset(errs, 0, sizeof *errs);
    struct policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    struct pctx c = {p, {errs, NULL}};
    struct hj_error herr;
    if (hj_parse(text, len, &p->doc, &herr)) {
        perr_add(&c.e, herr.pos, "%s", herr.msg);
        policy_free(p);
        return NULL;
    }
    p->text = malloc(len + 1);
    if (!p->text) {
        policy_free(p);
        return NULL;
    }
    memcpy(p->text, text, len);
    p->text[len] = 0;
    p->textlen = len;
    const struct hj_val *root = p->doc.root;
    if (root->type != HJ_OBJ) {
        perr_add(&c.e, root->pos, "a policy is a JSON object, not %s", hj_type_name(root->type));
        policy_free(p);
        return NULL;
    }
    enum { S_ACLS, S_GRANTS, S_GROUPS, S_TAGOWNERS, S_HOSTS, S_IPSETS, S_APPROVERS, S_SSH, S_ATTRS, S_TESTS,
           S_SSHTESTS, S_RANDOMIZE, S_POSTURES, S_DEFPOSTURE, S_N };
    static const char *const names[S_N] = {"acls", "grants", "groups", "tagOwners", "hosts", "ipsets",
                                           "autoApprovers", "ssh", "nodeAttrs", "tests", "sshTests",
                                           "randomizeClientPort", "postures", "defaultSrcPosture"};
    const struct hj_val *sec[S_N] = {0};
    for (size_t i = 0; i < root->len; i++) {
        const struct hj_member *m = &root->obj[i];
        int found = -1;
        for (int k = 0; k < S_N; k++)
            if (key_is(m, names[k]))
                found = k;
        if (found >= 0) {
            if (sec[found])
                perr_add(&c.e, m->pos, "\"%s\" appears twice", m->key);
            sec[found] = m->val;
        } else if (key_is(m, "derpMap")) {
            perr_add(&c.e, m->pos, "derpMap: weft takes the DERP map from control.derp_map_file, not the policy");
        } else if (key_is(m, "disableIPv4") || key_is(m, "OneCGNATRoute")) {
            perr_add(&c.e, m->pos, "%s: not supported by weft", m->key);
        } else {
            perr_add(&c.e, m->pos, "unknown section \"%s\"", m->key);
        }
    }
    /* definitions first, so the rules can be checked against them */
    if (sec[S_TAGOWNERS])
        parse_tag_names(&c, sec[S_TAGOWNERS]);
    if (sec[S_GROUPS])
        parse_group_names(&c, sec[S_GROUPS]);
    if (sec[S_HOSTS])
        parse_hosts(&c, sec[S_HOSTS]);
    if (sec[S_IPSETS])
        parse_ipsets(&c, sec[S_IPSETS]);
    if (sec[S_GROUPS] && sec[S_GROUPS]->type == HJ_OBJ)
        parse_group_members(&c, sec[S_GROUPS]);
    if (sec[S_TAGOWNERS] && sec[S_TAGOWNERS]->type == HJ_OBJ)
        parse_tag_owners(&c, sec[S_TAGOWNERS]);
    if (sec[S_POSTURES])
        parse_postures(&c, sec[S_POSTURES]);
    if (sec[S_DEFPOSTURE]) {
        p->default_src_posture = posture_refs(&c, sec[S_DEFPOSTURE], "defaultSrcPosture", &p->ndefault_src_posture);
    }
    /* rules, in file order: ACLs and grants are numbered together (ACLs first, as Tailscale lists them) */
    p->has_rules = sec[S_ACLS] || sec[S_GRANTS];
    int grant = 0;
    if (sec[S_ACLS]) {
        if (sec[S_ACLS]->type == HJ_ARR) {
            for (size_t i = 0; i < sec[S_ACLS]->len; i++)
                parse_acl(&c, sec[S_ACLS]->arr[i], grant++);
        } else if (sec[S_ACLS]->type != HJ_NULL) {
            perr_add(&c.e, sec[S_ACLS]->pos, "acls: want a list, not %s", hj_type_name(sec[S_ACLS]->type));
        }
    }
    if (sec[S_GRANTS]) {
        if (sec[S_GRANTS]->type == HJ_ARR) {
            for (size_t i = 0; i < sec[S_GRANTS]->len; i++)
                parse_grant(&c, sec[S_GRANTS]->arr[i], grant++);
        } else if (sec[S_GRANTS]->type != HJ_NULL) {
            perr_add(&c.e, sec[S_GRANTS]->pos, "grants: want a list, not %s", hj_type_name(sec[S_GRANTS]->type));
        }
    }
    p->ngrants = (size_t)grant;
    p->has_ssh = sec[S_SSH] != NULL;
    each(&c, sec[S_SSH], "ssh", parse_ssh);
    each(&c, sec[S_ATTRS], "nodeAttrs", parse_nodeattr);
    if (sec[S_APPROVERS])
        parse_auto_approvers(&c, sec[S_APPROVERS]);
    each(&c, sec[S_TESTS], "tests", parse_test);
    each(&c, sec[S_SSHTESTS], "sshTests", parse_sshtest);
    if (sec[S_RANDOMIZE]) {
        if (sec[S_RANDOMIZE]->type == HJ_BOOL)
            p->randomize_client_port = sec[S_RANDOMIZE]->b;
        else if (sec[S_RANDOMIZE]->type != HJ_NULL)
            perr_add(&c.e, sec[S_RANDOMIZE]->pos, "randomizeClientPort: want true or false");
    }
    if (errs->n) {
        policy_free(p);
        return NULL;
    }
    /* a test's source is a selector too, but an unknown one fails the test instead of the policy */
    for (size_t i = 0; i < p->ntests; i++) {
        struct pol_test *t = &p->tests[i];
        struct perr quiet = {NULL, NULL};
        t->has_src = t->src_text && *t->src_text &&
                     !alias_parse(p, t->src_text, t->pos, AC_SRC | AC_TEST, &t->src, &quiet);
    }
    for (size_t i = 0; i < p->nsshtests; i++) {
        struct pol_sshtest *t = &p->sshtests[i];
        struct perr quiet = {NULL, NULL};
        t->has_src = t->src_text && *t->src_text &&
                     !alias_parse(p, t->src_text, t->pos, AC_SRC | AC_TEST, &t->src, &quiet);
    }
    return p;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nipsets; i++)
        netset_free(&p->ipsets[i].set);
    free(p->net);
    free(p->caps);
    free(p->ssh);
    free(p->attrs);
    free(p->approvers);
    free(p->tests);
    free(p->sshtests);
    free(p->domains);
    free(p->text);
    hj_free(&p->doc);
    tc_arena_free(&p->arena);
    free(p);
}

const char *policy_text(const struct policy *p, size_t *len)
{
    *len = p->textlen;
    return p->text;
}

bool policy_uses_roles(const struct policy *p)
{
    return p->uses_roles;
}

bool policy_has_tests(const struct policy *p)
{
    return p->ntests || p->nsshtests;
}
