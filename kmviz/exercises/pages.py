"""Checks the predictions of lessons 00 and 01: page frames, pfns, orders, splits, buddies."""

from __future__ import annotations

from ..engine.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.events import (
    BlockSplit,
    BuddiesMerged,
    FallbackStolen,
    PagesAllocatedZoneLocked,
    PagesFreed,
)
from ..engine.gfp import GFP_KERNEL
from ..engine.kernel import Kernel
from ..engine.page import get_order
from . import AnswerError, Feedback, Question, as_int

MEM = "256MiB"  # the machine both lessons build ...
SEED = 0  # ... with this seed, so every number below is the one the lessons show
TOP = MAX_ORDER - 1  # 10: the largest order
KFREE_SIZE = 100  # bytes lesson 00 asks kmalloc() for and frees


def lesson_machine() -> Kernel:
    """A fresh ``Kernel("256MiB", seed=0, memory_map="flat")``, as lessons 00 and 01 boot it."""
    return Kernel(MEM, seed=SEED, memory_map="flat")


def pfn_of(addr: int) -> int:
    """The page frame of a direct-map address: ``(addr - PAGE_OFFSET) >> PAGE_SHIFT``."""
    return (addr - PAGE_OFFSET) >> PAGE_SHIFT


def call(k: Kernel, function, *args):
    """Run ``function(*args)`` on ``k``: (its result, the events it added to the history)."""
    start = len(k.history)
    result = function(*args)
    return result, k.history[start:]


def one_page(k: Kernel):
    """The lessons' call ``__get_free_pages(GFP_KERNEL, 0)`` on ``k``: (address, events)."""
    return call(k, k.get_free_pages, GFP_KERNEL, 0)


def count(events, kind) -> int:
    """How many of ``events`` are ``kind`` (BlockSplit, BuddiesMerged …)."""
    return sum(isinstance(event, kind) for event in events)


def _size(nbytes: int) -> str:
    """A size as the lessons write it: "20 KiB", "4 MiB", "100 bytes"."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} bytes"


def _kib(order: int) -> str:
    return _size(PAGE_SIZE << order)


def _pages(order: int) -> str:
    pages = 1 << order
    return f"{pages} page{'s' if pages > 1 else ''}"


def _nonnegative(answer) -> int:
    value = as_int(answer)
    if value < 0:
        raise AnswerError(f"{value} is negative: answer with a count of 0 or more")
    return value


# --- lesson 00 ---------------------------------------------------------------------------------
def page_frames() -> Question:
    """How many page frames the 256 MiB machine has."""
    k = lesson_machine()
    frames = k.mem // PAGE_SIZE
    mib = k.mem >> 20

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == frames:
            return Feedback(
                True,
                f"{mib} MiB / 4 KiB = {mib} × 1024 / 4 = {frames} frames, numbered 0 to "
                f"{frames - 1:#x}.",
            )
        if value == mib * 1024:
            return Feedback(False, f"{value} is the memory in KiB; a page holds 4 KiB of it.")
        if value == k.mem:
            return Feedback(False, f"{value} is the memory in bytes; a page holds 4096 of them.")
        if value == mib // 4:
            return Feedback(
                False,
                f"{value} counts 4 MiB pieces (order-10 blocks); a page is 4 KiB, 1024 times "
                "smaller.",
            )
        if value <= 0:
            return Feedback(False, "a machine with RAM has at least one page frame.")
        if value > frames:
            return Feedback(
                False,
                f"{value} frames of 4 KiB would be {value * 4} KiB, more than the {mib} MiB "
                f"({mib * 1024} KiB) this machine has.",
            )
        return Feedback(
            False,
            f"{value} frames would each hold about {k.mem / value / 1024:,.0f} KiB; a page "
            f"frame holds 4 KiB ({PAGE_SIZE} bytes).",
        )

    return Question(
        prompt=f"This machine has {mib} MiB of RAM, in pages of 4 KiB. How many page frames "
        "is that?",
        checker=checker,
        answer=str(frames),
        why=f"{mib} MiB = {mib * 1024} KiB, and every 4 KiB of it is one page frame: "
        f"{mib * 1024} / 4 = {frames}, pfn 0 to {frames - 1:#x}.",
    )


def pfn_of_address(phys: int = 0x1234567) -> Question:
    """Which page frame a physical address lies in: ``phys >> PAGE_SHIFT``."""
    pfn = phys >> PAGE_SHIFT
    offset = phys & (PAGE_SIZE - 1)

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == pfn:
            return Feedback(
                True,
                f"{phys:#x} >> 12 = {pfn:#x}: the last three hex digits ({offset:#05x}) are the "
                "offset inside the page, the rest is the pfn.",
            )
        if value == phys:
            return Feedback(False, "that is the address itself; a pfn counts pages, not bytes.")
        if value == pfn << PAGE_SHIFT:
            return Feedback(
                False,
                f"{value:#x} is where the frame starts (pfn << 12); the question asks for the "
                "frame's number.",
            )
        if value == phys << PAGE_SHIFT:
            return Feedback(
                False, "that shifts left: pfn << 12 goes from a frame to its address. Shift right."
            )
        for shift in range(1, 64):
            if shift != PAGE_SHIFT and value == phys >> shift and value:
                return Feedback(
                    False,
                    f"{value:#x} = {phys:#x} >> {shift}: pages are 2^12 bytes, so shift by "
                    f"PAGE_SHIFT = 12 bits, three hex digits.",
                )
        if value == phys // 1000:
            return Feedback(False, "a page is 4096 bytes (0x1000), not 1000: shift right by 12.")
        return Feedback(
            False,
            f"pfn = phys >> PAGE_SHIFT: drop the last three hex digits of {phys:#x}.",
        )

    return Question(
        prompt=f"Physical address {phys:#x} lies in which page frame? Give its pfn (hex is fine: "
        "0x…).",
        checker=checker,
        answer=hex(pfn),
        why=f"pfn = phys >> PAGE_SHIFT = {phys:#x} >> 12 = {pfn:#x}; the low 12 bits, "
        f"{offset:#x}, are the offset inside the page. The frame starts at {pfn << PAGE_SHIFT:#x}.",
    )


def order_for(size: int = 20 * 1024) -> Question:
    """The order a request of ``size`` bytes needs: get_order(size)."""
    order = get_order(size)
    pages_needed = -(-size // PAGE_SIZE)
    wanted = _size(size)

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == order:
            unused = (PAGE_SIZE << order) - size
            waste = f"; {_size(unused)} of it go unused." if unused else "."
            return Feedback(
                True,
                f"order {order} is {_pages(order)} = {_kib(order)}, the smallest power of two "
                f"that holds {wanted}{waste}",
            )
        if value < 0:
            return Feedback(False, "orders start at 0 (one page).")
        if value >= MAX_ORDER:
            return Feedback(
                False,
                f"there is no order {value}: the largest is {TOP} ({_pages(TOP)}, {_kib(TOP)}); "
                f"valid orders are below MAX_ORDER = {MAX_ORDER}.",
            )
        if value == 1 << order and value != order:
            return Feedback(
                False,
                f"{value} is the number of pages, 2^{order}; the order is the exponent.",
            )
        if value == pages_needed and value != order:
            return Feedback(
                False,
                f"{value} pages would be enough, but blocks come only in powers of two, and the "
                "order is the exponent of that power.",
            )
        if value < order:
            return Feedback(
                False, f"order {value} is {_pages(value)} = {_kib(value)}, too small for {wanted}."
            )
        return Feedback(
            False,
            f"order {value} ({_kib(value)}) holds {wanted}, but a smaller block does too: "
            "get_order() gives the smallest order that fits.",
        )

    return Question(
        prompt=f"A driver needs {wanted} of physically contiguous memory. What order does it "
        f"ask for, i.e. what does get_order({size}) return?",
        checker=checker,
        answer=str(order),
        why=f"{wanted} is {pages_needed} pages; blocks have 2^order pages, and the smallest "
        f"that holds {pages_needed} is 2^{order} = {1 << order} pages ({_kib(order)}).",
    )


def splits_for_first_page() -> Question:
    """How many splits the first __get_free_pages(GFP_KERNEL, 0) makes on the seeded machine."""
    k = lesson_machine()
    zone_name = "DMA32"
    free = k.buddyinfo()[zone_name]
    smallest = min(order for order, blocks in enumerate(free) if blocks)
    addr, events = one_page(k)
    first = next(i for i, event in enumerate(events) if isinstance(event, PagesAllocatedZoneLocked))
    splits = count(events[:first], BlockSplit)  # the first block of the batch: the page
    batch = count(events, PagesAllocatedZoneLocked)
    stolen = next(event for event in events if isinstance(event, FallbackStolen))
    taken = stolen.fallback_order

    def checker(answer) -> Feedback:
        value = _nonnegative(answer)
        if value == splits:
            return Feedback(
                True,
                f"DMA32's Unmovable free lists were empty, so __rmqueue_fallback() took a whole "
                f"order-{taken} block from the Movable lists (the largest, to claim its "
                f"pageblocks for unmovable memory), and expand() halved it {splits} times. "
                f"Then rmqueue_bulk() went on to fill CPU 0's per-CPU list: {batch} pages in "
                "all.",
            )
        if value == 0:
            return Feedback(
                False,
                f"no split needs a free order-0 block, and the {zone_name} line of buddyinfo "
                "shows none (its first count is 0).",
            )
        if value > TOP:
            return Feedback(
                False,
                f"at most {TOP}: the largest block is order {TOP}, and each split goes down one "
                "order.",
            )
        if free[value]:
            return Feedback(
                False,
                f"{value} split{'s' if value > 1 else ''} would cut down the order-{value} block "
                f"{zone_name} has free"
                + (", the smallest there is" if value == smallest else "")
                + ". That would be right if any free block could serve any request; but free "
                "lists are kept per migratetype, and GFP_KERNEL wants Unmovable memory.",
            )
        return Feedback(
            False,
            f"{value} split{'s' if value > 1 else ''} would start from an order-{value} block, "
            f"and {zone_name} has no "
            f"free order-{value} block (buddyinfo shows 0 in that column).",
        )

    return Question(
        prompt="The kernel calls __get_free_pages(GFP_KERNEL, 0) for one page. Judging by "
        "DMA32's rows of /proc/pagetypeinfo above, how many times will expand() cut a block "
        "in half before the first page is ready?",
        checker=checker,
        answer=str(splits),
        why=f"The smallest free block in {zone_name} is order {smallest}, but it sits on the "
        "Movable free lists, like all of DMA32's free memory right after the hand-over to "
        "the buddy allocator (pagetypeinfo's DMA32 rows). GFP_KERNEL memory is Unmovable "
        "and those lists were empty, "
        f"so the allocator stole an order-{taken} block, the largest, and split it {taken} → "
        f"{taken - 1} → … → 0: {splits} splits, keeping pfn {pfn_of(addr):#x}. Then "
        f"rmqueue_bulk() went on and took {batch - 1} more pages for CPU 0's per-CPU list.",
    )


def buddy_of(pfn: int = 0x3004, order: int = 2) -> Question:
    """The buddy of the order-``order`` block at ``pfn``: ``pfn ^ (1 << order)``."""
    if not 0 <= order < MAX_ORDER or pfn < 0 or pfn & ((1 << order) - 1):
        raise ValueError(f"no order-{order} block starts at pfn {pfn:#x}")
    size = 1 << order
    buddy = pfn ^ size
    upper = bool(pfn & size)
    half = "upper" if upper else "lower"
    where = "below" if upper else "above"

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == buddy:
            return Feedback(
                True,
                f"{pfn:#x} ^ (1 << {order}) = {pfn:#x} ^ {size:#x} = {buddy:#x}. Bit {order} of "
                f"{pfn:#x} is {int(upper)}, so it is the {half} half of its pair; joined, the "
                f"two make the order-{order + 1} block at {pfn & buddy:#x}.",
            )
        if value == pfn:
            return Feedback(False, "that is the block itself; its buddy is its other half.")
        if value == pfn ^ order and order != size:
            return Feedback(
                False,
                f"{value:#x} = {pfn:#x} ^ {order}: that flips the bits of the number {order}; "
                f"flip bit {order}, i.e. XOR with 1 << {order} = {size:#x}.",
            )
        if value in (pfn + size, pfn - size):
            return Feedback(
                False,
                f"{value:#x} is the neighbouring order-{order} block, but not its buddy: bit "
                f"{order} of {pfn:#x} is {int(upper)}, so it is the {half} half of its pair and "
                f"its buddy lies {where} it. pfn ^ (1 << order) picks the side for you.",
            )
        if value % size:
            return Feedback(
                False,
                f"{value:#x} is not a multiple of {size}: no order-{order} block starts there, "
                "and buddies are blocks of the same order.",
            )
        return Feedback(
            False,
            f"buddies differ in exactly one bit, bit {order}: buddy_pfn = pfn ^ (1 << order).",
        )

    return Question(
        prompt=f"What is the buddy of the order-{order} block at pfn {pfn:#x}, the block "
        "__free_one_page() would try to merge it with? (hex is fine: 0x…)",
        checker=checker,
        answer=hex(buddy),
        why=f"buddy_pfn = pfn ^ (1 << order) = {pfn:#x} ^ {size:#x} = {buddy:#x}: {pfn:#x} is "
        f"the {half} half of the order-{order + 1} block at {pfn & buddy:#x}, so its buddy is the "
        f"other half, {where} it.",
    )


def after_two_pages():
    """Lesson 01 up to its first free: (kernel, a, b), the two order-0 pages it holds."""
    k = lesson_machine()
    a, _ = one_page(k)
    b, _ = one_page(k)
    return k, a, b


def pcp_after_free() -> Question:
    """How many pages CPU 0's per-CPU list holds after lesson 01 frees its first page ``a``."""
    k, a, b = after_two_pages()
    zone = k.zone(k.pfn_to_page(pfn_of(a)).zone)
    cpu = k.smp_processor_id()
    before = zone.pcp_count[cpu]
    _, events = call(k, k.free_pages, a, 0)
    after = zone.pcp_count[cpu]
    merges = count(events, BuddiesMerged)
    pa, pb = pfn_of(a), pfn_of(b)

    def checker(answer_given) -> Feedback:
        value = _nonnegative(answer_given)
        if value == after:
            return Feedback(
                True,
                f"free_unref_page() pushed a on the head of the list: {before} + 1 = {after}. "
                f"{merges} merges, and /proc/buddyinfo does not change at all.",
            )
        if value == before:
            return Feedback(
                False,
                f"{before} is the count before the free; a freed single page goes onto this "
                "list, not to the buddy's free lists.",
            )
        if value == before - 1:
            return Feedback(False, "a free adds a page to the list; an allocation takes one.")
        return Feedback(
            False,
            f"the list held {before} pages (the batch of 15, less a and b). Where does a "
            "freed single page go?",
        )

    return Question(
        prompt=f"a (pfn {pa:#x}) and b (pfn {pb:#x}) are both allocated, and CPU 0's per-CPU "
        f"list of {zone.name} holds the other {before} pages of their batch. free_pages(a, 0) "
        "gives a back. How many pages does the list hold then?",
        checker=checker,
        answer=str(after),
        why=f"free_unref_page() puts a freed order-0 page on the head of the CPU's per-CPU "
        f"list: {before} + 1 = {after}. The buddy allocator never sees it, so nothing merges "
        "and /proc/buddyinfo stays as it was; the next single-page request on CPU 0 gets a "
        "back first.",
    )


def pages_back_after_kfree() -> Question:
    """How many pages kfree() of lesson 00's kmalloc(100) gives back: none, the slab stays."""
    k = lesson_machine()
    addr = k.kmalloc(KFREE_SIZE, GFP_KERNEL)
    cache = k.kmalloc_cache(f"kmalloc-{k.ksize(addr)}")
    _, freed = call(k, k.kfree, addr)
    back = count(freed, PagesFreed)
    slabs = len(cache.slabs)
    batch = k.zone("DMA32").pcp_batch
    why = (
        f"kfree() put the slot back on its slab's free list (one kfree event) and nothing "
        f"else: the slab, empty now, is {cache.name}'s only one and CPU 0's active slab, and "
        "SLUB keeps it for the next request of that size (an empty slab goes back to the page "
        "allocator only when the cache has enough of them, lesson 02). Its page stays with "
        "the slab; the rest of the batch stays on the per-CPU list."
    )

    def checker(answer) -> Feedback:
        value = _nonnegative(answer)
        if value == back:
            return Feedback(True, why)
        if value == 1:
            return Feedback(
                False,
                f"that would be the slab's page, if SLUB gave an empty slab back at once; it "
                f"keeps it: {cache.name} still has {slabs} slab after the kfree().",
            )
        if value in (batch, batch - 1):
            return Feedback(
                False,
                "the batch on CPU 0's per-CPU list is not touched by kfree(): it is the page "
                "allocator's, and only a drain gives it back to the buddy allocator.",
            )
        return Feedback(False, f"kfree() returns {KFREE_SIZE} bytes to a slab, not pages.")

    return Question(
        prompt=f"kfree() of the {KFREE_SIZE} bytes kmalloc() returned: how many pages go back "
        "to the buddy allocator?",
        checker=checker,
        answer=str(back),
        why=why,
    )
