"""The capstone's grader: runs a learner's driver on a fresh machine and names each mistake.

A driver here is a Python class written like a C driver: ``__init__(k, dev)`` gets the
kernel and its network card, ``probe()`` sets up, ``rx_irq()`` runs in interrupt context once
per packet, ``remove()`` tears down.  ``grade(Driver)`` boots
``Kernel("1GiB", slub_debug=True, memory_map="flat")`` (a debug kernel, as a driver developer
tests on), runs probe, eight interrupts and remove, and judges the run from a log of every
allocator call the driver made (what it passed, what it got, in which context) with the
kernel's own reports as evidence:

1. no sleeping allocation in interrupt context (might_sleep() fired: ``ContextViolated``);
2. the device can reach its buffer (every ``dma_map_single()`` gave a bus address);
3. nothing leaked (every object, page block and vmalloc area is back after ``remove()``);
4. nothing freed twice (an address freed again without being allocated in between);
5. pages freed with the order they were allocated with.
"""

from __future__ import annotations

import html
import traceback
from dataclasses import dataclass, field

from . import lab_extra  # noqa: F401 - first: a clear message when ipywidgets is missing

# isort: split
import ipywidgets as widgets

from .engine.device import Device
from .engine.events import ContextViolated
from .engine.gfp import format_gfp
from .engine.kernel import Kernel

PACKETS = 8  # interrupts the grader raises between probe() and remove()
ALLOCATORS = {  # calls that hand out memory: name -> (kind, position of the order, of the gfp)
    "kmalloc": ("object", -1, 1),
    "kzalloc": ("object", -1, 1),
    "kcalloc": ("object", -1, 2),
    "kmem_cache_alloc": ("object", -1, 1),
    "kvmalloc": ("kv", -1, 1),
    "kvzalloc": ("kv", -1, 1),
    "vmalloc": ("vmalloc", -1, -1),
    "vzalloc": ("vmalloc", -1, -1),
    "get_free_pages": ("pages", 1, 0),
    "get_zeroed_page": ("pages", -1, 0),
    "get_free_page": ("pages", -1, 0),
}
FREERS = {  # calls that give memory back: name -> (position of the address, of the order)
    "kfree": (0, -1),
    "kvfree": (0, -1),
    "vfree": (0, -1),
    "kmem_cache_free": (1, -1),
    "free_pages": (0, 1),
    "free_page": (0, -1),
}


@dataclass(frozen=True)
class Call:
    """One allocator call of the driver: name, arguments, result, context, what it printed."""

    name: str
    args: tuple
    result: object
    in_interrupt: bool
    printed: tuple[str, ...]
    violated: bool  # might_sleep() fired during the call

    def __str__(self) -> str:
        """The call as C would spell it: ``kmalloc(1500, GFP_KERNEL)``, addresses in hex."""
        gfp_at = ALLOCATORS[self.name][2] if self.name in ALLOCATORS else -1
        shown = [
            format_gfp(arg) if i == gfp_at else f"{arg:#x}" if _is_address(arg) else repr(arg)
            for i, arg in enumerate(self.args)
        ]
        return f"{self.name}({', '.join(shown)})"


def _is_address(value) -> bool:
    """A kernel address (the top half of the address space), not a size or an order."""
    return isinstance(value, int) and value >= 1 << 63


class AuditedKernel:
    """The kernel as the driver sees it: the real one, with its allocator calls logged."""

    def __init__(self, kernel: Kernel):
        self._kernel = kernel
        self.calls: list[Call] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._kernel, name)
        if name not in ALLOCATORS and name not in FREERS:
            return attribute
        kernel = self._kernel

        def audited(*args):
            lines = len(kernel.dmesg().splitlines())
            start = len(kernel.history)
            in_interrupt = kernel.in_interrupt()
            result = attribute(*args)
            printed = tuple(kernel.dmesg().splitlines()[lines:])
            violated = any(isinstance(e, ContextViolated) for e in kernel.history[start:])
            self.calls.append(Call(name, args, result, in_interrupt, printed, violated))
            return result

        return audited


class AuditedDevice(Device):
    """The network card, remembering what each dma_map_single() returned."""

    def __init__(self, kernel: Kernel, name: str, dma_bits: int):
        super().__init__(kernel, name, dma_bits)
        self.mappings: list[tuple[int, int, int]] = []  # (addr, size, dma address or error)
        self.printed: tuple[str, ...] = ()  # what the last dma_map_single() printed

    def dma_map_single(self, addr: int, size: int) -> int:
        """dma_map_single(), remembered for the grader."""
        lines = len(self.kernel.dmesg().splitlines())
        dma_addr = super().dma_map_single(addr, size)
        self.mappings.append((addr, size, dma_addr))
        self.printed = tuple(self.kernel.dmesg().splitlines()[lines:])
        return dma_addr


@dataclass(frozen=True)
class Check:
    """One thing a correct driver does: passed or not, the kernel's evidence, what to look at."""

    title: str
    passed: bool
    evidence: tuple[str, ...] = ()
    hint: str = ""

    def __str__(self) -> str:
        mark = "✔" if self.passed else "✘"
        text = f"{mark} {self.title}"
        if not self.passed:
            text += "".join(f"\n    {line}" for line in self.evidence[:EVIDENCE_LINES])
            text += f"\n    hint: {self.hint}"
        return text


EVIDENCE_LINES = 6  # lines of the kernel's report shown under a failed check


@dataclass
class Report:
    """The grade of one run: each Check, the calls logged, and the machine the driver ran on."""

    checks: list[Check]
    calls: list[Call]
    kernel: Kernel
    crash: str = ""  # a Python error the driver raised, if any
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = not self.crash and all(check.passed for check in self.checks)

    def __str__(self) -> str:
        right = sum(check.passed for check in self.checks)
        head = f"{right} of {len(self.checks)} checks pass" + (
            " — the driver is correct." if self.passed else "."
        )
        crash = f"\nThe driver raised an error:\n{self.crash}" if self.crash else ""
        return "\n".join([head, *map(str, self.checks)]) + crash

    def widget(self):
        """The checks as a list; a failed check's kernel report opens on a click."""
        rows = [widgets.HTML(f"<b>{html.escape(str(self).splitlines()[0])}</b>")]
        for check in self.checks:
            mark = "✔" if check.passed else "✘"
            colour = "#117733" if check.passed else "#882255"
            rows.append(
                widgets.HTML(
                    f"<span style='color:{colour}'>{mark} {html.escape(check.title)}</span>"
                )
            )
            if check.passed:
                continue
            detail = widgets.HTML()
            detail.add_class("kmviz-evidence")
            show = widgets.Button(description="the kernel's report", tooltip="what the kernel said")
            show.add_class("kmviz-show-evidence")

            def on_show(_, check=check, detail=detail):
                lines = "\n".join(check.evidence) or "(the kernel printed nothing)"
                detail.value = (
                    f"<pre>{html.escape(lines)}</pre><i>hint: {html.escape(check.hint)}</i>"
                )

            show.on_click(on_show)
            rows += [show, detail]
        if self.crash:
            rows.append(widgets.HTML(f"<pre>{html.escape(self.crash)}</pre>"))
        box = widgets.VBox(rows)
        box.add_class("kmviz-report")
        return box

    def _repr_mimebundle_(self, **kwargs):
        """A report as a cell's last line shows its widget."""
        return self.widget()._repr_mimebundle_(**kwargs)


def grade(driver_class, seed: int = 0) -> Report:
    """Run ``driver_class(k, dev)`` through probe, PACKETS interrupts and remove; judge the run."""
    kernel = Kernel("1GiB", seed=seed, slub_debug=True, memory_map="flat")
    audited = AuditedKernel(kernel)
    device = AuditedDevice(kernel, "nic", dma_bits=32)
    crash = ""
    try:
        driver = driver_class(audited, device)
        driver.probe()
        for _ in range(PACKETS):
            with kernel.irq():
                driver.rx_irq()
        driver.remove()
    except Exception:  # the learner's code: report it, with the checks of what did run
        crash = traceback.format_exc(limit=-3)
    calls = audited.calls
    checks = [
        _no_sleep_in_interrupt(calls),
        _device_reaches_its_buffer(device),
        _nothing_leaked(calls),
        *_frees_are_right(calls),
    ]
    return Report(checks, calls, kernel, crash)


def _no_sleep_in_interrupt(calls: list[Call]) -> Check:
    bad = [call for call in calls if call.violated]
    return Check(
        "no allocation that may sleep in interrupt context",
        not bad,
        bad[0].printed if bad else (),
        f"{bad[0]} ran in an interrupt handler with a mask that may sleep "
        "(__GFP_DIRECT_RECLAIM); an interrupt handler allocates with GFP_ATOMIC."
        if bad
        else "",
    )


def _device_reaches_its_buffer(device: AuditedDevice) -> Check:
    failed = [mapping for mapping in device.mappings if device.dma_mapping_error(mapping[2])]
    if not device.mappings:
        return Check(
            "the device can reach its DMA buffer",
            False,
            (),
            "the driver never called dev.dma_map_single(buffer, size), so the card has no bus "
            "address to write packets to.",
        )
    return Check(
        "the device can reach its DMA buffer",
        not failed,
        device.printed if failed else (),
        "dma_map_single() refused the buffer: a device sees physical memory, and vmalloc "
        "memory is contiguous only virtually. Allocate the ring with kmalloc() (up to 4 MiB) "
        "or __get_free_pages()."
        if failed
        else "",
    )


def _live_after(calls: list[Call]) -> dict[int, Call]:
    """Addresses the driver got and still holds at the end: address -> the allocating call."""
    live: dict[int, Call] = {}
    for call in calls:
        if call.name in ALLOCATORS and call.result:
            live[call.result] = call
        elif call.name in FREERS:
            live.pop(call.args[FREERS[call.name][0]], None)
    return live


def _nothing_leaked(calls: list[Call]) -> Check:
    live = _live_after(calls)
    evidence = tuple(f"unreferenced: {call} = {address:#x}" for address, call in live.items())
    return Check(
        "nothing leaked after remove()",
        not live,
        evidence,
        "every allocation needs its free on every path: something allocated in probe() or "
        "rx_irq() is still held after remove() (kmemleak would report it as unreferenced)."
        if live
        else "",
    )


def _frees_are_right(calls: list[Call]) -> list[Check]:
    """Two checks from one pass over the log: no address freed twice; pages freed by order."""
    held: dict[int, Call] = {}
    freed: set[int] = set()
    double: Call | None = None
    wrong_order: tuple[Call, int] | None = None
    for call in calls:
        if call.name in ALLOCATORS and call.result:
            held[call.result] = call
            freed.discard(call.result)
        elif call.name in FREERS:
            where, order_at = FREERS[call.name]
            address = call.args[where]
            if not address:
                continue  # freeing NULL is fine
            if address in freed and double is None:
                double = call
            allocation = held.pop(address, None)
            freed.add(address)
            if allocation is not None and wrong_order is None:
                given = call.args[order_at] if order_at >= 0 else 0
                kind, allocated_at, _ = ALLOCATORS[allocation.name]
                if kind == "pages":
                    allocated = allocation.args[allocated_at] if allocated_at >= 0 else 0
                    if given != allocated:
                        wrong_order = (call, allocated)
    double_check = Check(
        "nothing freed twice",
        double is None,
        double.printed if double else (),
        f"{double} frees memory that was already "
        "freed: free it on one path only, and set the pointer to NULL after freeing."
        if double
        else "",
    )
    order_check = Check(
        "pages freed with the order they were allocated with",
        wrong_order is None,
        wrong_order[0].printed if wrong_order else (),
        f"{wrong_order[0]}: the block was allocated with order "
        f"{wrong_order[1]}; free_pages() must be told the same order."
        if wrong_order
        else "",
    )
    return [double_check, order_check]
