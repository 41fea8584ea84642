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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

from .constants import PAGE_SHIFT
from .printk import KERN_ERR, KERN_INFO, KERN_WARNING

SWAP_CLUSTER_MAX = 32  # pages reclaimed per batch (include/linux/swap.h)
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


class PageCache:
    """Clean file pages on the two file LRU lists, oldest first; each is an order-0 pfn.

    ``lru`` is the inactive list, where a page read once waits to be reclaimed; ``active``
    holds pages read more than once: folio_mark_accessed() (mm/swap.c L467) activates a page
    on its second access.  Reclaim takes the oldest inactive pages; when the inactive list is
    short against the active one (inactive_is_low(), mm/vmscan.c L2782) it first moves the
    oldest active pages to the young end of the inactive list (shrink_active_list()), so a
    page that was read twice survives one more trip through the inactive list.
    """

    def __init__(self):
        self.lru: deque[int] = deque()  # LRU_INACTIVE_FILE
        self.active: deque[int] = deque()  # LRU_ACTIVE_FILE

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
        lru, active = self.lru, self.active
        if active and self.inactive_is_low():
            popleft = active.popleft
            lru.extend([popleft() for _ in range(min(count, len(active)))])
        if zone_ids is None:
            popleft = lru.popleft
            return [popleft() for _ in range(min(count, len(lru)))]
        taken, skipped = [], []
        while lru and len(taken) < count:
            pfn = lru.popleft()
            (taken if zone_of(pfn).idx in zone_ids else skipped).append(pfn)
        lru.extendleft(reversed(skipped))
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
