#!/usr/bin/env bash
# flint doctor on whatever this machine is: with a usable /dev/kvm it passes and --host names what
# backs it; without one it fails with a fix. Every line has the ok/warn/FAIL shape, bad options
# exit 2, and doctor never creates /dev/kvm.
#
# FLINT picks the binary. Ends with "N passed, N failed, N skipped".
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

FLINT=${FLINT:-build/flint}
if [ ! -x "$FLINT" ]; then
	bad "not built: $FLINT (make build/flint)"
	finish
	exit 1
fi
unset FLINT_VMM FLINT_KERNEL FLINT_IMAGE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
had_kvm=no
[ -e /dev/kvm ] && had_kvm=yes

# doc NAME ARGS...: run flint doctor, leaving $tmp/NAME.out, .err and .rc.
doc() {
	local name=$1
	shift
	"$FLINT" doctor "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
no_fail() { ! grep -q '^FAIL' "$tmp/$1.out"; }
line() { grep -qE "^(ok  |warn|FAIL) $2: " "$tmp/$1.out"; }

# shape NAME: every line is "ok   CHECK: DETAIL", or warn/FAIL with a "(fix: ...)" at its end.
shape() {
	[ -s "$tmp/$1.out" ] || return 1
	! grep -vE '^(ok   [^ :][^:]*: .+|(warn|FAIL) [^ :][^:]*: .+ \(fix: .+\))$' "$tmp/$1.out"
}

doc plain
check "every line is ok, warn or FAIL, and each problem has a fix" shape plain
for c in /dev/kvm host flint-vmm kernel image cgroup userns libslirp dns; do
	check "a '$c' line" line plain "$c"
done

if kvm_usable; then
	if [ -x build/flint-vmm ] && [ -s build/guest/vmlinux ] && [ -s build/images/base.ext4 ]; then
		check "with a usable /dev/kvm and everything built: exit 0" [ "$(rc plain)" = 0 ]
		check "  and no FAIL line" no_fail plain
	else
		skip "exit 0 with /dev/kvm: flint-vmm, the kernel or the image is not built (make)"
	fi
	check "/dev/kvm is ok" grep -q '^ok   /dev/kvm: ' "$tmp/plain.out"
	check "KVM API version 12" grep -q '^ok   kvm-api: version 12$' "$tmp/plain.out"
	check "every capability flint-vmm needs" grep -q '^ok   kvm-caps: ' "$tmp/plain.out"
else
	check "without a usable /dev/kvm: exit 1" [ "$(rc plain)" = 1 ]
	check "  its /dev/kvm line is FAIL with a fix" grep -qE '^FAIL /dev/kvm: .+ \(fix: .+\)$' \
		"$tmp/plain.out"
	err=$(build/flint-vmm --kernel build/guest/vmlinux 2>&1 >/dev/null)
	check "  flint-vmm's own message points to flint doctor" grep -qF 'run `flint doctor`' <<<"$err"
fi

doc host --host
check "--host exits 0" [ "$(rc host)" = 0 ]
check "--host prints one line" [ "$(wc -l <"$tmp/host.out")" = 1 ]
check "--host prints KIND: DESCRIPTION" \
	grep -qE '^(hardware|pvm|nested-tcg|nested|none): [^:].*$' "$tmp/host.out"
kind=$(cut -d: -f1 "$tmp/host.out")
# What this machine is, found another way: the device, the module, the CPU's hypervisor flag.
if ! [ -c /dev/kvm ]; then
	want=none
elif [ -d /sys/module/kvm_pvm ]; then
	want=pvm
elif grep -qw hypervisor /proc/cpuinfo; then
	want=nested
else
	want=hardware
fi
if [ "$want" = nested ]; then
	check "--host says nested or nested-tcg (CPU flag hypervisor; got $kind)" \
		grep -qxE 'nested|nested-tcg' <<<"$kind"
else
	check "--host says $want (got $kind)" [ "$kind" = "$want" ]
fi
if kvm_usable; then
	check "with a usable /dev/kvm, --host names a kind other than none" [ "$kind" != none ]
fi
check "the host line agrees with --host" grep -qE "^(ok  |warn|FAIL) host: $kind: " \
	"$tmp/plain.out"

doc bogus --frobnicate
check "an unknown option exits 2" [ "$(rc bogus)" = 2 ]
check "  with a usage message" grep -q 'usage: flint doctor' "$tmp/bogus.err"
check "  and nothing on stdout" [ ! -s "$tmp/bogus.out" ]
doc help --help
check "--help exits 0" [ "$(rc help)" = 0 ]
check "  with usage on stdout" grep -q 'usage: flint doctor' "$tmp/help.out"

FLINT_VMM=$tmp/no-such-vmm doc novmm
check "FLINT_VMM naming nothing: exit 1" [ "$(rc novmm)" = 1 ]
check "  its flint-vmm line is FAIL with a fix" \
	grep -qE "^FAIL flint-vmm: $tmp/no-such-vmm \(from FLINT_VMM\): .+ \(fix: .+\)$" \
	"$tmp/novmm.out"
check "  still the ok/warn/FAIL shape" shape novmm

# An offline host (a network namespace with only lo): the resolver has no route. doctor warns
# (sandboxes still boot), and flintd says so once as it starts.
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
	unshare -n bash -c 'ip link set lo up 2>/dev/null; "$0" doctor' "$FLINT" >"$tmp/off.out" 2>&1
	check "offline: the dns line is a warn that sandboxes still boot, with SERVFAIL" \
		grep -qE "^warn dns: .*unreachable.*sandboxes boot, their DNS queries get SERVFAIL \(fix: .+\)$" "$tmp/off.out"
	mkdir -p "$tmp/state"
	# flintd's start-up lines, up to "listening" (the DNS check comes before it), then SIGTERM.
	unshare -n bash -c 'ip link set lo up 2>/dev/null
		exec 3< <(exec "$0" --listen 127.0.0.1:0 --state-dir "$1" --pool 0 2>&1)
		pid=$!
		while read -r l <&3; do
			echo "$l"
			case $l in *"listening on"*) break ;; esac
		done
		kill -TERM $pid
		wait $pid' build/flintd "$tmp/state" >"$tmp/state/log" 2>&1
	check "offline: flintd warns once that VMs' DNS gets SERVFAIL ($(grep -c "VMs' DNS" "$tmp/state/log") line)" \
		[ "$(grep -c "VMs' DNS: .*unreachable.*SERVFAIL" "$tmp/state/log")" = 1 ]
else
	skip "offline DNS checks: need root for a network namespace"
fi

if [ "$had_kvm" = no ]; then
	check "doctor did not create /dev/kvm" [ ! -e /dev/kvm ]
else
	check "/dev/kvm is still a character device" [ -c /dev/kvm ]
fi
finish
