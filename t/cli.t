#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The command line: version, help, dispatch, modules, check-config on good and bad files.
. "${WEFT_SRCDIR:-$(dirname "$0")/..}/t/lib.sh"
export WEFT_CONFIG=/nonexistent/weft.yaml # never read the machine's /etc/weft/weft.yaml

out=$("$WEFT" --version); ok $? "--version exits 0"
like "$out" '^weft [0-9]+\.[0-9]+\.[0-9]+[^ ]* \(module ABI [0-9]+\)$' "--version prints version and ABI"

out=$("$WEFT" help); ok $? "help exits 0"
for v in serve check-config modules help version; do like "$out" "^  $v " "help lists $v"; done

out=$("$WEFT" serve --help); ok $? "serve --help exits 0"
like "$out" '^usage: weft serve' "serve --help prints its usage"
is "$("$WEFT" help check-config | head -1)" "$("$WEFT" check-config -h | head -1)" "help X and X -h agree"

out=$("$WEFT" serv 2>&1); rc=$?
is $rc 2 "unknown command exits 2"
like "$out" "unknown command 'serv' \(did you mean 'serve'\?\)" "unknown command suggests the right one"
out=$("$WEFT" 2>&1); is $? 2 "no command exits 2"
like "$out" '^usage: weft' "no command prints usage"

out=$("$WEFT" modules); ok $? "modules exits 0"
for m in control derp node; do like "$out" "^$m +[0-9][^ ]* +[0-9]+ +role " "modules lists $m as a role"; done

# the embedded default
out=$("$WEFT" check-config); ok $? "check-config without a file uses the embedded default"
like "$out" '^# effective configuration from \(embedded default\)' "says where the configuration came from"
like "$out" '^roles: \[control, derp\]' "embedded default runs control and derp"
like "$out" '^state_dir: \./weft-state$' "default state_dir"
out=$(STATE_DIRECTORY=/var/lib/weft/x:/other "$WEFT" check-config)
like "$out" '^state_dir: /var/lib/weft/x$' "state_dir follows \$STATE_DIRECTORY (first entry)"
like "$out" '^  listen: 127\.0\.0\.1:8080$' "default listener 127.0.0.1:8080"

# overrides and round trip
out=$("$WEFT" check-config -o derp.stun_listen=:3479 -o control.dns.nameservers=1.1.1.1,9.9.9.9)
like "$out" '^  stun_listen: ":3479"$' "-o sets a key (and the output quotes what needs it)"
like "$out" '^    nameservers: \[1\.1\.1\.1, 9\.9\.9\.9\]$' "-o sets a list (control.dns's keys under dns:)"
printf '%s\n' "$out" >"$TMP/roundtrip.yaml"
out2=$("$WEFT" check-config -c "$TMP/roundtrip.yaml" | tail -n +2)
is "$out2" "$(printf '%s\n' "$out" | tail -n +2)" "printed configuration loads back unchanged"

# every example in conf/ is valid
for f in "$WEFT_SRCDIR"/conf/examples/*.yaml "$WEFT_SRCDIR"/conf/weft.yaml; do
    out=$("$WEFT" check-config -c "$f" 2>&1); ok $? "example $(basename "$f") is valid"
done

# errors: all of them, with FILE:LINE:COL and key
cat >"$TMP/bad.yaml" <<'YAML'
log_level: loud
control:
  listne: 127.0.0.1:1
  derp_region_id: 5
derp:
  verify_fail_open: sometimes
node:
  port: [1, 2]
colour: blue
YAML
out=$("$WEFT" check-config -c "$TMP/bad.yaml" 2>&1); rc=$?
is $rc 1 "a bad file exits 1"
like "$out" "^$TMP/bad.yaml:1:12: log_level: 'loud' is not one of: error warn info debug$" "bad enum, with position"
like "$out" "^$TMP/bad.yaml:3:3: control.listne: unknown key \(did you mean 'control.listen'\?\)$" "typo gets did-you-mean"
like "$out" "^$TMP/bad.yaml:4:19: control.derp_region_id: 5 is out of range \(900 to 999\)$" "out of range"
like "$out" "^$TMP/bad.yaml:6:21: derp.verify_fail_open: 'sometimes' is not true or false$" "bad bool"
like "$out" "^$TMP/bad.yaml:8:9: node.port: expected an integer, found a list$" "wrong type"
like "$out" "^$TMP/bad.yaml:9:1: colour: unknown key$" "unknown top-level key"
like "$out" "6 errors$" "counts every error"

out=$("$WEFT" check-config -c "$TMP/missing.yaml" 2>&1); is $? 1 "missing file exits 1"
like "$out" "$TMP/missing.yaml: cannot open: No such file" "missing file is named"
out=$("$WEFT" check-config -o control.nope=1 2>&1); is $? 1 "bad -o exits 1"
like "$out" "command line: control.nope: unknown key" "bad -o is reported"

# values a listener or a client would choke on are refused here, each at its FILE:LINE:COL (issue 11 item 6)
printf '{"Regions":{"900":{"RegionID":900,"Nodes":[{"Name":"a","RegionID":900}]}}}' >"$TMP/derpmap.json"
cat >"$TMP/values.yaml" <<YAML
control:
  server_url: vpn.example.com
  listen: 999.1.1.1:80
  tls_listen: "[::]:443"
  dns.base_domain: my_tailnet
  dns.nameservers: [1.1.1.1, "dns.google", "https://dns.example/dns-query", "[2606:4700::1111]:53"]
  dns.search_domains: [example.com, "-bad-.com"]
  prefix_v4: 10.0.0.0/8
  derp_map_file: $TMP/derpmap.json
  tls:
    acme:
      domains: ["*.example.com"]
      email: not-an-address
derp:
  stun_listen: unix:/run/stun
  verify_clients: "ftp://x"
  mesh_with: ["https://"]
node:
  login_server: "http://"
  dns_ca_file: $TMP/no-such.pem
YAML
out=$("$WEFT" check-config -c "$TMP/values.yaml" 2>&1); rc=$?
is $rc 1 "bad values: exit 1"
F=$TMP/values.yaml
like "$out" "^$F:2:15: control.server_url: 'vpn.example.com' is not a URL: it needs a scheme and a host" "server_url without a scheme"
like "$out" "^$F:3:11: control.listen: '999.1.1.1:80': the host is neither an IP address nor a host name" "a listen address that does not parse"
like "$out" "^$F:4:15: control.tls_listen: a TLS listener needs a certificate: set tls_cert and tls_key, or tls.acme.domains" \
    "a TLS listener without a certificate, at the listener's position"
like "$out" "^$F:5:20: control.dns.base_domain: 'my_tailnet' is not a domain name" "base_domain that is not a domain"
like "$out" "^$F:6:30: control.dns.nameservers: 'dns.google' is not a DNS server: give an IP address" \
    "a nameserver that is neither an address nor a DoH URL (addresses, [v6]:port and DoH pass)"
like "$out" "^$F:7:37: control.dns.search_domains: '-bad-.com' is not a domain name" "a search domain"
like "$out" "^$F:8:14: control.prefix_v4: .*100\.64\.0\.0/10" "an address range clients would not route"
like "$out" "^$F:9:18: control.derp_map_file: .*region 900, node 0: needs \"Name\", \"HostName\"" \
    "a DERP map file clients could not use, with what is missing"
like "$out" "^$F:12:17: control.tls.acme.domains: '\*\.example\.com': a wildcard name needs the dns-01 challenge" \
    "nested keys (tls: acme: domains:) are checked at their position"
like "$out" "^$F:13:14: control.tls.acme.email: 'not-an-address' is not an e-mail address" "the ACME contact"
like "$out" "^$F:15:16: derp.stun_listen: 'unix:/run/stun' is not a listen address \(HOST:PORT" "STUN needs a UDP address"
like "$out" "^$F:16:19: derp.verify_clients: 'ftp://x' is not a URL" "admission URL"
like "$out" "^$F:17:15: derp.mesh_with: 'https://' is not a relay URL" "mesh peer URL"
like "$out" "^$F:19:17: node.login_server: 'http://' is not a valid URL: it needs a host" "a URL without a host"
like "$out" "^$F:20:16: node.dns_ca_file: cannot read '$TMP/no-such.pem': No such file" "a CA file that is not there"
like "$out" "15 errors\$" "every one reported in one pass"
echo "not a certificate" >"$TMP/notpem.crt"
out=$("$WEFT" check-config -o derp.mesh_ca_file="$TMP/notpem.crt" 2>&1)
like "$out" "derp.mesh_ca_file: '$TMP/notpem.crt' holds no PEM certificate" "a CA file with no certificate in it"

out=$("$WEFT" check-config -o control.tls.acme.domains=vpn.example.com -o control.tls_listen=:443 \
    -o control.tls.acme.challenge=tls-alpn-01)
like "$out" '^  tls:$' "nested keys print as nested mappings"
like "$out" '^      domains: \[vpn\.example\.com\]$' "(tls: acme: domains:)"
printf '%s\n' "$out" >"$TMP/nested.yaml"
out2=$("$WEFT" check-config -c "$TMP/nested.yaml" | tail -n +2)
is "$out2" "$(printf '%s\n' "$out" | tail -n +2)" "and load back unchanged"

done_testing
