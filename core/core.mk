# SPDX-License-Identifier: BSD-3-Clause
# core/: the shared runtime (fragment of the top Makefile.am)
libweftcore_la_SOURCES += \
	core/log.c core/log.h \
	core/version.h
libweftcore_la_SOURCES += \
	core/cfg.c core/cfg.h \
	core/cfgcheck.c core/cfgcheck.h \
	core/reload.c core/reload.h \
	core/module.c core/module.h \
	core/cli.c core/cli.h \
	core/text.c core/text.h \
	core/state_dir.c core/state_dir.h \
	core/cli_args.c core/cli_args.h \
	core/cli_http.c core/cli_http.h \
	core/metrics.c core/metrics.h \
	core/verbs.c core/verbs.h \
	core/ctx.h core/picohttp.h

# core event loop, streams, HTTP server and client, UDP (over libh2o-evloop)
libweftcore_la_SOURCES += \
	core/addr.c core/addr.h \
	core/loop.c core/loop.h core/loop_h2o.h \
	core/stream.c core/stream.h \
	core/accept.c core/accept.h \
	core/http.c core/http.h \
	core/tls.c core/tls.h \
	core/fetch.c core/fetch.h \
	core/acme/jws.c core/acme/jws.h \
	core/acme/cert.c core/acme/cert.h \
	core/acme/msg.c core/acme/msg.h \
	core/acme/client.c core/acme/client.h \
	core/acme/challenge.c core/acme/challenge.h \
	core/acme/store.c core/acme/store.h \
	core/acme/manager.c core/acme/manager.h \
	core/route.c core/route.h \
	core/http_client.c core/http_client.h \
	core/udp.c core/udp.h \
	core/resolve.c core/resolve.h \
	core/limit.c core/limit.h \
	core/filewatch.c core/filewatch.h \
	core/dynlib.c core/dynlib.h \
	core/strv.h
check_PROGRAMS += t/unit/test_loop t/unit/test_limit t/unit/test_addr t/unit/test_filewatch t/unit/test_dynlib
TESTS += t/unit/test_limit t/unit/test_addr t/unit/test_filewatch t/unit/test_dynlib
TESTS += t/unit/test_loop
check_PROGRAMS += t/unit/test_http
TESTS += t/unit/test_http
check_PROGRAMS += t/unit/test_stream t/unit/test_udp
TESTS += t/unit/test_stream t/unit/test_udp
# ACME pieces (the whole protocol against pebble: t/acme.t)
check_PROGRAMS += t/unit/test_acme
TESTS += t/unit/test_acme
FUZZ_TARGETS += fuzz_http_response fuzz_addr fuzz_tls_hello fuzz_acme
EXTRA_DIST += t/fuzz/corpus/fuzz_http_response t/fuzz/corpus/fuzz_addr t/fuzz/corpus/fuzz_tls_hello \
	t/fuzz/corpus/fuzz_acme
BENCHES += bench/bench_loop

# the control channel: Noise records over a stream, HTTP/2 in them (nghttp2), the client end
libweftcore_la_SOURCES += \
	core/noise_stream.c core/noise_stream.h \
	core/h2.c core/h2.h \
	core/control_client.c core/control_client.h
check_PROGRAMS += t/unit/test_h2
TESTS += t/unit/test_h2

# The DERP client (mesh links, the node role, tests, benchmarks) and the in-process admission interface.
libweftcore_la_SOURCES += \
	core/derp_client.c core/derp_client.h \
	core/admission.h core/frontdoor.h

# interface addresses, routes and link state over rtnetlink (the node's TUN)
libweftcore_la_SOURCES += core/netlink.c core/netlink.h
