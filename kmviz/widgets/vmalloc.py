"""Shows vmalloc areas against physical memory: contiguous virtually, scattered physically.

vmalloc() (__vmalloc_node_range(), mm/vmalloc.c L3163) reserves a virtual range, takes its
pages from the buddy allocator one order-0 page at a time (vm_area_alloc_pages()) and maps
page i at ``addr + i × 4096`` with one PTE each (vmap_pages_range()).  Wherever the free lists
had a page, that is where it lands: the buffer is contiguous to the CPU and scattered in RAM.
The direct map is the opposite: kmalloc() and __get_free_pages() memory is addressed at
``virt = PAGE_OFFSET + phys``, so its links run parallel.

The MMU finds a frame by cutting the address into four 9-bit indexes (x86-64, 4-level paging;
the P4D is folded into the PGD)::

    pgd_index = (addr >> 39) & 511      pud_index = (addr >> 30) & 511
    pmd_index = (addr >> 21) & 511      pte_index = (addr >> 12) & 511
    phys      = pte's pfn << 12 | (addr & 0xfff)

A device doing DMA skips the page tables: it walks physical memory from one bus address on.
6.1's dma_map_single() therefore refuses vmalloc memory (include/linux/dma-mapping.h L332);
a driver maps such a buffer page by page, as a scatterlist (dma_map_sg()).
"""

from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Int, TraitError, Unicode, validate

from ..engine.constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..engine.device import DMA_MAPPING_ERROR
from ..engine.events import DeviceWrote, DmaMapped
from ..engine.pagetable import (
    PMD_SHIFT,
    PUD_SHIFT,
    VMALLOC_END,
    VMALLOC_START,
    canonical,
    pgd_index,
    pmd_index,
    pte_index,
    pud_index,
)
from . import theme
from .cells import timeline_for
from .timeline import CODE_NAMES, KMALLOC_LARGE, NUM_CODES, PAGES, VMALLOC, Area

DEFAULT_MAX_LINKS = 256  # virtual-to-physical links drawn at most; more pages: every k-th
MAX_AREA_OPTIONS = 200  # newest areas offered in the selector
BLOCK_CANDIDATES = 1000  # multi-page allocations looked at for the newest still held
DMA_EVENTS_SHOWN = 3  # newest DMA events listed
RUNS_SHOWN = 8  # scatterlist entries listed
MAX_WHOLE_TICKS = 16  # up to this many pages or frames on an axis, a tick at each
NEWEST = 0  # the selector's value for "the newest area" (0 is never a vmalloc address)
LINK_COLOUR = "#0072B2"  # Okabe-Ito blue: a page-table entry from a virtual page to its frame
ISA_DMA_LIMIT = 1 << 24  # a 24-bit (ISA) device reaches physical addresses below 16 MiB

# where the marks sit on the figure's 0..1 y scale
VIRTUAL_ROW = 0.78
PHYSICAL_ROW = 0.22

# the levels of a walk, top down: the index function and its arithmetic, what an entry maps
LEVELS = {
    "PGD": (pgd_index, "pgd_index = (addr >> 39) & 511", "512 GiB"),
    "PUD": (pud_index, "pud_index = (addr >> 30) & 511", "1 GiB"),
    "PMD": (pmd_index, "pmd_index = (addr >> 21) & 511", "2 MiB"),
    "PTE": (pte_index, "pte_index = (addr >> 12) & 511", "4 KiB"),
}
NEXT_LEVEL = {"PGD": "PUD", "PUD": "PMD", "PMD": "PTE"}
LEAF_SHIFT = {"PUD": PUD_SHIFT, "PMD": PMD_SHIFT, "PTE": PAGE_SHIFT}  # bytes a leaf maps: 1 << s
P4D_ROW = (
    "<tr><td>P4D</td><td colspan=4>folded: 4-level paging has no P4D table; "
    "p4d_offset() returns the PGD entry (PTRS_PER_P4D = 1)</td></tr>"
)


def _arithmetic(addr: int, level: str) -> str:
    """The index computation of ``level`` for ``addr``, worked: ``(0x… >> 39) & 511 = 402``."""
    index_of, formula, _ = LEVELS[level]
    worked = html.escape(formula.replace("addr", f"{addr:#x}"))
    return f"<code>{worked} = {index_of(addr)}</code>"


def runs(pfns) -> list[tuple[int, int]]:
    """The physically contiguous pieces of ``pfns`` in order: (first pfn, pages) each.

    A scatterlist needs one entry per piece: [0x3001, 0x3002, 0x3009] is two, (0x3001, 2)
    and (0x3009, 1).
    """
    pieces: list[tuple[int, int]] = []
    for pfn in pfns:
        if pieces and pieces[-1][0] + pieces[-1][1] == pfn:
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + 1)
        else:
            pieces.append((pfn, 1))
    return pieces


def sample(count: int, limit: int) -> np.ndarray:
    """Which of ``count`` pages get a link: all, or ``limit`` spread evenly, first and last in."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.int64))


def parse_address(text: str) -> int | None:
    """A hex address typed by the user ("0xffffc90000000000", "ffff_8880…"); "" gives None.

    Raises ValueError with a message for anything else.
    """
    cleaned = text.strip().lower().replace("_", "")
    if not cleaned:
        return None
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise ValueError(
            f"{text.strip()!r} is not a hex address (e.g. {VMALLOC_START:#x})"
        ) from None
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{text.strip()!r} does not fit in 64 bits")
    return value


class MappingFigure:
    """One figure of virtual pages (top) linked to their physical frames (bottom)."""

    def __init__(self, css_class: str, virtual_label: str):
        fraction_x = bq.LinearScale(min=0.0, max=1.0)
        row_y = bq.LinearScale(min=0.0, max=1.0)
        scales = {"x": fraction_x, "y": row_y}
        self.virtual_scale = bq.LinearScale(min=0.0, max=1.0)  # page index in the buffer
        self.physical_scale = bq.LinearScale(min=0.0, max=1.0)  # pfn
        self.links = bq.Lines(
            x=np.empty((0, 2)),
            y=np.empty((0, 2)),
            scales=scales,
            colors=[LINK_COLOUR],
            stroke_width=1.2,
        )
        self.pages = bq.Scatter(
            x=np.empty(0),
            y=np.empty(0),
            scales=scales,
            marker="square",
            default_size=40,
            colors=[theme.CODE_COLOURS[VMALLOC]],
            stroke="#333333",
        )
        code_scale = bq.OrdinalColorScale(
            domain=list(range(NUM_CODES)), colors=list(theme.CODE_COLOURS)
        )
        self.frames = bq.Scatter(
            x=np.empty(0),
            y=np.empty(0),
            color=np.empty(0, dtype=np.uint8),
            scales={**scales, "color": code_scale},
            marker="square",
            default_size=40,
            stroke="#333333",
        )
        self.labels = bq.Label(
            x=[0.5, 0.5],
            y=[0.97, 0.02],
            text=["", ""],
            scales=scales,
            align="middle",
            default_size=12,
            apply_clip=False,
        )
        self.virtual_axis = bq.Axis(
            scale=self.virtual_scale, side="top", label=virtual_label, tick_format="d"
        )
        self.physical_axis = bq.Axis(
            scale=self.physical_scale, side="bottom", label="physical frame (pfn)", tick_format="#x"
        )
        axes = [self.virtual_axis, self.physical_axis]
        self.figure = bq.Figure(
            marks=[self.links, self.pages, self.frames, self.labels],
            axes=axes,
            animation_duration=400,
            fig_margin={"top": 55, "bottom": 50, "left": 30, "right": 30},
            layout=widgets.Layout(width="100%", height="240px"),
        )
        self.figure.add_class(css_class)
        self._shown: tuple | None = None  # what the marks hold now, to send only changes

    def show(self, base: int, pfns: np.ndarray, window: tuple[int, int], codes, limit: int):
        """Link pages 0..n-1 at virtual ``base`` to ``pfns`` on a pfn axis of ``window``.

        ``codes`` are the frames' codes (colours); at most ``limit`` links are drawn.  Returns
        how many were drawn.
        """
        count = len(pfns)
        chosen = sample(count, limit)
        key = (base, window, pfns[chosen].tobytes(), np.asarray(codes)[chosen].tobytes())
        if key == self._shown:
            return len(chosen)
        self._shown = key
        lo, hi = window
        virtual_x = (chosen + 0.5) / max(count, 1)
        physical_x = (pfns[chosen] + 0.5 - lo) / max(hi - lo, 1)
        rows = np.tile([VIRTUAL_ROW, PHYSICAL_ROW], (len(chosen), 1))
        last = base + (count << PAGE_SHIFT) - 1
        with self.figure.hold_sync():
            self.virtual_scale.min, self.virtual_scale.max = 0.0, float(max(count, 1))
            self.physical_scale.min, self.physical_scale.max = float(lo), float(hi)
            # a few pages: one tick per page boundary, else d3 repeats rounded labels (0 1 1 2)
            self.virtual_axis.tick_values = whole_ticks(0, max(count, 1))
            self.physical_axis.tick_values = whole_ticks(lo, hi)
            with self.links.hold_sync():
                self.links.x = np.column_stack([virtual_x, physical_x])
                self.links.y = rows
            with self.pages.hold_sync():
                self.pages.x = virtual_x
                self.pages.y = np.full(len(chosen), VIRTUAL_ROW)
            with self.frames.hold_sync():
                self.frames.x = physical_x
                self.frames.y = np.full(len(chosen), PHYSICAL_ROW)
                self.frames.color = np.asarray(codes, dtype=np.uint8)[chosen]
            self.labels.text = (
                [f"{base:#x} … {last:#x}", f"pfn {lo:#x} … {hi - 1:#x}"] if count else ["", ""]
            )
        return len(chosen)

    def clear(self) -> None:
        """Show nothing."""
        empty = np.empty(0, dtype=np.int64)
        self.show(0, empty, (0, 1), empty, 1)


def whole_ticks(lo: int, hi: int) -> np.ndarray | None:
    """Integer tick positions lo..hi when there are few enough to label each, else None (auto)."""
    return np.arange(lo, hi + 1, dtype=np.float64) if hi - lo <= MAX_WHOLE_TICKS else None


class VmallocView(widgets.VBox):
    """A vmalloc area's pages linked to their frames, the direct map beside it, a page-table
    walk of one address and what a DMA device would make of the buffer."""

    area = Int(None, allow_none=True, help="Address of the vmalloc area shown; None: the newest.")
    address = Int(None, allow_none=True, help="Address walked; None: the area's first page.")
    physical = Unicode("span", help='The pfn axis: "span" (around the frames) or "all" (RAM).')
    max_links = Int(DEFAULT_MAX_LINKS, help="Links drawn at most; bigger buffers: every k-th page.")

    def __init__(
        self,
        source,
        *,
        area=None,
        address=None,
        physical="span",
        max_links=DEFAULT_MAX_LINKS,
        follow=False,
        **kwargs,
    ):
        self.timeline = timeline_for(source, follow)
        self.index = self.timeline.index
        self._painting = False  # set while the view itself updates its controls
        self._area_options: list = []  # what the area selector offers now
        self._build_parts()
        super().__init__(
            children=[
                self.toolbar,
                self.message,
                self.caption,
                self.area_figure.figure,
                self.direct_caption,
                self.direct_figure.figure,
                self.legend,
                self.walk,
                self.device,
            ],
            area=area,
            address=address,
            physical=physical,
            max_links=max_links,
            **kwargs,
        )
        self.add_class("kmviz-vmalloc")
        self._show_choices()
        self.observe(self._choice_changed, ["area", "address", "physical", "max_links"])
        self.timeline.observe(self._moved, "position")
        self.timeline.observe(self._grew, "length")
        self.repaint()

    @validate("area")
    def _valid_area(self, proposal):
        value = proposal["value"]
        if value is not None and not VMALLOC_START <= value <= VMALLOC_END:
            raise TraitError(f"area {value:#x} is not a vmalloc address ({VMALLOC_START:#x}…)")
        return value

    @validate("address")
    def _valid_address(self, proposal):
        value = proposal["value"]
        if value is not None and not 0 <= value < 1 << 64:
            raise TraitError(f"address {value} does not fit in 64 bits")
        return value

    @validate("physical")
    def _valid_physical(self, proposal):
        if proposal["value"] not in ("span", "all"):
            raise TraitError(f'physical must be "span" or "all", not {proposal["value"]!r}')
        return proposal["value"]

    @validate("max_links")
    def _valid_max_links(self, proposal):
        if proposal["value"] < 2:
            raise TraitError(f"max_links must be at least 2, not {proposal['value']}")
        return proposal["value"]

    # --- parts -------------------------------------------------------------------------------
    def _build_parts(self) -> None:
        self.area_menu = widgets.Dropdown(
            options=[("newest area", NEWEST)],
            description="area",
            tooltip="Which vmalloc area to show (by address); 'newest' follows new ones",
        )
        self.area_menu.add_class("kmviz-vmalloc-area")
        self.area_menu.observe(self._area_chosen, "value")
        self.physical_menu = widgets.ToggleButtons(
            options=[("frames' span", "span"), ("all RAM", "all")],
            description="pfn axis",
            tooltips=[
                "Zoom the vmalloc area's pfn axis to its frames",
                "The vmalloc area's pfn axis spans all of RAM (the direct map keeps its span)",
            ],
        )
        self.physical_menu.add_class("kmviz-vmalloc-physical")
        self.physical_menu.observe(self._physical_chosen, "value")
        self.address_input = widgets.Text(
            description="walk",
            placeholder=f"{VMALLOC_START:#x}",
            continuous_update=False,
            tooltip="A virtual address in hex to walk through the page tables; empty: the area",
        )
        self.address_input.add_class("kmviz-vmalloc-address")
        self.address_input.observe(self._address_entered, "value")
        self.toolbar = widgets.HBox([self.area_menu, self.physical_menu, self.address_input])
        self.toolbar.add_class("kmviz-vmalloc-toolbar")
        self.message = widgets.HTML()
        self.message.add_class("kmviz-vmalloc-message")
        self.caption = widgets.HTML()
        self.caption.add_class("kmviz-vmalloc-caption")
        self.area_figure = MappingFigure(
            "kmviz-vmalloc-figure", "page i of the area, at addr + i × 4096"
        )
        self.direct_caption = widgets.HTML()
        self.direct_caption.add_class("kmviz-vmalloc-direct-caption")
        self.direct_figure = MappingFigure(
            "kmviz-vmalloc-directmap", "page i of the buffer, at PAGE_OFFSET + phys"
        )
        self.legend = widgets.HBox(
            [
                theme.legend([VMALLOC, PAGES, KMALLOC_LARGE]),
                widgets.HTML(theme.swatch(LINK_COLOUR, "a mapping: virtual page → its frame")),
            ]
        )
        self.legend.add_class("kmviz-vmalloc-legend")
        self.walk = widgets.HTML()
        self.walk.add_class("kmviz-vmalloc-walk")
        self.device = widgets.HTML()
        self.device.add_class("kmviz-vmalloc-device")

    # --- what the user does ------------------------------------------------------------------
    def _area_chosen(self, change) -> None:
        if not self._painting:
            self.area = None if change["new"] == NEWEST else change["new"]

    def _physical_chosen(self, change) -> None:
        if not self._painting:
            self.physical = change["new"]

    def _address_entered(self, change) -> None:
        """Walk the typed address, or say why not and keep walking the old one."""
        if self._painting:
            return
        try:
            address = parse_address(change["new"])
        except ValueError as error:
            reason = html.escape(str(error), quote=False)
            self.message.value = f'<span class="kmviz-error">{reason}</span>'
            return
        self.message.value = ""
        self.address = address
        self._show_choices()  # tidy what was typed: "FFFF_C900…" reads "0xffffc900…"

    def _choice_changed(self, _change) -> None:
        self._show_choices()
        self.repaint()

    def _show_choices(self) -> None:
        """Put the pfn-axis choice and the walked address into their controls."""
        self._painting = True
        try:
            self.physical_menu.value = self.physical
            self.address_input.value = "" if self.address is None else f"{self.address:#x}"
        finally:
            self._painting = False

    def close(self) -> None:
        """Stop following the timeline and close the widget and its figures."""
        self.timeline.unobserve(self._moved, "position")
        self.timeline.unobserve(self._grew, "length")
        self.area_figure.figure.close()
        self.direct_figure.figure.close()
        super().close()

    # --- reading the timeline ----------------------------------------------------------------
    def shown_area(self) -> Area | None:
        """The area on show: the chosen one if it exists at this position, else the newest."""
        areas = self.timeline.areas
        if self.area is not None:
            return areas.get(self.area)
        return areas[next(reversed(areas))] if areas else None

    def direct_block(self) -> tuple[int, int, int] | None:
        """The direct-map buffer on show: (first pfn, order, frame code), or None.

        The block holding the walked address if that is a direct-map address; otherwise the
        newest multi-page allocation still held by its caller (a large kmalloc() or
        __get_free_pages()).
        """
        tl = self.timeline
        address = self.address
        if address is not None and PAGE_OFFSET <= address < PAGE_OFFSET + (
            tl.nr_pfns << PAGE_SHIFT
        ):
            return tl.block_at((address - PAGE_OFFSET) >> PAGE_SHIFT)
        for position in reversed(self.index.newest("block", tl.position, BLOCK_CANDIDATES)):
            event = tl.event(position)
            code = int(tl.frames[event.pfn])
            if code in (PAGES, KMALLOC_LARGE) and tl.orders[event.pfn] == event.order:
                return event.pfn, event.order, code
        return None

    # --- painting ----------------------------------------------------------------------------
    def _moved(self, _change) -> None:
        self.repaint()

    def _grew(self, _change) -> None:
        """The kernel went on: a walk read from its tables is no longer one of this position."""
        self.walk.value = self._walk_html(self.shown_area())

    def repaint(self) -> None:
        """Show the timeline's position: the area, the direct map, the walk, the device."""
        area = self.shown_area()
        block = self.direct_block()
        self._painting = True
        try:
            self._paint_controls()
            self.caption.value = self._paint_area(area)
            self.direct_caption.value = self._paint_direct(block)
            self.walk.value = self._walk_html(area)
            self.device.value = self._device_html(area, block)
        finally:
            self._painting = False

    def _paint_controls(self) -> None:
        """Offer the areas that exist at this position (and the chosen one, if gone)."""
        areas = self.timeline.areas
        newest = next(reversed(areas)) if areas else None
        options = [(f"newest ({newest:#x})" if newest else "newest (none yet)", NEWEST)]
        for addr in sorted(list(areas)[-MAX_AREA_OPTIONS:]):
            area = areas[addr]
            notes = (", vmap" if area.kind == "vmap" else "") + (
                ", vfree pending" if area.deferred else ""
            )
            options.append((f"{addr:#x} ({len(area.pfns)} pages{notes})", addr))
        if self.area is not None and self.area not in areas:
            options.append((f"{self.area:#x} (not mapped at this position)", self.area))
        if options != self._area_options:
            self._area_options = options
            self.area_menu.options = options
        self.area_menu.value = NEWEST if self.area is None else self.area

    def _window(self, pfns: np.ndarray) -> tuple[int, int]:
        """The pfn axis for ``pfns``: all of RAM, or just their span [lowest, highest + 1)."""
        if self.physical == "all" or not len(pfns):
            return 0, self.timeline.nr_pfns
        return int(pfns.min()), int(pfns.max()) + 1

    def _paint_area(self, area: Area | None) -> str:
        position = self.timeline.position
        if area is None:
            self.area_figure.clear()
            if self.area is not None:
                return (
                    f'<div class="kmviz-vmalloc-none">No area is mapped at {self.area:#x} at '
                    f"event #{position}.</div>"
                )
            return (
                '<div class="kmviz-vmalloc-none">No vmalloc area exists at event '
                f"#{position}: call <code>k.vmalloc(5 * 4096)</code>.</div>"
            )
        end = area.addr + area.size
        if area.kind in ("ioremap", "percpu"):  # Kernel(boot_vmalloc=True) makes these
            self.area_figure.clear()
            what = (
                "ioremap() area: device or firmware memory, no frame the page allocator gave"
                if area.kind == "ioremap"
                else "percpu chunk (pcpu_get_vm_areas()): percpu maps its own pages into it"
            )
            return (
                f'<div class="kmviz-vmalloc-summary"><b>{what}</b>, {area.addr:#x}–{end - 1:#x} '
                f"({area.size} bytes). Walk an address in it to see what it maps.</div>"
            )
        pfns = np.fromiter(area.pfns, dtype=np.int64, count=len(area.pfns))
        codes = self.timeline.frames[pfns]
        drawn = self.area_figure.show(area.addr, pfns, self._window(pfns), codes, self.max_links)
        pieces = len(runs(area.pfns))
        kind = "vmap()" if area.kind == "vmap" else "vmalloc()"
        text = (
            f"<b>{kind} area {area.addr:#x}–{end - 1:#x}</b>: {len(pfns)} pages + 1 guard page "
            f"({area.size} bytes, as /proc/vmallocinfo counts it). Virtually one run; "
            f"physically <b>{pieces}</b> piece{'s' if pieces != 1 else ''}."
        )
        if pieces == 1 and len(pfns) > 1:
            text += " (Contiguous this time: the free lists happened to hold a run of pages.)"
        if drawn < len(pfns):
            text += (
                f' <span class="kmviz-vmalloc-capped">Showing {drawn} of {len(pfns)} links '
                f"(one page in about {len(pfns) // (drawn - 1)}).</span>"
            )
        if area.deferred:
            text += " vfree() was called from interrupt context: the area goes later."
        return f'<div class="kmviz-vmalloc-summary">{text}</div>'

    def _paint_direct(self, block: tuple[int, int, int] | None) -> str:
        if block is None:
            self.direct_figure.clear()
            return (
                '<div class="kmviz-vmalloc-none">Direct map: no multi-page kmalloc() or '
                "__get_free_pages() buffer is held at this position; allocate one "
                "(<code>k.kmalloc(16384, GFP_KERNEL)</code>) or walk a direct-map address."
                "</div>"
            )
        pfn, order, code = block
        pfns = np.arange(pfn, pfn + (1 << order), dtype=np.int64)
        codes = self.timeline.frames[pfns]
        virt = PAGE_OFFSET + (pfn << PAGE_SHIFT)
        # always the block's own span, whatever the pfn axis menu says: on an axis of all RAM
        # the links of a few pages would converge on one spot, hiding that they are parallel
        span = (pfn, pfn + (1 << order))
        self.direct_figure.show(virt, pfns, span, codes, self.max_links)
        return (
            f'<div class="kmviz-vmalloc-direct-summary"><b>Direct map</b>: '
            f"{html.escape(CODE_NAMES[code])} block of order {order} at pfn {pfn:#x}, "
            f"virt = PAGE_OFFSET + (pfn &lt;&lt; 12) = {PAGE_OFFSET:#x} + {pfn << PAGE_SHIFT:#x} = "
            f"{virt:#x}: page i is frame pfn + i, so every link is parallel.</div>"
        )

    # --- the page-table walk -----------------------------------------------------------------
    def _walk_html(self, area: Area | None) -> str:
        addr = self.address if self.address is not None else (area.addr if area else None)
        if addr is None:
            return '<div class="kmviz-walk-none">Type an address to walk.</div>'
        head = f"<b>Page-table walk of {addr:#018x}</b>"
        if not canonical(addr):
            return (
                f"{head}: not canonical (bits 48–63 must all equal bit 47: "
                f"{addr:#x} >> 47 = {addr >> 47:#x}, not 0 or 0x1ffff). The CPU raises #GP "
                "before it reads any table."
            )
        kernel = self.timeline.kernel
        if self.timeline.position == len(kernel.history) and kernel.pgtable_pfns:
            return self._walk_now(addr, head)
        return self._walk_derived(addr, head)

    def _walk_now(self, addr: int, head: str) -> str:
        """The kernel's own walk (k.walk(), read-only for a canonical address)."""
        walk = self.timeline.kernel.walk(addr)
        rows = []
        for step in walk.steps:
            if step.leaf:
                target = f"{1 << (LEAF_SHIFT[step.level] - 10)} KiB page at pfn {step.next_pfn:#x}"
            elif step.present:
                target = f"{NEXT_LEVEL[step.level]} table at pfn {step.next_pfn:#x}"
            else:
                target = "not present: page fault"
            rows.append(
                f"<tr><td>{step.level}</td><td>{_arithmetic(addr, step.level)}</td>"
                f"<td>table at pfn {step.table_pfn:#x}</td><td><code>{step.entry:#018x}</code> "
                f"{html.escape(step.flags_text)}</td><td>→ {target}</td></tr>"
            )
            if step.level == "PGD":
                rows.append(P4D_ROW)
        if walk.phys is None:
            ending = f"The walk stops at the {walk.fault_level}: a kernel page fault (Oops)."
        else:
            leaf = walk.steps[-1]
            mask = (1 << LEAF_SHIFT[leaf.level]) - 1
            ending = (
                f"phys = (pfn {leaf.next_pfn:#x} &lt;&lt; 12) | (addr &amp; {mask:#x}) = "
                f"<b>{walk.phys:#x}</b>, in frame pfn <b>{walk.phys >> PAGE_SHIFT:#x}</b>"
            )
        return (
            f"{head} — read from the kernel's page tables now (<code>k.walk()</code>); CR3 "
            f"holds init_mm.pgd at pfn {walk.steps[0].table_pfn:#x}."
            f'<table class="kmviz-walk-table">{"".join(rows)}</table>'
            f'<div class="kmviz-walk-result">{ending}</div>'
        )

    def _walk_derived(self, addr: int, head: str) -> str:
        """The walk as far as the timeline knows it: indexes from the address, the frame from
        the area's pfns or from the direct map's arithmetic (tables are read at the newest)."""
        tl = self.timeline
        leaf, pfn = "PTE", None
        offset = addr - PAGE_OFFSET
        mapped = next((a for a in tl.areas.values() if a.addr <= addr < a.addr + a.size), None)
        if mapped is not None:
            page = (addr - mapped.addr) >> PAGE_SHIFT
            if page < len(mapped.pfns):
                pfn = mapped.pfns[page]
                how = f"page {page} of the area at {mapped.addr:#x}: its frame pfns[{page}]"
            else:
                how = "the area's guard page: its PTE is empty, a page fault"
        elif 0 <= offset < tl.kernel.mem:
            # the direct map: 1 GiB pages while a whole GiB of RAM is left, then 2 MiB pages
            leaf = "PUD" if ((offset >> PUD_SHIFT) + 1) << PUD_SHIFT <= tl.kernel.mem else "PMD"
            pfn = offset >> PAGE_SHIFT
            how = f"the direct map, a {leaf} leaf: phys = addr − PAGE_OFFSET = {offset:#x}"
        else:
            how = "nothing the timeline records is mapped here"
        rows = []
        for level, (_, _, maps) in LEVELS.items():
            rows.append(
                f"<tr><td>{level}</td><td>{_arithmetic(addr, level)}</td>"
                f"<td>one entry maps {maps}</td></tr>"
            )
            if level == "PGD":
                rows.append(P4D_ROW)
            if level == leaf:
                break
        if pfn is None:
            ending = f"No frame: {html.escape(how)}."
        else:
            phys = (pfn << PAGE_SHIFT) | (addr & (PAGE_SIZE - 1))
            ending = (
                f"{html.escape(how)}; frame pfn <b>{pfn:#x}</b>, phys = (pfn &lt;&lt; 12) | "
                f"(addr &amp; 0xfff) = <b>{phys:#x}</b>"
            )
        return (
            f"{head} — derived from the timeline at event #{tl.position} (table pages and "
            "entries are read only at the newest position)."
            f'<table class="kmviz-walk-table">{"".join(rows)}</table>'
            f'<div class="kmviz-walk-result">{ending}</div>'
        )

    # --- the device's view -------------------------------------------------------------------
    def _device_html(self, area: Area | None, block: tuple[int, int, int] | None) -> str:
        parts = ["<b>What a DMA device sees</b> (bus address = physical address, no IOMMU)"]
        if area is not None and area.pfns:  # an ioremap or percpu chunk maps none of RAM's
            parts.append(self._device_area(area))
        if block is not None:
            pfn, order, _ = block
            phys = pfn << PAGE_SHIFT
            size = PAGE_SIZE << order
            reach = (
                "a 24-bit ISA device (dma_bits=24) reaches it too"
                if phys + size <= ISA_DMA_LIMIT
                else "above 16 MiB: a 24-bit ISA device could not reach it (GFP_DMA would)"
            )
            parts.append(
                f'<div class="kmviz-device-direct">Direct-map buffer: '
                f"<code>dma_map_single(dev, {PAGE_OFFSET + phys:#x}, {size})</code> → bus "
                f"<b>{phys:#x}</b> (virt − PAGE_OFFSET): one run of {1 << order} frames, "
                f"the device writes exactly pfn {pfn:#x}…{pfn + (1 << order) - 1:#x}; {reach}."
                "</div>"
            )
        parts.append(self._dma_events_html())
        return "".join(f"<div>{part}</div>" for part in parts)

    def _device_area(self, area: Area) -> str:
        pfns = np.fromiter(area.pfns, dtype=np.int64, count=len(area.pfns))
        size = len(pfns) << PAGE_SHIFT
        pieces = runs(area.pfns)
        listed = ", ".join(
            f"bus {first << PAGE_SHIFT:#x} + {count} page{'s' if count > 1 else ''}"
            for first, count in pieces[:RUNS_SHOWN]
        )
        if len(pieces) > RUNS_SHOWN:
            listed += f", … {len(pieces) - RUNS_SHOWN} more"
        # the classic bug: hand the device the first page's bus address for the whole buffer
        straight = pfns[0] + np.arange(len(pfns))
        ours = np.isin(straight, pfns)
        foreign = straight[~ours]  # somebody else's memory
        misplaced = int(np.count_nonzero(ours & (straight != pfns)))  # ours, wrong offset
        if len(foreign) or misplaced:
            overwritten = f": {self._owners(foreign)} — the device would overwrite them"
            shuffled = (
                f"; {misplaced} are the buffer's own frames but at the wrong offset, so that "
                "data lands in the wrong page"
            )
            straight_text = (
                f"{len(foreign)} of those {len(pfns)} frames are not this buffer's"
                + (overwritten if len(foreign) else "")
                + (shuffled if misplaced else "")
                + "."
            )
        else:
            straight_text = "here they happen to be the buffer's own frames (one physical run)."
        return (
            f'<div class="kmviz-device-verdict"><code>dma_map_single(dev, {area.addr:#x}, '
            f"{size})</code> → <b>DMA_MAPPING_ERROR</b> ({DMA_MAPPING_ERROR:#x}): "
            "is_vmalloc_addr() is true, so dma_map_single_attrs() warns \u201crejecting DMA "
            "map of vmalloc memory\u201d (include/linux/dma-mapping.h L332) and maps nothing."
            "</div>"
            f'<div class="kmviz-device-frames">The frames the device has to touch: '
            f"{len(pieces)} physical piece{'s' if len(pieces) != 1 else ''}, one scatterlist "
            f"entry each for dma_map_sg(): {listed}.</div>"
            f'<div class="kmviz-device-straight">Given only the first page\'s bus address '
            f"{pfns[0] << PAGE_SHIFT:#x} for all {size} bytes, a device writes pfn "
            f"{pfns[0]:#x}…{pfns[0] + len(pfns) - 1:#x}: {straight_text}</div>"
        )

    def _owners(self, pfns: np.ndarray) -> str:
        """Who has ``pfns`` at this position, counted: "42 × page allocator, 20 × slab"."""
        tl = self.timeline
        inside = pfns[pfns < tl.nr_pfns]
        owners: dict[str, int] = {}
        for code, count in zip(*np.unique(tl.frames[inside], return_counts=True), strict=True):
            name = "free" if code < PAGES else CODE_NAMES[code]
            owners[name] = owners.get(name, 0) + int(count)
        if len(inside) < len(pfns):
            owners["beyond RAM"] = len(pfns) - len(inside)
        return html.escape(", ".join(f"{count} × {name}" for name, count in owners.items()))

    def _dma_events_html(self) -> str:
        tl = self.timeline
        lines = []
        for position in reversed(self.index.newest("dma", tl.position, DMA_EVENTS_SHOWN)):
            event = tl.event(position)
            if isinstance(event, DmaMapped):
                what = (
                    f"{html.escape(event.device)}: dma_map_single({event.addr:#x}, {event.size}) "
                    f"→ bus {event.dma_addr:#x}"
                )
            elif isinstance(event, DeviceWrote) and not event.pfns:
                what = (
                    f"{html.escape(event.device)} wrote {event.size} bytes from bus "
                    f"{event.dma_addr:#x}: beyond this machine's RAM, no frame hit"
                )
            elif isinstance(event, DeviceWrote):
                first, last = event.pfns[0], event.pfns[-1]
                owners = self._owners(np.fromiter(event.pfns, np.int64, len(event.pfns)))
                what = (
                    f"{html.escape(event.device)} wrote {event.size} bytes from bus "
                    f"{event.dma_addr:#x}: pfn {first:#x}…{last:#x} (now: {owners})"
                )
            else:  # the log line of a refused dma_map_single()
                what = (
                    f"the kernel refused a device's mapping of vmalloc memory: "
                    f"\u201c{html.escape(event.text)}\u201d (dev_WARN_ONCE: later refusals "
                    "are silent)"
                )
            lines.append(f"<li>event #{position}: {what}</li>")
        if not lines:
            return (
                '<div class="kmviz-device-events">No device has mapped or written memory yet '
                "(<code>dev = k.device('nic')</code>, <code>dev.dma_map_single(buf, size)</code>, "
                "<code>dev.write(bus, size)</code>).</div>"
            )
        return f'<div class="kmviz-device-events">Newest DMA events:<ul>{"".join(lines)}</ul></div>'
