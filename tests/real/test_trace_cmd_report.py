"""Does load() read what `trace-cmd report` prints of a real 6.1 kmem trace, and newer flags?

``data/kmem-6.1-trace-cmd-report.txt`` is real: tools/real-kernel/run.sh trace records the ring
buffer of Debian's 6.1 kernel in QEMU with ``trace-cmd extract``, and ``trace-cmd report``
(3.1.6, libtraceevent's kmem plugin) prints it; kept are the first 300 lines and 200 lines of
the probe module's insmod.
"""

import re
from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz import trace as kmtrace
from kmviz.trace import Kfree, LostEvents, MmPageAlloc, TraceFormatError

REPORT = Path(__file__).parent / "data" / "kmem-6.1-trace-cmd-report.txt"
LINES = REPORT.read_text().splitlines(keepends=True)


@pytest.fixture(scope="module")
def report():
    return kmtrace.load(REPORT)


def test_every_kmem_event_line_is_loaded(report):
    names = [re.search(r"\] +\d+\.\d{6}: (\w+):", line).group(1) for line in LINES[1:]]
    events = [name for name in names if name in kmtrace.TRACEPOINTS]
    assert len(report) == len(events) > 400


def test_cpus_line_is_the_trace_cmd_header(report):
    assert (report.trace_cmd_cpus, report.header) == (2, None)
    assert "trace-cmd report of 2 CPUs" in str(report)


def test_plugin_function_and_real_pointer_are_read(report):
    first = report[0]
    assert first == Kfree(
        "init", 1, 0, "", 5_892_309_000, "kernel_init_freeable+0x234", 0xFFFF888006272200
    )


def test_nil_pointer_reads_as_zero(report):
    assert report[4] == Kfree(
        "init", 1, 0, "", 5_892_600_000, "tomoyo_check_open_permission+0x107", 0
    )


def test_page_event_without_plugin_prefix_is_read(report):
    pages = [event for event in report if isinstance(event, MmPageAlloc)]
    assert pages[0].pfn == 0x93E6 and pages[0].order == 0


def test_events_dropped_line_is_a_gap_with_its_count():
    dropped = kmtrace.load("".join([LINES[0], "CPU:0 [184197 EVENTS DROPPED]\n", *LINES[1:]]))
    assert dropped.lost[0] == LostEvents(cpu=0, count=184197, before_event=0)


def test_events_dropped_line_without_a_count_is_a_gap_of_unknown_size():
    dropped = kmtrace.load("".join([*LINES[:3], "CPU:1 [EVENTS DROPPED]\n", *LINES[3:]]))
    assert dropped.lost[0] == LostEvents(cpu=1, count=None, before_event=2)


def test_cpus_line_after_the_first_is_an_error_naming_it():
    with pytest.raises(TraceFormatError) as caught:
        kmtrace.load("".join([*LINES[:3], "cpus=2\n", *LINES[3:]]))
    assert caught.value.line == 4


def test_report_replays_completely(report):
    assert report.replay(Kernel(mem="256MiB", memory_map="flat")).complete


def test_lazy_need_resched_flags_of_newer_kernels_are_read():
    line = (  # 6.13+ prints L, l, b, B for lazy preemption in the need-resched column
        "          insmod-2210    [001] dL...  5273.101513: kfree: "
        "call_site=lesson_exit+0x12/0x40 [lesson] ptr=00000000e3b0c443\n"
    )
    assert kmtrace.load(line)[0].flags == "dL..."
