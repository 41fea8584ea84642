"""SLUB: hands out objects of one size, by direct-map address, from slabs of 2^order pages.

A *cache* (``struct kmem_cache``) serves objects of one size, e.g. every ``struct inode`` or
every kmalloc request of 65..96 bytes.  It gets memory from the page allocator a *slab* at a
time: ``2^order`` pages cut into ``objects`` equal slots, the free ones chained on the slab's
freelist.  This CPU allocates from its *active slab* (``c->slab``) until it is full, then takes
a slab from the node's *partial* list, and only when none has room asks the page allocator for
a new one.  A slab that becomes empty goes back to the page allocator, unless the cache wants
to keep ``min_partial`` partial slabs around.

Addresses: slab pages live in the direct map, so object ``i`` of a slab at ``pfn`` is at
``PAGE_OFFSET + (pfn << PAGE_SHIFT) + red_left_pad + i * size``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .constants import PAGE_OFFSET, PAGE_SHIFT

MIN_PARTIAL = 5  # mm/slub.c: keep at least this many partial slabs per node
MAX_PARTIAL = 10  # and at most this many


@dataclass(eq=False, slots=True)
class Slab:
    """One slab: its first page, order, and which of its object slots are free (LIFO)."""

    cache: KmemCache
    pfn: int
    order: int
    objects: int
    freelist: list[int] = field(default_factory=list)  # free slot indexes, next to hand out last
    base: int = 0  # address of slot 0: PAGE_OFFSET + (pfn << PAGE_SHIFT) + red_left_pad

    def __post_init__(self):
        self.base = PAGE_OFFSET + (self.pfn << PAGE_SHIFT) + self.cache.red_left_pad

    @property
    def inuse(self) -> int:
        """Objects handed out."""
        return self.objects - len(self.freelist)

    @property
    def state(self) -> str:
        """ "full", "partial" or "empty"."""
        if not self.freelist:
            return "full"
        return "empty" if len(self.freelist) == self.objects else "partial"

    def address(self, index: int) -> int:
        """Direct-map address of object slot ``index``."""
        return self.base + index * self.cache.size

    def index_of(self, addr: int) -> int | None:
        """The slot ``addr`` starts, or None if it points elsewhere (check_valid_pointer())."""
        index, rest = divmod(addr - self.base, self.cache.size)
        if rest or not 0 <= index < self.objects:
            return None
        return index


@dataclass(eq=False, slots=True)
class KmemCache:
    """One cache: object layout (from SLUB's geometry), its slabs and its counters."""

    name: str
    object_size: int  # bytes the caller asked for (s->object_size)
    size: int  # bytes per slot with alignment and debug data (s->size)
    align: int
    flags: int
    order: int  # preferred slab order (oo)
    objects: int  # objects per slab at that order
    min_order: int  # the fallback order when the preferred one is not free (s->min)
    min_objects: int
    red_left_pad: int
    min_partial: int
    ctor: object = None
    debug: bool = False  # SLAB_CONSISTENCY_CHECKS and friends (slub_debug)
    kmalloc: bool = False
    refcount: int = 1
    cpu_slab: Slab | None = None  # the active slab of CPU 0
    partial: list[Slab] = field(default_factory=list)  # the node's partial list, head first
    slabs: set = field(default_factory=set)  # every slab, full ones included
    requested: dict[int, int] = field(default_factory=dict)  # live object → bytes asked for

    @property
    def active_objs(self) -> int:
        """Objects in use, as /proc/slabinfo counts them."""
        return sum(slab.inuse for slab in self.slabs)

    @property
    def num_objs(self) -> int:
        """Object slots in all slabs."""
        return sum(slab.objects for slab in self.slabs)

    @property
    def pages(self) -> int:
        """Pages the cache holds from the page allocator."""
        return sum(1 << slab.order for slab in self.slabs)

    def __repr__(self) -> str:
        return (
            f"<kmem_cache {self.name}: {self.object_size} B objects in {self.size} B slots, "
            f"{self.objects}/slab of {1 << self.order} pages, {len(self.slabs)} slabs>"
        )


def set_min_partial(size: int) -> int:
    """set_min_partial(): ilog2(size) / 2, clamped to [MIN_PARTIAL, MAX_PARTIAL]."""
    return max(MIN_PARTIAL, min(MAX_PARTIAL, (size.bit_length() - 1) // 2))
