// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/control/api/api.h"
#include "modules/control/ctrl.h"
#include "modules/control/login/login.h"

/* weft's GET /weft/console/login-methods, answered without credentials: what the web console's login page
 * offers besides an API key. {"apiKey": true, "oidc": {"url": "/admin/login/oidc", "label": ...}} with the
 * "oidc" member only when an OpenID provider is configured and its plugin loaded (login/). It tells nothing
 * a visitor could not learn by following the link. */
void api_console_login_methods(struct api_call *k)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "apiKey", json_object_new_boolean(true));
    if (k->c->login && login_active(k->c->login)) {
        struct json_object *oi = json_object_new_object();
        json_object_object_add(oi, "url", json_object_new_string("/admin/login/oidc"));
        json_object_object_add(oi, "label", json_object_new_string("Log in with single sign-on"));
        json_object_object_add(o, "oidc", oi);
    }
    api_reply(k, 200, o);
}
