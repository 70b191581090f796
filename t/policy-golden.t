#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# weft's policy compiler against 505 captures of Tailscale's own control plane (t/data/tscap/README.md):
# every node's packet filter, peers, SSHPolicy and CapMap as Tailscale sent them, every refused policy
# refused. One TAP line per capture. Captures of features weft refuses on purpose are TODO with the reason.
. "$(dirname "$0")/lib.sh"

tool="$WEFT_BUILDDIR/t/tools/policy-golden"
[ -x "$tool" ] || skip_all "t/tools/policy-golden not built"
need_cmd xz tar
tar xJf "$WEFT_SRCDIR/t/data/tscap/tscap-dev.tar.xz" -C "$TMP" || skip_all "cannot unpack the captures"

# captures whose policy weft refuses deliberately (the reason is the TODO text)
declare -A todo=(
    [nodeattrs-ippool-g1-admin]="nodeAttrs ipPool: weft allocates addresses from control.prefix_v4/v6 only"
    [nodeattrs-ippool-g2-group]="nodeAttrs ipPool: weft allocates addresses from control.prefix_v4/v6 only"
)

# once as compiled whole, once after every node left, joined, was retagged and restored through the
# incremental paths (with a simulated client per node checking every reported change on the way), once
# more through them with the engine deferring its recomputes to a settle (as control runs it)
for mode in full incremental deferred; do
    flag=; [ $mode != full ] && flag=--$mode
    "$tool" $flag "$TMP" >"$TMP/out" 2>&1
    while read -r verdict name rest; do
        case $verdict in
        PASS) ok 0 "$mode $name" ;;
        FAIL)
            name=${name%:}
            if [ -n "${todo[$name]:-}" ]; then
                _tap_n=$((_tap_n + 1))
                echo "not ok $_tap_n - $mode $name # TODO ${todo[$name]}"
            else
                ok 1 "$mode $name"
                diag "$rest"
            fi
            ;;
        esac
    done <"$TMP/out"
    summary=$(tail -1 "$TMP/out")
    like "$summary" '^[0-9]+ passed, [0-9]+ failed$' "$mode: the tool ends with its summary ($summary)"
    is "$(grep -c '^\(PASS\|FAIL\) ' "$TMP/out")" 505 "$mode: every capture was checked"
done
done_testing
