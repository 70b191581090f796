# SPDX-License-Identifier: BSD-3-Clause
# bench/: benchmarks that print figures (fragment of the top Makefile.am; included last).
# A part adds `BENCHES += bench/bench_NAME`. They build with `make`; `make bench` runs them.
noinst_PROGRAMS += $(BENCHES)
bench: $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; ./$$b || exit 1; done
.PHONY: bench
