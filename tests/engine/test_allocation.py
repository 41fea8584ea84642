"""Where allocations come from: zonelist fallback, watermarks, reserves, migratetype fallback."""

from kmviz import (
    __GFP_NORETRY,
    __GFP_NOWARN,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_NOWAIT,
    Kernel,
)
from kmviz.engine.constants import MAX_DMA32_PFN, MAX_DMA_PFN
from kmviz.engine.events import AllocationFailed, FallbackStolen
from kmviz.engine.invariants import check


def drain(k, gfp, order):
    """Allocate ``order`` blocks with ``gfp`` until it fails; the pfns handed out.

    __GFP_NORETRY keeps a blocking mask from calling the OOM killer (and panicking the
    machine once nothing is left to kill): it gives up after one reclaim pass.
    """
    pfns = []
    while (page := k.alloc_pages(gfp | __GFP_NOWARN | __GFP_NORETRY, order)) is not None:
        pfns.append(page.pfn)
    return pfns


def test_gfp_kernel_prefers_normal_then_falls_back_to_dma32_then_dma():
    k = Kernel(mem="4160MiB", memory_map="flat")  # 64 MiB of Normal above 4 GiB
    zones = [k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10) for _ in range(300)]
    names = [page.zone for page in zones if page]
    first_dma32 = names.index("DMA32")
    assert set(names[:first_dma32]) == {"Normal"}
    assert first_dma32 >= 14  # 16 order-10 blocks in Normal, less what its watermark keeps


def test_gfp_dma_only_ever_gets_the_first_16mib():
    k = Kernel(mem="256MiB", memory_map="flat")
    pfns = drain(k, GFP_DMA, 0)
    assert pfns
    assert max(pfns) < MAX_DMA_PFN


def test_gfp_dma32_stays_below_4gib():
    k = Kernel(mem="4160MiB", memory_map="flat")
    pfns = drain(k, GFP_DMA32, 10)
    assert max(pfns) < MAX_DMA32_PFN


def test_lowmem_reserve_stops_gfp_kernel_from_draining_dma():
    k = Kernel(mem="256MiB", memory_map="flat")
    drain(k, GFP_KERNEL, 0)
    dma = k.zone("DMA")
    # a DMA32 request may only take DMA pages while free > min + lowmem_reserve[DMA32]
    assert dma.free_pages == dma.watermark[0] + dma.lowmem_reserve[1]
    assert k.alloc_pages(GFP_DMA, 0) is not None  # GFP_DMA itself is not held back


def test_failed_allocation_logs_page_allocation_failure():
    k = Kernel(mem="256MiB", memory_map="flat")
    drain(k, GFP_DMA, 4)
    assert k.alloc_pages(GFP_DMA, 4) is None
    log = k.dmesg()
    assert "insmod: page allocation failure: order:4, mode:0x1(GFP_DMA), nodemask=(null)" in log
    assert "Node 0 DMA: " in log
    assert isinstance(k.history[-1], AllocationFailed) or any(
        isinstance(e, AllocationFailed) for e in k.history[-200:]
    )


def test_nowarn_failures_are_silent():
    k = Kernel(mem="256MiB", memory_map="flat")
    drain(k, GFP_DMA, 4)
    assert "page allocation failure" not in k.dmesg()


def test_gfp_atomic_may_go_below_min_but_gfp_nowait_may_not():
    k = Kernel(
        mem="64MiB", zone_dma=False, zone_dma32=False, boot_reserved=False, memory_map="flat"
    )
    zone = k.zone("Normal")
    wmin = zone.watermark[0]
    batch = zone.pcp_batch
    drain(k, GFP_KERNEL, 0)
    # the slow path stops at min; the last check passed above it, and rmqueue_bulk() then
    # took a whole batch regardless, so NR_FREE_PAGES may end up to batch - 1 below min
    assert wmin - batch < zone.free_pages <= wmin
    # what is left on CPU 0's list does not count: the watermark check comes first
    assert 0 <= zone.pcp_count[0] < batch
    assert k.alloc_pages(GFP_NOWAIT | __GFP_NOWARN, 0) is None  # no reserve rights
    drain(k, GFP_ATOMIC, 0)
    # ALLOC_MIN_RESERVE halves min, ALLOC_NON_BLOCK takes another quarter: 37.5 % of min
    reduced = wmin - wmin // 2
    reduced -= reduced // 4
    assert reduced - batch < zone.free_pages <= reduced
    check(k)


def test_high_orders_need_a_free_block_of_that_order():
    k = Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, memory_map="flat")
    pages = drain(k, GFP_HIGHUSER_MOVABLE, 0)  # pfns 0..3967 in order; 3968..4095 stay free
    for pfn in pages[::2]:  # free every even page: their odd buddies stay allocated
        k.free_pages_block(k.pfn_to_page(pfn), 0)
    zone = k.zone("DMA")
    assert zone.free_pages - (1 << 8) > zone.watermark[1]  # the order-0 check passes...
    assert k.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN, 8) is None  # ...no order-8 block
    assert k.alloc_pages(GFP_HIGHUSER_MOVABLE, 7).pfn == 3968  # the untouched order-7 block
    check(k)


def test_first_unmovable_allocation_steals_a_movable_pageblock():
    # boot puts every free pageblock on the Movable lists (memmap_init marks them Movable)
    k = Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, memory_map="flat")
    page = k.alloc_pages(GFP_KERNEL, 0)
    stolen = [e for e in k.history if isinstance(e, FallbackStolen)]
    assert len(stolen) == 1
    assert (stolen[0].fallback_order, stolen[0].alloc_migratetype) == (10, 0)
    assert stolen[0].change_ownership
    assert k.pageblock_migratetype(page.pfn) == "Unmovable"
    blocks = k.cat("/proc/pagetypeinfo").splitlines()[-1].split()
    assert blocks[4:6] == ["2", "6"]  # an order-10 block is two pageblocks


def test_movable_allocations_need_no_fallback():
    k = Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, memory_map="flat")
    k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
    assert not any(isinstance(e, FallbackStolen) for e in k.history)
