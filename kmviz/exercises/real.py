"""Predictions for lesson 06: your own kernel's free lists, a copy of it, and a replayed trace.

The answers come from the learner's own machine (a ``kmviz.real.snapshot``), so the checkers
read the snapshot or the copy machine_like() built from it, never a fixed number.
"""

from __future__ import annotations

from .. import GFP_KERNEL, trace
from ..engine.kernel import Kernel
from ..real import Snapshot
from . import Feedback, Question, as_choice, as_int

SAMPLE_MACHINE = {
    "mem": "256MiB",
    "seed": 0,
    "memory_map": "flat",
}  # what the lesson replays the sample trace into


def most_free_order(snapshot: Snapshot, zone: str = "Normal") -> Question:
    """Which order has the most free blocks in ``zone`` of the learner's machine?"""
    counts = _zone_counts(snapshot, zone)
    best = max(range(len(counts)), key=lambda order: (counts[order], -order))

    def checker(answer) -> Feedback:
        order = as_int(answer)
        if not 0 <= order < len(counts):
            return Feedback(False, f"orders run from 0 to {len(counts) - 1}")
        if order == best:
            return Feedback(True, f"order {order}: {counts[order]} free blocks in {zone}")
        return Feedback(
            False,
            f"order {order} has {counts[order]} free blocks in {zone}; another order has more "
            "(read the zone's line of /proc/buddyinfo: one column per order)",
        )

    return Question(
        f"In zone {zone} of this machine, which order has the most free blocks?",
        checker,
        str(best),
        f"The {zone} line of /proc/buddyinfo reads {' '.join(map(str, counts))}: "
        f"order {best} has the most ({counts[best]}). A machine that has run for a while has "
        "split many large blocks; right after boot the last column (order 10) would win.",
    )


def order10_on_the_copy(copy: Kernel) -> Question:
    """Will __get_free_pages(GFP_KERNEL, 10) succeed on ``copy``, machine_like()'s copy of a host?

    The call is tried on a fork of the copy (Kernel.fork()), so the learner's copy stays as it is
    and the answer is the one the copy itself gives.
    """
    likeness = getattr(copy, "likeness", None)
    if not isinstance(copy, Kernel) or likeness is None:
        raise TypeError(
            f"order10_on_the_copy() takes the copy real.machine_like() made, not {copy!r}"
        )
    succeeds = copy.fork().get_free_pages(GFP_KERNEL, 10) != 0
    free10 = sum(counts[10] for counts in likeness.copy.values())
    real10 = sum(counts[10] for counts in likeness.real.values())
    alike = "as your machine does" if free10 == real10 else f"where your machine has {real10}"

    def checker(answer) -> Feedback:
        said = as_choice(answer, ("yes", "no")) == "yes"
        if said == succeeds:
            return Feedback(
                True,
                f"{'it succeeds' if succeeds else 'it fails'}: the copy has "
                f"{free10} free order-10 blocks, {alike}",
            )
        return Feedback(
            False,
            f"look at the last column of /proc/buddyinfo: the copy has {free10} free order-10 "
            "blocks (4 MiB each) in all zones together",
        )

    return Question(
        "On the copy of this machine, will __get_free_pages(GFP_KERNEL, 10) succeed (yes/no)?",
        checker,
        "yes" if succeeds else "no",
        f"An order-10 request needs a free 4 MiB block (or a larger one to split); the copy has "
        f"{free10}, {alike}, so it {'succeeds' if succeeds else 'fails'} without reclaim or "
        "compaction.",
    )


FEW_FREES = 100  # fewer frees without an allocation than this count as "few"


def frees_without_alloc(sample: trace.Trace) -> Question:
    """Will a replay of ``sample`` (the loaded sample trace) find no, few or many unmatched frees?

    The lesson loads the trace once and passes it here; the replay runs on a machine of
    its own (SAMPLE_MACHINE, as the lesson's), so the learner's machine stays as it is.
    """
    report = sample.replay(Kernel(**SAMPLE_MACHINE))
    lost = report.frees_without_alloc
    answer = "none" if lost == 0 else "few" if lost < FEW_FREES else "many"

    def checker(choice) -> Feedback:
        picked = as_choice(choice, ("none", "few", "many"))
        if picked == answer:
            return Feedback(
                True,
                f"{lost:,}: objects the kernel allocated before its tracepoints were switched "
                "on, freed later in the trace",
            )
        if picked == "none":
            return Feedback(
                False,
                "a trace starts mid-run: memory allocated before tracing "
                "was switched on can still be freed in it",
            )
        return Feedback(
            False,
            f"not {picked}: tracing starts during boot, after the kernel's first slab "
            "allocations, and boot frees many of them",
        )

    return Question(
        "The sample trace was switched on during boot (trace_event= on the kernel command "
        "line), after the kernel had made its first allocations. Will the replay find no "
        f"frees without a matching allocation, a few (under {FEW_FREES}), or many?",
        checker,
        answer,
        f"The trace holds {lost:,} frees of pointers it never saw allocated: they were "
        "allocated before tracing started. A replay counts them instead of failing.",
    )


def _zone_counts(snapshot: Snapshot, zone: str) -> tuple[int, ...]:
    """Free blocks per order of ``zone``, summed over nodes."""
    rows = [row.free for row in snapshot.buddyinfo.rows if row.zone == zone]
    if not rows:
        zones = ", ".join(sorted({row.zone for row in snapshot.buddyinfo.rows}))
        raise ValueError(f"this machine has no zone {zone!r}; its zones are {zones}")
    return tuple(sum(column) for column in zip(*rows, strict=True))
