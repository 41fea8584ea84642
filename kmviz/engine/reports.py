"""Kernel splats as lines of text: BUG(), WARN(), bad_page() and the stack dump they end with.

The formats are those of Linux 6.1: ``dump_stack_print_info()`` (lib/dump_stack.c),
``print_tainted()`` (kernel/panic.c), ``report_bug()`` (lib/bug.c), ``__warn()``
(kernel/panic.c), x86's ``die()`` and ``show_regs()`` (arch/x86/kernel/dumpstack.c,
process_64.c), ``bad_page()`` and ``__dump_page()`` (mm/page_alloc.c, mm/debug.c).  The
simulated kernel has no binary, so some of it is made up, always the same way for the same
input: the ``+0x1c/0x60`` offsets in call traces, the ``Code:`` bytes around the ``<0f> 0b``
(ud2) that BUG() and WARN() really compile to, and the registers, which hold the call's
arguments where kmviz knows them and 0 elsewhere.  A real oops also prints the segment and
control registers (``FS:``, ``CS:``, ``CR2:``, ``PKRU:``); kmviz leaves those lines out.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from .constants import STRUCT_PAGE_SIZE, VMEMMAP_START
from .printk import KERN_ALERT, KERN_CRIT, KERN_WARNING

UTS_RELEASE = "6.1.192-kmviz"
UTS_VERSION = "#1"
HARDWARE_NAME = "kmviz simulated PC (x86-64), BIOS kmviz 11/25/2026"
CUT_HERE = "------------[ cut here ]------------"

# taint_flags[] of kernel/panic.c: (bit, letter when set, letter when clear)
TAINT_PROPRIETARY_MODULE = 0
TAINT_BAD_PAGE = 5
TAINT_DIE = 7
TAINT_WARN = 9
_TAINT_LETTERS = (
    ("P", "G"), ("F", " "), ("S", " "), ("R", " "), ("M", " "), ("B", " "), ("U", " "),
    ("D", " "), ("A", " "), ("W", " "), ("C", " "), ("I", " "), ("O", " "), ("E", " "),
    ("L", " "), ("K", " "), ("X", " "), ("T", " "), ("N", " "),
)  # fmt: skip

# page flag bits (enum pageflags, include/linux/page-flags.h) and the fields above them
PG_SLAB = 9
PG_RESERVED = 12
PG_HEAD = 16
ZONES_PGSHIFT = 51
LAST_CPUPID_PGSHIFT = 30
LAST_CPUPID_MASK = 0x1FFFFF
PAGE_BUDDY_MAPCOUNT = -128  # page_mapcount() of a PageBuddy page: page_type PG_buddy, plus 1
LIST_POISON1 = 0xDEAD000000000100
LIST_POISON2 = 0xDEAD000000000122

Line = tuple[int, str]


def print_tainted(taint_mask: int) -> str:
    """``Not tainted`` or ``Tainted: G    B   …`` with one letter per taint bit."""
    if not taint_mask:
        return "Not tainted"
    letters = "".join(
        on if taint_mask >> bit & 1 else off for bit, (on, off) in enumerate(_TAINT_LETTERS)
    )
    return "Tainted: " + letters


def symbol(function: str) -> str:
    """``function+0xoff/0xsize [module]`` as %pS prints a return address in ``function``.

    ``function`` may carry its module after a space: "lesson_init [lesson]".
    """
    name, _, module = function.partition(" ")
    digest = zlib.crc32(name.encode())
    size = 0x40 + (digest & 0x3F0)
    offset = 0x10 + (digest >> 12) % (size - 0x10)
    return f"{name}+{offset:#x}/{size:#x}" + (f" {module}" if module else "")


def hashed_pointer(value: int, seed: int | None) -> str:
    """A pointer as plain %p prints it since 4.15: a per-boot hash, 16 hex digits.

    ``seed`` None is no_hash_pointers (lib/vsprintf.c L846), which slub_debug turns on: the
    pointer itself.
    """
    if value == 0:
        return "0000000000000000"
    if seed is None:
        return f"{value:016x}"
    digest = zlib.crc32(value.to_bytes(8, "little"), seed & 0xFFFFFFFF)
    return f"{(digest << 4 | (value >> 12 & 0xF)) & 0xFFFFFFFF:016x}"


INTERRUPT_ENTRY = "asm_common_interrupt"  # where an interrupt entered, on the task's stack

# What x86 prints for a trap in kernel code (show_regs(), arch/x86/kernel/process_64.c
# __show_regs()): kernel code segment 0x10, kernel stack segment 0x18, interrupts on.
KERNEL_CS = 0x10
KERNEL_SS = 0x18
EFLAGS_AT_TRAP = 0x246  # IF | ZF | PF, as the captures show
TASK_STACKS = 0xFFFFC90000000000  # VMALLOC_START: task stacks are vmalloc'd (CONFIG_VMAP_STACK)
THREAD_SIZE = 0x4000  # 16 KiB kernel stack per task
ARGUMENT_REGISTERS = ("RDI", "RSI", "RDX", "RCX", "R08", "R09")  # the x86-64 calling convention
CODE_BYTES_BEFORE = 42  # show_opcodes(): PROLOGUE_SIZE bytes before the faulting instruction
CODE_BYTES_AFTER = 20  # and the rest of the 64 after the two bytes of ud2


def code_line(function: str) -> str:
    """``Code: … <0f> 0b …``: 64 bytes around RIP, the ud2 of BUG()/WARN() marked.

    Only ``0f 0b`` is real; the bytes around it are made up from the function's name.
    """
    seed = zlib.crc32(("code:" + function).encode())
    made_up = []
    for _ in range(CODE_BYTES_BEFORE + CODE_BYTES_AFTER):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        made_up.append(seed >> 16 & 0xFF)
    before = " ".join(f"{b:02x}" for b in made_up[:CODE_BYTES_BEFORE])
    after = " ".join(f"{b:02x}" for b in made_up[CODE_BYTES_BEFORE:])
    return f"Code: {before} <0f> 0b {after}"


def register_lines(function: str, pid: int, args: Sequence[int] = ()) -> list[str]:
    """``RIP:``, ``Code:``, ``RSP:`` and the general registers at a BUG()/WARN() in ``function``.

    ``args`` are the call's arguments (gfp mask, order, address …), in RDI, RSI … as the
    calling convention passes them; the compiler typically keeps the first two in RBX and RBP
    across calls, as the captures show (RBX 0xcc0, RBP 0xb for alloc_pages(GFP_KERNEL, 11)).
    RSP lies near the top of the task's 16 KiB stack; everything else reads 0.
    """
    regs = dict.fromkeys(("RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP",
                          "R08", "R09", "R10", "R11", "R12", "R13", "R14", "R15"), 0)  # fmt: skip
    for name, value in zip(ARGUMENT_REGISTERS, args, strict=False):
        regs[name] = value & (1 << 64) - 1
    regs["RBX"], regs["RBP"] = regs["RDI"], regs["RSI"]
    rsp = TASK_STACKS + (pid % 0x10000) * THREAD_SIZE + THREAD_SIZE - 0x488
    regs["R09"] = regs["R09"] or rsp - 0x108  # a pointer into the same stack, as in the captures
    rows = [("RAX", "RBX", "RCX"), ("RDX", "RSI", "RDI"), ("RBP", "R08", "R09"),
            ("R10", "R11", "R12"), ("R13", "R14", "R15")]  # fmt: skip
    return [
        f"RIP: {KERNEL_CS:04x}:{symbol(function)}",
        code_line(function),
        f"RSP: {KERNEL_SS:04x}:{rsp:016x} EFLAGS: {EFLAGS_AT_TRAP:08x}",
        *(" ".join(f"{name}: {regs[name]:016x}" for name in row) for row in rows),
    ]


def _who(level: int, comm: str, pid: int, taint_mask: int) -> list[Line]:
    """dump_stack_print_info(): the ``CPU: … Comm: …`` and ``Hardware name:`` lines."""
    return [
        (level, f"CPU: 0 PID: {pid} Comm: {comm[:20]} {print_tainted(taint_mask)} "
                f"{UTS_RELEASE} {UTS_VERSION}"),
        (level, f"Hardware name: {HARDWARE_NAME}"),
    ]  # fmt: skip


def dump_stack(
    level: int, comm: str, pid: int, taint_mask: int, trace: Sequence[str]
) -> list[Line]:
    """The stack dump that ends every splat: who was running, then the call trace."""
    return _who(level, comm, pid, taint_mask) + call_trace(level, trace)


def call_trace(level: int, trace: Sequence[str]) -> list[Line]:
    """``Call Trace:`` and the frames, innermost first.

    An interrupt runs on the CPU's IRQ stack, so x86's show_trace_log_lvl()
    (arch/x86/kernel/dumpstack.c) prints its frames between ``<IRQ>`` and ``</IRQ>``, then the
    interrupted task's, from the entry stub ``asm_common_interrupt`` on, between ``<TASK>``
    and ``</TASK>``.
    """
    lines = [(level, "Call Trace:")]
    frames = list(trace)
    if INTERRUPT_ENTRY in frames:
        split = frames.index(INTERRUPT_ENTRY)
        lines.append((level, " <IRQ>"))
        lines += [(level, " " + symbol(function)) for function in frames[:split]]
        lines.append((level, " </IRQ>"))
        frames = frames[split:]
    lines.append((level, " <TASK>"))
    lines += [(level, " " + symbol(function)) for function in frames]
    lines.append((level, " </TASK>"))
    return lines


def kernel_bug(
    location: str,
    comm: str,
    pid: int,
    taint_mask: int,
    trace: Sequence[str],
    args: Sequence[int] = (),
) -> list[Line]:
    """What BUG() / VM_BUG_ON() prints: ``kernel BUG at file:line!`` and x86's oops.

    ``trace[0]`` is the function that hit the BUG: die() shows it in ``RIP:`` and the call
    trace starts at its caller (a caller that tail-called it is not on the stack).  After the
    trace, the modules, the end marker and, as oops_end() does, the registers once more.
    """
    w = KERN_WARNING
    regs = [(w, text) for text in register_lines(trace[0], pid, args)]
    lines = [
        (w, CUT_HERE),
        (KERN_CRIT, f"kernel BUG at {location}!"),
        (w, "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"),
        *_who(w, comm, pid, taint_mask),
        *regs,
        *call_trace(w, trace[1:]),
        (w, "Modules linked in:"),
        (w, "---[ end trace 0000000000000000 ]---"),
        *regs,
    ]
    return lines


def warning(
    location: str,
    comm: str,
    pid: int,
    taint_mask: int,
    trace: Sequence[str],
    message: str = "",
    args: Sequence[int] = (),
) -> list[Line]:
    """What WARN_ON() / WARN() prints: ``WARNING: CPU: 0 PID: … at file:line function``.

    Mirrors __warn() (kernel/panic.c): the modules, show_regs() (who, ``RIP:`` in
    ``trace[0]``, the registers) and the call trace, which starts at the caller.
    """
    w = KERN_WARNING
    lines = [(w, CUT_HERE)]
    if message:
        lines.append((w, message))
    lines += [
        (w, f"WARNING: CPU: 0 PID: {pid} at {location} {symbol(trace[0])}"),
        (w, "Modules linked in:"),
        *_who(w, comm, pid, taint_mask),
        *((w, text) for text in register_lines(trace[0], pid, args)),
        *call_trace(w, trace[1:]),
        (w, "---[ end trace 0000000000000000 ]---"),
    ]
    return lines


def page_flags(
    zone_idx: int, reserved: bool, slab: bool = False, head: bool = False
) -> tuple[int, str]:
    """page->flags and how %pGp prints it: named flags, then node/zone/lastcpupid fields.

    The names come in pageflag_names[] order (include/trace/events/mmflags.h), which is the
    bits' order: ``0xfffffc0010200(slab|head|node=0|zone=1|lastcpupid=0x1fffff)``.
    """
    value = zone_idx << ZONES_PGSHIFT | LAST_CPUPID_MASK << LAST_CPUPID_PGSHIFT
    names = []
    for bit, name, on in ((PG_SLAB, "slab", slab), (PG_RESERVED, "reserved", reserved),
                          (PG_HEAD, "head", head)):  # fmt: skip
        if on:
            value |= 1 << bit
            names.append(name)
    names += ["node=0", f"zone={zone_idx}", f"lastcpupid={LAST_CPUPID_MASK:#x}"]
    return value, f"{value:#x}({'|'.join(names)})"


def dump_page(
    pfn: int,
    zone_idx: int,
    refcount: int,
    mapcount: int,
    reserved: bool,
    private: int,
    lru: tuple[int, int],
    reason: str,
    seed: int | None,
) -> list[Line]:
    """What dump_page() prints about one struct page (mm/debug.c __dump_page); ``seed`` as
    hashed_pointer() takes it."""
    struct_page = VMEMMAP_START + pfn * STRUCT_PAGE_SIZE
    flags, flags_text = page_flags(zone_idx, reserved)
    counts = (mapcount - 1) & 0xFFFFFFFF | (refcount & 0xFFFFFFFF) << 32
    return [
        (KERN_WARNING,
         f"page:{hashed_pointer(struct_page, seed)} refcount:{refcount} mapcount:{mapcount} "
         f"mapping:0000000000000000 index:0x0 pfn:{pfn:#x}"),
        (KERN_WARNING, f"flags: {flags_text}"),
        (KERN_WARNING, f"raw: {flags:016x} {lru[0]:016x} {lru[1]:016x} 0000000000000000"),
        (KERN_WARNING, f"raw: 0000000000000000 {private:016x} {counts:016x} 0000000000000000"),
        (KERN_WARNING, f"page dumped because: {reason}"),
    ]  # fmt: skip


def bad_page_header(comm: str, pfn: int) -> Line:
    """The first line bad_page() prints (note the two spaces before ``pfn:``)."""
    return KERN_ALERT, f"BUG: Bad page state in process {comm}  pfn:{pfn:05x}"


def struct_page_address(pfn: int) -> int:
    """The vmemmap address of pfn's struct page (what a list link points at)."""
    return VMEMMAP_START + pfn * STRUCT_PAGE_SIZE
