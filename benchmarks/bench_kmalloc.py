"""kmalloc/kfree throughput: the slab issue's workload, printed as ops/s.

1,000,000 seeded operations on a 4 GiB machine with the full event history on: with
probability 0.55 kmalloc a size drawn from a busy system's mix (mostly 8-512 bytes, some up
to 4 KiB, a few large), else kfree a uniformly random live object.

Run: python benchmarks/bench_kmalloc.py [--ops N]
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from fastpath_modes import fastpath_modes

import kmviz
from kmviz import GFP_KERNEL, Kernel

# (size range, weight): roughly what /proc/slabinfo of a desktop shows kmalloc serving
SIZE_MIX = (
    ((8, 64), 45),
    ((65, 256), 30),
    ((257, 512), 15),
    ((513, 4096), 9),
    ((4097, 16384), 1),
)


def workload(ops: int, seed: int) -> tuple[list[bool], list[int], list[float]]:
    """The seeded stream: (kmalloc?, size if so, which live object to free if not)."""
    rng = random.Random(seed)
    ranges = [r for r, _ in SIZE_MIX]
    weights = [w for _, w in SIZE_MIX]
    allocate = [rng.random() < 0.55 for _ in range(ops)]
    sizes = [rng.randint(*rng.choices(ranges, weights)[0]) for _ in range(ops)]
    picks = [rng.random() for _ in range(ops)]
    return allocate, sizes, picks


def run(ops: int, seed: int) -> str:
    """Run the workload once; its figures as one line."""
    k = Kernel(mem="4GiB", zone_dma=False, zone_dma32=False, boot_reserved=False, memory_map="flat")
    allocate, sizes, picks = workload(ops, seed)
    kmalloc, kfree = k.kmalloc, k.kfree
    live: list[int] = []
    gc.disable()
    start = time.perf_counter()
    for alloc, size, pick in zip(allocate, sizes, picks, strict=True):
        if alloc or not live:
            live.append(kmalloc(size, GFP_KERNEL))
        else:
            i = int(pick * len(live))
            addr = live[i]
            live[i] = live[-1]
            live.pop()
            kfree(addr)
    elapsed = time.perf_counter() - start
    gc.enable()
    requested, allocated = k.fragmentation_total()
    return (
        f"{ops / elapsed:,.0f} ops/s ({elapsed:.2f} s; {len(k.history):,} events; "
        f"{len(live):,} live objects; {allocated:,} B handed out for {requested:,} B requested)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in fastpath_modes():
        print(f"kmalloc/kfree, 4 GiB, {args.ops:,} ops, {path}: {run(args.ops, args.seed)}")


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
