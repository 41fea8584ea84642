"""How long each lesson's cells take under nbclient, in seconds and in machine boots.

The speed goals: every lesson cell finishes in about 3 s (or shows progress), and Run All of a
lesson takes 20 s at most.  These machines are noisy, so each figure is also given in units of
a reference measured in the same run: a "yardstick", 100,000 allocations and frees of the
plain-Python buddy allocator of benchmarks/references.py.  A cell is listed when it takes
longer than a second.

Run: python benchmarks/bench_lessons.py [lesson-prefix ...]   (e.g. 04 05; default: all)
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from references import DictBuddy

import kmviz
from kmviz.lessons import LESSONS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SLOW = 1.0  # seconds: a cell slower than this is listed
GOAL_CELL, GOAL_LESSON = 3.0, 20.0  # seconds (issue 16)
YARDSTICK_OPS = 100_000


def yardstick_seconds(repeat: int = 3) -> float:
    """The reference: the fastest of ``repeat`` runs of YARDSTICK_OPS reference alloc/free pairs."""
    best = float("inf")
    for _ in range(repeat):
        buddy, rng = DictBuddy(1 << 16), random.Random(0)
        start = time.perf_counter()
        held = []
        for _ in range(YARDSTICK_OPS):
            if held and rng.random() < 0.5:
                buddy.release(*held.pop(rng.randrange(len(held))))
            elif (pfn := buddy.alloc(order := rng.randrange(4))) is not None:
                held.append((pfn, order))
        best = min(best, time.perf_counter() - start)
    return best


def cell_seconds(cell) -> float:
    """How long a cell ran, from the timing nbclient records (busy → idle)."""
    timing = cell.metadata.get("execution", {})
    busy, idle = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
    if not busy or not idle:
        return 0.0
    return (datetime.fromisoformat(idle[:-1]) - datetime.fromisoformat(busy[:-1])).total_seconds()


def run(name: str, yardstick: float) -> None:
    """Execute lesson ``name`` top to bottom; print its total and its slow cells."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, record_timing=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # fmt: skip
    total = time.perf_counter() - start
    cells = [(cell_seconds(cell), cell.id) for cell in notebook.cells if cell.cell_type == "code"]
    over = sum(seconds > GOAL_CELL for seconds, _ in cells)
    print(
        f"{name}: {total:.1f} s = {total / yardstick:.0f} yardsticks (goal {GOAL_LESSON:.0f} s); "
        f"{len(cells)} code cells, {over} over {GOAL_CELL:.0f} s"
    )
    for seconds, cell_id in sorted(cells, reverse=True):
        if seconds > SLOW:
            print(f"    cell {cell_id}: {seconds:.1f} s = {seconds / yardstick:.0f} yardsticks")


def main() -> None:
    print(kmviz.info())
    yardstick = yardstick_seconds()
    print(f"yardstick: {YARDSTICK_OPS:,} reference buddy operations = {yardstick * 1000:.0f} ms")
    prefixes = sys.argv[1:]
    for name in LESSONS:
        if not prefixes or any(name.startswith(prefix) for prefix in prefixes):
            run(name, yardstick)


if __name__ == "__main__":
    main()
