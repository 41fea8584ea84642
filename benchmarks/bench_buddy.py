"""Buddy allocator throughput: the engine issue's workload, printed as ops/s.

4 GiB in one zone, 1,000,000 seeded operations: with probability 0.55 allocate order k with
P(k) proportional to 2^-k (k = 0..10), else free a uniformly random live block.  The full event
history stays on.  Also: how long a 16 GiB machine takes to boot and how much memory it holds.

Run: python benchmarks/bench_buddy.py [--ops N]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time

from fastpath_modes import fastpath_modes

import kmviz
from kmviz import GFP_KERNEL, Kernel


def workload(ops: int, seed: int) -> tuple[list[bool], list[int], list[float]]:
    """The seeded operation stream: (allocate?, order if allocating, which live block if not)."""
    rng = random.Random(seed)
    weights = [2.0**-k for k in range(11)]
    allocate = [rng.random() < 0.55 for _ in range(ops)]
    orders = rng.choices(range(11), weights=weights, k=ops)
    picks = [rng.random() for _ in range(ops)]
    return allocate, orders, picks


def run(ops: int, seed: int) -> dict:
    k = Kernel(
        mem="4GiB",
        zone_dma=False,
        zone_dma32=False,
        boot_reserved=False,
        seed=seed,
        memory_map="flat",
    )
    allocate, orders, picks = workload(ops, seed)
    get_free_pages = k.get_free_pages
    free_pages = k.free_pages
    live: list[tuple[int, int]] = []
    failures = 0
    gc.disable()
    start = time.perf_counter()
    for alloc, order, pick in zip(allocate, orders, picks, strict=True):
        if alloc or not live:
            addr = get_free_pages(GFP_KERNEL, order)
            if addr:
                live.append((addr, order))
            else:
                failures += 1
        else:
            i = int(pick * len(live))
            block = live[i]
            live[i] = live[-1]
            live.pop()
            free_pages(*block)
    elapsed = time.perf_counter() - start
    gc.enable()
    return {
        "ops/s": ops / elapsed,
        "seconds": elapsed,
        "events": len(k.history),
        "records": k.history.record_count,
        "failures": failures,
        "live blocks": len(live),
    }


def boot_16gib() -> dict:
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    k = Kernel(mem="16GiB", memory_map="flat")
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "boot seconds": elapsed,
        "max RSS MB": after / 1024,
        "RSS growth MB": (after - before) / 1024,
        "zones": repr(k),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    boot = boot_16gib()
    print(
        f"16 GiB boot: {boot['boot seconds']:.3f} s, max RSS {boot['max RSS MB']:.0f} MB "
        f"(+{boot['RSS growth MB']:.0f} MB)  {boot['zones']}"
    )
    for path in fastpath_modes():
        result = run(args.ops, args.seed)
        print(
            f"buddy workload, 4 GiB one zone, {args.ops:,} ops, {path}: "
            f"{result['ops/s']:,.0f} ops/s ({result['seconds']:.2f} s; "
            f"{result['events']:,} events in {result['records']:,} records; "
            f"{result['failures']:,} failed allocations; {result['live blocks']:,} live)"
        )


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
