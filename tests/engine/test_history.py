"""The event history, the kernel log and what observers see."""

from array import array

import pytest

from kmviz import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Kernel
from kmviz.engine import history as history_module
from kmviz.engine.events import (
    BlockSplit,
    BuddiesMerged,
    MessageLogged,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)


def fresh():
    """One DMA zone of 4096 pages, all order-10 blocks on the Movable lists."""
    return Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, memory_map="flat")


def test_expand_keeps_the_lower_half_and_frees_each_upper_half():
    k = fresh()
    start = len(k.history)
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 7)  # from the order-10 block at pfn 0
    events = k.history[start:]
    # order 7 is not a pcp order: mm_page_alloc_zone_locked, then mm_page_alloc
    assert [type(e) for e in events] == [BlockSplit] * 3 + [
        PagesAllocatedZoneLocked,
        PagesAllocated,
    ]
    assert [(e.pfn, e.order, e.buddy_pfn) for e in events[:3]] == [
        (0, 10, 512),
        (0, 9, 256),
        (0, 8, 128),
    ]
    assert (events[4].pfn, events[4].order, events[4].zone, events[4].cpu) == (0, 7, "DMA", -1)


def test_freeing_merges_order_by_order_with_the_xor_buddy():
    k = fresh()
    page = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 8)
    start = len(k.history)
    k.free_pages_block(page, 8)
    freed, *merges = k.history[start:]
    assert (type(freed), freed.pfn, freed.order) == (PagesFreed, 0, 8)
    assert all(isinstance(m, BuddiesMerged) for m in merges)
    assert [(m.pfn, m.buddy_pfn, m.order, m.merged_pfn) for m in merges] == [
        (0, 256, 8, 0),  # 0 ^ (1 << 8) == 256
        (0, 512, 9, 0),  # 0 ^ (1 << 9) == 512
    ]


def test_history_counts_events_not_records():
    k = fresh()
    records, events = k.history.record_count, len(k.history)
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 5)  # five splits, zone_locked and the allocation
    assert k.history.record_count == records + 1
    assert len(k.history) == events + 7


def test_a_pcp_refill_is_one_record_per_block_and_a_pop_one_more():
    k = fresh()  # 4096 managed pages: batch 1, so rmqueue_bulk() moves one block
    records, events = k.history.record_count, len(k.history)
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    assert k.history.record_count == records + 2
    kinds = [type(e) for e in k.history[events:]]
    assert kinds == [BlockSplit] * 10 + [PagesAllocatedZoneLocked, PagesAllocated]
    assert (k.history[-2].cpu, k.history[-1].cpu) == (0, 0)  # onto CPU 0's list, off it


def test_a_drain_is_mm_page_pcpu_drain_then_the_merges():
    k = Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, pcp=False, memory_map="flat")
    page = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    start = len(k.history)
    k.free_pages_block(page, 0)  # a boot pageset: pushed, then drained at once
    pushed, drained, *merges = k.history[start:]
    assert pushed == PagesFreed(0, 0, "DMA", 0)
    assert drained == PcpPagesDrained(0, 0, 1, "DMA", 0)
    assert [m.order for m in merges] == list(range(10))


def test_history_supports_negative_indexes_slices_and_iteration():
    k = fresh()
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 9)
    assert isinstance(k.history[-1], PagesAllocated)
    assert k.history[-2:] == list(k.history)[-2:]
    with pytest.raises(IndexError):
        k.history[len(k.history)]


def test_a_slice_is_the_events_it_covers_even_inside_a_record():
    k = fresh()
    for order in (9, 0, 3, 10):  # splits: records of several events each
        k.alloc_pages(GFP_HIGHUSER_MOVABLE, order)
    everything = list(k.history)
    n = len(everything)
    for cut in (slice(n - 7, None), slice(n - 20, n - 3), slice(-5, -1), slice(n - 9, None, 2),
                slice(None, n - 30, -3), slice(4, 4), slice(n + 5, None)):  # fmt: skip
        assert k.history[cut] == everything[cut]


def test_events_are_frozen():
    k = fresh()
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    with pytest.raises(AttributeError):
        k.history[-1].pfn = 5


def test_printk_lines_are_events_too():
    k = fresh()
    k.alloc_pages(GFP_KERNEL, 11)
    assert any(isinstance(e, MessageLogged) and "WARNING" in e.text for e in k.history)


def test_dmesg_prints_seconds_and_microseconds():
    k = fresh()
    first = k.dmesg().splitlines()[0]
    assert first.startswith("[    0.000000] ")


def test_observers_hear_once_per_call():
    k = fresh()
    seen = []
    k.observe(lambda change: seen.append(change["new"]), names="tick")
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)  # eleven events, one notification
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    assert len(seen) == 3


def test_nobody_observing_costs_no_notifications():
    k = fresh()
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    assert k.tick == 0


def test_numpy_counts_a_long_stretch_of_records_as_the_python_loop_does(monkeypatch):
    k = Kernel("256MiB", seed=4)  # per-CPU lists, slabs, page cache: every kind of record
    held = [k.get_free_pages(GFP_KERNEL, order % 4) for order in range(3000)]
    for order, addr in enumerate(held[::2]):
        k.free_pages(addr, (2 * order) % 4)
    k.fill_page_cache("8MiB")
    k.kfree(k.kmalloc(5000, GFP_KERNEL))
    history = k.history
    assert history.record_count - len(history._ends) >= history_module.NUMPY_INDEX_FROM
    counted = list(history.ends())  # with numpy
    history._ends = array("q")
    monkeypatch.setattr(history_module, "_numpy", None)
    assert list(history.ends()) == counted


def test_a_kmalloc_and_its_kfree_are_one_record_each_that_name_the_slot():
    k = fresh()
    k.kmalloc(100, GFP_KERNEL)  # kmalloc-128's first slab: its records come before
    records, events = k.history.record_count, len(k.history)
    addr = k.kmalloc(100, GFP_KERNEL)
    k.kfree(addr)
    slab = k._slab_of(addr)
    slot = slab.index_of(addr)
    assert k.history.record_count == records + 2 and len(k.history) == events + 2
    alloc, free = k.history.records[records:]
    assert alloc & 3 == free & 3 == history_module.KIND_SLAB
    assert (alloc >> history_module.SLAB_PFN_SHIFT) & history_module.PFN_MASK == slab.pfn
    assert (free >> history_module.SLAB_SLOT_SHIFT) & history_module.SLAB_SLOT_MASK == slot
    allocated, freed = k.history[events:]
    assert (allocated.ptr, allocated.bytes_req, allocated.bytes_alloc, allocated.cache) == (
        addr, 100, 128, "kmalloc-128"
    )  # fmt: skip
    assert (freed.tracepoint, freed.ptr) == ("kfree", addr)


def test_the_table_of_slab_records_lists_a_cache_before_its_requests():
    k = fresh()
    cache = k.kmem_cache_create("table_order", 40)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    descs = k.history.slab_descs
    assert descs.index((cache, 0, 0)) + 1 == descs.index((cache, 40, GFP_KERNEL))


def test_a_full_table_of_slab_records_stores_the_events_themselves(monkeypatch):
    k = fresh()
    monkeypatch.setattr(history_module, "SLAB_DESCS", len(k.history.slab_descs))
    addr = k.kmalloc(100, GFP_KERNEL)
    k.kfree(addr)
    assert [record & 3 for record in k.history.records[-2:]] == [history_module.KIND_OBJECT] * 2
    allocated, freed = k.history[-2:]
    assert (allocated.ptr, allocated.bytes_req, freed.ptr) == (addr, 100, addr)
