#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Module loading: the modules of this build are found; one built for another ABI, or not a module at all,
# is refused with a clear message naming both versions.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml

out=$("$WEFT" modules); ok $? "modules loads this build's modules"
if "$WEFT" modules | grep -q 'built-in'; then
    like "$out" '^control .* built-in$' "control is built in (--enable-builtin-modules)"
else
    like "$out" '^control .*/control\.so$' "control is loaded from its module file"
fi

abi=$("$WEFT" --version | sed 's/.*module ABI \([0-9]*\).*/\1/')
bad="$WEFT_BUILDDIR/t/modules/.libs"
[ -f "$bad/badabi.so" ] || skip_all "test modules not built"
out=$("$WEFT" modules --module-path "$bad:$WEFT_MODULE_PATH" 2>&1); rc=$?
is $rc 1 "a refused module makes modules exit 1"
like "$out" "module badabi \(.*badabi\.so\) was built for module ABI 999, but this weft [0-9][^ ]* has module ABI $abi" \
    "ABI mismatch names both versions"
like "$out" "notamodule\.so is not a weft module \(no symbol weft_module_notamodule\)" "a foreign .so is refused"
like "$out" '^derp ' "the good modules still load"
out=$("$WEFT" serve --module-path "$bad" badabi 2>&1); rc=$?
is $rc 2 "serve refuses a role it could not load"
like "$out" "no role 'badabi'" "and says so"

# the module path: environment and flag
out=$(WEFT_MODULE_PATH=/nonexistent "$WEFT" modules 2>&1)
if "$WEFT" modules | grep -q 'built-in'; then
    like "$out" '^node ' "built-in modules need no path"
else
    unlike "$out" '^node ' "WEFT_MODULE_PATH is where modules are looked for"
    out=$(WEFT_MODULE_PATH=/nonexistent "$WEFT" modules --module-path "$WEFT_MODULE_PATH" 2>&1)
    like "$out" '^node ' "--module-path overrides the environment"
fi
# Uninstalled: the binary of a build tree finds that tree's modules next to it, without WEFT_MODULE_PATH
# (./configure && make && ./weft serve); a copy elsewhere, as installed, does not look there.
if ! "$WEFT" modules | grep -q 'built-in'; then
    out=$(cd "$TMP" && env -u WEFT_MODULE_PATH "$WEFT" modules 2>&1)
    like "$out" "^control .*modules/control/\.libs/control\.so\$" "uninstalled, the build tree's modules are found"
    like "$out" "^derp .*modules/derp/\.libs/derp\.so\$" "(every role)"
    out=$(cd "$TMP" && env -u WEFT_MODULE_PATH "$WEFT" check-config 2>&1)
    like "$out" '^control:' "so the roles' configuration is known"
    mkdir -p "$TMP/bin" && cp "$WEFT" "$TMP/bin/weft"
    out=$(cd "$TMP" && env -u WEFT_MODULE_PATH "$TMP/bin/weft" modules 2>&1)
    unlike "$out" "$WEFT_BUILDDIR" "a copy outside the build tree does not use the build tree"
    out=$(cd "$TMP" && env -u WEFT_MODULE_PATH "$TMP/bin/weft" --module-path "$TMP/none" serve control 2>&1)
    like "$out" "no control\.so in the module path $TMP/none \(--module-path\); install weft's modules there" \
        "with no role module at all, serve says where it looked and what to do"
fi
done_testing
