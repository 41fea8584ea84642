"""vmalloc's pages: vm_area_alloc_pages() and __alloc_pages_bulk() as 6.1 runs them."""

import pytest

from kmviz import GFP_KERNEL, Kernel, trace
from kmviz.engine import fastpath
from kmviz.engine.events import PagesAllocated, PagesAllocatedInBulk, VmallocMapped
from kmviz.engine.gfp import __GFP_HIGHMEM, __GFP_NOWARN
from kmviz.engine.invariants import check

PAGE = 4096
VMALLOC_GFP = GFP_KERNEL | __GFP_HIGHMEM | __GFP_NOWARN  # what __vmalloc_area_node() passes on


def _warm(k: Kernel, *sizes: int) -> None:
    """A vmalloc() and vfree() of each size first (16 pages if none): the page tables, the
    page arrays' slabs and the plans are made then, not in the call a test looks at."""
    for size in sizes or (16 * PAGE,):
        k.vfree(k.vmalloc(size))


def _bulk_requests(k: Kernel, monkeypatch) -> list[int]:
    """The nr_pages of every __alloc_pages_bulk() call from now on."""
    requests = []
    bulk = k._alloc_pages_bulk

    def spy(gfp, nr_pages, pfns):
        requests.append(nr_pages)
        return bulk(gfp, nr_pages, pfns)

    monkeypatch.setattr(k, "_alloc_pages_bulk", spy)
    return requests


def test_vmalloc_asks_the_bulk_allocator_for_at_most_100_pages_a_call(monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", False)  # the Python reference (C mirrors it)
    k = Kernel(mem="256MiB", memory_map="flat")
    _warm(k)
    requests = _bulk_requests(k, monkeypatch)
    assert k.vmalloc(250 * PAGE)
    assert requests == [100, 100, 50]


def test_a_one_page_vmalloc_takes_the_single_page_allocator_and_fires_mm_page_alloc():
    k = Kernel(mem="256MiB", memory_map="flat")
    _warm(k, PAGE)
    before = len(k.history)
    assert k.vmalloc(PAGE)
    allocated = [e for e in k.history.since(before) if isinstance(e, PagesAllocated)]
    assert [e.__class__ for e in allocated] == [PagesAllocated]


def test_bulk_pages_come_off_the_pcp_list_without_mm_page_alloc():
    k = Kernel(mem="256MiB", memory_map="flat")
    _warm(k)
    before = len(k.history)
    k.vmalloc(16 * PAGE)
    events = k.history.since(before)
    area = next(e for e in events if isinstance(e, VmallocMapped))
    taken = [e for e in events if isinstance(e, PagesAllocated)]
    assert all(e.__class__ is PagesAllocatedInBulk and e.cpu == 0 for e in taken)
    assert [e.pfn for e in taken] == list(area.pfns)
    text = trace.export(k, start=before)
    assert not any(f"pfn={pfn:#x} " in text for pfn in area.pfns)  # no mm_page_alloc line
    check(k)


def test_a_bulk_page_names_the_cpu_whose_list_it_came_off():
    k = Kernel(mem="256MiB", memory_map="flat", cpus=4)
    with k.on_cpu(3):
        _warm(k)
        before = len(k.history)
        k.vmalloc(8 * PAGE)
    cpus = {e.cpu for e in k.history.since(before) if isinstance(e, PagesAllocatedInBulk)}
    assert cpus == {3}


def test_bulk_pages_leave_free_factor_alone_where_a_single_page_halves_it():
    k = Kernel(mem="256MiB", memory_map="flat")
    _warm(k, PAGE, 16 * PAGE)
    zone = k.zones[-1]
    zone.pcp_free_factor[0] = 4
    k.vmalloc(16 * PAGE)  # __alloc_pages_bulk(): __rmqueue_pcplist() only
    assert zone.pcp_free_factor[0] == 4
    k.vmalloc(PAGE)  # __alloc_pages(): rmqueue_pcplist() halves it
    assert zone.pcp_free_factor[0] == 2


@pytest.mark.parametrize("above", [0, 1])
def test_the_bulk_allocator_needs_the_low_mark_plus_the_whole_request_free(above):
    # zone_watermark_fast(zone, 0, wmark_low + nr_pages): one test for the whole request
    k = Kernel(mem="16MiB", memory_map="flat", zone_dma=False)
    _warm(k)
    ((zone, mark),) = k._plans[VMALLOC_GFP].fast
    nr_pages = zone.free_pages - mark - above  # free > mark + nr_pages with above == 1
    pfns, before = [], len(k.history)
    got = k._alloc_pages_bulk(VMALLOC_GFP, nr_pages, pfns)
    taken = [e for e in k.history.since(before) if isinstance(e, PagesAllocatedInBulk)]
    assert (got, bool(taken)) == ((nr_pages, True) if above else (1, False))


def test_a_zone_short_of_the_request_sends_the_bulk_allocator_to_the_next_zone():
    k = Kernel(mem="24MiB", memory_map="flat", boot_reserved=False)  # DMA32 2048, DMA 4096
    _warm(k)
    (dma32, mark32), (dma, _) = k._plans[VMALLOC_GFP].fast
    pfns = []
    nr_pages = dma32.free_pages - mark32  # DMA32 is not above low + nr_pages, DMA is
    assert k._alloc_pages_bulk(VMALLOC_GFP, nr_pages, pfns) == nr_pages
    assert all(k.buddy.zone_of(pfn) is dma for pfn in pfns)
