"""Plain-Python reference allocators that hand out page frame numbers, objects and areas.

The yardsticks of the speed issue: the simplest correct Python a student would write for each
allocator, run in the same process on the same seeded operations as kmviz, so a benchmark
prints kmviz's speed as a ratio to them (these machines are too noisy for absolute figures).
They keep no history, no events, no statistics and no kernel rules; kmviz does all of that,
so a ratio of 1.0 means kmviz pays for its fidelity by being as clever as the naive code is
simple.
"""

from __future__ import annotations

import bisect

PAGE_SHIFT = 12
MAX_ORDER = 10  # the largest block is 2^10 pages, as in Linux 6.1


class DictBuddy:
    """A binary buddy allocator over pfns 0..nr_pages-1: one set of free block heads per order."""

    def __init__(self, nr_pages: int):
        self.free: list[set[int]] = [set() for _ in range(MAX_ORDER + 1)]
        step = 1 << MAX_ORDER
        self.free[MAX_ORDER].update(range(0, nr_pages - nr_pages % step, step))

    def alloc(self, order: int) -> int | None:
        """The first pfn of a free 2^order block, splitting a larger one if needed; None if none."""
        for found in range(order, MAX_ORDER + 1):
            if self.free[found]:
                pfn = self.free[found].pop()
                for lower in range(found - 1, order - 1, -1):  # keep the lower half: expand()
                    self.free[lower].add(pfn + (1 << lower))
                return pfn
        return None

    def release(self, pfn: int, order: int) -> None:
        """Give the block back, merging it with its buddy while the buddy is free too."""
        while order < MAX_ORDER:
            buddy = pfn ^ (1 << order)  # 8 ^ 2 == 10: the order-1 buddy of pfn 8 is pfn 10
            if buddy not in self.free[order]:
                break
            self.free[order].remove(buddy)
            pfn &= ~(1 << order)
            order += 1
        self.free[order].add(pfn)


# kmalloc's size classes in bytes (6.1 with 8-byte minimum alignment, 96 and 192 included)
SIZE_CLASSES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


class SizeClassSlab:
    """Objects of fixed sizes carved from buddy pages; a list of free addresses per size class.

    A slab is 8 objects' worth of pages (at least one page); empty slabs are never given back.
    Requests above the largest class go to the buddy allocator, as large kmalloc does.
    """

    def __init__(self, buddy: DictBuddy):
        self.buddy = buddy
        self.free: dict[int, list[int]] = {size: [] for size in SIZE_CLASSES}
        self.size_of: dict[int, int] = {}  # every object handed out -> its class (0: pages)

    def alloc(self, size: int) -> int | None:
        """An object of at least ``size`` bytes: its address, or None when memory is out."""
        index = bisect.bisect_left(SIZE_CLASSES, size)
        if index == len(SIZE_CLASSES):
            order = max(0, (size - 1).bit_length() - PAGE_SHIFT)
            pfn = self.buddy.alloc(order)
            if pfn is None:
                return None
            self.size_of[pfn << PAGE_SHIFT] = -order - 1
            return pfn << PAGE_SHIFT
        klass = SIZE_CLASSES[index]
        free = self.free[klass]
        if not free:
            order = max(0, (8 * klass - 1).bit_length() - PAGE_SHIFT)
            pfn = self.buddy.alloc(order)
            if pfn is None:
                return None
            start = pfn << PAGE_SHIFT
            free.extend(range(start + (((1 << order) << PAGE_SHIFT) // klass - 1) * klass,
                              start - 1, -klass))  # fmt: skip
        addr = free.pop()
        self.size_of[addr] = klass
        return addr

    def release(self, addr: int) -> None:
        """Give an object back to its class (or its pages back to the buddy allocator)."""
        klass = self.size_of.pop(addr)
        if klass < 0:
            self.buddy.release(addr >> PAGE_SHIFT, -klass - 1)
        else:
            self.free[klass].append(addr)


class ListVmalloc:
    """Virtually contiguous areas of single pages: a sorted list of areas, first fit in the gaps.

    Each area is followed by a guard page, as vmalloc's are; finding a gap walks the list.
    """

    def __init__(self, buddy: DictBuddy, start: int, end: int):
        self.buddy = buddy
        self.start, self.end = start, end
        self.areas: list[tuple[int, int, list[int]]] = []  # (address, bytes with guard, pfns)

    def alloc(self, size: int) -> int | None:
        """The address of ``size`` bytes mapped page by page, or None when out of pages or space."""
        pages = -(-size >> PAGE_SHIFT)
        span = (pages + 1) << PAGE_SHIFT  # the guard page
        addr = self.start
        for area_addr, area_span, _ in self.areas:
            if area_addr - addr >= span:
                break
            addr = area_addr + area_span
        if addr + span > self.end:
            return None
        pfns = []
        for _ in range(pages):
            pfn = self.buddy.alloc(0)
            if pfn is None:
                for taken in pfns:
                    self.buddy.release(taken, 0)
                return None
            pfns.append(pfn)
        bisect.insort(self.areas, (addr, span, pfns))
        return addr

    def release(self, addr: int) -> None:
        """Unmap the area at ``addr`` and give its pages back."""
        index = bisect.bisect_left(self.areas, (addr,))
        _, _, pfns = self.areas.pop(index)
        for pfn in pfns:
            self.buddy.release(pfn, 0)
