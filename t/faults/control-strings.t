#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 10 item 5 (control's part): a client's Hostinfo strings reach other nodes (their `status`), the
# admin CLI and the log. Escape sequences there forge output or write a clipboard (OSC 52), and a huge
# Hostinfo is kept and fanned out whole. Control now removes control characters (C0, DEL, C1) from every
# Hostinfo string, cuts strings at 1 KiB and the whole at control.hostinfo_max, before it keeps anything.
. "${WEFT_SRCDIR:-$(dirname "$0")/../..}/t/faults/control_lib.sh"
cd "$TMP" || exit 1

P=$(free_port)
start_control c "$P" -o control.hostinfo_max=8192; ok $? "control starts with control.hostinfo_max=8192"
w() { "$WEFT" "$@" -o state_dir="$TMP/c" -o control.listen=127.0.0.1:"$P"; }
w users create alice >/dev/null; ok $? "a user"
key=$(w authkeys create --user alice --reusable | tail -1)
node() { "$TSNODE" "$URL" "$TMP" "$@"; }

# OSC 52 (clipboard), CSI colour, a newline and a forged log line, C1 CSI and NEL, a BEL; a 5000-byte OS
# version; 200 KB of something else
python3 - hostile.json <<'PY'
import json, sys
evil = "evil\x1b]52;c;SGVsbG8=\x07\n\x1b[31mlevel=error FORGED\u009b2J\u0085x\x7f"
hi = {"Hostname": evil, "OS": "linux\x1b[2J", "OSVersion": "v" * 5000,
      "Services": [{"Proto": "tcp", "Port": 22, "Description": "ssh\x1b[0m"}],
      "RequestTags": ["tag:\x1bx"] * 3, "Padding": "p" * 200000}
open(sys.argv[1], "w").write(json.dumps(hi))
PY
ctl='(\\u00(0[0-9a-f]|1[0-9a-f]|7f|8[0-9a-f]|9[0-9a-f]))|'$'\x1b|\x07|\xc2[\x80-\x9f]'

out=$(TSNODE_HOSTINFO=hostile.json node evil register --authkey "$key")
like "$out" '^200 .*"MachineAuthorized":true' "a node registers with a hostile Hostinfo"
node good register --authkey "$key" >/dev/null
peer=$(node good map 1 10 | grep -o '"Peers":\[.*')
like "$peer" '"Hostname":"evil\]52;c;SGVsbG8=\[31mlevel=error FORGED2Jx"' \
    "another node sees the hostname without its control characters"
unlike "$peer" "$ctl" "no control character anywhere in what peers get (escaped or raw)"
os=$(grep -o '"OSVersion":"v*"' <<<"$peer")
ok $((${#os} > 1000 && ${#os} <= 1040 ? 0 : 1)) "a 5000-byte string is cut to 1 KiB (${#os} bytes with its name)"
unlike "$peer" '"Padding"' "members peers do not use are not sent to them"
self=$(TSNODE_HOSTINFO=hostile.json node evil map 1 10 | head -1)
hi=$(grep -o '"Hostinfo":{[^}]*}' <<<"$self" | head -1)
unlike "$self" "$ctl" "the node's own map has none either"
selfhi=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1].split(" ",1)[1]); print(len(json.dumps(m["Node"]["Hostinfo"],separators=(",",":"))))' "$self")
ok $((${selfhi:-999999} <= 8192 && ${selfhi:-0} > 100 ? 0 : 1)) "the Hostinfo kept is at most control.hostinfo_max (${selfhi} of 200 KB sent)"

list=$(w nodes list)
unlike "$list" "$ctl" "weft nodes list prints no control character"
unlike "$(w nodes list --json)" "$ctl" "nor does weft nodes list --json"
like "$(w nodes list --json)" '"hostname":"evil\]52;c;SGVsbG8=\[31mlevel=error FORGED2Jx"' "the hostname, cleaned"

# an interactive registration logs the hostname it asks for
out=$(TSNODE_HOSTINFO=hostile.json node evil2 register)
like "$out" '"AuthURL":"' "an interactive registration with the hostile Hostinfo"
line=$(grep 'event=register_pending' "$TMP/c.log")
unlike "$line" "$ctl" "its log line has no control character"
is "$(grep -c 'FORGED' "$TMP/c.log")" 1 "and cannot start a line of its own"
is "$(grep -ac '^level=error' "$TMP/c.log")" 0 "no forged error line in the log (quoting values is the logger's part)"

stop_weft c TERM; is "$WEFT_RC" 0 "clean exit"
no_errors c
done_testing
