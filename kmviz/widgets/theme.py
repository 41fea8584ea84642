"""Colours every view shares, one per frame code, zone, execution context and log level.

Colour-blind safe: free blocks are one blue ramp (light = small order, dark = large), owners
use the Okabe-Ito palette (distinguishable with deuteranopia, protanopia and tritanopia), zones
Paul Tol's muted palette, and no meaning rests on red against green alone.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

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

# free blocks, order 0..10: light to dark blue ("deeper" = bigger contiguous block)
ORDER_COLOURS = (
    "#deebf7", "#c6dbef", "#a8cde4", "#8cbcdc", "#6baed6", "#4f9bcb",
    "#3787c0", "#2171b5", "#1361a8", "#08519c", "#08306b",
)  # fmt: skip

OWNER_COLOURS = {
    PAGES: "#E69F00",  # orange
    SLAB: "#D55E00",  # vermillion
    KMALLOC_LARGE: "#CC79A7",  # reddish purple
    VMALLOC: "#F0E442",  # yellow
    PAGE_TABLE: "#009E73",  # bluish green
    ANON: "#8C510A",  # brown
    FILE: "#66A61E",  # leaf green: far from the page allocator's orange (ΔE 61)
    ISOLATED: "#F4A6C8",  # pink
    BOOTMEM: "#555555",  # dark grey
    RESERVED: "#A0A0A0",  # grey
    PCP: "#17BECF",  # cyan: free, but held on a CPU's per-CPU list
    HOLE: "#FFFFFF",  # white: nothing there
}

CODE_COLOURS = (*ORDER_COLOURS, *(OWNER_COLOURS[code] for code in range(PAGES, NUM_CODES)))

ZONE_COLOURS = {"DMA": "#882255", "DMA32": "#117733", "Normal": "#332288", "Movable": "#999933"}

SCROLL_HEIGHT = "24em"  # long tables (a booted kernel's hundreds of caches) scroll inside this


def scroll_box() -> widgets.Layout:
    """A layout that keeps a long table to SCROLL_HEIGHT, scrolling inside it."""
    return widgets.Layout(max_height=SCROLL_HEIGHT, overflow="auto")


CONTEXT_COLOURS = {
    "task": "#009E73",  # may sleep
    "atomic": "#CC79A7",  # task context, but preemption off (spinlock, rcu, irqs off)
    "softirq": "#E69F00",
    "hardirq": "#D55E00",
    "nmi": "#000000",
}

# printk levels 0 (KERN_EMERG) .. 7 (KERN_DEBUG)
LEVEL_COLOURS = (
    "#B2182B", "#B2182B", "#B2182B", "#D55E00", "#E69F00", "#0072B2", "#333333", "#888888",
)  # fmt: skip
LEVEL_NAMES = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")


def code_palette() -> np.ndarray:
    """RGB bytes of every frame code, shape (NUM_CODES, 3), for painting images."""
    return np.array(
        [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in CODE_COLOURS], dtype=np.uint8
    )


def context_colour(context) -> str:
    """The colour of a ContextSnapshot: its kind, or "atomic" for a task that may not sleep."""
    if context.kind == "task" and not context.may_sleep:
        return CONTEXT_COLOURS["atomic"]
    return CONTEXT_COLOURS[context.kind]


def swatch(colour: str, label: str) -> str:
    """HTML for one legend entry: a square of ``colour`` and its label."""
    border = "#999" if colour.upper() in ("#FFFFFF", "#DEEBF7") else colour
    return (
        f'<span class="kmviz-swatch" style="display:inline-block;margin-right:10px">'
        f'<span style="display:inline-block;width:11px;height:11px;background:{colour};'
        f'border:1px solid {border};vertical-align:middle"></span> {html.escape(label)}</span>'
    )


def legend(codes=range(NUM_CODES)) -> widgets.HTML:
    """A legend widget naming the colours of ``codes`` (frame codes; free orders folded)."""
    parts = []
    codes = list(codes)
    free = [c for c in codes if c < PAGES]
    if free:
        cell = '<span style="display:inline-block;width:9px;height:11px;background:{}"></span>'
        ramp = "".join(cell.format(ORDER_COLOURS[c]) for c in free)
        parts.append(
            f'<span class="kmviz-swatch" style="margin-right:10px">{ramp} '
            f"free, order {free[0]}–{free[-1]}</span>"
        )
    parts += [swatch(CODE_COLOURS[c], CODE_NAMES[c]) for c in codes if c >= PAGES]
    out = widgets.HTML("".join(parts))
    out.add_class("kmviz-legend")
    return out
