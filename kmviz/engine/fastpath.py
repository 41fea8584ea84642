"""Puts the C fast paths (``_fastpath.c``) in front of a Kernel's hottest calls, if built.

``__get_free_pages()`` / ``free_pages()`` and ``alloc_pages()`` / ``__free_pages()`` of a plain
block (through the current CPU's per-CPU lists for orders 0..3 and 9), ``kmalloc()`` /
``kfree()`` and ``kmem_cache_alloc()`` / ``kmem_cache_free()`` of a slab object (new slabs
and large kmallocs included) are most of what a busy machine does.  When the extension
compiled at install time, ``attach()`` gives a kernel instance C versions of them that handle
the common case on the same data and hand every other case to the Python methods, which stay
the reference.
Without a compiler nothing changes except speed.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from . import history
from .buddy import ALLOCATED, COMPOUND, OWNER_SLAB, held_code
from .constants import MAX_ORDER
from .events import ObjectFreed, SlabCreated, SlabsUnfrozen
from .gfp import __GFP_BITS_MASK, BIT
from .history import EXIT_SITE
from .kmalloc import GFP_SLAB_BUG_MASK, NEW_SLAB_GFP_KEPT
from .page import Page
from .slab import SLAB_DEBUG_FLAGS, KmemCache, Slab
from .slab_geometry import SLAB_CACHE_DMA, SLAB_CACHE_DMA32, SLAB_RECLAIM_ACCOUNT

INTERFACE = 31  # what _fastpath.c's INTERFACE must say: its keywords and the attributes it reads

try:
    from ._fastpath import INTERFACE as _BUILT_INTERFACE
    from ._fastpath import (
        FastPath,
        ReplayTable,
        SlabFastPath,
        paint_blocks,
        pte_clear,
        pte_fill,
        replay_events,
        scan_trace_lines,
        slab_page_allocs,
        vmap_fit,
    )
except ImportError:  # not compiled (no C compiler at install time), or built before INTERFACE
    FastPath = SlabFastPath = pte_fill = pte_clear = paint_blocks = None
    replay_events = ReplayTable = scan_trace_lines = slab_page_allocs = vmap_fit = None
else:
    if _BUILT_INTERFACE != INTERFACE:  # built from an older _fastpath.c: not used until rebuilt
        FastPath = SlabFastPath = pte_fill = pte_clear = paint_blocks = None
        replay_events = ReplayTable = scan_trace_lines = slab_page_allocs = vmap_fit = None

if TYPE_CHECKING:
    from .kernel import Kernel

ENABLED = True  # tests switch it off to run the pure-Python reference

# the bits SlabFastPath's allocate_slab() and kmalloc_large() combine, in its order
SLAB_BITS = (
    NEW_SLAB_GFP_KEPT, BIT.DMA, BIT.RECLAIMABLE, BIT.NOWARN, BIT.NORETRY, BIT.NOFAIL,
    BIT.DIRECT_RECLAIM, BIT.NOMEMALLOC, BIT.RECLAIM, BIT.COMP, GFP_SLAB_BUG_MASK, SLAB_CACHE_DMA,
    SLAB_RECLAIM_ACCOUNT, BIT.DMA32, SLAB_CACHE_DMA32,
)  # fmt: skip
# buddy.set_owner(pfn, OWNER_SLAB) as a table: an allocated head's code -> the slab's code
SLAB_CODES = bytes(
    held_code(code, OWNER_SLAB) if code == ALLOCATED or code - COMPOUND in range(1, MAX_ORDER)
    else 0
    for code in range(128)
)  # fmt: skip


def available() -> bool:
    """True if the C extension was built and may be used."""
    return FastPath is not None and ENABLED


def pte_functions() -> tuple | None:
    """(pte_fill, pte_clear) for PageTables' runs of PTEs within one table, if available."""
    return (pte_fill, pte_clear) if available() else None


def vmap_fitter():
    """vmap_fit(), VmapRanges.alloc()'s search and common cuts in C, if available."""
    return vmap_fit if available() else None


def block_painter():
    """paint_blocks(target, level, block, values) for the Timeline's bulk fold, if available."""
    return paint_blocks if available() else None


def replay_function() -> tuple | None:
    """(replay_events, ReplayTable, slab_page_allocs): trace.py's replay loop in C, its
    tables and _slab_page_allocs() in C, if available."""
    return (replay_events, ReplayTable, slab_page_allocs) if available() else None


def trace_scanner():
    """scan_trace_lines(), _trace_columns.py's reading of event lines in C, if available."""
    return scan_trace_lines if available() else None


def slab_descs_limit() -> int:
    """history.SLAB_DESCS as it is now (tests lower it): SlabFastPath reads it when it counts."""
    return history.SLAB_DESCS


def attach(kernel: Kernel) -> bool:
    """Give ``kernel`` the C versions of its hot calls; False if they are not available."""
    if not available():
        return False
    buddy = kernel.buddy
    cls = type(kernel)
    fast = FastPath(
        state=buddy.state,
        nxt=buddy.nxt,
        prv=buddy.prv,
        pageblock_mt=buddy.pageblock_mt,
        zone_by_chunk=buddy.zone_position_by_chunk,
        atomic=kernel.atomic_flag,
        list_bases=tuple(zone.list_base for zone in kernel.zones),
        nr_free=tuple(zone.nr_free for zone in kernel.zones),
        free_count=tuple(zone.free_count for zone in kernel.zones),
        direct_map_end=kernel.direct_map_end,
        records=kernel.history.records,
        plans=kernel.page_plans_for_c,
        notify=kernel.notify_each_call,
        slow_get_free_pages=cls.get_free_pages.__get__(kernel),
        slow_free_pages=cls.free_pages.__get__(kernel),
        cpu=kernel.context.cpu_cell,
        zones=tuple(kernel.zones),
        pcp_lists=tuple(zone.pcp_lists for zone in kernel.zones),
        pcp_count=tuple(zone.pcp_count for zone in kernel.zones),
        pcp_free_factor=tuple(zone.pcp_free_factor for zone in kernel.zones),
        pcp_limits=tuple(zone.pcp_limits for zone in kernel.zones),
        rmqueue_fallback=buddy.rmqueue_fallback,
        slow_after_fast=kernel._get_free_pages_slow,
        alloc_plans=kernel.alloc_page_plans_for_c,
        slow_alloc_pages=cls.alloc_pages.__get__(kernel),
        alloc_after_fast=kernel._alloc_pages_slow,
        slow_free_pages_block=cls.free_pages_block.__get__(kernel),
        page_type=Page,
        zone_names=tuple(zone.name for zone in kernel.zones),
        plans_dropped=kernel.fast_plans_dropped,
        refcount_underflow=kernel.refcount_underflow,
    )
    kernel.get_free_pages = fast.get_free_pages
    kernel.free_pages = fast.free_pages
    setattr(kernel, "__get_free_pages", fast.get_free_pages)
    kernel.alloc_pages = fast.alloc_pages
    kernel.free_pages_block = fast.free_pages_block
    setattr(kernel, "__free_pages", fast.free_pages_block)
    kernel.pages_fastpath = fast  # vmalloc()'s page loops (VmallocAPI._vm_area_alloc_pages())
    if kernel._fast_slabs is not kernel.slab_by_pfn:  # a debugged cache: SLUB's checks run
        return True
    slab = SlabFastPath(
        tables=kernel._kmalloc_tables,
        slab_by_pfn=kernel.slab_by_pfn,
        notify=kernel.notify_each_call,
        atomic=kernel.atomic_flag,
        records=kernel.history.records,
        scratch=array("q", [0]),
        desc_index=kernel.history._slab_desc_index,
        slab_descs=kernel.history.slab_descs,
        slab_emptied=kernel._slab_emptied,
        discard_slab=kernel._discard_slab,
        objects=kernel.history.objects,
        unfrozen_type=SlabsUnfrozen,
        slab_type=Slab,
        cache_type=KmemCache,
        debug_flags=SLAB_DEBUG_FLAGS,
        gfp_mask=__GFP_BITS_MASK,
        slow_kmalloc=cls.kmalloc.__get__(kernel),
        slow_kfree=cls.kfree.__get__(kernel),
        slow_kmem_cache_alloc=cls.kmem_cache_alloc.__get__(kernel),
        slow_kmem_cache_free=cls.kmem_cache_free.__get__(kernel),
        pages=fast,
        page_plans=kernel.slab_page_plans_for_c,
        slab_pages=kernel._slab_pages,
        slab_pages_slow=kernel._slab_pages_slow,
        notify_end=kernel._notify,
        out_of_memory=kernel._slab_out_of_memory,
        large_kmalloc=kernel.large_kmalloc,
        created_type=SlabCreated,
        freed_type=ObjectFreed,
        exit_site=EXIT_SITE,
        slab_bits=SLAB_BITS,
        descs_limit=slab_descs_limit,
        slab_codes=SLAB_CODES,
    )
    kernel.kmalloc = slab.kmalloc
    kernel.kfree = slab.kfree
    kernel.kmem_cache_alloc = slab.kmem_cache_alloc
    kernel.kmem_cache_free = slab.kmem_cache_free
    return True


NAMES = (  # the attributes attach() sets
    "get_free_pages",
    "free_pages",
    "__get_free_pages",
    "alloc_pages",
    "free_pages_block",
    "__free_pages",
    "kmalloc",
    "kfree",
    "kmem_cache_alloc",
    "kmem_cache_free",
    "pages_fastpath",
)


def detach(kernel: Kernel) -> None:
    """Send every call back to the Python methods (after a panic, say)."""
    for name in NAMES:
        kernel.__dict__.pop(name, None)
