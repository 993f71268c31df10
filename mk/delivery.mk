# SPDX-License-Identifier: GPL-2.0-only
#
# Delivery (issue 5): fuzz targets for the frame and batch decoders and the
# host's connection logic, built with clang's libFuzzer and run for a bounded
# time by `make check`, and the
# SANITIZE=1 build (ASan + UBSan for everything; objects in build-san/).
#   make fuzz [FUZZ_SECONDS=20]   run each target that long
#
# SANITIZE=1 flags are added here; the Makefile picks O=build-san for it.

ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
# libbpf and libelf keep caches until exit by design: report real leaks only.
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
endif

FUZZ_SECONDS ?= 20
FUZZ_TARGETS := frame batch conn spool
FUZZ_BINS := $(FUZZ_TARGETS:%=$(O)/tests/fuzz/fuzz_%)
FUZZ_LIB_SRCS := lib/frame.c lib/batch.c lib/wire.c $(O)/schemas/vigil_zdict.c
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	      -D_GNU_SOURCE -I$(O) -I$(O)/include -I$(O)/schemas -Ilib

# What a target needs beyond the wire code: the spool loader and the logger (and its escaper).
FUZZ_EXTRA_spool := daemon/spool.c daemon/spool_load.c daemon/paths.c lib/log.c lib/esc.c
$(O)/tests/fuzz/fuzz_spool: $(FUZZ_EXTRA_spool)

$(O)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS) $(O)/schemas/vigil.pb-c.c $(GEN_HDRS)
	$(call say,FUZZLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -Idaemon -o $@ $< $(FUZZ_EXTRA_$*) $(FUZZ_LIB_SRCS) \
		$(O)/schemas/vigil.pb-c.c $(LDLIBS_LIB)

# The host's connection logic (handshake, identity, store) over an in-memory SQLite.
FUZZ_CONN_SRCS := lib/auth.c lib/crypto.c lib/log.c lib/esc.c host/conn.c host/store.c host/store_write.c host/fmt.c
$(O)/tests/fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c $(FUZZ_LIB_SRCS) $(FUZZ_CONN_SRCS) \
			   $(O)/schemas/vigil.pb-c.c $(GEN_HDRS)
	$(call say,FUZZLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) -Ihost -o $@ $< $(FUZZ_LIB_SRCS) $(FUZZ_CONN_SRCS) \
		$(O)/schemas/vigil.pb-c.c -lsqlite3 $(LDLIBS_LIB)

.PHONY: fuzz check-fuzz-wire
fuzz check-fuzz-wire: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p $(O)/tests/fuzz/corpus-$$t; \
		printf '  %-8s %s (%s s)\n' FUZZ $$t $(FUZZ_SECONDS); \
		$(O)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -rss_limit_mb=2048 \
			-print_final_stats=0 $(O)/tests/fuzz/corpus-$$t tests/fuzz/seeds-$$t \
			>$(O)/tests/fuzz/fuzz_$$t.log 2>&1 \
		|| { tail -40 $(O)/tests/fuzz/fuzz_$$t.log; exit 1; }; \
		grep -h 'Done [0-9]* runs' $(O)/tests/fuzz/fuzz_$$t.log | sed 's/^/           /'; \
	done

CHECK_TARGETS += check-fuzz-wire
