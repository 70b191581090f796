# SPDX-License-Identifier: BSD-3-Clause
# modules/derp: the DERP relay and STUN server (fragment of the top Makefile.am)
derp_sources = modules/derp/module.c modules/derp/derp.h \
	modules/derp/server.c modules/derp/server.h \
	modules/derp/admit.c modules/derp/mesh.c \
	modules/derp/stun_server.c modules/derp/metrics.c modules/derp/ws.c
if BUILTIN_MODULES
noinst_LTLIBRARIES += modules/derp/libmod_derp.la
modules_derp_libmod_derp_la_SOURCES = $(derp_sources)
BUILTIN_MODULE_LIBS += modules/derp/libmod_derp.la
BUILTIN_MODULE_NAMES += derp
else
pkglib_LTLIBRARIES += modules/derp/derp.la
modules_derp_derp_la_SOURCES = $(derp_sources)
modules_derp_derp_la_LDFLAGS = $(module_ldflags)
modules_derp_derp_la_LIBADD = $(JSONC_LIBS) $(SSL_LIBS) $(SODIUM_LIBS)
endif

# Tests: a DERP client tool the shell tests drive, and the shell tests against the real binary.
check_PROGRAMS += t/tools/derpc
t_tools_derpc_SOURCES = t/tools/derpc.c
TESTS += t/derp_relay.t t/derp_mesh.t t/derp_verify.t t/derp_faults.t t/derp_idle.t
EXTRA_DIST += t/derp_relay.t t/derp_lib.sh t/derp_mesh.t t/derp_verify.t t/derp_faults.t t/derp_idle.t

# The load generator: N sender->receiver pairs through a real relay, and RSS per idle connection.
BENCHES += bench/bench_derp

check_PROGRAMS += t/unit/test_derp_client
TESTS += t/unit/test_derp_client
TESTS += t/derp_tls.t
EXTRA_DIST += t/derp_tls.t
TESTS += t/derp_limits.t
EXTRA_DIST += t/derp_limits.t
TESTS += t/derp_backpressure.t t/derp_mesh_auth.t
EXTRA_DIST += t/derp_backpressure.t t/derp_mesh_auth.t
# The relay's share of the fault suite (issue 10 item 11).
TESTS += t/faults/derp_sigstop.t t/faults/derp_slowloris.t
EXTRA_DIST += t/faults/derp_sigstop.t t/faults/derp_slowloris.t

# Fuzzing: the relay's WebSocket framing (ws.c, which the target includes: rebuild it when ws.c changes).
FUZZ_TARGETS += fuzz_derp_ws
if HAVE_LIBFUZZER
t/fuzz/fuzz_derp_ws: $(srcdir)/modules/derp/ws.c
endif
EXTRA_DIST += t/fuzz/corpus/fuzz_derp_ws
