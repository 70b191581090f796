# SPDX-License-Identifier: BSD-3-Clause
# t/fuzz/: libFuzzer targets (fragment of the top Makefile.am).
# A part adds a target with `FUZZ_TARGETS += fuzz_NAME`, its source t/fuzz/fuzz_NAME.c and a seed
# corpus in t/fuzz/corpus/fuzz_NAME/ (listed in EXTRA_DIST). `make fuzz` builds them all with clang
# against a clang-built copy of core/; `make check` builds them and runs each for a few seconds.
EXTRA_DIST += t/fuzz/run.t $(FUZZ_TARGETS:%=t/fuzz/%.c)
TESTS += t/fuzz/run.t
AM_TESTS_ENVIRONMENT += FUZZ_TARGETS='$(FUZZ_TARGETS)'; export FUZZ_TARGETS;

if HAVE_LIBFUZZER
FUZZ_BINS = $(FUZZ_TARGETS:%=t/fuzz/%)
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_CORE_OBJS = $(patsubst %.c,t/fuzz/obj/%.o,$(filter %.c,$(libweftcore_la_SOURCES)))

t/fuzz/obj/%.o: $(srcdir)/%.c config.h
	@mkdir -p $(@D)
	$(AM_V_CC)$(CLANG) $(FUZZ_CFLAGS) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) -c -o $@ $<

t/fuzz/libfuzzcore.a: $(FUZZ_CORE_OBJS)
	$(AM_V_AR)rm -f $@ && $(AR) cr $@ $(FUZZ_CORE_OBJS)

t/fuzz/fuzz_%: $(srcdir)/t/fuzz/fuzz_%.c t/fuzz/libfuzzcore.a
	$(AM_V_CCLD)$(CLANG) $(subst fuzzer-no-link,fuzzer,$(FUZZ_CFLAGS)) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
		-o $@ $< t/fuzz/libfuzzcore.a $(CORE_LIBS)

fuzz: $(FUZZ_BINS)
check_DATA += $(FUZZ_BINS)
CLEANFILES += $(FUZZ_BINS) t/fuzz/libfuzzcore.a
clean-fuzz:
	rm -rf t/fuzz/obj
else
clean-fuzz:
fuzz:
	@echo "make fuzz needs clang with libFuzzer: apt-get install clang"; exit 1
endif
.PHONY: fuzz clean-fuzz
