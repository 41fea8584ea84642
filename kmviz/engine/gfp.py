"""GFP flag bits of Linux 6.1 (gfp_t masks, plain ints), their %pGg names, and the zone they select.

Every kernel allocation takes a *GFP mask* ("get free pages" flags, type ``gfp_t``, an unsigned
32-bit int). The caller does not say *where* the memory comes from; it says what it can put up
with while the allocator finds some, one bit per promise:

* Zone modifiers, the low four bits (``GFP_ZONEMASK``): ``__GFP_DMA`` asks for the first 16 MiB
  (ISA DMA), ``__GFP_DMA32`` for the first 4 GiB, ``__GFP_HIGHMEM`` for memory the kernel need
  not map (it means nothing more than ZONE_NORMAL on x86-64), and ``__GFP_MOVABLE`` says the page
  can be migrated, which also lets it live in ZONE_MOVABLE. ``gfp_zone()`` turns them into the
  highest zone the allocator may use; lower zones are always acceptable fallbacks.
* Mobility, ``__GFP_MOVABLE`` and ``__GFP_RECLAIMABLE``: which migrate-type free list the pages
  come from (``gfp_migratetype()``), so that unmovable pages do not pin down whole pageblocks.
* Reclaim modifiers: ``__GFP_DIRECT_RECLAIM`` lets the caller sleep and free memory itself,
  ``__GFP_KSWAPD_RECLAIM`` wakes the kswapd thread to free memory in the background, ``__GFP_IO``
  and ``__GFP_FS`` allow that reclaim to start disk I/O or call into filesystems, and
  ``__GFP_NORETRY`` / ``__GFP_RETRY_MAYFAIL`` / ``__GFP_NOFAIL`` say how hard to try before failing.
* Watermark modifiers: ``__GFP_HIGH`` may dip into the reserve below the min watermark (further
  if the caller cannot sleep), ``__GFP_MEMALLOC`` may take everything, ``__GFP_NOMEMALLOC``
  forbids that.  ``__GFP_ATOMIC`` marks an atomic caller; since 6.1.116 (from 6.3) it grants
  no reserve of its own.
* Action modifiers: ``__GFP_ZERO`` zeroes the memory, ``__GFP_COMP`` makes a compound page,
  ``__GFP_NOWARN`` silences the failure report, ``__GFP_ACCOUNT`` charges the memory cgroup.

Callers almost never spell bits; they pass a composite such as ``GFP_KERNEL`` (may sleep,
reclaim, do I/O and filesystem calls: 0xcc0) or ``GFP_ATOMIC`` (must not sleep, may use
reserves: 0xa20) and add a modifier or two.

The values are those of include/linux/gfp_types.h in 6.1 for x86-64 with CONFIG_KASAN_HW_TAGS=n
and CONFIG_LOCKDEP=n, so ``__GFP_SKIP_ZERO``, ``__GFP_SKIP_KASAN_UNPOISON``,
``__GFP_SKIP_KASAN_POISON`` and ``__GFP_NOLOCKDEP`` are 0, and there is no HIGHMEM. The names keep
the kernel's leading double underscores; that is harmless at module level (Python mangles such
names only inside class bodies), but ``import *`` honours them only because ``__all__`` lists
them.
"""

import difflib
import re
from functools import cache
from types import MappingProxyType, SimpleNamespace

from kmviz.engine.constants import ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL

__all__ = [
    "BIT",
    "GFP_ATOMIC",
    "GFP_CONSTANTS",
    "GFP_DMA",
    "GFP_DMA32",
    "GFP_ERA_2_6_32",
    "GFP_FLAG_NAMES",
    "GFP_HIGHUSER",
    "GFP_HIGHUSER_MOVABLE",
    "GFP_KERNEL",
    "GFP_KERNEL_ACCOUNT",
    "GFP_MOVABLE_MASK",
    "GFP_NOFS",
    "GFP_NOIO",
    "GFP_NOWAIT",
    "GFP_RECLAIM_MASK",
    "GFP_TRANSHUGE",
    "GFP_TRANSHUGE_LIGHT",
    "GFP_USER",
    "GFP_ZONEMASK",
    "GFP_ZONES_SHIFT",
    "GFP_ZONE_BAD",
    "__GFP_ACCOUNT",
    "__GFP_ATOMIC",
    "__GFP_BITS_MASK",
    "__GFP_BITS_SHIFT",
    "__GFP_COMP",
    "__GFP_DIRECT_RECLAIM",
    "__GFP_DMA",
    "__GFP_DMA32",
    "__GFP_FS",
    "__GFP_HARDWALL",
    "__GFP_HIGH",
    "__GFP_HIGHMEM",
    "__GFP_IO",
    "__GFP_KSWAPD_RECLAIM",
    "__GFP_MEMALLOC",
    "__GFP_MOVABLE",
    "__GFP_NOFAIL",
    "__GFP_NOLOCKDEP",
    "__GFP_NOMEMALLOC",
    "__GFP_NORETRY",
    "__GFP_NOWARN",
    "__GFP_RECLAIM",
    "__GFP_RECLAIMABLE",
    "__GFP_RETRY_MAYFAIL",
    "__GFP_SKIP_KASAN_POISON",
    "__GFP_SKIP_KASAN_UNPOISON",
    "__GFP_SKIP_ZERO",
    "__GFP_THISNODE",
    "__GFP_WRITE",
    "__GFP_ZERO",
    "__GFP_ZEROTAGS",
    "BadGfpZone",
    "describe_gfp",
    "format_gfp",
    "gfp_migratetype",
    "gfp_t",
    "gfp_zone",
    "gfpflags_allow_blocking",
    "parse_gfp",
    "show_gfp_flags",
]

# --- the bits (include/linux/gfp_types.h L27–64, ___GFP_* "plain integer GFP bitmasks") ------
__GFP_DMA = 0x01  # zone modifier: ZONE_DMA, the first 16 MiB
__GFP_HIGHMEM = 0x02  # zone modifier: ZONE_HIGHMEM, which x86-64 lacks (so ZONE_NORMAL)
__GFP_DMA32 = 0x04  # zone modifier: ZONE_DMA32, the first 4 GiB
__GFP_MOVABLE = 0x08  # zone modifier and mobility hint: migratable, ZONE_MOVABLE allowed
__GFP_RECLAIMABLE = 0x10  # mobility hint: freeable by a shrinker (reclaimable slab)
__GFP_HIGH = 0x20  # watermark modifier: high priority, may use part of the min reserve
__GFP_IO = 0x40  # reclaim modifier: reclaim may start physical I/O
__GFP_FS = 0x80  # reclaim modifier: reclaim may call into filesystems
__GFP_ZERO = 0x100  # action modifier: return zeroed memory
__GFP_ATOMIC = 0x200  # cannot sleep, high priority; no reserve of its own in 6.1.192, gone in 6.3
__GFP_DIRECT_RECLAIM = 0x400  # reclaim modifier: the caller may sleep and reclaim itself
__GFP_KSWAPD_RECLAIM = 0x800  # reclaim modifier: wake kswapd at the low watermark
__GFP_WRITE = 0x1000  # placement hint: the caller will dirty the page
__GFP_NOWARN = 0x2000  # action modifier: no "page allocation failure" report
__GFP_RETRY_MAYFAIL = 0x4000  # reclaim modifier: retry hard, but may fail; no OOM kill
__GFP_NOFAIL = 0x8000  # reclaim modifier: retry forever, never return NULL
__GFP_NORETRY = 0x10000  # reclaim modifier: one light attempt, no OOM kill
__GFP_MEMALLOC = 0x20000  # watermark modifier: may use all memory, reserves included
__GFP_COMP = 0x40000  # action modifier: build a compound page
__GFP_NOMEMALLOC = 0x80000  # watermark modifier: never use the reserves
__GFP_HARDWALL = 0x100000  # placement hint: enforce the cpuset
__GFP_THISNODE = 0x200000  # placement hint: this NUMA node only, no fallback
__GFP_ACCOUNT = 0x400000  # placement hint: charge to the memory cgroup
__GFP_ZEROTAGS = 0x800000  # action modifier: zero memory tags along with the memory
# 0x1000000, 0x2000000 and 0x4000000 with CONFIG_KASAN_HW_TAGS, 0x8000000 with CONFIG_LOCKDEP.
__GFP_SKIP_ZERO = 0
__GFP_SKIP_KASAN_UNPOISON = 0
__GFP_SKIP_KASAN_POISON = 0
__GFP_NOLOCKDEP = 0
__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM  # 0xc00, gfp_types.h L220

# --- the layout of a mask -----------------------------------------------------------------------
__GFP_BITS_SHIFT = 27  # 27 + IS_ENABLED(CONFIG_LOCKDEP), gfp_types.h L261
__GFP_BITS_MASK = (1 << __GFP_BITS_SHIFT) - 1  # 0x7ffffff, gfp_types.h L262
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE  # 0xf, gfp_types.h L78
# 0x18; include/linux/gfp.h L13 (the kernel #undefs it right after gfp_migratetype()).
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
# 0xbeee0; mm/internal.h L24: how hard and from which reserves to try, without the zone,
# mobility and action bits ("ignoring placement hints such as HIGHMEM usage")
GFP_RECLAIM_MASK = (
    __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_RETRY_MAYFAIL
    | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_ATOMIC
    | __GFP_NOLOCKDEP
)  # fmt: skip

# --- the combinations callers use (gfp_types.h L334–348) --------------------------------------
GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM  # 0xa20
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS  # 0xcc0
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT  # 0x400cc0
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM  # 0x800
GFP_NOIO = __GFP_RECLAIM  # 0xc00
GFP_NOFS = __GFP_RECLAIM | __GFP_IO  # 0xc40
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL  # 0x100cc0
GFP_DMA = __GFP_DMA  # 0x1
GFP_DMA32 = __GFP_DMA32  # 0x4
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM  # 0x100cc2
GFP_HIGHUSER_MOVABLE = (
    GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN_POISON | __GFP_SKIP_KASAN_UNPOISON
)  # 0x100cca
GFP_TRANSHUGE_LIGHT = (
    GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN
) & ~__GFP_RECLAIM  # 0x1c20ca
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM  # 0x1c24ca

# The flags a caller may name in a mask, by kernel spelling; parse_gfp() accepts these.
_GFP_FLAGS_BY_NAME: dict[str, int] = {
    "__GFP_DMA": __GFP_DMA,
    "__GFP_HIGHMEM": __GFP_HIGHMEM,
    "__GFP_DMA32": __GFP_DMA32,
    "__GFP_MOVABLE": __GFP_MOVABLE,
    "__GFP_RECLAIMABLE": __GFP_RECLAIMABLE,
    "__GFP_HIGH": __GFP_HIGH,
    "__GFP_IO": __GFP_IO,
    "__GFP_FS": __GFP_FS,
    "__GFP_ZERO": __GFP_ZERO,
    "__GFP_ATOMIC": __GFP_ATOMIC,
    "__GFP_DIRECT_RECLAIM": __GFP_DIRECT_RECLAIM,
    "__GFP_KSWAPD_RECLAIM": __GFP_KSWAPD_RECLAIM,
    "__GFP_WRITE": __GFP_WRITE,
    "__GFP_NOWARN": __GFP_NOWARN,
    "__GFP_RETRY_MAYFAIL": __GFP_RETRY_MAYFAIL,
    "__GFP_NOFAIL": __GFP_NOFAIL,
    "__GFP_NORETRY": __GFP_NORETRY,
    "__GFP_MEMALLOC": __GFP_MEMALLOC,
    "__GFP_COMP": __GFP_COMP,
    "__GFP_NOMEMALLOC": __GFP_NOMEMALLOC,
    "__GFP_HARDWALL": __GFP_HARDWALL,
    "__GFP_THISNODE": __GFP_THISNODE,
    "__GFP_ACCOUNT": __GFP_ACCOUNT,
    "__GFP_ZEROTAGS": __GFP_ZEROTAGS,
    "__GFP_SKIP_ZERO": __GFP_SKIP_ZERO,
    "__GFP_SKIP_KASAN_UNPOISON": __GFP_SKIP_KASAN_UNPOISON,
    "__GFP_SKIP_KASAN_POISON": __GFP_SKIP_KASAN_POISON,
    "__GFP_NOLOCKDEP": __GFP_NOLOCKDEP,
    "__GFP_RECLAIM": __GFP_RECLAIM,
    "GFP_ATOMIC": GFP_ATOMIC,
    "GFP_KERNEL": GFP_KERNEL,
    "GFP_KERNEL_ACCOUNT": GFP_KERNEL_ACCOUNT,
    "GFP_NOWAIT": GFP_NOWAIT,
    "GFP_NOIO": GFP_NOIO,
    "GFP_NOFS": GFP_NOFS,
    "GFP_USER": GFP_USER,
    "GFP_DMA": GFP_DMA,
    "GFP_DMA32": GFP_DMA32,
    "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_HIGHUSER_MOVABLE": GFP_HIGHUSER_MOVABLE,
    "GFP_TRANSHUGE_LIGHT": GFP_TRANSHUGE_LIGHT,
    "GFP_TRANSHUGE": GFP_TRANSHUGE,
}

# Every constant above by name: the flags plus the mask layout (the package re-exports these).
GFP_CONSTANTS: dict[str, int] = {
    **_GFP_FLAGS_BY_NAME,
    "__GFP_BITS_SHIFT": __GFP_BITS_SHIFT,
    "__GFP_BITS_MASK": __GFP_BITS_MASK,
    "GFP_ZONEMASK": GFP_ZONEMASK,
    "GFP_MOVABLE_MASK": GFP_MOVABLE_MASK,
}

# --- how masks print ----------------------------------------------------------------------------
# gfpflag_names[] (mm/debug.c L39) = __def_gfpflag_names, include/trace/events/mmflags.h L18–54:
# (mask, name) pairs in the order the printers try them, composites first so that 0xcc0 prints as
# "GFP_KERNEL" rather than as its five bits. A name whose mask an earlier entry already consumed
# never prints: __GFP_RECLAIM loses to GFP_NOIO (both 0xc00) and __GFP_KSWAPD_RECLAIM to
# GFP_NOWAIT (both 0x800).
# The three KASAN names (mmflags.h L56–60) are compiled in only with CONFIG_KASAN_HW_TAGS, and
# they must stay out here: their masks are 0 in this config, and the printers' test
# "(flags & mask) == mask" holds for a zero mask, so they would print on every nonzero mask.
GFP_FLAG_NAMES: tuple[tuple[int, str], ...] = tuple(
    (_GFP_FLAGS_BY_NAME[name], name)
    for name in (
        "GFP_TRANSHUGE",
        "GFP_TRANSHUGE_LIGHT",
        "GFP_HIGHUSER_MOVABLE",
        "GFP_HIGHUSER",
        "GFP_USER",
        "GFP_KERNEL_ACCOUNT",
        "GFP_KERNEL",
        "GFP_NOFS",
        "GFP_ATOMIC",
        "GFP_NOIO",
        "GFP_NOWAIT",
        "GFP_DMA",
        "__GFP_HIGHMEM",
        "GFP_DMA32",
        "__GFP_HIGH",
        "__GFP_ATOMIC",
        "__GFP_IO",
        "__GFP_FS",
        "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL",
        "__GFP_NOFAIL",
        "__GFP_NORETRY",
        "__GFP_COMP",
        "__GFP_ZERO",
        "__GFP_NOMEMALLOC",
        "__GFP_MEMALLOC",
        "__GFP_HARDWALL",
        "__GFP_THISNODE",
        "__GFP_RECLAIMABLE",
        "__GFP_MOVABLE",
        "__GFP_ACCOUNT",
        "__GFP_WRITE",
        "__GFP_RECLAIM",
        "__GFP_DIRECT_RECLAIM",
        "__GFP_KSWAPD_RECLAIM",
        "__GFP_ZEROTAGS",
    )
)

_GFP_T_MAX = (1 << 32) - 1  # gfp_t is an unsigned int


def _require_gfp_t(mask: object) -> int:
    """Return ``mask`` if it is an int that fits a gfp_t, else raise TypeError or ValueError.

    Mirrors the type of the kernel's masks, ``typedef unsigned int gfp_t`` (include/linux/types.h
    L149): 0 to 2**32 - 1.
    """
    if not isinstance(mask, int) or isinstance(mask, bool):
        raise TypeError(f"a gfp mask must be an int, got {type(mask).__name__} {mask!r}")
    if not 0 <= mask <= _GFP_T_MAX:
        raise ValueError(f"a gfp mask is an unsigned 32-bit int (gfp_t), got {mask:#x}")
    return mask


def _names_and_leftover(mask: int) -> tuple[list[str], int]:
    """Split ``mask`` into the GFP_FLAG_NAMES names that cover it and the bits none covers.

    Mirrors the loop shared by format_flags(), lib/vsprintf.c L1965, and trace_print_flags_seq(),
    kernel/trace/trace_output.c L66: take each entry, in table order, whose whole mask is still
    set, and clear its bits.
    """
    names = []
    for flag_mask, name in GFP_FLAG_NAMES:
        if not mask:
            break
        if mask & flag_mask == flag_mask:
            names.append(name)
            mask &= ~flag_mask
    return names, mask


def format_gfp(mask: int) -> str:
    """Return ``mask`` as printk's ``%pGg`` prints it, e.g. "GFP_KERNEL|__GFP_ZERO"; 0 gives "".

    Mirrors format_flags(), lib/vsprintf.c L1965, as flags_string() calls it for 'g' (L2076):
    names joined by "|", then any bits no name covers as one lower-case hex number with a "0x"
    prefix (number() with default_flag_spec, SPECIAL|SMALL base 16, L1019).
    """
    names, leftover = _names_and_leftover(_require_gfp_t(mask))
    if leftover:
        names.append(f"{leftover:#x}")
    return "|".join(names)


def show_gfp_flags(mask: int) -> str:
    """Return ``mask`` as ftrace prints a gfp_flags field, e.g. "GFP_KERNEL"; 0 gives "none".

    Mirrors show_gfp_flags(), include/trace/events/mmflags.h L65, which calls __print_flags() and
    so trace_print_flags_seq(), kernel/trace/trace_output.c L66: the same table and walk as
    format_gfp(), leftover bits as "0x%lx".
    """
    if not _require_gfp_t(mask):
        return "none"
    return format_gfp(mask)


def describe_gfp(mask: int) -> str:
    """Return ``mask`` as the kernel log shows it in failure reports, e.g. "0xcc0(GFP_KERNEL)".

    Mirrors the "%#x(%pGg)" of warn_alloc(), mm/page_alloc.c L4424 ("mode:%#x(%pGg)"), and of the
    OOM report, mm/oom_kill.c L461. The kernel's number() prints the "0x" prefix for every
    SPECIAL hex value, zero included (lib/vsprintf.c L529), so 0 shows as "0x0()", unlike C's
    printf, where "%#x" of 0 is "0".
    """
    return f"{_require_gfp_t(mask):#x}({format_gfp(mask)})"


# --- which zone a mask selects -------------------------------------------------------------------
# GFP_ZONE_TABLE (include/linux/gfp.h L101) packs, for each of the 16 values of the zone
# modifier bits, the highest usable zone in GFP_ZONES_SHIFT bits; GFP_ZONE_BAD (L118) has one bit
# per value that is a contradiction: at most one of DMA, DMA32 and HIGHMEM may be set.
GFP_ZONES_SHIFT = 2  # bits per GFP_ZONE_TABLE entry: ZONES_SHIFT for 4 zones (gfp.h L90–95)
GFP_ZONE_BAD = (
    1 << (__GFP_DMA | __GFP_HIGHMEM)
    | 1 << (__GFP_DMA | __GFP_DMA32)
    | 1 << (__GFP_DMA32 | __GFP_HIGHMEM)
    | 1 << (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)
    | 1 << (__GFP_MOVABLE | __GFP_HIGHMEM | __GFP_DMA)
    | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA)
    | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_HIGHMEM)
    | 1 << (__GFP_MOVABLE | __GFP_DMA32 | __GFP_DMA | __GFP_HIGHMEM)
)  # 0xe8e8


@cache
def _gfp_zone_table(zone_dma: bool, zone_dma32: bool) -> int:
    """Return GFP_ZONE_TABLE for a kernel with or without CONFIG_ZONE_DMA / CONFIG_ZONE_DMA32.

    Mirrors GFP_ZONE_TABLE, include/linux/gfp.h L101: an absent zone's OPT_ZONE_* falls back to
    ZONE_NORMAL (L45–55), and OPT_ZONE_HIGHMEM is ZONE_NORMAL because x86-64 has no HIGHMEM (L42).
    The bad combinations keep a 0 entry, i.e. ZONE_DMA.
    """
    opt_zone_dma = ZONE_DMA if zone_dma else ZONE_NORMAL
    opt_zone_dma32 = ZONE_DMA32 if zone_dma32 else ZONE_NORMAL
    opt_zone_highmem = ZONE_NORMAL
    zone_by_modifiers = {
        0: ZONE_NORMAL,
        __GFP_DMA: opt_zone_dma,
        __GFP_HIGHMEM: opt_zone_highmem,
        __GFP_DMA32: opt_zone_dma32,
        __GFP_MOVABLE: ZONE_NORMAL,
        __GFP_MOVABLE | __GFP_DMA: opt_zone_dma,
        __GFP_MOVABLE | __GFP_HIGHMEM: ZONE_MOVABLE,
        __GFP_MOVABLE | __GFP_DMA32: opt_zone_dma32,
    }
    table = 0
    for modifiers, zone in zone_by_modifiers.items():
        table |= zone << (modifiers * GFP_ZONES_SHIFT)
    return table


class BadGfpZone(ValueError):  # noqa: N818 - the public name is fixed; it is a ValueError
    """A mask whose zone modifiers contradict each other, which gfp_zone() refuses.

    The kernel checks this with VM_BUG_ON() in gfp_zone(); ``location`` is where that BUG
    would be reported ("kernel BUG at include/linux/gfp.h:136!"), ``mask`` the whole gfp mask.
    """

    location = "include/linux/gfp.h:136"

    def __init__(self, mask: int) -> None:
        """Record ``mask`` and say which zone modifiers clash."""
        self.mask = mask
        modifiers = mask & GFP_ZONEMASK
        super().__init__(
            f"VM_BUG_ON: bad zone modifier combination {modifiers:#x} ({format_gfp(modifiers)})"
        )

    def __reduce__(self) -> tuple[type["BadGfpZone"], tuple[int]]:
        """Rebuild from the mask, so that pickling and copying keep ``mask`` and the message."""
        return type(self), (self.mask,)


def gfp_zone(mask: int, zone_dma: bool = True, zone_dma32: bool = True) -> int:
    """Return the highest zone index (constants.ZONE_*) an allocation with ``mask`` may use.

    Mirrors gfp_zone(), include/linux/gfp.h L129: look up the low four bits in GFP_ZONE_TABLE and
    BUG on the combinations GFP_ZONE_BAD marks, raised here as BadGfpZone. (The real VM_BUG_ON is
    compiled only with CONFIG_DEBUG_VM; without it a bad mask silently gets entry 0, ZONE_DMA.)
    ``zone_dma=False`` / ``zone_dma32=False`` model a kernel built without CONFIG_ZONE_DMA /
    CONFIG_ZONE_DMA32, whose requests for that zone get ZONE_NORMAL instead.
    """
    modifiers = _require_gfp_t(mask) & GFP_ZONEMASK
    if (GFP_ZONE_BAD >> modifiers) & 1:
        raise BadGfpZone(mask)
    entry_mask = (1 << GFP_ZONES_SHIFT) - 1
    return (_gfp_zone_table(zone_dma, zone_dma32) >> (modifiers * GFP_ZONES_SHIFT)) & entry_mask


# --- what else a mask decides --------------------------------------------------------------------
def gfp_migratetype(mask: int) -> int:
    """Return the migrate type (constants.MIGRATE_*) whose free lists serve ``mask``.

    Mirrors gfp_migratetype(), include/linux/gfp.h L16: ``(mask & GFP_MOVABLE_MASK) >> 3``, so no
    bit is MIGRATE_UNMOVABLE (0), __GFP_MOVABLE is MIGRATE_MOVABLE (1) and __GFP_RECLAIMABLE is
    MIGRATE_RECLAIMABLE (2). Both bits together are a caller bug that the kernel only reports
    with CONFIG_DEBUG_VM (VM_WARN_ON, L18) and then returns 3, MIGRATE_HIGHATOMIC, as this does.
    The kernel's page_group_by_mobility_disabled case (tiny machines, all UNMOVABLE) belongs to
    the caller's model of memory, not to the mask.
    """
    return (_require_gfp_t(mask) & GFP_MOVABLE_MASK) >> 3


def gfpflags_allow_blocking(mask: int) -> bool:
    """Return whether an allocation with ``mask`` may sleep, i.e. __GFP_DIRECT_RECLAIM is set.

    Mirrors gfpflags_allow_blocking(), include/linux/gfp.h L34.
    """
    return bool(_require_gfp_t(mask) & __GFP_DIRECT_RECLAIM)


# --- reading masks that people type --------------------------------------------------------------
_HEX_OR_DECIMAL = re.compile(r"0[xX][0-9a-fA-F]+|[1-9][0-9]*|0")
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NO_FLAGS_SPELLINGS = ("", "none")  # how format_gfp() and show_gfp_flags() print 0


def _require_known_bits(mask: int) -> int:
    """Return ``mask`` if it is non-negative and within __GFP_BITS_MASK, else raise ValueError."""
    if mask < 0:
        raise ValueError(f"a gfp mask must be non-negative, got {mask}")
    bits_outside = mask & ~__GFP_BITS_MASK
    if bits_outside:
        raise ValueError(
            f"gfp mask {mask:#x} sets bit(s) {bits_outside:#x} that Linux 6.1 does not define "
            f"(__GFP_BITS_MASK is {__GFP_BITS_MASK:#x})"
        )
    return mask


def _flag_value(name: str, expression: str) -> int:
    """Return the value of the flag spelled ``name``, or raise ValueError suggesting a near name."""
    if name in _GFP_FLAGS_BY_NAME:
        return _GFP_FLAGS_BY_NAME[name]
    known_by_upper = {known.upper(): known for known in _GFP_FLAGS_BY_NAME}
    close = difflib.get_close_matches(name.upper(), known_by_upper, n=1)
    hint = f"; did you mean {known_by_upper[close[0]]}?" if close else ""
    raise ValueError(f"unknown GFP flag {name!r} in {expression!r}{hint}")


def parse_gfp(value: int | str) -> int:
    """Return the gfp mask ``value`` denotes: an int mask, or a C-style "GFP_KERNEL|__GFP_ZERO".

    Strings are "|"-separated terms, spaces allowed, each a flag name spelled as in the kernel or a
    decimal or 0x-hex number; "" and "none" (how format_gfp() and show_gfp_flags() print 0) mean
    0, so ``parse_gfp(format_gfp(m)) == m``. The result must lie within __GFP_BITS_MASK
    (gfp_types.h L262): a negative number or a bit above it raises ValueError naming the bits, an
    unknown name raises ValueError with the closest known name, and any type other than int or
    str raises TypeError.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            "parse_gfp() takes an int mask or a str such as 'GFP_KERNEL|__GFP_ZERO', "
            f"not {type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        return _require_known_bits(value)
    if value.strip() in _NO_FLAGS_SPELLINGS:
        return 0
    mask = 0
    for raw_term in value.split("|"):
        term = raw_term.strip()
        if not term:
            raise ValueError(f"empty term in {value!r}: a '|' needs a flag on each side")
        if _HEX_OR_DECIMAL.fullmatch(term):
            mask |= int(term, 0)
        elif _C_IDENTIFIER.fullmatch(term):
            mask |= _flag_value(term, value)
        else:
            raise ValueError(
                f"{term!r} in {value!r} is neither a GFP flag name nor a decimal or 0x-hex number"
            )
    return _require_known_bits(mask)


# --- an older kernel -----------------------------------------------------------------------------
# The Linux 2.6.32 values (include/linux/gfp.h L21–90 there) of the names whose value differs
# from 6.1, or that 6.1 no longer has. This is the one place an "era" switch reads; everything
# else in this module is 6.1. In 2.6.32 __GFP_WAIT played the part of __GFP_DIRECT_RECLAIM, there
# was no kswapd bit (GFP_NOWAIT was 0) and __GFP_REPEAT that of __GFP_RETRY_MAYFAIL.
GFP_ERA_2_6_32: MappingProxyType[str, int] = MappingProxyType(
    {
        "__GFP_WAIT": 0x10,
        "__GFP_NOWARN": 0x200,
        "__GFP_REPEAT": 0x400,
        "__GFP_NOFAIL": 0x800,
        "__GFP_NORETRY": 0x1000,
        "__GFP_COMP": 0x4000,
        "__GFP_ZERO": 0x8000,
        "__GFP_BITS_SHIFT": 22,
        "GFP_ATOMIC": 0x20,
        "GFP_NOWAIT": 0x0,
        "GFP_NOIO": 0x10,
        "GFP_NOFS": 0x50,
        "GFP_KERNEL": 0xD0,
        "GFP_USER": 0x200D0,
        "GFP_HIGHUSER": 0x200D2,
        "GFP_HIGHUSER_MOVABLE": 0x200DA,
    }
)


def gfp_t(value) -> int:
    """A gfp_t from an int or a C-style string, as __alloc_pages() takes it.

    Like ``gfp &= gfp_allowed_mask`` in __alloc_pages(), bits above __GFP_BITS_MASK are
    dropped; unnamed bits below it stay and print in hex (``GFP_KERNEL|0x1000000``).  A value
    that does not fit the 32-bit gfp_t at all is a Python error.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 1 << 32:
            raise ValueError(f"a GFP mask is a 32-bit gfp_t; {value:#x} does not fit")
        return value & __GFP_BITS_MASK
    return parse_gfp(value)


# Python mangles ``__GFP_*`` names used inside a class body; methods spell the bits
# ``BIT.NOWARN``, ``BIT.DIRECT_RECLAIM`` … instead: the same values, unmangled.
BIT = SimpleNamespace(
    **{name.removeprefix("__GFP_"): value for name, value in GFP_CONSTANTS.items()
       if name.startswith("__GFP_")}
)  # fmt: skip
