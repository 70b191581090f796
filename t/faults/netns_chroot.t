#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault: `make check` in a build chroot (issue 10, item 10). As root in a pbuilder-like chroot `ip netns add`
# works but nothing can run in the namespace (ip cannot remount /sys there), and t/serve.t failed 11 checks
# instead of taking its unprivileged path. Here ip(8) is wrapped to behave that way, and every test that
# uses namespaces is run under it: each must pass or skip with a reason, none may fail.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/lib.sh"
need_root # as another user these tests take their unprivileged paths anyway
need_cmd ip
real=$(command -v ip)

mkdir -p "$TMP/bin"
cat >"$TMP/bin/ip" <<EOF
#!/bin/bash
# ip(8) as in a build chroot: namespaces can be added, listed and deleted, nothing runs inside one.
case "\$1 \${2:-}" in
"netns exec"|"-n "*|"-netns "*)
    echo "mount --make-rslave /: Permission denied" >&2; exit 1 ;;
esac
exec "$real" "\$@"
EOF
chmod +x "$TMP/bin/ip"
PATH=$TMP/bin:$PATH ip netns add "wfc$$" 2>/dev/null && on_exit "ip netns del wfc$$"
PATH=$TMP/bin:$PATH ip netns exec "wfc$$" true 2>/dev/null
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "the wrapped ip adds a namespace but cannot run anything in it"

# every test that uses namespaces, found by what it calls (so a new one is covered without being listed)
tests=$(cd "$WEFT_SRCDIR/t" && grep -lE 'ip netns|netns_add|node_topology|wg_topology|ip -n ' -- *.t | sort)
ok "$([ "$(printf '%s\n' $tests | wc -l)" -ge 4 ] && echo 0 || echo 1)" "namespace tests found: $(echo $tests)"
for t in $tests; do
    out=$(PATH=$TMP/bin:$PATH bash "$WEFT_SRCDIR/t/$t" 2>&1); rc=$?
    fails=$(printf '%s\n' "$out" | grep -c '^not ok')
    oks=$(printf '%s\n' "$out" | grep -c '^ok')
    skipped=$(printf '%s\n' "$out" | grep -E '^1\.\.0 # SKIP' | sed 's/^1\.\.0 # SKIP //')
    ok "$([ "$rc" = 0 ] && [ "$fails" = 0 ] && echo 0 || echo 1)" \
        "$t in the chroot: exit $rc, $oks ok, $fails failed${skipped:+ (skipped: $skipped)}"
    [ "$fails" = 0 ] || diag "$(printf '%s\n' "$out" | grep -A3 '^not ok' | head -20)"
done
done_testing
