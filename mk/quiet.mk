# SPDX-License-Identifier: GPL-2.0-only
#
# make check-quiet (root): a developer's ordinary day under a real sensor with
# the shipped rules raises no alert (scripts/quietday.sh; README, Detections).
# QUIET_SUITE='CMD' also runs CMD (e.g. make check-kern) under it: its alerts
# that scripts/quietday.allow lists are the tests' own.
.PHONY: check-quiet
check-quiet: all | $(call deps-stamp,test) ## (root) an ordinary day (clone, build, unit tests, packages, a shell) raises no alert
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-quiet: needs root (the sensor loads BPF programs, packages are installed): skipped"; \
	else scripts/quietday.sh --build $(O) $(if $(QUIET_SUITE),--suite '$(QUIET_SUITE)'); fi
CHECK_TARGETS += check-quiet
