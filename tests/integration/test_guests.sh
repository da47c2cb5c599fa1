#!/usr/bin/env bash
# Runs the purpose-built test guests (tests/guests) under flint-vmm and checks exit status, console, trace and disk effects.
#
# FLINT_VMM picks the binary (e.g. build/flint-vmm-san); FLINT_GUESTS the directory of NAME.elf files.
# Needs `make test-guests-build` first. Skips (exit 0) when /dev/kvm is not a usable character
# device (tests/run-all.sh runs it through tools/with-kvm, which provides one).
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1

VMM=${FLINT_VMM:-build/flint-vmm}
GUESTS=${FLINT_GUESTS:-build/tests/guests}
TIMEOUT=${FLINT_TEST_TIMEOUT:-60}

TESTS=(exit42 exit42_mem32 exit42_mem4096 exit42_console_none exit42_cpus8 exit42_elf64 exit42_high
	reject_beyond_ram reject_below_1m pvh_abi pvh_abi_4g serial serial_to_file uart markers ports
	mmio_unmapped triple reset poweroff panic blk blk_two_disks blk_layout blk_ro blk_hostile reject_no_pvh_note)

passed=0 failed=0

# Never open /dev/kvm to probe it: opening for writing where it is absent would create a file.
if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is absent or not accessible to $(id -un); the guest tests need KVM"
	echo "0 passed, 0 failed, ${#TESTS[@]} skipped"
	exit 0
fi

if [[ ! -x $VMM ]]; then
	echo "FAIL: $VMM is not built (make $VMM)"
	echo "0 passed, ${#TESTS[@]} failed"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/flint-guests.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# run NAME GUEST [VMM ARGS...]: boots build/tests/guests/GUEST.elf; sets rc, out (stdout file), err (stderr file).
run() {
	local name=$1 guest=$2
	shift 2
	out=$T/$name.out err=$T/$name.err
	cmd="$VMM --kernel $GUESTS/$guest.elf $*"
	if [[ ! -r $GUESTS/$guest.elf ]]; then
		echo "missing guest $GUESTS/$guest.elf (make test-guests-build)" >"$err"
		: >"$out"
		rc=127
		return
	fi
	timeout -k 5 "$TIMEOUT" "$VMM" --kernel "$GUESTS/$guest.elf" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
}

# Every run: no sanitizer report, no timeout, no death by signal (unless the test expects a crash, which none does).
why=""
common_checks() {
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		why="timed out after ${TIMEOUT}s (or SIGKILLed)"
	elif grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$err"; then
		why="sanitizer report on stderr"
	elif [[ $rc -gt 128 ]]; then
		why="flint-vmm died by signal $((rc - 128))"
	fi
	[[ -z $why ]]
}

expect_rc() { # expect_rc N
	[[ -n $why ]] && return 1
	[[ $rc -eq $1 ]] || why="exit status $rc, expected $1"
	[[ -z $why ]]
}

expect_nonzero() {
	[[ -n $why ]] && return 1
	[[ $rc -ne 0 ]] || why="exit status 0, expected non-zero"
	[[ -z $why ]]
}

expect_stderr() { # expect_stderr REGEX (case-insensitive)
	[[ -n $why ]] && return 1
	grep -qiE "$1" "$err" || why="stderr does not match /$1/"
	[[ -z $why ]]
}

report() { # report NAME: PASS or FAIL with the evidence
	if [[ -z $why ]]; then
		echo "PASS $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1: $why"
		echo "  command: $cmd"
		echo "  --- stdout (console) ---"
		head -c 2000 "$out" | sed 's/^/  | /'
		echo "  --- stderr (last 20 lines) ---"
		tail -n 20 "$err" | sed 's/^/  | /'
		failed=$((failed + 1))
	fi
	why=""
}

# The disk the blk guests expect: 1 MiB, "FLINTBLK" then zeros in sector 0, a recognisable junk byte elsewhere.
make_disk() { # make_disk PATH
	head -c 1048576 /dev/zero | tr '\0' '\307' >"$1"
	printf 'FLINTBLK' | dd of="$1" conv=notrunc status=none
	head -c 504 /dev/zero | dd of="$1" bs=1 seek=8 conv=notrunc status=none
}

# What blk writes to sector 1: "written by guest", then byte i = i & 0xff for i in 16..511.
make_pattern() {
	local i o
	printf 'written by guest'
	for ((i = 16; i < 512; i++)); do
		printf -v o '\\0%03o' $((i & 255))
		printf '%b' "$o"
	done
}

sector() { dd if="$1" bs=512 skip="$2" count=1 status=none; } # sector PATH N

test_exit42() { run exit42 exit42 --console none; common_checks && expect_rc 42; }
test_exit42_mem32() { run exit42_mem32 exit42 --console none --mem 32; common_checks && expect_rc 42; }
# More than fits below the 3 GiB hole: RAM also goes above 4 GiB.
test_exit42_mem4096() { run exit42_mem4096 exit42 --console none --mem 4096; common_checks && expect_rc 42; }
test_exit42_console_none() {
	run exit42_console_none exit42 --console none
	common_checks && expect_rc 42 || return
	[[ ! -s $out ]] || why="--console none wrote to stdout"
}

# APs that were never started must not keep flint-vmm from exiting.
test_exit42_cpus8() { run exit42_cpus8 exit42 --console none --cpus 8; common_checks && expect_rc 42; }

# Entry registers, start info, memory map and command line; with RAM split around the hole at 4 GiB too.
test_pvh_abi() {
	run pvh_abi pvh_abi --console stdout --mem 64 --cmdline-extra "ram_mib=64 token=4242"
	common_checks && expect_rc 0
}
test_pvh_abi_4g() {
	run pvh_abi_4g pvh_abi --console stdout --mem 4096 --cmdline-extra "ram_mib=4096 token=4242"
	common_checks && expect_rc 0
}

# The loader: an ELF64 container, a load at 48 MiB; and refusals (past the end of RAM, below 1 MiB) with a message.
test_exit42_elf64() { run exit42_elf64 exit42_64 --console none; common_checks && expect_rc 42; }
test_exit42_high() { run exit42_high exit42_high --console none; common_checks && expect_rc 42; }
expect_refused() {
	[[ -n $why ]] && return 1
	if [[ $rc -eq 0 || $rc -eq 42 ]]; then
		why="exit status $rc: the ELF was run, expected a refusal"
	elif [[ ! -s $err ]]; then
		why="refused silently: nothing on stderr"
	fi
	[[ -z $why ]]
}
test_reject_beyond_ram() { run reject_beyond_ram exit42_high --console none --mem 32; common_checks && expect_refused; }
test_reject_below_1m() { run reject_below_1m exit42_low --console none; common_checks && expect_refused; }

test_serial() {
	run serial serial --console stdout
	common_checks && expect_rc 0 || return
	cmp -s "$out" <(printf 'hello from the serial port\n') ||
		why="stdout is not exactly 'hello from the serial port\\n' ($(od -c "$out" | head -3 | tr '\n' ' '))"
}

test_serial_to_file() {
	run serial_to_file serial --console "$T/console.log"
	common_checks && expect_rc 0 || return
	cmp -s "$T/console.log" <(printf 'hello from the serial port\n') ||
		why="console file is not exactly the line ($(od -c "$T/console.log" 2>&1 | head -3 | tr '\n' ' '))"
	[[ -n $why || ! -s $out ]] || why="--console FILE also wrote to stdout"
}

# The UART registers Linux probes, and every byte value through the console unchanged (divisor writes not leaking).
test_uart() {
	run uart uart --console stdout
	common_checks && expect_rc 0 || return
	local i all=""
	for ((i = 0; i < 256; i++)); do printf -v all '%s\\0%03o' "$all" "$i"; done
	cmp -s "$out" <(printf '%b' "$all") || why="stdout is not exactly the bytes 0..255 ($(cmp "$out" <(printf '%b' "$all") 2>&1))"
}

test_markers() {
	run markers markers --console stdout --boot-trace
	common_checks && expect_rc 7 || return
	local phases p i=0 pid1=-1 program=-1
	phases=$(grep -oE '"phase" *: *"[^"]*"' "$err" | sed -E 's/.*"([^"]*)"$/\1/')
	for p in $phases; do
		[[ $p == pid1 && $pid1 -lt 0 ]] && pid1=$i
		[[ $p == program && $program -lt 0 ]] && program=$i
		i=$((i + 1))
	done
	[[ $pid1 -ge 0 && $program -gt $pid1 ]] ||
		why="boot-trace phases on stderr are '${phases//$'\n'/ }', expected pid1 then program among them"
}

test_ports() { run ports ports --console stdout; common_checks && expect_rc 0; }
test_mmio_unmapped() { run mmio_unmapped mmio_unmapped --console stdout; common_checks && expect_rc 0; }

test_triple() {
	run triple triple --console stdout
	common_checks && expect_nonzero && expect_stderr 'triple[ -]?fault'
}

test_reset() { run reset reset --console stdout; common_checks && expect_rc 0; }
test_poweroff() { run poweroff poweroff --console stdout; common_checks && expect_rc 0; }
test_panic() { run panic panic --console stdout; common_checks && expect_nonzero && expect_stderr 'panic'; }

# blk writes sector 1 and nothing else; everything else in the file must be as the test left it.
check_blk_disk() { # check_blk_disk ORIGINAL WRITTEN
	sector "$2" 1 | cmp -s - <(make_pattern) ||
		{ why="sector 1 of the disk file does not hold the guest's pattern"; return 1; }
	cmp -s <(sector "$1" 0) <(sector "$2" 0) || { why="sector 0 changed"; return 1; }
	cmp -s <(tail -c +1025 "$1") <(tail -c +1025 "$2") || { why="sectors 2.. changed"; return 1; }
	[[ $(stat -c %s "$2") -eq 1048576 ]] || { why="disk file size changed"; return 1; }
}

test_blk() {
	make_disk "$T/blk.img"
	cp "$T/blk.img" "$T/blk.orig"
	run blk blk --console stdout --disk "$T/blk.img" --cmdline-extra cap=2048
	common_checks && expect_rc 0 && check_blk_disk "$T/blk.orig" "$T/blk.img"
}

# The first --disk is the first virtio-mmio window; a second one (read-only) must stay untouched.
test_blk_two_disks() {
	make_disk "$T/two_a.img"
	cp "$T/two_a.img" "$T/two_a.orig"
	head -c 65536 /dev/zero >"$T/two_b.img"
	run blk_two_disks blk --console stdout --disk "$T/two_a.img" --disk "$T/two_b.img,ro" \
		--cmdline-extra cap=2048
	common_checks && expect_rc 0 && check_blk_disk "$T/two_a.orig" "$T/two_a.img" || return
	cmp -s "$T/two_b.img" <(head -c 65536 /dev/zero) || why="the second disk changed"
}

# Other descriptor layouts, batched kicks and ring wrap; the guest writes only sector 2.
test_blk_layout() {
	make_disk "$T/layout.img"
	cp "$T/layout.img" "$T/layout.orig"
	run blk_layout blk_layout --console stdout --disk "$T/layout.img"
	common_checks && expect_rc 0 || return
	cmp -s <(sector "$T/layout.img" 2) <(printf 'layout test, sector 2'; head -c 491 /dev/zero | tr '\0' '<') ||
		{ why="sector 2 of the disk file does not hold what the guest wrote"; return; }
	cmp -s <(head -c 1024 "$T/layout.orig") <(head -c 1024 "$T/layout.img") &&
		cmp -s <(tail -c +1537 "$T/layout.orig") <(tail -c +1537 "$T/layout.img") ||
		why="sectors other than 2 changed"
}

test_blk_ro() {
	make_disk "$T/ro.img"
	local before
	before=$(md5sum <"$T/ro.img")
	run blk_ro blk_ro --console stdout --disk "$T/ro.img,ro"
	common_checks && expect_rc 0 || return
	[[ $(md5sum <"$T/ro.img") == "$before" ]] || why="the read-only disk file changed"
}

test_blk_hostile() {
	make_disk "$T/hostile.img"
	local before
	before=$(md5sum <"$T/hostile.img")
	run blk_hostile blk_hostile --console stdout --disk "$T/hostile.img"
	common_checks && expect_rc 0 || return
	[[ $(md5sum <"$T/hostile.img") == "$before" ]] || why="the disk file changed (the guest only reads)"
}

# An ELF without the PVH note must be refused with an error, not run or crash.
test_reject_no_pvh_note() {
	out=$T/reject.out err=$T/reject.err
	local elf
	elf=$(command -v true)
	cmd="$VMM --kernel $elf --console none"
	timeout -k 5 "$TIMEOUT" "$VMM" --kernel "$elf" --console none >"$out" 2>"$err" </dev/null
	rc=$?
	common_checks && expect_refused
}

for t in "${TESTS[@]}"; do
	"test_$t"
	report "$t"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
