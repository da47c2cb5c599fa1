# shellcheck shell=bash
# A real OCI registry for the image suites: Debian's docker-registry (distribution 2.8) on
# 127.0.0.1, storage and config in a temp dir, in one of three auth modes, plus test images.
# Source it; it needs docker-registry, skopeo, openssl, curl and python3 (crypt, for bcrypt).
#
#   reg_start MODE        none | basic (htpasswd) | token (tests/images/token-server.py)
#                         sets REG_DIR, REG_PORT, REG_HOST (127.0.0.1:PORT), REG_ROOT (storage),
#                         REG_LOG (the registry's log), REG_USER/REG_PASS (basic, token),
#                         TOKEN_LOG (token mode); reg_token_refuse on|off makes the token server
#                         refuse everyone
#   reg_stop              stop the registry (and the token server), remove REG_DIR
#   reg_make_image D TAG ARCH [TEXT]   an OCI layout D (created or added to) with image TAG for
#                         linux/ARCH: two gzip layers, the first holding TEXT (@FILE: FILE's
#                         text), prints the manifest digest
#   reg_make_index D TAG TAG...        an index TAG in D listing the images TAG... (platforms from
#                         their configs), prints its digest
#   reg_push D:TAG REPO:TAG [skopeo args]   skopeo copy oci:D:TAG → the registry (creds as needed)
#   reg_blob_path DIGEST  the file the registry serves for a blob
#   reg_blob_gets         how many GETs of blobs the registry has answered so far
REG_HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REG_USER=flint
REG_PASS=s3cret-pass
REG_PID='' TOKEN_PID='' TOKEN_PORT='' REG_DIR='' REG_PORT='' REG_HOST='' REG_ROOT='' REG_LOG=''
TOKEN_LOG='' REG_MODE=''

reg_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# bcrypt, which is all distribution's htpasswd accepts: htpasswd -B if apache2-utils is there,
# else glibc's crypt through python3.
reg_bcrypt() {
	if command -v htpasswd >/dev/null; then
		htpasswd -nbB "$1" "$2" | cut -d: -f2-
	else
		python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5)))' "$2"
	fi
}

# reg_wait_http URL PID: until URL answers anything (bounded: 10 s), while PID lives.
reg_wait_http() {
	local i code
	for ((i = 0; i < 100; i++)); do
		kill -0 "$2" 2>/dev/null || return 1
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null)
		[ "$code" != 000 ] && [ -n "$code" ] && return 0
		sleep 0.1
	done
	return 1
}

reg_start_token() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$REG_DIR/token.key" \
		-out "$REG_DIR/token.crt" -days 2 -subj /CN=flint-test-token >/dev/null 2>&1 || return 1
	TOKEN_LOG=$REG_DIR/token.log
	python3 "$REG_HELPERS_DIR/token-server.py" --key "$REG_DIR/token.key" \
		--cert "$REG_DIR/token.crt" --issuer flint-test-issuer --service flint-test-registry \
		--user "$REG_USER" --password "$REG_PASS" --port-file "$REG_DIR/token.port" \
		--refuse-file "$REG_DIR/token.refuse" 2>"$TOKEN_LOG" &
	TOKEN_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$REG_DIR/token.port" ] && break
		kill -0 "$TOKEN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	[ -s "$REG_DIR/token.port" ] || return 1
	TOKEN_PORT=$(cat "$REG_DIR/token.port")
	reg_wait_http "http://127.0.0.1:$TOKEN_PORT/" "$TOKEN_PID"
}

reg_token_refuse() {
	if [ "$1" = on ]; then : >"$REG_DIR/token.refuse"; else rm -f "$REG_DIR/token.refuse"; fi
}

reg_write_config() {
	cat <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_ROOT
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$REG_PORT
  secret: flint-test-secret
EOF
	case $REG_MODE in
	basic)
		cat <<EOF
auth:
  htpasswd:
    realm: flint-test
    path: $REG_DIR/htpasswd
EOF
		;;
	token)
		cat <<EOF
auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: flint-test-registry
    issuer: flint-test-issuer
    rootcertbundle: $REG_DIR/token.crt
EOF
		;;
	esac
}

reg_start() {
	REG_MODE=$1
	case $REG_MODE in none | basic | token) ;; *)
		echo "reg_start: mode none, basic or token" >&2
		return 1
		;;
	esac
	command -v docker-registry >/dev/null || {
		echo "reg_start: docker-registry is not installed (apt-get install docker-registry)" >&2
		return 1
	}
	REG_DIR=$(mktemp -d)
	REG_ROOT=$REG_DIR/storage
	REG_LOG=$REG_DIR/registry.log
	mkdir -p "$REG_ROOT"
	if [ "$REG_MODE" = basic ]; then
		echo "$REG_USER:$(reg_bcrypt "$REG_USER" "$REG_PASS")" >"$REG_DIR/htpasswd"
	fi
	if [ "$REG_MODE" = token ]; then
		reg_start_token || {
			echo "reg_start: the token server did not start:" >&2
			cat "$TOKEN_LOG" >&2
			return 1
		}
	fi
	# A port that was free a moment ago may be taken by the time the registry binds: try again.
	local _
	for _ in 1 2 3; do
		REG_PORT=$(reg_free_port)
		REG_HOST=127.0.0.1:$REG_PORT
		reg_write_config >"$REG_DIR/config.yml"
		docker-registry serve "$REG_DIR/config.yml" >>"$REG_LOG" 2>&1 &
		REG_PID=$!
		if reg_wait_http "http://$REG_HOST/v2/" "$REG_PID"; then
			return 0
		fi
		kill "$REG_PID" 2>/dev/null
		wait "$REG_PID" 2>/dev/null
		REG_PID=''
	done
	echo "reg_start: the registry did not start:" >&2
	tail -n 20 "$REG_LOG" >&2
	return 1
}

reg_stop() {
	local pid
	for pid in $REG_PID $TOKEN_PID; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	REG_PID='' TOKEN_PID=''
	[ -n "$REG_DIR" ] && rm -rf "$REG_DIR"
	REG_DIR=
}

# The python that writes OCI layouts: deterministic gzip'd tars, configs, manifests, indexes.
reg_layout_py() {
	python3 - "$@" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile

def put_blob(d, data):
    dg = "sha256:" + hashlib.sha256(data).hexdigest()
    p = os.path.join(d, "blobs", "sha256", dg[7:])
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    return dg, len(data)

def load_index(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    p = os.path.join(d, "index.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {"schemaVersion": 2, "manifests": []}

def save_index(d, ix, tag, desc):
    ann = "org.opencontainers.image.ref.name"
    ix["manifests"] = [m for m in ix["manifests"] if m.get("annotations", {}).get(ann) != tag]
    desc = dict(desc, annotations={ann: tag})
    ix["manifests"].append(desc)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump(ix, f)

def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, text in files:
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
    raw = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(raw)
    return raw, gz.getvalue()

def by_tag(d, ix, tag):
    for m in ix["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    sys.exit("no tag " + tag)

cmd, d, tag = sys.argv[1:4]
ix = load_index(d)
if cmd == "image":
    arch, text = sys.argv[4], sys.argv[5]
    if text.startswith("@"):
        text = open(text[1:]).read()
    layers, diffs = [], []
    for files in ([("etc/flint-test", text + "\n")], [("hello.txt", "hello from %s %s\n" % (arch, tag))]):
        raw, gz = layer(files)
        dg, size = put_blob(d, gz)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": size})
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    cfg = {"architecture": arch, "os": "linux",
           "config": {"Env": ["PATH=/usr/bin:/bin", "FLINT_TEST=" + tag], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
           "rootfs": {"type": "layers", "diff_ids": diffs}}
    cdg, csize = put_blob(d, json.dumps(cfg).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdg, "size": csize},
           "layers": layers}
    mdg, msize = put_blob(d, json.dumps(man).encode())
    save_index(d, ix, tag, {"mediaType": man["mediaType"], "digest": mdg, "size": msize,
                            "platform": {"architecture": arch, "os": "linux"}})
    print(mdg)
elif cmd == "index":
    entries = []
    for t in sys.argv[4:]:
        m = by_tag(d, ix, t)
        entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                        "platform": m["platform"]})
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    dg, size = put_blob(d, json.dumps(doc).encode())
    save_index(d, ix, tag, {"mediaType": doc["mediaType"], "digest": dg, "size": size})
    print(dg)
EOF
}

reg_make_image() { reg_layout_py image "$1" "$2" "$3" "${4:-flint test image $2 $3}"; }
reg_make_index() {
	local d=$1 tag=$2
	shift 2
	reg_layout_py index "$d" "$tag" "$@"
}

reg_push() {
	local src=$1 dst=$2
	shift 2
	local creds=()
	[ "$REG_MODE" != none ] && creds=(--dest-creds "$REG_USER:$REG_PASS")
	skopeo --insecure-policy copy -q --dest-tls-verify=false "${creds[@]}" "$@" "oci:$src" \
		"docker://$REG_HOST/$dst"
}

reg_blob_path() {
	local hex=${1#sha256:}
	echo "$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

reg_blob_gets() {
	grep -cE '"GET /v2/[^ ]+/blobs/sha256:[0-9a-f]{64} HTTP/[0-9.]+" 200 ' "$REG_LOG"
}
