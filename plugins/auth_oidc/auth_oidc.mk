# SPDX-License-Identifier: BSD-3-Clause
# plugins/auth_oidc: OpenID Connect login for control (issue 16 part 2). Always a loadable module, also with
# --enable-builtin-modules: a weft without it carries no cjose; control finds it through
# LOGIN_PROVIDER_SERVICE (modules/control/login/provider.h) when control.oidc.issuer is set.
auth_oidc_sources = plugins/auth_oidc/oidc.c plugins/auth_oidc/idtoken.c plugins/auth_oidc/idtoken.h \
	plugins/auth_oidc/params.c plugins/auth_oidc/params.h
if HAVE_CJOSE
pkglib_LTLIBRARIES += plugins/auth_oidc/auth_oidc.la
plugins_auth_oidc_auth_oidc_la_SOURCES = $(auth_oidc_sources)
plugins_auth_oidc_auth_oidc_la_CPPFLAGS = $(AM_CPPFLAGS) $(CJOSE_CFLAGS)
plugins_auth_oidc_auth_oidc_la_LDFLAGS = $(module_ldflags)
plugins_auth_oidc_auth_oidc_la_LIBADD = $(CJOSE_LIBS) $(JSONC_LIBS) $(SODIUM_LIBS)
if HAVE_LIBFUZZER
FUZZ_TARGETS += fuzz_oidc
# the generic rule (t/fuzz/fuzz.mk) links core's libraries only: this one needs cjose too
t/fuzz/fuzz_oidc: $(srcdir)/t/fuzz/fuzz_oidc.c $(srcdir)/plugins/auth_oidc/idtoken.c $(srcdir)/plugins/auth_oidc/params.c \
		t/fuzz/libfuzzcore.a
	$(AM_V_CCLD)$(CLANG) $(subst fuzzer-no-link,fuzzer,$(FUZZ_CFLAGS)) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) \
		$(CJOSE_CFLAGS) $(CPPFLAGS) -o $@ $< t/fuzz/libfuzzcore.a $(CJOSE_LIBS) $(CORE_LIBS)
endif
else
EXTRA_DIST += $(auth_oidc_sources)
endif
EXTRA_DIST += t/fuzz/fuzz_oidc.c t/fuzz/corpus/fuzz_oidc
TESTS += t/oidc.t
EXTRA_DIST += t/oidc.t t/oidc/provider.mjs
