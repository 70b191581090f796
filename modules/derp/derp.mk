# modules/derp: the DERP relay and STUN server (fragment of the top Makefile.am)
derp_sources = modules/derp/module.c modules/derp/derp.h
if BUILTIN_MODULES
noinst_LTLIBRARIES += modules/derp/libmod_derp.la
modules_derp_libmod_derp_la_SOURCES = $(derp_sources)
BUILTIN_MODULE_LIBS += modules/derp/libmod_derp.la
BUILTIN_MODULE_NAMES += derp
else
pkglib_LTLIBRARIES += modules/derp/derp.la
modules_derp_derp_la_SOURCES = $(derp_sources)
modules_derp_derp_la_LDFLAGS = $(module_ldflags)
endif
