// SPDX-License-Identifier: BSD-3-Clause
/* The control role's module glue (app.c) and admin socket (admin.c). */
#ifndef WEFT_CONTROL_APP_H
#define WEFT_CONTROL_APP_H

#include <stddef.h>

struct weft_instance;
struct http_server;
struct app;
struct ctrl;

/* init hook: opens the store (migrating it) and builds the in-memory state. 0 or -1. */
int app_init(struct weft_instance *inst);
/* After channel_start on srv: routes /register/<id> and /verify there, /machine/register and /machine/map
 * in the channel. 0 or -1. */
int app_start(struct weft_instance *inst, struct http_server *srv);
/* The admin socket ($RUNTIME_DIRECTORY or state_dir, then admin_socket; mode 0660). 0 or -1. */
int app_start_admin(struct weft_instance *inst);
void app_stop(struct weft_instance *inst);
int app_drained(struct weft_instance *inst);
void app_finish(struct weft_instance *inst);
struct app *app_of(struct weft_instance *inst);
struct ctrl *app_ctrl(struct app *a);

/* admin.c: HTTP with JSON over a unix socket for `weft users|authkeys|nodes`. */
struct http_server *admin_listen(struct weft_instance *inst, struct ctrl *c);
/* The admin socket's path: control.admin_socket (default control.sock), relative to dir. */
int admin_socket_path(const char *dir, const char *admin_socket, char *out, size_t len);

/* verbs.c: the CLI verbs (users, authkeys, nodes). */
extern const struct weft_verb control_verbs[];

#endif
