"""Shows what the CPU runs at the timeline's position, whether it may sleep, and the kernel log.

Whether code may sleep is decided by one number and two flags.  ``preempt_count`` packs four
counters into one int (include/linux/preempt.h L33–55)::

    preempt_count = 0x00010201
      PREEMPT  pc & 0xff             = 1   spin_lock() / preempt_disable() depth
      SOFTIRQ  (pc & 0xff00) >> 8    = 2   bit 0 (serving a softirq) clear; 2 >> 1 = 1 bh off
      HARDIRQ  (pc & 0xf0000) >> 16  = 1   hard interrupts being handled
      NMI      (pc & 0xf00000) >> 20 = 0   NMIs being handled

and __might_resched() (kernel/sched/core.c L9975) lets a task sleep only when that count is 0,
interrupts are enabled and no RCU read-side section is open.  When code that must not sleep
calls something that may (GFP_KERNEL), the kernel prints "BUG: sleeping function called from
invalid context": this view flashes (CSS class ``kmviz-violation``), shows that splat, why it
happened and the fix, until the position moves past the atomic section it happened in.
"""

from __future__ import annotations

import html
import re
from array import array

import ipywidgets as widgets
from traitlets import Int, TraitError, validate

from ..engine.context import (
    HARDIRQ_MASK,
    HARDIRQ_SHIFT,
    NMI_MASK,
    NMI_SHIFT,
    PREEMPT_MASK,
    PREEMPT_SHIFT,
    SOFTIRQ_DISABLE_OFFSET,
    SOFTIRQ_MASK,
    SOFTIRQ_OFFSET,
    SOFTIRQ_SHIFT,
    ContextSnapshot,
)
from ..engine.events import (
    ContextViolated,
    MessageLogged,
    SchedulingWhileAtomic,
)
from ..engine.gfp import format_gfp
from ..engine.printk import KERN_DEBUG, LogLine
from . import theme
from .cells import timeline_for

DEFAULT_LINES = 100  # log lines in the DOM at most; the rest are counted

# the four counters packed into preempt_count: name, mask, shift
PREEMPT_FIELDS = (
    ("PREEMPT", PREEMPT_MASK, PREEMPT_SHIFT),
    ("SOFTIRQ", SOFTIRQ_MASK, SOFTIRQ_SHIFT),
    ("HARDIRQ", HARDIRQ_MASK, HARDIRQ_SHIFT),
    ("NMI", NMI_MASK, NMI_SHIFT),
)

# the sentence of ContextViolated.explanation that says what to do instead
_FIX = re.compile(r"(?<=[.:] )(?=(?:Use|Allocate) )")


def context_name(context: ContextSnapshot) -> str:
    """The context's kind in words: "task", "task, atomic", "softirq", "hardirq" or "nmi"."""
    if context.kind == "task" and not context.may_sleep:
        return "task, atomic"
    return context.kind


def sleep_blockers(context: ContextSnapshot) -> list[str]:
    """Why ``context`` may not sleep, one phrase per reason (empty: it may)."""
    reasons = []
    if context.preempt_count:
        reasons.append(f"in_atomic(): preempt_count is {context.preempt_count:#x}, not 0")
    if context.irqs_disabled:
        reasons.append("irqs_disabled(): interrupts are off")
    if context.rcu_depth:
        reasons.append(f"rcu_read_lock() nesting is {context.rcu_depth}, not 0")
    return reasons


def split_fix(explanation: str) -> tuple[str, str, str]:
    """A ContextViolated explanation as (why, fix, also): the "Use …" sentence is the fix."""
    why, fix, also = explanation, "", ""
    parts = _FIX.split(explanation, maxsplit=1)
    if len(parts) == 2:
        why, fix = parts[0].rstrip(), parts[1]
    if " Also: " in fix:
        fix, also = fix.split(" Also: ", 1)
    return why, fix, also


class ContextView(widgets.VBox):
    """The execution context, the kernel log as dmesg prints it, and might_sleep() splats."""

    max_lines = Int(DEFAULT_LINES, help="Log lines shown at most (the newest); others counted.")
    level = Int(KERN_DEBUG, help="Log lines of this printk level or more urgent (0 EMERG … 7).")

    def __init__(
        self, source, *, max_lines=DEFAULT_LINES, level=KERN_DEBUG, follow=False, **kwargs
    ):
        self.timeline = timeline_for(source, follow)
        self.index = self.timeline.index
        self._build_parts()
        super().__init__(
            children=[
                self.style,
                self.state,
                self.violation,
                self.toolbar,
                self.message,
                self.log_view,
                self.legend,
            ],
            max_lines=max_lines,
            level=level,
            **kwargs,
        )
        self.add_class("kmviz-context")
        self.lines_input.value = self.max_lines
        widgets.link((self.level_menu, "value"), (self, "level"))
        self.observe(self._option_changed, ["max_lines", "level"])
        self.timeline.observe(self._moved, "position")
        self.repaint()

    @validate("max_lines")
    def _valid_lines(self, proposal):
        value = proposal["value"]
        if not 1 <= value <= 10_000:
            raise TraitError(f"max_lines must be 1..10000, not {value}")
        return value

    @validate("level")
    def _valid_level(self, proposal):
        value = proposal["value"]
        if not 0 <= value <= KERN_DEBUG:
            raise TraitError(f"level must be a printk level 0..{KERN_DEBUG}, not {value}")
        return value

    # --- parts -------------------------------------------------------------------------------
    def _build_parts(self) -> None:
        self.style = widgets.HTML(
            "<style>"
            "@keyframes kmviz-flash { from { background: #F4A6C8; } to { background: #fff; } }"
            ".kmviz-violation .kmviz-context-violation { animation: kmviz-flash 0.6s 3; }"
            ".kmviz-context-violation { border-left: 5px solid #D55E00; padding-left: 8px; }"
            ".kmviz-context-log .kmviz-splat { background: #fde7d9; }"
            "</style>"
        )
        self.style.add_class("kmviz-context-style")
        self.state = widgets.HTML()
        self.state.add_class("kmviz-context-state")
        self.violation = widgets.HTML(layout=widgets.Layout(display="none"))
        self.violation.add_class("kmviz-context-violation")
        self.level_menu = widgets.Dropdown(
            options=[
                (f"{level} {theme.LEVEL_NAMES[level]} and more urgent", level)
                for level in range(KERN_DEBUG, -1, -1)
            ],
            description="log level",
            tooltip="Show log lines of this printk level or more urgent (dmesg --level)",
        )
        self.level_menu.add_class("kmviz-context-level")
        self.lines_input = widgets.IntText(
            description="lines",
            continuous_update=False,
            tooltip="How many of the newest log lines to show (1..10000)",
        )
        self.lines_input.add_class("kmviz-context-lines")
        self.lines_input.observe(self._lines_entered, "value")
        self.toolbar = widgets.HBox([self.level_menu, self.lines_input])
        self.toolbar.add_class("kmviz-context-toolbar")
        self.message = widgets.HTML()
        self.message.add_class("kmviz-context-message")
        self.log_view = widgets.HTML()
        self.log_view.add_class("kmviz-context-log")
        contexts = [
            theme.swatch(theme.CONTEXT_COLOURS["task"], "task (may sleep)"),
            theme.swatch(theme.CONTEXT_COLOURS["atomic"], "task, atomic (may not sleep)"),
            *(theme.swatch(theme.CONTEXT_COLOURS[k], k) for k in ("softirq", "hardirq", "nmi")),
        ]
        levels = [
            theme.swatch(colour, f"{level} {theme.LEVEL_NAMES[level]}")
            for level, colour in enumerate(theme.LEVEL_COLOURS)
        ]
        self.legend = widgets.HTML(
            f"<div>context: {''.join(contexts)}</div><div>log level: {''.join(levels)}</div>"
        )
        self.legend.add_class("kmviz-legend")

    def _lines_entered(self, change) -> None:
        """Take a new line count from the box, or say why not and put the old one back."""
        if change["new"] == self.max_lines:
            return
        try:
            self.max_lines = change["new"]
        except TraitError as error:
            reason = html.escape(str(error), quote=False)
            self.message.value = f'<span class="kmviz-error">{reason}</span>'
            self.lines_input.value = self.max_lines
            return
        self.message.value = ""

    def _option_changed(self, _change) -> None:
        self.lines_input.value = self.max_lines
        self.repaint()

    def close(self) -> None:
        """Stop following the timeline and close the widget."""
        self.timeline.unobserve(self._moved, "position")
        super().close()

    # --- painting ----------------------------------------------------------------------------
    def _moved(self, _change) -> None:
        self.repaint()

    def repaint(self) -> None:
        """Show the context, the violation (if any) and the log at the timeline's position."""
        violations = self.violations_shown()
        shown = self._most_telling(violations)
        splat = self._splat(shown) if shown is not None else range(0)
        with self.hold_sync():
            self.state.value = self._state_html()
            if shown is None:
                self.violation.value = ""
                self.violation.layout.display = "none"
                self.remove_class("kmviz-violation")
            else:
                self.violation.value = self._violation_html(shown, splat, len(violations))
                self.violation.layout.display = None
                self.add_class("kmviz-violation")
            self.log_view.value = self._log_html(splat)

    def violations_shown(self) -> array:
        """The positions of the violations on show, oldest first (empty: none).

        The ContextViolated and SchedulingWhileAtomic events of the atomic section the current
        event is in: those after the last context change that may sleep before the current
        event.  So they stay on show through the rest of the section and the event that ends
        it (spin_unlock(), irq_exit() …), and go once the position moves past that.
        """
        position = self.timeline.position
        newest = self.index.last("violation", position)
        if newest is None:
            return array("q")
        # the section ended before the current event if a change that may sleep came since
        for change in reversed(self.index.positions("context", newest + 1, position - 1)):
            if self.timeline.event(change).context.may_sleep:
                return array("q")
        # and it began after the last change that may sleep before the newest violation
        section_start = 0
        for change in reversed(self.index.positions("context", 0, newest)):
            if self.timeline.event(change).context.may_sleep:
                section_start = change + 1
                break
        return self.index.positions("violation", section_start, position)

    def _most_telling(self, violations: array) -> int | None:
        """Of ``violations``, the newest whose report reached the log, else the newest."""
        for position in reversed(violations):
            event = self.timeline.event(position)
            if not isinstance(event, ContextViolated) or event.logged:
                return position
        return violations[-1] if violations else None

    def _splat(self, position: int) -> range:
        """The positions of the log lines violation ``position`` printed (none if rate-limited).

        The report is printed just before the event is recorded, so it is the run of
        MessageLogged events right before it.
        """
        event = self.timeline.event(position)
        if isinstance(event, ContextViolated) and not event.logged:
            return range(position, position)
        first = position
        while first and isinstance(self.timeline.event(first - 1), MessageLogged):
            first -= 1
        return range(first, position)

    def _state_html(self) -> str:
        context = self.timeline.context()
        pc = context.preempt_count
        blockers = sleep_blockers(context)
        verdict = (
            '<b class="kmviz-may-sleep">may sleep</b>'
            if not blockers
            else '<b class="kmviz-may-not-sleep">may not sleep</b>: '
            + html.escape("; ".join(blockers))
        )
        serving = "yes" if pc & SOFTIRQ_OFFSET else "no"
        bh_disabled = (pc & SOFTIRQ_MASK & ~SOFTIRQ_OFFSET) // SOFTIRQ_DISABLE_OFFSET
        meanings = (
            "spin_lock() / preempt_disable() nesting",
            f"serving a softirq (pc & {SOFTIRQ_OFFSET:#x}): {serving}; local_bh_disable() "
            f"depth (pc & 0xfe00) / {SOFTIRQ_DISABLE_OFFSET:#x} = {bh_disabled}",
            "hard interrupts being handled",
            "NMIs being handled",
        )
        rows = "".join(
            f"<tr><td>{name}</td><td><code>(pc &amp; {mask:#x}) &gt;&gt; {shift} = "
            f"{(pc & mask) >> shift}</code></td><td>{html.escape(meaning)}</td></tr>"
            for (name, mask, shift), meaning in zip(PREEMPT_FIELDS, meanings, strict=True)
        )
        change = self.index.last("context", self.timeline.position)
        last = (
            f"last change: <code>{html.escape(self.timeline.event(change).action)}</code> "
            f"(event #{change})"
            if change is not None
            else "no context change yet"
        )
        locks = ", ".join(context.held_locks) or "none"
        badge = theme.swatch(theme.context_colour(context), context_name(context))
        return (
            f'<div class="kmviz-context-badge">{badge}'
            f"<b>{html.escape(context.comm)}</b> (pid {context.pid}) — {verdict}</div>"
            f"<div>preempt_count = <code>{pc:#010x}</code>; irqs_disabled(): "
            f"{'yes' if context.irqs_disabled else 'no'}; held locks: {html.escape(locks)}; "
            f"rcu_read_lock() depth: {context.rcu_depth}; {last}</div>"
            f'<table class="kmviz-preempt-fields">{rows}</table>'
        )

    def _violation_html(self, position: int, splat: range, in_section: int) -> str:
        event = self.timeline.event(position)
        context = event.context
        where = (
            f"{html.escape(context.comm)} (pid {context.pid}) in {context_name(context)}, "
            f"preempt_count {context.preempt_count:#x}"
        )
        if isinstance(event, SchedulingWhileAtomic):
            title = "BUG: scheduling while atomic"
            what = f"{html.escape(event.reason)} — {where} (__schedule_bug(), sched/core.c)"
            why = (
                "An allocation that may sleep found memory short, reclaimed directly, found "
                "nothing to free and waited for a jiffy (reclaim_throttle()): the task really "
                "called schedule() in a context that must not sleep."
            )
            fix = (
                "Use GFP_ATOMIC (or GFP_NOWAIT) here, or allocate before entering the atomic "
                "section."
            )
            also = ""
        else:
            title = "BUG: sleeping function called from invalid context"
            gfp = format_gfp(event.gfp) or "0"
            what = (
                f"might_sleep() in <code>{html.escape(event.function)}</code> at "
                f"{html.escape(event.location)}, gfp {html.escape(gfp)} — {where}"
            )
            why, fix, also = (html.escape(part) for part in split_fix(event.explanation))
        parts = [
            f'<div class="kmviz-violation-title"><b>{title}</b> (event #{position})</div>',
            f'<div class="kmviz-violation-what">{what}</div>',
            f'<div class="kmviz-violation-why"><b>Why:</b> {why}</div>',
            f'<div class="kmviz-violation-fix"><b>Fix:</b> {fix}</div>',
        ]
        if also:
            parts.append(f'<div class="kmviz-violation-also"><b>Also:</b> {also}</div>')
        if in_section > 1:
            parts.append(
                f'<div class="kmviz-violation-count">{in_section} violations in this atomic '
                "section so far; the kernel printed at most one report a second.</div>"
            )
        if splat:
            lines = "\n".join(html.escape(self._dmesg(p)) for p in splat)
            parts.append(f'<pre class="kmviz-splat-text">{lines}</pre>')
        else:
            parts.append(
                '<div class="kmviz-violation-quiet">Not printed: __might_resched() reports at '
                "most once a second (prev_jiffy + HZ), so this one was counted but not logged."
                "</div>"
            )
        return "".join(parts)

    def _dmesg(self, position: int) -> str:
        """Log line ``position`` as dmesg prints it: ``[    1.000024] text``."""
        event = self.timeline.event(position)
        return LogLine(event.timestamp_ns, event.level, event.text).format()

    def _log_html(self, splat: range) -> str:
        log = self.timeline.log()
        at = self.index.positions("log", 0, self.timeline.position)  # where each line was logged
        if self.level == KERN_DEBUG:
            numbers = range(len(log))
        else:
            numbers = [number for number, line in enumerate(log) if line.level <= self.level]
        shown = numbers[-self.max_lines :]
        notes = [f"{len(log)} lines logged up to event #{self.timeline.position}"]
        if len(numbers) > len(shown):
            notes.append(
                f"{len(numbers) - len(shown)} earlier lines hidden "
                f"(showing the newest {len(shown)})"
            )
        if len(log) > len(numbers):
            notes.append(f"{len(log) - len(numbers)} less urgent than level {self.level} filtered")
        lines = []
        for number in shown:
            line = log[number]
            splat_class = " kmviz-splat" if at[number] in splat else ""
            text = html.escape(LogLine(line.timestamp_ns, line.level, line.text).format())
            lines.append(
                f'<div class="kmviz-log-line kmviz-level-{line.level}{splat_class}" '
                f'style="color:{theme.LEVEL_COLOURS[line.level]}">{text}</div>'
            )
        return (
            f'<div class="kmviz-log-note"><small>{"; ".join(notes)}</small></div>'
            '<div class="kmviz-log-body" style="font-family:monospace;white-space:pre;'
            'max-height:24em;overflow:auto;display:flex;flex-direction:column-reverse">'
            f"<div>{''.join(lines)}</div></div>"
        )
