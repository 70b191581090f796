# SPDX-License-Identifier: BSD-3-Clause
# core/crypto: fragment of the top Makefile.am (paths from the top)
libweftcore_la_SOURCES += \
	core/crypto/blake2s.c core/crypto/blake2s.h \
	core/crypto/kdf.c core/crypto/kdf.h \
	core/crypto/key.c core/crypto/key.h \
	core/crypto/box.c core/crypto/box.h \
	core/crypto/noise_ts2021.c core/crypto/noise_ts2021.h

check_PROGRAMS += t/unit/test_blake2s t/unit/test_key t/unit/test_noise_ts2021
TESTS += t/unit/test_blake2s t/unit/test_key t/unit/test_noise_ts2021

FUZZ_TARGETS += fuzz_ts2021_initiation fuzz_ts2021_response fuzz_ts2021_record fuzz_keytext
EXTRA_DIST += t/fuzz/corpus/fuzz_ts2021_initiation t/fuzz/corpus/fuzz_ts2021_response \
	t/fuzz/corpus/fuzz_ts2021_record t/fuzz/corpus/fuzz_keytext

BENCHES += bench/bench_crypto
