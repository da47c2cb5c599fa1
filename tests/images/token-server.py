#!/usr/bin/env python3
"""A bearer token server for a test docker-registry (token auth), stdlib only.

GET /token?service=S&scope=repository:NAME:ACTIONS with HTTP Basic credentials answers
{"token": JWT, "access_token": JWT}: an RS256 JWT signed with `openssl dgst -sha256 -sign KEY`
whose header carries the certificate chain (x5c) that the registry's rootcertbundle trusts.
Anything else is 401: no credentials, wrong ones, or while the file given as --refuse-file exists.
Every request is logged to stderr as one line: METHOD PATH STATUS.

usage: token-server.py --key K --cert C --issuer I --service S --user U --password P
                       --port-file F [--refuse-file R]
"""
import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(args, der, sub, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {
        "iss": args.issuer,
        "sub": sub,
        "aud": args.service,
        "exp": now + 600,
        "nbf": now - 30,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key],
                         input=signing_input, capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("key", "cert", "issuer", "service", "user", "password", "port-file"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--refuse-file")
    args = ap.parse_args()
    with open(args.cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    want = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="flint-test-token"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            print(f"{self.command} {self.path} {status}", file=sys.stderr, flush=True)

        def do_GET(self):
            u = urlparse(self.path)
            if u.path != "/token":
                return self.answer(404, {"error": "not found"})
            if args.refuse_file and os.path.exists(args.refuse_file):
                return self.answer(401, {"error": "refused"})
            if self.headers.get("Authorization") != want:
                return self.answer(401, {"error": "bad credentials"})
            q = parse_qs(u.query)
            if q.get("service", [""])[0] != args.service:
                return self.answer(400, {"error": "unknown service"})
            access = []
            for scope in q.get("scope", []):
                for one in scope.split(" "):
                    parts = one.split(":")
                    if len(parts) >= 3 and parts[0] == "repository":
                        access.append({"type": "repository", "name": ":".join(parts[1:-1]),
                                       "actions": parts[-1].split(",")})
            tok = make_token(args, der, args.user, access)
            self.answer(200, {"token": tok, "access_token": tok, "expires_in": 600})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
