# SPDX-License-Identifier: GPL-2.0-only
#
# make check SANITIZE=1: everything built and run under ASan + UBSan, in its
# own build directory (the Makefile picks O=build-san for it).

ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
# libbpf and libelf keep caches until exit by design: report real leaks only.
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
endif
