"""Every allocator API's speed as a ratio to a plain-Python reference run in the same process.

The speed issue's yardstick.  Each row runs one seeded operation stream twice, through kmviz
and through the simplest correct Python allocator for the same job (references.py), and prints
kmviz's operations per CPU second (other jobs of a loaded machine do not count), the
reference's, their ratio and the issue's goal for it.  Rows "a Timeline observing a cell"
attach the views' Timeline first, as every lesson does, and run the operations in one batch, as
a notebook cell does (the Timeline's catch-up at its end is timed too).  Then the Timeline's
fold cost per event and the engine's memory per page frame.

Run: python benchmarks/bench_ratios.py [--ops N] [--seed S]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import random
import time
import tracemalloc
from collections.abc import Callable

import bench_buddy
import bench_kmalloc
from fastpath_modes import fastpath_modes
from references import DictBuddy, ListVmalloc, SizeClassSlab

import kmviz
from kmviz import GFP_KERNEL, Kernel
from kmviz.engine.pagetable import VMALLOC_END, VMALLOC_START
from kmviz.workloads import uptime

Plan = tuple[list[bool], list[int], list[float]]  # (allocate?, its argument, which live to free)


def drive(
    allocate: Callable, release: Callable, plan: Plan, inside: Callable = contextlib.nullcontext
) -> float:
    """Run ``plan`` (allocate, else free a random live handle) ``with inside():``; ops/s.

    Per CPU second of this process: the other jobs of a loaded machine do not count.
    """
    allocating, arguments, picks = plan
    live: list[tuple[int, int]] = []
    gc.disable()
    start = time.process_time()
    with inside():
        for alloc, argument, pick in zip(allocating, arguments, picks, strict=True):
            if alloc or not live:
                handle = allocate(argument)
                if handle:
                    live.append((handle, argument))
            else:
                i = int(pick * len(live))
                handle, held_argument = live[i]
                live[i] = live[-1]
                live.pop()
                release(handle, held_argument)
    elapsed = time.process_time() - start
    gc.enable()
    return len(allocating) / elapsed


def flat_machine(observed: bool) -> Kernel:
    """4 GiB in one zone, nothing reserved: the machine every allocator row runs on."""
    k = Kernel(mem="4GiB", zone_dma=False, zone_dma32=False, boot_reserved=False, memory_map="flat")
    if observed:
        from kmviz.widgets import Timeline  # noqa: PLC0415 - needs the lab extra

        Timeline.of(k)
    return k


def pages_ratio(plan: Plan, observed: bool, page_api: bool) -> tuple[float, float]:
    """(kmviz, reference) ops/s for order-k blocks, by address or (page_api) by struct page."""
    k = flat_machine(observed)
    inside = k.batch if observed else contextlib.nullcontext
    if page_api:
        kmviz_rate = drive(
            functools.partial(k.alloc_pages, GFP_KERNEL), getattr(k, "__free_pages"), plan, inside
        )
    else:
        kmviz_rate = drive(
            functools.partial(k.get_free_pages, GFP_KERNEL), k.free_pages, plan, inside
        )
    buddy = DictBuddy(k.nr_pfns)
    return kmviz_rate, drive(buddy.alloc, buddy.release, plan)


def objects_ratio(plan: Plan, observed: bool, cache_size: int = 0) -> tuple[float, float]:
    """(kmviz, reference) ops/s for kmalloc of ``plan``'s sizes, or one kmem_cache's objects."""
    k = flat_machine(observed)
    if cache_size:
        cache = k.kmem_cache_create("bench_object", cache_size)
        kmviz_rate = drive(
            lambda _size: k.kmem_cache_alloc(cache, GFP_KERNEL),
            lambda addr, _size: k.kmem_cache_free(cache, addr),
            plan,
        )
    else:
        kmviz_rate = drive(
            lambda size: k.kmalloc(size, GFP_KERNEL),
            lambda addr, _size: k.kfree(addr),
            plan,
            k.batch if observed else contextlib.nullcontext,
        )
    slab = SizeClassSlab(DictBuddy(k.nr_pfns))
    return kmviz_rate, drive(slab.alloc, lambda addr, _size: slab.release(addr), plan)


def vmalloc_ratio(plan: Plan) -> tuple[float, float]:
    """(kmviz, reference) ops/s for vmalloc/vfree of ``plan``'s sizes."""
    k = flat_machine(observed=False)
    kmviz_rate = drive(k.vmalloc, lambda addr, _size: k.vfree(addr), plan)
    areas = ListVmalloc(DictBuddy(k.nr_pfns), VMALLOC_START, VMALLOC_END)
    return kmviz_rate, drive(areas.alloc, lambda addr, _size: areas.release(addr), plan)


def vmalloc_plan(ops: int, seed: int) -> Plan:
    """Areas of 1-16 pages, allocated more often than freed, so they pile up."""
    rng = random.Random(seed)
    allocate = [rng.random() < 0.6 for _ in range(ops)]
    sizes = [rng.randint(1, 16) << 12 for _ in range(ops)]
    return allocate, sizes, [rng.random() for _ in range(ops)]


def fold_microseconds(ops: int, seed: int) -> dict[str, float]:
    """CPU microseconds the views' Timeline takes per event to catch up, per kind of history.

    CPU time, not wall time: the figure is the fold's own cost, whatever else the machine runs.
    """
    from kmviz.widgets import Timeline  # noqa: PLC0415 - needs the lab extra

    pages = flat_machine(observed=False)
    drive(
        functools.partial(pages.get_free_pages, GFP_KERNEL),
        pages.free_pages,
        bench_buddy.workload(ops, seed),
    )
    objects = flat_machine(observed=False)
    drive(
        lambda size: objects.kmalloc(size, GFP_KERNEL),
        lambda addr, _size: objects.kfree(addr),
        bench_kmalloc.workload(ops, seed),
    )
    aged = Kernel("256MiB", seed=seed, memory_map="flat")
    uptime(aged, ops)
    costs = {}
    for name, k in (("pages", pages), ("kmalloc", objects), ("uptime", aged)):
        start = time.process_time()
        Timeline(k)
        costs[name] = 1e6 * (time.process_time() - start) / len(k.history)
    return costs


def machine_bytes(mem: str) -> int:
    """Bytes of Python and numpy memory a freshly booted flat machine of ``mem`` holds.

    The history is left out: it grows with events, not frames (boot's one record per free
    order-10 block included), and ``History.records`` is counted on its own.
    """
    gc.collect()
    tracemalloc.start()
    k = Kernel(mem=mem, memory_map="flat")
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held - k.history.records.buffer_info()[1] * k.history.records.itemsize


def memory_per_page() -> tuple[float, float]:
    """Bytes per page frame (what each extra frame costs, 16 GiB to 32 GiB) and KiB per machine.

    Two boots: the slope between them is the per-frame price (the frame arrays, and the tables
    kept per pageblock and per 16 MiB), the rest is what every machine holds whatever its size
    (caches, zones, the plans of the fast path).
    """
    small, large = machine_bytes("16GiB"), machine_bytes("32GiB")
    frames = (32 - 16) << (30 - 12)  # 16 GiB more, in 4 KiB frames: 4,194,304
    per_frame = (large - small) / frames
    return per_frame, (small - per_frame * frames) / 1024


def row(name: str, rates: tuple[float, float], goal: float | None) -> None:
    """One printed line: kmviz ops/s, reference ops/s, ratio, and the goal if the row has one."""
    ratio = rates[0] / rates[1]
    target = f">= {goal:.1f}x" if goal else "-"
    verdict = "" if goal is None else "met" if ratio >= goal else "below"
    print(f"{name:<64} {rates[0]:>11,.0f} {rates[1]:>11,.0f} {ratio:>7.2f}x {target:>8} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ops, seed = args.ops, args.seed
    pages = bench_buddy.workload(ops, seed)
    sizes = bench_kmalloc.workload(ops, seed)
    objects = (sizes[0], [192] * ops, sizes[2])
    try:
        import kmviz.widgets  # noqa: F401, PLC0415
    except ImportError:
        observable = False
        print("(no Timeline rows: kmviz.widgets needs pip install 'kmviz[lab]')")
    else:
        observable = True
    print(f"{'path (ops/s)':<64} {'kmviz':>11} {'reference':>11} {'ratio':>8} {'goal':>8}")
    for path in fastpath_modes():
        # the goals are the accelerated path's; the pure-Python rows show what it speeds up
        accelerated = path == "C fast path"
        rows = [
            ("__get_free_pages/free_pages", lambda: pages_ratio(pages, False, False), 1.5),
            ("alloc_pages/__free_pages", lambda: pages_ratio(pages, False, True), 1.0),
            ("kmem_cache_alloc/free (192 B)", lambda: objects_ratio(objects, False, 192), 1.0),
            ("kmalloc/kfree (a busy system's sizes)", lambda: objects_ratio(sizes, False), 1.0),
        ]
        if observable:
            rows += [
                ("__get_free_pages/free_pages, a Timeline observing a cell",
                 lambda: pages_ratio(pages, True, False), 0.5),
                ("kmalloc/kfree, a Timeline observing a cell",
                 lambda: objects_ratio(sizes, True), 0.5),
            ]  # fmt: skip
        for name, measure, goal in rows:
            row(f"{name}, {path}", measure(), goal if accelerated else None)
    for count in (ops // 100, ops // 20):
        row(
            f"vmalloc/vfree of 1-16 pages, {count:,} calls",
            vmalloc_ratio(vmalloc_plan(count, seed)),
            1.0,
        )
    if observable:
        costs = fold_microseconds(ops, seed)
        print(
            "Timeline fold, CPU us per event (goal <= 1): "
            + ", ".join(f"{name} {cost:.2f}" for name, cost in costs.items())
        )
    per_frame, fixed_kib = memory_per_page()
    print(f"memory: {per_frame:.3f} bytes per page frame (goal <= 9), {fixed_kib:,.0f} KiB fixed")


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
