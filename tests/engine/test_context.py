"""Tests of kmviz.engine.context against Linux 6.1's preempt.h, lockdep.c and sched/core.c."""

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmviz.engine import context as ctxmod
from kmviz.engine.context import (
    DEFAULT_TRACE,
    HARDIRQ_MASK,
    HARDIRQ_OFFSET,
    NMI_MASK,
    NMI_OFFSET,
    PREEMPT_MASK,
    SOFTIRQ_DISABLE_OFFSET,
    SOFTIRQ_MASK,
    SOFTIRQ_OFFSET,
    ContextSnapshot,
    ExecutionContext,
    print_ip_sym,
    taints_warn,
)
from kmviz.engine.printk import KERN_ERR, KERN_WARNING
from kmviz.engine.reports import TAINT_WARN, dump_stack

W = KERN_WARNING
IDENT = "6.1.192-kmviz #1 Not tainted"
CALLER = print_ip_sym("lesson_init [lesson]")


def texts(lines):
    return [text for _, text in lines]


# === constants ====================================================================================
def test_constants_match_the_preempt_h_layout():
    assert (ctxmod.PREEMPT_BITS, ctxmod.SOFTIRQ_BITS, ctxmod.HARDIRQ_BITS, ctxmod.NMI_BITS) == (
        8, 8, 4, 4,
    )  # fmt: skip
    assert (PREEMPT_MASK, SOFTIRQ_MASK, HARDIRQ_MASK, NMI_MASK) == (
        0xFF, 0xFF00, 0xF0000, 0xF00000,
    )  # fmt: skip
    assert (ctxmod.PREEMPT_OFFSET, SOFTIRQ_OFFSET, SOFTIRQ_DISABLE_OFFSET) == (1, 0x100, 0x200)
    assert (HARDIRQ_OFFSET, NMI_OFFSET) == (0x10000, 0x100000)


def test_print_ip_sym_prints_a_full_address_then_the_symbol():
    assert re.fullmatch(
        r"\[<ffffffffc0[0-9a-f]{6}>\] lesson_init\+0x[0-9a-f]+/0x[0-9a-f]+ \[lesson\]", CALLER
    )
    assert re.fullmatch(r"\[<ffffffff81[0-9a-f]{6}>\] irq_enter_rcu\+0x[0-9a-f]+/0x[0-9a-f]+",
                        print_ip_sym("irq_enter_rcu"))  # fmt: skip
    assert print_ip_sym(None) == "[<0000000000000000>] 0x0"


# === preempt_count for each nesting ===============================================================
def _run(*ops):
    ctx = ExecutionContext()
    for op in ops:
        name, _, arg = op.partition(":")
        lines = getattr(ctx, name)(arg) if arg else getattr(ctx, name)()
        assert lines == [], (op, lines)
    return ctx


@pytest.mark.parametrize(
    ("ops", "count"),
    [
        ((), 0),
        (("spin_lock:a",), 0x1),
        (("spin_lock:a", "spin_lock:b"), 0x2),
        (("preempt_disable",), 0x1),
        (("spin_lock_irqsave:a",), 0x1),
        (("local_bh_disable",), 0x200),
        (("local_bh_disable", "spin_lock:a"), 0x201),
        (("softirq_enter",), 0x100),
        (("softirq_enter", "spin_lock:a"), 0x101),
        (("irq_enter",), 0x10000),
        (("spin_lock:a", "irq_enter"), 0x10001),
        (("spin_lock:a", "irq_enter", "spin_lock:b"), 0x10002),
        (("softirq_enter", "irq_enter"), 0x10100),
        (("nmi_enter",), 0x110000),
        (("spin_lock:a", "irq_enter", "nmi_enter"), 0x120001),
        (("rcu_read_lock",), 0),
        (("local_irq_disable",), 0),
    ],
)
def test_preempt_count_for_each_nesting(ops, count):
    assert _run(*ops).preempt_count == count


def test_rcu_read_lock_counts_rcu_depth_not_preempt_count():
    ctx = _run("rcu_read_lock", "rcu_read_lock")
    assert (ctx.preempt_count, ctx.rcu_depth) == (0, 2)
    ctx.rcu_read_unlock()
    assert ctx.rcu_depth == 1


def test_every_primitive_undoes_its_partner():
    ctx = _run(
        "spin_lock:a", "local_bh_disable", "preempt_disable", "rcu_read_lock",
        "spin_lock_irqsave:b", "local_irq_save", "local_irq_restore",
        "spin_unlock_irqrestore:b", "rcu_read_unlock", "preempt_enable", "local_bh_enable",
        "spin_unlock:a", "irq_enter", "irq_exit", "softirq_enter", "softirq_exit", "nmi_enter",
        "nmi_exit",
    )  # fmt: skip
    assert ctx.snapshot() == ExecutionContext().snapshot()


# === predicates ===================================================================================
TRUTH = {  # ops → (in_nmi, in_hardirq, in_softirq, in_serving_softirq, in_interrupt, in_task,
    #          in_atomic)
    (): (0, 0, 0, 0, 0, 1, 0),
    ("spin_lock:a",): (0, 0, 0, 0, 0, 1, 1),
    ("rcu_read_lock",): (0, 0, 0, 0, 0, 1, 0),
    ("local_irq_disable",): (0, 0, 0, 0, 0, 1, 0),
    ("local_bh_disable",): (0, 0, 1, 0, 1, 1, 1),
    ("softirq_enter",): (0, 0, 1, 1, 1, 0, 1),
    ("irq_enter",): (0, 1, 0, 0, 1, 0, 1),
    ("nmi_enter",): (1, 1, 0, 0, 1, 0, 1),
}


@pytest.mark.parametrize("ops", list(TRUTH))
def test_context_predicates_truth_table(ops):
    ctx = _run(*ops)
    got = (ctx.in_nmi(), ctx.in_hardirq(), ctx.in_softirq(), ctx.in_serving_softirq(),
           ctx.in_interrupt(), ctx.in_task(), ctx.in_atomic())  # fmt: skip
    assert tuple(map(int, got)) == TRUTH[ops]


@pytest.mark.parametrize(
    ("ops", "kind"),
    [((), "task"), (("local_bh_disable",), "task"), (("softirq_enter",), "softirq"),
     (("softirq_enter", "irq_enter"), "hardirq"), (("irq_enter", "nmi_enter"), "nmi")],
)  # fmt: skip
def test_kind_names_the_innermost_context(ops, kind):
    ctx = _run(*ops)
    assert ctx.kind == kind
    assert ctx.snapshot().kind == kind


# === interrupts ===================================================================================
def test_irq_handler_runs_with_interrupts_off_and_exit_restores_them():
    ctx = ExecutionContext()
    ctx.irq_enter()
    assert ctx.irqs_disabled()
    ctx.irq_exit()
    assert not ctx.irqs_disabled()


def test_softirq_runs_with_interrupts_on_and_exit_restores_the_interrupted_state():
    ctx = _run("local_irq_disable", "softirq_enter")
    assert not ctx.irqs_disabled()
    ctx.softirq_exit()
    assert ctx.irqs_disabled()


def test_local_irq_save_and_restore_nest():
    ctx = _run("local_irq_save", "local_irq_save")
    ctx.local_irq_restore()
    assert ctx.irqs_disabled()  # the inner save found them already off
    ctx.local_irq_restore()
    assert not ctx.irqs_disabled()


def test_spin_lock_irqsave_keeps_the_flags_with_the_lock():
    ctx = _run("local_irq_disable", "spin_lock_irqsave:a", "local_irq_enable", "local_irq_disable")
    ctx.spin_unlock_irqrestore("a")
    assert ctx.irqs_disabled()  # they were off before spin_lock_irqsave
    ctx = _run("spin_lock_irqsave:a")
    ctx.spin_unlock_irqrestore("a")
    assert not ctx.irqs_disabled()


def test_spin_unlock_irq_enables_interrupts_unconditionally():
    ctx = _run("spin_lock_irq:a")
    assert ctx.irqs_disabled()
    assert ctx.spin_unlock_irq("a") == []
    assert not ctx.irqs_disabled()


def test_impossible_frames_raise_and_change_nothing():
    ctx = _run("spin_lock:a", "local_irq_disable")
    before = ctx.snapshot()
    with pytest.raises(ValueError, match="interrupts are disabled"):
        ctx.irq_enter()
    with pytest.raises(ValueError, match="in_interrupt"):
        _run("local_bh_disable").softirq_enter()
    with pytest.raises(ValueError, match="softirq_exit"):
        ctx.softirq_exit()
    with pytest.raises(ValueError, match="nmi_exit"):
        ctx.nmi_exit()
    with pytest.raises(ValueError, match="irq_exit"):
        _run("irq_enter", "nmi_enter").irq_exit()
    assert ctx.snapshot() == before


# === locks ========================================================================================
def test_out_of_order_unlock_is_legal_and_removes_that_lock():
    ctx = _run("spin_lock:a", "spin_lock:b", "spin_lock:c")
    assert ctx.spin_unlock("a") == []
    assert ctx.held_locks == ("b", "c")
    assert ctx.preempt_count == 2


def test_held_locks_keep_acquisition_order():
    assert _run("spin_lock:x", "spin_lock_irq:y", "spin_lock_irqsave:z").held_locks == (
        "x", "y", "z",
    )  # fmt: skip


# === misuse reports ===============================================================================
def test_spin_unlock_with_no_locks_is_lockdeps_bad_unlock_balance():
    ctx = ExecutionContext()
    lines = ctx.spin_unlock("dev_lock", taint_mask=0, trace=list(DEFAULT_TRACE))
    assert lines[:14] == [
        (W, ""),
        (W, "====================================="),
        (W, "WARNING: bad unlock balance detected!"),
        (W, IDENT),
        (W, "-------------------------------------"),
        (W, "insmod/1234 is trying to release lock (dev_lock) at:"),
        (W, CALLER),
        (W, "but there are no more locks to release!"),
        (W, ""),
        (W, "other info that might help us debug this:"),
        (W, "no locks held by insmod/1234."),
        (W, ""),
        (W, "stack backtrace:"),
        (W, "CPU: 0 PID: 1234 Comm: insmod Not tainted 6.1.192-kmviz #1"),
    ]
    assert lines[14:] == dump_stack(
        W, "insmod", 1234, 0,
        ["dump_stack_lvl", "print_unlock_imbalance_bug", "lock_release", "_raw_spin_unlock",
         *DEFAULT_TRACE],
    )[1:]  # fmt: skip


def test_bad_unlock_leaves_no_negative_count():
    ctx = ExecutionContext()
    ctx.spin_unlock("dev_lock")
    assert (ctx.preempt_count, ctx.held_locks, ctx.debug_locks) == (0, (), False)


def test_bad_unlock_lists_the_locks_held_as_lockdep_does():
    ctx = _run("spin_lock:dev_lock", "rcu_read_lock")
    lines = texts(ctx.spin_unlock("other"))
    listing = lines[lines.index("other info that might help us debug this:") + 1 :][:3]
    assert listing[0] == "2 locks held by insmod/1234:"
    spin = r" #0: ffff888[0-9a-f]{9} \(dev_lock\)\{\+\.\+\.\}-\{2:2\}, at: lesson_init\+0x"
    assert re.fullmatch(spin + r"[0-9a-f]+/0x[0-9a-f]+ \[lesson\]", listing[1])
    rcu = r" #1: ffffffff[0-9a-f]{8} \(rcu_read_lock\)\{\.\.\.\.\}-\{1:2\}, at: .*"
    assert re.fullmatch(rcu, listing[2])


def test_bad_unlock_keeps_the_held_list_true_and_the_count_the_kernels():
    ctx = _run("spin_lock:dev_lock")
    ctx.spin_unlock("other")
    # the held list still names dev_lock; preempt_enable() took its unit, as in the kernel
    assert ctx.held_locks == ("dev_lock",)
    assert ctx.preempt_count == 0
    assert ctx.spin_unlock("dev_lock") == []  # debug_locks is off: the kernel stays quiet
    assert (ctx.held_locks, ctx.preempt_count) == ((), 0)


def test_lockdep_reports_once_then_debug_locks_is_off():
    ctx = ExecutionContext()
    assert ctx.spin_unlock("a")
    assert ctx.spin_unlock("b") == []
    assert ctx.preempt_enable() == []


def test_recursive_spin_lock_is_reported_and_not_taken_twice():
    ctx = _run("spin_lock:dev_lock")
    lines = ctx.spin_lock("dev_lock")
    assert texts(lines)[:6] == [
        "",
        "============================================",
        "WARNING: possible recursive locking detected",
        IDENT,
        "--------------------------------------------",
        "insmod/1234 is trying to acquire lock:",
    ]
    assert "  lock(dev_lock);" in texts(lines)
    assert (ctx.held_locks, ctx.preempt_count) == (("dev_lock",), 1)


def test_irq_exit_without_irq_enter_warns_from_preempt_count_sub():
    ctx = ExecutionContext()
    lines = ctx.irq_exit()
    assert lines[:4] == [
        (W, "------------[ cut here ]------------"),
        (W, "DEBUG_LOCKS_WARN_ON(val > preempt_count())"),
        (W, "WARNING: CPU: 0 PID: 1234 at kernel/sched/core.c:5750 "
            + ctxmod.symbol("preempt_count_sub")),
        (W, "Modules linked in:"),
    ]  # fmt: skip
    assert taints_warn(lines)
    assert ctx.preempt_count == 0
    assert ctx.irqs_disabled()  # __irq_exit_rcu() starts with local_irq_disable()


def test_preempt_enable_below_zero_warns_and_stays_at_zero():
    ctx = ExecutionContext()
    assert texts(ctx.preempt_enable())[1] == "DEBUG_LOCKS_WARN_ON(val > preempt_count())"
    assert (ctx.preempt_count, ctx.preempt_depth) == (0, 0)


def test_preempt_enable_in_hardirq_warns_about_the_preempt_field():
    ctx = _run("irq_enter")
    lines = texts(ctx.preempt_enable())
    assert (
        lines[1] == "DEBUG_LOCKS_WARN_ON((val < PREEMPT_MASK) && !(preempt_count() & PREEMPT_MASK))"
    )
    assert lines[2].startswith("WARNING: CPU: 0 PID: 1234 at kernel/sched/core.c:5755 ")
    assert ctx.preempt_count == HARDIRQ_OFFSET


def test_preempt_enable_under_a_spinlock_silently_takes_the_locks_unit():
    ctx = _run("spin_lock:a")
    assert ctx.preempt_enable() == []  # the kernel cannot tell whose unit it was
    assert (ctx.preempt_count, ctx.held_locks) == (0, ("a",))
    assert ctx.might_sleep_report("mm/slab.h", 710, 0, []) is None  # nor can might_sleep


def test_rcu_read_unlock_without_lock_warns_then_lockdep_reports():
    ctx = ExecutionContext()
    lines = texts(ctx.rcu_read_unlock())
    assert lines[0] == "------------[ cut here ]------------"
    assert lines[1].startswith("WARNING: CPU: 0 PID: 1234 at kernel/rcu/tree_plugin.h:431 "
                               "__rcu_read_unlock+")  # fmt: skip
    start = lines.index("WARNING: bad unlock balance detected!")
    assert lines[start + 1] == "6.1.192-kmviz #1 Tainted: G        W         "  # WARN tainted
    assert lines[start + 3] == "insmod/1234 is trying to release lock (rcu_read_lock) at:"
    assert ctx.rcu_depth == 0


def test_local_irq_restore_without_save_warns_once_with_irqs_enabled():
    ctx = ExecutionContext()
    lines = texts(ctx.local_irq_restore())
    assert lines[:3] == [
        "------------[ cut here ]------------",
        "raw_local_irq_restore() called with IRQs enabled",
        "WARNING: CPU: 0 PID: 1234 at kernel/locking/irqflag-debug.c:10 "
        + ctxmod.symbol("warn_bogus_irq_restore"),
    ]
    assert not ctx.irqs_disabled()
    assert ctx.local_irq_restore() == []  # WARN_ONCE


def test_local_irq_restore_without_save_with_irqs_off_changes_nothing():
    ctx = _run("local_irq_disable")
    assert ctx.local_irq_restore() == []
    assert ctx.irqs_disabled()


def test_local_bh_enable_without_disable_warns_and_keeps_the_count():
    ctx = ExecutionContext()
    lines = ctx.local_bh_enable()
    assert texts(lines)[1:3] == [
        "DEBUG_LOCKS_WARN_ON(val > preempt_count())",
        "WARNING: CPU: 0 PID: 1234 at kernel/sched/core.c:5750 "
        + ctxmod.symbol("preempt_count_sub"),
    ]
    assert ctx.preempt_count == 0


def test_local_bh_enable_in_hardirq_warns_once():
    ctx = _run("local_bh_disable", "irq_enter")
    lines = texts(ctx.local_bh_enable())
    assert lines[1] == ("WARNING: CPU: 0 PID: 1234 at kernel/softirq.c:400 "
                        + ctxmod.symbol("__local_bh_enable_ip"))  # fmt: skip
    assert ctx.preempt_count == HARDIRQ_OFFSET


def test_softirq_that_leaves_bh_disabled_warns_at_exit():
    ctx = _run("softirq_enter", "local_bh_disable")
    lines = texts(ctx.softirq_exit())
    assert lines[1].startswith("WARNING: CPU: 0 PID: 1234 at kernel/softirq.c:440 ")
    assert ctx.preempt_count == SOFTIRQ_DISABLE_OFFSET


def test_spin_unlock_irqrestore_with_irqs_enabled_warns():
    ctx = _run("spin_lock_irqsave:a", "local_irq_enable")
    lines = texts(ctx.spin_unlock_irqrestore("a"))
    assert lines[1] == "raw_local_irq_restore() called with IRQs enabled"
    assert (ctx.held_locks, ctx.preempt_count, ctx.irqs_disabled()) == ((), 0, False)


def test_preempt_count_close_to_overflow_warns_once():
    ctx = ExecutionContext()
    for _ in range(PREEMPT_MASK - 11):
        assert ctx.preempt_disable() == []
    lines = texts(ctx.preempt_disable())
    assert lines[1] == "DEBUG_LOCKS_WARN_ON((preempt_count() & PREEMPT_MASK) >= PREEMPT_MASK - 10)"
    assert ctx.preempt_count == PREEMPT_MASK - 10
    for _ in range(10):
        ctx.preempt_disable()
    with pytest.raises(ValueError, match="overflow"):
        ctx.preempt_disable()
    assert ctx.preempt_count == PREEMPT_MASK


# === lockdep usage characters =====================================================================
@pytest.mark.parametrize(
    ("ops", "usage"),
    [
        (("spin_lock:a",), "{+.+.}"),
        (("spin_lock_irqsave:a",), "{....}"),
        (("local_bh_disable", "spin_lock:a"), "{+...}"),
        (("irq_enter", "spin_lock:a"), "{-...}"),
        (("irq_enter", "spin_lock:a", "spin_unlock:a", "irq_exit", "spin_lock:a"), "{?.+.}"),
    ],
)
def test_lockdep_usage_characters_follow_where_the_lock_was_taken(ops, usage):
    ctx = _run(*ops)
    listing = texts(ctx.spin_unlock("nope"))
    line = next(text for text in listing if text.startswith(" #0: "))
    assert f"(a){usage}-{{2:2}}" in line


# === might_sleep ==================================================================================
def _report(ctx):
    return ctx.might_sleep_report("mm/slab.h", 710, 0, ["kmalloc_trace", *DEFAULT_TRACE])


def test_might_sleep_is_fine_in_plain_task_context():
    assert _report(ExecutionContext()) is None
    assert _report(_run("spin_lock:a", "spin_unlock:a", "irq_enter", "irq_exit")) is None


def test_might_sleep_in_hardirq_reports_the_irq_entry_as_preemption_point():
    lines = _report(_run("irq_enter"))
    assert lines[:6] == [
        (KERN_ERR, "BUG: sleeping function called from invalid context at mm/slab.h:710"),
        (KERN_ERR, "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 1234, name: insmod"),
        (KERN_ERR, "preempt_count: 10000, expected: 0"),
        (KERN_ERR, "RCU nest depth: 0, expected: 0"),
        (KERN_ERR, "Preemption disabled at:"),
        (KERN_ERR, print_ip_sym("irq_enter_rcu")),
    ]
    assert lines[6:] == dump_stack(
        W, "insmod", 1234, 0, ["dump_stack_lvl", "__might_resched.cold", "kmalloc_trace",
                               *DEFAULT_TRACE],
    )  # fmt: skip


def test_might_sleep_under_a_spinlock_points_at_the_locker():
    lines = texts(_report(_run("spin_lock:dev_lock")))
    assert lines[:6] == [
        "BUG: sleeping function called from invalid context at mm/slab.h:710",
        "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 1234, name: insmod",
        "preempt_count: 1, expected: 0",
        "RCU nest depth: 0, expected: 0",
        "Preemption disabled at:",
        CALLER,
    ]
    assert lines[6].startswith("CPU: 0 PID: 1234 Comm: insmod")


def test_might_sleep_spinlock_inside_hardirq_keeps_the_first_disabler():
    lines = texts(_report(_run("spin_lock:a", "irq_enter")))
    assert lines[2] == "preempt_count: 10001, expected: 0"
    assert lines[5] == CALLER


def test_might_sleep_with_irqs_disabled_has_no_preemption_line():
    lines = texts(_report(_run("local_irq_disable")))
    assert lines[:4] == [
        "BUG: sleeping function called from invalid context at mm/slab.h:710",
        "in_atomic(): 0, irqs_disabled(): 1, non_block: 0, pid: 1234, name: insmod",
        "preempt_count: 0, expected: 0",
        "RCU nest depth: 0, expected: 0",
    ]
    assert lines[4].startswith("CPU: 0 PID: 1234")


def test_might_sleep_in_rcu_read_side_reports_though_preempt_count_is_zero():
    lines = texts(_report(_run("rcu_read_lock")))
    assert lines[:4] == [
        "BUG: sleeping function called from invalid context at mm/slab.h:710",
        "in_atomic(): 0, irqs_disabled(): 0, non_block: 0, pid: 1234, name: insmod",
        "preempt_count: 0, expected: 0",
        "RCU nest depth: 1, expected: 0",
    ]
    assert lines[4].startswith("CPU: 0 PID: 1234")


def test_might_sleep_with_bh_disabled_shows_0x200():
    assert texts(_report(_run("local_bh_disable")))[2] == "preempt_count: 200, expected: 0"


def test_might_sleep_in_nmi_from_a_fresh_task_prints_ip_zero():
    lines = texts(_report(_run("nmi_enter")))
    assert lines[2] == "preempt_count: 110000, expected: 0"
    assert lines[5] == "[<0000000000000000>] 0x0"  # __nmi_enter() does not record an ip


def test_might_sleep_stack_dump_shows_the_taint_and_sets_taint_warn():
    lines = _run("spin_lock:a").might_sleep_report("mm/page_alloc.c", 5428, 1 << TAINT_WARN, [])
    assert "Tainted: G        W" in lines[6][1]
    assert lines[6][0] == KERN_WARNING
    assert taints_warn(lines)


def test_lockdep_reports_do_not_taint():
    assert not taints_warn(ExecutionContext().spin_unlock("a"))


# === explain ======================================================================================
def test_explain_hardirq_first():
    text = _run("spin_lock:dev_lock", "irq_enter").explain("GFP_KERNEL")
    assert text.startswith(
        "GFP_KERNEL may sleep to reclaim memory, but this code runs in hard interrupt context "
        "(preempt_count 0x10001): an interrupt handler must never sleep. Use GFP_ATOMIC, or "
        "allocate before the interrupt arrives."
    )
    assert "a spinlock is held" in text


def test_explain_spinlock_names_the_lock_and_the_fix():
    text = _run("spin_lock:dev_lock").explain("GFP_KERNEL")
    assert "while holding spinlock 'dev_lock'" in text
    assert "deadlock" in text
    assert text.endswith("Use GFP_ATOMIC, or move the allocation before spin_lock().")


def test_explain_spinlock_irqsave_beats_irqs_disabled():
    text = _run("spin_lock_irqsave:dev_lock").explain("GFP_KERNEL")
    assert "spin_lock_irqsave() so interrupts are off too" in text
    assert text.endswith("move the allocation before spin_lock_irqsave().")


@pytest.mark.parametrize(
    ("ops", "phrase"),
    [
        (("nmi_enter",), "in NMI context"),
        (("softirq_enter",), "in softirq context"),
        (("local_irq_disable",), "with interrupts disabled (local_irq_disable())"),
        (("local_irq_save",), "with interrupts disabled (local_irq_save())"),
        (("local_bh_disable",), "with bottom halves disabled"),
        (("preempt_disable",), "with preemption disabled"),
        (("rcu_read_lock",), "inside an RCU read-side critical section"),
        (("rcu_read_lock", "preempt_disable"), "with preemption disabled"),
        (("rcu_read_lock", "local_irq_disable"), "with interrupts disabled"),
    ],
)
def test_explain_picks_the_most_specific_reason(ops, phrase):
    text = _run(*ops).explain("GFP_KERNEL")
    assert text.startswith("GFP_KERNEL may sleep to reclaim memory, but this code runs " + phrase)


def test_explain_allowed_and_non_sleeping_masks():
    assert "that is allowed here" in ExecutionContext().explain("GFP_KERNEL")
    assert "never sleeps" in _run("irq_enter").explain("GFP_ATOMIC")
    assert "even an atomic allocation" in _run("nmi_enter").explain("GFP_ATOMIC")
    assert "may sleep" in _run("irq_enter").explain("not a mask")


# === describe and snapshot ========================================================================
def test_describe_one_line():
    assert _run("spin_lock:dev_lock", "irq_enter").describe() == (
        "insmod (pid 1234) in hardirq, irqs off, holding dev_lock; preempt_count 0x10001"
    )
    assert ExecutionContext("kworker/0:1", 42).describe() == (
        "kworker/0:1 (pid 42) in task; preempt_count 0x0"
    )


def test_snapshot_is_a_frozen_slots_dataclass():
    snap = _run("spin_lock:a", "rcu_read_lock").snapshot()
    assert snap == ContextSnapshot("insmod", 1234, 1, False, ("a",), 1, "task")
    assert not hasattr(snap, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.pid = 1  # type: ignore[misc]


# === random sequences =============================================================================
NAMES = ("a", "b", "c")
OPS = [
    *[(op, name) for op in ("spin_lock", "spin_lock_irq", "spin_lock_irqsave", "spin_unlock",
                            "spin_unlock_irq", "spin_unlock_irqrestore") for name in NAMES],
    *[(op, None) for op in ("preempt_disable", "preempt_enable", "local_bh_disable",
                            "local_bh_enable", "local_irq_disable", "local_irq_enable",
                            "local_irq_save", "local_irq_restore", "rcu_read_lock",
                            "rcu_read_unlock", "irq_enter", "irq_exit", "softirq_enter",
                            "softirq_exit", "nmi_enter", "nmi_exit")],
]  # fmt: skip


def _state(ctx):
    return ctx.snapshot(), ctx.preempt_depth, ctx.bh_depth, ctx.debug_locks


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(OPS), max_size=60))
def test_any_sequence_keeps_counts_non_negative_and_consistent_with_the_held_locks(ops):
    ctx = ExecutionContext()
    locks: list[str] = []
    frames: list[str] = []
    preempt = bh = rcu = 0
    for op, name in ops:
        before = _state(ctx)
        try:
            lines = getattr(ctx, op)(name) if name else getattr(ctx, op)()
        except ValueError:
            assert _state(ctx) == before  # refused: nothing changed
            continue
        assert all(isinstance(level, int) and isinstance(text, str) for level, text in lines)
        if op.startswith("spin_lock") and name not in locks:
            locks.append(name)
        elif op.startswith("spin_unlock") and name in locks:
            locks.remove(name)
        elif op == "preempt_disable":
            preempt += 1
        elif op == "preempt_enable":
            preempt = max(0, preempt - 1)
        elif op == "local_bh_disable":
            bh += 1
        elif op == "local_bh_enable":
            bh = max(0, bh - 1)
        elif op == "rcu_read_lock":
            rcu += 1
        elif op == "rcu_read_unlock":
            rcu = max(0, rcu - 1)
        elif op.endswith("_enter"):
            frames.append(op.removesuffix("_enter"))
        elif op.endswith("_exit") and frames and frames[-1] == op.removesuffix("_exit"):
            frames.pop()
        pc = ctx.preempt_count
        assert 0 <= pc < 1 << 24
        assert ctx.held_locks == tuple(locks)
        assert ctx.rcu_depth == rcu
        assert pc & NMI_MASK == NMI_OFFSET * frames.count("nmi")
        assert pc & HARDIRQ_MASK == HARDIRQ_OFFSET * (frames.count("irq") + frames.count("nmi"))
        assert pc & SOFTIRQ_MASK == (SOFTIRQ_OFFSET * frames.count("softirq")
                                     + SOFTIRQ_DISABLE_OFFSET * bh)  # fmt: skip
        assert ctx.preempt_depth <= preempt
        assert pc & PREEMPT_MASK <= ctx.preempt_depth + len(ctx.held_locks)
        sleep_ok = pc == 0 and rcu == 0 and not ctx.irqs_disabled()
        assert (_report(ctx) is None) == sleep_ok
        assert ctx.describe().endswith(f"preempt_count {pc:#x}")
        assert ctx.explain("GFP_KERNEL")


# A legal program: properly nested sections, each lock name unique along its nesting path.
SECTIONS = ("spin", "spin_irq", "spin_irqsave", "preempt", "bh", "rcu", "irqsave", "hardirq",
            "softirq", "nmi", "crossed")  # fmt: skip
PROGRAMS = st.recursive(
    st.just(()),
    lambda inner: st.lists(st.tuples(st.sampled_from(SECTIONS), inner), max_size=3).map(tuple),
    max_leaves=12,
)


def _legal_here(ctx, section):
    """The section, or a stand-in when it would be illegal in the current context."""
    if section == "spin_irq" and ctx.irqs_disabled():
        return "spin_irqsave"  # spin_unlock_irq() would turn interrupts on: not legal here
    if section == "bh" and (ctx.in_hardirq() or ctx.irqs_disabled()):
        return "preempt"
    if (section == "hardirq" and ctx.irqs_disabled()) or (
        section == "softirq" and ctx.in_interrupt()
    ):
        return "rcu"  # the interrupt would stay pending
    return section


def _execute(ctx, program, depth):
    def call(op, *args):
        assert getattr(ctx, op)(*args) == [], op
        assert ctx.preempt_count & PREEMPT_MASK == ctx.preempt_depth + len(ctx.held_locks)

    for wanted, body in program:
        name = f"lock{depth}"
        section = _legal_here(ctx, wanted)
        opens, closes = {
            "spin": (("spin_lock", name), ("spin_unlock", name)),
            "spin_irq": (("spin_lock_irq", name), ("spin_unlock_irq", name)),
            "spin_irqsave": (("spin_lock_irqsave", name), ("spin_unlock_irqrestore", name)),
            "preempt": (("preempt_disable",), ("preempt_enable",)),
            "bh": (("local_bh_disable",), ("local_bh_enable",)),
            "rcu": (("rcu_read_lock",), ("rcu_read_unlock",)),
            "irqsave": (("local_irq_save",), ("local_irq_restore",)),
            "hardirq": (("irq_enter",), ("irq_exit",)),
            "softirq": (("softirq_enter",), ("softirq_exit",)),
            "nmi": (("nmi_enter",), ("nmi_exit",)),
            "crossed": (("spin_lock", name + "x"), ("spin_unlock", name + "x")),
        }[section]
        call(*opens)
        if section == "crossed":  # take y, release x before y: legal in Linux
            call("spin_lock", name + "y")
            call(*closes)
            _execute(ctx, body, depth + 1)
            call("spin_unlock", name + "y")
        else:
            _execute(ctx, body, depth + 1)
            call(*closes)


@settings(max_examples=200, deadline=None)
@given(PROGRAMS)
def test_legal_programs_never_report_and_end_where_they_started(program):
    ctx = ExecutionContext()
    _execute(ctx, program, 0)
    assert ctx.snapshot() == ExecutionContext().snapshot()
    assert ctx.debug_locks
    assert _report(ctx) is None
