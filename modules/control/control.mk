# SPDX-License-Identifier: BSD-3-Clause
# modules/control: the coordination server (fragment of the top Makefile.am)
control_sources = modules/control/module.c modules/control/control.h
if BUILTIN_MODULES
noinst_LTLIBRARIES += modules/control/libmod_control.la
modules_control_libmod_control_la_SOURCES = $(control_sources)
BUILTIN_MODULE_LIBS += modules/control/libmod_control.la
BUILTIN_MODULE_NAMES += control
else
pkglib_LTLIBRARIES += modules/control/control.la
modules_control_control_la_SOURCES = $(control_sources)
modules_control_control_la_LDFLAGS = $(module_ldflags)
endif

# --- store: the control role's model and storage (users, nodes, pre-auth keys), addresses, names ---
control_store_sources = \
	modules/control/model.c modules/control/model.h \
	modules/control/store.c modules/control/store.h modules/control/store_util.c \
	modules/control/dsn.c modules/control/dsn.h \
	modules/control/store_sqlite/sq.h modules/control/store_sqlite/db.c modules/control/store_sqlite/users_keys.c \
	modules/control/store_sqlite/nodes.c modules/control/store_sqlite/admin.c modules/control/store_sqlite/pending.c modules/control/store_sqlite/login.c \
	modules/control/ipalloc.c modules/control/ipalloc.h \
	modules/control/naming.c modules/control/naming.h \
	modules/control/authkey.c modules/control/authkey.h
control_sources += $(control_store_sources)
if !BUILTIN_MODULES
# The loadable module needs these itself: the weft binary links only the libraries core/ uses.
modules_control_control_la_LIBADD = $(SQLITE3_LIBS) $(JSONC_LIBS) $(SODIUM_LIBS)
endif
check_PROGRAMS += t/unit/test_store t/unit/test_ipalloc t/unit/test_naming t/unit/test_authkey
TESTS += t/unit/test_store t/unit/test_ipalloc t/unit/test_naming t/unit/test_authkey
# The tests and the bench compile these sources themselves (the module's objects are libtool ones);
# per-target CFLAGS give their objects distinct names.
t_unit_test_store_SOURCES = t/unit/test_store.c $(control_store_sources)
t_unit_test_store_CFLAGS = $(AM_CFLAGS)
t_unit_test_ipalloc_CFLAGS = $(AM_CFLAGS)
t_unit_test_naming_CFLAGS = $(AM_CFLAGS)
t_unit_test_authkey_CFLAGS = $(AM_CFLAGS)
bench_bench_store_CFLAGS = $(AM_CFLAGS)
t_unit_test_ipalloc_SOURCES = t/unit/test_ipalloc.c modules/control/ipalloc.c modules/control/ipalloc.h
t_unit_test_naming_SOURCES = t/unit/test_naming.c $(control_store_sources)
t_unit_test_authkey_SOURCES = t/unit/test_authkey.c $(control_store_sources)
FUZZ_TARGETS += fuzz_naming fuzz_control_routes
EXTRA_DIST += t/fuzz/corpus/fuzz_naming t/fuzz/corpus/fuzz_control_routes
BENCHES += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c $(control_store_sources)

# --- ctrlproto ---
# the control channel, server end: /key, /ts2021, Noise responder, HTTP/2 handler table
control_sources += modules/control/channel.c modules/control/channel.h modules/control/channel_module.c
check_PROGRAMS += t/unit/test_channel t/tools/ctlc
t_unit_test_channel_SOURCES = t/unit/test_channel.c modules/control/channel.c
t_unit_test_channel_CFLAGS = $(AM_CFLAGS) # own objects: channel.c is also in the module
TESTS += t/unit/test_channel t/control-channel.t
EXTRA_DIST += t/control-channel.t
FUZZ_TARGETS += fuzz_control_h2
EXTRA_DIST += t/fuzz/corpus/fuzz_control_h2
FUZZ_TARGETS += fuzz_hostinfo
EXTRA_DIST += t/fuzz/corpus/fuzz_hostinfo
BENCHES += bench/bench_channel
bench_bench_channel_SOURCES = bench/bench_channel.c modules/control/channel.c
bench_bench_channel_CFLAGS = $(AM_CFLAGS)

# --- policy: Tailscale's policy file and its per-node compiler (modules/control/policy/) ---
control_policy_sources = \
	modules/control/policy/policy.h modules/control/policy/model.h modules/control/policy/engine.h \
	modules/control/policy/hujson.c modules/control/policy/hujson.h \
	modules/control/policy/netset.c modules/control/policy/netset.h \
	modules/control/policy/parse.c modules/control/policy/parse.h \
	modules/control/policy/parse_access.c modules/control/policy/parse_nodes.c \
	modules/control/policy/parse_tests.c modules/control/policy/alias.c \
	modules/control/policy/select.c modules/control/policy/engine.c modules/control/policy/rules.c \
	modules/control/policy/filter.c modules/control/policy/ssh.c \
	modules/control/policy/nodeattrs.c modules/control/policy/tests.c \
	modules/control/policy/via.c
check_PROGRAMS += t/unit/test_policy
TESTS += t/unit/test_policy
t_unit_test_policy_SOURCES = t/unit/test_policy.c $(control_policy_sources)
t_unit_test_policy_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGETS += fuzz_policy
EXTRA_DIST += t/fuzz/corpus/fuzz_policy
t/fuzz/fuzz_policy: $(filter %.c,$(control_policy_sources)) # it compiles them in
# policy-golden: the compiler against captures of Tailscale's own control plane (t/policy-golden.t)
check_PROGRAMS += t/tools/policy-golden
t_tools_policy_golden_SOURCES = t/tools/policy-golden.c $(control_policy_sources)
t_tools_policy_golden_CFLAGS = $(AM_CFLAGS)
TESTS += t/policy-golden.t
EXTRA_DIST += t/policy-golden.t t/data/tscap/tscap-dev.tar.xz t/data/tscap/README.md

# --- ctrlapp: registration, maps and fan-out, admin socket and verbs ---
control_app_sources = \
	modules/control/ctrl.c modules/control/ctrl.h \
	modules/control/nodeindex.c modules/control/nodeindex.h \
	modules/control/access.c modules/control/access.h \
	modules/control/mapper.c modules/control/fanout.c \
	modules/control/dnsconf.c modules/control/dnsconf.h \
	modules/control/dnsover.c modules/control/dnsover.h \
	modules/control/derpmap.c modules/control/derpmap.h \
	modules/control/register.c modules/control/poll.c modules/control/metrics.c \
	modules/control/pending.c modules/control/pending.h \
	modules/control/hostinfo.c modules/control/hostinfo.h \
	modules/control/routes.c modules/control/routes.h \
	modules/control/probe.c modules/control/probe.h \
	modules/control/cluster.c \
	$(control_policy_sources)
control_sources += $(control_app_sources) \
	modules/control/app.c modules/control/app.h modules/control/admin.c modules/control/verbs.c \
	modules/control/reload.c modules/control/ops.c modules/control/ops.h \
	modules/control/console.c modules/control/console.h modules/control/dbcopy.c
check_PROGRAMS += t/unit/test_control t/unit/test_pending t/unit/test_nodeindex
TESTS += t/unit/test_control t/unit/test_pending t/unit/test_nodeindex
t_unit_test_nodeindex_SOURCES = t/unit/test_nodeindex.c modules/control/nodeindex.c modules/control/nodeindex.h
t_unit_test_nodeindex_CFLAGS = $(AM_CFLAGS) # own objects: nodeindex.c is also in the module
t_unit_test_pending_SOURCES = t/unit/test_pending.c modules/control/pending.c modules/control/pending.h
t_unit_test_pending_CFLAGS = $(AM_CFLAGS) # own objects: pending.c is also in the module
t_unit_test_control_SOURCES = t/unit/test_control.c $(control_app_sources) $(control_store_sources)
t_unit_test_control_CFLAGS = $(AM_CFLAGS) # own objects: these sources are also in the module
if !BUILTIN_MODULES

endif
# end to end: the real binary, the CLI, and a test node on core/control_client
check_PROGRAMS += t/tools/tsnode
TESTS += t/control.t t/control-admin.t t/control-slow.t t/control-migrate.t t/control-relogin.t t/control-routes.t t/control-via.t t/control-login-restart.t
EXTRA_DIST += t/control.t t/control-admin.t t/control-slow.t t/control-migrate.t t/control-relogin.t t/control-routes.t t/control-via.t t/control-login-restart.t \
	t/data/control-schema-1
# bench/api_auth.sh: the cost of authenticating a REST API request (API key, OAuth access token; SQLite, PostgreSQL)
EXTRA_DIST += bench/api_auth.sh
BENCHES += bench/bench_control
bench_bench_control_SOURCES = bench/bench_control.c bench/bench_control.h bench/bench_control_policy.c $(control_app_sources) \
	$(control_store_sources)
bench_bench_control_CFLAGS = $(AM_CFLAGS)

# --- api: the REST API under /api/v2/ (issue 16): API keys, OAuth clients, devices, keys, users, DNS ---
control_api_sources = \
	modules/control/api/api.h modules/control/api/router.c modules/control/api/auth.c \
	modules/control/api/limit.c modules/control/api/limit.h modules/control/api/cred.c \
	modules/control/api/cred.h modules/control/api/parse.c modules/control/api/parse.h \
	modules/control/api/devices.c modules/control/api/keys.c modules/control/api/users.c \
	modules/control/api/dns.c modules/control/api/acl.c modules/control/api/derp.c modules/control/api/console.c modules/control/api/openapi.c
control_sources += $(control_api_sources)
# --- login: interactive login through a provider plugin (plugins/auth_oidc), the console's sessions ---
control_sources += modules/control/login/login.c modules/control/login/login.h \
	modules/control/login/provider.h
# openapi.json is written by hand and served as is; the build makes it a C string
if BUILTIN_MODULES
nodist_modules_control_libmod_control_la_SOURCES = modules/control/api/openapi_json.c
else
nodist_modules_control_control_la_SOURCES = modules/control/api/openapi_json.c
endif
BUILT_SOURCES += modules/control/api/openapi_json.c
CLEANFILES += modules/control/api/openapi_json.c
EXTRA_DIST += modules/control/api/openapi.json
modules/control/api/openapi_json.c: $(srcdir)/modules/control/api/openapi.json
	$(AM_V_GEN)mkdir -p $(@D) && { echo '// SPDX-License-Identifier: BSD-3-Clause'; \
	  echo '/* Generated from openapi.json by the build: do not edit. */'; \
	  echo 'extern const char api_openapi_json[];'; echo 'const char api_openapi_json[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $(srcdir)/modules/control/api/openapi.json; \
	  echo ';'; } > $@-t && mv $@-t $@
TESTS += t/api.t
EXTRA_DIST += t/api.t
FUZZ_TARGETS += fuzz_api_parse
EXTRA_DIST += t/fuzz/corpus/fuzz_api_parse

# --- console: the web admin console (issue 16), static files served at /admin/ (console.c), no build step ---
consoledir = $(pkgdatadir)/console
dist_console_DATA = modules/control/console/index.html modules/control/console/app.js \
	modules/control/console/style.css modules/control/console/favicon.svg
TESTS += t/console.t
EXTRA_DIST += t/console.t t/console.js t/console-oidc.js
FUZZ_TARGETS += fuzz_console_path
EXTRA_DIST += t/fuzz/corpus/fuzz_console_path
# the access policy end to end: the real binary, tsnode streams, reloads, weft policy get|set|check
TESTS += t/control-policy.t
EXTRA_DIST += t/control-policy.t
