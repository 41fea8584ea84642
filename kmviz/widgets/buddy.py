"""The buddy allocator: each zone's free lists as /proc/buddyinfo shows them, and one block's tree.

Linux keeps, per zone, one free list per order 0..10 (``zone->free_area[order]``, mmzone.h); a
block of order o is 2^o page frames starting at a multiple of 2^o.  An allocation takes the
first block of the smallest order that fits (``__rmqueue_smallest()``, mm/page_alloc.c L2589)
and ``expand()`` (L2375) halves it, keeping the lower half and putting each upper half on the
list one order down.  A free does the reverse: ``__free_one_page()`` (L1122) joins the block
with its *buddy* while the buddy is free and of the same order (``__find_buddy_pfn()``,
mm/internal.h L340)::

    buddy_pfn = pfn ^ (1 << order)          # 0x2a4 ^ 0x4 == 0x2a0
    merged    = pfn & buddy_pfn             # 0x2a4 & 0x2a0 == 0x2a0, one order up
    split:  buddy = pfn + (1 << (order - 1))    # the upper half of an order-3 block at 0x2a0: 0x2a4

The view shows, per zone, how many blocks each free list holds (bars, and the /proc/buddyinfo
line as ``frag_show_print()``, mm/vmstat.c L1456, prints it) and the block the current event
touched, drawn inside its enclosing order-10 block as nested bars: one row per order, from the
whole 1024-page block down to the block itself, each row holding the two buddies a split made,
along an axis of pfns in hex (the numbers the lessons and the kernel's messages use).
Free blocks are coloured by order, allocated ones by owner, split ones are only outlined.
Twenty-one rectangles keep their identity from step to step, so bqplot's transitions show a
split as one block dividing into two buddies and a merge as two buddies joining.
"""

from __future__ import annotations

import html
import math
from contextlib import ExitStack
from typing import NamedTuple

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Enum, Int, TraitError, observe, validate

from ..engine.constants import MAX_ORDER, MIGRATETYPE_NAMES, PAGE_OFFSET, PAGE_SHIFT
from ..engine.events import (
    BlockSplit,
    BuddiesMerged,
    FallbackStolen,
    FreePagesIsolated,
    PagesAllocated,
    PagesAllocatedInBulk,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)
from ..engine.gfp import format_gfp
from ..engine.procfs import buddyinfo_line
from . import theme
from .cells import timeline_for
from .timeline import (
    ANON,
    BOOTMEM,
    FILE,
    HOLE,
    ISOLATED,
    KMALLOC_LARGE,
    PAGE_TABLE,
    PAGES,
    PCP,
    RESERVED,
    SLAB,
    VMALLOC,
)

TOP = MAX_ORDER - 1  # 10: the largest order
BLOCK = 1 << TOP  # pages in an order-10 block: 1024
SLOTS = 1 + 2 * TOP  # rectangles: the order-10 block, then two buddies for each order 9..0
LOOKBACK = 256  # events searched back for the last buddy-allocator event
REFILL_LOOKBACK = 64 * 12  # events an rmqueue_bulk() refill can take: 63 blocks, their splits
ZOOM_ORDERS = 3  # "around the block" shows the block's ancestor this many orders up
SPLIT = -1  # node state: divided into two buddies (drawn on the row below)
BUDDY_EVENTS = (
    BlockSplit,
    BuddiesMerged,
    FallbackStolen,
    FreePagesIsolated,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)
# frames that are one piece however many there are: no allocator block structure inside
WHOLE_CODES = (ISOLATED, BOOTMEM, RESERVED, HOLE)
SHORT_NAMES = {
    PAGES: "pages",
    SLAB: "slab",
    KMALLOC_LARGE: "kmalloc",
    VMALLOC: "vmalloc",
    PAGE_TABLE: "page table",
    ANON: "anon",
    FILE: "file",
    ISOLATED: "isolated",
    BOOTMEM: "bootmem",
    RESERVED: "reserved",
    PCP: "pcp",
    HOLE: "no RAM",
}
TAKEN_COLOUR = theme.OWNER_COLOURS[PAGES]  # the lower half expand() keeps is being handed out
OUTLINE_COLOUR = "#444444"
HIGHLIGHT_COLOUR = "#000000"
ROW_HALF = 0.4  # a row of order o spans o - 0.4 .. o + 0.4 on the y axis
COUNT_LIFT = -14  # px: a bar's count sits above its top edge, not inside a bar 2 px high
COUNT_HEADROOM = 1.2  # the y axis reaches 20 % above the tallest bar, room for its count
COUNT_TICKS = 4  # whole-number ticks on a free-count axis, at most this many steps
LONG_LABEL = 0.22  # fraction of the visible width a rectangle needs for its long label
SHORT_LABEL = 0.07  # ... and for its short one


class Node(NamedTuple):
    """A place in the tree: 2^order frames at ``start`` (counted from the order-10 block)."""

    start: int
    order: int
    state: int  # a frame code (free order or owner) when it is one block, else SPLIT

    @property
    def end(self) -> int:
        """The first frame after the node."""
        return self.start + (1 << self.order)


def slot_of(order: int, upper: bool) -> int:
    """The rectangle drawing the lower (or upper) buddy of ``order``; 0 is the order-10 block."""
    return 1 + 2 * (TOP - 1 - order) + upper


def node_state(frames: np.ndarray, orders: np.ndarray, start: int, order: int) -> int:
    """The frame code of the block exactly at (start, order), or SPLIT if it holds several.

    A free block of order o has every frame coded o, and blocks are aligned, so a node whose
    first frame says o is that block; an allocated block has its order at its head in
    ``orders``.  Runs of frames without blocks (reserved, holes, ...) count as one piece.
    """
    code = int(frames[start])
    if order in (0, code):  # one page, or the head of a free block of this order
        return code
    if code < MAX_ORDER:
        return SPLIT  # free frames of a smaller block
    if orders[start] == order and code not in WHOLE_CODES:
        return code
    if code in WHOLE_CODES and (frames[start : start + (1 << order)] == code).all():
        return code
    return SPLIT


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (relative luminance, sRGB weights)."""
    red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 140 else "#FFFFFF"


def count_axis(tallest: int) -> tuple[int, int]:
    """The top and the tick step of a free-count axis: whole numbers, room above the tallest.

    count_axis(50) == (60, 15): the count label above a bar of 50 fits under the top, and the
    ticks 0, 15, 30, 45, 60 are all counts a bar can have (no "1" printed at 1.33).
    """
    top = max(1, math.ceil(tallest * COUNT_HEADROOM))
    step = max(1, math.ceil(top / COUNT_TICKS))
    return step * math.ceil(top / step), step


def rectangle(x0: float, x1: float, y0: float, y1: float) -> tuple[list, list]:
    """The closed outline of a rectangle: x and y of its five corners."""
    return [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0]


def parse_pfn(text: str) -> int:
    """The pfn ``text`` names: a number (``0x2a4``, ``676``) or a direct-map address."""
    value = int(text.strip().replace("_", ""), 0)
    if value >= PAGE_OFFSET:  # __pa(): a direct-map address is PAGE_OFFSET + physical address
        value = (value - PAGE_OFFSET) >> PAGE_SHIFT
    return value


class BuddyView(widgets.VBox):
    """Per zone the free lists by order, and the tree of the block the current event touched."""

    focus_pfn = Int(-1, help="The pfn whose block the tree shows; -1 follows the events.")
    zoom = Enum(
        ("block", "whole"),
        default_value="block",
        help="'block': around the block under focus; 'whole': the whole order-10 block.",
    )

    def __init__(self, source, animation_ms: int = 400, follow: bool = False, **kwargs):
        """A view of ``source`` (kmviz/widgets/cells.py); transitions last ``animation_ms``."""
        super().__init__(**kwargs)
        self.timeline = timeline_for(source, follow)
        self.add_class("kmviz-buddy")

        self.zone_bars = []
        self.zone_figures = []
        for name, _, _ in self.timeline.zones:
            bars = bq.Bars(
                x=np.arange(MAX_ORDER),
                y=np.zeros(MAX_ORDER),
                scales={"x": bq.OrdinalScale(), "y": bq.LinearScale(min=0)},
                colors=list(theme.ORDER_COLOURS),
                color_mode="element",
                stroke=OUTLINE_COLOUR,
                label_display=True,
                label_display_format=".0f",
                label_display_vertical_offset=COUNT_LIFT,  # above the bar: a count of 1 reads too
                label_font_style={"font-size": "11px", "fill": "#000000"},
                tooltip=bq.Tooltip(fields=["x", "y"], labels=["order", "free blocks"]),
            )
            figure = bq.Figure(
                marks=[bars],
                axes=[
                    bq.Axis(scale=bars.scales["x"], label="order"),
                    bq.Axis(scale=bars.scales["y"], side="left", tick_format="d"),
                ],
                title=f"zone {name}: free blocks per order",
                padding_y=0,
                animation_duration=animation_ms,
                fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
                layout=widgets.Layout(width="340px", height="220px"),
            )
            figure.add_class("kmviz-buddy-zone")
            self.zone_bars.append(bars)
            self.zone_figures.append(figure)
        zones = widgets.HBox(self.zone_figures, layout=widgets.Layout(flex_flow="row wrap"))
        zones.add_class("kmviz-buddy-zones")
        self.buddyinfo = widgets.HTML()
        self.buddyinfo.add_class("kmviz-buddyinfo")

        x = bq.LinearScale(min=0.0, max=float(BLOCK))
        y = bq.LinearScale(min=-0.5, max=TOP + 0.5)
        self.tree = bq.Lines(
            x=np.zeros((SLOTS, 5)),
            y=np.zeros((SLOTS, 5)),
            scales={"x": x, "y": y},
            fill="inside",
            close_path=True,
            colors=[OUTLINE_COLOUR] * SLOTS,
            fill_colors=["#FFFFFF"] * SLOTS,
            fill_opacities=[0.0] * SLOTS,
            stroke_width=1,
        )
        self.highlight = bq.Lines(
            x=np.zeros(5), y=np.zeros(5), scales={"x": x, "y": y}, colors=[HIGHLIGHT_COLOUR],
            stroke_width=3, close_path=True,
        )  # fmt: skip
        self.labels = bq.Label(
            x=np.zeros(SLOTS), y=np.zeros(SLOTS), text=[""] * SLOTS, scales={"x": x, "y": y},
            colors=["#000000"] * SLOTS, align="middle", default_size=11, y_offset=4,
        )  # fmt: skip
        self.x_axis = bq.Axis(scale=x, label="pfn", tick_format="#x")
        self.tree_figure = bq.Figure(
            marks=[self.tree, self.highlight, self.labels],
            axes=[
                self.x_axis,
                bq.Axis(
                    scale=y,
                    side="left",
                    label="order",
                    tick_format="d",
                    tick_values=np.arange(MAX_ORDER),
                ),
            ],
            animation_duration=animation_ms,
            fig_margin={"top": 40, "bottom": 50, "left": 50, "right": 20},
            layout=widgets.Layout(width="100%", height="360px"),
        )
        self.tree_figure.add_class("kmviz-buddy-tree")
        self.story = widgets.HTML()
        self.story.add_class("kmviz-buddy-story")

        self.pfn_box = widgets.Text(
            description="pfn",
            placeholder="e.g. 0x2a4",
            continuous_update=False,
            tooltip="Show the block holding this pfn (or direct-map address); empty: follow events",
        )
        self.follow_button = widgets.Button(
            description="follow events", tooltip="Show the block of the current event again"
        )
        self.zoom_box = widgets.Dropdown(
            options=[("around the block", "block"), ("whole 1024-page block", "whole")],
            value=self.zoom,
            description="zoom",
            tooltip="How much of the order-10 block the tree shows",
        )
        self.status = widgets.HTML()
        self.status.add_class("kmviz-buddy-status")
        controls = widgets.HBox([self.pfn_box, self.follow_button, self.zoom_box, self.status])
        controls.add_class("kmviz-buddy-controls")
        self.pfn_box.observe(self._pfn_typed, "value")
        self.follow_button.on_click(lambda _: self._follow())
        self.zoom_box.observe(self._zoom_chosen, "value")

        split = theme.swatch("#FFFFFF", "split: its two buddies are on the row below")
        taken = theme.swatch(TAKEN_COLOUR, "taken: the lower half expand() keeps")
        outline = theme.swatch(HIGHLIGHT_COLOUR, "thick outline: the block this step touched")
        extra = widgets.HTML(split + taken + outline)
        extra.add_class("kmviz-legend")
        self.children = [
            zones,
            self.buddyinfo,
            controls,
            self.tree_figure,
            self.story,
            theme.legend(),
            extra,
        ]
        self.timeline.observe(self._moved, "position")
        self.repaint()

    # --- controls -------------------------------------------------------------------------------
    @validate("focus_pfn")
    def _valid_pfn(self, proposal):
        pfn = proposal["value"]
        nr_pfns = self.timeline.nr_pfns
        if pfn != -1 and not 0 <= pfn < nr_pfns:
            raise TraitError(
                f"pfn {pfn:#x} is not on this machine: its page frames are 0..{nr_pfns - 1:#x}"
            )
        return pfn

    @observe("focus_pfn", "zoom")
    def _choice_changed(self, change) -> None:
        """Show a choice made in code in the controls too, then repaint."""
        if change["name"] == "zoom":
            self.zoom_box.value = self.zoom
        elif self.focus_pfn == -1:
            self.pfn_box.value = ""
        elif self.pfn_box.value != hex(self.focus_pfn):
            self.pfn_box.value = hex(self.focus_pfn)
        self.repaint()

    def _pfn_typed(self, change) -> None:
        text = change["new"].strip()
        if not text:
            self._follow()
            return
        try:
            self.focus_pfn = parse_pfn(text)
        except ValueError:
            self.status.value = (
                f"{html.escape(repr(text))} is not a pfn: type a number such as 0x2a4 or 676, "
                "or a direct-map address"
            )
        except TraitError as error:
            self.status.value = html.escape(str(error))
        else:
            self.status.value = f"showing the block holding pfn {self.focus_pfn:#x}"

    def _follow(self) -> None:
        self.focus_pfn = -1
        self.status.value = ""
        self.pfn_box.value = ""

    def _zoom_chosen(self, change) -> None:
        self.zoom = change["new"]

    def close(self):
        """Stop following the timeline and close the view's widgets."""
        self.timeline.unobserve(self._moved, "position")
        super().close()

    # --- painting -------------------------------------------------------------------------------
    def _moved(self, _change) -> None:
        self.repaint()

    def repaint(self) -> None:
        """Show the timeline's state at its position: free-list bars, text, tree and story."""
        timeline = self.timeline
        event, back = self.focus_event()
        pfn, order = self._focus_block(event)
        root = pfn & ~(BLOCK - 1)
        nodes, leaf = self.ladder(pfn)
        highlight = Node(pfn - root, order, 0)
        if event is None or self.focus_pfn != -1:
            highlight = leaf
        taken = None
        if isinstance(event, BlockSplit) and self.focus_pfn == -1:
            taken = (event.pfn - root, event.order - 1)
        zone = timeline.zone_of(pfn)
        with ExitStack() as stack:
            marks = (*self.zone_bars, self.tree, self.highlight, self.labels)
            count_axes = [figure.axes[1] for figure in self.zone_figures]
            count_scales = [axis.scale for axis in count_axes]
            for widget in (*marks, *count_axes, *count_scales, self.tree.scales["x"], self.x_axis):
                stack.enter_context(widget.hold_sync())
            for index, bars in enumerate(self.zone_bars):
                bars.y = timeline.nr_free[index].astype(float)
                top, step = count_axis(int(timeline.nr_free[index].max()))
                count_scales[index].max = float(top)
                count_axes[index].tick_values = np.arange(0, top + 1, step)
            for (name, _, _), figure in zip(timeline.zones, self.zone_figures, strict=True):
                if name == zone:
                    figure.add_class("kmviz-buddy-zone-focus")
                else:
                    figure.remove_class("kmviz-buddy-zone-focus")
            self.buddyinfo.value = (
                '<pre class="kmviz-buddyinfo-text">'
                + html.escape(self.buddyinfo_text())
                + "</pre>"
                + self.pcp_html()
            )
            self._paint_tree(nodes, leaf, highlight, taken, root, zone)
            self.story.value = self.story_html(event, back)

    def buddyinfo_text(self) -> str:
        """/proc/buddyinfo at the timeline's position, from ``timeline.nr_free``."""
        return "".join(
            buddyinfo_line(name, self.timeline.nr_free[index])
            for index, (name, _, _) in enumerate(self.timeline.zones)
        )

    def pcp_html(self) -> str:
        """The blocks on the per-CPU lists at the timeline's position, which buddyinfo omits."""
        timeline = self.timeline
        parts = []
        for index, (name, _, _) in enumerate(timeline.zones):
            counts = timeline.pcp[index]
            pages = int(sum(int(n) << order for order, n in enumerate(counts)))
            if pages:
                orders = ", ".join(
                    f"{int(n)} of order {order}" for order, n in enumerate(counts) if n
                )
                parts.append(f"{html.escape(name)}: {pages} pages ({orders})")
        if not parts:
            return '<p class="kmviz-buddy-pcp">per-CPU lists: empty</p>'
        return (
            f'<p class="kmviz-buddy-pcp">{theme.swatch(theme.OWNER_COLOURS[PCP], "")}'
            f"per-CPU lists: {'; '.join(parts)}. Free, but neither in /proc/buddyinfo nor in "
            "MemFree: the next allocations of those orders on that CPU get them.</p>"
        )

    def focus_event(self):
        """The newest buddy-allocator event at or before the position, and how many steps back.

        (None, 0) when there is none among the last LOOKBACK events.
        """
        return self.timeline.newest(lambda event: isinstance(event, BUDDY_EVENTS), LOOKBACK)

    def _focus_block(self, event) -> tuple[int, int]:
        """(pfn, order) of the block under focus: the one chosen, the event's, or zone 0's first."""
        if self.focus_pfn != -1:
            return self.focus_pfn, 0
        if isinstance(event, BuddiesMerged):
            return event.merged_pfn, event.order + 1
        if isinstance(event, FallbackStolen):
            return event.pfn, event.fallback_order
        if event is not None:
            return event.pfn, event.order
        return self.timeline.zones[0][1], 0

    def ladder(self, pfn: int) -> tuple[list[Node | None], Node]:
        """The tree above ``pfn``: a Node per rectangle slot (None: not drawn), and the leaf.

        From the order-10 block down, every SPLIT node on the way to ``pfn`` gives the row
        below its two halves; the walk ends at the first node that is one block (the leaf).
        """
        root = pfn & ~(BLOCK - 1)
        frames = self.timeline.frames[root : root + BLOCK]
        orders = self.timeline.orders[root : root + BLOCK]
        if len(frames) < BLOCK:  # the machine ends inside this block: no RAM after it
            frames = np.concatenate([frames, np.full(BLOCK - len(frames), HOLE, np.uint8)])
            orders = np.concatenate([orders, np.full(BLOCK - len(orders), -1, np.int8)])
        offset = pfn - root
        node = Node(0, TOP, node_state(frames, orders, 0, TOP))
        nodes: list[Node | None] = [node] + [None] * (SLOTS - 1)
        while node.state == SPLIT:
            order = node.order - 1
            half = 1 << order
            lower = Node(node.start, order, node_state(frames, orders, node.start, order))
            upper = Node(node.start + half, order, node_state(frames, orders, lower.end, order))
            nodes[slot_of(order, False)] = lower
            nodes[slot_of(order, True)] = upper
            node = upper if offset & half else lower
        return nodes, node

    def _paint_tree(self, nodes, leaf, highlight, taken, root, zone) -> None:
        """Send the rectangles, labels, highlight and axis of the tree."""
        if self.zoom == "whole":
            low, high = 0, BLOCK
        else:
            span = 1 << min(TOP, min(highlight.order, leaf.order) + ZOOM_ORDERS)
            low = highlight.start & ~(span - 1)
            high = low + span
        xs, ys, fills, opacities, texts, text_colours, label_x, label_y = ([] for _ in range(8))
        for node in nodes:
            drawn = node if node is not None else leaf
            if node is not None and node.state == SPLIT:
                fill, opacity = "#FFFFFF", 0.0
            elif (drawn.start, drawn.order) == taken:
                fill, opacity = TAKEN_COLOUR, 1.0
            else:
                fill, opacity = theme.CODE_COLOURS[drawn.state], 1.0
            x, y = rectangle(drawn.start, drawn.end, drawn.order - ROW_HALF, drawn.order + ROW_HALF)
            xs.append(x)
            ys.append(y)
            fills.append(fill)
            opacities.append(opacity)
            visible_low, visible_high = max(drawn.start, low), min(drawn.end, high)
            label_x.append((visible_low + visible_high) / 2)
            label_y.append(float(drawn.order))
            width = max(0, visible_high - visible_low) / (high - low)
            text = ""
            if node is not None:
                text = self._label(node, root, width, (node.start, node.order) == taken)
            texts.append(text)
            text_colours.append(text_colour(fill) if opacity else "#000000")
        hx, hy = rectangle(
            highlight.start, highlight.end, highlight.order - 0.48, highlight.order + 0.48
        )
        # drawn in pfns, so the axis reads 0x3008 where the lesson says 0x3008
        self.tree.x = np.array(xs, dtype=float) + root
        self.tree.y = np.array(ys, dtype=float)
        self.tree.fill_colors = fills
        self.tree.fill_opacities = opacities
        self.highlight.x = np.array(hx, dtype=float) + root
        self.highlight.y = np.array(hy, dtype=float)
        self.labels.x = np.array(label_x) + root
        self.labels.y = np.array(label_y)
        self.labels.text = texts
        self.labels.colors = text_colours
        scale = self.tree.scales["x"]
        scale.min, scale.max = float(root + low), float(root + high)
        self.x_axis.label = (
            f"pfn, in the order-10 block at {root:#x} (zone {zone or 'none'}): "
            f"showing {root + low:#x}..{root + high - 1:#x}"
        )

    def _label(self, node: Node, root: int, width: float, taken: bool) -> str:
        """The text on a rectangle ``width`` (a fraction of the visible span) wide."""
        if node.state == SPLIT:
            name = "split"
        elif taken:
            name = "taken"
        elif node.state < MAX_ORDER:
            name = f"free o{node.state}"
        else:
            name = SHORT_NAMES[node.state]
        if width >= LONG_LABEL:
            return f"{root + node.start:#x} · {name}"
        if width >= SHORT_LABEL:
            return name
        return ""

    # --- the story --------------------------------------------------------------------------------
    def story_html(self, event, back: int) -> str:
        """What the event under focus did and why, in words, with the kernel's arithmetic."""
        timeline = self.timeline
        if self.focus_pfn != -1:
            pfn = self.focus_pfn
            head, order, _ = timeline.block_at(pfn)
            return (
                f"<p>pfn {pfn:#x} is in the block at {head:#x} (order {order}): "
                f"{html.escape(timeline.owner_of(pfn))}. The tree shows how its order-10 block "
                "is split into buddies right now. Empty the pfn box to follow the events.</p>"
            )
        if timeline.position == 0:
            return "<p>Before the first event: the buddy allocator has no memory yet.</p>"
        if event is None:
            return (
                f"<p>No buddy-allocator event in the last {LOOKBACK} steps; the tree shows the "
                "first block of the first zone.</p>"
            )
        words = self._describe(event, timeline.position - back)
        if back:
            current = type(timeline.current).__name__
            words = (
                f"<p><i>This step is {current}, not a buddy-allocator event; the last one was "
                f"{back} step{'s' if back > 1 else ''} back:</i></p>" + words
            )
        return words

    def _describe(self, event, position: int) -> str:
        """The story of ``event``, the one applied at ``position`` (its index is position - 1)."""
        zone = html.escape(event.zone)
        if isinstance(event, BlockSplit):
            half = 1 << (event.order - 1)
            return (
                f"<p><b>Split.</b> <code>expand()</code> (mm/page_alloc.c) cut the free "
                f"order-{event.order} block at pfn {event.pfn:#x} ({1 << event.order} pages) "
                f"into two order-{event.order - 1} buddies. The lower half stays with the "
                "allocation: it is split again or handed out. The upper half goes onto "
                f"<code>free_area[{event.order - 1}]</code> of zone {zone} "
                f"({MIGRATETYPE_NAMES[event.migratetype]} list).</p>"
                f"<p><code>buddy = pfn + (1 &lt;&lt; (order - 1)) = {event.pfn:#x} + {half:#x} "
                f"= {event.buddy_pfn:#x}</code></p>"
                "<p>Why: <code>__rmqueue_smallest()</code> found no free block of the order "
                "asked for, so it took a larger one and halves it until it fits.</p>"
            )
        if isinstance(event, PagesAllocatedZoneLocked):
            where = (
                f"onto the tail of CPU {event.cpu}'s per-CPU list: <code>rmqueue_bulk()</code> "
                "refills an empty list with a whole batch of blocks at once, under one hold of "
                "the zone lock, and the allocation then takes the first of them"
                if event.cpu >= 0
                else "for the caller, straight from the buddy (this order has no per-CPU list)"
            )
            return (
                f"<p><b>Taken from the buddy.</b> The order-{event.order} block at pfn "
                f"{event.pfn:#x} left <code>free_area[{event.order}]</code> of zone {zone} "
                f"(tracepoint <code>mm_page_alloc_zone_locked</code>): {where}.</p>"
            )
        if isinstance(event, PcpPagesDrained):
            return (
                f"<p><b>Drained.</b> CPU {event.cpu}'s per-CPU list reached its "
                "<code>high</code> mark (or every list was drained), so "
                "<code>free_pcppages_bulk()</code> gave the order-"
                f"{event.order} block at pfn {event.pfn:#x}, the coldest on its list, back to "
                "the buddy (tracepoint <code>mm_page_pcpu_drain</code>): "
                "<code>__free_one_page()</code> looks for its buddy one order at a time.</p>"
                + self._buddy_arithmetic(event.pfn, event.order)
                + self._merge_outcome(event.pfn, event.order, position)
            )
        if isinstance(event, PagesAllocated):
            return self._describe_allocation(event, position)
        if isinstance(event, PagesFreed) and event.cpu >= 0:
            return (
                f"<p><b>Freed to a per-CPU list.</b> {1 << event.order} page(s) at pfn "
                f"{event.pfn:#x} (order {event.order}, zone {zone}) came back: "
                "<code>free_unref_page()</code> (mm/page_alloc.c) pushed them on the head of "
                f"CPU {event.cpu}'s per-CPU list. No merging: the buddy never sees them until "
                "the list grows past <code>high</code> and is drained, and the next "
                f"order-{event.order} allocation on CPU {event.cpu} gets them back first "
                "(last freed, first reused).</p>"
            )
        if isinstance(event, PagesFreed):
            return (
                f"<p><b>Freed.</b> {1 << event.order} page(s) at pfn {event.pfn:#x} "
                f"(order {event.order}, zone {zone}) came back: <code>__free_pages()</code> → "
                "<code>__free_one_page()</code> (mm/page_alloc.c), which looks for the buddy "
                "one order at a time.</p>"
                + self._buddy_arithmetic(event.pfn, event.order)
                + self._merge_outcome(event.pfn, event.order, position)
            )
        if isinstance(event, BuddiesMerged):
            merged = event.merged_pfn
            return (
                "<p><b>Merged.</b> <code>__free_one_page()</code> (mm/page_alloc.c) found the "
                f"buddy of the order-{event.order} block free, took it off "
                f"<code>free_area[{event.order}]</code> and joined the two into one "
                f"order-{event.order + 1} block.</p>"
                f"<p><code>buddy_pfn = pfn ^ (1 &lt;&lt; order) = {event.pfn:#x} ^ "
                f"{1 << event.order:#x} = {event.buddy_pfn:#x}; merged block starts at "
                f"pfn &amp; buddy_pfn = {merged:#x}</code></p>"
                + self._merge_outcome(merged, event.order + 1, position)
            )
        if isinstance(event, FallbackStolen):
            return self._describe_fallback(event)
        return (
            f"<p><b>Isolated.</b> Compaction's free scanner (<code>isolate_freepages_block()"
            f"</code>, mm/compaction.c) took the free order-{event.order} block at pfn "
            f"{event.pfn:#x} off <code>free_area[{event.order}]</code> and split it into "
            f"{1 << event.order} single pages (<code>split_page()</code>): targets for the "
            "movable pages compaction migrates. Those it does not use come back as order-0 "
            "frees.</p>"
        )

    @staticmethod
    def _buddy_arithmetic(pfn: int, order: int) -> str:
        """``buddy_pfn = pfn ^ (1 << order) = …`` for a block about to merge."""
        return (
            f"<p><code>buddy_pfn = pfn ^ (1 &lt;&lt; order) = {pfn:#x} ^ {1 << order:#x} = "
            f"{pfn ^ (1 << order):#x}</code></p>"
        )

    def _describe_fallback(self, event: FallbackStolen) -> str:
        """The story of a FallbackStolen: whose lists the block came from, who owns it now."""
        wanted = MIGRATETYPE_NAMES[event.alloc_migratetype]
        owner = MIGRATETYPE_NAMES[event.fallback_migratetype]
        if event.change_ownership:
            after = f"Its pageblock now belongs to the {wanted} type."
        else:
            after = (
                f"Its pageblock stays {owner}, so {wanted} pages now sit inside a {owner} "
                "pageblock: this fragments memory."
            )
        return (
            f"<p><b>Fallback.</b> The {wanted} free lists of zone {html.escape(event.zone)} "
            f"had no block of order {event.alloc_order} or more, so "
            "<code>__rmqueue_fallback()</code> (mm/page_alloc.c) took the order-"
            f"{event.fallback_order} block at pfn {event.pfn:#x} from the {owner} lists, "
            "the largest it found: that approximates the pageblock with the most free pages, "
            f"so that it can take over the whole pageblock. {after}"
            + (
                " <code>expand()</code> splits it next."
                if event.fallback_order > event.alloc_order
                else ""
            )
            + "</p>"
        )

    def _describe_allocation(self, event: PagesAllocated, position: int) -> str:
        """The story of a PagesAllocated: which block it came from and how it was split."""
        address = PAGE_OFFSET + (event.pfn << PAGE_SHIFT)
        gfp = html.escape(format_gfp(event.gfp) or "0")
        arithmetic = (
            f"<p><code>page_address = PAGE_OFFSET + (pfn &lt;&lt; {PAGE_SHIFT}) = "
            f"{PAGE_OFFSET:#x} + {event.pfn << PAGE_SHIFT:#x} = {address:#x}</code></p>"
        )
        if event.cpu >= 0:
            taker = (
                "<code>__alloc_pages_bulk()</code> (mm/page_alloc.c), asked for many pages at "
                "once (vmalloc() asks for up to 100 a call), took the first block on CPU "
                f"{event.cpu}'s list with <code>__rmqueue_pcplist()</code>; it fires no "
                "tracepoint for such a page (no <code>mm_page_alloc</code>). "
                if isinstance(event, PagesAllocatedInBulk)
                else "<code>rmqueue_pcplist()</code> (mm/page_alloc.c) took the first block on "
                f"CPU {event.cpu}'s list. "
            )
            return (
                f"<p><b>Allocated from a per-CPU list.</b> The page allocator handed out "
                f"{1 << event.order} page(s) (order {event.order}) at pfn {event.pfn:#x} from "
                f"zone {html.escape(event.zone)} for {gfp}: "
                + taker
                + self._refill_story(event, position)
                + "</p>"
                + arithmetic
            )
        start = max(0, position - 2 - MAX_ORDER)
        before = list(self.timeline.kernel.history.events(start, position - 1))
        if before and isinstance(before[-1], PagesAllocatedZoneLocked):
            before.pop()  # mm_page_alloc_zone_locked of this very block
        splits = 0
        for previous in reversed(before):
            if not (isinstance(previous, BlockSplit) and previous.pfn == event.pfn):
                break
            splits += 1
        taken_order = event.order + splits
        if splits:
            how = (
                "<code>__rmqueue_smallest()</code> (mm/page_alloc.c) found the smallest free "
                f"block at order {taken_order} and <code>expand()</code> split it {splits} "
                f"time{'s' if splits > 1 else ''}, keeping the lower half each time."
            )
        else:
            how = (
                "<code>__rmqueue_smallest()</code> (mm/page_alloc.c) took the first block on "
                f"<code>free_area[{event.order}]</code>: no split needed."
            )
        stolen = before[len(before) - splits - 1] if len(before) > splits else None
        if isinstance(stolen, FallbackStolen) and stolen.pfn == event.pfn:
            how += (
                f" The {MIGRATETYPE_NAMES[stolen.alloc_migratetype]} lists were empty, so "
                "<code>__rmqueue_fallback()</code> took the block from the "
                f"{MIGRATETYPE_NAMES[stolen.fallback_migratetype]} lists."
            )
        return (
            f"<p><b>Allocated.</b> The page allocator handed out {1 << event.order} page(s) "
            f"(order {event.order}) at pfn {event.pfn:#x} from zone {html.escape(event.zone)} "
            f"for {gfp}. {how}</p>" + arithmetic
        )

    def _refill_story(self, event: PagesAllocated, position: int) -> str:
        """How the block popped by ``event`` got onto its per-CPU list, in words.

        Right after an rmqueue_bulk() refill: how many blocks it moved and how the popped
        one, the first, was split; otherwise the list already held it (freed earlier).
        """
        start = max(0, position - 1 - REFILL_LOOKBACK)
        before = list(self.timeline.kernel.history.events(start, position - 1))
        refill, splits, seen = 0, 0, False
        for previous in reversed(before):
            if isinstance(previous, PagesAllocatedZoneLocked) and previous.cpu == event.cpu:
                refill += 1
                seen = previous.pfn == event.pfn
                splits = 0
            elif isinstance(previous, BlockSplit):
                splits += seen and previous.pfn == event.pfn
            elif not isinstance(previous, FallbackStolen):
                break
            else:
                seen = False
        if not refill:
            return (
                "The list already held it: the most recently freed block of this order comes "
                "back first, and the buddy's free lists are not touched."
            )
        how = (
            f"<code>expand()</code> split it {splits} time{'s' if splits > 1 else ''} out of "
            f"an order-{event.order + splits} block"
            if splits
            else f"it was the first block on <code>free_area[{event.order}]</code>"
        )
        return (
            f"The list was empty, so <code>rmqueue_bulk()</code> first moved {refill} "
            f"order-{event.order} block{'s' if refill > 1 else ''} from the buddy onto it, "
            f"in one go under the zone lock; this is the first of them ({how}). The rest "
            "wait on the list for the next allocations."
        )

    def _merge_outcome(self, pfn: int, order: int, position: int) -> str:
        """Whether the free block (pfn, order) merges again: the next event says, else why not."""
        timeline = self.timeline
        following = timeline.event(position) if position < timeline.length else None
        if isinstance(following, BuddiesMerged) and (following.pfn, following.order) == (
            pfn,
            order,
        ):
            return "<p>Its buddy is a free block of the same order too: they merge next.</p>"
        if order == TOP:
            return (
                f"<p>Order {TOP} is the largest (MAX_ORDER - 1): no more merging; the block "
                f"goes onto <code>free_area[{TOP}]</code>.</p>"
            )
        buddy = pfn ^ (1 << order)
        if buddy >= timeline.nr_pfns:
            owner = "beyond the end of memory"
        else:
            owner = html.escape(timeline.owner_of(buddy))
            if timeline.block_at(buddy) == (buddy, order, order):  # free, this order
                return (
                    f"<p>Its buddy {buddy:#x} is free at order {order} too, but "
                    "<code>__free_one_page()</code> does not merge pageblocks of incompatible "
                    f"migratetypes; the block goes onto <code>free_area[{order}]</code>.</p>"
                )
        return (
            f"<p>Its buddy {buddy:#x} is not a free order-{order} block ({owner}): merging "
            f"stops; the block goes onto <code>free_area[{order}]</code>.</p>"
        )
