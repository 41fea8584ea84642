"""Lesson 04's predictions: direct-map pfns, guard pages, table indexes, scattered frames, DMA."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..engine.constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.gfp import GFP_KERNEL
from ..engine.kernel import Kernel
from ..engine.pagetable import VMALLOC_END, VMALLOC_START
from ..workloads import uptime
from . import AnswerError, Feedback, Question, as_int

__all__ = [
    "DMA_TRACE",
    "LEVELS",
    "WALK_ADDRESS",
    "Lesson",
    "direct_map_pfn",
    "dma_map_vmalloc",
    "index_of",
    "lesson",
    "pieces",
    "pieces_after_uptime",
    "vmallocinfo_size",
    "walk_indexes",
    "which_allocator",
]

MEM = "256MiB"  # the lesson's machine
SEED = 0
BUFFER_BYTES = 16384  # buf and ring: kmalloc() of 4 pages, physically contiguous
AREA_PAGES = 16  # area (fresh machine) and table (aged machine)
SMALL_BYTES = 10_000  # the second vmalloc() of the fresh machine
WALK_ADDRESS = 0xFFFFC90040A4D123  # the address whose indexes the learner works out
LEVELS = (("PGD", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12))  # level, shift of its index
DMA_TRACE = "include/linux/dma-mapping.h L332"  # dma_map_single_attrs()'s dev_WARN_ONCE()


@dataclass(frozen=True)
class Lesson:
    """What the lesson's calls return on its seeded machine (addresses in bytes, pfns)."""

    buf: int  # kmalloc(16384) on the fresh machine: a direct-map address
    area: int  # vmalloc(16 pages) on the fresh machine
    area_pfns: tuple[int, ...]
    small: int  # vmalloc(10_000)
    free_share: float  # after uptime(): free pages / managed pages
    ring: int  # kmalloc(16384) on the aged machine
    table: int  # vmalloc(16 pages) on the aged machine
    table_pfns: tuple[int, ...]


def _frames(k: Kernel, addr: int, pages: int) -> tuple[int, ...]:
    return tuple(k.vmalloc_to_page(addr + i * PAGE_SIZE).pfn for i in range(pages))


def lesson(aged: bool = True, machine: Kernel | None = None) -> Lesson:
    """The lesson's machine, rebuilt with the notebook's engine calls in the notebook's order.

    Every question that depends on the machine takes its answer from here, so the answer is
    the number the notebook then shows::

        k = Kernel("256MiB", seed=0, memory_map="flat")                       # the fresh machine
        buf = k.kmalloc(16384, GFP_KERNEL)                 # direct_map_pfn()
        area = k.vmalloc(16 * PAGE_SIZE); small = k.vmalloc(10_000)   # vmallocinfo_size()
        report = uptime(k); ring = k.kmalloc(16384, GFP_KERNEL)
        table = k.vmalloc(16 * PAGE_SIZE)                  # pieces_after_uptime()

    Walks and vmalloc_to_page() count: the kernel's page tables are built on first use, from
    the page allocator, so they change which frames later calls get.  ``aged=False`` stops
    before uptime() (fast); the aged fields are then 0 and empty.  Built once per ``aged``
    and kept; the notebook passes its own machine right after the day as ``machine``, and
    the calls after the day run on a fork of it (Kernel.fork()) instead of a second day.
    """
    if machine is not None:
        if not isinstance(machine, Kernel):
            raise TypeError(f"machine must be the notebook's Kernel, not {type(machine).__name__}")
        lesson_machine = Kernel(MEM, seed=SEED, boot=False, memory_map="flat")
        if (machine.seed, machine.mem, machine.memory_layout) != (SEED, lesson_machine.mem, "flat"):
            raise ValueError(
                f"machine must be the lesson's, aged: "
                f"Kernel({MEM!r}, seed={SEED}, memory_map='flat')"
            )
        fork = machine.fork()
        _LESSONS[True] = _after_the_day(fork, _free_share(fork), lesson(aged=False))
    if aged not in _LESSONS:
        _LESSONS[aged] = _build_lesson(aged)
    return _LESSONS[aged]


_LESSONS: dict[bool, Lesson] = {}  # lesson()'s machines, by ``aged``


def _build_lesson(aged: bool) -> Lesson:
    """lesson()'s work: the notebook's calls on a new machine."""
    k = Kernel(MEM, seed=SEED, memory_map="flat")
    buf = k.kmalloc(BUFFER_BYTES, GFP_KERNEL)
    k.walk(buf)
    area = k.vmalloc(AREA_PAGES * PAGE_SIZE)
    area_pfns = _frames(k, area, AREA_PAGES)
    k.walk(area + AREA_PAGES * PAGE_SIZE)  # the guard page
    small = k.vmalloc(SMALL_BYTES)
    k.walk(area + 5 * PAGE_SIZE + 0x123)
    k.walk(WALK_ADDRESS)
    early = Lesson(buf, area, area_pfns, small, 0.0, 0, 0, ())
    if not aged:
        return early
    return _after_the_day(k, uptime(k).free_share, early)


def _free_share(k: Kernel) -> float:
    """Free pages over managed pages, as UptimeReport.free_share gives it."""
    return k.free_pages_count() / sum(zone.managed_pages for zone in k.zones)


def _after_the_day(k: Kernel, free_share: float, early: Lesson) -> Lesson:
    """The lesson's facts: ``early``'s, the day's free share, then the calls after the day."""
    ring = k.kmalloc(BUFFER_BYTES, GFP_KERNEL)
    table = k.vmalloc(AREA_PAGES * PAGE_SIZE)
    return dataclasses.replace(
        early, free_share=free_share, ring=ring, table=table,
        table_pfns=_frames(k, table, AREA_PAGES),
    )  # fmt: skip


def pieces(pfns) -> list[tuple[int, int]]:
    """The physically contiguous runs of ``pfns`` in order: (first pfn, pages) each."""
    runs: list[tuple[int, int]] = []
    for pfn in pfns:
        if runs and runs[-1][0] + runs[-1][1] == pfn:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((pfn, 1))
    return runs


# --- 1. the direct map ---------------------------------------------------------------------------
def direct_map_pfn() -> Question:
    """Which frame holds kmalloc()'s buffer: (addr - PAGE_OFFSET) >> 12."""
    buf = lesson(aged=False).buf
    phys = buf - PAGE_OFFSET
    pfn = phys >> PAGE_SHIFT

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == pfn:
            return Feedback(
                True, f"{buf:#x} − PAGE_OFFSET = {phys:#x}, and {phys:#x} >> 12 = pfn {pfn:#x} "
                      f"({pfn})."
            )  # fmt: skip
        if value == phys:
            return Feedback(
                False, f"{phys:#x} is the physical address; the frame number is the address "
                       f"divided by 4096 (>> 12)."
            )  # fmt: skip
        if value == buf >> PAGE_SHIFT:
            return Feedback(
                False, f"{value:#x} still contains PAGE_OFFSET: subtract {PAGE_OFFSET:#x} "
                       "first, then shift right by 12."
            )  # fmt: skip
        if value == buf:
            return Feedback(False, "That is the virtual address kmalloc() returned, not a frame.")
        return Feedback(
            False, f"Frame {value:#x} starts at physical address {value << PAGE_SHIFT:#x}, which "
                   f"is virtual {PAGE_OFFSET + (value << PAGE_SHIFT):#x} in the direct map, not "
                   f"{buf:#x}."
        )  # fmt: skip

    return Question(
        f"kmalloc(16384, GFP_KERNEL) returned {buf:#x}, a direct-map address. Which page frame "
        "(pfn) holds its first byte? (hex like 0x1234, or decimal)",
        checker,
        f"pfn {pfn:#x}",
        f"virt_to_phys() subtracts PAGE_OFFSET: {buf:#x} − {PAGE_OFFSET:#x} = {phys:#x}; a frame "
        f"is 4096 bytes, so the pfn is {phys:#x} >> 12 = {pfn:#x}.",
    )


# --- 2. the guard page ---------------------------------------------------------------------------
def vmallocinfo_size(size: int = SMALL_BYTES) -> Question:
    """The size /proc/vmallocinfo prints for vmalloc(size): whole pages plus the guard page."""
    pages = -(-size // PAGE_SIZE)
    shown = (pages + 1) * PAGE_SIZE

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == shown:
            return Feedback(
                True, f"{pages} pages for {size} bytes, plus the guard page: "
                      f"{pages + 1} × 4096 = {shown}."
            )  # fmt: skip
        if value == size:
            return Feedback(False, "vmalloc() maps whole pages, and adds a guard page after them.")
        if value == pages * PAGE_SIZE:
            return Feedback(
                False, f"{pages} pages is right for the buffer, but the area also holds its "
                       "unmapped guard page, and /proc/vmallocinfo counts it."
            )  # fmt: skip
        if value == size + PAGE_SIZE:
            return Feedback(
                False, f"The guard page is right, but {size} bytes take {pages} whole pages "
                       f"({pages * PAGE_SIZE} bytes): vmalloc() cannot map part of a page."
            )  # fmt: skip
        if value in (pages, pages + 1):
            return Feedback(False, "Close: that is a count of pages; the column is in bytes.")
        if value < size:
            return Feedback(
                False, f"Less than the {size} bytes asked for: the area holds them all."
            )
        return Feedback(
            False, f"{value} bytes is {value / PAGE_SIZE:g} pages. Round {size} bytes up to whole "
                   "pages, then add the guard page."
        )  # fmt: skip

    return Question(
        f"The next call is k.vmalloc({size:_}). What size, in bytes, will /proc/vmallocinfo "
        "print for its area?",
        checker,
        str(shown),
        f"{size} bytes round up to {pages} pages ({pages * PAGE_SIZE} bytes), and "
        "__get_vm_area_node() adds one guard page (mm/vmalloc.c L2568): "
        f"{pages + 1} × 4096 = {shown}.",
    )


# --- 3. the page-table walk ----------------------------------------------------------------------
def index_of(addr: int, level: str) -> int:
    """The table index the MMU uses for ``addr`` at ``level``: ``(addr >> shift) & 511``."""
    return (addr >> dict(LEVELS)[level]) & 511


_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")


def walk_indexes(addr: int = WALK_ADDRESS) -> Question:
    """The PGD, PUD, PMD and PTE indexes of ``addr``, four numbers 0..511."""
    expected = [index_of(addr, level) for level, _ in LEVELS]
    offset = addr & (PAGE_SIZE - 1)

    def checker(answer) -> Feedback:
        numbers = [int(text, 0) for text in _NUMBER.findall(str(answer))]
        if len(numbers) == 5 and numbers[4] == offset:
            numbers = numbers[:4]  # the offset as well: fine
        if len(numbers) != 4:
            raise AnswerError("answer with four numbers, PGD PUD PMD PTE, such as 402 0 0 5")
        if numbers == expected:
            return Feedback(True, "All four right: " + _worked(addr) + ".")
        if any(n > 511 for n in numbers):
            return Feedback(
                False, "Every index is 0..511 (9 bits): after the shift, keep only the low 9 bits "
                       "with & 511."
            )  # fmt: skip
        wrong = [
            f"{level}: (addr >> {shift}) & 511 = {index_of(addr, level)}, not {given}"
            for (level, shift), given in zip(LEVELS, numbers, strict=True)
            if given != index_of(addr, level)
        ]
        return Feedback(False, "Not quite. " + "; ".join(wrong) + ".")

    return Question(
        f"Work out the four table indexes the MMU uses for {addr:#x}: PGD, PUD, PMD and PTE "
        "(four numbers separated by spaces).",
        checker,
        " ".join(str(n) for n in expected),
        _worked(addr) + f"; the offset in the page is {offset:#x}.",
    )


def _worked(addr: int) -> str:
    return ", ".join(f"{level} (addr >> {shift}) & 511 = {index_of(addr, level)}"
                     for level, shift in LEVELS)  # fmt: skip


# --- 4. scattered frames -------------------------------------------------------------------------
def pieces_after_uptime() -> Question:
    """How many physically contiguous pieces the aged machine's vmalloc(16 pages) has."""
    facts = lesson()
    runs = pieces(facts.table_pfns)
    count = len(runs)
    sizes = ", ".join(str(pages) for _, pages in runs)
    pages = len(facts.table_pfns)

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if not 1 <= value <= pages:
            raise AnswerError(f"answer with a number of pieces from 1 to {pages}")
        if value == count:
            return Feedback(True, f"Exactly {count}: runs of {sizes} pages.")
        if value == 1:
            return Feedback(
                False, "One piece is what kmalloc() gives (and what the fresh machine happened "
                       f"to give). vmalloc() takes each page on its own; here: {count} pieces."
            )  # fmt: skip
        if abs(value - count) <= 2:
            return Feedback(
                True, f"Close enough to call: it is {count} pieces, runs of {sizes} pages."
            )
        if value == pages:
            return Feedback(
                False, f"{pages} would mean no two pages side by side. Neighbours come in short "
                       f"runs when the allocator splits a small block: {count} pieces."
            )  # fmt: skip
        return Feedback(False, f"It is {count} pieces, runs of {sizes} pages.")

    return Question(
        f"On the aged machine, table = k.vmalloc({pages} * PAGE_SIZE). Into how many physically "
        f"contiguous pieces will its {pages} pages fall? (1: one run like kmalloc; {pages}: no "
        "two pages side by side)",
        checker,
        str(count),
        f"The frames form runs of {sizes} pages. vmalloc() takes one page at a time; the "
        "next is often the buddy that expand() has just put back, so pages come in short "
        "runs, never in one long run once the free lists hold only small blocks.",
    )


# --- 5. DMA --------------------------------------------------------------------------------------
_YES = ("address", "bus address", "yes", "succeeds", "success", "works")
_NO = ("error", "dma_mapping_error", "no", "fails", "failure", "refused")


def dma_map_vmalloc() -> Question:
    """Whether dma_map_single() maps the vmalloc'ed table: it refuses vmalloc memory."""
    facts = lesson()
    size = len(facts.table_pfns) * PAGE_SIZE
    where = f"{VMALLOC_START:#x}..{VMALLOC_END:#x}"

    def checker(answer) -> Feedback:
        text = str(answer).strip().lower()
        if text in _NO:
            return Feedback(
                True, f"DMA_MAPPING_ERROR: {facts.table:#x} is in the vmalloc area ({where}), "
                      "and dma_map_single() refuses vmalloc memory with a warning."
            )  # fmt: skip
        if text in _YES:
            return Feedback(
                False, "The device would be handed one bus address for 64 KiB, but the pages "
                       "are scattered in RAM; 6.1 refuses vmalloc memory outright "
                       f"({DMA_TRACE})."
            )  # fmt: skip
        raise AnswerError("answer with address or error")

    return Question(
        f"dma_map_single(dev, table, {size}) for the NIC: will it return a bus address, or "
        "DMA_MAPPING_ERROR? (answer address or error)",
        checker,
        "error",
        "dma_map_single_attrs() starts with dev_WARN_ONCE(dev, is_vmalloc_addr(ptr), "
        f'"rejecting DMA map of vmalloc memory") and returns DMA_MAPPING_ERROR ({DMA_TRACE}): '
        "a device walks physical memory straight on and would miss the buffer's other frames.",
    )


# --- 6. kmalloc or vmalloc -----------------------------------------------------------------------
def which_allocator() -> Question:
    """kmalloc or vmalloc for a 32 MiB table only the CPU reads: vmalloc."""

    def checker(answer) -> Feedback:
        text = str(answer).strip().lower().removesuffix("()")
        if text in {"vmalloc", "vzalloc"}:
            return Feedback(
                True, "vmalloc(): 32 MiB is beyond kmalloc()'s 4 MiB, and only the CPU reads "
                      "it, so scattered frames cost nothing."
            )  # fmt: skip
        if text == "kvmalloc":
            return Feedback(
                True, "kvmalloc() works too: it tries kmalloc() quietly first, then falls back "
                      "to vmalloc() (mm/util.c L559); for 32 MiB it ends up in vmalloc()."
            )  # fmt: skip
        if text in ("kmalloc", "kzalloc", "__get_free_pages", "alloc_pages"):
            return Feedback(
                False, "The page allocator's largest block is order 10, 4 MiB (MAX_ORDER = 11), "
                       "so 32 MiB cannot come from kmalloc(): it warns and returns NULL."
            )  # fmt: skip
        raise AnswerError("answer with kmalloc or vmalloc")

    return Question(
        "A module loads a 32 MiB lookup table that only the CPU ever reads. Which allocator: "
        "kmalloc or vmalloc?",
        checker,
        "vmalloc",
        "kmalloc() memory is physically contiguous, so it is limited to the buddy allocator's "
        "largest block, order 10 = 4 MiB; vmalloc() needs no contiguity and has no such limit.",
    )
