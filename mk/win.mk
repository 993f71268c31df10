# SPDX-License-Identifier: GPL-2.0-only
#
# The Windows host side (issue 9), cross-built with mingw-w64 and run under
# Wine in the tests:
#   make plugin-win   build/win/vigilplugin.dll (the WSL plug-in), healthcheck.exe
#   make check-win    the plug-in under Wine against a real vigild on this side
# SQLite, zstd and protobuf-c come from Debian's source packages, cross-built
# once by scripts/win-3p.sh and cached ($(VIGIL_CACHE)/win-3p).

WIN_CROSS ?= x86_64-w64-mingw32-
WIN_CC    := $(WIN_CROSS)gcc
WINE      ?= $(firstword $(wildcard /usr/lib/wine/wine64) wine64)
WIN_O     := $(O)/win
WIN_3P    := $(WIN_O)/3p

.PHONY: plugin-win check-win msi check-msi

WIN_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	      -Wno-missing-field-initializers -Wno-format-truncation -Wno-cast-function-type \
	      -Werror=implicit-function-declaration -D_WIN32_WINNT=0x0A00 -D__USE_MINGW_ANSI_STDIO=1
WIN_CPPFLAGS := -I$(WIN_3P)/include -I$(O) -I$(O)/include -I$(O)/schemas -Ilib -Ihost \
		-Iplugin
WIN_LIBS := -L$(WIN_3P)/lib -lsqlite3 -lzstd -lprotobuf-c -lws2_32 -ladvapi32 -lbcrypt

# The portable core: host/ (the same sources as vigil host) and the lib/ files
# it needs, built for Windows; plugin/crypto.c stands in for lib/crypto.c (nettle).
WIN_CORE_SRCS := lib/frame.c lib/batch.c lib/wire.c lib/log.c lib/esc.c lib/auth.c plugin/crypto.c \
		 $(wildcard host/*.c)
WIN_CORE_OBJS := $(WIN_CORE_SRCS:%.c=$(WIN_O)/%.o) $(WIN_O)/schemas/vigil.pb-c.o \
		 $(WIN_O)/schemas/vigil_zdict.o

$(WIN_3P)/.ok: scripts/win-3p.sh | $(call deps-stamp,win)
	$(call say,WIN3P,$(WIN_3P))
	$(Q)scripts/win-3p.sh $(WIN_3P)

$(WIN_O)/%.o: %.c | $(GEN_HDRS) $(WIN_3P)/.ok
	$(call say,MINGWCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(WIN_CC) $(WIN_CPPFLAGS) $(WIN_CFLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(WIN_O)/schemas/%.o: $(O)/schemas/%.c $(WIN_3P)/.ok
	$(call say,MINGWCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(WIN_CC) $(WIN_CPPFLAGS) $(WIN_CFLAGS) -c $< -o $@

$(WIN_O)/libvigilcore.a: $(WIN_CORE_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(WIN_CROSS)ar rcs $@ $^

$(WIN_O)/vigilplugin.dll: $(WIN_O)/plugin/plugin.o $(WIN_O)/plugin/winconf.o \
			  $(WIN_O)/plugin/winproxy.o $(WIN_O)/plugin/winup.o $(WIN_O)/plugin/winlog.o \
			  $(WIN_O)/libvigilcore.a
	$(call say,MINGWLD,$@)
	$(Q)$(WIN_CC) -shared -static-libgcc -o $@ $^ $(WIN_LIBS) -lwinhttp -lcrypt32

$(WIN_O)/healthcheck.exe: $(WIN_O)/plugin/healthcheck.o $(WIN_O)/plugin/winconf.o \
			  $(WIN_O)/plugin/winproxy.o \
			  $(WIN_O)/libvigilcore.a
	$(call say,MINGWLD,$@)
	$(Q)$(WIN_CC) -static -o $@ $^ $(WIN_LIBS) -lwinhttp

$(WIN_O)/tests/harness.exe: $(WIN_O)/tests/win/harness.o
	$(call say,MINGWLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(WIN_CC) -static -o $@ $^ -lws2_32 -ladvapi32

$(WIN_O)/tests/win/harness.o: WIN_CFLAGS += -Wno-format

$(WIN_O)/tests/proxyset.exe: $(WIN_O)/tests/win/proxyset.o
	$(call say,MINGWLD,$@)
	$(Q)$(WIN_CC) -static -o $@ $^ -ladvapi32 -lwinhttp

$(O)/tests/win/%: tests/win/%.c | $(call deps-stamp,win)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $<

plugin-win: $(WIN_O)/vigilplugin.dll $(WIN_O)/healthcheck.exe ## the WSL plug-in DLL and healthcheck.exe (mingw-w64)

# The shipping test runs a real vigil server on a throwaway PostgreSQL: the fleet packages too.
check-win: plugin-win $(WIN_O)/tests/harness.exe $(WIN_O)/tests/proxyset.exe $(O)/tests/win/relay $(O)/tests/win/httpd $(O)/vigild $(O)/vigil | $(call deps-stamp,fleet) ## the plug-in under Wine against a real vigild, shipping to a real vigil server
	$(Q)WINE=$(WINE) tests/win/run.sh $(O)

# ---- MSI: the signed DLL, healthcheck.exe and vigild, and the plug-in's
# registration. WSL loads only signed plug-ins: the test certificate made
# here stands in for the user's own (MSI_CERT/MSI_KEY to sign with it).
# MSI_VIGILD: the static vigild (mk/kernels.mk): WSL runs it in the VM root namespace,
# outside any distribution, so it must not need a distribution's shared libraries.
MSI_VIGILD ?= $(O)/kernels/vigild
MSI_CERT   ?= $(WIN_O)/sign/cert.pem
MSI_KEY    ?= $(WIN_O)/sign/key.pem
MSI_VERSION := 0.1.0

$(WIN_O)/sign/cert.pem $(WIN_O)/sign/key.pem: | $(call deps-stamp,win)
	$(call say,CERT,$(WIN_O)/sign/cert.pem)
	$(Q)mkdir -p $(WIN_O)/sign
	$(Q)openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vigil test signing" \
		-addext extendedKeyUsage=codeSigning -keyout $(WIN_O)/sign/key.pem \
		-out $(WIN_O)/sign/cert.pem 2>/dev/null

$(WIN_O)/sign/vigilplugin.dll: $(WIN_O)/vigilplugin.dll $(MSI_CERT) $(MSI_KEY)
	$(call say,SIGN,$@)
	$(Q)rm -f $@ && osslsigncode sign -certs $(MSI_CERT) -key $(MSI_KEY) -h sha256 \
		-n "vigil WSL plug-in" -in $< -out $@ >/dev/null

# plugin/msi/*.idt: the tables wixl cannot write (vigil.wxs says which).
$(WIN_O)/vigil.msi: plugin/vigil.wxs $(wildcard plugin/msi/*.idt) $(WIN_O)/sign/vigilplugin.dll \
		    $(WIN_O)/healthcheck.exe $(MSI_VIGILD)
	$(call say,WIXL,$@)
	$(Q)rm -f $@.tmp && wixl -a x64 -D Version=$(MSI_VERSION) -D Dll=$(WIN_O)/sign/vigilplugin.dll \
		-D Healthcheck=$(WIN_O)/healthcheck.exe -D Vigild=$(MSI_VIGILD) -o $@.tmp $< && \
		msibuild $@.tmp $(addprefix -i ,$(wildcard plugin/msi/*.idt)) \
			-q "INSERT INTO AppSearch (Property, Signature_) VALUES ('WSLSERVICE', 'WslService')" && \
		mv $@.tmp $@

msi: $(WIN_O)/vigil.msi ## build/win/vigil.msi, signed with a test certificate

check-msi: $(WIN_O)/vigil.msi ## the MSI's tables and signature
	$(Q)tests/win/msi.sh $(WIN_O)/vigil.msi $(MSI_CERT)

CHECK_TARGETS += check-win check-msi

-include $(wildcard $(WIN_O)/*/*.d $(WIN_O)/*/*/*.d $(WIN_O)/*/*/*/*.d)
