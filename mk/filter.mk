# SPDX-License-Identifier: GPL-2.0-only
#
# Filters (issue 6): bounded libFuzzer run of the filter language parser.
FUZZ_VF_SECONDS ?= 15
$(O)/fuzz/fuzz_vf: tests/fuzz/fuzz_vf.c lib/filter.c lib/filter_replay.c lib/filter.h lib/esc.c lib/esc.h kern/vf_match.h kern/vigil_abi.h | $(DEPS_STAMP)
	$(call say,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -Ilib -Ikern -o $@ tests/fuzz/fuzz_vf.c lib/filter.c lib/filter_replay.c lib/esc.c

.PHONY: check-fuzz-vf
check-fuzz-vf: $(O)/fuzz/fuzz_vf ## fuzz the filter language parser and matcher (FUZZ_SECONDS)
	$(Q)rm -rf $(O)/fuzz/corpus-vf && mkdir -p $(O)/fuzz/corpus-vf && cp tests/fuzz/corpus-vf/* $(O)/fuzz/corpus-vf/
	$(Q)echo "  FUZZ     filter parser for $(FUZZ_VF_SECONDS) s"
	$(Q)$(O)/fuzz/fuzz_vf -max_total_time=$(FUZZ_VF_SECONDS) -seed=$(FUZZ_SEED) -max_len=2048 -timeout=10 \
		-rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix=$(O)/fuzz/vf- \
		$(O)/fuzz/corpus-vf 2>$(O)/fuzz/vf.log || { tail -40 $(O)/fuzz/vf.log; exit 1; }
	$(Q)grep -E 'stat::number_of_executed_units|stat::new_units_added' $(O)/fuzz/vf.log | sed 's/^/  /'

CHECK_TARGETS += check-fuzz-vf
