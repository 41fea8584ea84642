"""A real Linux machine's /proc memory files as frozen rows in each file's units; a Kernel like it.

Six readers, each named after its file and each taking a path (str or Path), the text itself
(a str with a newline in it) or ``"this machine"`` (the live file, read only)::

    buddyinfo(source)     free blocks per node, zone and order          (blocks)
    pagetypeinfo(source)  the same per migratetype, pageblocks per type  (blocks, pageblocks)
    zoneinfo(source)      free pages, watermarks, sizes, counters        (pages)
    slabinfo(source)      every slab cache's objects and slabs           (objects, bytes, pages)
    vmallocinfo(source)   every vmalloc/vmap/ioremap area                (bytes, pages)
    meminfo(source)       the memory summary                             (KiB, "kB")

Each returns a container: ``rows`` (small frozen dataclasses), ``source`` (the file's name),
``skipped`` (lines the reader did not need, each with its number and why) and ``notes`` (what is
odd but legitimate, e.g. hashed pointers); ``report()`` says it in words.  Text that is not in
the kernel's format raises ``ProcFormatError`` (a ValueError) naming the file and the line.

The formats are Linux 6.1's, and 2.6.32's where it differs: zoneinfo's fields (``scanned``,
no ``boost``/``managed``/``cma``, ``all_unreclaimable``, ``prev_priority``), pagetypeinfo's
migratetypes (``Reserve`` where 6.1 has ``HighAtomic``/``CMA``), vmallocinfo's raw pointers and
``phys=%lx``.  Newer kernels' extra lines (6.18's ``promo``, ``high_min``...) are read too.

``machine_like(source)`` boots a simulated machine with the real one's memory and CPUs, gives it
the real vmalloc areas and slab caches (objects and slabs as slabinfo counts them), and then
allocates until its free lists hold, zone by zone and order by order, the real buddyinfo's counts
(see its docstring for how; ``kernel.likeness`` compares); ``snapshot(source)`` reads all six
files at once.
"""

from __future__ import annotations

import gc
import os
import random
import re
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

try:  # numpy (installed with the widgets) makes a copy's chains in bulk
    import numpy as _numpy
except ImportError:  # pragma: no cover - without it they are allocated block by block
    _numpy = None

from .engine.buddy import ALLOCATED, pcp_allowed_order
from .engine.constants import (
    MAX_ORDER,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
    PAGE_SIZE,
    PAGEBLOCK_ORDER,
)
from .engine.gfp import (
    __GFP_ACCOUNT,
    __GFP_DMA,
    __GFP_DMA32,
    __GFP_MOVABLE,
    __GFP_NOWARN,
    __GFP_RECLAIMABLE,
    GFP_KERNEL,
    gfp_t,
)
from .engine.history import CPU_SHIFT, KIND_ALLOC, PCP_BIT, PCP_BULK_BIT, PFN_SHIFT
from .engine.kernel import MAX_CPUS, MAX_MEM, MIN_MEM, NS_PER_RECORD, Kernel
from .engine.page import Page, format_size
from .engine.procfs import PAGETYPEINFO_CAP
from .engine.slab import KmemCache
from .engine.slab_geometry import (
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    SLAB_RECLAIM_ACCOUNT,
    kmalloc_cache_size,
    kmalloc_index,
)
from .engine.vmalloc import VMALLOC_CALLER
from .engine.zones import WMARK_HIGH

__all__ = [
    "MAX_COPIED_OBJECTS",
    "RECLAIMABLE_CACHES",
    "THIS_MACHINE",
    "Buddyinfo",
    "CacheLikeness",
    "FreeBlocks",
    "FreeBlocksOfType",
    "Likeness",
    "Meminfo",
    "MeminfoLine",
    "PageblocksOfZone",
    "Pagetypeinfo",
    "PerCpuPages",
    "ProcFile",
    "ProcFormatError",
    "Skipped",
    "SlabCache",
    "Slabinfo",
    "Snapshot",
    "VmallocArea",
    "VmallocLikeness",
    "Vmallocinfo",
    "ZoneCounters",
    "Zoneinfo",
    "buddyinfo",
    "machine_like",
    "meminfo",
    "pagetypeinfo",
    "slabinfo",
    "snapshot",
    "vmallocinfo",
    "zoneinfo",
]

THIS_MACHINE = "this machine"
PROC = Path("/proc")


class ProcFormatError(ValueError):
    """Text that is not what the kernel prints in a /proc file; names the file, the line and why."""

    def __init__(self, source: str, line: int, problem: str, text: str | None = None):
        self.source = source
        self.line = line
        self.problem = problem
        self.text = text
        shown = "" if text is None else f": {text!r}"
        super().__init__(f"{source}, line {line}: {problem}{shown}")


# === what every reader returns ===================================================================
@dataclass(frozen=True, slots=True)
class Skipped:
    """A line a reader left out on purpose: its number, its text and why it was not needed."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ProcFile:
    """One file's rows, where they came from, and the lines skipped and oddities noticed."""

    source: str
    rows: tuple = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def report(self) -> str:
        """In words: rows read, skipped lines counted by reason (first line number), notes."""
        lines = [f"{self.source}: {len(self.rows)} rows"]
        first_line: dict[str, int] = {}
        counts: dict[str, int] = {}
        for skip in self.skipped:
            first_line.setdefault(skip.reason, skip.line)
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        for reason, count in counts.items():
            lines.append(f"skipped {count} line(s) from line {first_line[reason]}: {reason}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _read(source: str | os.PathLike, name: str) -> tuple[str, str]:
    """The text of /proc/``name`` from ``source`` and the name errors give it."""
    if isinstance(source, str) and source == THIS_MACHINE:
        path = PROC / name
        try:
            return path.read_text(encoding="ascii", errors="replace"), str(path)
        except PermissionError:
            raise PermissionError(
                f"{path} is readable by root only on a real machine: run Python as root, or save"
                f" a copy as root (sudo cat {path} > {name}.txt) and pass that file's path"
            ) from None
        except FileNotFoundError:
            raise FileNotFoundError(
                f"this machine has no {path} (is it Linux?): pass a copy's path or its text"
            ) from None
    if isinstance(source, str) and "\n" in source:
        return source, f"<{name} text>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"{name}(): no file {str(path)!r}; pass a path, the text itself (with its"
                f" newlines) or {THIS_MACHINE!r}"
            )
        return path.read_text(encoding="utf-8", errors="replace"), str(path)
    raise TypeError(
        f"{name}() takes a path, the file's text or {THIS_MACHINE!r}, not {type(source).__name__}"
    )


def _numbered_lines(text: str, source: str, name: str) -> list[tuple[int, str]]:
    """(line number, line) for every line; a last line without its newline is a truncation."""
    lines = text.split("\n")
    if lines[-1]:
        raise ProcFormatError(
            source,
            len(lines),
            f"truncated: the last line has no newline (every /proc/{name} line ends with one)",
            lines[-1],
        )
    return list(enumerate(lines[:-1], 1))


def _empty_mapping() -> Mapping:
    """A read-only empty mapping, the default of a row's mapping fields."""
    return MappingProxyType({})


def _ints(text: str) -> tuple[int, ...]:
    """The whitespace-separated decimal numbers of ``text``."""
    return tuple(int(word) for word in text.split())


# === /proc/buddyinfo =============================================================================
@dataclass(frozen=True, slots=True)
class FreeBlocks:
    """A /proc/buddyinfo line: free blocks per order (``free[order]``) in one node's zone."""

    node: int
    zone: str
    free: tuple[int, ...]

    @property
    def pages(self) -> int:
        """Free pages the blocks hold: the sum of ``free[order] << order``."""
        return sum(count << order for order, count in enumerate(self.free))


@dataclass(frozen=True, kw_only=True)
class Buddyinfo(ProcFile):
    """/proc/buddyinfo: a FreeBlocks row per populated zone and node; ``orders`` columns each."""

    rows: tuple[FreeBlocks, ...] = ()
    orders: int = MAX_ORDER

    def free_by_zone(self) -> dict[str, tuple[int, ...]]:
        """``{zone name: free blocks per order}``, nodes added up, zones in the file's order."""
        totals: dict[str, tuple[int, ...]] = {}
        for row in self.rows:
            before = totals.get(row.zone, (0,) * self.orders)
            totals[row.zone] = tuple(a + b for a, b in zip(before, row.free, strict=True))
        return totals


_BUDDYINFO_LINE = re.compile(r"Node (\d+), zone +(\S+)((?: +\d+)+) ?")


def buddyinfo(source: str | os.PathLike) -> Buddyinfo:
    """/proc/buddyinfo's free blocks per node, zone and order (frag_show_print(), mm/vmstat.c).

    Lines are ``"Node %d, zone %8s "`` then ``"%6lu "`` per order 0..MAX_ORDER-1, in 6.1
    (L1456) as in 2.6.32.  Every line must have as many orders as the first; a kernel with
    another MAX_ORDER than 11 is read as it is, and a note says so.
    """
    text, name = _read(source, "buddyinfo")
    rows: list[FreeBlocks] = []
    seen: set[tuple[int, str]] = set()
    for number, line in _numbered_lines(text, name, "buddyinfo"):
        match = _BUDDYINFO_LINE.fullmatch(line)
        if match is None:
            raise ProcFormatError(
                name, number, 'not a /proc/buddyinfo line ("Node N, zone NAME", a count per order)',
                line,
            )  # fmt: skip
        node, zone, free = int(match[1]), match[2], _ints(match[3])
        if rows and len(free) != len(rows[0].free):
            raise ProcFormatError(
                name, number, f"{len(free)} orders where line 1 has {len(rows[0].free)}", line
            )
        if (node, zone) in seen:
            raise ProcFormatError(name, number, f"node {node} zone {zone} listed twice", line)
        seen.add((node, zone))
        rows.append(FreeBlocks(node, zone, free))
    if not rows:
        raise ProcFormatError(name, 1, "empty: /proc/buddyinfo lists at least one zone")
    orders = len(rows[0].free)
    notes = ()
    if orders != MAX_ORDER:
        notes = (
            f"this kernel has {orders} orders (0..{orders - 1}), x86-64 Linux 6.1 and kmviz have"
            f" {MAX_ORDER} (0..{MAX_ORDER - 1})",
        )
    return Buddyinfo(source=name, rows=tuple(rows), orders=orders, notes=notes)


# === /proc/pagetypeinfo ==========================================================================
@dataclass(frozen=True, slots=True)
class FreeBlocksOfType:
    """A pagetypeinfo free-list line: free blocks per order of one migratetype in one zone.

    ``capped[order]`` is True where 6.1 stopped counting at PAGETYPEINFO_CAP (100000) and
    printed ">100000".
    """

    node: int
    zone: str
    migratetype: str
    free: tuple[int, ...]
    capped: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class PageblocksOfZone:
    """A pagetypeinfo "Number of blocks type" line: pageblocks per migratetype in one zone."""

    node: int
    zone: str
    counts: Mapping[str, int]


@dataclass(frozen=True, kw_only=True)
class Pagetypeinfo(ProcFile):
    """/proc/pagetypeinfo: FreeBlocksOfType rows, then ``blocks`` (PageblocksOfZone rows)."""

    rows: tuple[FreeBlocksOfType, ...] = ()
    blocks: tuple[PageblocksOfZone, ...] = ()
    pageblock_order: int = 0
    pages_per_block: int = 0
    migratetypes: tuple[str, ...] = ()

    def free(self, zone: str, migratetype: str, node: int = 0) -> tuple[int, ...]:
        """Free blocks per order on ``zone``'s ``migratetype`` lists; KeyError if not listed."""
        for row in self.rows:
            if (row.node, row.zone, row.migratetype) == (node, zone, migratetype):
                return row.free
        raise KeyError(f"{self.source} has no node {node} zone {zone} type {migratetype}")


_PAGEBLOCK_ORDER = re.compile(r"Page block order: (\d+)")
_PAGES_PER_BLOCK = re.compile(r"Pages per block: +(\d+)")
_FREE_HEADER = re.compile(r"Free pages count per migrate type at order((?: +\d+)+) ?")
_FREE_ROW = re.compile(r"Node +(\d+), zone +(\S+), type +(\S+)((?: +>?\d+)+) ?")
_BLOCKS_HEADER = re.compile(r"Number of blocks type((?: +\S+)+) ?")
_MIXED_HEADER = re.compile(r"Number of mixed blocks((?: +\S+)+) ?")
_BLOCKS_ROW = re.compile(r"Node (\d+), zone +(\S+)((?: +\d+)+) ?")


def pagetypeinfo(source: str | os.PathLike) -> Pagetypeinfo:
    """/proc/pagetypeinfo's free blocks per migratetype and pageblocks per type, per zone.

    Mirrors pagetypeinfo_show() (mm/vmstat.c L1614), repeated per node with memory: "Page
    block order", "Pages per block", the free counts (pagetypeinfo_showfree_print(), L1481,
    ``">"`` before a count capped at 100000), then "Number of blocks type"
    (pagetypeinfo_showblockcount_print(), L1538).  The migratetypes are the ones the file
    names: 6.1's Unmovable, Movable, Reclaimable, HighAtomic[, CMA][, Isolate], 2.6.32's
    Unmovable, Reclaimable, Movable, Reserve, Isolate.  CONFIG_PAGE_OWNER's "Number of mixed
    blocks" section is skipped (counted).
    """
    text, name = _read(source, "pagetypeinfo")
    pageblock_order = pages_per_block = None
    orders: tuple[int, ...] = ()
    migratetypes: tuple[str, ...] = ()
    rows: list[FreeBlocksOfType] = []
    blocks: list[PageblocksOfZone] = []
    skipped: list[Skipped] = []
    section = None  # "free", "blocks" or "mixed": which table the next Node line belongs to
    last = 0
    for number, line in _numbered_lines(text, name, "pagetypeinfo"):
        last = number
        if not line:
            continue
        if match := _PAGEBLOCK_ORDER.fullmatch(line):
            if pageblock_order not in (None, int(match[1])):
                raise ProcFormatError(name, number, "a second, different pageblock order", line)
            pageblock_order, section = int(match[1]), None
        elif match := _PAGES_PER_BLOCK.fullmatch(line):
            pages_per_block = int(match[1])
        elif match := _FREE_HEADER.fullmatch(line):
            orders = _ints(match[1])
            if orders != tuple(range(len(orders))):
                raise ProcFormatError(name, number, "orders are not 0, 1, 2, ...", line)
            section = "free"
        elif match := _BLOCKS_HEADER.fullmatch(line):
            names = tuple(match[1].split())
            if migratetypes and names != migratetypes:
                raise ProcFormatError(name, number, "migratetypes differ from node 0's", line)
            migratetypes, section = names, "blocks"
        elif _MIXED_HEADER.fullmatch(line):
            section = "mixed"
            skipped.append(Skipped(number, line, "CONFIG_PAGE_OWNER's mixed pageblocks"))
        elif section == "free" and (match := _FREE_ROW.fullmatch(line)):
            words = match[4].split()
            if len(words) != len(orders):
                raise ProcFormatError(
                    name, number, f"{len(words)} counts under {len(orders)} orders", line
                )
            rows.append(
                FreeBlocksOfType(
                    int(match[1]), match[2], match[3],
                    tuple(int(word.lstrip(">")) for word in words),
                    tuple(word.startswith(">") for word in words),
                )
            )  # fmt: skip
        elif section == "blocks" and (match := _BLOCKS_ROW.fullmatch(line)):
            counts = _ints(match[3])
            if len(counts) != len(migratetypes):
                raise ProcFormatError(
                    name, number, f"{len(counts)} counts under {len(migratetypes)} types", line
                )
            node_counts = MappingProxyType(dict(zip(migratetypes, counts, strict=True)))
            blocks.append(PageblocksOfZone(int(match[1]), match[2], node_counts))
        elif section == "mixed" and _BLOCKS_ROW.fullmatch(line):
            skipped.append(Skipped(number, line, "CONFIG_PAGE_OWNER's mixed pageblocks"))
        else:
            raise ProcFormatError(name, number, "not a line of /proc/pagetypeinfo here", line)
    if pageblock_order is None or pages_per_block is None or not orders:
        raise ProcFormatError(
            name, last + 1, "truncated: no 'Page block order', 'Pages per block' and free counts"
        )
    if not blocks:
        raise ProcFormatError(name, last + 1, "truncated: no 'Number of blocks type' table")
    zones = {(row.node, row.zone) for row in blocks}
    for row in rows:
        if row.migratetype not in migratetypes or (row.node, row.zone) not in zones:
            raise ProcFormatError(
                name, last + 1,
                f"truncated or mixed up: free counts of node {row.node} zone {row.zone} type"
                f" {row.migratetype} have no pageblock count",
            )  # fmt: skip
    notes = ()
    if any(any(row.capped) for row in rows):
        notes = (f"some lists were longer than the kernel counts ({PAGETYPEINFO_CAP}, '>')",)
    return Pagetypeinfo(
        source=name,
        rows=tuple(rows),
        blocks=tuple(blocks),
        skipped=tuple(skipped),
        notes=notes,
        pageblock_order=pageblock_order,
        pages_per_block=pages_per_block,
        migratetypes=migratetypes,
    )


# === /proc/zoneinfo ==============================================================================
@dataclass(frozen=True, slots=True)
class PerCpuPages:
    """One CPU's page list of a zone (zoneinfo "pagesets"): pages held, high mark, batch."""

    cpu: int
    count: int
    high: int
    batch: int
    stat_threshold: int | None  # "vm stats threshold" (CONFIG_SMP)


@dataclass(frozen=True, slots=True)
class ZoneCounters:
    """A zone of /proc/zoneinfo, in pages.

    ``managed`` is None where the kernel does not print it (2.6.32); ``start_pfn`` is None for
    an unpopulated zone (6.1 prints those up to ``protection``).  ``fields`` holds the zone's
    other scalars (boost, cma, promo, scanned, node_unreclaimable, all_unreclaimable,
    prev_priority, inactive_ratio ...), ``stats`` its counters (nr_free_pages ... numa_*).
    """

    node: int
    zone: str
    free: int
    min: int
    low: int
    high: int
    spanned: int
    present: int
    managed: int | None
    protection: tuple[int, ...]
    start_pfn: int | None
    fields: Mapping[str, int]
    stats: Mapping[str, int]
    pagesets: tuple[PerCpuPages, ...]

    @property
    def populated(self) -> bool:
        """Whether the zone has any memory (present pages), as populated_zone() asks."""
        return self.present > 0


@dataclass(frozen=True, kw_only=True)
class Zoneinfo(ProcFile):
    """/proc/zoneinfo: a ZoneCounters row per zone, and each node's per-node counters."""

    rows: tuple[ZoneCounters, ...] = ()
    node_stats: Mapping[int, Mapping[str, int]] = field(default_factory=_empty_mapping)

    def zone(self, name: str, node: int = 0) -> ZoneCounters:
        """The row of zone ``name`` on ``node``; KeyError if the file has none."""
        for row in self.rows:
            if (row.node, row.zone) == (node, name):
                return row
        raise KeyError(f"{self.source} has no node {node} zone {name}")


_ZONE_HEADER = re.compile(r"Node (\d+), zone +(\S+)")
_PAGES_FREE = re.compile(r"  pages free +(\d+)")
_PROTECTION = re.compile(r" +protection: \((-?\d+(?:, -?\d+)*)\)")
_PAGESET_CPU = re.compile(r"    cpu: (\d+)(?: pcp: \d+)?")
_PAGESET_FIELD = re.compile(r" {10,}(\w+): +(-?\d+)")
_LABELLED = re.compile(r"  ([a-z_][a-z_ ]*?): +(-?\d+)")
_COUNTER = re.compile(r"( +)([A-Za-z_]\w*) +(-?\d+)")
_ZONE_SUMMARY_INDENT = 8  # "\n        min      %lu": the lines of the zone's summary
_REQUIRED_ZONE_FIELDS = ("min", "low", "high", "spanned", "present")
_PAGESET_FIELDS = ("count", "high", "batch")


class _ZoneBuilder:
    """The lines of one zone read so far, until its next zone or the end says it is whole."""

    def __init__(self, node: int, zone: str, line: int):
        self.node, self.zone, self.first_line, self.last_line = node, zone, line, line
        self.free: int | None = None
        self.protection: tuple[int, ...] | None = None
        self.fields: dict[str, int] = {}
        self.stats: dict[str, int] = {}
        self.pagesets: list[dict] = []

    def put(self, table: dict, key: str, value: int, source: str, number: int, line: str):
        """Record ``key``'s value in ``table``; a key the zone already has is an error."""
        if key in table:
            raise ProcFormatError(source, number, f"{key} twice in zone {self.zone}", line)
        table[key] = value

    def row(self, source: str) -> ZoneCounters:
        """The finished zone; a truncation error naming what is missing if it is not whole."""
        missing = [key for key in _REQUIRED_ZONE_FIELDS if key not in self.fields]
        if self.free is None:
            missing.insert(0, "pages free")
        if self.protection is None:
            missing.append("protection")
        present = self.fields.get("present", 0)
        if present and "start_pfn" not in self.fields:
            missing.append("start_pfn")
        for pageset in self.pagesets:
            missing += [
                f"cpu {pageset['cpu']} {key}" for key in _PAGESET_FIELDS if key not in pageset
            ]
        if missing:
            raise ProcFormatError(
                source, self.last_line,
                f"truncated: zone {self.zone} (from line {self.first_line}) has no"
                f" {', '.join(missing)}",
            )  # fmt: skip
        fields = dict(self.fields)
        named = {key: fields.pop(key) for key in _REQUIRED_ZONE_FIELDS}
        return ZoneCounters(
            node=self.node,
            zone=self.zone,
            free=self.free,
            managed=fields.pop("managed", None),
            protection=self.protection,
            start_pfn=fields.pop("start_pfn", None),
            fields=MappingProxyType(fields),
            stats=MappingProxyType(dict(self.stats)),
            pagesets=tuple(
                PerCpuPages(p["cpu"], p["count"], p["high"], p["batch"], p.get("threshold"))
                for p in self.pagesets
            ),
            **named,
        )


def zoneinfo(source: str | os.PathLike) -> Zoneinfo:
    """/proc/zoneinfo's zones (free pages, watermarks, sizes, protection, counters, pagesets).

    Mirrors zoneinfo_show_print() (mm/vmstat.c L1660): ``"Node %d, zone %8s"``, the node's
    counters under "per-node stats" in its first populated zone, ``pages free``, then the
    summary lines (boost, min, low, high, spanned, present, managed, cma), ``protection``, the
    zone counters, numa events, "pagesets" per CPU, node_unreclaimable and start_pfn.  2.6.32's
    layout (scanned, counters at 4 spaces before protection, all_unreclaimable, prev_priority,
    inactive_ratio) and later kernels' extra scalars are read the same way.  Per-CPU fields
    other than count/high/batch (6.7's high_min/high_max) are skipped (counted).
    """
    text, name = _read(source, "zoneinfo")
    rows: list[ZoneCounters] = []
    node_stats: dict[int, dict[str, int]] = {}
    skipped: list[Skipped] = []
    zone: _ZoneBuilder | None = None
    section = None  # "node" (per-node stats), "zone" or "pagesets"
    for number, line in _numbered_lines(text, name, "zoneinfo"):
        if match := _ZONE_HEADER.fullmatch(line):
            if zone is not None:
                rows.append(zone.row(name))
            zone, section = _ZoneBuilder(int(match[1]), match[2], number), "zone"
            continue
        if zone is None:
            raise ProcFormatError(name, number, "expected 'Node N, zone NAME' first", line)
        zone.last_line = number
        if line == "  per-node stats":
            section = "node"
            if zone.node in node_stats:
                raise ProcFormatError(name, number, f"node {zone.node}'s stats twice", line)
            node_stats[zone.node] = {}
        elif match := _PAGES_FREE.fullmatch(line):
            zone.free, section = int(match[1]), "zone"
        elif match := _PROTECTION.fullmatch(line):
            zone.protection = tuple(int(word) for word in match[1].split(", "))
        elif line == "  pagesets":
            section = "pagesets"
        elif section == "pagesets" and (match := _PAGESET_CPU.fullmatch(line)):
            zone.pagesets.append({"cpu": int(match[1])})
        elif section == "pagesets" and zone.pagesets and (match := _PAGESET_FIELD.fullmatch(line)):
            if match[1] in _PAGESET_FIELDS:
                zone.put(zone.pagesets[-1], match[1], int(match[2]), name, number, line)
            else:
                skipped.append(Skipped(number, line, "per-CPU fields Linux 6.1 does not print"))
        elif match := _LABELLED.fullmatch(line):
            key, value = match[1], int(match[2])
            if key == "vm stats threshold" and section == "pagesets" and zone.pagesets:
                zone.put(zone.pagesets[-1], "threshold", value, name, number, line)
            else:
                zone.put(zone.fields, key, value, name, number, line)
        elif match := _COUNTER.fullmatch(line):
            key, value = match[2], int(match[3])
            if section == "node":
                zone.put(node_stats[zone.node], key, value, name, number, line)
            elif len(match[1]) == _ZONE_SUMMARY_INDENT:
                zone.put(zone.fields, key, value, name, number, line)
            else:
                zone.put(zone.stats, key, value, name, number, line)
        else:
            raise ProcFormatError(name, number, "not a line of /proc/zoneinfo", line)
    if zone is None:
        raise ProcFormatError(name, 1, "empty: /proc/zoneinfo lists at least one zone")
    rows.append(zone.row(name))
    return Zoneinfo(
        source=name,
        rows=tuple(rows),
        node_stats=MappingProxyType(
            {node: MappingProxyType(stats) for node, stats in node_stats.items()}
        ),
        skipped=tuple(skipped),
    )


# === /proc/slabinfo ==============================================================================
@dataclass(frozen=True, slots=True)
class SlabCache:
    """A /proc/slabinfo line: one cache's objects, object size (bytes) and slabs.

    For SLUB the tunables are 0 and active_slabs equals num_slabs (get_slabinfo(),
    mm/slub.c); SLAB (2.6.32's other allocator) fills them in.
    """

    name: str
    active_objs: int
    num_objs: int
    objsize: int
    objperslab: int
    pagesperslab: int
    limit: int
    batchcount: int
    sharedfactor: int
    active_slabs: int
    num_slabs: int
    sharedavail: int

    @property
    def pages(self) -> int:
        """Pages the cache's slabs occupy: ``num_slabs * pagesperslab``."""
        return self.num_slabs * self.pagesperslab


@dataclass(frozen=True, kw_only=True)
class Slabinfo(ProcFile):
    """/proc/slabinfo version 2.1: a SlabCache row per cache, in the file's order."""

    rows: tuple[SlabCache, ...] = ()

    def cache(self, name: str) -> SlabCache:
        """The row of cache ``name``; KeyError if the file has none."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"{self.source} has no cache {name!r}")


_SLABINFO_VERSION = re.compile(r"slabinfo - version: (.*)")
_SLABINFO_ROW = re.compile(
    r"(\S.*?) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)"
    r" : tunables +(\d+) +(\d+) +(\d+) : slabdata +(\d+) +(\d+) +(\d+) *"
)


def slabinfo(source: str | os.PathLike) -> Slabinfo:
    """/proc/slabinfo (version 2.1): every cache's objects, sizes and slabs.

    Mirrors print_slabinfo_header() and cache_show() (mm/slab_common.c L1166, L1203):
    ``"%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"``;
    2.6.32 prints the same (mm/slub.c s_show()).  Another version, e.g. SLAB's "2.1
    (statistics)", is an error.  On a real machine the file is root-only (mode 0400).
    """
    text, name = _read(source, "slabinfo")
    lines = _numbered_lines(text, name, "slabinfo")
    if not lines:
        raise ProcFormatError(name, 1, "empty: /proc/slabinfo starts 'slabinfo - version: 2.1'")
    header = _SLABINFO_VERSION.fullmatch(lines[0][1])
    if header is None:
        raise ProcFormatError(name, 1, "not a slabinfo header ('slabinfo - version: 2.1')",
                              lines[0][1])  # fmt: skip
    if header[1] != "2.1":
        raise ProcFormatError(name, 1, f"slabinfo version {header[1]!r}; kmviz reads 2.1",
                              lines[0][1])  # fmt: skip
    if len(lines) < 2 or not lines[1][1].startswith("# name"):
        raise ProcFormatError(name, 2, "expected the column legend '# name <active_objs> ...'",
                              lines[1][1] if len(lines) > 1 else None)  # fmt: skip
    rows = []
    for number, line in lines[2:]:
        match = _SLABINFO_ROW.fullmatch(line)
        if match is None:
            raise ProcFormatError(name, number, "not a slabinfo 2.1 cache line", line)
        rows.append(SlabCache(match[1], *(int(value) for value in match.groups()[1:])))
    return Slabinfo(source=name, rows=tuple(rows))


# === /proc/vmallocinfo ===========================================================================
@dataclass(frozen=True, slots=True)
class VmallocArea:
    """A /proc/vmallocinfo line: a virtual area of ``size`` bytes (guard page included).

    ``kind`` is "area" (a vm_struct: vmalloc, vmap, ioremap ...), "vm_map_ram" or
    "unpurged" (freed, waiting for the lazy purge).  ``start``/``end`` are what the file
    prints, which are hashes, not addresses, when Vmallocinfo.addresses says "hashed".
    ``caller`` is the %pS symbol ("func+0x1c/0x60 [module]"), "" if none; ``pages`` the
    pages behind it; ``phys`` the physical address of an ioremap (None if not printed);
    ``flags`` the words ioremap, vmalloc, vmap, user, dma-coherent, vpages ... as printed;
    ``nodes`` the pages per NUMA node, ``{0: 4}`` for "N0=4".
    """

    start: int
    end: int
    size: int
    kind: str
    caller: str = ""
    pages: int = 0
    phys: int | None = None
    flags: tuple[str, ...] = ()
    nodes: Mapping[int, int] = field(default_factory=_empty_mapping)


@dataclass(frozen=True, kw_only=True)
class Vmallocinfo(ProcFile):
    """/proc/vmallocinfo: a VmallocArea row per area; ``addresses`` "real", "hashed" or "zeroed"."""

    rows: tuple[VmallocArea, ...] = ()
    addresses: str = "real"

    @property
    def hashed(self) -> bool:
        """True when start/end are %pK hashes (or zeros), not addresses."""
        return self.addresses != "real"


_VMALLOC_LINE = re.compile(r"0x([0-9a-f]+)-0x([0-9a-f]+) +(\d+)((?: \S+)*)")
_VMALLOC_FLAG = re.compile(r"[a-z][a-z-]*")
_VMALLOC_NODE = re.compile(r"N(\d+)=(\d+)")


def _vmalloc_area(start: int, end: int, size: int, words: list[str]) -> VmallocArea | str:
    """The area a vmallocinfo line's words after the size describe, or what is wrong with them.

    Order as s_show() prints them: caller (%pS, perhaps "[module]"), pages=, phys=, the flag
    words, then N<node>=<pages>.
    """
    if words == ["vm_map_ram"]:
        return VmallocArea(start, end, size, "vm_map_ram")
    if words == ["unpurged", "vm_area"]:
        return VmallocArea(start, end, size, "unpurged")
    at = 0
    caller = ""
    if words and not (
        words[0].startswith(("pages=", "phys="))
        or _VMALLOC_FLAG.fullmatch(words[0])
        or _VMALLOC_NODE.fullmatch(words[0])
    ):
        caller, at = words[0], 1
        if at < len(words) and words[at].startswith("[") and words[at].endswith("]"):
            caller, at = f"{caller} {words[at]}", at + 1
    pages, phys = 0, None
    if at < len(words) and words[at].startswith("pages="):
        if not words[at][6:].isdigit():
            return f"bad page count {words[at]!r}"
        pages, at = int(words[at][6:]), at + 1
    if at < len(words) and words[at].startswith("phys="):
        try:
            phys = int(words[at][5:], 16)  # 6.1 "%pa" = 0x + 16 digits; 2.6.32 "%lx"
        except ValueError:
            return f"bad physical address {words[at]!r}"
        at += 1
    flags = []
    while at < len(words) and _VMALLOC_FLAG.fullmatch(words[at]):
        flags.append(words[at])
        at += 1
    nodes = {}
    while at < len(words) and (node := _VMALLOC_NODE.fullmatch(words[at])):
        nodes[int(node[1])] = int(node[2])
        at += 1
    if at < len(words):
        return f"unexpected {words[at]!r} (caller, pages=, phys=, flags, N<node>= in that order)"
    return VmallocArea(
        start, end, size, "area", caller, pages, phys, tuple(flags), MappingProxyType(nodes)
    )


def vmallocinfo(source: str | os.PathLike) -> Vmallocinfo:
    """/proc/vmallocinfo's areas: range, size in bytes, caller, pages, phys, flags, nodes.

    Mirrors s_show() and show_purge_info() (mm/vmalloc.c L4210, L4197):
    ``"0x%pK-0x%pK %7ld"`` then `` %pS``, `` pages=%d``, `` phys=%pa``, the flags, `` vpages``,
    `` N%u=%u``; ``vm_map_ram`` lines; the lazily freed ``unpurged vm_area`` lines last.
    %pK prints hashes (``0x00000000ead3dfa2``) unless kptr_restrict lets the reader see
    addresses (2.6.32 always printed them): a file whose ends are not ``size`` apart is
    "hashed", and a note says so.  On a real machine the file is root-only (mode 0400).
    """
    text, name = _read(source, "vmallocinfo")
    rows = []
    for number, line in _numbered_lines(text, name, "vmallocinfo"):
        match = _VMALLOC_LINE.fullmatch(line)
        if match is None:
            raise ProcFormatError(name, number, "not a /proc/vmallocinfo line", line)
        start, end, size = int(match[1], 16), int(match[2], 16), int(match[3])
        area = _vmalloc_area(start, end, size, match[4].split())
        if isinstance(area, str):
            raise ProcFormatError(name, number, area, line)
        rows.append(area)
    hashed = sum(row.end - row.start != row.size for row in rows)
    notes = ()
    if rows and all(row.start == row.end == 0 for row in rows):
        addresses = "zeroed"
        notes = ("addresses print as 0 (kptr_restrict=2): only sizes and callers are real",)
    elif hashed:
        addresses = "hashed"
        notes = (
            f"{hashed} of {len(rows)} areas have hashed addresses (%pK without the right to see"
            " kernel pointers): start/end tell areas apart but are not addresses; sizes are real",
        )
    else:
        addresses = "real"
    return Vmallocinfo(source=name, rows=tuple(rows), addresses=addresses, notes=notes)


# === /proc/meminfo ===============================================================================
@dataclass(frozen=True, slots=True)
class MeminfoLine:
    """A /proc/meminfo line: its name, its value, and its unit ("kB", or "" for counts)."""

    name: str
    value: int
    unit: str


@dataclass(frozen=True, kw_only=True)
class Meminfo(ProcFile):
    """/proc/meminfo: a MeminfoLine row per line; ``meminfo["MemTotal"]`` is the value (KiB)."""

    rows: tuple[MeminfoLine, ...] = ()

    def __getitem__(self, name: str) -> int:
        """The value of line ``name``: KiB for "kB" lines, a count for HugePages_* lines."""
        for row in self.rows:
            if row.name == name:
                return row.value
        raise KeyError(f"{self.source} has no {name!r} line")

    def __contains__(self, name: object) -> bool:
        return any(row.name == name for row in self.rows)


_MEMINFO_LINE = re.compile(r"([^\s:]+): +(-?\d+)( kB)?")
_MEMINFO_REQUIRED = ("MemTotal", "MemFree")


def meminfo(source: str | os.PathLike) -> Meminfo:
    """/proc/meminfo's lines: name, value and unit (KiB for "kB", else a count).

    Mirrors meminfo_proc_show() (fs/proc/meminfo.c L32): ``show_val_kb()`` prints
    ``"%-16s%8lu kB"``, hugetlb_report_meminfo() the unit-less HugePages_* counts; 2.6.32
    prints the same shape.  MemTotal and MemFree must be there.
    """
    text, name = _read(source, "meminfo")
    rows = []
    seen = set()
    numbered = _numbered_lines(text, name, "meminfo")
    for number, line in numbered:
        match = _MEMINFO_LINE.fullmatch(line)
        if match is None:
            raise ProcFormatError(name, number, 'not a /proc/meminfo line ("Name:  value kB")',
                                  line)  # fmt: skip
        if match[1] in seen:
            raise ProcFormatError(name, number, f"{match[1]} twice", line)
        seen.add(match[1])
        rows.append(MeminfoLine(match[1], int(match[2]), "kB" if match[3] else ""))
    missing = [key for key in _MEMINFO_REQUIRED if key not in seen]
    if missing:
        raise ProcFormatError(
            name, len(numbered) + 1, f"no {' and '.join(missing)} line: not /proc/meminfo?"
        )
    return Meminfo(source=name, rows=tuple(rows))


# === all of a machine at once ====================================================================
@dataclass(frozen=True)
class Snapshot:
    """A machine's memory files read together; files that could not be read are None (see notes)."""

    source: str
    buddyinfo: Buddyinfo
    meminfo: Meminfo
    cpus: int | None = None
    zoneinfo: Zoneinfo | None = None
    pagetypeinfo: Pagetypeinfo | None = None
    slabinfo: Slabinfo | None = None
    vmallocinfo: Vmallocinfo | None = None
    notes: tuple[str, ...] = ()


_READERS = {
    "buddyinfo": buddyinfo,
    "meminfo": meminfo,
    "zoneinfo": zoneinfo,
    "pagetypeinfo": pagetypeinfo,
    "slabinfo": slabinfo,
    "vmallocinfo": vmallocinfo,
}
_REQUIRED_FILES = ("buddyinfo", "meminfo")
_CPUINFO_PROCESSOR = re.compile(r"processor\s*: \d+")


def _count_cpus(source: str | os.PathLike) -> int:
    """How many "processor : N" entries /proc/cpuinfo lists (show_cpuinfo(), one per CPU)."""
    text, name = _read(source, "cpuinfo")
    lines = _numbered_lines(text, name, "cpuinfo")
    cpus = sum(1 for _, line in lines if _CPUINFO_PROCESSOR.fullmatch(line))
    if not cpus:
        raise ProcFormatError(name, len(lines) + 1, "no 'processor : N' line: not /proc/cpuinfo?")
    return cpus


def snapshot(source: str | os.PathLike | Mapping = THIS_MACHINE) -> Snapshot:
    """Every reader on one machine: ``"this machine"``, a folder of copies, or a mapping.

    A folder holds copies named as in /proc (buddyinfo, meminfo, and any of zoneinfo,
    pagetypeinfo, slabinfo, vmallocinfo, cpuinfo); a mapping maps those names to sources, and
    may give ``"cpus"`` as a number.  buddyinfo and meminfo are required.  On this machine the
    CPU count is os.cpu_count(), and a root-only file that cannot be read is None with a note.
    """
    notes = []
    cpus = None
    if isinstance(source, Mapping):
        sources = dict(source)
        unknown = set(sources) - set(_READERS) - {"cpus", "cpuinfo"}
        if unknown:
            raise ValueError(f"snapshot() knows {sorted(_READERS)}, cpuinfo, cpus; not {unknown}")
        cpus = sources.pop("cpus", None)
        if "cpuinfo" in sources:
            cpus = _count_cpus(sources.pop("cpuinfo"))
        label = "the given sources"
    elif isinstance(source, str) and source == THIS_MACHINE:
        sources = dict.fromkeys(_READERS, THIS_MACHINE)
        cpus = os.cpu_count()
        label = THIS_MACHINE
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        folder = Path(source)
        sources = {name: folder / name for name in _READERS if (folder / name).is_file()}
        if (folder / "cpuinfo").is_file():
            cpus = _count_cpus(folder / "cpuinfo")
        label = str(folder)
    else:
        raise FileNotFoundError(
            f"snapshot() takes {THIS_MACHINE!r}, a folder of /proc copies or a mapping, not"
            f" {source!r}"
        )
    missing = [name for name in _REQUIRED_FILES if name not in sources]
    if missing:
        raise FileNotFoundError(f"{label} has no {' or '.join(missing)}: both are needed")
    files = {}
    for name, file_source in sources.items():
        try:
            files[name] = _READERS[name](file_source)
        except PermissionError as error:
            if name in _REQUIRED_FILES:
                raise
            notes.append(str(error))
    if cpus is None:
        notes.append("no cpuinfo: the CPU count is unknown")
    return Snapshot(source=label, cpus=cpus, notes=tuple(notes), **files)


# === a simulated machine like the real one =======================================================
_SLAB_COLUMNS = ("active_objs", "num_objs", "num_slabs", "objsize", "objperslab", "pagesperslab")


@dataclass(frozen=True, slots=True)
class CacheLikeness:
    """One real slab cache beside the copy's: both /proc/slabinfo rows and how it was copied.

    ``real`` is the real row; ``copy`` the copy's row (its name may differ, see ``how``), None
    when the copy has no such cache; ``wanted`` the objects aimed for (``real.active_objs``,
    fewer when machine_like() scaled the caches down); ``how`` is "created"
    (kmem_cache_create()), "kmalloc" (the copy's own kmalloc cache, filled with kmalloc()),
    "renamed" (created under another name, see ``note``) or "not copied" (``note`` says why).
    """

    real: SlabCache
    copy: SlabCache | None
    wanted: int
    how: str
    note: str = ""

    @property
    def name(self) -> str:
        """The real cache's name."""
        return self.real.name

    @property
    def differences(self) -> dict[str, int]:
        """``{column: copy minus real}`` for the slabinfo columns that differ; {} when alike."""
        diff = {}
        for column in _SLAB_COLUMNS:
            copy = 0 if self.copy is None else getattr(self.copy, column)
            if copy != getattr(self.real, column):
                diff[column] = copy - getattr(self.real, column)
        return diff

    @property
    def exact(self) -> bool:
        """True when the copy's slabinfo row has the real one's numbers, column for column."""
        return not self.differences

    @property
    def geometry_differs(self) -> bool:
        """True when the copy's slots, objects per slab or pages per slab are not the real ones."""
        return self.copy is not None and any(
            getattr(self.copy, column) != getattr(self.real, column)
            for column in ("objsize", "objperslab", "pagesperslab")
        )

    @property
    def as_wanted(self) -> bool:
        """True when the copy differs only as asked: the scaled-down objects, in real slabs."""
        return self.exact or (
            self.copy is not None
            and self.copy.active_objs == self.wanted != self.real.active_objs
            and not self.geometry_differs
        )


@dataclass(frozen=True)
class VmallocLikeness:
    """The real machine's vmalloc areas beside the copy's (areas holding pages, and pages).

    ``real_areas``/``real_pages`` count the real areas machine_like() copies: kind "vmalloc"
    with ``pages=N`` (the page arrays of ``vpages`` areas included); ``copy_areas`` and
    ``copy_pages`` count the copy's vmalloc areas.  ``not_copied`` counts the real areas left
    out, by why (ioremap, vmap, user, vm_map_ram, unpurged, no pages ...); ``failed`` the areas
    the copy could not allocate; ``sizes_differ`` the copied areas whose size in bytes is not
    the real one (the copy adds one guard page to every area).
    """

    real_areas: int
    real_pages: int
    copy_areas: int
    copy_pages: int
    not_copied: Mapping[str, int] = field(default_factory=_empty_mapping)
    failed: int = 0
    sizes_differ: int = 0
    notes: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """True when the copy has as many areas and pages, and the same sizes, as were copied."""
        return (
            (self.real_areas, self.real_pages) == (self.copy_areas, self.copy_pages)
            and not self.failed
            and not self.sizes_differ
        )

    def __str__(self) -> str:
        lines = [
            f"vmalloc areas: real {self.real_areas} areas, {self.real_pages} pages;"
            f" copy {self.copy_areas} areas, {self.copy_pages} pages"
        ]
        if self.not_copied:
            counts = ", ".join(f"{count} {why}" for why, count in self.not_copied.items())
            lines.append(f"  not copied (not simulated): {counts}")
        if self.failed:
            lines.append(f"  {self.failed} area(s) could not be allocated in the copy")
        if self.sizes_differ:
            lines.append(f"  {self.sizes_differ} area(s) differ in size (bytes)")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(frozen=True)
class Likeness:
    """How machine_like()'s copy compares with the real machine.

    Free blocks per zone and order: ``real`` is what the copy aimed for in each of its zones
    (the real zones it lacks added to its highest one), ``copy`` what its /proc/buddyinfo
    shows, ``differences`` and ``exact`` compare them.  ``memtotal_kib`` is the real and the
    copy's MemTotal (KiB).  Slab caches: ``caches`` has a CacheLikeness per real cache
    (empty when the snapshot had no slabinfo or slabs=False), ``slab_differences`` and
    ``slabs_exact`` compare them, ``objects_scale`` is the fraction of the real objects
    copied (1.0 unless capped), ``sreclaimable_kib`` the real and the copy's SReclaimable.
    ``vmalloc`` is a VmallocLikeness (None without vmallocinfo or with vmalloc=False).
    ``notes`` say what could not be copied and why.
    """

    source: str
    mem: int
    cpus: int
    memtotal_kib: tuple[int, int]
    real: Mapping[str, tuple[int, ...]]
    copy: Mapping[str, tuple[int, ...]]
    notes: tuple[str, ...] = ()
    caches: tuple[CacheLikeness, ...] = ()
    objects_scale: float = 1.0
    sreclaimable_kib: tuple[int, int] | None = None
    vmalloc: VmallocLikeness | None = None

    def __deepcopy__(self, memo) -> Likeness:
        """This report itself: it is read-only, so a fork of the copy (Kernel.fork()) shares it."""
        return self

    @property
    def differences(self) -> dict[str, tuple[int, ...]]:
        """``{zone: copy minus real per order}``: all zeros where the copy matches."""
        return {
            zone: tuple(c - r for c, r in zip(self.copy[zone], self.real[zone], strict=True))
            for zone in self.real
        }

    @property
    def exact(self) -> bool:
        """True when every zone's free blocks match the real machine's order for order."""
        return all(not any(diff) for diff in self.differences.values())

    def cache(self, name: str) -> CacheLikeness:
        """The CacheLikeness of real cache ``name``; KeyError if the real machine has none."""
        for cache in self.caches:
            if cache.name == name:
                return cache
        raise KeyError(f"{self.source} has no slab cache {name!r}")

    @property
    def slab_differences(self) -> dict[str, dict[str, int]]:
        """``{real cache: {column: copy minus real}}`` for the caches that differ."""
        return {cache.name: cache.differences for cache in self.caches if not cache.exact}

    @property
    def slabs_exact(self) -> bool:
        """True when every real cache's slabinfo row is the copy's (vacuously without caches)."""
        return all(cache.exact for cache in self.caches)

    def _slab_lines(self) -> list[str]:
        if not self.caches:
            return []
        copied = [cache for cache in self.caches if cache.copy is not None]
        real_objects = sum(cache.real.active_objs for cache in self.caches)
        copy_objects = sum(cache.copy.active_objs for cache in copied)
        differ = [cache for cache in self.caches if not cache.exact]
        listed = [cache for cache in differ if not cache.as_wanted]
        lines = [
            f"slab caches: {len(copied)} of {len(self.caches)} real caches in the copy,"
            f" {copy_objects} of {real_objects} active objects; {len(differ)} differ",
        ]
        if self.objects_scale < 1:
            lines.append(
                f"  objects scaled by {self.objects_scale:.4f} (see notes):"
                f" {len(differ) - len(listed)} caches differ only by that"
            )
        if self.sreclaimable_kib is not None:
            real_kib, copy_kib = self.sreclaimable_kib
            lines.append(f"  SReclaimable real {real_kib} kB, copy {copy_kib} kB")
        if listed:
            lines.append(
                f"  {'cache':<24}{'':>5}" + "".join(f"{column:>13}" for column in _SLAB_COLUMNS)
            )
        for cache in listed[:MAX_CACHES_LISTED]:
            lines.append(
                f"  {cache.name[:24]:<24}{'real':>5}"
                + "".join(f"{getattr(cache.real, column):>13}" for column in _SLAB_COLUMNS)
            )
            if cache.copy is not None:
                lines.append(
                    f"  {'':<24}{'copy':>5}"
                    + "".join(f"{getattr(cache.copy, column):>13}" for column in _SLAB_COLUMNS)
                )
            if cache.note:
                lines.append(f"  {'':<24}note: {cache.note}")
        if len(listed) > MAX_CACHES_LISTED:
            lines.append(f"  ... and {len(listed) - MAX_CACHES_LISTED} more (likeness.caches)")
        lines.extend(
            f"  {cache.name}: {cache.note}"
            for cache in self.caches
            if cache.note and cache.as_wanted and self.objects_scale >= 1
        )
        return lines

    def __str__(self) -> str:
        real_total, copy_total = self.memtotal_kib
        lines = [
            f"a copy of {self.source}: {self.mem / (1 << 30):.2f} GiB of RAM, {self.cpus} CPU(s),"
            f" MemTotal {copy_total} kB (real {real_total} kB)",
            f"{'free blocks':<20}" + "".join(f"{order:>7}" for order in range(MAX_ORDER)),
        ]
        for zone, real in self.real.items():
            lines.append(f"{zone + ' real':<20}" + "".join(f"{n:>7}" for n in real))
            lines.append(f"{zone + ' copy':<20}" + "".join(f"{n:>7}" for n in self.copy[zone]))
            diff = self.differences[zone]
            if any(diff):
                lines.append(f"{zone + ' copy - real':<20}" + "".join(f"{n:>+7}" for n in diff))
        lines += self._slab_lines()
        if self.vmalloc is not None:
            lines.append(str(self.vmalloc))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


# The zone modifier and __GFP_NOWARN, with no reclaim bits: below the min watermark an allocation
# fails quietly instead of reclaiming.  (Module level: a class body would mangle the names.)
_ZONE_GFP = {
    "DMA": __GFP_DMA | __GFP_NOWARN,
    "DMA32": __GFP_DMA32 | __GFP_NOWARN,
    "Normal": __GFP_NOWARN,
}
_MIGRATETYPE_GFP = {
    MIGRATE_MOVABLE: __GFP_MOVABLE,
    MIGRATE_UNMOVABLE: 0,
    MIGRATE_RECLAIMABLE: __GFP_RECLAIMABLE,
}


def _chains(target: list[int]) -> list[tuple[int, int]]:
    """(top, bottom) orders of the chains that make ``target[0..MAX_ORDER-2]`` free blocks.

    A chain is one free block of each order from top down to bottom, each the buddy of the
    region holding the smaller ones, above one allocated block of the bottom order: what
    expand() leaves when an allocation of order ``bottom`` splits a block of order top + 1.
    Going down the orders, a chain starts wherever more blocks are wanted than the orders
    above needed and ends wherever fewer are; highest tops come first.
    """
    chains = []
    open_tops: list[int] = []
    for order in range(MAX_ORDER - 2, -1, -1):
        while len(open_tops) > target[order]:
            chains.append((open_tops.pop(), order + 1))
        while len(open_tops) < target[order]:
            open_tops.append(order)
    chains += [(top, 0) for top in open_tops]
    return sorted(chains, key=lambda chain: -chain[0])


@dataclass
class _ChainPlan:
    """One zone's chains worked out without allocating (_ZoneCarver.plan_chains())."""

    # four numbers per anchor: its pfn, the order of the block it split, the chain's top and
    # its bottom
    anchors: array
    split: int  # largest-order blocks split, taken from the head of their Movable list
    rest: int  # the node the largest-order Movable list then starts with (its head if none)
    leftovers: list[list[int]]  # per order below the largest: free halves left, list head last
    pages: int  # pages the chains take: 2^(top+1) each, the anchor and the chain's blocks


class _ZoneCarver:
    """Allocations in one zone of a copy, made to leave chosen free-block counts behind."""

    def __init__(self, kernel: Kernel, zone: str):
        self.kernel, self.zone = kernel, zone
        self.gfp = _ZONE_GFP[zone]

    def nr_free(self, order: int) -> int:
        """Free blocks of ``order`` in the zone, as /proc/buddyinfo counts them."""
        return self.kernel.buddyinfo()[self.zone][order]

    def on_list(self, order: int, migratetype: int) -> int:
        """Blocks on ``migratetype``'s free list of ``order``, as /proc/pagetypeinfo counts them.

        pagetypeinfo_showfree_print() stops counting a list at PAGETYPEINFO_CAP.
        """
        count = 0
        for _ in self.kernel.buddy.free_list(self.kernel.zone(self.zone), order, migratetype):
            count += 1
            if count == PAGETYPEINFO_CAP:
                break
        return count

    def take(self, order: int, migratetype: int = MIGRATE_MOVABLE) -> Page | None:
        """A block of ``order`` from this zone, ``migratetype``'s lists first; None if none."""
        page = self.kernel.alloc_pages(self.gfp | _MIGRATETYPE_GFP[migratetype], order)
        if page is not None and page.zone != self.zone:  # the zonelist fell back to a lower zone
            self.kernel.free_pages_block(page, order)
            return None
        return page

    def give_back(self, blocks: list[tuple[Page, int]]) -> None:
        """Free every (page, order) block."""
        for page, order in blocks:
            self.kernel.free_pages_block(page, order)

    def take_existing(self, order: int, count: int) -> list[tuple[Page, int]]:
        """Up to ``count`` of the zone's free blocks of exactly ``order``, none of them split.

        Each comes from a migratetype whose list of that order has one, as the copy's own
        /proc/pagetypeinfo would say (on_list()): an allocation of that type takes the list's
        first block.  The file counts a list only up to PAGETYPEINFO_CAP (100000) blocks, so the
        lists are counted again until ``count`` are taken or a count gives none.
        """
        taken: list[tuple[Page, int]] = []
        while len(taken) < count:
            before = len(taken)
            for mt in _MIGRATETYPE_GFP:  # a take of one type leaves the other lists as they are
                on_list = self.on_list(order, mt)
                for _ in range(min(on_list, count - len(taken))):
                    page = self.take(order, mt)
                    if page is None:
                        return taken
                    taken.append((page, order))
            if len(taken) == before:
                break
        return taken

    def chain(self, top: int, bottom: int) -> list[tuple[Page, int]] | None:
        """Allocate one chain (see _chains); its free blocks, held allocated, or None.

        With no free block of orders bottom..top on the lists, allocating order ``bottom``
        splits a block of order top + 1 or more and keeps its lowest pages; expand() leaves
        the buddy of each half, ``pfn + 2^order`` for orders bottom..top, on the lists.  They
        are allocated right away so the next chain cannot split them; larger leftovers stay
        free for the next chains to split.
        """
        anchor = self.take(bottom)
        if anchor is None:
            return None
        held = []
        for order in range(bottom, top + 1):
            page = self.take(order)
            if page is not None and page.pfn != anchor.pfn + (1 << order):
                held.append((page, order))
                page = None
            if page is None:
                self.give_back([*held, (anchor, bottom)])
                return None
            held.append((page, order))
        return held

    def plan_chains(self, chains: list[tuple[int, int]]) -> _ChainPlan | None:
        """The chains worked out by arithmetic, without allocating; None where that is not sure.

        With every free block below the largest order held (carve(), steps 1 and 2), a chain's
        first allocation (its anchor, order ``bottom``) takes the smallest free Movable block
        of order top + 1 or more, the head of the lowest non-empty list (__rmqueue_smallest()):
        the lists of orders up to ``top`` are empty, since chains come highest top first and
        what the earlier ones left free is above their tops.  expand() puts the upper halves on
        the list heads one order down each: orders bottom..top are the chain (held at once),
        the halves above stay free for the next chains, so each list is a stack.

        That is what chain() does while every allocation is served at once by its own zone's
        Movable lists through the boot pagesets: numpy at hand, mobility grouping on, no CMA,
        no isolated pageblock, no bad refcount, no kswapd pending, the per-CPU lists empty,
        the Movable lists below the largest order empty, and free pages above the high
        watermark and the lowmem reserve by a largest block when the chains are made.
        Otherwise None, and the chains are allocated one block at a time.
        """
        kernel, buddy = self.kernel, self.kernel.buddy
        zone = kernel.zone(self.zone)
        if (
            _numpy is None or not kernel.mobility_grouping or kernel.refcount_underflow
            or kernel.atomic or kernel._kswapd_pending is not None or zone.free_cma
            or zone.nr_isolate_pageblock or zone.pcp_high or zone.pcp_batch != 1
            or any(zone.pcp_count) or any(zone.pcp_free_factor)
        ):  # fmt: skip
            return None
        largest = MAX_ORDER - 1
        nxt = buddy.nxt
        heads = [zone.sentinel(order, MIGRATE_MOVABLE) for order in range(MAX_ORDER)]
        if any(nxt[head >> 1] != head for head in heads[:largest]):
            return None
        blocks = list(buddy.free_list(zone, largest, MIGRATE_MOVABLE))
        stacks: list[list[int]] = [[] for _ in range(largest)]
        anchors = array("q")
        split = pages = 0
        for top, bottom in chains:
            for order in range(top + 1, largest):
                stack = stacks[order]
                if stack:
                    pfn = stack.pop()
                    break
            else:
                if split == len(blocks):
                    return None
                pfn, order = blocks[split], largest
                split += 1
            for high in range(order - 1, top, -1):  # expand()'s halves above the chain
                stacks[high].append(pfn + (1 << high))
            anchors.extend((pfn, order, top, bottom))
            pages += 2 << top
        mark = zone.watermark[WMARK_HIGH] + max(zone.lowmem_reserve) + (1 << largest)
        if zone.free_pages - pages <= mark:
            return None
        rest = blocks[split] if split < len(blocks) else heads[largest]
        return _ChainPlan(anchors, split, rest, stacks, pages)

    def make_chains(self, plan: _ChainPlan):
        """Leave the zone as chain() would leave it after every planned chain; the chain blocks.

        The history gets each anchor's allocation, recorded as the allocator records it
        (through a boot pageset for orders 0..3 and 9: rmqueue_bulk() then the pop); the
        allocation of a chain's blocks and their free in give_back() cancel out, so they are
        left out: a view of the copy has less history to replay (a third of it on a 24 GiB
        copy of a fragmented machine).  The clock
        still counts them (a microsecond per record, Kernel.now_ns()): the copy's log times
        are those of allocating block by block.  Returns the chain blocks, held (allocated),
        as numpy arrays of pfns and orders, in the order carve() frees them: chain after
        chain, bottom up.
        """
        kernel, buddy, history = self.kernel, self.kernel.buddy, self.kernel.history
        zone = kernel.zone(self.zone)
        mt, cpu = MIGRATE_MOVABLE, kernel.context.cpu_cell[0]
        # the record bits of Kernel._plan(), rmqueue_bulk() and rmqueue_pcplist()
        plan_bits = history.gfp_bits(gfp_t(self.gfp | _MIGRATETYPE_GFP[mt])) | (mt << 10)
        bulk_bits = KIND_ALLOC | PCP_BIT | PCP_BULK_BIT | (cpu << CPU_SHIFT) | (mt << 10)
        pop_bits = plan_bits | PCP_BIT | (cpu << CPU_SHIFT)
        np = _numpy
        anchors = np.frombuffer(plan.anchors, dtype=np.int64).reshape(-1, 4)
        pfns, tops, bottoms = anchors[:, 0], anchors[:, 2], anchors[:, 3]
        through_pcp = np.array([pcp_allowed_order(order) for order in range(MAX_ORDER)])
        pcp = through_pcp[bottoms]
        at, split = pfns << PFN_SHIFT, anchors[:, 1] << 6
        records = np.empty(len(pfns) + int(pcp.sum()), dtype=np.int64)
        first = np.cumsum(1 + pcp) - (1 + pcp)  # each anchor's first record; pcp ones have two
        records[first] = np.where(pcp, bulk_bits, plan_bits) | at | split | (bottoms << 2)
        records[first[pcp] + 1] = (pop_bits | at | (bottoms << 6) | (bottoms << 2))[pcp]
        history.records.frombytes(records.tobytes())
        state = np.frombuffer(buddy.state, dtype=np.int8)
        state[pfns] = ALLOCATED + bottoms  # an allocated block's links are stale: left as they are
        # chain blocks pfn + 2^o for o = bottom..top: anchors (pfn, top, bottom) (0, 2, 0) and
        # (8, 1, 1) give blocks 1, 2, 4 (orders 0, 1, 2) and 10 (order 1)
        lengths = tops - bottoms + 1
        starts = np.cumsum(lengths) - lengths
        orders = np.repeat(bottoms - starts, lengths) + np.arange(int(lengths.sum()))
        blocks = np.repeat(pfns, lengths) + (np.int64(1) << orders)
        state[blocks] = ALLOCATED + orders  # held, as chain()'s allocations hold them
        largest = MAX_ORDER - 1
        head = zone.sentinel(largest, MIGRATE_MOVABLE)
        self._link([head, plan.rest])  # the split blocks came off the list head
        zone.nr_free[largest] -= plan.split
        for order, stack in enumerate(plan.leftovers):  # the lists were empty: a stack each
            if stack:
                state[stack] = order
                head = zone.sentinel(order, MIGRATE_MOVABLE)
                self._link([head], stack[::-1], [head])
                zone.nr_free[order] += len(stack)
        zone.free_count[0] -= plan.pages
        # chain() and give_back() write a record per allocation and free of a block, two for
        # orders 0..3 and 9 (a boot pageset's refill and pop, push and drain)
        calls = np.where(through_pcp[orders], 2, 1)
        kernel._clock_offset_ns += 2 * int(calls.sum()) * NS_PER_RECORD
        return blocks, orders

    def free_chain_blocks(self, blocks, orders) -> None:
        """Free the held chain blocks make_chains() returned, in their order, as give_back() would.

        None merges: a chain block's buddy is its anchor's region.  Each goes to its
        pageblock's migratetype list (free_unref_page() and a boot pageset's drain, or
        free_one_page()), at the head unless buddy_merge_likely(): its order is below 9 and
        the block of the next order up beside its parent is free then.  Below a chain's top
        that is the chain's next block, still held; for the top it is some other block, free
        if it is a chain block freed before, or a free block of the zone.  So each list ends
        as the blocks freed to its head, last freed first, then what it held, then the blocks
        freed to its tail.
        """
        np = _numpy
        buddy = self.kernel.buddy
        zone = self.kernel.zone(self.zone)
        state = np.frombuffer(buddy.state, dtype=np.int8)
        count = blocks.size
        # __free_one_page() looks at the higher buddy below order 9 only (a block of order 9
        # may end its zone's array): (X & ~2^o) ^ 2^(o+1), block 4 of order 2 -> 8
        low = orders < MAX_ORDER - 2
        higher = np.where(
            low, (blocks & ~(np.int64(1) << orders)) ^ (np.int64(2) << orders), blocks
        )
        by_pfn = np.argsort(blocks)
        found = by_pfn[np.minimum(np.searchsorted(blocks, higher, sorter=by_pfn), count - 1)]
        is_chain_block = blocks[found] == higher
        freed_before = (found < np.arange(count)) & (orders[found] == orders + 1)
        free_then = np.where(is_chain_block, freed_before, state[higher] == orders + 1)
        to_tail = low & free_then
        mts = np.frombuffer(buddy.pageblock_mt, dtype=np.int8)[blocks >> PAGEBLOCK_ORDER]
        lists = orders * MIGRATE_TYPES + mts
        in_list_order = np.argsort(lists, kind="stable")  # each list's blocks, as freed
        bounds = np.flatnonzero(np.diff(lists[in_list_order])) + 1
        nxt = buddy.nxt
        for group in np.split(in_list_order, bounds):
            head = zone.list_base + 2 * int(lists[group[0]])
            first, last = nxt[head >> 1], buddy.prv[head >> 1]
            to_head, to_end = group[~to_tail[group]][::-1], group[to_tail[group]]
            if first == head:
                self._link([head], blocks[to_head], blocks[to_end], [head])
            else:
                self._link([head], blocks[to_head], [first])
                self._link([last], blocks[to_end], [head])
        state[blocks] = orders
        for order, number in enumerate(np.bincount(orders, minlength=MAX_ORDER)):
            zone.nr_free[order] += int(number)
        zone.free_count[0] += int((np.int64(1) << orders).sum())

    def _link(self, *parts) -> None:
        """Link the nodes of ``parts`` one after the other on their list: next and prev."""
        np = _numpy
        nodes = np.concatenate([np.asarray(part, dtype=np.int64) for part in parts])
        np.frombuffer(self.kernel.buddy.nxt, dtype=np.int32)[nodes[:-1] >> 1] = nodes[1:]
        np.frombuffer(self.kernel.buddy.prv, dtype=np.int32)[nodes[1:] >> 1] = nodes[:-1]

    def carve(self, target: list[int]) -> None:
        """Allocate until the zone's free blocks per order are ``target``, or as near as it gets.

        When blocks below the largest order are missing:

        1. Hold (allocate for now) target[MAX_ORDER-1] blocks of the largest order, so that
           no chain splits them: when the zone is too small, smaller orders go short first.
        2. Hold every smaller free block the zone has (boot leaves a few), so that no chain
           splits or takes them either.
        3. Make the missing blocks as chains (_chains), highest first, holding their free
           blocks; stop when nothing is left to split.  Where plan_chains() can tell what
           that does without allocating, make_chains() and free_chain_blocks() write it.
        4. Free everything held.  Nothing merges: the buddy of each block holds an allocated
           page (a chain's bottom block, or what kept a block from step 2 apart at boot).

        Then allocate, order by order, the free blocks beyond the target, each from a list
        of exactly its order, so that no other order changes.
        """
        top_order = MAX_ORDER - 1
        missing = [max(target[order] - self.nr_free(order), 0) for order in range(top_order)]
        chains = _chains(missing)
        held = []
        if chains:
            held = self.take_existing(top_order, target[top_order])
            for order in range(top_order):
                held += self.take_existing(order, self.nr_free(order))
        plan = self.plan_chains(chains) if chains else None
        if plan is not None:  # the same blocks, without allocating them one by one
            blocks, orders = self.make_chains(plan)
            self.give_back(held)
            self.free_chain_blocks(blocks, orders)
        else:
            for top, bottom in chains:
                blocks = self.chain(top, bottom)
                if blocks is None:
                    break
                held += blocks
            self.give_back(held)
        for order in range(MAX_ORDER):
            self.take_existing(order, self.nr_free(order) - target[order])


def _targets(real: Buddyinfo, zones: list[str]) -> tuple[dict[str, list[int]], list[str]]:
    """The free blocks per order each simulated zone should end with, and what that changed.

    Nodes are added up (kmviz has one), a real zone the copy lacks goes to the copy's highest
    zone, and a block above order MAX_ORDER-1 counts as that many order MAX_ORDER-1 blocks.
    """
    notes = []
    nodes = sorted({row.node for row in real.rows})
    if len(nodes) > 1:
        notes.append(f"nodes {nodes} added up: kmviz simulates one node")
    targets = {zone: [0] * MAX_ORDER for zone in zones}
    for zone, free in real.free_by_zone().items():
        into = zone if zone in targets else zones[-1]
        if into != zone:
            notes.append(f"zone {zone} is not simulated: its free blocks are aimed for in {into}")
        for order, count in enumerate(free):
            top = min(order, MAX_ORDER - 1)
            targets[into][top] += count << (order - top)
    if real.orders > MAX_ORDER:
        notes.append(
            f"blocks of order {MAX_ORDER} and up count as 2^(order-{MAX_ORDER - 1}) blocks of"
            f" order {MAX_ORDER - 1}, kmviz's largest"
        )
    return targets, notes


def _page_multiple(size: int) -> int:
    """``size`` bytes rounded down to whole pages and kept within what a Kernel simulates."""
    return min(max(size, MIN_MEM), MAX_MEM) // PAGE_SIZE * PAGE_SIZE


COLLECTED_PROBE = 64 << 30  # bytes: a probe machine this big is collected before the next boots


def _copy_memory(memtotal_kib: int, **machine) -> tuple[int, list[str]]:
    """The RAM size (bytes) whose simulated MemTotal is the real one, and what stood in the way.

    A simulated machine keeps some RAM for itself as a real one does (firmware, the kernel
    image, struct pages, hash tables sized in powers of two), so probe boots measure that and
    the size is corrected until MemTotal matches (at most four probes; the last is kept).
    """
    wanted = memtotal_kib << 10
    mem = _page_multiple(wanted)
    if mem != wanted // PAGE_SIZE * PAGE_SIZE:
        return mem, [
            f"MemTotal {memtotal_kib} kB is beyond what kmviz simulates"
            f" ({format_size(MIN_MEM)} .. {format_size(MAX_MEM)}): the copy has {format_size(mem)}"
        ]
    for _ in range(4):
        probe = meminfo(Kernel(mem, **machine).cat("/proc/meminfo"))["MemTotal"] << 10
        if mem >= COLLECTED_PROBE:  # its reference cycles hold its page arrays (1.3 GB at 1 TiB)
            gc.collect()  # free them before the next probe boots; below, not worth a full pass
        if probe == wanted:
            break
        mem = _page_multiple(mem + wanted - probe)
    return mem, []


# --- the copy's vmalloc areas and slab caches ----------------------------------------------------
MAX_COPIED_OBJECTS = 2_000_000  # slab objects machine_like() copies at most, by default
MAX_CACHES_LISTED = 40  # caches that differ, listed by str(likeness)

# Caches Linux creates with SLAB_RECLAIM_ACCOUNT: their slabs count as SReclaimable and come from
# reclaimable pageblocks.  fs/dcache.c, fs/inode.c, fs/buffer.c, lib/radix-tree.c, fs/mbcache.c,
# fs/ext4 (inode cache, extent_status), fs/proc, net/socket.c, block/bdev.c, debugfs, tracefs,
# and the inode caches of ext2/3, xfs, btrfs, fuse, nfs, overlayfs and squashfs.  slabinfo does
# not print a cache's flags: this list is a guess, which the report checks against SReclaimable.
RECLAIMABLE_CACHES = frozenset({
    "dentry", "inode_cache", "buffer_head", "radix_tree_node", "mbcache", "ext4_inode_cache",
    "extent_status", "proc_inode_cache", "sock_inode_cache", "bdev_cache", "debugfs_inode_cache",
    "tracefs_inode_cache", "ext2_inode_cache", "ext3_inode_cache", "xfs_inode", "btrfs_inode",
    "fuse_inode", "nfs_inode_cache", "ovl_inode", "squashfs_inode_cache",
})  # fmt: skip

# a kmalloc cache's name: 6.1's "kmalloc-1k", "dma-kmalloc-96", "kmalloc-rcl-64", "kmalloc-cg-8k",
# 2.6.32's "kmalloc-4096" and "kmalloc_dma-512"
_KMALLOC_NAME = re.compile(
    r"(dma-kmalloc-|kmalloc_dma-|kmalloc-rcl-|kmalloc-cg-|kmalloc-)(\d+)([kM]?)"
)
_KMALLOC_PREFIX_KIND = {
    "kmalloc-": "normal",
    "dma-kmalloc-": "dma",
    "kmalloc_dma-": "dma",
    "kmalloc-rcl-": "reclaim",
    "kmalloc-cg-": "cgroup",
}
_KMALLOC_KIND_GFP = {  # what kmalloc_type() needs to pick each kind
    "normal": 0,
    "dma": __GFP_DMA,
    "reclaim": __GFP_RECLAIMABLE,
    "cgroup": __GFP_ACCOUNT,
}
_SIZE_UNIT = {"": 1, "k": 1 << 10, "M": 1 << 20}


def _kmalloc_class(name: str) -> tuple[str, int] | None:
    """(kind, bytes) of a kmalloc size class named ``name``; None for any other cache."""
    match = _KMALLOC_NAME.fullmatch(name)
    if match is None:
        return None
    size = int(match[2]) * _SIZE_UNIT[match[3]]
    if not 0 < size <= KMALLOC_MAX_CACHE_SIZE or kmalloc_cache_size(kmalloc_index(size)) != size:
        return None
    return _KMALLOC_PREFIX_KIND[match[1]], size


def _target_pages(targets: Mapping[str, list[int]]) -> int:
    """Pages the free blocks of ``targets`` hold, all zones."""
    return sum(count << order for free in targets.values() for order, count in enumerate(free))


def _not_copied(area: VmallocArea) -> str | None:
    """Why a vmallocinfo area is not copied (what kind it is), or None: a vmalloc() with pages."""
    if area.kind == "unpurged":
        return "unpurged (freed, not yet purged)"
    if area.kind == "vm_map_ram":
        return "vm_map_ram"
    for flag in ("ioremap", "vmap", "user"):
        if flag in area.flags:
            return flag
    if "vmalloc" not in area.flags:
        return f"other ({' '.join(area.flags) or 'no flags'})"
    if not area.pages:
        return "vmalloc without pages (a reserved range)"
    return None


def _copy_vmalloc(kernel: Kernel, info: Vmallocinfo, floor: int) -> VmallocLikeness:
    """vmalloc() every real "vmalloc" area with pages=N, N pages each, with the real caller.

    A ``vpages`` area's page array (N * 8 bytes above a page) is itself a vmalloc area of the
    same caller, listed on its own line; the copy's vmalloc() makes it as Linux does, so that
    line is not copied again.  Stops when the copy's free pages would go below ``floor``.
    """
    not_copied: dict[str, int] = {}
    copied: list[VmallocArea] = []
    for area in info.rows:
        why = _not_copied(area)
        if why is None:
            copied.append(area)
        else:
            not_copied[why] = not_copied.get(why, 0) + 1
    to_make = list(copied)
    arrays = unmatched = 0
    for area in copied:
        if "vpages" not in area.flags:
            continue
        array_pages = -(-area.pages * 8 // PAGE_SIZE)
        for index, other in enumerate(to_make):
            same = (other.caller, other.pages) == (area.caller, array_pages)
            if same and "vpages" not in other.flags:
                del to_make[index]
                arrays += 1
                break
        else:
            unmatched += 1
    notes = []
    failed = 0
    for index, area in enumerate(to_make):
        if kernel.free_pages_count() - area.pages - 1 < floor:
            failed = len(to_make) - index
            notes.append(
                f"the copy ran out of room for vmalloc areas: {failed} not made (the free"
                " lists to copy come first)"
            )
            break
        # _vmalloc(), not vmalloc(): the same call with the real caller, for /proc/vmallocinfo
        if not kernel._vmalloc(area.pages * PAGE_SIZE, GFP_KERNEL, area.caller or VMALLOC_CALLER):
            failed += 1
    if arrays:
        notes.append(
            f"{arrays} page array(s) of vpages areas were made by the copy's vmalloc() itself,"
            " as Linux makes them (with the area's caller)"
        )
    if unmatched:
        notes.append(
            f"{unmatched} vpages area(s) without their page array's line: the copy has that"
            " many more areas"
        )
    made = [
        area
        for area in vmallocinfo(kernel.cat("/proc/vmallocinfo")).rows
        if area.kind == "area" and "vmalloc" in area.flags
    ]
    real_sizes: dict[int, int] = {}
    for area in copied:
        real_sizes[area.size] = real_sizes.get(area.size, 0) + 1
    for area in made:
        real_sizes[area.size] = real_sizes.get(area.size, 0) - 1
    return VmallocLikeness(
        real_areas=len(copied),
        real_pages=sum(area.pages for area in copied),
        copy_areas=len(made),
        copy_pages=sum(area.pages for area in made),
        not_copied=MappingProxyType(not_copied),
        failed=failed,
        sizes_differ=sum(count for count in real_sizes.values() if count > 0),
        notes=tuple(notes),
    )


@dataclass(slots=True)
class _CachePlan:
    """One real cache on its way into the copy: where its objects go and how many."""

    row: SlabCache
    how: str = "created"
    notes: list[str] = field(default_factory=list)
    cache: KmemCache | None = None
    gfp: int = GFP_KERNEL
    kmalloc_size: int = 0  # > 0: a kmalloc cache, filled with kmalloc(kmalloc_size, gfp)
    wanted: int = 0  # objects to leave in use
    slabs: int = 0  # slabs to fill before the surplus is freed

    def numbers(self, scale: float) -> int:
        """Set ``wanted`` and ``slabs`` for ``scale`` of the real objects; the pages needed.

        The copy aims for the real active_objs, and for the real num_objs as near as whole
        slabs of its own geometry allow (exactly, where the geometry is the real one):
        ``slabs`` full slabs, then the surplus freed, never a slab's last object.
        """
        cache, row = self.cache, self.row
        if cache is None:
            return 0
        live = len(cache.requested)  # the copy's own, e.g. vmalloc's page arrays
        self.wanted = row.active_objs if scale >= 1 else int(row.active_objs * scale)
        if row.active_objs and not self.wanted and scale > 0:
            self.wanted = 1  # every cache keeps at least one object, unless none is wanted
        keep = max(self.wanted, live)
        if not keep:
            self.slabs = 0
            return 0
        per_slab = cache.objects
        self.slabs = min(max(round(row.num_objs * min(scale, 1) / per_slab), -(-keep // per_slab)),
                         keep)  # fmt: skip
        return max(self.slabs - len(cache.slabs), 0) << cache.order


def _plan_caches(kernel: Kernel, info: Slabinfo) -> list[_CachePlan]:
    """A plan per real cache, oldest first (slabinfo lists the newest first), caches created.

    kmalloc size classes are the copy's own caches; any other cache is kmem_cache_create()d
    with the real object size (slabinfo's objsize, the slot size), reclaimable if named in
    RECLAIMABLE_CACHES.  Whitespace in a name becomes "_"; a name the copy already has gets
    "#2", "#3" ...; an object size kmem_cache_create() refuses is not copied.
    """
    names = {cache.name for cache in kernel.caches}
    kmalloc_used: set[str] = set()
    plans = []
    for row in reversed(info.rows):
        plan = _CachePlan(row)
        plans.append(plan)
        kmalloc = _kmalloc_class(row.name)
        if kmalloc is not None:
            kind, size = kmalloc
            cache = kernel.kmalloc_caches.get((kind, kmalloc_index(size)))
            if cache is not None and cache.name not in kmalloc_used:
                kmalloc_used.add(cache.name)
                plan.how, plan.cache, plan.kmalloc_size = "kmalloc", cache, size
                plan.gfp = GFP_KERNEL | _KMALLOC_KIND_GFP[kind]
                if cache.name != row.name:
                    plan.notes.append(f"the copy's kmalloc cache {cache.name}")
                continue
            if cache is None:
                plan.notes.append(f"the copy has no {kind} kmalloc cache of {size} B (no ZONE_DMA)")
        if not 0 < row.objsize <= KMALLOC_MAX_SIZE:
            plan.how = "not copied"
            plan.notes.append(
                f"object size {row.objsize} B: kmem_cache_create() takes 1..{KMALLOC_MAX_SIZE} B"
            )
            continue
        name = "_".join(row.name.split())
        if name != row.name:
            plan.notes.append("whitespace in the name made '_' (kmem_cache_create() warns)")
        if name in names:
            number = 2
            while f"{name}#{number}" in names:
                number += 1
            plan.notes.append(f"named {name}#{number}: the copy already has a cache {name}")
            name = f"{name}#{number}"
        flags = SLAB_RECLAIM_ACCOUNT if row.name in RECLAIMABLE_CACHES else 0
        plan.cache = kernel.kmem_cache_create(name, row.objsize, flags=flags)
        if plan.cache is None:
            plan.how = "not copied"
            plan.notes.append("kmem_cache_create() refused it (see the copy's dmesg)")
            continue
        names.add(name)
        if name != row.name:
            plan.how = "renamed"
    return plans


def _scale_to_fit(
    plans: list[_CachePlan], max_objects: int, budget: int
) -> tuple[float, list[str]]:
    """The fraction of the real objects to copy: all, unless above ``max_objects`` or the room."""
    notes = []
    total = sum(plan.row.active_objs for plan in plans if plan.cache is not None)
    scale = 1.0
    if total > max_objects:
        scale = max_objects / total
        notes.append(
            f"{total} slab objects are more than max_objects={max_objects}: every cache is"
            f" scaled down to {scale:.4f} of its objects (pass a larger max_objects to copy all)"
        )
    pages = sum(plan.numbers(scale) for plan in plans)
    for _ in range(3):
        if pages <= budget:
            break
        scale *= max(budget, 0) / pages * 0.98
        pages = sum(plan.numbers(scale) for plan in plans)
        if len(notes) < 2:
            notes.append(
                "the copy has not room for every real slab beside the free blocks to copy:"
                " every cache is scaled down"
            )
    return scale, notes


def _free_spread(kernel: Kernel, plan: _CachePlan, before: set[int], surplus: int, rng) -> int:
    """Free ``surplus`` objects the plan allocated, spread evenly over the cache's slabs.

    Never a slab's last object in use, never one of ``before`` (objects the copy had before).
    The slabs and the objects in each are picked with ``rng``; returns how many could not be
    freed without emptying a slab.
    """
    if surplus <= 0:
        return 0
    cache = plan.cache
    candidates: dict[int, list[int] | None] = {}  # slab pfn -> its objects to pick from
    room: dict[int, int] = {}
    slabs = {slab.pfn: slab for slab in cache.slabs}
    for pfn in sorted(slabs):
        slab = slabs[pfn]
        if not slab.freelist and not before:  # full of the plan's objects: any slot will do
            candidates[pfn], room[pfn] = None, slab.objects - 1
            continue
        free = set(slab.freelist)
        addrs = [slab.address(i) for i in range(slab.objects) if i not in free]
        mine = [addr for addr in addrs if addr not in before]
        candidates[pfn], room[pfn] = mine, min(len(mine), len(addrs) - 1)
    open_slabs = [pfn for pfn in candidates if room[pfn] > 0]
    rng.shuffle(open_slabs)
    quota = dict.fromkeys(open_slabs, 0)
    left = surplus
    while left > 0 and open_slabs:
        share = max(1, left // len(open_slabs))
        still_open = []
        for pfn in open_slabs:
            take = min(share, room[pfn] - quota[pfn], left)
            quota[pfn] += take
            left -= take
            if quota[pfn] < room[pfn]:
                still_open.append(pfn)
            if not left:
                break
        open_slabs = still_open
    if plan.kmalloc_size:
        free_object = kernel.kfree
    else:
        cache_free = kernel.kmem_cache_free
        free_object = lambda addr: cache_free(cache, addr)  # noqa: E731
    for pfn, count in quota.items():
        slab, addrs = slabs[pfn], candidates[pfn]
        if addrs is None:
            picked = [slab.address(i) for i in rng.sample(range(slab.objects), count)]
        else:
            picked = rng.sample(addrs, count)
        for addr in picked:
            free_object(addr)
    return left


def _fill(kernel: Kernel, plan: _CachePlan, floor: int, rng) -> None:
    """Allocate the plan's slabs full, free the surplus, and put the active slab back.

    Objects come a slab's worth at a time, so that a failure (none is expected: the plan
    fits above ``floor``) stops the filling.  kmem_cache_shrink() flushes the active
    (per-CPU) slab to the partial list, so that /proc/slabinfo counts its free slots as
    free: active_objs is then the objects in use.
    """
    cache = plan.cache
    per_slab = cache.objects
    before = set(cache.requested)  # the copy's own objects, e.g. vmalloc's page arrays
    room = kernel.free_pages_count() - floor
    slabs = plan.slabs
    if (slabs - len(cache.slabs)) << cache.order > room:  # a guard: _scale_to_fit() estimates
        slabs = max(len(cache.slabs) + (room >> cache.order), 0)
        plan.notes.append(f"the copy ran out of room: {slabs} slabs, not {plan.slabs}")
    count = slabs * per_slab - len(before)
    made = 0
    gfp = plan.gfp
    if plan.kmalloc_size:
        alloc, first = kernel.kmalloc, plan.kmalloc_size
    else:
        alloc, first = kernel.kmem_cache_alloc, cache
    while made < count:
        batch = [alloc(first, gfp) for _ in range(min(per_slab, count - made))]
        if 0 in batch:
            made += batch.index(0)
            plan.notes.append(f"the copy ran out of memory after {made} of {count} objects")
            break
        made += len(batch)
    if len(before) > plan.wanted:
        plan.notes.append(
            f"the copy's own {len(before)} objects (vmalloc page arrays) are more than wanted"
        )
    surplus = len(before) + made - max(plan.wanted, len(before))
    left = _free_spread(kernel, plan, before, surplus, rng)
    if left:
        plan.notes.append(f"{left} objects more in use: freeing them would empty slabs")
    kernel.kmem_cache_shrink(cache)


def _copy_slabs(kernel: Kernel, info: Slabinfo, max_objects: int, floor: int,
                seed: int) -> tuple[tuple[CacheLikeness, ...], float, list[str]]:  # fmt: skip
    """Create the real caches in the copy and allocate their objects (see machine_like())."""
    # slabinfo lists the real caches, aliases merged already: none may merge into another
    nomerge, kernel.slab_nomerge = kernel.slab_nomerge, True
    try:
        plans = _plan_caches(kernel, info)
    finally:
        kernel.slab_nomerge = nomerge
    scale, notes = _scale_to_fit(plans, max_objects, kernel.free_pages_count() - floor)
    rng = random.Random(seed)
    for plan in plans:
        if plan.cache is not None and plan.slabs:
            _fill(kernel, plan, floor, rng)
    rows = {row.name: row for row in slabinfo(kernel.cat("/proc/slabinfo")).rows}
    caches = []
    for plan in reversed(plans):  # back in the real file's order, newest first
        row, cache = plan.row, plan.cache
        notes_of_cache = list(plan.notes)
        if cache is not None:
            if row.num_objs != row.num_slabs * row.objperslab:
                notes_of_cache.append(
                    f"real num_objs {row.num_objs} is not num_slabs x objperslab"
                    f" ({row.num_slabs * row.objperslab}): some real slabs are of SLUB's fallback"
                    " order, with fewer objects; the copy's are all of the preferred order"
                )
            if plan.wanted != row.active_objs:
                notes_of_cache.append(f"{plan.wanted} of {row.active_objs} objects (scaled)")
            if (cache.size, cache.objects, 1 << cache.order) != (
                row.objsize, row.objperslab, row.pagesperslab,
            ):  # fmt: skip
                notes_of_cache.append(
                    f"the copy's SLUB geometry: {cache.objects} objects of {cache.size} B per"
                    f" {1 << cache.order}-page slab, real {row.objperslab} of {row.objsize} B"
                    f" per {row.pagesperslab} (CPU count, SLUB order or kernel version)"
                )
        caches.append(
            CacheLikeness(
                real=row,
                copy=None if cache is None else rows.get(cache.name),
                wanted=plan.wanted,
                how=plan.how,
                note="; ".join(notes_of_cache),
            )
        )
    refused = sum(plan.how == "not copied" for plan in plans)
    if refused:
        notes.append(f"{refused} real cache(s) not copied (see likeness.caches)")
    renamed = sum(plan.how == "renamed" for plan in plans)
    if renamed:
        notes.append(f"{renamed} real cache(s) copied under another name (see likeness.caches)")
    return tuple(caches), scale, notes


def machine_like(
    snapshot_or_sources: Snapshot | str | os.PathLike | Mapping = THIS_MACHINE,
    seed: int = 0,
    *,
    slabs: bool = True,
    vmalloc: bool = True,
    max_objects: int = MAX_COPIED_OBJECTS,
) -> Kernel:
    """A simulated Kernel shaped like a real machine; ``kernel.likeness`` says how alike.

    ``snapshot_or_sources`` is a Snapshot or anything snapshot() takes.  The copy gets:

    * the real MemTotal: RAM is sized so that the simulated MemTotal equals it (up to kmviz's
      1 TiB; a note says when it is capped).  The /proc files do not say where the firmware
      put the RAM, so the copy has it in one piece (``memory_map="flat"``, no PCI hole) and
      its zones follow from the size (DMA below 16 MiB, DMA32 below 4 GiB, Normal above): a
      real machine with a PCI hole has a smaller DMA32 and a larger Normal than its copy;
    * the real CPU count (slab geometry depends on it), up to kmviz's 256;
    * DMA and DMA32 zones only if the real buddyinfo has them;
    * with ``vmalloc`` and a vmallocinfo: every real vmalloc area with ``pages=N`` made with
      vmalloc() of N pages and the real caller (see _copy_vmalloc); ioremap, vmap, user,
      vm_map_ram and unpurged areas are not simulated, and counted;
    * with ``slabs`` and a slabinfo (root-only on a real machine; without it a note says so):
      every real cache, oldest first, so that the copy's /proc/slabinfo lists them in the real
      order.  A kmalloc size class (kmalloc-96, dma-kmalloc-1k, kmalloc-rcl-64, kmalloc-cg-8k,
      2.6.32's kmalloc-4096) is the copy's own kmalloc cache, filled with kmalloc() of the
      class size and the kind's GFP bit; any other cache is kmem_cache_create(name, objsize)
      (slabinfo's objsize is the slot size), SLAB_RECLAIM_ACCOUNT for RECLAIMABLE_CACHES;
      names with whitespace or that the copy already has are changed, and said.  Each cache
      gets the real num_slabs (as many whole slabs of its own geometry as come nearest to the
      real num_objs) filled with objects, then the surplus freed, spread over the slabs and
      never a slab's last object, and kmem_cache_shrink() puts the active slab on the
      partial list: the copy's active_objs is the real one, and where the geometry is the
      real one (the same CPU count and SLUB orders), num_objs and num_slabs too.  Above
      ``max_objects`` objects in all, or when the copy has no room for every slab beside the
      free blocks it must keep, every cache is scaled by the same fraction (at least one
      object each) and a note says so;
    * then (so that the slabs and vmalloc pages come out of the memory the real machine does
      not have free either) allocations, zone by zone, that leave the free lists with the
      real buddyinfo's free blocks per order (see _ZoneCarver.carve): the blocks below the
      largest order are made as chains, one free block per order above one allocated block,
      the way expand() leaves a split block, so each chain costs only its bottom block;
      surplus blocks are allocated.  A zone runs out when what is left would go below its min
      watermark or no larger block is left to split; then the counts differ and
      ``kernel.likeness.differences`` says by how much (largest orders are served first).

    ``seed`` seeds the copy (Kernel(seed=...)) and which objects are freed.  The fixture of a
    24 GiB, 2-CPU machine with 1.9 million slab objects takes about 1.5 s, most of it one
    allocation per object; every object is an event of the copy's history, which the views
    replay, so a smaller ``max_objects`` (e.g. 200_000) makes them quicker to open.
    """
    if isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 0:
        raise ValueError(f"machine_like(): max_objects must be an int >= 0, not {max_objects!r}")
    snap = (
        snapshot_or_sources
        if isinstance(snapshot_or_sources, Snapshot)
        else snapshot(snapshot_or_sources)
    )
    notes = list(snap.notes)
    real_zones = {row.zone for row in snap.buddyinfo.rows}
    machine = {
        "seed": seed,
        "boot_caches": False,  # the real caches are copied below
        "memory_map": "flat",
        "zone_dma": "DMA" in real_zones,
        "zone_dma32": "DMA32" in real_zones,
    }
    if snap.cpus is not None:
        machine["cpus"] = min(snap.cpus, MAX_CPUS)
        if snap.cpus > MAX_CPUS:
            notes.append(f"{snap.cpus} CPUs: kmviz simulates at most {MAX_CPUS}")
    memtotal = snap.meminfo["MemTotal"]
    mem, memory_notes = _copy_memory(memtotal, **machine)
    notes += memory_notes
    # built on boot pagesets, so that every block goes straight to and from the buddy lists
    # the carving shapes; the per-CPU lists come on, empty, once the copy is made
    kernel = Kernel(mem, pcp=False, **machine)
    zones = [zone.name for zone in kernel.zones]
    targets, target_notes = _targets(snap.buddyinfo, zones)
    notes += target_notes
    # what vmalloc areas and slabs leave free: the free blocks to copy, and the high watermarks
    floor = _target_pages(targets) + sum(zone.watermark[2] for zone in kernel.zones)
    vmalloc_likeness = None
    if not vmalloc:
        notes.append("vmalloc=False: no vmalloc areas copied")
    elif snap.vmallocinfo is None:
        notes.append("no vmallocinfo (root-only on a real machine): no vmalloc areas copied")
    else:
        vmalloc_likeness = _copy_vmalloc(kernel, snap.vmallocinfo, floor)
    caches: tuple[CacheLikeness, ...] = ()
    scale = 1.0
    sreclaimable = None
    if not slabs:
        notes.append("slabs=False: no slab caches copied")
    elif snap.slabinfo is None:
        notes.append(
            "no slabinfo (root-only on a real machine: run as root or pass a copy saved as"
            " root): the copy has only its own kmalloc caches"
        )
    else:
        caches, scale, slab_notes = _copy_slabs(kernel, snap.slabinfo, max_objects, floor, seed)
        notes += slab_notes
        if "SReclaimable" in snap.meminfo:
            sreclaimable = (
                snap.meminfo["SReclaimable"],
                meminfo(kernel.cat("/proc/meminfo"))["SReclaimable"],
            )
    for zone in zones:
        _ZoneCarver(kernel, zone).carve(targets[zone])
    kernel.setup_per_cpu_pageset()
    copy_total = meminfo(kernel.cat("/proc/meminfo"))["MemTotal"]
    kernel.likeness = Likeness(
        source=snap.source,
        mem=kernel.mem,
        cpus=kernel.cpus,
        memtotal_kib=(memtotal, copy_total),
        real=MappingProxyType({zone: tuple(counts) for zone, counts in targets.items()}),
        copy=MappingProxyType({zone: tuple(free) for zone, free in kernel.buddyinfo().items()}),
        notes=tuple(notes),
        caches=caches,
        objects_scale=scale,
        sreclaimable_kib=sreclaimable,
        vmalloc=vmalloc_likeness,
    )
    return kernel
