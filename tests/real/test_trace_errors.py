"""Does a trace that is not what tracefs prints fail with the file, the line and the reason?"""

from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz import trace as kmtrace
from kmviz.trace import TraceFormatError

HANDMADE = Path(__file__).parent / "data" / "kmem-6.1-handmade.trace"
LINES = HANDMADE.read_text().splitlines(keepends=True)  # 12 header lines, then the entries
KFREE = (
    "          insmod-2210    [001] .....  5273.102180: kfree: "
    "call_site=lesson_exit+0x12/0x40 [lesson] ptr=00000000e3b0c442\n"
)


def write(tmp_path, lines) -> Path:
    path = tmp_path / "bad.trace"
    path.write_text("".join(lines))
    return path


def load_error(tmp_path, lines) -> TraceFormatError:
    with pytest.raises(TraceFormatError) as caught:
        kmtrace.load(write(tmp_path, lines))
    return caught.value


def test_error_is_a_value_error_naming_file_and_line(tmp_path):
    error = load_error(tmp_path, [*LINES[:20], "garbage here\n", *LINES[20:]])
    assert isinstance(error, ValueError)
    assert (error.source, error.line) == ("bad.trace", 21)
    assert str(error).startswith("bad.trace, line 21: not a line of an ftrace trace")


def test_kmem_event_in_another_format_is_an_error_citing_6_1(tmp_path):
    old = (  # 2.6.32's kmalloc: call_site in hex, no node= or accounted=
        "          insmod-2210    [001] .....  5273.101512: kmalloc: call_site=ffffffffa0001c "
        "ptr=ffff88003c8f1e00 bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL\n"
    )
    error = load_error(tmp_path, [*LINES[:12], old, *LINES[13:]])
    assert error.line == 13
    assert "not the 6.1 format of kmalloc (call_site=%pS ptr=%p" in error.problem
    assert "field node= is missing (found 'the end of the line')" in error.problem


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("bytes_req=100", "bytes_req=1x0"), "field bytes_req= is '1x0', not %zu, a number"),
        (("ptr=00000000e3b0c442", "ptr=e3b0c442"), "field ptr= is 'e3b0c442', not %p"),
        ((" node=-1", ""), "field node= is missing (found 'accounted')"),
        (("accounted=false", "accounted=no"), "field accounted= is 'no', not %s, true or false"),
    ],
)
def test_a_malformed_field_is_an_error_naming_the_line_and_the_field(tmp_path, change, named):
    kmalloc = next(line for line in LINES if " kmalloc: " in line and "bytes_req=100 " in line)
    at = LINES.index(kmalloc)
    assert change[0] in kmalloc
    error = load_error(tmp_path, [*LINES[:at], kmalloc.replace(*change), *LINES[at + 1 :]])
    assert error.line == at + 1
    assert named in error.problem


def test_a_malformed_trace_leaves_the_machine_unchanged(tmp_path):
    k = Kernel(mem="64MiB", memory_map="flat")
    before = (len(k.history), bytes(k.buddy.state), k.free_pages_count())
    bad = [*LINES[:20], LINES[20].replace("ptr=", "ptr=x"), *LINES[21:]]
    with pytest.raises(TraceFormatError):
        kmtrace.load(write(tmp_path, bad)).replay(k)
    assert (len(k.history), bytes(k.buddy.state), k.free_pages_count()) == before


def test_unknown_gfp_flag_is_an_error_naming_it(tmp_path):
    line = LINES[20].replace("gfp_flags=GFP_KERNEL", "gfp_flags=GFP_KERNEL|__GFP_BOGUS")
    error = load_error(tmp_path, [*LINES[:20], line, *LINES[21:]])
    assert error.line == 21
    assert "gfp_flags=GFP_KERNEL|__GFP_BOGUS" in error.problem and "__GFP_BOGUS" in error.problem


def test_last_line_cut_off_is_an_error(tmp_path):
    error = load_error(tmp_path, [*LINES[:-1], LINES[-1][:60]])
    assert error.line == len(LINES)
    assert "cut off" in error.problem


def test_file_cut_between_lines_is_an_error_by_the_header_count(tmp_path):
    error = load_error(tmp_path, LINES[:-3])
    assert "announces 24 entries but the file has 21: truncated" in error.problem


def test_more_entries_than_announced_is_an_error(tmp_path):
    error = load_error(tmp_path, [*LINES, KFREE])
    assert "announces 24 entries but the file has 25: edited" in error.problem


def test_second_capture_appended_is_an_error_at_its_header(tmp_path):
    error = load_error(tmp_path, [*LINES, *LINES])
    assert error.line == len(LINES) + 1
    assert error.problem == "a header line after the events"


def test_other_file_given_as_a_trace_is_an_error_on_line_1(tmp_path):
    slabinfo = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs>\n"
    error = load_error(tmp_path, [slabinfo])
    assert error.line == 1
    assert "not an ftrace trace" in error.problem


def test_header_starting_with_something_else_is_an_error(tmp_path):
    error = load_error(tmp_path, ["# trace-cmd report\n", *LINES[1:]])
    assert error.line == 1
    assert "expected '# tracer: <name>'" in error.problem


def test_header_without_entry_counts_is_an_error(tmp_path):
    error = load_error(tmp_path, [*LINES[:2], *LINES[3:]])
    assert "no '# entries-in-buffer/entries-written' line" in error.problem


def test_empty_file_is_an_error(tmp_path):
    error = load_error(tmp_path, [])
    assert error.problem == "the trace is empty (no header, no events)"


def test_bad_line_after_many_good_ones_still_fails_the_whole_load(tmp_path):
    entries = [KFREE] * 5000
    header = LINES[:12]
    header[2] = "# entries-in-buffer/entries-written: 5001/5001   #P:4\n"
    error = load_error(tmp_path, [*header, *entries, KFREE.replace("ptr=", "ptr=0x")])
    assert error.line == 12 + 5001


def test_string_source_is_named_in_the_error():
    with pytest.raises(TraceFormatError, match=r"^<string>, line 2: "):
        kmtrace.load(KFREE + "not a trace line\n")
