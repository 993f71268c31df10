# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel matrix (issue 8): one BPF object proven on several kernels.
#   make STATIC=1         build/vigild linked statically (what the WSL plug-in ships)
#   make check-kernels    boot Debian's 5.10, 6.1 and 6.12 cloud kernels in QEMU (TCG)
#                         and run tests/kernels/ktest.c there and natively (root)
#   KERNELS="bullseye bookworm trixie"   suites to boot (NATIVE=0 skips the host kernel)
#   KERNELS_CACHE=$(VIGIL_CACHE)/kernels      where kernel packages are cached
#   KTEST_N=50            short-lived processes per hook variant
#   KTEST_HOOKS="auto tp tp_btf raw_tp"  variants to run (tp: auto with --deny-hook sys_exit:fentry)
#   KERNELS_WSL=trixie    boot this suite again with the WSL2 kernel's LSM list (empty: no)
#   KERNELS_ICOUNT=wsl    rows booted with one vCPU and QEMU's instruction-counted clock, where
#                         the cost ratios do not move with the host's load: wsl, all or none

.PHONY: check-kernels kernels-fetch vg-link-mode

KERNELS       ?= bullseye bookworm trixie
KERNELS_CACHE ?= $(VIGIL_CACHE)/kernels
KTEST_N       ?= 50
KTEST_HOOKS   ?= auto tp tp_btf raw_tp
KERNELS_WSL   ?= trixie
KERNELS_ICOUNT ?= wsl
NATIVE        ?= 1

# Relink vigild when STATIC changes: the stamp's time moves only then.
VIGILD_LDFLAGS := $(if $(filter 1,$(STATIC)),-static)
VG_LINK_MODE   := $(if $(filter 1,$(STATIC)),static,dynamic)
$(O)/vigild: $(O)/.vigild-link
$(O)/.vigild-link: vg-link-mode
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = $(VG_LINK_MODE) ] || echo $(VG_LINK_MODE) > $@

STATIC_LIBS := -lbpf -lelf -lz $(LDLIBS_LIB)

$(O)/kernels/vigild: $(O)/daemon/vigild.o $(O)/libvigild.a $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -static -o $@ $^ $(STATIC_LIBS)

$(O)/kernels/vg-ktest: $(O)/tests/kernels/ktest.o $(O)/libvigil.a
	$(call say,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -static -o $@ $^ $(STATIC_LIBS)

$(O)/kernels/initramfs.cpio.gz: scripts/kernels/initramfs.sh $(O)/kernels/vigild \
				$(O)/kernels/vg-ktest | $(call deps-stamp,kernels)
	$(call say,CPIO,$@)
	$(Q)scripts/kernels/initramfs.sh $@ $(O)/kernels/vigild $(O)/kernels/vg-ktest

kernels-fetch: | $(call deps-stamp,kernels) ## download the matrix's Debian kernels into the cache
	$(Q)scripts/kernels/fetch.sh $(KERNELS_CACHE) $(KERNELS) >/dev/null

check-kernels: $(O)/kernels/initramfs.cpio.gz $(O)/kernels/vigild $(O)/kernels/vg-ktest ## (root) the kernel matrix: 5.10, 6.1, 6.12 under QEMU and this kernel
	$(Q)scripts/kernels/matrix.sh --cache $(KERNELS_CACHE) --out $(O)/kernels \
		--storm $(KTEST_N) --hooks "$(KTEST_HOOKS)" --native $(NATIVE) --icount $(or $(KERNELS_ICOUNT),none) \
		$(if $(KERNELS_WSL),--wsl $(KERNELS_WSL)) $(KERNELS)
