"""Does load() read what a wrapped ring buffer prints, and compressed files, and refuse look-alikes?

A trace file whose ring buffer was overwritten marks where a CPU's remaining events start with
``##### CPU %u buffer started ####`` (test_cpu_buff_start(), kernel/trace/trace.c): Debian's 6.1
in QEMU printed one at CPU 1 when tools/real-kernel recorded with a 2 MiB buffer per CPU.
"""

import lzma
from pathlib import Path

import pytest

from kmviz import trace as kmtrace
from kmviz.trace import BufferStarted, TraceFormatError

HANDMADE = Path(__file__).parent / "data" / "kmem-6.1-handmade.trace"
LINES = HANDMADE.read_text().splitlines(keepends=True)  # 12 header lines, then the entries
MARKER = "##### CPU 3 buffer started ####\n"


def test_buffer_started_line_gives_the_cpu_and_the_next_event():
    wrapped = kmtrace.load("".join([*LINES[:15], MARKER, *LINES[15:]]))
    assert wrapped.buffer_started == [BufferStarted(cpu=3, before_event=3)]


def test_buffer_started_line_is_not_an_entry_of_the_header_count():
    wrapped = kmtrace.load("".join([*LINES[:15], MARKER, *LINES[15:]]))
    assert len(wrapped) == len(kmtrace.load(HANDMADE))


def test_summary_says_where_a_cpus_events_start():
    wrapped = kmtrace.load("".join([*LINES[:15], MARKER, *LINES[15:]]))
    assert "CPU 3's events start at event 3 (the ring buffer had wrapped)" in str(wrapped)


def test_mangled_buffer_started_line_is_an_error_naming_its_line():
    with pytest.raises(TraceFormatError) as caught:
        kmtrace.load("".join([*LINES[:15], "##### CPU 3 buffer started\n", *LINES[15:]]))
    assert caught.value.line == 16


def test_xz_compressed_trace_loads_like_the_text(tmp_path):
    packed = tmp_path / "kmem.trace.xz"
    packed.write_bytes(lzma.compress(HANDMADE.read_bytes()))
    assert list(kmtrace.load(packed)) == list(kmtrace.load(HANDMADE))
