#!/usr/bin/env bash
# End to end: the agent in a real VM over virtio-vsock (one boot for the whole group), then
# `flint run` (one more boot). On PVM hosts each boot takes 30-90 s.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
VMM=${FLINT_VMM:-build/flint-vmm}
KERNEL=build/guest/vmlinux
IMAGE=build/images/base.ext4
TEST=build/tests/agent-host
BOOT_TIMEOUT=${FLINT_BOOT_TIMEOUT:-900}

if ! kvm_usable; then
	skip "agent in a VM: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for f in "$VMM" "$KERNEL" "$IMAGE" "$TEST" build/flint; do
	[ -e "$f" ] || { bad "missing $f (run make)"; finish; exit 1; }
done
tmp=$(mktemp -d)
vmm_pid=
cleanup() {
	[ -n "$vmm_pid" ] && kill "$vmm_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The ready listener prints "listening", then "ready NAME KERNEL 0" once the agent connects to
# host port 1025: reading its lines is how we wait, with no polling.
exec 3< <(exec "$TEST" --ready "$tmp/vm.sock_1025")
read -r -t 30 line <&3
check "ready listener is up" [ "$line" = listening ]
t0=$SECONDS
"$VMM" --kernel "$KERNEL" --disk "$IMAGE,ro" --mem 256 --vsock "$tmp/vm.sock" --console "$tmp/console.log" \
	>/dev/null 2>"$tmp/vmm.err" &
vmm_pid=$!
read -r -t "$BOOT_TIMEOUT" line <&3
check "the agent announced itself on host port 1025 ($line, after $((SECONDS - t0)) s)" \
	grep -q "^ready flint-init " <<<"$line"

# The operations the protocol offers, over vsock through flint-vmm's bridge; SHUTDOWN last. Left
# to the host suite: tests that prepare files with the host's own system calls (symlinks), tests
# whose timing assumes native system calls (reaping, the job ring), and the shell-status test,
# which assumes dash (busybox sh execs a lone command, so SIGKILL is the command's own death).
export AGENT_TEST_ONLY="PING|separate ordered|errors before|environment and working|USER sandbox|4 MiB of stdin|TIMEOUT_MS|EXEC_SIGNAL|PTY session|all byte values|3 MiB in chunks|FILE_READ offset|jobs: exit 5|outlive|JOB_LIST|garbage|unknown type|SHUTDOWN"
"$TEST" --vsock "$tmp/vm.sock" /tmp/agent-test >"$tmp/agent.out" 2>&1
rc=$?
sed 's/^/     /' "$tmp/agent.out"
totals=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/agent.out" | tail -1)
p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$totals")
f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$totals")
PASSED=$((PASSED + ${p:-0}))
FAILED=$((FAILED + ${f:-0}))
[ "$rc" -eq 0 ] || [ "${f:-0}" -gt 0 ] || bad "agent tests in the VM exited $rc"

# SHUTDOWN powers the VM off: flint-vmm ends by itself with status 0.
wait "$vmm_pid"
st=$?
vmm_pid=
check "SHUTDOWN powered the VM off and flint-vmm exited 0 (status $st)" [ "$st" = 0 ]

# flint run: a fresh VM for one command, its streams apart, its status returned, the VM gone.
FLINT_BOOT_TIMEOUT=$BOOT_TIMEOUT build/flint run -- /bin/sh -c 'echo out; echo err >&2; exit 7' \
	>"$tmp/run.out" 2>"$tmp/run.err" </dev/null
st=$?
check "flint run: exit status 7 (got $st)" [ "$st" = 7 ]
check "flint run: stdout is exactly 'out\\n'" cmp -s "$tmp/run.out" <(printf 'out\n')
check "flint run: stderr has 'err'" grep -qx err "$tmp/run.err"
# [m]: the pattern must not match this check's own command line.
check "flint run: no flint-vmm left behind" bash -c "! pgrep -f 'flint-vm[m] .*/flint-[A-Za-z0-9]*/vsock.sock' >/dev/null"

if [ "$FAILED" -gt 0 ]; then
	echo "--- flint-vmm stderr"; tail -n 20 "$tmp/vmm.err"
	echo "--- guest console"; tail -n 30 "$tmp/console.log"
	echo "--- flint run stderr"; cat "$tmp/run.err"
fi
finish
