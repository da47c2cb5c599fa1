#!/usr/bin/env bash
# The whole suite: unit tests, flint-init on the host, tiny guests (plain and sanitized VMM),
# and end-to-end boots of the real kernel. Ends with the totals as "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
total_p=0 total_f=0 total_s=0

# Run one suite, show its output, and add the counts from its closing "N passed, N failed" line.
suite() {
	local name=$1
	shift
	echo "=== $name"
	local log
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	rm -f "$log"
	local p f s
	p=$(sed -n 's/.*\b\([0-9]\+\) passed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.*\b\([0-9]\+\) failed.*/\1/p' <<<"$line")
	s=$(sed -n 's/.*\b\([0-9]\+\) skipped.*/\1/p' <<<"$line")
	total_p=$((total_p + ${p:-0}))
	total_f=$((total_f + ${f:-0}))
	total_s=$((total_s + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "$name: exited with status $rc without reporting a failure" >&2
		total_f=$((total_f + 1))
	fi
}

suite unit tests/run-unit.sh $(ls build/tests/unit/test_* | grep -v "\.d$")
suite cli bash tests/integration/test_cli.sh
suite cli-daemon bash tests/integration/test_cli_daemon.sh
suite init-host bash tests/integration/test_init_host.sh
suite agent-host bash tests/integration/test_agent_host.sh
suite guests bash tests/integration/test_guests.sh
suite guests-asan env FLINT_VMM=build/flint-vmm-san bash tests/integration/test_guests.sh
suite control bash tests/integration/test_control.sh
suite control-asan env FLINT_VMM=build/flint-vmm-san bash tests/integration/test_control.sh
suite fuzz tests/run-fuzz.sh "${FUZZ_SECONDS:-15}" $(ls build/fuzz/fuzz_* | grep -v "\.d$")
suite e2e bash tests/e2e/test_oneshot.sh
suite e2e-agent bash tests/e2e/test_agent_vm.sh
suite e2e-net bash tests/e2e/test_net_vm.sh
suite api bash tests/api/test_api.sh
suite api-net bash tests/api/test_net_api.sh
suite compat bash tests/compat/run.sh

echo
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
