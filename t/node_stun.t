#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# STUN servers named by HostName alone in the DERP map (no IPv4/IPv6 literal), as root: the node looks the
# names up off its loop's thread and probes them once they resolve, and a lookup that hangs (a DNS
# server that never answers) holds nothing up: the node answers its CLI and finishes its netchecks with
# the servers it has meanwhile. The node's namespace has its own /etc/hosts and resolv.conf
# (`ip netns exec` mounts /etc/netns/NAME/ over /etc).
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_root
need_cmd ip
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 1 || skip_all "cannot create network namespaces"
ip -n "$S" addr add 10.77.0.2/32 dev lo
ip -n "wn$$1" route add 10.77.0.2/32 via 10.77.1.1
ip -n "wn$$1" route add 10.77.0.3/32 via 10.77.1.1 # the "DNS server": the server drops what it gets for it
mkdir -p "/etc/netns/wn$$1" || skip_all "cannot write /etc/netns"
on_exit "rm -rf '/etc/netns/wn$$1'"
printf '127.0.0.1 localhost\n10.77.0.2 stun.weft.test\n' >"/etc/netns/wn$$1/hosts"
printf 'nameserver 10.77.0.3\noptions timeout:10 attempts:2\n' >"/etc/netns/wn$$1/resolv.conf"

# region 999: DERP + STUN by address (999a), STUN by name via the hosts file (999b), STUN by a name whose
# lookup hangs (999c). Netcheck sees whether the NAT maps per destination only when two servers answer:
# "MappingVariesByDestIP: false" (no NAT here) says that 999b, known by name only, answered.
cat >"$TMP/derpmap.json" <<JSON
{"Regions":{"999":{"RegionID":999,"RegionCode":"weft","RegionName":"weft test relay","Nodes":[
  {"Name":"999a","RegionID":999,"HostName":"10.77.0.1","IPv4":"10.77.0.1","DERPPort":8080,"STUNPort":3478},
  {"Name":"999b","RegionID":999,"HostName":"stun.weft.test","STUNPort":3478,"STUNOnly":true},
  {"Name":"999c","RegionID":999,"HostName":"stun.hangs.test","STUNPort":3478,"STUNOnly":true}]}}}
JSON
srvargs=(-o state_dir=$TMP/srv -o control.listen=0.0.0.0:8080 -o derp.listen=0.0.0.0:8080
         -o derp.stun_listen=10.77.0.1:3478 -o control.server_url=$url -o control.derp_map_file=$TMP/derpmap.json)
start_srv; ok $? "control, DERP and STUN at 10.77.0.1"
start_weft stun2 --ns "$S" serve derp -o state_dir="$TMP/stun2" -o derp.listen=10.77.0.2:8081 \
    -o derp.stun_listen=10.77.0.2:3478
wait_for 10 grep -q 'event=started' "$TMP/stun2.log"; ok $? "a second STUN server at 10.77.0.2 (stun.weft.test)"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
start_node 1 --log-level debug
cli 1 up --login-server "$url" --authkey "$key" --hostname node1 >/dev/null 2>&1; ok $? "node1 is up"

wait_for 10 grep -q 'event=stun_resolve host="stun.hangs.test"$' "$TMP/n1.log"
ok $? "the node looks stun.hangs.test up"
# while that lookup hangs (2 x 10 s), the node answers and its netchecks finish
t0=$(date +%s%N)
out=$(cli 1 status); rc=$?
ok $rc "weft status answers while a lookup hangs ($((($(date +%s%N) - t0) / 1000000)) ms)"
both_answer() { nc=$(cli 1 netcheck) && grep -q 'MappingVariesByDestIP: false' <<<"$nc"; }
wait_for 15 both_answer; rc=$?
ok $rc "netcheck hears the STUN server known by name only (stun.weft.test -> 10.77.0.2): two servers answer"
like "$nc" '- weft: [0-9.]+ms' "and the region's latency"
grep -q 'event=stun_resolve host="stun.hangs.test" error' "$TMP/n1.log"
ok "$([ $? != 0 ] && echo 0 || echo 1)" "all that while the lookup of stun.hangs.test was still under way"
wait_for 40 grep -q 'event=stun_resolve host="stun.hangs.test" error' "$TMP/n1.log"
ok $? "the hanging lookup fails in the end, with a warning ($(grep -o 'host="stun.hangs.test" error=.*' "$TMP/n1.log" | head -1))"

stop_weft n1 TERM
is "$WEFT_RC" 0 "node1 exits 0 on SIGTERM"
unlike "$(cat "$TMP"/n1.log)" 'level=error' "no errors logged by the node"
done_testing
