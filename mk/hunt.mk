# SPDX-License-Identifier: GPL-2.0-only
#
# Hunting and detections (issue 10): where `vigil host` finds the shipped rules.
$(O)/cli/host.o: CPPFLAGS += -DVG_RULES_SRC='"$(abspath rules)"'

# Bounded libFuzzer run of the KQL translator (clang -fsanitize=fuzzer).
FUZZ_SECONDS ?= 20
# A fixed seed: make check explores the same inputs each run (FUZZ_SEED=0 for a random one).
FUZZ_SEED ?= 1
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	       -D_GNU_SOURCE -Ihunt -Ihost -Ilib
# The translator: every hunt/kql*.c, so the target follows its files.
KQL_SRCS := $(wildcard hunt/kql*.c)
KQL_FUZZ_SRCS := tests/fuzz/fuzz_kql.c $(KQL_SRCS) host/fmt.c lib/esc.c
$(O)/fuzz/fuzz_kql: $(KQL_FUZZ_SRCS) $(wildcard hunt/kql*.h) host/fmt.h lib/esc.h | $(DEPS_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(KQL_FUZZ_SRCS) -lsqlite3

.PHONY: check-fuzz-kql
check-fuzz-kql: $(O)/fuzz/fuzz_kql ## fuzz the KQL translator (FUZZ_SECONDS)
	$(Q)rm -rf $(O)/fuzz/corpus && mkdir -p $(O)/fuzz/corpus && cp tests/fuzz/corpus/* $(O)/fuzz/corpus/
	$(Q)echo "  FUZZ     kql translator for $(FUZZ_SECONDS) s"
	$(Q)$(O)/fuzz/fuzz_kql -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -max_len=1024 -timeout=10 \
		-dict=tests/fuzz/kql.dict \
		-rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix=$(O)/fuzz/ \
		$(O)/fuzz/corpus 2>$(O)/fuzz/log || { tail -40 $(O)/fuzz/log; exit 1; }
	$(Q)grep -E 'stat::number_of_executed_units|stat::new_units_added' $(O)/fuzz/log | sed 's/^/  /'

CHECK_TARGETS += check-fuzz-kql
