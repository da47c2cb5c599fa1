# Helpers for suites that drive a real flintd (tests/api/test_api.sh, tests/compat/run.sh).
# Source after tests/lib/tap.sh, from the repository root. Each flintd runs with its own temporary
# --state-dir; flint-vmm processes are found by that path on their command line.
FLINTD=${FLINTD:-build/flintd}
FLINTD_PID=
FLINTD_PORT=
FLINTD_LOG=
FLINTD_READY_TIMEOUT=${FLINTD_READY_TIMEOUT:-60}


# start_flintd STATE_DIR PORT LOG [flintd args...]: start it in the background (stderr appended to LOG)
# and wait until GET /health answers, as long as it stays alive (bounded by FLINTD_READY_TIMEOUT).
# Sets FLINTD_PID and FLINTD_PORT. Returns non-zero if it died or never answered.
start_flintd() {
	local state=$1 port=$2 log=$3
	shift 3
	FLINTD_PORT=$port
	FLINTD_LOG=$log
	"$FLINTD" --listen "127.0.0.1:$port" --state-dir "$state" "$@" </dev/null >>"$log" 2>&1 &
	FLINTD_PID=$!
	local deadline=$((SECONDS + FLINTD_READY_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		kill -0 "$FLINTD_PID" 2>/dev/null || { FLINTD_PID=; return 1; }
		# The ready line comes first; /health answering is the proof.
		if grep -q "^flintd: listening on http://127.0.0.1:$port" "$log" 2>/dev/null &&
			curl -fsS --max-time 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# stop_flintd: SIGTERM, wait up to 60 s for it to exit (it stops its VMs first), then SIGKILL.
# Returns 0 when it exited on its own after SIGTERM.
stop_flintd() {
	[ -n "$FLINTD_PID" ] || return 0
	local pid=$FLINTD_PID rc=0
	FLINTD_PID=
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null
	return $rc
}

# vmm_pids STATE_DIR [EXTRA-REGEX]: pids of flint-vmm processes whose command line names STATE_DIR
# (and EXTRA-REGEX after it, if given). The [m] keeps the pattern from matching shells that carry it.
vmm_pids() {
	local state=$1 extra=${2:-}
	pgrep -f "flint-vm[m].*${state}${extra:+.*${extra}}" || true
}
vmm_count() { vmm_pids "$@" | grep -c . || true; }

# wait_vmms_at_most STATE_DIR N SECONDS: poll until at most N flint-vmm of STATE_DIR remain.
wait_vmms_at_most() {
	local state=$1 max=$2 secs=$3
	local deadline=$((SECONDS + secs))
	while [ "$(vmm_count "$state")" -gt "$max" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# kill_leftover_vmms STATE_DIR: SIGKILL, by pid, flint-vmm processes still naming STATE_DIR (after a
# failure, so the machine is not left with VMs). Prints what it killed.
kill_leftover_vmms() {
	local pid
	for pid in $(vmm_pids "$1"); do
		echo "#   killing leftover flint-vmm $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-200)"
		kill -KILL "$pid" 2>/dev/null
	done
}

# ---- requests: the caller sets $tmp (a private directory), $B (the base URL), $T (seconds per
# request), and $K1 (the bearer key) unless NOAUTH=1 ----------------------------------------------
# req METHOD PATH [BODY|@FILE] [extra curl args...]: one request with K1; sets ST (status),
# RB (body), RH (headers file) and LAST (the request, for failure messages). Paths go out verbatim.
req() {
	local m=$1 p=$2 body=${3-}
	shift 2
	[ $# -gt 0 ] && shift
	RH=${RH:-$tmp/hdr}
	local a=(-s --path-as-is -o "$tmp/body" -D "$RH" -w '%{http_code}' -X "$m" --max-time "$T")
	[ -n "${NOAUTH:-}" ] || a+=(-H "Authorization: ${AUTH:-Bearer $K1}")
	if [ -n "$body" ]; then
		if [ "${body:0:1}" = @ ]; then a+=(-H 'Content-Type: application/json' -H 'Expect:' --data-binary "$body")
		else a+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
	fi
	rm -f "$tmp/body"
	ST=$(curl "${a[@]}" "$@" "$B$p")
	RB=$(cat "$tmp/body" 2>/dev/null)
	LAST="$m $p${body:+ $(head -c 160 <<<"$body")}"
}
# expect NAME STATUS [JQ-FILTER]: ok when the last answer had STATUS and the filter holds on its body.
expect() {
	local name=$1 st=$2 f=${3:-.}
	if [ "$ST" = "$st" ] && jq -e "$f" >/dev/null 2>&1 <<<"$RB"; then
		ok "$name"
	else
		bad "$name — request: $LAST; expected $st and $f; got $ST $(head -c 400 <<<"$RB")"
	fi
}
# The error envelope with an exact message.
err_is() { expect "$1" "$2" "(.success == false) and (.error == \"$3\") and (has(\"data\") | not)"; }
