"""vmalloc(64 MiB) + vfree on a 4 GiB machine, with events on: milliseconds per call.

Run: python benchmarks/bench_vmalloc.py [--runs N]
"""

from __future__ import annotations

import argparse
import time

import kmviz
from kmviz import Kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    k = Kernel(mem="4GiB")
    k.vmalloc(4096)  # the first call builds the kernel page tables and the direct map
    for run in range(args.runs):
        start = time.perf_counter()
        addr = k.vmalloc(64 << 20)
        mapped = time.perf_counter()
        k.vfree(addr)
        done = time.perf_counter()
        print(
            f"run {run}: vmalloc(64 MiB) {1000 * (mapped - start):.1f} ms, "
            f"vfree {1000 * (done - mapped):.1f} ms, together {1000 * (done - start):.1f} ms"
        )


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
