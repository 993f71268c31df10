# SPDX-License-Identifier: GPL-2.0-only
#
# The console (issue 22): pages under /console/ served by `vigil server`
# (server/console*.c). Its style sheet and script are compiled in (xxd -i),
# and its saved queries are docs/schema.md's hunting queries, read at build
# time. The tests drive headless Chromium through chromedriver (the
# `console` part, scripts/deps/console.txt) against a real server, a real
# PostgreSQL and real sensors; screenshots go to $(O)/console-shots/.
CONSOLE_GEN := $(O)/gen/console_assets.h $(O)/gen/console_queries.h
CONSOLE_ASSETS := server/console/style.css server/console/console.js

$(O)/gen/console_assets.h: $(CONSOLE_ASSETS)
	$(call say,GEN,$@)
	$(Q)mkdir -p $(@D) && cd server && for f in $(CONSOLE_ASSETS:server/%=%); do \
		xxd -i $$f | sed 's/^unsigned/static const unsigned/; s/\bconsole_/vg_console_/'; \
	done > $(abspath $@).tmp && mv $(abspath $@).tmp $(abspath $@)

# Each fenced block under docs/schema.md's "hunting queries" heading, as a C string.
$(O)/gen/console_queries.h: docs/schema.md
	$(call say,GEN,$@)
	$(Q)mkdir -p $(@D) && awk ' \
		/^## / { on = /hunting queries/; next } \
		on && /^```/ { if (inq) { print "\" },"; inq = 0 } else { n++; \
			printf "\t{ \"Schema query %d (docs/schema.md)\", \"", n; inq = 1 } next } \
		inq { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s\\n", $$0 } \
		BEGIN { print "/* generated from docs/schema.md by mk/console.mk */"; \
			print "static const struct { const char *title, *kql; } vg_saved[] = {" } \
		END { print "};"; print "#define VG_SAVED_N (sizeof(vg_saved) / sizeof(vg_saved[0]))" }' \
		$< > $@.tmp && mv $@.tmp $@

$(O)/server/console.o $(O)/server/console_pages.o: $(CONSOLE_GEN)
$(O)/server/console.o $(O)/server/console_pages.o: CPPFLAGS += -I$(O)/gen

FMT_SRCS += $(wildcard tests/console/*.c tests/console/*.h)

CONSOLE_TEST_SRCS := $(wildcard tests/console/*.c)
CONSOLE_TEST_OBJS := $(CONSOLE_TEST_SRCS:%.c=$(O)/%.o)
CONSOLE_FLEET_OBJS := $(O)/tests/fleet/fixture.o $(O)/tests/fleet/hosts.o
$(CONSOLE_TEST_OBJS): CPPFLAGS += $(FLEET_CPPFLAGS) -Itests/fleet
$(CONSOLE_TEST_OBJS): | $(call deps-stamp,test) $(call deps-stamp,fleet)

$(O)/tests/console_tests: $(CONSOLE_TEST_OBJS) $(CONSOLE_FLEET_OBJS) $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lsqlite3 -lnettle $(LDLIBS_LIB) $(FLEET_LIBS)

tests: $(O)/tests/console_tests

check-console: $(O)/tests/console_tests $(O)/vigil $(O)/vigild | $(call deps-stamp,test) $(call deps-stamp,fleet) $(call deps-stamp,console) ## (root) the console in headless Chromium against a real server, PostgreSQL and sensors; screenshots in $(O)/console-shots
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-console: the tests run sensors and PostgreSQL and need root"; exit 1; fi
	$(Q)rm -rf $(O)/console-shots && mkdir -p $(O)/console-shots
	$(Q)VG_SHOTS=$(abspath $(O)/console-shots) VIGIL=$(abspath $(O)/vigil) VIGILD=$(abspath $(O)/vigild) VG_SRCDIR=$(CURDIR) $(O)/tests/console_tests --jobs 1
	@echo "check-console: screenshots in $(O)/console-shots/"

CHECK_TARGETS += check-console
.PHONY: check-console

bench-console: all | $(call deps-stamp,fleet) ## (root) the console's pages timed on a million events in PostgreSQL [EVENTS=N]
	$(Q)bench/console.sh --build $(O) $(if $(EVENTS),--events $(EVENTS))
.PHONY: bench-console
