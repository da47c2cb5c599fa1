#!/usr/bin/env bash
# flint-vmm's bad inputs: each gets exit status 125 and one clear message, never a crash.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
VMM=${FLINT_VMM:-build/flint-vmm}
KERNEL=build/guest/vmlinux
IMAGE=build/images/base.ext4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME PATTERN ARGS...: flint-vmm exits 125 and stderr matches PATTERN.
expect() {
	local name=$1 pat=$2
	shift 2
	local err rc
	err=$("$VMM" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 125 ] && grep -qiE -- "$pat" <<<"$err"; then
		ok "$name"
	else
		bad "$name (status $rc, stderr: $err)"
	fi
}

printf 'not an elf at all' >"$tmp/junk"
: >"$tmp/empty"
expect "no --kernel" "kernel is required" --mem 64
expect "unknown option" "unknown option '--frobnicate'" --kernel "$KERNEL" --frobnicate
expect "missing value" "needs a value" --kernel
expect "mem too small" "--mem 8" --kernel "$KERNEL" --mem 8
expect "mem too large" "--mem 999999999" --kernel "$KERNEL" --mem 999999999
expect "mem junk" "--mem 12x" --kernel "$KERNEL" --mem 12x
expect "cpus zero" "--cpus 0" --kernel "$KERNEL" --cpus 0
expect "cpus too many" "--cpus 9" --kernel "$KERNEL" --cpus 9
expect "bad pvm mode" "pvm-compat" --kernel "$KERNEL" --pvm-compat maybe
expect "command without disk" "root disk" --kernel "$KERNEL" -- /bin/true
expect "too many disks" "at most 8" --kernel "$KERNEL" $(for i in 1 2 3 4 5 6 7 8 9; do echo --disk x$i; done)
expect "net backend unknown" "give user" --kernel "$KERNEL" --net slirp
expect "net option unknown" "unknown option 'bogus'" --kernel "$KERNEL" --net user,bogus=1
expect "net allow IPv6" "IPv6 is not supported" --kernel "$KERNEL" --net user,allow=::1
if kvm_usable; then
	expect "missing kernel" "cannot open kernel" --kernel "$tmp/nope"
	expect "empty kernel" "not a non-empty regular file" --kernel "$tmp/empty"
	expect "kernel not ELF" "not an ELF" --kernel "$tmp/junk"
	expect "ELF without PVH note" "no PVH entry note" --kernel /bin/true
	expect "kernel is a directory" "regular file" --kernel "$tmp"
	if [ -f build/tests/guests/serial.elf ]; then
		"$VMM" --kernel build/tests/guests/serial.elf | true
		check "a closed stdout pipe does not cost the exit status" [ "${PIPESTATUS[0]}" = 0 ]
	fi
	if [ -f "$KERNEL" ] && [ -f "$IMAGE" ]; then
		expect "missing disk" "$tmp/nodisk" --kernel "$KERNEL" --disk "$tmp/nodisk" -- /bin/true
		expect "tap that does not exist" "tap flint-no-such: no such interface" \
			--kernel "$KERNEL" --net tap:flint-no-such
		# a forwarded port someone else holds: refused at setup, not half-started. The holder
		# prints its port and keeps it until its stdin (our end of the coprocess) closes.
		coproc HOLD { python3 -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); sys.stdin.read()'; }
		read -r port <&"${HOLD[0]}"
		expect "hostfwd port in use" "hostfwd=tcp:127.0.0.1:$port: cannot listen" \
			--kernel "$KERNEL" --net "user,hostfwd=tcp:$port-:80,dns=127.0.0.1"
		w=${HOLD[1]}
		exec {w}>&-
		wait "$HOLD_PID"
		expect "console file unwritable" "console file" --kernel "$KERNEL" \
			--console "$tmp/no/such/dir/log" --disk "$IMAGE" -- /bin/true
		big=$(head -c 3000 /dev/zero | tr '\0' 'a')
		expect "command too long" "too long" --kernel "$KERNEL" --disk "$IMAGE" -- /bin/echo "$big"
	else
		skip "kernel/image checks (build them with make)"
	fi
else
	skip "checks that need /dev/kvm (absent or not accessible)"
fi
out=$("$VMM" --help)
check "--help prints usage" grep -q "usage: flint-vmm" <<<"$out"
finish
