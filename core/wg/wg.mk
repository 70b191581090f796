# core/wg: fragment of the top Makefile.am (paths from the top)
libweftcore_la_SOURCES += \
	core/wg/constants.h core/wg/errors.h core/wg/messages.h \
	core/wg/replay.c core/wg/replay.h \
	core/wg/tai64n.c core/wg/tai64n.h \
	core/wg/timers.c core/wg/timers.h \
	core/wg/cookie.c core/wg/cookie.h \
	core/wg/noise.c core/wg/noise.h \
	core/wg/transport.c core/wg/transport.h

check_PROGRAMS += t/unit/test_wg_replay t/unit/test_wg_timers t/unit/test_wg_noise
TESTS += t/unit/test_wg_replay t/unit/test_wg_timers t/unit/test_wg_noise

FUZZ_TARGETS += fuzz_wg_handshake fuzz_wg_transport
EXTRA_DIST += t/fuzz/corpus/fuzz_wg_handshake t/fuzz/corpus/fuzz_wg_transport

BENCHES += bench/bench_wg
