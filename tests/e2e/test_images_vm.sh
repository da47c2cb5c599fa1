#!/usr/bin/env bash
# Real images in real VMs (docs/images.md): Debian images built here with mmdebstrap
# (tests/images/build-test-images, cached) imported into a store, a musl image without a shell,
# hostile layers refused; then flintd resolving, pulling on demand from a real registry
# (docker-registry on 127.0.0.1, as a mirror of docker.io) and running the Pi extension's
# node:22-alpine case. About 14 VM boots.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/api/flintd.sh
. tests/images/registry.sh
T=${FLINT_API_TIMEOUT:-600}
FLINT=build/flint

if ! kvm_usable; then
	skip "images in VMs: /dev/kvm is absent or not accessible"
	finish
	exit
fi
for f in "$FLINT" "$FLINTD" build/flint-vmm build/guest/vmlinux build/images/base.ext4; do
	[ -e "$f" ] || { bad "missing $f (run make)"; finish; exit 1; }
done
for t in curl jq python3 skopeo docker-registry musl-gcc; do
	command -v "$t" >/dev/null || { bad "missing tool: $t (tools/install-deps)"; finish; exit 1; }
done
# Built (it needs the network and root) by tests/run-all.sh before the VM suites; here only read.
layouts=$(tests/images/build-test-images --print 2>&1) || {
	bad "the Debian test images are not built: run tests/images/build-test-images as root ($layouts)"
	finish
	exit 1
}
TOOLS=$(sed -n 's/^debian-tools=//p' <<<"$layouts")
TOOLS_USER=$(sed -n 's/^debian-tools-user=//p' <<<"$layouts")

tmp=$(mktemp -d)
export FLINT_STATE_DIR=$tmp/state
cleanup() {
	stop_flintd
	kill_leftover_vmms "$tmp"
	reg_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
# ck NAME SHELL-CONDITION: ok when the condition (evaluated here) holds.
ck() {
	local n=$1
	shift
	if eval "$*"; then ok "$n"; else bad "$n"; fi
}
# fl NAME EXPECTED CMD...: run CMD, ok when its stdout is EXPECTED (output kept for failures).
fl() {
	local name=$1 want=$2
	shift 2
	local out rc
	out=$("$@" 2>"$tmp/err" </dev/null)
	rc=$?
	if [ "$out" = "$want" ]; then
		ok "$name"
	else
		bad "$name — wanted '$want', got '$out' (status $rc): $(tail -c 400 "$tmp/err")"
	fi
}

echo "# the store: import"
out=$($FLINT image import "$TOOLS" 2>&1)
check "import debian-tools (two layers, whiteouts, opaque dir): $out" \
	grep -q '^docker.io/library/debian-tools:latest sha256:[0-9a-f]\{64\} (2 layers' <<<"$out"
out=$($FLINT image import "$TOOLS_USER" 2>&1)
check "import debian-tools-user: $out" grep -q '^docker.io/library/debian-tools-user:latest ' <<<"$out"
n_rootfs=$(ls "$FLINT_STATE_DIR/images/rootfs/"*.ext4 | wc -l)
check "one read-only root filesystem per image digest ($n_rootfs)" [ "$n_rootfs" -eq 2 ]
store_kb=$(du -sk "$FLINT_STATE_DIR/images" | cut -f1)

echo "# running debian-tools (glibc) unmodified, flint-init as PID 1"
# One VM for what needs no option of its own (each boot of this image costs a minute under TCG).
$FLINT run --image debian-tools -- sh -c '
	echo "env=$FLINT_TEST_ENV cwd=$PWD"
	echo "python=$(python3 -c "print(6*7)")"
	echo "node=$(node -e "console.log(1+1)")"
	git init -q repo && cd repo && echo hi >f && git add f &&
		git -c user.email=t@e -c user.name=t commit -qm first && echo "commits=$(git log --oneline | wc -l)"
	test -e /etc/flint-layer1-only || echo "whiteout=gone"
	echo "opaque=$(ls /opt/flint-opaque)"
	echo "pid1=$(cat /proc/1/comm) $(test -e /sbin/flint-init && echo present || echo absent)"
' >"$tmp/one" 2>"$tmp/err" </dev/null
one() { grep -qx "$1" "$tmp/one" || { echo "#   got: $(tr '\n' ';' <"$tmp/one") $(tail -c 300 "$tmp/err")"; false; }; }
check "the image's Env and WorkingDir apply" one "env=from-image cwd=/work"
check "python3 -c runs" one "python=42"
check "node -e runs" one "node=2"
check "git init && git commit in the WorkingDir" one "commits=1"
check "layers: the whiteout removed a file" one "whiteout=gone"
check "layers: the opaque dir hides the lower layer's files" one "opaque=c"
check "PID 1 is flint-init from the boot disk, not from the image" one "pid1=flint-init absent"
fl "--env and --workdir override them" "mine /tmp" \
	$FLINT run --image debian-tools --env FLINT_TEST_ENV=mine --workdir /tmp -- sh -c 'echo "$FLINT_TEST_ENV $PWD"'
fl "without a command the image's Cmd runs" "hello from the image cmd" $FLINT run --image debian-tools
fl "the image's User (tester: uid 1234, its HOME)" "1234 1234 /home/tester" \
	$FLINT run --image debian-tools-user -- sh -c 'echo "$(id -u) $(id -g) $HOME"'
fl "--user root overrides it" "0" $FLINT run --image debian-tools-user --user root -- id -u
after_kb=$(du -sk "$FLINT_STATE_DIR/images" | cut -f1)
check "VMs add nothing to the store (${store_kb} KiB before, ${after_kb} KiB after)" [ "$after_kb" -le "$store_kb" ]

echo "# a musl image with no shell (as Alpine-based images are built)"
musl-gcc -O2 -o "$tmp/hello" -x c - <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) { printf("hello from musl\n"); return argc > 1 ? atoi(argv[1]) : 0; }
C
tests/images/mini-image musl "$tmp/musl" musl-mini:1 "$tmp/hello" >/dev/null
$FLINT image import "$tmp/musl" >/dev/null 2>"$tmp/err"
check "import musl-mini" grep -q musl-mini <<<"$($FLINT image ls)"
fl "its Cmd runs (no /bin/sh in it)" "hello from musl" $FLINT run --image musl-mini:1
$FLINT run --image musl-mini:1 -- /bin/hello 7 >/dev/null 2>&1 </dev/null
check "its exit status comes back (7)" [ $? -eq 7 ]

echo "# refused"
for kind in dotdot symlink; do
	tests/images/mini-image "$kind" "$tmp/$kind" "bad-$kind:1" >/dev/null
	out=$($FLINT image import "$tmp/$kind" 2>&1)
	rc=$?
	ck "hostile layer ($kind) refused: $out" '[ "$rc" -ne 0 ] && grep -q "leaves the image root" <<<"$out"'
	ck "nothing escaped ($kind)" '[ ! -e "$FLINT_STATE_DIR/images/tmp/escaped" ] && [ ! -e "$tmp/escaped" ] && [ ! -e /escaped ]'
	ck "no image named bad-$kind" '! $FLINT image ls | grep -q "bad-$kind"' 
done
out=$($FLINT run --image no-such-image:1 -- true 2>&1 </dev/null)
rc=$?
ck "an unknown image: status 125 and how to pull it ($out)" '[ "$rc" -eq 125 ] && grep -q "flint image pull no-such-image:1" <<<"$out"' 

echo "# flintd: a registry as docker.io's mirror, --pull missing, the Pi extension's image"
if reg_start none; then ok "docker-registry on $REG_HOST"; else bad "docker-registry did not start"; finish; exit 1; fi
reg_push "$TOOLS:debian-tools:latest" library/node:22-alpine >"$tmp/push.log" 2>&1
check "debian-tools pushed as library/node:22-alpine ($(tail -c 300 "$tmp/push.log"))" curl -fsS "http://$REG_HOST/v2/library/node/tags/list" -o /dev/null
port=$(free_port)
B=http://127.0.0.1:$port
K1=img-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
# A store of its own: the CLI's above already holds these layers, and nothing would be fetched.
fstate=$tmp/fstate
if FLINT_API_KEY=$K1 FLINT_REGISTRY_MIRRORS="docker.io=http://$REG_HOST" \
	start_flintd "$fstate" "$port" "$tmp/flintd.log" --pool 0 --pull missing; then
	ok "flintd --pull missing on $B"
else
	bad "flintd did not start: $(tail -5 "$tmp/flintd.log")"
	finish
	exit 1
fi
gets0=$(reg_blob_gets)
# Two creates at once: one pull, shared. (Waited for by pid: flintd and the registry are children too.)
pids=()
for n in pi1 pi2; do
	curl -s --max-time "$T" -o "$tmp/$n.json" -w '%{http_code}' -H "Authorization: Bearer $K1" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$n\",\"image\":\"node:22-alpine\"}" \
		"$B/sandboxes" >"$tmp/$n.st" &
	pids+=($!)
done
wait "${pids[@]}"
for n in pi1 pi2; do
	check "create $n with image node:22-alpine → 2xx ($(cat "$tmp/$n.st") $(head -c 200 "$tmp/$n.json"))" \
		grep -q '^20[01]$' "$tmp/$n.st"
done
gets=$(($(reg_blob_gets) - gets0))
check "the two requests shared one pull ($gets blob GETs: 2 layers and the config)" [ "$gets" -eq 3 ]
req POST /sandboxes/pi1/exec '{"command":["sh","-c","node -e \"console.log(process.version.length > 1)\"; echo $FLINT_TEST_ENV; pwd"]}'
expect "exec sh -c in it: node runs, the image's Env and WorkingDir apply" 200 \
	'.data.output == "true\nfrom-image\n/work\n"'
req GET /images
expect "GET /images lists base and docker.io/library/node:22-alpine" 200 \
	'([.data[].name] | index("base") != null and index("docker.io/library/node:22-alpine") != null)'
req POST /run '{"command":["python3","-c","import sys; print(sys.version_info.major)"],"image":"docker.io/library/node:22-alpine"}'
expect "POST /run with the pulled image (by its full name)" 200 '.data.output == "3\n"'
fl "flint run --image through flintd (attach): the image's settings come with it" "from-image /work" \
	env FLINT_URL="$B" FLINT_API_KEY="$K1" $FLINT run --image node:22-alpine -- sh -c 'echo "$FLINT_TEST_ENV $PWD"'
fl "flint run --image through flintd without a command: its Cmd" "hello from the image cmd" \
	env FLINT_URL="$B" FLINT_API_KEY="$K1" $FLINT run --image node:22-alpine
req POST /run '{"command":["true"],"image":"library/no-such:1"}'
expect "--pull missing, an image the registry lacks → 404 naming it" 404 '.error | test("no-such")'
req DELETE /sandboxes/pi1
req DELETE /sandboxes/pi2
stop_flintd
# Without --pull: an unknown image is a 400 naming the command that pulls it.
if FLINT_API_KEY=$K1 start_flintd "$fstate" "$port" "$tmp/flintd.log" --pool 0; then
	req POST /run '{"command":["true"],"image":"python:3.12-alpine"}'
	expect "flintd without --pull: python:3.12-alpine → 400 with 'flint image pull' (no busybox alias)" 400 \
		'.error | (test("python:3.12-alpine") and test("flint image pull"))'
	req POST /run '{"command":["sh","-c","echo base"]}'
	expect "no image: base" 200 '.data.output == "base\n"'
else
	bad "flintd did not restart"
fi
stop_flintd
finish
