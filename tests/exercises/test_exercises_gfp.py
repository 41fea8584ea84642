"""Lesson 03's questions: right and wrong answers with their feedback; the lesson's numbers."""

from pathlib import Path

import nbformat
import pytest
from lesson_cells import cells, prose, run

from kmviz import GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, events
from kmviz.exercises import gfp

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03-gfp-and-context.ipynb"


# --- the questions -------------------------------------------------------------------------------
def test_preempt_count_in_a_lock_in_an_irq():
    question = gfp.preempt_count_in_lock_in_irq()
    assert question.answer == "0x10001"
    for answer in ("0x10001", "65537", 0x10001):
        assert question.check(answer).correct
    assert "0x10000 is the interrupt alone" in question.check("0x10000").message
    assert "0x1 is spin_lock() in process context" in question.check(1).message
    assert "a hard interrupt has its own field" in question.check("0x101").message
    assert "spin_lock() adds 1, not 2" in question.check("0x10002").message
    assert "PREEMPT in bits 0-7" in question.check(7).message


@pytest.mark.parametrize(
    ("context", "mask", "verdict", "reason"),
    [
        ("spin_lock", "GFP_KERNEL", "yes", "preempt_count is 0x1, so in_atomic() is true"),
        ("irq", "GFP_KERNEL", "yes", "preempt_count is 0x10000"),
        ("irq", "GFP_NOIO", "yes", "GFP_NOIO may sleep (__GFP_DIRECT_RECLAIM)"),
        ("irq", "GFP_ATOMIC", "no", "GFP_ATOMIC has no __GFP_DIRECT_RECLAIM"),
        ("spin_lock", "GFP_NOWAIT", "no", "never sleeps, in any context"),
        ("task", "GFP_KERNEL", "no", "so may this context"),
        ("irqs_disabled", "GFP_KERNEL", "yes", "interrupts are off"),
        ("rcu_read_lock", "GFP_KERNEL", "yes", "an RCU read-side section is open"),
        ("softirq", "GFP_KERNEL", "yes", "preempt_count is 0x100"),
    ],
)
def test_will_splat(context, mask, verdict, reason):
    question = gfp.will_splat(context, mask)
    assert question.answer == verdict
    right = question.check(verdict.upper())
    assert right.correct and reason in right.message
    wrong = question.check("no" if verdict == "yes" else "yes")
    assert not wrong.correct and wrong.message.startswith(f"it is {verdict}")
    assert "answer with one of: yes, no" in question.check("maybe").message


def test_mask_for_irq_is_gfp_atomic_and_each_other_mask_says_why_not():
    question = gfp.mask_for_irq()
    assert question.answer == "GFP_ATOMIC"
    assert question.check("gfp_atomic").correct
    kernel = question.check("GFP_KERNEL")
    assert not kernel.correct and "sleeping function called from invalid context" in (
        kernel.message
    )
    nowait = question.check("GFP_NOWAIT")
    assert not nowait.correct and "no right to the reserves" in nowait.message
    assert "keeps __GFP_DIRECT_RECLAIM" in question.check("GFP_NOIO").message
    assert "filesystems" in question.check("GFP_NOFS").message


def test_on_full_nowait_fails_and_atomic_and_kernel_succeed():
    nowait = gfp.succeeds("GFP_NOWAIT")
    assert nowait.answer == "no"
    assert "DMA32 has 448 free pages, its min watermark is 448" in nowait.why
    assert "DMA keeps 31 + 210 (lowmem_reserve) of its 241" in nowait.why
    assert not nowait.check("yes").correct
    atomic = gfp.succeeds("GFP_ATOMIC")
    assert atomic.answer == "yes" and "down to 168" in atomic.why
    kernel = gfp.succeeds("GFP_KERNEL")
    assert kernel.answer == "yes" and "kills memhog and the retry succeeds" in kernel.why


def test_atomic_floor_is_37_and_a_half_percent_of_min():
    question = gfp.atomic_floor()
    assert question.answer == "168" == str(gfp.atomic_floor_of(448))
    assert "448 - 448 / 2 = 224" in question.why and "224 - 224 / 4 = 168" in question.why
    assert question.check(168).correct
    assert "where GFP_NOWAIT stops" in question.check(448).message
    assert "what __GFP_HIGH alone gives" in question.check(224).message
    assert "min - min/4" in question.check(336).message
    assert "never goes to zero" in question.check(0).message
    assert "GFP_ATOMIC still gets pages" in question.check(500).message
    assert "half of it, then a quarter off" in question.check(100).message


def test_zone_for_on_a_1_gib_machine():
    kernel = gfp.zone_for("GFP_KERNEL")
    assert kernel.answer == "DMA32"
    assert "This 1 GiB machine has no Normal zone" in kernel.why
    assert "this machine has no Normal zone" in kernel.check("Normal").message
    assert "DMA is a fallback" in kernel.check("dma").message
    dma = gfp.zone_for("GFP_DMA")
    assert dma.answer == "DMA" and dma.check("DMA").correct
    assert "allows nothing above DMA" in dma.check("DMA32").message
    assert gfp.zone_for("GFP_DMA32").answer == "DMA32"
    assert "answer with one of: DMA, DMA32, Normal" in dma.check("HighMem").message


def test_pgg_prints_in_table_order():
    question = gfp.pgg("GFP_KERNEL | __GFP_ZERO | __GFP_NORETRY")
    assert question.answer == "GFP_KERNEL|__GFP_NORETRY|__GFP_ZERO"
    assert question.check("GFP_KERNEL | __GFP_NORETRY | __GFP_ZERO").correct
    order = question.check("GFP_KERNEL|__GFP_ZERO|__GFP_NORETRY")
    assert not order.correct and "in its table's order" in order.message
    bits = question.check("__GFP_RECLAIM|__GFP_IO|__GFP_FS|__GFP_ZERO|__GFP_NORETRY")
    assert not bits.correct and "composite names such as GFP_KERNEL come" in bits.message
    short = question.check("GFP_KERNEL|__GFP_ZERO")
    assert "that is 0xdc0, not 0x10dc0: it lacks __GFP_NORETRY" in short.message
    assert "flag names joined by |" in question.check("GFP_KERNAL").message
    assert gfp.pgg("__GFP_RECLAIM | __GFP_IO").answer == "GFP_NOFS"


# --- the lesson's numbers on the seeded machines -------------------------------------------------
@pytest.fixture(scope="module")
def lesson():
    """The lesson's code cells run in order: (namespace, printed text, its markdown)."""
    namespace, printed = run(NOTEBOOK)
    return namespace, "\n".join(printed), "\n".join(cells(NOTEBOOK, "markdown"))


def test_the_lesson_builds_the_exercises_machines(lesson):
    namespace, _, _ = lesson
    source = NOTEBOOK.read_text()
    assert 'k = Kernel(mem=\\"1GiB\\", seed=0, pcp=False, memory_map=\\"flat\\")' in source
    assert 'full.spawn(\\"memhog\\", \\"1GiB\\")' in source
    assert 'tight.fill_page_cache(\\"32MiB\\")' in source
    assert "while (page := machine.alloc_pages(__GFP_NOWARN, 0)) is not None:" in (
        nbformat.read(NOTEBOOK, as_version=4).cells[20].source
    )
    assert [z["free"] for z in gfp.full_machine().zone_stats()] == [241, 448]
    assert [z["free"] for z in gfp.tight_machine().zone_stats()] == [241, 448]
    assert gfp.MEM == "1GiB" and gfp.SMALL == "256MiB"
    assert namespace["k"].zone_stats()[0]["zone"] == "DMA"


def test_the_masks_bits(lesson):
    _, printed, text = lesson
    assert "GFP_KERNEL = 0x0cc0 = __GFP_IO | __GFP_FS | __GFP_DIRECT_RECLAIM" in printed
    assert "GFP_ATOMIC = 0x0a20 = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM" in printed
    assert "GFP_NOWAIT = 0x0800 = __GFP_KSWAPD_RECLAIM" in printed
    assert (GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT) == (0xCC0, 0xA20, 0x800)
    assert "`irq_enter()` adds `0x10000`" in text


def test_the_splats_the_lesson_reads(lesson):
    _, printed, text = lesson
    for line in (
        "BUG: sleeping function called from invalid context at include/linux/sched/mm.h:274",
        "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 1234, name: insmod",
        "preempt_count: 10000, expected: 0",
        "RCU nest depth: 0, expected: 0",
        "irq_enter_rcu+",
        "__might_resched.cold+",
        "__kmem_cache_alloc_node+",
        "kmalloc_trace+",
        "lesson_irq_handler+",
        "preempt_count: 1, expected: 0",
    ):
        assert line in printed, line
    for line in (
        "`in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 1234, name: insmod`",
        "`preempt_count: 10000, expected: 0`",
        "`preempt_count: 1`",
        "calls `kmalloc()`, which 6.1 compiles, for a constant size, into `kmalloc_trace()`",
    ):
        assert line in text, line
    assert "; new log lines: none" in printed
    assert "new log lines: none" in printed


def test_the_context_view_counts_two_violations_in_the_irq():
    from kmviz.widgets import ContextView

    k = gfp.lesson_kernel()
    view = ContextView(k)
    with k.irq():
        k.kmalloc(64, GFP_KERNEL)
    assert "2 violations in this atomic section" in view.violation.value


def test_direct_reclaim_and_scheduling_while_atomic(lesson):
    _, printed, text = lesson
    assert "DMA32  free   448   min  448  low  560  high  672   page cache  8192" in printed
    assert "MemoryReclaimed(by='direct', pages=32, spent_ns=200000)" in printed
    assert "MemoryReclaimed(by='kswapd'" in printed
    tight, stuck = printed.split("tight:", 1)[1].split("stuck:", 1)
    assert "BUG: sleeping function called from invalid context" in tight
    assert "scheduling while atomic" not in tight
    assert "BUG: scheduling while atomic: insmod/1234/0x00000001" in stuck
    assert "itself (`by='direct'`, 200 µs of simulated time)" in text
    assert "On `tight` only the warning of `might_sleep()`" in text
    assert "DMA32 is at *min* with 8192 pages of page cache" in text


def test_reserves_on_full(lesson):
    namespace, printed, text = lesson
    assert "GFP_NOWAIT: 0x0" in printed
    assert "mode:0x800(GFP_NOWAIT), nodemask=(null),cpuset=/,mems_allowed=0" in printed
    assert "DMA32 free:1792kB boost:0kB min:1792kB" in printed
    assert "`DMA32 free:1792kB … min:1792kB`" in text
    assert "GFP_ATOMIC took 299 pages below the watermarks" in printed
    assert "DMA32  free   168   min  448" in printed
    assert (
        "DMA32 stopped at 168 of its *min* 448: 448 − 448/2 = 224, then 224 − 224/4 = 168" in text
    )
    assert "Out of memory: Killed process 2000 (memhog)" in printed
    oom = [e for e in namespace["full"].history if isinstance(e, events.OomKilled)]
    assert [e.comm for e in oom] == ["memhog"]


def test_pgg_lines(lesson):
    _, printed, _ = lesson
    assert "mode:0x10dc0(GFP_KERNEL|__GFP_NORETRY|__GFP_ZERO)" in printed
    assert "mode:0xc40(GFP_NOFS)" in printed


def test_zones_and_the_isa_card(lesson):
    namespace, printed, text = lesson
    assert "alloc_pages(GFP_KERNEL, 0) -> <Page pfn:0x3002 zone:DMA32" in printed
    assert "alloc_pages(GFP_DMA   , 0) -> <Page pfn:0x100 zone:DMA" in printed
    assert "zones of k: ['DMA', 'DMA32']" in printed
    k = namespace["k"]
    buf = namespace["buf"]
    assert 48 << 20 <= k.virt_to_phys(buf) < 49 << 20
    assert "The buffer sits at 48 MiB" in text
    assert "DMA addr 0x0000000003002000+512 overflow (mask ffffff, bus limit 0)." in printed
    assert "buffer at physical 0x100000, bus address 0x100000" in printed
    assert "the card writes into pfn [256]" in printed
    assert "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp:" in printed


def test_with_per_cpu_lists_the_burst_ends_below_min_as_the_aside_says():
    machine = gfp.tight_machine(pcp=True)
    zone = machine.zone("DMA32")
    below = zone.watermark[0] - zone.free_pages
    assert below > 0 and zone.pcp_count[0] > zone.pcp_batch
    text = prose(NOTEBOOK)
    assert f"ends {below} pages *below* min, with {zone.pcp_count[0]} pages on CPU 0's list" in text
    assert f"a refill takes a batch of {zone.pcp_batch} off the free lists at once" in text
    assert "builds its machines with `pcp=False`" in text
