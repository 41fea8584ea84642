"""``python3 -m tests.fuzz``: the long fuzz run, seed after seed, until the time is up.

    python3 -m tests.fuzz --minutes 60                 # seeds 0, 1, 2 ... for an hour
    python3 -m tests.fuzz --seeds 7-9 --calls 50000    # three seeds, 50,000 calls each

Prints one line per seed and a total; exits 1 with the failing seed, call and the calls that
led there as soon as a rule breaks (tests/fuzz/harness.py lists the rules).
"""

from __future__ import annotations

import argparse
import sys
import time

from .harness import Fuzzer, FuzzError


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer as the command line asks; 0 if nothing broke, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python3 -m tests.fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=0, help="stop after this long")
    parser.add_argument("--seeds", default="0-", help="first-last seed (default 0 onwards)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per seed")
    parser.add_argument("--views-every", type=int, default=8,
                        help="every Nth seed also drives every view (slower)")  # fmt: skip
    options = parser.parse_args(argv)
    first, _, last = options.seeds.partition("-")
    seeds = range(int(first), int(last) + 1 if last else sys.maxsize)
    if not options.minutes and not last:
        parser.error("give --minutes, or a last seed (--seeds 0-9)")
    deadline = time.monotonic() + options.minutes * 60 if options.minutes else float("inf")
    start, total, done = time.monotonic(), 0, 0
    for seed in seeds:
        if time.monotonic() >= deadline:
            break
        views = options.views_every > 0 and seed % options.views_every == 0
        fuzzer = Fuzzer(seed, views=views)
        began = time.monotonic()
        try:
            while fuzzer.calls < options.calls and time.monotonic() < deadline:
                fuzzer.step()
        except FuzzError as failure:
            print(f"FAILED after {total + fuzzer.calls} calls: {failure}", flush=True)
            return 1
        took = time.monotonic() - began
        total += fuzzer.calls
        done += 1
        print(f"seed {seed}: {fuzzer.calls} calls on {fuzzer.machines} machines"
              f"{' with views' if views else ''}, {fuzzer.calls / took:.0f} calls/s",
              flush=True)  # fmt: skip
    minutes = (time.monotonic() - start) / 60
    print(f"nothing broke: {total} calls, {done} seeds, {minutes:.1f} minutes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
