"""The slab allocator: caches as /proc/slabinfo lists them, one cache's slabs, kmalloc's classes.

SLUB (mm/slub.c) serves objects of one size from a *cache*; a cache takes 2^order pages at a
time from the page allocator (a *slab*, ``allocate_slab()`` L1929) and cuts them into
``objperslab`` slots.  Each CPU allocates from its *active slab* (``c->slab``,
``slab_alloc_node()`` L3276) until it is full, then from its own per-CPU partial list
(``CONFIG_SLUB_CPU_PARTIAL``: full slabs that got an object back, ``put_cpu_partial()``
L2639), then from the node's partial list, and only then asks for a new slab; an empty slab on
the node's list goes back (``discard_slab()`` L2045) once the cache keeps enough partial ones.

kmalloc() is a front end to ready-made caches, one per size class.  ``kmalloc_slab()``
(mm/slab_common.c L700) picks the class: up to 192 bytes through the ``size_index`` table
(L664), above that by the highest bit::

    kmalloc(100): size_index[(100 - 1) / 8] = size_index[12] = 7  ->  kmalloc-128, 28 B wasted
    kmalloc(300): fls(300 - 1) = 9                                ->  kmalloc-512, 212 B wasted
    kmalloc(20000) > 8192: __kmalloc_large_node(), get_order(20000) = 3 -> 8 pages straight
                           from the page allocator, 12768 B wasted

/proc/slabinfo's active_objs (``get_slabinfo()``, mm/slub.c L6312) counts every slot except
the free ones on the node's partial list, so the free slots of the CPU's slabs count as
active::

    active_objs = objects in use + free slots of the active slab and the per-CPU partial ones

The events carry no ``c->slab``; since SLUB allocates only from it, the active slab of a
cache at any position is the slab of its newest allocation (``Timeline.active_slab``).  Only
kmem_cache_shrink() moves it without an event (flush_all()), so after a shrink the
active_objs column can differ from the kernel's until the cache allocates again.
"""

from __future__ import annotations

import html
import math
from contextlib import ExitStack
from typing import NamedTuple

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Enum, Int, TraitError, Unicode, observe, validate

from ..engine.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.events import (
    CacheCreated,
    CacheDestroyed,
    CacheMerged,
    MessageLogged,
    ObjectAllocated,
    ObjectFreed,
    SlabCreated,
    SlabFreed,
    SlabFrozen,
    SlabsUnfrozen,
)
from ..engine.gfp import format_gfp
from ..engine.page import format_size, get_order
from ..engine.procfs import SLABINFO_HEADER, slabinfo_line
from ..engine.slab_geometry import (
    KMALLOC_INDEXES,
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    SIZE_INDEX,
    ZERO_SIZE_PTR,
    kmalloc_cache_name,
    kmalloc_cache_size,
    kmalloc_index,
    kmalloc_type,
)
from . import theme
from .buddy import LOOKBACK
from .cells import timeline_for
from .png import palette_png
from .timeline import KMALLOC_LARGE, SLAB, Slab

MAX_SLABS = 64  # slabs drawn by default
MAX_SLABS_LIMIT = 1024  # the most the max_slabs control accepts
SORTS = {
    "slabinfo": "newest first, as /proc/slabinfo",
    "memory": "memory",
    "objects": "objects in use",
    "name": "name",
    "objsize": "object size",
}
# kmalloc's size classes, 8 B .. 8 KiB (kmalloc_info[], mm/slab_common.c L764), then the page
# blocks a large kmalloc() gets: order 2 (16 KiB, the first above 8 KiB) .. order 10 (4 MiB)
CLASS_SIZES = tuple(sorted(kmalloc_cache_size(index) for index in KMALLOC_INDEXES))
LARGE_ORDERS = tuple(range(get_order(KMALLOC_MAX_CACHE_SIZE + 1), MAX_ORDER))
RULER = (*CLASS_SIZES, *(PAGE_SIZE << order for order in LARGE_ORDERS))
RULER_START = CLASS_SIZES[0] // 2  # bytes: where the log axis starts, left of the 8-byte class
LABEL_LOW, LABEL_HIGH = 64, 1 << 18  # bytes: the request's label, centred, stays on the axis
CLASS_NAMES = tuple(
    kmalloc_cache_name(kmalloc_index(size)).removeprefix("kmalloc-") for size in CLASS_SIZES
) + tuple(format_size(PAGE_SIZE << order) for order in LARGE_ORDERS)
CLASS_COLOUR = "#E6E6E6"  # a size class not chosen
FREE_SLOT_COLOUR = "#E0E0E0"  # light grey
EVENT_COLOUR = "#000000"  # the slot this step allocated or freed, and the active slab's frame
REQUEST_COLOUR = "#56B4E9"  # Okabe-Ito sky blue: the bytes asked for
WASTE_COLOUR = "#999999"  # grey: allocated but not asked for (internal fragmentation)
OUTLINE_COLOUR = "#444444"
KMALLOC_KIND_ENUM = {  # enum kmalloc_cache_type (include/linux/slab.h L342)
    "normal": "KMALLOC_NORMAL",
    "cgroup": "KMALLOC_CGROUP",
    "reclaim": "KMALLOC_RECLAIM",
    "dma": "KMALLOC_DMA",
}

# the slab picture: one tile per slab, one cell per object slot; palette index per pixel
BACKGROUND, FREE_SLOT, USED_SLOT, EVENT_SLOT, ACTIVE_FRAME, SLAB_FRAME, CPU_PARTIAL_FRAME = range(7)
CPU_PARTIAL_COLOUR = "#0072B2"  # Okabe-Ito blue: frame of the slabs on the CPU's partial list
SLAB_COLOURS = (
    "#FFFFFF",  # background
    FREE_SLOT_COLOUR,
    theme.OWNER_COLOURS[SLAB],  # an object in use
    EVENT_COLOUR,  # the slot this step allocated or freed
    EVENT_COLOUR,  # frame of the active slab
    "#AAAAAA",  # frame of the other slabs
    CPU_PARTIAL_COLOUR,
)
SLAB_PALETTE = np.array(
    [[int(colour[i : i + 2], 16) for i in (1, 3, 5)] for colour in SLAB_COLOURS], dtype=np.uint8
)
TILE_WIDTH = 96  # pixels a tile's cells aim for
MIN_CELL, MAX_CELL = 3, 12  # pixels per slot cell
FRAME = 2  # pixels of frame around a tile
GAP = 6  # pixels between tiles
IMAGE_WIDTH = 720  # pixels: tiles wrap to the next row beyond this
TABLE_STYLE = (
    "<style>.kmviz-slab-caches{border-collapse:collapse;font:12px monospace}"
    ".kmviz-slab-caches td,.kmviz-slab-caches th{padding:1px 8px}"
    ".kmviz-slab-selected{background:#f0f0f0;font-weight:bold}</style>"
)


class CacheRow(NamedTuple):
    """One cache at one position: /proc/slabinfo's columns and the objects really in use."""

    name: str
    active_objs: int
    num_objs: int
    objsize: int  # the slot size, s->size
    objperslab: int
    pagesperslab: int
    num_slabs: int
    in_use: int
    pages: int
    aliases: tuple[str, ...] = ()  # names merged into the cache (symlinks in /sys/kernel/slab)

    def slabinfo_line(self) -> str:
        """The line /proc/slabinfo prints (slabinfo_show(), mm/slab_common.c L1190)."""
        return slabinfo_line(self.name, self.active_objs, self.num_objs, self.objsize,
                             self.objperslab, self.pagesperslab, self.num_slabs)  # fmt: skip


def tile_shape(objects: int) -> tuple[int, int]:
    """(columns, rows) of a slab's tile: a power-of-two width near sqrt(objects), 512 -> 32 x 16."""
    columns = 1 << math.ceil(math.log2(math.sqrt(objects))) if objects > 1 else 1
    return columns, -(-objects // columns)


def slot_bits(used: int, objects: int) -> np.ndarray:
    """The ``used`` bitmask as one uint8 per slot: bit i of ``used`` is slot i."""
    raw = np.frombuffer(used.to_bytes((objects + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:objects]


def kmalloc_arithmetic(size: int) -> str:
    """How kmalloc_slab() finds the class index of ``size`` bytes, as text."""
    if size <= 192:
        return (
            f"size_index[({size} - 1) / 8] = size_index[{(size - 1) // 8}] = "
            f"{SIZE_INDEX[(size - 1) // 8]}"
        )
    return f"fls({size} - 1) = {(size - 1).bit_length()}"


class SlabView(widgets.VBox):
    """The caches as /proc/slabinfo, the slabs of one cache, and kmalloc's size classes."""

    cache = Unicode("", help="The cache whose slabs are drawn.")
    show_all = Bool(False, help="List every cache, not only those holding slabs.")
    sort_by = Enum(tuple(SORTS), default_value="slabinfo", help="The order of the cache table.")
    follow_events = Bool(True, help="Select the cache of each slab event the timeline reaches.")
    max_slabs = Int(MAX_SLABS, help="How many slabs of the cache are drawn at most.")

    CHOICES = ("cache", "show_all", "sort_by", "follow_events", "max_slabs")

    def __init__(self, source, animation_ms: int = 400, follow: bool = False, **kwargs):
        """A view of ``source`` (kmviz/widgets/cells.py); transitions last ``animation_ms``.

        The view's choices (``cache``, ``show_all``, ``sort_by``, ``follow_events``,
        ``max_slabs``) may be given as keywords; they apply once the view is built.
        """
        choices = {name: kwargs.pop(name) for name in self.CHOICES if name in kwargs}
        super().__init__(**kwargs)
        self.timeline = timeline_for(source, follow)
        self.add_class("kmviz-slab")
        self._syncing = False  # True while the view sets its own controls

        self.cache_box = widgets.Dropdown(
            description="cache", tooltip="The cache whose slabs are drawn below"
        )
        self.all_box = widgets.Checkbox(
            value=self.show_all, description="all caches", tooltip="List caches without slabs too"
        )
        self.sort_box = widgets.Dropdown(
            options=[(label, key) for key, label in SORTS.items()],
            value=self.sort_by,
            description="sort",
            tooltip="The order of the cache table",
        )
        self.follow_box = widgets.Checkbox(
            value=self.follow_events,
            description="follow allocations",
            tooltip="Select the cache of each slab event the player reaches",
        )
        self.max_box = widgets.IntText(
            value=self.max_slabs,
            description="slabs drawn",
            tooltip=f"Draw at most this many slabs (1..{MAX_SLABS_LIMIT})",
        )
        self.status = widgets.HTML()
        self.status.add_class("kmviz-slab-status")
        controls = widgets.HBox(
            [self.cache_box, self.all_box, self.sort_box, self.follow_box, self.max_box],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        controls.add_class("kmviz-slab-controls")
        self.cache_box.observe(self._cache_chosen, "value")
        self.all_box.observe(lambda change: self._choose("show_all", change["new"]), "value")
        self.sort_box.observe(lambda change: self._choose("sort_by", change["new"]), "value")
        self.follow_box.observe(
            lambda change: self._choose("follow_events", change["new"]), "value"
        )
        self.max_box.observe(self._max_typed, "value")

        self.story = widgets.HTML()
        self.story.add_class("kmviz-slab-story")
        self._build_ruler(animation_ms)
        self.table = widgets.HTML(layout=theme.scroll_box())  # hundreds of caches after boot
        self.table.add_class("kmviz-slab-table")
        self.slab_caption = widgets.HTML()
        self.slab_caption.add_class("kmviz-slab-caption")
        self.slab_image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.slab_image.add_class("kmviz-slab-slabs")
        self.slabinfo = widgets.HTML(layout=theme.scroll_box())
        self.slabinfo.add_class("kmviz-slabinfo")
        self.slabinfo_box = widgets.Accordion(children=[self.slabinfo], titles=["/proc/slabinfo"])
        self.slabinfo_box.observe(lambda _: self.repaint(), "selected_index")
        legend = widgets.HTML(
            theme.swatch(theme.OWNER_COLOURS[SLAB], "object in use")
            + theme.swatch(FREE_SLOT_COLOUR, "free slot")
            + theme.swatch(EVENT_COLOUR, "the slot this step used; black frame: the active slab")
            + theme.swatch(REQUEST_COLOUR, "bytes asked for")
            + theme.swatch(WASTE_COLOUR, "wasted (internal fragmentation)")
            + theme.swatch(theme.OWNER_COLOURS[KMALLOC_LARGE], "kmalloc (large): page blocks")
        )
        legend.add_class("kmviz-legend")
        self.children = [  # the slabs of the chosen cache first, then where it sits among all
            controls,
            self.status,
            self.story,
            self.slab_caption,
            self.slab_image,
            legend,
            self.ruler,
            self.table,
            self.slabinfo_box,
        ]
        self.timeline.observe(self._moved, "position")
        chosen = choices.pop("cache", None) or self._event_cache() or self._default_cache()
        with self.hold_trait_notifications():
            for name, value in choices.items():
                setattr(self, name, value)
            self.cache = chosen
        self.repaint()

    def _build_ruler(self, animation_ms: int) -> None:
        """The kmalloc size classes on a log axis, and the request and waste bars above them."""
        x = bq.LogScale(min=float(RULER_START), max=float(RULER[-1]))
        y = bq.LinearScale(min=-1.3, max=3.0)
        bounds = (RULER_START, *RULER)
        xs = [[low, high, high, low, low] for low, high in zip(bounds, RULER, strict=False)]
        ys = [[0, 0, 1, 1, 0]] * len(RULER)
        self.classes = bq.Lines(
            x=np.array(xs, dtype=float), y=np.array(ys, dtype=float), scales={"x": x, "y": y},
            fill="inside", close_path=True, colors=[OUTLINE_COLOUR] * len(RULER),
            fill_colors=[CLASS_COLOUR] * len(RULER), fill_opacities=[1.0] * len(RULER),
        )  # fmt: skip
        self.class_labels = bq.Label(
            x=np.sqrt(np.array(bounds[:-1], dtype=float) * np.array(RULER, dtype=float)),
            y=np.full(len(RULER), -0.7), text=list(CLASS_NAMES), scales={"x": x, "y": y},
            align="middle", default_size=10, colors=["#000000"],
        )  # fmt: skip
        self.request = bq.Lines(
            x=np.full((2, 5), float(RULER_START)), y=np.array([[1.3, 1.3, 1.9, 1.9, 1.3]] * 2),
            scales={"x": x, "y": y}, fill="inside", close_path=True,
            colors=[OUTLINE_COLOUR, OUTLINE_COLOUR], fill_colors=[REQUEST_COLOUR, WASTE_COLOUR],
            fill_opacities=[1.0, 1.0], opacities=[0.0, 0.0],
        )  # fmt: skip
        self.request_label = bq.Label(
            x=np.array([float(LABEL_LOW)]), y=np.array([2.4]), text=[""],
            scales={"x": x, "y": y}, align="middle", default_size=12, colors=["#000000"],
        )  # fmt: skip
        self.ruler = bq.Figure(
            marks=[self.classes, self.class_labels, self.request, self.request_label],
            axes=[bq.Axis(scale=x, label="bytes (log scale)", tick_format="~s")],
            title="kmalloc size classes",
            animation_duration=animation_ms,
            fig_margin={"top": 40, "bottom": 45, "left": 20, "right": 20},
            layout=widgets.Layout(width="100%", height="200px"),
        )
        self.ruler.add_class("kmviz-slab-ruler")

    # --- controls -------------------------------------------------------------------------------
    @validate("cache")
    def _valid_cache(self, proposal):
        name = proposal["value"]
        if name and name not in self.cache_names():
            raise TraitError(f"this kernel has no slab cache called {name!r}")
        return name

    @validate("max_slabs")
    def _valid_max_slabs(self, proposal):
        value = proposal["value"]
        if not 1 <= value <= MAX_SLABS_LIMIT:
            raise TraitError(f"slabs drawn must be 1..{MAX_SLABS_LIMIT}, not {value}")
        return value

    @observe("cache", "show_all", "sort_by", "follow_events", "max_slabs")
    def _choice_changed(self, _change) -> None:
        self.repaint()

    def _choose(self, trait: str, value) -> None:
        """Set the view's ``trait`` from a control; a bad value is reported and changes nothing."""
        if self._syncing:
            return
        try:
            setattr(self, trait, value)
        except TraitError as error:
            self.status.value = html.escape(str(error))
            self.repaint()  # the control goes back to the view's value
        else:
            self.status.value = ""

    def _cache_chosen(self, change) -> None:
        if change["new"] is not None:
            self._choose("cache", change["new"])

    def _max_typed(self, change) -> None:
        self._choose("max_slabs", change["new"])

    def close(self):
        """Stop following the timeline and close the view's widgets."""
        self.timeline.unobserve(self._moved, "position")
        super().close()

    # --- reading the timeline -------------------------------------------------------------------
    def _moved(self, _change) -> None:
        chosen = self._event_cache() if self.follow_events else ""
        if chosen and chosen != self.cache:
            self.cache = chosen  # repaints
        else:
            self.repaint()

    def _event_cache(self) -> str:
        """The cache the current event allocated from, freed to, or gave or took a slab."""
        event = self.timeline.current
        name = ""
        if isinstance(event, (ObjectAllocated, SlabCreated, SlabFreed, SlabFrozen, SlabsUnfrozen)):
            name = event.cache
        elif isinstance(event, CacheCreated):
            name = event.name
        elif isinstance(event, CacheMerged):
            name = event.into
        elif isinstance(event, ObjectFreed):
            slab = self.timeline.slab_at((event.ptr - PAGE_OFFSET) >> PAGE_SHIFT)
            name = event.cache or (slab.cache if slab else "")
        return name if name in self.timeline.caches else ""

    def _default_cache(self) -> str:
        """The cache holding the most pages, or the first cache, or "" before any exists."""
        rows = [row for row in self.cache_rows() if row.num_slabs]
        if rows:
            return max(rows, key=lambda row: row.pages).name
        return next(iter(self.timeline.caches), "")

    def active_slab(self, cache: str) -> Slab | None:
        """The slab ``cache`` allocates from at the position (SLUB's c->slab), if it has one."""
        pfn = self.timeline.active_slab.get(cache)
        return None if pfn is None else self.timeline.slabs[pfn]

    def cache_names(self) -> set[str]:
        """The name of every cache the kernel has created so far (at any position)."""
        timeline = self.timeline
        return {event.name for event in timeline.index.events("cache", 0, timeline.length)}

    def cache_rows(self) -> list[CacheRow]:
        """Every cache at the position, newest first as /proc/slabinfo lists them."""
        timeline = self.timeline
        totals: dict[str, list[int]] = {}  # name -> [slabs, objects, in use, pages]
        for slab in timeline.slabs.values():
            total = totals.get(slab.cache)
            if total is None:
                total = totals[slab.cache] = [0, 0, 0, 0]
            total[0] += 1
            total[1] += slab.objects
            total[2] += slab.inuse
            total[3] += 1 << slab.order
        rows = []
        spare_of: dict[str, int] = {}  # free slots of the slabs on a CPU's partial list
        for pfn in timeline.cpu_partial:
            slab = timeline.slabs[pfn]
            spare_of[slab.cache] = spare_of.get(slab.cache, 0) + slab.objects - slab.inuse
        for cache in reversed(timeline.caches.values()):
            slabs, objects, in_use, pages = totals.get(cache.name, (0, 0, 0, 0))
            active = self.active_slab(cache.name) if slabs else None
            spare = (active.objects - active.inuse if active else 0) + spare_of.get(cache.name, 0)
            rows.append(
                CacheRow(cache.name, in_use + spare, objects, cache.size, cache.objects,
                         1 << cache.order, slabs, in_use, pages, cache.aliases)
            )  # fmt: skip
        return rows

    def slabinfo_text(self) -> str:
        """/proc/slabinfo at the timeline's position, built from its caches and slabs."""
        return SLABINFO_HEADER + "".join(row.slabinfo_line() for row in self.cache_rows())

    def newest_kmalloc(self) -> tuple[ObjectAllocated | None, int]:
        """The newest kmalloc() among the last LOOKBACK events and how many steps back it is."""
        return self.timeline.newest(
            lambda event: isinstance(event, ObjectAllocated) and event.tracepoint == "kmalloc",
            LOOKBACK,
        )

    # --- painting -------------------------------------------------------------------------------
    def repaint(self) -> None:
        """Show the timeline's state at its position: table, slabs, size classes and story."""
        rows = self.cache_rows()
        with ExitStack() as stack:
            for widget in (self.classes, self.request, self.request_label, self.ruler):
                stack.enter_context(widget.hold_sync())
            self._paint_controls(rows)
            self.table.value = self.table_html(rows)
            self._paint_slabs()
            self._paint_ruler()
            self.story.value = self.story_html()
            if self.slabinfo_box.selected_index == 0:
                self.slabinfo.value = f"<pre>{html.escape(self.slabinfo_text())}</pre>"

    def listed_rows(self, rows: list[CacheRow]) -> list[CacheRow]:
        """The rows the table shows: caches holding slabs (or all), in the chosen order."""
        listed = rows if self.show_all else [row for row in rows if row.num_slabs]
        if self.sort_by == "memory":
            return sorted(listed, key=lambda row: -row.pages)
        if self.sort_by == "objects":
            return sorted(listed, key=lambda row: -row.in_use)
        if self.sort_by == "name":
            return sorted(listed, key=lambda row: row.name)
        if self.sort_by == "objsize":
            return sorted(listed, key=lambda row: row.objsize)
        return listed

    def _paint_controls(self, rows: list[CacheRow]) -> None:
        """Put the view's choices into its controls, without echoing them back."""
        names = [row.name for row in self.listed_rows(rows)]
        if self.cache and self.cache not in names:
            names.append(self.cache)
        options = [
            (name if name in self.timeline.caches else f"{name} (not at this step)", name)
            for name in names
        ]
        self._syncing = True
        try:
            if list(self.cache_box.options) != options:
                self.cache_box.options = options
            self.cache_box.value = self.cache or None
            self.all_box.value = self.show_all
            self.sort_box.value = self.sort_by
            self.follow_box.value = self.follow_events
            self.max_box.value = self.max_slabs
        finally:
            self._syncing = False

    def table_html(self, rows: list[CacheRow]) -> str:
        """The cache table: /proc/slabinfo's columns, objects in use and memory with a bar."""
        listed = self.listed_rows(rows)
        event_cache = self._event_cache()
        most = max((row.pages for row in listed), default=0) or 1
        head = (
            "<tr><th>cache</th><th title='in use + free slots of the active slab and of the "
            "per-CPU partial slabs'>active_objs"
            "</th><th>num_objs</th><th>objsize</th><th>objperslab</th><th>pagesperslab</th>"
            "<th>slabs</th><th>in use</th><th>memory</th></tr>"
        )
        body = []
        for row in listed:
            classes = ["kmviz-slab-row"]
            if row.name == self.cache:
                classes.append("kmviz-slab-selected")
            if row.name == event_cache:
                classes.append("kmviz-slab-event")
            bar = (
                f'<span style="display:inline-block;height:9px;width:{60 * row.pages // most}px;'
                f'background:{theme.OWNER_COLOURS[SLAB]}"></span>'
            )
            name = html.escape(row.name)
            if row.aliases:  # /proc/slabinfo shows only the cache; sysfs links the aliases
                names = html.escape(", ".join(row.aliases))
                name += f" <small title='aliases: {names}'>(+{len(row.aliases)} merged)</small>"
            cells = (
                name, row.active_objs, row.num_objs, row.objsize,
                row.objperslab, row.pagesperslab, row.num_slabs, row.in_use,
                f"{bar} {row.pages * PAGE_SIZE >> 10} KiB",
            )  # fmt: skip
            body.append(
                f'<tr class="{" ".join(classes)}">'
                + "".join(f"<td>{cell}</td>" for cell in cells)
                + "</tr>"
            )
        if not listed:
            body.append('<tr><td colspan="9">no cache holds a slab at this step</td></tr>')
        return f"{TABLE_STYLE}<table class='kmviz-slab-caches'>{head}{''.join(body)}</table>"

    def _event_slot(self) -> tuple[int, int] | None:
        """(slab pfn, slot) of the object the current event allocated or freed, if any."""
        event = self.timeline.current
        if not isinstance(event, (ObjectAllocated, ObjectFreed)):
            return None
        slab = self.timeline.slab_at((event.ptr - PAGE_OFFSET) >> PAGE_SHIFT)
        cache = self.timeline.caches.get(slab.cache) if slab else None
        if cache is None:
            return None
        base = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT)
        return slab.pfn, (event.ptr - base) // cache.size

    def drawn_slabs(self) -> tuple[list[Slab], Slab | None, int]:
        """The selected cache's slabs in drawing order (capped), its active slab, and how many.

        Order: the active slab, then the slab of this step's object, the CPU's partial slabs,
        then partial, full and empty slabs, each by pfn.
        """
        slabs = self.timeline.slabs_of(self.cache) if self.cache else []
        active = self.active_slab(self.cache) if slabs else None
        event = self._event_slot()
        frozen = self.timeline.cpu_partial

        def rank(slab: Slab) -> tuple[int, int]:
            if slab is active:
                return 0, slab.pfn
            if event and slab.pfn == event[0]:
                return 1, slab.pfn
            if slab.pfn in frozen:
                return 2, slab.pfn
            if slab.inuse == 0:
                return 5, slab.pfn
            return (4 if slab.inuse == slab.objects else 3), slab.pfn

        return sorted(slabs, key=rank)[: self.max_slabs], active, len(slabs)

    def slab_picture(self, slabs: list[Slab], active: Slab | None) -> np.ndarray:
        """Palette indices of the slab tiles: one tile per slab, one cell per object slot."""
        if not slabs:
            return np.zeros((1, 1), dtype=np.uint8)
        objects = max(slab.objects for slab in slabs)
        columns, rows = tile_shape(objects)
        cell = max(MIN_CELL, min(MAX_CELL, TILE_WIDTH // columns))
        tile_w, tile_h = columns * cell + 2 * FRAME, rows * cell + 2 * FRAME
        per_row = max(1, (IMAGE_WIDTH + GAP) // (tile_w + GAP))
        lines = -(-len(slabs) // per_row)
        picture = np.full(
            (lines * (tile_h + GAP) - GAP, min(len(slabs), per_row) * (tile_w + GAP) - GAP),
            BACKGROUND,
            dtype=np.uint8,
        )
        event = self._event_slot()
        for number, slab in enumerate(slabs):
            cells = np.full(columns * rows, BACKGROUND, dtype=np.uint8)
            cells[: slab.objects] = FREE_SLOT + slot_bits(slab.used, slab.objects)
            if event and event[0] == slab.pfn and event[1] < slab.objects:
                cells[event[1]] = EVENT_SLOT
            grid = np.repeat(np.repeat(cells.reshape(rows, columns), cell, 0), cell, 1)
            grid[cell - 1 :: cell, :] = BACKGROUND  # a one-pixel gap between slots
            grid[:, cell - 1 :: cell] = BACKGROUND
            top = (number // per_row) * (tile_h + GAP)
            left = (number % per_row) * (tile_w + GAP)
            frame = SLAB_FRAME
            if slab is active:
                frame = ACTIVE_FRAME
            elif slab.pfn in self.timeline.cpu_partial:
                frame = CPU_PARTIAL_FRAME
            picture[top : top + tile_h, left : left + tile_w] = frame
            picture[top + FRAME : top + tile_h - FRAME, left + FRAME : left + tile_w - FRAME] = grid
        return picture

    def _paint_slabs(self) -> None:
        """The selected cache's slab tiles (PNG) and the caption saying what is drawn."""
        slabs, active, total = self.drawn_slabs()
        picture = self.slab_picture(slabs, active)
        png = palette_png(picture, SLAB_PALETTE)
        if self.slab_image.value != png:
            with self.slab_image.hold_sync():  # one pixel per pixel: never scaled, never blurred
                self.slab_image.height, self.slab_image.width = map(str, picture.shape)
                self.slab_image.value = png
        self.slab_caption.value = self.caption_html(slabs, active, total)

    def caption_html(self, slabs: list[Slab], active: Slab | None, total: int) -> str:
        """What the slab tiles show: the cache's slab counts, the cap, the tiles' pfns."""
        name = html.escape(self.cache)
        if not self.cache:
            return "<p>No slab cache exists at this step.</p>"
        if self.cache not in self.timeline.caches:
            return f"<p>Cache {name} does not exist at this step.</p>"
        if not total:
            return f"<p>{name} holds no slab at this step.</p>"
        every = self.timeline.slabs_of(self.cache)
        full = sum(slab.inuse == slab.objects for slab in every)
        empty = sum(slab.inuse == 0 for slab in every)
        partial = total - full - empty
        words = [
            f"<p><b>{name}</b>: {total} slab{'s' if total > 1 else ''} ({full} full, "
            f"{partial} partial, {empty} empty). "
        ]
        if active is not None:
            words.append(
                f"Active slab (<code>c-&gt;slab</code>, black frame): pfn {active.pfn:#x}, "
                f"{active.inuse}/{active.objects} objects in use. "
            )
        frozen = sum(slab.pfn in self.timeline.cpu_partial for slab in every)
        if frozen:
            words.append(
                f"{frozen} on the CPU's partial list (blue frame), its free slots counted as "
                "active by /proc/slabinfo. "
            )
        words.append(
            "Tiles: the active slab, this step's slab, the CPU's partial slabs, then the "
            "others: partial, full, empty. "
        )
        if len(slabs) < total:
            words.append(
                f"<b>Drawing {len(slabs)} of {total} slabs</b> (raise “slabs drawn” for more). "
            )
        tiles = ", ".join(f"{slab.pfn:#x}" for slab in slabs)
        words.append(f"</p><p style='font-size:11px'>tile pfns: {tiles}</p>")
        return "".join(words)

    def _paint_ruler(self) -> None:
        """The newest kmalloc() on the size classes: its class, request and waste bars."""
        event, back = self.newest_kmalloc()
        fills = [CLASS_COLOUR] * len(RULER)
        if event is None:
            request = waste = (RULER_START, RULER_START)
            opacities, text = [0.0, 0.0], ""
            self.ruler.title = "kmalloc size classes: no kmalloc() in the last steps"
        else:
            if event.cache:  # the class kmalloc_slab() chose (its slot may hold debug data)
                chosen = RULER.index(kmalloc_cache_size(kmalloc_index(event.bytes_req)))
                fills[chosen] = theme.OWNER_COLOURS[SLAB]
            elif event.bytes_alloc in RULER:  # an order the page allocator can give
                fills[RULER.index(event.bytes_alloc)] = theme.OWNER_COLOURS[KMALLOC_LARGE]
            asked = max(event.bytes_req, RULER_START)
            request, waste = (RULER_START, asked), (asked, max(event.bytes_alloc, asked))
            opacities = [1.0, 1.0]
            wasted = event.bytes_alloc - event.bytes_req
            text = f"asked {event.bytes_req} B, got {event.bytes_alloc} B, {wasted} B wasted"
            where = event.cache or "the page allocator"
            when = "this step" if back == 0 else f"{back} step{'s' if back > 1 else ''} back"
            self.ruler.title = f"kmalloc({event.bytes_req}) → {where} ({when})"
        xs = np.array([[r[0], r[1], r[1], r[0], r[0]] for r in (request, waste)], dtype=float)
        self.request.x = xs
        self.request.opacities = opacities
        self.request.fill_opacities = opacities
        self.classes.fill_colors = fills
        self.request_label.x = np.array([float(min(max(request[1], LABEL_LOW), LABEL_HIGH))])
        self.request_label.text = [text]

    # --- the story --------------------------------------------------------------------------------
    def story_html(self) -> str:
        """What the current event did in the slab allocator and why, in words."""
        timeline = self.timeline
        event = timeline.current
        if event is None:
            return "<p>Before the first event: no slab cache exists yet.</p>"
        if isinstance(event, ObjectAllocated):
            return self._describe_allocation(event)
        if isinstance(event, ObjectFreed):
            return self._describe_free(event)
        if isinstance(event, SlabCreated):
            cache = timeline.caches.get(event.cache)
            size = f" of {cache.size} bytes" if cache else ""
            return (
                f"<p><b>New slab.</b> Cache {html.escape(event.cache)} had no free slot in its "
                "active slab, none on this CPU's partial list and none on the node's, so "
                "<code>allocate_slab()</code> "
                f"(mm/slub.c) took {1 << event.order} page(s) (order {event.order}) at pfn "
                f"{event.pfn:#x} from the page allocator and cut them into {event.objects} "
                f"slots{size}.</p>"
            )
        if isinstance(event, SlabFreed):
            return (
                f"<p><b>Slab freed.</b> The slab at pfn {event.pfn:#x} of "
                f"{html.escape(event.cache)} is empty, and the cache keeps enough partial "
                "slabs already: <code>discard_slab()</code> (mm/slub.c) gave its "
                f"{1 << event.order} page(s) back to the page allocator.</p>"
            )
        if isinstance(event, CacheCreated):
            return (
                f"<p><b>Cache created.</b> <code>kmem_cache_create()</code> "
                f"(mm/slab_common.c) made {html.escape(event.name)}: objects of "
                f"{event.object_size} bytes in {event.size}-byte slots, {event.objects} per "
                f"slab of {1 << event.order} page(s) (SLUB's <code>calculate_order()</code>)."
                "</p>"
            )
        if isinstance(event, SlabFrozen):
            return (
                f"<p><b>Slab to the CPU's partial list.</b> The slab at pfn {event.pfn:#x} of "
                f"{html.escape(event.cache)} was full and got an object back (or the node's "
                "list handed it over with the one that became active): "
                "<code>put_cpu_partial()</code> (mm/slub.c) put it at the head of this CPU's "
                "partial list (blue frame). It is <i>frozen</i>: only this CPU allocates from "
                "it, and it stays even when it empties.</p>"
            )
        if isinstance(event, SlabsUnfrozen):
            count = len(event.pfns)
            return (
                f"<p><b>CPU's partial list drained.</b> {html.escape(event.cache)}'s per-CPU "
                f"partial list was full (or the cache was flushed): "
                "<code>__unfreeze_partials()</code> (mm/slub.c) moved its "
                f"{count} slab{'s' if count > 1 else ''} to the node's partial list, giving "
                "an empty one back to the page allocator if the node keeps enough already.</p>"
            )
        if isinstance(event, CacheMerged):
            return (
                f"<p><b>Cache merged.</b> <code>kmem_cache_create()</code> found "
                f"{html.escape(event.into)} compatible (<code>find_mergeable()</code>, "
                "mm/slab_common.c: no constructor, slots big enough and less than a word "
                f"larger, the same accounting flags), so {html.escape(event.name)} became "
                f"its alias: no new cache, objects come from {html.escape(event.into)}'s "
                "slabs, and /sys/kernel/slab/" + html.escape(event.name) + " is a symlink. "
                "Boot with <code>slab_nomerge</code> to keep caches apart.</p>"
            )
        if isinstance(event, CacheDestroyed):
            return (
                f"<p><b>Cache destroyed.</b> <code>kmem_cache_destroy()</code> removed "
                f"{html.escape(event.name)}.</p>"
            )
        return f"<p>This step is {type(event).__name__}, not a slab event.</p>"

    def _describe_allocation(self, event: ObjectAllocated) -> str:
        """The story of an ObjectAllocated: the class kmalloc chose, the slot, the waste."""
        wasted = event.bytes_alloc - event.bytes_req
        share = f"{100 * wasted / event.bytes_alloc:.1f} %" if event.bytes_alloc else "0 %"
        gfp = html.escape(format_gfp(event.gfp) or "0")
        if not event.cache:
            order = get_order(event.bytes_alloc)
            return (
                f"<p><b>kmalloc({event.bytes_req}, {gfp})</b> is above "
                f"KMALLOC_MAX_CACHE_SIZE ({KMALLOC_MAX_CACHE_SIZE}): no cache serves it. "
                "<code>__kmalloc_large_node()</code> (mm/slab_common.c) went straight to the "
                f"page allocator with __GFP_COMP for <code>get_order({event.bytes_req}) = "
                f"{order}</code>: {1 << order} pages = {event.bytes_alloc} bytes, {wasted} "
                f"bytes wasted ({share}). Up to {KMALLOC_MAX_SIZE >> 20} MiB "
                "(order 10) is possible.</p>"
            )
        slot = self._event_slot()
        where = f" slot {slot[1]} of the slab at pfn {slot[0]:#x}" if slot else " a slot"
        if event.tracepoint == "kmalloc":
            kind = kmalloc_type(event.gfp)
            index = kmalloc_index(event.bytes_req)
            return (
                f"<p><b>kmalloc({event.bytes_req}, {gfp})</b>: <code>kmalloc_slab()</code> "
                f"(mm/slab_common.c) picks the class <code>{kmalloc_arithmetic(event.bytes_req)}"
                f"</code>, so <code>kmalloc_caches[{KMALLOC_KIND_ENUM[kind]}][{index}]</code> = "
                f"{html.escape(event.cache)}. <code>slab_alloc_node()</code> (mm/slub.c) took"
                f"{where} from the active slab: {event.bytes_alloc} bytes for "
                f"{event.bytes_req} asked, {wasted} wasted ({share}).</p>"
            )
        return (
            f"<p><b>kmem_cache_alloc({html.escape(event.cache)}, {gfp})</b>: "
            f"<code>slab_alloc_node()</code> (mm/slub.c) took{where} from the active slab: "
            f"objects of {event.bytes_req} bytes in {event.bytes_alloc}-byte slots.</p>"
        )

    def _describe_free(self, event: ObjectFreed) -> str:
        """The story of an ObjectFreed: the slab and slot it went back to, or why none."""
        timeline = self.timeline
        call = f"{event.tracepoint}({event.ptr:#x})"
        complaint = ""
        for following in timeline.kernel.history.events(timeline.position, timeline.length):
            if not isinstance(following, MessageLogged):
                break  # the free's own report, if any, comes right after it
            if not following.text.startswith("---"):  # skip the "[ cut here ]" rule
                complaint = (
                    f"<p><b>The kernel objected</b> (next steps): {html.escape(following.text)}</p>"
                )
                break
        if event.ptr <= ZERO_SIZE_PTR:
            return (
                f"<p><b>{call}</b>: <code>kfree()</code> (mm/slab_common.c) of NULL or "
                "ZERO_SIZE_PTR does nothing; its tracepoint fires before the check.</p>"
            )
        slot = self._event_slot()
        if slot is not None:
            slab = timeline.slabs[slot[0]]
            return (
                f"<p><b>{call}</b>: <code>virt_to_slab()</code> finds the slab at pfn "
                f"{slot[0]:#x} of {html.escape(slab.cache)}; <code>do_slab_free()</code> "
                f"(mm/slub.c) puts slot {slot[1]} back on its freelist "
                f"({slab.inuse}/{slab.objects} objects now in use).</p>" + complaint
            )
        pfn = (event.ptr - PAGE_OFFSET) >> PAGE_SHIFT
        if 0 <= pfn < timeline.nr_pfns and timeline.frames[pfn] == KMALLOC_LARGE:
            return (
                f"<p><b>{call}</b>: not a slab object but a large kmalloc, so "
                "<code>free_large_kmalloc()</code> (mm/slab_common.c) gives its pages back "
                "with <code>__free_pages()</code> (next steps).</p>" + complaint
            )
        return (
            f"<p><b>{call}</b>: this address is neither a slab object nor a large "
            "kmalloc.</p>" + complaint
        )
