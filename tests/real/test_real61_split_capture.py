"""Does the harness cut its serial capture into the files the guest framed, and refuse a broken one?

tools/real-kernel/split_capture.py reads what init.sh writes to the second serial port:
``===== BEGIN <name> <bytes>``, the bytes, ``===== END <name>``, with console noise around.
"""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "real-kernel" / "split_capture.py"
spec = importlib.util.spec_from_file_location("split_capture", SCRIPT)
split_capture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(split_capture)


def frame(name: str, body: bytes) -> bytes:
    return f"===== BEGIN {name} {len(body)}\n".encode() + body + f"===== END {name}\n".encode()


def test_text_files_lose_the_serial_ports_carriage_returns():
    raw = b"noise\r\n" + frame("buddyinfo", b"Node 0, zone DMA 1\r\n") + b"===== DONE\r\n"
    assert split_capture.split(raw) == {"buddyinfo": b"Node 0, zone DMA 1\n"}


def test_gzipped_files_are_kept_byte_for_byte():
    body = b"\x1f\x8b\r\n===== END x\r\n\x00"
    assert split_capture.split(frame("kmem.trace.gz", body)) == {"kmem.trace.gz": body}


def test_frame_cut_short_is_an_error_naming_the_file():
    raw = frame("zoneinfo", b"pages free 3840\n")[:-8]
    with pytest.raises(ValueError, match="zoneinfo"):
        split_capture.split(raw)
