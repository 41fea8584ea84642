"""The kernel's rules: who may sleep, who may dip into reserves, reclaim, OOM, and their reports."""

import pytest

from kmviz import (
    __GFP_ATOMIC,
    __GFP_DIRECT_RECLAIM,
    __GFP_HIGH,
    __GFP_KSWAPD_RECLAIM,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RETRY_MAYFAIL,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_KERNEL,
    GFP_NOFS,
    GFP_NOWAIT,
    Kernel,
)
from kmviz.engine.events import (
    ContextViolated,
    KswapdWoken,
    MemoryReclaimed,
    OomKilled,
    SchedulingWhileAtomic,
)
from kmviz.engine.invariants import check, fingerprint
from kmviz.engine.slowpath import KernelPanic

SPLAT = [
    "BUG: sleeping function called from invalid context at include/linux/sched/mm.h:274",
    "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 1234, name: insmod",
    "preempt_count: 10000, expected: 0",
    "RCU nest depth: 0, expected: 0",
]


def log_lines(k):
    return [line.split("] ", 1)[1] for line in k.dmesg().splitlines()]


def events_of(k, kind):
    return [e for e in k.history if isinstance(e, kind)]


def squeeze(k, gfp=0):
    """Allocate order-0 pages with ``gfp`` until it fails.

    The default mask 0 may not sleep, has no reserve rights and does not wake kswapd, so the
    page cache stays where it is for the test to watch.
    """
    pages = []
    while (page := k.alloc_pages(gfp | __GFP_NOWARN, 0)) is not None:
        pages.append(page)
    return pages


# --- contexts and might_sleep --------------------------------------------------------------------
def test_gfp_kernel_in_an_irq_logs_the_splat_and_still_returns_memory():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.irq():
        page = k.alloc_pages(GFP_KERNEL, 0)
    assert page is not None
    lines = log_lines(k)
    start = lines.index(SPLAT[0])
    assert lines[start : start + 4] == SPLAT
    assert "Tainted: G        W" in k.dmesg() or k.taint & (1 << 9)


def test_gfp_atomic_in_an_irq_logs_nothing():
    k = Kernel(mem="64MiB", memory_map="flat")
    before = k.dmesg()
    with k.irq():
        assert k.get_free_pages(GFP_ATOMIC, 0)
        assert k.get_free_pages(GFP_NOWAIT, 0)
    assert k.dmesg() == before
    assert not events_of(k, ContextViolated)


def test_a_spinlock_makes_gfp_kernel_a_bug_and_the_event_says_how_to_fix_it():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.spin_lock("dev_lock"):
        k.get_free_pages(GFP_KERNEL, 0)
    (violation,) = events_of(k, ContextViolated)
    assert violation.context.held_locks == ("dev_lock",)
    assert violation.context.preempt_count == 1
    assert violation.gfp == GFP_KERNEL
    assert violation.function == "__get_free_pages"
    assert "GFP_ATOMIC" in violation.explanation
    assert "dev_lock" in violation.explanation
    assert k.last_violation == violation
    assert "preempt_count: 1, expected: 0" in log_lines(k)


def test_an_rcu_read_side_section_alone_forbids_sleeping():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.rcu_read_lock():
        k.alloc_pages(GFP_KERNEL, 0)
    assert "RCU nest depth: 1, expected: 0" in log_lines(k)


def test_the_splat_is_rate_limited_to_once_a_second_but_every_violation_is_an_event():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.irq():
        k.alloc_pages(GFP_KERNEL, 0)
        k.alloc_pages(GFP_KERNEL, 0)
    assert k.dmesg().count("BUG: sleeping function") == 1
    assert [v.logged for v in events_of(k, ContextViolated)] == [True, False]
    k.idle(1)
    with k.irq():
        k.alloc_pages(GFP_KERNEL, 0)
    assert k.dmesg().count("BUG: sleeping function") == 2


def test_contexts_nest_with_the_kernels_preempt_count_layout():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.spin_lock("a"), k.irq():
        assert k.context.preempt_count == 0x10001
        assert k.in_interrupt() and k.in_atomic() and k.irqs_disabled()
    with k.softirq():
        assert k.context.preempt_count == 0x100
    with k.local_bh_disable():
        assert k.context.preempt_count == 0x200
    assert k.context.preempt_count == 0
    assert not k.in_atomic() and not k.in_interrupt()


def test_irqs_disabled_is_both_the_predicate_and_a_section():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert not k.irqs_disabled()
    with k.irqs_disabled():
        assert k.irqs_disabled() == True  # noqa: E712 - the predicate compares like a bool
    assert repr(k.irqs_disabled()) == "False"


def test_plain_kernel_calls_work_without_with():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.spin_lock("a")
    k.local_irq_disable()
    k.preempt_disable()
    assert k.context.preempt_count == 2 and k.irqs_disabled()
    k.preempt_enable()
    k.local_irq_enable()
    k.spin_unlock("a")
    assert k.context.preempt_count == 0 and not k.irqs_disabled()


def test_releasing_a_lock_not_held_is_reported_like_lockdep():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.spin_unlock("never_taken")
    lines = log_lines(k)
    assert "WARNING: bad unlock balance detected!" in lines
    assert "insmod/1234 is trying to release lock (never_taken) at:" in lines
    assert k.context.preempt_count == 0 and k.context.held_locks == ()


def test_an_interrupt_cannot_arrive_while_interrupts_are_disabled():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.irqs_disabled(), pytest.raises(ValueError), k.irq():
        pass


# --- reserves, reclaim, kswapd -------------------------------------------------------------------
def test_gfp_atomic_below_min_fails_where_gfp_kernel_reclaims_and_succeeds():
    machines = [
        Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat") for _ in range(2)
    ]
    for k in machines:
        k.fill_page_cache("8MiB")
        squeeze(k, GFP_ATOMIC & ~__GFP_KSWAPD_RECLAIM)  # down to 37.5 % of min
    atomic, kernel = machines
    assert atomic.alloc_pages(GFP_ATOMIC | __GFP_NOWARN, 0) is None
    assert not any(e.by == "direct" for e in events_of(atomic, MemoryReclaimed))
    assert kernel.alloc_pages(GFP_KERNEL, 0) is not None
    direct = [e for e in events_of(kernel, MemoryReclaimed) if e.by == "direct"]
    assert direct and direct[0].pages == 32 and direct[0].spent_ns > 0
    check(kernel)


def test_falling_below_low_wakes_kswapd_which_restores_high():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.fill_page_cache("16MiB")
    zone = k.zone("Normal")
    while zone.free_pages > zone.watermark[1]:  # allocate down to the low watermark
        k.alloc_pages(GFP_KERNEL, 0)
    k.alloc_pages(GFP_KERNEL, 0)
    assert events_of(k, KswapdWoken)
    assert any(e.by == "kswapd" for e in events_of(k, MemoryReclaimed))
    assert zone.free_pages > zone.watermark[2]


def test_reclaiming_clean_page_cache_under_a_spinlock_does_not_schedule():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.fill_page_cache("8MiB")
    squeeze(k)
    with k.spin_lock("dev_lock"):
        assert k.alloc_pages(GFP_KERNEL, 0) is not None
    assert SPLAT[0] in log_lines(k)  # might_sleep() of the debug config
    assert not any("scheduling while atomic" in line for line in log_lines(k))
    assert not events_of(k, SchedulingWhileAtomic)


def test_reclaim_with_nothing_to_free_throttles_and_schedules_while_atomic():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.spawn("memhog", "1GiB")  # anonymous memory, no swap: nothing to reclaim
    with k.spin_lock("dev_lock"):
        k.alloc_pages(GFP_KERNEL, 0)
    assert "BUG: scheduling while atomic: insmod/1234/0x00000001" in log_lines(k)
    assert events_of(k, SchedulingWhileAtomic)
    direct = [e for e in events_of(k, MemoryReclaimed) if e.by == "direct"]
    assert direct[0].pages == 0 and direct[0].spent_ns == 200_000 + 4_000_000  # + one jiffy


def _floor(mark, high=False, non_block=False):
    """__zone_watermark_ok() of 6.1.192: min/2 off for ALLOC_MIN_RESERVE, then a quarter."""
    if high:
        mark -= mark // 2
        if non_block:
            mark -= mark // 4
    return mark


@pytest.mark.parametrize(
    ("gfp", "high", "non_block"),
    [
        (GFP_NOWAIT, False, False),  # ALLOC_NON_BLOCK alone takes nothing off
        (GFP_NOWAIT | __GFP_HIGH, True, True),  # 37.5 %, as GFP_ATOMIC
        (GFP_ATOMIC, True, True),
        (GFP_ATOMIC | __GFP_NOMEMALLOC, True, False),  # no ALLOC_NON_BLOCK: half
        (__GFP_ATOMIC | __GFP_KSWAPD_RECLAIM, False, False),  # __GFP_ATOMIC grants nothing
        (__GFP_HIGH | __GFP_DIRECT_RECLAIM | __GFP_NORETRY, True, False),  # may block: half
    ],
)
def test_each_mask_takes_a_zone_down_to_the_floor_6_1_192_gives_it(gfp, high, non_block):
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    zone = k.zone("Normal")
    squeeze(k, gfp)
    assert zone.free_pages == _floor(zone.watermark[0], high, non_block)


def test_gfp_atomic_with_direct_reclaim_warns_once_and_loses_nothing_else():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.fill_page_cache("8MiB")
    squeeze(k)
    assert k.alloc_pages(GFP_KERNEL | __GFP_ATOMIC, 0) is not None
    k.alloc_pages(GFP_KERNEL | __GFP_ATOMIC, 0)
    warnings = [line for line in log_lines(k) if line.startswith("WARNING:")]
    assert len(warnings) == 1 and "at mm/page_alloc.c:5118" in warnings[0]


# --- the OOM killer and giving up ----------------------------------------------------------------
def test_the_oom_killer_kills_the_biggest_task_and_the_allocation_succeeds():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    small = k.spawn("editor", "1MiB")
    big = k.spawn("memhog", "16MiB")
    squeeze(k)
    assert k.alloc_pages(GFP_KERNEL, 0) is not None
    (killed,) = events_of(k, OomKilled)
    assert (killed.pid, killed.comm, killed.pages) == (big, "memhog", 4096)
    lines = log_lines(k)
    assert "insmod invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0" in (
        lines
    )
    assert any(line.startswith(f"Out of memory: Killed process {big} (memhog)") for line in lines)
    assert [t.pid for t in k.tasks] == [1, 1234, small]
    check(k)


@pytest.mark.parametrize("gfp", [GFP_DMA32, GFP_DMA | GFP_KERNEL], ids=["DMA32", "DMA"])
def test_lowmem_requests_never_call_the_oom_killer(gfp):
    k = Kernel(mem="64MiB", memory_map="flat")
    k.spawn("memhog", "4MiB")
    while k.alloc_pages(gfp | __GFP_NOWARN, 0) is not None:
        pass
    assert not events_of(k, OomKilled)
    assert "invoked oom-killer" not in k.dmesg()


@pytest.mark.parametrize(
    ("gfp", "order"),
    [(GFP_KERNEL, 4), (GFP_KERNEL | __GFP_RETRY_MAYFAIL, 0), (GFP_KERNEL | __GFP_NORETRY, 0)],
    ids=["costly-order", "retry-mayfail", "noretry"],
)
def test_these_requests_fail_rather_than_kill(gfp, order):
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.spawn("memhog", "4MiB")
    squeeze(k)
    assert k.alloc_pages(gfp | __GFP_NOWARN, order) is None
    assert not events_of(k, OomKilled)


def test_gfp_nofs_cannot_kill_and_would_wait_forever():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.spawn("memhog", "4MiB")
    squeeze(k)
    assert k.alloc_pages(GFP_NOFS | __GFP_NOWARN, 0) is None
    assert not events_of(k, OomKilled)
    assert "Linux would keep retrying this 0x2c40(GFP_NOFS|__GFP_NOWARN)" in k.dmesg()


def test_nofail_without_direct_reclaim_warns_once():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    squeeze(k, GFP_ATOMIC)
    assert k.alloc_pages(GFP_ATOMIC | __GFP_NOFAIL | __GFP_NOWARN, 0) is None
    assert "at mm/page_alloc.c:5367" in k.dmesg()


def test_the_allocating_task_can_be_the_victim_and_then_its_allocations_fail():
    # a plain GFP_KERNEL loop in insmod: the OOM killer picks insmod itself, the oom reaper
    # frees its memory, and the allocation fails instead of killing anything else
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    pages = 0
    while k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is not None:
        pages += 1
    assert [(e.pid, e.comm) for e in events_of(k, OomKilled)] == [(1234, "insmod")]
    assert "Kernel panic" not in k.dmesg()
    assert k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0) is None


def test_the_oom_killer_ignores_init_and_weighs_oom_score_adj():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    big = k.spawn("database", "16MiB", oom_score_adj=-999)
    small = k.spawn("browser", "4MiB", oom_score_adj=1000)
    squeeze(k)
    k.alloc_pages(GFP_KERNEL, 0)
    assert [e.pid for e in events_of(k, OomKilled)] == [small]
    table = [line for line in log_lines(k) if line.startswith("[")]
    assert not any(line.endswith(" systemd") for line in table)
    assert big in [t.pid for t in k.tasks]


def test_nothing_left_to_kill_panics_the_machine():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    # a kernel thread has no memory to give back: the OOM killer takes insmod, then nothing
    with (
        pytest.raises(KernelPanic, match="System is deadlocked on memory"),
        k.task("kworker/0:1", 42),
    ):
        while True:
            k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0)
    lines = log_lines(k)
    assert "Out of memory and no killable processes..." in lines
    assert "Kernel panic - not syncing: System is deadlocked on memory" in lines
    with pytest.raises(KernelPanic, match="make a new Kernel"):
        k.get_free_pages(GFP_ATOMIC, 0)


# --- reports -------------------------------------------------------------------------------------
def test_a_failed_costly_compound_allocation_reports_in_the_61_format():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    squeeze(k)
    assert k.alloc_pages("GFP_KERNEL|__GFP_COMP", 4) is None
    lines = log_lines(k)
    assert (
        "insmod: page allocation failure: order:4, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), "
        "nodemask=(null),cpuset=/,mems_allowed=0"
    ) in lines
    assert any(line.startswith("Node 0 Normal free:") and " min:" in line for line in lines)
    assert any(line.startswith("Node 0 Normal: ") and "*4kB" in line for line in lines)


def test_unknown_gfp_bits_print_in_hex_instead_of_crashing():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert k.alloc_pages(GFP_KERNEL | 0x1000000 | (1 << 30), 11) is None  # order 11: WARN
    k.alloc_pages(GFP_DMA | 0x1000000, 10)
    k.alloc_pages(GFP_DMA | 0x1000000, 10)
    while k.alloc_pages(GFP_DMA | 0x1000000, 0) is not None:
        pass
    assert "mode:0x1000001(GFP_DMA|0x1000000)" in k.dmesg()


def test_zone_stats_give_views_watermarks_and_free_counts():
    k = Kernel(mem="256MiB", memory_map="flat")
    dma = k.zone_stats()[0]
    assert (dma["zone"], dma["min"], dma["low"], dma["high"]) == ("DMA", 31, 38, 45)
    assert dma["free"] == sum(n << order for order, n in enumerate(dma["nr_free"]))


def test_the_kernel_log_is_bounded_like_the_ring_buffer():
    k = Kernel(mem="64MiB", memory_map="flat")
    for _ in range(400):
        k.spin_unlock("x")  # lockdep reports only the first; WARN lines still pile up
        k.free_pages(0x1234, 0)  # each one a kernel BUG report
    assert k.log.dropped > 0
    assert k.log.used <= k.log.capacity


def test_another_task_can_be_made_current_for_a_block():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.task("kworker/0:1", 42), k.irq():
        k.alloc_pages(GFP_KERNEL, 0)
    assert "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 42, name: kworker/0:1" in (
        log_lines(k)
    )
    assert (k.comm, k.pid) == ("insmod", 1234)


def test_the_2632_differences_live_in_one_place():
    from kmviz.engine.eras import ERA_2_6_32

    assert ERA_2_6_32["gfp"]["GFP_KERNEL"] == 0xD0
    assert ERA_2_6_32["watermark_low"](100) == 125
    assert len(ERA_2_6_32["might_sleep"]) == 2


def test_a_splat_in_an_interrupt_prints_the_irq_stack_then_the_interrupted_task():
    # show_trace_log_lvl(): the IRQ stack's frames between <IRQ> and </IRQ>, then the task's
    k = Kernel("64MiB", seed=1, memory_map="flat")
    with k.irq():
        k.kmalloc(100, GFP_KERNEL)
    trace = [line.split("] ", 1)[1] for line in k.dmesg().splitlines()]
    start = trace.index("Call Trace:")
    markers = [t for t in trace[start:] if t.strip() in ("<IRQ>", "</IRQ>", "<TASK>", "</TASK>")]
    assert markers == [" <IRQ>", " </IRQ>", " <TASK>", " </TASK>"]
    after_irq = trace[trace.index(" </IRQ>", start) - 1]
    assert after_irq.startswith(" common_interrupt+")
    assert trace[trace.index(" <TASK>", start) + 1].startswith(" asm_common_interrupt+")


def test_spawn_with_an_oom_score_adj_that_is_not_an_int_is_a_type_error_at_once():
    k = Kernel(mem="16MiB", memory_map="flat")
    with pytest.raises(TypeError, match="oom_score_adj"):
        k.spawn("x", "1MiB", oom_score_adj="500")
    assert [t.comm for t in k.tasks] == ["systemd", "insmod"]


def test_a_spinlock_named_by_a_number_is_a_type_error():
    with pytest.raises(TypeError, match="spinlock"):
        Kernel(mem="16MiB", memory_map="flat").spin_lock(5)


def test_reading_half_a_gigabyte_of_files_in_an_interrupt_reports_once_and_is_quick():
    k = Kernel(mem="1GiB", memory_map="flat")
    with k.irq():
        k.fill_page_cache("512MiB")
    violations = [e for e in k.history.since(0) if isinstance(e, ContextViolated)]
    assert len(violations) == 1


def test_kswapd_woken_by_kmalloc_reclaims_before_kmalloc_returns():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.fill_page_cache("64MiB")
    start = len(k.history)
    kinds = []
    while KswapdWoken not in kinds and k.kmalloc(4096, GFP_KERNEL | __GFP_NORETRY):
        kinds = [type(e) for e in k.history.since(start)]
    assert MemoryReclaimed in kinds[kinds.index(KswapdWoken) :]


@pytest.mark.parametrize(
    "call",
    [
        lambda k: k.idle(1),
        lambda k: k.spawn("cat", 4096),
        lambda k: k.kill(1234),
        lambda k: k.fill_page_cache(4096),
        lambda k: k.spin_lock("lock"),
        lambda k: k.irq_enter(),
        lambda k: k.device().write(0, 4096),
        lambda k: k.kmem_cache_create("c", 64),
    ],
)
def test_after_a_panic_a_call_raises_and_changes_nothing(call):
    k = Kernel(mem="16MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    with pytest.raises(KernelPanic), k.task("kworker/0:1", 42):
        while True:
            k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0)
    before = fingerprint(k)
    with pytest.raises(KernelPanic):
        call(k)
    assert fingerprint(k) == before
