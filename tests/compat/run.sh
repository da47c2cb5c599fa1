#!/usr/bin/env bash
# Compatibility: the unmodified agentkernel Node SDK (npm agentkernel@0.18.1) against flintd.
# Installs the SDK once into a cache outside the clone, starts one flintd (--pool 2) on a free port
# with a temporary state dir and an API key, runs tests/compat/compat.mjs, stops flintd, and checks
# that no flint-vmm of that state dir is left. On PVM hosts the run takes several minutes (8 boots).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/api/flintd.sh
SDK_VERSION=0.18.1
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/flint/compat

# The SDK, from the npm registry, reused while its version matches. `--install-sdk` does only this,
# where the network is (tests/run-all.sh, before the VM suites enter the outer VM, which has none).
install_sdk() {
	have=$(node -p "require('$CACHE/node_modules/agentkernel/package.json').version" 2>/dev/null)
	if [ "$have" != "$SDK_VERSION" ]; then
		mkdir -p "$CACHE"
		if ! npm install --no-save --no-audit --no-fund --prefix "$CACHE" "agentkernel@$SDK_VERSION" >"$CACHE/npm.log" 2>&1; then
			bad "npm install agentkernel@$SDK_VERSION into $CACHE (see $CACHE/npm.log)"
			tail -n 20 "$CACHE/npm.log"
			return 1
		fi
		have=$(node -p "require('$CACHE/node_modules/agentkernel/package.json').version" 2>/dev/null)
	fi
	check "agentkernel SDK $SDK_VERSION installed in $CACHE (have ${have:-none})" [ "$have" = "$SDK_VERSION" ]
}
for t in node npm curl python3; do
	command -v "$t" >/dev/null || { bad "missing tool: $t"; finish; exit 1; }
done
if [ "${1:-}" = --install-sdk ]; then
	install_sdk
	finish
	exit
fi
if ! kvm_usable; then
	skip "agentkernel SDK compatibility: /dev/kvm is absent or not accessible"
	finish
	exit
fi
[ -x "$FLINTD" ] || { bad "missing $FLINTD (run make)"; finish; exit 1; }
install_sdk || { finish; exit 1; }

tmp=$(mktemp -d)
state=$tmp/state
mkdir -p "$state"
key=compat-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
cleanup() {
	stop_flintd
	kill_leftover_vmms "$state" >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(free_port)
t0=$SECONDS
if FLINT_API_KEY=$key start_flintd "$state" "$port" "$tmp/flintd.log" --pool 2 ${FLINTD_ARGS:-}; then
	ok "flintd answers GET /health on 127.0.0.1:$port (after $((SECONDS - t0)) s)"
else
	bad "flintd did not come up on 127.0.0.1:$port"
	echo "--- flintd log"; tail -n 30 "$tmp/flintd.log"
	finish
	exit 1
fi

FLINT_COMPAT_SDK=$CACHE FLINT_URL="http://127.0.0.1:$port" FLINT_API_KEY=$key \
	AGENTKERNEL_BASE_URL="http://127.0.0.1:$port" AGENTKERNEL_API_KEY=$key \
	node tests/compat/compat.mjs | tee "$tmp/compat.out"
rc=${PIPESTATUS[0]}
totals=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/compat.out" | tail -1)
p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$totals")
f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$totals")
PASSED=$((PASSED + ${p:-0}))
FAILED=$((FAILED + ${f:-0}))
[ "$rc" -eq 0 ] || [ "${f:-0}" -gt 0 ] || bad "compat.mjs exited $rc without reporting a failure"
check "flintd is still alive after the SDK run" kill -0 "$FLINTD_PID"

stop_flintd
check "flintd exits on SIGTERM within 60 s" [ $? -eq 0 ]
# flintd stops its VMs before exiting; give the kernel a moment to reap them.
wait_vmms_at_most "$state" 0 15
left=$(vmm_pids "$state" | tr '\n' ' ')
check "no flint-vmm of this state dir left after flintd stopped (${left:-none})" [ -z "$left" ]

if [ "$FAILED" -gt 0 ]; then
	echo "--- flintd log (last 40 lines)"
	tail -n 40 "$tmp/flintd.log"
fi
echo "compat: $((SECONDS - t0)) s"
finish
