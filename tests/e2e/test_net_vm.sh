#!/usr/bin/env bash
# End to end: the network in real VMs, driven through the agent (build/tests/agent-exec).
#  1. one VM on --net user: eth0 from flint.net=, TCP and UDP to servers on the host's loopback
#     through 10.0.2.2 (host-access=on), DNS through the forwarder to a resolver this test runs,
#     a forwarded port answered from the guest, a refused connect to a special-range address
#     that fails fast and is reported (stderr, and the control socket's status), a ping to the
#     gateway; poweroff ends flint-vmm with 0.
#  2. one VM on a tap in a private network namespace: pings and TCP both ways, a bulk transfer.
# Every server and every packet stays on this machine. Two boots; on PVM hosts each takes
# 40-90 s, more while other VMs share the host.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/netpeer.sh
VMM=${FLINT_VMM:-build/flint-vmm}
KERNEL=build/guest/vmlinux
IMAGE=build/images/base.ext4
READY=build/tests/agent-host
EXEC=build/tests/agent-exec
CTL=build/tests/control-client
BOOT_TIMEOUT=${FLINT_BOOT_TIMEOUT:-900}
STEP=300 # seconds any one guest command may take

# --- helpers -------------------------------------------------------------------------------------

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}

# boot NAME ARGS...: flint-vmm with the agent on $tmp/NAME.sock; returns once the agent said
# hello on host port 1025 (build/tests/agent-host --ready prints the line), with $vmm_pid set.
boot() {
	local name=$1
	shift
	exec {ready}< <(exec "$READY" --ready "$tmp/$name.sock_1025")
	local line=
	read -r -t 30 line <&$ready
	local t0=$SECONDS
	"$VMM" --kernel "$KERNEL" --disk "$IMAGE,ro" --mem 256 --vsock "$tmp/$name.sock" \
		--console "$tmp/$name.console" "$@" >/dev/null 2>"$tmp/$name.vmm.err" &
	vmm_pid=$!
	pids+=("$vmm_pid")
	read -r -t "$BOOT_TIMEOUT" line <&$ready
	exec {ready}<&-
	check "$name: the agent is up ($((SECONDS - t0)) s)" grep -q "^ready flint-init " <<<"$line"
}

# in_vm NAME CMD: run a shell command in the guest; its output in $out, its status in $st.
in_vm() {
	out=$("$EXEC" "$tmp/$1.sock" -t "$STEP" -- /bin/sh -c "$2" 2>&1)
	st=$?
}

# has PATTERN: $out has a line matching the extended regex.
has() { grep -qE "$1" <<<"$out"; }

# --- the tap VM, in this process's own network namespace (re-entered by the main part) ----------

tap_part() {
	tmp=$1
	trap cleanup EXIT
	ip link set lo up
	ip tuntap add dev fltap0 mode tap || { bad "tap: ip tuntap add failed"; finish; exit 1; }
	ip addr add 10.9.0.1/24 dev fltap0
	ip link set fltap0 up
	local tport sport
	tport=$(free_port)
	sport=$(free_port)
	peer tap-tcp tcp 10.9.0.1 "$tport" hello-over-tap || { finish; exit 1; }
	peer tap-sink sink 10.9.0.1 "$sport" "$tmp/tap-sink.txt" || { finish; exit 1; }
	boot tap --net tap:fltap0,ip=10.9.0.2/24,gw=10.9.0.1,dns=10.9.0.1
	in_vm tap 'ip -4 addr show eth0; cat /sys/class/net/eth0/mtu; ip route; cat /etc/resolv.conf'
	check "tap: eth0 is 10.9.0.2/24" has "inet 10\.9\.0\.2/24"
	check "tap: default route via 10.9.0.1" has "^default via 10\.9\.0\.1 dev eth0"
	check "tap: resolv.conf names 10.9.0.1" has "^nameserver 10\.9\.0\.1$"
	check "tap: host pings the guest" bash -c "busybox ping -c 1 -W 120 10.9.0.2 >/dev/null"
	in_vm tap 'ping -c 1 -W 120 10.9.0.1'
	check "tap: the guest pings the host" [ "$st" = 0 ]
	in_vm tap "nc -w 120 10.9.0.1 $tport </dev/null"
	check "tap: guest -> host TCP ($out)" has "^hello-over-tap$"
	in_vm tap 'nc -l -p 80 -e echo hello-from-tap-guest </dev/null >/dev/null 2>&1 &'
	check "tap: host -> guest TCP" [ "$(fetch 10.9.0.2 80)" = hello-from-tap-guest ]
	# 1 MiB guest -> host: segments the guest may hand over unsegmented (TSO) and unsummed
	in_vm tap "dd if=/dev/zero bs=64k count=16 2>/dev/null | nc -w 120 10.9.0.1 $sport"
	check "tap: 1 MiB guest -> host arrived whole ($(cat "$tmp/tap-sink.txt" 2>/dev/null))" \
		grep -qx "1048576 bytes" "$tmp/tap-sink.txt"
	"$EXEC" "$tmp/tap.sock" -- poweroff >/dev/null 2>&1
	wait "$vmm_pid"
	local vst=$?
	check "tap: poweroff ended flint-vmm with 0 (status $vst)" [ "$vst" = 0 ]
	if [ "$FAILED" -gt 0 ]; then
		echo "--- tap: flint-vmm stderr"; tail -n 20 "$tmp/tap.vmm.err"
		echo "--- tap: guest console"; tail -n 20 "$tmp/tap.console"
	fi
	finish
}

if [ "${1:-}" = --tap-part ]; then
	tap_part "$2"
	exit
fi

# --- the user-mode VM ---------------------------------------------------------------------------

if ! kvm_usable; then
	skip "network in a VM: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for f in "$VMM" "$KERNEL" "$IMAGE" "$READY" "$EXEC" "$CTL"; do
	[ -e "$f" ] || { bad "missing $f (run make test)"; finish; exit 1; }
done
tmp=$(mktemp -d)
trap cleanup EXIT

tport=$(free_port)
dport=$(free_port)
fport=$(free_port)
xport=$(free_port)
peer tcp tcp 127.0.0.1 "$tport" hello-from-host || { finish; exit 1; }
peer dns dns 127.0.0.1 "$dport" dns.flint.test=198.51.100.7 udp.flint.test=203.0.113.9 ||
	{ finish; exit 1; }
# This machine's own address, in a special or private range: where a refused connect would
# have gone had the policy let it through (a server there counts any that arrive).
hostip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
peer count count 0.0.0.0 "$xport" "$tmp/count.txt" || { finish; exit 1; }

boot user --control "$tmp/user.ctl" \
	--net "user,host-access=on,dns=127.0.0.1:$dport,hostfwd=tcp:127.0.0.1:$fport-:80"

in_vm user 'ip -4 addr show eth0; cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address; ip route; cat /etc/resolv.conf'
check "user: eth0 is 10.0.2.15/24" has "inet 10\.0\.2\.15/24"
check "user: MTU 1500" has "^1500$"
check "user: the MAC derives from CID 3" has "^52:54:00:00:00:03$"
check "user: default route via 10.0.2.2" has "^default via 10\.0\.2\.2 dev eth0"
check "user: resolv.conf names 10.0.2.3" has "^nameserver 10\.0\.2\.3$"

in_vm user "nc -w 120 10.0.2.2 $tport </dev/null"
check "user: TCP to the host's loopback via 10.0.2.2 ($out)" has "^hello-from-host$"

in_vm user "nslookup udp.flint.test 10.0.2.2:$dport"
check "user: UDP to the host's loopback via 10.0.2.2" has "^Address: 203\.0\.113\.9$"

in_vm user 'nslookup dns.flint.test; nslookup no-such.flint.test'
check "user: a name resolved through the DNS forwarder" has "^Address: 198\.51\.100\.7$"
check "user: an unknown name is NXDOMAIN, not a timeout" has "NXDOMAIN"

in_vm user 'nc -l -p 80 -e echo hello-from-guest </dev/null >/dev/null 2>&1 &'
check "user: a forwarded host port reaches the guest's port 80" \
	[ "$(fetch 127.0.0.1 "$fport")" = hello-from-guest ]

in_vm user 'ping -c 1 -W 120 10.0.2.2'
check "user: the gateway answers pings" [ "$st" = 0 ]

if [ -n "$hostip" ] && grep -qE "^(10|127|169\.254|172\.(1[6-9]|2[0-9]|3[01])|192\.168|192\.0\.[02]|198\.1[89]|198\.51\.100|203\.0\.113|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\." <<<"$hostip"; then
	in_vm user "t0=\$(cut -d' ' -f1 /proc/uptime); nc -w 120 $hostip $xport </dev/null; echo rc=\$?; t1=\$(cut -d' ' -f1 /proc/uptime); echo took \$(echo \"\$t1 \$t0\" | awk '{ print int(\$1 - \$2) }')"
	check "user: a connect to $hostip is refused ($(grep -o 'Connection refused' <<<"$out" | head -1))" \
		has "Connection refused"
	took=$(sed -n 's/^took \([0-9]*\)$/\1/p' <<<"$out")
	check "user: ... at once, not after a timeout (${took:-?} s in the guest)" [ "${took:-999}" -lt 60 ]
	check "user: ... reported on flint-vmm's stderr" \
		grep -qE "^flint-vmm: net: denied tcp $hostip:$xport \((special|private) range\)$" "$tmp/user.vmm.err"
	check "user: ... and nothing reached $hostip:$xport" [ ! -s "$tmp/count.txt" ]
	ctl=$("$CTL" "$tmp/user.ctl" status)
	denied=$(sed -n 's/.*"net_denied":\([0-9]*\),.*/\1/p' <<<"$ctl")
	check "user: ... counted in the control socket's status (net_denied ${denied:-?})" \
		[ "${denied:-0}" -ge 1 ]
	check "user: ... and named there ($(grep -o '"net_last_denied":[^}]*' <<<"$ctl"))" \
		grep -qE "\"net_last_denied\":\"tcp $hostip:$xport \((special|private) range\)\"" <<<"$ctl"
else
	skip "user: refused connect: this host has no private or special-range address (${hostip:-none})"
fi

ctl=$("$CTL" "$tmp/user.ctl" status)
rx=$(sed -n 's/.*"net_rx_packets":\([0-9]*\),.*/\1/p' <<<"$ctl")
tx=$(sed -n 's/.*"net_tx_packets":\([0-9]*\),.*/\1/p' <<<"$ctl")
check "user: the control socket counts the traffic (${rx:-?} packets in, ${tx:-?} out)" \
	[ "${rx:-0}" -gt 0 -a "${tx:-0}" -gt 0 ]

"$EXEC" "$tmp/user.sock" -- poweroff >/dev/null 2>&1
wait "$vmm_pid"
st=$?
check "user: poweroff ended flint-vmm with 0 (status $st)" [ "$st" = 0 ]
if [ "$FAILED" -gt 0 ]; then
	echo "--- user: flint-vmm stderr"; tail -n 20 "$tmp/user.vmm.err"
	echo "--- user: guest console"; tail -n 30 "$tmp/user.console"
fi

# --- the tap VM, in a network namespace of its own ------------------------------------------------

if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v busybox >/dev/null; then
	skip "tap: needs root, /dev/net/tun and busybox (for ping) to build a private network"
else
	mkdir -p "$tmp/tap"
	unshare -n bash "$0" --tap-part "$tmp/tap" >"$tmp/tap.out" 2>&1
	sed 's/^/     /' "$tmp/tap.out"
	totals=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/tap.out" | tail -1)
	p=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$totals")
	f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$totals")
	PASSED=$((PASSED + ${p:-0}))
	FAILED=$((FAILED + ${f:-0}))
	[ -n "$totals" ] || bad "tap: the namespace part ended without its totals"
fi
finish
