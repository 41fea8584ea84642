"""Does replay()'s loop in C (_fastpath.c replay_events()) leave what the Python loop leaves?

Each test replays one trace twice into two fresh machines of the same configuration, once
through the C loop and once through trace._replay_events(), and compares the machines bit for
bit (the buddy arrays, every history event, the kernel log), the slab caches and the reports.
"""

import contextlib
from pathlib import Path

import pytest
from test_trace_replay import kfree, kmalloc, line, page_alloc, page_free

from kmviz import Kernel
from kmviz import trace as kmtrace
from kmviz.engine import fastpath
from kmviz.exercises.real import SAMPLE_MACHINE

HANDMADE = Path(__file__).parent / "data" / "kmem-6.1-handmade.trace"
pytestmark = pytest.mark.skipif(not fastpath.available(), reason="the C fast path is not built")


def machine(k: Kernel) -> tuple:
    """Everything a replay changes: page states and lists, history, log, slab caches."""
    buddy = k.buddy
    return (
        bytes(buddy.state),
        bytes(buddy.nxt),
        bytes(buddy.prv),
        [(bytes(zone.nr_free), bytes(zone.pcp_count)) for zone in k.zones],
        [bytes(pcp_list) for zone in k.zones for pcp_list in zone.pcp_lists],
        bytes(k.history.records),
        [repr(event) for event in k.history],
        k.dmesg(),
        k.cat("/proc/slabinfo"),
    )


def both_loops(monkeypatch, loaded, make_kernel, task=None) -> tuple:
    """(report, machine) of the C loop, then of the Python loop, each on a new kernel.

    ``task``: (comm, pid) of the task the replay runs in, if not the kernel's default.
    """
    results = []
    for loop in (fastpath.replay_function(), None):
        monkeypatch.setattr(fastpath, "replay_function", lambda loop=loop: loop)
        k = make_kernel()
        with k.task(*task) if task else contextlib.nullcontext():
            report = loaded.replay(k)
        results.append((report, machine(k)))
    return results[0], results[1]


def test_the_c_loop_is_the_one_replay_uses_when_built():
    assert fastpath.replay_function() == (
        fastpath.replay_events,
        fastpath.ReplayTable,
        fastpath.slab_page_allocs,
    )


def test_slab_pages_are_found_in_c_as_in_python():
    for loaded in (kmtrace.load(kmtrace.SAMPLE_TRACE), kmtrace.load(HANDMADE)):
        found = kmtrace._slab_owned(loaded, fastpath.replay_function())
        assert found == kmtrace._slab_page_allocs(loaded)
        assert any(found)


def test_the_real_sample_trace_replays_identically(monkeypatch):
    loaded = kmtrace.load(kmtrace.SAMPLE_TRACE)  # Debian 6.1.192 from boot to a shell
    (c_report, c_machine), (py_report, py_machine) = both_loops(
        monkeypatch, loaded, lambda: Kernel(**SAMPLE_MACHINE)
    )
    assert c_report.events_replayed == len(loaded) > 100_000
    assert c_report == py_report
    assert c_machine == py_machine


def test_the_handmade_trace_of_odd_lines_replays_identically(monkeypatch):
    loaded = kmtrace.load(HANDMADE)
    c_result, py_result = both_loops(
        monkeypatch, loaded, lambda: Kernel(mem="256MiB", memory_map="flat")
    )
    assert c_result == py_result
    assert c_result[0].null_frees == 1 and c_result[0].slab_pages == 2


def test_every_counted_case_replays_identically(monkeypatch):
    cache_alloc = line(
        "insmod-2210",
        "kmem_cache_alloc: call_site=f+0x1/0x2 ptr=00000000000000c0 bytes_req=200 "
        "bytes_alloc=200 gfp_flags=GFP_KERNEL node=-1 accounted=false",
    )
    cache_free = line(
        "insmod-2210", "kmem_cache_free: call_site=f+0x1/0x2 ptr=00000000000000c0 name=node"
    )
    text = (
        kmalloc(0xA0) + kmalloc(0xA0) + kfree(0xA0)  # allocated again without a free
        + kfree(0) + kfree(0xB0)  # kfree(NULL), a free without its allocation
        + kmalloc(0) + cache_alloc + cache_alloc + cache_free + cache_free  # failed in trace
        + page_alloc(0x2000, 2) + page_free(0x2000, 0)  # freed with another order
        + page_alloc(0x3000, 0) + page_alloc(0x3000, 0) + page_free(0x3000, 0)
        + "".join(page_alloc(pfn << 10, 10) for pfn in range(8))  # failed in simulation
        + "".join(page_free(pfn << 10, 10) for pfn in range(8))  # frees of those
    )  # fmt: skip
    c_result, py_result = both_loops(
        monkeypatch, kmtrace.load(text), lambda: Kernel(mem="16MiB", memory_map="flat")
    )
    assert c_result == py_result
    report = c_result[0]
    counted = (report.allocated_again_without_free, report.free_order_differs, report.null_frees)
    assert counted == (3, 1, 1)
    assert report.failed_in_simulation > 0 and report.frees_of_failed > 0
    assert report.failed_in_trace == 2  # kmalloc's ptr=0, and mm_page_alloc's page=NULL (pfn 0)
    assert report.frees_without_alloc == 3  # 0xb0, the second kmem_cache_free, and pfn 0


def test_hundreds_of_caches_replay_identically(monkeypatch):
    def cache_alloc(ptr: int, cache: int) -> str:  # the name= of kernels after 6.1
        return line(
            "insmod-2210",
            f"kmem_cache_alloc: call_site=f+0x1/0x2 ptr={ptr:016x} name=cache_{cache} "
            "bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false",
        )

    text = "".join(cache_alloc(0x1000 + 64 * n, n % 300) for n in range(900))
    c_result, py_result = both_loops(
        monkeypatch, kmtrace.load(text), lambda: Kernel(mem="256MiB", memory_map="flat")
    )
    assert c_result == py_result
    assert len(c_result[0].caches) == 300 and c_result[0].allocations == 900


def test_a_panic_stops_both_loops_at_the_same_event(monkeypatch):
    loaded = kmtrace.load("".join(page_alloc(pfn, 0) for pfn in range(3000)))

    def small_machine():
        return Kernel(mem="8MiB", zone_dma=False, zone_dma32=False, memory_map="flat")

    # as kworker/0:1 the OOM killer takes insmod, then finds nothing left: a panic
    c_result, py_result = both_loops(monkeypatch, loaded, small_machine, ("kworker/0:1", 42))
    assert c_result == py_result
    assert not c_result[0].complete and 0 < c_result[0].events_replayed < 3000


def test_the_c_loop_refuses_columns_of_different_lengths():
    loaded = kmtrace.load(kmalloc(0xA0))
    columns = (loaded.kind, loaded.pointer, loaded.bytes_req_or_pfn)
    columns += (loaded.bytes_alloc_or_order, loaded.gfp, loaded.name, bytearray(2))
    counters = kmtrace.array("q", bytes(8 * (len(kmtrace.REPLAY_COUNTERS) + 1)))
    objects = fastpath.ReplayTable()
    with pytest.raises(ValueError, match="columns of different lengths"):
        fastpath.replay_events(columns, counters, objects, [], {}, set(), (None,) * 6)
