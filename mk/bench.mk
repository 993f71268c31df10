# SPDX-License-Identifier: GPL-2.0-only
#
# make bench [QUICK=1] [ROUNDS=N]   (root) every workload under every sensor
#                                   configuration, interleaved; see bench/README.md
# make bench-encode                 userspace only: encode + compress throughput
#                                   from a capture recorded from /proc
# make bench-decode                 what a BATCH payload built to amplify costs the
#                                   host to decode (peak RSS, time), next to a real one
# make check-bench                  the quick bench once, results under $(O)/bench,
#                                   no timing asserted (part of make check)

BENCH_RESULTS ?= bench/results

$(O)/bench/workload: bench/workload.c | $(call deps-stamp,bench)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -MF $(@:=.d) -o $@ $<

$(O)/bench/encode.o: bench/encode.c | $(GEN_HDRS) $(call deps-stamp,bench)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/encode: $(O)/bench/encode.o $(O)/libvigild.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lbpf -lelf -lz $(LDLIBS_LIB)

$(O)/bench/decode.o: bench/decode.c $(GEN_HDRS) | $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/decode: $(O)/bench/decode.o $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)

$(O)/bench/ingest.o: bench/ingest.c $(GEN_HDRS) | $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/ingest: $(O)/bench/ingest.o $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB) -lcurl -lpthread

# The zero-drop ceiling: the event generator and the acknowledging sink (vigild alone).
$(O)/bench/flood: bench/flood.c | $(call deps-stamp,bench)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -MF $(@:=.d) -o $@ $< -lpthread

$(O)/bench/sink.o: bench/sink.c | $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/sink: $(O)/bench/sink.o $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)

BENCH_BINS := $(O)/bench/workload $(O)/bench/encode $(O)/bench/decode $(O)/bench/ingest \
	$(O)/bench/flood $(O)/bench/sink

.PHONY: bench bench-encode bench-decode check-bench bench-ingest
bench: all $(BENCH_BINS) | $(call deps-stamp,fleet) ## (root) every workload under each sensor, side by side [QUICK=1] [ROUNDS=N]
	$(Q)bench/run.sh --build $(O) --results $(BENCH_RESULTS) $(if $(QUICK),--quick) \
		$(if $(ROUNDS),--rounds $(ROUNDS))
	$(Q)bench/ingest.sh --build $(O) $(if $(QUICK),--quick)

bench-ingest: all $(O)/bench/ingest | $(call deps-stamp,fleet) ## (root) K hosts into vigil server and PostgreSQL [SQLITE=1: into vigil host]: events/s, CPU, bytes/event, latency
	$(Q)bench/ingest.sh --build $(O) $(if $(QUICK),--quick) $(if $(SQLITE),--sqlite)

bench-encode: $(O)/bench/encode ## userspace encode + compress throughput from a /proc capture
	$(Q)$(O)/bench/encode record $(O)/bench/capture.bin
	$(Q)$(O)/bench/encode replay $(O)/bench/capture.bin --seconds 3

bench-decode: $(O)/bench/decode ## userspace only: what a batch made to amplify costs the host to decode
	$(Q)$(O)/bench/decode

check-bench: all $(BENCH_BINS) ## (root) the quick bench once, nothing timed asserted
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-bench: needs root (sensors load BPF programs): skipped"; \
	else bench/run.sh --build $(O) --results $(O)/bench/results --quick; fi

CHECK_TARGETS += check-bench

-include $(wildcard $(O)/bench/*.d)

FMT_SRCS += $(wildcard bench/*.c)

# make bench-retain: ingestion rate with and without a retention pass beside it (bench/retain.c)
$(O)/bench/retain.o: bench/retain.c $(GEN_HDRS) | $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/retain: $(O)/bench/retain.o $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lsqlite3 -lpthread $(LDLIBS_LIB)

.PHONY: bench-retain
bench-retain: $(O)/bench/retain ## ingestion rate with and without a retention pass running
	$(Q)$(O)/bench/retain

# make bench-rulecost: each detection rule's ms per run over a store holding a file-event flood (bench/rulecost.c)
$(O)/bench/rulecost.o: bench/rulecost.c $(GEN_HDRS) | $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/bench/rulecost: $(O)/bench/rulecost.o $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lsqlite3 -lpthread $(LDLIBS_LIB)

.PHONY: bench-rulecost
bench-rulecost: $(O)/bench/rulecost ## each rule's ms per detection run over a store holding a million flood file events
	$(Q)$(O)/bench/rulecost
