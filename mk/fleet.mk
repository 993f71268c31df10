# SPDX-License-Identifier: GPL-2.0-only
#
# The fleet tier (issue 17): `vigil server` (server/: libmicrohttpd with GnuTLS,
# libpq) and `vigil hunt/alerts --pg` (hunt/hunt_pg.c, libpq) are part of the
# vigil binary. The libraries it links are small and come
# with `base` (scripts/deps/base.txt), so plain `make` builds it; PostgreSQL itself
# and certtool, which only the fleet tests run, come with the `fleet` part.
SERVER_SRCS := $(wildcard server/*.c)
SERVER_OBJS := $(SERVER_SRCS:%.c=$(O)/%.o)
FLEET_CPPFLAGS := -Iserver -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
FLEET_LIBS := -lpq -lmicrohttpd -lgnutls -lcurl

# cli/server.c (in libvigilhost.a) calls into server/: one archive holds both, so
# the link resolves them in any order.
$(O)/libvigilhost.a: $(SERVER_OBJS)
$(SERVER_OBJS) $(O)/cli/server.o $(O)/hunt/hunt_pg.o $(O)/cli/top.o $(O)/cli/stats.o: CPPFLAGS += $(FLEET_CPPFLAGS)

FMT_SRCS += $(wildcard server/*.c server/*.h)

# ---- tests: the real server, a real PostgreSQL (scripts/pgtest.sh), TLS with a CA
# made at test time (certtool), requests with the curl binary.
FLEET_TEST_SRCS := $(wildcard tests/fleet/*.c)
FLEET_TEST_OBJS := $(FLEET_TEST_SRCS:%.c=$(O)/%.o)
$(FLEET_TEST_OBJS): CPPFLAGS += $(FLEET_CPPFLAGS)
$(FLEET_TEST_OBJS): | $(call deps-stamp,test) $(call deps-stamp,fleet)

$(O)/tests/fleet_tests: $(FLEET_TEST_OBJS) $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lsqlite3 $(LDLIBS_LIB) $(FLEET_LIBS)

tests: $(O)/tests/fleet_tests

check-fleet: $(O)/tests/fleet_tests $(O)/vigil $(O)/vigild | $(call deps-stamp,test) $(call deps-stamp,fleet) ## (root) the fleet tests: vigil server over TLS into a throwaway PostgreSQL, KQL on PostgreSQL; twice: one PostgreSQL, a coordinator with two shards
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-fleet: the tests run PostgreSQL as the postgres user and need root"; exit 1; fi
	$(Q)VIGIL=$(abspath $(O)/vigil) VIGILD=$(abspath $(O)/vigild) VG_SRCDIR=$(CURDIR) $(O)/tests/fleet_tests --jobs 1
	@echo "check-fleet: the store's suites again on a coordinator with two shard servers (VG_FLEET_SHARDS=2)"
	$(Q)VG_FLEET_SHARDS=2 VIGIL=$(abspath $(O)/vigil) VIGILD=$(abspath $(O)/vigild) VG_SRCDIR=$(CURDIR) $(O)/tests/fleet_tests --jobs 1 \
		--filter '$(FLEET_SHARDED_SUITES)'

# What the sharded pass runs: the suites whose results depend on where the rows
# live (the store, hunting, detections, the server's batches, end to end); the
# hosts' own behaviour (outages, proxies, the outbox, filter sets) is the same
# over one database or a coordinator and is tested once.
FLEET_SHARDED_SUITES ?= @(fleet_store|fleet_hunt|fleet_kql|detect_pg|server|e2e)/*

CHECK_TARGETS += check-fleet
.PHONY: check-fleet

-include $(wildcard $(O)/server/*.d)
