#!/usr/bin/env bash
# flint-vmm's control socket (--control PATH) with an idling test guest: status, ping, errors, the
# client limit, stop, stale and bad paths. Through build/tests/control-client (host/control.c).
#
# FLINT_VMM picks the binary (e.g. build/flint-vmm-san). Needs `make test-guests-build
# build/tests/control-client`. Skips when /dev/kvm cannot be opened.
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
VMM=${FLINT_VMM:-build/flint-vmm}
GUEST=${FLINT_GUESTS:-build/tests/guests}/idle.elf
CLIENT=build/tests/control-client

if ! kvm_usable; then
	skip "control socket: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for f in "$VMM" "$GUEST" "$CLIENT"; do
	[ -e "$f" ] || { bad "missing $f (make test-guests-build $CLIENT)"; finish; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/flint-control.XXXXXX") || exit 1
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# start NAME ARGS...: flint-vmm on the idle guest in the background, control socket $T/NAME.sock;
# sets pid. Waits (at most 10 s) until the socket answers a ping (a stale one there does not).
start() {
	local name=$1
	shift
	"$VMM" --kernel "$GUEST" --console none --control "$T/$name.sock" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null &
	pid=$!
	pids+=("$pid")
	local i
	for ((i = 0; i < 200; i++)); do
		"$CLIENT" "$T/$name.sock" ping >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# wait_exit PID: its exit status, or 124 after 20 s (then it is killed).
wait_exit() {
	local i
	for ((i = 0; i < 400; i++)); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null
	wait "$1"
	return 124
}

# The network keys of a VM without --net, as a regular expression.
NET_NULL=',"net_rx_packets":null,"net_rx_bytes":null,"net_tx_packets":null,"net_tx_bytes":null'
NET_NULL+=',"net_rx_dropped":null,"net_tx_dropped":null,"net_denied":null,"net_last_denied":null'

no_sanitizer_report() { ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$1"; }

# ---- one VM for the protocol: 2 vCPUs, 64 MiB, a vsock device with CID 7 ----------------------
S=$T/vm.sock
if start vm --cpus 2 --mem 64 --vsock "$T/vsock.sock" --cid 7; then
	ok "flint-vmm listens on the control socket"
	check "the socket is mode 0600" [ "$(stat -c %a "$S")" = 600 ]

	out=$("$CLIENT" "$S" ping)
	check "ping answers {\"ok\":true} ($out)" [ "$out" = '{"ok":true}' ]

	out=$("$CLIENT" "$S" status)
	check "status: raw reply is the documented object ($out)" grep -qE \
		'^\{"ok":true,"state":"running","pid":[0-9]+,"uptime_ms":[0-9]+,"vcpus":2,"mem_mib":64,"cid":7,"boot_ms":[0-9]+'"$NET_NULL"'\}$' \
		<<<"$out"
	check "status: without --net, \"net_denied\":null" grep -q '"net_denied":null,' <<<"$out"
	out=$("$CLIENT" --status "$S")
	check "status parsed: running, its pid, 2 vCPUs, 64 MiB, CID 7, booted ($out)" grep -qE \
		"^state=running pid=$pid uptime_ms=[0-9]+ vcpus=2 mem_mib=64 cid=7 boot_ms=[0-9]+$" <<<"$out"

	out=$("$CLIENT" "$S" frobnicate)
	check "an unknown command is an error naming it ($out)" \
		[ "$out" = "{\"ok\":false,\"error\":\"unknown command 'frobnicate'\"}" ]
	out=$(printf 'bad"\\\001cmd%s\n' "$(head -c 60 /dev/zero | tr '\0' z)" | "$CLIENT" --raw "$S")
	check "an unknown command is quoted back sanitized and truncated ($(head -1 <<<"$out"))" grep -qx \
		"{\"ok\":false,\"error\":\"unknown command 'bad???cmdzzzzzzzzzzzzzzzzzzzzzzz...'\"}" <<<"$out"

	out=$(printf 'ping\nstatus\nping\n' | "$CLIENT" --raw "$S")
	check "several lines in one write get one reply each, in order" \
		[ "$(sed -n '1p;3p' <<<"$out" | sort -u)" = '{"ok":true}' ]
	check "  (the second is the status)" grep -q '"state":"running"' <<<"$(sed -n 2p <<<"$out")"

	out=$({ head -c 300 /dev/zero | tr '\0' a; echo; } | "$CLIENT" --raw "$S")
	check "a 300-byte line gets an error, then the connection closes ($(tr '\n' ' ' <<<"$out"))" \
		[ "$out" = $'{"ok":false,"error":"line longer than 256 bytes"}\n<EOF>' ]
	out=$({ head -c 256 /dev/zero | tr '\0' a; echo; } | "$CLIENT" --raw "$S")
	check "a 256-byte line is a command (unknown), and the connection stays open" \
		grep -q "unknown command 'aaaa" <<<"$out"

	out=$("$CLIENT" --clients 9 "$S")
	check "9 clients at once: 8 answered" [ "$(grep -c '^[0-9] {"ok":true}$' <<<"$out")" = 8 ]
	check "9 clients at once: the 9th is closed" grep -qx '9 closed' <<<"$out"
	out=$("$CLIENT" "$S" ping)
	check "slots are free again once clients leave ($out)" [ "$out" = '{"ok":true}' ]

	out=$("$CLIENT" "$S" stop)
	check "stop answers {\"ok\":true} before flint-vmm goes ($out)" [ "$out" = '{"ok":true}' ]
	wait_exit "$pid"
	rc=$?
	check "stop: flint-vmm exits 0 (got $rc)" [ "$rc" = 0 ]
	check "stop: the socket file is gone" [ ! -e "$S" ]
	check "stop: no sanitizer report" no_sanitizer_report "$T/vm.err"
	"$CLIENT" "$S" ping >/dev/null
	rc=$?
	check "a request to a stopped flint-vmm fails with ENOENT (status $rc)" [ "$rc" = 2 ]
else
	bad "flint-vmm did not create its control socket: $(tail -3 "$T/vm.err")"
fi

# ---- before READY, boot_ms is null; without vsock, cid is null -------------------------------
if start early --cmdline-extra ready=0; then
	out=$("$CLIENT" "$T/early.sock" status)
	check "before READY boot_ms is null, without --vsock cid is null ($out)" \
		grep -q '"cid":null,"boot_ms":null,' <<<"$out"
	out=$("$CLIENT" --status "$T/early.sock")
	check "the parser gives -1 for both nulls ($out)" grep -q 'cid=-1 boot_ms=-1$' <<<"$out"
	kill -TERM "$pid"
	wait_exit "$pid"
	rc=$?
	check "SIGTERM still ends flint-vmm (143, got $rc) and removes the socket" \
		[ "$rc" = 143 -a ! -e "$T/early.sock" ]
else
	bad "flint-vmm (ready=0) did not create its control socket: $(tail -3 "$T/early.err")"
fi

# ---- with --net user: the device's counters, no denial yet (the idle guest drives no NIC) ------
if start net --net user,dns=127.0.0.1:9; then
	out=$("$CLIENT" "$T/net.sock" status)
	check "with --net the counters are numbers, net_last_denied null until a denial ($out)" grep -qE \
		'"boot_ms":([0-9]+|null),"net_rx_packets":0,"net_rx_bytes":0,"net_tx_packets":0,"net_tx_bytes":0,"net_rx_dropped":0,"net_tx_dropped":0,"net_denied":0,"net_last_denied":null\}$' \
		<<<"$out"
	out=$("$CLIENT" --status "$T/net.sock")
	check "  and the parser still reads it ($out)" grep -q '^state=running ' <<<"$out"
	"$CLIENT" "$T/net.sock" stop >/dev/null
	wait_exit "$pid"
	rc=$?
	check "  stop: flint-vmm exits 0 (got $rc)" [ "$rc" = 0 ]
	check "  no sanitizer report" no_sanitizer_report "$T/net.err"
else
	bad "flint-vmm --net user did not create its control socket: $(tail -3 "$T/net.err")"
fi

# ---- stale, live and wrong things at PATH ---------------------------------------------------
if start stale; then
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	check "a killed flint-vmm leaves its socket behind" [ -S "$T/stale.sock" ]
	"$CLIENT" "$T/stale.sock" ping >/dev/null
	rc=$?
	check "a request to a dead flint-vmm's socket fails with ECONNREFUSED (status $rc)" [ "$rc" = 111 ]
	if start stale; then
		out=$("$CLIENT" "$T/stale.sock" ping)
		check "a stale socket at PATH is replaced ($out)" [ "$out" = '{"ok":true}' ]
		live=$pid
		err=$("$VMM" --kernel "$GUEST" --console none --control "$T/stale.sock" 2>&1 >/dev/null)
		rc=$?
		check "a live flint-vmm's socket is refused: 125, one message (status $rc: $err)" \
			[ "$rc" = 125 -a "$(wc -l <<<"$err")" = 1 ]
		check "  the message says someone is listening" grep -q "listening" <<<"$err"
		out=$("$CLIENT" "$T/stale.sock" ping)
		check "  and the live one still answers ($out)" [ "$out" = '{"ok":true}' ]
		"$CLIENT" "$T/stale.sock" stop >/dev/null
		wait_exit "$live"
	else
		bad "flint-vmm did not replace the stale socket: $(tail -3 "$T/stale.err")"
	fi
else
	bad "flint-vmm did not create its control socket: $(tail -3 "$T/stale.err")"
fi

echo keep >"$T/file"
err=$("$VMM" --kernel "$GUEST" --console none --control "$T/file" 2>&1 >/dev/null)
rc=$?
check "a regular file at PATH: 125, one message, the file untouched (status $rc: $err)" \
	[ "$rc" = 125 -a "$(wc -l <<<"$err")" = 1 -a "$(cat "$T/file")" = keep ]
err=$("$VMM" --kernel "$GUEST" --console none --control "$T/no/such/dir/c.sock" 2>&1 >/dev/null)
rc=$?
check "PATH in a missing directory: 125, one message (status $rc: $err)" \
	[ "$rc" = 125 -a "$(wc -l <<<"$err")" = 1 ]
check "  the message names the path" grep -q "$T/no/such/dir/c.sock" <<<"$err"
long=$T/$(head -c 120 /dev/zero | tr '\0' l)
err=$("$VMM" --kernel "$GUEST" --console none --control "$long" 2>&1 >/dev/null)
rc=$?
check "PATH too long for a Unix socket: 125, one message (status $rc: $err)" \
	[ "$rc" = 125 -a "$(wc -l <<<"$err")" = 1 ]
finish
