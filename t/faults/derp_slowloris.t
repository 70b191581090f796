#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault: 2,000 slowloris connections on the derp listener - 1,000 that trickle an HTTP request head a byte at
# a time and 1,000 that upgrade and then trickle their DERP handshake - while a normal pair keeps relaying.
# The pair loses nothing, a new client still gets in, and the relay closes every slow connection on its
# own: the head at h2o's 10 s request timeout, the handshake at derp.handshake_timeout (3 s here).
: "${WEFT_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}" "${WEFT_BUILDDIR:=$WEFT_SRCDIR}" "${WEFT:=$WEFT_BUILDDIR/weft}"
export WEFT_SRCDIR WEFT_BUILDDIR WEFT
. "$WEFT_SRCDIR/t/derp_lib.sh"
N=2000
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((N + 300)) ] || skip_all "needs $((N + 300)) file descriptors (ulimit -n is $(ulimit -n))"

P=$(free_port)
U=http://127.0.0.1:$P/derp
start_relay r "$P" -o derp.handshake_timeout=3s; ok $? "relay starts"
RPID=$(weft_pid r)
fds() { find "/proc/$RPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
base=$(fds)

# The slow clients: open them all, then send one more byte on each every 0.5 s until the relay closes it;
# report how many opened and how many the relay closed (and when).
cat >"$TMP/slowloris.py" <<'PY'
import select, socket, sys, time
port, n, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
head = b"GET /derp HTTP/1.1\r\nHost: relay\r\nX-Slow: " + b"a" * 4000
upgrade = b"GET /derp HTTP/1.1\r\nHost: relay\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n"
# after the upgrade, a ClientInfo frame (type 2) announcing 100 bytes, sent a byte at a time
frame = bytes([2, 0, 0, 0, 100]) + b"b" * 100
conns = []
for i in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    upg = i % 2 == 1
    if upg:
        s.sendall(upgrade)
    conns.append([s, upg, 0])
print("opened", len(conns), flush=True)
start = time.time()
open_ = {c[0].fileno(): c for c in conns}
closed = {False: 0, True: 0}
while open_ and time.time() - start < limit:
    for fd, c in list(open_.items()):
        s, upg, k = c
        try:
            while True:  # drain what the relay sent (101 + ServerKey for the upgraded ones)
                d = s.recv(65536)
                if not d:
                    raise ConnectionResetError
        except BlockingIOError:
            pass
        except OSError:
            closed[upg] += 1
            del open_[fd]
            s.close()
            continue
        data = frame if upg else head
        try:
            s.send(data[k % len(data):k % len(data) + 1])
            c[2] = k + 1
        except BlockingIOError:
            pass
        except OSError:
            closed[upg] += 1
            del open_[fd]
            s.close()
    time.sleep(0.5)
print("closed head=%d handshake=%d after %.1f s, still open %d" % (closed[False], closed[True],
      time.time() - start, len(open_)), flush=True)
PY
python3 "$TMP/slowloris.py" "$P" $N 25 >"$TMP/slow.out" 2>&1 &
SPID=$!
on_exit "kill $SPID 2>/dev/null"
wait_for 30 grep -q "^opened $N" "$TMP/slow.out"; ok $? "$N slow connections are open" || diag "$(cat "$TMP/slow.out")"
more_fds() { [ "$(fds)" -ge $((base + N / 2)) ]; }
wait_for 10 more_fds; ok $? "the relay holds them (fds $base -> $(fds))"

A=$("$DERPC" --key-file "$TMP/a.key" --pubkey)
B=$("$DERPC" --key-file "$TMP/b.key" --pubkey)
derpc_bg b --key-file "$TMP/b.key" --expect 1000 --from "$A" --timeout 30 "$U"
wait_for 10 out_has b connected; ok $? "a normal client connects meanwhile"
"$DERPC" --key-file "$TMP/a.key" --send-to "$B" --count 1000 --size 1200 --interval 2 --timeout 30 "$U" \
    >"$TMP/a.out" 2>&1
ok $? "and another sends 1000 packets to it over 2 s"
derpc_wait b; ok $? "all of them arrive, each once, in order"
out=$("$DERPC" --ping --timeout 10 "$U"); like "$out" "pong ok" "a new client gets in and is answered"

wait "$SPID"
like "$(cat "$TMP/slow.out")" "closed head=$((N / 2)) handshake=$((N / 2)) after" \
    "the relay closed every slow connection itself" || diag "$(cat "$TMP/slow.out")"
back() { [ "$(fds)" -le $((base + 20)) ]; }
wait_for 10 back; ok $? "its descriptors are back to what they were ($base -> $(fds))"
kill -0 "$RPID"; ok $? "the relay is still running"
stop_weft r TERM; is "$WEFT_RC" 0 "clean exit"
clean_logs r
done_testing
