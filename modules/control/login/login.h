// SPDX-License-Identifier: BSD-3-Clause
/* Control's side of interactive login (login.c): the routes a browser is sent to, the console's sessions.
 * The provider's interface, which plugins implement, is provider.h. */
#ifndef WEFT_CONTROL_LOGIN_H
#define WEFT_CONTROL_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "modules/control/login/provider.h"

#define LOGIN_SESSION_COOKIE "weft_session"
#define LOGIN_CSRF_COOKIE "weft_csrf"

struct ctrl;
struct login;
struct http_req;
struct http_server;
struct weft_instance;

/* The login set up from control.oidc.*: NULL with err "" when not configured, NULL with a message on failure
 * (no provider plugin loaded, the provider refused the settings). */
struct login *login_open(struct weft_instance *inst, struct ctrl *c, char *err, size_t errlen);
/* /admin/login/oidc, /oidc/callback, /admin/logout on srv. 0 or -1. */
int login_routes(struct login *l, struct http_server *srv);
void login_free(struct login *l);
bool login_active(const struct login *l);
/* Answer a browser at the AuthURL of the pending registration authid: off to the provider. */
void login_begin_node(struct login *l, struct http_req *req, const char *authid);
/* For the API: 0 if req carries no session cookie; 1 if its session is valid (and, for a method other than
 * GET/HEAD, it carries the session's X-CSRF-Token), "session:USER" into who; -1 if not, why set. */
int login_session_check(struct login *l, struct http_req *req, char *who, size_t wholen, const char **why);

#endif
