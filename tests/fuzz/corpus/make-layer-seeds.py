#!/usr/bin/env python3
"""Seed layers for fuzz_layer: small tars (plain and gzip) with every entry kind layer.c handles."""
import gzip
import io
import os
import sys
import tarfile

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fuzz_layer")
os.makedirs(out, exist_ok=True)


def entry(t, name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, uid=0, gid=0, pax=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = kind, mode, uid, gid, 1700000000, link
    if kind == tarfile.DIRTYPE:
        ti.mode = mode if mode != 0o644 else 0o755
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    if pax:
        ti.pax_headers = pax
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def layer(name, build, fmt=tarfile.PAX_FORMAT, compress=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        build(t)
    data = buf.getvalue()
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def base(t):
    entry(t, "./", tarfile.DIRTYPE)
    entry(t, "etc/", tarfile.DIRTYPE)
    entry(t, "etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n")
    entry(t, "usr/bin/", tarfile.DIRTYPE)
    entry(t, "usr/bin/su", data=b"su", mode=0o4755)
    entry(t, "bin", tarfile.SYMTYPE, link="/usr/bin")
    entry(t, "bin/sh", data=b"sh", mode=0o755)
    entry(t, "usr/bin/sh2", tarfile.LNKTYPE, link="usr/bin/sh")
    entry(t, "home/u/", tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000)
    entry(t, "home/u/f", data=b"x" * 100, uid=1000, gid=1000,
          pax={"SCHILY.xattr.user.k": "v"})


def upper(t):
    entry(t, "etc/.wh.passwd")
    entry(t, "home/.wh..wh..opq")
    entry(t, "home/v/", tarfile.DIRTYPE)
    entry(t, "usr/bin/.wh.su")
    entry(t, "dev/null", tarfile.CHRTYPE, mode=0o666)
    entry(t, "run/fifo", tarfile.FIFOTYPE)
    entry(t, "a" * 120 + "/" + "b" * 120 + "/long", data=b"long name")
    entry(t, ".wh..wh.plnk")


def hostile(t):
    entry(t, "evil", tarfile.SYMTYPE, link="../../..")
    entry(t, "evil/x", data=b"x")


def hostile2(t):
    entry(t, "abs", tarfile.SYMTYPE, link="/tmp")
    entry(t, "abs/x", data=b"x")
    entry(t, "h", tarfile.LNKTYPE, link="../etc/passwd")


layer("base.tar", base)
layer("base.tar.gz", base, compress=True)
layer("upper.tar", upper)
layer("gnu.tar", upper, fmt=tarfile.GNU_FORMAT)
layer("hostile.tar", hostile, fmt=tarfile.USTAR_FORMAT)
layer("hostile2.tar", hostile2)
