// SPDX-License-Identifier: BSD-3-Clause
/* policy-golden: checks weft's policy compiler against captures of Tailscale's own control plane.
 *
 *   policy-golden [-v] [--incremental | --deferred] [--only NAME] FILE|DIR...
 *
 * Each capture (HuJSON, the schema of t/data/tscap-dev's README) holds a policy, a tailnet (users, nodes
 * with tags, addresses, advertised and approved routes) and, per node, what Tailscale's control plane
 * sent it. The tool builds that tailnet in a policy engine, installs the policy and compares, for every
 * captured node:
 *   - the packet filter, as the client interprets it: rules compared as a multiset, each rule's SrcIPs
 *     as a set of addresses ("*" and "cap:" kept as tokens), its DstPorts as a set of (range, ports),
 *     IPProto as a set with the client's default (TCP, UDP, ICMP, ICMPv6) when absent, CapGrant entries
 *     as (set of prefixes, capability map); no rules and an empty filter are the same, absent rules and
 *     an empty DstPorts are not;
 *   - the visible peers, as a set;
 *   - the routes each peer carries for it: AllowedIPs beyond the peer's addresses and PrimaryRoutes, as
 *     sets of (peer, prefix), against the primary of each subnet route (the first router to register
 *     it) or the router a via grant steers it to (pol_via_router), and the exit routes of exit nodes;
 *   - the SSHPolicy, rule by rule in order (principals as a set, sshUsers as a map, the action; a check
 *     action's URL compared from its path on);
 *   - the CapMap attributes the policy gives (the tailnet's own base capabilities and roles set aside);
 * and for a capture whose API answer was not 200 that weft refuses the policy.
 * With --incremental, every node then leaves and joins again, is retagged and restored, through the
 * engine's incremental paths, while a simulated client of each node applies only the changes the
 * engine reports: each must end with exactly what a full compile gives, before the comparison.
 * --deferred does the same with the engine in deferred mode (pol_engine_defer), as control runs it: each
 * step's changes are reported when the engine settles (as a server's batch is sent), and at the end
 * every node is retagged and then every node restored, all settled at once. Between a change and its
 * settle every node's filter and SSH policy must also read as built afresh (not a text the engine kept
 * from before the change: WEFT_GOLDEN_NO_SETTLE=1 leaves the settles out, to see the mode fail).
 * Prints "PASS name" or "FAIL name: first difference" per capture, then "N passed, N failed".
 * Exit status 0 when every capture passes. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/hujson.h"
#include "modules/control/policy/netset.h"
#include "modules/control/policy/policy.h"

static int verbose, incremental, deferred;

/* ---- small helpers ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct jbuf b;
    jbuf_init(&b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        jbuf_put(&b, buf, n);
    fclose(f);
    return jbuf_take(&b, len);
}

static struct json_object *get(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

static const char *gets(struct json_object *o, const char *k)
{
    struct json_object *v = get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static size_t alen(struct json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* canonical JSON: object keys sorted, compact */
static void canon(struct jbuf *b, struct json_object *o);

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void canon(struct jbuf *b, struct json_object *o)
{
    if (!o) {
        jbuf_null(b);
        return;
    }
    switch (json_object_get_type(o)) {
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(o), k = 0;
        const char **keys = calloc(n + 1, sizeof *keys);
        json_object_object_foreach(o, key, val)
        {
            (void)val;
            keys[k++] = key;
        }
        qsort(keys, k, sizeof *keys, cmp_key);
        jbuf_open(b, '{');
        for (size_t i = 0; i < k; i++) {
            jbuf_name(b, keys[i]);
            canon(b, get(o, keys[i]));
        }
        jbuf_close(b, '}');
        free(keys);
        break;
    }
    case json_type_array:
        jbuf_open(b, '[');
        for (size_t i = 0; i < json_object_array_length(o); i++)
            canon(b, json_object_array_get_idx(o, i));
        jbuf_close(b, ']');
        break;
    case json_type_string:
        jbuf_str(b, json_object_get_string(o));
        break;
    case json_type_boolean:
        jbuf_bool(b, json_object_get_boolean(o));
        break;
    case json_type_null:
        jbuf_null(b);
        break;
    default: {
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        jbuf_sep(b);
        jbuf_put(b, t, strlen(t));
    }
    }
}

/* ---- string lists ---- */

struct strv {
    char **v;
    size_t n;
};

static void strv_add(struct strv *s, const char *x)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = strdup(x);
}

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void strv_sort_uniq(struct strv *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_key);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && !strcmp(s->v[k - 1], s->v[i])) {
            free(s->v[i]);
            continue;
        }
        s->v[k++] = s->v[i];
    }
    s->n = k;
}

static char *strv_join(const struct strv *s, const char *sep)
{
    struct jbuf b;
    jbuf_init(&b);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            jbuf_put(&b, sep, strlen(sep));
        jbuf_put(&b, s->v[i], strlen(s->v[i]));
    }
    if (!s->n)
        jbuf_put(&b, "", 0);
    char *r = jbuf_take(&b, NULL);
    return r ? r : strdup("");
}

/* ---- filter rules as the client interprets them ---- */

/* An address set text: the ranges merged, plus tokens ("*", "cap:..."), or NULL on a malformed entry. */
static char *addr_set(struct json_object *a)
{
    struct netset s;
    netset_init(&s);
    struct strv tok = {0};
    for (size_t i = 0; i < alen(a); i++) {
        const char *x = json_object_get_string(json_object_array_get_idx(a, i));
        struct iprange r;
        if (!x) {
            continue;
        } else if (!strcmp(x, "*") || !strncmp(x, "cap:", 4)) {
            strv_add(&tok, x);
        } else if (!iprange_parse(x, strlen(x), &r)) {
            netset_add_range(&s, &r);
        } else {
            struct ipprefix p; /* a non-canonical prefix the client still parses (host bits set) */
            if (prefix_parse(x, strlen(x), false, &p)) {
                strv_add(&tok, "BAD:");
                strv_add(&tok, x);
                continue;
            }
            netset_add_prefix(&s, &p);
        }
    }
    char buf[NETSET_TEXT_MAX];
    for (size_t i = 0; i < s.n; i++)
        strv_add(&tok, netset_range_text(&s.v[i], buf));
    netset_free(&s);
    strv_sort_uniq(&tok);
    char *r = strv_join(&tok, " ");
    strv_free(&tok);
    return r;
}

static char *rule_canon(struct json_object *r)
{
    struct jbuf b;
    jbuf_init(&b);
    char *src = addr_set(get(r, "SrcIPs"));
    jbuf_put(&b, "src=[", 5);
    jbuf_put(&b, src, strlen(src));
    jbuf_put(&b, "]", 1);
    free(src);
    struct json_object *dp = get(r, "DstPorts");
    if (dp) {
        struct strv d = {0};
        for (size_t i = 0; i < alen(dp); i++) {
            struct json_object *e = json_object_array_get_idx(dp, i), *ports = get(e, "Ports");
            const char *ip = gets(e, "IP");
            char one[300];
            struct json_object *ipa = json_object_new_array();
            json_object_array_add(ipa, json_object_new_string(ip ? ip : ""));
            char *set = addr_set(ipa);
            json_object_put(ipa);
            snprintf(one, sizeof one, "%s:%d-%d", set, json_object_get_int(get(ports, "First")),
                     json_object_get_int(get(ports, "Last")));
            free(set);
            strv_add(&d, one);
        }
        strv_sort_uniq(&d);
        char *j = strv_join(&d, " ");
        jbuf_put(&b, " dst=[", 6);
        jbuf_put(&b, j, strlen(j));
        jbuf_put(&b, "]", 1);
        free(j);
        strv_free(&d);
    }
    struct json_object *pr = get(r, "IPProto");
    int protos[256] = {0};
    if (alen(pr)) {
        for (size_t i = 0; i < alen(pr); i++) {
            int v = json_object_get_int(json_object_array_get_idx(pr, i));
            if (v >= 0 && v < 256)
                protos[v] = 1;
        }
    } else {
        protos[1] = protos[6] = protos[17] = protos[58] = 1;
    }
    jbuf_put(&b, " proto=", 7);
    for (int i = 0; i < 256; i++)
        if (protos[i]) {
            char t[8];
            int n = snprintf(t, sizeof t, "%d,", i);
            jbuf_put(&b, t, (size_t)n);
        }
    struct json_object *cg = get(r, "CapGrant");
    if (cg) {
        struct strv c = {0};
        for (size_t i = 0; i < alen(cg); i++) {
            struct json_object *g = json_object_array_get_idx(cg, i);
            char *dsts = addr_set(get(g, "Dsts"));
            struct jbuf cm;
            jbuf_init(&cm);
            canon(&cm, get(g, "CapMap"));
            jbuf_putc(&cm, 0);
            size_t l = strlen(dsts) + cm.len + 16;
            char *one = malloc(l);
            snprintf(one, l, "{%s}%s", dsts, cm.p);
            strv_add(&c, one);
            free(one);
            free(dsts);
            jbuf_free(&cm);
        }
        strv_sort_uniq(&c);
        char *j = strv_join(&c, " ");
        jbuf_put(&b, " cap=[", 6);
        jbuf_put(&b, j, strlen(j));
        jbuf_put(&b, "]", 1);
        free(j);
        strv_free(&c);
    }
    return jbuf_take(&b, NULL);
}

static void rules_canon(struct json_object *rules, struct strv *out)
{
    for (size_t i = 0; i < alen(rules); i++) {
        char *c = rule_canon(json_object_array_get_idx(rules, i));
        strv_add(out, c);
        free(c);
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_key);
}

/* first difference of two sorted lists, into why */
static int diff_lists(const struct strv *want, const struct strv *got, char *why, size_t cap)
{
    size_t i = 0, j = 0;
    while (i < want->n || j < got->n) {
        int c = i == want->n ? 1 : j == got->n ? -1 : strcmp(want->v[i], got->v[j]);
        if (!c) {
            i++, j++;
            continue;
        }
        if (c < 0)
            snprintf(why, cap, "missing %.600s", want->v[i]);
        else
            snprintf(why, cap, "unexpected %.600s", got->v[j]);
        return 1;
    }
    return 0;
}

/* ---- SSH ---- */

static char *ssh_rule_canon(struct json_object *r)
{
    struct strv p = {0};
    struct json_object *pr = get(r, "principals");
    for (size_t i = 0; i < alen(pr); i++) {
        struct json_object *x = json_object_array_get_idx(pr, i);
        struct jbuf b;
        jbuf_init(&b);
        canon(&b, x);
        jbuf_putc(&b, 0);
        strv_add(&p, b.p);
        jbuf_free(&b);
    }
    strv_sort_uniq(&p);
    char *pj = strv_join(&p, ",");
    strv_free(&p);
    struct jbuf b;
    jbuf_init(&b);
    jbuf_put(&b, "principals=[", 12);
    jbuf_put(&b, pj, strlen(pj));
    free(pj);
    jbuf_put(&b, "] users=", 8);
    canon(&b, get(r, "sshUsers"));
    jbuf_put(&b, " action=", 8);
    struct json_object *act = get(r, "action");
    const char *hold = gets(act, "holdAndDelegate");
    if (hold) {
        const char *path = strstr(hold, "/machine/");
        jbuf_put(&b, "hold:", 5);
        jbuf_put(&b, path ? path : hold, strlen(path ? path : hold));
        struct json_object *rest = json_object_new_object();
        json_object_object_foreach(act, k, v)
        {
            if (strcmp(k, "holdAndDelegate"))
                json_object_object_add(rest, k, json_object_get(v));
        }
        canon(&b, rest);
        json_object_put(rest);
    } else {
        canon(&b, act);
    }
    struct json_object *env = get(r, "acceptEnv");
    if (alen(env)) {
        jbuf_put(&b, " env=", 5);
        canon(&b, env);
    }
    return jbuf_take(&b, NULL);
}

/* ---- one capture ---- */

struct tnode {
    const char *name;
    const char *created; /* SelfNode.Created of its capture (NULL: none): the registration order */
    int64_t id;
    struct pol_node pn;
    const char **tags, **routable, **approved;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct tnode *)a)->name, ((const struct tnode *)b)->name);
}

/* The tailnet's own capabilities (not from the policy) that Tailscale's control plane puts in CapMap. */
static bool base_cap(const char *k)
{
    static const char *const base[] = {
        "https://tailscale.com/cap/file-sharing", "https://tailscale.com/cap/ssh",
        "https://tailscale.com/cap/tailnet-lock", "https://tailscale.com/cap/is-owner",
        "https://tailscale.com/cap/is-admin", "probe-udp-lifetime", "ssh-behavior-v1", "ssh-env-vars",
        "store-appc-routes", "tailnet-display-name", "default-auto-update",
    };
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        if (!strcmp(k, base[i]))
            return true;
    return false;
}

static void caps_canon(struct json_object *capmap, struct strv *out)
{
    json_object_object_foreach(capmap, k, v)
    {
        if (base_cap(k))
            continue;
        struct jbuf b;
        jbuf_init(&b);
        jbuf_str(&b, k);
        jbuf_putc(&b, '=');
        canon(&b, v);
        jbuf_putc(&b, 0);
        strv_add(out, b.p);
        jbuf_free(&b);
    }
    strv_sort_uniq(out);
}

struct peer_list {
    struct tnode *nodes;
    size_t n;
    struct strv *out;
};

static void peer_cb(void *arg, int64_t id)
{
    struct peer_list *pl = arg;
    for (size_t i = 0; i < pl->n; i++)
        if (pl->nodes[i].id == id)
            strv_add(pl->out, pl->nodes[i].name);
}

/* --incremental: what a client of each node would hold if it applied only what the engine reports
 * (the sink), while every node leaves and joins again and is retagged and restored. At the end it must
 * hold exactly the engine's results: nothing changed unreported, no delta missed. */
struct sim {
    struct pol_engine *e;
    struct tnode *tn;
    size_t nn;
    char **filter, **ssh, **caps;
    bool *peers; /* nn x nn: [viewer][subject] */
    size_t notes;
};

static size_t sim_index(const struct sim *s, int64_t id)
{
    for (size_t i = 0; i < s->nn; i++)
        if (s->tn[i].id == id)
            return i;
    return s->nn;
}

static char *dup_text(const char *p, size_t n)
{
    char *r = malloc(n + 1);
    if (p)
        memcpy(r, p, n);
    r[p ? n : 0] = 0;
    return r;
}

static void sim_refresh(struct sim *s, size_t i, unsigned what)
{
    size_t l;
    const char *t;
    if (what & POL_CH_FILTER) {
        free(s->filter[i]);
        t = pol_filter_json(s->e, s->tn[i].id, &l);
        s->filter[i] = dup_text(t, t ? l : 0);
    }
    if (what & POL_CH_SSH) {
        free(s->ssh[i]);
        t = pol_ssh_json(s->e, s->tn[i].id, &l);
        s->ssh[i] = dup_text(t, t ? l : 0);
    }
    if (what & POL_CH_CAPS) {
        free(s->caps[i]);
        t = pol_caps_json(s->e, s->tn[i].id, &l);
        s->caps[i] = dup_text(t, t ? l : 0);
    }
}

static void sim_full_peers_cb(void *arg, int64_t id);
static struct sim *sim_cur;
static size_t sim_viewer;

static void sim_full(struct sim *s, size_t i)
{
    sim_refresh(s, i, POL_CH_FILTER | POL_CH_SSH | POL_CH_CAPS);
    for (size_t k = 0; k < s->nn; k++)
        s->peers[i * s->nn + k] = false;
    sim_cur = s;
    sim_viewer = i;
    pol_each_peer(s->e, s->tn[i].id, sim_full_peers_cb, NULL);
}

static void sim_full_peers_cb(void *arg, int64_t id)
{
    (void)arg;
    sim_cur->peers[sim_viewer * sim_cur->nn + sim_index(sim_cur, id)] = true;
}

static void sink_node(void *arg, int64_t id, unsigned what)
{
    struct sim *s = arg;
    s->notes++;
    sim_refresh(s, sim_index(s, id), what);
}

static void sink_peers(void *arg, int64_t viewer, const int64_t *add, size_t nadd, const int64_t *rem, size_t nrem)
{
    struct sim *s = arg;
    size_t v = sim_index(s, viewer);
    for (size_t i = 0; i < nadd; i++)
        s->peers[v * s->nn + sim_index(s, add[i])] = true;
    for (size_t i = 0; i < nrem; i++)
        s->peers[v * s->nn + sim_index(s, rem[i])] = false;
}

/* Compares the simulated clients with the engine's state; gone (if not -1) is a node absent now. */
static int sim_compare(struct sim *s, size_t gone, const char *step, char *why, size_t cap)
{
    /* what the engine would say now, built afresh (not the texts it kept for what it reported) */
    pol_engine_release(s->e);
    struct sim now = *s;
    now.filter = calloc(s->nn, sizeof *now.filter);
    now.ssh = calloc(s->nn, sizeof *now.ssh);
    now.caps = calloc(s->nn, sizeof *now.caps);
    now.peers = calloc(s->nn * s->nn, sizeof *now.peers);
    int rc = 0;
    for (size_t i = 0; i < s->nn; i++) {
        if (i == gone)
            continue;
        sim_full(&now, i);
        const char *what = strcmp(now.filter[i], s->filter[i]) ? "filter"
                           : strcmp(now.ssh[i], s->ssh[i])     ? "ssh"
                           : strcmp(now.caps[i], s->caps[i])   ? "caps"
                           : memcmp(now.peers + i * s->nn, s->peers + i * s->nn, s->nn) ? "peers"
                                                                                          : NULL;
        if (what && !rc) {
            snprintf(why, cap, "%s: after %s: what the engine reported leaves its %s different from a full "
                     "compile", s->tn[i].name, step, what);
            rc = -1;
        }
    }
    for (size_t i = 0; i < s->nn; i++) {
        free(now.filter[i]);
        free(now.ssh[i]);
        free(now.caps[i]);
    }
    free(now.filter);
    free(now.ssh);
    free(now.caps);
    free(now.peers);
    return rc;
}

/* --deferred, between a change and the settle: a map built now (a node's stream reconnecting) must say
 * what the engine would build afresh, not a text it kept from before the change. */
static int kept_check(struct pol_engine *e, const struct tnode *tn, size_t nn, size_t gone, const char *step,
                      char *why, size_t cap)
{
    char **got = calloc(2 * nn, sizeof *got);
    int rc = 0;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        if (pass)
            pol_engine_release(e); /* the second pass builds every text afresh */
        for (size_t i = 0; i < nn && !rc; i++) {
            if (i == gone)
                continue;
            size_t fl = 0, sl = 0;
            const char *f = pol_filter_json(e, tn[i].id, &fl);
            char *ft = dup_text(f, f ? fl : 0);
            const char *t = pol_ssh_json(e, tn[i].id, &sl);
            char *st = dup_text(t, t ? sl : 0);
            if (!pass) {
                got[2 * i] = ft;
                got[2 * i + 1] = st;
                continue;
            }
            const char *what = strcmp(ft, got[2 * i]) ? "filter" : strcmp(st, got[2 * i + 1]) ? "ssh" : NULL;
            if (what) {
                snprintf(why, cap, "%s: after %s, before the settle: its %s is a text kept from before", tn[i].name,
                         step, what);
                rc = -1;
            }
            free(ft);
            free(st);
        }
    }
    for (size_t i = 0; i < 2 * nn; i++)
        free(got[i]);
    free(got);
    return rc;
}

/* (WEFT_GOLDEN_NO_SETTLE=1: the settles left out, to see that --deferred fails without them) */
#define SETTLE(e) (getenv("WEFT_GOLDEN_NO_SETTLE") ? (void)0 : pol_engine_settle(e))

static int churn(struct pol_engine *e, struct tnode *tn, size_t nn, char *why, size_t cap)
{
    struct sim s = {e, tn, nn, calloc(nn, sizeof(char *)), calloc(nn, sizeof(char *)), calloc(nn, sizeof(char *)),
                    calloc(nn * nn, sizeof(bool)), 0};
    for (size_t i = 0; i < nn; i++)
        sim_full(&s, i);
    struct pol_sink sink = {&s, sink_node, sink_peers};
    pol_engine_set_sink(e, &sink);
    pol_engine_defer(e, deferred);
    int rc = 0;
    char step[300];
    static const char *const other[] = {"tag:churn-zz"};
    for (size_t i = 0; i < nn && !rc; i++) {
        /* leave, join again (its client gets a whole map at once, the others' deltas wait for the
         * settle), get retagged (tagged by a tag no rule names), restored */
        pol_engine_node_del(e, tn[i].id);
        snprintf(step, sizeof step, "%s left", tn[i].name);
        if (deferred && (rc = kept_check(e, tn, nn, i, step, why, cap)))
            break;
        SETTLE(e);
        snprintf(step, sizeof step, "%s left", tn[i].name);
        if ((rc = sim_compare(&s, i, step, why, cap)))
            break;
        pol_engine_node_set(e, &tn[i].pn);
        sim_full(&s, i);
        snprintf(step, sizeof step, "%s joined", tn[i].name);
        if (deferred && (rc = kept_check(e, tn, nn, (size_t)-1, step, why, cap)))
            break;
        SETTLE(e);
        snprintf(step, sizeof step, "%s joined", tn[i].name);
        if ((rc = sim_compare(&s, (size_t)-1, step, why, cap)))
            break;
        struct pol_node alt = tn[i].pn;
        alt.tags = other;
        alt.ntags = 1;
        alt.napproved = 0;
        pol_engine_node_set(e, &alt);
        snprintf(step, sizeof step, "%s retagged", tn[i].name);
        if (deferred && (rc = kept_check(e, tn, nn, (size_t)-1, step, why, cap)))
            break;
        SETTLE(e);
        if ((rc = sim_compare(&s, (size_t)-1, step, why, cap)))
            break;
        pol_engine_node_set(e, &tn[i].pn);
        SETTLE(e);
        snprintf(step, sizeof step, "%s restored", tn[i].name);
        rc = sim_compare(&s, (size_t)-1, step, why, cap);
    }
    if (deferred && !rc) {
        /* many changes in one batch: every node retagged, settled once; every node restored, once; then
         * again, with the texts kept at the retag's settle still there when the restores mark the nodes
         * (each must be dropped: read before the settle, a node's texts are what it would be sent now) */
        for (int round = 0; round < 2 && !rc; round++) {
            for (size_t i = 0; i < nn; i++) {
                struct pol_node alt = tn[i].pn;
                alt.tags = other;
                alt.ntags = 1;
                alt.napproved = 0;
                pol_engine_node_set(e, &alt);
            }
            SETTLE(e);
            if (!round && (rc = sim_compare(&s, (size_t)-1, "every node retagged in one batch", why, cap)))
                break;
            for (size_t i = 0; i < nn; i++)
                pol_engine_node_set(e, &tn[i].pn);
            if (round && (rc = kept_check(e, tn, nn, (size_t)-1, "every node restored", why, cap)))
                break;
            SETTLE(e);
            rc = sim_compare(&s, (size_t)-1, "every node restored in one batch", why, cap);
        }
    }
    pol_engine_defer(e, false);
    pol_engine_set_sink(e, NULL);
    for (size_t i = 0; i < nn; i++) {
        free(s.filter[i]);
        free(s.ssh[i]);
        free(s.caps[i]);
    }
    free(s.filter);
    free(s.ssh);
    free(s.caps);
    free(s.peers);
    return rc;
}

/* ---- routes: what each peer carries in AllowedIPs and PrimaryRoutes for a viewer ---- */

/* canonical text of a prefix (NULL when it is none) */
static const char *pfx_canon(const char *t, char *buf)
{
    struct ipprefix p;
    if (!t || prefix_parse(t, strlen(t), false, &p))
        return NULL;
    return prefix_format(&p, buf);
}

static bool list_has(const char *const *v, size_t n, const char *x)
{
    char a[NETSET_TEXT_MAX], b[NETSET_TEXT_MAX];
    const char *cx = pfx_canon(x, a);
    for (size_t i = 0; cx && i < n; i++) {
        const char *ci = pfx_canon(v[i], b);
        if (ci && !strcmp(ci, cx))
            return true;
    }
    return false;
}

/* A route is live on a node when it advertises it and it is approved, by hand or by autoApprovers. */
static bool route_live(struct pol_engine *e, const struct tnode *t, const char *r)
{
    return list_has(t->pn.routable, t->pn.nroutable, r) &&
           (list_has(t->pn.approved, t->pn.napproved, r) || pol_route_auto_approved(e, t->id, r));
}

static bool is_exit(struct pol_engine *e, const struct tnode *t)
{
    return route_live(e, t, "0.0.0.0/0") && route_live(e, t, "::/0");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* "peer:route" tokens of what viewer v should see: every subnet route at the router it reaches it
 * through (its primary, the first to register, unless a via grant steers it: pol_via_router), an exit
 * node's exit routes in its AllowedIPs only. kind 'A': AllowedIPs beyond the addresses, 'P': PrimaryRoutes. */
static void want_routes(struct pol_engine *e, struct tnode *tn, size_t nn, const struct tnode *v, char kind,
                        struct strv *out)
{
    struct strv prefixes = {0};
    char buf[NETSET_TEXT_MAX], tok[600];
    for (size_t i = 0; i < nn; i++)
        for (size_t j = 0; j < tn[i].pn.nroutable; j++) {
            const char *c = pfx_canon(tn[i].pn.routable[j], buf);
            if (c && strcmp(c, "0.0.0.0/0") && strcmp(c, "::/0") && route_live(e, &tn[i], c))
                strv_add(&prefixes, c);
        }
    strv_sort_uniq(&prefixes);
    int64_t *routers = calloc(nn + 1, sizeof *routers);
    for (size_t k = 0; k < prefixes.n; k++) {
        size_t nr = 0;
        for (size_t i = 0; i < nn; i++)
            if (route_live(e, &tn[i], prefixes.v[k]))
                routers[nr++] = tn[i].id;
        qsort(routers, nr, sizeof *routers, cmp_i64);
        int64_t r = pol_via_router(e, v->id, prefixes.v[k], routers, nr, routers[0]);
        if (r == POL_VIA_PRIMARY)
            r = routers[0];
        for (size_t i = 0; r && i < nn; i++)
            if (tn[i].id == r && &tn[i] != v && pol_visible(e, v->id, r)) {
                snprintf(tok, sizeof tok, "%s:%s", tn[i].name, prefixes.v[k]);
                strv_add(out, tok);
            }
    }
    for (size_t i = 0; kind == 'A' && i < nn; i++)
        if (&tn[i] != v && pol_visible(e, v->id, tn[i].id) && is_exit(e, &tn[i])) {
            snprintf(tok, sizeof tok, "%s:0.0.0.0/0", tn[i].name);
            strv_add(out, tok);
            snprintf(tok, sizeof tok, "%s:::/0", tn[i].name);
            strv_add(out, tok);
        }
    free(routers);
    strv_free(&prefixes);
    strv_sort_uniq(out);
}

/* the same tokens from a captured netmap's Peers */
static void got_routes(struct json_object *peers, char kind, struct strv *out)
{
    char buf[NETSET_TEXT_MAX], tok[600];
    for (size_t i = 0; i < alen(peers); i++) {
        struct json_object *p = json_object_array_get_idx(peers, i);
        char label[256];
        snprintf(label, sizeof label, "%s", gets(p, "Name") ? gets(p, "Name") : "");
        char *dot = strchr(label, '.');
        if (dot)
            *dot = 0;
        struct json_object *l = get(p, kind == 'A' ? "AllowedIPs" : "PrimaryRoutes"), *addrs = get(p, "Addresses");
        for (size_t j = 0; j < alen(l); j++) {
            const char *r = json_object_get_string(json_object_array_get_idx(l, j));
            bool own = false;
            for (size_t k = 0; k < alen(addrs) && !own; k++)
                own = !strcmp(r, json_object_get_string(json_object_array_get_idx(addrs, k)));
            const char *c = pfx_canon(r, buf);
            if (own || !c)
                continue;
            snprintf(tok, sizeof tok, "%s:%s", label, c);
            strv_add(out, tok);
        }
    }
    strv_sort_uniq(out);
}

static int cmp_created(const void *a, const void *b)
{
    const struct tnode *x = *(const struct tnode *const *)a, *y = *(const struct tnode *const *)b;
    if (!x->created != !y->created)
        return x->created ? -1 : 1;
    int c = x->created ? strcmp(x->created, y->created) : 0;
    return c ? c : strcmp(x->name, y->name);
}

static int check_capture(const char *path, const char *name, char *why, size_t cap)
{
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        snprintf(why, cap, "cannot read %s", path);
        return -1;
    }
    if (hj_standardize(text, len)) {
        free(text);
        snprintf(why, cap, "not HuJSON");
        return -1;
    }
    struct json_tokener *tok = json_tokener_new_ex(1000);
    struct json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    json_tokener_free(tok);
    free(text);
    if (!doc) {
        snprintf(why, cap, "not JSON");
        return -1;
    }
    int rc = -1;
    struct json_object *input = get(doc, "input"), *topo = get(doc, "topology"), *caps = get(doc, "captures");
    struct json_object *polv = get(input, "full_policy");
    int code = json_object_get_int(get(input, "api_response_code"));
    const char *poltext = polv && json_object_is_type(polv, json_type_string)
                              ? json_object_get_string(polv)
                              : json_object_to_json_string_ext(polv, JSON_C_TO_STRING_PLAIN);
    /* the tailnet */
    struct json_object *users = get(topo, "users"), *nodes = get(topo, "nodes");
    size_t nu = alen(users), nn = (size_t)(nodes ? json_object_object_length(nodes) : 0);
    struct pol_user *pu = calloc(nu + 1, sizeof *pu);
    struct tnode *tn = calloc(nn + 1, sizeof *tn);
    size_t k = 0;
    json_object_object_foreach(nodes, hname, hval)
    {
        tn[k].name = hname;
        (void)hval;
        k++;
    }
    qsort(tn, nn, sizeof *tn, cmp_name);
    for (size_t i = 0; i < nu; i++) {
        struct json_object *u = json_object_array_get_idx(users, i);
        pu[i].id = json_object_get_int64(get(u, "id"));
        pu[i].login = gets(u, "email") ? gets(u, "email") : gets(u, "name");
        /* roles: the capture shows them only through the is-owner / is-admin capabilities of the
         * user's own nodes */
        for (size_t j = 0; j < nn; j++) {
            struct json_object *nd = get(nodes, tn[j].name);
            if (!gets(nd, "user") || strcmp(gets(nd, "user"), gets(u, "name")))
                continue;
            struct json_object *cm = get(get(get(get(caps, tn[j].name), "netmap"), "SelfNode"), "CapMap");
            if (get(cm, "https://tailscale.com/cap/is-owner") || (cm && json_object_object_get_ex(cm, "https://tailscale.com/cap/is-owner", NULL)))
                pu[i].roles |= POL_ROLE_OWNER;
            if (cm && json_object_object_get_ex(cm, "https://tailscale.com/cap/is-admin", NULL))
                pu[i].roles |= POL_ROLE_ADMIN;
        }
    }
    /* node IDs in registration order (the capture's Created times, RFC 3339 in UTC: they sort as text),
     * as weft numbers its nodes: the first router to register a prefix is its primary */
    struct tnode **order = calloc(nn + 1, sizeof *order);
    for (size_t i = 0; i < nn; i++) {
        tn[i].created = gets(get(get(get(caps, tn[i].name), "netmap"), "SelfNode"), "Created");
        order[i] = &tn[i];
    }
    qsort(order, nn, sizeof *order, cmp_created);
    for (size_t i = 0; i < nn; i++)
        order[i]->id = (int64_t)i + 1;
    free(order);
    struct pol_engine *e = pol_engine_new();
    pol_engine_set_server_url(e, "https://unused");
    pol_engine_set_users(e, pu, nu);
    for (size_t i = 0; i < nn; i++) {
        struct json_object *nd = get(nodes, tn[i].name);
        struct tnode *t = &tn[i];
        t->pn.id = t->id;
        const char *user = gets(nd, "user");
        for (size_t j = 0; user && j < nu; j++)
            if (!strcmp(gets(json_object_array_get_idx(users, j), "name"), user))
                t->pn.user_id = pu[j].id;
        struct json_object *tags = get(nd, "tags"), *rt = get(nd, "routable_ips"), *ap = get(nd, "approved_routes");
        t->tags = calloc(alen(tags) + 1, sizeof *t->tags);
        t->routable = calloc(alen(rt) + 1, sizeof *t->routable);
        t->approved = calloc(alen(ap) + 1, sizeof *t->approved);
        for (size_t j = 0; j < alen(tags); j++)
            t->tags[j] = json_object_get_string(json_object_array_get_idx(tags, j));
        for (size_t j = 0; j < alen(rt); j++)
            t->routable[j] = json_object_get_string(json_object_array_get_idx(rt, j));
        for (size_t j = 0; j < alen(ap); j++)
            t->approved[j] = json_object_get_string(json_object_array_get_idx(ap, j));
        t->pn.tags = t->tags;
        t->pn.ntags = alen(tags);
        t->pn.routable = t->routable;
        t->pn.nroutable = alen(rt);
        t->pn.approved = t->approved;
        t->pn.napproved = alen(ap);
        struct ipprefix p;
        const char *v4 = gets(nd, "ipv4"), *v6 = gets(nd, "ipv6");
        if (v4 && !prefix_parse(v4, strlen(v4), true, &p) && p.a.fam == 4) {
            t->pn.has4 = true;
            uint32_t x = (uint32_t)p.a.v;
            t->pn.ip4[0] = (uint8_t)(x >> 24);
            t->pn.ip4[1] = (uint8_t)(x >> 16);
            t->pn.ip4[2] = (uint8_t)(x >> 8);
            t->pn.ip4[3] = (uint8_t)x;
        }
        if (v6 && !prefix_parse(v6, strlen(v6), true, &p) && p.a.fam == 6) {
            t->pn.has6 = true;
            u128 x = p.a.v;
            for (int b = 15; b >= 0; b--) {
                t->pn.ip6[b] = (uint8_t)x;
                x >>= 8;
            }
        }
        pol_engine_node_set(e, &t->pn);
    }
    /* the policy */
    struct pol_errors errs;
    struct policy *pol = policy_parse(poltext, strlen(poltext), &errs);
    int set = -1;
    if (pol) {
        pol_errors_free(&errs);
        set = pol_engine_set_policy(e, pol, &errs);
        if (set)
            policy_free(pol);
    }
    if (code != 200) {
        if (set == 0) {
            const char *msg = gets(get(input, "api_response_body"), "message");
            snprintf(why, cap, "accepted a policy Tailscale refused (%d: %s)", code, msg ? msg : "");
        } else {
            if (verbose)
                printf("# %s refused: %s\n", name, errs.n ? errs.v[0].msg : "?");
            rc = 0;
        }
        goto out;
    }
    if (set) {
        snprintf(why, cap, "refused: %u:%u: %s", errs.n ? errs.v[0].line : 0, errs.n ? errs.v[0].col : 0,
                 errs.n ? errs.v[0].msg : "?");
        goto out;
    }
    rc = 0;
    if ((incremental || deferred) && churn(e, tn, nn, why, cap)) {
        rc = -1;
        goto out;
    }
    json_object_object_foreach(caps, host, c)
    {
        struct json_object *nm = get(c, "netmap");
        struct tnode key = {.name = host}, *t = bsearch(&key, tn, nn, sizeof *tn, cmp_name);
        if (!t || !nm)
            continue;
        /* filter */
        size_t fl;
        const char *f = pol_filter_json(e, t->id, &fl);
        struct json_object *got = f ? json_tokener_parse(f) : NULL;
        struct strv w = {0}, g = {0};
        rules_canon(get(c, "packet_filter_rules"), &w);
        rules_canon(got, &g);
        char d[700];
        if (!got || diff_lists(&w, &g, d, sizeof d)) {
            snprintf(why, cap, "%s: filter: %s", host, got ? d : "no filter");
            if (verbose)
                printf("# %s %s filter: %.*s\n", name, host, f ? (int)fl : 0, f ? f : "");
            rc = -1;
        }
        strv_free(&w);
        strv_free(&g);
        json_object_put(got);
        if (rc)
            break;
        /* peers */
        struct json_object *peers = get(nm, "Peers");
        for (size_t i = 0; i < alen(peers); i++) {
            const char *pn = gets(json_object_array_get_idx(peers, i), "Name");
            char label[256];
            snprintf(label, sizeof label, "%s", pn ? pn : "");
            char *dot = strchr(label, '.');
            if (dot)
                *dot = 0;
            strv_add(&w, label);
        }
        strv_sort_uniq(&w);
        struct peer_list pl = {tn, nn, &g};
        pol_each_peer(e, t->id, peer_cb, &pl);
        strv_sort_uniq(&g);
        if (diff_lists(&w, &g, d, sizeof d)) {
            snprintf(why, cap, "%s: peers: %s", host, d);
            rc = -1;
        }
        strv_free(&w);
        strv_free(&g);
        if (rc)
            break;
        /* routes: each peer's AllowedIPs beyond its addresses, and its PrimaryRoutes */
        for (const char *kk = "AP"; *kk && !rc; kk++) {
            got_routes(peers, *kk, &w);
            want_routes(e, tn, nn, t, *kk, &g);
            if (diff_lists(&w, &g, d, sizeof d)) {
                snprintf(why, cap, "%s: peers' %s: %s", host, *kk == 'A' ? "AllowedIPs" : "PrimaryRoutes", d);
                rc = -1;
            }
            strv_free(&w);
            strv_free(&g);
        }
        if (rc)
            break;
        /* SSH: rule by rule */
        struct json_object *wssh = get(get(nm, "SSHPolicy"), "rules");
        size_t sl;
        const char *s = pol_ssh_json(e, t->id, &sl);
        struct json_object *gssh_o = s ? json_tokener_parse(s) : NULL, *gssh = get(gssh_o, "rules");
        size_t nw = alen(wssh), ng = alen(gssh);
        for (size_t i = 0; i < nw || i < ng; i++) {
            char *a = i < nw ? ssh_rule_canon(json_object_array_get_idx(wssh, i)) : NULL;
            char *b = i < ng ? ssh_rule_canon(json_object_array_get_idx(gssh, i)) : NULL;
            if (!a || !b || strcmp(a, b)) {
                snprintf(why, cap, "%s: ssh rule %zu: want %.400s, got %.400s", host, i, a ? a : "(none)",
                         b ? b : "(none)");
                rc = -1;
            }
            free(a);
            free(b);
            if (rc)
                break;
        }
        json_object_put(gssh_o);
        if (rc)
            break;
        /* node attributes */
        caps_canon(get(get(nm, "SelfNode"), "CapMap"), &w);
        size_t cl;
        const char *cj = pol_caps_json(e, t->id, &cl);
        char *obj = malloc(cl + 3);
        snprintf(obj, cl + 3, "{%s}", cj ? cj : "");
        struct json_object *gc = json_tokener_parse(obj);
        free(obj);
        caps_canon(gc, &g);
        json_object_put(gc);
        if (diff_lists(&w, &g, d, sizeof d)) {
            snprintf(why, cap, "%s: capmap: %s", host, d);
            rc = -1;
        }
        strv_free(&w);
        strv_free(&g);
        if (rc)
            break;
    }
out:
    pol_errors_free(&errs);
    pol_engine_free(e);
    for (size_t i = 0; i < nn; i++) {
        free(tn[i].tags);
        free(tn[i].routable);
        free(tn[i].approved);
    }
    free(tn);
    free(pu);
    json_object_put(doc);
    return rc;
}

/* ---- driver ---- */

static int passed, failed;
static const char *only;

static void run_file(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strstr(name, ".hujson");
    if (dot)
        *dot = 0;
    if (only && strcmp(only, name))
        return;
    char why[2048] = "";
    if (check_capture(path, name, why, sizeof why)) {
        printf("FAIL %s: %s\n", name, why);
        failed++;
    } else {
        printf("PASS %s\n", name);
        passed++;
    }
    fflush(stdout);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        printf("FAIL %s: cannot stat\n", path);
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct strv v = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        struct stat s2;
        if (stat(p, &s2))
            continue;
        size_t l = strlen(de->d_name);
        if (S_ISDIR(s2.st_mode) || (l > 7 && !strcmp(de->d_name + l - 7, ".hujson")))
            strv_add(&v, p);
    }
    closedir(d);
    if (v.n)
        qsort(v.v, v.n, sizeof *v.v, cmp_path);
    for (size_t i = 0; i < v.n; i++)
        run_path(v.v[i]);
    strv_free(&v);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "--incremental"))
            incremental = 1;
        else if (!strcmp(argv[i], "--deferred"))
            deferred = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: policy-golden [-v] [--incremental | --deferred] [--only NAME] FILE|DIR...\n");
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "usage: policy-golden [-v] [--only NAME] FILE|DIR...\n");
        return 2;
    }
    for (; i < argc; i++)
        run_path(argv[i]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
