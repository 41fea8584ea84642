"""kmviz: watch the Linux kernel allocate memory on a simulated x86-64 machine.

``from kmviz import *`` gives ``Kernel``, every GFP flag under its kernel spelling (double
underscores included: ``__GFP_ZERO``), ``get_order`` and the page-size constants.
"""

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

__version__ = "0.1.0"

__all__ = [  # noqa: PLE0604 - the GFP names are str too
    "MAX_ORDER",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "ZONE_DMA",
    "ZONE_DMA32",
    "ZONE_MOVABLE",
    "ZONE_NORMAL",
    "Kernel",
    "Page",
    "events",
    "get_order",
    *_gfp_names,
]
