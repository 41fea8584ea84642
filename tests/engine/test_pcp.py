"""The per-CPU page lists: sizes, refills, LIFO reuse, drains, counters, CPUs, the timeline."""

import pytest

from kmviz import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Kernel
from kmviz.engine.buddy import order_to_pindex, pcp_code
from kmviz.engine.constants import MIGRATE_CMA, MIGRATE_MOVABLE
from kmviz.engine.events import PagesAllocatedZoneLocked, PcpPagesDrained
from kmviz.engine.invariants import check
from kmviz.widgets.timeline import PCP, Timeline


def pfns(k, addrs):
    return [k.virt_to_page(addr).pfn for addr in addrs]


def test_a_1gib_dma32_has_batch_63_and_high_6928_as_the_real_kernel_prints():
    k = Kernel("1GiB", memory_map="pc")  # QEMU's map: DMA32 managed 242034, low 13857
    zone = k.zone("DMA32")
    # zone_batchsize(): 242034 >> 10 = 236, / 4 = 59, rounddown_pow_of_two(59 + 29) - 1 = 63
    # zone_highsize(): low watermark over the CPUs, 13857 // 2 = 6928
    assert (zone.managed_pages, zone.watermark[1]) == (242034, 13857)
    assert (zone.pcp_batch, zone.pcp_high) == (63, 6928)
    assert "cpu: 1\n              count: 0\n              high:  6928\n              batch: 63" in (
        k.cat("/proc/zoneinfo")
    )


def test_the_first_page_pulls_a_whole_batch_onto_the_cpus_list():
    k = Kernel("1GiB", memory_map="pc", boot_caches=False, boot_vmalloc=False)  # pcp lists empty
    zone = k.zone("DMA32")
    free_before = zone.free_pages
    start = len(k.history)
    k.get_free_pages(GFP_KERNEL, 0)
    refill = [e for e in k.history[start:] if isinstance(e, PagesAllocatedZoneLocked)]
    assert len(refill) == 63 and all(e.cpu == 0 and e.percpu_refill for e in refill)
    assert zone.pcp_count[0] == 62  # the allocation took the first of them
    # rmqueue_bulk() takes NR_FREE_PAGES down by all 63: MemFree does not count pcp pages
    assert zone.free_pages == free_before - 63


def test_freed_pages_come_back_last_freed_first_as_the_captures_show():
    # tests/real61/*/probe-measure.txt: 8 pages freed, then vmalloc() gets them in reverse
    k = Kernel("1GiB", memory_map="pc")
    held = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(8)]
    for addr in held:
        k.free_pages(addr, 0)
    again = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(8)]
    assert pfns(k, again) == pfns(k, held)[::-1]


def test_a_list_at_high_gives_a_batch_of_its_coldest_pages_back():
    k = Kernel("64MiB", memory_map="flat")
    zone = k.zone("DMA32")
    held = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(zone.pcp_high + 10)]
    assert zone.pcp_count[0] < zone.pcp_batch  # the refills were handed out
    start = len(k.history)
    for addr in held:
        k.free_pages(addr, 0)
    drained = [e for e in k.history[start:] if isinstance(e, PcpPagesDrained)]
    assert drained, "the list never reached high"
    # free_pcppages_bulk() takes from the tail: the first pages freed go back first
    assert drained[0].pfn == k.virt_to_page(held[0]).pfn
    assert zone.pcp_count[0] < zone.pcp_high
    check(k)


def test_drain_all_pages_empties_every_cpus_lists_into_the_buddy():
    k = Kernel("256MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    with k.on_cpu(1):
        k.free_pages(k.get_free_pages(GFP_KERNEL, 1), 1)
    k.free_pages(addr, 0)
    assert k.pcp_pages_count() > 0
    free = k.free_pages_count() + k.pcp_pages_count()
    k.drain_all_pages()
    assert k.pcp_pages_count() == 0 and k.free_pages_count() == free
    check(k)


def test_each_cpu_has_its_own_lists():
    k = Kernel("256MiB", memory_map="flat")
    zone = k.zone("DMA32")
    k.get_free_pages(GFP_KERNEL, 0)
    with k.on_cpu(1):
        assert k.smp_processor_id() == 1
        addr = k.get_free_pages(GFP_KERNEL, 0)
        k.free_pages(addr, 0)
    assert k.smp_processor_id() == 0
    assert zone.pcp_count[1] == zone.pcp_batch  # CPU 1's own refill, the page back on it
    assert zone.pcp_count[0] == zone.pcp_batch - 1


def test_a_task_in_atomic_context_cannot_change_cpus():
    k = Kernel("64MiB", memory_map="flat")
    with k.spin_lock("lock"), pytest.raises(ValueError, match="atomic context"):
        k.on_cpu(1)
    with pytest.raises(ValueError, match=r"CPUs 0\.\.1"):
        k.on_cpu(2)


def test_a_double_free_of_a_page_on_a_pcp_list_is_caught_by_debug_vm():
    k = Kernel("64MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    pfn = k.virt_to_page(addr).pfn
    assert k.block_at(pfn) == (pfn, 0, "pcp")
    lines = len(k.dmesg().splitlines())
    k.free_pages(addr, 0)
    report = k.dmesg().splitlines()[lines:]
    assert "refcount:0 mapcount:0" in report[0]  # free, but not PageBuddy
    assert "kernel BUG at include/linux/mm.h:780!" in "\n".join(report)
    check(k)


def test_stepping_back_restores_the_per_cpu_lists_of_the_timeline():
    k = Kernel("64MiB", memory_map="flat")
    timeline = Timeline(k)
    middle = timeline.length
    addrs = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(5)]
    for addr in addrs[:3]:
        k.free_pages(addr, 0)
    timeline.seek(len(k.history))
    end_pcp, end_frames = timeline.pcp.copy(), timeline.frames.copy()
    assert int((timeline.frames == PCP).sum()) == k.pcp_pages_count()
    timeline.seek(middle)
    fresh = Timeline(k)
    fresh.seek(middle)
    assert (timeline.pcp == fresh.pcp).all() and (timeline.frames == fresh.frames).all()
    timeline.seek(len(k.history))
    assert (timeline.pcp == end_pcp).all() and (timeline.frames == end_frames).all()


def cma_machine():
    """128 MiB with a 64 MiB CMA area: 16384 of ~25000 free pages are CMA, over half."""
    k = Kernel("128MiB", cma="64MiB", memory_map="flat")
    return k, k.zone("DMA32"), k.cma_count


def test_a_movable_refill_from_the_cma_area_lands_on_the_movable_list_as_cma_pages():
    k, zone, area = cma_machine()
    batch = zone.pcp_batch
    page = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    movable = list(k.buddy.pcp_list(zone, 0, order_to_pindex(MIGRATE_MOVABLE, 0)))
    assert len(movable) == batch - 1
    assert all(k.cma_base <= pfn < k.cma_base + area for pfn in [page.pfn, *movable])
    # set_pcppage_migratetype(): each remembers the CMA list it came from
    assert {k.buddy.state[pfn] for pfn in movable} == {pcp_code(0, MIGRATE_CMA)}
    # rmqueue_bulk(): NR_FREE_CMA_PAGES drops by every CMA page it moved
    assert zone.free_cma == area - batch
    check(k)


def test_a_freed_cma_page_waits_on_the_movable_list_and_a_drain_returns_it_to_cma():
    k, zone, area = cma_machine()
    page = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    k.free_pages_block(page, 0)
    assert k.block_at(page.pfn)[2] == "pcp"  # free_unref_page(): CMA goes on the Movable list
    assert zone.free_cma == area - zone.pcp_batch  # not counted until drained
    k.drain_all_pages()
    assert zone.free_cma == area and k.block_at(page.pfn)[2] == "free"
    check(k)


def test_cma_alloc_drains_the_areas_pages_off_the_per_cpu_lists():
    k, zone, area = cma_machine()
    k.free_pages_block(k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0), 0)
    assert zone.pcp_count[0] == zone.pcp_batch  # all from the area
    page = k.cma_alloc(area)  # alloc_contig_range() isolates, then drain_all_pages()
    assert page is not None and zone.pcp_count[0] == 0
    assert zone.free_cma == 0
    check(k)
