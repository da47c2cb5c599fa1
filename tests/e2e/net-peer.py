#!/usr/bin/env python3
"""The host side of the network e2e tests: small servers on this machine's own addresses.

  net-peer.py tcp ADDR PORT TEXT      each connection gets TEXT and a newline, then is closed
  net-peer.py dns ADDR PORT NAME=IP.. a UDP DNS responder: A records for the NAMEs, else NXDOMAIN
  net-peer.py count ADDR PORT FILE    accepts connections and appends one line per connection to FILE
  net-peer.py sink ADDR PORT FILE     reads each connection to its end; appends "N bytes" to FILE

Each prints "listening" once bound (the test reads that line instead of sleeping) and serves until
killed. Nothing here sends traffic anywhere but to the peers that reach it.
"""
import socket, struct, sys


def tcp(addr, port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(text.encode() + b"\n")
        finally:
            c.close()


def count(addr, port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    print("listening", flush=True)
    while True:
        c, peer = s.accept()
        with open(path, "a") as f:
            f.write(f"connection from {peer[0]}\n")
        c.close()


def sink(addr, port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.close()
        with open(path, "a") as f:
            f.write(f"{n} bytes\n")


def qname(msg):
    """The question's name and the offset past the question, from a query we trust little."""
    labels, off = [], 12
    while off < len(msg) and msg[off]:
        n = msg[off]
        if n > 63:
            raise ValueError("compressed or bad label in a query")
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace").lower())
        off += 1 + n
    return ".".join(labels), off + 5


def dns(addr, port, *records):
    table = dict(r.split("=", 1) for r in records)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("listening", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            name, end = qname(msg)
        except (ValueError, IndexError):
            continue
        qtype = struct.unpack("!H", msg[end - 4:end - 2])[0] if end <= len(msg) else 0
        ip = table.get(name)
        flags = 0x8180 if ip else 0x8183  # a response, recursion available; NXDOMAIN if unknown
        answers = b""
        if ip and qtype == 1:
            answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        head = msg[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
        s.sendto(head + msg[12:end] + answers, peer)


if __name__ == "__main__":
    {"tcp": tcp, "dns": dns, "count": count, "sink": sink}[sys.argv[1]](*sys.argv[2:])
