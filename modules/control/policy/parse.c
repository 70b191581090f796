// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/parse.h"

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


bool key_is(const struct hj_member *m, const char *k)
{
    return strlen(k) == m->keylen && !strncasecmp(m->key, k, m->keylen);
}

const char *want_str(struct pctx *c, const struct hj_val *v, const char *what)
{
    if (!v || v->type != HJ_STR) {
        if (v)
            perr_add(&c->e, v->pos, "%s: want a string, not %s", what, hj_type_name(v->type));
        return NULL;
    }
    return v->s;
}

/* An array of strings (null and absent are empty). -1 after reporting a wrong type. */
int want_strs(struct pctx *c, const struct hj_val *v, const char *what, struct hj_val ***out, size_t *n)
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

int want_obj(struct pctx *c, const struct hj_val *v, const char *what)
{
    if (v->type != HJ_OBJ) {
        perr_add(&c->e, v->pos, "%s: want an object, not %s", what, hj_type_name(v->type));
        return -1;
    }
    return 0;
}

void *alloc(struct pctx *c, size_t n, size_t size)
{
    return tc_arena_array(&c->p->arena, n ? n : 1, size);
}

/* A domain a user:*@domain or localpart:*@domain names: it must belong to the tailnet (checked against
 * the users when the policy is put in force). */
void add_domain(struct pctx *c, const char *d, struct hj_pos pos)
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
struct alias *aliases(struct pctx *c, const struct hj_val *v, const char *what, int ctx, size_t *n)
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
int32_t proto_parse(const char *s)
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
bool proto_has_ports(int32_t p)
{
    return p == 6 || p == 17 || p == 132;
}

bool all_ports(const struct portrange *r, size_t n)
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
int *posture_refs(struct pctx *c, const struct hj_val *v, const char *what, size_t *n)
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
const int *rule_postures(struct pctx *c, const struct hj_val *v, size_t *n)
{
    *n = 0;
    if (v)
        return posture_refs(c, v, "srcPosture", n);
    *n = c->p->ndefault_src_posture;
    return c->p->default_src_posture;
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
