#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The Debian packages, end to end: the release tree (make distdir) builds with `dpkg-buildpackage -us -uc`
# offline, lintian finds nothing unexplained, and the packages install into a fresh bookworm chroot made by
# debootstrap (from the Debian archive the machine's apt sources name; the chroot is cached as a tarball
# between runs). There the system user and the directories exist, control started as its unit starts it
# answers HTTP, and the admin CLI finds it without being told where (as root and as a member of group weft,
# and a stranger is told it lacks permission); the node, with the unit's capabilities, hands its socket to
# node.socket_group. Purging both packages leaves no file behind.
# Needs root, debootstrap and the build dependencies; WEFT_SKIP_PACKAGE_TEST=1 skips it (CI's second,
# distcheck pass: the packages are the same). WEFT_CACHE_DIR: where the chroot tarball is kept.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml
[ -z "${WEFT_SKIP_PACKAGE_TEST:-}" ] || skip_all "WEFT_SKIP_PACKAGE_TEST is set"
need_root
need_cmd debootstrap dpkg-buildpackage dh dpkg-checkbuilddeps unshare chroot setpriv curl
# the chroot's commands run in a mount namespace of their own: a build chroot may not allow one
unshare --mount --propagation private true 2>/dev/null ||
    skip_all "cannot make a mount namespace here (unshare --mount fails: a build chroot?)"
[ -n "${WEFT_BUILDDIR:-}" ] || skip_all "run by make check (needs WEFT_BUILDDIR)"
unmet=$(cd "$WEFT_SRCDIR" && dpkg-checkbuilddeps -B 2>&1) || skip_all "build dependencies missing: ${unmet##*: }"

# the archive: the first Debian mirror apt is configured with
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '$3 == "bookworm" {print $2}' | head -1)
[ -n "$mirror" ] || skip_all "no Debian mirror in the apt sources"
cache=${WEFT_CACHE_DIR:-/var/cache/weft-tests}

# ---- build ----
src=$TMP/src/weft
mkdir -p "$TMP/src"
make -C "$WEFT_BUILDDIR" distdir distdir="$src" >"$TMP/distdir.log" 2>&1
ok $? "make distdir: the release tree" || { diag "$(tail -20 "$TMP/distdir.log")"; done_testing; }
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc) >"$TMP/build.log" 2>&1
ok $? "dpkg-buildpackage -us -uc builds" || { diag "$(tail -40 "$TMP/build.log")"; done_testing; }
ver=$(cd "$src" && dpkg-parsechangelog -S Version)
deb=$TMP/src/weft_${ver}_$(dpkg --print-architecture).deb
nodedeb=$TMP/src/weft-node_${ver}_$(dpkg --print-architecture).deb
pgdeb=$TMP/src/weft-postgres_${ver}_$(dpkg --print-architecture).deb
[ -f "$deb" ] && [ -f "$nodedeb" ] && [ -f "$pgdeb" ]; ok $? "packages weft, weft-node and weft-postgres"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
like "$contents" '^\./usr/lib/[^/]+/weft/control\.so$' "weft holds the control module"
like "$contents" '^\./usr/lib/[^/]+/weft/derp\.so$' "weft holds the derp module"
unlike "$contents" 'node\.so' "weft does not hold the node module"
like "$(dpkg-deb -c "$nodedeb" | awk '{print $6}')" '^\./usr/lib/[^/]+/weft/node\.so$' "weft-node holds it"
unlike "$contents" 'store_postgres\.so' "weft does not hold the PostgreSQL plugin"
like "$(dpkg-deb -c "$pgdeb" | awk '{print $6}')" '^\./usr/lib/[^/]+/weft/store_postgres\.so$' "weft-postgres holds it"
like "$(dpkg-deb -f "$pgdeb" Depends)" 'libpq5' "and depends on libpq5 (weft does not)"
unlike "$(dpkg-deb -f "$deb" Depends)" 'libpq' "(weft's dependencies name no libpq)"
like "$contents" '^\./usr/share/doc/weft/examples/single-box\.yaml$' "examples under /usr/share/doc/weft/examples"
is "$(printf '%s\n' "$contents" | grep -c '^\./etc/weft/')" 2 "only weft.yaml in /etc/weft"
like "$contents" '^\./usr/share/bash-completion/completions/weft$' "bash completion"
like "$contents" '^\./usr/share/weft/console/index\.html$' "the web console in /usr/share/weft/console"
like "$(dpkg-deb -f "$deb" Depends)" 'systemd-standalone-sysusers' "the sysusers dependency is declared"
if command -v lintian >/dev/null; then
    lintian --fail-on error,warning "$TMP"/src/weft_"${ver}"_*.changes >"$TMP/lintian.log" 2>&1
    ok $? "lintian: no errors or warnings" || diag "$(cat "$TMP/lintian.log")"
else
    skip "lintian is not installed"
fi

# ---- a fresh bookworm ----
# its packages: what the two need (first of each alternative; the standalone sysusers and tmpfiles in place
# of systemd, which a chroot cannot run), so that dpkg -i works offline
deps=$( (dpkg-deb -f "$deb" Depends; echo ,; dpkg-deb -f "$nodedeb" Depends; echo ,; dpkg-deb -f "$pgdeb" Depends) | tr ',' '\n' |
    sed -e 's/|.*//' -e 's/(.*//' -e 's/ //g' | grep -v -e '^$' -e '^weft$' -e '^systemd$' | sort -u)
deps="$deps systemd-standalone-sysusers systemd-standalone-tmpfiles"
deps=$(echo $deps | tr ' ' ,)
key=$(printf '%s %s' "$mirror" "$deps" | sha256sum | cut -c1-16)
tarball=$cache/bookworm-minbase-$key.tar.gz
root=$TMP/root
mkdir -p "$root"
if [ -f "$tarball" ]; then
    tar -C "$root" -xzf "$tarball"; ok $? "bookworm chroot from the cache ($tarball)"
else
    debootstrap --variant=minbase --include="$deps" bookworm "$root" "$mirror" >"$TMP/debootstrap.log" 2>&1
    ok $? "debootstrap bookworm (minbase with the packages' dependencies)" ||
        { diag "$(tail -20 "$TMP/debootstrap.log")"; done_testing; }
    rm -rf "$root"/var/cache/apt/archives/*.deb
    mkdir -p "$cache" && tar -C "$root" -czf "$tarball.$$" . && mv "$tarball.$$" "$tarball"
fi
# in the chroot, with a /proc of its own (a private mount namespace: nothing to unmount)
# (and a clean environment: this test's WEFT_CONFIG and WEFT_MODULE_PATH are not the installed system's)
inroot() {
    unshare --mount --propagation private sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' \
        "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
# the same in the background, as one process all the way down to weft: $! is weft's pid
inroot_bg() { exec unshare --mount --propagation private sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' \
        "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
listing() { # every file and directory, but what dpkg and the tools keep for themselves
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./var/lib/dpkg \
        -o -path ./var/log -o -path ./var/cache/debconf \) -prune -o -print | sort)
}
cp "$deb" "$nodedeb" "$pgdeb" "$root/tmp/"
listing >"$TMP/before"

# ---- install ----
inroot dpkg -i "/tmp/${deb##*/}" "/tmp/${nodedeb##*/}" "/tmp/${pgdeb##*/}" >"$TMP/dpkg-i.log" 2>&1
ok $? "dpkg -i weft weft-node weft-postgres in the chroot" || diag "$(tail -30 "$TMP/dpkg-i.log")"
like "$(inroot getent passwd weft)" '^weft:x:[0-9]+:[0-9]+:weft mesh VPN:/var/lib/weft:' "sysusers made the system user weft"
is "$(inroot stat -c '%U:%G %a' /run/weft)" "weft:weft 755" "tmpfiles made /run/weft"
is "$(inroot stat -c '%U:%G %a' /var/lib/weft)" "weft:weft 750" "tmpfiles made /var/lib/weft"
like "$(inroot weft --version)" "^weft ${ver%%+*}" "weft runs in the chroot"
mods=$(inroot weft modules)
like "$mods" '^control .* /usr/lib/[^/]+/weft/control\.so$' "and finds its modules: control"
like "$mods" '^derp .* /usr/lib/[^/]+/weft/derp\.so$' "derp"
like "$mods" '^node .* /usr/lib/[^/]+/weft/node\.so$' "node"
like "$mods" '^store_postgres .* /usr/lib/[^/]+/weft/store_postgres\.so$' "store_postgres (weft-postgres)"
inroot weft check-config >/dev/null 2>&1; ok $? "the installed /etc/weft/weft.yaml is valid"
[ -f "$root/lib/systemd/system/weft@.service" ] && grep -q '^User=weft$' "$root/lib/systemd/system/weft@.service"
ok $? "the units run as the user weft"

# ---- control, started as weft@control starts it ----
unit_env=(env STATE_DIRECTORY=/var/lib/weft/control RUNTIME_DIRECTORY=/run/weft)
port=$(free_port)
inroot_bg setpriv --reuid=weft --regid=weft --init-groups "${unit_env[@]}" weft serve control \
    -o control.listen=127.0.0.1:$port -o control.server_url=http://127.0.0.1:$port >"$TMP/control.log" 2>&1 &
ctlpid=$!
on_exit "kill -9 $ctlpid"
wait_for 20 test -S "$root/run/weft/control.sock"; ok $? "control starts and opens /run/weft/control.sock" ||
    diag "$(cat "$TMP/control.log")"
out=$(http_get "http://127.0.0.1:$port/key?v=88")
like "$out" '^200 .*"publicKey":"mkey:[0-9a-f]{64}"' "control answers HTTP (/key)"
is "$(inroot stat -c '%U:%G %a' /run/weft/control.sock)" "weft:weft 660" "the admin socket is weft:weft 0660"
out=$(inroot sh -c 'cd / && weft users create alice' 2>&1); ok $? "as root, weft users create finds the server (no -c, no --socket)" || diag "$out"
inroot useradd -M -G weft weftadmin && inroot useradd -M outsider
out=$(inroot setpriv --reuid=weftadmin --regid=weftadmin --init-groups weft users list 2>&1)
like "$out" 'alice' "a member of group weft administers it"
out=$(inroot setpriv --reuid=outsider --regid=outsider --init-groups weft users list 2>&1)
like "$out" 'permission denied at /run/weft/control.sock \(srw-rw---- weft:weft\): run as root or as a member of group weft' \
    "anyone else is told exactly that"
kill -TERM $ctlpid; wait $ctlpid; rc=$?
is "$rc" 0 "control stops cleanly on SIGTERM" || diag "$(tail -5 "$TMP/control.log")"

# ---- the node, with the capabilities its unit grants (read from the installed drop-in) ----
caps=$(sed -n 's/^AmbientCapabilities=//p' "$root/lib/systemd/system/weft@node.service.d/node.conf" |
    tr ' ' '\n' | sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd,)
like "$caps" '\+chown' "the node unit grants CAP_CHOWN (node.socket_group)"
inroot groupadd netops
inroot_bg setpriv --reuid=weft --regid=weft --init-groups --inh-caps="$caps" --ambient-caps="$caps" \
    env STATE_DIRECTORY=/var/lib/weft/node RUNTIME_DIRECTORY=/run/weft \
    weft serve node -o node.tun=none -o node.port=0 -o node.socket_group=netops >"$TMP/node.log" 2>&1 &
nodepid=$!
on_exit "kill -9 $nodepid"
wait_for 20 test -S "$root/run/weft/node.sock"; ok $? "the node opens /run/weft/node.sock" || diag "$(cat "$TMP/node.log")"
wait_for 5 sh -c "[ \"\$(chroot '$root' stat -c %G /run/weft/node.sock)\" = netops ]"
ok $? "its socket belongs to node.socket_group (a group weft is not in)" || diag "$(cat "$TMP/node.log")"
is "$(inroot stat -c %a /run/weft/node.sock)" 660 "and is 0660"
kill -TERM $nodepid; wait $nodepid

# ---- PostgreSQL storage: with the plugin, control reaches for the server; without it, says what to install ----
pgargs=(weft serve control -o control.listen=127.0.0.1:0 -o control.database=postgres://weft@127.0.0.1:1/weft)
out=$(inroot setpriv --reuid=weft --regid=weft --init-groups "${unit_env[@]}" timeout 20 "${pgargs[@]}" 2>&1)
like "$out" 'postgres: cannot connect: .*port 1 failed' "with weft-postgres, control on postgres:// connects through libpq" ||
    diag "$out"
inroot dpkg --purge weft-postgres >"$TMP/purge-pg.log" 2>&1; ok $? "dpkg --purge weft-postgres" || diag "$(cat "$TMP/purge-pg.log")"
out=$(inroot setpriv --reuid=weft --regid=weft --init-groups "${unit_env[@]}" timeout 20 "${pgargs[@]}" 2>&1)
like "$out" 'PostgreSQL needs the store_postgres plugin, which is not loaded: install the weft-postgres package' \
    "without it, control says which package to install" || diag "$out"

# ---- purge ----
inroot dpkg --purge weft-node weft >"$TMP/purge.log" 2>&1; ok $? "dpkg --purge weft-node weft" || diag "$(cat "$TMP/purge.log")"
listing >"$TMP/after"
# (the user databases and their backups change: the system user weft, and this test's two users)
left=$(comm -13 "$TMP/before" "$TMP/after" | grep -v -E '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$')
is "$left" "" "purging leaves no file behind (the system user weft stays, as Debian leaves system users)"

done_testing
