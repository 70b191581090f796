// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <string.h>

#include "core/http.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"

/* DNS: GET|POST /tailnet/{t}/dns/{nameservers,searchpaths,preferences,split-dns}. weft's DNS settings
 * are the configuration's (control.nameservers, control.search_domains, control.magic_dns): the GETs
 * report them; changing them through the API is not there yet (they would need a home in the database
 * that overrides the file, and a DNS change sent to every node): those answer 501 and say where to
 * change them. weft has no split DNS (per-domain resolvers): it reports none. */

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
              "set %s in the configuration and restart", keys);
    return true;
}

void api_dns_nameservers(struct api_call *k)
{
    if (read_only(k, "control.nameservers"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "dns", list(&k->c->conf->nameservers));
    json_object_object_add(o, "magicDNS", json_object_new_boolean(k->c->conf->magic_dns));
    api_reply(k, 200, o);
}

void api_dns_searchpaths(struct api_call *k)
{
    if (read_only(k, "control.search_domains"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "searchPaths", list(&k->c->conf->search_domains));
    api_reply(k, 200, o);
}

void api_dns_preferences(struct api_call *k)
{
    if (read_only(k, "control.magic_dns"))
        return;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "magicDNS", json_object_new_boolean(k->c->conf->magic_dns));
    api_reply(k, 200, o);
}

void api_dns_split(struct api_call *k)
{
    if (read_only(k, "control.nameservers (weft has no split DNS)"))
        return;
    api_reply(k, 200, json_object_new_object());
}
