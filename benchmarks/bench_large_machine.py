"""Boot time and peak memory of large machines, up to kmviz's largest (1 TiB).

Each machine boots in a process of its own, which reports the seconds ``Kernel(mem=...)`` took
(wall clock, and CPU: on a shared machine the second is the one to compare) and the process's peak
resident memory (ru_maxrss, the interpreter's ~30 MB included), also as bytes per page frame: the
page arrays take 5 (a state byte, and two 4-byte list links per pair of frames).

Run: python benchmarks/bench_large_machine.py [--sizes 64GiB,1TiB] [--maps flat,pc]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import resource, time
from kmviz import Kernel
start, cpu = time.perf_counter(), time.process_time()
k = Kernel(mem={mem!r}, memory_map={memory_map!r})
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10
print(seconds, cpu, peak, k.nr_pfns)
"""


def boot(mem: str, memory_map: str) -> str:
    """One machine booted in a child process; its figures as one line."""
    code = CHILD.format(mem=mem, memory_map=memory_map)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    seconds, cpu, peak, pfns = result.stdout.split()
    peak, pfns = int(peak), int(pfns)
    return (
        f"{mem:>7} {memory_map:<5} boot {float(seconds):6.2f} s (CPU {float(cpu):6.2f} s)"
        f"   peak RSS {peak / 2**30:5.2f} GiB"
        f" = {peak / pfns:5.2f} bytes per page frame"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16GiB,64GiB,256GiB,1TiB")
    parser.add_argument("--maps", default="flat,pc")
    args = parser.parse_args()
    for mem in args.sizes.split(","):
        for memory_map in args.maps.split(","):
            print(boot(mem, memory_map), flush=True)


if __name__ == "__main__":
    main()
