"""CMA: a boot-time area lent to movable pages and taken back whole by cma_alloc()."""

import pytest

from kmviz import GFP_HIGHUSER_MOVABLE, GFP_KERNEL, Kernel
from kmviz.engine.constants import MIGRATE_CMA, PAGEBLOCK_NR_PAGES
from kmviz.engine.events import CmaAllocated, CmaAllocationFailed, MemoryReclaimed
from kmviz.engine.invariants import check

AREA = 16384  # pages in 64 MiB


@pytest.fixture(scope="module")
def full():
    """256 MiB with a 64 MiB area, files read until memory is nearly full."""
    k = Kernel(mem="256MiB", seed=0, cma="64MiB", memory_map="flat")
    k.fill_page_cache("170MiB")
    return k


def in_area(k, pfn):
    return k.cma_base <= pfn < k.cma_base + k.cma_count


def test_boot_reserves_the_area_at_the_top_and_says_so():
    k = Kernel(mem="256MiB", cma="64MiB", memory_map="flat")
    log = k.dmesg()
    assert "cma: Reserved 64 MiB at 0x000000000c000000" in log
    assert "65536K cma-reserved" in log
    assert (k.cma_base, k.cma_count) == (0xC000, AREA)
    blocks = {k.buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] for pfn in range(0xC000, 0x10000)}
    assert blocks == {MIGRATE_CMA}
    assert k.zone("DMA32").free_cma == AREA
    check(k)


def test_a_size_is_rounded_up_to_4_mib_and_a_bad_one_refused():
    assert Kernel(mem="64MiB", cma="5MiB", memory_map="flat").cma_count == 2048  # 8 MiB
    with pytest.raises(ValueError, match="cma= takes a size such as '64MiB'"):
        Kernel(mem="64MiB", cma="lots", memory_map="flat")
    with pytest.raises(TypeError, match="cma= takes a size"):
        Kernel(mem="64MiB", cma=1.5, memory_map="flat")
    with pytest.raises(ValueError, match="cma= must be a size of 0 or more bytes"):
        Kernel(mem="64MiB", cma=-4096, memory_map="flat")


def test_an_area_larger_than_memory_fails_as_the_kernel_reports_it():
    k = Kernel(mem="64MiB", cma="128MiB", memory_map="flat")
    assert "cma: Failed to reserve 128 MiB" in k.dmesg()
    assert k.cma_count == 0 and k.cma_alloc(16) is None
    assert "type          CMA" in k.cat("/proc/pagetypeinfo")  # CONFIG_CMA all the same


def test_unmovable_allocations_never_use_cma_pageblocks():
    k = Kernel(mem="128MiB", cma="64MiB", memory_map="flat")
    pages = []
    while page := k.alloc_pages("GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY", 0):
        pages.append(page)
    assert pages and not any(in_area(k, p.pfn) for p in pages)
    assert k.zone("DMA32").free_cma == AREA  # the area is still all free
    check(k)


def test_movable_allocations_use_the_area_once_it_holds_half_of_the_free_pages():
    k = Kernel(mem="128MiB", cma="64MiB", memory_map="flat")
    first = k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    assert in_area(k, first.pfn)  # 16384 of ~28000 free pages are CMA: more than half


def test_cma_alloc_migrates_page_cache_out_of_the_area(full):
    k = full
    cached = sum(in_area(k, pfn) for pfn in k.page_cache.lru)
    assert cached > 1000  # the page cache spread into the area
    before = len(k.history)
    page = k.cma_alloc(4096)  # 16 MiB
    assert page is not None and in_area(k, page.pfn)
    assert all(k.block_at(pfn)[2] == "allocated" for pfn in range(page.pfn, page.pfn + 4096))
    assert not any(page.pfn <= pfn < page.pfn + 4096 for pfn in k.page_cache.lru)
    assert [e for e in k.history[before:] if isinstance(e, CmaAllocated)] == [
        CmaAllocated(page.pfn, 4096)
    ]
    check(k)
    assert k.cma_release(page, 4096)
    check(k)


def test_cma_alloc_fails_with_the_kernels_message_when_pinned_pages_sit_there():
    k = Kernel(mem="64MiB", cma="16MiB", memory_map="flat")
    pid = k.spawn("dbus", "36MiB")  # more than the rest of memory: it spills into the area
    task = next(t for t in k.tasks if t.pid == pid)
    inside = [i for i, pfn in enumerate(task.pages) if in_area(k, pfn)]
    assert inside
    k.pin_user_pages(pid, inside[-1] + 1)  # a short-term pin (O_DIRECT in flight)
    before = len(k.history)
    assert k.cma_alloc(4096) is None
    assert "cma: cma_alloc: reserved: alloc failed, req-size: 4096 pages, ret: -16" in k.dmesg()
    assert "free of 4096 total pages" in k.dmesg()
    failed = [e for e in k.history[before:] if isinstance(e, CmaAllocationFailed)]
    assert failed == [CmaAllocationFailed(4096, -16)]
    check(k)


def test_a_longterm_pin_moves_the_page_out_of_the_area_first():
    k = Kernel(mem="64MiB", cma="16MiB", memory_map="flat")
    filler = k.spawn("filler", "12MiB")
    pid = k.spawn("qemu", "12MiB")  # the rest of the memory outside the area is too small
    k.kill(filler)  # now there is room outside the area
    task = next(t for t in k.tasks if t.pid == pid)
    count = max(i for i, pfn in enumerate(task.pages) if in_area(k, pfn)) + 1
    pinned = k.pin_user_pages(pid, count, longterm=True)  # FOLL_LONGTERM (VFIO, RDMA)
    assert not any(in_area(k, p.pfn) for p in pinned)
    assert k.cma_alloc(4096) is not None
    check(k)


def test_compaction_does_not_move_pinned_pages():
    k = Kernel(
        mem="64MiB", boot_reserved=False, zone_dma=False, zone_dma32=False, memory_map="flat"
    )
    pid = k.spawn("fio", "8MiB")
    pages = k.pin_user_pages(pid, 16)
    k.compact(10)
    task = next(t for t in k.tasks if t.pid == pid)
    assert task.pages[:16] == [p.pfn for p in pages]


def test_dma_alloc_coherent_takes_large_buffers_from_cma(full):
    k = full
    nic = k.device("nic", dma_bits=32)
    cpu, handle = nic.dma_alloc_coherent(1 << 20, GFP_KERNEL)
    assert cpu and in_area(k, handle >> 12) and handle % (1 << 20) == 0  # aligned to order 8
    nic.dma_free_coherent(1 << 20, cpu, handle)
    small_cpu, small = nic.dma_alloc_coherent(4096, GFP_KERNEL)  # one page: not from CMA
    assert small_cpu and not in_area(k, small >> 12)
    nic.dma_free_coherent(4096, small_cpu, small)
    check(k)


def test_without_a_cma_area_pagetypeinfo_and_meminfo_say_nothing_of_cma():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert "CMA" not in k.cat("/proc/pagetypeinfo")
    assert "Cma" not in k.cat("/proc/meminfo")
    with_cma = Kernel(mem="64MiB", cma="8MiB", memory_map="flat").cat("/proc/meminfo")
    assert "CmaTotal:           8192 kB" in with_cma


def test_reclaim_for_a_migration_target_leaves_the_pages_being_migrated_alone():
    # 64 MiB with a 16 MiB area and 40 MiB of page cache: the targets of cma_alloc()'s
    # migration come only after direct reclaim, which must not free the area's file pages
    # waiting to migrate, nor those already migrated (isolate_migratepages_range() took them
    # off the LRU), or each is freed twice
    k = Kernel(mem="64MiB", cma="16MiB", memory_map="flat")
    k.fill_page_cache("40MiB")
    before = len(k.history)
    page = k.cma_alloc(k.cma_count)
    assert any(isinstance(e, MemoryReclaimed) for e in k.history[before:])
    assert page is not None
    check(k)
