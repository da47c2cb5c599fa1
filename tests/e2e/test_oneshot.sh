#!/usr/bin/env bash
# End to end: boot the real guest kernel and base image, run programs in one-shot mode.
# Each boot costs 30-60 s on PVM hosts, so four boots check everything this suite covers.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
VMM=${FLINT_VMM:-build/flint-vmm}
KERNEL=build/guest/vmlinux
IMAGE=build/images/base.ext4
BOOT_TIMEOUT=${FLINT_BOOT_TIMEOUT:-400}

if ! kvm_usable; then
	skip "end-to-end boots: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for f in "$VMM" "$KERNEL" "$IMAGE"; do
	[ -e "$f" ] || { bad "missing $f (run make)"; finish; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME ARGS...: one boot; leaves $tmp/NAME.out, .err and .rc
run() {
	local name=$1
	shift
	local t0=$SECONDS
	timeout "$BOOT_TIMEOUT" "$VMM" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
	echo "     ($name: $((SECONDS - t0)) s)"
}
rc() { cat "$tmp/$1.rc"; }

# 1. The README's example: stdout is exactly the program's output, no kernel noise.
run echo --kernel "$KERNEL" --disk "$IMAGE" --boot-trace -- /bin/echo hello
check "echo: exit status 0" [ "$(rc echo)" = 0 ]
check "echo: stdout is exactly 'hello\\n'" cmp -s "$tmp/echo.out" <(printf 'hello\n')
phases=$(sed -n 's/^{"phase":"\([a-z_0-9]*\)".*/\1/p' "$tmp/echo.err" | tr '\n' ' ')
check "echo: boot trace has every phase in order ($phases)" \
	grep -q "vmm_start vm_created memory_ready kernel_loaded devices_ready first_kvm_run pid1 program exit" <<<"$phases"

# 2. Exit codes, stderr, the kernel console in a file, and a second disk both ways.
printf 'FLINTDSK' >"$tmp/data.img"
truncate -s 1M "$tmp/data.img"
run disk --kernel "$KERNEL" --disk "$IMAGE" --disk "$tmp/data.img" --console "$tmp/console.log" -v -- \
	/bin/sh -c 'head -c 8 /dev/vdb; echo; printf written-by-guest | dd of=/dev/vdb bs=512 seek=1 conv=sync 2>/dev/null; sync; echo out; echo err >&2; exit 3'
check "disk: exit status 3" [ "$(rc disk)" = 3 ]
check "disk: guest read the host's bytes" grep -qx FLINTDSK "$tmp/disk.out"
check "disk: stdout and stderr arrive" grep -qx out "$tmp/disk.out"
check "disk: stderr line arrives" grep -qx err "$tmp/disk.out"
check "disk: host sees the guest's write" [ "$(dd if="$tmp/data.img" bs=1 skip=512 count=16 2>/dev/null)" = written-by-guest ]
check "disk: kernel log went to the console file" grep -q "Linux version" "$tmp/console.log"
check "disk: kernel log stayed out of stdout" bash -c "! grep -q 'Linux version' '$tmp/disk.out'"

# 3. Two vCPUs, a writable layer over the read-only root, death by signal = 128+n.
run smp --kernel "$KERNEL" --disk "$IMAGE,ro" --cpus 2 --mem 256 -- \
	/bin/sh -c 'touch /newfile && echo rw-ok; nproc; grep -c " / overlay " /proc/mounts; echo net: $(ls /sys/class/net); kill -9 $$'
check "smp: killed by SIGKILL gives 137" [ "$(rc smp)" = 137 ]
check "smp: the root is writable through the overlay" grep -qx rw-ok "$tmp/smp.out"
check "smp: the guest sees 2 CPUs" grep -qx 2 "$tmp/smp.out"
check "smp: without --net the guest has lo and no eth0" grep -qx "net: lo" "$tmp/smp.out"

# 4. flint.rootro=1: no overlay, the root stays read-only; /tmp is a bounded tmpfs. (Its own boot:
# every earlier case needs the writable root or must keep its command as it is.)
run rootro --kernel "$KERNEL" --disk "$IMAGE,ro" --cmdline-extra flint.rootro=1 -- \
	/bin/sh -c 'touch /x; echo rc=$?; touch /tmp/y && echo tmp-ok; grep " / " /proc/mounts; grep " /tmp " /proc/mounts'
check "rootro: the command ran (exit status 0)" [ "$(rc rootro)" = 0 ]
check "rootro: writing to / fails" grep -qx "rc=1" "$tmp/rootro.out"
check "rootro: with EROFS" grep -q "Read-only file system" "$tmp/rootro.out"
check "rootro: /tmp is writable" grep -qx tmp-ok "$tmp/rootro.out"
check "rootro: / is the disk, mounted ro, no overlay" grep -qE '^/dev/[a-z]+ / ext4 ro[, ]' "$tmp/rootro.out"
check "rootro: /tmp is a size-limited tmpfs" grep -qE '^tmpfs /tmp tmpfs .*size=[0-9]+k' "$tmp/rootro.out"

if [ "$FAILED" -gt 0 ]; then
	for f in "$tmp"/*.err "$tmp"/*.out; do echo "--- $f"; tail -n 20 "$f"; done
fi
finish
