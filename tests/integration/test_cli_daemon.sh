#!/usr/bin/env bash
# flint's daemon mode against tests/integration/fake_flintd.py: the JSON commands (create, ls, rm,
# logs), and exec, shell, cp and run over the attach extension, bridged to a real agent
# (build/flint-init --agent-unix, in its own PID namespace as in test_agent_host.sh). Also: errors
# (404, 401, non-envelope answers, an unreachable daemon), the fallback of `flint run` to direct
# mode (with a stand-in flint-vmm that runs the same agent on the host), and serve.
#
# FLINT and FLINT_INIT pick the binaries. Ends with "N passed, N failed, N skipped".
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

FLINT=$(realpath -m "${FLINT:-build/flint}")
INIT=$(realpath -m "${FLINT_INIT:-build/flint-init}")
FAKE=$(realpath tests/integration/fake_flintd.py)
if [ ! -x "$FLINT" ]; then
	bad "not built: $FLINT (make build/flint)"
	finish
	exit 1
fi
unset FLINT_URL FLINT_API_KEY FLINT_FLINTD FLINT_VMM FLINT_KERNEL FLINT_IMAGE

tmp=$(mktemp -d)
pids=()
cleanup() {
	# SIGKILL: unshare does not pass SIGTERM on, and --kill-child takes the namespace down with it.
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; }

# fl NAME ARGS...: run flint, leaving $tmp/NAME.out, .err, .rc (stdin is the caller's).
fl() {
	local name=$1
	shift
	"$FLINT" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
out() { cat "$tmp/$1.out"; }
err() { cat "$tmp/$1.err"; }
# expect_fail NAME RC PATTERN ARGS...: flint exits RC, with one "flint: " line matching PATTERN.
expect_fail() {
	local name=$1 want=$2 pat=$3
	shift 3
	fl "$name" "$@" </dev/null
	if [ "$(rc "$name")" = "$want" ] && grep -qE -- "^flint: .*$pat" "$tmp/$name.err"; then
		ok "$name: status $want, '$(head -1 "$tmp/$name.err")'"
	else
		bad "$name: status $(rc "$name") (want $want), stderr: $(err "$name")"
	fi
}

# ---- the agent (needs root and a PID namespace) ----------------------------------------------
agent=false
# --pdeathsig: should this script die, the agent's namespace goes with it.
NS=(setpriv --pdeathsig KILL unshare --pid --fork --kill-child --mount-proc)
if [ ! -x "$INIT" ]; then
	skip "exec, shell, cp, run: $INIT is not built"
elif [ "$(id -u)" != 0 ] || [ "$("${NS[@]}" sh -c 'echo $$' 2>/dev/null)" != 1 ]; then
	skip "exec, shell, cp, run: the agent needs root and a PID namespace (unshare --pid)"
else
	INIT=$INIT SOCK=$tmp/agent.sock "${NS[@]}" bash -c '"$INIT" --agent-unix "$SOCK" & wait $!' \
		</dev/null >"$tmp/agent.out" 2>"$tmp/agent.err" &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && break; sleep 0.1; done
	if [ -S "$tmp/agent.sock" ]; then agent=true; else bad "the agent did not start: $(cat "$tmp/agent.err")"; fi
fi

# ---- the fake daemon -------------------------------------------------------------------------
PORT=$(free_port)
KEY=s3cret-key
python3 "$FAKE" "$PORT" --agent "$tmp/agent.sock" --key "$KEY" --log "$tmp/req.log" \
	</dev/null >"$tmp/fake.out" 2>"$tmp/fake.err" &
pids+=($!)
for _ in $(seq 100); do listening "$PORT" && break; sleep 0.1; done
if ! listening "$PORT"; then
	bad "fake_flintd did not start: $(cat "$tmp/fake.err")"
	finish
	exit 1
fi
export FLINT_URL=http://127.0.0.1:$PORT FLINT_API_KEY=$KEY
# The last request the fake saw, as JSON; jqt: a jq test, quiet.
last_req() { grep -v '"event"' "$tmp/req.log" | tail -1; }
jqt() { jq -e "$@" >/dev/null; }

# ---- help and usage --------------------------------------------------------------------------
fl help --help
check "flint --help lists every command" bash -c \
	'for c in run create exec shell cp ls rm logs serve; do grep -qE "^  $c " "$1" || exit 1; done' _ "$tmp/help.out"
helps=0
for c in run create exec shell cp ls rm logs serve; do
	FLINT_FLINTD=$tmp/none fl "help-$c" "$c" --help
	[ "$(rc "help-$c")" = 0 ] && grep -q "^usage: flint $c" "$tmp/help-$c.out" && helps=$((helps + 1))
done
check "every command's --help prints its usage and exits 0 ($helps of 9)" [ "$helps" = 9 ]
expect_fail unknown-command 2 "unknown command 'frob'" frob

# ---- create, ls, logs ------------------------------------------------------------------------
fl create create box1 --image alpine:3.20 --mem 256 --cpus 2 --profile restrictive \
	--label team=a --label env=dev --port 8080:80 --port 127.0.0.1:9000:90
check "create: prints the name, status 0" [ "$(rc create):$(out create)" = "0:box1" ]
req=$(last_req)
check "create: POST /sandboxes with the options in the API's fields" jqt '
	.method == "POST" and .path == "/sandboxes" and
	(.body | fromjson | .name == "box1" and .image == "alpine:3.20" and .memory_mb == 256 and
	 .vcpus == 2 and .profile == "restrictive" and .labels == {team: "a", env: "dev"} and
	 .ports == ["8080:80", "127.0.0.1:9000:90"])' <<<"$req"
check "create: Authorization: Bearer with FLINT_API_KEY" jqt ".authorization == \"Bearer $KEY\"" <<<"$req"
expect_fail create-dup 125 "create: Sandbox 'box1' already exists" create box1
expect_fail create-noname 125 "create: no NAME given" create --mem 64
expect_fail create-badname 125 "create: Invalid sandbox name 'bad--name'" create bad--name
expect_fail create-badmem 125 "create: --mem lots: give a whole number" create x --mem lots
expect_fail create-badlabel 125 "create: --label nokey: give KEY=VALUE" create x --label nokey
expect_fail create-novalue 125 "create: --image needs a value" create x --image

fl ls ls
check "ls: status 0" [ "$(rc ls)" = 0 ]
check "ls: the table's header" grep -qE '^NAME +STATUS +IMAGE +VCPUS +MEM +CREATED$' "$tmp/ls.out"
check "ls: box1's row" grep -qE '^box1 +running +alpine:3\.20 +2 +256M +[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$tmp/ls.out"
check "ls: missing fields show as -" grep -qE '^broken +stopped +- +- +- ' "$tmp/ls.out"
fl ls-json ls --json
check "ls --json: the API's array" jqt 'map(select(.name == "box1"))[0] | .vcpus == 2 and .labels.team == "a"' "$tmp/ls-json.out"
fl ls-label ls --label team:a
check "ls --label team:a: box1 only" [ "$(awk 'NR > 1 {print $1}' "$tmp/ls-label.out")" = box1 ]
check "ls --label: sent as ?label=" jqt '.query.label == "team:a"' <<<"$(last_req)"
fl ls-label2 ls --label team:b
check "ls --label team:b: the header alone" [ "$(wc -l <"$tmp/ls-label2.out")" = 1 ]
expect_fail ls-extra 125 "ls: unexpected 'x'" ls x

fl logs logs box1
check "logs: one line per entry, time, type, fields" grep -qE '^[0-9T:Z-]+ sandbox_created image=alpine:3\.20 vcpus=2$' "$tmp/logs.out"
fl logs-json logs --json box1
check "logs --json: the API's array" jqt '.[0].type == "sandbox_created"' "$tmp/logs-json.out"
expect_fail logs-404 125 "logs: Sandbox not found" logs nosuch
expect_fail logs-500 125 "logs: HTTP 500: internal kaboom" logs broken
expect_fail logs-noname 125 "logs: no NAME given" logs

# ---- authentication --------------------------------------------------------------------------
FLINT_API_KEY=wrong expect_fail auth-bad 125 "ls: Invalid API key" ls
FLINT_API_KEY= expect_fail auth-missing 125 "ls: Missing Authorization header" ls
FLINT_API_KEY='a b' expect_fail auth-space 125 "FLINT_API_KEY holds a space" ls
FLINT_API_KEY=wrong expect_fail auth-attach 125 "exec: Invalid API key" exec box1 -- true
FLINT_URL=https://127.0.0.1:$PORT expect_fail url-https 125 "https is not supported" ls
FLINT_URL=127.0.0.1:$PORT expect_fail url-noscheme 125 "give http://HOST" ls

# ---- exec ------------------------------------------------------------------------------------
expect_fail exec-404 125 "exec: Sandbox not found" exec nosuch -- true
expect_fail exec-502 125 "exec: HTTP 502 Bad Gateway" exec broken -- true
expect_fail exec-noname 125 "exec: no sandbox NAME given" exec
expect_fail exec-nocmd 125 "exec: no command given" exec box1 --
expect_fail exec-badopt 125 "exec: unknown option '--frob'" exec --frob box1 -- true
expect_fail exec-badenv 125 "exec: --env X: give KEY=VALUE" exec --env X box1 -- true
if $agent; then
	fl exec exec box1 -- sh -c 'echo out; echo err >&2; exit 7' </dev/null
	check "exec: the command's status (7)" [ "$(rc exec)" = 7 ]
	check "exec: stdout is exactly its stdout" cmp -s "$tmp/exec.out" <(printf 'out\n')
	check "exec: stderr is exactly its stderr" cmp -s "$tmp/exec.err" <(printf 'err\n')
	check "exec: through POST /sandboxes/box1/attach with Upgrade: flint-agent" \
		jqt '.path == "/sandboxes/box1/attach" and .upgrade == "flint-agent"' <<<"$(last_req)"
	fl exec-nodash exec box1 echo no dash </dev/null
	check "exec: the command without --" [ "$(rc exec-nodash):$(out exec-nodash)" = "0:no dash" ]
	fl exec-env exec --env FOO=bar --env X=1=2 --workdir "$tmp" box1 -- sh -c 'echo "$FOO $X"; pwd' </dev/null
	check "exec: --env and --workdir" [ "$(out exec-env)" = "bar 1=2"$'\n'"$tmp" ]
	fl exec-user exec --user sandbox box1 -- id -u </dev/null
	check "exec: --user sandbox is uid 1000" [ "$(out exec-user)" = 1000 ]
	printf 'line1\nline2' | fl exec-stdin exec box1 -- cat
	check "exec: stdin is piped to the command" cmp -s "$tmp/exec-stdin.out" <(printf 'line1\nline2')
	head -c 3000000 /dev/urandom >"$tmp/big"
	fl exec-big exec box1 -- sha256sum <"$tmp/big"
	check "exec: 3 MB of stdin arrive intact" [ "$(cut -d' ' -f1 "$tmp/exec-big.out")" = "$(sha256sum <"$tmp/big" | cut -d' ' -f1)" ]
	fl exec-out exec box1 -- head -c 5000000 /dev/urandom </dev/null
	check "exec: 5 MB of stdout arrive" [ "$(wc -c <"$tmp/exec-out.out")" = 5000000 ]
	fl exec-enoent exec box1 -- /no/such/program </dev/null
	check "exec: a missing program is 127 with a message" bash -c \
		'[ "$(cat "$1.rc")" = 127 ] && grep -q "^flint: /no/such/program: .*No such file" "$1.err"' _ "$tmp/exec-enoent"
	fl exec-kill exec box1 -- sh -c 'kill -9 $$' </dev/null
	check "exec: death by SIGKILL is 137" [ "$(rc exec-kill)" = 137 ]
	fl exec-timeout exec --timeout 1 box1 -- sleep 30 </dev/null
	check "exec: --timeout kills (137) and says so" bash -c \
		'[ "$(cat "$1.rc")" = 137 ] && grep -q "killed after the 1 s timeout" "$1.err"' _ "$tmp/exec-timeout"
	fl exec-notty exec box1 -- sh -c 'tty; true' </dev/null
	check "exec: no PTY when not on a terminal" [ "$(out exec-notty)" = "not a tty" ]
	fl exec-t exec -t box1 -- tty </dev/null
	check "exec -t: a PTY even in a pipe" grep -qE '^/dev/pts/[0-9]+' "$tmp/exec-t.out"
	"$FLINT" exec box1 -- yes </dev/null 2>"$tmp/exec-pipe.err" | head -c 10 >/dev/null
	check "exec: a closed stdout pipe sends the command SIGPIPE (141)" [ "${PIPESTATUS[0]}" = 141 ]
fi

# ---- shell (and exec on a terminal) through a PTY ------------------------------------------------
cat >"$tmp/ptydrive.py" <<'EOF'
# ptydrive.py MODE FLINT ARGS...: run flint on a fresh PTY (30x100). Mode "shell": talk to a
# shell, resize to 40x120, check it saw both sizes, exit 3. Mode "run": only collect the output.
# Prints the output's last lines, "status N" and "restored True|False" (the terminal's modes).
import fcntl, os, pty, select, signal, struct, sys, termios, time
mode, argv = sys.argv[1], sys.argv[2:]
master, slave = pty.openpty()
def size(r, c): fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
size(30, 100)
before = termios.tcgetattr(slave)
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execv(argv[0], argv)
buf = b""
def expect(pat, timeout=15):
    global buf
    end = time.time() + timeout
    while pat not in buf:
        r, _, _ = select.select([master], [], [], max(0, end - time.time()))
        if not r:
            print("timeout waiting for %r; got %r" % (pat, buf[-300:])); os.kill(pid, 9); sys.exit(1)
        try:
            buf += os.read(master, 4096)
        except OSError:
            print("EOF waiting for %r; got %r" % (pat, buf[-300:])); sys.exit(1)
    buf = buf[buf.index(pat) + len(pat):]
if mode == "shell":
    while not buf:  # the prompt: what is typed before flint made the terminal raw is flushed
        buf += os.read(master, 4096)
    os.write(master, b"stty size; echo A$((6*7))Z\n")
    expect(b"30 100"); expect(b"A42Z")
    size(40, 120)  # the kernel sends SIGWINCH to flint, the terminal's foreground
    time.sleep(0.5)
    os.write(master, b"stty size; echo B$((6*7))Z\n")
    expect(b"40 120"); expect(b"B42Z")
    os.write(master, b"exit 3\n")
st, end = None, time.time() + 15  # drain until flint has exited and its output is read
while time.time() < end:
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        buf += os.read(master, 4096)
        continue
    if st is not None:
        break
    p, status = os.waitpid(pid, os.WNOHANG)
    if p == pid:
        st = status  # one more round for what is left to read
if st is None:
    print("flint did not exit"); os.kill(pid, 9); st = os.waitpid(pid, 0)[1]
print(buf.decode(errors="replace").replace("\r", ""))
print("status", os.waitstatus_to_exitcode(st))
print("restored", termios.tcgetattr(slave) == before)
EOF
expect_fail shell-404 125 "shell: Sandbox not found" shell nosuch
expect_fail shell-noname 125 "shell: no sandbox NAME given" shell
if $agent; then
	python3 "$tmp/ptydrive.py" shell "$FLINT" shell box1 >"$tmp/shell.out" 2>&1
	check "shell: a PTY of the terminal's size, resized on SIGWINCH, exit status 3" \
		grep -qx "status 3" "$tmp/shell.out"
	check "shell: the terminal's modes are restored on exit" grep -qx "restored True" "$tmp/shell.out"
	[ "$FAILED" = 0 ] || sed 's/^/    | /' "$tmp/shell.out" | tail -5
	python3 "$tmp/ptydrive.py" run "$FLINT" shell box1 -- /bin/sh -c 'tty; exit 4' >"$tmp/shell-cmd.out" 2>&1
	check "shell -- SHELL: runs that, on a PTY, with its status" bash -c \
		'grep -q "^/dev/pts/" "$1" && grep -qx "status 4" "$1"' _ "$tmp/shell-cmd.out"
	python3 "$tmp/ptydrive.py" run "$FLINT" exec box1 -- sh -c 'tty; echo "$TERM"' >"$tmp/exec-pty.out" 2>&1
	check "exec on a terminal: a PTY, this terminal's TERM" bash -c \
		'grep -q "^/dev/pts/" "$1" && grep -qx "${TERM:-xterm-256color}" "$1" && grep -qx "status 0" "$1" && grep -qx "restored True" "$1"' _ "$tmp/exec-pty.out"
fi

# ---- cp --------------------------------------------------------------------------------------
expect_fail cp-404 125 "cp: Sandbox not found" cp "$tmp/x" nosuch:/x
expect_fail cp-local 125 "cp: neither end is in a sandbox" cp a b
expect_fail cp-remote 125 "cp: both ends are in sandboxes" cp a:/x b:/y
expect_fail cp-relative 125 "cp: box1:rel: give an absolute path" cp box1:rel "$tmp/x"
expect_fail cp-args 125 "cp: give SRC and DST" cp onlyone
if $agent; then
	head -c 3145728 /dev/urandom >"$tmp/src.bin"
	chmod 0751 "$tmp/src.bin"
	fl cp-in cp "$tmp/src.bin" "box1:$tmp/remote/deep/in.bin"
	check "cp in: status 0, parents made" [ "$(rc cp-in)" = 0 ]
	fl cp-in-mode exec box1 -- stat -c %a "$tmp/remote/deep/in.bin" </dev/null
	check "cp in: the mode is kept (751)" [ "$(out cp-in-mode)" = 751 ]
	fl cp-out cp "box1:$tmp/remote/deep/in.bin" "$tmp/back.bin"
	check "cp out: status 0" [ "$(rc cp-out)" = 0 ]
	check "cp: a 3 MiB binary round trip keeps every byte (sha256)" \
		[ "$(sha256sum <"$tmp/src.bin")" = "$(sha256sum <"$tmp/back.bin")" ]
	check "cp out: the mode is kept (751)" [ "$(stat -c %a "$tmp/back.bin")" = 751 ]
	chmod 4755 "$tmp/src.bin"
	fl cp-suid cp "$tmp/src.bin" "box1:$tmp/remote/suid.bin"
	check "cp: setuid is not carried" [ "$(stat -c %a "$tmp/remote/suid.bin")" = 755 ]
	mkdir "$tmp/outdir"
	fl cp-outdir cp "box1:$tmp/remote/deep/in.bin" "$tmp/outdir"
	check "cp out into a directory: keeps the file name" cmp -s "$tmp/outdir/in.bin" "$tmp/src.bin"
	fl cp-indir cp "$tmp/src.bin" "box1:$tmp/remote/deep/"
	check "cp in to NAME:/dir/: keeps the file name" cmp -s "$tmp/remote/deep/src.bin" "$tmp/src.bin"
	printf 'from stdin\n' | fl cp-stdin cp - "box1:$tmp/remote/s.txt"
	fl cp-stdout cp "box1:$tmp/remote/s.txt" -
	check "cp - and -: stdin in, stdout out" [ "$(out cp-stdout)" = "from stdin" ]
	: >"$tmp/empty"
	fl cp-empty cp "$tmp/empty" "box1:$tmp/remote/empty"
	check "cp: an empty file" bash -c '[ "$(cat "$1.rc")" = 0 ] && [ -f "$2" ] && [ ! -s "$2" ]' _ "$tmp/cp-empty" "$tmp/remote/empty"
	fl cp-replace cp "box1:$tmp/remote/s.txt" "$tmp/back.bin"
	check "cp out: replaces the target, no temporary left" bash -c \
		'[ "$(cat "$1")" = "from stdin" ] && [ -z "$(ls -A "$2" | grep flint-)" ]' _ "$tmp/back.bin" "$tmp"
	expect_fail cp-dir-out 1 "cp: box1:$tmp/remote is a directory" cp "box1:$tmp/remote" "$tmp/x"
	expect_fail cp-dir-in 1 "cp: $tmp/outdir is a directory" cp "$tmp/outdir" "box1:$tmp/remote/x"
	expect_fail cp-missing 1 "cp: box1:$tmp/nope: .*No such file" cp "box1:$tmp/nope" "$tmp/x"
	expect_fail cp-missing-local 1 "cp: $tmp/nope: No such file" cp "$tmp/nope" "box1:$tmp/x"
fi

# ---- run through the daemon ------------------------------------------------------------------
expect_fail run-mem-url 125 "run: --mem, --cpus, --net and -v apply to direct mode only" run --mem 128 -- true
expect_fail run-badprofile 125 "run: --profile lax" run --profile lax -- true
if $agent; then
	fl run run -- sh -c 'echo out; echo err >&2; exit 7' </dev/null
	check "run: the command's status (7) through the daemon" [ "$(rc run)" = 7 ]
	check "run: stdout and stderr apart" bash -c 'cmp -s "$1.out" <(printf "out\n") && cmp -s "$1.err" <(printf "err\n")' _ "$tmp/run"
	check "run: POST /run/attach?fast=true" jqt '.path == "/run/attach" and .query == {fast: "true"} and .upgrade == "flint-agent"' <<<"$(last_req)"
	check "run: the one-shot connection was closed" grep -q run-closed "$tmp/req.log"
	fl run-opts run --image alpine:3.20 --profile restrictive --no-fast --env A=b -- sh -c 'echo $A' </dev/null
	check "run: --image, --profile, --no-fast in the query" jqt \
		'.query == {image: "alpine:3.20", profile: "restrictive", fast: "false"}' <<<"$(last_req)"
	check "run: --env" [ "$(out run-opts)" = b ]
	printf 'piped' | fl run-stdin run -- cat
	check "run: stdin is piped" [ "$(out run-stdin)" = piped ]
	fl run-enoent run -- /no/such </dev/null
	check "run: a missing program is 127" [ "$(rc run-enoent)" = 127 ]
fi

# ---- rm --------------------------------------------------------------------------------------
fl rm rm box1 nosuch
check "rm: prints each name, unknown ones too (idempotent), status 0" [ "$(rc rm):$(out rm | tr '\n' ' ')" = "0:box1 nosuch " ]
fl ls-after ls
check "rm: box1 is gone" bash -c '! grep -q "^box1 " "$1"' _ "$tmp/ls-after.out"
expect_fail rm-none 125 "rm: no NAME given" rm
FLINT_API_KEY=wrong expect_fail rm-auth 125 "rm box2: Invalid API key" rm box2

# ---- no daemon -------------------------------------------------------------------------------
DEAD=$(free_port)
export FLINT_URL=http://127.0.0.1:$DEAD
for c in "ls" "create x" "logs x" "rm x" "exec x -- true" "shell x" "cp x:/a $tmp/b" "run -- true"; do
	name=down-${c%% *}
	# shellcheck disable=SC2086
	expect_fail "$name" 125 "${c%% *}.*cannot reach flintd at http://127.0.0.1:$DEAD: Connection refused" $c
done
unset FLINT_URL

# Without FLINT_URL, run falls back to direct mode silently; the rest still need the daemon.
if listening 18888; then
	skip "the fallback to direct mode: something listens on the default 127.0.0.1:18888"
else
	expect_fail default-down-exec 125 "exec: cannot reach flintd at http://127.0.0.1:18888: Connection refused" exec x -- true
	FLINT_VMM=$tmp/no-vmm expect_fail fallback 125 "cannot run $tmp/no-vmm" run -- true
	check "run without a daemon: no word about the daemon" bash -c '! grep -q flintd "$1"' _ "$tmp/fallback.err"
fi
# Direct mode for real, with a stand-in flint-vmm that runs the agent on the host: it says HELLO
# to the ready socket flint listens on beside the vsock path, and is flint's whole VM.
if $agent; then
	cat >"$tmp/fake-vmm" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$*" >"$AGENT_DIR/vmm.args"
vsock=
while [ $# -gt 0 ]; do [ "$1" = --vsock ] && vsock=$2; shift; done
# flint stops its VMM with SIGTERM, which unshare does not pass on: SIGKILL it (--kill-child then
# takes the namespace down), also when the SIGTERM comes before unshare's pid is known; and should
# this script die any other way, --pdeathsig takes unshare with it.
p= term=0
trap 'term=1; [ -z "$p" ] || { kill -9 "$p"; exit 0; }' TERM
setpriv --pdeathsig KILL unshare --pid --fork --kill-child --mount-proc bash -c \
	'"$0" --agent-unix "$1" --ready-unix "$2" & wait $!' "$INIT" "$AGENT_DIR/direct.$$.sock" "${vsock}_1025" &
p=$!
[ "$term" = 0 ] || { kill -9 "$p"; exit 0; }
wait "$p"
EOF
	chmod +x "$tmp/fake-vmm"
	: >"$tmp/dummy"
	direct=(env INIT="$INIT" AGENT_DIR="$tmp" FLINT_VMM="$tmp/fake-vmm" FLINT_KERNEL="$tmp/dummy" FLINT_IMAGE="$tmp/dummy")
	if listening 18888; then
		skip "run without a daemon in direct mode: 127.0.0.1:18888 is taken"
	else
		"${direct[@]}" "$FLINT" run -- sh -c 'echo direct; exit 5' </dev/null >"$tmp/direct.out" 2>"$tmp/direct.err"
		check "run without a daemon: direct mode runs it (status 5, output)" \
			[ "$?:$(cat "$tmp/direct.out")" = "5:direct" ]
	fi
	n=$(wc -l <"$tmp/req.log")
	FLINT_URL=http://127.0.0.1:$PORT FLINT_API_KEY=$KEY "${direct[@]}" "$FLINT" run --direct -- echo forced \
		</dev/null >"$tmp/forced.out" 2>"$tmp/forced.err"
	check "run --direct: direct mode although a daemon answers" \
		[ "$?:$(cat "$tmp/forced.out"):$(wc -l <"$tmp/req.log")" = "0:forced:$n" ]
	"${direct[@]}" "$FLINT" run --mem 64 --cpus 1 -- echo sized </dev/null >"$tmp/sized.out" 2>"$tmp/sized.err"
	check "run --mem without FLINT_URL: direct mode" [ "$?:$(cat "$tmp/sized.out")" = "0:sized" ]
	FLINT_URL=http://127.0.0.1:$PORT FLINT_API_KEY=$KEY "${direct[@]}" "$FLINT" run --direct --image "$tmp/nope.ext4" -- true \
		</dev/null >/dev/null 2>"$tmp/direct-image.err"
	check "run --direct --image PATH: a missing file is named as one" grep -q "no such root image file" "$tmp/direct-image.err"
	"${direct[@]}" "$FLINT" run --net user,hostfwd=tcp:8080-:80 -- echo netted </dev/null >"$tmp/net.out" 2>"$tmp/net.err"
	got="$?:$(cat "$tmp/net.out"):$(grep -c -- "--net user,hostfwd=tcp:8080-:80\( \|$\)" "$tmp/vmm.args")"
	check "run --net without FLINT_URL: direct mode, the value handed to flint-vmm ($got)" [ "$got" = "0:netted:1" ]
	"${direct[@]}" "$FLINT" run -- true </dev/null >/dev/null 2>&1
	got="$(grep -c . "$tmp/vmm.args"):$(grep -c -- "--net" "$tmp/vmm.args")"
	check "run without --net: no network device asked for ($got)" [ "$got" = "1:0" ]
	env FLINT_VMM=build/flint-vmm FLINT_KERNEL="$tmp/dummy" FLINT_IMAGE="$tmp/dummy" "$FLINT" run --direct --net bogus -- true \
		</dev/null >/dev/null 2>"$tmp/net-bad.err"
	got="$?:$(grep -c -- "--net" "$tmp/net-bad.err")"
	check "run --net bogus: 125 with flint-vmm's message ($(head -1 "$tmp/net-bad.err"))" [ "${got%%:*}" = 125 -a "${got#*:}" -ge 1 ]
	expect_fail run-net-empty 125 "run: --net: give user" run --direct --net "" -- true
fi

# ---- serve -----------------------------------------------------------------------------------
printf '#!/bin/sh\necho "flintd $*"\nexit 3\n' >"$tmp/flintd"
chmod +x "$tmp/flintd"
FLINT_FLINTD=$tmp/flintd fl serve serve --listen 127.0.0.1:1 -v
check "serve: execs flintd with the options, its status" [ "$(rc serve):$(out serve)" = "3:flintd --listen 127.0.0.1:1 -v" ]
FLINT_FLINTD=$tmp/flintd fl serve-help serve --help
check "serve --help: flint's usage, then flintd's" bash -c \
	'head -1 "$1.out" | grep -q "^usage: flint serve" && grep -qx "flintd --help" "$1.out"' _ "$tmp/serve-help"
FLINT_FLINTD=$tmp/no-flintd expect_fail serve-missing 125 "serve: cannot run $tmp/no-flintd" serve

if [ "$FAILED" -gt 0 ]; then
	echo "--- fake_flintd's stderr (last lines)"
	tail -5 "$tmp/fake.err"
	echo "--- the agent's stderr"
	tail -5 "$tmp/agent.err"
fi
finish
