# SPDX-License-Identifier: GPL-2.0-only
#
# The fleet tier (issue 17): PostgreSQL through libpq for `vigil hunt --pg`,
# and the fleet tests (tests/fleet, root: they run a throwaway PostgreSQL
# with scripts/pgtest.sh). Packages: scripts/deps/fleet.txt.
FLEET_LIBS := -lpq
PG_CFLAGS := -I/usr/include/postgresql

$(O)/hunt/hunt_pg.o: CPPFLAGS += $(PG_CFLAGS)
$(O)/hunt/hunt_pg.o: | $(call deps-stamp,fleet)

FLEET_TEST_SRCS := $(wildcard tests/fleet/*.c)
$(FLEET_TEST_SRCS:%.c=$(O)/%.o): CPPFLAGS += $(PG_CFLAGS)
$(FLEET_TEST_SRCS:%.c=$(O)/%.o): | $(call deps-stamp,test) $(call deps-stamp,fleet)
$(O)/tests/fleet_tests: $(FLEET_TEST_SRCS:%.c=$(O)/%.o) $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lsqlite3 $(FLEET_LIBS) $(LDLIBS_LIB)

tests: $(if $(FLEET_TEST_SRCS),$(O)/tests/fleet_tests)

.PHONY: check-fleet
check-fleet: $(O)/tests/fleet_tests $(O)/vigil | $(call deps-stamp,test) ## (root) the fleet tests: KQL on PostgreSQL against SQLite, vigil hunt --pg
	$(Q)VIGIL=$(abspath $(O)/vigil) $(O)/tests/fleet_tests --jobs 1
CHECK_TARGETS += check-fleet
