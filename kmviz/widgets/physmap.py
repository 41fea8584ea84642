"""The physical memory map: every page frame coloured by who has it, zones marked, one inspected.

Physical memory is one long row of page frames numbered by pfn, the page frame number: a
physical address shifted right by PAGE_SHIFT (0x1234000 >> 12 == 0x1234).  The map folds that
row into rows of cells, row-major like text on a page, and colours each cell by the frame code
the timeline keeps for it (free blocks blue by order, allocated frames by owner).  It is the
picture ``tools/vm/page-types.c`` prints from /proc/kpageflags on a real machine, one struct
page of ``mem_map`` per frame, ``pfn_to_page()`` read left to right.

Level of detail.  A cell holds ``per_cell`` frames, a power of two, and starts at a multiple of
it, so every cell is exactly an aligned buddy block::

    16 GiB = 4,194,304 frames in 512 × 256 cells   →   per_cell = 32 frames = 128 KiB (order 5)
    row r, column c shows pfns  start + (r·512 + c)·32  ...  + 31

When a cell holds several frames it shows the most notable of them (PRIORITY, highest first):
anything allocated beats free, so one allocated page stays visible at any zoom; small, rare
owners beat bulky ones (a learner's __get_free_pages() page beats the page cache around it);
a wholly free cell shows the largest free block it touches; a hole shows only where no RAM is.
Zoom in (buttons, "go to pfn", or drag) until each cell is one frame.
"""

from __future__ import annotations

import html
import math
from contextlib import ExitStack
from typing import NamedTuple

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from bqplot.interacts import BrushSelector
from traitlets import Int, TraitError, Tuple, observe, validate

from ..engine.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.events import (
    BadPageReported,
    BlockSplit,
    BuddiesMerged,
    DeviceWrote,
    FallbackStolen,
    FreePagesIsolated,
    LruPagesAdded,
    MemblockAllocated,
    ObjectAllocated,
    ObjectFreed,
    PageMigrated,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PageTableAllocated,
    PcpPagesDrained,
    SlabCreated,
    SlabFreed,
    VmallocMapped,
)
from ..engine.page import format_size
from . import theme
from .cells import timeline_for
from .png import palette_png
from .timeline import (
    ANON,
    BOOTMEM,
    CODE_NAMES,
    FILE,
    HOLE,
    ISOLATED,
    KMALLOC_LARGE,
    NUM_CODES,
    PAGE_TABLE,
    PAGES,
    PCP,
    RESERVED,
    SLAB,
    VMALLOC,
)

MAX_COLUMNS = 512  # cells a row at most
MAX_CELLS = MAX_COLUMNS * MAX_COLUMNS // 2  # 512 × 256: a 2:1 map of 131,072 cells
FIGURE_HEIGHT = 420  # px, the tallest the map's figure gets
PLOT_WIDTH = 800  # px, about what a notebook gives the plot: wide maps get a shorter figure
MIN_SPAN = 256  # frames: zoom in no further than 32 × 8 single-frame cells
ZOOM_FACTOR = 4  # zoom in shows a quarter of the frames
MAX_OUTLINES = 64  # outlined places of one event (a vmalloc() of scattered pages has many)

# Which frame gives a many-frame cell its colour, lowest first: the cell shows its highest.
PRIORITY = (
    HOLE,
    *range(MAX_ORDER),  # free: the largest block wins
    PCP,  # free, held on a per-CPU list
    RESERVED,
    BOOTMEM,
    FILE,
    ANON,
    PAGE_TABLE,
    VMALLOC,
    SLAB,
    KMALLOC_LARGE,
    PAGES,
    ISOLATED,
)
RANK = np.empty(NUM_CODES, dtype=np.uint8)  # frame code -> its place in PRIORITY
RANK[list(PRIORITY)] = np.arange(NUM_CODES)
BY_RANK = np.array(PRIORITY, dtype=np.uint8)  # place in PRIORITY -> frame code
PALETTE = theme.code_palette()  # PNG palette index == frame code
NOT_BUDDY_BLOCKS = (HOLE, RESERVED, BOOTMEM)  # frames the buddy allocator never handed out

OUTLINE_COLOUR = "#000000"  # black reads on every fill colour of the theme


class Fold(NamedTuple):
    """How the map lays out pfns: cell i of ``rows`` × ``columns`` holds ``per_cell`` frames."""

    start: int  # first pfn of cell 0: a multiple of per_cell
    per_cell: int  # a power of two, so a cell is an aligned buddy block
    columns: int
    rows: int

    @property
    def cells(self) -> int:
        """Cells on the map: rows × columns."""
        return self.rows * self.columns

    @property
    def stop(self) -> int:
        """The pfn after the last cell (may pass the end of memory: those cells show holes)."""
        return self.start + self.cells * self.per_cell

    def cell_of(self, pfn: int) -> int:
        """The cell holding ``pfn``: (pfn - start) // per_cell."""
        return (pfn - self.start) // self.per_cell


def fold(lo: int, hi: int) -> Fold:
    """The fold showing pfns [lo, hi) in at most MAX_CELLS cells, rows ≤ columns / 2.

    (0, 4194304) -> 32 frames a cell, 512 × 256;  (0, 256) -> 1 frame a cell, 32 × 8.
    The figure's aspect and height follow the fold (a 4:1 map gets a shorter figure).
    """
    per_cell = 1
    while True:
        start = lo - lo % per_cell
        cells = -(-(hi - start) // per_cell)  # ceil
        if cells <= MAX_CELLS:
            break
        per_cell *= 2
    # the smallest power of two whose square is >= 2 · cells: the rows fill at most half its width
    columns = min(MAX_COLUMNS, 1 << ((2 * cells - 1).bit_length() + 1) // 2)
    return Fold(start, per_cell, columns, max(1, -(-cells // columns)))


def event_ranges(event) -> list[tuple[int, int]]:
    """The pfn ranges [lo, hi) ``event`` is about: PagesAllocated(pfn=8, order=1) -> [(8, 10)]."""
    if isinstance(event, BuddiesMerged):  # the joined block: pfn & buddy_pfn, order + 1
        return [(event.merged_pfn, event.merged_pfn + (2 << event.order))]
    if isinstance(event, FallbackStolen):
        return [(event.pfn, event.pfn + (1 << event.fallback_order))]
    if isinstance(
        event,
        BlockSplit
        | PagesAllocated
        | PagesAllocatedZoneLocked
        | PagesFreed
        | PcpPagesDrained
        | FreePagesIsolated
        | SlabCreated
        | SlabFreed,
    ):
        return [(event.pfn, event.pfn + (1 << event.order))]
    if isinstance(event, PageMigrated):
        return [(event.pfn, event.pfn + 1), (event.new_pfn, event.new_pfn + 1)]
    if isinstance(event, PageTableAllocated | BadPageReported):
        return [(event.pfn, event.pfn + 1)]
    if isinstance(event, VmallocMapped | LruPagesAdded | DeviceWrote):
        return _runs(event.pfns)
    if isinstance(event, MemblockAllocated):
        last = (event.phys + event.size - 1) >> PAGE_SHIFT
        return [(event.phys >> PAGE_SHIFT, last + 1)]
    if isinstance(event, ObjectAllocated | ObjectFreed):  # the frame holding the object
        first = (event.ptr - PAGE_OFFSET) >> PAGE_SHIFT
        large = isinstance(event, ObjectAllocated) and not event.cache
        return [(first, first + (event.bytes_alloc >> PAGE_SHIFT if large else 1))]
    return []


def _runs(pfns) -> list[tuple[int, int]]:
    """Consecutive pfns joined into ranges: (3, 4, 5, 9) -> [(3, 6), (9, 10)]."""
    if not pfns:
        return []
    ordered = np.unique(np.asarray(pfns, dtype=np.int64))
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    firsts = ordered[np.r_[0, breaks]]
    lasts = ordered[np.r_[breaks - 1, len(ordered) - 1]]
    return [(int(a), int(b) + 1) for a, b in zip(firsts, lasts, strict=True)]


def _outline(first: int, stop: int, columns: int) -> list[tuple[int, int]]:
    """The 9-point closed outline of cells [first, stop) laid row-major in ``columns``.

    One row: a rectangle (padded by repeating its last corner).  Several rows: the top row's
    tail, the full rows between and the bottom row's head, walked clockwise.
    """
    top, left = divmod(first, columns)
    bottom, right = divmod(stop - 1, columns)
    right += 1
    if top == bottom:
        corners = [(left, top), (right, top), (right, top + 1), (left, top + 1), (left, top)]
        return corners + [corners[-1]] * 4
    return [
        (left, top),
        (columns, top),
        (columns, bottom),
        (right, bottom),
        (right, bottom + 1),
        (0, bottom + 1),
        (0, top + 1),
        (left, top + 1),
        (left, top),
    ]


def _lines_data(outlines: list[list[tuple[int, int]]], points: int) -> tuple[np.ndarray, ...]:
    """x and y arrays (lines × points) of a Lines mark drawing ``outlines``."""
    xy = np.array(outlines, dtype=float).reshape(len(outlines), points, 2)
    return xy[:, :, 0], xy[:, :, 1]


def _held(*widgets_to_hold):
    """One context that batches the messages of several widgets (hold_sync on each)."""
    stack = ExitStack()
    for widget in widgets_to_hold:
        stack.enter_context(widget.hold_sync())
    return stack


def _button(description: str, tooltip: str, css: str) -> widgets.Button:
    """A button with a tooltip and a stable CSS class for browser tests."""
    button = widgets.Button(description=description, tooltip=tooltip)
    button.add_class(css)
    return button


class PhysMap(widgets.VBox):
    """Every page frame of the machine on one map, zones marked, a frame inspector below."""

    window = Tuple(Int(), Int(), default_value=(0, 0), help="The pfns on the map, [first, end).")
    selected = Int(None, allow_none=True, help="The pfn the inspector describes (None: none).")

    def __init__(self, source, *, window=None, selected=None, follow=False, **kwargs):
        self.timeline = timeline_for(source, follow)
        self._fold = fold(0, 0)
        self._cells = np.zeros(0, dtype=np.uint8)  # one frame code per cell, row-major
        self._build_figure()
        self._build_controls()
        super().__init__(
            children=[
                self.toolbar,
                self.caption,
                self.figure,
                self.legend,
                self.rule,
                self.inspector,
                self.message,
            ],
            **kwargs,
        )
        self.add_class("kmviz-physmap")
        self.window = window if window is not None else (0, self.timeline.nr_pfns)
        self.selected = selected
        self.timeline.observe(self._moved, "position")

    def close(self) -> None:
        """Stop following the timeline and close the view (its picture too)."""
        self.timeline.unobserve(self._moved, "position")
        self.map.image.close()
        super().close()

    # --- parts -------------------------------------------------------------------------------
    def _build_figure(self) -> None:
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=0.0, max=1.0, reverse=True)  # row 0 at the top
        self.pfn_scale = bq.LinearScale(min=0.0, max=1.0, reverse=True)  # the same rows, in pfns
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.map = bq.Image(image=widgets.Image(format="png"), scales=scales)
        self.map.on_element_click(self._clicked)
        self.zone_lines = bq.Lines(
            x=np.empty((0, 5)),
            y=np.empty((0, 5)),
            scales=scales,
            stroke_width=2,
            apply_clip=False,
        )
        self.zone_labels = bq.Label(
            x=[],
            y=[],
            text=[],
            scales=scales,
            align="start",
            default_size=12,
            font_weight="bold",
            apply_clip=False,
        )
        self.event_outline = bq.Lines(
            x=np.empty((0, 9)),
            y=np.empty((0, 9)),
            scales=scales,
            stroke_width=2.5,
            colors=[OUTLINE_COLOUR],
        )
        self.selection_outline = bq.Lines(
            x=np.empty((0, 9)),
            y=np.empty((0, 9)),
            scales=scales,
            stroke_width=2,
            colors=[OUTLINE_COLOUR],
            line_style="dashed",
        )
        self.pfn_axis = bq.Axis(
            scale=self.pfn_scale,
            side="left",
            tick_format="#x",
            grid_lines="none",
            label="pfn at row start",
            label_offset="60px",
        )
        self.brush = BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale, color="black")
        self.brush.observe(self._brushed, "brushing")
        self.figure = bq.Figure(
            marks=[
                self.map,
                self.zone_lines,
                self.zone_labels,
                self.event_outline,
                self.selection_outline,
            ],
            axes=[self.pfn_axis],
            fig_margin={"top": 10, "bottom": 10, "left": 80, "right": 110},
            min_aspect_ratio=2.0,
            max_aspect_ratio=2.0,
            animation_duration=150,
            layout=widgets.Layout(width="100%", height=f"{FIGURE_HEIGHT}px"),
        )
        self.figure.add_class("kmviz-physmap-figure")

    def _build_controls(self) -> None:
        self.mode = widgets.ToggleButtons(
            options=[("click: inspect", "inspect"), ("drag: zoom", "zoom")],
            value="inspect",
            tooltips=["Click a cell to inspect its frame", "Drag across frames to zoom to them"],
            description="map",
        )
        self.mode.add_class("kmviz-physmap-mode")
        self.mode.observe(self._mode_changed, "value")
        self.zoom_in_button = _button(
            "zoom in", "Show a quarter of the frames, around the inspected one", "kmviz-zoom-in"
        )
        self.zoom_out_button = _button("zoom out", "Show four times the frames", "kmviz-zoom-out")
        self.whole_button = _button("whole machine", "Show every frame", "kmviz-whole-machine")
        self.lower_button = _button("◀ lower pfns", "Move one window down", "kmviz-pan-lower")
        self.higher_button = _button("higher pfns ▶", "Move one window up", "kmviz-pan-higher")
        self.goto = widgets.Text(
            description="go to pfn",
            placeholder="0x1f400 or 128000",
            continuous_update=False,
            tooltip="A page frame number, hex (0x…) or decimal; Enter inspects it",
        )
        self.goto.add_class("kmviz-physmap-goto")
        self.zoom_in_button.on_click(lambda _: self._act(self.zoom_in))
        self.zoom_out_button.on_click(lambda _: self._act(self.zoom_out))
        self.whole_button.on_click(lambda _: self._act(self.whole_machine))
        self.lower_button.on_click(lambda _: self._act(self.pan, -1))
        self.higher_button.on_click(lambda _: self._act(self.pan, 1))
        self.goto.observe(self._goto_entered, "value")
        self.toolbar = widgets.VBox(
            [
                widgets.HBox([self.mode, self.goto]),
                widgets.HBox(
                    [
                        self.zoom_in_button,
                        self.zoom_out_button,
                        self.whole_button,
                        self.lower_button,
                        self.higher_button,
                    ]
                ),
            ]
        )
        self.toolbar.add_class("kmviz-physmap-toolbar")
        self.caption = widgets.HTML()
        self.caption.add_class("kmviz-physmap-caption")
        owners = [code for code in reversed(PRIORITY) if PAGES <= code < HOLE]  # highest first
        self.legend = theme.legend([*range(MAX_ORDER), *owners, HOLE])
        ranked = [CODE_NAMES[code] for code in owners]
        self.rule = widgets.HTML(
            "<small>A cell of several frames shows the highest of: "
            + " › ".join(html.escape(name) for name in ranked)
            + " › the largest free block › hole. Dashed: the inspected frame; solid: what the "
            "current event touched.</small>"
        )
        self.rule.add_class("kmviz-physmap-rule")
        self.inspector = widgets.HTML()
        self.inspector.add_class("kmviz-physmap-inspector")
        self.message = widgets.HTML()
        self.message.add_class("kmviz-physmap-message")

    # --- what the user can do ----------------------------------------------------------------
    def show(self, lo: int, hi: int) -> None:
        """Put pfns [lo, hi) on the map (widened to whole cells and rows)."""
        self.window = (int(lo), int(hi))

    def whole_machine(self) -> None:
        """Put every frame of the machine on the map."""
        self.show(0, self.timeline.nr_pfns)

    def zoom_in(self) -> None:
        """Show a quarter of the frames, centred on the inspected frame if it is on the map."""
        lo, hi = self.window
        centre = self.selected if self.selected is not None and lo <= self.selected < hi else None
        self._centre_on((lo + hi) // 2 if centre is None else centre, (hi - lo) // ZOOM_FACTOR)

    def zoom_out(self) -> None:
        """Show four times the frames around the middle of the map."""
        lo, hi = self.window
        self._centre_on((lo + hi) // 2, (hi - lo) * ZOOM_FACTOR)

    def pan(self, direction: int) -> None:
        """Move the map one window towards higher (+1) or lower (-1) pfns, stopping at the ends."""
        lo, hi = self.window
        span = hi - lo
        self._centre_on((lo + hi) // 2 + direction * span, span)

    def go_to(self, pfn: int) -> None:
        """Inspect frame ``pfn``, moving the map to it (same span) if it is not on it."""
        self.selected = pfn  # validated first: a pfn beyond memory changes nothing
        lo, hi = self.window
        if not lo <= pfn < hi:
            self._centre_on(pfn, hi - lo)

    def select_at(self, x: float, y: float) -> None:
        """Inspect the frame that gives the cell at map position (x: column, y: row) its colour."""
        f = self._fold
        column, row = math.floor(x), math.floor(y)
        if not (0 <= column < f.columns and 0 <= row < f.rows):
            return
        lo = f.start + (row * f.columns + column) * f.per_cell
        nr_pfns = self.timeline.nr_pfns
        if lo >= nr_pfns:
            self._say(f"No frame there: this machine's last frame is pfn {nr_pfns - 1:#x}.")
            return
        frames = self.timeline.frames[lo : min(lo + f.per_cell, nr_pfns)]
        self.selected = lo + int(np.argmax(RANK[frames]))  # the first of the winning code
        self._say("")

    def _centre_on(self, centre: int, span: int) -> None:
        nr_pfns = self.timeline.nr_pfns
        span = max(min(MIN_SPAN, nr_pfns), min(span, nr_pfns))
        lo = max(0, min(centre - span // 2, nr_pfns - span))
        self.show(lo, lo + span)

    def _act(self, action, *args) -> None:
        """Run a control's action; show its error instead of raising into the widget."""
        try:
            action(*args)
        except (TraitError, ValueError) as error:
            self._say(str(error))
        else:
            self._say("")

    def _say(self, text: str) -> None:
        self.message.value = (
            f'<span style="color:#B2182B">{html.escape(text)}</span>' if text else ""
        )

    def _goto_entered(self, change) -> None:
        text = change["new"].strip()
        if not text:
            return
        try:
            pfn = int(text, 0)
        except ValueError:
            self._say(f"“{text}” is not a pfn: type a number such as 0x1f400 or 128000.")
            return
        self._act(self.go_to, pfn)

    def _clicked(self, _mark, content) -> None:
        data = content.get("data") or {}
        if "click_x" in data and "click_y" in data:
            self.select_at(data["click_x"], data["click_y"])

    def _mode_changed(self, change) -> None:
        self.figure.interaction = self.brush if change["new"] == "zoom" else None

    def _brushed(self, change) -> None:
        """At the end of a drag, zoom to the frames from its first cell to its last."""
        if change["new"] or self.brush.selected_x is None or self.brush.selected_y is None:
            return
        f = self._fold
        (x0, x1), (y0, y1) = sorted(self.brush.selected_x), sorted(self.brush.selected_y)
        first = _clamp(math.floor(y0), f.rows) * f.columns + _clamp(math.floor(x0), f.columns)
        last = _clamp(math.floor(y1), f.rows) * f.columns + _clamp(math.floor(x1), f.columns)
        lo = f.start + first * f.per_cell
        hi = min(f.start + (last + 1) * f.per_cell, self.timeline.nr_pfns)
        self.brush.selected_x = self.brush.selected_y = None
        if lo < hi:
            self._act(self._centre_on, (lo + hi) // 2, hi - lo)

    # --- validation ----------------------------------------------------------------------------
    @validate("window")
    def _valid_window(self, proposal):
        lo, hi = proposal["value"]
        nr_pfns = self.timeline.nr_pfns
        if not 0 <= lo < hi <= nr_pfns:
            raise TraitError(
                f"pfns {lo:#x}–{hi:#x} are not a range inside this machine's 0x0–{nr_pfns:#x}"
            )
        f = fold(lo, hi)
        return (f.start, min(f.stop, nr_pfns))

    @validate("selected")
    def _valid_selected(self, proposal):
        pfn = proposal["value"]
        nr_pfns = self.timeline.nr_pfns
        if pfn is not None and not 0 <= pfn < nr_pfns:
            raise TraitError(
                f"pfn {pfn:#x} is beyond this machine: its frames are 0x0–{nr_pfns - 1:#x}"
            )
        return pfn

    # --- painting ----------------------------------------------------------------------------
    @observe("window")
    def _refold(self, _change) -> None:
        """Lay the new window out, paint every cell, and redraw what depends on the layout."""
        f = self._fold = fold(*self.window)
        self._cells = self._cell_codes(0, f.cells)
        row_frames = f.columns * f.per_cell
        aspect = f.columns / f.rows  # square cells: the plot is as wide as the fold
        with _held(self.map, self.x_scale, self.y_scale, self.pfn_scale, self.pfn_axis):
            figure = self.figure  # keep min <= max at every step, as bqplot validates
            if aspect >= figure.max_aspect_ratio:
                figure.max_aspect_ratio, figure.min_aspect_ratio = aspect, aspect
            else:
                figure.min_aspect_ratio, figure.max_aspect_ratio = aspect, aspect
            self.figure.layout.height = f"{min(FIGURE_HEIGHT, round(PLOT_WIDTH / aspect) + 20)}px"
            self.x_scale.min, self.x_scale.max = 0.0, float(f.columns)
            self.y_scale.min, self.y_scale.max = 0.0, float(f.rows)
            self.pfn_scale.min, self.pfn_scale.max = float(f.start), f.start + f.rows * row_frames
            self.pfn_axis.tick_values = self._ticks(f)
            self.map.x, self.map.y = (0, f.columns), (f.rows, 0)
            self._send_image()
        self._draw_zones()
        self._draw_event()
        self._draw_selection()
        self._show_caption()
        self._show_inspector()

    def _moved(self, _change) -> None:
        """Repaint the cells the timeline's last move touched, then the outline and inspector."""
        f = self._fold
        lo, hi = self.timeline.changed
        lo, hi = max(lo, f.start), min(hi, f.stop)
        if lo < hi:
            first, stop = f.cell_of(lo), f.cell_of(hi - 1) + 1
            codes = self._cell_codes(first, stop)
            if not np.array_equal(codes, self._cells[first:stop]):
                self._cells[first:stop] = codes
                self._send_image()
        self._draw_event()
        self._show_caption()
        self._show_inspector()

    def _cell_codes(self, first: int, stop: int) -> np.ndarray:
        """The frame code each cell first..stop-1 shows: the highest-ranked frame in it."""
        f = self._fold
        lo = f.start + first * f.per_cell
        ranks = np.zeros((stop - first) * f.per_cell, dtype=np.uint8)  # RANK[HOLE] == 0
        frames = self.timeline.frames[lo : lo + len(ranks)]
        ranks[: len(frames)] = RANK[frames]  # indexing: 20x np.take(out=...) on 268M frames
        return BY_RANK[ranks.reshape(-1, f.per_cell).max(axis=1)]

    def _send_image(self) -> None:
        """Replace the map's picture (bqplot redraws an Image only when its widget changes)."""
        f = self._fold
        png = palette_png(self._cells.reshape(f.rows, f.columns), PALETTE)
        old = self.map.image
        self.map.image = widgets.Image(value=png, format="png")
        old.close()

    @staticmethod
    def _ticks(f: Fold) -> np.ndarray:
        """Row-start pfns to label: a power-of-two step of whole rows, at most 8 on the map."""
        row_frames = f.columns * f.per_cell
        step = row_frames
        while f.rows * row_frames // step > 8:
            step *= 2
        first = -(-f.start // step) * step
        return np.arange(first, f.stop + 1, step)

    def _draw_zones(self) -> None:
        """A line in the zone's colour where each zone starts, led out to its name on the right."""
        f = self._fold
        lead = f.columns * 0.03
        gap = f.rows / 18  # keep names about a line of text apart
        lines, line_colours, xs, ys, names, colours = [], [], [], [], [], []
        label_y = -gap
        for name, zone_start, zone_end in self.timeline.zones:
            if zone_end <= f.start or zone_start >= min(f.stop, self.timeline.nr_pfns):
                continue
            cell = max(0, f.cell_of(zone_start))
            row, column = divmod(cell, f.columns)
            label_y = max(row + 0.5, label_y + gap)
            colour = theme.ZONE_COLOURS.get(name, "#000000")
            if cell:
                edge = [(0, row + 1), (column, row + 1)] if column else [(0, row), (0, row)]
                lines.append([*edge, (column, row), (f.columns, row), (f.columns + lead, label_y)])
                line_colours.append(colour)
            xs.append(f.columns + 1.5 * lead)
            ys.append(label_y)
            names.append(f"{name} ({zone_start:#x})" if cell else name)
            colours.append(colour)
        x, y = _lines_data(lines, 5)
        with _held(self.zone_lines, self.zone_labels):
            self.zone_lines.x, self.zone_lines.y = x, y
            self.zone_lines.colors = line_colours or ["#000000"]
            self.zone_labels.x, self.zone_labels.y = xs, ys
            self.zone_labels.text = names
            self.zone_labels.colors = colours or ["#000000"]

    def _draw_event(self) -> None:
        """Outline on the map the frames the current event is about (a split, a merge, ...)."""
        f = self._fold
        end = min(f.stop, self.timeline.nr_pfns)
        runs: list[list[int]] = []
        for lo, hi in event_ranges(self.timeline.current):
            if max(lo, f.start) >= min(hi, end):
                continue
            first, stop = f.cell_of(max(lo, f.start)), f.cell_of(min(hi, end) - 1) + 1
            if runs and first <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], stop)
            else:
                runs.append([first, stop])
        outlines = [_outline(first, stop, f.columns) for first, stop in runs[:MAX_OUTLINES]]
        x, y = _lines_data(outlines, 9)
        with self.event_outline.hold_sync():
            self.event_outline.x, self.event_outline.y = x, y

    def _draw_selection(self) -> None:
        """A dashed square around the cell of the inspected frame, when it is on the map."""
        f = self._fold
        pfn = self.selected
        on_map = pfn is not None and f.start <= pfn < f.stop
        cell = f.cell_of(pfn) if on_map else 0
        x, y = _lines_data([_outline(cell, cell + 1, f.columns)] if on_map else [], 9)
        with self.selection_outline.hold_sync():
            self.selection_outline.x, self.selection_outline.y = x, y

    @observe("selected")
    def _selected_changed(self, _change) -> None:
        self._draw_selection()
        self._show_inspector()

    def _show_caption(self) -> None:
        f = self._fold
        lo, hi = self.window
        frames = "1 frame" if f.per_cell == 1 else f"{f.per_cell} frames"
        order = f.per_cell.bit_length() - 1
        block = f"an aligned order-{order} block" if order else "one page"
        position = self.timeline.position
        current = self.timeline.current
        what = type(current).__name__ if current is not None else "the machine before any event"
        touched = event_ranges(current)
        where = ""
        if len(touched) == 1:
            where = f" at pfn {touched[0][0]:#x}–{touched[0][1] - 1:#x}"
        elif touched:
            where = f" in {len(touched)} places"
        self.caption.value = (
            f"<b>pfn {lo:#x}–{hi - 1:#x}</b> ({format_size((hi - lo) << PAGE_SHIFT)}) · "
            f"{f.columns} × {f.rows} cells · <b>1 cell = {frames}</b> "
            f"({format_size(f.per_cell << PAGE_SHIFT)}, {block}) · "
            f"position {position}, last event: {what}{where}"
        )

    def _show_inspector(self) -> None:
        """Describe the inspected frame as the timeline has it now."""
        pfn = self.selected
        if pfn is None:
            self.inspector.value = "<i>Click a cell or type a pfn to inspect a frame.</i>"
            return
        timeline = self.timeline
        head, order, code = timeline.block_at(pfn)
        phys = pfn << PAGE_SHIFT
        zone = timeline.zone_of(pfn) or "none (outside every zone)"
        lines = [
            f"<b>pfn {pfn:#x}</b> ({pfn:,}) · physical address {phys:#x} · "
            f"page_address() {PAGE_OFFSET + phys:#x} · zone {html.escape(zone)}",
            f"owner: <b>{html.escape(timeline.owner_of(pfn))}</b>",
        ]
        size = f"{1 << order} frame{'s' if order else ''}, {format_size(PAGE_SIZE << order)}"
        span = f"pfn {head:#x}–{head + (1 << order) - 1:#x}"
        if code in NOT_BUDDY_BLOCKS:
            lines.append("block: none, the buddy allocator never had this frame")
        elif code < MAX_ORDER:
            lines.append(f"block: free, order {order} at {span} ({size})")
            if order < MAX_ORDER - 1:
                buddy = head ^ (1 << order)  # 0x1230 ^ (1 << 2) == 0x1234
                held = timeline.owner_of(buddy) if buddy < timeline.nr_pfns else "beyond memory"
                lines.append(  # not merged: the buddy is not a free block of the same order
                    f"its buddy: {head:#x} ^ (1 &lt;&lt; {order}) = {buddy:#x}, now "
                    f"{html.escape(held)}"
                )
        elif code == PCP:
            lines.append(
                f"block: free, order {order} at {span} ({size}), on a CPU's per-CPU list: "
                "the next allocation of this order there gets it; not in /proc/buddyinfo"
            )
        else:
            lines.append(f"block: allocated, order {order} at {span} ({size})")
        f = self._fold
        if f.per_cell > 1 and f.start <= pfn < f.stop:
            lines.append(self._cell_breakdown(f.start + f.cell_of(pfn) * f.per_cell))
        self.inspector.value = "<br>".join(lines)

    def _cell_breakdown(self, lo: int) -> str:
        """What the cell starting at ``lo`` holds: "32 frames: 24 free, 8 page allocator"."""
        f = self._fold
        frames = self.timeline.frames[lo : lo + f.per_cell]
        counts = np.bincount(frames, minlength=NUM_CODES)
        parts = []
        free = int(counts[:MAX_ORDER].sum())
        if free:
            parts.append(f"{free} free")
        parts += [
            f"{int(counts[c])} {CODE_NAMES[c]}" for c in range(MAX_ORDER, NUM_CODES) if counts[c]
        ]
        return (
            f"this cell: {f.per_cell} frames from pfn {lo:#x}: {html.escape(', '.join(parts))}; "
            f"it shows {html.escape(CODE_NAMES[self._cells[f.cell_of(lo)]])}"
        )


def _clamp(value: int, count: int) -> int:
    """``value`` limited to 0..count-1."""
    return max(0, min(value, count - 1))
