#!/usr/bin/env bash
# Run each libFuzzer target for SECONDS from a fresh corpus, seeded from tests/fuzz/corpus/NAME/
# when the tree has one (the seeds are read, never written); a crash or leak fails it.
# usage: tests/run-fuzz.sh SECONDS BIN...
set -u
secs=$1
shift
passed=0 failed=0
for bin in "$@"; do
	corpus=$(mktemp -d)
	seeds=()
	seed_dir=$(dirname "$0")/fuzz/corpus/$(basename "$bin")
	[ -d "$seed_dir" ] && seeds=("$seed_dir")
	if "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=0 "$corpus" "${seeds[@]}" \
		>"$corpus.log" 2>&1; then
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
