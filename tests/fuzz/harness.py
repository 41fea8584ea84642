"""Seeded fuzzing of kmviz's public API: valid and invalid calls on two kernels in lockstep.

A run makes machines from a seed and drives each with a random mix of calls over every public
API -- pages, slab and kmalloc, vmalloc/vmap/walk, addresses, execution contexts, devices,
memblock and bootmem, reclaim and OOM, compaction, /proc, workloads and traces -- mostly
valid, often wrong the way a learner gets it wrong (double frees, wrong orders, someone
else's page, wrong types, absurd sizes).  Every call runs on two kernels booted alike: one
with the C fast path, one in pure Python with a Timeline (and, on some seeds, every view)
attached.  After each call it checks that

* both kernels answered alike (value or exception) and are in the same state;
* an exception is a precise TypeError/ValueError (or the kernel's own KernelPanic), and
  such a call changed nothing at all; a call the kernel refuses changed no memory;
* after a panic nothing changes any more;
* the engine's invariants hold, and so do independent ones read from the /proc text
  (buddyinfo sums = zoneinfo free = MemFree, slabinfo bounds, vmallocinfo areas disjoint and
  counted in VmallocUsed) and from the owners (one owner per frame);
* the Timeline at the head equals the engine;
* no call took more than CALL_LIMIT_S seconds of CPU time.

A broken rule raises FuzzError with the seed, the call number and the calls that led there.
"""

from __future__ import annotations

import random
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np

from kmviz import (
    __GFP_NORETRY,
    __GFP_NOWARN,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_NOWAIT,
    PAGE_OFFSET,
    Kernel,
    Page,
    workloads,
)
from kmviz import trace as kmtrace
from kmviz.engine import fastpath
from kmviz.engine.buddy import (
    ALLOCATED,
    COMPOUND,
    OWNER_ANON,
    OWNER_FILE,
    OWNER_NONE,
    OWNER_PAGE_TABLE,
    OWNER_SLAB,
    OWNER_VMALLOC,
    PCP,
    holder,
    plain_code,
)
from kmviz.engine.device import Device
from kmviz.engine.invariants import check, check_slabs, check_vmap_areas, fingerprint
from kmviz.engine.pagetable import VMALLOC_START
from kmviz.engine.slab import KmemCache, find_mergeable
from kmviz.engine.slowpath import KernelPanic
from kmviz.widgets import timeline as tl

CALL_LIMIT_S = 3.0  # CPU seconds one call may take on one kernel (a busy host does not count)
HISTORY_KEPT = 12  # calls quoted in a failure
PROC_EVERY = 4  # the /proc text is read after every 4th call (and after every refused one)
GFPS = (
    GFP_KERNEL, GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA, GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, "GFP_KERNEL", "GFP_ATOMIC|__GFP_ZERO",
)  # fmt: skip
BAD_GFPS = (GFP_DMA | GFP_DMA32, "GFP_NONSENSE", None, 1.5, -1, 1 << 40)
LOCKS = ("lock_a", "lock_b", "rcu")
PATHS = (
    "/proc/buddyinfo", "/proc/meminfo", "/proc/pagetypeinfo", "/proc/slabinfo",
    "/proc/vmallocinfo", "/proc/zoneinfo", "/proc/nonexistent", 42,
)  # fmt: skip
JUNK = (None, "abc", 1.5, -1, 1 << 64, -(1 << 70), True, [1], b"x")
ADDRESS_CALLS = (
    "virt_to_page", "virt_to_phys", "phys_to_virt", "pfn_to_page", "block_at",
    "pageblock_migratetype", "page_address", "zone",
)  # fmt: skip
ALLOWED = (TypeError, ValueError, KernelPanic)  # what a call may raise at a learner


class FuzzError(AssertionError):
    """A rule the fuzzer checks was broken."""


class CtorError(Exception):
    """What the fuzzer's failing slab constructor raises (the learner's own exception)."""


def failing_ctor(addr: int) -> None:
    """A slab constructor with a bug: it raises."""
    raise CtorError(hex(addr))


def _small_trace() -> kmtrace.Trace:
    """A kmem trace of a few allocations and frees, exported from a small machine."""
    k = Kernel("4MiB", memory_map="flat")
    ptr = k.kmalloc(64, GFP_KERNEL)
    k.get_free_pages(GFP_KERNEL, 1)
    k.kmalloc(20000, GFP_KERNEL)
    k.kfree(ptr)
    k.kfree(ptr + 4096)  # a free of nothing, as traces have
    return kmtrace.load(kmtrace.export(k).splitlines(keepends=True))


SMALL_TRACE = _small_trace()


def another_kernel(k: Kernel, **options) -> str:
    """A second machine booted with ``options`` (the first is untouched); its repr."""
    options.setdefault("mem", "2MiB")
    options.setdefault("memory_map", "flat")  # a PC needs 128 MiB (MIN_PC_MEM)
    return repr(Kernel(**options))


def replay_small_trace(k: Kernel) -> kmtrace.ReplayReport:
    """trace.replay() of SMALL_TRACE on ``k``."""
    return kmtrace.replay(SMALL_TRACE, k)


@dataclass(frozen=True)
class Ref:
    """An object each kernel holds its own copy of: ("cache" | "device", index)."""

    kind: str
    index: int


@dataclass
class Call:
    """One call: the method (on the kernel, or on a device), its arguments, what it may do."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    on: Ref | None = None  # a device instead of the kernel
    fn: object = None  # a module function taking the kernel first (workloads, trace)
    refused: bool = False  # the kernel refuses it: memory must stay as it was
    raises: tuple = ()  # further exception types the call may raise

    def __str__(self) -> str:
        """The call as a learner would type it."""
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        who = f"dev{self.on.index}." if self.on else "" if self.fn else "k."
        if self.fn:
            args.insert(0, "k")
        return f"{who}{self.name}({', '.join(args)})" + (" [refused]" if self.refused else "")


@dataclass
class Side:
    """One kernel of the pair and the objects only it can hold."""

    kernel: Kernel
    c_path: bool
    timeline: tl.Timeline | None = None
    views: list = field(default_factory=list)  # kept alive: they follow the Timeline
    caches: list = field(default_factory=list)
    devices: list = field(default_factory=list)

    def resolve(self, value):
        """``value`` with every Ref replaced by this side's object."""
        if isinstance(value, Ref):
            return (self.caches if value.kind == "cache" else self.devices)[value.index]
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


@contextmanager
def c_path(enabled: bool):
    """Run with the C fast path switched on or off (new kernels attach it or not)."""
    saved, fastpath.ENABLED = fastpath.ENABLED, enabled
    try:
        yield
    finally:
        fastpath.ENABLED = saved


def normalise(value):
    """A comparable stand-in for a call's result (objects of one kernel become names)."""
    if isinstance(value, KmemCache):
        return ("cache", value.name)
    if isinstance(value, Device):
        return ("device", value.name)
    if isinstance(value, list | tuple):
        return type(value)(normalise(v) for v in value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if hasattr(value, "wall_seconds"):  # an UptimeReport: all but the host's clock
        return replace(value, wall_seconds=0)
    if hasattr(value, "__dataclass_fields__") or isinstance(value, int | str | float | type(None)):
        return value
    return repr(value)


class Fuzzer:
    """Machines made from one seed, each driven ``calls_per_machine`` calls, then replaced."""

    def __init__(self, seed: int, views: bool = False, calls_per_machine: int = 400):
        """Fuzz from ``seed``; ``views`` attaches every view to the Python kernel."""
        self.seed = seed
        self.rng = random.Random(seed)
        self.views = views
        self.calls_per_machine = calls_per_machine
        self.calls = 0
        self.recent: list[str] = []
        self.machines = 0
        self._new_machine()

    # --- machines ------------------------------------------------------------------------------
    def _new_machine(self) -> None:
        """Boot the next pair of kernels alike (one C, one Python with a Timeline)."""
        rng = self.rng
        self.machines += 1
        config = {
            "mem": rng.choice(("8MiB", "8MiB", "16MiB", "16MiB", "4MiB", "2MiB", "1MiB")),
            "cpus": rng.choice((1, 2, 4)),
            "seed": rng.randrange(1 << 32),
            "boot_reserved": rng.random() < 0.8,
            "zone_dma": rng.random() < 0.85,
            "slub_debug": rng.random() < 0.2,
            "boot": rng.random() < 0.9,
            "memory_map": rng.choice(("pc", "flat")),
            "boot_vmalloc": rng.random() < 0.3,
        }
        if config["memory_map"] == "pc":  # Debian's image needs a PC of 128 MiB (MIN_PC_MEM)
            config["mem"] = "128MiB"
        self.config = config
        with c_path(True):
            fast = Side(Kernel(**config), c_path=True)
        with c_path(False):
            slow = Side(Kernel(**config), c_path=False)
        slow.timeline = tl.Timeline(slow.kernel)
        if self.views:
            from kmviz.widgets import BuddyView, ContextView, PhysMap, SlabView, VmallocView

            slow.views = [view(slow.kernel) for view in (PhysMap, BuddyView, SlabView,
                                                         VmallocView, ContextView)]  # fmt: skip
        self.sides = (fast, slow)
        self.left = self.calls_per_machine
        self.blocks: list[tuple[int, int]] = []  # (address, order) from __get_free_pages
        self.pages: list[tuple[Page, int]] = []  # from alloc_pages
        self.freed: list[tuple[int, int]] = []  # blocks given back (to free again)
        self.objects: list[int] = []  # kmalloc pointers
        self.cache_objects: list[tuple[int, int]] = []  # (cache index, pointer)
        self.areas: list[int] = []  # vmalloc addresses
        self.vmaps: list[int] = []
        self.gone: list[int] = []  # freed pointers and areas, to misuse
        self.pids: list[int] = []
        self.depth = 0  # contexts entered and not left, to lean back to task context
        self._check(None)

    # --- one step ------------------------------------------------------------------------------
    def step(self) -> None:
        """Make one call on both kernels and check everything."""
        if self.left <= 0:
            self._new_machine()
        self.left -= 1
        call = self._next_call()
        self.calls += 1
        self.recent = [*self.recent[-HISTORY_KEPT + 1 :], str(call)]
        fast, slow = self.sides  # equal before the call: one digest stands for both
        before = self.digest  # as _check() left it: nothing ran since
        memory = fingerprint(slow.kernel, records=False) if call.refused else None
        dead = fast.kernel.panic_message is not None
        outcomes = [self._run(side, call) for side in self.sides]
        if outcomes[0][:2] != outcomes[1][:2]:
            c, python = (repr(o[:2])[:300] for o in outcomes)
            self._fail(f"C and Python differ: {c} vs {python}")
        kind, value, _ = outcomes[0]
        if kind == "raised":
            exc = outcomes[0][2]
            if not isinstance(exc, ALLOWED + call.raises):
                self._fail(f"internal error {type(exc).__name__}: {exc}", exc)
            # a refusal by exception changes nothing; a panic or the learner's ctor may
            changes = isinstance(exc, KernelPanic | CtorError)
            if not changes and fingerprint(slow.kernel) != before:
                self._fail(f"{type(exc).__name__} ({exc}) but the machine changed")
        if dead and fingerprint(slow.kernel) != before:
            self._fail("a call changed a panicked machine")
        if call.refused and fingerprint(slow.kernel, records=False) != memory:
            self._fail("a refused call changed memory")
        self._learn(call, kind, value)
        self._check(call)

    def _run(self, side: Side, call: Call):
        """Call on one side: ("returned", value, None) or ("raised", text, exception)."""
        target = side.resolve(call.on) if call.on else side.kernel
        args = [side.resolve(a) for a in call.args]
        kwargs = {k: side.resolve(v) for k, v in call.kwargs.items()}
        function = call.fn if call.fn else getattr(target, call.name)
        if call.fn:
            args.insert(0, side.kernel)
        start = time.process_time()
        try:
            with c_path(side.c_path):
                value = function(*args, **kwargs)
            outcome = ("returned", normalise(value), value)
        except Exception as exc:  # every exception is judged in step()
            outcome = ("raised", f"{type(exc).__name__}: {exc}", exc)
        took = time.process_time() - start
        if took > CALL_LIMIT_S:
            self._fail(f"{call} took {took:.1f} CPU s ({'C' if side.c_path else 'Python'})")
        if outcome[0] == "returned":
            if isinstance(value, KmemCache):
                side.caches.append(value)
            elif isinstance(value, Device):
                side.devices.append(value)
        return outcome

    def _fail(self, message: str, cause: BaseException | None = None):
        """Raise FuzzError with the seed, the machine and the calls that led here."""
        calls = "\n  ".join(self.recent)
        raise FuzzError(
            f"seed {self.seed}, call {self.calls}, machine {self.machines} {self.config}: "
            f"{message}\n  {calls}"
        ) from cause

    # --- what the calls made -------------------------------------------------------------------
    def _learn(self, call: Call, kind: str, value) -> None:
        """Remember the handles a call handed out or took back."""
        if kind != "returned":
            return
        name, args = call.name, (*call.args, *call.kwargs.values())
        if name in ("get_free_pages", "__get_free_pages") and value:
            self.blocks.append((value, args[1]))
        elif name in ("get_free_page", "get_zeroed_page") and value:
            self.blocks.append((value, 0))
        elif name in ("alloc_pages", "alloc_page") and value is not None:
            self.pages.append((value, args[1] if name == "alloc_pages" else 0))
        elif name in ("kmalloc", "kzalloc", "kcalloc", "krealloc") and value and value > 16:
            self.objects.append(value)
        elif name == "kmem_cache_alloc" and value:
            self.cache_objects.append((args[0].index, value))
        elif name in ("vmalloc", "vzalloc") and value:
            self.areas.append(value)
        elif name == "vmap" and value:
            self.vmaps.append(value)
        elif name == "spawn":
            self.pids.append(value)

    # --- choosing a call -----------------------------------------------------------------------
    def _take(self, items: list):
        """Remove and return a random item."""
        return items.pop(self.rng.randrange(len(items)))

    def _next_call(self) -> Call:
        """The next call, from one of the API families by weight."""
        rng = self.rng
        k = self.sides[0].kernel
        if k.boot_stage != "running":
            return self._boot_call()
        makers = (
            (self._page_call, 30), (self._slab_call, 30), (self._vmalloc_call, 10),
            (self._address_call, 5), (self._context_call, 8), (self._device_call, 3),
            (self._user_call, 5), (self._misc_call, 4), (self._misuse_call, 5),
        )  # fmt: skip
        maker = rng.choices([m for m, _ in makers], [w for _, w in makers])[0]
        return maker()

    def _gfp(self):
        """A GFP mask, now and then one that is wrong."""
        return self.rng.choice(GFPS) if self.rng.random() < 0.95 else self.rng.choice(BAD_GFPS)

    def _order(self):
        """An order, small ones likelier, now and then one out of range or of a wrong type."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.9:
            return min(int(rng.expovariate(0.9)), 10)
        return rng.choice((11, 12, -1, "1", True, 2.0, None))

    def _boot_call(self) -> Call:
        """A call during early boot: memblock, bootmem, mem_init(), boot()."""
        rng = self.rng
        roll = rng.random()
        size = rng.choice((64, 4096, 100_000, 1 << 20, 0, -5, "4KiB"))
        if roll < 0.5:
            name = rng.choice(("memblock_alloc", "memblock_phys_alloc", "memblock_alloc_low",
                               "alloc_bootmem", "alloc_bootmem_pages", "alloc_bootmem_low",
                               "alloc_bootmem_low_pages"))  # fmt: skip
            return Call(name, (size,))
        if roll < 0.6:
            return Call("memblock_text", (rng.choice(("reserved", "memory", "junk")),))
        if roll < 0.8:
            return Call("mem_init", raises=(RuntimeError,))
        if roll < 0.9:
            return Call("kmalloc", (64, GFP_KERNEL))
        return Call("boot")

    def _page_call(self) -> Call:
        """A page allocator call: allocations, frees, double frees, wrong orders, others' pages."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            name = rng.choice(("get_free_pages", "__get_free_pages", "alloc_pages"))
            order = self._order()
            refused = (
                isinstance(order, int) and not isinstance(order, bool) and not (0 <= order < 11)
            )
            gfp = self._gfp()
            if rng.random() < 0.1:
                return Call(name, kwargs={"gfp": gfp, "order": order}, refused=refused)
            refused |= gfp == GFP_DMA | GFP_DMA32
            return Call(name, (gfp, order), refused=refused)
        if roll < 0.42:
            return Call(rng.choice(("get_free_page", "get_zeroed_page", "alloc_page")),
                        (self._gfp(),))  # fmt: skip
        if roll < 0.8 and self.blocks:
            addr, order = self._take(self.blocks)
            self.freed.append((addr, order))
            if rng.random() < 0.1:
                return Call("free_pages", (addr,), {"order": order})
            return Call("free_pages", (addr, order))
        if roll < 0.88 and self.pages:
            page, order = self._take(self.pages)
            self.freed.append((page.virt, order))
            return Call("__free_pages", (page, order))
        if roll < 0.95 and self.freed:  # a double free or a wrong order: refused
            addr, order = rng.choice(self.freed)
            order += rng.choice((0, 1, -1))
            return Call("free_pages", (addr, order), refused=not self._frees(addr, order))
        if roll < 0.97:  # a page someone else holds: refused
            k = self.sides[0].kernel
            held = [
                *list(k.slab_by_pfn)[:50], *list(k.page_cache.lru)[-20:], *k.pgtable_pfns,
                *(pfn for area in k.vmap_areas.values() if area.kind == "vmalloc"
                  for pfn in area.pfns[:4]),
                *(pfn for task in k.tasks for pfn in task.pages[:4]), 1, 0x1000 + 3,
            ]  # fmt: skip
            pfn = rng.choice(held) % k.nr_pfns
            name = rng.choice(("free_pages", "free_pages", "kfree"))
            args = (PAGE_OFFSET + (pfn << 12), 0)[: 2 if name == "free_pages" else 1]
            slab = k.slab_by_pfn.get(pfn)
            if name == "free_pages":
                refused = not self._frees(args[0], 0)
            elif slab is not None:
                refused = args[0] not in slab.cache.requested
            else:  # kfree() of a page frees a plain order-0 page or a whole compound block
                head, order, state = k.block_at(pfn)
                compound = state == "allocated" and k.buddy.state[head] >= COMPOUND
                refused = not self._frees(PAGE_OFFSET + (head << 12), order if compound else 0)
            return Call(name, args, refused=refused)
        if self.blocks:  # a wrong order on a live block: refused
            addr, order = rng.choice(self.blocks)  # (freed by another path, it may be reused)
            order += rng.choice((1, -1))
            return Call("free_pages", (addr, order), refused=not self._frees(addr, order))
        return Call("free_pages", (0, 0))

    def _frees(self, addr: int, order: int) -> bool:
        """Whether free_pages(addr, order) would free a block (else the kernel refuses)."""
        buddy = self.sides[0].kernel.buddy
        pfn = (addr - PAGE_OFFSET) >> 12
        codes = (ALLOCATED + order, COMPOUND + order)
        return 0 <= order < 11 and buddy.state[pfn] in codes  # a held block's code differs

    def _slab_call(self) -> Call:
        """A kmalloc or kmem_cache call, right or wrong."""
        rng = self.rng
        side = self.sides[0]
        roll = rng.random()
        if roll < 0.35:
            size = rng.choice((8, 16, 24, 64, 96, 100, 128, 192, 256, 512, 1000, 2048, 4096,
                               8192, 8193, 20000, 0, 1 << 22, (1 << 22) + 1))  # fmt: skip
            name = rng.choice(("kmalloc", "kmalloc", "kzalloc"))
            if rng.random() < 0.05:
                return Call("kmalloc", (size,), {"gfp": self._gfp()})
            return Call(name, (size, self._gfp()), refused=size > 1 << 22)
        if roll < 0.4:
            n, size = rng.choice(((4, 16), (0, 8), (1 << 40, 1 << 30), (3, 1000)))
            return Call("kcalloc", (n, size, GFP_KERNEL))
        if roll < 0.7 and self.objects:
            ptr = self._take(self.objects)
            self.gone.append(ptr)
            if rng.random() < 0.1 and side.kernel.ksize(ptr) >= 100:
                self.objects.append(ptr)
                return Call("krealloc", (ptr, rng.choice((0, 50, 9000)), GFP_KERNEL))
            return Call("kfree", (ptr,))
        if roll < 0.75:
            name = rng.choice(("my_cache", "my_cache", "other", "kmalloc-64", "with space"))
            ctor = rng.choice((None, None, None, failing_ctor, 5))
            size = rng.choice((32, 64, 200, 4000, 0, 1 << 23))
            kernel = side.kernel
            merges = not callable(ctor) and find_mergeable(kernel.caches, size, 0, 0, None)
            refused = any(c.name == name for c in kernel.caches) and not isinstance(
                ctor, int
            ) and 0 < size <= 1 << 22 and not merges  # fmt: skip
            return Call("kmem_cache_create", (name, size), {"ctor": ctor}, refused=refused)
        if side.caches and roll < 0.88:
            index = rng.randrange(len(side.caches))
            cache = side.caches[index]
            if cache.refcount == 0 or rng.random() < 0.6:
                return Call("kmem_cache_alloc", (Ref("cache", index), self._gfp()),
                            raises=(CtorError,))  # fmt: skip
            return Call(rng.choice(("kmem_cache_shrink", "kmem_cache_destroy")),
                        (Ref("cache", index),))  # fmt: skip
        if self.cache_objects and roll < 0.96:
            index, ptr = self._take(self.cache_objects)
            self.gone.append(ptr)
            if rng.random() < 0.1 and len(side.caches) > 1:  # the wrong cache
                index = rng.randrange(len(side.caches))
            return Call("kmem_cache_free", (Ref("cache", index), ptr))
        if self.gone:  # a double free, or a pointer into the middle
            ptr = rng.choice(self.gone) + rng.choice((0, 0, 8, 1))
            slab = side.kernel.slab_by_pfn.get((ptr - PAGE_OFFSET) >> 12)
            refused = slab is not None and ptr not in slab.cache.requested
            return Call("kfree", (ptr,), refused=refused)
        return Call("ksize", (rng.choice((0, 16, PAGE_OFFSET)),))

    def _vmalloc_call(self) -> Call:
        """vmalloc, vfree, vmap, vunmap, a walk or vmalloc_to_page()."""
        rng = self.rng
        k = self.sides[0].kernel
        roll = rng.random()
        if roll < 0.3:
            size = rng.choice((1, 4096, 8192, 3 * 4096 + 5, 1 << 20, 0, 1 << 30, 64 << 20))
            refused = k.in_interrupt() or (not k.deferred_vfree and (size == 0 or size >= 1 << 30))
            return Call(rng.choice(("vmalloc", "vzalloc")), (size,), refused=refused)
        if roll < 0.5 and self.areas:
            addr = self._take(self.areas)
            self.gone.append(addr)
            return Call("vfree", (addr,))
        if roll < 0.6 and self.pages:
            pages = [p for p, order in rng.sample(self.pages, min(3, len(self.pages)))]
            return Call("vmap", (pages,))
        if roll < 0.7 and (self.vmaps or self.areas):
            pool = (
                self.vmaps if self.vmaps and (rng.random() < 0.8 or not self.areas) else self.areas
            )
            addr = self._take(pool)
            return Call("vunmap", (addr,), refused=k.in_interrupt())
        if roll < 0.8 and self.gone:
            addr = rng.choice(self.gone)
            name = rng.choice(("vfree", "vunmap"))
            refused = addr not in k.vmap_areas and not k.in_interrupt()
            return Call(name, (addr,), refused=refused and name == "vunmap")
        addr = rng.choice([VMALLOC_START, PAGE_OFFSET + 0x123456, 1 << 47, -1, 0, *self.areas[-2:]])
        return Call(rng.choice(("walk", "vmalloc_to_page")), (addr,))

    def _address_call(self) -> Call:
        """An address translation or a question about a pfn."""
        rng = self.rng
        k = self.sides[0].kernel
        pfn = rng.choice((0, 1, k.nr_pfns - 1, k.nr_pfns, 1 << 40, -1, rng.randrange(k.nr_pfns)))
        addr = rng.choice((PAGE_OFFSET + pfn * 4096, VMALLOC_START + 5, 0, 1 << 63, "x"))
        name = rng.choice(ADDRESS_CALLS)
        if name in ("pfn_to_page", "block_at", "pageblock_migratetype"):
            return Call(name, (pfn,))
        if name == "page_address":
            return Call(name, (rng.choice((Page(max(pfn, 0), "DMA"), pfn)),))
        if name == "zone":
            return Call(name, (rng.choice(("DMA", "DMA32", "Normal", "HighMem")),),
                        raises=(KeyError,))  # fmt: skip
        return Call(name, (addr if name != "phys_to_virt" else pfn * 4096,))

    def _context_call(self) -> Call:
        """Enter or leave an execution context, leaning back to task context when deep."""
        rng = self.rng
        lock = rng.choice(LOCKS) if rng.random() < 0.95 else rng.choice((5, "", None))
        enter = rng.random() < (0.6 if self.depth < 2 else 0.25)
        pairs = (
            ("irq_enter", "irq_exit"), ("softirq_enter", "softirq_exit"),
            ("spin_lock", "spin_unlock"), ("spin_lock_irq", "spin_unlock_irq"),
            ("spin_lock_irqsave", "spin_unlock_irqrestore"),
            ("local_irq_disable", "local_irq_enable"), ("local_irq_save", "local_irq_restore"),
            ("preempt_disable", "preempt_enable"), ("local_bh_disable", "local_bh_enable"),
            ("rcu_read_lock", "rcu_read_unlock"),
        )  # fmt: skip
        begin, end = rng.choice(pairs)
        name = begin if enter else end
        self.depth = max(0, self.depth + (1 if enter else -1))
        args = (lock,) if "spin" in name else ()
        if rng.random() < 0.05:
            return Call(rng.choice(("in_atomic", "in_interrupt", "in_irq", "in_task")))
        return Call(name, args)

    def _device_call(self) -> Call:
        """Make a device, map memory for it or let it write."""
        rng = self.rng
        side = self.sides[0]
        if not side.devices or rng.random() < 0.1:
            bits = rng.choice((64, 32, 24, 0, 65, "x"))
            return Call("device", (rng.choice(("nic", "isa", "")), bits))
        on = Ref("device", rng.randrange(len(side.devices)))
        target = rng.choice(self.objects + self.areas + [PAGE_OFFSET, VMALLOC_START, 0])
        size = rng.choice((64, 4096, 3 * 4096, 0, -1, 1 << 44))
        name = rng.choice(("dma_map_single", "write", "dma_mapping_error"))
        if name == "write":
            return Call(name, (rng.choice((0, 4096 * 7, 1 << 40, (1 << 64) - 1)), size), on=on)
        if name == "dma_mapping_error":
            return Call(name, ((1 << 64) - 1,), on=on)
        return Call(name, (target, size), on=on)

    def _user_call(self) -> Call:
        """Start or kill a task, read files into the page cache, compact."""
        rng = self.rng
        roll = rng.random()
        size = rng.choice((4096, "64KiB", "1MiB", "4MiB", "64MiB", 0, -1, "junk", 1 << 50))
        if roll < 0.35:
            adj = rng.choice((0, 0, 500, -1000, 1000, 1001, "500"))
            return Call("spawn", (rng.choice(("cat", "hog", "")), size), {"oom_score_adj": adj})
        if roll < 0.55 and self.pids:
            return Call("kill", (self._take(self.pids),))
        if roll < 0.6:
            return Call("kill", (rng.choice((1, 99999, "x")),))
        if roll < 0.85:
            return Call("fill_page_cache", (size,))
        return Call("compact", (rng.choice((10, 3, 0, 11, "x")),))

    def _misc_call(self) -> Call:
        """/proc, time, read-only questions, workloads, traces."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            return Call("cat", (rng.choice(PATHS),), raises=(FileNotFoundError,))
        if roll < 0.55:
            return Call("idle", (rng.choice((0.5, 11, 0, -1, float("inf"), float("nan"), "1")),))
        if roll < 0.7:
            name = rng.choice(("dmesg", "free_pages_count", "zone_stats", "buddyinfo",
                               "leaks", "fragmentation", "fragmentation_total",
                               "show_free_areas", "vmallocinfo", "now_ns"))  # fmt: skip
            return Call(name)
        if roll < 0.8:
            return Call("kmalloc_cache", (rng.choice(("kmalloc-64", "my_cache", "nope")),),
                        raises=(KeyError,))  # fmt: skip
        if roll < 0.85:
            return Call(rng.choice(("memblock_alloc", "alloc_bootmem")), (4096,))
        if roll < 0.9:
            ops = rng.choice((50, 300, 0, -1, "x"))
            return Call("uptime", (ops,), {"seed": rng.randrange(100)}, fn=workloads.uptime,
                        raises=(RuntimeError,))  # fmt: skip
        if roll < 0.93:
            start = rng.choice((None, 0, -5, "x"))
            return Call("export", (), {"start": start}, fn=kmtrace.export)
        if roll < 0.96:
            return Call("replay", (), fn=replay_small_trace)
        return Call("boot")

    def _misuse_call(self) -> Call:
        """A public call with arguments of the wrong type or absurd size."""
        rng = self.rng
        if rng.random() < 0.1:
            option = rng.choice(
                ("mem", "cpus", "seed", "boot_reserved", "slub_debug", "memory_map")
            )
            value = rng.choice((*JUNK, "1KiB", "64TiB", 0, "2MiB"))
            return Call("Kernel", (), {option: value}, fn=another_kernel)
        name = rng.choice((
            "get_free_pages", "free_pages", "kmalloc", "kfree", "vmalloc", "vfree", "vunmap",
            "vmap", "walk", "alloc_pages", "__free_pages", "kzalloc", "ksize", "spawn",
            "fill_page_cache", "idle", "spin_lock", "virt_to_phys", "kmem_cache_create",
            "kmem_cache_destroy", "kmem_cache_alloc", "compact", "cat", "device", "kill",
            "memblock_alloc", "krealloc", "kcalloc",
        ))  # fmt: skip
        arity = {"free_pages": 2, "get_free_pages": 2, "kmalloc": 2, "alloc_pages": 2,
                 "__free_pages": 2, "kzalloc": 2, "kmem_cache_alloc": 2, "kmem_cache_create": 2,
                 "krealloc": 3, "kcalloc": 3}.get(name, 1)  # fmt: skip
        args = tuple(rng.choice((*JUNK, 0, 64, GFP_KERNEL)) for _ in range(arity))
        return Call(name, args, raises=(FileNotFoundError,) * (name == "cat"))

    # --- the checks after every call -------------------------------------------------------------
    def _check(self, call: Call | None) -> None:
        """Both kernels alike, every invariant holds, the Timeline is at the head and equal."""
        fast, slow = self.sides
        self.digest = fingerprint(slow.kernel)
        if fingerprint(fast.kernel) != self.digest:
            self._fail("the C and Python kernels are in different states")
        k = slow.kernel
        try:
            check(k)
            check_slabs(k)
            check_vmap_areas(k)
            check_owners(k)
            if k.boot_stage == "running" and (self.calls % PROC_EVERY == 0 or call.refused):
                check_proc(k)
            check_timeline(slow.timeline, k)
        except AssertionError as broken:
            self._fail(f"invariant: {broken}", broken)
        if k._kswapd_pending is not None:
            self._fail("kswapd was left pending after the call")


def check_owners(k: Kernel) -> None:
    """One owner per frame, each holding allocated blocks whose head's state code names it."""
    expected: dict[int, int] = {}

    def claim(pfn: int, code: int, who: str) -> None:
        """Record ``who`` as the owner of ``pfn``; two owners fail."""
        assert pfn not in expected, f"pfn {pfn:#x} has two owners ({who})"
        expected[pfn] = code

    for pfn, slab in k.slab_by_pfn.items():  # PG_slab is on the head page
        claim(pfn, OWNER_SLAB if pfn == slab.pfn else OWNER_NONE, "slab")
    for pfn in k.pgtable_pfns:
        claim(pfn, OWNER_PAGE_TABLE, "page table")
    for task in k.tasks:
        for pfn in task.pages:
            claim(pfn, OWNER_ANON, f"task {task.pid}")
    for pfn in k.page_cache.lru:
        claim(pfn, OWNER_FILE, "page cache")
    for area in k.vmap_areas.values():
        if area.kind == "vmalloc":
            for pfn in area.pfns:
                claim(pfn, OWNER_VMALLOC, f"vmalloc {area.addr:#x}")
    for pfn, _, _ in k.large_kmalloc.values():
        claim(pfn, 0, "large kmalloc")
    state = k.buddy.state
    holders = np.array([holder(code) for code in range(-128, 128)], dtype=np.int8)
    marks = holders[np.frombuffer(state, dtype=np.int8)[: k.nr_pfns].astype(np.int16) + 128]
    marked = {pfn: int(marks[pfn]) for pfn in np.flatnonzero(marks).tolist()}
    held = {pfn: code for pfn, code in expected.items() if code}
    assert marked == held, f"holders {sorted(marked.items() ^ held.items())[:5]} disagree"
    for pfn in expected:
        code = plain_code(state[pfn])
        assert code >= ALLOCATED or code == -1, f"owned pfn {pfn:#x} is free"


def check_proc(k: Kernel) -> None:
    """What the /proc text says must add up, read from the text alone."""
    buddyinfo = k.cat("/proc/buddyinfo")
    free_buddy = 0
    for line in buddyinfo.splitlines():
        counts = [int(n) for n in line.split()[4:]]
        free_buddy += sum(n << order for order, n in enumerate(counts))
    zoneinfo = k.cat("/proc/zoneinfo")
    free_zone = sum(int(n) for n in re.findall(r"^  pages free\s+(\d+)", zoneinfo, re.M))
    meminfo = dict(re.findall(r"^(\w+):\s+(\d+) kB", k.cat("/proc/meminfo"), re.M))
    assert free_buddy == free_zone == int(meminfo["MemFree"]) // 4, (
        f"free pages: buddyinfo {free_buddy}, zoneinfo {free_zone}, MemFree {meminfo['MemFree']}"
    )
    for line in k.cat("/proc/slabinfo").splitlines()[2:]:
        numbers = re.match(
            r"^.+? +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) : .* : slabdata +\d+ +(\d+)", line
        )
        active, total, size, per_slab, pages, slabs = (int(x) for x in numbers.groups())
        assert 0 <= active <= total <= slabs * per_slab and size > 0 and pages >= 1, line
    areas, used = [], 0
    for line in k.cat("/proc/vmallocinfo").splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        areas.append((lo, hi))
        if pages := re.search(r" pages=(\d+)", line):  # a percpu chunk's line has none
            used += int(pages.group(1))
    areas.sort()
    for (_, hi), (lo, _) in pairwise(areas):
        assert hi <= lo, f"vmalloc areas overlap at {lo:#x}"
    assert used * 4 <= int(meminfo["VmallocUsed"]), "VmallocUsed misses vmalloc pages"


def check_timeline(timeline: tl.Timeline, k: Kernel) -> None:
    """A Timeline at the head says what the engine says: frames, free lists, slabs, areas."""
    assert timeline.position == len(k.history), "the timeline does not follow the kernel"
    for index, zone in enumerate(k.zones):
        assert list(timeline.nr_free[index]) == list(zone.nr_free), f"{zone.name} nr_free"
    frames = timeline.frames
    free = int(np.count_nonzero(frames < tl.PAGES))
    assert free == k.free_pages_count(), f"timeline free {free} != {k.free_pages_count()}"
    codes = np.frombuffer(k.buddy.state, dtype=np.int8)
    for index, zone in enumerate(k.zones):  # blocks on every CPU's per-CPU lists, by order
        heads = codes[zone.start_pfn : zone.end_pfn]
        heads = heads[heads < -1].astype(np.int16)  # PCP + (order << 3) + mt: a pcp block's head
        orders = (heads - PCP) >> 3
        on_lists = np.bincount(orders, minlength=len(timeline.pcp[index])).tolist()
        assert list(timeline.pcp[index]) == on_lists, f"{zone.name} pcp blocks"
    on_pcp = int(np.count_nonzero(frames == tl.PCP))
    assert on_pcp == k.pcp_pages_count(), f"timeline pcp {on_pcp} != {k.pcp_pages_count()}"
    for code, pfns in (
        (tl.SLAB, set(k.slab_by_pfn)),
        (tl.PAGE_TABLE, set(k.pgtable_pfns)),
        (tl.FILE, set(k.page_cache.lru)),
        (tl.ANON, {pfn for task in k.tasks for pfn in task.pages}),
    ):
        shown = set(np.flatnonzero(frames == code).tolist())
        assert shown == pfns, f"frame code {tl.CODE_NAMES[code]}: {sorted(shown ^ pfns)[:5]}"
    live = {a for a in k.vmap_areas}
    assert set(timeline.areas) == live, "vmalloc areas differ"
    assert {c.name for c in k.caches} == set(timeline.caches), "caches differ"
    for cache in k.caches:
        for slab in cache.slabs:
            shown = timeline.slabs[slab.pfn]
            used = set(range(slab.objects)) - set(slab.freelist)
            assert shown.used == sum(1 << i for i in used), f"slab {slab.pfn:#x} slots differ"
