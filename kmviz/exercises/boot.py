"""Lesson 05's predictions: memblock's placement, the hand-over, fragmentation and compaction."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.events import PageMigrated
from ..engine.fragmentation import unusable_free_index
from ..engine.gfp import __GFP_NOWARN, GFP_KERNEL
from ..engine.kernel import Kernel
from ..workloads import uptime
from . import AnswerError, Feedback, Question, as_int

__all__ = [
    "GRABBER_BYTES",
    "MOVABLE",
    "CmaLesson",
    "Lesson",
    "cma_after_uptime",
    "cma_lesson",
    "lesson",
    "memblock_address",
    "order10_after_mem_init",
    "order10_after_uptime",
    "unusable_share",
    "what_compaction_moves",
]

MEM = "256MiB"  # the lesson's machine
SEED = 0
GRABBER_BYTES = 64 << 20  # reserved at boot for a frame grabber's DMA
CMA_BYTES = "64MiB"  # cma=64M on the second machine
CMA_PAGES = (64 << 20) // PAGE_SIZE
ORDER = MAX_ORDER - 1  # 10: the largest block, 4 MiB
BLOCK_BYTES = PAGE_SIZE << ORDER
MIB = 1 << 20


@dataclass(frozen=True)
class Lesson:
    """What the lesson's calls return on its seeded machine (addresses in bytes)."""

    ram_end: int  # physical: one past the last byte of RAM
    image_end: int  # physical: one past the kernel image (memblock.reserved)
    dma32_start: int  # physical: where ZONE_DMA32 begins (16 MiB)
    grabber: int  # memblock_alloc(64 MiB, PAGE_SIZE): a direct-map address
    order10_after_mem_init: dict[str, int]  # free order-10 blocks per zone
    free_pages: int  # after uptime()
    managed_pages: int
    first_ok: bool  # alloc_pages(GFP_KERNEL, 10) right after the day, compaction included
    second_ok: bool  # the retry, after kswapd and kcompactd
    nr_free: dict[str, tuple[int, ...]]  # per zone, after the retry and vmalloc(4 MiB)

    @property
    def free_share(self) -> float:
        """Free pages after the day, as a share of managed pages."""
        return self.free_pages / self.managed_pages

    def unusable_index(self, zone: str = "DMA32") -> int:
        """The unusable free space index for order 10, in thousandths, after the retry."""
        return unusable_free_index(self.nr_free[zone], ORDER)


def _blocks(k: Kernel) -> dict[str, int]:
    return {zone.name: zone.nr_free[ORDER] for zone in k.zones}


def lesson(
    aged: bool = True,
    progress: Callable[[int, int], object] | None = None,
    machine: Kernel | None = None,
) -> Lesson:
    """The lesson's machine, rebuilt with the notebook's engine calls in the notebook's order.

    Built once per ``aged`` and kept; ``progress(done, total)`` follows its day while it is
    built.  The notebook passes its own machine right after the day as ``machine``: the
    calls after the day then run on a fork of it (Kernel.fork()), and the day is not played
    twice.

    Every question that depends on the machine takes its answer from here, so the answer is
    the number the notebook then shows::

        k = Kernel("256MiB", seed=0, boot=False, pcp=False, memory_map="flat")  # memblock only
        grabber = k.memblock_alloc(64 << 20, PAGE_SIZE)    # memblock_address()
        k.mem_init(); k.boot()                             # order10_after_mem_init()
        report = uptime(k)                                 # order10_after_uptime()
        first = k.alloc_pages(GFP_KERNEL, 10)              # compacts, fails; kswapd reclaims
        second = k.alloc_pages(GFP_KERNEL, 10); buf = k.vmalloc(4 << 20)   # unusable_share()
        k.compact(10)                                      # what_compaction_moves()

    ``aged=False`` stops after the hand-over to the buddy allocator (fast); the fields of the
    day are then 0, False and empty.
    """
    if machine is not None:
        early = lesson(aged=False)
        _LESSONS[True] = _after_the_day(_lesson_machine(machine, early.ram_end), early)
    if aged not in _LESSONS:
        _LESSONS[aged] = _build_lesson(aged, progress)
    return _LESSONS[aged]


_LESSONS: dict[bool, Lesson] = {}  # lesson()'s machines, by ``aged``


def _lesson_machine(machine: Kernel, ram_end: int, cma: int = 0) -> Kernel:
    """A fork of ``machine`` if it is a lesson machine (its RAM, seed 0, ``cma`` pages of CMA,
    running); else a TypeError or ValueError saying what differs."""
    if not isinstance(machine, Kernel):
        raise TypeError(f"machine must be the notebook's Kernel, not {type(machine).__name__}")
    if (machine.mem, machine.seed, machine.cma_count, machine.memory_layout) != (
        ram_end,
        SEED,
        cma,
        "flat",
    ):
        raise ValueError(
            f"machine must be the lesson's: Kernel({MEM!r}, seed={SEED}, memory_map='flat', ...)"
        )
    if machine.boot_stage != "running":
        raise ValueError("machine must have booted and played its day (k.boot(), uptime(k))")
    return machine.fork()


def _build_lesson(aged: bool, progress) -> Lesson:
    """lesson()'s work: the notebook's calls on a new machine."""
    k = Kernel(MEM, seed=SEED, boot=False, pcp=False, memory_map="flat")
    image_end = max(end for _, end, _ in k.memblock_reserved)
    dma32 = next(zone.start_pfn for zone in k.zones if zone.name == "DMA32") << PAGE_SHIFT
    grabber = k.memblock_alloc(GRABBER_BYTES, PAGE_SIZE)
    k.memblock_alloc(1 << 30, PAGE_SIZE)  # the lesson's 1 GiB request: NULL, nothing taken
    k.mem_init()
    after_mem_init = _blocks(k)
    early = Lesson(k.mem, image_end, dma32, grabber, after_mem_init, 0, 0, False, False, {})
    if not aged:
        return early
    k.boot()
    uptime(k, progress=progress)
    return _after_the_day(k, early)


def _after_the_day(k: Kernel, early: Lesson) -> Lesson:
    """The lesson's facts: ``early``'s, then the notebook's calls after the day on ``k``."""
    free_pages, managed = k.free_pages_count(), sum(zone.managed_pages for zone in k.zones)
    first = k.alloc_pages(GFP_KERNEL, ORDER)
    second = k.alloc_pages(GFP_KERNEL, ORDER)
    k.vmalloc(BLOCK_BYTES)
    return dataclasses.replace(
        early, free_pages=free_pages, managed_pages=managed, first_ok=first is not None,
        second_ok=second is not None, nr_free={zone.name: tuple(zone.nr_free) for zone in k.zones},
    )  # fmt: skip


# --- 1. memblock, top-down ----------------------------------------------------------------------
def memblock_address() -> Question:
    """Where memblock_alloc(64 MiB) lands on the fresh machine: the top of RAM, top-down."""
    facts = lesson(aged=False)
    phys = facts.grabber - PAGE_OFFSET
    size = GRABBER_BYTES

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value in (phys, facts.grabber):
            what = "the physical address" if value == phys else "its direct-map address"
            return Feedback(
                True, f"{value:#x}, {what}: memblock searches top-down, so the block ends where "
                      f"RAM ends, {facts.ram_end:#x}, and starts 64 MiB lower."
            )  # fmt: skip
        if value == facts.image_end:
            return Feedback(
                False, f"{value:#x}, right after the kernel image, is where a bottom-up search "
                       "would stop. memblock searches top-down by default "
                       "(memblock.bottom_up = false)."
            )  # fmt: skip
        if value == facts.ram_end:
            return Feedback(
                False, f"{value:#x} is where RAM ends, so the block ends there; it starts 64 MiB "
                       "lower."
            )  # fmt: skip
        if value == facts.ram_end - size // 2 or value == facts.ram_end - 2 * size:
            return Feedback(False, f"Check the size: 64 MiB is {size:#x} bytes.")
        if value < facts.image_end:
            return Feedback(
                False, f"{value:#x} is low in memory; memblock looks from the top of RAM down, "
                       "and the low ranges are the BIOS's and the kernel image's."
            )  # fmt: skip
        return Feedback(
            False, f"memblock takes the highest free stretch that fits: RAM ends at "
                   f"{facts.ram_end:#x} and nothing is reserved below it, so 64 MiB "
                   f"({size:#x}) fit right under the end."
        )  # fmt: skip

    return Question(
        f"RAM ends at {facts.ram_end:#x} and memblock.reserved is listed above. At which "
        "physical address will memblock_alloc(64 << 20, PAGE_SIZE) put the 64 MiB? (hex)",
        checker,
        f"{phys:#x}",
        f"memblock allocates top-down: the highest free stretch, round_down(end - size, align) "
        f"= {facts.ram_end:#x} − {size:#x} = {phys:#x} (mm/memblock.c L126, "
        "__memblock_find_range_top_down() L250). memblock_alloc() returns it as a virtual "
        f"address, {facts.grabber:#x}.",
    )


# --- 2. the hand-over ---------------------------------------------------------------------------
def order10_after_mem_init() -> Question:
    """How many order-10 blocks DMA32 gets between the kernel image and the 64 MiB block."""
    facts = lesson(aged=False)
    count = facts.order10_after_mem_init["DMA32"]
    low = facts.image_end
    high = facts.grabber - PAGE_OFFSET
    first = -(-low // BLOCK_BYTES) * BLOCK_BYTES
    last = high // BLOCK_BYTES * BLOCK_BYTES
    zone_start = facts.dma32_start

    def checker(answer) -> Feedback:
        value = as_int(answer)
        if value == count:
            return Feedback(
                True, f"The first 4 MiB boundary above {low:#x} is {first:#x} ({first // MIB} "
                      f"MiB), the last below {high:#x} is {last:#x} ({last // MIB} MiB): "
                      f"({last // MIB} − {first // MIB}) / 4 = {count}."
            )  # fmt: skip
        if value == -(-(high - low) // BLOCK_BYTES):
            return Feedback(
                False, f"{(high - low) / MIB:.2f} MiB divided by 4 rounded up; but only whole, "
                       "aligned blocks count: an order-10 block starts at a multiple of 4 MiB."
            )  # fmt: skip
        if value == (last - zone_start) // BLOCK_BYTES:
            return Feedback(
                False, f"That counts from the start of DMA32 ({zone_start // MIB} MiB), but the "
                       f"kernel image is there, up to {low:#x}: start above it."
            )  # fmt: skip
        if value == (facts.ram_end - first) // BLOCK_BYTES:
            return Feedback(
                False, "That is what a normal boot gets; your 64 MiB at the top never reach "
                       "the buddy allocator."
            )  # fmt: skip
        if value == GRABBER_BYTES // BLOCK_BYTES:
            return Feedback(False, "16 blocks is the 64 MiB you reserved; memblock keeps those.")
        if value > count:
            return Feedback(
                False, f"Too many: the 64 MiB block at {high:#x} and the kernel image below "
                       f"{low:#x} never reach the buddy allocator. Count the 4 MiB boundaries "
                       "between them."
            )  # fmt: skip
        return Feedback(
            False, f"Too few: every 4 MiB-aligned stretch between {low:#x} and {high:#x} is "
                   "free and becomes one order-10 block."
        )  # fmt: skip

    return Question(
        f"mem_init() gives DMA32's free range {low:#x}..{high:#x} (between the kernel image and "
        "your 64 MiB) to the buddy allocator in the largest naturally aligned blocks. An order-10 "
        "block is 4 MiB and starts at a multiple of 4 MiB. How many order-10 blocks will DMA32 "
        "have?",
        checker,
        str(count),
        f"Aligned 4 MiB blocks fit from {first:#x} ({first // MIB} MiB) to {last:#x} "
        f"({last // MIB} MiB): {count} of them; the pieces at both ends become smaller blocks "
        "(__free_pages_memory(), mm/memblock.c L2029).",
    )


# --- 3. after a day ------------------------------------------------------------------------------
_YES = ("yes", "y", "succeeds", "success", "it succeeds", "true")
_NO = ("no", "n", "fails", "failure", "it fails", "false", "null", "none")


def order10_after_uptime() -> Question:
    """Whether alloc_pages(GFP_KERNEL, 10) succeeds after the day: no, with much memory free."""
    facts = lesson()
    free_mib = facts.free_pages * PAGE_SIZE / MIB
    share = round(facts.free_share * 100)

    def checker(answer) -> Feedback:
        text = str(answer).strip().lower()
        if text in _NO:
            return Feedback(
                True, "It fails: free memory is plentiful, but no free block of order 10 is "
                      "left, the buddy allocator hands out only whole blocks, and compaction "
                      "cannot make one (below)."
            )  # fmt: skip
        if text in _YES:
            return Feedback(
                False, f"{free_mib:.0f} MiB are free, but free is not contiguous: the request "
                       "needs one free block of 1024 contiguous pages, and after the day none is "
                       "left."
            )  # fmt: skip
        raise AnswerError("answer with yes or no")

    return Question(
        f"After the day {free_mib:.0f} MiB are free, {share} % of the memory the buddy "
        "allocator manages. Will "
        "alloc_pages(GFP_KERNEL, 10), 4 MiB in one block, succeed? (yes or no)",
        checker,
        "no" if not facts.first_ok else "yes",
        "The allocator needs one free block of order 10 or more on a free list "
        "(__rmqueue_smallest()); after the day the free memory is all in smaller blocks, "
        "however much of it there is, and every 4 MiB holds a kernel page compaction cannot "
        "move.",
    )


# --- 4. the unusable free space index ------------------------------------------------------------
def _percent(answer) -> float:
    """A percentage from a learner's notation: "100", "100%", "1.000" (as the file), "1000"."""
    text = str(answer).strip().replace(" ", "").removesuffix("%")
    try:
        value = float(text)
    except ValueError:
        raise AnswerError(f"answer with a percentage such as 42 or 42%, not {text!r}") from None
    if "." in text and 0 <= value <= 1:  # 1.000 or 0.706, as the debugfs file prints it
        return value * 100
    if 100 < value <= 1000:  # thousandths, as the kernel computes it
        return value / 10
    return value


def unusable_share(zone: str = "DMA32") -> Question:
    """The unusable free space index of ``zone`` for order 10, in percent, after the retry."""
    facts = lesson()
    index = facts.unusable_index(zone)
    expected = index / 10
    nr_free = facts.nr_free[zone]
    free = sum(count << order for order, count in enumerate(nr_free))
    big = sum(count << order for order, count in enumerate(nr_free) if order >= ORDER)

    def checker(answer) -> Feedback:
        value = _percent(answer)
        if abs(value - expected) <= 1:
            return Feedback(
                True, f"{expected:g} %: {free - big} of the {free} free pages sit in blocks "
                      "smaller than order 10."
            )  # fmt: skip
        free_percent = facts.free_share * 100
        if min(abs(value - free_percent), abs(value - (100 - free_percent))) <= 1:
            return Feedback(
                False, "That is about how much of memory is free (or not). The index asks "
                       "something else: of the free pages, how many sit in blocks too small "
                       "for order 10?"
            )  # fmt: skip
        if value == 0:
            return Feedback(
                False, "0 % would mean every free page is in an order-10 block. Look at the "
                       "order-10 column of /proc/buddyinfo."
            )  # fmt: skip
        return Feedback(
            False, f"Count the free pages in blocks of order 10 (the last column × 1024) and "
                   f"compare with all free pages ({free}): {free - big} of {free} are in smaller "
                   f"blocks, {expected:g} %."
        )  # fmt: skip

    return Question(
        f"Read {zone}'s line of /proc/buddyinfo above. What share of {zone}'s free memory is "
        "unusable for an order-10 request (sits in blocks too small for it), in percent?",
        checker,
        f"{expected:g} %",
        f"{free} pages of {zone} are free, {big} of them in blocks of order 10 or more: "
        f"({free} − {big}) / {free} = {expected:g} %, which the kernel prints as "
        f"{index // 1000}.{index % 1000:03d} in "
        "/sys/kernel/debug/extfrag/unusable_index (unusable_free_index(), mm/vmstat.c L2126).",
    )


# --- 6. CMA after a day --------------------------------------------------------------------------
@dataclass(frozen=True)
class CmaLesson:
    """The lesson's second machine, booted with cma=64M and aged by the same day."""

    base_pfn: int  # the area's first pfn
    count: int  # pages in the area
    cached_inside: int  # page-cache pages in the area after the day
    order10_ok: bool  # alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10) after the day
    cma_ok: bool  # cma_alloc(16384) after that
    migrated_out: int  # pages cma_alloc() moved out of the area


def cma_lesson(
    progress: Callable[[int, int], object] | None = None, machine: Kernel | None = None
) -> CmaLesson:
    """The CMA machine, with the notebook's calls in the notebook's order, built once::

        c = Kernel("256MiB", seed=0, cma="64MiB", memory_map="flat"); uptime(c)
        c.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)       # fails, as on the first machine
        c.cma_alloc(16384)                                   # cma_after_uptime()

    ``progress(done, total)`` follows its day while it is built.  ``machine``: the notebook's
    CMA machine right after its day; the calls after the day then run on a fork of it.
    """
    if machine is not None:
        ram_end = lesson(aged=False).ram_end
        _CMA_LESSONS[:] = [_cma_after_the_day(_lesson_machine(machine, ram_end, CMA_PAGES))]
    if not _CMA_LESSONS:
        _CMA_LESSONS.append(_build_cma_lesson(progress))
    return _CMA_LESSONS[0]


_CMA_LESSONS: list[CmaLesson] = []  # cma_lesson()'s machine, once built


def _build_cma_lesson(progress) -> CmaLesson:
    """cma_lesson()'s work: the notebook's calls on a new machine with a CMA area."""
    c = Kernel(MEM, seed=SEED, cma=CMA_BYTES, memory_map="flat")
    uptime(c, progress=progress)
    return _cma_after_the_day(c)


def _cma_after_the_day(c: Kernel) -> CmaLesson:
    """The CMA lesson's facts: the notebook's calls after the day, on ``c``."""
    area = range(c.cma_base, c.cma_base + c.cma_count)
    cached = sum(pfn in area for pfn in c.page_cache.pages())
    order10 = c.alloc_pages(GFP_KERNEL | __GFP_NOWARN, ORDER)
    before = len(c.history)
    page = c.cma_alloc(GRABBER_BYTES // PAGE_SIZE)
    moved = sum(isinstance(e, PageMigrated) and e.pfn in area for e in c.history[before:])
    return CmaLesson(c.cma_base, c.cma_count, cached, order10 is not None, page is not None, moved)


def cma_after_uptime() -> Question:
    """Whether cma_alloc() of 64 MiB succeeds after the day: yes, its area held movable pages."""
    facts = cma_lesson()
    pages = GRABBER_BYTES // PAGE_SIZE

    def checker(answer) -> Feedback:
        text = str(answer).strip().lower()
        if text in _YES:
            return Feedback(
                True, f"It succeeds: {facts.cached_inside} pages of page cache live in the area, "
                      "but nothing else may: only movable allocations use MIGRATE_CMA "
                      "pageblocks, and cma_alloc() migrates them all out."
            )  # fmt: skip
        if text in _NO:
            return Feedback(
                False, "The buddy allocator cannot find 4 MiB, true; but the CMA area only ever "
                       "held movable pages (page cache, process memory), and those can be "
                       "migrated out of the way."
            )  # fmt: skip
        raise AnswerError("answer with yes or no")

    return Question(
        f"A second machine boots with cma=64M and lives the same day. Will cma_alloc({pages}), "
        "64 MiB in one piece, succeed? (yes or no)",
        checker,
        "yes" if facts.cma_ok else "no",
        "alloc_contig_range() (mm/page_alloc.c L9273) isolates the area's pageblocks, migrates "
        "every page in use to memory outside it and takes the range; kernel allocations never "
        "landed there, because only movable requests may use MIGRATE_CMA pageblocks "
        "(__rmqueue(), ALLOC_CMA).",
    )


# --- 5. what compaction can move -----------------------------------------------------------------
CHOICES = {
    "a": "page cache (file pages)",
    "b": "a process's memory (anonymous pages)",
    "c": "slab objects (kmalloc)",
    "d": "pages a driver took with __get_free_pages()",
}
MOVABLE = frozenset("ab")
_WHY = {
    "a": "page cache is reached through the file's mapping and the LRU: it can be copied and "
         "the mapping updated",
    "b": "a process's pages are reached through its page tables: copy, then fix the PTE",
    "c": "slab objects are used through raw kernel pointers nobody can update",
    "d": "a driver holds the page's address, maybe given to a device: it must stay put",
}  # fmt: skip


def what_compaction_moves() -> Question:
    """Which pages compaction can migrate: page cache and user memory, not slab or held pages."""

    def checker(answer) -> Feedback:
        letters = set(re.findall(r"[a-z]", str(answer).lower()))
        if not letters or not letters <= set(CHOICES):
            raise AnswerError("answer with the letters of the movable kinds, such as a c")
        if letters == MOVABLE:
            return Feedback(
                True, "a and b: " + _WHY["a"] + "; " + _WHY["b"] + ". Slab pages and pages "
                      "a driver holds stay where they are."
            )  # fmt: skip
        notes = [f"{letter} moves: {_WHY[letter]}" for letter in sorted(MOVABLE - letters)]
        notes += [f"{letter} stays: {_WHY[letter]}" for letter in sorted(letters - MOVABLE)]
        return Feedback(False, "Not quite. " + "; ".join(notes) + ".")

    listing = "; ".join(f"({letter}) {text}" for letter, text in CHOICES.items())
    return Question(
        f"Which of these can compaction move to another frame? {listing}. (letters, such as a c)",
        checker,
        "a b",
        "Compaction migrates only pages whose every user it can find and repoint: LRU pages "
        "(page cache, process memory) and __PageMovable() pages (isolate_migratepages_block(), "
        "mm/compaction.c L786). Slab objects and pages held by drivers are used through plain "
        "pointers, so they are unmovable.",
    )
