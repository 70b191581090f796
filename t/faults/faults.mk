# SPDX-License-Identifier: BSD-3-Clause
# t/faults/: the fault-injection suite (fragment of the top Makefile.am). Each test reproduces an attack or
# an accident (issue 10: floods, hostile strings, kill -9, full disks, slowloris) against the real binary
# and checks that weft holds. One line per test: add yours to FAULT_TESTS.
FAULT_TESTS =
FAULT_TESTS += t/faults/control-pending.t t/faults/control-conns.t t/faults/control-strings.t \
	t/faults/control-admission.t t/faults/control-kill.t t/faults/control-disk.t t/faults/control-slowloris.t
TESTS += $(FAULT_TESTS)
EXTRA_DIST += $(FAULT_TESTS) t/faults/control_lib.sh
