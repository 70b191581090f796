#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# MagicDNS end to end, as root in network namespaces (the topology of t/node.t): control + relay in a server
# namespace, three nodes, and a LAN namespace beside node1 with real DNS servers (dnsmasq): 10.78.0.3 the
# "internet" resolver control hands out as the global nameserver. dig asks 100.100.100.100 (and
# fd7a:115c:a1e0::53) from node1 for peers' short and full names, AAAA, PTR, its own name, an unknown name
# under the suffix, and a name only the LAN resolver knows; over TCP; an answer over 512 bytes comes
# truncated over UDP and whole over TCP. A renamed peer resolves by its new name within 2 s. The system's
# resolver: node1's resolv.conf rewritten with a backup, restored on down, with --accept-dns=false, and
# after a crash on the next start; node3 runs in a mount namespace with its own /etc, where a plain `dig
# +search node1` resolves through /etc/resolv.conf, and gets its file back on down. Bad input: malformed,
# oversized and header-only queries, a flood, a hostile TCP client; the resolver answers throughout.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
. "$WEFT_SRCDIR/t/node_lib.sh"
need_root
need_cmd ip dig python3 dnsmasq unshare nsenter
[ -c /dev/net/tun ] || skip_all "needs /dev/net/tun"
cd "$TMP" || exit 1
node_topology 3 || skip_all "cannot create network namespaces and veth pairs"

# node1's LAN: a namespace with the resolver control hands out (10.78.0.3)
L=wn$$l
netns_add "$L" || skip_all "cannot create the LAN namespace"
ip link add "wl$$a" type veth peer name "wl$$b" || skip_all "cannot create a veth pair"
ip link set "wl$$a" netns "wn$$1"
ip link set "wl$$b" netns "$L"
ip -n "wn$$1" addr add 10.78.0.1/24 dev "wl$$a"
ip -n "wn$$1" link set "wl$$a" up
ip -n "$L" addr add 10.78.0.3/24 dev "wl$$b"
ip -n "$L" link set "wl$$b" up
long=$(printf 'x%.0s' $(seq 1 250))
# dnsmasq: one TXT record of three 250-byte strings (an answer of about 800 bytes)
ip netns exec "$L" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=10.78.0.3 --user=root --group=root --pid-file="$TMP/dm.pid" --log-facility="$TMP/dm.log" \
    --address=/www.example.org/192.0.2.80 --txt-record="big.example.org,$long,$long,$long" &
on_exit "kill $! 2>/dev/null"
wait_for 5 ip netns exec "$L" dig +time=1 +tries=1 +short @10.78.0.3 www.example.org
ok $? "dnsmasq answers in node1's LAN (10.78.0.3)"
# the office's resolver for split DNS (10.78.0.4): corp.example, which the global one does not know
ip -n "$L" addr add 10.78.0.4/24 dev "wl$$b"
ip netns exec "$L" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=10.78.0.4 --user=root --group=root --pid-file="$TMP/dm2.pid" --log-facility="$TMP/dm2.log" \
    --local=/corp.example/ --address=/db.corp.example/10.78.0.44 &
on_exit "kill $! 2>/dev/null"
wait_for 5 ip netns exec "$L" dig +time=1 +tries=1 +short @10.78.0.4 db.corp.example
ok $? "a second dnsmasq answers corp.example in node1's LAN (10.78.0.4)"

# DNS over HTTPS (RFC 8484): unbound at https://10.78.0.5/dns-query with a certificate of the test's own CA,
# the only resolver that knows doh.example; the nodes trust that CA (node.dns_ca_file)
have_doh=
if command -v unbound >/dev/null && command -v openssl >/dev/null; then
    ip -n "$L" addr add 10.78.0.5/24 dev "wl$$b"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=doh-test \
        -addext subjectAltName=IP:10.78.0.5 -keyout "$TMP/doh.key" -out "$TMP/doh.crt" >/dev/null 2>&1
    cat >"$TMP/unbound.conf" <<EOF
server:
  interface: 10.78.0.5@443
  https-port: 443
  http-endpoint: "/dns-query"
  tls-service-key: "$TMP/doh.key"
  tls-service-pem: "$TMP/doh.crt"
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$TMP"
  pidfile: "$TMP/unbound.pid"
  use-syslog: no
  logfile: "$TMP/unbound.log"
  log-queries: yes
  do-ip6: no
  module-config: "iterator"
  access-control: 0.0.0.0/0 allow
  local-zone: "doh.example." static
  local-data: "svc.doh.example. A 10.78.0.55"
remote-control:
  control-enable: no
EOF
    ip netns exec "$L" unbound -d -c "$TMP/unbound.conf" >"$TMP/unbound.out" 2>&1 &
    on_exit "kill $! 2>/dev/null"
    doh_listens() { ip netns exec "$L" ss -ltn | grep -q '10\.78\.0\.5:443'; }
    wait_for 10 doh_listens && have_doh=1
    [ -n "$have_doh" ] || diag "$(cat "$TMP/unbound.out" "$TMP/unbound.log" 2>/dev/null)"
fi

# control.dns: the global resolver, split DNS routes, an inline record and a watched file of records
# (in a file: SIGHUP re-reads it below)
printf '# extra records\nwiki.weft.internal CNAME grafana.weft.internal.\n' >"$TMP/records"
dnsconf() { # dnsconf [MORE_RECORD]: the server's configuration file
    printf '%s\n' 'control:' '  dns:' '    nameservers: [10.78.0.3]' \
        '    routes: {corp.example: [10.78.0.4], doh.example: ["https://10.78.0.5/dns-query"]}' \
        '    extra_records:' '      - grafana.weft.internal A 100.64.0.7' ${1:+"      - $1"} \
        "    extra_records_file: $TMP/records" >"$TMP/srv.yaml"
}
dnsconf
srvargs+=(-c "$TMP/srv.yaml")
start_srv; ok $? "the server namespace runs weft serve control derp (nameservers: 10.78.0.3; corp.example: 10.78.0.4)"
w users create alice >/dev/null
key=$(w authkeys create --user alice --reusable | tail -1)
orig1='nameserver 192.0.2.53'
for i in 1 2; do
    start_node "$i" -o node.dns_ca_file="$TMP/doh.crt"
    out=$(cli "$i" up --login-server "$url" --authkey "$key" --hostname "node$i" 2>&1)
    ok $? "node$i: weft up" || diag "$out"
done
wait_for 5 sees 1 2 online; ok $? "node1 sees node2"

q() { in_ns 1 dig +time=2 +tries=1 +short "$@" 2>&1; }  # q ARGS: dig from node1, the answers only
is "$(q @100.100.100.100 node2)" 100.64.0.2 "dig @100.100.100.100 node2: a peer's short name"
is "$(q @100.100.100.100 node2.weft.internal)" 100.64.0.2 "a peer's full name"
is "$(q @100.100.100.100 node2.weft.internal AAAA)" fd7a:115c:a1e0::2 "a peer's AAAA"
is "$(q @100.100.100.100 -x 100.64.0.2)" node2.weft.internal. "PTR of a peer's IPv4 address"
is "$(q @100.100.100.100 -x fd7a:115c:a1e0::2)" node2.weft.internal. "PTR of a peer's IPv6 address"
is "$(q @100.100.100.100 node1.weft.internal)" 100.64.0.1 "the node's own name"
is "$(q @fd7a:115c:a1e0::53 node2 AAAA)" fd7a:115c:a1e0::2 "the resolver's IPv6 address answers too"
is "$(q +tcp @100.100.100.100 node2.weft.internal)" 100.64.0.2 "over TCP"
out=$(in_ns 1 dig +time=2 +tries=1 @100.100.100.100 nobody.weft.internal 2>&1)
like "$out" 'status: NXDOMAIN' "an unknown name under the suffix: NXDOMAIN"
like "$out" 'flags: qr aa' "... authoritative"
is "$(q @100.100.100.100 www.example.org)" 192.0.2.80 "a name of the internet: forwarded to the global resolver"
is "$(q @100.100.100.100 db.corp.example)" 10.78.0.44 "split DNS: corp.example forwarded to its route's resolver"
unlike "$(q @10.78.0.3 db.corp.example)" '10\.78\.0\.44' "... which the global resolver does not know"
out=$(in_ns 1 dig +time=2 +tries=1 @100.100.100.100 nope.corp.example 2>&1)
like "$out" 'status: NXDOMAIN' "an unknown name in the split domain: its resolver's NXDOMAIN"
# libcurl (and its TLS, LDAP, p11-kit...) is loaded at the first DoH query, not before: a node's memory budget
curl_mapped() { grep -q 'libcurl' "/proc/$(weft_pid n1)/maps"; }
! curl_mapped; ok $? "node1 has not loaded libcurl before a DNS-over-HTTPS query"
# libnftables is loaded when a node first serves routes; node1 serves none
unlike "$(cat "/proc/$(weft_pid n1)/maps")" 'libnftables' "node1, serving no routes, has not loaded libnftables"
# libyaml is loaded only while the configuration is read
unlike "$(cat "/proc/$(weft_pid n1)/maps")" 'libyaml' "node1 does not keep libyaml mapped after reading its configuration"
# libsystemd is loaded when a node first talks to systemd-resolved; node1's resolv.conf is a file
unlike "$(cat "/proc/$(weft_pid n1)/maps")" 'libsystemd' "node1, on a plain resolv.conf, has not loaded libsystemd"
# control's plugins are loaded to check the whole configuration in a child process, never in the node's own
# (p11-kit, behind GnuTLS, cannot be unloaded once loaded); a plugin linked into the binary,
# --enable-builtin-modules, is always there: only loadable ones are checked
plugin_libs=$("$WEFT" modules 2>/dev/null | awk '$1 == "store_postgres" && $NF != "built-in" {print "store_postgres|libpq|libldap|libgnutls|libp11-kit"}
    $1 == "auth_oidc" && $NF != "built-in" {print "auth_oidc|libcjose"}' | paste -sd'|')
if [ -n "$plugin_libs" ]; then
    unlike "$(cat "/proc/$(weft_pid n1)/maps")" "$plugin_libs" \
        "node1 keeps no loadable plugin of control's mapped, nor what it links ($plugin_libs)"
else
    skip "no loadable store_postgres or auth_oidc here"
fi
if [ -n "$have_doh" ]; then
    is "$(q @100.100.100.100 svc.doh.example)" 10.78.0.55 \
        "split DNS over HTTPS: doh.example forwarded to https://10.78.0.5/dns-query (unbound)"
    like "$(cat "$TMP/unbound.log")" 'svc\.doh\.example\. A IN' "... which unbound logged"
    curl_mapped; ok $? "... and node1 has loaded libcurl for it"
else
    skip "no unbound (DNS over HTTPS) here"
    skip "no unbound (DNS over HTTPS) here"
    skip "no unbound (DNS over HTTPS) here"
fi
is "$(q @100.100.100.100 grafana.weft.internal)" 100.64.0.7 "an extra record (control.dns.extra_records)"
is "$(q @100.100.100.100 wiki.weft.internal | tr '\n' ' ')" "grafana.weft.internal. 100.64.0.7 " \
    "an extra record from the records file: a CNAME, followed in the zone"
echo 'nas.weft.internal AAAA fd7a:115c:a1e0::99' >>"$TMP/records"
t0=$(date +%s%N)
nas() { [ "$(q @100.100.100.100 nas.weft.internal AAAA)" = fd7a:115c:a1e0::99 ]; }
wait_for 5 nas; ok $? "a record added to the watched file is answered within 5 s ($((($(date +%s%N) - t0) / 1000000)) ms)"
dnsconf 'printer.weft.internal A 100.64.0.50'
t0=$(date +%s%N)
kill -HUP "$(weft_pid srv)"
printer() { [ "$(q @100.100.100.100 printer.weft.internal)" = 100.64.0.50 ]; }
wait_for 5 printer; ok $? "SIGHUP: a record added to control.dns.extra_records is answered ($((($(date +%s%N) - t0) / 1000000)) ms)"
is "$(q @100.100.100.100 grafana.weft.internal)" 100.64.0.7 "... and the others still are"
out=$(in_ns 1 dig +time=2 +tries=1 +noedns +ignore @100.100.100.100 big.example.org TXT 2>&1)
like "$out" 'flags: qr.* tc' "an 800-byte answer to a query without EDNS: truncated over UDP"
out=$(in_ns 1 dig +time=2 +tries=1 +noedns @100.100.100.100 big.example.org TXT 2>&1)
like "$out" 'MSG SIZE  rcvd: [5-9][0-9][0-9]' "dig asks again over TCP and gets all of it"
like "$out" '\(TCP\)' "... over TCP"

# the system's resolver: node1's resolv.conf (node.resolv_conf, a file of its own)
conf1=$(cat "$TMP/n1.resolv.conf")
like "$conf1" '^# weft:' "node1's resolv.conf is rewritten, with weft's marker"
like "$conf1" 'nameserver 100\.100\.100\.100' "... pointing at 100.100.100.100"
like "$conf1" 'search weft\.internal' "... with the MagicDNS suffix as a search domain"
is "$(cat "$TMP/n1/node-resolv.conf.backup")" "$orig1" "the original is backed up in the state directory"
like "$(cli 1 status)" '# MagicDNS on, names under weft\.internal, system resolver: resolv\.conf' \
    "weft status says what is configured"
st=$(cli 1 dns status)
like "$st" 'system resolver +resolv\.conf' "weft dns status: the system resolver's mode"
like "$st" "resolvers +10\.78\.0\.3" "... the global resolvers"
like "$st" "system's resolvers +192\.0\.2\.53" "... the resolvers the machine had"
like "$st" 'counters +[0-9]+ queries: [0-9]+ answered here, [1-9][0-9]* NXDOMAIN, [1-9][0-9]* forwarded' \
    "... and what it answered"
cli 1 up --accept-dns=false >/dev/null 2>&1; ok $? "weft up --accept-dns=false"
is "$(cat "$TMP/n1.resolv.conf")" "$orig1" "the original resolv.conf is back"
is "$(q @100.100.100.100 node2)" 100.64.0.2 "the resolver still answers when asked"
cli 1 up --accept-dns >/dev/null 2>&1
like "$(cat "$TMP/n1.resolv.conf")" 'nameserver 100\.100\.100\.100' "--accept-dns: rewritten again"
cli 1 down >/dev/null 2>&1; ok $? "weft down"
is "$(cat "$TMP/n1.resolv.conf")" "$orig1" "down: the original is back"
ok "$([ ! -e "$TMP/n1/node-resolv.conf.backup" ] && echo 0 || echo 1)" "and the backup is gone"
cli 1 up >/dev/null 2>&1
wait_for 5 grep -q '100.100.100.100' "$TMP/n1.resolv.conf"; ok $? "up again: rewritten again"
stop_weft n1 KILL
like "$(cat "$TMP/n1.resolv.conf")" 'nameserver 100\.100\.100\.100' "a crash leaves weft's resolv.conf"
start_node 1
wait_for 5 grep -q 'event=dns_os_recovered' "$TMP/n1.log"; ok $? "the next start restores the original first"
wait_for 10 has 1 '^# Running'; ok $? "and comes up Running"
wait_for 5 grep -q '100.100.100.100' "$TMP/n1.resolv.conf"; ok $? "pointing resolv.conf at MagicDNS again"
is "$(cat "$TMP/n1/node-resolv.conf.backup")" "$orig1" "with the original as the backup, not weft's own file"

# a renamed peer resolves by its new name within 2 s
t0=$(date +%s%N)
w nodes rename node2 storage >/dev/null; ok $? "control renames node2 to storage"
renamed() { [ "$(q @100.100.100.100 storage.weft.internal)" = 100.64.0.2 ]; }
wait_for 2 renamed; rc=$?; dt=$((($(date +%s%N) - t0) / 1000000))
ok $rc "node1 resolves storage.weft.internal within 2 s (${dt} ms)"
is "$(q @100.100.100.100 storage)" 100.64.0.2 "and the short name"
out=$(in_ns 1 dig +time=2 +tries=1 @100.100.100.100 node2.weft.internal 2>&1)
like "$out" 'status: NXDOMAIN' "the old name is gone"

# node3 with its own /etc (a mount namespace): the real /etc/resolv.conf path, nothing of the host's touched
host_sum=$(md5sum /etc/resolv.conf 2>/dev/null)
mkdir -p "$TMP/etc3"
for f in ld.so.cache nsswitch.conf hosts passwd group; do [ -e "/etc/$f" ] && cp "/etc/$f" "$TMP/etc3/"; done
printf 'nameserver 10.78.9.9\noptions edns0\n' >"$TMP/etc3/resolv.conf"
orig3=$(cat "$TMP/etc3/resolv.conf")
ip netns exec "wn$$3" unshare -m sh -c "mount --make-rprivate / && mount --bind '$TMP/etc3' /etc &&
    exec '$WEFT' serve node -o state_dir='$TMP/n3' -o node.socket='$TMP/n3.sock'" >"$TMP/n3.log" 2>&1 &
echo $! >"$TMP/n3.pid"
on_exit "kill -9 $! 2>/dev/null"
wait_for 10 test -S "$TMP/n3.sock"; ok $? "node3 runs in a mount namespace with its own /etc" || diag "$(cat "$TMP/n3.log")"
cli 3 up --login-server "$url" --authkey "$key" --hostname node3 >/dev/null 2>&1; ok $? "node3: weft up"
wait_for 5 grep -q '100.100.100.100' "$TMP/etc3/resolv.conf"; ok $? "its /etc/resolv.conf points at MagicDNS"
pid3=$(weft_pid n3)
out=$(nsenter -t "$pid3" -m -n dig +time=2 +tries=1 +short +search node1 2>&1)
is "$out" 100.64.0.1 "dig +search node1 there (no @): through /etc/resolv.conf, the search domain, MagicDNS"
is "$(md5sum /etc/resolv.conf 2>/dev/null)" "$host_sum" "the host's /etc/resolv.conf is untouched"
cli 3 down >/dev/null 2>&1
is "$(cat "$TMP/etc3/resolv.conf")" "$orig3" "node3 down: its /etc/resolv.conf is restored"

# systemd-resolved over D-Bus: resolved itself cannot run in a test (it is the host's, with the host's
# /etc/resolv.conf), so t/tools/fake_resolved owns org.freedesktop.resolve1 on a private system bus and
# prints the calls it gets; node4 runs in node3's namespace with a resolv.conf that is resolved's stub link
stop_weft n3
fake=$WEFT_BUILDDIR/t/tools/fake_resolved
if command -v dbus-daemon >/dev/null && [ -x "$fake" ]; then
    printf '%s\n' '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"' \
        ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">' \
        "<busconfig><type>system</type><listen>unix:path=$TMP/bus</listen><auth>EXTERNAL</auth>" \
        '<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>' \
        '<allow receive_sender="*"/></policy></busconfig>' >"$TMP/bus.conf"
    dbus-daemon --config-file="$TMP/bus.conf" --nofork --nopidfile >"$TMP/bus.log" 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 5 test -S "$TMP/bus"
    export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TMP/bus"
    "$fake" >"$TMP/resolved.out" 2>&1 &
    on_exit "kill $! 2>/dev/null"
    wait_for 5 grep -q '^ready' "$TMP/resolved.out"; ok $? "a stand-in for systemd-resolved on a private bus"
    ln -s /run/systemd/resolve/stub-resolv.conf "$TMP/n4.resolv.conf"
    start_weft n4 --ns "wn$$3" serve node -o state_dir="$TMP/n4" -o node.socket="$TMP/n4.sock" \
        -o node.resolv_conf="$TMP/n4.resolv.conf"
    wait_for 10 test -S "$TMP/n4.sock"
    cli 4 up --login-server "$url" --authkey "$key" --hostname node4 >/dev/null 2>&1; ok $? "node4: weft up"
    wait_for 5 grep -q '^SetLinkDefaultRoute' "$TMP/resolved.out"; ok $? "node4 configures its link over D-Bus"
    idx=$(ip -n "wn$$3" -o link show weft0 | cut -d: -f1)
    rout=$(cat "$TMP/resolved.out")
    like "$rout" "SetLinkDNS $idx 100\\.100\\.100\\.100" "SetLinkDNS on weft0 (index $idx): 100.100.100.100"
    like "$rout" "SetLinkDomains $idx weft\\.internal( |\$)" "... the MagicDNS suffix as a search domain"
    like "$rout" "SetLinkDomains $idx .*~corp\\.example( |\$)" "... the split DNS domain as a routing domain"
    like "$rout" "SetLinkDomains $idx .*~\\.( |\$)" "... and ~. (control overrides local DNS)"
    like "$rout" "SetLinkDefaultRoute $idx yes" "... the default route"
    like "$(cli 4 dns status)" 'system resolver +systemd-resolved' "weft dns status: systemd-resolved"
    cli 4 down >/dev/null 2>&1
    wait_for 5 grep -q "^RevertLink $idx" "$TMP/resolved.out"; ok $? "down: RevertLink on weft0"
    is "$(readlink "$TMP/n4.resolv.conf")" /run/systemd/resolve/stub-resolv.conf "resolved's link left as it was"
    stop_weft n4
    unset DBUS_SYSTEM_BUS_ADDRESS
else
    for _ in $(seq 11); do skip "no dbus-daemon or t/tools/fake_resolved"; done
fi
# NetworkManager's resolv.conf: never fought over, left alone with a warning
printf '# Generated by NetworkManager\nnameserver 192.0.2.1\n' >"$TMP/n5.resolv.conf"
nm_sum=$(md5sum <"$TMP/n5.resolv.conf")
start_weft n5 --ns "wn$$3" serve node -o state_dir="$TMP/n5" -o node.socket="$TMP/n5.sock" \
    -o node.resolv_conf="$TMP/n5.resolv.conf"
wait_for 10 test -S "$TMP/n5.sock"
cli 5 up --login-server "$url" --authkey "$key" --hostname node5 >/dev/null 2>&1; ok $? "node5: weft up"
wait_for 5 grep -q 'mode=left-alone' "$TMP/n5.log"; ok $? "a NetworkManager resolv.conf: left alone, with a warning"
like "$(grep 'mode=left-alone' "$TMP/n5.log")" 'level=warn.*NetworkManager' "... which says who manages it"
st=$(cli 5 dns status)
like "$st" 'system resolver +left-alone' "weft dns status: left alone" || diag "$st"
like "$st" 'NetworkManager writes' "... and why"
is "$(md5sum <"$TMP/n5.resolv.conf")" "$nm_sum" "the file is untouched"
is "$(in_ns 3 dig +time=2 +tries=1 +short @100.100.100.100 node1)" 100.64.0.1 "the resolver answers all the same"
cli 5 down >/dev/null 2>&1
is "$(md5sum <"$TMP/n5.resolv.conf")" "$nm_sum" "and after down"
stop_weft n5

# bad input: nothing a client sends stops the resolver
cat >"$TMP/bad.py" <<'EOF'
import socket, struct, sys, time
R = ("100.100.100.100", 53)
def query(name, qid=0x4242, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)
def udp(msg, wait=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(wait)
    s.sendto(msg, R)
    try: return s.recv(65535)
    except socket.timeout: return None
    finally: s.close()
what = sys.argv[1]
if what == "garbage":
    r = udp(b"\x12\x34\x01\x00" + bytes(range(256)) * 2)
    print("none" if r is None else "rcode=%d id=%04x" % (r[3] & 15, r[0] << 8 | r[1]))
elif what == "header":
    r = udp(struct.pack(">HHHHHH", 0x7777, 0x0100, 0, 0, 0, 0))
    print("none" if r is None else "rcode=%d" % (r[3] & 15))
elif what == "oversized":
    r = udp(query("node2.weft.internal") + b"\0" * 4000)
    print("none" if r is None else "answered %d" % len(r))
elif what == "tcp-huge":
    s = socket.create_connection(R, timeout=3)
    s.sendall(struct.pack(">H", 65535) + b"\xab" * 65535)
    try:
        hdr = s.recv(2)
        print("rcode=%d" % (s.recv(65535)[3] & 15) if len(hdr) == 2 else "closed")
    except (socket.timeout, ConnectionError): print("closed")
elif what == "tcp-stall":
    # half a message, then nothing: the connection is the client's problem, not the resolver's
    socks = [socket.create_connection(R, timeout=3) for _ in range(50)]
    for s in socks: s.sendall(b"\x00\x30\x12")
    print("open %d" % len(socks))
elif what == "flood":
    n = int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sent = got = 0
    t0 = time.time()
    for i in range(n):
        try: s.sendto(query("node2.weft.internal", i & 0xffff), R); sent += 1
        except BlockingIOError: time.sleep(0.001)
        try:
            while True: s.recv(2048); got += 1
        except BlockingIOError: pass
    end = time.time() + 2
    while time.time() < end:
        try: s.recv(2048); got += 1
        except BlockingIOError: time.sleep(0.01)
    print("sent %d answered %d in %.2fs" % (sent, got, time.time() - t0))
EOF
py() { in_ns 1 python3 "$TMP/bad.py" "$@" 2>&1; }
is "$(py garbage)" "rcode=1 id=1234" "garbage after a header: FORMERR with the query's ID"
is "$(py header)" "rcode=1" "a header with no question: FORMERR"
out=$(py oversized)
ok "$(case $out in none | "answered "*) echo 0 ;; *) echo 1 ;; esac)" "an oversized query (4 KB, fragments on the TUN): no harm ($out)"
like "$(py tcp-huge)" '^(rcode=1|closed)$' "a 64 KB junk message over TCP: FORMERR or closed"
like "$(py tcp-stall)" '^open 50$' "50 TCP clients that stall mid-message"
out=$(py flood 20000)
like "$out" '^sent [0-9]+ answered [1-9][0-9]* in' "a flood of 20,000 queries: answered as fast as it can ($out)"
diag "flood: $out"
is "$(q @100.100.100.100 storage)" 100.64.0.2 "after all of it the resolver still answers"
is "$(q +tcp @100.100.100.100 storage)" 100.64.0.2 "over TCP too"
like "$(cli 1 dns status)" 'malformed' "weft dns status counts what it saw"
done_testing
