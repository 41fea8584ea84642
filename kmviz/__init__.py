"""kmviz: watch the Linux kernel allocate memory on a simulated x86-64 machine.

``from kmviz import *`` gives ``Kernel``, every GFP flag under its kernel spelling (double
underscores included: ``__GFP_ZERO``), ``get_order`` and the page-size constants.
"""

import importlib

from .about import __version__ as __version__
from .about import info as info
from .engine import events
from .engine.constants import (
    MAX_ORDER,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NORMAL,
)
from .engine.gfp import *  # noqa: F403 - every GFP name, listed in gfp.__all__
from .engine.gfp import __all__ as _gfp_names
from .engine.kernel import Kernel
from .engine.page import Page, get_order
from .engine.slab_geometry import (
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    SLAB_ACCOUNT,
    SLAB_CACHE_DMA,
    SLAB_CONSISTENCY_CHECKS,
    SLAB_HWCACHE_ALIGN,
    SLAB_PANIC,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    ZERO_SIZE_PTR,
)
from .engine.slowpath import KernelPanic

# Reachable as attributes after ``import kmviz``, imported on first use: the widgets and
# exercises need the "lab" extra, and the rest need not slow down ``import kmviz``.
SUBMODULES = ("about", "engine", "exercises", "lessons", "real", "trace", "widgets", "workloads")

__all__ = [  # noqa: PLE0604 - the GFP names are str too
    "MAX_ORDER",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "ZONE_DMA",
    "ZONE_DMA32",
    "ZONE_MOVABLE",
    "ZONE_NORMAL",
    "KMALLOC_MAX_CACHE_SIZE",
    "KMALLOC_MAX_SIZE",
    "SLAB_ACCOUNT",
    "SLAB_CACHE_DMA",
    "SLAB_CONSISTENCY_CHECKS",
    "SLAB_HWCACHE_ALIGN",
    "SLAB_PANIC",
    "SLAB_POISON",
    "SLAB_RECLAIM_ACCOUNT",
    "SLAB_RED_ZONE",
    "SLAB_STORE_USER",
    "ZERO_SIZE_PTR",
    "Kernel",
    "KernelPanic",
    "Page",
    "events",
    "get_order",
    *_gfp_names,
]


def __getattr__(name: str):
    """Import submodule ``name`` on first use: ``import kmviz; kmviz.workloads.uptime(k)``."""
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kmviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, submodules included, for tab completion."""
    return sorted({*globals(), *SUBMODULES})
