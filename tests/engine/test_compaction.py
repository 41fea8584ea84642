"""Compaction as 6.1 runs it: suitability, deferral, async then sync light, what migrates."""

import pytest

from kmviz import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Kernel
from kmviz.engine.compaction import (
    COMPACT_CONTINUE,
    COMPACT_MAX_DEFER_SHIFT,
    COMPACT_SKIPPED,
    compact_gap,
)
from kmviz.engine.events import (
    CompactionBegan,
    CompactionDeferred,
    CompactionFinished,
    CompactionSkippedAsDeferred,
    CompactionSuitabilityChecked,
    CompactionTried,
    KcompactdWoken,
    MemoryReclaimed,
    PageMigrated,
)
from kmviz.engine.gfp import __GFP_NORETRY, __GFP_NOWARN, GFP_NOWAIT
from kmviz.engine.invariants import check, check_slabs
from kmviz.engine.zones import WMARK_HIGH, WMARK_LOW


def normal_only(mem="64MiB"):
    """A machine with one zone (Normal) and no boot reservations: round numbers."""
    return Kernel(mem=mem, boot_reserved=False, zone_dma=False, zone_dma32=False, memory_map="flat")


def interleaved(pages=1, keep=False):
    """Runs of ``pages`` of page cache with as many free pages between: half of 64 MiB free.

    Processes of ``pages`` pages fill the gaps between file reads, then exit.  With
    ``keep`` every other gap holds a process that stays (so reclaim alone frees no 4 MiB).
    """
    k = normal_only()
    pids = []
    while k.zone("Normal").free_pages > 400:  # stop above low (320): no reclaim yet
        k.fill_page_cache(pages * 4096)
        pid = k.spawn("hole", pages * 4096)
        if keep and len(pids) % 2:
            k.tasks[-1].comm = "kept"
        pids.append(pid)
    for task in [t for t in k.tasks if t.comm == "hole"]:
        k.kill(task.pid)
    return k


def events_since(k, before, *kinds):
    return [e for e in k.history[before:] if isinstance(e, kinds)]


def test_an_order_10_request_compacts_async_first_then_sync_light_after_reclaim():
    k = interleaved()
    before = len(k.history)
    page = k.alloc_pages(GFP_KERNEL, 10)
    steps = events_since(k, before, CompactionTried, MemoryReclaimed, CompactionFinished)
    kinds = [(type(e).__name__, getattr(e, "mode", getattr(e, "by", None))) for e in steps]
    assert kinds[:5] == [
        ("CompactionTried", "async"),
        ("CompactionFinished", "async"),
        ("MemoryReclaimed", "direct"),
        ("CompactionTried", "sync_light"),
        ("CompactionFinished", "sync_light"),
    ]
    assert page is not None  # sync light moved page cache down and a block formed
    assert steps[4].success and steps[4].pages_moved > 0
    check(k)


def test_async_direct_compaction_migrates_only_from_the_requests_own_pageblocks():
    k = interleaved()
    before = len(k.history)
    k.alloc_pages(GFP_KERNEL, 10)  # unmovable: async scans only Unmovable pageblocks
    first = events_since(k, before, CompactionFinished)[0]
    assert (first.mode, first.pages_moved, first.status) == ("async", 0, "complete")


def test_a_movable_request_gets_its_block_from_async_compaction():
    k = interleaved(32)  # async's free scanner samples every 32nd page until it finds one
    before = len(k.history)
    page = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 10)
    finished = events_since(k, before, CompactionFinished)
    assert page is not None
    assert [(e.mode, e.success) for e in finished] == [("async", True)]
    assert "direct" not in [e.by for e in events_since(k, before, MemoryReclaimed)]


def test_small_movable_orders_do_not_compact_before_reclaim():
    k = interleaved()
    before = len(k.history)
    k.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN, 2)
    tried = events_since(k, before, CompactionTried)
    assert "async" not in [e.mode for e in tried]  # order <= 3 and movable: reclaim first


def test_compaction_is_skipped_without_compact_gap_free_pages_above_low():
    k = normal_only()
    zone = k.zone("Normal")
    k.fill_page_cache("64MiB")  # as full as the watermarks let it get
    assert zone.free_pages <= zone.watermark[WMARK_LOW] + compact_gap(10)
    before = len(k.history)
    assert k._compaction_suitable(zone, 10, zone.watermark[0], zone.idx) == COMPACT_SKIPPED
    assert events_since(k, before, CompactionSuitabilityChecked)[-1].result == "skipped"


def test_compaction_leaves_a_shortage_of_memory_to_reclaim():
    # free memory only in order-9 blocks: fragmentation_index(10) = 1000 - (1000 + 512000 *
    # n / 1024) / n = 500 - 1000/n, at most 500 = sysctl_extfrag_threshold: not fragmentation
    k = normal_only()
    zone = k.zone("Normal")
    halves = []
    while page := k.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NORETRY | __GFP_NOWARN, 9):
        halves.append(page)
    for page in halves[1::2]:  # every other pageblock: 16 free order-9 blocks, index 438
        k.free_pages_block(page, 9)
    # an order-9 refill moves max(batch >> 9, 2) == 2 blocks: the last one's spare waits
    # on CPU 0's list
    assert zone.pcp_count[0] == 512
    k.drain_all_pages()
    assert list(zone.nr_free)[9:] == [16, 0]
    before = len(k.history)
    assert k._compaction_suitable(zone, 10, zone.watermark[0], zone.idx) == COMPACT_SKIPPED
    assert events_since(k, before, CompactionSuitabilityChecked)[-1].result == "not_suitable_zone"


def test_fragmented_memory_is_suitable():
    k = interleaved()
    zone = k.zone("Normal")
    assert k._compaction_suitable(zone, 10, zone.watermark[0], zone.idx) == COMPACT_CONTINUE


@pytest.mark.parametrize(("failures", "skipped"), [(1, 1), (2, 3), (3, 7), (7, 63), (9, 63)])
def test_deferral_skips_2_to_the_shift_minus_1_attempts_up_to_63(failures, skipped):
    k = normal_only()
    zone = k.zone("Normal")
    for _ in range(failures):
        k._defer_compaction(zone, 10)
    assert zone.compact_defer_shift == min(failures, COMPACT_MAX_DEFER_SHIFT)
    answers = [k._compaction_deferred(zone, 10) for _ in range(skipped + 1)]
    assert answers == [True] * skipped + [False]


def test_orders_below_the_failed_one_are_never_deferred():
    k = normal_only()
    zone = k.zone("Normal")
    k._compaction_defer_reset(zone, 9, False)  # order 9 worked: order_failed = 10
    k._defer_compaction(zone, 10)
    assert zone.compact_order_failed == 10
    assert not k._compaction_deferred(zone, 9)
    assert k._compaction_deferred(zone, 10)


def test_a_successful_allocation_ends_the_deferral():
    k = normal_only()
    zone = k.zone("Normal")
    k._defer_compaction(zone, 10)
    k._compaction_defer_reset(zone, 10, True)
    assert (zone.compact_considered, zone.compact_defer_shift) == (0, 0)
    assert not k._compaction_deferred(zone, 10)


def test_a_deferred_zone_is_skipped_by_the_next_attempt():
    k = interleaved()
    k._defer_compaction(k.zone("Normal"), 10)  # as a failed sync-light compaction does
    before = len(k.history)
    k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)
    skipped = events_since(k, before, CompactionSkippedAsDeferred)
    assert [(e.zone, e.order, e.considered, e.defer_limit) for e in skipped] == [
        ("Normal", 10, 1, 2)
    ]
    assert events_since(k, before, CompactionTried)[0].mode == "async"
    assert events_since(k, before, CompactionBegan)[0].mode != "async"  # it did not run


def kswapd_passes_up_to(inactive: int, goal: int, high: int = 384) -> int:
    """Pages balance_pgdat() reclaims from ``inactive`` cold pages in passes until ``goal``.

    Each pass reclaims the LRU size >> priority, at most the zone's high mark (384) rounded
    up to 32; a pass that reclaimed less than that drops the priority: 1, 3, 7, 15, 31, 61,
    123, 242 pages at priorities 12..5 and then 384 a pass at priority 4.
    """
    total, priority = 0, 12
    while total < goal:
        target = (inactive - total) >> priority
        if target >= high:
            total += min(target, -(-high // 32) * 32)
        else:
            total += target
            priority -= 1
    return total


def test_kswapd_reclaims_compact_gap_then_kcompactd_makes_the_block():
    k = interleaved(keep=True)
    assert k.zone("Normal").watermark[WMARK_HIGH] == 384  # kswapd's nr_to_reclaim a pass
    before = len(k.history)
    assert k.alloc_pages(GFP_NOWAIT | __GFP_NOWARN, 10) is None  # no direct compaction
    kswapd = [e.pages for e in events_since(k, before, MemoryReclaimed) if e.by == "kswapd"]
    assert kswapd == [kswapd_passes_up_to(len(k.page_cache.lru) + kswapd[0], compact_gap(10))]
    assert [e.order for e in events_since(k, before, KcompactdWoken)] == [10]
    finished = events_since(k, before, CompactionFinished)
    assert [(e.mode, e.success) for e in finished] == [("sync_light", True)]
    assert k.alloc_pages(GFP_NOWAIT | __GFP_NOWARN, 10) is not None


def test_compact_memory_scans_whole_zones_in_sync_mode():
    k = interleaved()
    before = len(k.history)
    k.compact(10)
    began = events_since(k, before, CompactionBegan)
    finished = events_since(k, before, CompactionFinished)
    assert [(e.zone, e.mode) for e in began] == [("Normal", "sync")]
    assert finished[0].status == "complete" and finished[0].order == -1  # to the end
    assert k.zone("Normal").nr_free[10] > 0
    check(k)
    check_slabs(k)


def test_migrated_pages_stay_with_their_owners():
    k = normal_only()
    k.fill_page_cache("8MiB")
    pid = k.spawn("worker", "4MiB")
    holes = [k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0) for _ in range(64)]
    for page in holes[::2]:
        k.free_pages_block(page, 0)
    k.compact(10)
    task = next(t for t in k.tasks if t.pid == pid)
    for pfn in list(k.page_cache.lru) + task.pages:
        assert k.block_at(pfn)[2] == "allocated"
    assert len(set(k.page_cache.lru) | set(task.pages)) == len(k.page_cache) + task.rss
    assert any(isinstance(e, PageMigrated) for e in k.history)
    check(k)


def test_a_migrated_page_cache_page_becomes_the_newest_on_the_lru():
    k = interleaved()
    oldest = k.page_cache.lru[0]
    k.compact(10)
    moved = {e.pfn: e.new_pfn for e in k.history if isinstance(e, PageMigrated)}
    assert oldest in moved
    assert list(k.page_cache.lru)[-len(moved) :].count(moved[oldest]) == 1


def test_unmovable_pages_do_not_move():
    k = normal_only()
    kept = [k.alloc_pages(GFP_KERNEL, 0) for _ in range(8)]
    slab = k.kmalloc(64, GFP_KERNEL)
    k.compact(10)
    assert all(k.block_at(p.pfn)[:2] == (p.pfn, 0) for p in kept)
    assert k.virt_to_page(slab).pfn in k.slab_by_pfn
    finished = [e for e in k.history if isinstance(e, CompactionFinished)]
    assert finished and finished[-1].pages_moved == 0


def test_compact_checks_its_order():
    with pytest.raises(ValueError, match="order from 0 to 10"):
        Kernel(mem="64MiB", memory_map="flat").compact(11)


def test_a_deferred_event_names_the_limit():
    k = normal_only()
    k._defer_compaction(k.zone("Normal"), 10)
    event = [e for e in k.history if isinstance(e, CompactionDeferred)][-1]
    assert (event.order, event.defer_limit, event.considered) == (10, 2, 0)


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_a_page_inside_a_free_order_2_block_finds_the_block_s_head(offset):
    k = Kernel("64MiB", seed=0, memory_map="flat")
    block = k.get_free_pages(GFP_KERNEL, 2)
    buddy = k.get_free_pages(GFP_KERNEL, 2)  # held: the block cannot merge
    k.free_pages(block, 2)
    k.drain_all_pages()  # off the per-CPU list, into the buddy lists as order 2
    head = k.virt_to_page(block).pfn
    assert k.virt_to_page(buddy).pfn == head ^ 4 and k.buddy.state[head] == 2
    assert k._free_block_head(head + offset) == head
