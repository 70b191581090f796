// SPDX-License-Identifier: BSD-3-Clause
/* What `weft serve` loads. The whole configuration is checked as `weft check-config` checks it, with every
 * module found loaded, but in a child process: the daemon itself then loads only its roles and the plugins
 * they use. A plugin for another role (store_postgres: libpq, and behind it LDAP, GnuTLS and p11-kit, which
 * stays mapped once loaded) and the other roles' modules never enter it, nor their allocations. */
#ifndef WEFT_SERVE_PLAN_H
#define WEFT_SERVE_PLAN_H

#include <stddef.h>

struct weft_cli;

/* The roles to run: named (nnamed of them), else the configuration's `roles`. On success the modules
 * needed are in cli->modules (the others remembered as skipped: their sections are accepted unchecked),
 * the configuration is loaded, and *roles holds *nroles malloc'ed names (the caller frees them). Returns 0,
 * or the exit status with the messages written to stderr: 1 (configuration or system), 2 (roles). */
int serve_plan(struct weft_cli *cli, const char *const *named, size_t nnamed, char ***roles, size_t *nroles);

#endif
