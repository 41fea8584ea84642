"""Views' update cost: Python milliseconds per user action and bytes sent, at 1 GiB and 16 GiB.

For every (name, view factory) in VIEWS and every machine size: age a kernel with
``uptime(k, ops)``, build the view on its shared timeline, then time (median of --repeat)

* alloc      -- __get_free_pages(GFP_KERNEL, 3), the views following the kernel;
* free       -- free_pages() of one of those blocks;
* step back  -- timeline.step(-1) (restore the nearest checkpoint, replay up to it);
* to middle  -- timeline.seek(length // 2), from the newest position.

Each row also gives the same action with no view ("timeline only"), so the view's own share is
the difference, and the bytes the widgets would send to the browser per action (JSON and
binary buffers such as PNGs), counted at the comm.  No kernel runs here: comms are dummies.
Last, the seconds a Dashboard takes to open over a history of about --history events
(__get_free_pages/free_pages on 4 GiB), the issue's goal being under 2 s.

Run: python benchmarks/bench_widgets.py [--repeat N] [--ops N] [--history N]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import time
from contextlib import contextmanager

import bench_buddy
import comm
from bench_ratios import drive, flat_machine

import kmviz
from kmviz import GFP_KERNEL, Kernel
from kmviz.widgets.buddy import BuddyView
from kmviz.widgets.context import ContextView
from kmviz.widgets.dashboard import Dashboard
from kmviz.widgets.physmap import PhysMap
from kmviz.widgets.slab import SlabView
from kmviz.widgets.timeline import Timeline
from kmviz.widgets.vmalloc import VmallocView
from kmviz.workloads import uptime

# (name, factory: Timeline -> view); "Dashboard" is every view, the player and the controls
VIEWS = [
    ("PhysMap", PhysMap),
    ("BuddyView", BuddyView),
    ("SlabView", SlabView),
    ("Vmalloc", VmallocView),
    ("Context", ContextView),
    ("Dashboard", lambda timeline: Dashboard(timeline.kernel)),
]
SIZES = ("1GiB", "16GiB")


class Wire:
    """Counts what widget messages would carry to the browser: JSON bytes and binary buffers."""

    def __init__(self):
        self.json = 0
        self.binary = 0

    @contextmanager
    def counting(self):
        """Count every message published through a comm while inside."""
        comm_class = comm.DummyComm
        silent = comm_class.publish_msg

        def publish_msg(_comm, _msg_type, data=None, metadata=None, buffers=None, **keys):
            self.json += len(json.dumps(data, default=str))
            self.binary += sum(memoryview(b).nbytes for b in buffers or ())

        comm_class.publish_msg = publish_msg
        try:
            yield self
        finally:
            comm_class.publish_msg = silent


def actions(k: Kernel, timeline: Timeline):
    """The timed actions on ``k``: (label, untimed set-up before each or None, action)."""
    held: list[int] = []

    def alloc():
        held.append(k.get_free_pages(GFP_KERNEL, 3))

    def free():
        k.free_pages(held.pop(), 3)

    def back_to_newest():
        timeline.follow = True
        timeline.seek(timeline.length)

    def step_back():
        timeline.follow = False
        timeline.step(-1)

    def to_middle():
        timeline.follow = False
        timeline.seek(timeline.length // 2)

    return [
        ("alloc", back_to_newest, alloc),
        ("free", None, free),
        ("step back", back_to_newest, step_back),
        ("to middle", back_to_newest, to_middle),
    ]


def measure(size: str, factory, ops: int, repeat: int) -> list[tuple]:
    """Per action: (label, ms with the view, ms timeline only, JSON bytes, binary bytes)."""
    results: dict[str, list[tuple[float, float, float]]] = {}
    for with_view in (False, True):
        k = Kernel(size, seed=1)
        uptime(k, ops)
        timeline = Timeline.of(k)
        wire = Wire()
        with wire.counting():
            if with_view:
                factory(timeline)
            for label, setup, action in actions(k, timeline):
                results.setdefault(label, []).append(timed(setup, action, repeat, wire))
    return [(label, view[0], bare[0], view[1], view[2]) for label, (bare, view) in results.items()]


def timed(setup, action, repeat: int, wire: Wire) -> tuple[float, float, float]:
    """Median ms of ``action()`` and its mean (JSON, binary) bytes sent; ``setup()`` untimed."""
    times, sent_json, sent_binary = [], 0, 0
    gc.collect()
    for _ in range(repeat):
        if setup is not None:
            setup()
        json_before, binary_before = wire.json, wire.binary
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
        sent_json += wire.json - json_before
        sent_binary += wire.binary - binary_before
    return statistics.median(times) * 1e3, sent_json / repeat, sent_binary / repeat


def dashboard_seconds(events: int) -> tuple[int, float]:
    """(events in the history, seconds) for a Dashboard opening over a long page history."""
    k = flat_machine(observed=False)
    plan = bench_buddy.workload(events * 9 // 10, 0)  # about 1.1 events per operation
    drive(functools.partial(k.get_free_pages, GFP_KERNEL), k.free_pages, plan)
    length = len(k.history)
    start = time.perf_counter()
    Dashboard(k)
    return length, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--ops", type=int, default=5000, help="uptime() operations first")
    parser.add_argument("--history", type=int, default=1_000_000, help="events under a Dashboard")
    args = parser.parse_args()
    print(f"median of {args.repeat}; machines aged by uptime(k, {args.ops})")
    print(f"{'view':<10}{'machine':>8}  {'action':<10}{'ms':>8}{'timeline only':>15}"
          f"{'view share':>12}{'JSON B':>9}{'binary B':>10}")  # fmt: skip
    for name, factory in VIEWS:
        for size in SIZES:
            for label, ms, bare, sent_json, sent_binary in measure(
                size, factory, args.ops, args.repeat
            ):
                print(
                    f"{name:<10}{size:>8}  {label:<10}{ms:>8.2f}{bare:>15.2f}"
                    f"{ms - bare:>12.2f}{sent_json:>9.0f}{sent_binary:>10.0f}"
                )
    events, seconds = dashboard_seconds(args.history)
    print(f"Dashboard over {events:,} events opens in {seconds:.2f} s (goal < 2 s)")


if __name__ == "__main__":
    print(kmviz.info(), end="\n\n")  # what produced the figures below
    main()
