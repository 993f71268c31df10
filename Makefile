# SPDX-License-Identifier: GPL-2.0-only
#
# vigil build. Everything generated lands in $(O) (default build/).
#   make help            every target, one line each (the `## ` comments on rule lines)
#   V=1                  show full commands

# SANITIZE=1 (mk/sanitize.mk): ASan+UBSan build, kept apart from the normal one.
ifeq ($(SANITIZE),1)
O ?= build-san
endif
O ?= build
override O := $(patsubst %/,%,$(O))

ifeq ("$(origin V)", "command line")
  VG_V := $(V)
endif
Q   := $(if $(filter 1,$(VG_V)),,@)
say  = $(if $(Q),@printf '  %-8s %s\n' '$(1)' '$(patsubst $(O)/%,%,$(2))';)

CC          ?= cc
CLANG       ?= clang
BPFTOOL     ?= bpftool
PROTOC_C    ?= protoc-c
CLANG_FMT   ?= clang-format
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH        := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all run check check-unit check-kern check-format format clean deps \
	defconfig menuconfig olddefconfig savedefconfig help

all: $(O)/vigild $(O)/vigil ## build/vigild and build/vigil (the default)

# ---- dependencies: scripts/deps.sh installs a part's packages (scripts/deps/PART.txt)
# when something is missing, once per build directory: building and running need only
# `base`; the tests, the bench, the kernel matrix and the Windows half install their own.
deps-stamp = $(O)/.deps-$(1)
DEPS_STAMP := $(call deps-stamp,base)
$(O)/.deps-%: scripts/deps.sh scripts/deps/%.txt
	$(Q)mkdir -p $(O)
	$(Q)scripts/deps.sh $*
	$(Q)touch $@
deps: ## install every part of scripts/deps (base, test, bench, kernels, win)
	$(Q)scripts/deps.sh --all

# Downloads and third-party builds (the Windows libraries, the matrix's kernels) are
# cached here; .ci/run points it at an empty folder to prove a fresh machine.
VIGIL_CACHE ?= /var/cache/vigil
export VIGIL_CACHE

# ---- Kconfig (kconfig-frontends); see docs/style.md
export KCONFIG_CONFIG     := $(abspath $(O))/.config
export KCONFIG_AUTOHEADER := $(abspath $(O))/include/generated/autoconf.h
export KCONFIG_AUTOCONFIG := $(abspath $(O))/include/config/auto.conf
export srctree            := $(CURDIR)
AUTO_CONF   := $(O)/include/config/auto.conf
AUTO_HEADER := $(O)/include/generated/autoconf.h
KCONF_DIRS  := $(O)/include/config $(O)/include/generated

$(O)/.config: | $(DEPS_STAMP)
	$(call say,DEFCONFIG,$@)
	$(Q)mkdir -p $(KCONF_DIRS)
	$(Q)cd $(O) && kconfig-conf -s --alldefconfig $(CURDIR)/Kconfig >/dev/null

$(AUTO_CONF) $(AUTO_HEADER): $(O)/.config Kconfig
	$(call say,KCONFIG,$(AUTO_HEADER))
	$(Q)mkdir -p $(KCONF_DIRS)
	$(Q)cd $(O) && kconfig-conf -s --olddefconfig $(CURDIR)/Kconfig >/dev/null
	@# kconfig-frontends 4.11 writes auto.conf and autoconf.h only in silentoldconfig.
	$(Q)cd $(O) && kconfig-conf -s --silentoldconfig $(CURDIR)/Kconfig </dev/null >/dev/null
	$(Q)touch $(AUTO_CONF) $(AUTO_HEADER)

defconfig: | $(DEPS_STAMP) ## Kconfig defaults into build/.config
	$(Q)mkdir -p $(KCONF_DIRS)
	$(Q)cd $(O) && kconfig-conf --alldefconfig $(CURDIR)/Kconfig
olddefconfig: | $(DEPS_STAMP) ## new Kconfig options take their defaults
	$(Q)mkdir -p $(KCONF_DIRS)
	$(Q)cd $(O) && kconfig-conf --olddefconfig $(CURDIR)/Kconfig
menuconfig: | $(DEPS_STAMP) ## edit the Kconfig options (kconfig-frontends)
	$(Q)mkdir -p $(KCONF_DIRS)
	$(Q)cd $(O) && kconfig-mconf $(CURDIR)/Kconfig
savedefconfig: $(O)/.config ## build/defconfig: only the options that differ from the defaults
	$(Q)cd $(O) && kconfig-conf --savedefconfig defconfig $(CURDIR)/Kconfig
	@echo "  wrote $(O)/defconfig"

-include $(AUTO_CONF)

# ---- BPF: vmlinux.h, objects with CO-RE relocations, skeleton
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -I$(O) -Ikern
kern-objs-y := proc.bpf.o sys.bpf.o net.bpf.o flush.bpf.o
KERN_TMP := $(addprefix $(O)/kern/,$(kern-objs-y:.bpf.o=.tmp.o))

$(O)/vmlinux.h: | $(DEPS_STAMP)
	$(call say,GEN,$@)
	$(Q)mkdir -p $(O)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(O)/kern $(O)/daemon $(O)/lib $(O)/host $(O)/cli $(O)/hunt $(O)/schemas $(O)/tests/unit $(O)/tests/kern:
	$(Q)mkdir -p $@

# Headers, vmlinux.h included, reach the objects through their depfiles (-MMD): an object is
# rebuilt when a header it includes changes, and only then. The generated headers must exist
# before the first compile, hence the order-only prerequisites.
$(O)/kern/%.tmp.o: kern/%.bpf.c | $(O)/vmlinux.h $(O)/kern
	$(call say,CLANG,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(O)/kern/vigil.bpf.o: $(KERN_TMP)
	$(call say,BPFLINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(O)/kern/vigil.skel.h: $(O)/kern/vigil.bpf.o
	$(call say,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name vigil_bpf > $@.tmp && mv $@.tmp $@

# ---- protobuf
$(O)/schemas/vigil.pb-c.c $(O)/schemas/vigil.pb-c.h: schemas/vigil.proto | $(O)/schemas $(DEPS_STAMP)
	$(call say,PROTOC,$(O)/schemas/vigil.pb-c.c)
	$(Q)$(PROTOC_C) --proto_path=schemas --c_out=$(O)/schemas $<

# ---- userspace
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation \
	   -Werror=implicit-function-declaration -D_GNU_SOURCE
CPPFLAGS += -I$(O) -I$(O)/include -I$(O)/schemas -I$(O)/kern -Ikern -Ilib -Idaemon -Ihost -Icli -Ihunt
LDLIBS_LIB := -lzstd -lprotobuf-c -lnettle
GEN_HDRS := $(O)/schemas/vigil.pb-c.h $(AUTO_HEADER)

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o) $(O)/schemas/vigil.pb-c.o $(O)/schemas/vigil_zdict.o
USER_SRCS := $(wildcard daemon/*.c)
USER_OBJS := $(USER_SRCS:%.c=$(O)/%.o)
HOST_SRCS := $(wildcard host/*.c)
HOST_OBJS := $(HOST_SRCS:%.c=$(O)/%.o)
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(O)/%.o)
HUNT_SRCS := $(wildcard hunt/*.c)
HUNT_OBJS := $(HUNT_SRCS:%.c=$(O)/%.o)

$(O)/%.o: %.c | $(GEN_HDRS) $(DEPS_STAMP)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

# The zstd dictionary both sides ship (scripts/train-dict.sh makes it), as a C array.
$(O)/schemas/vigil_zdict.c: schemas/vigil-v1.zdict | $(O)/schemas $(DEPS_STAMP)
	$(call say,XXD,$@)
	$(Q)cd schemas && xxd -i -n vg_zdict vigil-v1.zdict > $(abspath $@).tmp && mv $(abspath $@).tmp $(abspath $@)

$(O)/schemas/vigil_zdict.o: $(O)/schemas/vigil_zdict.c
	$(call say,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(O)/schemas/vigil.pb-c.o: $(O)/schemas/vigil.pb-c.c
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(addprefix $(O)/daemon/,bpf.o probe.o slots.o sweep.o): $(O)/kern/vigil.skel.h

$(O)/libvigil.a: $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# vigild's objects without its main(), for tests.
VIGILD_LIB_OBJS := $(filter-out $(O)/daemon/vigild.o,$(USER_OBJS))
$(O)/libvigild.a: $(VIGILD_LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vigild: $(O)/daemon/vigild.o $(O)/libvigild.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $(VIGILD_LDFLAGS) -o $@ $(filter %.o %.a,$^) -lbpf -lelf -lz $(LDLIBS_LIB)

# vigil's objects without its main(), for tests.
HOST_LIB_OBJS := $(HOST_OBJS) $(filter-out $(O)/cli/vigil.o,$(CLI_OBJS)) $(HUNT_OBJS)
$(O)/libvigilhost.a: $(HOST_LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vigil: $(O)/cli/vigil.o $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lsqlite3 $(FLEET_LIBS) $(LDLIBS_LIB)

# ---- tests (Criterion)
UNIT_SRCS := $(wildcard tests/unit/*.c)
KTEST_SRCS := $(wildcard tests/kern/*.c)
$(O)/tests/unit_tests: $(UNIT_SRCS:%.c=$(O)/%.o) $(O)/libvigild.a $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lbpf -lelf -lz -lsqlite3 $(LDLIBS_LIB)

$(O)/tests/kern_tests: $(KTEST_SRCS:%.c=$(O)/%.o) $(O)/libvigild.a $(O)/libvigilhost.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lbpf -lelf -lz -lsqlite3 $(LDLIBS_LIB)

# Criterion and the other test tools come with the `test` part of scripts/deps.
$(UNIT_SRCS:%.c=$(O)/%.o) $(KTEST_SRCS:%.c=$(O)/%.o): | $(call deps-stamp,test)

TESTS := $(if $(UNIT_SRCS),$(O)/tests/unit_tests) $(if $(KTEST_SRCS),$(O)/tests/kern_tests)
tests: $(TESTS) ## build the unit and kernel test runners

# Criterion forks a process per test; tests/kern/main.c runs kernel tests one at a time.
check-unit: $(O)/tests/unit_tests $(O)/vigil | $(call deps-stamp,test) ## the unit tests (Criterion)
	$(Q)VIGIL=$(abspath $(O)/vigil) $(O)/tests/unit_tests --jobs 2

check-kern: $(O)/tests/kern_tests $(O)/vigild $(O)/vigil | $(call deps-stamp,test) ## (root) the kernel tests: real BPF programs, real workloads
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make check-kern: the kernel tests load BPF programs and need root (sudo make check); they will report skipped"; fi
	$(Q)VIGILD=$(abspath $(O)/vigild) VIGIL=$(abspath $(O)/vigil) $(O)/tests/kern_tests --jobs 1

# Parts of the build with make rules of their own (bench, kernels, Windows, ...)
# add their test targets to CHECK_TARGETS; `make check` runs them after these.
CHECK_TARGETS := all check-format check-unit check-kern
include $(sort $(wildcard mk/*.mk))
check: $(CHECK_TARGETS) ## (root) every test: format, unit, kernel, fuzz, BPF, bench, Windows, MSI

# ---- run: sensor + local host endpoint, live timeline
run: all ## (root) sensor + host endpoint on ./vigil.db, live timeline
	$(Q)if [ "$$(id -u)" != 0 ]; then \
		echo "make run: vigild loads BPF programs and needs root: sudo make run" >&2; exit 1; fi
	$(Q)echo "vigil: storing in ./vigil.db, showing live events; Ctrl-C stops"
	$(Q)exec $(O)/vigil host --db vigil.db --print --spawn $(O)/vigild

# ---- formatting
FMT_SRCS = $(wildcard kern/*.c kern/*.h lib/*.c lib/*.h daemon/*.c daemon/*.h host/*.c host/*.h \
		      cli/*.c cli/*.h hunt/*.c hunt/*.h plugin/*.c plugin/*.h \
		      tests/*/*.c tests/*/*.h)
format: ## clang-format the sources in place
	$(Q)$(CLANG_FMT) -i $(FMT_SRCS)
check-format: | $(call deps-stamp,test) ## fail on any clang-format difference
	$(call say,FORMAT,sources)
	$(Q)$(CLANG_FMT) --dry-run --Werror $(FMT_SRCS)

clean: ## remove the build directory
	$(Q)rm -rf $(O)

# Every target a user runs carries a `## what it does` comment on its rule line.
help: ## this list
	@echo 'make [TARGET...] [O=DIR] [V=1]; targets:'
	@sed -n 's/^\([a-z][a-z0-9 -]*\):.*## \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | \
		awk -F'\t' '{ printf "  %-22s %s\n", $$1, $$2 }'

-include $(wildcard $(O)/kern/*.d $(O)/lib/*.d $(O)/daemon/*.d $(O)/host/*.d $(O)/cli/*.d $(O)/hunt/*.d $(O)/tests/*/*.d)
