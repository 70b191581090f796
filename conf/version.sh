#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# weft's version, for AC_INIT: the release tarball's recorded .tarball-version when there is one; else, in a
# git checkout, `git describe` (a tag vX.Y.Z gives X.Y.Z, commits after it X.Y.Z.N-gHASH, no tag at all
# BASE+git.HASH; -dirty when the tree has changes); else BASE. Prints no newline (m4_esyscmd_s).
base=0.1.0
cd "$(dirname "$0")/.." || exit 1
if [ -f .tarball-version ]; then
    v=$(cat .tarball-version)
elif [ -e .git ] && d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
    v=$(echo "$d" | sed -e 's/^v//' -e 's/-\([0-9][0-9]*\)-g/.\1-g/')
elif [ -e .git ] && h=$(git describe --always --dirty 2>/dev/null); then
    v="$base+git.$(echo "$h" | tr - .)"
else
    v=$base
fi
printf '%s' "$v"
