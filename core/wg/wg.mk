# SPDX-License-Identifier: BSD-3-Clause
# core/wg: fragment of the top Makefile.am (paths from the top)
libweftcore_la_SOURCES += \
	core/wg/constants.h core/wg/errors.h core/wg/messages.h \
	core/wg/replay.c core/wg/replay.h \
	core/wg/tai64n.c core/wg/tai64n.h \
	core/wg/timers.c core/wg/timers.h \
	core/wg/cookie.c core/wg/cookie.h \
	core/wg/noise.c core/wg/noise.h \
	core/wg/transport.c core/wg/transport.h

check_PROGRAMS += t/unit/test_wg_replay t/unit/test_wg_timers t/unit/test_wg_noise
TESTS += t/unit/test_wg_replay t/unit/test_wg_timers t/unit/test_wg_noise

FUZZ_TARGETS += fuzz_wg_handshake fuzz_wg_transport
EXTRA_DIST += t/fuzz/corpus/fuzz_wg_handshake t/fuzz/corpus/fuzz_wg_transport

BENCHES += bench/bench_wg

# The engine: device (peers, sessions, timers, batched UDP), allowed IPs, TUN with offloads, UAPI.
libweftcore_la_SOURCES += \
	core/wg/allowedips.c core/wg/allowedips.h \
	core/wg/offload.c core/wg/offload.h \
	core/wg/tun.c core/wg/tun.h \
	core/wg/device.c core/wg/device.h core/wg/device_int.h core/wg/peers.c \
	core/wg/uapi.c core/wg/uapi.h

check_PROGRAMS += t/unit/test_wg_allowedips t/unit/test_wg_offload t/unit/test_wg_device
TESTS += t/unit/test_wg_allowedips t/unit/test_wg_offload t/unit/test_wg_device

# Real peers in network namespaces (root; they skip otherwise): weft <-> wireguard-go, weft <-> weft.
TESTS += t/wireguard-go.t t/wireguard.t
EXTRA_DIST += t/wireguard-go.t t/wireguard.t t/wglib.sh t/wgjunk.py t/tcpcarry.py

# iperf3 through weft <-> weft and wireguard-go <-> wireguard-go (a script; the program runs it).
BENCHES += bench/bench_wireguard
bench_bench_wireguard_CPPFLAGS = $(AM_CPPFLAGS) -DWEFT_ABS_SRCDIR='"$(abs_top_srcdir)"' \
	-DWEFT_ABS_BUILDDIR='"$(abs_top_builddir)"'
EXTRA_DIST += bench/wireguard.sh

FUZZ_TARGETS += fuzz_wg_offload fuzz_wg_uapi
EXTRA_DIST += t/fuzz/corpus/fuzz_wg_offload t/fuzz/corpus/fuzz_wg_uapi
