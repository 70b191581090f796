# SPDX-License-Identifier: BSD-3-Clause
# t/: TAP tests (fragment of the top Makefile.am). C unit tests link libweftcore.la (LDADD).
EXTRA_DIST += t/tap.h t/lib.sh t/policy_node.h
check_PROGRAMS += t/unit/test_config
TESTS += t/unit/test_config

# Shell tests that start the real binary.
TESTS += t/cli.t t/cli-server.t t/completion.t t/metrics.t t/modules.t t/serve.t t/spdx.t t/install.t t/package.t \
	t/singlebox.t t/reload.t t/acme.t
EXTRA_DIST += t/cli.t t/cli-server.t t/completion.t t/metrics.t t/modules.t t/serve.t t/spdx.t t/install.t \
	t/package.t t/singlebox.t t/reload.t t/acme.t

# Modules the loader must refuse (built as real shared objects, never installed).
check_LTLIBRARIES = t/modules/badabi.la t/modules/notamodule.la
t_modules_badabi_la_SOURCES = t/modules/badabi.c
t_modules_badabi_la_LDFLAGS = $(module_ldflags) -rpath /nowhere
t_modules_notamodule_la_SOURCES = t/modules/notamodule.c
t_modules_notamodule_la_LDFLAGS = $(module_ldflags) -rpath /nowhere

# What tests leave in the build tree beyond their .log/.trs (t/console.t's screenshots): `make clean`
# removes it, or distcheck's distcleancheck finds it and fails. (clean-fuzz: t/fuzz/fuzz.mk's objects; one
# clean-local for both, as automake wants one definition.)
clean-local: clean-test-artifacts clean-fuzz
clean-test-artifacts:
	rm -rf t/console-artifacts
.PHONY: clean-test-artifacts
