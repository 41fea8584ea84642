"""The page allocator's slow path: kswapd, direct compaction, reclaim, retries, OOM killer (pages).

Mirrors __alloc_pages_slowpath() (mm/page_alloc.c L5097): after the first pass at the low
watermark fails, kswapd is woken and the zonelist is tried at min (GFP_ATOMIC may go lower).
A caller that cannot sleep stops there.  One that can runs *direct compaction* first when the
order is costly (above 3) or a non-movable order above 0 (asynchronous: MIGRATE_ASYNC), then
reclaims memory itself (direct reclaim; it sleeps only when there was nothing to reclaim) and
compacts again (MIGRATE_SYNC_LIGHT).  __GFP_NORETRY gives up after that pass, and so does a
costly order without __GFP_RETRY_MAYFAIL; the others retry while reclaim makes progress (at
most 16 loops without) or compaction may still help (should_compact_retry()), and as a last
resort call the OOM killer, which never runs for costly orders, __GFP_RETRY_MAYFAIL, or
requests that must stay below ZONE_NORMAL (GFP_DMA, GFP_DMA32).  __GFP_NOFAIL never gives up.
kswapd, once woken, reclaims until the zones are above their high watermark and then wakes
kcompactd for the order that woke it.
"""

from __future__ import annotations

from .compaction import (
    COMPACT_DEFERRED,
    COMPACT_PRIO_SYNC_FULL,
    COMPACT_PRIO_SYNC_LIGHT,
    COMPACT_SKIPPED,
    COMPACT_SUCCESS,
    DEF_COMPACT_PRIORITY,
    INIT_COMPACT_PRIORITY,
    compact_gap,
)
from .constants import MIGRATE_MOVABLE, PAGE_ALLOC_COSTLY_ORDER, ZONE_NORMAL
from .events import KernelPanicked, KswapdWoken, MemoryReclaimed, OomKilled, SchedulingWhileAtomic
from .gfp import (
    BIT,
    describe_gfp,
)
from .printk import KERN_EMERG, KERN_ERR, KERN_WARNING
from .reclaim import (
    DEF_PRIORITY,
    MAX_RECLAIM_RETRIES,
    RECLAIM_BATCH_NS,
    SWAP_CLUSTER_MAX,
    THROTTLE_NOPROGRESS_NS,
    dump_tasks,
    oom_header,
    oom_kill_lines,
    select_bad_process,
)
from .reports import TAINT_WARN, dump_stack
from .zones import WMARK_HIGH, WMARK_LOW, WMARK_MIN

OOM_PROGRESS_LIMIT = 8  # OOM passes that free nothing before kmviz stops an endless retry
MAX_COMPACT_RETRIES = 16  # compaction retries of a non-costly order (mm/page_alloc.c L4533)


class KernelPanic(RuntimeError):  # noqa: N818 - named after the kernel's event
    """The simulated kernel called panic(); the machine is stopped. Make a new Kernel."""


class SlowPathMixin:
    """Mixin for Kernel: everything after the first pass of __alloc_pages() fails."""

    def _alloc_slowpath(self, plan, order: int, walked: bool = False) -> int:
        """__alloc_pages_slowpath(): the pfn of the block, or -1 after the failure report.

        ``walked``: kswapd was woken already and FastPath walked the zonelist at the min
        marks (the pass after the wakeup) and found nothing, so both are skipped.
        """
        gfp = plan.gfp
        can_reclaim = bool(gfp & BIT.DIRECT_RECLAIM)
        can_compact = bool(gfp & BIT.IO)  # gfp_compaction_allowed()
        costly = order > PAGE_ALLOC_COSTLY_ORDER
        if gfp & BIT.ATOMIC and can_reclaim:
            # "catch abuse of atomic reserves being used by callers that are not in atomic
            # context" (L5114): WARN_ON_ONCE, then the mask goes on without __GFP_ATOMIC
            self._warn_once(
                "mm/page_alloc.c:5118", ("__alloc_pages_slowpath.constprop.0", "__alloc_pages")
            )
        if not walked:
            if gfp & BIT.KSWAPD_RECLAIM:
                self._wake_kswapd(plan, order)
            pfn = self._get_page_from_freelist(plan, plan.slow, order, False)
            if pfn >= 0:
                return pfn
        compact_result = COMPACT_SKIPPED
        priority = DEF_COMPACT_PRIORITY
        # "For costly allocations, try direct compaction first, as it's likely that we
        # have enough base pages and don't need to reclaim" (the same for non-movable orders)
        if (
            can_reclaim
            and can_compact
            and (costly or (order > 0 and plan.migratetype != MIGRATE_MOVABLE))
            and not gfp & BIT.MEMALLOC  # !gfp_pfmemalloc_allowed()
        ):
            pfn, compact_result = self._direct_compact(plan, order, INIT_COMPACT_PRIORITY)
            if pfn >= 0:
                return pfn
            if costly and gfp & BIT.NORETRY:
                if compact_result in (COMPACT_SKIPPED, COMPACT_DEFERRED):
                    return self._nopage(plan, order, can_reclaim)
                priority = INIT_COMPACT_PRIORITY  # stay async: the caller has a fallback
        if not can_reclaim:
            return self._nopage(plan, order, can_reclaim)
        no_progress_loops = 0
        compaction_retries = 0
        oom_passes = 0
        while True:
            reclaimed = self._direct_reclaim(plan)
            pfn = self._get_page_from_freelist(plan, plan.slow, order, False)
            if pfn < 0 and reclaimed:
                # __alloc_pages_direct_reclaim(): the pages may sit on per-CPU lists
                self._drain_all_pages(self.zones)
                pfn = self._get_page_from_freelist(plan, plan.slow, order, False)
            if pfn >= 0:
                return pfn
            pfn, compact_result = self._direct_compact(plan, order, priority)
            if pfn >= 0:
                return pfn
            if gfp & BIT.NORETRY or (costly and (not can_compact or not gfp & BIT.RETRY_MAYFAIL)):
                break
            # should_reclaim_retry(): progress resets the count (not for costly orders)
            if reclaimed and not costly:
                no_progress_loops = 0
            else:
                no_progress_loops += 1
            if no_progress_loops <= MAX_RECLAIM_RETRIES and self._reclaim_could_help(plan, order):
                continue
            if reclaimed and can_compact and order:
                retry, priority, compaction_retries = self._should_compact_retry(
                    plan, order, compact_result, priority, compaction_retries
                )
                if retry:
                    continue
            if self._current_is_oom_victim():
                # an OOM victim may dip into half of min once more (ALLOC_OOM), then fails:
                # "tsk_is_oom_victim(current) && alloc_flags & ALLOC_OOM" -> nopage
                oom_marks = self._half_min_marks(plan)
                pfn = self._get_page_from_freelist(plan, oom_marks, order, False)
                if pfn >= 0:
                    return pfn
                break
            pfn, progress = self._may_oom(plan, order)
            if pfn >= 0:
                return pfn
            if not progress:
                break
            # did_some_progress: "goto retry", which tries the free lists before reclaiming
            pfn = self._get_page_from_freelist(plan, plan.slow, order, False)
            if pfn >= 0:
                return pfn
            if oom_passes == OOM_PROGRESS_LIMIT:
                self._printk(
                    KERN_WARNING,
                    f"kmviz: Linux would keep retrying this {describe_gfp(gfp)} allocation "
                    "until some other task frees memory; the simulation gives up",
                )
                break
            oom_passes += 1
            no_progress_loops = 0
        return self._nopage(plan, order, can_reclaim)

    def _should_compact_retry(self, plan, order: int, result: int, priority: int, retries: int):
        """should_compact_retry() (mm/page_alloc.c L4610): (retry?, priority, retries).

        Retries while compaction makes progress (16 times, 4 for costly orders), asks reclaim
        for more when compaction was skipped for want of free pages, and otherwise raises
        the priority one step (down to sync-light for costly orders, sync for the others).
        """
        if result == COMPACT_SUCCESS:  # compaction_made_progress()
            retries += 1
        if result == COMPACT_SKIPPED:  # compaction_needs_reclaim()
            return self._compaction_zonelist_suitable(plan, order), priority, retries
        costly = order > PAGE_ALLOC_COSTLY_ORDER
        # compaction_failed() (COMPLETE) and compaction_withdrawn() go straight to the priority
        if result == COMPACT_SUCCESS:
            limit = MAX_COMPACT_RETRIES // 4 if costly else MAX_COMPACT_RETRIES
            if retries <= limit:
                return True, priority, retries
        lowest = COMPACT_PRIO_SYNC_LIGHT if costly else COMPACT_PRIO_SYNC_FULL
        if priority > lowest:
            return True, priority - 1, retries
        return False, priority, retries

    def _compaction_zonelist_suitable(self, plan, order: int) -> bool:
        """compaction_zonelist_suitable(): would free + reclaimable/order pass the order-0 check?"""
        for zone, _ in plan.slow:
            reclaimable = self.page_cache.in_zones(self.buddy.zone_of, {zone.idx})
            available = zone.free_pages + reclaimable // order
            base = zone.watermark[WMARK_LOW if order > PAGE_ALLOC_COSTLY_ORDER else WMARK_MIN]
            if available > base + compact_gap(order) + zone.lowmem_reserve[plan.highest_zoneidx]:
                return True
        return False

    def _nopage(self, plan, order: int, can_reclaim: bool) -> int:
        """The nopage: label: __GFP_NOFAIL keeps going if it can, everything else fails."""
        gfp = plan.gfp
        if gfp & BIT.NOFAIL and can_reclaim:
            # __alloc_pages_cpuset_fallback(..., ALLOC_MIN_RESERVE): half of min, then retry
            half_min = self._half_min_marks(plan)
            pfn = self._get_page_from_freelist(plan, half_min, order, False)
            if pfn >= 0:
                return pfn
            self._printk(
                KERN_WARNING,
                f"kmviz: this __GFP_NOFAIL allocation (order {order}) would retry forever; "
                "nothing is left to reclaim or kill, so the simulation gives up",
            )
        elif gfp & BIT.NOFAIL:
            self._warn_once(  # WARN_ON_ONCE_GFP(!can_direct_reclaim, gfp_mask)
                "mm/page_alloc.c:5367", ("__alloc_pages_slowpath.constprop.0", "__alloc_pages")
            )
        self._fail(order, gfp, "no zone has a free block above its watermark")
        self._warn_alloc(gfp, order, plan.highest_zoneidx)
        return -1

    # --- kswapd ----------------------------------------------------------------------------
    def _pgdat_balanced(self, plan, order: int) -> bool:
        """pgdat_balanced() (mm/vmscan.c L6857): some eligible zone is above high for ``order``.

        zone_watermark_ok_safe() at the high watermark: free pages beyond the block above
        high + lowmem_reserve, and a free block of at least ``order``.
        """
        for zone, _ in plan.slow:
            mark = zone.watermark[WMARK_HIGH] + zone.lowmem_reserve[plan.highest_zoneidx]
            if zone.free_pages - ((1 << order) - 1) > mark and (
                order == 0 or self.buddy.has_free_block(zone, order)
            ):
                return True
        return False

    def _wake_kswapd(self, plan, order: int) -> None:
        """wakeup_kswapd() (mm/vmscan.c L7440): wake it unless the node is balanced.

        On a balanced node a request that cannot reclaim itself wakes kcompactd instead:
        "There may be plenty of free memory available, but it's too fragmented".
        """
        if self._kswapd_pending:
            return
        if self._pgdat_balanced(plan, order):
            if not plan.gfp & BIT.DIRECT_RECLAIM and self._wakeup_kcompactd(
                order, plan.highest_zoneidx
            ):
                self._kswapd_pending = (plan, order, False)
            return
        self._kswapd_pending = (plan, order, True)
        unbalanced = tuple(z.name for z, _ in plan.slow)
        self.history.append_object(KswapdWoken(unbalanced, order))

    def _run_kswapd(self) -> None:
        """kswapd0, then kcompactd0, run once the caller is done.

        kswapd mirrors balance_pgdat() (mm/vmscan.c L7027) for clean page cache: from
        DEF_PRIORITY down, while no eligible zone is above its high watermark, one
        kswapd_shrink_node() pass (L6947) asks for the eligible zones' high watermarks
        (at least SWAP_CLUSTER_MAX each) and shrink_lruvec() reclaims the oldest pages up to
        that, within its scan target of LRU size >> priority (PageCache.shrink()); the
        priority drops after a pass that scanned less than it asked for or reclaimed
        nothing, and kswapd gives up below priority 1.  For a high order it stops caring
        about the order once it has reclaimed compact_gap(order) pages ("recheck watermarks
        only at order-0 to prevent excessive reclaim"), and when the node is balanced it
        wakes kcompactd for the order (kswapd_try_to_sleep() L7283), which compacts every
        eligible zone synchronously (kcompactd_do_work()).
        """
        (plan, order, reclaim), self._kswapd_pending = self._kswapd_pending, None
        if reclaim:
            every = len(plan.slow) == len(self.zones)  # no zone filter (GFP_KERNEL and above)
            zone_ids = None if every else {z.idx for z, _ in plan.slow}
            # kswapd_shrink_node(): "reclaim a number of pages proportional to the number of
            # zones", max(high_wmark_pages(zone), SWAP_CLUSTER_MAX) for each eligible zone
            nr_to_reclaim = sum(
                max(zone.watermark[WMARK_HIGH], SWAP_CLUSTER_MAX) for zone, _ in plan.slow
            )
            reclaim_order = order
            total = 0
            for zone, _ in plan.slow:  # set_reclaim_active(): pcp lists hold 4 batches at most
                zone.pcp_limits[2] = 1
            priority = DEF_PRIORITY
            while priority >= 1 and not self._pgdat_balanced(plan, reclaim_order):
                pfns = self.page_cache.shrink(priority, nr_to_reclaim, self.buddy.zone_of, zone_ids)
                self._free_held_pages(pfns, "shrink_folio_list")  # off the LRU and the mapping
                total += len(pfns)
                if reclaim_order and total >= compact_gap(reclaim_order):
                    reclaim_order = 0
                # every page scanned in an eligible zone is clean and reclaimed, so kmviz takes
                # nr_scanned == nr_reclaimed; 6.1's isolate_lru_folios() (mm/vmscan.c L2203)
                # also counts the pages it skipped in other zones as scanned (*nr_scanned =
                # total_scan), so for a kswapd woken for GFP_DMA/GFP_DMA32 (zone_ids set) 6.1
                # may keep the priority where kmviz lowers it
                if len(pfns) < nr_to_reclaim:  # raise_priority, or no progress
                    priority -= 1
            for zone, _ in plan.slow:  # clear_reclaim_active()
                zone.pcp_limits[2] = 0
            if total:
                self.history.append_object(MemoryReclaimed("kswapd", total, 0))
            if not self._pgdat_balanced(plan, reclaim_order):  # prepare_kswapd_sleep()
                return
            if not self._wakeup_kcompactd(order, plan.highest_zoneidx):
                return
        self._kcompactd_do_work()

    # --- direct reclaim --------------------------------------------------------------------
    def _direct_reclaim(self, plan) -> int:
        """__alloc_pages_direct_reclaim(): the caller drops page cache itself; pages freed.

        Dropping clean page cache does not wait for anything, so the caller stays awake
        (cond_resched() in the reclaim loops does not schedule while preempt_count is
        nonzero).  Only when nothing was reclaimed does consider_reclaim_throttle()
        (mm/vmscan.c L6299) put it to sleep for a jiffy in reclaim_throttle(): schedule(),
        which in atomic context is "scheduling while atomic".
        """
        freed = self._drop_page_cache({z.idx for z, _ in plan.slow})
        spent = RECLAIM_BATCH_NS
        if not freed:
            if self.atomic:
                self._schedule_bug()
            spent += THROTTLE_NOPROGRESS_NS
        self._clock_offset_ns += spent
        self.history.append_object(MemoryReclaimed("direct", freed, spent))
        return freed

    def _drop_page_cache(self, zone_ids: set[int]) -> int:
        """Free up to SWAP_CLUSTER_MAX of the oldest clean page-cache pages in ``zone_ids``."""
        every = len(zone_ids) == len(self.zones)  # no zone filter (GFP_KERNEL and above)
        pfns = self.page_cache.take_oldest(
            SWAP_CLUSTER_MAX, self.buddy.zone_of, None if every else zone_ids
        )
        self._free_held_pages(pfns, "shrink_folio_list")  # off the LRU, out of the mapping
        return len(pfns)

    def _reclaim_could_help(self, plan, order: int) -> bool:
        """should_reclaim_retry(): would free + reclaimable pages pass min in some zone?"""
        for zone, mark in plan.slow:
            reclaimable = self.page_cache.in_zones(self.buddy.zone_of, {zone.idx})
            available = zone.free_pages + reclaimable
            if available - ((1 << order) - 1) > mark and (
                order == 0 or self.buddy.has_free_block(zone, order)
            ):
                return True
        return False

    def _schedule_bug(self) -> None:
        """__schedule_bug(): the task really sleeps in atomic context (sched/core.c L5791)."""
        ctx = self.context
        lines = [
            (KERN_ERR,
             f"BUG: scheduling while atomic: {ctx.comm}/{ctx.pid}/{ctx.preempt_count:#010x}"),
            (KERN_WARNING, "Modules linked in: lesson(O)"),
        ]  # fmt: skip
        lines += dump_stack(
            KERN_WARNING, ctx.comm, ctx.pid, self.taint,
            self._trace("dump_stack_lvl", "__schedule_bug", "__schedule", "schedule",
                        "schedule_timeout", "reclaim_throttle",
                        "do_try_to_free_pages", "try_to_free_pages",
                        "__alloc_pages_slowpath.constprop.0", "__alloc_pages"),
        )  # fmt: skip
        self._print_lines(lines)
        self.taint |= 1 << TAINT_WARN
        self.history.append_object(
            SchedulingWhileAtomic(
                ctx.snapshot(), "direct reclaim found nothing to free and slept (reclaim_throttle)"
            )
        )

    # --- the OOM killer --------------------------------------------------------------------
    def _may_oom(self, plan, order: int) -> tuple[int, bool]:
        """__alloc_pages_may_oom(): (pfn or -1, whether anything was done that may help)."""
        gfp = plan.gfp
        high = tuple(
            (z, z.watermark[WMARK_HIGH] + z.lowmem_reserve[plan.highest_zoneidx])
            for z, _ in plan.slow
        )
        pfn = self._get_page_from_freelist(plan, high, order, False)
        if pfn >= 0:
            return pfn, True
        if order > PAGE_ALLOC_COSTLY_ORDER or gfp & BIT.RETRY_MAYFAIL:
            return -1, False
        if plan.highest_zoneidx < ZONE_NORMAL:
            return -1, False  # "The OOM killer does not needlessly kill tasks for lowmem"
        if not gfp & BIT.FS:
            return -1, True  # out_of_memory() cannot help a !__GFP_FS caller: it waits
        victim = select_bad_process(self.tasks, sum(z.managed_pages for z in self.zones))
        lines = [oom_header(self.comm, describe_gfp(gfp), order, 0)]
        lines += dump_stack(
            KERN_WARNING, self.comm, self.pid, self.taint,
            self._trace("dump_stack_lvl", "dump_header", "oom_kill_process", "out_of_memory",
                        "__alloc_pages_slowpath.constprop.0", "__alloc_pages"),
        )  # fmt: skip
        lines.append((KERN_WARNING, "Mem-Info:"))
        lines += [(KERN_WARNING, text) for text in self.show_free_areas(plan.highest_zoneidx)]
        lines += dump_tasks(self.tasks)
        if victim is None:
            lines.append((KERN_WARNING, "Out of memory and no killable processes..."))
            self._print_lines(lines)
            self._panic("System is deadlocked on memory")
        lines += oom_kill_lines(victim)
        self._print_lines(lines)
        killed = OomKilled(victim.pid, victim.comm, victim.rss, gfp, order)
        if victim.pid == self.pid:
            # mark_oom_victim(current): the oom reaper frees its memory at once, but the task
            # runs on until it returns to user space, so it stays listed as exiting
            self._reap_task(victim)
            victim.oom_victim = True
        else:
            self._exit_task(victim)
        self.history.append_object(killed)
        return -1, True

    def _panic(self, message: str) -> None:
        """panic(): print the banner, stop the machine, raise KernelPanic."""
        lines = [(KERN_EMERG, f"Kernel panic - not syncing: {message}")]
        lines += dump_stack(
            KERN_EMERG,
            self.comm,
            self.pid,
            self.taint,
            self._trace("dump_stack_lvl", "panic", "out_of_memory.cold"),
        )
        lines.append((KERN_EMERG, "Kernel Offset: disabled"))
        lines.append((KERN_EMERG, f"---[ end Kernel panic - not syncing: {message} ]---"))
        self._print_lines(lines)
        self.panic_message = message
        self.history.append_object(KernelPanicked(message))
        self._stop_fast_paths()
        if self.notify_each_call[0]:
            self.tick += 1
        raise KernelPanic(message)

    def _half_min_marks(self, plan) -> tuple:
        """Marks at half of min (ALLOC_OOM, or NOFAIL's ALLOC_MIN_RESERVE), plus reserves."""
        highest = plan.highest_zoneidx
        return tuple(
            (z, z.watermark[0] - z.watermark[0] // 2 + z.lowmem_reserve[highest])
            for z, _ in plan.slow
        )

    def _current_is_oom_victim(self) -> bool:
        """tsk_is_oom_victim(current)."""
        return any(t.pid == self.pid and t.oom_victim for t in self.tasks)

    def _check_alive(self) -> None:
        """Raise KernelPanic if the machine has panicked."""
        if self.panic_message is not None:
            raise KernelPanic(
                f"the simulated kernel panicked ({self.panic_message}); make a new Kernel"
            )
