"""Zones of the simulated machine: ranges of page frames (pfns) with their watermarks, in pages.

x86-64 divides physical memory by what devices can reach: ZONE_DMA below 16 MiB for ISA
devices with 24 address lines, ZONE_DMA32 below 4 GiB for 32-bit PCI devices, and ZONE_NORMAL
above.  Each zone has its own buddy free lists and three watermarks (min, low, high) computed
from ``min_free_kbytes``; ``lowmem_reserve`` keeps a lower zone from being eaten by requests
that could have been served higher up.  All counts here are pages of 4 KiB.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from math import isqrt

from .constants import (
    BIOS_HOLE_END_PFN,
    BIOS_HOLE_START_PFN,
    KERNEL_IMAGE_KIB,
    LOWMEM_RESERVE_RATIO,
    MAX_DMA32_PFN,
    MAX_DMA_PFN,
    MAX_NR_ZONES,
    MAX_ORDER,
    MIGRATE_TYPES,
    MIN_FREE_KBYTES_MAX,
    MIN_FREE_KBYTES_MIN,
    PAGE_SHIFT,
    PHYSICAL_START,
    STRUCT_PAGE_SIZE,
    WATERMARK_SCALE_FACTOR,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NAMES,
    ZONE_NORMAL,
)

WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2
WMARK_PROMO = 3


class Zone:
    """One zone: its pfn span, page counts, watermarks and the heads of its free lists."""

    __slots__ = (
        "end_pfn",
        "free_count",
        "idx",
        "list_base",
        "lowmem_reserve",
        "managed_pages",
        "name",
        "nr_free",
        "present_pages",
        "start_pfn",
        "watermark",
    )

    def __init__(self, idx: int, start_pfn: int, end_pfn: int, present_pages: int):
        self.idx = idx  # enum zone_type
        self.name = ZONE_NAMES[idx]
        self.start_pfn = start_pfn  # first pfn the zone spans
        self.end_pfn = end_pfn  # one past the last pfn it spans
        self.present_pages = present_pages  # RAM pages in the span (holes excluded)
        self.managed_pages = 0  # pages handed to the buddy allocator
        self.free_count = array("q", [0])  # NR_FREE_PAGES, in an array the C fast path shares
        self.nr_free = array("q", [0] * MAX_ORDER)  # free_area[order].nr_free: blocks
        self.watermark = [0, 0, 0, 0]  # _watermark[WMARK_MIN/LOW/HIGH/PROMO]
        self.lowmem_reserve = [0] * MAX_NR_ZONES  # pages kept back from higher-zone requests
        self.list_base = 0  # index of this zone's first free-list head (set by the buddy)

    @property
    def free_pages(self) -> int:
        """NR_FREE_PAGES: pages in this zone's free blocks."""
        return self.free_count[0]

    @property
    def spanned_pages(self) -> int:
        """Pages from the zone's first pfn to its last, holes included."""
        return self.end_pfn - self.start_pfn

    def sentinel(self, order: int, migratetype: int) -> int:
        """Index of the list head of free_area[order].free_list[migratetype]."""
        return self.list_base + order * MIGRATE_TYPES + migratetype

    def __repr__(self) -> str:
        return (
            f"<Zone {self.name} pfn {self.start_pfn:#x}-{self.end_pfn:#x} "
            f"managed {self.managed_pages} free {self.free_pages}>"
        )


@dataclass(frozen=True)
class MemoryMap:
    """Where RAM is and what boot keeps, as pfn ranges [start, end)."""

    nr_pfns: int  # pfns 0 .. nr_pfns-1 exist in the simulated address space
    ram: tuple[tuple[int, int], ...]  # e820 "usable" ranges
    reserved: tuple[tuple[int, int, str], ...]  # memblock reservations inside RAM, with owner

    def is_ram(self, pfn: int) -> bool:
        """True if ``pfn`` is usable RAM (not a firmware hole)."""
        return any(start <= pfn < end for start, end in self.ram)


def kernel_image_pages() -> int:
    """Pages the kernel image occupies from CONFIG_PHYSICAL_START."""
    return (KERNEL_IMAGE_KIB * 1024 + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT


def memory_map(nr_pfns: int, boot_reserved: bool) -> MemoryMap:
    """The e820 RAM ranges and boot reservations of a machine with ``nr_pfns`` page frames.

    With ``boot_reserved`` the firmware keeps pfn 0 and 0x9f000–0xfffff (EBDA, VGA, ROMs), as
    "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved" and the BIOS map say on real
    machines; memblock reserves the rest of the first 1 MiB (6.1 always does) and the kernel
    image at CONFIG_PHYSICAL_START (16 MiB).
    """
    if not boot_reserved:
        return MemoryMap(nr_pfns, ((0, nr_pfns),), ())
    ram = [(1, min(BIOS_HOLE_START_PFN, nr_pfns))]
    if nr_pfns > BIOS_HOLE_END_PFN:
        ram.append((BIOS_HOLE_END_PFN, nr_pfns))
    image_start = PHYSICAL_START >> PAGE_SHIFT
    image_end = min(image_start + kernel_image_pages(), nr_pfns)
    # reserve_real_mode() (arch/x86/realmode/init.c L66): "Unconditionally reserve the
    # entire first 1M" -- the real-mode trampoline and whatever the BIOS left there
    reserved = [(1, min(BIOS_HOLE_START_PFN, nr_pfns), "first 1 MiB (real mode)")]
    if image_start < image_end:
        reserved.append((image_start, image_end, "kernel image"))
    return MemoryMap(nr_pfns, tuple(r for r in ram if r[0] < r[1]), tuple(reserved))


def zone_spans(nr_pfns: int, zone_dma: bool, zone_dma32: bool) -> dict[int, tuple[int, int]]:
    """The pfn range each configured zone could span: ``{zone_idx: (start, end)}``.

    Mirrors zone_sizes_init() (arch/x86/mm/init.c): DMA up to MAX_DMA_PFN, DMA32 up to
    MAX_DMA32_PFN, Normal to the end of memory; a zone whose config is off simply does not
    exist and the next one up starts lower.
    """
    spans = {}
    start = 0
    for idx, limit, enabled in (
        (ZONE_DMA, MAX_DMA_PFN, zone_dma),
        (ZONE_DMA32, MAX_DMA32_PFN, zone_dma32),
        (ZONE_NORMAL, nr_pfns, True),
    ):
        if not enabled:
            continue
        end = min(limit, nr_pfns)
        if start < end:
            spans[idx] = (start, end)
        start = max(start, end)
    return spans


def build_zones(memory: MemoryMap, zone_dma: bool, zone_dma32: bool) -> list[Zone]:
    """The populated zones, lowest first, each clipped to the RAM it really contains."""
    zones = []
    for idx, (span_start, span_end) in zone_spans(memory.nr_pfns, zone_dma, zone_dma32).items():
        pieces = [
            (max(s, span_start), min(e, span_end))
            for s, e in memory.ram
            if max(s, span_start) < min(e, span_end)
        ]
        if not pieces:
            continue
        present = sum(e - s for s, e in pieces)
        zones.append(Zone(idx, pieces[0][0], pieces[-1][1], present))
    return zones


def memmap_pages(zone: Zone) -> int:
    """Pages of struct page that free_area_init_core() estimates for the zone (calc_memmap_size)."""
    size = zone.spanned_pages * STRUCT_PAGE_SIZE
    return (size + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT


def mult_frac(x: int, numer: int, denom: int) -> int:
    """x * numer / denom without overflow, as the kernel's mult_frac() rounds it."""
    quot, rem = divmod(x, denom)
    return quot * numer + rem * numer // denom


def calculate_min_free_kbytes(zones: list[Zone]) -> int:
    """min_free_kbytes at boot: clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144).

    Mirrors calculate_min_free_kbytes() (mm/page_alloc.c L8830); lowmem_kbytes is
    nr_free_buffer_pages() in KiB, the managed pages of every zone up to Normal (the high
    watermark is still 0 when this first runs).
    """
    lowmem_kbytes = sum(z.managed_pages for z in zones if z.idx <= ZONE_NORMAL) * 4
    return max(MIN_FREE_KBYTES_MIN, min(isqrt(lowmem_kbytes * 16), MIN_FREE_KBYTES_MAX))


def setup_per_zone_wmarks(zones: list[Zone], min_free_kbytes: int) -> None:
    """Give every zone its min/low/high/promo watermarks in pages.

    Mirrors __setup_per_zone_wmarks() (mm/page_alloc.c L8719): a zone's min is its share of
    min_free_kbytes by managed pages; the gaps min→low→high→promo are
    max(min / 4, managed * watermark_scale_factor / 10000).
    """
    pages_min = min_free_kbytes >> (PAGE_SHIFT - 10)
    lowmem_pages = sum(z.managed_pages for z in zones)
    for zone in zones:
        share = pages_min * zone.managed_pages // lowmem_pages if lowmem_pages else 0
        gap = max(share >> 2, mult_frac(zone.managed_pages, WATERMARK_SCALE_FACTOR, 10000))
        zone.watermark = [share, share + gap, share + 2 * gap, share + 3 * gap]


def setup_per_zone_lowmem_reserve(zones: list[Zone]) -> None:
    """Fill lowmem_reserve[]: pages a lower zone keeps from requests aimed at higher zones.

    Mirrors setup_per_zone_lowmem_reserve() (mm/page_alloc.c L8690):
    ``zone[i].lowmem_reserve[j] = (managed pages of zones i+1..j) / ratio[i]``.
    """
    managed = [0] * MAX_NR_ZONES
    for zone in zones:
        managed[zone.idx] = zone.managed_pages
    for zone in zones:
        i = zone.idx
        ratio = LOWMEM_RESERVE_RATIO[i]
        clear = ratio == 0 or zone.managed_pages == 0
        upper = 0
        reserve = [0] * MAX_NR_ZONES
        for j in range(i + 1, ZONE_MOVABLE + 1):
            upper += managed[j]
            reserve[j] = 0 if clear else upper // ratio
        zone.lowmem_reserve = reserve
