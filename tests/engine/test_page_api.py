"""The page allocator's API under its kernel names, and what it does with bad arguments."""

import pytest

import kmviz
from kmviz import (
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER,
    GFP_KERNEL,
    PAGE_OFFSET,
    Kernel,
    Page,
    get_order,
)
from kmviz.engine.events import AllocationFailed, BadPageReported


def snapshot(k):
    """Everything that describes the machine's memory, to compare before and after."""
    return (
        bytes(k.buddy.state),
        bytes(k.buddy.nxt),
        bytes(k.buddy.prv),
        list(k.buddy.pageblock_mt),
        [(list(z.nr_free), z.free_pages, z.managed_pages) for z in k.zones],
        [bytes(pcp_list) for z in k.zones for pcp_list in z.pcp_lists],
    )


@pytest.mark.parametrize(
    ("size", "order"),
    [(1, 0), (4096, 0), (4097, 1), (8192, 1), (8193, 2), (4 << 20, 10), (0, 52)],
)
def test_get_order_is_the_smallest_order_that_holds_size(size, order):
    assert get_order(size) == order


def test_get_order_rejects_non_integers():
    with pytest.raises(TypeError, match="size in bytes"):
        get_order("4096")


def test_gfp_names_import_with_their_kernel_spelling():
    namespace = {}
    exec("from kmviz import *", namespace)
    assert namespace["__GFP_ZERO"] == 0x100
    assert namespace["GFP_KERNEL"] == 0xCC0
    assert kmviz.GFP_ATOMIC == 0xA20


def test_double_underscore_methods_are_reachable_as_spelled():
    k = Kernel(memory_map="flat")
    addr = getattr(k, "__get_free_pages")(GFP_KERNEL, 1)
    assert addr >= PAGE_OFFSET
    page = k.virt_to_page(addr)
    getattr(k, "__free_pages")(page, 1)
    assert k.block_at(page.pfn)[2] == "pcp"  # free, on this CPU's order-1 list


def test_notebook_code_can_call_k___get_free_pages_directly():
    # at module scope (a notebook cell) Python does not mangle k.__name
    namespace = {"Kernel": Kernel, "GFP_KERNEL": GFP_KERNEL}
    exec("k = Kernel()\naddr = k.__get_free_pages(GFP_KERNEL, 0)\nk.free_pages(addr, 0)", namespace)
    assert namespace["addr"] >= PAGE_OFFSET


def test_alloc_pages_returns_a_page_with_pfn_and_zone():
    k = Kernel(mem="256MiB", memory_map="flat")
    page = k.alloc_pages(GFP_DMA, 2)
    assert isinstance(page, Page)
    assert page.zone == "DMA"
    assert page.pfn % 4 == 0
    assert k.page_address(page) == PAGE_OFFSET + page.pfn * 4096


def test_get_free_pages_returns_a_direct_map_address():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    assert k.virt_to_phys(addr) == addr - 0xFFFF888000000000
    assert k.phys_to_virt(k.virt_to_phys(addr)) == addr


def test_get_free_pages_drops_highmem_as_the_kernel_does():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.get_free_pages(GFP_HIGHUSER, 0) != 0


def test_gfp_may_be_given_as_text():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.alloc_pages("GFP_KERNEL | __GFP_ZERO", 0) is not None
    with pytest.raises(ValueError, match="GFP_KERNL"):
        k.alloc_pages("GFP_KERNL", 0)


def test_virt_to_page_rounds_an_inner_address_down_to_its_page():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    assert k.virt_to_page(addr + 123).pfn == k.virt_to_page(addr).pfn


def test_virt_to_phys_rejects_addresses_outside_the_direct_map():
    k = Kernel(mem="256MiB", memory_map="flat")
    with pytest.raises(ValueError, match="not in the direct map"):
        k.virt_to_phys(0xFFFFFFFFFF000000)


def test_free_pages_of_zero_does_nothing():
    k = Kernel(mem="256MiB", memory_map="flat")
    before, events = snapshot(k), len(k.history)
    k.free_pages(0, 3)
    assert snapshot(k) == before
    assert len(k.history) == events


def test_free_pages_inside_a_page_frees_that_page_like_virt_to_page():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr + 100, 0)
    assert k.block_at(k.virt_to_page(addr).pfn)[2] == "pcp"  # free, on this CPU's list


def test_order_11_warns_once_and_returns_null():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    assert k.alloc_pages(GFP_KERNEL, 11) is None
    assert k.get_free_pages(GFP_KERNEL, 11) == 0
    log = k.dmesg()
    assert log.count("WARNING: CPU: 0 PID: 1234 at mm/page_alloc.c:5634 __alloc_pages+") == 1
    assert snapshot(k) == before
    assert isinstance(k.history[-1], AllocationFailed)


def test_order_11_with_nowarn_is_silent():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.alloc_pages("GFP_KERNEL|__GFP_NOWARN", 11) is None
    assert "WARNING" not in k.dmesg()


def test_negative_order_is_an_unsigned_overflow_and_returns_null():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.alloc_pages(GFP_KERNEL, -1) is None


def test_non_integer_order_is_a_python_type_error():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    with pytest.raises(TypeError, match="order must be an int"):
        k.alloc_pages(GFP_KERNEL, "1")
    with pytest.raises(TypeError, match="order must be an int"):
        k.get_free_pages(GFP_KERNEL, 1.0)
    assert snapshot(k) == before


def test_dma_with_dma32_is_a_kernel_bug_and_allocates_nothing():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    assert k.alloc_pages(GFP_DMA | GFP_DMA32, 0) is None
    assert "kernel BUG at include/linux/gfp.h:136!" in k.dmesg()
    assert snapshot(k) == before


def test_double_free_hits_vm_bug_on_page_and_changes_nothing():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    before = snapshot(k)
    k.free_pages(addr, 0)
    log = k.dmesg()
    assert "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)" in log
    assert "kernel BUG at include/linux/mm.h:780!" in log
    assert snapshot(k) == before
    assert isinstance(k.history[-1], BadPageReported) or "kernel BUG" in log


def test_freeing_with_a_larger_order_reports_bad_page_state():
    k = Kernel(mem="256MiB", memory_map="flat")
    first = k.alloc_pages(GFP_KERNEL, 0)
    k.alloc_pages(GFP_KERNEL, 0)  # its buddy stays allocated
    before = snapshot(k)
    k.free_pages_block(first, 1)
    log = k.dmesg()
    assert f"BUG: Bad page state in process insmod  pfn:{first.pfn + 1:05x}" in log
    assert "page dumped because: nonzero _refcount" in log
    assert snapshot(k) == before


def test_freeing_with_a_smaller_order_is_refused_and_explained():
    k = Kernel(mem="256MiB", memory_map="flat")
    page = k.alloc_pages(GFP_KERNEL, 2)
    before = snapshot(k)
    k.free_pages_block(page, 0)
    assert "Linux would free 1 of its 4 pages and leak the rest" in k.dmesg()
    assert snapshot(k) == before


def test_freeing_a_reserved_page_reports_the_flags_check():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    k.free_pages(PAGE_OFFSET + 0x1000 * 4096, 0)  # the kernel image
    assert "page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set" in k.dmesg()
    assert "flags: 0x" in k.dmesg() and "(reserved|node=0|zone=1" in k.dmesg()
    assert snapshot(k) == before


def test_free_pages_outside_the_direct_map_is_a_kernel_bug():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    k.free_pages(0x1234, 0)
    assert "kernel BUG at mm/page_alloc.c:5757!" in k.dmesg()
    assert snapshot(k) == before


def test_free_pages_rejects_non_addresses():
    k = Kernel(mem="256MiB", memory_map="flat")
    with pytest.raises(TypeError, match="takes an address"):
        k.free_pages("0xffff888000000000", 0)


def test_compound_block_freed_with_the_wrong_order_hits_vm_bug_on_page():
    k = Kernel(mem="256MiB", memory_map="flat")
    page = k.alloc_pages("GFP_KERNEL|__GFP_COMP", 2)
    before = snapshot(k)
    k.free_pages_block(page, 1)
    assert "VM_BUG_ON_PAGE(compound && compound_order(page) != order)" in k.dmesg()
    assert snapshot(k) == before


def test_the_machine_is_tainted_after_a_bad_page():
    k = Kernel(mem="256MiB", memory_map="flat")
    k.free_pages(PAGE_OFFSET + 0x1000 * 4096, 0)
    k.free_pages(PAGE_OFFSET + 0x1001 * 4096, 0)
    assert "Tainted: G    B" in k.dmesg()


def test_movable_with_reclaimable_warns_and_allocates_nothing():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = snapshot(k)
    assert k.alloc_pages("GFP_KERNEL|__GFP_MOVABLE|__GFP_RECLAIMABLE", 0) is None
    assert "WARNING: CPU: 0 PID: 1234 at include/linux/gfp.h:18 gfp_migratetype+" in k.dmesg()
    assert snapshot(k) == before


def test_bool_order_is_a_python_type_error():
    k = Kernel(mem="256MiB", memory_map="flat")
    with pytest.raises(TypeError, match="not bool"):
        k.alloc_pages(GFP_KERNEL, True)


def _slab_page(k):
    return k.kmalloc(8, GFP_KERNEL) & ~0xFFF


def _page_cache_page(k):
    k.fill_page_cache(4096)
    return PAGE_OFFSET + (k.page_cache.lru[-1] << 12)


def _user_page(k):
    pid = k.spawn("cat", 4096)
    return PAGE_OFFSET + (next(t for t in k.tasks if t.pid == pid).pages[0] << 12)


def _page_table_page(k):
    k.vmalloc(4096)
    return PAGE_OFFSET + (max(k.pgtable_pfns) << 12)


@pytest.mark.parametrize(
    ("page_of", "reason"),
    [
        # page_bad_reason() prints the last check that matches: PG_slab and PG_lru are in
        # PAGE_FLAGS_CHECK_AT_FREE, checked after mapcount and mapping (6.1 mm/page_alloc.c)
        (_slab_page, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"),
        (_page_cache_page, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"),
        (_user_page, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"),
        (_page_table_page, "nonzero mapcount"),
    ],
)
def test_free_pages_of_a_page_another_owner_holds_is_a_bad_page_state_that_frees_nothing(
    page_of, reason
):
    k = Kernel(mem="16MiB", memory_map="flat")
    addr = page_of(k)
    before = snapshot(k)
    k.free_pages(addr, 0)
    assert f"page dumped because: {reason}" in k.dmesg()
    assert snapshot(k) == before


def test_a_page_made_by_hand_beyond_memory_is_a_value_error():
    with pytest.raises(ValueError, match="beyond this machine's memory"):
        Kernel(mem="16MiB", memory_map="flat").free_pages_block(Page(10**9, "DMA"), 0)


def test_idle_forever_is_a_value_error():
    with pytest.raises(ValueError, match="idle"):
        Kernel(mem="16MiB", memory_map="flat").idle(float("inf"))


def test_the_migratetype_of_a_pfn_beyond_memory_is_a_value_error():
    with pytest.raises(ValueError, match="pfn"):
        Kernel(mem="16MiB", memory_map="flat").pageblock_migratetype(1 << 20)


def test_virt_to_page_of_a_vmalloc_address_is_a_value_error_that_logs_nothing():
    k = Kernel(mem="16MiB", memory_map="flat")
    log = k.dmesg()
    with pytest.raises(ValueError, match="vmalloc_to_page"):
        k.virt_to_page(0xFFFFC90000000000)
    assert k.dmesg() == log
