"""Views of a simulated kernel for JupyterLab: each reads a Timeline, none changes the engine.

``Dashboard(k)`` shows them all; each also works on its own (``PhysMap(k)``, ``BuddyView(k)``
…).  In a notebook a view shows the machine as its cell left it, and what one cell makes
(views, a ``Player(k)``, ``Controls(k)``) moves together; ``follow=True`` follows later cells
too (kmviz/widgets/cells.py).  ``PageTypes(k)``, the free lists per migratetype, is a snapshot
of the moment it is made, not a replay.
"""

from .. import lab_extra  # noqa: F401 - first: a clear message when bqplot is missing
from .buddy import BuddyView
from .context import ContextView
from .controls import Controls
from .dashboard import Dashboard
from .pagetypes import PageTypes
from .physmap import PhysMap
from .player import Player, describe
from .slab import SlabView
from .timeline import Timeline
from .vmalloc import VmallocView

__all__ = [
    "BuddyView",
    "ContextView",
    "Controls",
    "Dashboard",
    "PageTypes",
    "PhysMap",
    "Player",
    "SlabView",
    "Timeline",
    "VmallocView",
    "describe",
]
