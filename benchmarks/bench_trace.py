"""ftrace kmem traces: load and replay 1,000,000 events, as events/s (issue 16: >= 500k/s).

The trace is the simulation's own: a seeded driver workload on a 4 GiB machine (kmalloc of a
busy system's sizes and kfree, two kmem caches, large kmallocs, page blocks of order 0-3),
exported with kmviz.trace.export() until it holds the requested number of events.  Then the
file is loaded (timed, with the memory the loaded trace takes), once with load() (event
lines read in C, or with numpy without the fast path) and once with the line-by-line
reference parser, and replayed into a fresh machine of the same size (timed): the loop in C
and the machine's C fast paths, then all in Python.  Each time is printed as wall and CPU
seconds: on a shared machine the CPU seconds are the steadier figure.

Run: python benchmarks/bench_trace.py [--events N]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import tempfile
import time

from fastpath_modes import fastpath_modes

import kmviz
from kmviz import GFP_KERNEL, SLAB_HWCACHE_ALIGN, Kernel
from kmviz import trace as kmtrace
from kmviz.workloads import SLAB_SIZE_MIX, release

GOAL_EVENTS_PER_SECOND = 500_000  # issue 16: trace.load + replay
MACHINE = {
    "mem": "4GiB",
    "memory_map": "flat",
    "zone_dma": False,
    "zone_dma32": False,
    "boot_reserved": False,
}


def driver_workload(k: Kernel, events: int, seed: int) -> None:
    """Run seeded driver calls on ``k`` until its history has about ``events`` trace events."""
    rng = random.Random(seed)
    caches = (
        k.kmem_cache_create("bench_node", 200),
        k.kmem_cache_create("bench_req", 72, flags=SLAB_HWCACHE_ALIGN),
    )
    ranges, weights = zip(*SLAB_SIZE_MIX, strict=True)
    held: list[tuple[str, int, object]] = []
    calls = 0
    while calls < events:
        choice = rng.random()
        if held and choice < 0.47:
            release(k, held.pop(rng.randrange(len(held))))
        elif choice < 0.62:
            cache = caches[rng.randrange(2)]
            held.append(("cache", k.kmem_cache_alloc(cache, GFP_KERNEL), cache))
        elif choice < 0.97:
            size = rng.randint(*rng.choices(ranges, weights)[0])
            held.append(("kmalloc", k.kmalloc(size, GFP_KERNEL), None))
        elif choice < 0.98:
            held.append(("kmalloc", k.kmalloc(rng.choice((9000, 16384, 40000)), GFP_KERNEL), None))
        else:
            order = rng.choice((0, 1, 2, 3))
            held.append(("pages", k.get_free_pages(GFP_KERNEL, order), order))
        calls += 1  # one trace event per call, plus the slabs' pages: a little over ``events``


def rss_mib() -> float:
    """The process's resident memory now, MiB (VmRSS of /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.trace")
        start = time.perf_counter()
        source = Kernel(**MACHINE)
        driver_workload(source, args.events, args.seed)
        simulated = time.perf_counter() - start
        start = time.perf_counter()
        kmtrace.export(source, path)
        exported = time.perf_counter() - start
        size = os.path.getsize(path)
        del source
        gc.collect()
        print(
            f"trace: {size / 2**20:,.0f} MiB ({size:,} bytes); simulated in {simulated:.1f} s, "
            f"exported in {exported:.1f} s"
        )
        with open(path, encoding="utf-8") as file:
            start, cpu = time.perf_counter(), time.process_time()
            reference = kmtrace._read(file, "bench.trace")  # the line-by-line parser
            line_s, line_cpu = time.perf_counter() - start, time.process_time() - cpu
        del reference
        gc.collect()
        rss_before = rss_mib()
        start, cpu = time.perf_counter(), time.process_time()
        loaded = kmtrace.load(path)
        load_s, load_cpu = time.perf_counter() - start, time.process_time() - cpu
        n = len(loaded)
        print(
            f"load: {n:,} events in {load_s:.2f} s ({load_cpu:.2f} s CPU) = "
            f"{n / load_cpu:,.0f} events per CPU second; the loaded trace takes "
            f"{loaded.nbytes / n:.0f} B/event ({loaded.nbytes / 2**20:,.0f} MiB), "
            f"RSS {rss_mib() - rss_before:+,.0f} MiB"
        )
        print(
            f"load with the line-by-line reference parser: {line_s:.2f} s ({line_cpu:.2f} s "
            f"CPU); load() takes {load_cpu / line_cpu:.2f}x its CPU time"
        )
        for mode in fastpath_modes():
            k = Kernel(**MACHINE)
            gc.disable()
            start, cpu = time.perf_counter(), time.process_time()
            report = loaded.replay(k)
            replay_s, replay_cpu = time.perf_counter() - start, time.process_time() - cpu
            gc.enable()
            total, total_cpu = load_s + replay_s, load_cpu + replay_cpu
            print(
                f"replay, {mode}: {report.events_replayed:,} events in {replay_s:.2f} s "
                f"({replay_cpu:.2f} s CPU) = {n / replay_cpu:,.0f} events per CPU second "
                f"({report.allocations:,} allocations, {report.frees:,} frees); load + replay "
                f"{total:.2f} s ({total_cpu:.2f} s CPU) = {n / total_cpu:,.0f} events per CPU "
                f"second = {n / total_cpu / GOAL_EVENTS_PER_SECOND:.2f}x the 500k goal"
            )


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
