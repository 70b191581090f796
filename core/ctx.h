// SPDX-License-Identifier: BSD-3-Clause
/* What a module sees of the running process: its loop, its state directory, shared listeners, and the small
 * named interfaces that modules offer each other (e.g. control answers derp's "is this node key admitted?"). */
#ifndef WEFT_CTX_H
#define WEFT_CTX_H

#include <stddef.h>

#include "core/module.h"

struct loop;
struct http_server;
struct metrics;

struct loop *weft_loop(struct weft_ctx *ctx);

struct tls_conf;

/* The HTTP server listening on addr ("127.0.0.1:8080", "[::]:443"), with TLS when tls gives a certificate
 * (files, or ACME: see core/tls.h). Shared: modules that ask for the same address get the same server and hang
 * their own paths on it (single-box control + derp on one port). tls must stay valid while the process runs
 * (a member of the module's config): on SIGHUP the core re-reads the certificate files it names, or follows
 * its ACME settings, after the modules' reloads. The core closes the server at shutdown and frees it after every
 * module's finish. NULL and a message in err on failure (address in use, bad certificate, the address asked
 * for with another certificate). */
struct http_server *weft_http(struct weft_ctx *ctx, const char *addr, const struct tls_conf *tls, char *err,
                              size_t errlen);

/* 1 if the module's key was set by the configuration file or -o, 0 if it has its default (as loaded at
 * start): e.g. derp follows control's listeners unless derp.listen was given. */
int weft_conf_is_set(struct weft_instance *inst, const char *key);

/* The process's metrics registry (core/metrics.h): a module adds its collector at init or start and
 * removes it at finish; /metrics on the metrics listener shows them all. */
struct metrics *weft_metrics(struct weft_ctx *ctx);

/* A listener serving the registry's /metrics and nothing else (metrics_listen, derp.metrics_listen): the
 * same address asked for twice is one listener; an address that is a role's listener (control.listen, the
 * relay's, in a single box too) is refused either way round, so that /metrics never reaches a public port.
 * NULL and a message in err on failure. */
struct http_server *weft_metrics_http(struct weft_ctx *ctx, const char *addr, char *err, size_t errlen);

/* The state directory (created 0700 before any module's init). */
const char *weft_state_dir(struct weft_ctx *ctx);

/* state_dir/name into buf; returns buf, or NULL if it doesn't fit. */
char *weft_state_path(struct weft_ctx *ctx, const char *name, char *buf, size_t len);

/* Offer an interface under a name (one per name); another module finds it with weft_service_get. 0 or -1. */
int weft_service_put(struct weft_ctx *ctx, const char *name, void *iface);
void *weft_service_get(struct weft_ctx *ctx, const char *name);

/* The iface of the loaded module of that name (a plugin's interface, see struct weft_module), or NULL. */
const void *weft_plugin_iface(struct weft_ctx *ctx, const char *module);

/* 1 while the process runs the named module (e.g. derp asks whether control is here too). */
int weft_runs(struct weft_ctx *ctx, const char *module);

/* Begin a graceful shutdown, as SIGTERM does. */
void weft_shutdown(struct weft_ctx *ctx);

/* 1 once shutdown has begun. */
int weft_stopping(struct weft_ctx *ctx);

#endif
