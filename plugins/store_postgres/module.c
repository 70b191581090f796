// SPDX-License-Identifier: BSD-3-Clause
/* store_postgres: control's storage on PostgreSQL (control.database: postgres://...). A plugin, not a role:
 * its iface is the store_ops table control registers when it finds the plugin loaded (modules/control/app.c,
 * and `weft db migrate`). Built when configure finds libpq (Debian: libpq-dev). */
#include "config.h"

#include "core/module.h"
#include "plugins/store_postgres/pg.h"

static const struct cfg_key pg_keys[] = {CFG_END};

WEFT_MODULE(store_postgres) = {
    .abi = WEFT_ABI_VERSION,
    .name = "store_postgres",
    .version = WEFT_VERSION,
    .summary = "PostgreSQL storage for control (control.database: postgres://...)",
    .keys = pg_keys,
    .conf_size = 0,
    .is_role = 0,
    .serves = "control",
    .iface = &pg_store_ops,
};
