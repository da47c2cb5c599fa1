#!/usr/bin/env bash
# tools/with-kvm itself, on its nested path (FLINT_WITH_KVM=nested, so a KVM host tests it too): the
# exit status crosses back exactly, stdout and stderr stay apart and complete, the working directory
# and the variables that matter come along, /dev/kvm inside is a real KVM, the deadline kills CMD
# with a clear message, SIGTERM leaves no QEMU behind, and the modes and refusals answer at once.
# Four outer VMs, about 20 s each here.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
W=tools/with-kvm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FLINT_WITH_KVM=nested
had_kvm=$([ -e /dev/kvm ] && echo yes || echo no)
qemus() { pgrep -f -- '-name flint-with-kvm' | tr '\n' ' '; }

# --- refusals, no VM booted ---
FLINT_WITH_KVM=bogus $W true 2>"$tmp/err"
st=$?
check "a bad FLINT_WITH_KVM exits 2 (got $st), naming the value" \
	eval '[ "$st" = 2 ] && grep -q "not '"'"'bogus'"'"'" "$tmp/err"'
WITH_KVM_QEMU=/nonexistent $W true 2>"$tmp/err"
st=$?
check "no emulator: exits 77 (got $st), saying why" \
	eval '[ "$st" = 77 ] && grep -q "no /nonexistent" "$tmp/err"'
# An outer kernel that locks up before CMD starts (as TCG's has, in its first KVM_CREATE_VM) is
# booted again, twice at most: a stand-in QEMU that only prints the lockup on its console.
cat >"$tmp/lockup-qemu" <<'EOF'
#!/bin/bash
while [ $# -gt 0 ]; do [ "$1" = -serial ] && con=${2#file:}; shift; done
echo "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [python3:160]" >>"$con"
exec sleep 60
EOF
chmod +x "$tmp/lockup-qemu"
t0=$SECONDS
WITH_KVM_QEMU=$tmp/lockup-qemu $W true 2>"$tmp/err"
st=$?
boots=$(grep -c "locked up before 'true' started" "$tmp/err")
check "a lockup before CMD: the outer VM is booted again twice, then 125 (got $st, $boots retries, $((SECONDS - t0)) s)" \
	eval '[ "$st" = 125 ] && [ "$boots" = 2 ] && [ $((SECONDS - t0)) -lt 50 ]'
WITH_KVM_TIMEOUT=soon $W true 2>"$tmp/err"
st=$?
check "a bad WITH_KVM_TIMEOUT exits 2 (got $st)" [ "$st" = 2 ]
$W >/dev/null 2>&1
st=$?
check "no command: usage, exit 2 (got $st)" [ "$st" = 2 ]

# --- one VM: status, streams, directory, environment, KVM ---
mkdir -p "$tmp/sub dir"
big=$((3 * 1024 * 1024))
(cd "$tmp/sub dir" && CI=yes FLINT_PROBE='a b$c' OTHER_VAR=dropped WITH_KVM_SHARE="$tmp" \
	"$OLDPWD/$W" bash -c '
		echo "cwd=$PWD"
		echo "ci=$CI probe=$FLINT_PROBE other=${OTHER_VAR-unset}"
		[ -c /dev/kvm ] && echo "kvm=chardev"
		python3 -c "import fcntl, os; print(\"api=%d\" % fcntl.ioctl(os.open(\"/dev/kvm\", os.O_RDWR), 0xAE00, 0))"
		read -r x && echo "stdin=$x" || echo "stdin=empty"
		echo "to stderr" >&2
		head -c '"$big"' /dev/zero | tr "\0" x >"'"$tmp"'/big.expected"
		head -c '"$big"' /dev/zero | tr "\0" x
		echo written >"'"$tmp"'/share.txt"
		exit 3' >"$tmp/out" 2>"$tmp/err")
st=$?
check "CMD's exit status 3 comes back (got $st)" [ "$st" = 3 ]
check "the same working directory" grep -qx "cwd=$tmp/sub dir" "$tmp/out"
check "CI and FLINT_* come along, quoting intact; others do not" \
	grep -qxF 'ci=yes probe=a b$c other=unset' "$tmp/out"
check "/dev/kvm inside is a character device answering KVM_GET_API_VERSION 12" \
	eval 'grep -qx kvm=chardev "$tmp/out" && grep -qx api=12 "$tmp/out"'
check "stdin is empty" grep -qx stdin=empty "$tmp/out"
check "stderr arrives on stderr, not stdout" \
	eval 'grep -qx "to stderr" "$tmp/err" && ! grep -q "to stderr" "$tmp/out"'
check "3 MiB of stdout arrive whole, without console noise" \
	eval '[ "$(tail -c '"$big"' "$tmp/out")" = "$(cat "$tmp/big.expected")" ] && [ "$(wc -l <"$tmp/out")" -eq 5 ] && [ "$(wc -c <"$tmp/out")" -eq $((big + $(head -n 5 "$tmp/out" | wc -c))) ]'
check "a WITH_KVM_SHARE folder is written through" grep -qx written "$tmp/share.txt"

# --- a signal's status, 128+n ---
$W sh -c 'kill -KILL $$' >/dev/null 2>&1
st=$?
check "CMD killed by SIGKILL: 137 (got $st)" [ "$st" = 137 ]

# --- the deadline ---
t0=$SECONDS
WITH_KVM_TIMEOUT=60 $W sleep 1000 >/dev/null 2>"$tmp/err"
st=$?
check "WITH_KVM_TIMEOUT=60 kills a hanging CMD: 124 (got $st) after $((SECONDS - t0)) s" \
	eval '[ "$st" = 124 ] && [ $((SECONDS - t0)) -lt 120 ]'
check "  with a clear message" grep -q "did not finish within WITH_KVM_TIMEOUT=60" "$tmp/err"
check "  and no QEMU left ($(qemus))" [ -z "$(qemus)" ]

# --- SIGTERM to with-kvm: no orphan QEMU ---
mkfifo "$tmp/ready"
$W sh -c 'echo started; exec sleep 1000' >"$tmp/ready" 2>/dev/null &
wk=$!
read -r line <"$tmp/ready"
kill -TERM "$wk"
wait "$wk"
st=$?
check "CMD running in the outer VM ($line); SIGTERM to with-kvm: 143 (got $st)" \
	eval '[ "$line" = started ] && [ "$st" = 143 ]'
check "  and no QEMU outlives it ($(qemus))" [ -z "$(qemus)" ]

now_kvm=$([ -e /dev/kvm ] && echo yes || echo no)
check "nothing was created under /dev (/dev/kvm before: $had_kvm, after: $now_kvm)" [ "$had_kvm" = "$now_kvm" ]
finish
