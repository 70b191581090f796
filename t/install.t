#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# make install puts each file where a system looks for it (modules, units, sysusers.d, tmpfiles.d, bash
# completion, examples under the documentation, only weft.yaml in /etc/weft), and make uninstall takes
# every one of them away again (the modules it installed used to stay behind).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
[ -n "${WEFT_BUILDDIR:-}" ] || skip_all "run by make check (needs WEFT_BUILDDIR)"
dest=$TMP/dest
make -C "$WEFT_BUILDDIR" install DESTDIR="$dest" >"$TMP/install.log" 2>&1
ok $? "make install DESTDIR=..." || diag "$(tail -20 "$TMP/install.log")"
files=$(cd "$dest" && find . -type f | sort)
prefix=$(sed -n 's/^prefix = //p' "$WEFT_BUILDDIR/Makefile")
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$WEFT_BUILDDIR/Makefile" | sed "s|\${prefix}|$prefix|")
# the prefix is a path, not a pattern: distcheck's holds the version, and 0.1.0+git... has a +
printf '%s\n' "$files" | grep -qxF ".$prefix/bin/weft"; ok $? "the binary" || diag "no .$prefix/bin/weft"
if grep -q '^#define WEFT_BUILTIN_MODULES 1' "$WEFT_BUILDDIR/config.h"; then
    skip "modules are built in"
else
    like "$files" '/weft/control\.so$' "the modules"
fi
like "$files" '/lib/sysusers\.d/weft\.conf$' "sysusers.d/weft.conf (the system user)"
like "$files" '/lib/tmpfiles\.d/weft\.conf$' "tmpfiles.d/weft.conf (its directories)"
like "$files" '/bash-completion/completions/weft$' "the bash completion"
like "$files" '/lib/systemd/system/weft@\.service$' "the units"
like "$files" '/share/doc/weft/examples/single-box\.yaml$' "the examples under the documentation"
is "$(printf '%s\n' "$files" | grep -cF ".$sysconfdir/weft/")" 1 "only weft.yaml in $sysconfdir/weft"
make -C "$WEFT_BUILDDIR" uninstall DESTDIR="$dest" >"$TMP/uninstall.log" 2>&1
ok $? "make uninstall" || diag "$(tail -20 "$TMP/uninstall.log")"
is "$(cd "$dest" && find . -type f -o -type l)" "" "make uninstall leaves no file behind"
done_testing
