"""uptime() throughput: the ageing workload of kmviz.workloads, printed as ops/s.

1,000,000 operations of seed 0 with the default mix on a freshly booted 4 GiB machine (the
full event history on), once with the C fast paths and once in pure Python; then the
default story on 256 MiB: 200,000 operations, after which a 4 MiB block cannot be had
although much of memory is free.

Run: python benchmarks/bench_uptime.py [--ops N] [--mem SIZE] [--seed S]
"""

from __future__ import annotations

import argparse

from fastpath_modes import fastpath_modes

import kmviz
from kmviz import __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL, Kernel
from kmviz.workloads import uptime


def run(mem: str, ops: int, seed: int) -> str:
    """One uptime() run on a new machine; its figures as one line."""
    k = Kernel(mem=mem, seed=0)
    report = uptime(k, ops=ops, seed=seed)
    return (
        f"{report.ops / report.wall_seconds:,.0f} ops/s ({report.wall_seconds:.2f} s; "
        f"{report.seconds:.2f} s simulated; {len(k.history):,} events; "
        f"{report.free_share:.0%} free; largest free order {report.largest_free_order}; "
        f"{report.page_cache_pages:,} page-cache pages; {report.tasks_spawned} processes)"
    )


def story() -> str:
    """The default story on 256 MiB, as one line."""
    k = Kernel(mem="256MiB", seed=0)
    report = uptime(k)
    page = k.alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 10)
    addr = k.vmalloc(4 << 20)
    return (
        f"{report.wall_seconds:.2f} s; {report.free_share:.0%} free; order-10 alloc_pages "
        f"{'failed' if page is None else 'succeeded'}; vmalloc(4 MiB) "
        f"{'succeeded' if addr else 'failed'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--mem", default="4GiB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in fastpath_modes():
        print(f"uptime, {args.mem}, {args.ops:,} ops, {path}: {run(args.mem, args.ops, args.seed)}")
    print(f"uptime story, 256MiB, 200,000 ops, seed 0: {story()}")


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
