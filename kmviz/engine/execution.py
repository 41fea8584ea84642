"""The Kernel's execution-context API: interrupts, locks, preemption and RCU, as sections of code.

``with k.irq():`` runs the block as a hard interrupt handler, ``with k.spin_lock("dev_lock"):``
holds a spinlock for it, and the plain kernel calls (``k.spin_lock(name)`` …
``k.spin_unlock(name)``, ``k.local_irq_disable()`` … ``k.local_irq_enable()``) work too.  The
state itself lives in ``context.ExecutionContext``; this mixin prints what it reports, keeps
the taint, tells the history, and keeps the flag the allocation fast paths read to know that
a might_sleep() check is due.
"""

from __future__ import annotations

from collections.abc import Callable

from .context import DEFAULT_TRACE, ExecutionContext, taints_warn
from .events import ContextChanged
from .reports import INTERRUPT_ENTRY, TAINT_WARN

# frames below the code that runs in each kind of context, innermost first
TASK_FRAMES = DEFAULT_TRACE  # a module's init function, called from insmod
# an interrupt's frames (on the IRQ stack), then the task it interrupted from the entry stub on
HARDIRQ_FRAMES = (
    "lesson_irq_handler [lesson]",
    "__handle_irq_event_percpu",
    "handle_irq_event",
    "handle_edge_irq",
    "__common_interrupt",
    "common_interrupt",
    INTERRUPT_ENTRY,
    *TASK_FRAMES,
)
SOFTIRQ_FRAMES = (
    "lesson_tasklet [lesson]",
    "tasklet_action_common.constprop.0",
    "__do_softirq",
    "irq_exit_rcu",
    "common_interrupt",
    INTERRUPT_ENTRY,
    *TASK_FRAMES,
)


class Section:
    """What ``k.irq()``, ``k.spin_lock(name)``, ``k.irqs_disabled()`` … return.

    Used with ``with``, it ends the section when the block ends.  Sections whose call already
    took effect (a lock is held as soon as ``k.spin_lock(name)`` returns) do nothing more on
    entry; the others (``k.irq()``, ``k.irqs_disabled()``) start on entry.  As a value it is
    what the kernel's predicate would say, so ``k.irqs_disabled()`` also answers the question.
    """

    __slots__ = ("_begin", "_end", "_started", "_truth")

    def __init__(
        self,
        begin: Callable[[], None] | None,
        end: Callable[[], None],
        truth: Callable[[], bool] | None = None,
    ):
        self._begin = begin  # None: the call already started the section
        self._end = end
        self._started = begin is None
        self._truth = truth

    def __enter__(self) -> Section:
        if not self._started:
            self._begin()
            self._started = True
        return self

    def __exit__(self, *exc_info) -> bool:
        self._end()
        return False

    def __bool__(self) -> bool:
        return self._truth() if self._truth else True

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):
            return bool(self) == other
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return repr(bool(self)) if self._truth else "<section>"


class ExecutionContextAPI:
    """Mixin for Kernel: the context primitives under their kernel names."""

    context: ExecutionContext

    # --- plumbing ------------------------------------------------------------------------------
    def _context_frames(self) -> tuple[str, ...]:
        """The frames under whatever code runs now (task, softirq or hardirq)."""
        if self.context.in_hardirq() or self.context.in_nmi():
            return HARDIRQ_FRAMES
        if self.context.in_serving_softirq():
            return SOFTIRQ_FRAMES
        return TASK_FRAMES

    def _context_op(self, action: str, primitive: Callable, *args) -> None:
        """Run one ExecutionContext primitive, print its reports, record the change."""
        self._check_alive()
        for name in args:  # a spinlock's name
            if not isinstance(name, str) or not name:
                raise TypeError(f"a spinlock is named by a non-empty str, not {name!r}")
        lines = primitive(*args, taint_mask=self.taint, trace=list(self._context_frames()))
        self._print_lines(lines)
        if taints_warn(lines):
            self.taint |= 1 << TAINT_WARN
        self.atomic = (
            self.context.preempt_count != 0
            or self.context.irqs_disabled()
            or self.context.rcu_depth != 0
        )
        self.atomic_flag[0] = self.atomic
        self.history.append_object(ContextChanged(action, self.context.snapshot()))
        if self.notify_each_call[0]:
            self.tick += 1

    # --- the current task ----------------------------------------------------------------------
    def task(self, comm: str, pid: int) -> Section:
        """``with k.task("kworker/0:1", 42):`` makes another task current for the block."""
        if (
            not isinstance(comm, str)
            or not comm
            or isinstance(pid, bool)
            or not isinstance(pid, int)
        ):
            raise TypeError("task() takes a name (non-empty str) and a pid (int)")
        saved = (self.context.comm, self.context.pid)

        def switch(to: tuple[str, int]) -> None:
            self.context.comm, self.context.pid = to[0][:15], to[1]  # TASK_COMM_LEN 16
            self.history.append_object(
                ContextChanged(f"switch_to({to[0]}/{to[1]})", self.context.snapshot())
            )

        return Section(lambda: switch((comm, pid)), lambda: switch(saved))

    # --- which CPU -----------------------------------------------------------------------------
    def smp_processor_id(self) -> int:
        """The CPU the current code runs on (0 unless moved with ``on_cpu()``)."""
        return self.context.cpu

    def on_cpu(self, cpu: int) -> Section:
        """Move the current task to CPU ``cpu`` (its per-CPU page lists); ``with`` moves it back.

        The scheduler moves a task only while it may be preempted, so this refuses
        (ValueError) in atomic context: preemption or interrupts off, a lock held.
        """
        if isinstance(cpu, bool) or not isinstance(cpu, int):
            raise TypeError(f"on_cpu() takes a CPU number (int), not {cpu!r}")
        if not 0 <= cpu < self.cpus:
            raise ValueError(f"this machine has CPUs 0..{self.cpus - 1}, not {cpu}")
        if self.atomic:
            raise ValueError(
                "a task in atomic context cannot move to another CPU (preemption is off)"
            )
        saved = self.context.cpu

        def move(to: int) -> None:
            self.context.cpu_cell[0] = to
            self.history.append_object(
                ContextChanged(f"migrate to CPU {to}", self.context.snapshot())
            )

        move(cpu)
        return Section(None, lambda: move(saved))

    # --- interrupts ----------------------------------------------------------------------------
    def irq(self) -> Section:
        """``with k.irq():`` runs the block as a hard interrupt handler (irq_enter/irq_exit)."""
        return Section(self.irq_enter, self.irq_exit)

    def softirq(self) -> Section:
        """``with k.softirq():`` runs the block as a softirq (tasklet) handler."""
        return Section(self.softirq_enter, self.softirq_exit)

    def irq_enter(self) -> None:
        """A hardware interrupt arrives: preempt_count += HARDIRQ_OFFSET, interrupts off."""
        self._context_op("irq_enter", self.context.irq_enter)

    def irq_exit(self) -> None:
        """The interrupt handler returns."""
        self._context_op("irq_exit", self.context.irq_exit)

    def softirq_enter(self) -> None:
        """A softirq starts running: preempt_count += SOFTIRQ_OFFSET."""
        self._context_op("softirq_enter", self.context.softirq_enter)

    def softirq_exit(self) -> None:
        """The softirq handler returns."""
        self._context_op("softirq_exit", self.context.softirq_exit)

    # --- spinlocks -----------------------------------------------------------------------------
    def spin_lock(self, name: str) -> Section:
        """Take spinlock ``name`` (preemption off); ``with`` releases it at the block's end."""
        self._context_op(f"spin_lock({name})", self.context.spin_lock, name)
        return Section(None, lambda: self.spin_unlock(name))

    def spin_unlock(self, name: str) -> None:
        """Release spinlock ``name``."""
        self._context_op(f"spin_unlock({name})", self.context.spin_unlock, name)

    def spin_lock_irq(self, name: str) -> Section:
        """Disable interrupts and take ``name``."""
        self._context_op(f"spin_lock_irq({name})", self.context.spin_lock_irq, name)
        return Section(None, lambda: self.spin_unlock_irq(name))

    def spin_unlock_irq(self, name: str) -> None:
        """Release ``name`` and enable interrupts."""
        self._context_op(f"spin_unlock_irq({name})", self.context.spin_unlock_irq, name)

    def spin_lock_irqsave(self, name: str) -> Section:
        """Save the interrupt state, disable interrupts and take ``name``."""
        self._context_op(f"spin_lock_irqsave({name})", self.context.spin_lock_irqsave, name)
        return Section(None, lambda: self.spin_unlock_irqrestore(name))

    def spin_unlock_irqrestore(self, name: str) -> None:
        """Release ``name`` and restore the interrupt state saved with it."""
        self._context_op(
            f"spin_unlock_irqrestore({name})", self.context.spin_unlock_irqrestore, name
        )

    # --- interrupts on this CPU, preemption, bottom halves, RCU --------------------------------
    def local_irq_disable(self) -> None:
        """Disable interrupts on this CPU."""
        self._context_op("local_irq_disable", self.context.local_irq_disable)

    def local_irq_enable(self) -> None:
        """Enable interrupts on this CPU."""
        self._context_op("local_irq_enable", self.context.local_irq_enable)

    def local_irq_save(self) -> None:
        """Save the interrupt state and disable interrupts (the flags are kept for you)."""
        self._context_op("local_irq_save", self.context.local_irq_save)

    def local_irq_restore(self) -> None:
        """Restore the interrupt state of the matching local_irq_save()."""
        self._context_op("local_irq_restore", self.context.local_irq_restore)

    def irqs_disabled(self) -> Section:
        """Whether interrupts are off; ``with k.irqs_disabled():`` turns them off for a block."""
        return Section(self.local_irq_save, self.local_irq_restore, self.context.irqs_disabled)

    def preempt_disable(self) -> None:
        """preempt_count += 1: this task keeps the CPU."""
        self._context_op("preempt_disable", self.context.preempt_disable)

    def preempt_enable(self) -> None:
        """preempt_count -= 1."""
        self._context_op("preempt_enable", self.context.preempt_enable)

    def preempt_disabled(self) -> Section:
        """``with k.preempt_disabled():`` runs the block with preemption off."""
        return Section(self.preempt_disable, self.preempt_enable)

    def local_bh_disable(self) -> Section:
        """Keep softirqs off this CPU; ``with`` turns them back on at the block's end."""
        self._context_op("local_bh_disable", self.context.local_bh_disable)
        return Section(None, self.local_bh_enable)

    def local_bh_enable(self) -> None:
        """Allow softirqs again."""
        self._context_op("local_bh_enable", self.context.local_bh_enable)

    def rcu_read_lock(self) -> Section:
        """Enter an RCU read-side section; ``with`` leaves it at the block's end."""
        self._context_op("rcu_read_lock", self.context.rcu_read_lock)
        return Section(None, self.rcu_read_unlock)

    def rcu_read_unlock(self) -> None:
        """Leave the RCU read-side section."""
        self._context_op("rcu_read_unlock", self.context.rcu_read_unlock)

    # --- questions -----------------------------------------------------------------------------
    def in_interrupt(self) -> bool:
        """True in hardirq, softirq (or with bottom halves off) or NMI context."""
        return self.context.in_interrupt()

    def in_atomic(self) -> bool:
        """True when preempt_count is not 0: sleeping here is a bug."""
        return self.context.in_atomic()

    def in_irq(self) -> bool:
        """True inside a hard interrupt handler (in_hardirq())."""
        return self.context.in_hardirq()

    def in_softirq(self) -> bool:
        """True in a softirq or with bottom halves disabled."""
        return self.context.in_softirq()

    def in_task(self) -> bool:
        """True in plain process context."""
        return self.context.in_task()
