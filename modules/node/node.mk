# SPDX-License-Identifier: BSD-3-Clause
# modules/node: the client daemon (fragment of the top Makefile.am)
node_sources = modules/node/module.c modules/node/node.h modules/node/wireguard.c
if BUILTIN_MODULES
noinst_LTLIBRARIES += modules/node/libmod_node.la
modules_node_libmod_node_la_SOURCES = $(node_sources)
modules_node_libmod_node_la_LIBADD = $(MINIUPNPC_LIBS)
BUILTIN_MODULE_LIBS += modules/node/libmod_node.la
BUILTIN_MODULE_NAMES += node
else
pkglib_LTLIBRARIES += modules/node/node.la
modules_node_node_la_SOURCES = $(node_sources)
modules_node_node_la_LDFLAGS = $(module_ldflags)
# (libnftables is not linked: router/nft.c loads it when the node first serves routes; nor is libsystemd:
# dns/os.c loads it when it first talks to systemd-resolved)
modules_node_node_la_LIBADD = $(JSONC_LIBS) $(SODIUM_LIBS) $(LDNS_LIBS) $(MINIUPNPC_LIBS)
endif

# the node daemon: identity and state, local API + CLI, control session, netmap, data plane over DERP
node_sources += \
	modules/node/daemon.c \
	modules/node/ctl.c modules/node/ctl.h \
	modules/node/netmap.c modules/node/netmap.h \
	modules/node/dp.c modules/node/dp.h \
	modules/node/derpmux.c modules/node/derpmux.h \
	modules/node/localapi.c modules/node/localapi.h \
	modules/node/ping.c modules/node/ping.h \
	modules/node/metrics.c \
	modules/node/verbs.c

# MagicDNS: the resolver at 100.100.100.100 (names, decisions, TCP, upstreams) and the OS's resolver setup
node_sources += \
	modules/node/dns/dns.c modules/node/dns/dns.h \
	modules/node/dns/zone.c modules/node/dns/zone.h \
	modules/node/dns/resolver.c modules/node/dns/resolver.h \
	modules/node/dns/ippkt.c modules/node/dns/ippkt.h \
	modules/node/dns/tcp.c modules/node/dns/tcp.h \
	modules/node/dns/forward.c modules/node/dns/forward.h \
	modules/node/dns/os.c modules/node/dns/os.h \
	modules/node/dns/node_dns.c

# the data plane's paths (modules/node/magicsock/ms.h): disco, direct UDP, netcheck, endpoints, port mapping
node_sources += \
	modules/node/magicsock/ms.h modules/node/magicsock/ms_int.h \
	modules/node/magicsock/conn.c modules/node/magicsock/peer.c \
	modules/node/magicsock/netcheck.c modules/node/magicsock/endpoints.c \
	modules/node/magicsock/portmap.c modules/node/magicsock/upnp.c \
	modules/node/magicsock/pmp.c modules/node/magicsock/pmp.h

# subnet routes and exit nodes: kernel routes and rules, NAT through libnftables (modules/node/router/router.h)
node_sources += \
	modules/node/router/router.c modules/node/router/router.h \
	modules/node/router/nft.c

# the inbound packet filter with connection tracking (modules/node/filter/filter.h)
node_sources += \
	modules/node/filter/filter.c modules/node/filter/filter.h \
	modules/node/filter/packet.c modules/node/filter/packet.h

# shell tests with the real binary: t/node-cli.t unprivileged (no TUN), t/node.t in namespaces (root)
TESTS += t/node-cli.t t/node.t t/node_nat.t t/node_filter.t t/node_stun.t t/node_policy.t t/node_upnp.t t/routes.t
EXTRA_DIST += t/node-cli.t t/node.t t/node_nat.t t/node_filter.t t/node_stun.t t/node_policy.t t/node_upnp.t \
	t/routes.t \
	t/node_lib.sh

# the netmap against captured MapResponses and deltas, the DERP URL rule, timings, prefixes
check_PROGRAMS += t/unit/test_node_netmap
TESTS += t/unit/test_node_netmap
t_unit_test_node_netmap_SOURCES = t/unit/test_node_netmap.c modules/node/netmap.c modules/node/derpmux.c
t_unit_test_node_netmap_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGETS += fuzz_node_netmap

# the packet filter: rule forms, decisions, connection tracking
check_PROGRAMS += t/unit/test_node_filter
TESTS += t/unit/test_node_filter
t_unit_test_node_filter_SOURCES = t/unit/test_node_filter.c modules/node/filter/filter.c \
	modules/node/filter/packet.c
t_unit_test_node_filter_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGETS += fuzz_node_filter fuzz_node_magicsock
# magicsock in-process over loopback: DERP then direct, bad input dropped and counted
check_PROGRAMS += t/unit/test_magicsock
TESTS += t/unit/test_magicsock
t_unit_test_magicsock_SOURCES = t/unit/test_magicsock.c modules/node/magicsock/conn.c \
	modules/node/magicsock/peer.c modules/node/magicsock/netcheck.c modules/node/magicsock/endpoints.c \
	modules/node/magicsock/portmap.c modules/node/magicsock/upnp.c modules/node/magicsock/pmp.c
t_unit_test_magicsock_LDADD = $(LDADD) $(MINIUPNPC_LIBS)
# NAT-PMP and PCP messages
check_PROGRAMS += t/unit/test_node_pmp
TESTS += t/unit/test_node_pmp
t_unit_test_node_pmp_SOURCES = t/unit/test_node_pmp.c modules/node/magicsock/pmp.c
t_unit_test_node_pmp_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGETS += fuzz_node_pmp
EXTRA_DIST += t/fuzz/corpus/fuzz_node_pmp
t_unit_test_magicsock_CFLAGS = $(AM_CFLAGS)
# bench/bench_filter: packets per second through the filter with 1,000 rules
BENCHES += bench/bench_filter
bench_bench_filter_SOURCES = bench/bench_filter.c modules/node/filter/filter.c modules/node/filter/packet.c
bench_bench_filter_CFLAGS = $(AM_CFLAGS)
EXTRA_DIST += t/fuzz/corpus/fuzz_node_filter t/fuzz/corpus/fuzz_node_magicsock
EXTRA_DIST += t/fuzz/corpus/fuzz_node_netmap

# bench/node.sh: iperf3 node <-> node through the relay, RSS of an idle node with 100 peers (root)
BENCHES += bench/bench_node
bench_bench_node_CPPFLAGS = $(AM_CPPFLAGS) -DWEFT_ABS_SRCDIR='"$(abs_top_srcdir)"' \
	-DWEFT_ABS_BUILDDIR='"$(abs_top_builddir)"'
EXTRA_DIST += bench/node.sh

# the resolver without sockets: names, answers, truncation, forwarding choices, IP/UDP/TCP packets, the TCP
# responder against a scripted peer, the forwarder against a UDP/TCP server on loopback
check_PROGRAMS += t/unit/test_node_dns
TESTS += t/unit/test_node_dns
t_unit_test_node_dns_SOURCES = t/unit/test_node_dns.c modules/node/dns/dns.c modules/node/dns/zone.c \
	modules/node/dns/resolver.c modules/node/dns/ippkt.c modules/node/dns/tcp.c modules/node/dns/forward.c \
	modules/node/netmap.c
t_unit_test_node_dns_CFLAGS = $(AM_CFLAGS)
# the system resolver's integration on real files: rewrite, backup, restore, crash recovery, other managers
check_PROGRAMS += t/unit/test_dns_os
TESTS += t/unit/test_dns_os
t_unit_test_dns_os_SOURCES = t/unit/test_dns_os.c modules/node/dns/os.c modules/node/dns/dns.c \
	modules/node/dns/zone.c modules/node/dns/resolver.c modules/node/dns/ippkt.c modules/node/dns/tcp.c \
	modules/node/dns/forward.c modules/node/netmap.c
t_unit_test_dns_os_CFLAGS = $(AM_CFLAGS)
FUZZ_TARGETS += fuzz_dns
EXTRA_DIST += t/fuzz/corpus/fuzz_dns

# queries per second from the tailnet's own names, in process (bench/dns.sh: through a TUN, with dnsperf)
BENCHES += bench/bench_dns
bench_bench_dns_SOURCES = bench/bench_dns.c modules/node/dns/dns.c modules/node/dns/zone.c \
	modules/node/dns/resolver.c modules/node/dns/ippkt.c modules/node/dns/tcp.c modules/node/dns/forward.c \
	modules/node/netmap.c
bench_bench_dns_CFLAGS = $(AM_CFLAGS)
bench_bench_dns_CPPFLAGS = $(AM_CPPFLAGS) -DWEFT_ABS_SRCDIR='"$(abs_top_srcdir)"' \
	-DWEFT_ABS_BUILDDIR='"$(abs_top_builddir)"'
EXTRA_DIST += bench/dns.sh

# a stand-in for systemd-resolved on a private D-Bus bus (t/node_dns.t): it prints the link calls it gets
check_PROGRAMS += t/tools/fake_resolved
t_tools_fake_resolved_SOURCES = t/tools/fake_resolved.c
t_tools_fake_resolved_LDADD = $(SYSTEMD_LIBS)

# MagicDNS end to end in namespaces: dig from a node, a real DNS server (dnsmasq) in a LAN namespace, the
# system resolver set up and restored (a mount namespace with its own /etc), bad input (root)
TESTS += t/node_dns.t
EXTRA_DIST += t/node_dns.t
