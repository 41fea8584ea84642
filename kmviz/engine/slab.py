"""SLUB: hands out objects of one size, by direct-map address, from slabs of 2^order pages.

A *cache* (``struct kmem_cache``) serves objects of one size, e.g. every ``struct inode`` or
every kmalloc request of 65..96 bytes.  It gets memory from the page allocator a *slab* at a
time: ``2^order`` pages cut into ``objects`` equal slots, the free ones chained on the slab's
freelist.  This CPU allocates from its *active slab* (``c->slab``) until it is full, then takes
the newest slab of its own *per-CPU partial list* (CONFIG_SLUB_CPU_PARTIAL, on in distribution
kernels), then slabs from the node's *partial* list, and only when none has room asks the
page allocator for a new one.  A full slab that gets an object back joins the per-CPU partial
list (it is *frozen*: only this CPU allocates from it); when that list holds
``cpu_partial_slabs`` slabs, the next one drains them all to the node's list.  A slab on the
node's list that becomes empty goes back to the page allocator, unless the cache wants to
keep ``min_partial`` partial slabs around.

Addresses: slab pages live in the direct map, so object ``i`` of a slab at ``pfn`` is at
``PAGE_OFFSET + (pfn << PAGE_SHIFT) + red_left_pad + i * size``.
"""

from __future__ import annotations

from array import array
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import NamedTuple

from .constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .slab_geometry import (
    SIZEOF_VOID_P,
    SLAB_ACCOUNT,
    SLAB_CACHE_DMA,
    SLAB_CACHE_DMA32,
    SLAB_CONSISTENCY_CHECKS,
    SLAB_FAILSLAB,
    SLAB_NOLEAKTRACE,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    SLAB_TRACE,
    SLAB_TYPESAFE_BY_RCU,
    calculate_alignment,
)

# kmem_cache_debug(): the flags that take a cache off SLUB's fast paths (mm/slab.h L286)
SLAB_DEBUG_FLAGS = (
    SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | (SLAB_CONSISTENCY_CHECKS)
)

MIN_PARTIAL = 5  # mm/slub.c: keep at least this many partial slabs per node
MAX_PARTIAL = 10  # and at most this many

# flags that keep a cache from ever being merged (mm/slab_common.c L48; no KASAN)
SLAB_NEVER_MERGE = (
    SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_TYPESAFE_BY_RCU
    | SLAB_NOLEAKTRACE | SLAB_FAILSLAB
)  # fmt: skip
# flags two caches must agree on to be merged (L52)
SLAB_MERGE_SAME = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT


class Track(NamedTuple):
    """One ``struct track`` of SLAB_STORE_USER (mm/slub.c L289): who allocated or freed an object.

    ``frames`` are what stack_depot_save() kept, innermost first; ``caller`` is ``t->addr``,
    the function that called the allocator; ``when`` is in jiffies.  (A NamedTuple: one is
    made per allocation and free of a tracked cache.)
    """

    caller: str
    frames: tuple[str, ...]
    cpu: int
    pid: int
    when: int


FREE_SLOT = -1  # Slab.requested of a slot not handed out


@dataclass(eq=False, slots=True)
class Slab:
    """One slab: its first page, order, which of its object slots are free (LIFO), and what
    each object handed out was asked for."""

    cache: KmemCache
    pfn: int
    order: int
    objects: int
    freelist: list[int] = field(default_factory=list)  # free slot indexes, next to hand out last
    base: int = 0  # address of slot 0: PAGE_OFFSET + (pfn << PAGE_SHIFT) + red_left_pad
    frozen: bool = False  # the CPU's: its active slab or on its partial list (slab->frozen)
    disabled: bool = False  # slub_debug found it corrupt: it hands out and takes back nothing
    # per slot: bytes the caller asked for (0: one of boot's objects), FREE_SLOT if not live
    requested: array = None

    def __post_init__(self):
        self.base = PAGE_OFFSET + (self.pfn << PAGE_SHIFT) + self.cache.red_left_pad
        self.requested = array("i", [FREE_SLOT]) * self.objects

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
    inuse: int = 0  # the object and its right red zone: where the metadata starts (s->inuse)
    offset: int = 0  # where the free pointer sits from the object's start (s->offset)
    ctor: object = None
    usersize: int = 0  # bytes of each object usercopy may touch (s->usersize): no merging
    debug: bool = False  # SLAB_CONSISTENCY_CHECKS and friends (slub_debug)
    kmalloc: bool = False
    refcount: int = 1  # the cache and its aliases; -1: exempt from merging (boot caches)
    aliases: list[str] = field(default_factory=list)  # names merged into it, oldest first
    cpu_partial: int = 0  # objects the CPU's partial list may hold (s->cpu_partial)
    cpu_partial_slabs: int = 0  # the same in slabs: put_cpu_partial() drains at this many
    cpu_slab: Slab | None = None  # the active slab of CPU 0
    percpu_partial: list[Slab] = field(default_factory=list)  # CPU 0's partial list, head last
    partial: list[Slab] = field(default_factory=list)  # the node's partial list, head first
    slabs: set = field(default_factory=set)  # every slab, full ones included
    # SLAB_STORE_USER: object → [allocated, freed] Track or None; no entry: both zeroed
    tracks: dict[int, list] = field(default_factory=dict)
    # what memset() wrote into a slot of a red-zoned or poisoned cache: object → the slot's
    # bytes from its left red zone on (no entry: SLUB's own bytes, intact)
    images: dict[int, bytearray] = field(default_factory=dict)

    @property
    def requested(self) -> RequestedSizes:
        """Every live object → the bytes asked for (0: one of boot's), read from its slabs."""
        return RequestedSizes(self)

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


class RequestedSizes(Mapping):
    """A cache's live objects, address → bytes asked for, as its slabs' ``requested`` say."""

    __slots__ = ("_cache",)

    def __init__(self, cache: KmemCache):
        self._cache = cache

    def __getitem__(self, addr: int) -> int:
        if addr.__class__ is int:
            for slab in self._cache.slabs:
                index = slab.index_of(addr)
                if index is not None and slab.requested[index] != FREE_SLOT:
                    return slab.requested[index]
        raise KeyError(addr)

    def __iter__(self) -> Iterator[int]:
        for addr, _ in self.pairs():
            yield addr

    def pairs(self) -> Iterator[tuple[int, int]]:
        """(address, bytes asked) of every live object, slab by slab: no address looked up."""
        size = self._cache.size
        for slab in self._cache.slabs:
            base = slab.base
            for index, asked in enumerate(slab.requested):
                if asked != FREE_SLOT:
                    yield base + index * size, asked

    def items(self) -> ItemsView:
        """Mapping.items(), read in one pass over the slots (not a lookup per address)."""
        return _RequestedItems(self)

    def values(self) -> ValuesView:
        """Mapping.values(), read in one pass over the slots (not a lookup per address)."""
        return _RequestedValues(self)

    def __len__(self) -> int:
        return sum(slab.objects - slab.requested.count(FREE_SLOT) for slab in self._cache.slabs)

    def __repr__(self) -> str:
        return repr(dict(self))


class _RequestedItems(ItemsView):
    """RequestedSizes.items(): iterated from the slots, as ``pairs()`` reads them."""

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return self._mapping.pairs()


class _RequestedValues(ValuesView):
    """RequestedSizes.values(): iterated from the slots, as ``pairs()`` reads them."""

    def __iter__(self) -> Iterator[int]:
        for _, asked in self._mapping.pairs():
            yield asked


def set_cpu_partial(size: int, objects: int, debug: bool) -> tuple[int, int]:
    """(s->cpu_partial, s->cpu_partial_slabs) of a cache of ``size``-byte slots, ``objects``
    per slab; (0, 0) for a debugged cache, which has no per-CPU partial list.

    Mirrors set_cpu_partial() and slub_set_cpu_partial() (mm/slub.c L4160, L458) with
    CONFIG_SLUB_CPU_PARTIAL=y (Debian's): 6, 24, 52 or 120 objects for slots of at least
    PAGE_SIZE, 1024, 256 bytes or smaller, then as slabs assumed half full,
    ``DIV_ROUND_UP(objects * 2, per slab)``: a 200-byte cache, 20 per slab, keeps 120 objects
    in ``(240 + 19) // 20 == 12`` slabs.
    """
    if debug:
        return 0, 0
    if size >= PAGE_SIZE:
        nr_objects = 6
    elif size >= 1024:
        nr_objects = 24
    elif size >= 256:
        nr_objects = 52
    else:
        nr_objects = 120
    return nr_objects, -(-nr_objects * 2 // objects)


def set_min_partial(size: int) -> int:
    """set_min_partial(): ilog2(size) / 2, clamped to [MIN_PARTIAL, MAX_PARTIAL]."""
    return max(MIN_PARTIAL, min(MAX_PARTIAL, (size.bit_length() - 1) // 2))


def slab_unmergeable(cache: KmemCache) -> bool:
    """slab_unmergeable() (mm/slab_common.c L138): whether nothing may be merged into ``cache``.

    A never-merge flag, a constructor, a usercopy region or refcount < 0 (the kmalloc caches
    of KMALLOC_NORMAL, exempted by new_kmalloc_cache() L861) rule it out; slab_nomerge is
    the caller's business.
    """
    return bool(
        cache.flags & SLAB_NEVER_MERGE or cache.ctor is not None or cache.usersize
        or cache.refcount < 0
    )  # fmt: skip


def find_mergeable(
    caches: list[KmemCache], size: int, align: int, flags: int, ctor
) -> KmemCache | None:
    """The existing cache a new one of ``size`` bytes can be an alias of, or None.

    Mirrors find_mergeable() (mm/slab_common.c L158) without slab_nomerge (the caller's
    check): no constructor and no never-merge flag; the size rounded up to a word and to the
    alignment (``calculate_alignment()``); then the newest cache (the list walked in reverse)
    that is mergeable, at least that big, agrees on SLAB_MERGE_SAME, has a slot size that is
    a multiple of the alignment and wastes less than a word more per object::

        kmem_cache_create("my_obj", 60): size ALIGN(60, 8) = 64 -> a 64-byte slot cache
        (64 - 64 = 0 < 8); a 56-byte cache wastes nothing either, but 56 < 64 cannot hold it
    """
    if ctor is not None or flags & SLAB_NEVER_MERGE:
        return None
    size = -(-size // SIZEOF_VOID_P) * SIZEOF_VOID_P
    align = calculate_alignment(flags, align, size)
    size = -(-size // align) * align
    for cache in reversed(caches):
        if slab_unmergeable(cache) or size > cache.size:
            continue
        if flags & SLAB_MERGE_SAME != cache.flags & SLAB_MERGE_SAME:
            continue
        if cache.size & ~(align - 1) != cache.size or cache.size - size >= SIZEOF_VOID_P:
            continue
        return cache
    return None


def create_unique_id(cache: KmemCache) -> str:
    """The /sys/kernel/slab directory of a mergeable cache, ``:[flags-]size``.

    Mirrors create_unique_id() (mm/slub.c L5911): ``d`` SLAB_CACHE_DMA, ``D`` DMA32, ``a``
    SLAB_RECLAIM_ACCOUNT, ``F`` SLAB_CONSISTENCY_CHECKS, ``A`` SLAB_ACCOUNT, then the slot size
    in seven digits: ``:0000064``, ``:A-0000192``.
    """
    letters = "".join(
        letter
        for flag, letter in (
            (SLAB_CACHE_DMA, "d"),
            (SLAB_CACHE_DMA32, "D"),
            (SLAB_RECLAIM_ACCOUNT, "a"),
            (SLAB_CONSISTENCY_CHECKS, "F"),
            (SLAB_ACCOUNT, "A"),
        )
        if cache.flags & flag
    )
    return f":{letters}-{cache.size:07d}" if letters else f":{cache.size:07d}"
