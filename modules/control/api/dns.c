// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <string.h>

#include "core/http.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"

/* DNS: GET|POST /tailnet/{t}/dns/{nameservers,searchpaths,preferences,split-dns}. weft's DNS settings
 * are the configuration's (control.dns.nameservers, .search_domains, .magic_dns, .routes): the GETs
 * report them; changing them through the API is not there yet (they would need a home in the database
 * that overrides the file): those answer 501 and say where to change them (a reload applies a change). */

static struct json_object *list(const struct cfg_list *l)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < l->n; i++)
        json_object_array_add(a, json_object_new_string(l->v[i]));
    return a;
}

static bool read_only(struct api_call *k, const char *keys)
{
    if (!strcmp(http_req_method(k->req), "GET"))
        return false;
    api_error(k, 501, "changing DNS settings through the API is not implemented by this weft server yet: "
              "set %s in the configuration and reload (SIGHUP)", keys);
    return true;
}

void api_dns_nameservers(struct api_call *k)
{
    if (read_only(k, "control.dns.nameservers"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "dns", list(&k->c->conf->dns.nameservers));
    json_object_object_add(o, "magicDNS", json_object_new_boolean(k->c->conf->dns.magic_dns));
    api_reply(k, 200, o);
}

void api_dns_searchpaths(struct api_call *k)
{
    if (read_only(k, "control.dns.search_domains"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "searchPaths", list(&k->c->conf->dns.search_domains));
    api_reply(k, 200, o);
}

void api_dns_preferences(struct api_call *k)
{
    if (read_only(k, "control.dns.magic_dns"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "magicDNS", json_object_new_boolean(k->c->conf->dns.magic_dns));
    api_reply(k, 200, o);
}

void api_dns_split(struct api_call *k)
{
    if (read_only(k, "control.dns.routes"))
        return;
    /* Tailscale's shape: {"domain": ["resolver", ...]}; an empty list (answered by the node itself) is null */
    const struct cfg_map *r = &k->c->conf->dns.routes;
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < r->n; i++)
        json_object_object_add(o, r->keys[i], r->vals[i].n ? list(&r->vals[i]) : NULL);
    api_reply(k, 200, o);
}
