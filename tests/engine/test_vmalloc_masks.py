"""vmalloc's GFP masks as 6.1's __vmalloc_area_node() sets them: the page array's, the pages'."""

from kmviz import Kernel, trace
from kmviz.engine.events import ObjectAllocated, PagesAllocated, VmallocMapped
from kmviz.engine.gfp import (
    __GFP_DMA,
    __GFP_HIGHMEM,
    __GFP_NOWARN,
    __GFP_ZERO,
    GFP_KERNEL,
    GFP_KERNEL_ACCOUNT,
)

PAGE = 4096


def test_a_vmalloc_page_is_asked_for_with_gfp_highmem_and_nowarn():
    # a one-page area: __alloc_pages_bulk() hands nr_pages == 1 to __alloc_pages(), which
    # fires mm_page_alloc with the mask vm_area_alloc_pages() got
    k = Kernel(mem="256MiB", memory_map="flat")
    k.vfree(k.vmalloc(PAGE))  # the page tables and the page array's slab exist
    before = len(k.history)
    addr = k.vmalloc(PAGE)
    pfn = k.vmalloc_to_page(addr).pfn
    (line,) = [x for x in trace.export(k, start=before).splitlines() if f"pfn={pfn:#x} " in x]
    assert line.endswith("gfp_flags=GFP_KERNEL|__GFP_HIGHMEM|__GFP_NOWARN")


def test_the_oom_report_of_a_vmalloc_page_names_gfp_highmem():
    k = Kernel(mem="2MiB", memory_map="flat")  # too small: the pages' __alloc_pages() OOMs
    k.vmalloc(1 << 20)
    assert "gfp_mask=0x2cc2(GFP_KERNEL|__GFP_HIGHMEM|__GFP_NOWARN), order=0" in k.dmesg()


def test_a_vmalloc_that_runs_out_of_pages_prints_no_vmalloc_error():
    # 6.1.192 sets __GFP_NOWARN in gfp_mask before __vmalloc_area_node()'s warn_alloc()s
    k = Kernel(mem="2MiB", memory_map="flat")
    assert k.vmalloc(1 << 20) == 0
    assert "vmalloc error" not in k.dmesg()


def test_the_page_array_is_asked_for_with_the_callers_reclaim_bits_only_and_zeroed():
    # nested_gfp = (gfp_mask & GFP_RECLAIM_MASK) | __GFP_ZERO: no __GFP_ACCOUNT, so the
    # 8 MiB area's 16 KiB array (a nested vmalloc) and that one's 32-byte array in kmalloc-32
    k = Kernel(mem="256MiB", memory_map="flat")
    before = len(k.history)
    assert k.kvmalloc(8 << 20, GFP_KERNEL_ACCOUNT)
    events = k.history.since(before)
    arrays = [e for e in events if e.__class__ is ObjectAllocated]
    assert [(e.bytes_req, e.cache, e.gfp) for e in arrays] == [
        (32, "kmalloc-32", GFP_KERNEL | __GFP_ZERO)
    ]


def test_the_pages_of_a_nested_page_array_have_the_nested_mask_with_highmem_and_nowarn():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = len(k.history)
    assert k.kvmalloc(8 << 20, GFP_KERNEL_ACCOUNT)
    events = k.history.since(before)
    nested, outer = [e for e in events if isinstance(e, VmallocMapped)]
    gfp_of = {e.pfn: e.gfp for e in events if isinstance(e, PagesAllocated)}
    assert {gfp_of[pfn] for pfn in nested.pfns} == {
        GFP_KERNEL | __GFP_HIGHMEM | __GFP_NOWARN | __GFP_ZERO
    }
    assert {gfp_of[pfn] for pfn in outer.pfns} == {
        GFP_KERNEL_ACCOUNT | __GFP_HIGHMEM | __GFP_NOWARN
    }


def test_the_pages_of_a_gfp_dma_area_get_no_gfp_highmem():
    # "if (!(gfp_mask & (GFP_DMA | GFP_DMA32)))": __GFP_DMA | __GFP_HIGHMEM is no zone at all
    k = Kernel(mem="256MiB", memory_map="flat")
    before = len(k.history)
    assert k.kvmalloc(8 << 20, GFP_KERNEL | __GFP_DMA)
    events = k.history.since(before)
    outer = [e for e in events if isinstance(e, VmallocMapped)][-1]
    gfp_of = {e.pfn: e.gfp for e in events if isinstance(e, PagesAllocated)}
    assert {gfp_of[pfn] for pfn in outer.pfns} == {GFP_KERNEL | __GFP_DMA | __GFP_NOWARN}
