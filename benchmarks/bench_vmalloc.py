"""vmalloc/vfree as areas pile up: time per call with 1,000 and 10,000 live areas, as ratios.

6.1 finds free vmalloc space in a tree augmented with the largest free range below each node
(find_vmap_lowest_match()), so a call costs the same however many areas are mapped.  This
prints kmviz's time per vmalloc+vfree with ``--small`` and ``--large`` areas live (a random
live area is freed and a new one taken, so holes open and the lazy purge runs), and the same
for the list-walking reference (references.ListVmalloc): the ratio large/small should stay
near 1.0 for kmviz and grow with the area count for the list.

Run: python benchmarks/bench_vmalloc.py [--small N] [--large N] [--calls N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

from references import DictBuddy, ListVmalloc

import kmviz
from kmviz import Kernel
from kmviz.engine.pagetable import VMALLOC_END, VMALLOC_START


def churn(allocate: Callable, release: Callable, live: int, calls: int, seed: int) -> float:
    """Microseconds per vmalloc+vfree pair once ``live`` areas of 1-16 pages are mapped."""
    rng = random.Random(seed)
    held = [allocate(rng.randint(1, 16) << 12) for _ in range(live)]
    sizes = [rng.randint(1, 16) << 12 for _ in range(calls)]
    picks = [rng.randrange(live) for _ in range(calls)]
    gc.disable()
    start = time.perf_counter()
    for size, pick in zip(sizes, picks, strict=True):
        release(held[pick])
        held[pick] = allocate(size)
    elapsed = time.perf_counter() - start
    gc.enable()
    return 1e6 * elapsed / calls


def kmviz_churn(live: int, calls: int, seed: int) -> float:
    """churn() on a flat 4 GiB machine."""
    k = Kernel(mem="4GiB", zone_dma=False, zone_dma32=False, boot_reserved=False, memory_map="flat")
    return churn(k.vmalloc, k.vfree, live, calls, seed)


def reference_churn(live: int, calls: int, seed: int) -> float:
    """churn() on the list-walking reference over a 4 GiB dict-of-sets buddy allocator."""
    areas = ListVmalloc(DictBuddy(1 << 20), VMALLOC_START, VMALLOC_END)
    return churn(areas.alloc, areas.release, live, calls, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="live areas, first run")
    parser.add_argument("--large", type=int, default=10_000, help="live areas, second run")
    parser.add_argument("--calls", type=int, default=5_000, help="vmalloc+vfree pairs timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'':<28} {args.small:>9,} live {args.large:>9,} live {'ratio':>7}")
    for name, measure in (("kmviz", kmviz_churn), ("list reference", reference_churn)):
        small = measure(args.small, args.calls, args.seed)
        large = measure(args.large, args.calls, args.seed)
        print(f"{name + ' (us per pair)':<28} {small:>14.1f} {large:>14.1f} {large / small:>6.2f}x")
    print("kmviz's ratio near 1.0: the area search does not slow down as areas pile up")


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
