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

# --- ctrlapp: registration, maps and fan-out, admin socket and verbs ---
control_app_sources = \
	modules/control/ctrl.c modules/control/ctrl.h \
	modules/control/mapper.c modules/control/fanout.c \
	modules/control/register.c modules/control/poll.c
# provisional until branch `store` lands (it defines control_store_sources)
control_store_sources_ctrlapp = \
	modules/control/model.c modules/control/model.h \
	modules/control/store.c modules/control/store.h \
	modules/control/store_sqlite.c \
	modules/control/ipalloc.c modules/control/ipalloc.h \
	modules/control/naming.c modules/control/naming.h \
	modules/control/authkey.c modules/control/authkey.h
control_sources += $(control_app_sources) $(control_store_sources_ctrlapp)
check_PROGRAMS += t/unit/test_control
TESTS += t/unit/test_control
t_unit_test_control_SOURCES = t/unit/test_control.c $(control_app_sources) $(control_store_sources_ctrlapp)
# per-target flags: the same sources are built for the module (libtool) and for the test
t_unit_test_control_CFLAGS = $(AM_CFLAGS)
