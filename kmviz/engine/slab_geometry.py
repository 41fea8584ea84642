"""Slab geometry of Linux 6.1 SLUB: kmalloc size classes and cache layouts, in bytes and pages.

A slab cache hands out objects of one size, carved out of *slabs*: blocks of ``2^order`` pages
from the buddy allocator.  Three numbers decide what a cache looks like, and this module
computes them the way Linux 6.1 (x86-64, 4 KiB pages) does, without any simulated machine:

* ``s->size``, the stride from one object to the next: the requested size rounded up to the
  cache's alignment, plus the debug metadata when ``slub_debug`` is on (``calculate_sizes()``)::

      | red_left_pad | object ... | red zone | free ptr | 2 x struct track | orig size | pad |
                      ^ object_size          ^ inuse (offset)                 (debug only)

  Without debugging the free pointer lives *inside* the free object, near its middle
  (``s->offset = ALIGN_DOWN(object_size / 2, 8)``), so ``size`` is just the aligned object.
* ``order``, how many pages a slab takes (``calculate_order()``): enough for
  ``4 * (fls(nr_cpus) + 1)`` objects if the leftover is at most 1/16, 1/8 or 1/4 of the slab,
  backing off on the object count, never above ``slub_max_order`` (3) unless one object needs
  it.  ``objects = (PAGE_SIZE << order) // size``; the rest, ``leftover``, is wasted.
* Which kmalloc cache serves ``kmalloc(n, gfp)``: the size class (``kmalloc_index()``, with the
  odd 96- and 192-byte classes) and the kind (``kmalloc_type()``: normal, dma, reclaim, cgroup),
  which together name the cache, e.g. ``kmalloc-96``, ``dma-kmalloc-1k``, ``kmalloc-cg-64``.

The configuration assumed: CONFIG_SLUB, CONFIG_SLUB_DEBUG=y (so the debug flags work; they are
off unless asked for), CONFIG_STACKDEPOT=y (selected by SLUB_DEBUG on x86, so a ``struct
track`` is 32 bytes), CONFIG_ZONE_DMA=y, CONFIG_MEMCG_KMEM=y, CONFIG_KASAN=n, and no
``slub_debug`` boot option unless the caller passes its flags (``DEBUG_DEFAULT_FLAGS``).
Sizes are bytes, orders are page orders; line numbers are those of the 6.1.192 tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import MAX_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT, PAGE_SIZE
from .gfp import __GFP_ACCOUNT, __GFP_DMA, __GFP_RECLAIMABLE
from .page import get_order

# --- kmalloc size limits (include/linux/slab.h L286-325, CONFIG_SLUB) ----------------------
KMALLOC_SHIFT_LOW = 3  # log2 of the smallest kmalloc class (L292)
KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1  # 13: log2 of the largest kmalloc class (L289)
KMALLOC_SHIFT_MAX = MAX_ORDER + PAGE_SHIFT - 1  # 22: log2 of the largest kmalloc() (L290)
KMALLOC_MIN_SIZE = 1 << KMALLOC_SHIFT_LOW  # bytes: 8 (L320)
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH  # bytes: 8192, larger goes to the pages (L312)
KMALLOC_MAX_SIZE = 1 << KMALLOC_SHIFT_MAX  # bytes: 4 MiB, the most kmalloc() can give (L310)
ZERO_SIZE_PTR = 16  # what kmalloc(0) returns: (void *)16 (L145)
ARCH_KMALLOC_MINALIGN = 8  # bytes: __alignof__(unsigned long long), no ARCH_DMA_MINALIGN (L236)
ARCH_SLAB_MINALIGN = 8  # bytes: __alignof__(unsigned long long) (L248)
SIZEOF_VOID_P = 8  # bytes: sizeof(void *), the free pointer
SIZE_MAX = (1 << 64) - 1  # bytes: the saturated size kmalloc_size_roundup() passes through

# --- SLUB tunables and limits (mm/slub.c) ----------------------------------------------------
SLUB_MIN_ORDER = 0  # slub_min_order default (L3918)
SLUB_MAX_ORDER = PAGE_ALLOC_COSTLY_ORDER  # slub_max_order default: 3 (L3919)
SLUB_MIN_OBJECTS = 0  # slub_min_objects default: 0 means 4 * (fls(nr_cpus) + 1) (L3920)
MAX_OBJS_PER_PAGE = 32767  # objects per slab, since slab.objects is a u15 (L277)
OO_SHIFT = 16  # kmem_cache_order_objects packs (order << 16) + objects (L275)
SIZEOF_STRUCT_TRACK = 32  # bytes: addr 8 + depot handle 4 + cpu 4 + pid 4 + pad 4 + when 8 (L289)
SIZEOF_ORIG_SIZE = 4  # bytes: the kmalloc request size STORE_USER keeps (unsigned int, L4274)
ENOSYS = 38  # calculate_order()'s error when not even one object fits in MAX_ORDER - 1

# --- kmem_cache_create() flags (include/linux/slab.h L28-135, slab_flags_t) ------------------
SLAB_CONSISTENCY_CHECKS = 0x00000100  # debug: check objects on alloc and free
SLAB_RED_ZONE = 0x00000400  # debug: guard bytes around each object
SLAB_POISON = 0x00000800  # debug: fill free objects with 0x6b, end with 0xa5
SLAB_KMALLOC = 0x00001000  # a kmalloc cache (adds the original-size word under STORE_USER)
SLAB_HWCACHE_ALIGN = 0x00002000  # align objects on cache lines
SLAB_CACHE_DMA = 0x00004000  # slabs from ZONE_DMA (GFP_DMA)
SLAB_CACHE_DMA32 = 0x00008000  # slabs from ZONE_DMA32
SLAB_STORE_USER = 0x00010000  # debug: remember who allocated and freed each object
SLAB_RECLAIM_ACCOUNT = 0x00020000  # objects are reclaimable: slabs get __GFP_RECLAIMABLE
SLAB_PANIC = 0x00040000  # panic if kmem_cache_create() fails
SLAB_TYPESAFE_BY_RCU = 0x00080000  # slab pages are freed after an RCU grace period
SLAB_TRACE = 0x00200000  # debug: trace every allocation and free of the cache
SLAB_NOLEAKTRACE = 0x00800000  # kmemleak does not track the cache's objects
SLAB_FAILSLAB = 0x02000000  # fault injection may fail the cache's allocations
SLAB_ACCOUNT = 0x04000000  # charge objects to the memory cgroup (CONFIG_MEMCG_KMEM=y)

# what "slub_debug" with no options turns on (mm/slub.c L257)
DEBUG_DEFAULT_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER

# --- the kmalloc array (mm/slab_common.c) ----------------------------------------------------
# enum kmalloc_cache_type with ZONE_DMA and MEMCG_KMEM (slab.h L342): position = enum value
KMALLOC_KINDS = ("normal", "cgroup", "reclaim", "dma")

# size_index[] (slab_common.c L664): the class of sizes 1..192, by (size - 1) // 8
SIZE_INDEX = (3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2)

# kmalloc_info[] (slab_common.c L764): (bytes, short size used in the name), by index
_KMALLOC_INFO = (
    (0, "0"),
    (96, "96"),
    (192, "192"),
    (8, "8"),
    (16, "16"),
    (32, "32"),
    (64, "64"),
    (128, "128"),
    (256, "256"),
    (512, "512"),
    (1024, "1k"),
    (2048, "2k"),
    (4096, "4k"),
    (8192, "8k"),
    (16384, "16k"),
    (32768, "32k"),
    (65536, "64k"),
    (131072, "128k"),
    (262144, "256k"),
    (524288, "512k"),
    (1048576, "1M"),
    (2097152, "2M"),
)

# the name prefix of each kind, INIT_KMALLOC_INFO() (slab_common.c L738-757)
_KIND_PREFIX = {
    "normal": "kmalloc-",
    "dma": "dma-kmalloc-",
    "reclaim": "kmalloc-rcl-",
    "cgroup": "kmalloc-cg-",
}

# create_kmalloc_caches() (slab_common.c L869) makes classes KMALLOC_SHIFT_LOW..HIGH, and the
# 96 and 192 byte classes right after 64 and 128: indexes 1, 2, 3..13 on 4 KiB pages.
KMALLOC_INDEXES = (1, 2, *range(KMALLOC_SHIFT_LOW, KMALLOC_SHIFT_HIGH + 1))


def fls(value: int) -> int:
    """The 1-based position of the highest set bit, 0 for 0 (include/asm-generic/bitops/fls.h)."""
    return value.bit_length()


def cache_line_size() -> int:
    """Bytes per L1 cache line: 64, what x86-64 CPUs report as x86_cache_alignment.

    x86 defines cache_line_size() as boot_cpu_data.x86_cache_alignment
    (arch/x86/include/asm/processor.h L193), the CLFLUSH line size, 64 on every x86-64 CPU
    the simulator pretends to be.
    """
    return 64


def _align(value: int, alignment: int) -> int:
    """``value`` rounded up to a multiple of the power of two ``alignment``: ALIGN()."""
    return (value + alignment - 1) & ~(alignment - 1)


def _check_size(size: int, what: str) -> None:
    """Raise TypeError/ValueError unless ``size`` is a byte count (an int >= 0)."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{what} takes a size in bytes (int), not {type(size).__name__}")
    if size < 0:
        raise ValueError(f"{what} size must be >= 0 bytes, got {size}")


# --- kmalloc size classes ----------------------------------------------------------------------


def kmalloc_index(size: int) -> int:
    """The kmalloc class index that serves a request of ``size`` bytes; 0 for size 0.

    Mirrors kmalloc_slab() (mm/slab_common.c L700): sizes up to 192 look up
    ``size_index[(size - 1) / 8]`` (which routes 65..96 to class 1, "kmalloc-96", and 129..192
    to class 2, "kmalloc-192"), larger ones use ``fls(size - 1)``, so 2^(n-1) < size <= 2^n
    gives n.  Above KMALLOC_MAX_CACHE_SIZE (8192) kmalloc() does not use a class at all; the
    index is still given, as __kmalloc_index() (include/linux/slab.h L408) does, up to 2 MiB
    (index 21), and a larger size raises ValueError where __kmalloc_index() hits BUG().
    """
    _check_size(size, "kmalloc_index()")
    if size == 0:
        return 0
    if size <= 192:
        return SIZE_INDEX[(size - 1) // 8]
    if size > 1 << (len(_KMALLOC_INFO) - 1):
        raise ValueError(f"kmalloc_index(): no kmalloc class above 2 MiB, got {size} bytes")
    return fls(size - 1)


def _check_index(index: int) -> None:
    """Raise ValueError unless ``index`` is a kmalloc_info[] index (0..21)."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"a kmalloc index is an int, not {type(index).__name__}")
    if not 0 <= index < len(_KMALLOC_INFO):
        raise ValueError(f"kmalloc index must be 0..{len(_KMALLOC_INFO) - 1}, got {index}")


def kmalloc_cache_size(index: int) -> int:
    """Bytes each object of kmalloc class ``index`` holds: kmalloc_info[index].size.

    Index 1 is 96, 2 is 192, 3..21 are 2^index (8 … 2 MiB), 0 is the zero-size class
    (mm/slab_common.c L764).
    """
    _check_index(index)
    return _KMALLOC_INFO[index][0]


def kmalloc_cache_name(index: int, kind: str = "normal") -> str:
    """The name of the kmalloc cache of class ``index`` and ``kind``, as in /proc/slabinfo.

    Mirrors kmalloc_info[].name[type] built by INIT_KMALLOC_INFO() (mm/slab_common.c L750, L764):
    "kmalloc-96", "kmalloc-1k", "dma-kmalloc-128", "kmalloc-rcl-64", "kmalloc-cg-2k".  ``kind``
    is one of KMALLOC_KINDS ("normal", "dma", "reclaim", "cgroup").
    """
    _check_index(index)
    try:
        prefix = _KIND_PREFIX[kind]
    except KeyError:
        raise ValueError(f"kmalloc kind must be one of {KMALLOC_KINDS}, got {kind!r}") from None
    return prefix + _KMALLOC_INFO[index][1]


def kmalloc_type(gfp: int) -> str:
    """Which kind of kmalloc cache a request with GFP mask ``gfp`` comes from.

    Mirrors kmalloc_type() (include/linux/slab.h L371) with CONFIG_ZONE_DMA and
    CONFIG_MEMCG_KMEM: none of __GFP_DMA, __GFP_RECLAIMABLE, __GFP_ACCOUNT → "normal";
    otherwise __GFP_DMA wins ("dma"), then __GFP_RECLAIMABLE ("reclaim"), then __GFP_ACCOUNT
    ("cgroup").  __GFP_DMA32 is not a kmalloc kind (it is in GFP_SLAB_BUG_MASK).
    """
    if not gfp & (__GFP_RECLAIMABLE | __GFP_DMA | __GFP_ACCOUNT):
        return "normal"
    if gfp & __GFP_DMA:
        return "dma"
    if gfp & __GFP_RECLAIMABLE:
        return "reclaim"
    return "cgroup"


def kmalloc_size_roundup(size: int) -> int:
    """The bytes kmalloc(``size``) really hands out, without allocating: what ksize() would say.

    Mirrors kmalloc_size_roundup() (mm/slab_common.c L718): 0 stays 0, SIZE_MAX stays
    SIZE_MAX, a size above KMALLOC_MAX_CACHE_SIZE becomes ``PAGE_SIZE << get_order(size)``
    (the compound page kmalloc_large() takes; like the kernel, no cap at KMALLOC_MAX_SIZE even
    though such a kmalloc() fails), anything else the object size of its class.
    """
    _check_size(size, "kmalloc_size_roundup()")
    if size == 0:
        return 0
    if size >= SIZE_MAX:
        return SIZE_MAX
    if size > KMALLOC_MAX_CACHE_SIZE:
        return PAGE_SIZE << get_order(size)
    return kmalloc_cache_size(kmalloc_index(size))


# --- cache layout ------------------------------------------------------------------------------


def calculate_alignment(flags: int, align: int, size: int) -> int:
    """The object alignment in bytes of a cache of ``size``-byte objects asking for ``align``.

    Mirrors calculate_alignment() (mm/slab_common.c L111): SLAB_HWCACHE_ALIGN asks for a cache
    line, halved while the object fits in half of it (a 24-byte object gets 32, a 16-byte one
    16) but never below ``align``; then at least ARCH_SLAB_MINALIGN, rounded up to a multiple
    of sizeof(void *).
    """
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = cache_line_size()
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, ARCH_SLAB_MINALIGN)
    return _align(align, SIZEOF_VOID_P)


def order_objects(order: int, size: int) -> int:
    """How many ``size``-byte objects fit in a slab of ``order``: order_objects() (slub.c L432)."""
    return (PAGE_SIZE << order) // size


def calc_slab_order(
    size: int, min_objects: int, max_order: int, fract_leftover: int, min_order: int = 0
) -> int:
    """The lowest order from which ``min_objects`` fit and at most 1/``fract_leftover`` is left.

    Mirrors calc_slab_order() (mm/slub.c L3947), ``min_order`` being slub_min_order: it starts
    at ``max(min_order, get_order(min_objects * size))`` and returns the first order up to
    ``max_order`` whose leftover ``(PAGE_SIZE << order) % size`` is at most
    ``(PAGE_SIZE << order) / fract_leftover``, or ``max_order + 1`` if none is.  If even
    ``min_order`` would hold more than MAX_OBJS_PER_PAGE objects it returns
    ``get_order(size * MAX_OBJS_PER_PAGE) - 1``, as the kernel does.
    """
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    order = max(min_order, get_order(min_objects * size))
    while order <= max_order:
        slab_bytes = PAGE_SIZE << order
        if slab_bytes % size <= slab_bytes // fract_leftover:
            break
        order += 1
    return order


def auto_min_objects(cpus: int) -> int:
    """The objects a slab should hold when slub_min_objects is 0: ``4 * (fls(nr_cpus) + 1)``.

    Mirrors calculate_order() (mm/slub.c L3987-4001): nr_cpus is num_present_cpus(), or
    nr_cpu_ids if that is <= 1; the simulator has as many possible CPUs as present ones, so
    both are ``cpus``: 1 CPU → 8, 2 → 12, 4 → 16, 8 → 20, 16 → 24, 64 → 32, 128 → 36.
    """
    return 4 * (fls(cpus) + 1)


def calculate_order(
    size: int,
    cpus: int = 2,
    min_order: int = SLUB_MIN_ORDER,
    max_order: int = SLUB_MAX_ORDER,
    min_objects: int = SLUB_MIN_OBJECTS,
) -> int:
    """The page order of a slab of ``size``-byte objects (``size`` being ``s->size``).

    Mirrors calculate_order() (mm/slub.c L3972): ``min_objects`` (0: auto_min_objects(cpus)),
    capped at what a slab of ``max_order`` holds; try leftover fractions 1/16, 1/8, 1/4 and,
    failing all, one object fewer, down to 2; then a single object within ``max_order``, then
    within MAX_ORDER - 1.  When nothing fits the kernel returns -ENOSYS; this raises
    ValueError.  ``min_order``, ``max_order`` and ``min_objects`` are the slub_min_order=,
    slub_max_order= and slub_min_objects= boot parameters.
    """
    if not min_objects:
        min_objects = auto_min_objects(cpus)
    min_objects = min(min_objects, order_objects(max_order, size))
    while min_objects > 1:
        for fraction in (16, 8, 4):
            order = calc_slab_order(size, min_objects, max_order, fraction, min_order)
            if order <= max_order:
                return order
        min_objects -= 1
    order = calc_slab_order(size, 1, max_order, 1, min_order)
    if order <= max_order:
        return order
    order = calc_slab_order(size, 1, MAX_ORDER, 1, min_order)
    if order < MAX_ORDER:
        return order
    raise ValueError(
        f"calculate_order(): a {size}-byte object fits no slab up to order {MAX_ORDER - 1} "
        f"(-ENOSYS, errno {ENOSYS})"
    )


@dataclass(frozen=True, slots=True)
class Geometry:
    """The layout of one slab cache, as calculate_sizes() leaves it in ``struct kmem_cache``.

    All sizes and offsets are bytes; ``order`` and ``min_order`` are page orders.
    """

    object_size: int  # s->object_size: the size the cache was created with
    size: int  # s->size: stride between objects, what /proc/slabinfo shows as <objsize>
    align: int  # s->align: objects start at multiples of this
    offset: int  # s->offset: where the free pointer sits in a free object (from its start)
    inuse: int  # s->inuse: the object plus its red zone, where the metadata starts
    red_left_pad: int  # s->red_left_pad: red zone before each object (0 without SLAB_RED_ZONE)
    order: int  # oo_order(s->oo): each slab is 2^order pages
    objects: int  # oo_objects(s->oo): objects per slab, /proc/slabinfo <objperslab>
    pages_per_slab: int  # 1 << order, /proc/slabinfo <pagesperslab>
    min_order: int  # oo_order(s->min): the order SLUB falls back to, get_order(size)
    min_objects: int  # oo_objects(s->min): objects in such a fallback slab
    leftover: int  # bytes at the end of each slab that hold no object

    @property
    def slab_bytes(self) -> int:
        """Bytes in one slab: ``PAGE_SIZE << order``."""
        return PAGE_SIZE << self.order


def slab_geometry(
    size: int,
    align: int = 0,
    flags: int = 0,
    cpus: int = 2,
    min_order: int = SLUB_MIN_ORDER,
    max_order: int = SLUB_MAX_ORDER,
    min_objects: int = SLUB_MIN_OBJECTS,
    *,
    has_ctor: bool = False,
) -> Geometry:
    """The layout of ``kmem_cache_create(name, size, align, flags, ctor)`` on ``cpus`` CPUs.

    Mirrors kmem_cache_create_usercopy() → create_cache() → kmem_cache_open() →
    calculate_sizes() (mm/slab_common.c L274, L205; mm/slub.c L4333, L4197):

    1. ``s->align = calculate_alignment(flags, align, size)``;
    2. the object rounded up to a word; with SLAB_RED_ZONE one more word of red zone if the
       object had none to spare; that is ``inuse``;
    3. the free pointer: after the object (``offset = inuse``, one more word) when the object
       must not be overwritten once free (SLAB_TYPESAFE_BY_RCU, SLAB_POISON, a constructor,
       or a red-zoned object smaller than a pointer), otherwise in its middle,
       ``ALIGN_DOWN(object_size / 2, 8)``;
    4. with SLAB_STORE_USER two ``struct track`` (alloc and free, 32 bytes each) and, for a
       kmalloc cache (SLAB_KMALLOC), the 4-byte original request size;
    5. with SLAB_RED_ZONE a trailing word of padding and ``red_left_pad``, a word rounded up to
       the alignment, in front of the object;
    6. all rounded up to ``s->align``: that is ``s->size``; then calculate_order() and
       ``s->oo = oo_make(order, size)``, ``s->min = oo_make(get_order(size), size)``.

    ``flags`` are the cache's effective flags (pass DEBUG_DEFAULT_FLAGS to model a boot with
    plain ``slub_debug``); ``min_order``/``max_order``/``min_objects`` are the slub_min_order=,
    slub_max_order= (clamped to MAX_ORDER - 1 as setup_slub_max_order() does) and
    slub_min_objects= boot parameters.  Raises ValueError when calculate_order() gives -ENOSYS
    (an object above 4 MiB) or when asked for a zero-sized cache (the kernel would divide by
    zero).
    """
    _check_size(size, "slab_geometry()")
    if size == 0:
        raise ValueError("slab_geometry(): a cache of 0-byte objects has no geometry")
    if cpus < 1:
        raise ValueError(f"slab_geometry(): cpus must be >= 1, got {cpus}")
    if not 0 <= min_order < MAX_ORDER:
        raise ValueError(f"slab_geometry(): min_order must be 0..{MAX_ORDER - 1}, got {min_order}")
    if max_order < 0 or min_objects < 0 or align < 0:
        raise ValueError("slab_geometry(): max_order, min_objects and align must be >= 0")
    max_order = min(max_order, MAX_ORDER - 1)

    object_size = size
    cache_align = calculate_alignment(flags, align, object_size)

    # calculate_sizes(), mm/slub.c L4197-4300
    stride = _align(object_size, SIZEOF_VOID_P)
    if flags & SLAB_RED_ZONE and stride == object_size:
        stride += SIZEOF_VOID_P  # room for a right red zone
    inuse = stride
    if (
        flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON)
        or (flags & SLAB_RED_ZONE and object_size < SIZEOF_VOID_P)
        or has_ctor
    ):
        offset = stride  # the free pointer goes after the object
        stride += SIZEOF_VOID_P
    else:
        offset = (object_size // 2) & ~(SIZEOF_VOID_P - 1)  # near the middle of the object
    if flags & SLAB_STORE_USER:
        stride += 2 * SIZEOF_STRUCT_TRACK
        if flags & SLAB_KMALLOC:
            stride += SIZEOF_ORIG_SIZE
    red_left_pad = 0
    if flags & SLAB_RED_ZONE:
        stride += SIZEOF_VOID_P
        red_left_pad = _align(SIZEOF_VOID_P, cache_align)
        stride += red_left_pad
    stride = _align(stride, cache_align)

    order = calculate_order(stride, cpus, min_order, max_order, min_objects)
    objects = order_objects(order, stride)
    fallback_order = get_order(stride)
    return Geometry(
        object_size=object_size,
        size=stride,
        align=cache_align,
        offset=offset,
        inuse=inuse,
        red_left_pad=red_left_pad,
        order=order,
        objects=objects,
        pages_per_slab=1 << order,
        min_order=fallback_order,
        min_objects=order_objects(fallback_order, stride),
        leftover=(PAGE_SIZE << order) - objects * stride,
    )


def kmalloc_geometry(
    index: int,
    flags: int = 0,
    cpus: int = 2,
    min_order: int = SLUB_MIN_ORDER,
    max_order: int = SLUB_MAX_ORDER,
    min_objects: int = SLUB_MIN_OBJECTS,
) -> Geometry:
    """The layout of kmalloc class ``index`` (any kind: they share it) on ``cpus`` CPUs.

    Mirrors create_kmalloc_cache() → create_boot_cache() (mm/slab_common.c L606-648): the
    object size is kmalloc_info[index].size, the alignment ARCH_KMALLOC_MINALIGN raised to the
    size itself for powers of two (natural alignment, even under debugging), and SLAB_KMALLOC
    is added to ``flags``.  The kind's own flag (SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT,
    SLAB_ACCOUNT) does not change the layout.
    """
    object_size = kmalloc_cache_size(index)
    if object_size == 0:
        raise ValueError("kmalloc_geometry(): class 0 is ZERO_SIZE_PTR, not a cache")
    align = ARCH_KMALLOC_MINALIGN
    if object_size & (object_size - 1) == 0:
        align = max(align, object_size)
    return slab_geometry(
        object_size, align, flags | SLAB_KMALLOC, cpus, min_order, max_order, min_objects
    )
