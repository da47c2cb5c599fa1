#!/usr/bin/env bash
# flint-init's agent on the host (--agent-unix): readiness by accept() on the ready socket, then
# every request type through the host client library (build/tests/agent-host), then SHUTDOWN and
# a check that nothing it started is left. The agent runs in its own PID namespace, where a bash
# is PID 1 and flint-init a child subreaper, as it would be PID 1 of a VM.
#
# FLINT_INIT and FLINT_AGENT_TEST pick the binaries. Ends with "N passed, N failed, N skipped".
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

INIT=$(realpath -m "${FLINT_INIT:-build/flint-init}")
TEST=$(realpath -m "${FLINT_AGENT_TEST:-build/tests/agent-host}")
TIMEOUT=${FLINT_TEST_TIMEOUT:-180}

for f in "$INIT" "$TEST"; do
	if [ ! -x "$f" ]; then
		bad "not built: $f (make build/flint-init build/tests/agent-host)"
		finish
		exit 1
	fi
done
# Root, not a user namespace: the sandbox user (uid 1000) must exist for setuid().
NS=(unshare --pid --fork --mount-proc)
if [ "$(id -u)" != 0 ] || [ "$("${NS[@]}" sh -c 'echo $$' 2>/dev/null)" != 1 ]; then
	skip "the agent on the host: needs root and a PID namespace (unshare --pid)"
	finish
	exit 0
fi

tmp=$(mktemp -d)
ns_pid=
cleanup() {
	[ -z "$ns_pid" ] || kill "$ns_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/files"

# 1. Listen for the agent's HELLO before it starts, as flint does for a VM.
coproc READY { exec "$TEST" --ready "$tmp/ready.sock"; }
line=
read -r -t 10 line <&"${READY[0]}"
if [ "$line" != listening ]; then
	bad "ready listener: '$line'"
	finish
	exit 1
fi

# 2. The agent. When it has exited, the namespace's PID 1 counts what is left (zombies included).
inner='"$INIT" --agent-unix "$SOCK" --ready-unix "$READY_SOCK" & p=$!
wait $p; rc=$?
n=0
for d in /proc/[0-9]*; do [ "${d#/proc/}" = $$ ] || n=$((n + 1)); done
echo "agent-exit $rc left $n"'
t0=$(date +%s%N)
INIT=$INIT SOCK=$tmp/agent.sock READY_SOCK=$tmp/ready.sock \
	timeout -k 2 "$TIMEOUT" "${NS[@]}" bash -c "$inner" >"$tmp/ns.out" 2>"$tmp/agent.err" </dev/null &
ns_pid=$!

# 3. Readiness: the listener accepted the agent's connection, read its HELLO and pinged over it.
line=
read -r -t 20 line <&"${READY[0]}"
ms=$((($(date +%s%N) - t0) / 1000000))
if [[ "$line" == "ready flint-init $(uname -r) 0" ]]; then
	ok "ready: the agent connected to the ready socket, said HELLO, answered PING ($ms ms)"
else
	bad "ready: '$line'"
	sed 's/^/    agent| /' "$tmp/agent.err"
fi
[ -S "$tmp/agent.sock" ] && ok "ready: the agent's socket exists" || bad "ready: no $tmp/agent.sock"

# 4. Every request type; the program's last test is SHUTDOWN.
"$TEST" "$tmp/agent.sock" "$tmp/files" | tee "$tmp/test.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/test.out" | tail -1)
p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$line")
f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
if [ -z "$line" ]; then
	bad "agent-host ended without its totals (crashed?)"
else
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
fi

# 5. Cleanup: flint-init exited 0 after SHUTDOWN, killing what it started, and removed its socket.
wait "$ns_pid"
ns_pid=
if grep -qx "agent-exit 0 left 0" "$tmp/ns.out"; then
	ok "shutdown: flint-init exited 0 and left no process behind"
else
	bad "shutdown: $(cat "$tmp/ns.out")"
fi
[ ! -e "$tmp/agent.sock" ] && ok "shutdown: the socket is removed" || bad "shutdown: $tmp/agent.sock is left"
if [ -s "$tmp/agent.err" ]; then
	echo "    flint-init's stderr:"
	sed 's/^/    | /' "$tmp/agent.err" | head -20
fi
finish
