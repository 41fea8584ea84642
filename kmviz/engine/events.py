"""Events the engine emits, one small frozen record per state change, named in the past tense.

Each event sits where Linux 6.1 has a tracepoint (``mm_page_alloc``, ``mm_page_free``,
``mm_page_alloc_extfrag``) or where the buddy allocator changes shape without one (a split in
``expand()``, a merge in ``__free_one_page()``).  Views read them; nothing in the engine reads
them back.  The history stores them packed (see ``history.py``) and builds these objects only
when someone looks, so a million allocations cost memory for a million integers, not objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .constants import PAGEBLOCK_ORDER

if TYPE_CHECKING:
    from .context import ContextSnapshot


@dataclass(frozen=True, slots=True)
class BlockSplit:
    """expand() cut a free block of ``order`` at ``pfn`` in two buddies of ``order - 1``.

    The lower half (``pfn``) stays with the allocation; the upper half (``buddy_pfn``) went onto
    the free list of ``order - 1`` for ``migratetype``.
    """

    pfn: int
    order: int
    zone: str
    migratetype: int

    @property
    def buddy_pfn(self) -> int:
        """The upper half that was put on the free list: ``pfn + (1 << (order - 1))``."""
        return self.pfn + (1 << (self.order - 1))


@dataclass(frozen=True, slots=True)
class PagesAllocatedZoneLocked:
    """A block of 2^order pages at ``pfn`` left the buddy lists under the zone lock.

    Tracepoint mm_page_alloc_zone_locked, which __rmqueue_smallest() fires for every block
    it takes: ``percpu_refill`` is 6.1's ``pcp_allowed_order(order) && migratetype <
    MIGRATE_PCPTYPES``.  ``cpu`` is the CPU whose per-CPU list the block went onto
    (rmqueue_bulk()), or -1 when it goes straight to the caller (a PagesAllocated follows).
    """

    pfn: int
    order: int
    migratetype: int
    zone: str
    percpu_refill: bool
    cpu: int


@dataclass(frozen=True, slots=True)
class PagesAllocated:
    """The page allocator handed out 2^order pages at ``pfn`` (tracepoint mm_page_alloc).

    ``cpu`` is the CPU whose per-CPU list they came off, -1 when they came from the buddy
    lists (a PagesAllocatedZoneLocked comes just before).
    """

    pfn: int
    order: int
    gfp: int
    migratetype: int
    zone: str
    cpu: int = -1


@dataclass(frozen=True, slots=True)
class PagesAllocatedInBulk(PagesAllocated):
    """__alloc_pages_bulk() took the order-0 page at ``pfn`` off CPU ``cpu``'s per-CPU list.

    An allocation like PagesAllocated, but 6.1 fires no tracepoint for it: the bulk allocator's
    loop (mm/page_alloc.c L5563) takes pages by __rmqueue_pcplist() and gives each only
    prep_new_page(); mm_page_alloc is __alloc_pages()'s.  A trace of the real kernel shows
    only the mm_page_alloc_zone_locked of the refills that brought such pages onto the list.
    """


@dataclass(frozen=True, slots=True)
class PagesFreed:
    """2^order pages at ``pfn`` came back to the page allocator (tracepoint mm_page_free).

    ``cpu`` is the CPU whose per-CPU list they went onto (free_unref_page()), -1 when they
    went to the buddy lists (merges may follow).
    """

    pfn: int
    order: int
    zone: str
    cpu: int = -1


@dataclass(frozen=True, slots=True)
class PcpPagesDrained:
    """free_pcppages_bulk() gave a block from CPU ``cpu``'s pcp list back to the buddy lists.

    Tracepoint mm_page_pcpu_drain (which 6.1 fires after __free_one_page(); here it comes
    first, and the merges of __free_one_page() follow as BuddiesMerged).
    """

    pfn: int
    order: int
    migratetype: int
    zone: str
    cpu: int


@dataclass(frozen=True, slots=True)
class BuddiesMerged:
    """__free_one_page() joined two free buddies of ``order`` into one block of ``order + 1``.

    ``buddy_pfn == pfn ^ (1 << order)`` and the joined block starts at ``pfn & buddy_pfn``.
    """

    pfn: int
    buddy_pfn: int
    order: int
    zone: str
    migratetype: int

    @property
    def merged_pfn(self) -> int:
        """Where the joined block starts: the lower of the two buddies."""
        return self.pfn & self.buddy_pfn


@dataclass(frozen=True, slots=True)
class AllocationFailed:
    """An allocation of 2^order pages returned NULL (mm_page_alloc with page=NULL)."""

    order: int
    gfp: int
    reason: str


@dataclass(frozen=True, slots=True)
class FallbackStolen:
    """__rmqueue_fallback() took a free block from another migratetype's list.

    Mirrors the tracepoint mm_page_alloc_extfrag: ``fallback_order`` is the order of the block
    taken, ``change_ownership`` says whether its pageblock now belongs to ``alloc_migratetype``.
    """

    pfn: int
    alloc_order: int
    fallback_order: int
    alloc_migratetype: int
    fallback_migratetype: int
    change_ownership: bool
    zone: str

    @property
    def fragmenting(self) -> bool:
        """True when the steal mixes migratetypes inside a pageblock (order < pageblock order)."""
        return self.fallback_order < PAGEBLOCK_ORDER


@dataclass(frozen=True, slots=True)
class BadPageReported:
    """The kernel found a page in a state it must not be in and refused to touch it."""

    pfn: int
    reason: str


@dataclass(frozen=True, slots=True)
class MessageLogged:
    """printk() appended a line to the kernel log."""

    timestamp_ns: int
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class ContextChanged:
    """The CPU entered or left an interrupt, took or released a lock, turned something off."""

    action: str  # the call, e.g. "spin_lock(dev_lock)" or "irq_enter"
    context: ContextSnapshot  # the context after it


@dataclass(frozen=True, slots=True)
class ContextViolated:
    """Code that must not sleep asked for something that may sleep (might_sleep() fired).

    ``logged`` is False when the kernel's once-a-second rate limit kept the report out of
    the log; the violation happened all the same.
    """

    context: ContextSnapshot
    gfp: int
    function: str  # what was called, e.g. "__get_free_pages"
    location: str  # file:line of the might_sleep() check
    explanation: str  # what was wrong and the fix, for a learner
    logged: bool


@dataclass(frozen=True, slots=True)
class SchedulingWhileAtomic:
    """A task really went to sleep in atomic context (__schedule_bug())."""

    context: ContextSnapshot
    reason: str


@dataclass(frozen=True, slots=True)
class KswapdWoken:
    """An allocation found zones below their watermarks and woke kswapd.

    Linux's tracepoint is mm_vmscan_wakeup_kswapd.
    """

    zones: tuple[str, ...]
    order: int


@dataclass(frozen=True, slots=True)
class MemoryReclaimed:
    """Page-cache pages were dropped to free memory, by kswapd or by the allocating task itself.

    ``spent_ns`` is the simulated time the allocating task spent on it (0 for kswapd, which is
    its own thread); it sleeps only when nothing could be reclaimed (``reclaim_throttle()``).
    """

    by: str  # "kswapd" or "direct"
    pages: int
    spent_ns: int


@dataclass(frozen=True, slots=True)
class OomKilled:
    """The OOM killer killed a task to free its memory."""

    pid: int
    comm: str
    pages: int
    gfp: int
    order: int


@dataclass(frozen=True, slots=True)
class KernelPanicked:
    """panic(): the machine stopped."""

    message: str


@dataclass(frozen=True, slots=True)
class ObjectAllocated:
    """A slab object was handed out (tracepoints kmalloc / kmem_cache_alloc).

    ``bytes_req`` is what the caller asked for, ``bytes_alloc`` what it got (the cache's slot
    size, or PAGE_SIZE << order above 8 KiB): the difference is internal fragmentation.
    """

    tracepoint: str  # "kmalloc" or "kmem_cache_alloc"
    call_site: str
    ptr: int
    bytes_req: int
    bytes_alloc: int
    gfp: int
    cache: str  # "" for a large kmalloc served by the page allocator


@dataclass(frozen=True, slots=True)
class ObjectFreed:
    """A slab object (or large kmalloc) came back (tracepoints kfree / kmem_cache_free)."""

    tracepoint: str  # "kfree" or "kmem_cache_free"
    call_site: str
    ptr: int
    cache: str


@dataclass(frozen=True, slots=True)
class SlabCreated:
    """A cache took 2^order pages from the page allocator and cut them into objects."""

    cache: str
    pfn: int
    order: int
    objects: int


@dataclass(frozen=True, slots=True)
class SlabFrozen:
    """put_cpu_partial() put the slab at ``pfn`` on the CPU's partial list (it is frozen).

    A full slab that gets an object back (__slab_free()), or a slab get_partial_node() takes
    from the node beyond the one it makes active (mm/slub.c L2639, L2205); only this CPU
    allocates from it, and it is not discarded while frozen, even when empty.  Linux has no
    tracepoint here (the CPU_PARTIAL_FREE / CPU_PARTIAL_NODE statistics count it).
    """

    cache: str
    pfn: int


@dataclass(frozen=True, slots=True)
class SlabsUnfrozen:
    """__unfreeze_partials() moved the CPU's partial slabs (``pfns``) to the node's list.

    When put_cpu_partial() finds the list full (cpu_partial_slabs) or the cache is flushed
    (kmem_cache_shrink(), kmem_cache_destroy()); an empty slab among them is discarded when
    the node already has min_partial partial slabs (each with its SlabFreed).
    """

    cache: str
    pfns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SlabFilled:
    """Boot's allocations took the first ``objects`` slots of the new slab at ``pfn``.

    kmviz's summary of the objects a booted kernel holds (kmviz/data/boot-caches-6.1.tsv):
    one event per slab where Linux traced each object with kmalloc / kmem_cache_alloc.
    """

    cache: str
    pfn: int
    objects: int


@dataclass(frozen=True, slots=True)
class SlabFreed:
    """An empty slab's pages went back to the page allocator."""

    cache: str
    pfn: int
    order: int


@dataclass(frozen=True, slots=True)
class CacheCreated:
    """kmem_cache_create() made a cache (the kmalloc caches are made at boot)."""

    name: str
    object_size: int
    size: int
    objects: int
    order: int
    red_left_pad: int = 0  # bytes before the first object (slub_debug's left red zone)


@dataclass(frozen=True, slots=True)
class CacheMerged:
    """kmem_cache_create() found a compatible cache and made ``name`` an alias of it.

    Mirrors __kmem_cache_alias() (mm/slub.c L4913): no new cache, ``into`` gains a reference,
    and /sys/kernel/slab/<name> becomes a symlink to ``into``'s directory.
    """

    name: str
    into: str


@dataclass(frozen=True, slots=True)
class CacheDestroyed:
    """kmem_cache_destroy() removed an empty cache."""

    name: str


@dataclass(frozen=True, slots=True)
class VmallocMapped:
    """vmalloc() (or vmap()) mapped ``pfns`` (one per page, in virtual order) at ``addr``.

    ``size`` counts the guard page, as /proc/vmallocinfo does.
    """

    addr: int
    size: int
    pfns: tuple[int, ...]
    kind: str = "vmalloc"  # "vmap": the pages stay their owner's, vunmap() does not free them


@dataclass(frozen=True, slots=True)
class VmallocFreed:
    """vfree() released the area at ``addr`` (``deferred``: from interrupt context, later)."""

    addr: int
    deferred: bool


@dataclass(frozen=True, slots=True)
class DmaMapped:
    """dma_map_single() gave a device bus address ``dma_addr`` for ``size`` bytes at ``addr``."""

    device: str
    addr: int
    dma_addr: int
    size: int


@dataclass(frozen=True, slots=True)
class DeviceWrote:
    """A device wrote ``size`` bytes by DMA from ``dma_addr``: the frames it touched."""

    device: str
    dma_addr: int
    size: int
    pfns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MemblockAllocated:
    """memblock reserved ``size`` bytes at physical address ``phys`` during early boot."""

    phys: int
    size: int
    align: int
    caller: str


@dataclass(frozen=True, slots=True)
class BootStageReached:
    """Boot reached a stage: "early" (memblock), "mem_init" (buddy), "running" (slab, vmalloc)."""

    stage: str


@dataclass(frozen=True, slots=True)
class PageMigrated:
    """Compaction copied the movable page at ``pfn`` to ``new_pfn`` (mm_migrate_pages)."""

    pfn: int
    new_pfn: int


@dataclass(frozen=True, slots=True)
class FreePagesIsolated:
    """Compaction's free scanner took the free block of ``order`` at ``pfn`` off its list.

    Its pages become targets for migration (tracepoint mm_compaction_isolate_freepages);
    those not used go back to the free lists as order-0 frees.
    """

    pfn: int
    order: int
    zone: str


@dataclass(frozen=True, slots=True)
class PageTableAllocated:
    """A page from the page allocator became a page table of ``level`` ("PUD", "PMD", "PTE").

    Linux has no tracepoint here; the page gets PG_table (pagetable_pte_ctor()).
    """

    pfn: int
    level: str


@dataclass(frozen=True, slots=True)
class LruPagesAdded:
    """Order-0 pages joined an LRU list (tracepoint mm_lru_insertion).

    ``lru`` is "file" for page cache a read brought in, "anon" for a task's memory that
    page faults filled; ``comm`` is the task.
    """

    pfns: tuple[int, ...]
    lru: str
    comm: str


@dataclass(frozen=True, slots=True)
class CompactionFinished:
    """compact_zone() stopped (tracepoint mm_compaction_end) after moving ``pages_moved`` pages.

    ``status`` is the compact_result as the tracepoint prints it ("success": a free block of
    ``order`` formed; "complete": the scanners met without one; "skipped": it did not start;
    "contended": no free page was left to migrate into); ``mode`` is "async", "sync_light"
    or "sync"; ``order`` -1 means a whole-zone compaction (compact_memory).
    """

    zone: str
    order: int
    pages_moved: int
    success: bool
    status: str
    mode: str
    migrate_pfn: int
    free_pfn: int


@dataclass(frozen=True, slots=True)
class CompactionBegan:
    """compact_zone() started its two scanners (tracepoint mm_compaction_begin)."""

    zone: str
    zone_start: int
    migrate_pfn: int
    free_pfn: int
    zone_end: int
    mode: str


@dataclass(frozen=True, slots=True)
class CompactionMigrated:
    """One batch of isolated pages went through migrate_pages() (mm_compaction_migratepages)."""

    zone: str
    nr_migrated: int
    nr_failed: int


@dataclass(frozen=True, slots=True)
class CompactionTried:
    """An allocation ran direct compaction (mm_compaction_try_to_compact_pages).

    ``mode`` is "async" for the first attempt of the slow path, "sync_light" after reclaim.
    """

    order: int
    gfp: int
    mode: str


@dataclass(frozen=True, slots=True)
class CompactionSuitabilityChecked:
    """compaction_suitable() answered for a zone (tracepoint mm_compaction_suitable).

    ``result`` "success": the watermark for ``order`` is met already; "skipped": too few
    free pages to migrate into; "not_suitable_zone": the fragmentation index says memory is
    short rather than fragmented; "continue": compaction may help.
    """

    zone: str
    order: int
    result: str


@dataclass(frozen=True, slots=True)
class CompactionDeferred:
    """A compaction failed; the next attempts are skipped (mm_compaction_defer_compaction).

    ``considered`` attempts counted since, ``defer_limit`` = 1 << compact_defer_shift of
    them skipped, for orders from ``order_failed`` up.
    """

    zone: str
    order: int
    considered: int
    defer_limit: int
    order_failed: int


@dataclass(frozen=True, slots=True)
class CompactionSkippedAsDeferred:
    """An attempt was skipped because compaction is deferred (mm_compaction_deferred)."""

    zone: str
    order: int
    considered: int
    defer_limit: int
    order_failed: int


@dataclass(frozen=True, slots=True)
class CompactionDeferralReset:
    """Compaction of ``order`` worked: deferral ends (mm_compaction_defer_reset)."""

    zone: str
    order: int
    considered: int
    defer_limit: int
    order_failed: int


@dataclass(frozen=True, slots=True)
class CmaAllocated:
    """cma_alloc() took ``count`` pages from ``pfn`` (tracepoint cma_alloc_finish)."""

    pfn: int
    count: int


@dataclass(frozen=True, slots=True)
class CmaAllocationFailed:
    """cma_alloc() found no range for ``count`` pages; ``result`` -16 (-EBUSY) or -12."""

    count: int
    result: int


@dataclass(frozen=True, slots=True)
class CmaReleased:
    """cma_release() gave back ``count`` pages from ``pfn`` (tracepoint cma_release)."""

    pfn: int
    count: int


@dataclass(frozen=True, slots=True)
class KcompactdWoken:
    """kswapd woke kcompactd0 to compact for ``order`` (mm_compaction_wakeup_kcompactd)."""

    order: int
    highest_zoneidx: int


Event = (
    BlockSplit
    | PagesAllocated
    | PagesFreed
    | BuddiesMerged
    | AllocationFailed
    | FallbackStolen
    | BadPageReported
    | MessageLogged
    | ContextChanged
    | ContextViolated
    | SchedulingWhileAtomic
    | KswapdWoken
    | MemoryReclaimed
    | OomKilled
    | KernelPanicked
    | ObjectAllocated
    | ObjectFreed
    | SlabCreated
    | SlabFreed
    | CacheCreated
    | CacheDestroyed
    | VmallocMapped
    | VmallocFreed
    | DmaMapped
    | DeviceWrote
    | MemblockAllocated
    | BootStageReached
    | PageMigrated
    | FreePagesIsolated
    | PageTableAllocated
    | LruPagesAdded
    | CompactionFinished
    | CompactionBegan
    | CompactionMigrated
    | CompactionTried
    | CompactionSuitabilityChecked
    | CompactionDeferred
    | CompactionSkippedAsDeferred
    | CompactionDeferralReset
    | KcompactdWoken
    | CmaAllocated
    | CmaAllocationFailed
    | CmaReleased
)
