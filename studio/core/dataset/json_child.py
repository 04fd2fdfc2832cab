"""Parse a large JSON file without holding this process's GIL for long.

``orjson.loads`` of a 10,000-image COCO file (4.5 MB) is one C call that holds the GIL for 65-110 ms;
any other thread of the process (the GUI thread of the app) waits that long. Here a child Python process
parses the file and sends it back in pieces: every top-level list is cut into chunks of ``CHUNK`` items,
each re-serialised with orjson and read back here with one short ``orjson.loads`` per chunk (about 5 ms
for 2,000 items), so the GIL changes hands between chunks. The result equals ``orjson.loads`` of the file.

Used by the desktop app's loader for files above ``CHILD_MIN_BYTES``; the command line reads directly.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import orjson

CHUNK = 2000
CHILD_MIN_BYTES = 1_500_000  # below this, orjson.loads takes < 25 ms: parse in place

# The child: parse, then stream frames. A frame is a kind byte, a length and a payload:
#   b"E" + orjson.dumps({"msg", "lineno", "colno"})   the file is not valid JSON (or cannot be read)
#   b"V" + orjson.dumps(value)                          the whole document (not an object)
#   b"K" + orjson.dumps([key, value])                   a top-level key with a small value
#   b"L" + orjson.dumps(key)                            a top-level key whose list follows in chunks
#   b"C" + orjson.dumps(items)                          the next chunk of that list
#   b"Z"                                                end
_CHILD = r"""
import struct, sys, orjson
out = sys.stdout.buffer
def send(kind, payload=b""):
    out.write(kind + struct.pack("<Q", len(payload)) + payload)
chunk = int(sys.argv[2])
try:
    with open(sys.argv[1], "rb") as f:
        doc = orjson.loads(f.read())
except orjson.JSONDecodeError as e:
    send(b"E", orjson.dumps({"msg": e.msg, "lineno": e.lineno, "colno": e.colno}))
    raise SystemExit(0)
except OSError as e:
    send(b"E", orjson.dumps({"msg": "cannot read: " + str(e.strerror or e), "lineno": None, "colno": None}))
    raise SystemExit(0)
if not isinstance(doc, dict):
    send(b"V", orjson.dumps(doc))
else:
    for k, v in doc.items():
        if isinstance(v, list) and len(v) > chunk:
            send(b"L", orjson.dumps(k))
            for i in range(0, len(v), chunk):
                send(b"C", orjson.dumps(v[i:i + chunk]))
        else:
            send(b"K", orjson.dumps([k, v]))
send(b"Z")
out.flush()
"""


class JSONChildError(Exception):
    """The file is not valid JSON: ``msg``, ``lineno`` and ``colno`` as orjson reports them."""

    def __init__(self, msg: str, lineno: int | None, colno: int | None):
        super().__init__(msg)
        self.msg, self.lineno, self.colno = msg, lineno, colno


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return bytes(buf)


def load_in_child(path: str | Path, chunk: int | None = None) -> Any:
    """``orjson.loads`` of ``path``, parsed in a child process and received in chunks.

    Raises JSONChildError for invalid JSON (or an unreadable file), RuntimeError when the child fails.
    """
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, str(path), str(chunk or CHUNK)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    doc: dict = {}
    current: list | None = None
    try:
        while True:
            try:
                kind = _read_exact(proc.stdout, 1)
                (n,) = struct.unpack("<Q", _read_exact(proc.stdout, 8))
                payload = _read_exact(proc.stdout, n) if n else b""
            except EOFError:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise RuntimeError(
                    f"the JSON reader process stopped early: {err.splitlines()[-1] if err else 'no output'}"
                ) from None
            if kind == b"Z":
                return doc
            value = orjson.loads(payload) if payload else None
            if kind == b"E":
                raise JSONChildError(value["msg"], value["lineno"], value["colno"])
            if kind == b"V":
                return value
            if kind == b"K":
                doc[value[0]] = value[1]
                current = None
            elif kind == b"L":
                current = doc[value] = []
            elif kind == b"C" and current is not None:
                current.extend(value)
            else:
                raise RuntimeError(f"the JSON reader process sent an unexpected frame {kind!r}")
    finally:
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
        proc.wait()


def should_use_child(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size >= CHILD_MIN_BYTES
    except OSError:
        return False
