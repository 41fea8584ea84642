"""Lesson 03's predictions (GFP flags, execution context), checked on machines like the lesson's."""

from __future__ import annotations

from contextlib import nullcontext

from ..engine import gfp as flags
from ..engine.constants import ZONE_NAMES
from ..engine.events import OomKilled
from ..engine.gfp import (
    __GFP_HIGH,
    __GFP_NOWARN,
    format_gfp,
    gfp_zone,
    gfpflags_allow_blocking,
    parse_gfp,
)
from ..engine.kernel import Kernel
from . import AnswerError, Feedback, Question, as_choice, as_int

MEM, SEED = "1GiB", 0  # the lesson's main machine, k
SMALL = "256MiB"  # its machines under memory pressure, tight and full
LOCK = "dev_lock"
YES_NO = ("yes", "no")
ZONE_LIMITS = {"DMA": "16 MiB", "DMA32": "4 GiB", "Normal": "the end of memory"}

# where a call may run: (how the prompt says it, how the machine enters it)
CONTEXTS = {
    "task": ("In process context (insmod running the module's init)", lambda k: nullcontext()),
    "irq": ("In an interrupt handler", lambda k: k.irq()),
    "softirq": ("In a softirq (a tasklet)", lambda k: k.softirq()),
    "spin_lock": (f"Holding spin_lock(&{LOCK}) in process context", lambda k: k.spin_lock(LOCK)),
    "irqs_disabled": (
        "With interrupts disabled (local_irq_disable())",
        lambda k: k.irqs_disabled(),
    ),
    "rcu_read_lock": ("Inside rcu_read_lock()", lambda k: k.rcu_read_lock()),
}
IRQ_MASKS = ("GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_NOIO", "GFP_NOFS")


def lesson_kernel() -> Kernel:
    """The lesson's main machine, k: 1 GiB (zones DMA and DMA32), seed 0, no per-CPU lists."""
    return Kernel(mem=MEM, seed=SEED, pcp=False, memory_map="flat")


def squeeze(machine: Kernel) -> list:
    """Take pages with a mask of no rights (no sleeping, no reserves, no kswapd) until it fails."""
    pages = []
    while (page := machine.alloc_pages(__GFP_NOWARN, 0)) is not None:
        pages.append(page)
    return pages


def tight_machine(pcp: bool = False) -> Kernel:
    """The lesson's tight: 256 MiB with 32 MiB of page cache, squeezed down to min.

    ``pcp=True``: the same with the per-CPU page lists on, as the lesson's aside tells.
    """
    machine = Kernel(mem=SMALL, seed=SEED, pcp=pcp, memory_map="flat")
    machine.fill_page_cache("32MiB")
    squeeze(machine)
    return machine


def full_machine() -> Kernel:
    """The lesson's full: 256 MiB and memhog, a process that wants 1 GiB and takes what it can."""
    machine = Kernel(mem=SMALL, seed=SEED, pcp=False, memory_map="flat")
    machine.spawn("memhog", "1GiB")
    return machine


def mask_value(name: str) -> int:
    """The value of a mask spelled as in C: "GFP_KERNEL", "GFP_KERNEL | __GFP_ZERO"."""
    return parse_gfp(name)


def _zone(machine: Kernel, name: str) -> dict:
    return next(zone for zone in machine.zone_stats() if zone["zone"] == name)


def atomic_floor_of(min_pages: int) -> int:
    """How low GFP_ATOMIC may take a zone in 6.1.192: min - min/2, then a quarter off (L4029)."""
    floor = min_pages - min_pages // 2  # ALLOC_MIN_RESERVE (__GFP_HIGH)
    return floor - floor // 4  # ALLOC_NON_BLOCK (cannot sleep)


# --- execution context -------------------------------------------------------------------------


def preempt_count_in_lock_in_irq() -> Question:
    """preempt_count inside spin_lock() taken in an interrupt handler."""
    k = lesson_kernel()
    with k.irq():
        hardirq = k.context.preempt_count
        with k.spin_lock(LOCK):
            both = k.context.preempt_count
    lock = both - hardirq
    why = (
        f"irq_enter() adds HARDIRQ_OFFSET = {hardirq:#x} (bits 16-19 count hard interrupts) "
        f"and spin_lock() adds {lock} to the PREEMPT byte (bits 0-7): {hardirq:#x} + {lock} = "
        f"{both:#x}."
    )

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == both:
            return Feedback(True, why)
        if n == hardirq:
            return Feedback(
                False, f"{hardirq:#x} is the interrupt alone; the lock counts as well, in bits 0-7."
            )
        if n == lock:
            return Feedback(
                False,
                f"{lock:#x} is spin_lock() in process context; the interrupt adds its own "
                "counter, in bits 16-19.",
            )
        if n in (0x100, 0x200, 0x101, 0x201):
            return Feedback(
                False,
                "0x100 counts a softirq being served and 0x200 local_bh_disable(); a hard "
                "interrupt has its own field, bits 16-19.",
            )
        if n == both + lock:
            return Feedback(False, "spin_lock() adds 1, not 2.")
        return Feedback(
            False,
            "preempt_count packs counters: PREEMPT in bits 0-7 (spin_lock() adds 1), SOFTIRQ in "
            "8-15, HARDIRQ in 16-19 (irq_enter() adds 0x10000), NMI in 20-23.",
        )

    return Question(
        f"An interrupt handler takes spin_lock(&{LOCK}). What is preempt_count inside the lock? "
        "(hex is fine: 0x…)",
        checker,
        f"{both:#x}",
        why,
    )


def will_splat(context: str, mask: str) -> Question:
    """Will kmalloc(64, ``mask``) in ``context`` print "sleeping function called from invalid"?"""
    where, enter = CONTEXTS[context]
    k = lesson_kernel()
    with enter(k):
        snapshot = k.context.snapshot()
        k.kmalloc(64, mask_value(mask))
    splat = k.last_violation is not None
    blockers = []
    if snapshot.preempt_count:
        blockers.append(f"preempt_count is {snapshot.preempt_count:#x}, so in_atomic() is true")
    if snapshot.irqs_disabled:
        blockers.append("interrupts are off")
    if snapshot.rcu_depth:
        blockers.append("an RCU read-side section is open")
    if not gfpflags_allow_blocking(mask_value(mask)):
        reason = (
            f"{mask} has no __GFP_DIRECT_RECLAIM, so might_alloc() does not call might_sleep(): "
            "this allocation never sleeps, in any context."
        )
    elif blockers:
        reason = (
            f"{mask} may sleep (__GFP_DIRECT_RECLAIM) and here {' and '.join(blockers)}: "
            "__might_resched() prints the report even though memory is plentiful and nothing "
            "actually sleeps."
        )
    else:
        reason = (
            f"{mask} may sleep, and so may this context: preempt_count 0, interrupts on. No report."
        )
    verdict = "yes" if splat else "no"

    def checker(answer) -> Feedback:
        said = as_choice(answer, YES_NO)
        if said == verdict:
            return Feedback(True, f"{verdict.capitalize()}: {reason}")
        return Feedback(False, f"it is {verdict}: {reason}")

    return Question(
        f'{where}: kmalloc(64, {mask}). Will the kernel print "BUG: sleeping function called '
        'from invalid context"? (yes or no)',
        checker,
        verdict,
        reason,
    )


def mask_for_irq() -> Question:
    """Which mask an interrupt handler should allocate with."""
    k = lesson_kernel()
    splats = {}
    for name in IRQ_MASKS:
        k.idle(1)  # past __might_resched()'s once-a-second limit
        before = len(k.dmesg())
        with k.irq():
            k.kmalloc(64, mask_value(name))
        splats[name] = "sleeping function called" in k.dmesg()[before:]
    right = next(
        name for name in IRQ_MASKS if not splats[name] and mask_value(name) & __GFP_HIGH
    )  # the one that cannot sleep and may use reserves
    reasons = {
        "GFP_KERNEL": (
            'GFP_KERNEL may sleep in direct reclaim: in an interrupt handler that is "BUG: '
            'sleeping function called from invalid context", and if memory is short a real '
            "sleep with interrupts off."
        ),
        "GFP_NOIO": (
            "GFP_NOIO only forbids starting I/O while reclaiming; it keeps __GFP_DIRECT_RECLAIM, "
            "so it may sleep: the same report."
        ),
        "GFP_NOFS": (
            "GFP_NOFS only forbids calling into filesystems while reclaiming; it keeps "
            "__GFP_DIRECT_RECLAIM, so it may sleep: the same report."
        ),
        "GFP_NOWAIT": (
            "GFP_NOWAIT is legal here, it never sleeps, but it has no right to the reserves: "
            "it fails as soon as free pages reach the min watermark. It suits optional "
            "allocations that have a fallback."
        ),
        "GFP_ATOMIC": (
            "GFP_ATOMIC never sleeps (no __GFP_DIRECT_RECLAIM), and __GFP_HIGH lets it use part "
            "of the reserve below the min watermark, so it fails only when memory is very short."
        ),
    }

    def checker(answer) -> Feedback:
        said = as_choice(answer, IRQ_MASKS)
        return Feedback(said == right, reasons[said])

    return Question(
        "An interrupt handler needs a 64-byte buffer and should get it even when memory is "
        f"tight. Which mask? ({', '.join(IRQ_MASKS)})",
        checker,
        right,
        reasons[right],
    )


# --- memory pressure ---------------------------------------------------------------------------


def succeeds(mask: str) -> Question:
    """Will __get_free_pages(``mask``, 0) succeed on the lesson's full machine?"""
    machine = full_machine()
    dma32, dma = _zone(machine, "DMA32"), _zone(machine, "DMA")
    value = mask_value(mask)
    got = machine.get_free_pages(value, 0) != 0
    killed = [event for event in machine.history[-64:] if isinstance(event, OomKilled)]
    state = (
        f"DMA32 has {dma32['free']} free pages, its min watermark is {dma32['min']}, and DMA "
        f"keeps {dma['min']} + {dma['lowmem_reserve'][1]} (lowmem_reserve) of its "
        f"{dma['free']} from DMA32's requests"
    )
    if gfpflags_allow_blocking(value):
        reason = (
            f"{mask} may sleep, so it reclaims; there is nothing to reclaim (memhog's memory is "
            "anonymous and there is no swap), so the OOM killer "
            + (f"kills {killed[0].comm} and the retry succeeds." if killed else "is called.")
        )
    elif value & __GFP_HIGH:
        floor = atomic_floor_of(dma32["min"])
        reason = (
            f"{mask} cannot sleep either, but __GFP_HIGH and ALLOC_NON_BLOCK let it go below "
            f"min: {state}, and {mask} may take DMA32 down to {floor}."
        )
    else:
        reason = f"{mask} cannot sleep and has no right to the reserves below min: {state}."
    verdict = "yes" if got else "no"

    def checker(answer) -> Feedback:
        said = as_choice(answer, YES_NO)
        if said == verdict:
            return Feedback(True, f"{verdict.capitalize()}. {reason}")
        return Feedback(False, f"it is {verdict}. {reason}")

    return Question(
        f"On full, where memhog has taken every page down to the min watermarks: will "
        f"__get_free_pages({mask}, 0) succeed? (yes or no)",
        checker,
        verdict,
        reason,
    )


def atomic_floor() -> Question:
    """How many free pages DMA32 keeps when GFP_ATOMIC can take no more from it."""
    machine = full_machine()
    start = _zone(machine, "DMA32")
    low_min = start["min"]
    while machine.get_free_pages(flags.GFP_ATOMIC | __GFP_NOWARN, 0):
        pass
    floor = _zone(machine, "DMA32")["free"]
    half = low_min - low_min // 2
    why = (
        f"6.1.192's __zone_watermark_ok() (mm/page_alloc.c L4029): __GFP_HIGH halves min, "
        f"{low_min} - {low_min} / 2 = {half}; a caller that cannot block takes a quarter of that "
        f"off, {half} - {half} / 4 = {floor}: 37.5 % of min. Below that DMA32 refuses even "
        "GFP_ATOMIC."
    )

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == floor:
            return Feedback(True, why)
        if n == low_min:
            return Feedback(
                False,
                f"{low_min} is min itself, where GFP_NOWAIT stops; GFP_ATOMIC has reserve rights.",
            )
        if n == half:
            return Feedback(
                False,
                f"{half} is half of min, what __GFP_HIGH alone gives (ALLOC_MIN_RESERVE); "
                "GFP_ATOMIC also cannot block (ALLOC_NON_BLOCK), which takes more off.",
            )
        if n == low_min - low_min // 4:
            return Feedback(
                False, f"{n} is min - min/4; the reduction for __GFP_HIGH comes first: min/2."
            )
        if n <= 0:
            return Feedback(False, "the reserve never goes to zero: something is kept back.")
        if n > low_min:
            return Feedback(
                False, f"DMA32 has only {low_min} free already, and GFP_ATOMIC still gets pages."
            )
        return Feedback(
            False, "GFP_ATOMIC's floor is a fraction of min: half of it, then a quarter off."
        )

    return Question(
        f"On full, DMA32 has {start['free']} free pages and its min watermark is {low_min}. An "
        "interrupt handler keeps taking pages with GFP_ATOMIC. How many free pages will DMA32 "
        "have left when it refuses?",
        checker,
        str(floor),
        why,
    )


# --- zones and printing ------------------------------------------------------------------------


def zone_for(mask: str) -> Question:
    """Which zone gives alloc_pages(``mask``, 0) its page on the lesson's 1 GiB machine."""
    k = lesson_kernel()
    value = mask_value(mask)
    right = k.alloc_pages(value, 0).zone
    present = [zone.name for zone in k.zones]
    highest = ZONE_NAMES[gfp_zone(value)]
    walk = [name for name in reversed(ZONE_NAMES[: gfp_zone(value) + 1]) if name in present]
    why = (
        f"{mask} allows zones up to {highest} (below {ZONE_LIMITS[highest]}); the allocator "
        f"walks {' → '.join(walk)}, starting from the highest zone this machine has, and takes "
        f"the first with free pages above its watermark: {right}."
    )
    if highest not in present:
        why += f" This 1 GiB machine has no {highest} zone: on x86-64 ZONE_NORMAL starts at 4 GiB."

    def checker(answer) -> Feedback:
        said = as_choice(answer, ("DMA", "DMA32", "Normal"))
        if said == right:
            return Feedback(True, why)
        if said not in present:
            return Feedback(
                False,
                f"this machine has no {said} zone: it has {' and '.join(present)}; ZONE_NORMAL "
                "starts at 4 GiB on x86-64, and k has 1 GiB.",
            )
        if ZONE_NAMES.index(said) > gfp_zone(value):
            return Feedback(
                False,
                f"{mask} allows nothing above {highest}: {highest} means below "
                f"{ZONE_LIMITS[highest]}, what its devices can reach.",
            )
        return Feedback(
            False,
            f"{said} is a fallback: the zonelist is walked from the highest allowed zone down, "
            "and lower zones are used only when the higher ones run short.",
        )

    return Question(
        f"On k, the lesson's 1 GiB machine, which zone does alloc_pages({mask}, 0) take its "
        "page from? (DMA, DMA32 or Normal)",
        checker,
        right,
        why,
    )


def pgg(expression: str) -> Question:
    """What %pGg prints for the mask written as ``expression`` in C."""
    mask = mask_value(expression)
    right = format_gfp(mask)
    names = right.split("|")
    why = (
        f"format_flags() (lib/vsprintf.c L1965) walks gfpflag_names in order and prints every "
        f"entry whose whole mask is still set, clearing its bits: composites (GFP_KERNEL …) "
        f"come first, then single bits in the table's order. {mask:#x} prints as {right}."
    )

    def checker(answer) -> Feedback:
        text = str(answer).replace(" ", "").strip()
        if text.upper() == right.upper():
            return Feedback(True, why)
        try:
            value = parse_gfp(text)
        except ValueError as error:
            raise AnswerError(
                f"answer with flag names joined by |, such as GFP_KERNEL|__GFP_ZERO ({error})"
            ) from None
        if value == mask and sorted(text.split("|")) == sorted(names):
            return Feedback(
                False,
                "the right names, but %pGg prints them in its table's order, not in the order "
                "the code wrote them.",
            )
        if value == mask:
            return Feedback(
                False,
                "the right bits, but %pGg names them its own way: it takes the first table "
                "entry whose whole mask is set, and composite names such as GFP_KERNEL come "
                "before single bits.",
            )
        missing, extra = mask & ~value, value & ~mask
        parts = []
        if missing:
            parts.append(f"it lacks {format_gfp(missing)}")
        if extra:
            parts.append(f"it adds {format_gfp(extra)}")
        return Feedback(False, f"that is {value:#x}, not {mask:#x}: {' and '.join(parts)}.")

    return Question(
        f"A driver allocates with {expression} ({mask:#x}). What does %pGg print for it, as in "
        f"warn_alloc()'s mode:{mask:#x}(…)?",
        checker,
        right,
        why,
    )
