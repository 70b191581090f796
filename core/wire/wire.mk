# SPDX-License-Identifier: BSD-3-Clause
# core/wire: fragment of the top Makefile.am (paths from the top)
# Wire codecs: DERP frames, disco, STUN, the ts2021 upgrade + early payload, the map stream framing.
libweftcore_la_SOURCES += \
	core/wire/byteorder.h \
	core/wire/derp_frame.c core/wire/derp_frame.h \
	core/wire/disco.c core/wire/disco.h \
	core/wire/stun.c core/wire/stun.h \
	core/wire/ts2021.c core/wire/ts2021.h \
	core/wire/mapstream.c core/wire/mapstream.h \
	core/wire/dnsrec.c core/wire/dnsrec.h

check_PROGRAMS += t/unit/test_derp_frame t/unit/test_disco t/unit/test_stun t/unit/test_ts2021 t/unit/test_mapstream
TESTS += t/unit/test_derp_frame t/unit/test_disco t/unit/test_stun t/unit/test_ts2021 t/unit/test_mapstream

FUZZ_TARGETS += fuzz_derp_frame fuzz_disco fuzz_stun fuzz_ts2021_upgrade fuzz_mapstream
EXTRA_DIST += t/fuzz/corpus/fuzz_derp_frame t/fuzz/corpus/fuzz_disco t/fuzz/corpus/fuzz_stun \
	t/fuzz/corpus/fuzz_ts2021_upgrade t/fuzz/corpus/fuzz_mapstream

BENCHES += bench/bench_wire
