"""How long each lesson's cells take under nbclient: CPU and wall seconds, cell by cell.

The speed goals: every lesson cell finishes in about 3 s (or shows progress), and Run All of a
lesson takes 20 s at most.  These machines are shared and noisy, so each cell's CPU time is
read from the kernel process itself (``/proc/<pid>/stat``, utime + stime, before and after the
cell), which leaves out the time other jobs hold the CPU; wall time is nbclient's busy → idle.
A busy machine still slows CPU time somewhat (shared caches), so it is also given in units of
a reference measured the same way in the same run: a "yardstick", the CPU time of 100,000
allocations and frees of the plain-Python buddy allocator of benchmarks/references.py.  Every
code cell is listed; ``!`` marks one whose CPU time is over the 3 s goal.

Each lesson's line ends with the load average when it finished; lesson 06 copies this host's
own /proc files, so its cells depend on how fragmented the host's memory is: its free blocks
per order (/proc/buddyinfo) are printed before and after it runs.

Run: python benchmarks/bench_lessons.py [lesson-prefix ...]   (e.g. 04 05; default: all)
"""

from __future__ import annotations

import os
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

ROOT = Path(__file__).resolve().parents[1]  # the checkout whose kmviz and lessons are measured
NOTEBOOKS = ROOT / "notebooks"
TICK = os.sysconf("SC_CLK_TCK")  # /proc/<pid>/stat counts CPU time in these per second
GOAL_CELL, GOAL_LESSON = 3.0, 20.0  # seconds (issue 16)
YARDSTICK_OPS = 100_000


def yardstick_seconds(repeat: int = 3) -> float:
    """The reference: CPU seconds of the fastest of ``repeat`` runs of YARDSTICK_OPS operations."""
    best = float("inf")
    for _ in range(repeat):
        buddy, rng = DictBuddy(1 << 16), random.Random(0)
        start = time.process_time()
        held = []
        for _ in range(YARDSTICK_OPS):
            if held and rng.random() < 0.5:
                buddy.release(*held.pop(rng.randrange(len(held))))
            elif (pfn := buddy.alloc(order := rng.randrange(4))) is not None:
                held.append((pfn, order))
        best = min(best, time.process_time() - start)
    return best


def cell_seconds(cell) -> float:
    """How long a cell ran, from the timing nbclient records (busy → idle)."""
    timing = cell.metadata.get("execution", {})
    busy, idle = timing.get("iopub.status.busy"), timing.get("iopub.status.idle")
    if not busy or not idle:
        return 0.0
    return (datetime.fromisoformat(idle[:-1]) - datetime.fromisoformat(busy[:-1])).total_seconds()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15


class TimedClient(NotebookClient):
    """A NotebookClient that also records the kernel process's CPU seconds for each cell."""

    def __init__(self, notebook, **kwargs):
        super().__init__(notebook, **kwargs)
        self.cpu = {}  # cell index -> CPU seconds the kernel spent running it
        self.on_cell_execute = self._cell_starts
        self.on_cell_executed = self._cell_ends

    def _pid(self) -> int:
        return self.km.provisioner.process.pid

    def _cell_starts(self, cell, cell_index, **_):
        self.cpu[cell_index] = -process_cpu_seconds(self._pid())

    def _cell_ends(self, cell, cell_index, **_):
        self.cpu[cell_index] += process_cpu_seconds(self._pid())


def host_free_blocks() -> str:
    """This host's /proc/buddyinfo, its lines indented (what lesson 06's copy starts from)."""
    try:
        text = Path("/proc/buddyinfo").read_text()
    except OSError:
        return "    (no /proc/buddyinfo)"
    return "\n".join(f"    {line}" for line in text.splitlines())


def run(name: str, yardstick: float) -> None:
    """Execute lesson ``name`` top to bottom; print its totals and every code cell's times."""
    reads_host = "real.snapshot(" in (NOTEBOOKS / f"{name}.ipynb").read_text()
    if reads_host:
        print(f"{name} copies this host; its free blocks before:\n{host_free_blocks()}")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = TimedClient(notebook, timeout=600, record_timing=True,
                         resources={"metadata": {"path": str(NOTEBOOKS)}})  # fmt: skip
    # the kernel runs in notebooks/: put this checkout first, before any installed kmviz
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    client.execute(env={**os.environ, "PYTHONPATH": path})
    total = time.perf_counter() - start
    cells = [
        (index, cell, client.cpu.get(index, 0.0), cell_seconds(cell))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    ]
    over = sum(cpu > GOAL_CELL for _, _, cpu, _ in cells)  # CPU: other jobs inflate wall
    cpu_total = sum(cpu for _, _, cpu, _ in cells)
    print(
        f"{name}: wall {total:.1f} s (goal {GOAL_LESSON:.0f} s), cells' CPU {cpu_total:.1f} s "
        f"= {cpu_total / yardstick:.0f} yardsticks; "
        f"{len(cells)} code cells, {over} over {GOAL_CELL:.0f} s; load {os.getloadavg()[0]:.1f}"
    )
    print("    cell  id        CPU s  CPU ys  wall s  first line")  # ys: yardsticks
    for index, cell, cpu, wall in cells:
        mark = "!" if cpu > GOAL_CELL else " "
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        print(
            f"  {mark} {index:3d}  {cell.id[:8]:8s}  {cpu:5.1f}  {cpu / yardstick:6.0f}"
            f"  {wall:6.1f}  {first[:56]}"
        )
    if reads_host:
        print(f"  its free blocks after:\n{host_free_blocks()}")


def main() -> None:
    print(kmviz.info())
    yardstick = yardstick_seconds()
    print(f"yardstick: {YARDSTICK_OPS:,} reference buddy operations, {yardstick * 1000:.0f} ms CPU")
    prefixes = sys.argv[1:]
    for name in LESSONS:
        if not prefixes or any(name.startswith(prefix) for prefix in prefixes):
            run(name, yardstick)


if __name__ == "__main__":
    main()
