// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

/* Users: GET /tailnet/{t}/users, GET /users/{id} (Tailscale's shape; {id} is the numeric ID or the login
 * name), and weft's POST /weft/users {"loginName": ...} (Tailscale's users come from its identity
 * providers; weft's are made by an admin). Every weft user is a member; roles are not modelled. */

static struct json_object *user_obj(struct ctrl *c, const struct model_user *u)
{
    struct json_object *o = json_object_new_object();
    char id[24];
    size_t devices = 0;
    int64_t last = 0;
    bool online = false;
    for (size_t i = 0; i < c->nnodes; i++) {
        const struct model_node *m = &c->nodes[i]->m;
        if (m->user_id != u->id)
            continue;
        devices++;
        online |= m->online;
        if (m->last_seen > last)
            last = m->last_seen;
    }
    snprintf(id, sizeof id, "%lld", (long long)u->id);
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "displayName", json_object_new_string(u->display_name[0] ? u->display_name : u->name));
    json_object_object_add(o, "loginName", json_object_new_string(u->name));
    json_object_object_add(o, "profilePicUrl", json_object_new_string(""));
    json_object_object_add(o, "tailnetId", json_object_new_string(c->conf->dns.base_domain ? c->conf->dns.base_domain : ""));
    json_object_object_add(o, "created", api_time(u->created));
    json_object_object_add(o, "type", json_object_new_string("member"));
    json_object_object_add(o, "role", json_object_new_string("member"));
    json_object_object_add(o, "status", json_object_new_string("active"));
    json_object_object_add(o, "deviceCount", json_object_new_int64((int64_t)devices));
    json_object_object_add(o, "lastSeen", api_time(last));
    json_object_object_add(o, "currentlyConnected", json_object_new_boolean(online));
    return o;
}

void api_users_list(struct api_call *k)
{
    struct json_object *a = json_object_new_array(), *o = json_object_new_object();
    for (size_t i = 0; i < k->c->nusers; i++)
        json_object_array_add(a, user_obj(k->c, &k->c->users[i]));
    json_object_object_add(o, "users", a);
    api_reply(k, 200, o);
}

void api_user_get(struct api_call *k)
{
    char *e;
    long long id = strtoll(k->arg, &e, 10);
    for (size_t i = 0; i < k->c->nusers; i++) {
        const struct model_user *u = &k->c->users[i];
        if ((!*e && u->id == id) || !strcmp(u->name, k->arg)) {
            api_reply(k, 200, user_obj(k->c, u));
            return;
        }
    }
    api_error(k, 404, "user not found: %.100s", k->arg);
}

void api_weft_users_create(struct api_call *k)
{
    bool bad = false;
    struct json_object *n = api_member(k, "loginName", json_type_string, &bad);
    struct model_user u;
    memset(&u, 0, sizeof u);
    if (!n || !json_object_get_string_len(n) || model_strlcpy(u.name, json_object_get_string(n), sizeof u.name)) {
        api_error(k, 400, "want {\"loginName\": \"NAME\"} (1-%d bytes)", MODEL_USER_NAME_MAX);
        return;
    }
    int rc = store_user_create(k->c->store, &u);
    if (rc) {
        api_error(k, rc == STORE_CONFLICT ? 409 : 500, "%s",
                  rc == STORE_CONFLICT ? "that user exists" : store_errmsg(k->c->store));
        return;
    }
    ctrl_users_reload(k->c);
    log_info("module=control event=api action=user_create user=%s id=%lld by=%s", u.name, (long long)u.id, k->who);
    const struct model_user *m = ctrl_user(k->c, u.id);
    api_reply(k, 200, user_obj(k->c, m ? m : &u));
}
