"""The dashboard: the player, the controls and every view of one kernel, in tabs or a grid.

All parts share one Timeline (their cell's, kmviz/widgets/cells.py), so stepping the player
moves every view, and a click on a control shows its effect in every view at once.
"""

from __future__ import annotations

import ipywidgets as widgets
from traitlets import TraitError

from .buddy import BuddyView
from .cells import timeline_for
from .context import ContextView
from .controls import Controls
from .physmap import PhysMap
from .player import Player
from .slab import SlabView
from .theme import legend
from .vmalloc import VmallocView

# name -> (tab title, view class)
VIEWS = {
    "physmap": ("Physical memory", PhysMap),
    "buddy": ("Buddy allocator", BuddyView),
    "slab": ("Slab & kmalloc", SlabView),
    "vmalloc": ("vmalloc & MMU", VmallocView),
    "context": ("Context & log", ContextView),
}
LAYOUTS = ("tabs", "grid")


class Dashboard(widgets.VBox):
    """``Dashboard(k)``: player on top, views in tabs (or a two-column grid), controls aside."""

    def __init__(
        self,
        kernel,
        views=tuple(VIEWS),
        layout: str = "tabs",
        controls: bool = True,
        follow: bool = False,
        **kwargs,
    ):
        unknown = [name for name in views if name not in VIEWS]
        if unknown:
            raise TraitError(f"unknown view {unknown[0]!r}; choose from {', '.join(VIEWS)}")
        if layout not in LAYOUTS:
            raise TraitError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.kernel = kernel
        self.timeline = timeline_for(kernel, follow)
        self.player = Player(self.timeline)
        self.views = {name: VIEWS[name][1](self.timeline) for name in views}
        titles = [VIEWS[name][0] for name in views]
        if layout == "tabs":
            body = widgets.Tab(children=list(self.views.values()), titles=titles)
        else:
            cells = [
                widgets.VBox([widgets.HTML(f"<b>{title}</b>"), view])
                for title, view in zip(titles, self.views.values(), strict=True)
            ]
            body = widgets.GridBox(
                cells, layout=widgets.Layout(grid_template_columns="repeat(2, minmax(0, 1fr))")
            )
        body.add_class("kmviz-views")
        parts = [self.player]
        if controls:
            self.controls = Controls(kernel, self.timeline)
            parts.append(widgets.Accordion(children=[self.controls], titles=["Call the kernel"]))
        parts += [body, legend()]
        super().__init__(parts, **kwargs)
        self.add_class("kmviz-dashboard")
