# Builds the purpose-built test guests (tests/guests) into build/tests/guests/NAME.elf; included by the top Makefile.
GUEST_DIR := tests/guests
GUEST_OUT := $(B)/tests/guests
# Guest code runs emulated and with SSE off (PVH entry leaves CR4.OSFXSR clear): small, integer-only, 32-bit.
GUEST_CFLAGS := -m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -nostdlib -static \
	-O2 -fno-asynchronous-unwind-tables -fno-builtin -mgeneral-regs-only -fcf-protection=none \
	-std=c11 -Wall -Wextra -Werror -Icommon -I$(GUEST_DIR) -MMD -MP
GUEST_LDFLAGS := -m32 -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack
# After any --defsym=GUEST_BASE: the script tests DEFINED() when ld reads it.
GUEST_LDSCRIPT := -Wl,-T,$(GUEST_DIR)/link.ld

# C guests share the entry stub, the runtime and the PVH note; the blk guests add the virtio driver.
GUEST_C := serial uart markers ports pvh_abi mmio_unmapped triple reset poweroff panic idle
GUEST_BLK := blk blk_ro blk_hostile blk_layout
GUEST_NAMES := exit42 $(GUEST_C) $(GUEST_BLK)
GUEST_ELFS := $(GUEST_NAMES:%=$(GUEST_OUT)/%.elf)
GUEST_RT := $(GUEST_OUT)/obj/entry.o $(GUEST_OUT)/obj/lib.o $(GUEST_OUT)/obj/pvh_note.o

$(GUEST_OUT)/obj/%.o: $(GUEST_DIR)/%.c $(GUEST_DIR)/guests.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/obj/%.o: $(GUEST_DIR)/%.S $(GUEST_DIR)/guests.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

# exit42 is the bare assembly guest: no stack, no runtime, a handful of instructions.
$(GUEST_OUT)/exit42.elf: $(GUEST_OUT)/obj/exit42.o $(GUEST_OUT)/obj/pvh_note.o $(GUEST_DIR)/link.ld
	$(CC) $(GUEST_LDFLAGS) $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

$(GUEST_C:%=$(GUEST_OUT)/%.elf): $(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/%.o $(GUEST_RT) $(GUEST_DIR)/link.ld
	$(CC) $(GUEST_LDFLAGS) $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

$(GUEST_BLK:%=$(GUEST_OUT)/%.elf): $(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/%.o $(GUEST_OUT)/obj/vblk.o $(GUEST_RT) \
		$(GUEST_DIR)/link.ld
	$(CC) $(GUEST_LDFLAGS) $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

# exit42 variants for the loader: an ELF64 container (the code stays 32-bit), a load at 48 MiB, one below 1 MiB.
GUEST_VARIANTS := exit42_64 exit42_high exit42_low
GUEST_ELFS += $(GUEST_VARIANTS:%=$(GUEST_OUT)/%.elf)
GUEST_CFLAGS64 := $(filter-out -m32 -march=i686,$(GUEST_CFLAGS)) -m64

$(GUEST_OUT)/obj64/%.o: $(GUEST_DIR)/%.S $(GUEST_DIR)/guests.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS64) -c $< -o $@

$(GUEST_OUT)/exit42_64.elf: $(GUEST_OUT)/obj64/exit42.o $(GUEST_OUT)/obj64/pvh_note.o $(GUEST_DIR)/link.ld
	$(CC) $(filter-out -m32,$(GUEST_LDFLAGS)) -m64 $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

$(GUEST_OUT)/exit42_high.elf: $(GUEST_OUT)/obj/exit42.o $(GUEST_OUT)/obj/pvh_note.o $(GUEST_DIR)/link.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,--defsym=GUEST_BASE=0x3000000 $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

$(GUEST_OUT)/exit42_low.elf: $(GUEST_OUT)/obj/exit42.o $(GUEST_OUT)/obj/pvh_note.o $(GUEST_DIR)/link.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,--defsym=GUEST_BASE=0x10000 $(GUEST_LDSCRIPT) $(filter %.o,$^) -o $@

test-guests-build: $(GUEST_ELFS)
