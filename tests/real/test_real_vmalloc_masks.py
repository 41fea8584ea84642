"""Does kmviz ask for vmalloc's page arrays and pages with the masks Linux 6.1.192 traced?

tests/real/data/vmalloc-masks-6.1.trace is the kmalloc and mm_page_alloc trace of
tools/real-kernel/vmasks/vmasks.c loaded into Debian's 6.1.0-57-amd64 (256 MiB, 2 CPUs): a
one-page vmalloc(), vzalloc(), vmalloc_32() and __vmalloc(GFP_KERNEL_ACCOUNT), then an 8 MiB
__vmalloc(GFP_KERNEL_ACCOUNT) and kvmalloc(GFP_KERNEL_ACCOUNT).  busybox's insmod ran the
module's init twice (init_module() after finit_module() returned -EAGAIN).
"""

from pathlib import Path

import pytest

from kmviz import Kernel, trace
from kmviz.engine.events import ObjectAllocated, PagesAllocated
from kmviz.engine.gfp import __GFP_ZERO, GFP_DMA32, GFP_KERNEL, GFP_KERNEL_ACCOUNT
from kmviz.engine.vmalloc import VMALLOC_CALLER

CAPTURE = Path(__file__).parent / "data" / "vmalloc-masks-6.1.trace"
PAGE = 4096
ONE_PAGE_CALLS = (  # the module's one-page calls, as the masks __vmalloc_node_range() gets
    GFP_KERNEL,  # vmalloc()
    GFP_KERNEL | __GFP_ZERO,  # vzalloc()
    GFP_KERNEL | GFP_DMA32,  # vmalloc_32(): GFP_VMALLOC32
    GFP_KERNEL_ACCOUNT,  # __vmalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT)
)


@pytest.fixture(scope="module")
def arrays():
    """The module's page-array kmalloc()s (its first run), each with the next mm_page_alloc:
    [(bytes_req, array gfp, gfp of the next page allocated)]."""
    events = [e for e in trace.load(CAPTURE) if e.comm == "insmod"]
    found = []
    for i, event in enumerate(events):
        if isinstance(event, trace.Kmalloc) and event.call_site.startswith("__vmalloc_node_range+"):
            page = next((e for e in events[i + 1 :] if isinstance(e, trace.MmPageAlloc)), None)
            found.append((event.bytes_req, event.gfp, page.gfp if page else None))
    start = [size for size, _, _ in found].index(8)  # after the module's own areas
    return found[start : start + 6]


def _engine_masks(k: Kernel, size: int, gfp: int) -> tuple[int, int, int]:
    """(bytes_req, array gfp, first page's gfp) of one vmalloc of ``size`` bytes with ``gfp``."""
    before = len(k.history)
    assert k._vmalloc(size, gfp, VMALLOC_CALLER)
    events = k.history.since(before)
    array = next(e for e in events if e.__class__ is ObjectAllocated)
    page = next(e for e in events if isinstance(e, PagesAllocated))
    return array.bytes_req, array.gfp, page.gfp


def test_one_page_vmallocs_ask_for_array_and_page_with_the_traced_masks(arrays):
    k = Kernel(mem="256MiB", memory_map="flat")
    k.vfree(k.vmalloc(PAGE))  # the page tables and kmalloc-8's slab exist
    engine = [_engine_masks(k, PAGE, gfp) for gfp in ONE_PAGE_CALLS]
    assert engine == arrays[:4]


def test_an_8_mib_vmallocs_nested_page_array_is_kmalloced_with_the_traced_mask(arrays):
    # 2048 pages: a 16 KiB array, itself vmalloc()ed with nested_gfp; its array 32 bytes
    k = Kernel(mem="256MiB", memory_map="flat")
    before = len(k.history)
    assert k._vmalloc(8 << 20, GFP_KERNEL_ACCOUNT, VMALLOC_CALLER)
    array = next(e for e in k.history.since(before) if e.__class__ is ObjectAllocated)
    assert (array.bytes_req, array.gfp) == arrays[4][:2]
