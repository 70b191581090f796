# SPDX-License-Identifier: BSD-3-Clause
# core/json: fragment of the top Makefile.am (paths from the top)
# The control protocol's JSON (tailcfg): typed structs, json-c based parsing, Go-compatible emitting.
libweftcore_la_SOURCES += \
	core/json/json_util.c core/json/json_util.h \
	core/json/jbuf.c core/json/jbuf.h \
	core/json/tailcfg.h core/json/tailcfg_parse.c core/json/tailcfg_emit.c

check_PROGRAMS += t/unit/test_json_util t/unit/test_tailcfg
TESTS += t/unit/test_json_util t/unit/test_tailcfg
EXTRA_DIST += t/data/captures t/data/tailcfg

FUZZ_TARGETS += fuzz_control_json
EXTRA_DIST += t/fuzz/corpus/fuzz_control_json

BENCHES += bench/bench_json
