# modules/control: fragment of the top Makefile.am (paths from the top)

# --- store: the control role's model and storage (users, nodes, pre-auth keys), addresses, names ---
control_store_sources = \
	modules/control/model.c modules/control/model.h \
	modules/control/store.c modules/control/store.h \
	modules/control/store_sqlite.c \
	modules/control/ipalloc.c modules/control/ipalloc.h \
	modules/control/naming.c modules/control/naming.h \
	modules/control/authkey.c modules/control/authkey.h
# The module's part of this fragment defines control_sources; once it is on this branch, uncomment:
# control_sources += $(control_store_sources)
check_PROGRAMS += t/unit/test_store t/unit/test_ipalloc t/unit/test_naming t/unit/test_authkey
TESTS += t/unit/test_store t/unit/test_ipalloc t/unit/test_naming t/unit/test_authkey
t_unit_test_store_SOURCES = t/unit/test_store.c $(control_store_sources)
t_unit_test_ipalloc_SOURCES = t/unit/test_ipalloc.c modules/control/ipalloc.c modules/control/ipalloc.h
t_unit_test_naming_SOURCES = t/unit/test_naming.c $(control_store_sources)
t_unit_test_authkey_SOURCES = t/unit/test_authkey.c $(control_store_sources)
FUZZ_TARGETS += fuzz_naming
EXTRA_DIST += t/fuzz/corpus/fuzz_naming
BENCHES += bench/bench_store
bench_bench_store_SOURCES = bench/bench_store.c $(control_store_sources)
