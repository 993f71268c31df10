# SPDX-License-Identifier: GPL-2.0-only
#
# Hunting and detections (issue 10): where `vigil host` finds the shipped rules.
$(O)/cli/host.o: CPPFLAGS += -DVG_RULES_SRC='"$(abspath rules)"'

# Sigma rules (hunt/sigma.c, `vigil rules import-sigma`) are YAML: libyaml.
# Everything that links libvigilhost.a and may pull sigma.o links FLEET_LIBS.
FLEET_LIBS += -lyaml
