// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/json_util.h"
#include "modules/control/api/api.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"

/* weft's GET /weft/derp: the relay (DERP) regions control hands to nodes, with what control knows of each
 * one's health from the nodes themselves: how many devices have it as their home relay (they reach it)
 * and how many of those are connected now. Tailscale's API has no such call (its DERP map is its own).
 * {"regions": [{"regionId", "regionCode", "regionName", "embedded", "nodes": [{"name", "hostName",
 *   "derpPort", "stunPort"}], "homeDevices", "homeDevicesOnline"}]} */

static struct json_object *member(struct json_object *o, const char *name)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, name, &v) ? v : NULL;
}

static void copy(struct json_object *to, const char *name, struct json_object *from, const char *key)
{
    struct json_object *v = member(from, key);
    json_object_object_add(to, name, v ? json_object_get(v) : NULL);
}

void api_weft_derp(struct api_call *k)
{
    struct ctrl *c = k->c;
    struct json_object *map = c->derp_json ? tc_json_parse(c->derp_json, c->derp_len) : NULL;
    struct json_object *regions = member(map, "Regions"), *out = json_object_new_object(),
                       *list = json_object_new_array();
    if (regions && json_object_is_type(regions, json_type_object)) {
        json_object_object_foreach(regions, key, r)
        {
            (void)key;
            struct json_object *o = json_object_new_object(), *nodes = json_object_new_array();
            struct json_object *idv = member(r, "RegionID");
            int id = idv ? json_object_get_int(idv) : 0;
            size_t home = 0, online = 0;
            for (size_t i = 0; i < c->nnodes; i++)
                if (c->nodes[i]->m.home_derp == id) {
                    home++;
                    online += c->nodes[i]->m.online;
                }
            json_object_object_add(o, "regionId", json_object_new_int(id));
            copy(o, "regionCode", r, "RegionCode");
            copy(o, "regionName", r, "RegionName");
            json_object_object_add(o, "embedded", json_object_new_boolean(c->embedded_derp &&
                                                                          id == (int)c->conf->derp_region_id));
            struct json_object *ns = member(r, "Nodes");
            for (size_t i = 0; ns && json_object_is_type(ns, json_type_array) && i < json_object_array_length(ns);
                 i++) {
                struct json_object *n = json_object_array_get_idx(ns, i), *no = json_object_new_object();
                copy(no, "name", n, "Name");
                copy(no, "hostName", n, "HostName");
                copy(no, "derpPort", n, "DERPPort");
                copy(no, "stunPort", n, "STUNPort");
                json_object_array_add(nodes, no);
            }
            json_object_object_add(o, "nodes", nodes);
            json_object_object_add(o, "homeDevices", json_object_new_int64((int64_t)home));
            json_object_object_add(o, "homeDevicesOnline", json_object_new_int64((int64_t)online));
            json_object_array_add(list, o);
        }
    }
    json_object_put(map);
    json_object_object_add(out, "regions", list);
    api_reply(k, 200, out);
}
