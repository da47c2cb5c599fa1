# Host-side peers for the network suites (tests/e2e/test_net_vm.sh, tests/api/test_net_api.sh).
# Source after tests/lib/tap.sh; the caller provides $tmp (a private directory) and a `pids` array
# that its cleanup kills. Traffic stays on this machine: servers on its own addresses only.
NET_PEER=tests/e2e/net-peer.py

# peer NAME ARGS...: a net-peer.py server (ARGS as its usage says), waited for by reading its
# "listening" line instead of sleeping.
peer() {
	local name=$1
	shift
	mkfifo "$tmp/$name.fifo"
	python3 "$NET_PEER" "$@" >"$tmp/$name.fifo" 2>"$tmp/$name.err" &
	pids+=($!)
	local line=
	read -r -t 20 line <"$tmp/$name.fifo"
	[ "$line" = listening ] || { bad "$name server did not start: $(cat "$tmp/$name.err")"; return 1; }
}

# fetch ADDR PORT: connect and print what the guest's listener says; retried while that listener
# is not up yet (a forwarded port accepts, then the connection is reset).
fetch() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
for attempt in range(60):
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120) as s:
            data = s.recv(100)
        if data:
            print(data.decode().strip())
            sys.exit(0)
    except OSError:
        pass
    time.sleep(2)
sys.exit(1)
PY
}
