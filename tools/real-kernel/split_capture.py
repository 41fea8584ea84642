"""Splits a raw capture of the harness's second serial port into the files the guest framed.

Usage: python3 split_capture.py CAPTURE.raw OUT_DIR.  The guest's /init (init.sh) writes each
file as ``===== BEGIN <name> <bytes>``, the bytes, ``===== END <name>``; text files are written
with the serial port's carriage returns removed, ``.gz`` files byte for byte.
"""

import sys
from pathlib import Path


def split(raw: bytes) -> dict[str, bytes]:
    """Every framed file of ``raw`` as {name: content}; ValueError if a frame is broken."""
    files, at = {}, 0
    while (start := raw.find(b"===== BEGIN ", at)) >= 0:
        header_end = raw.index(b"\n", start)
        name, size = raw[start + 12 : header_end].decode().rstrip("\r").rsplit(" ", 1)
        body_start = header_end + 1
        body = raw[body_start : body_start + int(size)]
        trailer = f"===== END {name}".encode()
        if raw[body_start + int(size) : body_start + int(size) + len(trailer)] != trailer:
            raise ValueError(f"the frame of {name} is broken (size {size})")
        files[name] = body if name.endswith(".gz") else body.replace(b"\r\n", b"\n")
        at = body_start + int(size)
    return files


def main(argv: list[str]) -> None:
    """Write the files of capture ``argv[1]`` into directory ``argv[2]``."""
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, content in split(Path(argv[1]).read_bytes()).items():
        (out / name).write_bytes(content)
        print(f"  {out / name}: {len(content)} bytes")


if __name__ == "__main__":
    main(sys.argv)
