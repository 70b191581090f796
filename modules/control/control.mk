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

# the control channel, server end: /key, /ts2021, Noise responder, HTTP/2 handler table
control_sources += modules/control/channel.c modules/control/channel.h modules/control/channel_module.c
check_PROGRAMS += t/unit/test_channel t/tools/ctlc
t_unit_test_channel_SOURCES = t/unit/test_channel.c modules/control/channel.c
t_unit_test_channel_CFLAGS = $(AM_CFLAGS) # own objects: channel.c is also in the module
TESTS += t/unit/test_channel t/control-channel.t
EXTRA_DIST += t/control-channel.t
FUZZ_TARGETS += fuzz_control_h2
EXTRA_DIST += t/fuzz/corpus/fuzz_control_h2
BENCHES += bench/bench_channel
bench_bench_channel_SOURCES = bench/bench_channel.c modules/control/channel.c
bench_bench_channel_CFLAGS = $(AM_CFLAGS)
