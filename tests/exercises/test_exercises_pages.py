"""Lessons 00 and 01: the questions' feedback, the numbers their text states, their structure."""

import re
from pathlib import Path

import nbformat
import pytest
from lesson_cells import prose

from kmviz import (
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    MAX_ORDER,
    PAGE_OFFSET,
    PAGE_SHIFT,
    Kernel,
    events,
    get_order,
)
from kmviz.engine.constants import (
    FLAT_KERNEL_IMAGE_KIB,
    KERNEL_RESERVE_END,
    PAGE_SIZE,
    PHYSICAL_START,
    STRUCT_PAGE_SIZE,
)
from kmviz.exercises import Question, pages
from kmviz.lessons import LESSONS, badge
from kmviz.real import pagetypeinfo

ROOT = Path(__file__).resolve().parents[2]
START_HERE = ROOT / "notebooks" / "00-start-here.ipynb"
PAGES_AND_ORDERS = ROOT / "notebooks" / "01-pages-and-orders.ipynb"


def new_lines(k: Kernel, call, *args) -> list[str]:
    """The kernel-log lines ``call(*args)`` added."""
    before = len(k.dmesg().splitlines())
    call(*args)
    return [line.split("] ", 1)[1] for line in k.dmesg().splitlines()[before:]]


def dma32(k: Kernel) -> list[int]:
    return k.buddyinfo()["DMA32"]


BOOT_DMA32 = [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 52]


# --- the questions ---------------------------------------------------------------------------
def test_every_question_is_a_question_that_reveals_its_answer():
    for make in (
        pages.page_frames,
        pages.pages_back_after_kfree,
        pages.pfn_of_address,
        pages.order_for,
        pages.splits_for_first_page,
        pages.buddy_of,
        pages.pcp_after_free,
    ):
        question = make()
        assert isinstance(question, Question)
        assert question.check(question.answer).correct, make.__name__
        assert question.show_answer().startswith(question.answer + ". ")


def test_page_frames_divides_by_four_kib_and_names_the_unit_mistaken():
    question = pages.page_frames()
    assert question.answer == "65536"
    right = question.check("65536")
    assert right.correct and "numbered 0 to 0xffff" in right.message
    assert "memory in KiB" in question.check(262144).message
    assert "memory in bytes" in question.check(256 << 20).message
    assert "order-10 blocks" in question.check(64).message
    assert "more than the 256 MiB" in question.check(1 << 20).message
    assert "about 16 KiB" in question.check(16384).message
    assert not question.check("lots").correct


def test_pages_back_after_kfree_is_none_because_the_slab_stays():
    question = pages.pages_back_after_kfree()
    assert question.answer == "0"
    assert "kfree() of the 100 bytes" in question.prompt
    right = question.check("0")
    assert right.correct and "kmalloc-128's only one" in right.message
    assert "still has 1 slab after the kfree()" in question.check(1).message
    assert "only a drain gives it back" in question.check(15).message
    assert "negative" in question.check(-1).message


def test_pages_and_orders_shows_the_migratetypes_before_asking_about_them():
    sources = [cell.source for cell in nbformat.read(PAGES_AND_ORDERS, as_version=4).cells]
    shown = sources.index(
        "PageTypes(k)  # /proc/pagetypeinfo of the machine as it is now, just booted"
    )
    assert shown < sources.index("pages.splits_for_first_page()")
    text = prose(PAGES_AND_ORDERS)
    k = pages.lesson_machine()
    info = pagetypeinfo(k.cat("/proc/pagetypeinfo"))
    assert list(info.free("DMA", "Unmovable")) == [0] * 8 + [1, 0, 0]
    assert list(info.free("DMA32", "Unmovable")) == [0] * 11
    assert k.block_at(0x100) == (0x100, 8, "free") and k.block_at(0xFF)[2] == "hole"
    assert "(0x100–0x1ff) is this machine's only Unmovable free memory" in text
    assert "Every free block of DMA32 is on the Movable lists" in text
    assert "right after the hand-over to the buddy allocator (pagetypeinfo's DMA32 rows)" in (
        pages.splits_for_first_page().why
    )


def test_pfn_of_address_shifts_by_twelve():
    question = pages.pfn_of_address(0x1234567)
    assert question.answer == "0x1234"
    right = question.check("0x1234")
    assert right.correct and "(0x567) are the offset" in right.message
    assert question.check(4660).correct  # decimal is the same number
    assert "shift by PAGE_SHIFT = 12 bits" in question.check("0x12345").message
    assert ">> 16" in question.check("0x123").message
    assert "address itself" in question.check("0x1234567").message
    assert "where the frame starts" in question.check("0x1234000").message
    assert "Shift right" in question.check(0x1234567 << 12).message


def test_order_for_20_kib_is_3_and_each_wrong_order_is_explained():
    question = pages.order_for(20 * 1024)
    assert question.answer == "3"
    assert "20 KiB" in question.prompt
    right = question.check("3")
    assert right.correct and "8 pages = 32 KiB" in right.message
    assert "12 KiB of it go unused" in right.message
    assert question.check(2).message == "order 2 is 4 pages = 16 KiB, too small for 20 KiB."
    assert "number of pages, 2^3" in question.check(8).message
    assert "only in powers of two" in question.check(5).message
    assert "smallest order that fits" in question.check(4).message
    assert "no order 11" in question.check(11).message
    assert "start at 0" in question.check(-1).message


def test_order_for_a_size_that_fills_its_block_wastes_nothing():
    question = pages.order_for(4096)
    assert question.answer == "0"
    assert question.check(0).message.endswith("holds 4 KiB.")
    assert pages.order_for(1 << 20).answer == str(get_order(1 << 20)) == "8"


def test_splits_for_first_page_is_ten_because_of_the_migratetype_fallback():
    question = pages.splits_for_first_page()
    assert question.answer == "10"
    right = question.check("10")
    assert right.correct and "__rmqueue_fallback()" in right.message
    assert "15 pages in all" in right.message
    smallest = question.check(5)
    assert not smallest.correct
    assert "the order-5 block DMA32 has free, the smallest there is" in smallest.message
    assert "kept per migratetype" in smallest.message
    assert "per migratetype" in question.check(9).message
    assert "no free order-3 block" in question.check(3).message
    assert "1 split would" in question.check(1).message
    assert "shows none" in question.check(0).message
    assert "at most 10" in question.check(12).message
    assert "pfn 0x3000" in question.why


def test_buddy_of_flips_bit_order():
    question = pages.buddy_of(0x3004, 2)
    assert question.answer == "0x3000"
    right = question.check("0x3000")
    assert right.correct and "upper half" in right.message
    assert "order-3 block at 0x3000" in right.message
    assert "neighbouring order-2 block" in question.check("0x3008").message
    assert "lies below it" in question.check("0x3008").message
    assert "XOR with 1 << 2 = 0x4" in question.check("0x3006").message
    assert "not a multiple of 4" in question.check("0x3001").message
    assert "the block itself" in question.check("0x3004").message
    assert "differ in exactly one bit" in question.check("0x2000").message


def test_buddy_of_a_lower_half_lies_above():
    question = pages.buddy_of(0x2A0, 2)
    assert question.answer == "0x2a4"
    assert "lies above it" in question.check("0x29c").message
    with pytest.raises(ValueError, match="no order-2 block starts at pfn 0x2a2"):
        pages.buddy_of(0x2A2, 2)


def test_pcp_after_free_counts_a_pushed_on_the_per_cpu_list():
    question = pages.pcp_after_free()
    assert question.answer == "14"
    assert "a (pfn 0x3000) and b (pfn 0x3001)" in question.prompt
    assert "holds the other 13 pages" in question.prompt
    right = question.check(14)
    assert right.correct and "13 + 1 = 14" in right.message and "0 merges" in right.message
    assert "count before the free" in question.check(13).message
    assert "an allocation takes one" in question.check(12).message
    assert "Where does a freed single page go?" in question.check(30).message


# --- lesson 00: the numbers its text states ----------------------------------------------------
def test_start_here_numbers_hold_on_the_seeded_machine():
    text = prose(START_HERE)
    k = pages.lesson_machine()
    assert k.mem == 256 << 20 and [z.name for z in k.zones] == ["DMA", "DMA32"]
    assert dma32(k) == BOOT_DMA32
    # the free lists at boot: DMA32 all Movable, DMA's first pageblock Unmovable (pfn 0 no RAM)
    boot = pagetypeinfo(k.cat("/proc/pagetypeinfo"))
    assert list(boot.free("DMA32", "Unmovable")) == [0] * 11
    assert list(boot.free("DMA32", "Movable")) == BOOT_DMA32
    assert boot.free("DMA", "Unmovable")[8] == 1 and k.block_at(0)[2] == "hole"
    assert "DMA32's free memory is 52 order-10 blocks" in text
    assert "such as DMA's first, which stays Unmovable" in text
    boot_log = k.dmesg()
    assert "Memory: 230784K/261752K available" in boot_log and "30968K reserved" in boot_log
    assert 230784 // 1024 == 225
    for phrase in ("Memory: 230784K/261752K available", "about 225 MiB", "30968K reserved"):
        assert phrase in text
    assert round(FLAT_KERNEL_IMAGE_KIB / 1024) == 30 and "a 30 MiB kernel image" in text
    # issue 17 item 17: what a real boot reserves, the struct page array first of all
    pc = Kernel("256MiB", seed=0, memory_map="pc")
    assert "62048K reserved" in pc.dmesg() and "`62048K reserved`" in text
    memmap = sum(e - s for s, e, what in pc.memblock_reserved if what == "struct page array")
    assert memmap == (256 << 20) // PAGE_SIZE * STRUCT_PAGE_SIZE == 4 << 20
    assert "64 bytes for each of the 65,536 page frames: 4 MiB" in text
    assert (KERNEL_RESERVE_END - PHYSICAL_START) >> 20 == 52 and "52 MiB kernel image" in text

    # one kmalloc(100) through every layer
    p, added = pages.call(k, k.kmalloc, pages.KFREE_SIZE, GFP_KERNEL)
    assert p == 0xFFFF888003000000 and pages.pfn_of(p) == 0x3000 and k.ksize(p) == 128
    assert (p - PAGE_OFFSET) >> 20 == 48
    assert "the 28 bytes" in text and "32 slots of 128 bytes" in text
    assert k.kmalloc_cache("kmalloc-128").objects == 32
    assert isinstance(added[0], events.FallbackStolen) and added[0].fallback_order == 10
    first = next(i for i, e in enumerate(added) if isinstance(e, events.PagesAllocatedZoneLocked))
    assert pages.count(added[:first], events.BlockSplit) == 10
    assert pages.count(added, events.BlockSplit) == 10 + 11  # "11 more splits"
    batch = [e.pfn for e in added if isinstance(e, events.PagesAllocatedZoneLocked)]
    assert batch == list(range(0x3000, 0x300F)) and k.zone("DMA32").pcp_batch == 15
    slab = next(e for e in added if isinstance(e, events.SlabCreated))
    assert (slab.cache, slab.pfn, slab.order) == ("kmalloc-128", 0x3000, 0)
    assert k.zone("DMA32").pcp_count[0] == 14
    assert "a **batch** of 15 pages" in text
    assert "The next 14 pages of the batch took 11 more splits" in text
    assert "split** the 4 MiB block ten times" in text and "the page at pfn 0x3000" in text
    # order 10 lost one, orders 4-9 gained one, pfn 0x300f is the one free order-0 block
    assert dma32(k) == [1, 0, 0, 0, 1, 2, 2, 1, 1, 2, 51]
    assert k.block_at(0x300F) == (0x300F, 0, "free")
    assert "orders 4 to 9 each gained its upper half" in text
    assert "pfn 0x300f, the single free order-0 block" in text
    after = pagetypeinfo(k.cat("/proc/pagetypeinfo"))
    assert list(after.free("DMA32", "Unmovable")) == [1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0]
    assert [b.counts["Unmovable"] for b in after.blocks if b.zone == "DMA32"] == [2]
    assert "in the 2 pageblocks the steal took over" in text

    # the map of the split block
    assert k.block_at(0x3000)[2] == "allocated"
    assert all(k.block_at(pfn) == (pfn, 0, "pcp") for pfn in range(0x3001, 0x300F))
    assert "the 14 cyan" in text and "the free page 0x300f" in text
    assert "16, 32 … 512 pages" in text
    # the physical map's landmarks
    assert k.block_at(0)[2] == "hole" and k.block_at(0x9F)[2] == "hole"
    assert k.block_at(0xFF)[2] == "hole" and k.block_at(0x100)[2] == "free"
    assert all(k.block_at(pfn)[2] == "reserved" for pfn in (0x1, 0x9E, 0x1000, 0x2D9F))
    assert k.block_at(0x2DA0)[2] == "free"
    assert "(pfn 0x9f–0xff)" in text and "From 16 MiB (pfn 0x1000) to pfn 0x2d9f" in text

    # kfree(): one event, the slab stays
    _, freed = pages.call(k, k.kfree, p)
    assert [type(e) for e in freed] == [events.ObjectFreed]
    assert len(k.kmalloc_cache("kmalloc-128").slabs) == 1 and "One `kfree` event" in text


# --- lesson 01: the numbers its text states ----------------------------------------------------
def test_pages_and_orders_numbers_hold_on_the_seeded_machines():
    text = prose(PAGES_AND_ORDERS)
    assert 0x2A4 << PAGE_SHIFT == 0x2A4000
    assert "pfn 0x2a4 starts at physical address 0x2a4000" in text
    assert f"{PAGE_OFFSET:#x}" == "0xffff888000000000" and "0xffff888000000000" in text
    assert MAX_ORDER == 11 and "`MAX_ORDER` = 11" in text
    assert (4096 << get_order(20 * 1024)) - 20 * 1024 == 12 * 1024
    assert "12 KiB of the 32 KiB block" in text

    # zones
    k = pages.lesson_machine()
    assert "Normal   empty" in k.dmesg() and "256 MiB has no Normal zone" in text
    big = Kernel("6GiB", seed=0, memory_map="flat")
    assert [z.name for z in big.zones] == ["DMA", "DMA32", "Normal"]
    assert big.zone("DMA").end_pfn == 0x1000 and big.zone("DMA32").end_pfn == 0x100000
    assert "(pfn < 0x1000)" in text and "(pfn < 0x100000)" in text
    zones = [big.alloc_pages(gfp, 0).zone for gfp in (GFP_KERNEL, GFP_KERNEL | GFP_DMA32,
                                                        GFP_KERNEL | GFP_DMA)]  # fmt: skip
    assert zones == ["Normal", "DMA32", "DMA"]

    # buddyinfo at boot, and why it looks like that
    assert dma32(k) == BOOT_DMA32 and "`0 0 0 0 0 1 1 0 0 1 52`" in text
    assert "52 × 4 MiB = 208 MiB" in text
    assert [k.block_at(pfn) for pfn in (0x2DA0, 0x2DC0, 0x2E00)] == [
        (0x2DA0, 5, "free"), (0x2DC0, 6, "free"), (0x2E00, 9, "free"),
    ]  # fmt: skip
    assert k.block_at(0x2D9F)[2] == "reserved"
    assert all(k.block_at(pfn) == (pfn, 10, "free") for pfn in range(0x3000, 0x10000, 0x400))
    assert (0x10000 - 0x3000) // 0x400 == 52
    for phrase in ("order-5 block at 0x2da0", "order-6 block at 0x2dc0", "order-9 block at 0x2e00"):
        assert phrase in text

    # the first page: a fallback and ten splits, then the rest of a batch of 15
    a, added = pages.one_page(k)
    assert isinstance(added[0], events.FallbackStolen) and added[0].fallback_order == 10
    first = next(i for i, e in enumerate(added) if isinstance(e, events.PagesAllocatedZoneLocked))
    assert pages.count(added[:first], events.BlockSplit) == 10 and pages.pfn_of(a) == 0x3000
    assert pages.count(added, events.BlockSplit) == 21  # "11 more splits"
    batch = [e.pfn for e in added if isinstance(e, events.PagesAllocatedZoneLocked)]
    assert batch == list(range(0x3000, 0x300F))
    splits = [e for e in added if isinstance(e, events.BlockSplit)]
    assert (splits[10].pfn, splits[10].order) == (0x3002, 1)  # "0x3002 (... split once more)"
    assert dma32(k) == [1, 0, 0, 0, 1, 2, 2, 1, 1, 2, 51]
    assert "Ten splits, not five" in text and "kept pfn 0x3000" in text
    assert "`mm_page_alloc_extfrag`" in text and "(512 pages, 2 MiB each)" in text
    assert "refilled it with a **batch** of 15 pages" in text and "11 more splits" in text
    assert "orders 4 to 9 gained the upper halves" in text
    other = pages.lesson_machine()
    movable, moved = pages.call(other, other.get_free_pages, GFP_HIGHUSER_MOVABLE, 0)
    first_split = next(e for e in moved if isinstance(e, events.BlockSplit))
    assert pages.pfn_of(movable) == 0x2DA0 and (first_split.pfn, first_split.order) == (0x2DA0, 5)
    assert k.zone("DMA32").pcp_batch == 15 and "a 1 GiB machine's DMA32 takes 63" in text
    assert Kernel("1GiB", seed=0, memory_map="flat").zone("DMA32").pcp_batch == 63

    b, added = pages.one_page(k)
    assert pages.pfn_of(b) == 0x3001 and pages.count(added, events.BlockSplit) == 0
    assert [type(e) for e in added] == [events.PagesAllocated] and added[0].cpu == 0
    assert "pfn 0x3001 first" in text and "no split at all" in text

    # the map of the split block: a, b, 13 pages on the list, 0x300f free, then 16 … 512
    assert k.block_at(0x3000)[1:] == (0, "allocated") and k.block_at(0x3001)[1:] == (0, "allocated")
    assert all(k.block_at(pfn) == (pfn, 0, "pcp") for pfn in range(0x3002, 0x300F))
    assert k.block_at(0x300F) == (0x300F, 0, "free")
    for order in range(4, 10):
        assert k.block_at(1 << order | 0x3000) == (0x3000 + (1 << order), order, "free")
    assert "the 13 other pages of the batch" in text and "the one free page 0x300f" in text
    assert "16, 32 … 512 pages" in text and "64 to a row" in text

    # buddies
    assert k.block_at(0x3010) == (0x3010, 4, "free") and 0x3010 ^ (1 << 4) == 0x3000
    assert "order-4 block at 0x3010 on `free_area[4]`" in text
    assert "the 13 pages on the per-CPU list and the free page 0x300f" in text
    before = dma32(k)
    _, freed = pages.call(k, k.free_pages, a, 0)
    assert [type(e) for e in freed] == [events.PagesFreed] and dma32(k) == before
    assert k.zone("DMA32").pcp_count[0] == 14
    assert "One `mm_page_free`, no merge, and buddyinfo did not change" in text
    assert "280 here" in text and k.zone("DMA32").pcp_high == 280
    _, freed = pages.call(k, k.free_pages, b, 0)
    _, drained = pages.call(k, k.drain_all_pages)
    assert pages.count(drained, events.PcpPagesDrained) == 15
    assert pages.count(drained, events.BuddiesMerged) == 21 and dma32(k) == BOOT_DMA32
    assert "Fifteen `mm_page_pcpu_drain` lines, 21 merges, and DMA32's line is what it was" in text

    # mistakes
    double = new_lines(k, k.free_pages, a, 0)
    assert "refcount:0 mapcount:-128" in double[0] and double[0].endswith("pfn:0x3000")
    assert double[6] == "kernel BUG at include/linux/mm.h:780!"
    c, added = pages.call(k, k.get_free_pages, GFP_KERNEL, 4)
    assert pages.pfn_of(c) == 0x3000
    too_small = new_lines(k, k.free_pages, c, 0)
    assert "Linux would free 1 of its 16 pages" in too_small[1]
    too_big = new_lines(k, k.free_pages, c, 5)
    assert too_big[0] == "BUG: Bad page state in process insmod  pfn:03010"
    assert too_big[5] == "page dumped because: nonzero mapcount"
    assert "`BUG: Bad page state in process insmod pfn:03010`" in text
    assert new_lines(k, k.free_pages, c, 4) == [] and dma32(k) == BOOT_DMA32
    # the same double free on Debian's stock configuration: silence, then a bad page later
    config = (
        "config: {} (CONFIG_DEBUG_ATOMIC_SLEEP={y} CONFIG_DEBUG_PREEMPT={y} CONFIG_DEBUG_VM={y})"
    )
    assert k.dmesg().splitlines()[0].endswith(config.format("debug", y="y"))
    assert f"`{config.format('debug', y='y')}`" in text
    stock = Kernel("256MiB", seed=0, config="debian", memory_map="flat")
    assert stock.dmesg().splitlines()[0].endswith(config.format("debian", y="n"))
    x = stock.get_free_pages(GFP_KERNEL, 0)
    stock.free_pages(x, 0)
    assert new_lines(stock, stock.free_pages, x, 0) == [] and "Silence: the count went" in text
    # the next allocation pops x off CPU 0's per-CPU list, unchecked (check_new_pcp())
    assert new_lines(stock, lambda: stock.get_free_pages(GFP_KERNEL, 0) == x) == []
    assert stock.history[-1].pfn == pages.pfn_of(x) and "so `y` is `x`" in text
    # a drain takes it off the per-CPU list: bulkfree_pcp_prepare() catches it
    again = Kernel("256MiB", seed=0, config="debian", memory_map="flat")
    x = again.get_free_pages(GFP_KERNEL, 0)
    again.free_pages(x, 0)
    again.free_pages(x, 0)
    drained = new_lines(again, again.drain_all_pages)
    assert drained[0].startswith("BUG: Bad page state in process insmod")
    assert "page dumped because: nonzero _refcount" in drained
    assert "`BUG: Bad page state … nonzero _refcount`" in text
    assert "`bulkfree_pcp_prepare()`" in text and "`check_pcp_refill()`" in text
    # freed twice after a drain, the page is in the buddy: the refill's check_pcp_refill()
    late = Kernel("256MiB", seed=0, config="debian", memory_map="flat")
    x = late.get_free_pages(GFP_KERNEL, 0)
    late.free_pages(x, 0)
    late.drain_all_pages()
    late.free_pages(x, 0)
    refill = new_lines(late, late.get_free_pages, GFP_KERNEL, 0)
    assert refill[0].startswith("BUG: Bad page state in process insmod")
    assert "page dumped because: nonzero _refcount" in refill
    warning = new_lines(k, lambda: k.alloc_pages(GFP_KERNEL, 11))
    assert warning[1].startswith("WARNING: CPU: 0 PID: 1234 at mm/page_alloc.c:5634 __alloc_pages")
    assert "mm/page_alloc.c, L5634" in text


# --- both lessons: what every lesson must have -------------------------------------------------
@pytest.mark.parametrize("path", [START_HERE, PAGES_AND_ORDERS], ids=lambda p: p.stem)
def test_lesson_opens_with_title_badge_time_and_imports(path):
    notebook = nbformat.read(path, as_version=4)
    name = path.stem
    first, imports = notebook.cells[0], notebook.cells[1]
    lines = first.source.splitlines()
    assert lines[0] == f"# {name[:2]} · {LESSONS[name]}"
    assert badge(name) in lines
    assert re.match(r"About \d+ minutes\. You will learn ", lines[-1])
    assert imports.cell_type == "code" and imports.source.startswith("from kmviz import *")
    assert "from kmviz.exercises import pages" in imports.source
    assert notebook.metadata.kernelspec == {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    questions = sum(cell.source.startswith("pages.") for cell in code)
    assert questions >= (2 if name == "00-start-here" else 3)


@pytest.mark.parametrize("path", [START_HERE, PAGES_AND_ORDERS], ids=lambda p: p.stem)
def test_browser_check_names_classes_the_widgets_really_have(path):
    check = nbformat.read(path, as_version=4).metadata.kmviz.browser_check
    sources = "".join(p.read_text() for p in (ROOT / "kmviz" / "widgets").glob("*.py"))
    for selector in (check.click, check.changes):
        assert re.fullmatch(r"\.[a-z-]+", selector)
        assert f'"{selector[1:]}"' in sources, selector
