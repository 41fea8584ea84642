"""Compaction: moves movable pages, one 4 KiB page at a time, so that free 2^order blocks form.

Fragmentation leaves free memory in small pieces between pages that stay allocated.  Many of
those pages are *movable*: page cache and user memory, reached only through page tables and
the LRU, so the kernel can copy one to another frame and fix the references.  Compaction runs
two scanners toward each other (mm/compaction.c compact_zone()): the *migrate* scanner walks
up from the start of the zone isolating LRU pages, 32 at a time (COMPACT_CLUSTER_MAX), the
*free* scanner walks down from the end, pageblock by pageblock, isolating free pages in
Movable (and CMA) pageblocks; each isolated page is copied into a free page near the top, and
the bottom of the zone coalesces into large free blocks.  Unmovable pages (slab, kernel
allocations, page tables, pages pinned with FOLL_PIN) cannot move: a single one keeps its
4 MiB block from ever forming.

Linux 6.1 compacts in three places, all mirrored here:

* **direct compaction** in ``__alloc_pages_slowpath()`` for costly orders (> 3) and for
  non-movable orders > 0: first MIGRATE_ASYNC (which migrates only from pageblocks of the
  request's own migratetype and abandons an order-aligned block at its first unmovable page),
  then, after direct reclaim, MIGRATE_SYNC_LIGHT over every pageblock;
* **kcompactd**, woken by kswapd when it has reclaimed and goes to sleep;
* ``/proc/sys/vm/compact_memory`` (``k.compact()``): MIGRATE_SYNC over whole zones.

Before it runs, ``compaction_suitable()`` asks whether it can help: a zone must have
``compact_gap(order)`` = 2 << order free pages above its watermark (targets for the copies),
and for costly orders the fragmentation index must be above ``sysctl_extfrag_threshold``
(500): a failure caused by too little memory is reclaim's business.  A sync compaction that
scans a whole zone and fails *defers* compaction of that order: the next 1, 2, 4 … 64 attempts
are skipped (``compact_defer_shift`` up to COMPACT_MAX_DEFER_SHIFT).

Where kmviz is simpler than 6.1: every run starts at the zone's two ends (6.1 resumes from
cached scanner positions and skips pageblocks marked PG_migrate_skip); there is no
fast_isolate_freepages()/fast_find_migrateblock() search of the free lists, no capture of the
freed block by the compacting task, no proactive compaction (vm.compaction_proactiveness);
every isolated page migrates (kmviz's pages are clean and unlocked).
"""

from __future__ import annotations

from collections import deque
from itertools import filterfalse

from .buddy import ALLOCATED, ANON_PAGE, COMPOUND, FILE_PAGE, TAIL, plain_code
from .constants import (
    MAX_ORDER,
    MIGRATE_CMA,
    MIGRATE_MOVABLE,
    MIGRATE_UNMOVABLE,
    PAGE_ALLOC_COSTLY_ORDER,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
)
from .events import (
    CompactionBegan,
    CompactionDeferralReset,
    CompactionDeferred,
    CompactionFinished,
    CompactionMigrated,
    CompactionSkippedAsDeferred,
    CompactionSuitabilityChecked,
    CompactionTried,
    KcompactdWoken,
    PageMigrated,
)
from .fragmentation import fragmentation_index
from .gfp import BIT
from .zones import WMARK_LOW, WMARK_MIN

COMPACT_CLUSTER_MAX = 32  # pages isolated per batch (SWAP_CLUSTER_MAX, include/linux/swap.h)
COMPACT_MAX_DEFER_SHIFT = 6  # "Do not skip compaction more than 64 times" (mm/compaction.c L147)
EXTFRAG_THRESHOLD = 500  # sysctl_extfrag_threshold (vm.extfrag_threshold), thousandths

# enum compact_result (include/linux/compaction.h), in the kernel's order: max() picks the
# most advanced result, as try_to_compact_pages() does
(
    COMPACT_NOT_SUITABLE_ZONE,
    COMPACT_SKIPPED,
    COMPACT_DEFERRED,
    COMPACT_NO_SUITABLE_PAGE,
    COMPACT_CONTINUE,
    COMPACT_COMPLETE,
    COMPACT_PARTIAL_SKIPPED,
    COMPACT_CONTENDED,
    COMPACT_SUCCESS,
) = range(9)
# COMPACTION_STATUS of include/trace/events/mmflags.h: how the tracepoints print a result
RESULT_NAMES = (
    "not_suitable_zone",
    "skipped",
    "deferred",
    "no_suitable_page",
    "continue",
    "complete",
    "partial_skipped",
    "contended",
    "success",
)
# enum compact_priority: lower is more thorough
COMPACT_PRIO_SYNC_FULL, COMPACT_PRIO_SYNC_LIGHT, COMPACT_PRIO_ASYNC = 0, 1, 2
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC  # the first attempt of the slow path
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT  # the one after direct reclaim
# enum migrate_mode, as kmviz's events name them
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC = "async", "sync_light", "sync"
PRIORITY_MODES = {
    COMPACT_PRIO_ASYNC: MIGRATE_ASYNC,
    COMPACT_PRIO_SYNC_LIGHT: MIGRATE_SYNC_LIGHT,
    COMPACT_PRIO_SYNC_FULL: MIGRATE_SYNC,
}


def compact_gap(order: int) -> int:
    """Free pages compaction wants beyond the watermark: 2 << order (include/linux/compaction.h).

    Twice the request, because migration needs a free target page for every page it moves
    while the source pages are still allocated: compact_gap(10) == 2048 pages, 8 MiB.
    """
    return 2 << order


def block_start_pfn(pfn: int, order: int) -> int:
    """The first pfn of the naturally aligned 2^order block holding ``pfn``."""
    return pfn & ~((1 << order) - 1)


def block_end_pfn(pfn: int, order: int) -> int:
    """The first pfn after the naturally aligned 2^order block holding ``pfn``: ALIGN(pfn + 1)."""
    size = 1 << order
    return (pfn + size) & ~(size - 1)


class CompactControl:
    """struct compact_control: one compaction run over one zone."""

    __slots__ = (
        "direct",
        "free_pfn",
        "freepages",
        "highest_zoneidx",
        "mark",
        "migrate_pfn",
        "migratepages",
        "migratetype",
        "mode",
        "moved",
        "nr_migratepages",
        "order",
        "zone",
    )

    def __init__(self, zone, order, migratetype, mode, direct, highest_zoneidx, mark):
        self.zone = zone
        self.order = order  # -1: compact the whole zone (compact_memory)
        self.migratetype = migratetype  # gfp_migratetype() of the request
        self.mode = mode  # MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT or MIGRATE_SYNC
        self.direct = direct  # direct compaction by an allocating task
        self.highest_zoneidx = highest_zoneidx
        self.mark = mark  # the request's watermark in this zone, lowmem_reserve included
        self.migrate_pfn = zone.start_pfn
        self.free_pfn = zone.start_pfn
        self.migratepages: list[int] = []  # isolated LRU pages, in isolation order
        self.nr_migratepages = 0  # the batch being migrated (cc->nr_migratepages)
        self.freepages: deque[int] = deque()  # isolated free order-0 pages, used from the left
        self.moved: dict[int, int] = {}  # source pfn -> target pfn, for the owners' fixup


class CompactionAPI:
    """Mixin for Kernel: k.compact(), direct compaction, deferral and kcompactd."""

    def compact(self, order: int = MAX_ORDER - 1) -> dict[str, bool]:
        """Compact every zone whole; per zone, whether a free block of ``order`` exists after.

        Mirrors what writing 1 to /proc/sys/vm/compact_memory runs: compact_node() →
        compact_zone() with order -1 and MIGRATE_SYNC, every zone from end to end (it does
        not stop when a block forms).  ``order`` only chooses what the result reports.
        """
        self._check_alive()
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order < MAX_ORDER:
            raise ValueError(f"compact() takes an order from 0 to {MAX_ORDER - 1}, not {order!r}")
        for zone in self.zones:
            mark = zone.watermark[WMARK_MIN]
            cc = CompactControl(zone, -1, MIGRATE_UNMOVABLE, MIGRATE_SYNC, False, zone.idx, mark)
            self._compact_zone(cc)
        self._notify()
        return {zone.name: self.buddy.has_free_block(zone, order) for zone in self.zones}

    # --- is compaction worth it? --------------------------------------------------------------
    def _compaction_suitable(self, zone, order: int, mark: int, highest_zoneidx: int) -> int:
        """compaction_suitable() (mm/compaction.c L2219): SUCCESS, SKIPPED or CONTINUE.

        SUCCESS if the request's watermark for ``order`` is met already; SKIPPED unless the
        zone has compact_gap(order) free pages above min (low for costly orders), or, for a
        costly order, when the fragmentation index is 0..500 (memory is short, not broken
        up: 'fragindex >= 0 && fragindex <= sysctl_extfrag_threshold').
        """
        if order == -1:  # is_via_compact_memory()
            return COMPACT_CONTINUE
        if zone.free_pages - (1 << order) + 1 > mark and self.buddy.has_free_block(zone, order):
            result = COMPACT_SUCCESS
        else:
            base = zone.watermark[WMARK_LOW if order > PAGE_ALLOC_COSTLY_ORDER else WMARK_MIN]
            # __zone_watermark_ok(zone, 0, base + compact_gap(order), highest_zoneidx, ALLOC_CMA)
            if zone.free_pages <= base + compact_gap(order) + zone.lowmem_reserve[highest_zoneidx]:
                result = COMPACT_SKIPPED
            elif order > PAGE_ALLOC_COSTLY_ORDER and (
                0 <= fragmentation_index(zone.nr_free, order) <= EXTFRAG_THRESHOLD
            ):
                result = COMPACT_NOT_SUITABLE_ZONE
            else:
                result = COMPACT_CONTINUE
        self.history.append_object(
            CompactionSuitabilityChecked(zone.name, order, RESULT_NAMES[result])
        )
        return COMPACT_SKIPPED if result == COMPACT_NOT_SUITABLE_ZONE else result

    def _compaction_deferred(self, zone, order: int) -> bool:
        """compaction_deferred() (L171): skip this attempt? Counts it in compact_considered."""
        if order < zone.compact_order_failed:
            return False
        limit = 1 << zone.compact_defer_shift
        zone.compact_considered += 1
        if zone.compact_considered >= limit:
            zone.compact_considered = limit
            return False
        self.history.append_object(CompactionSkippedAsDeferred(*self._defer_state(zone, order)))
        return True

    def _defer_compaction(self, zone, order: int) -> None:
        """defer_compaction() (L154): skip the next 2^shift attempts, shift at most 6."""
        zone.compact_considered = 0
        zone.compact_defer_shift = min(zone.compact_defer_shift + 1, COMPACT_MAX_DEFER_SHIFT)
        zone.compact_order_failed = min(zone.compact_order_failed, order)
        self.history.append_object(CompactionDeferred(*self._defer_state(zone, order)))

    def _compaction_defer_reset(self, zone, order: int, alloc_success: bool) -> None:
        """compaction_defer_reset() (L192): compaction of ``order`` worked; stop deferring."""
        if alloc_success:
            zone.compact_considered = 0
            zone.compact_defer_shift = 0
        if order >= zone.compact_order_failed:
            zone.compact_order_failed = order + 1
        self.history.append_object(CompactionDeferralReset(*self._defer_state(zone, order)))

    @staticmethod
    def _defer_state(zone, order: int) -> tuple:
        """The fields of the mm_compaction_defer_* tracepoints."""
        return (
            zone.name,
            order,
            zone.compact_considered,
            1 << zone.compact_defer_shift,
            zone.compact_order_failed,
        )

    # --- direct compaction ------------------------------------------------------------------
    def _direct_compact(self, plan, order: int, priority: int) -> tuple[int, int]:
        """__alloc_pages_direct_compact() (mm/page_alloc.c L4542): (pfn or -1, compact result).

        try_to_compact_pages() over the zonelist, then one more pass over the free lists at
        the slow path's watermark; success resets the zone's deferral.
        """
        if not order:
            return -1, COMPACT_SKIPPED
        result = self._try_to_compact_pages(plan, order, priority)
        if result == COMPACT_SKIPPED:
            return -1, result
        pfn = self._get_page_from_freelist(plan, plan.slow, order, False)
        if pfn >= 0:
            self._compaction_defer_reset(self.buddy.zone_of(pfn), order, True)
        return pfn, result

    def _try_to_compact_pages(self, plan, order: int, priority: int) -> int:
        """try_to_compact_pages() (L2569): compact each zone of the zonelist until one succeeds.

        A deferred zone is skipped; a sync-light run that fails over a whole zone defers it.
        """
        if not plan.gfp & BIT.IO:  # gfp_compaction_allowed(): compaction may do I/O
            return COMPACT_SKIPPED
        mode = PRIORITY_MODES[priority]
        self.history.append_object(CompactionTried(order, plan.gfp, mode))
        result = COMPACT_SKIPPED
        for zone, mark in plan.slow:
            if priority > COMPACT_PRIO_SYNC_FULL and self._compaction_deferred(zone, order):
                result = max(result, COMPACT_DEFERRED)
                continue
            cc = CompactControl(
                zone, order, plan.migratetype, mode, True, plan.highest_zoneidx, mark
            )
            status = self._compact_zone(cc)
            result = max(result, status)
            if status == COMPACT_SUCCESS:
                self._compaction_defer_reset(zone, order, False)
                break
            if mode != MIGRATE_ASYNC and status in (COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED):
                self._defer_compaction(zone, order)
        return result

    # --- kcompactd ----------------------------------------------------------------------------
    def _wakeup_kcompactd(self, order: int, highest_zoneidx: int) -> bool:
        """wakeup_kcompactd() (L2887): wake kcompactd0 for ``order`` if some zone would gain."""
        if not order:
            return False
        self._kcompactd_max_order = max(self._kcompactd_max_order, order)
        self._kcompactd_highest_zoneidx = min(self._kcompactd_highest_zoneidx, highest_zoneidx)
        if not any(  # kcompactd_node_suitable()
            self._compaction_suitable(
                zone, self._kcompactd_max_order, zone.watermark[WMARK_MIN],
                self._kcompactd_highest_zoneidx,
            ) == COMPACT_CONTINUE
            for zone in self.zones
            if zone.idx <= self._kcompactd_highest_zoneidx
        ):  # fmt: skip
            return False
        self.history.append_object(KcompactdWoken(order, highest_zoneidx))
        return True

    def _kcompactd_do_work(self) -> None:
        """kcompactd_do_work() (L2809): sync-light compaction of every eligible zone."""
        order, highest = self._kcompactd_max_order, self._kcompactd_highest_zoneidx
        for zone in self.zones:
            if zone.idx > highest or self._compaction_deferred(zone, order):
                continue
            mark = zone.watermark[WMARK_MIN]  # alloc_flags 0: ALLOC_WMARK_MIN
            if self._compaction_suitable(zone, order, mark, zone.idx) != COMPACT_CONTINUE:
                continue
            cc = CompactControl(zone, order, MIGRATE_UNMOVABLE, MIGRATE_SYNC_LIGHT, False,
                                highest, mark)  # fmt: skip
            status = self._compact_zone(cc)
            if status == COMPACT_SUCCESS:
                self._compaction_defer_reset(zone, order, False)
            elif status in (COMPACT_PARTIAL_SKIPPED, COMPACT_COMPLETE):
                # "Buddy pages may become stranded on pcps that could otherwise coalesce"
                self._drain_all_pages([zone])
                self._defer_compaction(zone, order)
        self._kcompactd_max_order = 0
        self._kcompactd_highest_zoneidx = self.zones[-1].idx

    # --- one zone -------------------------------------------------------------------------------
    def _compact_zone(self, cc: CompactControl) -> int:
        """compact_zone() (L2290): scanners from both ends until success or they meet."""
        zone = cc.zone
        result = self._compaction_suitable(zone, cc.order, cc.mark, cc.highest_zoneidx)
        if result in (COMPACT_SUCCESS, COMPACT_SKIPPED):
            return result
        cc.migrate_pfn = zone.start_pfn
        cc.free_pfn = (zone.end_pfn - 1) & ~(PAGEBLOCK_NR_PAGES - 1)
        self.history.append_object(
            CompactionBegan(zone.name, zone.start_pfn, cc.migrate_pfn, cc.free_pfn,
                            zone.end_pfn, cc.mode)
        )  # fmt: skip
        last_migrated_pfn = 0
        while (result := self._compact_finished(cc)) == COMPACT_CONTINUE:
            iteration_start_pfn = cc.migrate_pfn
            if self._isolate_migratepages(cc):
                last_migrated_pfn = iteration_start_pfn
                if self._migrate_pages(cc):  # -ENOMEM: the free scanner found no target
                    if not self._scanners_met(cc):
                        result = COMPACT_CONTENDED
                        break
                    if cc.direct and cc.mode == MIGRATE_ASYNC:
                        cc.migrate_pfn = block_end_pfn(cc.migrate_pfn - 1, cc.order)
                        last_migrated_pfn = 0
            # check_drain: once the migrate scanner has left the order-aligned block it last
            # migrated from, lru_add_drain_cpu_zone() drains this CPU's lists of the zone so
            # the pages there can merge (kmviz frees migrated pages straight to the buddy)
            if (
                cc.order > 0
                and last_migrated_pfn
                and last_migrated_pfn < block_start_pfn(cc.migrate_pfn, cc.order)
            ):
                self.buddy.drain_pages_zone(zone, self.context.cpu)
                last_migrated_pfn = 0
        buddy = self.buddy
        for pfn in cc.freepages:  # release_freepages(): the targets not used
            buddy.free_one_page(pfn, zone, 0, buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES], False)
        cc.freepages.clear()
        self._repoint_owners(cc.moved)
        self.history.append_object(
            CompactionFinished(zone.name, cc.order, len(cc.moved), result == COMPACT_SUCCESS,
                               RESULT_NAMES[result], cc.mode, cc.migrate_pfn, cc.free_pfn)
        )  # fmt: skip
        return result

    @staticmethod
    def _scanners_met(cc: CompactControl) -> bool:
        """compact_scanners_met(): the two scanners reached the same pageblock."""
        return cc.free_pfn >> PAGEBLOCK_ORDER <= cc.migrate_pfn >> PAGEBLOCK_ORDER

    def _compact_finished(self, cc: CompactControl) -> int:
        """__compact_finished() (L2060): COMPLETE, SUCCESS or CONTINUE.

        Done when the scanners meet, else (at a pageblock boundary) when a free block of the
        order sits on the request's list, or on a list it may steal from whole.
        """
        if self._scanners_met(cc):
            return COMPACT_COMPLETE  # cc->whole_zone: kmviz starts every run at the ends
        if cc.order == -1 or cc.migrate_pfn % PAGEBLOCK_NR_PAGES:
            return COMPACT_CONTINUE  # "Always finish scanning a pageblock"
        buddy, zone, mt = self.buddy, cc.zone, cc.migratetype
        nxt = buddy.nxt
        for order in range(cc.order, MAX_ORDER):
            if not zone.nr_free[order]:
                continue
            head = zone.sentinel(order, mt)
            if nxt[head >> 1] != head:
                return COMPACT_SUCCESS
            cma = zone.sentinel(order, MIGRATE_CMA)
            if mt == MIGRATE_MOVABLE and nxt[cma >> 1] != cma:
                return COMPACT_SUCCESS
            fallback, can_steal = buddy.find_suitable_fallback(zone, order, mt)
            if fallback != -1 and can_steal:
                return COMPACT_SUCCESS
        return COMPACT_CONTINUE  # COMPACT_NO_SUITABLE_PAGE

    # --- the migrate scanner ----------------------------------------------------------------
    def _suitable_migration_source(self, cc: CompactControl, pfn: int) -> bool:
        """suitable_migration_source() (L1250): async direct compaction stays in its own kind.

        It migrates only from pageblocks of the request's migratetype (Movable and CMA for a
        movable request); every other mode scans every pageblock.
        """
        if cc.mode != MIGRATE_ASYNC or not cc.direct:
            return True
        block_mt = self.buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
        if cc.migratetype == MIGRATE_MOVABLE:
            return block_mt in (MIGRATE_MOVABLE, MIGRATE_CMA)
        return block_mt == cc.migratetype

    def _isolate_migratepages(self, cc: CompactControl) -> bool:
        """isolate_migratepages() (L1867): isolate from the next suitable pageblock; any?"""
        low_pfn = cc.migrate_pfn
        block_end = (low_pfn & ~(PAGEBLOCK_NR_PAGES - 1)) + PAGEBLOCK_NR_PAGES
        while block_end <= cc.free_pfn:
            if self._suitable_migration_source(cc, max(low_pfn, cc.zone.start_pfn)):
                self._isolate_migratepages_block(cc, low_pfn, block_end)
                break
            cc.migrate_pfn = low_pfn = block_end
            block_end += PAGEBLOCK_NR_PAGES
        return bool(cc.migratepages)

    def _isolate_migratepages_block(self, cc: CompactControl, low_pfn: int, end_pfn: int) -> None:
        """isolate_migratepages_block() (L786): isolate up to 32 LRU pages of [low_pfn, end_pfn).

        Free blocks are stepped over; anything not on an LRU (slab, page tables, kernel
        pages, compound pages, reserved memory) fails.  Async direct compaction gives up on
        the rest of an order-aligned block at its first failure and puts back what it
        isolated there, since that block can never become free.
        """
        state = self.buddy.state
        skip_on_failure = cc.direct and cc.mode == MIGRATE_ASYNC
        size = 1 << cc.order if cc.order > 0 else 1
        next_skip = block_end_pfn(low_pfn, cc.order) if skip_on_failure else 0
        isolated = 0
        pfn = low_pfn
        while pfn < end_pfn:
            if skip_on_failure and pfn >= next_skip:
                if isolated:
                    break
                next_skip = block_end_pfn(pfn, cc.order)
            code = state[pfn]
            if 0 <= code < MAX_ORDER:  # PageBuddy: step over the free block
                pfn += 1 << code
                continue
            if code == TAIL and (head := self._free_block_head(pfn)) >= 0:
                # inside a free block: pages this run migrated away, which kmviz merges at
                # once; 6.1 frees them to the per-CPU lists, where they do not merge, so
                # the scanner there meets the free block beyond them, not a tail page
                pfn = head + (1 << state[head])
                continue
            if (
                code in (ANON_PAGE, FILE_PAGE)  # PageLRU
                and pfn not in self.pinned_pfns  # FOLL_PIN: page_count() > page_mapcount()
            ):
                cc.migratepages.append(pfn)
                isolated += 1
                pfn += 1
                if len(cc.migratepages) >= COMPACT_CLUSTER_MAX:
                    break
                continue
            # isolate_fail: a whole allocated block fails page by page, so step over it
            code = plain_code(code)
            span = 1 << (code & 15) if ALLOCATED <= code < COMPOUND + 16 else 1
            if not skip_on_failure:
                pfn += span
                continue
            if isolated:  # putback_movable_pages(): the block cannot become free anyway
                del cc.migratepages[-isolated:]
                isolated = 0
            pfn = next_skip
            next_skip += size
        cc.migrate_pfn = min(pfn, end_pfn)

    def _free_block_head(self, pfn: int) -> int:
        """The first pfn of the free block that holds ``pfn`` inside it, or -1.

        The head is ``pfn`` rounded down to the block's order: the first round-down that is
        not a tail page either heads a free block of at least that order (then ``pfn`` is in
        it: 5 & ~3 == 4 heads an order-2 block, 4..7) or shows that no free block holds it.
        """
        state = self.buddy.state
        for order in range(1, MAX_ORDER):
            head = pfn & ~((1 << order) - 1)
            code = state[head]
            if code != TAIL:
                return head if order <= code < MAX_ORDER else -1
        return -1

    # --- migration and the free scanner -----------------------------------------------------
    def _migrate_pages(self, cc: CompactControl) -> bool:
        """migrate_pages() of the isolated batch; True if it ran out of target pages (-ENOMEM).

        isolate_migratepages_block() list_add()s each page at the head, so the last page
        isolated moves first; compaction_alloc() takes targets from the head of the free
        list, refilling it with isolate_freepages() when it is empty.
        """
        batch = cc.migratepages
        cc.nr_migratepages = len(batch)
        migrated = 0
        for source in reversed(batch):
            if not cc.freepages:
                self._isolate_freepages(cc)
                if not cc.freepages:
                    break
            self._migrate_page(source, cc.freepages.popleft(), cc.moved)
            migrated += 1
        failed = len(batch) - migrated
        self.history.append_object(CompactionMigrated(cc.zone.name, migrated, failed))
        batch.clear()  # putback_movable_pages(): the pages not migrated stay where they are
        cc.nr_migratepages = 0
        return failed > 0

    def _migrate_page(self, source: int, target: int, moved: dict[int, int]) -> None:
        """Copy one LRU page to ``target`` and free the old frame (migrate_folio())."""
        buddy = self.buddy
        buddy.set_owner(target, buddy.owner_of(source))  # the source's goes as it is freed
        moved[source] = target
        self.history.append_object(PageMigrated(source, target))  # copied; now free the old
        mt = buddy.pageblock_mt[source // PAGEBLOCK_NR_PAGES]
        buddy.free_one_page(source, buddy.zone_of(source), 0, mt, False)

    def _repoint_owners(self, moved: dict[int, int]) -> None:
        """remove_migration_ptes() and putback_lru_page(): owners now hold the new frames.

        A migrated page-cache page goes back on its LRU list as the newest page
        (folio_putback_lru()); a task's page keeps its place in the task.
        """
        if not moved:
            return
        state = self.buddy.state
        files = [target for target in moved.values() if state[target] == FILE_PAGE]
        if files:
            active = self.page_cache.active
            was_moved = moved.__contains__  # the lists are scanned by filter(), in C
            was_active = set(filter(was_moved, active))
            for lru, from_active in ((active, True), (self.page_cache.lru, False)):
                back = [
                    target
                    for source, target in moved.items()
                    if (source in was_active) == from_active and state[target] == FILE_PAGE
                ]
                if back:
                    kept = list(filterfalse(was_moved, lru))
                    lru.clear()
                    lru.extend(kept)
                    lru.extend(back)
        if len(files) < len(moved):
            for task in self.tasks:
                task.pages = [moved.get(pfn, pfn) for pfn in task.pages]

    def _suitable_migration_target(self, pfn: int) -> bool:
        """suitable_migration_target() (L1270): a Movable or CMA pageblock, not wholly free."""
        buddy = self.buddy
        code = buddy.state[pfn]
        if 0 <= code < MAX_ORDER and code >= PAGEBLOCK_ORDER:
            return False
        return buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] in (MIGRATE_MOVABLE, MIGRATE_CMA)

    def _isolate_freepages(self, cc: CompactControl) -> None:
        """isolate_freepages() (L1559): from cc.free_pfn down, pageblock by pageblock.

        Stops once it holds as many free pages as the batch has pages to migrate, or where the
        migrate scanner is; async samples every 32nd page of a block until a block yields
        something (the stride).
        """
        zone = cc.zone
        isolate_start = cc.free_pfn
        block_start = isolate_start & ~(PAGEBLOCK_NR_PAGES - 1)
        block_end = min(block_start + PAGEBLOCK_NR_PAGES, zone.end_pfn)
        low_pfn = (cc.migrate_pfn & ~(PAGEBLOCK_NR_PAGES - 1)) + PAGEBLOCK_NR_PAGES
        stride = COMPACT_CLUSTER_MAX if cc.mode == MIGRATE_ASYNC else 1
        while block_start >= low_pfn:
            if block_start >= zone.start_pfn and self._suitable_migration_target(block_start):
                isolated, isolate_start = self._isolate_freepages_block(
                    cc, isolate_start, block_end, stride
                )
                if len(cc.freepages) >= cc.nr_migratepages:
                    if isolate_start >= block_end:  # resume one block lower next time
                        isolate_start = block_start - PAGEBLOCK_NR_PAGES
                    break
                if isolate_start < block_end:  # the watermark stopped it: give up
                    break
                stride = 1 if isolated else min(COMPACT_CLUSTER_MAX, stride << 1)
            block_end = block_start
            block_start -= PAGEBLOCK_NR_PAGES
            isolate_start = block_start
        cc.free_pfn = isolate_start

    def _isolate_freepages_block(self, cc, start: int, end: int, stride: int) -> tuple[int, int]:
        """isolate_freepages_block() (L541): (pages isolated, where the scan stopped).

        Each free block found leaves the free lists as order-0 pages (__isolate_free_page()
        and split_map_pages()), unless that would take the zone below min + 2^order.
        """
        buddy, zone = self.buddy, cc.zone
        state = buddy.state
        total = 0
        pfn = start
        while pfn < end:
            code = state[pfn]
            if 0 <= code < MAX_ORDER:
                # __isolate_free_page(): zone_watermark_ok(zone, 0, min + 2^order, 0, ALLOC_CMA)
                if zone.free_pages <= zone.watermark[WMARK_MIN] + (1 << code):
                    break
                order = buddy.isolate_free_block(pfn, zone)
                cc.freepages.extend(range(pfn, pfn + (1 << order)))
                total += 1 << order
                pfn += 1 << order
                if len(cc.freepages) >= cc.nr_migratepages:
                    break
                pfn += stride - 1
                continue
            code = plain_code(code)
            if COMPOUND <= code < COMPOUND + 16:  # PageCompound: step over it
                pfn += (1 << (code - COMPOUND)) - 1
            pfn += stride
        return total, min(pfn, end)
