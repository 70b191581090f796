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
