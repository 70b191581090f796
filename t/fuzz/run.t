#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every libFuzzer target for a few seconds over a copy of its seed corpus.
# A crash, leak or sanitizer report fails the target. WEFT_FUZZ_SECONDS sets the time per target.
secs=${WEFT_FUZZ_SECONDS:-4}
read -r -a targets <<<"${FUZZ_TARGETS:-}"
if [ ${#targets[@]} -eq 0 ]; then echo "1..0 # SKIP no fuzz targets"; exit 0; fi
echo "1..${#targets[@]}"
n=0
for t in "${targets[@]}"; do
    n=$((n + 1))
    bin="$WEFT_BUILDDIR/t/fuzz/$t"
    if [ ! -x "$bin" ]; then echo "ok $n - $t # SKIP not built (needs clang with libFuzzer)"; continue; fi
    work=$(mktemp -d)
    [ -d "$WEFT_SRCDIR/t/fuzz/corpus/$t" ] && cp -r "$WEFT_SRCDIR/t/fuzz/corpus/$t/." "$work/"
    if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
            -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
        echo "ok $n - $t ($(grep -o 'Done [0-9]* runs' "$work.log" | tail -1))"
    else
        echo "not ok $n - $t"
        tail -40 "$work.log" | sed 's/^/# /'
    fi
    rm -rf "$work" "$work.log"
done
