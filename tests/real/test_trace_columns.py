"""Does the array loader (kmviz/_trace_columns.py) give what the line-by-line reference gives?

Every test loads the same text twice, with ``_LineReader`` (trace._read) and with load()
(which takes the vectorised path for ASCII text), and compares every column, table and count,
or the error: the same message on the same line.  Each test runs twice: with the event lines
read in C (_fastpath.c scan_trace_lines()) and with numpy alone (_Chunk).
"""

import contextlib
import io
import lzma
import random
from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, GFP_NOWAIT, Kernel
from kmviz import _trace_columns as columns
from kmviz import trace as kmtrace
from kmviz.engine import fastpath
from kmviz.trace import TraceFormatError

DATA = Path(__file__).parent / "data"
HANDMADE = (DATA / "kmem-6.1-handmade.trace").read_text()
COLUMNS = columns.COLUMN_NAMES  # every column the loader fills
TABLES = (
    "contexts",
    "call_sites",
    "names",
    "skipped",
    "lost",
    "buffer_started",
    "trace_cmd_cpus",
    "cache_names",
    "header",
    "source",
)


@pytest.fixture(autouse=True, params=["C", "numpy"])
def line_reader(request, monkeypatch):
    """Read the event lines in C (if built), or with numpy alone."""
    if request.param == "C" and fastpath.trace_scanner() is None:
        pytest.skip("the C fast path is not built")
    if request.param == "numpy":
        monkeypatch.setattr(fastpath, "trace_scanner", lambda: None)
    return request.param


def reference(text: str):
    """The Trace (or the TraceFormatError) of the line-by-line parser."""
    try:
        return kmtrace._read(io.StringIO(text), "<string>")
    except TraceFormatError as error:
        return error


def vectorised(text: str):
    """The Trace (or the TraceFormatError) of the numpy loader, which must take the text."""
    blocks = iter([text.encode("ascii")])
    try:
        trace = kmtrace._read_columns(blocks, "<string>")
    except TraceFormatError as error:
        return error
    assert trace is not None, "the numpy loader handed the whole text back"
    return trace


def assert_same(text: str) -> None:
    """Both parsers give the same trace, or the same error on the same line."""
    expected, got = reference(text), vectorised(text)
    if isinstance(expected, TraceFormatError):
        assert isinstance(got, TraceFormatError), f"expected {expected}, got a trace"
        assert (got.line, got.problem) == (expected.line, expected.problem)
        return
    assert not isinstance(got, TraceFormatError), f"unexpected {got}"
    for name in COLUMNS:
        assert getattr(got, name) == getattr(expected, name), name
    for name in TABLES:
        assert getattr(got, name) == getattr(expected, name), name


def simulated_trace() -> str:
    """An export of a small machine's seeded day: every exported event, several contexts."""
    k = Kernel(mem="64MiB", seed=3, memory_map="flat")
    rng = random.Random(3)
    cache = k.kmem_cache_create("columns_test", 200)
    held = []
    for step in range(600):
        choice = rng.random()
        if held and choice < 0.4:
            kind, addr, detail = held.pop(rng.randrange(len(held)))
            if kind == "cache":
                k.kmem_cache_free(detail, addr)
            elif kind == "pages":
                k.free_pages(addr, detail)
            else:
                k.kfree(addr)
        elif choice < 0.55:
            held.append(("cache", k.kmem_cache_alloc(cache, GFP_KERNEL), cache))
        elif choice < 0.9:
            atomic = k.irq() if step % 7 == 0 else k.spin_lock("l") if step % 5 == 0 else None
            with atomic or contextlib.nullcontext():
                gfp = GFP_NOWAIT if step % 5 == 0 or step % 7 == 0 else GFP_KERNEL
                held.append(("kmalloc", k.kmalloc(rng.choice((8, 100, 3000, 20000)), gfp), 0))
        else:
            order = rng.choice((0, 2, 11))  # order 11 fails: an mm_page_alloc of page=NULL?
            held.append(("pages", k.get_free_pages(GFP_KERNEL, order), order))
    k.kfree(0)
    return kmtrace.export(k, hash_pointers=True)


SIMULATED = simulated_trace()
EVENT_LINES = [line for line in SIMULATED.splitlines(keepends=True) if not line.startswith("#")]


def test_the_real_sample_trace_loads_the_same():
    with lzma.open(kmtrace.SAMPLE_TRACE, "rt") as file:
        text = file.read()
    assert_same(text)


def test_the_handmade_trace_of_every_odd_line_loads_the_same():
    assert_same(HANDMADE)


def test_a_simulated_trace_with_irq_and_atomic_contexts_loads_the_same():
    assert_same(SIMULATED)
    assert len(kmtrace.load(SIMULATED).contexts) > 1


def test_lines_split_across_blocks_load_the_same(monkeypatch):
    expected = reference(SIMULATED)
    text = SIMULATED.encode()
    blocks = (text[at : at + 997] for at in range(0, len(text), 997))
    got = kmtrace._read_columns(blocks, "<string>")
    for name in COLUMNS + TABLES:
        assert getattr(got, name) == getattr(expected, name), name


def test_trace_pipe_output_without_a_header_loads_the_same():
    assert_same("".join(EVENT_LINES))


def test_the_lines_are_read_in_c_when_it_is_built(line_reader, monkeypatch):
    calls = []
    real = fastpath.trace_scanner()
    if line_reader == "C":
        monkeypatch.setattr(fastpath, "scan_trace_lines", lambda *a: calls.append(1) or real(*a))
    kmtrace.load(SIMULATED)
    assert bool(calls) == (line_reader == "C")


def test_a_path_loads_through_the_numpy_loader(tmp_path, monkeypatch):
    path = tmp_path / "sim.trace"
    path.write_text(SIMULATED)
    calls = []
    real = columns.read_columns
    monkeypatch.setattr(columns, "read_columns", lambda *a: calls.append(1) or real(*a))
    kmtrace.load(path)
    assert calls


# One malformed or unusual event line each; placed among good lines, after the header.
ODD_LINES = {
    "bad hex pointer": lambda line: line.replace("ptr=", "ptr=g", 1)[:-2] + "\n",
    "uppercase pointer": lambda line: line.replace("ptr=0", "ptr=A"),
    "pointer of 15 digits": lambda line: line.replace("ptr=0", "ptr=", 1),
    "missing key": lambda line: line.replace(" bytes_req=", " bytes=", 1),
    "extra equals in call site": lambda line: line.replace("call_site=", "call_site=a=b", 1),
    "module call site": lambda line: line.replace("call_site=", "call_site=x [mod] ", 1),
    "20-digit size": lambda line: line.replace("bytes_req=", "bytes_req=99999999999999999", 1),
    "17-digit size": lambda line: line.replace("bytes_req=", "bytes_req=1234567890123456", 1),
    "unknown gfp flag": lambda line: line.replace("gfp_flags=", "gfp_flags=__GFP_BOGUS|", 1),
    "empty gfp": lambda line: line.replace("gfp_flags=", "gfp_flags= x", 1),
    "node with 10 digits": lambda line: line.replace("node=-1", "node=1234567890"),
    "node -0": lambda line: line.replace("node=-1", "node=-0"),
    "accounted yes": lambda line: line.replace("accounted=false", "accounted=yes"),
    "accounted True": lambda line: line.replace("accounted=false", "accounted=True"),
    "6.18 cache name": lambda line: line.replace(" bytes_req=", " name=my_cache bytes_req=", 1),
    "6.18 cache name with a tab": lambda line: line.replace(" bytes_req=", " name=a\tb bytes_req="),
    "pfn without 0x": lambda line: line.replace("pfn=0x", "pfn=", 1),
    "pfn of 16 digits": lambda line: line.replace("pfn=0x", "pfn=0x1000000000000000", 1),
    "batched order 1": lambda line: line.replace("mm_page_free:", "mm_page_free_batched:", 1),
    "order -1": lambda line: line.replace("order=", "order=-", 1),
    "seconds wider": lambda line: line.replace("    1.", "123451.", 1).replace(
        "     1.", "123456."
    ),
    "seconds of 10 digits": lambda line: line.replace("    1.", "1234567891.", 1),
    "microseconds of 5": lambda line: line.replace(".00", ".0", 1),
    "no irq-info column": lambda line: line.replace("] ..... ", "] ", 1),
    "tgid column": lambda line: line.replace("[000]", "(   1234) [000]", 1),
    "comm with a space": lambda line: line.replace("  insmod", "ins mod", 1),
    "comm of 16": lambda line: line.replace("          insmod", "insmodinsmodinsm", 1),
    "comm with a dash and digits": lambda line: line.replace("  insmod-", "a-12-", 1),
    "pid of 8 digits": lambda line: line.replace("-1234   ", "-12345678", 1),
    "other event": lambda line: line.replace("kfree:", "kfreed:", 1),
    "event without colon": lambda line: line.replace("kmalloc: ", "kmalloc ", 1),
    "trailing space": lambda line: line[:-1] + " \n",
    "double space": lambda line: line.replace(" ptr=", "  ptr=", 1),
    "blank line": lambda line: "\n",
    "stack line": lambda line: " => kmalloc_trace+0x26/0x90\n",
    "lost events": lambda line: "CPU:1 [LOST 17 EVENTS]\n",
    "buffer started": lambda line: "##### CPU 1 buffer started ####\n",
    "header line after events": lambda line: "# tracer: nop\n",
    "garbage": lambda line: "garbage\n",
    "long call site": lambda line: line.replace("call_site=", "call_site=" + "x" * 300, 1),
    "null pointer kfree": lambda line: line.replace("ptr=", "ptr=0000000000000000 x", 1),
    "empty call site": lambda line: line.replace(
        "call_site=" + line.split("call_site=")[-1].split(" ")[0], "call_site=", 1
    ),
    "freed cache name with a space": lambda line: line.replace(" name=", " name=a b", 1),
    "pfn of uppercase hex": lambda line: line.replace("pfn=0x", "pfn=0xA", 1),
}


@pytest.mark.parametrize("what", sorted(ODD_LINES))
def test_an_odd_line_among_good_ones_gives_the_same_trace_or_error(what):
    header, events = SIMULATED.splitlines(keepends=True)[:12], EVENT_LINES
    changed = [ODD_LINES[what](line) for line in events]
    assert changed != events, "the change did nothing"
    for at in range(0, len(events), max(1, len(events) // 12)):
        lines = [*events[:at], changed[at], *events[at + 1 :]]
        assert_same("".join(header + lines))
        assert_same("".join(lines))  # trace_pipe output: no header, no entry count


@pytest.mark.parametrize("what", sorted(ODD_LINES))
def test_every_line_changed_alike_gives_the_same_trace_or_error(what):
    assert_same("".join(ODD_LINES[what](line) for line in EVENT_LINES))


def test_a_cut_off_last_line_is_the_same_error():
    assert_same(SIMULATED[:-40])


def test_a_trace_with_only_a_header_is_the_same_error():
    assert_same("".join(SIMULATED.splitlines(keepends=True)[:12]))


def test_empty_text_is_the_same_error():
    assert_same("")


@pytest.mark.parametrize(
    "text", ["cpus=2\n" + "".join(EVENT_LINES), SIMULATED.replace("\n", "\r\n"), "é\n"]
)
def test_trace_cmd_reports_carriage_returns_and_non_ascii_go_to_the_reference(text):
    blocks = iter([text.encode()])
    assert kmtrace._read_columns(blocks, "<string>") is None


def test_cache_names_resolve_the_same_with_arrays():
    for text in (SIMULATED, HANDMADE):  # kmem_cache_alloc unnamed again, as 6.1 prints it
        expected, got = (kmtrace._read(io.StringIO(text), "<string>") for _ in range(2))
        for trace in (expected, got):
            names = zip(trace.kind, trace.name, strict=True)
            trace.name = kmtrace.array("i", [-1 if kind == 2 else n for kind, n in names])
        kmtrace._resolve_cache_names(expected)
        columns.resolve_cache_names(got)
        assert (got.name, got.cache_names) == (expected.name, expected.cache_names)


def test_slab_pages_are_found_the_same_with_arrays():
    with lzma.open(kmtrace.SAMPLE_TRACE, "rt") as file:
        sample = kmtrace._read(file, "sample")
    for trace in (sample, kmtrace.load(SIMULATED), kmtrace.load(HANDMADE)):
        assert columns.slab_page_allocs(trace) == kmtrace._slab_page_allocs(trace)
