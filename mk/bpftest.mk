# SPDX-License-Identifier: GPL-2.0-only
#
# BPF unit tests (tests/bpf): test-only BPF programs that include the real
# kern/ headers run limits, dedup, the filter matcher and the path walk
# through BPF_PROG_TEST_RUN; a Criterion runner asserts their outputs.
#   make check-bpf        (root) build/tests/bpf_tests; skipped without root

.PHONY: check-bpf

BPFTEST_SRCS := $(wildcard tests/bpf/test_*.c) tests/bpf/harness.c
BPFTEST_OBJS := $(BPFTEST_SRCS:%.c=$(O)/%.o)

$(O)/tests/bpf:
	$(Q)mkdir -p $@

$(O)/tests/bpf/%.tmp.o: tests/bpf/%.bpf.c | $(O)/vmlinux.h $(O)/tests/bpf
	$(call say,CLANG,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Itests/bpf -MMD -MP -MF $(@:.o=.d) -c $< -o $@

# Static pattern: the implicit $(O)/%.o rule would compile tests/bpf/*.bpf.c for the host.
BPFTEST_BPF := $(patsubst tests/bpf/%.bpf.c,$(O)/tests/bpf/%.bpf.o,$(wildcard tests/bpf/*.bpf.c))
$(BPFTEST_BPF): $(O)/tests/bpf/%.bpf.o: $(O)/tests/bpf/%.tmp.o
	$(call say,BPFLINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(O)/tests/bpf/%.skel.h: $(O)/tests/bpf/%.bpf.o
	$(call say,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(BPFTEST_OBJS): CPPFLAGS += -I$(O)/tests/bpf -Itests/bpf
$(BPFTEST_OBJS): $(O)/tests/bpf/bpft.skel.h | $(call deps-stamp,test)

$(O)/tests/bpf_tests: $(BPFTEST_OBJS) $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lbpf -lelf -lz $(LDLIBS_LIB)

tests: $(O)/tests/bpf_tests

check-bpf: $(O)/tests/bpf_tests | $(call deps-stamp,test) ## (root) BPF unit tests: kern/ code run through BPF_PROG_TEST_RUN
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-bpf: the BPF unit tests load BPF programs and need root (sudo make check); they will report skipped"; fi
	$(Q)$(O)/tests/bpf_tests --jobs 2

CHECK_TARGETS += check-bpf
