// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/control/dnsover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/log.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

/* the settings table's names: the control keys they override */
#define K_NAMESERVERS "dns.nameservers"
#define K_SEARCH "dns.search_domains"
#define K_MAGIC "dns.magic_dns"
#define K_ROUTES "dns.routes"

void dnsover_list_free(struct cfg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void dnsover_map_free(struct cfg_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        dnsover_list_free(&m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

void dnsover_free(struct dns_over *o)
{
    dnsover_list_free(&o->nameservers);
    dnsover_list_free(&o->search_domains);
    dnsover_map_free(&o->routes);
    memset(o, 0, sizeof *o);
}

/* ---- JSON text of the stored values ---- */

static struct json_object *list_obj(const struct cfg_list *l)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; a && i < l->n; i++)
        json_object_array_add(a, json_object_new_string(l->v[i]));
    return a;
}

static char *to_text(struct json_object *o)
{
    char *t = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))
                : NULL;
    json_object_put(o);
    return t;
}

static int list_from(struct json_object *a, struct cfg_list *out)
{
    memset(out, 0, sizeof *out);
    if (!json_object_is_type(a, json_type_array))
        return -1;
    size_t n = json_object_array_length(a);
    out->v = calloc(n + 1, sizeof *out->v);
    if (!out->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        if (!json_object_is_type(e, json_type_string) || !(out->v[out->n] = strdup(json_object_get_string(e)))) {
            dnsover_list_free(out);
            return -1;
        }
        out->n++;
    }
    return 0;
}

static int map_from(struct json_object *o, struct cfg_map *out)
{
    memset(out, 0, sizeof *out);
    if (!json_object_is_type(o, json_type_object))
        return -1;
    size_t n = (size_t)json_object_object_length(o);
    out->keys = calloc(n + 1, sizeof *out->keys);
    out->vals = calloc(n + 1, sizeof *out->vals);
    if (!out->keys || !out->vals) {
        dnsover_map_free(out);
        return -1;
    }
    json_object_object_foreach(o, k, v)
    {
        if (list_from(v, &out->vals[out->n]) || !(out->keys[out->n] = strdup(k))) {
            dnsover_list_free(&out->vals[out->n]);
            dnsover_map_free(out);
            return -1;
        }
        out->n++;
    }
    return 0;
}

static char *map_text(const struct cfg_map *m)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; o && i < m->n; i++)
        json_object_object_add(o, m->keys[i], list_obj(&m->vals[i]));
    return to_text(o);
}

/* ---- loading ---- */

static void load_one(void *ctx, const char *name, const char *value)
{
    struct ctrl *c = ctx;
    struct dns_over *o = &c->dns_over;
    struct json_object *j = value ? json_tokener_parse(value) : NULL;
    int bad = !j;
    if (!bad && !strcmp(name, K_NAMESERVERS)) {
        bad = list_from(j, &o->nameservers);
        o->has_nameservers = !bad;
    } else if (!bad && !strcmp(name, K_SEARCH)) {
        bad = list_from(j, &o->search_domains);
        o->has_search_domains = !bad;
    } else if (!bad && !strcmp(name, K_MAGIC)) {
        bad = !json_object_is_type(j, json_type_boolean);
        o->magic_dns = !bad && json_object_get_boolean(j);
        o->has_magic_dns = !bad;
    } else if (!bad && !strcmp(name, K_ROUTES)) {
        bad = map_from(j, &o->routes);
        o->has_routes = !bad;
    } else if (!bad) {
        return; /* another concern's setting */
    }
    json_object_put(j);
    if (bad)
        log_error("module=control event=dns_settings setting=control.%s error=\"the stored value does not parse\" "
                  "msg=\"the configuration's value is in force\"",
                  name);
    else
        log_info("module=control event=dns_settings setting=control.%s msg=\"the value set through the API is in "
                 "force instead of the configuration's\"",
                 name);
}

int dnsover_load(struct ctrl *c, char *err, size_t errlen)
{
    dnsover_free(&c->dns_over);
    if (store_setting_list(c->store, load_one, c)) {
        snprintf(err, errlen, "loading the DNS settings: %s", store_errmsg(c->store));
        return -1;
    }
    return 0;
}

void dnsover_effective(const struct ctrl *c, const struct control_dns_conf *file, struct control_dns_conf *out)
{
    const struct dns_over *o = &c->dns_over;
    *out = *file;
    if (o->has_nameservers)
        out->nameservers = o->nameservers;
    if (o->has_search_domains)
        out->search_domains = o->search_domains;
    if (o->has_magic_dns)
        out->magic_dns = o->magic_dns;
    if (o->has_routes)
        out->routes = o->routes;
}

/* ---- changes ---- */

/* The DNSConfig built again and sent: a delta with it, or (MagicDNS switched) a whole new map on every
 * stream, as a reload that changes control.dns.magic_dns does. */
static void push(struct ctrl *c, bool magic_before)
{
    struct control_dns_conf now;
    unsigned changed;
    dnsover_effective(c, &c->conf->dns, &now);
    if (mapper_rebuild_static(c, &changed)) {
        log_error("module=control event=dns_settings error=\"out of memory\" msg=\"the nodes keep the DNS "
                  "config they have\"");
        return;
    }
    if (!now.magic_dns != !magic_before) {
        for (size_t i = 0; i < c->nnodes; i++)
            mapper_invalidate(c->nodes[i]);
        mapper_blocks_stale(c, 0, true);
        fanout_full_maps(c);
    } else if (changed) {
        fanout_statics(c, changed);
    }
}

static bool magic_now(const struct ctrl *c)
{
    struct control_dns_conf now;
    dnsover_effective(c, &c->conf->dns, &now);
    return now.magic_dns;
}

/* Stores name = text (taken; NULL: out of memory). 0 or -1 with err. */
static int save(struct ctrl *c, const char *name, char *text, char *err, size_t errlen)
{
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = store_setting_set(c->store, name, text);
    if (rc)
        snprintf(err, errlen, "%s", store_errmsg(c->store));
    else
        log_info("module=control event=dns_settings action=set setting=control.%s value=%s", name, text);
    free(text);
    return rc ? -1 : 0;
}

void dnsover_reload(struct ctrl *c)
{
    bool magic = magic_now(c);
    struct dns_over old = c->dns_over;
    memset(&c->dns_over, 0, sizeof c->dns_over);
    if (store_setting_list(c->store, load_one, c)) {
        log_warn("module=control event=dns_settings action=reload error=\"%s\" msg=\"the settings in force "
                 "stay\"",
                 store_errmsg(c->store));
        dnsover_free(&c->dns_over);
        c->dns_over = old;
        return;
    }
    dnsover_free(&old);
    push(c, magic);
}

static int set_list(struct ctrl *c, const char *name, struct cfg_list *v, struct cfg_list *slot, bool *has,
                    char *err, size_t errlen)
{
    bool magic = magic_now(c);
    if (save(c, name, to_text(list_obj(v)), err, errlen)) {
        dnsover_list_free(v);
        return -1;
    }
    dnsover_list_free(slot);
    *slot = *v;
    memset(v, 0, sizeof *v);
    *has = true;
    push(c, magic);
    return 0;
}

int dnsover_set_nameservers(struct ctrl *c, struct cfg_list *v, char *err, size_t errlen)
{
    struct dns_over *o = &c->dns_over;
    return set_list(c, K_NAMESERVERS, v, &o->nameservers, &o->has_nameservers, err, errlen);
}

int dnsover_set_search_domains(struct ctrl *c, struct cfg_list *v, char *err, size_t errlen)
{
    struct dns_over *o = &c->dns_over;
    return set_list(c, K_SEARCH, v, &o->search_domains, &o->has_search_domains, err, errlen);
}

int dnsover_set_magic_dns(struct ctrl *c, bool on, char *err, size_t errlen)
{
    bool magic = magic_now(c);
    if (save(c, K_MAGIC, strdup(on ? "true" : "false"), err, errlen))
        return -1;
    c->dns_over.magic_dns = on;
    c->dns_over.has_magic_dns = true;
    push(c, magic);
    return 0;
}

int dnsover_set_routes(struct ctrl *c, struct cfg_map *v, char *err, size_t errlen)
{
    bool magic = magic_now(c);
    if (save(c, K_ROUTES, map_text(v), err, errlen)) {
        dnsover_map_free(v);
        return -1;
    }
    dnsover_map_free(&c->dns_over.routes);
    c->dns_over.routes = *v;
    memset(v, 0, sizeof *v);
    c->dns_over.has_routes = true;
    push(c, magic);
    return 0;
}

int dnsover_clear(struct ctrl *c, char *err, size_t errlen)
{
    static const char *const names[] = {K_NAMESERVERS, K_SEARCH, K_MAGIC, K_ROUTES};
    bool magic = magic_now(c);
    if (store_begin(c->store)) {
        snprintf(err, errlen, "%s", store_errmsg(c->store));
        return -1;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (store_setting_set(c->store, names[i], NULL)) {
            snprintf(err, errlen, "%s", store_errmsg(c->store));
            store_rollback(c->store);
            return -1;
        }
    if (store_commit(c->store)) {
        snprintf(err, errlen, "%s", store_errmsg(c->store));
        return -1;
    }
    dnsover_free(&c->dns_over);
    log_info("module=control event=dns_settings action=clear msg=\"the configuration's DNS settings are in "
             "force again\"");
    push(c, magic);
    return 0;
}
