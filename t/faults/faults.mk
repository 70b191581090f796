# SPDX-License-Identifier: BSD-3-Clause
# t/faults/: the fault-injection suite (issue 10; fragment of the top Makefile.am). Each test reproduces a
# defect found by attacking weft or using it carelessly (floods, hostile strings, kill -9, full disks,
# slowloris, fd limits) and keeps it fixed. C tests link libweftcore.la; shell tests (*.t) run the real
# binary.

# core and node: the loop, listeners, config reader, state_dir, logging, CLIs
check_PROGRAMS += t/faults/test_loop_idle t/faults/test_log_forge t/faults/test_accept_emfile
TESTS += t/faults/test_loop_idle t/faults/test_log_forge t/faults/test_accept_emfile
TESTS += t/faults/cli_controls.t
EXTRA_DIST += t/faults/cli_controls.t t/faults/hostile_api.py
TESTS += t/faults/node_up_again.t
EXTRA_DIST += t/faults/node_up_again.t
TESTS += t/faults/netns_chroot.t
EXTRA_DIST += t/faults/netns_chroot.t
TESTS += t/faults/config_files.t
EXTRA_DIST += t/faults/config_files.t
TESTS += t/faults/fd_limit.t
EXTRA_DIST += t/faults/fd_limit.t
TESTS += t/faults/state_dir.t
EXTRA_DIST += t/faults/state_dir.t

# control: pending registrations, the channel's limits, Hostinfo strings, admission, kill -9, full disk,
# slowloris
FAULT_TESTS = t/faults/control-pending.t t/faults/control-conns.t t/faults/control-strings.t \
	t/faults/control-admission.t t/faults/control-kill.t t/faults/control-disk.t t/faults/control-slowloris.t
TESTS += $(FAULT_TESTS)
EXTRA_DIST += $(FAULT_TESTS) t/faults/control_lib.sh
