# flint: `make` builds everything into build/, `make test` runs the whole suite.
.DEFAULT_GOAL := all
SHELL := /bin/bash
B := build

CC ?= gcc
MUSL_CC ?= musl-gcc
WARN := -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-missing-field-initializers
HARDEN := -fstack-protector-strong -fstack-clash-protection -D_FORTIFY_SOURCE=2 -fPIE \
	-fcf-protection
CFLAGS ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Icommon -MMD -MP
ALL_CFLAGS := $(WARN) $(HARDEN) $(CFLAGS)
LDHARDEN := -pie -Wl,-z,relro,-z,now,-z,noexecstack
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -DFLINT_SANITIZED

# --- flint-vmm ---------------------------------------------------------------
VMM_SRC := $(sort $(wildcard vmm/*.c vmm/virtio/*.c vmm/vsock/*.c vmm/disk/*.c vmm/net/*.c \
	vmm/arch/x86_64/*.c))
VMM_LIB_SRC := $(filter-out vmm/main.c,$(VMM_SRC))
VMM_LIBS := -lpthread -lseccomp
VMM_OBJ := $(VMM_SRC:%.c=$(B)/obj/%.o)
VMM_SAN_OBJ := $(VMM_LIB_SRC:%.c=$(B)/san/%.o)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC san  $<"
	@$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) -c $< -o $@

# A PIE linked against the shared libc, so that --net user can dlopen libslirp (and GLib, LGPL),
# which exist only as shared libraries; a static-pie binary cannot load them. libseccomp stays
# static, as it was, so a VM without --net user maps nothing but libc (docs/benchmarks.md).
$(B)/flint-vmm: $(VMM_OBJ)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) $(LDHARDEN) $^ -o $@ -lpthread -l:libseccomp.a

$(B)/flint-vmm-san: $(VMM_SAN_OBJ) $(B)/san/vmm/main.o
	@echo "  LD san  $@"
	@$(CC) $(SAN) $^ -o $@ $(VMM_LIBS)

$(B)/libvmm-san.a: $(VMM_SAN_OBJ)
	@rm -f $@
	@ar rcs $@ $^

# --- the image store (image/): shared by the CLI and flintd ------------------------
IMAGE_SRC := $(sort $(wildcard image/*.c))
IMAGE_LIBS := -lcurl -ljansson -larchive -lcrypto

# --- flint: the CLI (host side) ------------------------------------------------
CLI_SRC := $(sort $(wildcard cli/*.c host/*.c)) common/agent/client.c common/agent/proto.c \
	$(IMAGE_SRC)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
$(B)/flint: $(CLI_OBJ)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) $(LDHARDEN) $^ -o $@ $(IMAGE_LIBS)

# --- flintd: the HTTP API daemon -------------------------------------------------
FLINTD_SRC := $(sort $(wildcard api/*.c)) host/launch.c host/control.c host/dnscheck.c common/agent/client.c \
	common/agent/proto.c $(IMAGE_SRC)
FLINTD_OBJ := $(FLINTD_SRC:%.c=$(B)/obj/%.o)
$(B)/flintd: $(FLINTD_OBJ)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) $(LDHARDEN) $^ -o $@ -lmicrohttpd $(IMAGE_LIBS) -lpthread

# --- guest: flint-init, kernel, base image ------------------------------------
# The agent's frames come from the same common/agent/proto.c the host side links.
INIT_SRC := $(sort $(wildcard guest/init/*.c)) common/agent/proto.c
$(B)/flint-init: $(INIT_SRC) $(wildcard guest/init/*.h common/*.h) common/agent/proto.h
	@mkdir -p $(B)
	$(MUSL_CC) -static -std=c11 -Wall -Wextra -Werror -O2 -D_GNU_SOURCE -Icommon \
		-fstack-protector-strong $(INIT_SRC) -o $@

KERNEL_INPUTS := guest/kernel-config/flint.config $(wildcard guest/kernel-patches/*.patch) tools/build-kernel
$(B)/guest/vmlinux: $(KERNEL_INPUTS)
	tools/build-kernel $@
kernel: $(B)/guest/vmlinux

$(B)/images/base.ext4: $(B)/flint-init tools/build-image $(shell find images/base -type f 2>/dev/null)
	tools/build-image $@ $(B)/flint-init

# --- tests -------------------------------------------------------------------
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
$(B)/tests/unit/%: tests/unit/%.c $(B)/libvmm-san.a
	@mkdir -p $(dir $@)
	@echo "  CC test $@"
	@$(CC) $(CPPFLAGS) -Ivmm $(WARN) -O1 -g $(SAN) $< $(B)/libvmm-san.a -o $@ -lcmocka $(VMM_LIBS)

# flint-init's pure parsing is tested on the host: it links guest/init/cmdline.c, not the VMM.
$(B)/tests/unit/test_init_cmdline: tests/unit/test_init_cmdline.c guest/init/cmdline.c \
		guest/init/cmdline.h common/flint_port.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iguest/init $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka

# The agent protocol and client (common/agent/) are tested on their own, without the VMM.
$(B)/tests/unit/test_proto: tests/unit/test_proto.c common/agent/proto.c common/agent/proto.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka

# The CLI's attach handshake: URL and response-head parsing, without libcurl.
$(B)/tests/unit/test_cli_upgrade: tests/unit/test_cli_upgrade.c cli/upgrade.c cli/upgrade.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka

# What backs /dev/kvm: the decision is pure; the probe only stats and reads CPUID.
$(B)/tests/unit/test_hostkind: tests/unit/test_hostkind.c host/hostkind.c host/hostkind.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka

$(B)/tests/unit/test_client: tests/unit/test_client.c common/agent/client.c common/agent/proto.c \
		common/agent/client.h common/agent/proto.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka -lpthread

# flint-init's agent on the host: the real client library against build/flint-init --agent-unix.
$(B)/tests/agent-host: tests/integration/test_agent_host.c common/agent/client.c \
		common/agent/proto.c common/agent/client.h common/agent/proto.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lpthread

# A docker-exec-like client for the e2e suites and benchmarks: one command in a VM, via its agent.
$(B)/tests/agent-exec: tests/e2e/agent-exec.c common/agent/client.c common/agent/proto.c \
		common/agent/client.h common/agent/proto.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDHARDEN) $(filter %.c,$^) -o $@
# flint-vmm's control socket client (host/control.c) on its own, and a small CLI over it for
# tests/integration/test_control.sh.
$(B)/tests/unit/test_control_client: tests/unit/test_control_client.c host/control.c host/control.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@ -lcmocka

$(B)/tests/control-client: tests/integration/control_client.c host/control.c host/control.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) -O1 -g $(SAN) $(filter %.c,$^) -o $@

# --- flintd's pure modules (api/), tested and fuzzed without a server ---------------
# A pattern more specific than $(B)/tests/unit/% (shorter stem), so it wins for test_api_*.
API_PURE_SRC := api/route.c api/validate.c api/codec.c api/reqparse.c api/auth.c api/metrics.c \
	api/images.c api/netspec.c
$(B)/tests/unit/test_api_%: tests/unit/test_api_%.c $(API_PURE_SRC) $(wildcard api/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC test $@"
	@$(CC) $(CPPFLAGS) -Iapi $(WARN) -O1 -g $(SAN) $< $(API_PURE_SRC) -o $@ -lcmocka -ljansson \
		-lpthread

# The image store's modules (image/): unit tests link all of them, with their libraries.
$(B)/tests/unit/test_image_%: tests/unit/test_image_%.c $(IMAGE_SRC) $(wildcard image/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC test $@"
	@$(CC) $(CPPFLAGS) -Iimage $(WARN) -O1 -g $(SAN) $< $(IMAGE_SRC) -o $@ -lcmocka $(IMAGE_LIBS)

# Layer application and image JSON, fuzzed on their own (no network, no mkfs).
IMAGE_FUZZ_SRC := image/layer.c image/oci.c image/digest.c image/ref.c image/err.c
$(B)/fuzz/fuzz_layer $(B)/fuzz/fuzz_oci: $(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(IMAGE_FUZZ_SRC) \
		$(wildcard image/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(CPPFLAGS) -Iimage -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(IMAGE_FUZZ_SRC) -o $@ -ljansson -larchive -lcrypto

$(B)/fuzz/fuzz_api: tests/fuzz/fuzz_api.c $(API_PURE_SRC) $(wildcard api/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(CPPFLAGS) -Iapi -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(API_PURE_SRC) -o $@ -ljansson
# --- end of flintd's pure modules ---------------------------------------------------

-include tests/guests/guests.mk

# --- fuzzing (libFuzzer) ---------------------------------------------------------
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_SECONDS ?= 30
$(B)/fuzz/%: tests/fuzz/%.c $(VMM_LIB_SRC) common/agent/proto.c $(wildcard vmm/*.h vmm/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@clang $(CPPFLAGS) -Ivmm -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(VMM_LIB_SRC) common/agent/proto.c -o $@ -lpthread -lseccomp
fuzz-build: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

all: deps $(B)/flint-vmm $(B)/flint $(B)/flintd $(B)/flint-init $(B)/guest/vmlinux $(B)/images/base.ext4

deps:
	@tools/install-deps --check-or-install

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

test: all $(B)/flint-vmm-san $(UNIT_BIN) $(B)/tests/agent-host $(B)/tests/agent-exec \
		$(B)/tests/control-client \
		test-guests-build $(FUZZ_BIN)
	@tests/run-all.sh

$(B)/spawn-time: tools/bench/spawn-time.c
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDHARDEN) $< -o $@

bench-vmm: all test-guests-build $(B)/spawn-time
	@tools/bench-vmm

$(B)/agent-bench: tools/bench/agent-bench.c common/agent/client.c common/agent/proto.c
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDHARDEN) $(filter %.c,$^) -o $@

bench-agent: all $(B)/agent-bench
	@tools/bench-agent

bench-net: all $(B)/tests/agent-exec
	@tools/bench-net
$(B)/api-bench: tools/bench/api-bench.c
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDHARDEN) $< -o $@ -lpthread

bench-api: all $(B)/api-bench
	@tools/bench-api

bench-images: all
	@tools/bench-images

# flintd in the foreground with its defaults (127.0.0.1:18888); ARGS adds options.
run: all
	@$(B)/flintd $(ARGS)

clean:
	rm -rf $(B)

.PHONY: all deps kernel unit test bench-vmm bench-agent bench-net bench-api bench-images run clean \
	test-guests-build fuzz fuzz-build
-include $(shell find $(B) -name '*.d' 2>/dev/null)
