#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The bash completion (conf/weft.bash-completion): commands of the core and of the modules, subcommands of
# the admin verbs, each verb's options from its usage text, roles for serve, log levels.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
bc=/usr/share/bash-completion/bash_completion
[ -f "$bc" ] || skip_all "needs bash-completion"
mkdir -p "$TMP/bin" && ln -s "$WEFT" "$TMP/bin/weft"
comp() { # comp WORDS...: the completions of the last word
    PATH=$TMP/bin:$PATH bash -c '. "$0"; . "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        _weft; echo "${COMPREPLY[*]}"' "$bc" "$WEFT_SRCDIR/conf/weft.bash-completion" "$@" 2>&1
}
is "$(comp weft us)" "users" "a module's command"
is "$(comp weft check-)" "check-config" "a core command"
is "$(comp weft users '')" "create delete list rename" "the admin verbs' subcommands"
is "$(comp weft nodes '')" "approve-routes delete expire list register rename routes" "nodes' subcommands"
like "$(comp weft authkeys create --)" '--reusable .*--user' "a verb's options, from its usage"
is "$(comp weft up --a)" "--accept-dns --accept-routes --advertise-exit-node --advertise-routes --authkey" "weft up's routing and DNS options"
is "$(comp weft up --exit-node '')" "" "--exit-node takes a peer (no completion)"
is "$(comp weft serve '')" "control derp node" "serve: the roles"
is "$(comp weft --log-level d)" "debug" "log levels"
is "$(comp weft -c x.yaml st)" "status" "after a global option with its value"
done_testing
