# SPDX-License-Identifier: GPL-2.0-only
#
# Hunting and detections (issue 10): where `vigil host` finds the shipped rules.
$(O)/cli/host.o: CPPFLAGS += -DVG_RULES_SRC='"$(abspath rules)"'
