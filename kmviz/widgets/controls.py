"""Buttons and inputs that call the simulated kernel's allocators, as a learner's module would.

The one widget that changes the machine: every other view only reads the timeline.  Each
button makes the call a driver would write (shown as C in the result line), keeps what was
handed out in the "held" list so it can be freed again, and makes the views follow the kernel.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..engine import gfp as gfp_flags
from ..engine.constants import MAX_ORDER
from ..engine.gfp import describe_gfp
from ..engine.page import parse_size
from .cells import timeline_for
from .timeline import Timeline

# the masks a learner chooses between, in the order the lessons introduce them
GFP_CHOICES = (
    ("GFP_KERNEL", gfp_flags.GFP_KERNEL),
    ("GFP_ATOMIC", gfp_flags.GFP_ATOMIC),
    ("GFP_NOWAIT", gfp_flags.GFP_NOWAIT),
    ("GFP_KERNEL | __GFP_ZERO", gfp_flags.GFP_KERNEL | gfp_flags.__GFP_ZERO),
    ("GFP_DMA", gfp_flags.GFP_DMA),
    ("GFP_KERNEL | GFP_DMA", gfp_flags.GFP_KERNEL | gfp_flags.GFP_DMA),
    ("GFP_DMA32", gfp_flags.GFP_DMA32),
    ("GFP_HIGHUSER_MOVABLE", gfp_flags.GFP_HIGHUSER_MOVABLE),
)
DEMO_LOCK = "demo_lock"


class Controls(widgets.VBox):
    """Allocate pages / kmalloc / vmalloc, free what is held, enter irq context or take a lock."""

    def __init__(self, kernel, timeline: Timeline | None = None, follow: bool = False, **kwargs):
        self.kernel = kernel
        self.timeline = timeline or timeline_for(kernel, follow)
        self.held: list[tuple[str, int, int]] = []  # (kind, address, order or size)
        self.gfp = widgets.Dropdown(
            options=GFP_CHOICES, value=gfp_flags.GFP_KERNEL, description="gfp_mask"
        )
        self.order = widgets.BoundedIntText(
            value=0,
            min=0,
            max=MAX_ORDER - 1,
            description="order",
            layout=widgets.Layout(width="150px"),
        )
        self.alloc_pages = _button(
            "__get_free_pages", "allocate 2^order pages", "kmviz-alloc-pages"
        )
        self.size = widgets.Text(
            value="100",
            description="size",
            placeholder="100 or 64KiB",
            layout=widgets.Layout(width="200px"),
        )
        self.kmalloc = _button("kmalloc", "kmalloc(size, gfp_mask)", "kmviz-kmalloc")
        self.vmalloc = _button("vmalloc", "vmalloc(size): GFP_KERNEL, may sleep", "kmviz-vmalloc")
        self.holding = widgets.Dropdown(options=[], description="held")
        self.free = _button("free", "free the selected allocation", "kmviz-free")
        self.irq = widgets.ToggleButton(
            value=False, description="in interrupt", tooltip="irq_enter() / irq_exit()"
        )
        self.irq.add_class("kmviz-irq")
        self.lock = widgets.ToggleButton(
            value=False,
            description=f"spin_lock({DEMO_LOCK})",
            tooltip="spin_lock() / spin_unlock()",
            layout=widgets.Layout(width="auto"),
        )
        self.lock.add_class("kmviz-lock")
        self.result = widgets.HTML()
        self.result.add_class("kmviz-result")
        self.alloc_pages.on_click(lambda _: self.call_get_free_pages())
        self.kmalloc.on_click(lambda _: self.call_kmalloc())
        self.vmalloc.on_click(lambda _: self.call_vmalloc())
        self.free.on_click(lambda _: self.free_selected())
        self.irq.observe(self._irq_toggled, "value")
        self.lock.observe(self._lock_toggled, "value")
        super().__init__(
            [
                widgets.HBox([self.gfp]),
                widgets.HBox([self.order, self.alloc_pages]),
                widgets.HBox([self.size, self.kmalloc, self.vmalloc]),
                widgets.HBox([self.holding, self.free]),
                widgets.HBox([self.irq, self.lock]),
                self.result,
            ],
            **kwargs,
        )
        self.add_class("kmviz-controls")

    # --- the calls -----------------------------------------------------------------------------
    def call_get_free_pages(self) -> int:
        """__get_free_pages(gfp_mask, order); the address, or 0 (NULL) on failure."""
        gfp, order = self.gfp.value, self.order.value
        addr = self._call(lambda: self.kernel.get_free_pages(gfp, order))
        self._report(f"__get_free_pages({self._gfp_name()}, {order})", addr, ("pages", order), gfp)
        return addr

    def call_kmalloc(self) -> int:
        """kmalloc(size, gfp_mask); the address, or 0 (NULL)."""
        size = self._size()
        if size is None:
            return 0
        gfp = self.gfp.value
        addr = self._call(lambda: self.kernel.kmalloc(size, gfp))
        self._report(f"kmalloc({size}, {self._gfp_name()})", addr, ("kmalloc", size), gfp)
        return addr

    def call_vmalloc(self) -> int:
        """vmalloc(size); the address, or 0 (NULL)."""
        size = self._size()
        if size is None:
            return 0
        addr = self._call(lambda: self.kernel.vmalloc(size))
        self._report(f"vmalloc({size})", addr, ("vmalloc", size), gfp_flags.GFP_KERNEL)
        return addr

    def free_selected(self) -> None:
        """Free the allocation chosen in "held" with the matching call."""
        if self.holding.value is None:
            self.result.value = "nothing held: allocate something first"
            return
        kind, addr, detail = self.held[self.holding.value]
        if kind == "pages":
            self._call(lambda: self.kernel.free_pages(addr, detail))
            text = f"free_pages({addr:#x}, {detail});"
        elif kind == "kmalloc":
            self._call(lambda: self.kernel.kfree(addr))
            text = f"kfree({addr:#x});"
        else:
            self._call(lambda: self.kernel.vfree(addr))
            text = f"vfree({addr:#x});"
        del self.held[self.holding.value]
        self._refresh_held()
        self.result.value = f"<code>{html.escape(text)}</code>"

    # --- context ---------------------------------------------------------------------------------
    def _irq_toggled(self, change) -> None:
        if change["new"]:
            self._call(self.kernel.irq_enter)
        else:
            self._call(self.kernel.irq_exit)
        self.result.value = f"<code>{'irq_enter' if change['new'] else 'irq_exit'}();</code>"

    def _lock_toggled(self, change) -> None:
        if change["new"]:
            self._call(lambda: self.kernel.spin_lock(DEMO_LOCK))
        else:
            self._call(lambda: self.kernel.spin_unlock(DEMO_LOCK))
        call = "spin_lock" if change["new"] else "spin_unlock"
        self.result.value = f"<code>{call}(&amp;{DEMO_LOCK});</code>"

    # --- helpers ---------------------------------------------------------------------------------
    def _call(self, call):
        """Run one kernel call with the views following it to the newest event.

        A pinned timeline (a finished cell's, kmviz/widgets/cells.py) is moved by the call
        the learner asked for here, and not by later cells.
        """
        timeline = self.timeline
        pinned = timeline.pinned
        timeline.pinned, timeline.follow = False, True
        try:
            result = call()
            self.kernel.notify()  # inside a notebook cell too: the views show this call now
            return result
        finally:
            timeline.pinned, timeline.follow = pinned, not pinned

    def _size(self) -> int | None:
        try:
            return parse_size(self.size.value.strip())
        except ValueError as error:
            self.result.value = f"<span class='kmviz-error'>{html.escape(str(error))}</span>"
            return None

    def _gfp_name(self) -> str:
        return next(name for name, mask in GFP_CHOICES if mask == self.gfp.value)

    def _report(self, call: str, addr: int, held: tuple[str, int], gfp: int) -> None:
        if addr:
            self.held.append((held[0], addr, held[1]))
            self._refresh_held()
            self.holding.value = len(self.held) - 1
            text = f"{call} = {addr:#x}"
        else:
            text = f"{call} = NULL (0)"
        self.result.value = f"<code>{html.escape(text)}</code> · gfp {describe_gfp(gfp)}"

    def _refresh_held(self) -> None:
        self.holding.options = [
            (f"{kind} {addr:#x} " + (f"order {detail}" if kind == "pages" else f"{detail} B"), i)
            for i, (kind, addr, detail) in enumerate(self.held)
        ]


def _button(description: str, tooltip: str, css: str) -> widgets.Button:
    button = widgets.Button(description=description, tooltip=tooltip)
    button.add_class(css)
    return button
