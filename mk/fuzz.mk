# SPDX-License-Identifier: GPL-2.0-only
#
# Fuzz targets: libFuzzer (clang -fsanitize=fuzzer) with ASan and UBSan over
# what parses attacker input, each run for a bounded time by `make check`.
# tests/fuzz/fuzz_NAME.c is target NAME; FUZZ_SRCS_NAME lists what it links
# besides; tests/fuzz/seeds-NAME/ holds its seed inputs (and seeds-NAME.dict
# a dictionary, where there is one).
#   make fuzz [FUZZ_SECONDS=20] [FUZZ_SEED=1]   every target
#   make check-fuzz-wire | check-fuzz-vf | check-fuzz-kql | check-fuzz-enroll | check-fuzz-sigma |
#   check-fuzz-dns
# A fixed seed: make check explores the same inputs each run (FUZZ_SEED=0
# for a random one).

FUZZ_SECONDS ?= 20
FUZZ_SEED ?= 1
FUZZ_O := $(O)/tests/fuzz
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	       -D_GNU_SOURCE -I$(O) -I$(O)/include -I$(O)/schemas -Ikern -Ilib -Idaemon -Ihost -Ihunt -Iserver

FUZZ_WIRE := lib/frame.c lib/batch.c lib/wire.c $(O)/schemas/vigil.pb-c.c \
	     $(O)/schemas/vigil_zdict.c
# The frame reader and the batch decoder.
FUZZ_SRCS_frame := $(FUZZ_WIRE)
FUZZ_SRCS_batch := $(FUZZ_WIRE)
# vigild's spool loader (random, torn and damaged segments).
FUZZ_SRCS_spool := $(FUZZ_WIRE) daemon/spool.c daemon/spool_load.c daemon/paths.c lib/log.c \
		   lib/esc.c
# The host's connection logic (handshake, identity, store) over an in-memory SQLite.
FUZZ_SRCS_conn := $(FUZZ_WIRE) lib/auth.c lib/crypto.c lib/log.c lib/esc.c host/conn.c \
		  host/fmt.c $(wildcard host/store*.c)
FUZZ_LIBS_conn := -lsqlite3
# The filter language's parser, checker and replay.
FUZZ_SRCS_vf := lib/filter.c lib/filter_replay.c lib/esc.c
FUZZ_OPTS_vf := -max_len=2048
# The KQL translator: every hunt/kql*.c, so the target follows its files.
FUZZ_SRCS_kql := $(wildcard hunt/kql*.c) host/fmt.c lib/esc.c
FUZZ_LIBS_kql := -lsqlite3
FUZZ_OPTS_kql := -max_len=1024
# vigil server's enrolment body (attacker input before any credential).
FUZZ_SRCS_enroll := server/enroll_json.c
FUZZ_OPTS_enroll := -max_len=4096
# DNS replies as a monitored process received them (vigild parses them).
FUZZ_SRCS_dns := lib/dns.c
FUZZ_OPTS_dns := -max_len=600

# Sigma rules (YAML) to vigil rules.
FUZZ_SRCS_sigma := hunt/sigma.c $(wildcard hunt/kql*.c) host/fmt.c lib/esc.c
FUZZ_LIBS_sigma := -lsqlite3 -lyaml
FUZZ_OPTS_sigma := -max_len=4096

FUZZ_WIRE_TARGETS := frame batch conn spool
FUZZ_TARGETS := $(FUZZ_WIRE_TARGETS) vf kql enroll sigma dns

# Objects: each source once per build, with its depfile, so a header change
# rebuilds exactly the targets that include it.
fuzz-obj = $(patsubst $(O)/%.c,$(FUZZ_O)/obj/gen/%.o,$(patsubst %.c,$(FUZZ_O)/obj/%.o,$(filter-out $(O)/%,$(1)))) \
	   $(patsubst $(O)/%.c,$(FUZZ_O)/obj/gen/%.o,$(filter $(O)/%,$(1)))

$(FUZZ_O)/obj/gen/%.o: $(O)/%.c | $(GEN_HDRS) $(DEPS_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(FUZZ_O)/obj/%.o: %.c | $(GEN_HDRS) $(DEPS_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_O)/fuzz_%: $(FUZZ_O)/obj/tests/fuzz/fuzz_%.o $$(call fuzz-obj,$$(FUZZ_SRCS_$$*))
	$(call say,FUZZLD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS_$*) $(LDLIBS_LIB)

# fuzz-run NAME: the target for its time over a corpus of the build's, seeded
# from tests/fuzz/seeds-NAME; the log's tail on a crash.
define fuzz-run
	$(Q)mkdir -p $(FUZZ_O)/corpus-$(1)
	$(Q)printf '  %-8s %s (%s s)\n' FUZZ $(1) $(FUZZ_SECONDS)
	$(Q)$(FUZZ_O)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) \
		-seed=$(FUZZ_SEED) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		$(FUZZ_OPTS_$(1)) $(if $(wildcard tests/fuzz/seeds-$(1).dict),-dict=tests/fuzz/seeds-$(1).dict) \
		-artifact_prefix=$(FUZZ_O)/$(1)- $(FUZZ_O)/corpus-$(1) tests/fuzz/seeds-$(1) \
		>$(FUZZ_O)/fuzz_$(1).log 2>&1 || { tail -40 $(FUZZ_O)/fuzz_$(1).log; exit 1; }
	$(Q)grep -hE 'stat::number_of_executed_units|stat::new_units_added' \
		$(FUZZ_O)/fuzz_$(1).log | sed 's/^/          /'

endef

.PHONY: fuzz check-fuzz-wire check-fuzz-vf check-fuzz-kql check-fuzz-enroll check-fuzz-sigma \
	check-fuzz-dns
fuzz: $(FUZZ_TARGETS:%=$(FUZZ_O)/fuzz_%) ## every fuzz target for FUZZ_SECONDS each
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz-run,$(t)))
check-fuzz-wire: $(FUZZ_WIRE_TARGETS:%=$(FUZZ_O)/fuzz_%) ## fuzz the frame, batch, connection and spool decoders
	$(foreach t,$(FUZZ_WIRE_TARGETS),$(call fuzz-run,$(t)))
check-fuzz-vf: $(FUZZ_O)/fuzz_vf ## fuzz the filter language parser and matcher
	$(call fuzz-run,vf)
check-fuzz-kql: $(FUZZ_O)/fuzz_kql ## fuzz the KQL translator
	$(call fuzz-run,kql)
check-fuzz-enroll: $(FUZZ_O)/fuzz_enroll ## fuzz vigil server's enrolment body parser
	$(call fuzz-run,enroll)
check-fuzz-sigma: $(FUZZ_O)/fuzz_sigma ## fuzz the Sigma rule importer
	$(call fuzz-run,sigma)
check-fuzz-dns: $(FUZZ_O)/fuzz_dns ## fuzz the DNS reply parser
	$(call fuzz-run,dns)

CHECK_TARGETS += check-fuzz-wire check-fuzz-vf check-fuzz-kql check-fuzz-enroll check-fuzz-sigma \
	check-fuzz-dns

-include $(shell find $(FUZZ_O)/obj -name '*.d' 2>/dev/null)
