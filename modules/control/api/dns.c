// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cfgcheck.h"
#include "core/http.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"
#include "modules/control/dnsover.h"

/* DNS: GET|POST /tailnet/{t}/dns/{nameservers,searchpaths,preferences}, GET|PATCH|PUT .../split-dns, and
 * weft's DELETE /weft/dns. The values reported are those in force: the configuration's control.dns.*,
 * with what was set through the API over them (dnsover.h: stored in the database, pushed to every node at
 * once). Bodies and answers are Tailscale's shapes. */

#define MAX_ITEMS 64 /* nameservers, search paths, split DNS domains or one domain's nameservers */

static struct json_object *list(const struct cfg_list *l)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < l->n; i++)
        json_object_array_add(a, json_object_new_string(l->v[i]));
    return a;
}

static struct control_dns_conf now(struct api_call *k)
{
    struct control_dns_conf d;
    dnsover_effective(k->c, &k->c->conf->dns, &d);
    return d;
}

static bool posting(struct api_call *k)
{
    return strcmp(http_req_method(k->req), "GET") != 0;
}

/* A JSON array of strings, each passing check, into *out (empty first). 0, or -1 after answering 400. */
static int take_list(struct api_call *k, struct json_object *a, const char *what,
                     const char *(*check)(const char *, char *, size_t), struct cfg_list *out)
{
    char buf[256];
    memset(out, 0, sizeof *out);
    size_t n = json_object_array_length(a);
    if (n > MAX_ITEMS) {
        api_error(k, 400, "%s: more than %d entries", what, MAX_ITEMS);
        return -1;
    }
    out->v = calloc(n + 1, sizeof *out->v);
    if (!out->v) {
        api_error(k, 500, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL, *why;
        if (!s) {
            api_error(k, 400, "%s: entry %zu is not a string", what, i);
            goto bad;
        }
        if ((why = check(s, buf, sizeof buf))) {
            api_error(k, 400, "%s: %.100s: %s", what, s, why);
            goto bad;
        }
        bool dup = false;
        for (size_t j = 0; j < out->n && !dup; j++)
            dup = !strcmp(out->v[j], s);
        if (dup)
            continue;
        if (!(out->v[out->n] = strdup(s))) {
            api_error(k, 500, "out of memory");
            goto bad;
        }
        out->n++;
    }
    return 0;
bad:
    dnsover_list_free(out);
    return -1;
}

static void failed(struct api_call *k, const char *err)
{
    api_error(k, 500, "the DNS setting could not be stored: %s", err);
}

/* {"dns": ["IP", ...]}: the global nameservers (control.dns.nameservers). Tailscale's POST answers with
 * magicDNS too; weft does not switch MagicDNS off when the list empties (its names work without). */
void api_dns_nameservers(struct api_call *k)
{
    if (posting(k)) {
        bool bad = false;
        char err[512];
        struct cfg_list l;
        struct json_object *v = api_member(k, "dns", json_type_array, &bad);
        if (!v) {
            api_error(k, 400, "want {\"dns\": [\"IP\", ...]}");
            return;
        }
        if (take_list(k, v, "dns", cfg_check_nameserver, &l))
            return;
        if (dnsover_set_nameservers(k->c, &l, err, sizeof err)) {
            failed(k, err);
            return;
        }
    }
    struct control_dns_conf d = now(k);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "dns", list(&d.nameservers));
    json_object_object_add(o, "magicDNS", json_object_new_boolean(d.magic_dns));
    api_reply(k, 200, o);
}

/* {"searchPaths": ["domain", ...]} (control.dns.search_domains) */
void api_dns_searchpaths(struct api_call *k)
{
    if (posting(k)) {
        bool bad = false;
        char err[512];
        struct cfg_list l;
        struct json_object *v = api_member(k, "searchPaths", json_type_array, &bad);
        if (!v) {
            api_error(k, 400, "want {\"searchPaths\": [\"DOMAIN\", ...]}");
            return;
        }
        if (take_list(k, v, "searchPaths", cfg_check_domain, &l))
            return;
        if (dnsover_set_search_domains(k->c, &l, err, sizeof err)) {
            failed(k, err);
            return;
        }
    }
    struct control_dns_conf d = now(k);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "searchPaths", list(&d.search_domains));
    api_reply(k, 200, o);
}

/* {"magicDNS": true|false} (control.dns.magic_dns) */
void api_dns_preferences(struct api_call *k)
{
    if (posting(k)) {
        bool bad = false;
        char err[512];
        struct json_object *v = api_member(k, "magicDNS", json_type_boolean, &bad);
        if (!v) {
            api_error(k, 400, "want {\"magicDNS\": true|false}");
            return;
        }
        if (dnsover_set_magic_dns(k->c, json_object_get_boolean(v), err, sizeof err)) {
            failed(k, err);
            return;
        }
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "magicDNS", json_object_new_boolean(now(k).magic_dns));
    api_reply(k, 200, o);
}

static void map_del(struct cfg_map *m, size_t i)
{
    free(m->keys[i]);
    dnsover_list_free(&m->vals[i]);
    memmove(&m->keys[i], &m->keys[i + 1], (m->n - i - 1) * sizeof *m->keys);
    memmove(&m->vals[i], &m->vals[i + 1], (m->n - i - 1) * sizeof *m->vals);
    m->n--;
}

/* Copies src's entries into dst (empty). 0 or -1 (out of memory). */
static int map_copy(struct cfg_map *dst, const struct cfg_map *src, size_t extra)
{
    memset(dst, 0, sizeof *dst);
    dst->keys = calloc(src->n + extra + 1, sizeof *dst->keys);
    dst->vals = calloc(src->n + extra + 1, sizeof *dst->vals);
    if (!dst->keys || !dst->vals)
        goto oom;
    for (size_t i = 0; i < src->n; i++) {
        struct cfg_list *l = &dst->vals[dst->n];
        if (!(dst->keys[dst->n] = strdup(src->keys[i])))
            goto oom;
        dst->n++;
        if (!(l->v = calloc(src->vals[i].n + 1, sizeof *l->v)))
            goto oom;
        for (size_t j = 0; j < src->vals[i].n; j++, l->n++)
            if (!(l->v[j] = strdup(src->vals[i].v[j])))
                goto oom;
    }
    return 0;
oom:
    dnsover_map_free(dst);
    return -1;
}

static const char *domain_check(const char *v, char *buf, size_t len)
{
    return cfg_check_domain(v, buf, len);
}

/* Split DNS: {"domain": ["IP", ...], ...} (control.dns.routes). GET: in force (a domain whose list is
 * empty, answered by the nodes from extra records, is null). PUT: the body replaces every domain. PATCH:
 * the domains in the body are set, those given null (or []) removed, the others kept. Both answer the
 * result. */
void api_dns_split(struct api_call *k)
{
    struct control_dns_conf d = now(k);
    if (posting(k)) {
        bool put = !strcmp(http_req_method(k->req), "PUT");
        char err[512], buf[256];
        struct cfg_map m;
        if (map_copy(&m, put ? &(struct cfg_map){0} : &d.routes, (size_t)json_object_object_length(k->body))) {
            api_error(k, 500, "out of memory");
            return;
        }
        json_object_object_foreach(k->body, dom, val)
        {
            const char *why;
            size_t at = m.n;
            for (size_t i = 0; i < m.n; i++)
                if (!strcasecmp(m.keys[i], dom))
                    at = i;
            if ((why = domain_check(dom, buf, sizeof buf))) {
                api_error(k, 400, "%.100s: %s", dom, why);
                goto out;
            }
            if (val && !json_object_is_type(val, json_type_array)) {
                api_error(k, 400, "%.100s: want a list of nameservers (or null to remove the domain)", dom);
                goto out;
            }
            if (!val || !json_object_array_length(val)) { /* removed */
                if (at < m.n)
                    map_del(&m, at);
                continue;
            }
            struct cfg_list l;
            if (take_list(k, val, dom, cfg_check_nameserver, &l))
                goto out;
            if (at < m.n) {
                dnsover_list_free(&m.vals[at]);
                m.vals[at] = l;
            } else if (m.n >= MAX_ITEMS) {
                dnsover_list_free(&l);
                api_error(k, 400, "more than %d split DNS domains", MAX_ITEMS);
                goto out;
            } else if (!(m.keys[m.n] = strdup(dom))) {
                dnsover_list_free(&l);
                api_error(k, 500, "out of memory");
                goto out;
            } else {
                m.vals[m.n++] = l;
            }
        }
        if (dnsover_set_routes(k->c, &m, err, sizeof err)) {
            failed(k, err);
            return;
        }
        d = now(k);
        goto answer;
    out:
        dnsover_map_free(&m);
        return;
    }
answer:;
    const struct cfg_map *r = &d.routes;
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < r->n; i++)
        json_object_object_add(o, r->keys[i], r->vals[i].n ? list(&r->vals[i]) : NULL);
    api_reply(k, 200, o);
}

/* weft's DELETE /weft/dns: every DNS setting made through the API removed; the configuration's are in
 * force again (and pushed). Answers the settings now in force. */
void api_weft_dns_reset(struct api_call *k)
{
    char err[512];
    if (dnsover_clear(k->c, err, sizeof err)) {
        failed(k, err);
        return;
    }
    struct control_dns_conf d = now(k);
    struct json_object *o = json_object_new_object(), *split = json_object_new_object();
    for (size_t i = 0; i < d.routes.n; i++)
        json_object_object_add(split, d.routes.keys[i], d.routes.vals[i].n ? list(&d.routes.vals[i]) : NULL);
    json_object_object_add(o, "dns", list(&d.nameservers));
    json_object_object_add(o, "searchPaths", list(&d.search_domains));
    json_object_object_add(o, "magicDNS", json_object_new_boolean(d.magic_dns));
    json_object_object_add(o, "splitDns", split);
    api_reply(k, 200, o);
}
