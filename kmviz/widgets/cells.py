"""Which Timeline a widget made from a kernel reads: in a notebook, the one of its cell.

A figure tells the truth of its cell.  A view made in a notebook cell shows the machine as it
was when that cell finished, however later cells change the kernel; following them is
something the learner asks for.  So everything one cell makes from one kernel -- views, a
player, controls -- shares one timeline, forked from the kernel's shared one when the cell
makes its first widget.  It follows the kernel while the cell runs (a view made before the
cell's calls still shows their result) and is pinned when the cell finishes
(``Timeline.pinned``): its player then ends where the cell ended.  After that it moves only
when the learner asks: the player's buttons (its newest button follows the kernel again,
later cells included) or a control's call (up to that call).

The kernel's observers hear of a cell's calls once, when the cell finishes (kmviz.engine.kernel
``Kernel.begin_cell()`` / ``end_cell()``, hooked to IPython's pre_run_cell and post_run_cell), so
the C fast paths stay on while views watch; the views then catch up in one step, before the
cell's timeline is pinned.  A player's move or a control's call asks for the news at once.

``follow=True`` gives the kernel's shared timeline, which always follows.  Outside a notebook
(a script, the tests) there are no cells, and every widget of a kernel reads that shared
timeline.  A widget made from another widget (``Player(view)``) or from a Timeline reads that
one: the way to drive an earlier cell's view from a later cell.
"""

from __future__ import annotations

import weakref

from ..engine.kernel import Kernel
from .timeline import Timeline

_this_cell: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # kernel -> its timeline
_shells_hooked: weakref.WeakSet = weakref.WeakSet()  # shells whose post_run_cell pins them


def timeline_for(source, follow: bool = False) -> Timeline:
    """The timeline a widget of ``source`` (kernel, Timeline, or another widget) reads."""
    if isinstance(source, Timeline):
        return source
    timeline = getattr(source, "timeline", None)
    if isinstance(timeline, Timeline):
        return timeline
    shared = Timeline.of(source)
    shell = _notebook_shell()
    if follow or shell is None:
        return shared
    if shell not in _shells_hooked:
        shell.events.register("pre_run_cell", _cell_started)
        shell.events.register("post_run_cell", _cell_finished)
        _shells_hooked.add(shell)
        if getattr(shell.displayhook, "exec_result", None) is not None:  # set while a cell runs
            Kernel.begin_cell()  # this cell started before the hook: it batches from here on
    timeline = _this_cell.get(source)
    if timeline is None:
        timeline = _this_cell[source] = shared.fork()
        timeline.seek(timeline.length)  # the machine now, wherever a player left the shared one
    return timeline


def _notebook_shell():
    """The IPython shell running the current cell, or None outside IPython."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - present wherever notebooks run
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None


def _cell_started(_info=None) -> None:
    """pre_run_cell: the kernels batch their notifications until the cell finishes."""
    Kernel.begin_cell()


def _cell_finished(_result=None) -> None:
    """post_run_cell: the views catch up with the cell's calls, then its timelines are pinned."""
    Kernel.end_cell()
    for timeline in list(_this_cell.values()):
        timeline.pinned = True
        timeline.follow = False
    _this_cell.clear()
