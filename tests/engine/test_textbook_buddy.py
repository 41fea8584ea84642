"""The textbook buddy system, step by step, on a machine small enough to follow by hand.

``Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, pcp=False)`` has one zone, DMA, of
16 MiB / 4 KiB = 4096 pages, pfns 0..4095, all of them free: boot hands them to the buddy
allocator as 4096 / 1024 = 4 blocks of order 10 (MAX_ORDER - 1), at pfns 0, 1024, 2048 and
3072, each added at the list *tail* (FPI_TO_TAIL), so the list reads 0, 1024, 2048, 3072.
Every pageblock starts Movable, and GFP_HIGHUSER_MOVABLE asks for Movable pages, so nothing
here needs a fallback to another migratetype.  With ``pcp=False`` CPU 0 keeps its boot
pageset (high 0, batch 1): every block passes through its per-CPU list -- rmqueue_bulk()
moves one block there and it is popped at once; a freed block is pushed and drained at once
(nr_pcp_free() gives 1 when high < batch) -- so the buddy lists work as in the textbook.

The rules the expected values come from (Linux 6.1, mm/page_alloc.c):

* __rmqueue_smallest() takes the *first* block of the smallest non-empty list of order
  >= the request; expand() halves it, keeps the lower half and puts each upper half
  ``pfn + 2^(o-1)`` at the *head* of the list of order o - 1.
* __free_one_page() merges while the buddy ``pfn ^ (1 << order)`` is a free block of the
  same order; the merged block starts at ``pfn & buddy`` and is one order higher.
* The result goes to the list head (LIFO), unless buddy_merge_likely(): order < 9 and the
  buddy of the next bigger block, ``(pfn & ~(1 << order)) ^ (1 << (order + 1))``, is a free
  block of order + 1; then it goes to the tail, so that it is not handed out before it merges.
"""

from __future__ import annotations

from kmviz.engine.constants import MAX_ORDER, MIGRATE_MOVABLE, MIGRATE_TYPES, ZONE_MOVABLE
from kmviz.engine.events import (
    BlockSplit,
    BuddiesMerged,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)
from kmviz.engine.gfp import GFP_HIGHUSER_MOVABLE, gfp_migratetype, gfp_zone
from kmviz.engine.kernel import Kernel
from kmviz.engine.page import Page

GFP = GFP_HIGHUSER_MOVABLE
MOVABLE = MIGRATE_MOVABLE

# /proc/buddyinfo of the fresh machine: no free block below order 10, four of order 10
BOOT_BUDDYINFO = "Node 0, zone      DMA " + "     0 " * 10 + "     4 \n"


def new_machine() -> Kernel:
    return Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, pcp=False, memory_map="flat")


def free_lists(k: Kernel) -> dict[tuple[int, int], list[int]]:
    """Every non-empty free list of the DMA zone: ``{(order, migratetype): [pfn, ...]}``."""
    zone = k.zone("DMA")
    lists = {}
    for order in range(MAX_ORDER):
        for mt in range(MIGRATE_TYPES):
            pfns = list(k.buddy.free_list(zone, order, mt))
            if pfns:
                lists[order, mt] = pfns
    return lists


def movable(**blocks: list[int]) -> dict[tuple[int, int], list[int]]:
    """``movable(o3=[8], o10=[...])``: the expected Movable free lists, by order."""
    return {(int(name[1:]), MOVABLE): pfns for name, pfns in blocks.items()}


def alloc(k: Kernel, order: int) -> tuple[Page, list]:
    """alloc_pages(GFP_HIGHUSER_MOVABLE, order) and the events it caused."""
    start = len(k.history)
    page = k.alloc_pages(GFP, order)
    assert page is not None
    return page, k.history.since(start)


def free(k: Kernel, page: Page, order: int) -> list:
    """__free_pages(page, order) and the events it caused."""
    start = len(k.history)
    getattr(k, "__free_pages")(page, order)
    return k.history.since(start)


def split(pfn: int, order: int) -> BlockSplit:
    return BlockSplit(pfn, order, "DMA", MOVABLE)


def allocated(pfn: int, order: int) -> list:
    """The block leaves the buddy for CPU 0's list (rmqueue_bulk()) and is popped at once."""
    return [
        PagesAllocatedZoneLocked(pfn, order, MOVABLE, "DMA", True, 0),
        PagesAllocated(pfn, order, GFP, MOVABLE, "DMA", 0),
    ]


def freed(pfn: int, order: int) -> list:
    """The block is pushed on CPU 0's list and drained back to the buddy at once."""
    return [PagesFreed(pfn, order, "DMA", 0), PcpPagesDrained(pfn, order, MOVABLE, "DMA", 0)]


def merged(pfn: int, buddy_pfn: int, order: int) -> BuddiesMerged:
    return BuddiesMerged(pfn, buddy_pfn, order, "DMA", MOVABLE)


# --- the machine --------------------------------------------------------------------------------
def test_the_fresh_machine_is_one_dma_zone_of_four_order_10_blocks_in_pfn_order():
    k = new_machine()
    assert [z.name for z in k.zones] == ["DMA"]
    zone = k.zone("DMA")
    assert (zone.start_pfn, zone.end_pfn, zone.managed_pages, zone.free_pages) == (
        0, 4096, 4096, 4096,
    )  # fmt: skip
    # 4096 pages = 4 x 1024; freed lowest first, each to the tail
    assert free_lists(k) == movable(o10=[0, 1024, 2048, 3072])
    assert {k.pageblock_migratetype(pfn) for pfn in range(0, 4096, 512)} == {"Movable"}
    assert k.cat("/proc/buddyinfo") == BOOT_BUDDYINFO


def test_gfp_highuser_movable_may_use_zone_movable_and_so_every_zone_down_to_dma():
    k = new_machine()
    # __GFP_HIGHMEM | __GFP_MOVABLE selects ZONE_MOVABLE in GFP_ZONE_TABLE
    highest = gfp_zone(GFP, zone_dma=True, zone_dma32=False)
    assert highest == ZONE_MOVABLE
    # the zonelist is every populated zone at or below it, highest first: here just DMA
    assert [z.name for z in reversed(k.zones) if z.idx <= highest] == ["DMA"]
    assert gfp_migratetype(GFP) == MOVABLE  # (mask & GFP_MOVABLE_MASK) >> 3 == 0x8 >> 3
    page, _ = alloc(k, 0)
    assert page.zone == "DMA"


# --- the classic sequence: A (order 0), B (1), C (0), D (2), then free B, A, C, D -----------------
def allocate_abcd(k: Kernel) -> dict[str, tuple[Page, list]]:
    return {name: alloc(k, order) for name, order in (("A", 0), ("B", 1), ("C", 0), ("D", 2))}


def test_a_first_order_0_allocation_splits_the_order_10_block_at_pfn_0_all_the_way_down():
    k = new_machine()
    page, events = alloc(k, 0)
    # order 0..9 lists are empty; the first order-10 block is pfn 0. expand() halves it
    # ten times, keeping the lower half each time: 1024 -> 512 -> ... -> 1 page at pfn 0.
    assert page.pfn == 0
    assert events == [*(split(0, o) for o in range(10, 0, -1)), *allocated(0, 0)]
    # the upper halves: 0 + 2^(o-1) for o = 10..1, i.e. 512, 256, ..., 2, 1
    assert [e.buddy_pfn for e in events[:-2]] == [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
    assert free_lists(k) == movable(
        o0=[1], o1=[2], o2=[4], o3=[8], o4=[16], o5=[32], o6=[64], o7=[128], o8=[256],
        o9=[512], o10=[1024, 2048, 3072],
    )  # fmt: skip
    assert k.zone("DMA").free_pages == 4096 - 1


def test_b_order_1_takes_the_order_1_half_left_at_pfn_2_without_a_split():
    k = new_machine()
    alloc(k, 0)  # A
    page, events = alloc(k, 1)
    assert page.pfn == 2  # the order-1 list holds exactly pfn 2
    assert events == allocated(2, 1)
    assert (1, MOVABLE) not in free_lists(k)


def test_c_order_0_takes_pfn_1_the_buddy_of_a():
    k = new_machine()
    alloc(k, 0)  # A
    alloc(k, 1)  # B
    page, events = alloc(k, 0)
    assert page.pfn == 1  # the order-0 list holds exactly pfn 1 (= 0 ^ 1)
    assert events == allocated(1, 0)


def test_d_order_2_takes_pfn_4_and_leaves_orders_3_to_10_untouched():
    k = new_machine()
    blocks = allocate_abcd(k)
    page, events = blocks["D"]
    assert page.pfn == 4
    assert events == allocated(4, 2)
    # pfns 0..7 are taken: A=0, C=1, B=2-3, D=4-7; 4096 - 1 - 1 - 2 - 4 = 4088 pages free
    assert free_lists(k) == movable(
        o3=[8], o4=[16], o5=[32], o6=[64], o7=[128], o8=[256], o9=[512],
        o10=[1024, 2048, 3072],
    )  # fmt: skip
    assert k.zone("DMA").free_pages == 4088


def test_freeing_b_merges_nothing_because_its_buddy_a_is_allocated():
    k = new_machine()
    blocks = allocate_abcd(k)
    events = free(k, blocks["B"][0], 1)
    # buddy of pfn 2 at order 1: 2 ^ (1 << 1) = 0, which is A, in use
    assert events == freed(2, 1)
    assert free_lists(k)[1, MOVABLE] == [2]


def test_freeing_a_merges_nothing_because_its_buddy_c_is_allocated():
    k = new_machine()
    blocks = allocate_abcd(k)
    free(k, blocks["B"][0], 1)
    events = free(k, blocks["A"][0], 0)
    # buddy of pfn 0 at order 0: 0 ^ 1 = 1, which is C, in use
    assert events == freed(0, 0)
    assert free_lists(k)[0, MOVABLE] == [0]


def test_freeing_c_merges_with_a_then_with_b_into_an_order_2_block_at_pfn_0():
    k = new_machine()
    blocks = allocate_abcd(k)
    free(k, blocks["B"][0], 1)
    free(k, blocks["A"][0], 0)
    events = free(k, blocks["C"][0], 0)
    # order 0: buddy 1 ^ 1 = 0 (A, free)   -> block 1 & 0 = 0 of order 1
    # order 1: buddy 0 ^ 2 = 2 (B, free)   -> block 0 & 2 = 0 of order 2
    # order 2: buddy 0 ^ 4 = 4 (D, in use) -> stop
    assert events == [*freed(1, 0), merged(1, 0, 0), merged(0, 2, 1)]
    for event in events[2:]:
        assert event.buddy_pfn == event.pfn ^ (1 << event.order)
    assert free_lists(k) == movable(
        o2=[0], o3=[8], o4=[16], o5=[32], o6=[64], o7=[128], o8=[256], o9=[512],
        o10=[1024, 2048, 3072],
    )  # fmt: skip


def test_freeing_d_merges_eight_times_back_into_the_order_10_block_at_pfn_0():
    k = new_machine()
    blocks = allocate_abcd(k)
    for name, order in (("B", 1), ("A", 0), ("C", 0)):
        free(k, blocks[name][0], order)
    events = free(k, blocks["D"][0], 2)
    # order 2: buddy 4 ^ 4 = 0 (free, order 2)   -> block 0 of order 3
    # order o = 3..9: buddy 0 ^ 2^o = 2^o, the upper half expand() left there -> order o + 1
    # order 10 is MAX_ORDER - 1: nothing merges further
    assert events == [
        *freed(4, 2),
        merged(4, 0, 2),
        *(merged(0, 1 << o, o) for o in range(3, 10)),
    ]
    for event in events[2:]:
        assert event.buddy_pfn == event.pfn ^ (1 << event.order)
    # an order-10 block never goes to the tail (buddy_merge_likely needs order < 9): head
    assert free_lists(k) == movable(o10=[0, 1024, 2048, 3072])
    assert k.zone("DMA").free_pages == 4096


def test_after_the_classic_sequence_buddyinfo_is_exactly_the_boot_text():
    k = new_machine()
    boot = k.cat("/proc/buddyinfo")
    assert boot == BOOT_BUDDYINFO
    blocks = allocate_abcd(k)
    assert k.cat("/proc/buddyinfo") != boot
    for name, order in (("B", 1), ("A", 0), ("C", 0), ("D", 2)):
        free(k, blocks[name][0], order)
    assert k.cat("/proc/buddyinfo") == boot


# --- where a freed block goes on its list ---------------------------------------------------------
def test_lifo_the_most_recently_freed_order_0_block_is_handed_out_first():
    k = new_machine()
    # four order-0 allocations: 0 (splitting down, leaving 1, 2, 4, ...), 1 (the order-0
    # list), 2 (splitting the order-1 block 2 and leaving 3), 3
    pages = [alloc(k, 0)[0] for _ in range(4)]
    assert [p.pfn for p in pages] == [0, 1, 2, 3]
    # free 0: buddy 1 in use; next bigger buddy (0 & ~1) ^ 2 = 2 is in use   -> head
    free(k, pages[0], 0)
    # free 2: buddy 3 in use; next bigger buddy (2 & ~1) ^ 2 = 0 is free but of order 0,
    # not 1                                                                 -> head
    free(k, pages[2], 0)
    assert free_lists(k)[0, MOVABLE] == [2, 0]
    assert alloc(k, 0)[0].pfn == 2  # last in, first out
    assert alloc(k, 0)[0].pfn == 0


def test_a_freed_block_whose_next_bigger_buddy_is_free_goes_to_the_list_tail():
    k = new_machine()
    # eight order-0 allocations take pfns 0..7 (each split leaves the next ones on the lists)
    pages = [alloc(k, 0)[0] for _ in range(8)]
    assert [p.pfn for p in pages] == list(range(8))
    # free 4: buddy 5 in use; (4 & ~1) ^ 2 = 6 in use                      -> head: [4]
    free(k, pages[4], 0)
    # free 2 and 3: they merge into the order-1 block at 2 (its buddy 0 is in use)
    free(k, pages[2], 0)
    assert free(k, pages[3], 0) == [*freed(3, 0), merged(3, 2, 0)]
    assert free_lists(k)[0, MOVABLE] == [4]
    assert free_lists(k)[1, MOVABLE] == [2]
    # free 0: buddy 1 in use, so it stays order 0; but the buddy of the order-1 block it
    # belongs to, (0 & ~1) ^ 2 = 2, is a free order-1 block: once 1 comes back, 0-1 and
    # 2-3 merge, so buddy_merge_likely() puts 0 at the tail, behind 4
    assert free(k, pages[0], 0) == freed(0, 0)
    assert free_lists(k)[0, MOVABLE] == [4, 0]
    # and so the next order-0 request gets 4, not the block that is about to merge
    assert alloc(k, 0)[0].pfn == 4


def test_an_order_9_block_goes_to_the_head_even_when_its_next_bigger_buddy_is_free():
    # buddy_merge_likely() is false for order >= MAX_ORDER - 2 = 9
    k = new_machine()
    assert alloc(k, 10)[0].pfn == 0
    b, _ = alloc(k, 10)
    assert b.pfn == 1024  # order-10 list now: 2048, 3072
    assert alloc(k, 9)[0].pfn == 2048  # splits 2048: 2560 goes on the order-9 list
    y, _ = alloc(k, 9)
    assert y.pfn == 2560
    free(k, b, 10)  # order-10 list: 1024, 3072
    assert alloc(k, 9)[0].pfn == 1024  # splits 1024: order-9 list is [1536]
    # free 2560: buddy 2560 ^ 512 = 2048 in use, so it stays order 9; the buddy of its
    # order-10 block, (2560 & ~512) ^ 1024 = 3072, is a free order-10 block - at a lower
    # order that would send it to the tail, but order 9 goes to the head
    assert free(k, y, 9) == freed(2560, 9)
    assert free_lists(k)[9, MOVABLE] == [2560, 1536]


def test_a_freed_order_10_block_goes_to_the_head():
    # order 10 is MAX_ORDER - 1: no merging, and buddy_merge_likely() is false
    k = new_machine()
    a = alloc(k, 10)[0]
    assert [a.pfn, alloc(k, 10)[0].pfn, alloc(k, 10)[0].pfn] == [0, 1024, 2048]
    assert free(k, a, 10) == [PagesFreed(0, 10, "DMA")]  # not a pcp order: to the buddy
    assert free_lists(k)[10, MOVABLE] == [0, 3072]
