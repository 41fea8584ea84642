"""Compaction: movable pages move up, free blocks become whole again."""

import pytest

from kmviz import GFP_HIGHUSER_MOVABLE, Kernel
from kmviz.engine.events import CompactionFinished, PageMigrated
from kmviz.engine.invariants import check, check_slabs
from kmviz.workloads import uptime


def test_compaction_makes_an_order_10_block_after_uptime():
    k = Kernel(mem="256MiB", seed=0)
    report = uptime(k)
    assert max(report.largest_free_order.values()) < 10  # fragmented
    assert k.compact(10)["DMA32"]
    assert any(z.nr_free[10] for z in k.zones)
    assert any(isinstance(e, PageMigrated) for e in k.history)
    check(k)
    check_slabs(k)


def test_migrated_pages_stay_with_their_owners():
    k = Kernel(mem="64MiB", boot_reserved=False, zone_dma=False, zone_dma32=False)
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
    check(k)


def test_unmovable_pages_do_not_move():
    k = Kernel(mem="64MiB", boot_reserved=False, zone_dma=False, zone_dma32=False)
    pinned = [k.alloc_pages("GFP_KERNEL", 0) for _ in range(8)]
    k.compact(10)
    assert all(k.block_at(p.pfn)[:2] == (p.pfn, 0) for p in pinned)
    finished = [e for e in k.history if isinstance(e, CompactionFinished)]
    assert finished and finished[-1].pages_moved == 0


def test_compact_checks_its_order():
    with pytest.raises(ValueError, match="order from 0 to 10"):
        Kernel(mem="64MiB").compact(11)
