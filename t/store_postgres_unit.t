#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The store's unit tests (t/unit/test_store, test_naming, test_authkey), which make check runs on SQLite,
# run again against a real PostgreSQL server started here: one test source covers both backends.
. "$WEFT_SRCDIR/t/lib.sh"
. "$WEFT_SRCDIR/t/pg_lib.sh"
pg_need
B=${WEFT_BUILDDIR:-$WEFT_SRCDIR}
for t in test_store test_naming test_authkey; do
    [ -x "$B/t/unit/$t" ] || skip_all "t/unit/$t is not built"
done
pg_start || { plan 1; ok 1 "PostgreSQL starts"; exit 1; }
export WEFT_TEST_PG_DSN=$PG_ADMIN_DSN
# (the plan is printed at the end, by done_testing)
for t in test_store test_naming test_authkey; do
    out=$(TMPDIR=$TMP "$B/t/unit/$t" 2>&1); rc=$?
    # the unit test's own TAP, indented as a subtest
    printf '%s\n' "$out" | sed 's/^/    /'
    nok=$(printf '%s\n' "$out" | grep -c '^not ok')
    nall=$(printf '%s\n' "$out" | grep -c '^ok')
    ok $((rc != 0 || nok != 0 || nall == 0)) "$t against PostgreSQL: $nall passed, $nok failed"
done
done_testing
