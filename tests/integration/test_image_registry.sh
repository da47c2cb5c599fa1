#!/usr/bin/env bash
# `flint image pull` against a real registry (docker-registry, tests/images/registry.sh) in each
# auth mode: tags, digests, indexes, Docker v2 manifests, mirrors, plain HTTP, auth refused,
# tampered blobs, cached blobs. Pure host: no KVM, no network beyond 127.0.0.1.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/images/registry.sh
FLINT=${FLINT:-build/flint}
tmp=$(mktemp -d)
trap 'reg_stop; rm -rf "$tmp"' EXIT
# no credentials but the ones a case gives
export DOCKER_CONFIG=$tmp/no-docker-config HOME=$tmp/home
unset FLINT_AUTH_FILE FLINT_INSECURE_REGISTRIES FLINT_REGISTRY_MIRRORS
mkdir -p "$HOME"

for tool in docker-registry skopeo openssl curl python3; do
	if ! command -v "$tool" >/dev/null; then
		skip "registry suite: $tool is not installed (tools/install-deps)"
		finish
		exit
	fi
done
if [ ! -x "$FLINT" ]; then
	bad "$FLINT is not built"
	finish
	exit
fi

# pull NAME ARGS...: run `flint image pull ARGS` with a fresh state dir ($state), output in $out.
state='' out='' rc=0
pull() {
	state=$(mktemp -d -p "$tmp" state.XXXXXX)
	pull_again "$@"
}
pull_again() {
	out=$(FLINT_STATE_DIR=$state "$FLINT" image pull "$@" 2>&1)
	rc=$?
}
blob() { echo "$state/images/blobs/sha256/${1#sha256:}"; }
have() { [ -f "$(blob "$1")" ]; }
lacks() { ! have "$1"; }
# expect_ok NAME DIGEST...: the last pull worked and the store holds these blobs.
expect_ok() {
	local name=$1 d
	shift
	if [ "$rc" -ne 0 ]; then
		bad "$name (status $rc: $out)"
		return
	fi
	for d in "$@"; do
		if ! have "$d"; then
			bad "$name (no blob $d in the store; output: $out)"
			return
		fi
	done
	ok "$name"
}
# expect_fail NAME PATTERN: the last pull failed and said PATTERN (extended regex); V=1 shows it.
expect_fail() {
	if [ "$rc" -ne 0 ] && grep -qE -- "$2" <<<"$out"; then
		ok "$1"
		[ -n "${V:-}" ] && sed 's/^/    # /' <<<"$out"
	else
		bad "$1 (status $rc, output: $out)"
	fi
}
# The blobs of image TAG in the layout: manifest, config, layers.
image_blobs() {
	python3 - "$L" "$1" <<'EOF'
import json, sys
d, tag = sys.argv[1:]
ix = json.load(open(d + "/index.json"))
m = [e for e in ix["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
print(m["digest"])
doc = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
if "config" in doc:
    print(doc["config"]["digest"])
    for l in doc["layers"]:
        print(l["digest"])
EOF
}
auth_file() { # FILE USER PASS [KEY]
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "${4:-$REG_HOST}" "$(printf %s "$2:$3" | base64 -w0)" >"$1"
}

# --- test images, in one OCI layout ---
L=$tmp/layout
m_v1=$(reg_make_image "$L" v1 amd64)
m_arm=$(reg_make_image "$L" arm arm64)
m_tamper=$(reg_make_image "$L" tamper amd64 "this one gets tampered with")
reg_make_image "$L" auth amd64 "pulled with credentials" >/dev/null
ix_multi=$(reg_make_index "$L" multi v1 arm)
reg_make_index "$L" armonly arm >/dev/null
mapfile -t b_v1 < <(image_blobs v1)
mapfile -t b_tamper < <(image_blobs tamper)
mapfile -t b_auth < <(image_blobs auth)

# === no auth ===
if reg_start none; then
	reg_push "$L:v1" test/img:v1 &&
		reg_push "$L:multi" test/img:multi --all &&
		reg_push "$L:armonly" test/img:armonly --all &&
		reg_push "$L:v1" test/docker:v1 --format v2s2 &&
		reg_push "$L:tamper" test/tamper:v1
	check "images pushed to the registry" [ $? -eq 0 ]
	R=$REG_HOST

	pull "$R/test/img:v1"
	expect_fail "plain HTTP refused without --insecure-registry" \
		"--insecure-registry $R"
	[ "$(find "$state" -type f -path '*/blobs/*' 2>/dev/null | wc -l)" -eq 0 ]
	check "nothing stored when refused" [ $? -eq 0 ]

	pull --insecure-registry "$R" "$R/test/img:v1"
	expect_ok "pull by tag" "${b_v1[@]}"
	gets=$(reg_blob_gets)
	pull_again --insecure-registry "$R" "$R/test/img:v1"
	expect_ok "pull by tag again" "${b_v1[@]}"
	check "a second pull fetches no blob (registry log)" [ "$(reg_blob_gets)" -eq "$gets" ]
	# Two pulls of one image at once into a fresh store: the work is done once.
	state=$(mktemp -d -p "$tmp" state.XXXXXX)
	gets=$(reg_blob_gets)
	FLINT_STATE_DIR=$state "$FLINT" image pull --insecure-registry "$R" "$R/test/img:v1" >"$tmp/c1" 2>&1 &
	c1=$!
	FLINT_STATE_DIR=$state "$FLINT" image pull --insecure-registry "$R" "$R/test/img:v1" >"$tmp/c2" 2>&1
	rc2=$?
	wait "$c1"
	rc1=$?
	got=$(($(reg_blob_gets) - gets))
	check "two concurrent pulls both succeed ($rc1, $rc2)" [ $((rc1 + rc2)) -eq 0 ]
	check "... and fetch each blob once ($got GETs for $((${#b_v1[@]} - 1)) blobs)" [ "$got" -eq $((${#b_v1[@]} - 1)) ]
	[ -z "$(ls -A "$state/images/tmp" 2>/dev/null)" ]
	check "no leftovers in the store's tmp/" [ $? -eq 0 ]

	pull --insecure-registry "$R" "$R/test/img@$m_v1"
	expect_ok "pull by digest" "${b_v1[@]}"
	gets=$(reg_blob_gets)
	pull_again --insecure-registry "$R" "$R/test/img@$m_v1"
	[ "$rc" -eq 0 ] && [ "$(reg_blob_gets)" -eq "$gets" ]
	check "a second pull by digest fetches nothing" [ $? -eq 0 ]

	pull --insecure-registry "$R" "$R/test/img:multi"
	expect_ok "index amd64+arm64: pulls amd64" "${b_v1[@]}" "$ix_multi"
	check "index amd64+arm64: the arm64 manifest is not fetched" lacks "$m_arm"

	pull --insecure-registry "$R" "$R/test/img:armonly"
	expect_fail "index with only arm64" "no linux/amd64 image \(the index has linux/arm64\)"

	pull --insecure-registry "$R" "$R/test/img:nope"
	expect_fail "unknown tag" "registry $R: repository \"test/img\" or tag \"nope\" not found"
	pull --insecure-registry "$R" "$R/test/nosuchrepo:v1"
	expect_fail "unknown repository" \
		"registry $R: repository \"test/nosuchrepo\" or tag \"v1\" not found"
	pull --insecure-registry "$R" "$R/test/img@sha256:$(printf '%064d' 0)"
	expect_fail "unknown digest" "or manifest \"sha256:0{64}\" not found"

	pull --insecure-registry "$R" "$R/test/docker:v1"
	d_docker=$(curl -s -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
		-o /dev/null -D - "http://$R/v2/test/docker/manifests/v1" |
		tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
	expect_ok "pull a Docker v2 schema 2 image" "$d_docker" "${b_v1[@]:2}"

	pull --registry-mirror "docker.io=http://$R" test/img:v1
	expect_ok "docker.io through an http:// mirror" "${b_v1[@]}"

	# tamper with the second layer of "tamper" where the registry keeps it (same length)
	f=$(reg_blob_path "${b_tamper[3]}")
	size=$(stat -c %s "$f")
	head -c "$size" /dev/zero >"$f"
	pull --insecure-registry "$R" "$R/test/tamper:v1"
	expect_fail "a tampered layer" "digest mismatch"
	check "the tampered layer is not kept" lacks "${b_tamper[3]}"
	check "nor its manifest" lacks "$m_tamper"
	[ -z "$(ls -A "$state/images/tmp" 2>/dev/null)" ]
	check "nor anything in tmp/" [ $? -eq 0 ]

	reg_stop
	pull --insecure-registry "$R" "$R/test/img:v1"
	expect_fail "registry not running" "registry $R: cannot connect"
else
	bad "start the registry (no auth)"
fi

# === basic auth (htpasswd) ===
if reg_start basic; then
	reg_push "$L:auth" test/private:v1
	check "image pushed with basic auth" [ $? -eq 0 ]
	R=$REG_HOST
	pull --insecure-registry "$R" "$R/test/private:v1"
	expect_fail "basic: no credentials" "registry $R: needs credentials for repository \"test/private\""
	auth_file "$tmp/basic-good.json" "$REG_USER" "$REG_PASS"
	pull --insecure-registry "$R" --auth-file "$tmp/basic-good.json" "$R/test/private:v1"
	expect_ok "basic: right credentials" "${b_auth[@]}"
	auth_file "$tmp/basic-bad.json" "$REG_USER" wrong
	pull --insecure-registry "$R" --auth-file "$tmp/basic-bad.json" "$R/test/private:v1"
	expect_fail "basic: wrong credentials" "registry $R: authentication refused"
	auth_file "$tmp/basic-other.json" "$REG_USER" "$REG_PASS" other.example:5000
	pull --insecure-registry "$R" --auth-file "$tmp/basic-other.json" "$R/test/private:v1"
	expect_fail "basic: credentials for another registry are not sent" "needs credentials"
	pull --insecure-registry "$R" --auth-file "$tmp/no-such-file.json" "$R/test/private:v1"
	expect_fail "basic: a named auth file that is missing" "no-such-file.json"
	reg_stop
else
	bad "start the registry (basic auth)"
fi

# === token auth ===
if reg_start token; then
	reg_push "$L:auth" test/private:v1
	check "image pushed with token auth" [ $? -eq 0 ]
	R=$REG_HOST
	auth_file "$tmp/token-good.json" "$REG_USER" "$REG_PASS"
	pull --insecure-registry "$R" --auth-file "$tmp/token-good.json" "$R/test/private:v1"
	expect_ok "token: right credentials" "${b_auth[@]}"
	check "token: asked for a pull scope" grep -q "scope=repository%3Atest%2Fprivate%3Apull 200" \
		"$TOKEN_LOG"
	auth_file "$tmp/token-bad.json" "$REG_USER" wrong
	pull --insecure-registry "$R" --auth-file "$tmp/token-bad.json" "$R/test/private:v1"
	expect_fail "token: wrong credentials" "authentication refused by the token server"
	pull --insecure-registry "$R" "$R/test/private:v1"
	expect_fail "token: no credentials" "authentication refused by the token server"
	reg_token_refuse on
	pull --insecure-registry "$R" --auth-file "$tmp/token-good.json" "$R/test/private:v1"
	expect_fail "token: the token server refuses" "authentication refused by the token server"
	reg_token_refuse off
	# DOCKER_CONFIG/config.json is where creds are found without --auth-file
	mkdir -p "$DOCKER_CONFIG"
	cp "$tmp/token-good.json" "$DOCKER_CONFIG/config.json"
	pull --insecure-registry "$R" "$R/test/private:v1"
	expect_ok "token: credentials from \$DOCKER_CONFIG/config.json" "${b_auth[@]}"
	rm -f "$DOCKER_CONFIG/config.json"
	reg_stop
else
	bad "start the registry (token auth)"
fi

# === blobs redirected to storage elsewhere: followed, without our credentials ===
# A registry that needs basic auth and sends blobs to "localhost" (another host to libcurl).
# It also serves /v2/stall/: the first half of each blob, then a stall (told on a FIFO).
mkfifo "$tmp/stall.fifo"
python3 - "$L" "$REG_USER" "$REG_PASS" "$tmp/redir.port" "$tmp/redir.log" "$tmp/stall.fifo" <<'EOF' &
import base64, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
layout, user, pw, port_file, log, fifo = sys.argv[1:]
want = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
ix = json.load(open(layout + "/index.json"))
tags = {e["annotations"]["org.opencontainers.image.ref.name"]: e for e in ix["manifests"]}

def blob(d):
    return open(layout + "/blobs/sha256/" + d[7:], "rb").read()

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("/")
        if self.path.startswith("/v2/stall/manifests/"):
            e = tags.get(parts[-1])
            return self.send(200, blob(e["digest"]), [("Content-Type", e["mediaType"]),
                                                      ("Docker-Content-Digest", e["digest"])])
        if self.path.startswith("/v2/stall/blobs/"):
            b = blob(parts[-1])
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b[: len(b) // 2])
            self.wfile.flush()
            with open(fifo, "w") as f:
                f.write("stalled\n")
            time.sleep(120)
            return
        if parts[1] == "storage":
            with open(log, "a") as f:
                print("storage", parts[2], "auth" if "Authorization" in self.headers else "none", file=f)
            return self.send(200, blob(parts[2]))
        if self.headers.get("Authorization") != want:
            return self.send(401, b"{}", [("WWW-Authenticate", 'Basic realm="redir"')])
        if self.path.startswith("/v2/redir/manifests/"):
            e = tags.get(parts[-1])
            if not e:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            return self.send(200, blob(e["digest"]), [("Content-Type", e["mediaType"]),
                                                      ("Docker-Content-Digest", e["digest"])])
        if self.path.startswith("/v2/redir/blobs/"):
            port = self.server.server_address[1]
            return self.send(307, b"", [("Location", f"http://localhost:{port}/storage/{parts[-1]}")])
        self.send(404)

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
EOF
redir_pid=$!
for ((i = 0; i < 100; i++)); do
	[ -s "$tmp/redir.port" ] && break
	sleep 0.1
done
if [ -s "$tmp/redir.port" ]; then
	R=127.0.0.1:$(cat "$tmp/redir.port")
	auth_file "$tmp/redir-auth.json" "$REG_USER" "$REG_PASS" "$R"
	pull --insecure-registry "$R" --auth-file "$tmp/redir-auth.json" "$R/redir:v1"
	expect_ok "blobs redirected to another host are followed" "${b_v1[@]}"
	[ "$(grep -c ' none$' "$tmp/redir.log" 2>/dev/null)" -eq 3 ] && ! grep -q ' auth$' "$tmp/redir.log"
	check "redirected blob requests carry no credentials" [ $? -eq 0 ]
	# A pull killed in the middle of a blob leaves no image, and gc clears what it left.
	state=$(mktemp -d -p "$tmp" state.XXXXXX)
	FLINT_STATE_DIR=$state "$FLINT" image pull --insecure-registry "$R" "$R/stall:v1" >/dev/null 2>&1 &
	stall_pid=$!
	read -r -t 30 word <"$tmp/stall.fifo"
	kill -KILL "$stall_pid"
	wait "$stall_pid" 2>/dev/null
	check "a pull stalled in a blob ($word) and was killed" [ "${word:-}" = stalled ]
	out=$(FLINT_STATE_DIR=$state "$FLINT" image inspect "$R/stall:v1" 2>&1)
	check "... leaves no image that reads as good ($out)" grep -q 'is not installed' <<<"$out"
	check "... and no root filesystem" [ -z "$(ls "$state/images/rootfs")" ]
	left=$(ls "$state/images/tmp" | wc -l)
	out=$(FLINT_STATE_DIR=$state "$FLINT" image gc 2>&1)
	check "gc removes the $left partial file(s) it left ($out)" [ -z "$(ls "$state/images/tmp")" ]
else
	bad "start the redirecting registry"
fi
kill "$redir_pid" 2>/dev/null
wait "$redir_pid" 2>/dev/null
finish
