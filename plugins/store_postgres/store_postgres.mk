# SPDX-License-Identifier: BSD-3-Clause
# plugins/store_postgres: control's storage on PostgreSQL (libpq). Optional: built when configure finds libpq.
store_postgres_sources = \
	plugins/store_postgres/pg.h plugins/store_postgres/pg_conn.c plugins/store_postgres/pg_ops.c plugins/store_postgres/pg_feed.c \
	plugins/store_postgres/pg_schema.c
EXTRA_DIST += $(store_postgres_sources) plugins/store_postgres/module.c
EXTRA_DIST += t/unit/store_backend.h t/pg_lib.sh t/store_postgres_unit.t t/store_postgres.t t/control_ha.t t/control_ha_pending.t t/control_ha_failover.t t/control_ha_pgrestart.t t/control_ha_login.t t/control_ha_oidc.t \
	bench/control_ha.sh
# t/store_postgres_unit.t runs the store's unit tests again against a real PostgreSQL server (they skip
# that part when the plugin is not built).
TESTS += t/store_postgres_unit.t t/store_postgres.t t/control_ha.t t/control_ha_pending.t t/control_ha_failover.t t/control_ha_pgrestart.t t/control_ha_login.t t/control_ha_oidc.t
if HAVE_PQ
t_unit_test_store_SOURCES += $(store_postgres_sources)
t_unit_test_store_LDADD = $(LDADD) $(PQ_LIBS)
t_unit_test_naming_SOURCES += $(store_postgres_sources)
t_unit_test_naming_LDADD = $(LDADD) $(PQ_LIBS)
t_unit_test_authkey_SOURCES += $(store_postgres_sources)
t_unit_test_authkey_LDADD = $(LDADD) $(PQ_LIBS)
if BUILTIN_MODULES
# Linked in next to control, whose model and store helpers it shares.
noinst_LTLIBRARIES += plugins/store_postgres/libmod_store_postgres.la
plugins_store_postgres_libmod_store_postgres_la_SOURCES = plugins/store_postgres/module.c $(store_postgres_sources)
plugins_store_postgres_libmod_store_postgres_la_LIBADD = $(PQ_LIBS)
BUILTIN_MODULE_LIBS += plugins/store_postgres/libmod_store_postgres.la
BUILTIN_MODULE_NAMES += store_postgres
weft_LDADD += $(PQ_LIBS)
else
# A loaded module cannot see control's symbols (each is opened RTLD_LOCAL): it carries its own copy of the
# model and the store's helpers (stateless code; the backend table it registers is control's).
pkglib_LTLIBRARIES += plugins/store_postgres/store_postgres.la
plugins_store_postgres_store_postgres_la_SOURCES = plugins/store_postgres/module.c $(store_postgres_sources) \
	modules/control/model.c modules/control/store_util.c
plugins_store_postgres_store_postgres_la_LDFLAGS = $(module_ldflags)
plugins_store_postgres_store_postgres_la_LIBADD = $(PQ_LIBS) $(JSONC_LIBS) $(SODIUM_LIBS)
endif
endif
