#!/usr/bin/env bash
# Sandboxes' networks through flintd's HTTP API: profiles → NIC (restrictive none, moderate NAT
# with the host and private ranges refused, permissive NAT with the host's loopback), `ports` on
# create forwarded from 127.0.0.1, SandboxInfo's address, ports and denial counters, and the bad
# inputs around them. One flintd (--pool 0 --max-sandboxes 3 --net-dns at a resolver this test
# runs); three sandboxes booted at once. Traffic goes only to servers this test starts on
# 127.0.0.1 (reached from a guest as 10.0.2.2) and to the sandbox's forwarded port.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/api/flintd.sh
. tests/lib/netpeer.sh
NOAUTH=1 # this flintd has no keys
T=${FLINT_API_TIMEOUT:-600} # seconds allowed per request (three boots share the CPUs)

if ! kvm_usable; then
	skip "flintd networking: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for t in curl jq python3 pgrep; do
	command -v "$t" >/dev/null || { bad "missing tool: $t"; finish; exit 1; }
done
[ -x "$FLINTD" ] || { bad "missing $FLINTD (run make)"; finish; exit 1; }

tmp=$(mktemp -d)
state=$tmp/state
mkdir -p "$state"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	stop_flintd
	kill_leftover_vmms "$state"
	rm -rf "$tmp"
}
trap cleanup EXIT
port=$(free_port)
B=http://127.0.0.1:$port
t_start=$SECONDS

# run NAME CMD: sh -c CMD in sandbox NAME; $out is its output (or the error), $code the exit code.
run() {
	req POST "/sandboxes/$1/exec" "$(jq -cn --arg c "$2" '{command: ["/bin/sh", "-c", $c]}')"
	out=$(jq -r '.data.output // .output // .error // empty' <<<"$RB")
	code=$(jq -r 'if .success then 0 else (.exit_code // "none") end' <<<"$RB")
}
has() { grep -qE "$1" <<<"$out"; }

# port_free PORT: a listener could bind 127.0.0.1:PORT now. With SO_REUSEADDR, as flint-vmm binds
# its forwards: the connections fetch made may linger in TIME_WAIT, which only a plain bind minds.
port_free() {
	python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)' "$1" 2>/dev/null
}

tport=$(free_port)
dport=$(free_port)
cport=$(free_port)
fport=$(free_port)
peer tcp tcp 127.0.0.1 "$tport" hello-from-host || { finish; exit 1; }
peer dns dns 127.0.0.1 "$dport" svc.flint.test=198.51.100.7 udp.flint.test=203.0.113.9 || { finish; exit 1; }
: >"$tmp/count.txt"
peer count count 127.0.0.1 "$cport" "$tmp/count.txt" || { finish; exit 1; }

if start_flintd "$state" "$port" "$tmp/flintd.log" --pool 0 --max-sandboxes 3 \
	--net-dns "127.0.0.1:$dport"; then
	ok "flintd is up on $B with --net-dns 127.0.0.1:$dport"
else
	bad "flintd did not come up"
	tail -n 30 "$tmp/flintd.log"
	finish
	exit 1
fi

echo "# options and bad inputs (no VM)"
for bad_opt in "--net-dns localhost" "--net-dns 1.2.3.4:0" "--net-allow a_b.org" "--net-allow 10.0.0.0/33"; do
	# shellcheck disable=SC2086
	msg=$("$FLINTD" $bad_opt 2>&1 >/dev/null)
	st=$?
	check "flintd $bad_opt → exit 2 with one message ($msg)" [ "$st" = 2 -a "$(grep -c . <<<"$msg")" = 1 ]
done
req POST /sandboxes '{"name":"nr","profile":"restrictive","ports":["18080:80"]}'
err_is "restrictive + ports → 400" 400 "ports need a network: the restrictive profile has none"
req POST /sandboxes '{"name":"nd","ports":["18080:80","127.0.0.1:18080:81"]}'
err_is "the same host port twice → 400" 400 "ports '18080:80' and '127.0.0.1:18080:81' both claim host port 18080"
req POST /sandboxes '{"name":"nd","ports":["0.0.0.0:18080:80","18080:81"]}'
expect "0.0.0.0 and 127.0.0.1 on one port clash → 400" 400 '.error | test("both claim host port 18080")'
req POST /sandboxes "{\"name\":\"nu\",\"ports\":[\"$tport:80\"]}"
err_is "a host port another program holds → 409" 409 "Host port 127.0.0.1:$tport is already in use"
req POST /sandboxes '{"name":"na","ports":["192.0.2.1:18080:80"]}'
err_is "a host address not on this host → 400" 400 "Host address 192.0.2.1 is not an address of this host"
req POST /sandboxes '{"name":"nb","ports":["80:80/udp"]}'
expect "a udp mapping → 400" 400 '.error | test("Invalid port mapping")'
req GET /sandboxes
expect "none of them left a sandbox behind" 200 '.data == []'

echo "# three sandboxes, booted at once"
R=net-r M=net-m P=net-p
t0=$SECONDS
curl -s --max-time "$T" -o "$tmp/r.json" -H 'Content-Type: application/json' \
	-d "{\"name\":\"$R\",\"profile\":\"restrictive\"}" "$B/sandboxes" &
c1=$!
curl -s --max-time "$T" -o "$tmp/m.json" -H 'Content-Type: application/json' \
	-d "{\"name\":\"$M\",\"ports\":[\"$fport:8080\"]}" "$B/sandboxes" &
c2=$!
curl -s --max-time "$T" -o "$tmp/p.json" -H 'Content-Type: application/json' \
	-d "{\"name\":\"$P\",\"profile\":\"permissive\"}" "$B/sandboxes" &
c3=$!
wait $c1 $c2 $c3
echo "# booted in $((SECONDS - t0)) s"
ST=201
RB=$(cat "$tmp/r.json")
LAST="create $R"
expect "restrictive: no network, no address" 201 '.data.ip == null and .data.network.mode == "none" and .data.network.interface == null and .data.network.ports == []'
RB=$(cat "$tmp/m.json")
LAST="create $M"
expect "moderate + ports: NAT at 10.0.2.15, the host refused, the port forwarded from 127.0.0.1" 201 \
	".data.ip == \"10.0.2.15\" and .data.network.mode == \"nat\" and .data.network.address == \"10.0.2.15/24\" and .data.network.gateway == \"10.0.2.2\" and .data.network.dns == \"10.0.2.3\" and .data.network.host_access == false and .data.network.ports == [{\"host_ip\":\"127.0.0.1\",\"host_port\":$fport,\"guest_port\":8080,\"protocol\":\"tcp\"}] and .data.ports == [\"127.0.0.1:$fport:8080/tcp\"]"
RB=$(cat "$tmp/p.json")
LAST="create $P"
expect "permissive: NAT with the host's loopback" 201 '.data.network.mode == "nat+host" and .data.network.host_access == true and .data.ip == "10.0.2.15"'

echo "# restrictive"
run "$R" 'ls /sys/class/net'
check "$R has only lo ($(tr '\n' ' ' <<<"$out"))" [ "$out" = lo ]

echo "# moderate"
run "$M" 'ls /sys/class/net; ip -4 addr show eth0; ip route'
check "$M has eth0 at 10.0.2.15/24" has "inet 10\.0\.2\.15/24"
check "$M: default route via 10.0.2.2" has "^default via 10\.0\.2\.2"
run "$M" 'nslookup svc.flint.test'
check "$M: DNS through the forwarder to --net-dns ($(grep Address: <<<"$out" | tail -1))" has "^Address: 198\.51\.100\.7$"
req POST "/sandboxes/$M/exec/detach" '{"command":["/bin/sh","-c","nc -ll -p 8080 -e echo hello-from-sandbox"]}'
expect "$M: a listener on guest port 8080 (detached)" 200 '.data.status == "running"'
got=$(fetch 127.0.0.1 "$fport")
check "$M: 127.0.0.1:$fport on the host reaches guest port 8080 ($got)" [ "$got" = hello-from-sandbox ]
run "$M" "t0=\$(cut -d' ' -f1 /proc/uptime); nc -w 120 10.0.2.2 $cport </dev/null; echo rc=\$?; t1=\$(cut -d' ' -f1 /proc/uptime); echo took \$(echo \"\$t1 \$t0\" | awk '{ print int(\$1 - \$2) }')"
check "$M: the host (10.0.2.2:$cport) is refused ($(grep -o 'Connection refused' <<<"$out" | head -1))" has "Connection refused"
took=$(sed -n 's/^took \([0-9]*\)$/\1/p' <<<"$out")
check "$M: ... at once, not after a timeout (${took:-?} s in the guest)" [ "${took:-999}" -lt 60 ]
check "$M: ... and nothing reached the host's server" [ ! -s "$tmp/count.txt" ]
req GET "/sandboxes/$M"
expect "$M: SandboxInfo counts the denial and names it" 200 \
	".data.network.denied >= 1 and (.data.network.last_denied | test(\"10\\\\.0\\\\.2\\\\.2:$cport\"))"
req POST /sandboxes "{\"name\":\"net-x\",\"ports\":[\"0.0.0.0:$fport:80\"]}"
err_is "a port another sandbox forwards → 409 naming it" 409 "Host port 0.0.0.0:$fport is already forwarded to sandbox '$M'"

echo "# permissive"
run "$P" "nc -w 120 10.0.2.2 $tport </dev/null"
check "$P: TCP to the host's loopback via 10.0.2.2 ($out)" has "^hello-from-host$"
run "$P" "nslookup udp.flint.test 10.0.2.2:$dport"
check "$P: UDP to the host's loopback via 10.0.2.2" has "^Address: 203\.0\.113\.9$"
req GET "/sandboxes/$P"
expect "$P: nothing denied" 200 '.data.network.denied == 0 and .data.network.last_denied == null'
req GET "/sandboxes/$R"
expect "$R: no counters without a network" 200 '(.data.network | has("denied") | not)'

echo "# deleting gives the port back"
req DELETE "/sandboxes/$M"
expect "DELETE $M" 200 '.data == "Sandbox removed"'
check "127.0.0.1:$fport is free again" port_free "$fport"
req DELETE "/sandboxes/$R"
req DELETE "/sandboxes/$P"
stop_flintd
wait_vmms_at_most "$state" 0 15
check "no flint-vmm left" [ "$(vmm_count "$state")" = 0 ]
if [ "$FAILED" -gt 0 ]; then
	echo "--- flintd log (last 30 lines)"
	tail -n 30 "$tmp/flintd.log"
	for d in "$state"/vms/*/; do [ -f "$d/vmm.log" ] && { echo "--- $d/vmm.log"; tail -n 10 "$d/vmm.log"; }; done
fi
echo "api-net: $((SECONDS - t_start)) s"
finish
