"""Seeded scenarios that age a simulated machine, counted in operations.

``uptime(k)`` plays a busy machine's day on a ``Kernel``: files are read into the page cache
until memory is full and reclaim has to make room, the slab allocator churns through small
objects, processes come and go, drivers take short-lived multi-page buffers, and the kernel
keeps some pages for good (page tables, driver rings, long-lived kernel data).  Those *held*
pages are what age the machine.  The allocator keeps unmovable allocations in their own 2 MiB
pageblocks (mobility grouping), but once memory is full of page cache and process memory,
those pageblocks have no free page left and ``__rmqueue_fallback()`` steals from a Movable
pageblock: the free pages of that block move to the Unmovable list and the next kernel
allocations land there, between page-cache pages.  Over the default day on 256 MiB (and on
1 GiB) every 4 MiB of RAM gets such a page, and no 4 MiB block can form again, not even by
compaction, which moves only movable pages.  (On 4 GiB the default day leaves some 4 MiB
without one, and little memory free: benchmarks/bench_uptime.py prints each size's outcome.)
When the day's processes exit, much of memory is free again, in pieces::

    from kmviz import *
    from kmviz.workloads import uptime

    k = Kernel(mem="256MiB", seed=0, memory_map="flat")
    k.alloc_pages(GFP_KERNEL, 10)       # 4 MiB physically contiguous: trivial after boot
    report = uptime(k)                  # 200,000 operations of seed 0
    report.free_share                   # 0.30: almost a third of memory is free ...
    k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)  # ... yet this is None, after compaction
    k.vmalloc(4 << 20)                  # 4 MiB from scattered pages: no problem

(MAX_ORDER caps one block at order 10, 4 MiB, so "64 MiB physically contiguous" means
sixteen free order-10 blocks side by side: right after boot sixteen order-10 allocations
succeed back to back, after ``uptime(k)`` not even one does.)  The failed request runs direct
compaction (asynchronous, then synchronous after direct reclaim, as Linux 6.1 does), which
moves pages and gives up; compaction is then deferred for that order.

Everything random comes from ``random.Random(seed)``: the same machine, ops and seed always
end in the same state, event for event.  Every allocation the workload makes carries
``__GFP_NORETRY | __GFP_NOWARN`` (the page cache and process memory do so inside the engine),
so on a full machine its allocations fail quietly: it never wakes the OOM killer or panics.
Volumes are per operation, so the default number of operations grows with the machine:
200,000 per 256 MiB (rounded up), which fills memory several times over; the time grows with
it: about 1.3 CPU seconds for 256 MiB with the C fast paths (page faults, readahead and
reclaim run their per-page loops in C), about 5 in pure Python; on a machine with a CMA area
everything runs in Python.  benchmarks/bench_uptime.py prints each size's seconds.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .engine.constants import MAX_ORDER, PAGE_SIZE
from .engine.fragmentation import fragmentation_index, unusable_free_index
from .engine.gfp import __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL
from .engine.kernel import Kernel

__all__ = ["SLAB_SIZE_MIX", "UptimeReport", "uptime"]

GFP_WORKLOAD = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN  # may sleep and reclaim, never OOM
NS_PER_SECOND = 1_000_000_000

# (size range in bytes, weight): what /proc/slabinfo of a busy machine shows kmalloc serving,
# mostly 8-512 bytes (the same mix as benchmarks/bench_kmalloc.py)
SLAB_SIZE_MIX = (
    ((8, 64), 45),
    ((65, 256), 30),
    ((257, 512), 15),
    ((513, 4096), 9),
    ((4097, 16384), 1),
)
SLAB_ALLOC_SHARE = 0.52  # of slab operations: kmalloc (else kfree), so a few objects stay
OPS_PER_256MIB = 200_000  # the default operations for each 256 MiB (65,536 pages) of RAM
PAGES_PER_256MIB = 65_536
COMMS = ("bash", "python3", "cc1", "make", "node", "postgres", "nginx", "rsync", "git", "java")
BURST_ORDER_MIX = ((1, 4), (2, 2), (3, 1))  # (order, weight): 8, 16 and 32 KiB buffers


@dataclass(frozen=True)
class UptimeReport:
    """What ``uptime()`` did and the machine it left, with free-area samples for plots.

    ``seconds`` is simulated time (what ``k.now_ns()`` advanced by), ``wall_seconds`` the
    real time the run took.  ``largest_free_order`` is, per zone, the highest order with a
    free block (-1 if the zone has none).  ``samples`` holds ``(op_index, {zone: nr_free})``
    every ``sample_every`` operations, from 0 to ``ops`` (the last one taken after the
    processes exited), where ``nr_free`` has one count per order 0..10 as /proc/buddyinfo
    prints it.
    """

    ops: int
    seed: int
    seconds: float
    wall_seconds: float
    free_pages: int
    managed_pages: int
    largest_free_order: dict[str, int]
    samples: tuple[tuple[int, dict[str, tuple[int, ...]]], ...]
    sample_every: int
    held_pages: int  # order-0 kernel pages the workload took and will never free
    slab_objects: int  # kmalloc objects still live at the end (held, as the kernel's are)
    page_cache_pages: int
    tasks_spawned: int
    failed_allocations: int  # workload allocations that returned NULL (memory was full)

    def fragmentation_over_time(self, order: int = 10) -> list[tuple[int, dict]]:
        """Per sample, per zone: (unusable free space index, extfrag index) for ``order``.

        Both in thousandths, as mm/vmstat.c computes them (see engine/fragmentation.py).
        """
        return [
            (
                op,
                {
                    zone: (unusable_free_index(nr_free, order), fragmentation_index(nr_free, order))
                    for zone, nr_free in zones.items()
                },
            )
            for op, zones in self.samples
        ]

    @property
    def free_share(self) -> float:
        """Free pages as a share of managed pages, 0.0 .. 1.0."""
        return self.free_pages / self.managed_pages if self.managed_pages else 0.0


def uptime(
    k: Kernel,
    ops: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
    *,
    cache_share: float = 0.12,
    held_share: float = 0.04,
    task_share: float = 0.01,
    burst_share: float = 0.02,
    cache_read: tuple[int, int] = (1, 16),
    task_size: tuple[int, int] = (1, 2),
    max_tasks: int = 40,
    burst_depth: int = 16,
    sample_every: int | None = None,
) -> UptimeReport:
    """Age ``k`` with ``ops`` seeded operations; what happened, as an ``UptimeReport``.

    ``ops`` defaults to 200,000 for each started 256 MiB of managed memory (200,000 on
    256 MiB, 800,000 on 1 GiB).  Each operation is one of, with these probabilities:

    * ``cache_share``: read a file: ``k.fill_page_cache()`` of ``cache_read`` pages (uniform,
      inclusive; 4-64 KiB by default).  Once memory is full the allocator reclaims the
      oldest cache to make room, so the page cache keeps memory full and its pages moving;
    * ``held_share``: the kernel keeps a page: ``__get_free_pages(GFP_KERNEL, 0)``, never
      freed (page tables of long-lived processes, driver rings, filesystem metadata);
    * ``task_share``: a process starts (``k.spawn()`` of ``task_size`` MiB, uniform,
      inclusive) or, when ``max_tasks`` run, a random one exits (``k.kill()``);
    * ``burst_share``: a short-lived buffer of order 1-3 (8-32 KiB); the oldest of them is
      freed once more than ``burst_depth`` are held;
    * otherwise slab churn: ``kmalloc()`` (52 %) of a size from ``SLAB_SIZE_MIX``, or
      ``kfree()`` of a random live object.

    When the operations are done, the processes the workload started exit and its
    short-lived buffers are freed (the day's jobs are over); the page cache, the held pages
    and the live slab objects stay.  ``progress(done, ops)`` is called about every 1 % and
    last with ``done == ops`` (once, with ``(0, 0)``, when ``ops`` is 0).  ``sample_every``
    (default ``ops // 100``, at least 1) spaces the free-area samples.  The kernel calls
    carry ``GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN``.  Bad arguments raise TypeError or
    ValueError before anything runs; a kernel in atomic context (inside ``k.irq()``,
    ``k.spin_lock()`` …) is a RuntimeError.
    """
    if not isinstance(k, Kernel):
        raise TypeError(f"uptime() ages a Kernel, not {type(k).__name__}")
    if k.atomic:
        raise RuntimeError(
            "uptime() does process-context work (GFP_KERNEL allocations may sleep); "
            "call it outside irq(), spin_lock() and other atomic sections"
        )
    managed = sum(z.managed_pages for z in k.zones)
    if ops is None:
        ops = OPS_PER_256MIB * max(1, -(-managed // PAGES_PER_256MIB))
    ops = _int("ops", ops, 0)
    seed = _int("seed", seed, None)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(done, total), not {progress!r}")
    shares = {
        "cache_share": cache_share,
        "held_share": held_share,
        "task_share": task_share,
        "burst_share": burst_share,
    }
    for name, value in shares.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number from 0 to 1, not {value!r}")
        if not 0 <= value <= 1:  # NaN fails this too
            raise ValueError(f"{name} must be from 0 to 1, got {value}")
    if sum(shares.values()) > 1:
        raise ValueError(
            f"cache_share + held_share + task_share + burst_share must not exceed 1 "
            f"(the rest is slab churn), got {sum(shares.values())}"
        )
    read_low, read_high = _range("cache_read", cache_read, 1)
    task_low, task_high = _range("task_size", task_size, 1)
    max_tasks = _int("max_tasks", max_tasks, 1)
    burst_depth = _int("burst_depth", burst_depth, 0)
    if sample_every is None:
        sample_every = max(1, ops // 100)
    sample_every = _int("sample_every", sample_every, 1)

    rng = random.Random(seed)
    started = time.perf_counter()
    start_ns = k.now_ns()

    # cumulative thresholds for one draw of rng.random() per operation
    cut_held = held_share
    cut_task = cut_held + task_share
    cut_burst = cut_task + burst_share
    cut_cache = cut_burst + cache_share
    # weighted choices as tables indexed by int(rand() * len): one draw, no bisect
    size_ranges = [r for r, weight in SLAB_SIZE_MIX for _ in range(weight)]
    burst_orders = [order for order, weight in BURST_ORDER_MIX for _ in range(weight)]

    kmalloc, kfree = k.kmalloc, k.kfree
    get_free_pages, free_pages = k.get_free_pages, k.free_pages
    fill_page_cache = k.fill_page_cache
    rand, randint = rng.random, rng.randint

    objects: list[int] = []  # live kmalloc addresses
    held: list[int] = []  # addresses the kernel keeps forever
    bursts: deque[tuple[int, int]] = deque()  # (address, order), oldest first
    tasks: list[int] = []  # pids the workload started
    spawned = failed = 0

    samples = [(0, _snapshot(k))]
    samples_at = set(range(sample_every, ops + 1, sample_every))
    progress_at = _progress_marks(ops) if progress is not None else set()
    marks = sorted({*samples_at, *progress_at, ops} - {0})
    done = 0
    if progress is not None and ops == 0:
        progress(0, 0)
    for mark in marks:
        for _ in range(mark - done):
            r = rand()
            if r >= cut_cache:  # slab churn, most operations
                if rand() < SLAB_ALLOC_SHARE or not objects:
                    low, high = size_ranges[int(rand() * len(size_ranges))]
                    addr = kmalloc(low + int(rand() * (high - low + 1)), GFP_WORKLOAD)
                    if addr:
                        objects.append(addr)
                    else:
                        failed += 1
                else:
                    i = int(rand() * len(objects))
                    addr = objects[i]
                    objects[i] = objects[-1]
                    objects.pop()
                    kfree(addr)
            elif r >= cut_burst:  # read a file into the page cache
                wanted = read_low + int(rand() * (read_high - read_low + 1))
                if fill_page_cache(wanted * PAGE_SIZE) < wanted:
                    failed += 1
            elif r >= cut_task:  # a short-lived multi-page buffer
                order = burst_orders[int(rand() * len(burst_orders))]
                addr = get_free_pages(GFP_WORKLOAD, order)
                if addr:
                    bursts.append((addr, order))
                else:
                    failed += 1
                if len(bursts) > burst_depth:
                    free_pages(*bursts.popleft())
            elif r >= cut_held:  # a process starts or exits
                if len(tasks) < max_tasks:
                    mib = randint(task_low, task_high)
                    tasks.append(k.spawn(COMMS[randint(0, len(COMMS) - 1)], mib << 20))
                    spawned += 1
                else:
                    i = randint(0, len(tasks) - 1)
                    _exit(k, tasks[i])
                    tasks[i] = tasks[-1]
                    tasks.pop()
            else:  # the kernel keeps a page for good
                addr = get_free_pages(GFP_WORKLOAD, 0)
                if addr:
                    held.append(addr)
                else:
                    failed += 1
        done = mark
        if done == ops:  # the day's jobs are over
            for pid in tasks:
                _exit(k, pid)
            tasks.clear()
            while bursts:
                free_pages(*bursts.popleft())
        if done in samples_at or done == ops:
            samples.append((done, _snapshot(k)))
        if done in progress_at:
            progress(done, ops)

    return UptimeReport(
        ops=ops,
        seed=seed,
        seconds=(k.now_ns() - start_ns) / NS_PER_SECOND,
        wall_seconds=time.perf_counter() - started,
        free_pages=k.free_pages_count(),
        managed_pages=managed,
        largest_free_order={
            z.name: max((o for o in range(MAX_ORDER) if z.nr_free[o]), default=-1) for z in k.zones
        },
        samples=tuple(samples),
        sample_every=sample_every,
        held_pages=len(held),
        slab_objects=len(objects),
        page_cache_pages=len(k.page_cache),
        tasks_spawned=spawned,
        failed_allocations=failed,
    )


def release(k: Kernel, held: tuple[str, int, object]) -> None:
    """Free one allocation a driver holds, ``(kind, address, cache or order)``, with its call.

    kind "cache" -> kmem_cache_free(cache, address); "kmalloc" -> kfree(address);
    "pages" -> free_pages(address, order).
    """
    kind, addr, detail = held
    if kind == "cache":
        k.kmem_cache_free(detail, addr)
    elif kind == "kmalloc":
        k.kfree(addr)
    else:
        k.free_pages(addr, detail)


def _exit(k: Kernel, pid: int) -> None:
    """The process ``pid`` exits, unless something (a progress callback, say) ended it already."""
    if any(task.pid == pid for task in k.tasks):
        k.kill(pid)


def _snapshot(k: Kernel) -> dict[str, tuple[int, ...]]:
    """nr_free per order of every zone, as /proc/buddyinfo prints it."""
    return {z.name: tuple(z.nr_free) for z in k.zones}


def _progress_marks(ops: int) -> set[int]:
    """Operation counts at which progress() is called: at each whole percent (ceil)."""
    return {(ops * percent + 99) // 100 for percent in range(1, 101)}


def _int(name: str, value, low: int | None) -> int:
    """``value`` if it is an int of at least ``low``, else a precise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return value


def _range(name: str, value, low: int) -> tuple[int, int]:
    """A (low, high) pair of ints with ``low <= first <= second``."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) tuple of ints, not {value!r}")
    first = _int(f"{name}[0]", value[0], low)
    second = _int(f"{name}[1]", value[1], first)
    return first, second
