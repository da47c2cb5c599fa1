#!/usr/bin/env bash
# Run each libFuzzer target for SECONDS from an empty corpus; a crash or leak fails it.
# usage: tests/run-fuzz.sh SECONDS BIN...
set -u
secs=$1
shift
passed=0 failed=0
for bin in "$@"; do
	corpus=$(mktemp -d)
	if "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=0 "$corpus" >"$corpus.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   - $(basename "$bin"): $(grep -o 'Done [0-9]* runs' "$corpus.log" | tail -1) in ${secs} s"
	else
		failed=$((failed + 1))
		echo "FAIL - $(basename "$bin")"
		tail -n 40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
