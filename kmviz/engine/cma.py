"""The contiguous memory allocator (CMA): a boot-time area lent to movable pages, in pages.

``Kernel(cma="64MiB")`` is the ``cma=64M`` boot option of a kernel built with CONFIG_CMA.
setup_arch() reserves the area from memblock (dma_contiguous_reserve() →
cma_declare_contiguous(), aligned to 4 MiB: top-down below 4 GiB, or bottom-up from 4 GiB on a
machine with RAM above 4 GiB + the size), and at core_initcall cma_init_reserved_areas() gives
it to the buddy allocator as MIGRATE_CMA pageblocks.  Only movable allocations may use them
(``ALLOC_CMA``: page cache, user memory), and they prefer them once more than half of a zone's
free pages are CMA; so the area is not wasted while no driver needs it.

``cma_alloc(count)`` takes ``count`` contiguous pages of the area whenever a driver asks:
alloc_contig_range() isolates the pageblocks, migrates the movable pages out, and takes the
range once every page in it is free.  A page that cannot migrate (a page pinned with
``pin_user_pages()`` while it sits there) makes the range busy (-EBUSY): cma_alloc() tries the
next aligned range and finally prints "cma_alloc: reserved: alloc failed".
"""

from __future__ import annotations

from array import array
from itertools import filterfalse

from .buddy import ANON_PAGE, FILE_PAGE, OWNER_NONE, TAIL
from .constants import (
    MAX_ORDER,
    MAX_ORDER_NR_PAGES,
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
)
from .events import CmaAllocated, CmaAllocationFailed, CmaReleased, PageMigrated
from .gfp import __GFP_MOVABLE, __GFP_NOWARN, __GFP_RETRY_MAYFAIL, GFP_HIGHUSER_MOVABLE
from .page import Page, format_size, parse_size
from .printk import KERN_ERR, KERN_INFO

CMA_ALIGN_PAGES = MAX_ORDER_NR_PAGES  # PAGE_SIZE << max(MAX_ORDER - 1, pageblock_order): 4 MiB
EBUSY, ENOMEM = 16, 12
CONTIG_MIGRATE_TRIES = 5  # __alloc_contig_migrate_range(): "tries == 5" before -EBUSY
# alloc_migration_target(): where the pages leaving the range go
GFP_MIGRATION_TARGET = GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL | __GFP_NOWARN
GFP_LONGTERM_TARGET = GFP_MIGRATION_TARGET & ~__GFP_MOVABLE  # GFP_USER: never a CMA page
FOUR_GIB_PFN = 1 << (32 - PAGE_SHIFT)


def cma_pages(value) -> int:
    """Pages of the ``cma=`` option: None or 0 for none, else bytes or "64MiB", 4 MiB-aligned.

    cma_declare_contiguous_nid() rounds the size up to its 4 MiB alignment; anything that is
    not a size is a TypeError/ValueError naming the option.
    """
    if value is None:
        return 0
    try:
        size = parse_size(value)
    except (TypeError, ValueError) as bad:
        raise type(bad)(f"cma= takes a size such as '64MiB' (or None), not {value!r}") from None
    if size < 0:
        raise ValueError(f"cma= must be a size of 0 or more bytes, not {value!r}")
    pages = -(-size // PAGE_SIZE)
    return -(-pages // CMA_ALIGN_PAGES) * CMA_ALIGN_PAGES


class CmaAPI:
    """Mixin for Kernel: the CMA area, cma_alloc(), cma_release(), alloc_contig_range()."""

    def _cma_reserve(self, pages: int) -> None:
        """dma_contiguous_reserve() in setup_arch(): memblock keeps the area; log its place."""
        self.cma_base = self.cma_count = 0
        if not pages:
            return
        base = self._cma_find(pages)
        mib = pages * PAGE_SIZE >> 20
        if base is None:
            self._printk(KERN_ERR, f"cma: Failed to reserve {mib} MiB", at_ns=0)
            return
        self.memblock_reserved.append(
            (base << PAGE_SHIFT, (base + pages) << PAGE_SHIFT, "cma: reserved")
        )
        self.cma_base, self.cma_count = base, pages
        self.cma_bitmap = bytearray(pages)  # one byte per page: 1 while cma_alloc() holds it
        self._printk(KERN_INFO, f"cma: Reserved {mib} MiB at 0x{base << PAGE_SHIFT:016x}", at_ns=0)

    def _cma_find(self, pages: int) -> int | None:
        """cma_declare_contiguous_nid(): bottom-up from 4 GiB if RAM reaches 4 GiB + size,
        else the highest 4 MiB-aligned free stretch; one zone only.  The first pfn or None."""
        size, align = pages << PAGE_SHIFT, CMA_ALIGN_PAGES << PAGE_SHIFT
        if self.nr_pfns >= FOUR_GIB_PFN + pages:
            taken = sorted((s, e) for s, e, _ in self.memblock_reserved)
            for start, end in self.memblock_memory:
                cursor = max(start, FOUR_GIB_PFN << PAGE_SHIFT)
                cursor = -(-cursor // align) * align
                for s, e in taken:
                    if e > cursor and s < cursor + size:
                        cursor = -(-e // align) * align
                if cursor + size <= end:
                    return cursor >> PAGE_SHIFT
        phys = self._memblock_find(size, align, PAGE_SIZE, self.nr_pfns << PAGE_SHIFT)
        if phys is None:
            return None
        first, last = (
            self.buddy.zone_of(phys >> PAGE_SHIFT),
            self.buddy.zone_of((phys + size - 1) >> PAGE_SHIFT),
        )
        return phys >> PAGE_SHIFT if first is last else None

    def _cma_activate(self) -> None:
        """cma_activate_area() (mm/cma.c L95): each pageblock becomes MIGRATE_CMA, then free."""
        if not self.cma_count:
            return
        buddy = self.buddy
        zone = buddy.zone_of(self.cma_base)
        self.memblock_reserved = [r for r in self.memblock_reserved if r[2] != "cma: reserved"]
        for block in range(self.cma_base, self.cma_base + self.cma_count, PAGEBLOCK_NR_PAGES):
            buddy.pageblock_mt[block // PAGEBLOCK_NR_PAGES] = MIGRATE_CMA
        for pfn in range(self.cma_base, self.cma_base + self.cma_count, MAX_ORDER_NR_PAGES):
            buddy.state[pfn : pfn + MAX_ORDER_NR_PAGES] = array("b", [TAIL]) * MAX_ORDER_NR_PAGES
            zone.managed_pages += MAX_ORDER_NR_PAGES
            buddy.free_one_page(pfn, zone, MAX_ORDER - 1, MIGRATE_CMA, True)
        zone.cma_pages += self.cma_count

    # --- the driver's API ---------------------------------------------------------------------
    def cma_alloc(self, count: int, align: int = 0, no_warn: bool = False) -> Page | None:
        """``count`` physically contiguous pages of the CMA area, as their first Page; or None.

        Mirrors cma_alloc() (mm/cma.c L427): the first free range of the area's bitmap that
        starts at a multiple of 2^``align`` pages goes to alloc_contig_range(); a busy range
        (-EBUSY) moves the search past it; a failure prints "alloc failed" unless ``no_warn``.
        """
        self._check_alive()
        for name, value, low in (("count", count, 0), ("align", align, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TypeError(f"cma_alloc() {name} must be an int >= {low}, not {value!r}")
        if self.atomic:
            raise RuntimeError("cma_alloc() sleeps (it migrates pages): not in atomic context")
        if not self.cma_count or not count:
            return None
        mask = (1 << align) - 1
        result, page, start = -ENOMEM, None, 0
        while True:
            offset = self._cma_find_free(start, count, mask)
            if offset < 0:
                break
            pfn = self.cma_base + offset
            self.cma_bitmap[offset : offset + count] = b"\x01" * count
            result = self._alloc_contig_range(pfn, pfn + count)
            if result == 0:
                page = self.pfn_to_page(pfn)
                break
            self.cma_bitmap[offset : offset + count] = bytes(count)
            if result != -EBUSY:
                break
            start = offset + mask + 1
        if page is not None:
            self.history.append_object(CmaAllocated(page.pfn, count))
        else:
            self.history.append_object(CmaAllocationFailed(count, result))
            if not no_warn:
                self._cma_report_failure(count, result)
        self._notify()
        return page

    def cma_release(self, page: Page, count: int) -> bool:
        """Give back pages from cma_alloc(); False if they are not the area's (cma_release())."""
        self._check_alive()
        if not isinstance(page, Page):
            raise TypeError(f"cma_release() takes the Page cma_alloc() returned, not {page!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError(f"cma_release() count must be an int >= 0, not {count!r}")
        offset = page.pfn - self.cma_base
        if not self.cma_count or not offset >= 0 or offset + count > self.cma_count:
            return False
        if any(self.cma_bitmap[offset + i] == 0 for i in range(count)):
            raise ValueError(
                f"cma_release({page!r}, {count}): not all of these pages came from cma_alloc()"
            )
        for pfn in range(page.pfn, page.pfn + count):  # free_contig_range()
            self._free(pfn, 0, "cma_release")
        self.cma_bitmap[offset : offset + count] = bytes(count)
        self.history.append_object(CmaReleased(page.pfn, count))
        self._notify()
        return True

    def _cma_find_free(self, start: int, count: int, mask: int) -> int:
        """bitmap_find_next_zero_area_off(): the first aligned run of ``count`` zeros, or -1."""
        bitmap = self.cma_bitmap
        offset = (start + mask) & ~mask
        while offset + count <= self.cma_count:
            busy = bitmap.rfind(1, offset, offset + count)
            if busy < 0:
                return offset
            offset = (busy + 1 + mask) & ~mask
        return -1

    def _cma_report_failure(self, count: int, result: int) -> None:
        """The pr_err() of cma_alloc() and cma_debug_show_areas()'s free ranges of the bitmap."""
        self._printk(
            KERN_ERR,
            f"cma: cma_alloc: reserved: alloc failed, req-size: {count} pages, ret: {result}",
        )
        parts, total, offset = [], 0, 0
        bitmap = self.cma_bitmap
        while (zero := bitmap.find(0, offset)) >= 0:
            end = bitmap.find(1, zero)
            end = self.cma_count if end < 0 else end
            parts.append(f"{end - zero}@{zero}")
            total += end - zero
            offset = end
        self._printk(
            KERN_INFO,
            f"cma: number of available pages: {'+'.join(parts)}=> {total} free of "
            f"{self.cma_count} total pages",
        )

    # --- alloc_contig_range() -----------------------------------------------------------------
    def _alloc_contig_range(self, start: int, end: int) -> int:
        """alloc_contig_range() (mm/page_alloc.c L9273) for [start, end): 0, -EBUSY or -ENOMEM.

        The pageblocks become MIGRATE_ISOLATE (their free blocks leave the CMA lists, so no
        allocation lands there), every LRU page in the range migrates to a page the normal
        allocator gives (alloc_migration_target()), and if then every page is free the range
        is taken as order-0 pages; the pageblocks go back to MIGRATE_CMA either way.
        (kmviz keeps counting isolated free pages in NR_FREE_PAGES; 6.1 does not.)
        """
        buddy = self.buddy
        zone = buddy.zone_of(start)
        first_block = start & ~(PAGEBLOCK_NR_PAGES - 1)
        last_block = -(-end // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
        blocks = range(first_block, last_block, PAGEBLOCK_NR_PAGES)
        for block in blocks:  # start_isolate_page_range() → set_migratetype_isolate()
            buddy.pageblock_mt[block // PAGEBLOCK_NR_PAGES] = MIGRATE_ISOLATE
            zone.nr_isolate_pageblock += 1
            self._move_free_blocks(zone, block, MIGRATE_ISOLATE)
        # drain_all_pages(cc.zone): the range's pages on per-CPU lists go to the Isolate lists
        self._drain_all_pages([zone])
        result = self._contig_migrate(start, end)
        if result in (0, -EBUSY):
            result = 0 if self._range_free(start, end) else -EBUSY  # test_pages_isolated()
        if result == 0:
            self._take_free_range(zone, start, end)
        for block in blocks:  # undo_isolate_page_range()
            buddy.pageblock_mt[block // PAGEBLOCK_NR_PAGES] = MIGRATE_CMA
            zone.nr_isolate_pageblock -= 1
            self._move_free_blocks(zone, block, MIGRATE_CMA)
        return result

    def _move_free_blocks(self, zone, block: int, mt: int) -> None:
        """move_freepages_block(): every free block of a pageblock onto ``mt``'s lists."""
        buddy = self.buddy
        state = buddy.state
        pfn = block
        while pfn < block + PAGEBLOCK_NR_PAGES:
            order = state[pfn]
            if 0 <= order < MAX_ORDER:
                if order > 9:  # an order-10 block spans two pageblocks: move it once
                    if pfn == block:
                        buddy.move_to_free_list(pfn, zone, order, mt)
                    break
                buddy.move_to_free_list(pfn, zone, order, mt)
                pfn += 1 << order
            else:
                pfn += 1
        zone.free_cma = self._count_free_cma(zone)

    def _count_free_cma(self, zone) -> int:
        """NR_FREE_CMA_PAGES: the pages on the zone's MIGRATE_CMA free lists."""
        return sum(
            sum(1 for _ in self.buddy.free_list(zone, order, MIGRATE_CMA)) << order
            for order in range(MAX_ORDER)
        )

    def _contig_migrate(self, start: int, end: int) -> int:
        """__alloc_contig_migrate_range(): migrate the range's LRU pages out; 0 or -errno.

        A page that is pinned (FOLL_PIN) or not on an LRU cannot be isolated; it stays and
        test_pages_isolated() then finds the range busy.  The page-cache pages isolated leave
        their LRU list until they have migrated (isolate_migratepages_range()), so the direct
        reclaim a target's allocation may run cannot free them; then each goes back as the
        newest page of its list, the new page for a migrated one (putback_movable_pages()).
        """
        buddy = self.buddy
        state = buddy.state
        cache = self.page_cache
        moved: dict[int, int] = {}
        result = 0
        for _ in range(CONTIG_MIGRATE_TRIES):
            sources = [
                pfn
                for pfn in range(start, end)
                if state[pfn] in (ANON_PAGE, FILE_PAGE)  # PageLRU
                and pfn not in self.pinned_pfns
            ]
            if not sources:
                break
            files = {pfn for pfn in sources if state[pfn] == FILE_PAGE}
            was_active = files.intersection(cache.active)
            for lru in (cache.lru, cache.active):  # isolate_lru_page() of each file page
                kept = list(filterfalse(files.__contains__, lru))
                lru.clear()
                lru.extend(kept)
            for source in sources:
                target = self._alloc(GFP_MIGRATION_TARGET, 0, "alloc_migration_target", False)
                if target < 0:
                    result = -ENOMEM
                    break
                state[target] = state[source]  # the page's holder moves with its contents
                moved[source] = target
                self.history.append_object(PageMigrated(source, target))
                mt = buddy.pageblock_mt[source // PAGEBLOCK_NR_PAGES]
                buddy.free_one_page(source, buddy.zone_of(source), 0, mt, False)
            for lru, active in ((cache.lru, False), (cache.active, True)):
                lru.extend(moved.get(pfn, pfn) for pfn in sources
                           if pfn in files and (pfn in was_active) == active)  # fmt: skip
            if result:
                break
        self._repoint_owners({source: target for source, target in moved.items()
                              if state[target] != FILE_PAGE})  # fmt: skip
        return result

    def _range_free(self, start: int, end: int) -> bool:
        """test_pages_isolated(): is every page of [start, end) in a free block?"""
        state = self.buddy.state
        pfn = start
        while pfn < end:
            code = state[pfn]
            if 0 <= code < MAX_ORDER:
                pfn += 1 << code
            elif code == TAIL and (head := self._free_block_head(pfn)) >= 0:
                pfn = head + (1 << state[head])
            else:
                return False
        return True

    def _take_free_range(self, zone, start: int, end: int) -> None:
        """isolate_freepages_range(): the free blocks covering [start, end) leave the lists
        as order-0 pages; what sticks out on either side is freed again (free_contig_range())."""
        buddy = self.buddy
        state = buddy.state
        pfn = start
        outside = []
        while pfn < end:
            code = state[pfn]
            head = pfn if 0 <= code < MAX_ORDER else self._free_block_head(pfn)
            order = buddy.isolate_free_block(head, zone)
            outside += [p for p in range(head, head + (1 << order)) if not start <= p < end]
            pfn = head + (1 << order)
        for p in outside:
            mt = buddy.pageblock_mt[p // PAGEBLOCK_NR_PAGES]
            buddy.free_one_page(p, zone, 0, mt, False)

    # --- pinning ------------------------------------------------------------------------------
    def pin_user_pages(self, pid: int, count: int, longterm: bool = False) -> list[Page]:
        """Pin the first ``count`` pages of task ``pid`` (pin_user_pages(), FOLL_PIN); the Pages.

        A pinned page holds an extra reference, so compaction and alloc_contig_range() cannot
        migrate it (page_count() > page_mapcount()).  With ``longterm`` (FOLL_LONGTERM)
        check_and_migrate_movable_pages() first moves pages out of the CMA area, as 6.1 does
        for pins that may last forever (RDMA, VFIO); a short pin (O_DIRECT I/O) pins in place.
        With no page left outside the area for that, it pins nothing and returns [] (-ENOMEM).
        """
        self._check_alive()
        task = next((t for t in self.tasks if t.pid == pid and not t.unkillable), None)
        if task is None:
            raise ValueError(f"no user task with pid {pid}")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= task.rss:
            raise ValueError(f"pin_user_pages() count must be 0..{task.rss}, not {count!r}")
        if longterm:
            moved: dict[int, int] = {}
            for index in range(count):
                pfn = task.pages[index]
                if self.buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] != MIGRATE_CMA:
                    continue
                target = self._alloc(GFP_LONGTERM_TARGET, 0, "alloc_migration_target")
                if target < 0:  # -ENOMEM: nothing is pinned (what moved stays moved)
                    self._repoint_owners(moved)
                    self._notify()
                    return []
                self.buddy.set_owner(target, self.buddy.owner_of(pfn))
                self.buddy.set_owner(pfn, OWNER_NONE)
                moved[pfn] = target
                self.history.append_object(PageMigrated(pfn, target))
                self._free(pfn, 0, "migrate_longterm_unpinnable_pages")
            self._repoint_owners(moved)
        pages = [self.pfn_to_page(pfn) for pfn in task.pages[:count]]
        self.pinned_pfns.update(page.pfn for page in pages)
        self._notify()
        return pages

    def unpin_user_pages(self, pages: list[Page]) -> None:
        """unpin_user_pages(): drop the pins; the pages may move again."""
        for page in pages:
            if not isinstance(page, Page):
                raise TypeError(f"unpin_user_pages() takes Pages, not {page!r}")
            self.pinned_pfns.discard(page.pfn)
        self._notify()

    def cma_text(self) -> str:
        """The area as /sys/kernel/debug/cma/reserved/ would tell it: base, count, used."""
        if not self.cma_count:
            return "no CMA area (boot with Kernel(cma='64MiB'))\n"
        used = sum(self.cma_bitmap)
        return (
            f"base_pfn {self.cma_base:#x} ({PAGE_OFFSET + (self.cma_base << PAGE_SHIFT):#x})\n"
            f"count {self.cma_count} ({format_size(self.cma_count * PAGE_SIZE)})\n"
            f"used {used}\n"
        )
