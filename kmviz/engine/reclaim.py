"""What the kernel can take back when free memory runs short: page cache and user tasks, in pages.

A blocking allocation (``__GFP_DIRECT_RECLAIM``, e.g. GFP_KERNEL) that finds every zone at its
min watermark does not give up: it reclaims memory itself (*direct reclaim*), and may sleep
doing so.  Clean page-cache pages (file data already on disk) can simply be dropped, oldest
first (the LRU), without waiting for anything; a reclaimer that finds nothing to drop sleeps a
jiffy before it tries again (``reclaim_throttle()``).  kswapd does
the same in the background as soon as a zone falls below its low watermark, until it is back
above high.  When nothing is left to reclaim, the OOM killer picks the task whose memory is
biggest and kills it.  A non-blocking allocation (GFP_ATOMIC, GFP_NOWAIT) can do none of this:
it fails instead.

This module keeps the reclaimable memory (``PageCache``), the user tasks (``Task``) and the
text of the OOM killer's report; ``Kernel`` drives them from its slow path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice

from .constants import PAGE_SHIFT
from .printk import KERN_ERR, KERN_INFO, KERN_WARNING

SWAP_CLUSTER_MAX = 32  # pages reclaimed per batch (include/linux/swap.h)
DEF_PRIORITY = 12  # reclaim's first scan priority: LRU size >> 12 (include/linux/mmzone.h)
MAX_RECLAIM_RETRIES = 16  # no-progress loops before giving up (mm/internal.h L202)
RECLAIM_BATCH_NS = 200_000  # simulated CPU time one reclaim batch takes (the caller stays awake)
# reclaim_throttle(VMSCAN_THROTTLE_NOPROGRESS) sleeps one jiffy (mm/vmscan.c L1171); HZ=250
THROTTLE_NOPROGRESS_NS = 4_000_000
OOM_SCORE_ADJ_MIN = -1000


@dataclass
class Task:
    """A user process: its name, pid, and the order-0 pages of its anonymous memory."""

    comm: str
    pid: int
    uid: int = 0
    oom_score_adj: int = 0
    pages: list[int] = field(default_factory=list)  # pfns of its anon pages
    unkillable: bool = False  # init (pid 1) and kernel threads are never chosen
    oom_victim: bool = False  # chosen by the OOM killer, still exiting (tsk_is_oom_victim())

    @property
    def rss(self) -> int:
        """Resident pages (all anonymous here)."""
        return len(self.pages)

    @property
    def pgtables_bytes(self) -> int:
        """mm_pgtables_bytes(): one 4 KiB table page per 512 mapped pages, at least one."""
        return 4096 * (1 + self.rss // 512)

    def badness(self, totalpages: int) -> int:
        """oom_badness() (mm/oom_kill.c L232): rss + page-table pages + adj * totalpages/1000."""
        return self.rss + self.pgtables_bytes // 4096 + self.oom_score_adj * (totalpages // 1000)


class LruList:
    """One LRU list of pfns, oldest first, as the pages joined it.

    A Python list read from a moving head: new pages join at the end, and taking the oldest
    ``n`` is one slice and a step of the head (the consumed front is cut off once it is half
    the list).  Iterating, indexing and ``len()`` see only the pages still on the list.
    """

    __slots__ = ("_head", "_pfns")

    def __init__(self, pfns=()):
        self._pfns: list[int] = list(pfns)
        self._head = 0  # index in _pfns of the oldest page still on the list

    def __len__(self) -> int:
        return len(self._pfns) - self._head

    def __iter__(self) -> Iterator[int]:
        return islice(self._pfns, self._head, None)

    def __getitem__(self, index: int) -> int:
        """The ``index``-th oldest pfn (negative: counted from the youngest)."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("LRU list index out of range")
        return self._pfns[self._head + index]

    def __repr__(self) -> str:
        return f"LruList({list(self)!r})"

    def extend(self, pfns) -> None:
        """The pages join the list as its youngest, in this order."""
        self._pfns.extend(pfns)

    def clear(self) -> None:
        """Take every page off the list."""
        self._pfns = []
        self._head = 0

    def take(self, count: int) -> list[int]:
        """Remove and return the ``count`` oldest pages (fewer if the list is shorter)."""
        head = self._head
        taken = self._pfns[head : head + count]
        head += len(taken)
        if head > 4096 and head * 2 > len(self._pfns):  # cut the consumed front off
            del self._pfns[:head]
            head = 0
        self._head = head
        return taken

    def put_back(self, pfns: list[int]) -> None:
        """Return pages just taken to the old end of the list, ``pfns[0]`` the oldest again."""
        if len(pfns) <= self._head:
            self._head -= len(pfns)
            self._pfns[self._head : self._head + len(pfns)] = pfns
        else:
            self._pfns[: self._head] = pfns
            self._head = 0


class PageCache:
    """Clean file pages on the two file LRU lists, oldest first; each is an order-0 pfn.

    ``lru`` is the inactive list, where a page read once waits to be reclaimed; ``active``
    holds pages read more than once: folio_mark_accessed() (mm/swap.c L467) activates a page
    on its second access.  Reclaim takes the oldest inactive pages; when the inactive list is
    short against the active one (inactive_is_low(), mm/vmscan.c L2782) it also moves the
    oldest active pages to the young end of the inactive list (shrink_active_list()), so a
    page that was read twice survives one more trip through the inactive list.
    """

    def __init__(self):
        self.lru = LruList()  # LRU_INACTIVE_FILE
        self.active = LruList()  # LRU_ACTIVE_FILE

    def __len__(self) -> int:
        return len(self.lru) + len(self.active)

    def pages(self) -> Iterator[int]:
        """Every cached pfn: the inactive list, then the active one, each oldest first."""
        return chain(self.lru, self.active)

    def add(self, pfns: list[int], active: bool = False) -> None:
        """Pages were read from a file: they join the LRU as the newest, in this order.

        ``active``: the file was read again, so its pages are on the active list.
        """
        (self.active if active else self.lru).extend(pfns)

    def in_zones(self, zone_of, zone_ids: set[int]) -> int:
        """How many cached pages lie in the given zones (zone_reclaimable_pages())."""
        return sum(1 for pfn in self.pages() if zone_of(pfn).idx in zone_ids)

    def inactive_is_low(self) -> bool:
        """inactive_is_low(): inactive * int_sqrt(10 * GiB of file LRU) < active (1 below 1 GiB)."""
        gib = len(self) >> (30 - PAGE_SHIFT)
        ratio = math.isqrt(10 * gib) if gib else 1
        return len(self.lru) * ratio < len(self.active)

    def take_oldest(self, count: int, zone_of, zone_ids: set[int] | None) -> list[int]:
        """Remove and return up to ``count`` of the oldest inactive pages in ``zone_ids``.

        While the inactive list is low, ``count`` of the oldest active pages are deactivated
        first, onto the young end of the inactive list.  Only the pages looked at are touched:
        the skipped ones go back to the front in order.  ``zone_ids`` None: every zone
        qualifies, so the oldest ``count`` pages are taken.
        """
        if self.active and self.inactive_is_low():
            self.lru.extend(self.active.take(count))
        return self._take_inactive(count, zone_of, zone_ids)

    def shrink(
        self, priority: int, nr_to_reclaim: int, zone_of, zone_ids: set[int] | None
    ) -> list[int]:
        """One kswapd pass over the file LRU lists at ``priority``; the pages it reclaimed.

        Mirrors shrink_lruvec() (mm/vmscan.c L5911) for kswapd with clean page cache only
        (no swap: get_scan_count() scans file pages alone).  Each list's scan target is its
        size in the eligible zones ``>> priority``; the loop takes SWAP_CLUSTER_MAX pages
        from each list in turn, the oldest inactive ones reclaimed and, when
        prepare_scan_count() found the inactive list low, the oldest active ones moved to the
        young end of the inactive list (shrink_active_list()), and stops after the round in
        which the pages reclaimed reach ``nr_to_reclaim`` (kswapd then has no anon list to
        scan proportionally) or when the targets are used up.  With 1,000,000 inactive pages
        at priority 12 the target is 1,000,000 >> 12 == 244 pages: 8 rounds of 32.  The
        deactivated pages join behind the scan target, so taking the inactive pages first
        and deactivating after is the same.  ``zone_ids`` None: every zone is eligible.
        (Deactivation takes the oldest active pages of any zone, as take_oldest() does.)
        """
        deactivate = self.inactive_is_low()
        if zone_ids is None:
            inactive, active = len(self.lru), len(self.active)
        else:
            inactive = sum(1 for pfn in self.lru if zone_of(pfn).idx in zone_ids)
            active = sum(1 for pfn in self.active if zone_of(pfn).idx in zone_ids)
        inactive >>= priority
        active >>= priority
        if inactive >= nr_to_reclaim:  # the round that reaches nr_to_reclaim is the last
            rounds = -(-nr_to_reclaim // SWAP_CLUSTER_MAX)
            inactive = min(inactive, rounds * SWAP_CLUSTER_MAX)
        else:
            rounds = -(-max(inactive, active) // SWAP_CLUSTER_MAX)
        reclaimed = self._take_inactive(inactive, zone_of, zone_ids)
        if deactivate:
            self.lru.extend(self.active.take(min(active, rounds * SWAP_CLUSTER_MAX)))
        return reclaimed

    def _take_inactive(self, count: int, zone_of, zone_ids: set[int] | None) -> list[int]:
        """Remove and return up to ``count`` of the oldest inactive pages in ``zone_ids``."""
        lru = self.lru
        if zone_ids is None:
            return lru.take(count)
        taken, skipped = [], []
        while len(taken) < count:
            pfns = lru.take(count - len(taken))
            if not pfns:
                break
            for pfn in pfns:
                (taken if zone_of(pfn).idx in zone_ids else skipped).append(pfn)
        lru.put_back(skipped)
        return taken


def select_bad_process(tasks: list[Task], totalpages: int) -> Task | None:
    """The task the OOM killer chooses: the highest badness among the killable ones.

    Mirrors select_bad_process() / oom_evaluate_task() (mm/oom_kill.c L340): init, tasks
    with oom_score_adj -1000 and tasks already chosen are skipped; on a tie the later task
    wins (only a lower score is passed over).
    """
    best, best_score = None, None
    for task in tasks:
        if task.unkillable or task.oom_victim or task.oom_score_adj == OOM_SCORE_ADJ_MIN:
            continue
        score = task.badness(totalpages)
        if best_score is None or score >= best_score:
            best, best_score = task, score
    return best


def dump_tasks(tasks: list[Task]) -> list[tuple[int, str]]:
    """dump_tasks(): the table of every user task the OOM killer considered."""
    lines = [
        (KERN_INFO, "Tasks state (memory values in pages):"),
        (KERN_INFO,
         "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"),
    ]  # fmt: skip
    for t in tasks:
        if t.unkillable:  # dump_task() skips oom_unkillable_task(): init and kthreads
            continue
        total_vm = t.rss + 2048  # mapped libraries and stack on top of the resident pages
        lines.append(
            (KERN_INFO,
             f"[{t.pid:7d}] {t.uid:5d} {t.pid:5d} {total_vm:8d} {t.rss:8d} "
             f"{t.pgtables_bytes:8d} {0:8d}         {t.oom_score_adj:5d} {t.comm}")
        )  # fmt: skip
    return lines


def oom_header(comm: str, gfp_text: str, order: int, oom_score_adj: int) -> tuple[int, str]:
    """The first line of dump_header() (mm/oom_kill.c L461)."""
    return (
        KERN_WARNING,
        f"{comm} invoked oom-killer: gfp_mask={gfp_text}, order={order}, "
        f"oom_score_adj={oom_score_adj}",
    )


def oom_kill_lines(victim: Task) -> list[tuple[int, str]]:
    """dump_oom_summary() and __oom_kill_process()'s "Killed process" line (L450, L959)."""
    kib = 4 * victim.rss
    return [
        (KERN_INFO,
         "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
         f"global_oom,task_memcg=/,task={victim.comm},pid={victim.pid},uid={victim.uid}"),
        (KERN_ERR,
         f"Out of memory: Killed process {victim.pid} ({victim.comm}) "
         f"total-vm:{4 * (victim.rss + 2048)}kB, anon-rss:{kib}kB, file-rss:0kB, "
         f"shmem-rss:0kB, UID:{victim.uid} pgtables:{victim.pgtables_bytes // 1024}kB "
         f"oom_score_adj:{victim.oom_score_adj}"),
    ]  # fmt: skip
