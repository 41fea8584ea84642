"""The CPU's execution context: the current task, preempt_count, interrupts, held locks, RCU depth.

One simulated CPU runs one task (``comm``/``pid``) and whatever interrupts it.  This module keeps
the state that decides whether code may sleep, changed by the same primitives as in Linux 6.1
(x86-64), and formats the kernel's complaints when they are misused.  Every primitive returns
the report lines (``(level, text)``) the kernel would print, empty when all is well; nothing is
printed or rate-limited here, the caller owns the log and the clock.

The configuration assumed, and why (line numbers are those of the 6.1.192 tree):

* CONFIG_PREEMPT=y, CONFIG_PREEMPT_COUNT=y, CONFIG_PREEMPT_RCU=y: spin_lock() adds 1 to
  preempt_count, rcu_read_lock() does not touch it but counts ``current->rcu_read_lock_nesting``
  (kernel/rcu/tree_plugin.h L400), and __might_resched() prints the "RCU nest depth" line.
* CONFIG_DEBUG_ATOMIC_SLEEP=y and CONFIG_DEBUG_PREEMPT=y: might_sleep() checks, the
  "Preemption disabled at:" line, and preempt_count_add()/preempt_count_sub()'s
  DEBUG_LOCKS_WARN_ON() checks (kernel/sched/core.c L5712–5764).
* CONFIG_LOCKDEP=n (the team's configuration), so __might_resched()'s debug_show_held_locks()
  is the empty stub of include/linux/debug_locks.h L60 and print_irqtrace_events() is the empty
  stub of include/linux/lockdep.h L517 (in 6.1 it depends on CONFIG_PROVE_LOCKING, not on
  CONFIG_TRACE_IRQFLAGS, which is assumed off as well): a might_sleep report lists no locks and
  no irq events.
* **Exception, on purpose:** releasing a lock that is not held is reported the way lockdep
  (CONFIG_PROVE_LOCKING) reports it: "WARNING: bad unlock balance detected!" (lockdep.c
  L5204), and so are taking a spinlock twice ("possible recursive locking detected", L3011) and
  rcu_read_unlock() without rcu_read_lock() (tree_plugin.h L431 plus lockdep).  A real kernel
  built with CONFIG_LOCKDEP=n would print none of these; it would at most trip
  preempt_count_sub()'s DEBUG_LOCKS_WARN_ON() when the count reaches zero.  The lockdep reports
  are kept because they teach what went wrong; their held-lock listings use made-up but stable
  addresses.
* CONFIG_DEBUG_IRQFLAGS=y: local_irq_restore() with interrupts enabled warns once
  (kernel/locking/irqflag-debug.c L10).
* The task runs on CPU 0 unless ``k.on_cpu(n)`` moves it, which chooses the per-CPU page
  lists it uses; the reports still say ``CPU: 0``.  ``debug_locks`` and WARN_ON_ONCE() are
  per boot, so one context should live as long as one simulated boot.

Misuse is reported like the kernel and leaves the context consistent: counts never go negative,
the held-lock list only holds locks that are held, in the order they were taken.  Where the
kernel would corrupt its own count (local_bh_enable() without local_bh_disable() subtracts
0x1ff unchecked, kernel/softirq.c L414; rcu_read_unlock() makes the nesting -1) the simulator
reports what the kernel prints and leaves its count alone.  Where the kernel's count silently
drops a unit that belongs to someone else (preempt_enable() while only a spinlock keeps
preemption off, or an unlock of a lock that is not held while the count is above zero) the
simulator does the same, so its preempt_count stays the kernel's: such a lock is still listed as
held, but no longer keeps preemption off, and might_sleep() no longer notices it, as in Linux.

Frames of interrupts (irq_enter/irq_exit, softirq_enter/softirq_exit, nmi_enter/nmi_exit) are
driven by the simulator, not by the learner; an impossible one (an interrupt while interrupts
are disabled, exits out of nesting order) raises ValueError and changes nothing.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from .gfp import gfpflags_allow_blocking, parse_gfp
from .printk import KERN_ERR, KERN_WARNING
from .reports import (
    TAINT_WARN,
    UTS_RELEASE,
    UTS_VERSION,
    Line,
    dump_stack,
    print_tainted,
    symbol,
    warning,
)

# preempt_count layout, include/linux/preempt.h L33–55
PREEMPT_BITS = 8
SOFTIRQ_BITS = 8
HARDIRQ_BITS = 4
NMI_BITS = 4

PREEMPT_SHIFT = 0
SOFTIRQ_SHIFT = PREEMPT_SHIFT + PREEMPT_BITS  # 8
HARDIRQ_SHIFT = SOFTIRQ_SHIFT + SOFTIRQ_BITS  # 16
NMI_SHIFT = HARDIRQ_SHIFT + HARDIRQ_BITS  # 20

PREEMPT_MASK = ((1 << PREEMPT_BITS) - 1) << PREEMPT_SHIFT  # 0x000000ff
SOFTIRQ_MASK = ((1 << SOFTIRQ_BITS) - 1) << SOFTIRQ_SHIFT  # 0x0000ff00
HARDIRQ_MASK = ((1 << HARDIRQ_BITS) - 1) << HARDIRQ_SHIFT  # 0x000f0000
NMI_MASK = ((1 << NMI_BITS) - 1) << NMI_SHIFT  # 0x00f00000

PREEMPT_OFFSET = 1 << PREEMPT_SHIFT  # 0x1
SOFTIRQ_OFFSET = 1 << SOFTIRQ_SHIFT  # 0x100: serving a softirq
HARDIRQ_OFFSET = 1 << HARDIRQ_SHIFT  # 0x10000
NMI_OFFSET = 1 << NMI_SHIFT  # 0x100000
SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET  # 0x200: local_bh_disable()

# __might_resched()'s offsets argument, include/linux/sched.h L2128–2129
MIGHT_RESCHED_RCU_SHIFT = 8
MIGHT_RESCHED_PREEMPT_MASK = (1 << MIGHT_RESCHED_RCU_SHIFT) - 1

# dump_stack() prints at KERN_DEFAULT (lib/dump_stack.c L116), which printk files under
# default_message_loglevel = CONFIG_MESSAGE_LOGLEVEL_DEFAULT = 4, i.e. KERN_WARNING; the printk
# module has no KERN_DEFAULT, so KERN_WARNING stands in for it (also for lockdep's plain printk).
KERN_DEFAULT_LEVEL = KERN_WARNING

# the frames a learner's call sits on, innermost first: a module's init function
DEFAULT_TRACE = (
    "lesson_init [lesson]",
    "do_one_initcall",
    "do_init_module",
    "__do_sys_finit_module",
    "do_syscall_64",
    "entry_SYSCALL_64_after_hwframe",
)

# lockdep's wait types {outer:inner} (include/linux/lockdep_types.h L18–28): spinlock_t is
# LD_WAIT_CONFIG, which is LD_WAIT_SPIN (2) without PROVE_RAW_LOCK_NESTING; rcu_lock_map is
# LD_WAIT_FREE (1) outside, LD_WAIT_CONFIG inside (kernel/rcu/update.c L246–251).
_SPIN_WAIT_TYPES = "{2:2}"
_RCU_WAIT_TYPES = "{1:2}"
RCU_LOCK_NAME = "rcu_read_lock"  # rcu_lock_map.name
_RCU_LOCK_MAP_ADDRESS = 0xFFFFFFFF82B5E1A0  # made up: a kernel data address

_LOCK_FUNCTIONS = {  # the out-of-line function each API lands in (kernel/locking/spinlock.c)
    "spin_lock": "_raw_spin_lock",
    "spin_lock_irq": "_raw_spin_lock_irq",
    "spin_lock_irqsave": "_raw_spin_lock_irqsave",
    "spin_unlock": "_raw_spin_unlock",
    "spin_unlock_irq": "_raw_spin_unlock_irq",
    "spin_unlock_irqrestore": "_raw_spin_unlock_irqrestore",
}

# lockdep usage bits (enum lock_usage_bit), as far as the listing's {....} shows them
_USED_IN_HARDIRQ = "USED_IN_HARDIRQ"
_ENABLED_HARDIRQ = "ENABLED_HARDIRQ"
_USED_IN_SOFTIRQ = "USED_IN_SOFTIRQ"
_ENABLED_SOFTIRQ = "ENABLED_SOFTIRQ"

_SYMBOL = re.compile(r"(?P<name>[^+ ]+)\+0x(?P<offset>[0-9a-f]+)/0x[0-9a-f]+(?: \[(?P<mod>.+)\])?")

KINDS = ("task", "softirq", "hardirq", "nmi")


def taints_warn(lines: Sequence[Line]) -> bool:
    """Whether printing ``lines`` sets TAINT_WARN: a WARN() splat or a might_sleep report.

    __warn() (kernel/panic.c) and __might_resched() (kernel/sched/core.c L10022) call
    add_taint(TAINT_WARN); lockdep's own reports do not.
    """
    return any(
        text.startswith(("WARNING: CPU: ", "BUG: sleeping function called")) for _, text in lines
    )


def text_address(function: str) -> int:
    """A made-up, stable address inside ``function``, matching the offset symbol() prints.

    Module functions ("lesson_init [lesson]") live in the module area at 0xffffffffc0000000,
    the rest in the kernel text at 0xffffffff81000000.
    """
    match = _SYMBOL.fullmatch(symbol(function))
    assert match is not None
    name, module = match["name"], match["mod"]
    offset = int(match["offset"], 16)
    if module:
        base = 0xFFFFFFFFC0000000 + ((zlib.crc32(module.encode()) & 0xFF) << 16)
        return base + (zlib.crc32(name.encode()) & 0xFFF0) + offset
    return 0xFFFFFFFF81000000 + (zlib.crc32(name.encode()) & 0xFFFFF0) + offset


def print_ip_sym(function: str | None) -> str:
    """``[<address>] function+off/size``, as print_ip_sym() prints it (kallsyms.h L181–184).

    No function (an ip of 0) prints as ``[<0000000000000000>] 0x0``, as %pS does.
    """
    if function is None:
        return "[<0000000000000000>] 0x0"
    return f"[<{text_address(function):016x}>] {symbol(function)}"


def lock_address(name: str) -> int:
    """A made-up, stable address of the spinlock called ``name`` (lockdep prints it with %px)."""
    if name == RCU_LOCK_NAME:
        return _RCU_LOCK_MAP_ADDRESS
    return 0xFFFF888000000000 + (zlib.crc32(name.encode()) & 0x07FFFFF8)


@dataclass(frozen=True, slots=True)
class ContextSnapshot:
    """The execution context at one moment, small enough for an event to carry."""

    comm: str
    pid: int
    preempt_count: int
    irqs_disabled: bool
    held_locks: tuple[str, ...]
    rcu_depth: int
    kind: str  # "task", "softirq", "hardirq" or "nmi"

    @property
    def may_sleep(self) -> bool:
        """__might_resched()'s test: preempt_count 0, irqs on, no rcu_read_lock() (PREEMPT_RCU)."""
        return not (self.preempt_count or self.irqs_disabled or self.rcu_depth)


@dataclass(slots=True)
class _Held:
    """One entry of lockdep's held-locks stack: a spinlock or an rcu_read_lock()."""

    name: str
    api: str  # "spin_lock", "spin_lock_irq", "spin_lock_irqsave" or "rcu_read_lock"
    acquire_ip: str  # the function that took it
    saved_irqs_disabled: bool | None = None  # spin_lock_irqsave()'s flags
    counted: bool = False  # still holds one unit of preempt_count

    @property
    def is_spin(self) -> bool:
        return self.api != "rcu_read_lock"


@dataclass(slots=True)
class _Frame:
    """An interrupt the task is running on top of: what to restore when it returns."""

    kind: str  # "softirq", "hardirq" or "nmi"
    saved_irqs_disabled: bool
    save_base: int  # local_irq_save() entries below this belong to the interrupted code


class _Out:
    """Report lines being gathered, with the taint a later splat in the same call shows."""

    __slots__ = ("lines", "taint")

    def __init__(self, taint: int):
        self.lines: list[Line] = []
        self.taint = taint

    def add(self, lines: list[Line]) -> None:
        self.lines += lines
        if taints_warn(lines):
            self.taint |= 1 << TAINT_WARN


class ExecutionContext:
    """What the CPU is running now: the task, preempt_count, interrupt state, locks and RCU."""

    def __init__(self, comm: str = "insmod", pid: int = 1234):
        self.comm = comm
        self.pid = pid
        # smp_processor_id(): the CPU the code runs on, in an array the C fast path reads
        self.cpu_cell = array("q", [0])
        # lib/debug_locks.c L25: cleared by the first lock-debugging report, which silences
        # lockdep and every later DEBUG_LOCKS_WARN_ON() for the rest of the boot
        self.debug_locks = True
        # CONFIG_DEBUG_PREEMPT: preempt_count_add()/_sub() check the count (Kernel(config=...))
        self.debug_preempt = True
        self._pc = 0  # preempt_count(), changed only the way the kernel changes it
        self._irqs_disabled = False
        self._held: list[_Held] = []  # lockdep's held-locks stack, oldest first
        self._saves: list[bool] = []  # local_irq_save() flags, innermost last
        self._frames: list[_Frame] = []
        self._preempt_depth = 0  # preempt_disable() calls still holding a unit of the count
        self._bh_depth = 0  # local_bh_disable() calls outstanding
        self._preempt_disable_ip: str | None = None  # current->preempt_disable_ip
        self._usage: dict[str, set[str]] = {}  # lockdep class usage, per lock name
        self._warned_once: set[str] = set()  # WARN_ON_ONCE() locations that fired

    # === state ===================================================================================
    @property
    def cpu(self) -> int:
        """smp_processor_id(): the CPU running the code, whose per-CPU lists it uses."""
        return self.cpu_cell[0]

    @property
    def preempt_count(self) -> int:
        """preempt_count(): preempt, softirq, hardirq and NMI counts packed as in preempt.h."""
        return self._pc

    def irqs_disabled(self) -> bool:
        """irqs_disabled(): interrupts are off on this CPU (include/linux/irqflags.h L266)."""
        return self._irqs_disabled

    @property
    def held_locks(self) -> tuple[str, ...]:
        """The spinlocks held, in the order they were taken."""
        return tuple(held.name for held in self._held if held.is_spin)

    @property
    def rcu_depth(self) -> int:
        """rcu_preempt_depth(): open rcu_read_lock() sections (include/linux/rcupdate.h L83)."""
        return sum(1 for held in self._held if not held.is_spin)

    @property
    def preempt_depth(self) -> int:
        """preempt_disable() calls whose unit of preempt_count is still there."""
        return self._preempt_depth

    @property
    def bh_depth(self) -> int:
        """local_bh_disable() calls not yet undone."""
        return self._bh_depth

    @property
    def kind(self) -> str:
        """The context, innermost first: "nmi", "hardirq", "softirq" (serving one) or "task"."""
        if self.in_nmi():
            return "nmi"
        if self.in_hardirq():
            return "hardirq"
        if self.in_serving_softirq():
            return "softirq"
        return "task"

    # === predicates: include/linux/preempt.h L108–143, L186 ====================================
    def in_nmi(self) -> bool:
        """in_nmi(): nmi_count() != 0 (preempt.h L126)."""
        return bool(self._pc & NMI_MASK)

    def in_hardirq(self) -> bool:
        """in_hardirq(): hardirq_count() != 0, also true in an NMI (preempt.h L127)."""
        return bool(self._pc & HARDIRQ_MASK)

    def in_softirq(self) -> bool:
        """in_softirq(): softirq_count() != 0: serving a softirq or bh disabled (preempt.h L142)."""
        return bool(self._pc & SOFTIRQ_MASK)

    def in_serving_softirq(self) -> bool:
        """in_serving_softirq(): the SOFTIRQ_OFFSET bit, a softirq is running (preempt.h L128)."""
        return bool(self._pc & SOFTIRQ_OFFSET)

    def in_interrupt(self) -> bool:
        """in_interrupt(): irq_count() != 0: NMI, hardirq, softirq or bh disabled (L115, L143)."""
        return bool(self._pc & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK))

    def in_task(self) -> bool:
        """in_task(): not NMI, not hardirq, not serving a softirq (preempt.h L132)."""
        return not self._pc & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)

    def in_atomic(self) -> bool:
        """in_atomic(): preempt_count() != 0 (preempt.h L186)."""
        return self._pc != 0

    # === interrupts =============================================================================
    def irq_enter(self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE) -> list[Line]:
        """A hard interrupt arrives: HARDIRQ_OFFSET is added and interrupts are off in the handler.

        Mirrors irq_enter() → irq_enter_rcu() → __irq_enter_raw() (kernel/softirq.c L636–654,
        include/linux/hardirq.h L46–50); preempt_count_add() records irq_enter_rcu as where
        preemption got disabled.  Raises ValueError while interrupts are disabled: the CPU
        would keep the interrupt pending.
        """
        if self._irqs_disabled:
            raise ValueError("interrupts are disabled: the interrupt would stay pending")
        if self._pc & HARDIRQ_MASK == HARDIRQ_MASK:
            raise ValueError("hardirq nesting is full (HARDIRQ_BITS = 4)")
        out = _Out(taint_mask)
        self._frames.append(_Frame("hardirq", self._irqs_disabled, len(self._saves)))
        self._irqs_disabled = True  # the CPU clears IF when it takes the interrupt
        self._preempt_count_add(HARDIRQ_OFFSET, "irq_enter_rcu", trace, out)
        return out.lines

    def irq_exit(self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE) -> list[Line]:
        """The hard interrupt returns: HARDIRQ_OFFSET comes off and interrupts are as before.

        Mirrors irq_exit() → __irq_exit_rcu() (kernel/softirq.c L669–707), which disables
        interrupts and calls preempt_count_sub(HARDIRQ_OFFSET).  Without a hard interrupt to
        leave, that is "DEBUG_LOCKS_WARN_ON(val > preempt_count())" (kernel/sched/core.c L5750)
        and interrupts stay disabled.  Raises ValueError if an NMI or softirq is still inside.
        """
        out = _Out(taint_mask)
        if not self._frames or self._frames[-1].kind != "hardirq":
            if self._pc & HARDIRQ_MASK:
                raise ValueError(f"irq_exit() while an {self.kind} runs inside the hardirq")
            self._irqs_disabled = True  # __irq_exit_rcu(): local_irq_disable()
            self._preempt_count_sub(HARDIRQ_OFFSET, ["preempt_count_sub", "irq_exit", *trace], out)
            return out.lines
        frame = self._frames.pop()
        self._preempt_count_sub(HARDIRQ_OFFSET, ["preempt_count_sub", "irq_exit", *trace], out)
        self._leave_frame(frame)
        return out.lines

    def softirq_enter(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """A softirq starts being served: SOFTIRQ_OFFSET is added, interrupts are enabled.

        Mirrors __do_softirq() → softirq_handle_begin() (kernel/softirq.c L432–434, L572–580).
        Raises ValueError when in_interrupt(): the kernel would leave the softirq pending.
        """
        if self.in_interrupt():
            raise ValueError("in_interrupt(): the softirq would stay pending")
        out = _Out(taint_mask)
        self._frames.append(_Frame("softirq", self._irqs_disabled, len(self._saves)))
        self._preempt_count_add(SOFTIRQ_OFFSET, "__do_softirq", trace, out)
        self._set_irqs_disabled(False)  # handlers run with interrupts on (L580)
        return out.lines

    def softirq_exit(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """The softirq is done: SOFTIRQ_OFFSET comes off, interrupts are as before.

        Mirrors softirq_handle_end() (kernel/softirq.c L437–441): its WARN_ON_ONCE(in_interrupt())
        fires if a handler left bottom halves disabled.  Raises ValueError unless the innermost
        frame is a softirq.
        """
        if not self._frames or self._frames[-1].kind != "softirq":
            raise ValueError("softirq_exit() without a softirq being served")
        out = _Out(taint_mask)
        frame = self._frames.pop()
        self._pc -= SOFTIRQ_OFFSET  # __local_bh_enable(): __preempt_count_sub(), unchecked
        if self.in_interrupt():
            out.add(self._warn_once("kernel/softirq.c:440", ["__do_softirq", *trace], out.taint))
        self._leave_frame(frame)
        return out.lines

    def nmi_enter(self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE) -> list[Line]:
        """An NMI arrives, whatever the interrupt state: NMI_OFFSET + HARDIRQ_OFFSET are added.

        Mirrors nmi_enter() → __nmi_enter() (include/linux/hardirq.h L107–123), a raw add that
        does not record where preemption got disabled.  Raises ValueError when 15 NMIs are
        nested (the kernel's BUG_ON(in_nmi() == NMI_MASK)).
        """
        if self._pc & NMI_MASK == NMI_MASK or self._pc & HARDIRQ_MASK == HARDIRQ_MASK:
            raise ValueError("NMI nesting is full (BUG_ON(in_nmi() == NMI_MASK))")
        self._frames.append(_Frame("nmi", self._irqs_disabled, len(self._saves)))
        self._irqs_disabled = True
        self._pc += NMI_OFFSET + HARDIRQ_OFFSET
        return []

    def nmi_exit(self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE) -> list[Line]:
        """The NMI returns (include/linux/hardirq.h L125–131); ValueError unless in one."""
        if not self._frames or self._frames[-1].kind != "nmi":
            raise ValueError("nmi_exit() without an NMI (BUG_ON(!in_nmi()))")
        frame = self._frames.pop()
        self._pc -= NMI_OFFSET + HARDIRQ_OFFSET
        self._leave_frame(frame)
        return []

    # === bottom halves ==========================================================================
    def local_bh_disable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Softirqs may not run on this CPU: SOFTIRQ_DISABLE_OFFSET (0x200) is added.

        Mirrors local_bh_disable() → __local_bh_disable_ip() (include/linux/bottom_half.h
        L11–21, the !CONFIG_TRACE_IRQFLAGS inline: preempt_count_add(cnt)).
        """
        if (self._pc & SOFTIRQ_MASK) + SOFTIRQ_DISABLE_OFFSET > SOFTIRQ_MASK:
            raise ValueError("local_bh_disable() nesting would overflow SOFTIRQ_BITS")
        out = _Out(taint_mask)
        self._bh_depth += 1
        self._preempt_count_add(SOFTIRQ_DISABLE_OFFSET, trace[0], trace, out)
        return out.lines

    def local_bh_enable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Undo one local_bh_disable(); pending softirqs are not modelled.

        Mirrors __local_bh_enable_ip() (kernel/softirq.c L398–430): WARN_ON_ONCE(in_hardirq())
        at L400, then __preempt_count_sub(cnt - 1) unchecked and preempt_count_dec().  Without a
        matching local_bh_disable() the kernel's count goes wrong and preempt_count_sub() warns
        "DEBUG_LOCKS_WARN_ON(val > preempt_count())" when it went below zero (core.c L5750);
        the simulator prints that and keeps its count.
        """
        out = _Out(taint_mask)
        frames = ["__local_bh_enable_ip", *trace]
        if self.in_hardirq():
            out.add(self._warn_once("kernel/softirq.c:400", frames, out.taint))
        if not self._bh_depth:
            if self._pc < SOFTIRQ_DISABLE_OFFSET:  # after the unchecked sub, 1 > preempt_count()
                out.add(
                    self._debug_locks_warn(
                        5750, "val > preempt_count()", ["preempt_count_sub", *frames], out.taint
                    )
                )
            return out.lines
        self._bh_depth -= 1
        self._pc -= SOFTIRQ_DISABLE_OFFSET
        if not self._pc & SOFTIRQ_MASK and not self._irqs_disabled:
            self._mark_held(_ENABLED_SOFTIRQ)  # lockdep_softirqs_on() → mark_held_locks()
        return out.lines

    # === interrupt flags ========================================================================
    def local_irq_disable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Interrupts off (include/linux/irqflags.h L244, !CONFIG_TRACE_IRQFLAGS); never reports."""
        self._irqs_disabled = True
        return []

    def local_irq_enable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Interrupts on (irqflags.h L243); never reports, even in a handler or under a lock."""
        self._set_irqs_disabled(False)
        return []

    def local_irq_save(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Remember whether interrupts were off, then turn them off (irqflags.h L245).

        The flags the kernel keeps in the caller's variable are kept here on a stack, so
        saves and restores nest.
        """
        self._saves.append(self._irqs_disabled)
        self._irqs_disabled = True
        return []

    def local_irq_restore(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Put back the interrupt state of the innermost local_irq_save() (irqflags.h L246).

        raw_local_irq_restore() with interrupts enabled warns once, "raw_local_irq_restore()
        called with IRQs enabled" (irqflags.h L161–186, kernel/locking/irqflag-debug.c L10).
        Without a save in the current frame there are no flags to restore and nothing changes;
        if interrupts are already off, the kernel has no way to notice and nothing is printed.
        """
        out = _Out(taint_mask)
        if not self._irqs_disabled:
            out.add(self._bogus_irq_restore([], trace, out.taint))
        if len(self._saves) > self._save_base():
            self._set_irqs_disabled(self._saves.pop())
        return out.lines

    # === preemption =============================================================================
    def preempt_disable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Add 1 to preempt_count (include/linux/preempt.h L213, core.c preempt_count_add L5712)."""
        self._check_preempt_room(PREEMPT_OFFSET)
        out = _Out(taint_mask)
        self._preempt_depth += 1
        self._preempt_count_add(PREEMPT_OFFSET, trace[0], trace, out)
        return out.lines

    def preempt_enable(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Take 1 off preempt_count (preempt.h L230, core.c preempt_count_sub L5744–5762).

        With nothing to take, DEBUG_LOCKS_WARN_ON() warns: at L5750 when preempt_count() is 0,
        at L5755 when only other fields (softirq, hardirq) are set.  If only a spinlock keeps
        the count up, the kernel cannot tell and takes the lock's unit, silently.
        """
        out = _Out(taint_mask)
        if self._preempt_count_sub(PREEMPT_OFFSET, ["preempt_count_sub", *trace], out):
            self._take_preempt_unit("preempt")
        return out.lines

    # === spinlocks ==============================================================================
    def spin_lock(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Take spinlock ``name``: preempt_disable(), then the lock (spinlock_api_smp.h L130).

        Taking a lock already held is lockdep's "possible recursive locking detected"
        (kernel/locking/lockdep.c L3011–3041); a real CPU then spins forever, the simulator
        returns with nothing changed.
        """
        return self._lock(name, "spin_lock", taint_mask, trace)

    def spin_lock_irq(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """local_irq_disable(), preempt_disable(), take ``name`` (spinlock_api_smp.h L115–121)."""
        return self._lock(name, "spin_lock_irq", taint_mask, trace)

    def spin_lock_irqsave(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """local_irq_save(), preempt_disable(), take ``name`` (spinlock_api_smp.h L104–112).

        The saved interrupt state is kept with the lock and spin_unlock_irqrestore() puts it back.
        """
        return self._lock(name, "spin_lock_irqsave", taint_mask, trace)

    def spin_unlock(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Release ``name``, then preempt_enable() (spinlock_api_smp.h L139–144).

        Releasing out of order is legal: lockdep's __lock_release() (lockdep.c L5441–5469)
        finds the lock anywhere in the held stack, and only that lock leaves the list.  A lock
        that is not held is "WARNING: bad unlock balance detected!" (lockdep.c L5204–5229).
        """
        return self._unlock(name, "spin_unlock", taint_mask, trace)

    def spin_unlock_irq(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Release ``name``, local_irq_enable(), preempt_enable() (spinlock_api_smp.h L155–160)."""
        return self._unlock(name, "spin_unlock_irq", taint_mask, trace)

    def spin_unlock_irqrestore(
        self, name: str, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Release ``name``, restore the irq state saved with it, preempt_enable() (L146–153).

        A lock taken without saving flags leaves the interrupt state alone.
        """
        return self._unlock(name, "spin_unlock_irqrestore", taint_mask, trace)

    # === RCU ====================================================================================
    def rcu_read_lock(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Open an RCU read-side section: the nesting count goes up, preempt_count does not.

        Mirrors rcu_read_lock() (include/linux/rcupdate.h L787–794) → __rcu_read_lock()
        (kernel/rcu/tree_plugin.h L400), with rcu_lock_map on lockdep's held stack.
        """
        self._held.append(_Held(RCU_LOCK_NAME, "rcu_read_lock", trace[0]))
        return []

    def rcu_read_unlock(
        self, *, taint_mask: int = 0, trace: Sequence[str] = DEFAULT_TRACE
    ) -> list[Line]:
        """Close the innermost RCU read-side section (rcupdate.h L818–825).

        Without one, __rcu_read_unlock() warns once (tree_plugin.h L431, the nesting went to
        -1) and lockdep reports a bad unlock of rcu_read_lock; the simulator keeps depth 0.
        """
        out = _Out(taint_mask)
        for index in range(len(self._held) - 1, -1, -1):
            if not self._held[index].is_spin:
                del self._held[index]
                return out.lines
        out.add(
            self._warn_once(
                "kernel/rcu/tree_plugin.h:431", ["__rcu_read_unlock", *trace], out.taint
            )
        )
        out.add(self._unlock_imbalance(RCU_LOCK_NAME, ["lock_release"], trace, out.taint))
        return out.lines

    # === might_sleep ============================================================================
    def might_sleep_report(
        self, file: str, line: int, taint_mask: int, trace: list[str]
    ) -> list[Line] | None:
        """None if sleeping is allowed here, else the lines __might_resched() prints.

        Mirrors kernel/sched/core.c L9975–10023 with offsets 0 (might_sleep()): sleeping is
        allowed when preempt_count() + (rcu_preempt_depth() << 8) is 0 (resched_offsets_ok(),
        L9966–9973) and interrupts are enabled; so an RCU read-side section alone is reported.
        rcu_sleep_check() is lockdep-only, debug_show_held_locks() and print_irqtrace_events()
        are empty stubs in this configuration (see the module docstring).  "Preemption disabled
        at:" (print_preempt_disable_ip(), L9954–9964) follows when preempt_count() is not 0.
        ``trace`` are the frames from the function that called might_sleep() outwards,
        innermost first.  Rate limiting (once per HZ, L9991) is the caller's.
        """
        nested = self._pc + (self.rcu_depth << MIGHT_RESCHED_RCU_SHIFT)
        if nested == 0 and not self._irqs_disabled:
            return None
        lines: list[Line] = [
            (KERN_ERR, f"BUG: sleeping function called from invalid context at {file}:{line}"),
            (
                KERN_ERR,
                f"in_atomic(): {int(self.in_atomic())}, "
                f"irqs_disabled(): {int(self._irqs_disabled)}, non_block: 0, "
                f"pid: {self.pid}, name: {self.comm}",
            ),
            (KERN_ERR, f"preempt_count: {self._pc:x}, expected: 0"),
            (KERN_ERR, f"RCU nest depth: {self.rcu_depth}, expected: 0"),
        ]
        if self._pc != 0:
            lines.append((KERN_ERR, "Preemption disabled at:"))
            lines.append((KERN_ERR, print_ip_sym(self._preempt_disable_ip)))
        lines += dump_stack(
            KERN_DEFAULT_LEVEL,
            self.comm,
            self.pid,
            taint_mask,
            ["dump_stack_lvl", "__might_resched.cold", *trace],  # the report is its cold part
        )
        return lines

    # === words ==================================================================================
    def explain(self, gfp_text: str) -> str:
        """Why an allocation with ``gfp_text`` may or may not sleep here, and the fix.

        The most specific reason comes first (NMI, hardirq, softirq, spinlock, interrupts off,
        bottom halves off, preemption off, RCU read-side); the others are listed after it.
        """
        try:
            blocking = gfpflags_allow_blocking(parse_gfp(gfp_text))
        except (TypeError, ValueError):
            blocking = True  # an unknown spelling: assume it may sleep
        reasons = self._reasons()
        pc = f"preempt_count {self._pc:#x}"
        if not blocking:
            if self.in_nmi():
                return (
                    f"{gfp_text} never sleeps, but this code runs in NMI context ({pc}): the page "
                    "allocator takes zone locks that the interrupted code may be holding, so even "
                    "an atomic allocation can deadlock in an NMI handler. Allocate the memory "
                    "beforehand and only use it in the handler."
                )
            return (
                f"{gfp_text} never sleeps (it has no __GFP_DIRECT_RECLAIM), so it is allowed in "
                "this context; it fails rather than wait when memory is short, so check the "
                "result for NULL."
            )
        if not reasons:
            return (
                f"{gfp_text} may sleep to reclaim memory, and that is allowed here: {self.comm} "
                f"(pid {self.pid}) runs in process context with preemption and interrupts "
                "enabled, no spinlock held and no RCU read-side section open."
            )
        head = f"{gfp_text} may sleep to reclaim memory, but this code runs "
        primary = reasons[0]
        spins = [held for held in self._held if held.is_spin]
        if primary == "nmi":
            text = (
                f"{head}in NMI context ({pc}): an NMI can arrive in the middle of anything, even "
                "the allocator itself, so an NMI handler must never sleep and must not allocate "
                "at all. Allocate the memory beforehand and only use it in the handler."
            )
        elif primary == "hardirq":
            text = (
                f"{head}in hard interrupt context ({pc}): an interrupt handler must never sleep. "
                "Use GFP_ATOMIC, or allocate before the interrupt arrives."
            )
        elif primary == "softirq":
            text = (
                f"{head}in softirq context ({pc}): a bottom half borrows whichever task it "
                "interrupted and must never sleep. Use GFP_ATOMIC, or move the work to a "
                "workqueue, which runs in process context."
            )
        elif primary == "spinlock":
            names = [f"'{held.name}'" for held in spins]
            which = (
                f"spinlock {names[0]}"
                if len(names) == 1
                else f"spinlocks {', '.join(names[:-1])} and {names[-1]}"
            )
            outer = spins[0]
            irq_note = (
                f", taken with {outer.api}() so interrupts are off too"
                if outer.api != "spin_lock"
                else ""
            )
            text = (
                f"{head}while holding {which} ({pc}{irq_note}): sleeping with a spinlock held can "
                "deadlock, because another task that wants the lock spins and never lets the "
                f"holder run again. Use GFP_ATOMIC, or move the allocation before {outer.api}()."
            )
        elif primary == "irqs":
            how = "local_irq_save()" if self._saves else "local_irq_disable()"
            text = (
                f"{head}with interrupts disabled ({how}): with interrupts off nothing can wake "
                "the task up again or switch to another one. Use GFP_ATOMIC, or allocate before "
                "disabling interrupts."
            )
        elif primary == "bh":
            text = (
                f"{head}with bottom halves disabled (local_bh_disable(), {pc}): that disables "
                "preemption too, so the task cannot sleep. Use GFP_ATOMIC, or allocate before "
                "local_bh_disable()."
            )
        elif primary == "preempt":
            text = (
                f"{head}with preemption disabled (preempt_disable(), {pc}): a task that cannot "
                "be preempted cannot sleep either. Use GFP_ATOMIC, or allocate before "
                "preempt_disable()."
            )
        else:  # "rcu"
            text = (
                f"{head}inside an RCU read-side critical section (rcu_read_lock(), nesting depth "
                f"{self.rcu_depth}): a reader may be preempted but must not sleep, or grace "
                "periods stall and freed memory is never reclaimed. Use GFP_ATOMIC, or allocate "
                "before rcu_read_lock()."
            )
        others = [_REASON_WORDS[reason] for reason in reasons[1:]]
        if primary == "spinlock" and spins[0].api != "spin_lock" and "irqs" in reasons:
            others.remove(_REASON_WORDS["irqs"])  # already said
        if others:
            text += " Also: " + "; ".join(others) + "."
        return text

    def describe(self) -> str:
        """One line for a view: who runs, in which context, what is off and held, the count."""
        parts = [f"{self.comm} (pid {self.pid}) in {self.kind}"]
        if self._irqs_disabled:
            parts.append("irqs off")
        if self._bh_depth:
            parts.append("bh off")
        if self._preempt_depth:
            parts.append(
                "preempt off" + (f" x{self._preempt_depth}" if self._preempt_depth > 1 else "")
            )
        if self.held_locks:
            parts.append("holding " + ", ".join(self.held_locks))
        if self.rcu_depth:
            parts.append(f"rcu depth {self.rcu_depth}")
        return ", ".join(parts) + f"; preempt_count {self._pc:#x}"

    def snapshot(self) -> ContextSnapshot:
        """The context now, frozen, for an event to carry."""
        return ContextSnapshot(
            self.comm,
            self.pid,
            self._pc,
            self._irqs_disabled,
            self.held_locks,
            self.rcu_depth,
            self.kind,
        )

    # === internals ==============================================================================
    def _reasons(self) -> list[str]:
        """Why sleeping is not allowed, most specific first."""
        reasons = []
        if self.in_nmi():
            reasons.append("nmi")
        elif self.in_hardirq():
            reasons.append("hardirq")
        if self.in_serving_softirq():
            reasons.append("softirq")
        if self.held_locks:
            reasons.append("spinlock")
        if self._irqs_disabled and not self.in_hardirq():
            reasons.append("irqs")
        if self._bh_depth:
            reasons.append("bh")
        if self._preempt_depth:
            reasons.append("preempt")
        if self.rcu_depth:
            reasons.append("rcu")
        return reasons

    def _check_preempt_room(self, val: int) -> None:
        """Refuse an add that would carry into the next field (the kernel would corrupt it)."""
        if (self._pc & PREEMPT_MASK) + (val & PREEMPT_MASK) > PREEMPT_MASK:
            raise ValueError("preempt_count's preempt field would overflow (PREEMPT_BITS = 8)")

    def _preempt_count_add(self, val: int, ip: str, trace: Sequence[str], out: _Out) -> None:
        """preempt_count_add() with CONFIG_DEBUG_PREEMPT (kernel/sched/core.c L5701–5730)."""
        self._pc += val
        if (self._pc & PREEMPT_MASK) >= PREEMPT_MASK - 10:
            out.add(
                self._debug_locks_warn(
                    5726,
                    "(preempt_count() & PREEMPT_MASK) >= PREEMPT_MASK - 10",
                    ["preempt_count_add", *trace],
                    out.taint,
                )
            )
        if self._pc == val:  # preempt_latency_start(): preemption just got disabled
            self._preempt_disable_ip = ip

    def _preempt_count_sub(self, val: int, frames: list[str], out: _Out) -> bool:
        """preempt_count_sub(), CONFIG_DEBUG_PREEMPT (core.c L5744–5762); True if it subtracted."""
        if val > self._pc:
            out.add(self._debug_locks_warn(5750, "val > preempt_count()", frames, out.taint))
            return False
        if val < PREEMPT_MASK and not self._pc & PREEMPT_MASK:
            out.add(
                self._debug_locks_warn(
                    5755,
                    "(val < PREEMPT_MASK) && !(preempt_count() & PREEMPT_MASK)",
                    frames,
                    out.taint,
                )
            )
            return False
        self._pc -= val
        return True

    def _take_preempt_unit(self, owner: _Held | str | None) -> None:
        """Book one unit of preempt_count that just went, to its owner or, as the kernel, anyone."""
        if isinstance(owner, _Held) and owner.counted:
            owner.counted = False
            return
        if self._preempt_depth:
            self._preempt_depth -= 1
            return
        for held in reversed(self._held):
            if held.counted:
                held.counted = False
                return
        raise AssertionError("preempt_count had a unit nobody owns")  # pragma: no cover

    def _save_base(self) -> int:
        return self._frames[-1].save_base if self._frames else 0

    def _leave_frame(self, frame: _Frame) -> None:
        """Back to the interrupted code: its flags, its interrupt state."""
        del self._saves[frame.save_base :]
        self._set_irqs_disabled(frame.saved_irqs_disabled)

    def _set_irqs_disabled(self, disabled: bool) -> None:
        if self._irqs_disabled and not disabled:  # lockdep_hardirqs_on() → mark_held_locks()
            self._irqs_disabled = False
            self._mark_held(_ENABLED_HARDIRQ)
            if not self._pc & SOFTIRQ_MASK:
                self._mark_held(_ENABLED_SOFTIRQ)
        self._irqs_disabled = disabled

    def _mark_held(self, bit: str) -> None:
        for held in self._held:
            if held.is_spin:
                self._usage.setdefault(held.name, set()).add(bit)

    def _mark_usage(self, name: str, irqs_off: bool) -> None:
        """mark_usage() (kernel/locking/lockdep.c L4571–4621) for a write lock being taken."""
        usage = self._usage.setdefault(name, set())
        if self.in_hardirq():
            usage.add(_USED_IN_HARDIRQ)
        if self.in_serving_softirq():
            usage.add(_USED_IN_SOFTIRQ)
        if not irqs_off:
            usage.add(_ENABLED_HARDIRQ)
            if not self._pc & SOFTIRQ_MASK:
                usage.add(_ENABLED_SOFTIRQ)

    def _usage_chars(self, held: _Held) -> str:
        """get_usage_chars() (lockdep.c L673–710): hardirq, hardirq-read, softirq, softirq-read."""
        if not held.is_spin:
            return "{....}"  # rcu_lock_acquire() passes check=0: no usage is recorded
        usage = self._usage.get(held.name, set())

        def char(used_in: str, enabled: str) -> str:
            if enabled in usage:
                return "?" if used_in in usage else "+"
            return "-" if used_in in usage else "."

        hardirq = char(_USED_IN_HARDIRQ, _ENABLED_HARDIRQ)
        softirq = char(_USED_IN_SOFTIRQ, _ENABLED_SOFTIRQ)
        return "{" + hardirq + "." + softirq + ".}"

    def _print_lock(self, held: _Held) -> str:
        """print_lock() (lockdep.c L757–779): address, (name){usage}-{wait types}, at: ip."""
        waits = _SPIN_WAIT_TYPES if held.is_spin else _RCU_WAIT_TYPES
        return (
            f"{lock_address(held.name):016x} ({held.name}){self._usage_chars(held)}-{waits}, "
            f"at: {symbol(held.acquire_ip)}"
        )

    def _held_locks_listing(self) -> list[Line]:
        """lockdep_print_held_locks() (lockdep.c L781–800)."""
        depth = len(self._held)
        who = f"{self.comm}/{self.pid}"
        if not depth:
            return [(KERN_DEFAULT_LEVEL, f"no locks held by {who}.")]
        lines = [(KERN_DEFAULT_LEVEL, f"{depth} lock{'s' if depth > 1 else ''} held by {who}:")]
        lines += [
            (KERN_DEFAULT_LEVEL, f" #{index}: {self._print_lock(held)}")
            for index, held in enumerate(self._held)
        ]
        return lines

    def _kernel_ident(self, taint: int) -> Line:
        """print_kernel_ident() (lockdep.c L802–808): release, version up to a space, taint."""
        return KERN_WARNING, f"{UTS_RELEASE} {UTS_VERSION.split(' ')[0]} {print_tainted(taint)}"

    def _debug_locks_off(self) -> bool:
        """debug_locks_off() (lib/debug_locks.c L39): True only for the first caller."""
        was_on, self.debug_locks = self.debug_locks, False
        return was_on

    def _debug_locks_warn(
        self, line: int, condition: str, frames: list[str], taint: int
    ) -> list[Line]:
        """DEBUG_LOCKS_WARN_ON(condition) in kernel/sched/core.c (debug_locks.h L24–36).

        Only a kernel with CONFIG_DEBUG_PREEMPT has these checks; without it the simulator
        still keeps its count sane, silently.
        """
        if not self.debug_preempt or not self._debug_locks_off():
            return []
        return warning(
            f"kernel/sched/core.c:{line}",
            self.comm,
            self.pid,
            taint,
            frames,
            f"DEBUG_LOCKS_WARN_ON({condition})",
        )

    def _warn_once(
        self, location: str, frames: list[str], taint: int, message: str = ""
    ) -> list[Line]:
        """WARN_ON_ONCE() / WARN_ONCE(): the first time per boot only."""
        if location in self._warned_once:
            return []
        self._warned_once.add(location)
        return warning(location, self.comm, self.pid, taint, frames, message)

    def _bogus_irq_restore(self, inner: list[str], trace: Sequence[str], taint: int) -> list[Line]:
        """warn_bogus_irq_restore() (kernel/locking/irqflag-debug.c L7–12)."""
        return self._warn_once(
            "kernel/locking/irqflag-debug.c:10",
            ["warn_bogus_irq_restore", *inner, *trace],
            taint,
            "raw_local_irq_restore() called with IRQs enabled",
        )

    def _unlock_imbalance(
        self, name: str, inner: list[str], trace: Sequence[str], taint: int
    ) -> list[Line]:
        """print_unlock_imbalance_bug() (kernel/locking/lockdep.c L5204–5229)."""
        if not self._debug_locks_off():
            return []
        w = KERN_WARNING
        lines = [
            (w, ""),
            (w, "====================================="),
            (w, "WARNING: bad unlock balance detected!"),
            self._kernel_ident(taint),
            (w, "-------------------------------------"),
            (w, f"{self.comm}/{self.pid} is trying to release lock ({name}) at:"),
            (w, print_ip_sym(trace[0])),
            (w, "but there are no more locks to release!"),
            (w, ""),
            (w, "other info that might help us debug this:"),
        ]
        lines += self._held_locks_listing()
        lines += [(w, ""), (w, "stack backtrace:")]
        lines += dump_stack(
            KERN_DEFAULT_LEVEL,
            self.comm,
            self.pid,
            taint,
            ["dump_stack_lvl", "print_unlock_imbalance_bug", *inner, *trace],
        )
        return lines

    def _recursive_locking(
        self, prev: _Held, nxt: _Held, lock_fn: str, trace: Sequence[str], taint: int
    ) -> list[Line]:
        """print_deadlock_bug() and print_deadlock_scenario() (lockdep.c L2992–3041)."""
        if not self._debug_locks_off():
            return []
        d = KERN_DEFAULT_LEVEL
        lines = [
            (KERN_WARNING, ""),
            (KERN_WARNING, "============================================"),
            (KERN_WARNING, "WARNING: possible recursive locking detected"),
            self._kernel_ident(taint),
            (KERN_WARNING, "--------------------------------------------"),
            (KERN_WARNING, f"{self.comm}/{self.pid} is trying to acquire lock:"),
            (d, self._print_lock(nxt)),
            (KERN_WARNING, ""),
            (KERN_WARNING, "but task is already holding lock:"),
            (d, self._print_lock(prev)),
            (KERN_WARNING, ""),
            (KERN_WARNING, "other info that might help us debug this:"),
            (d, " Possible unsafe locking scenario:"),
            (d, ""),
            (d, "       CPU0"),
            (d, "       ----"),
            (d, f"  lock({prev.name});"),
            (d, f"  lock({nxt.name});"),
            (d, ""),
            (d, " *** DEADLOCK ***"),
            (d, ""),
            (d, " May be due to missing lock nesting notation"),
            (d, ""),
        ]
        lines += self._held_locks_listing()
        lines += [(KERN_WARNING, ""), (KERN_WARNING, "stack backtrace:")]
        lines += dump_stack(
            d,
            self.comm,
            self.pid,
            taint,
            ["dump_stack_lvl", "__lock_acquire", "lock_acquire", lock_fn, *trace],
        )
        return lines

    def _lock(self, name: str, api: str, taint: int, trace: Sequence[str]) -> list[Line]:
        """__raw_spin_lock*() (include/linux/spinlock_api_smp.h L104–135)."""
        out = _Out(taint)
        lock_fn = _LOCK_FUNCTIONS[api]
        irqs_off = self._irqs_disabled or api != "spin_lock"
        for held in self._held:
            if held.is_spin and held.name == name:  # check_deadlock(), lockdep.c L3054
                self._mark_usage(name, irqs_off)
                nxt = _Held(name, api, trace[0])
                out.add(self._recursive_locking(held, nxt, lock_fn, trace, out.taint))
                return out.lines
        self._check_preempt_room(PREEMPT_OFFSET)
        saved = None
        if api == "spin_lock_irqsave":
            saved = self._irqs_disabled
        if api != "spin_lock":
            self._irqs_disabled = True
        # preempt_disable() inside _raw_spin_lock*(): get_lock_parent_ip() skips lock functions
        self._preempt_count_add(PREEMPT_OFFSET, trace[0], [lock_fn, *trace], out)
        self._mark_usage(name, irqs_off)
        self._held.append(_Held(name, api, trace[0], saved, counted=True))
        return out.lines

    def _unlock(self, name: str, api: str, taint: int, trace: Sequence[str]) -> list[Line]:
        """__raw_spin_unlock*() (include/linux/spinlock_api_smp.h L139–160)."""
        out = _Out(taint)
        unlock_fn = _LOCK_FUNCTIONS[api]
        entry = None
        for index in range(len(self._held) - 1, -1, -1):  # find_held_lock(): innermost first
            held = self._held[index]
            if held.is_spin and held.name == name:
                entry = self._held.pop(index)
                break
        if entry is None:  # spin_release() → lock_release() → __lock_release()
            out.add(self._unlock_imbalance(name, ["lock_release", unlock_fn], trace, out.taint))
        if api == "spin_unlock_irqrestore":
            if not self._irqs_disabled:
                out.add(self._bogus_irq_restore([unlock_fn], trace, out.taint))
            if entry is not None and entry.saved_irqs_disabled is not None:
                self._set_irqs_disabled(entry.saved_irqs_disabled)
        elif api == "spin_unlock_irq":
            self._set_irqs_disabled(False)
        if self._preempt_count_sub(PREEMPT_OFFSET, ["preempt_count_sub", unlock_fn, *trace], out):
            self._take_preempt_unit(entry)
        return out.lines


_REASON_WORDS = {
    "nmi": "it runs in an NMI",
    "hardirq": "it runs in a hard interrupt",
    "softirq": "it runs in a softirq",
    "spinlock": "a spinlock is held",
    "irqs": "interrupts are disabled",
    "bh": "bottom halves are disabled",
    "preempt": "preemption is disabled",
    "rcu": "an RCU read-side section is open",
}
