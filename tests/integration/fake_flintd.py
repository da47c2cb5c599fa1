#!/usr/bin/env python3
"""A stand-in for flintd, for tests/integration/test_cli_daemon.sh (python3 stdlib only).

usage: fake_flintd.py PORT [--agent PATH] [--key KEY] [--log FILE]

Serves on 127.0.0.1:PORT the JSON envelope API's sandbox endpoints from memory (create, list,
get, delete, audit logs), and flint's attach extension: POST /sandboxes/NAME/attach and
POST /run/attach answer "101 Switching Protocols" with "Upgrade: flint-agent", then bridge the
socket to a new connection to a real agent, `flint-init --agent-unix PATH` running on the host.
Every sandbox (and every one-shot run) shares that one agent. For /run/attach the agent's HELLO
is sent in the same write as the 101 head, so a client that reads past the head loses it.

The sandbox "broken" always exists: its logs answer 500 with a plain-text body and its attach
502 with HTML, for clients' handling of answers that are not envelopes. --key makes every
request but GET /health need "Authorization: Bearer KEY" (agentkernel's three 401 messages).
--log appends one JSON line per request: method, path, query, authorization, body.
"""
import argparse
import json
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
UPGRADE_HEAD = (b"HTTP/1.1 101 Switching Protocols\r\n"
                b"Upgrade: flint-agent\r\nConnection: Upgrade\r\n\r\n")

args = None
lock = threading.Lock()
sandboxes = {}  # name -> SandboxInfo
audit = {}  # name -> [entries]


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def valid_name(n):
    return (isinstance(n, str) and NAME_RE.match(n) is not None
            and not any(s in n for s in ("--", "__", "-_", "_-")))


def log_request(entry):
    if args.log:
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rbufsize = 0  # unbuffered: nothing after the request head is read ahead of the bridge

    def log_message(self, fmt, *a):
        sys.stderr.write("fake_flintd: " + (fmt % a) + "\n")

    # ---- answers ----
    def send_body(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def ok(self, data, status=200):
        self.send_body(status, json.dumps({"success": True, "data": data}).encode())

    def err(self, status, msg):
        self.send_body(status, json.dumps({"success": False, "error": msg}).encode())

    # ---- requests ----
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def authorized(self, path):
        if not args.key or path == "/health":
            return True
        h = self.headers.get("Authorization")
        if h is None:
            self.err(401, "Missing Authorization header")
        elif not h.startswith("Bearer "):
            self.err(401, "Invalid authorization format. Use: Bearer <api_key>")
        elif h[7:] != args.key:
            self.err(401, "Invalid API key")
        else:
            return True
        return False

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        u = urlsplit(self.path)
        segs = [unquote(s) for s in u.path.split("/") if s]
        query = parse_qs(u.query)
        raw = self.read_body()
        log_request({"method": method, "path": u.path, "query": {k: v[0] for k, v in query.items()},
                     "authorization": self.headers.get("Authorization"),
                     "upgrade": self.headers.get("Upgrade"),
                     "body": raw.decode("utf-8", "replace")})
        if not self.authorized(u.path):
            return
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as e:
                return self.err(400, "Invalid JSON: %s" % e)

        if method == "GET" and segs == ["health"]:
            return self.ok("ok")
        if segs == ["sandboxes"] and method == "GET":
            return self.list(query.get("label", [None])[0])
        if segs == ["sandboxes"] and method == "POST":
            return self.create(body or {})
        if segs == ["run", "attach"] and method == "POST":
            return self.attach(None, coalesce=True)
        if len(segs) >= 2 and segs[0] == "sandboxes":
            name = segs[1]
            with lock:
                info = sandboxes.get(name)
            if method == "DELETE" and len(segs) == 2:
                with lock:
                    sandboxes.pop(name, None)
                    audit.pop(name, None)
                return self.ok("Sandbox removed")
            if name == "broken" and segs[2:] == ["logs"] and method == "GET":
                return self.send_body(500, b"internal kaboom\n", "text/plain")
            if name == "broken" and segs[2:] == ["attach"] and method == "POST":
                return self.send_body(502, b"<html><body>Bad Gateway</body></html>", "text/html")
            if info is None:
                return self.err(404, "Sandbox not found")
            if method == "GET" and len(segs) == 2:
                return self.ok(info)
            if method == "GET" and segs[2:] == ["logs"]:
                with lock:
                    return self.ok(list(audit.get(name, [])))
            if method == "POST" and segs[2:] == ["attach"]:
                return self.attach(name, coalesce=False)
        return self.err(404, "Not found")

    def list(self, label):
        with lock:
            items = list(sandboxes.values())
        if label:
            k, _, v = label.partition(":")
            items = [s for s in items if s.get("labels", {}).get(k) == v]
        self.ok(items)

    def create(self, b):
        name = b.get("name")
        if not name:
            return self.err(400, "name is required")
        if not valid_name(name):
            return self.err(400, "Invalid sandbox name '%s'" % name)
        info = {"name": name, "uuid": str(uuid.uuid4()), "status": "running", "backend": "flint",
                "image": b.get("image") or "alpine:3.20", "vcpus": b.get("vcpus") or 1,
                "memory_mb": b.get("memory_mb") or 512, "created_at": now(),
                "labels": b.get("labels") or {}, "ports": b.get("ports") or []}
        with lock:
            if name in sandboxes:
                return self.err(409, "Sandbox '%s' already exists" % name)
            sandboxes[name] = info
            audit[name] = [{"timestamp": now(), "type": "sandbox_created", "image": info["image"],
                            "vcpus": info["vcpus"]}]
        self.ok(info, 201)

    # ---- the attach extension ----
    def attach(self, name, coalesce):
        if (self.headers.get("Upgrade") or "").lower() != "flint-agent":
            return self.err(400, "attach needs Upgrade: flint-agent")
        if not args.agent:
            return self.err(503, "no agent to attach to")
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            agent.connect(args.agent)
        except OSError as e:
            agent.close()
            return self.err(503, "cannot reach the VM's agent: %s" % e)
        first = b""
        if coalesce:  # the agent says HELLO at once: send it together with the head
            agent.settimeout(5)
            first = agent.recv(65536)
            agent.settimeout(None)
        if name:
            with lock:
                audit.setdefault(name, []).append({"timestamp": now(), "type": "agent_attached"})
        client = self.connection
        client.sendall(UPGRADE_HEAD + first)
        self.close_connection = True

        def pump(src, dst):
            try:
                while True:
                    d = src.recv(65536)
                    if not d:
                        break
                    dst.sendall(d)
            except OSError:
                pass
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=pump, args=(agent, client), daemon=True)
        t.start()
        pump(client, agent)
        t.join()
        agent.close()
        if name is None:
            log_request({"event": "run-closed"})


def main():
    global args
    p = argparse.ArgumentParser(description="a stand-in for flintd in the CLI's tests")
    p.add_argument("port", type=int)
    p.add_argument("--agent", help="the agent's Unix socket (flint-init --agent-unix PATH)")
    p.add_argument("--key", help="the API key every request but /health needs")
    p.add_argument("--log", help="append one JSON line per request to this file")
    args = p.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with lock:
        sandboxes["broken"] = {"name": "broken", "uuid": str(uuid.uuid4()), "status": "stopped",
                               "backend": "flint", "created_at": now()}
    print("listening", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
