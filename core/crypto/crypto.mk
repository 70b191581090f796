# core/crypto: fragment of the top Makefile.am (paths from the top)
libweftcore_la_SOURCES += \
	core/crypto/blake2s.c core/crypto/blake2s.h \
	core/crypto/kdf.c core/crypto/kdf.h

check_PROGRAMS += t/unit/test_blake2s
TESTS += t/unit/test_blake2s
