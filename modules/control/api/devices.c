// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/key.h"
#include "core/http.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"
#include "modules/control/ops.h"

/* Devices: GET /tailnet/{t}/devices, GET|DELETE /device/{id}, POST /device/{id}/{authorized,expire,name,
 * tags}, GET|POST /device/{id}/routes. {id} is the node's stable ID (Tailscale's nodeId), its numeric ID
 * (Tailscale's legacy id) or its name. Field names are Tailscale's; times RFC 3339. */

static struct json_object *key_text(enum key_text kind, const uint8_t b[32])
{
    struct key k;
    char t[KEY_TEXT_MAX];
    memcpy(k.b, b, 32);
    return key_format(t, sizeof t, kind, &k) < 0 ? NULL : json_object_new_string(t);
}

/* Hostinfo.OS and Hostinfo.IPNVersion as the client reported them ("" if not). */
static void from_hostinfo(const char *hi, char *os, size_t oscap, char *ver, size_t vercap)
{
    os[0] = ver[0] = 0;
    struct json_object *o = hi ? json_tokener_parse(hi) : NULL, *v;
    if (o && json_object_object_get_ex(o, "OS", &v) && json_object_is_type(v, json_type_string))
        snprintf(os, oscap, "%s", json_object_get_string(v));
    if (o && json_object_object_get_ex(o, "IPNVersion", &v) && json_object_is_type(v, json_type_string))
        snprintf(ver, vercap, "%s", json_object_get_string(v));
    json_object_put(o);
}

static struct json_object *device(struct ctrl *c, const struct cnode *n, bool all)
{
    const struct model_node *m = &n->m;
    struct json_object *o = json_object_new_object(), *addrs = json_object_new_array();
    char a[INET6_ADDRSTRLEN], fq[512], id[24], os[64], ver[64];
    if (m->has_ipv4 && inet_ntop(AF_INET, m->ipv4, a, sizeof a))
        json_object_array_add(addrs, json_object_new_string(a));
    if (m->has_ipv6 && inet_ntop(AF_INET6, m->ipv6, a, sizeof a))
        json_object_array_add(addrs, json_object_new_string(a));
    snprintf(fq, sizeof fq, "%s.%s", m->given_name, c->conf->dns.base_domain ? c->conf->dns.base_domain : "");
    snprintf(id, sizeof id, "%lld", (long long)m->id);
    from_hostinfo(m->hostinfo, os, sizeof os, ver, sizeof ver);
    const struct model_user *u = ctrl_user(c, m->user_id);
    json_object_object_add(o, "addresses", addrs);
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "nodeId", json_object_new_string(m->stable_id));
    json_object_object_add(o, "user", json_object_new_string(u ? u->name : ""));
    json_object_object_add(o, "name", json_object_new_string(fq));
    json_object_object_add(o, "hostname", json_object_new_string(m->hostname));
    json_object_object_add(o, "clientVersion", json_object_new_string(ver));
    json_object_object_add(o, "updateAvailable", json_object_new_boolean(false));
    json_object_object_add(o, "os", json_object_new_string(os));
    json_object_object_add(o, "created", api_time(m->created));
    json_object_object_add(o, "lastSeen", api_time(m->last_seen));
    json_object_object_add(o, "connectedToControl", json_object_new_boolean(m->online));
    json_object_object_add(o, "keyExpiryDisabled", json_object_new_boolean(m->expiry == 0));
    json_object_object_add(o, "expires", api_time(m->expiry));
    json_object_object_add(o, "authorized", json_object_new_boolean(true));
    json_object_object_add(o, "isExternal", json_object_new_boolean(false));
    json_object_object_add(o, "machineKey", key_text(KEY_TEXT_MACHINE, m->machine_key));
    json_object_object_add(o, "nodeKey", key_text(KEY_TEXT_NODE, m->node_key));
    json_object_object_add(o, "blocksIncomingConnections", json_object_new_boolean(false));
    json_object_object_add(o, "tags", api_strlist(&m->tags));
    json_object_object_add(o, "tailnetLockError", json_object_new_string(""));
    json_object_object_add(o, "tailnetLockKey", json_object_new_string(""));
    if (all) {
        struct json_object *cc = json_object_new_object();
        json_object_object_add(cc, "endpoints", api_strlist(&m->endpoints));
        char derp[32] = "";
        if (m->home_derp)
            snprintf(derp, sizeof derp, "%d", m->home_derp);
        json_object_object_add(cc, "derp", json_object_new_string(derp));
        json_object_object_add(o, "clientConnectivity", cc);
        json_object_object_add(o, "ephemeral", json_object_new_boolean(m->ephemeral));
    }
    return o;
}

static bool fields_all(struct api_call *k)
{
    const char *q = http_req_query(k->req);
    for (const char *p = q; p && *p;) {
        size_t n = strcspn(p, "&");
        if (n == 10 && !strncmp(p, "fields=all", 10))
            return true;
        p += n + (p[n] == '&');
    }
    return false;
}

void api_devices_list(struct api_call *k)
{
    bool all = fields_all(k);
    struct json_object *a = json_object_new_array(), *o = json_object_new_object();
    for (size_t i = 0; i < k->c->nnodes; i++)
        json_object_array_add(a, device(k->c, k->c->nodes[i], all));
    json_object_object_add(o, "devices", a);
    api_reply(k, 200, o);
}

static struct cnode *device_arg(struct api_call *k)
{
    struct cnode *n = ops_find_node(k->c, k->arg);
    if (!n)
        api_error(k, 404, "device not found: %.100s", k->arg);
    return n;
}

void api_device_get(struct api_call *k)
{
    struct cnode *n = device_arg(k);
    if (n)
        api_reply(k, 200, device(k->c, n, fields_all(k)));
}

static void done(struct api_call *k, int st, const char *err)
{
    if (st == 200)
        api_reply(k, 200, NULL);
    else
        api_error(k, st, "%s", err);
}

void api_device_delete(struct api_call *k)
{
    char err[512];
    struct cnode *n = device_arg(k);
    if (n)
        done(k, ops_node_delete(k->c, n, "api", err, sizeof err), err);
}

void api_device_expire(struct api_call *k)
{
    char err[512];
    struct cnode *n = device_arg(k);
    if (n)
        done(k, ops_node_expire(k->c, n, "api", err, sizeof err), err);
}

/* A node is authorized once registered (weft has no approval step after registration), so authorizing is
 * a no-op; taking authorization away is not something weft does (expire or delete the device). */
void api_device_authorized(struct api_call *k)
{
    bool bad = false;
    struct json_object *v = api_member(k, "authorized", json_type_boolean, &bad);
    struct cnode *n = device_arg(k);
    if (!n)
        return;
    if (!v) {
        api_error(k, 400, "want {\"authorized\": true|false}");
    } else if (!json_object_get_boolean(v)) {
        api_error(k, 501, "weft does not deauthorize devices: expire its key (POST /api/v2/device/%s/expire) "
                  "or delete it", n->m.stable_id);
    } else {
        api_reply(k, 200, NULL);
    }
}

/* {"name": "NAME"}: the MagicDNS label; a full name in the tailnet's domain is taken too. */
void api_device_name(struct api_call *k)
{
    bool bad = false;
    char err[512], label[256];
    struct json_object *v = api_member(k, "name", json_type_string, &bad);
    struct cnode *n = device_arg(k);
    if (!n)
        return;
    if (!v) {
        api_error(k, 400, "want {\"name\": \"NAME\"}");
        return;
    }
    snprintf(label, sizeof label, "%s", json_object_get_string(v));
    size_t l = strlen(label);
    if (l && label[l - 1] == '.')
        label[--l] = 0;
    const char *bd = k->c->conf->dns.base_domain;
    size_t bl = bd ? strlen(bd) : 0;
    if (bl && l > bl + 1 && label[l - bl - 1] == '.' && !strcmp(label + l - bl, bd))
        label[l - bl - 1] = 0;
    done(k, ops_node_rename(k->c, n, label, "api", err, sizeof err), err);
}

void api_device_tags(struct api_call *k)
{
    bool bad = false;
    char err[512];
    struct json_object *v = api_member(k, "tags", json_type_array, &bad);
    struct cnode *n = device_arg(k);
    if (!n)
        return;
    if (!v) {
        api_error(k, 400, "want {\"tags\": [\"tag:NAME\", ...]}");
        return;
    }
    struct model_strlist tags = {0};
    int st = ops_tags_from_json(v, &tags, err, sizeof err);
    if (st == 200)
        st = ops_node_set_tags(k->c, n, &tags, "api", err, sizeof err);
    model_strlist_free(&tags);
    done(k, st, err);
}

/* GET|POST /device/{id}/routes: Tailscale's {"advertisedRoutes": [...], "enabledRoutes": [...]}, enabled
 * being the approved list (a route approved before it is advertised waits for it, as on Tailscale). POST
 * {"routes": [...]} replaces the approved list through ops_node_approve_routes, as `weft nodes
 * approve-routes` does: stored, primaries elected again, peers told. */
void api_device_routes(struct api_call *k)
{
    struct cnode *n = device_arg(k);
    if (!n)
        return;
    if (!strcmp(http_req_method(k->req), "POST")) {
        bool bad = false;
        char err[512];
        struct json_object *v = api_member(k, "routes", json_type_array, &bad);
        if (!v) {
            api_error(k, 400, "want {\"routes\": [\"PREFIX\", ...]} (the whole list; empty approves none)");
            return;
        }
        int st = ops_node_approve_routes(k->c, n, v, "api", err, sizeof err);
        if (st != 200) {
            api_error(k, st, "%s", err);
            return;
        }
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "advertisedRoutes", api_strlist(&n->m.routes_advertised));
    json_object_object_add(o, "enabledRoutes", api_strlist(&n->m.routes_approved));
    api_reply(k, 200, o);
}

/* weft's POST /weft/device/{id}/user {"user": "LOGIN NAME or ID"}: moves the device to another user
 * (Tailscale's API has no such call: its devices belong to whoever logged them in). */
void api_weft_device_user(struct api_call *k)
{
    bool bad = false;
    char err[512], *e;
    struct json_object *v = api_member(k, "user", json_type_string, &bad);
    struct cnode *n = device_arg(k);
    if (!n)
        return;
    if (!v) {
        api_error(k, 400, "want {\"user\": \"LOGIN NAME or ID\"}");
        return;
    }
    const char *ref = json_object_get_string(v);
    long long id = strtoll(ref, &e, 10);
    const struct model_user *to = NULL;
    for (size_t i = 0; i < k->c->nusers && !to; i++)
        if ((*ref && !*e && k->c->users[i].id == id) || !strcmp(k->c->users[i].name, ref))
            to = &k->c->users[i];
    if (!to) {
        api_error(k, 404, "user not found: %.100s", ref);
        return;
    }
    done(k, ops_node_move(k->c, n, to->id, "api", err, sizeof err), err);
}
