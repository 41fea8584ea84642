"""ContextView: the execution context decoded, the kernel log as dmesg, might_sleep() splats."""

import html
import re

import pytest
from traitlets import TraitError

from kmviz import GFP_ATOMIC, GFP_KERNEL, Kernel
from kmviz.engine.events import ContextViolated, MessageLogged, SchedulingWhileAtomic
from kmviz.widgets import theme
from kmviz.widgets.context import ContextView, split_fix
from kmviz.widgets.timeline import Timeline


def shown_lines(view):
    """The log lines the view shows, as text (HTML entities undone)."""
    return [
        html.unescape(text)
        for text in re.findall(
            r'<div class="kmviz-log-line[^"]*"[^>]*>(.*?)</div>', view.log_view.value
        )
    ]


def synced(view):
    """What the view sends that a learner sees, for comparing two views."""
    return (
        view.state.value,
        view.violation.value,
        view.violation.layout.display,
        view.log_view.value,
        view._dom_classes,
    )


def test_a_task_may_sleep_and_is_coloured_as_one():
    view = ContextView(Kernel("64MiB", seed=1, memory_map="flat"))
    assert "may sleep" in view.state.value and "may not sleep" not in view.state.value
    assert theme.CONTEXT_COLOURS["task"] in view.state.value


def test_preempt_count_is_decoded_field_by_field_in_a_hard_interrupt_under_a_lock():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.spin_lock("dev_lock"), k.irq():
        state = view.state.value
    assert "preempt_count = <code>0x00010001</code>" in state
    assert "(pc &amp; 0xff) &gt;&gt; 0 = 1" in state  # PREEMPT: the spinlock
    assert "(pc &amp; 0xf0000) &gt;&gt; 16 = 1" in state  # HARDIRQ
    assert "(pc &amp; 0xf00000) &gt;&gt; 20 = 0" in state  # NMI
    assert "held locks: dev_lock" in state
    assert theme.CONTEXT_COLOURS["hardirq"] in state
    assert "may not sleep" in state and "irqs_disabled(): yes" in state
    assert "last change: <code>irq_enter</code>" in state


def test_local_bh_disable_is_counted_in_the_softirq_field():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    k.local_bh_disable()
    assert "serving a softirq (pc &amp; 0x100): no" in view.state.value
    assert "local_bh_disable() depth (pc &amp; 0xfe00) / 0x200 = 1" in view.state.value


def test_an_rcu_reader_may_not_sleep_though_preempt_count_is_zero():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.rcu_read_lock():
        state = view.state.value
    assert "preempt_count = <code>0x00000000</code>" in state
    assert "rcu_read_lock() nesting is 1" in state
    assert theme.CONTEXT_COLOURS["atomic"] in state


def test_a_violation_flashes_with_its_splat_and_fix_until_its_section_is_over():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.spin_lock("dev_lock"):
        k.kmalloc(100, GFP_KERNEL)
    assert "kmviz-violation" in view._dom_classes  # still: the unlock ended the section
    assert view.violation.layout.display is None
    assert "<b>Fix:</b> Use GFP_ATOMIC, or move the allocation before spin_lock()." in (
        view.violation.value
    )
    splat = [line for line in k.dmesg().splitlines() if "sleeping function" in line]
    assert splat[0] in view.violation.value
    assert "kmviz-splat" in view.log_view.value
    k.kmalloc(100, GFP_KERNEL)  # past the section
    assert "kmviz-violation" not in view._dom_classes
    assert view.violation.layout.display == "none"
    assert "kmviz-splat" not in view.log_view.value


def test_stepping_onto_a_violation_shows_it_and_stepping_before_hides_it():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.irq():
        k.kmalloc(100, GFP_KERNEL)
    k.kmalloc(100, GFP_ATOMIC)
    at = next(i for i, e in enumerate(k.history) if isinstance(e, ContextViolated))
    view.timeline.seek(at + 1)
    assert view.timeline.current.__class__ is ContextViolated
    assert "hard interrupt context" in view.violation.value
    view.timeline.seek(at)
    assert "kmviz-violation" not in view._dom_classes


def test_a_rate_limited_violation_says_it_was_not_printed():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.spin_lock("a"):
        k.kmalloc(100, GFP_KERNEL)
    with k.spin_lock("b"):
        k.alloc_pages(GFP_KERNEL, 0)  # within the same second: no second report
    assert "Not printed" in view.violation.value
    assert "kmviz-splat" not in view.log_view.value


def test_scheduling_while_atomic_shows_its_report():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    k.spawn("memhog", "1GiB")  # every page taken, nothing reclaimable: reclaim throttles
    view = ContextView(k)
    with k.spin_lock("dev_lock"):
        k.alloc_pages(GFP_KERNEL, 0)
    assert any(isinstance(e, SchedulingWhileAtomic) for e in k.history)
    assert "<b>BUG: scheduling while atomic</b>" in view.violation.value
    assert "BUG: scheduling while atomic: insmod/1234/0x00000001" in view.violation.value


def test_the_log_shows_the_newest_lines_as_dmesg_and_counts_the_rest():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k, max_lines=5)
    logged = k.dmesg().splitlines()
    assert shown_lines(view) == logged[-5:]
    assert f"{len(logged) - 5} earlier lines hidden" in view.log_view.value


def test_the_level_filter_keeps_only_urgent_lines():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k)
    with k.spin_lock("dev_lock"):
        k.kmalloc(100, GFP_KERNEL)
    view.level_menu.value = 3
    assert view.level == 3
    errors = [e for e in view.timeline.log() if e.level <= 3]
    assert len(shown_lines(view)) == len(errors) > 0
    assert all(line.startswith("[") for line in shown_lines(view))
    assert "less urgent than level 3 filtered" in view.log_view.value
    assert f"color:{theme.LEVEL_COLOURS[3]}" in view.log_view.value


def test_a_bad_line_count_gives_a_message_and_changes_nothing():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = ContextView(k, max_lines=7)
    log = view.log_view.value
    view.lines_input.value = 0
    assert "max_lines must be 1..10000, not 0" in view.message.value
    assert view.max_lines == 7 and view.lines_input.value == 7
    assert view.log_view.value == log
    with pytest.raises(TraitError, match="printk level"):
        ContextView(k, level=9)


def test_split_fix_takes_the_advice_out_of_an_explanation():
    why, fix, also = split_fix(
        "GFP_KERNEL may sleep, but this code runs in softirq context (preempt_count 0x100): "
        "it must never sleep. Use GFP_ATOMIC, or move the work to a workqueue. Also: rcu."
    )
    assert why.endswith("it must never sleep.")
    assert fix == "Use GFP_ATOMIC, or move the work to a workqueue."
    assert also == "rcu."


def test_stepping_back_and_forth_matches_a_fresh_view():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    old = ContextView(k, max_lines=20)
    with k.spin_lock("dev_lock"):
        k.kmalloc(100, GFP_KERNEL)
        with k.irq():
            k.kmalloc(64, GFP_ATOMIC)
    k.kmalloc(100, GFP_KERNEL)
    end = old.timeline.length
    log_positions = [i for i, e in enumerate(k.history) if isinstance(e, MessageLogged)]
    for position in (end - 1, log_positions[-3], 1, end, log_positions[-1] + 1, end - 30):
        old.timeline.seek(position)
        fresh_timeline = Timeline(k)
        fresh_timeline.seek(position)
        assert synced(ContextView(fresh_timeline, max_lines=20)) == synced(old), position
