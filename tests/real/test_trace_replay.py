"""Does a replay make the simulated machine do what the traced one did, and count the rest?"""

from pathlib import Path

import pytest
from test_trace_export import driver, trace_rows

from kmviz import GFP_KERNEL, Kernel
from kmviz import trace as kmtrace
from kmviz.engine.events import ObjectAllocated, PagesAllocated

HANDMADE = Path(__file__).parent / "data" / "kmem-6.1-handmade.trace"


def line(comm_pid: str, event: str) -> str:
    """One trace line of task ``comm_pid`` on CPU 0 (the time does not matter to replay)."""
    return f"{comm_pid:>24} [000] .....     1.000000: {event}\n"


def kmalloc(ptr: int, size: int = 100) -> str:
    return line(
        "insmod-2210",
        f"kmalloc: call_site=f+0x1/0x2 ptr={ptr:016x} bytes_req={size} bytes_alloc={size} "
        "gfp_flags=GFP_KERNEL node=-1 accounted=false",
    )


def kfree(ptr: int) -> str:
    return line("insmod-2210", f"kfree: call_site=f+0x1/0x2 ptr={ptr:016x}")


def page_alloc(pfn: int, order: int, gfp: str = "GFP_KERNEL") -> str:
    return line(
        "insmod-2210",
        f"mm_page_alloc: page={pfn:016x} pfn={pfn:#x} order={order} migratetype=0 gfp_flags={gfp}",
    )


def page_free(pfn: int, order: int) -> str:
    return line("insmod-2210", f"mm_page_free: page={pfn:016x} pfn={pfn:#x} order={order}")


@pytest.fixture(scope="module")
def handmade_replay():
    k = Kernel(mem="256MiB", memory_map="flat")
    return k, kmtrace.load(HANDMADE).replay(k)


def test_replay_into_the_same_machine_repeats_every_allocation_exactly():
    traced = Kernel(mem="128MiB", seed=5, memory_map="flat")
    driver(traced, 2000, seed=5)
    loaded = kmtrace.load(kmtrace.export(traced))
    replayed = Kernel(mem="128MiB", seed=5, memory_map="flat")
    report = loaded.replay(replayed)
    again = kmtrace.load(kmtrace.export(replayed, start=report.history_start))
    # same calls on the same machine: the same pointers, pfns, sizes, orders and cache names
    assert trace_rows(again) == trace_rows(loaded)
    assert report.complete and report.frees_without_alloc == 0


def test_hashed_pointers_match_frees_to_allocations_as_well():
    traced = Kernel(mem="128MiB", seed=6, memory_map="flat")
    driver(traced, 1000, seed=6)
    hashed = kmtrace.load(kmtrace.export(traced, hash_pointers=True))
    replayed = Kernel(mem="128MiB", seed=6, memory_map="flat")
    report = hashed.replay(replayed)
    again = kmtrace.load(kmtrace.export(replayed, start=report.history_start))
    assert trace_rows(again) == trace_rows(kmtrace.load(kmtrace.export(traced)))


def test_frees_of_memory_allocated_before_the_trace_are_counted(handmade_replay):
    _, report = handmade_replay
    assert report.frees_without_alloc == 2  # a dentry, and a page kswapd freed


def test_allocation_that_failed_on_the_traced_machine_is_not_replayed(handmade_replay):
    k, report = handmade_replay
    assert report.failed_in_trace == 1
    orders = [
        e.order for e in k.history.since(report.history_start) if isinstance(e, PagesAllocated)
    ]
    assert 4 not in orders


def test_caches_are_created_with_the_traced_names_and_sizes(handmade_replay):
    k, report = handmade_replay
    skb = k.kmalloc_cache("skbuff_head_cache")
    assert (skb.object_size, skb.size) == (232, 256)  # the alignment that gives 256 was found
    assert report.caches == {
        "skbuff_head_cache": (232, 256, 256),
        "lesson_node": (200, 200, 200),
        "unnamed-4096-4096": (4096, 4096, 4096),
    }


def test_large_kmalloc_pages_are_left_to_the_simulated_allocator(handmade_replay):
    k, report = handmade_replay
    assert report.slab_pages == 2  # the 16 KiB kmalloc's mm_page_alloc and its mm_page_free
    large = [
        e
        for e in k.history.since(report.history_start)
        if isinstance(e, ObjectAllocated) and e.bytes_req == 16384
    ]
    assert [e.cache for e in large] == [""]  # served by the simulation's own page allocation


def test_page_allocation_followed_by_a_kmalloc_is_still_replayed():
    # a 4 KiB kmalloc comes from kmalloc-4k, not from the page allocator like one of 16 KiB
    trace = kmtrace.load(page_alloc(0x1000, 0) + kmalloc(0xA0, size=4096))
    k = Kernel(mem="64MiB", memory_map="flat")
    report = trace.replay(k)
    assert report.slab_pages == 0
    assert report.allocations == 2 and report.live_pages == 1


def test_kfree_of_null_is_replayed_as_a_no_op(handmade_replay):
    _, report = handmade_replay
    assert report.null_frees == 1


def test_objects_never_freed_stay_allocated(handmade_replay):
    _, report = handmade_replay
    assert (report.live_objects, report.live_pages) == (2, 0)  # lesson_node and names_cache


def test_allocation_the_simulation_cannot_satisfy_is_counted_with_its_free():
    blocks = "".join(page_alloc(pfn << 10, 10) for pfn in range(8))
    frees = "".join(page_free(pfn << 10, 10) for pfn in range(8))
    report = kmtrace.load(blocks + frees).replay(Kernel(mem="16MiB", memory_map="flat"))
    assert report.failed_in_simulation > 0
    assert report.frees_of_failed == report.failed_in_simulation
    assert report.frees == report.allocations


def test_second_allocation_at_a_live_pointer_frees_the_first():
    report = kmtrace.load(kmalloc(0xA0) + kmalloc(0xA0) + kfree(0xA0)).replay(
        Kernel("64MiB", memory_map="flat")
    )
    assert report.allocated_again_without_free == 1
    assert report.live_objects == 0


def test_page_free_of_another_order_frees_the_whole_block():
    k = Kernel(mem="64MiB", memory_map="flat")
    free_before = k.free_pages_count() + k.pcp_pages_count()
    report = kmtrace.load(page_alloc(0x2000, 2) + page_free(0x2000, 0)).replay(k)
    assert report.free_order_differs == 1
    assert k.free_pages_count() + k.pcp_pages_count() == free_before


def test_panic_stops_the_replay_and_says_where():
    lines = "".join(page_alloc(pfn, 0) for pfn in range(3000))
    k = Kernel(mem="8MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    with k.task("kworker/0:1", 42):  # the OOM killer takes insmod, then nothing is left
        report = kmtrace.load(lines).replay(k)
    assert not report.complete
    assert "System is deadlocked on memory" in report.stopped
    assert 0 < report.events_replayed < 3000
    assert "STOPPED" in str(report)


def test_report_text_names_what_was_not_replayed(handmade_replay):
    text = str(handmade_replay[1])
    assert text.startswith("replayed 22 of 22 events")
    assert "frees of memory allocated before the trace started" in text
    assert "cache skbuff_head_cache: 232-byte objects in 256-byte slots" in text


def test_replayed_history_plays_in_the_player():
    from kmviz.widgets import Player

    k = Kernel(mem="256MiB", memory_map="flat")
    player = Player(k)
    report = kmtrace.load(HANDMADE).replay(k)
    timeline = player.timeline
    assert timeline.position == report.history_end
    assert len(timeline.slabs_of("lesson_node")) == 1  # its object is still allocated
    player.go(report.history_start)
    assert timeline.slabs_of("lesson_node") == []
    player.step(1)
    assert timeline.position == report.history_start + 1


def test_replay_function_is_the_method():
    k1, k2 = Kernel(mem="64MiB", memory_map="flat"), Kernel(mem="64MiB", memory_map="flat")
    loaded = kmtrace.load(kmalloc(0xA0) + kfree(0xA0))
    assert kmtrace.replay(loaded, k1) == loaded.replay(k2)
    assert k1.kmalloc(8, GFP_KERNEL) == k2.kmalloc(8, GFP_KERNEL)
