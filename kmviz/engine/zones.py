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
    BIOS_FLASH_START,
    BIOS_TABLES_SIZE,
    EBDA_START,
    HT_HOLE,
    ISA_END,
    LOWMEM_RESERVE_RATIO,
    MAX_DMA32_PFN,
    MAX_DMA_PFN,
    MAX_NR_ZONES,
    MAX_ORDER,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    MIN_FREE_KBYTES_MAX,
    MIN_FREE_KBYTES_MIN,
    NR_PCP_LISTS,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
    PCI_HOLE_SPLIT,
    PCI_HOLE_START,
    STRUCT_PAGE_SIZE,
    SYSTEM_ROM_START,
    WATERMARK_SCALE_FACTOR,
    ZONE_DMA,
    ZONE_DMA32,
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
        "cma_pages",
        "compact_considered",
        "compact_defer_shift",
        "compact_order_failed",
        "end_pfn",
        "free_count",
        "idx",
        "list_base",
        "lowmem_reserve",
        "managed_pages",
        "name",
        "nr_free",
        "nr_isolate_pageblock",
        "pcp_count",
        "pcp_free_factor",
        "pcp_limits",
        "pcp_lists",
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
        # NR_FREE_PAGES and NR_FREE_CMA_PAGES (free pages on the MIGRATE_CMA lists), in an
        # array the C fast path shares
        self.free_count = array("q", [0, 0])
        self.nr_free = array("q", [0] * MAX_ORDER)  # free_area[order].nr_free: blocks
        self.watermark = [0, 0, 0, 0]  # _watermark[WMARK_MIN/LOW/HIGH/PROMO]
        self.lowmem_reserve = [0] * MAX_NR_ZONES  # pages kept back from higher-zone requests
        self.list_base = 0  # this zone's first free-list head value (set by the buddy)
        # compaction's deferral (defer_compaction(), mm/compaction.c L154): attempts since the
        # last failure, skip up to 1 << shift of them, for orders from order_failed up
        self.compact_considered = 0
        self.compact_defer_shift = 0
        self.compact_order_failed = 0
        self.cma_pages = 0  # pages of the CMA area in this zone (zone->cma_pages)
        self.nr_isolate_pageblock = 0  # MIGRATE_ISOLATE pageblocks (alloc_contig_range())
        self.pcp_lists: tuple[array, ...] = ()  # per (CPU, pcp list): its pfns (set by the buddy)
        self.pcp_count = array("q")  # per CPU: pages on its pcp lists (pcp->count)
        self.pcp_free_factor = array("q")  # per CPU: pcp->free_factor (nr_pcp_free())
        # pcp->high and pcp->batch of every CPU, in an array the C fast path shares: the
        # boot pageset's 0 and 1 until setup_per_cpu_pagesets(); then ZONE_RECLAIM_ACTIVE,
        # set while kswapd reclaims for the zone (nr_pcp_high() caps high at 4 batches)
        self.pcp_limits = array("q", [0, 1, 0])

    @property
    def free_pages(self) -> int:
        """NR_FREE_PAGES: pages in this zone's free blocks."""
        return self.free_count[0]

    @property
    def free_cma(self) -> int:
        """NR_FREE_CMA_PAGES: free pages on the MIGRATE_CMA lists."""
        return self.free_count[1]

    @free_cma.setter
    def free_cma(self, pages: int) -> None:
        self.free_count[1] = pages

    @property
    def pcp_high(self) -> int:
        """pcp->high: a CPU's lists give pages back once they hold this many."""
        return self.pcp_limits[0]

    @property
    def pcp_batch(self) -> int:
        """pcp->batch: pages one refill (rmqueue_bulk()) or drain step moves."""
        return self.pcp_limits[1]

    @property
    def spanned_pages(self) -> int:
        """Pages from the zone's first pfn to its last, holes included."""
        return self.end_pfn - self.start_pfn

    def pcp_list(self, cpu: int, pindex: int) -> array:
        """CPU ``cpu``'s pcp->lists[pindex] in this zone: pfns, the list head last."""
        return self.pcp_lists[cpu * NR_PCP_LISTS + pindex]

    def sentinel(self, order: int, migratetype: int) -> int:
        """The list head value of free_area[order].free_list[migratetype] (even, two apart:
        its links are at ``sentinel >> 1``, after the pfns' pairs)."""
        return self.list_base + 2 * (order * MIGRATE_TYPES + migratetype)

    def __repr__(self) -> str:
        return (
            f"<Zone {self.name} pfn {self.start_pfn:#x}-{self.end_pfn:#x} "
            f"managed {self.managed_pages} free {self.free_pages}>"
        )


MEMORY_LAYOUTS = ("pc", "flat")  # Kernel(memory_map=...): how the firmware lays RAM out


@dataclass(frozen=True)
class MemoryMap:
    """Where RAM is: the firmware's e820 table (bytes) and the RAM pfn ranges [start, end)."""

    layout: str  # "pc" or "flat" (MEMORY_LAYOUTS)
    e820: tuple[tuple[int, int, str], ...]  # (start, end, "usable"/"reserved"), bytes
    ram: tuple[tuple[int, int], ...]  # memblock.memory as pfn ranges, lowest first

    @property
    def nr_pfns(self) -> int:
        """max_pfn: one past the highest RAM pfn; every pfn below it has a struct page."""
        return self.ram[-1][1]

    @property
    def present_pages(self) -> int:
        """Pages of RAM (what "Memory: …K/<this>K available" counts, in pages)."""
        return sum(end - start for start, end in self.ram)

    def is_ram(self, pfn: int) -> bool:
        """True if ``pfn`` is usable RAM (not a firmware hole)."""
        return any(start <= pfn < end for start, end in self.ram)


def pc_e820(mem: int) -> tuple[tuple[int, int, str], ...]:
    """The e820 table SeaBIOS hands a QEMU i440FX PC with ``mem`` bytes of RAM.

    QEMU's pc_init1() puts RAM below 4 GiB up to 3.5 GiB; with 3.5 GiB or more it stops low RAM
    at 3 GiB (gigabyte_align) and maps the rest from 4 GiB, leaving the 32-bit PCI hole.
    SeaBIOS keeps the EBDA (0x9fc00), the system ROM (0xf0000) and its tables in the last
    128 KiB below the top of low RAM.
    """
    low = mem if mem < PCI_HOLE_SPLIT else PCI_HOLE_START
    high = mem - low
    table = [(0, min(EBDA_START, low), "usable")]
    if low > EBDA_START:
        table.append((EBDA_START, 0xA0000, "reserved"))
    table.append((SYSTEM_ROM_START, ISA_END, "reserved"))
    if low - BIOS_TABLES_SIZE > ISA_END:
        table.append((ISA_END, low - BIOS_TABLES_SIZE, "usable"))
        table.append((low - BIOS_TABLES_SIZE, low, "reserved"))
    table.append((BIOS_FLASH_START, 1 << 32, "reserved"))
    if high:
        table.append((1 << 32, (1 << 32) + high, "usable"))
    table.append((*HT_HOLE, "reserved"))
    return tuple(table)


def flat_e820(mem: int, bios: bool) -> tuple[tuple[int, int, str], ...]:
    """RAM in one piece from 0 to ``mem``; with ``bios`` the BIOS keeps its areas below 1 MiB."""
    if not bios:
        return ((0, mem, "usable"),)
    table = [(0, min(EBDA_START, mem), "usable")]
    if mem > EBDA_START:
        table.append((EBDA_START, min(0xA0000, mem), "reserved"))
    if mem > SYSTEM_ROM_START:
        table.append((SYSTEM_ROM_START, min(ISA_END, mem), "reserved"))
    if mem > ISA_END:
        table.append((ISA_END, mem, "usable"))
    return tuple(table)


def build_memory_map(mem: int, layout: str, boot_reserved: bool) -> MemoryMap:
    """The firmware's e820 table for ``mem`` bytes of RAM and the RAM the kernel takes from it.

    ``layout`` "pc" is QEMU's PC (pc_e820()); "flat" has RAM from 0 to ``mem`` in one piece,
    round numbers for lessons, with the BIOS's areas below 1 MiB when ``boot_reserved``.
    From the table the kernel keeps whole pages of "usable" RAM, and (trim_bios_range(),
    e820__memblock_setup()) gives up page 0, "e820: update [mem 0x00000000-0x00000fff]
    usable ==> reserved", and 0xa0000-0xfffff, "e820: remove [mem 0x000a0000-0x000fffff]".
    """
    bios = layout == "pc" or boot_reserved
    table = pc_e820(mem) if layout == "pc" else flat_e820(mem, bios)
    ram = []
    for start, end, kind in table:
        first, last = -(-start // PAGE_SIZE), end // PAGE_SIZE
        if bios:
            first = max(first, 1)
        if kind == "usable" and first < last:
            ram.append((first, last))
    return MemoryMap(layout, table, tuple(ram))


def zone_spans(
    start_pfn: int, end_pfn: int, zone_dma: bool, zone_dma32: bool
) -> dict[int, tuple[int, int]]:
    """The pfn range each configured zone spans on a node of [start_pfn, end_pfn).

    Mirrors zone_sizes_init() (arch/x86/mm/init.c) and zone_spanned_pages_in_node(): DMA up
    to MAX_DMA_PFN, DMA32 up to MAX_DMA32_PFN, Normal to the end of the node, each clipped to
    the node (holes inside count as spanned); a zone whose config is off simply does not exist
    and the next one up starts lower.
    """
    spans = {}
    low = 0
    for idx, limit, enabled in (
        (ZONE_DMA, MAX_DMA_PFN, zone_dma),
        (ZONE_DMA32, MAX_DMA32_PFN, zone_dma32),
        (ZONE_NORMAL, end_pfn, True),
    ):
        if not enabled:
            continue
        start, end = max(low, start_pfn), min(limit, end_pfn)
        if start < end:
            spans[idx] = (start, end)
        low = max(low, limit)
    return spans


def build_zones(memory: MemoryMap, zone_dma: bool, zone_dma32: bool) -> list[Zone]:
    """The populated zones, lowest first: each spans its part of the node, holes included."""
    zones = []
    node = (memory.ram[0][0], memory.nr_pfns)
    for idx, (span_start, span_end) in zone_spans(*node, zone_dma, zone_dma32).items():
        present = sum(max(0, min(e, span_end) - max(s, span_start)) for s, e in memory.ram)
        if present:
            zones.append(Zone(idx, span_start, span_end, present))
    return zones


def memmap_pages(zone: Zone) -> int:
    """Pages of struct page that free_area_init_core() estimates for the zone.

    Mirrors calc_memmap_size() (mm/page_alloc.c L7724): the spanned pages, or the present
    ones when holes make the span more than 1/16 larger (SPARSEMEM leaves holes unmapped).
    """
    pages = zone.spanned_pages
    if pages > zone.present_pages + (zone.present_pages >> 4):
        pages = zone.present_pages
    return (pages * STRUCT_PAGE_SIZE + PAGE_SIZE - 1) >> PAGE_SHIFT


def mult_frac(x: int, numer: int, denom: int) -> int:
    """x * numer / denom without overflow, as the kernel's mult_frac() rounds it."""
    quot, rem = divmod(x, denom)
    return quot * numer + rem * numer // denom


def nr_free_buffer_pages(zones: list[Zone]) -> int:
    """Pages above the high watermark in the zones GFP_USER may use (DMA, DMA32, Normal).

    Mirrors nr_free_buffer_pages() → nr_free_zone_pages() (mm/page_alloc.c L5995): per zone
    ``managed - high`` when positive.
    """
    return sum(
        max(z.managed_pages - z.watermark[WMARK_HIGH], 0) for z in zones if z.idx <= ZONE_NORMAL
    )


def calculate_min_free_kbytes(zones: list[Zone]) -> int:
    """min_free_kbytes at boot: clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144).

    Mirrors calculate_min_free_kbytes() (mm/page_alloc.c L8830); lowmem_kbytes is
    nr_free_buffer_pages() in KiB.
    """
    lowmem_kbytes = nr_free_buffer_pages(zones) * 4
    return max(MIN_FREE_KBYTES_MIN, min(isqrt(lowmem_kbytes * 16), MIN_FREE_KBYTES_MAX))


def thp_enabled(zones: list[Zone]) -> bool:
    """Whether hugepage_init() leaves transparent huge pages on: 512 MiB of managed RAM or more.

    mm/huge_memory.c L516: "By default disable transparent hugepages on smaller systems".
    """
    return sum(z.managed_pages for z in zones) >= 512 << (20 - PAGE_SHIFT)


def recommended_min_free_kbytes(zones: list[Zone], min_free_kbytes: int) -> int:
    """min_free_kbytes as khugepaged raises it, so huge pages can be assembled.

    Mirrors set_recommended_min_free_kbytes() (mm/khugepaged.c L2538): two free pageblocks
    per zone up to Normal, plus MIGRATE_PCPTYPES² more to keep fallbacks within a pageblock,
    at most 5 % of nr_free_buffer_pages(); never lower than the current value.  1 GiB (DMA and
    DMA32): 512 * 2 * (2 + 9) = 11264 pages = 45056 KiB.
    """
    nr_zones = sum(1 for z in zones if z.idx <= ZONE_NORMAL)
    recommended = PAGEBLOCK_NR_PAGES * nr_zones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES)
    recommended = min(recommended, nr_free_buffer_pages(zones) // 20) << (PAGE_SHIFT - 10)
    return max(recommended, min_free_kbytes)


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
        for j in range(i + 1, MAX_NR_ZONES):
            upper += managed[j]
            reserve[j] = 0 if clear else upper // ratio
        zone.lowmem_reserve = reserve


def zone_batchsize(zone: Zone) -> int:
    """Pages one pcp refill or drain moves: zone_batchsize() (mm/page_alloc.c L7048).

    ``min(managed >> 10, 1 MiB of pages) / 4``, at least 1, then clamped to ``2^n - 1``:
    a 1 GiB DMA32 with 242034 managed pages: 236 // 4 == 59, rounddown_pow_of_two(59 + 29)
    == 64, minus 1 == 63.  zone_set_pageset_high_and_batch() makes it at least 1.
    """
    batch = max(min(zone.managed_pages >> 10, (1 << 20) >> PAGE_SHIFT) // 4, 1)
    batch = (1 << ((batch + batch // 2).bit_length() - 1)) - 1  # rounddown_pow_of_two() - 1
    return max(1, batch)


def zone_highsize(zone: Zone, batch: int, cpus: int) -> int:
    """Pages a CPU's pcp lists may hold before freeing: zone_highsize() (L7096).

    The zone's low watermark split over the node's CPUs, at least ``4 * batch``: a 1 GiB
    DMA32 with low 13857 on 2 CPUs: 13857 // 2 == 6928.
    """
    return max(zone.watermark[WMARK_LOW] // cpus, batch << 2)


def setup_per_cpu_pagesets(zones: list[Zone], cpus: int) -> None:
    """Give every zone's per-CPU lists their high and batch (zone_pcp_update(zone, 0))."""
    for zone in zones:
        batch = zone_batchsize(zone)
        zone.pcp_limits[0] = zone_highsize(zone, batch, cpus)
        zone.pcp_limits[1] = batch
