"""Seeded scenarios that age a simulated machine, counted in operations.

``uptime(k)`` plays a busy machine's day on a ``Kernel``: files are read into the page cache
until memory is full and reclaim has to make room, the slab allocator churns through small
objects, processes come and go, drivers take short-lived multi-page buffers, and the kernel
keeps some pages for good (page tables, driver rings, long-lived kernel data).  Those *held*
pages are what age the machine.  The allocator keeps unmovable allocations in their own 2 MiB
pageblocks (mobility grouping), but once memory is full of page cache and process memory,
those pageblocks have no free page left and ``__rmqueue_fallback()`` steals from a Movable
pageblock: the free pages of that block move to the Unmovable list and the next kernel
allocations land there, between page-cache pages.  Over the default day every 4 MiB of RAM
gets such a page, on every machine from 256 MiB to 16 GiB (benchmarks/bench_uptime.py prints
each size's outcome), and no 4 MiB block can form again, not even by compaction, which moves
only movable pages.

How fast the kernel pages spread depends on where the free pages are when a steal happens:
the steal takes the largest free block and drags along the free pages of its pageblock, and a
pageblock at least half free becomes Unmovable outright, where the next kernel pages then
gather (mobility grouping doing its job).  A big machine's day therefore needs its free
memory in small pieces everywhere, as a long-running machine has it: files read twice stay
on the active list while the ones read once around them are reclaimed (6.1's two file LRU
lists), processes that fault side by side get every other page, and the kernel keeps more
pages per operation.  The day's mix grows busier with the machine (``uptime()``'s
``hot_share``, ``touch_share``, ``held_share``, ``cache_share``); on 256 MiB it is the plain mix.
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
Every machine's day has 200,000 operations; what one does grows with the machine (``scale``:
a 16 GiB machine reads 64 times the files a 256 MiB machine reads per operation).  Up to
1 GiB a day passes about three times the machine's memory through the page cache; above
that, once, while the kernel keeps more pages (see ``uptime()``: by the end of the day it
holds about 60 % of a 4 or 16 GiB machine, far more than a real kernel does).  The per-page
loops (page faults, readahead, kernel pages taken in a row, reclaim, process exit) run in C
with the fast paths attached: about 0.6 CPU seconds for 256 MiB, 1 for 1 GiB, 1.2 for 4 GiB
and 3.5 for 16 GiB on a quiet 2-core machine, about twice that on a busy one (issue 16 asks
for 3: 16 GiB is not there yet); in pure Python, or on a machine with a CMA area, everything
runs in Python.  The day's processes are small next to a big machine, so from 4 GiB up
little memory is free when they have exited (3-4 % on 4 GiB, 1-2 % on 16 GiB, against 30 %
on 256 MiB).  benchmarks/bench_uptime.py prints each size's seconds and outcome.
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
OPS_PER_DAY = 200_000  # a day's default operations, on every machine
PAGES_PER_256MIB = 65_536  # scale 1: what one operation does on 256 MiB
COMMS = ("bash", "python3", "cc1", "make", "node", "postgres", "nginx", "rsync", "git", "java")
BURST_ORDER_MIX = ((1, 4), (2, 2), (3, 1))  # (order, weight): 8, 16 and 32 KiB buffers
TOUCH_TASKS = 4  # processes that fault side by side in a touch operation (at most)


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
    scale: int = 1  # what one operation does, in multiples of the 256 MiB day's

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
    cache_share: float | None = None,
    held_share: float | None = None,
    task_share: float = 0.01,
    burst_share: float = 0.02,
    touch_share: float | None = None,
    hot_share: float | None = None,
    cache_read: tuple[int, int] = (1, 16),
    task_size: tuple[int, int] = (1, 2),
    max_tasks: int = 40,
    burst_depth: int = 16,
    scale: int | None = None,
    sample_every: int | None = None,
) -> UptimeReport:
    """Age ``k`` with ``ops`` seeded operations; what happened, as an ``UptimeReport``.

    ``ops`` defaults to 200,000 on every machine; ``scale`` (default: managed memory in
    started 256 MiB, so 1 on 256 MiB, 4 on 1 GiB, 64 on 16 GiB) multiplies what an operation
    does, so a larger machine's day passes as much memory through relative to its size.
    Each operation is one of, with these probabilities:

    * ``cache_share``: read ``scale`` files: ``k.read_files()`` of ``cache_read`` pages each
      (uniform, inclusive; 4-64 KiB by default), each read a second time with probability
      ``hot_share`` (its pages then go on the active list and outlive the files read once).
      Once memory is full the allocator reclaims the oldest cache to make room, so the page
      cache keeps memory full and its pages moving;
    * ``held_share``: the kernel keeps ``scale`` pages: ``__get_free_pages(GFP_KERNEL, 0)``
      each (``k.get_free_pages_many()``), never freed (page tables of long-lived processes,
      driver rings, filesystem metadata);
    * ``task_share``: a process starts (``k.spawn()`` of ``task_size`` MiB, uniform,
      inclusive) or, when ``max_tasks`` run, a random one exits (``k.kill()``);
    * ``burst_share``: a short-lived buffer of order 1-3 (8-32 KiB); the oldest of them is
      freed once more than ``burst_depth`` are held;
    * ``touch_share``: up to four running processes fault in ``cache_read`` more pages each,
      side by side (``k.touch()``: their pages interleave);
    * otherwise slab churn: ``kmalloc()`` (52 %) of a size from ``SLAB_SIZE_MIX``, or
      ``kfree()`` of a random live object.

    A larger machine's day is also busier in kind: with ``busier = 1 - 1/scale`` the
    defaults are ``hot_share = 0.5 * busier``, ``touch_share = 0.02 * busier`` and
    ``held_share = 0.04 * (1 + 2 * busier)``, so on 256 MiB (scale 1) no file is read
    twice, no process grows and 4 % of the operations keep a page, while on 1 GiB 38 % of
    the files are read twice, 1.5 % of the operations grow processes and 10 % keep pages:
    what makes the many 4 MiB ranges of a big machine fragment within one day (see the
    module docstring).  Above 1 GiB (scale 5 and up) ``cache_share`` is 0.045 instead of
    0.12 and ``held_share`` 0.2: the page cache passes about as much memory through as the
    machine has instead of three times that (which took 5 s on 4 GiB and 13 s on 16 GiB on
    a busy 2-core machine), and the kernel keeps a page in every 4 MiB by holding more:
    about 60 % of memory at the end of the day, far more than a real kernel holds.

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
    if scale is None:
        scale = max(1, -(-managed // PAGES_PER_256MIB))
    scale = _int("scale", scale, 1)
    busier = 1 - 1 / scale  # 0 on 256 MiB, almost 1 on the largest machines
    large = scale > 4  # above 1 GiB
    if cache_share is None:
        cache_share = 0.045 if large else 0.12
    if held_share is None:
        held_share = 0.2 if large else 0.04 * (1 + 2 * busier)
    if touch_share is None:
        touch_share = 0.02 * busier
    if hot_share is None:
        hot_share = 0.5 * busier
    if ops is None:
        ops = OPS_PER_DAY
    ops = _int("ops", ops, 0)
    seed = _int("seed", seed, None)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(done, total), not {progress!r}")
    shares = {
        "cache_share": cache_share,
        "held_share": held_share,
        "task_share": task_share,
        "burst_share": burst_share,
        "touch_share": touch_share,
    }
    for name, value in {**shares, "hot_share": hot_share}.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number from 0 to 1, not {value!r}")
        if not 0 <= value <= 1:  # NaN fails this too
            raise ValueError(f"{name} must be from 0 to 1, got {value}")
    if sum(shares.values()) > 1:
        raise ValueError(
            f"cache_share + held_share + task_share + burst_share + touch_share must not "
            f"exceed 1 (the rest is slab churn), got {sum(shares.values())}"
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
    cut_touch = cut_cache + touch_share
    # weighted choices as tables indexed by int(rand() * len): one draw, no bisect
    size_ranges = [r for r, weight in SLAB_SIZE_MIX for _ in range(weight)]
    burst_orders = [order for order, weight in BURST_ORDER_MIX for _ in range(weight)]

    kmalloc, kfree = k.kmalloc, k.kfree
    get_free_pages, free_pages = k.get_free_pages, k.free_pages
    read_files, get_free_pages_many, touch = k.read_files, k.get_free_pages_many, k.touch
    read_span = read_high - read_low + 1
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
            if r >= cut_touch:  # slab churn, most operations
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
            elif r >= cut_cache:  # running processes fault in more memory, side by side
                if tasks:
                    side = list({tasks[int(rand() * len(tasks))]: 0 for _ in range(TOUCH_TASKS)})
                    wanted = read_low + int(rand() * read_span)
                    if touch(side, wanted * PAGE_SIZE) < wanted * len(side):
                        failed += 1
            elif r >= cut_burst:  # read files into the page cache, some of them twice
                files = [
                    (
                        (read_low + int(rand() * read_span)) * PAGE_SIZE,
                        2 if hot_share and rand() < hot_share else 1,
                    )
                    for _ in range(scale)
                ]
                if read_files(files) * PAGE_SIZE < sum(size for size, _ in files):
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
            else:  # the kernel keeps pages for good
                got = get_free_pages_many(GFP_WORKLOAD, scale)
                held += got
                failed += scale - len(got)
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
        scale=scale,
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
