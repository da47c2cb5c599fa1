#!/usr/bin/env bash
# flint-init's one-shot logic on the host (--test-oneshot): exit codes, 128+signal, exec failures,
# malformed flint.run=, reaping of orphans, shutdown on busybox's signals. Each run is in its own PID
# namespace, where a bash is PID 1 and flint-init (PID 2) is a child subreaper, as it would be PID 1.
#
# FLINT_INIT picks the binary (default build/flint-init). Ends with "N passed, N failed, N skipped".
set -u
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

INIT=$(realpath -m "${FLINT_INIT:-build/flint-init}")
TIMEOUT=${FLINT_TEST_TIMEOUT:-20}

if [ ! -x "$INIT" ]; then
	bad "flint-init is not built: $INIT (make build/flint-init)"
	finish
	exit 1
fi

# A fresh PID namespace with its own /proc, so the zombie checks see only this run's processes.
NS=(unshare --pid --fork --mount-proc)
if [ "$("${NS[@]}" sh -c 'echo $$' 2>/dev/null)" != 1 ]; then
	NS=(unshare --user --map-root-user --pid --fork --mount-proc)
	if [ "$("${NS[@]}" sh -c 'echo $$' 2>/dev/null)" != 1 ]; then
		skip "host tests of flint-init: cannot create a PID namespace (unshare --pid)"
		finish
		exit 0
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# enc ARG...: the flint.run= value for that argv (base64url without padding of NUL-terminated args).
enc() { printf '%s\0' "$@" | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# The namespace's PID 1 runs this; flint-init must never be PID 1 here (it would refuse anyway).
DEFAULT_INNER='"$INIT" --test-oneshot & wait $!'

# run NAME CMDLINE [INNER]: sets $out, $err (files), $rc and $elapsed (ms).
run() {
	local name=$1 cmdline=$2 inner=${3:-$DEFAULT_INNER} t0
	out=$tmp/$name.out err=$tmp/$name.err
	t0=$(date +%s%N)
	(cd "$tmp" && FLINT_TEST_CMDLINE=$cmdline INIT=$INIT FOO=leak \
		timeout -k 2 "$TIMEOUT" "${NS[@]}" bash -c "$inner" >"$out" 2>"$err" </dev/null)
	rc=$?
	elapsed=$((($(date +%s%N) - t0) / 1000000))
}

# Checks on the last run; each sets $why on failure and is skipped if $why is already set.
why=""
has_line() { [ -n "$why" ] || grep -qxF -- "$1" "$out" || why="stdout lacks the line '$1'"; }
lacks_line() { [ -n "$why" ] || ! grep -qxF -- "$1" "$out" || why="stdout has the line '$1'"; }
has_err() { [ -n "$why" ] || grep -qE -- "$1" "$err" || why="stderr does not match /$1/"; }
status_is() { [ -n "$why" ] || [ "$rc" -eq "$1" ] || why="status $rc, expected $1"; }
faster_than() { [ -n "$why" ] || [ "$elapsed" -lt "$1" ] || why="took ${elapsed} ms, expected < $1 ms"; }
report() {
	[ "${FLINT_TEST_VERBOSE:-0}" = 0 ] || echo "    ($1: ${elapsed:-?} ms)"
	if [ -z "$why" ]; then
		ok "$1"
	else
		bad "$1: $why"
		sed 's/^/    stdout| /' "$out" | head -n 20
		sed 's/^/    stderr| /' "$err" | head -n 20
	fi
	why=""
}

# exit_case NAME STATUS ARGV...: the program's status comes back as EXIT and as flint-init's status.
exit_case() {
	local name=$1 status=$2
	shift 2
	run "$name" "console=ttyS0 flint.run=$(enc "$@") quiet"
	status_is "$status"
	has_line "flint-event PROGRAM 0"
	has_line "flint-event EXIT $status"
	has_line "flint-event POWEROFF 0"
	report "$name: status $status"
}

exit_case exit0 0 true
exit_case exit42 42 sh -c 'exit 42'
exit_case exit255 255 sh -c 'exit 255'
exit_case signal_term 143 sh -c 'kill -TERM $$'
exit_case signal_kill 137 sh -c 'kill -KILL $$'
exit_case signal_segv 139 sh -c 'kill -SEGV $$'
exit_case path_search 0 env true

# Events come in order around the program's output; arguments arrive intact, empty ones included.
run argv "flint.run=$(enc printf '[%s]' 'a b' '' 'c' "it's \"quoted\" \$HOME")"
status_is 0
[ -n "$why" ] || [ "$(cat "$out")" = $'flint-event PROGRAM 0\n[a b][][c][it\'s "quoted" $HOME]flint-event EXIT 0\nflint-event POWEROFF 0' ] ||
	why="stdout is not PROGRAM, the output, EXIT, POWEROFF: $(od -c "$out" | head -5)"
report "argv: spaces, quotes, empty arguments, order of events"

exit_case exec_enoent 127 /nonexistent/program
has_err "flint-init: /nonexistent/program: No such file or directory"
report "exec_enoent: says why on stderr"
exit_case exec_not_in_path 127 no-such-command-flint
printf '#!/bin/sh\nexit 0\n' >"$tmp/noexec.sh"
chmod 644 "$tmp/noexec.sh"
exit_case exec_eacces 126 "$tmp/noexec.sh"
has_err "Permission denied"
report "exec_eacces: says why on stderr"
exit_case exec_directory 126 /

# Malformed flint.run=: status 127, a message, and no program started.
malformed() {
	local name=$1 value=$2 msg=$3
	run "$name" "quiet flint.run=$value ro"
	status_is 127
	lacks_line "flint-event PROGRAM 0"
	has_line "flint-event EXIT 127"
	has_err "flint-init: flint.run: $msg"
	report "$name: rejected with 127 ($msg)"
}
malformed bad_alphabet 'dHJ1ZQA+' 'not valid unpadded base64url'
malformed padded 'dHJ1ZQA=' 'not valid unpadded base64url'
malformed bad_length 'dHJ1ZQAAA' 'not valid unpadded base64url'
malformed empty '' 'empty argv'
malformed unterminated "$(printf true | base64 -w0 | tr -d =)" 'last argument is not NUL-terminated'
malformed empty_program "$(enc '' x)" 'empty program name'

# Longer than any kernel command line (2048 bytes on x86): refused before anything runs.
run too_long "flint.run=$(head -c 4000 /dev/zero | tr '\0' x | base64 -w0 | tr -d =)"
status_is 2
has_err "FLINT_TEST_CMDLINE: longer than 4095 bytes"
lacks_line "flint-event PROGRAM 0"
report "too_long: a command line over 4095 bytes is refused"

# Only a whole parameter named flint.run counts; without one, test mode refuses to start.
run decoy "xflint.run=$(enc false) init.args=\"flint.run=$(enc false)\" flint.run=$(enc true)"
status_is 0
has_line "flint-event EXIT 0"
report "decoys: xflint.run= and a quoted flint.run= in another value are ignored"
run no_run "console=ttyS0 quiet"
status_is 2
has_err "has no flint.run="
report "no flint.run=: test mode exits 2 with a message"

# The program's surroundings: stdin /dev/null, cwd /, a small clean environment.
run stdin "flint.run=$(enc sh -c 'cat; readlink /proc/self/fd/0')"
status_is 0
has_line "/dev/null"
report "stdin is /dev/null (cat does not block)"
run cwd "flint.run=$(enc pwd)"
has_line "/"
report "cwd is /"
run env "flint.run=$(enc env)"
status_is 0
[ -n "$why" ] || [ "$(grep -v '^flint-event' "$out" | sort | tr '\n' ' ')" = \
	"HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=linux " ] ||
	why="environment is: $(grep -v '^flint-event' "$out" | tr '\n' ' ')"
report "environment is exactly PATH, HOME, TERM"
run sigmask "flint.run=$(enc sh -c 'grep -E "^Sig(Blk|Ign):" /proc/self/status')"
has_line "SigBlk:	0000000000000000"
has_line "SigIgn:	0000000000000000"
report "the program starts with no blocked and no ignored signal"

# Orphans are reparented to flint-init and reaped as they die: none is left a zombie.
ZOMBIES='o=$(sh -c "sleep 0.3 >/dev/null 2>&1 & echo \$!")
sleep 0.1
pp=$(sed -n "s/^PPid:[[:space:]]*//p" /proc/$o/status)
[ "$pp" = "$PPID" ] || { echo "orphan $o has parent $pp, not flint-init $PPID"; exit 10; }
for i in 1 2 3; do (sleep 0.05 &) ; done
sleep 0.6
z=$(sed -n "s/^[0-9]* (.*) \(.\) .*/\1/p" /proc/[0-9]*/stat | grep -c Z)
echo "zombies: $z"
exit $z'
run zombies "flint.run=$(enc sh -c "$ZOMBIES")"
status_is 0
has_line "zombies: 0"
report "orphans reparent to flint-init and are reaped (no zombies)"

# When the program exits, what it left behind is SIGKILLed at once (even if it ignores SIGTERM).
# Appended to an inner script: after flint-init, print LEFTOVER if any sleep survived it.
CHECK_LEFTOVER='rc=$?; sleep 0.1; for c in /proc/[0-9]*/comm; do [ "$(cat $c 2>/dev/null)" = sleep ] && echo LEFTOVER; done; exit $rc'
run orphans_killed "flint.run=$(enc sh -c 'trap "" TERM; sleep 30 & sleep 30 & exit 5')" \
	"$DEFAULT_INNER; $CHECK_LEFTOVER"
status_is 5
has_line "flint-event EXIT 5"
lacks_line "LEFTOVER"
faster_than 1000
report "background processes are killed when the program exits"

# busybox poweroff/halt/reboot signal PID 1 with SIGUSR2/SIGUSR1/SIGTERM; other signals are ignored.
signal_case() {
	local name=$1 sig=$2 event=$3
	run "$name" "flint.run=$(enc sleep 30)" '"$INIT" --test-oneshot & p=$!; sleep 0.3; kill -'"$sig"' $p; wait $p'
	status_is 0
	has_line "flint-event $event 0"
	lacks_line "flint-event EXIT 143"
	faster_than 1000
	report "$name: SIG$sig shuts down ($event), the program is terminated"
}
signal_case poweroff USR2 POWEROFF
signal_case halt USR1 POWEROFF
signal_case reboot TERM REBOOT

# A stopped program is continued so that its SIGTERM takes effect at once.
run stopped "flint.run=$(enc sh -c 'kill -STOP $$; sleep 30')" \
	'"$INIT" --test-oneshot & p=$!; sleep 0.3; kill -USR2 $p; wait $p'
status_is 0
has_line "flint-event POWEROFF 0"
faster_than 1000
report "stopped: a stopped program gets SIGCONT with its SIGTERM"

run ignored "flint.run=$(enc sh -c 'sleep 0.5; exit 7')" \
	'"$INIT" --test-oneshot & p=$!; sleep 0.2; for s in HUP INT QUIT PIPE ALRM; do kill -$s $p 2>/dev/null; done; wait $p'
status_is 7
has_line "flint-event EXIT 7"
report "other signals (HUP INT QUIT PIPE ALRM) are ignored"

# A program that ignores SIGTERM gets SIGKILL after the one-second grace, not never.
run grace "flint.run=$(enc sh -c 'trap "" TERM; sleep 30')" \
	'"$INIT" --test-oneshot & p=$!; sleep 0.3; kill -USR2 $p; wait $p; '"$CHECK_LEFTOVER"
status_is 0
has_line "flint-event POWEROFF 0"
lacks_line "LEFTOVER"
[ -n "$why" ] || [ "$elapsed" -ge 1200 ] || why="took ${elapsed} ms: SIGKILL came before the grace period"
faster_than 3000
report "grace: SIGTERM ignored, SIGKILL after about a second"

# Safety: flint-init refuses to run as anything but PID 1, and --test-oneshot refuses PID 1.
"$INIT" >"$tmp/usage.out" 2>"$tmp/usage.err" </dev/null
rc=$? out=$tmp/usage.out err=$tmp/usage.err
status_is 2
has_err "must run as PID 1"
report "not PID 1 and no --test-oneshot: refuses with status 2"
# As PID 1 of a user namespace it could do no harm even if it did not refuse.
ISO=(unshare --user --map-root-user --pid --fork --mount-proc --uts --net --ipc)
if "${ISO[@]}" true 2>/dev/null; then
	out=$tmp/pid1.out err=$tmp/pid1.err
	FLINT_TEST_CMDLINE="flint.run=$(enc true)" timeout -k 2 "$TIMEOUT" "${ISO[@]}" "$INIT" --test-oneshot \
		>"$out" 2>"$err" </dev/null
	rc=$?
	status_is 2
	has_err "not as PID 1"
	report "--test-oneshot as PID 1: refuses with status 2"
else
	skip "--test-oneshot as PID 1: no user namespaces to try it safely"
fi

finish
