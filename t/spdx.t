#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Every source, script and build file carries its licence in an SPDX line near the top, and the
# licence text itself is present (a distribution needs both to ship weft).
. "$(dirname "$0")/lib.sh"

cd "$WEFT_SRCDIR" || exit 1
grep -q '^BSD 3-Clause License' LICENSE; ok $? "LICENSE holds the BSD-3-Clause text"

missing=$(find core modules plugins t bench conf .ci configure.ac Makefile.am \
        \( -path t/fuzz/corpus -o -path '*/.libs' -o -path '*/.deps' \) -prune -o -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.t' -o -name '*.sh' -o -name '*.py' -o -name '*.mk' \
           -o -name '*.am' -o -name '*.ac' -o -name '*.yaml' -o -name '*.8' -o -path '.ci/*' \) -print |
    while read -r f; do head -3 "$f" | grep -q 'SPDX-License-Identifier: BSD-3-Clause' || echo "$f"; done)
is "$missing" "" "every source, script and build file has an SPDX-License-Identifier line"
done_testing
