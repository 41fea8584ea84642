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
``Kernel.begin_cell()`` / ``end_cell()``, hooked to IPython's pre_run_cell and post_run_cell by
``watch_cells()`` in kmviz/widgets/timeline.py as soon as a notebook makes any timeline), so the
C fast paths stay on while views watch; the views then catch up in one step, before the cell's
timeline is pinned.  A player's move or a control's call asks for the news at once.

``follow=True`` gives the kernel's shared timeline, which always follows.  Outside a notebook
(a script, the tests) there are no cells, and every widget of a kernel reads that shared
timeline.  A widget made from another widget (``Player(view)``) or from a Timeline reads that
one: the way to drive an earlier cell's view from a later cell.
"""

from __future__ import annotations

from .timeline import Timeline, notebook_shell, this_cell, watch_cells


def timeline_for(source, follow: bool = False) -> Timeline:
    """The timeline a widget of ``source`` (kernel, Timeline, or another widget) reads."""
    if isinstance(source, Timeline):
        return source
    timeline = getattr(source, "timeline", None)
    if isinstance(timeline, Timeline):
        return timeline
    shared = Timeline.of(source)
    shell = notebook_shell()
    if follow or shell is None:
        return shared
    watch_cells(shell)
    timeline = this_cell.get(source)
    if timeline is None:
        timeline = this_cell[source] = shared.fork()
        timeline.seek(timeline.length)  # the machine now, wherever a player left the shared one
    return timeline
