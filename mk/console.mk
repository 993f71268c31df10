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
