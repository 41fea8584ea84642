"""Compaction: moves movable pages, one 4 KiB page at a time, to make free blocks whole again.

Fragmentation leaves free memory in small pieces between pages that stay allocated.  Many of
those pages are *movable*: page cache and user memory, reached only through page tables and
the LRU, so the kernel can copy one to another frame and fix the references.  Compaction runs
two scanners toward each other (mm/compaction.c compact_zone()): the *migrate* scanner walks
up from the start of the zone collecting movable pages, the *free* scanner walks down from the
end collecting free pages; each movable page is copied into a free page near the top, and the
bottom of the zone coalesces into large free blocks.  Unmovable pages (slab, kernel
allocations, pinned pages) cannot move: a single one keeps its 2 MiB pageblock fragmented.
"""

from __future__ import annotations

from .buddy import ALLOCATED
from .constants import MAX_ORDER, PAGEBLOCK_NR_PAGES
from .events import CompactionFinished, PageMigrated


class CompactionAPI:
    """Mixin for Kernel: k.compact()."""

    def compact(self, order: int = MAX_ORDER - 1) -> dict[str, bool]:
        """Compact every zone until a free block of ``order`` exists; {zone: success}.

        Mirrors compact_node() → compact_zone() with MIGRATE_SYNC (what writing to
        /proc/sys/vm/compact_memory does) for the pages kmviz knows to be movable.
        """
        self._check_alive()
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order < MAX_ORDER:
            raise ValueError(f"compact() takes an order from 0 to {MAX_ORDER - 1}, not {order!r}")
        results = {zone.name: self._compact_zone(zone, order) for zone in self.zones}
        self._notify()
        return results

    def _compact_zone(self, zone, order: int) -> bool:
        buddy = self.buddy
        owners = {pfn: ("cache", None) for pfn in self.page_cache.lru}
        for task in self.tasks:
            for index, pfn in enumerate(task.pages):
                owners[pfn] = ("task", (task, index))
        targets: list[int] = []  # isolated free pages, highest first
        free_scan = zone.end_pfn  # the free scanner works down from here
        migrate = zone.start_pfn
        moved = 0
        while migrate < free_scan and not buddy.has_free_block(zone, order):
            if migrate not in owners or buddy.state[migrate] != ALLOCATED:
                migrate += 1
                continue
            while not targets and free_scan > migrate:
                free_scan = self._isolate_from(zone, free_scan, migrate, targets)
            if not targets:
                break
            target = targets.pop()
            self._migrate_page(migrate, target, owners)
            moved += 1
            migrate += 1
        for pfn in targets:  # release_freepages(): what the free scanner did not use
            buddy.free_one_page(pfn, zone, 0, buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES], False)
        success = buddy.has_free_block(zone, order)
        self.history.append_object(CompactionFinished(zone.name, order, moved, success))
        return success

    def _isolate_from(self, zone, top: int, floor: int, targets: list[int]) -> int:
        """isolate_freepages(): take free blocks from the pageblock below ``top``; the new top."""
        buddy = self.buddy
        start = max(floor + 1, (top - 1) // PAGEBLOCK_NR_PAGES * PAGEBLOCK_NR_PAGES, zone.start_pfn)
        if start >= top:  # the scanners met
            return floor
        pfn = start
        found = []
        while pfn < top:
            code = buddy.state[pfn]
            if 0 <= code < MAX_ORDER and pfn + (1 << code) <= top:
                order = buddy.isolate_free_block(pfn, zone)
                found.extend(range(pfn, pfn + (1 << order)))
                pfn += 1 << order
            else:
                pfn += 1
        targets.extend(sorted(found))  # pop() hands out the highest first
        return start

    def _migrate_page(self, source: int, target: int, owners: dict) -> None:
        """migrate_pages() of one page: copy, repoint its owner, free the old frame."""
        kind, where = owners.pop(source)
        if kind == "cache":
            lru = self.page_cache.lru
            lru[lru.index(source)] = target
        else:
            task, index = where
            task.pages[index] = target
        owners[target] = (kind, where)
        self.buddy.owner[target], self.buddy.owner[source] = self.buddy.owner[source], 0
        self.history.append_object(PageMigrated(source, target))  # copied; now free the old
        buddy = self.buddy
        zone = buddy.zone_of(source)
        buddy.free_one_page(
            source, zone, 0, buddy.pageblock_mt[source // PAGEBLOCK_NR_PAGES], False
        )
