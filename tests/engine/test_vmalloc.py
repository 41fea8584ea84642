"""vmalloc: virtually contiguous, physically scattered; page-table walks; vfree's rules."""

from itertools import pairwise

import pytest

from kmviz import GFP_DMA, GFP_KERNEL, PAGE_OFFSET, Kernel
from kmviz.engine.events import VmallocFreed, VmallocMapped
from kmviz.engine.invariants import check, check_slabs, fingerprint
from kmviz.engine.pagetable import VMALLOC_START


def test_the_first_vmalloc_starts_at_vmalloc_start_with_a_guard_page():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(3 * 4096 + 5)  # four pages
    assert addr == VMALLOC_START
    assert k.cat("/proc/vmallocinfo") == (
        "0xffffc90000000000-0xffffc90000005000   20480 lesson_init+0x1d/0x1000 [lesson] "
        "pages=4 vmalloc N0=4\n"
    )
    assert k.vmalloc(4096) == VMALLOC_START + 5 * 4096  # after the guard page


def test_vmalloc_pages_are_scattered_once_memory_has_been_used():
    k = Kernel(mem="256MiB", memory_map="flat")
    pages = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(64)]
    for addr in pages[::2]:  # every other page comes back: free frames with holes between
        k.free_pages(addr, 0)
    addr = k.vmalloc(8 * 4096)
    pfns = [k.vmalloc_to_page(addr + i * 4096).pfn for i in range(8)]
    assert any(b != a + 1 for a, b in pairwise(pfns))  # not physically contiguous
    (mapped,) = [e for e in k.history if isinstance(e, VmallocMapped)]
    assert list(mapped.pfns) == pfns


def test_a_walk_goes_through_four_levels_to_the_frame():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(2 * 4096)
    walk = k.walk(addr + 4096 + 0x10)
    assert [s.level for s in walk.steps] == ["PGD", "PUD", "PMD", "PTE"]
    assert [s.index for s in walk.steps] == [402, 0, 0, 1]
    frame = k.vmalloc_to_page(addr + 4096).pfn
    assert walk.phys == (frame << 12) + 0x10
    assert walk.steps[-1].entry == 0x8000000000000163 | frame << 12  # PAGE_KERNEL


def test_the_direct_map_walks_through_large_pages():
    k = Kernel(mem="256MiB", memory_map="flat")
    walk = k.walk(PAGE_OFFSET + 0x1234567)
    assert walk.phys == 0x1234567
    assert walk.steps[-1].level == "PMD" and walk.steps[-1].large


def test_an_unmapped_address_faults():
    k = Kernel(mem="256MiB", memory_map="flat")
    walk = k.walk(VMALLOC_START + (1 << 30))
    assert walk.phys is None and walk.fault_level is not None


def test_vmalloc_in_interrupt_context_is_a_kernel_bug():
    k = Kernel(mem="256MiB", memory_map="flat")
    with k.irq():
        assert k.vmalloc(4096) == 0
    assert "kernel BUG at mm/vmalloc.c:2554!" in k.dmesg()
    assert not k.vmap_areas


def test_vmalloc_under_a_spinlock_may_sleep_and_says_so():
    k = Kernel(mem="256MiB", memory_map="flat")
    with k.spin_lock("dev_lock"):
        assert k.vmalloc(4096)
    assert "BUG: sleeping function called from invalid context at mm/vmalloc.c:1673" in k.dmesg()


def test_vfree_in_interrupt_context_is_deferred_until_process_context():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(4096)
    with k.irq():
        k.vfree(addr)
    assert addr in k.vmap_areas  # not yet
    assert [e.deferred for e in k.history if isinstance(e, VmallocFreed)] == [True]
    k.vmalloc(4096)  # the deferred work runs before the next vmalloc
    assert addr not in k.vmap_areas


def test_freed_ranges_are_not_reused_until_the_lazy_purge():
    k = Kernel(mem="256MiB", memory_map="flat")
    first = k.vmalloc(4096)
    k.vfree(first)
    assert "unpurged vm_area" in k.cat("/proc/vmallocinfo")
    assert k.vmalloc(4096) != first


def test_vfree_of_something_else_warns_and_vfree_of_null_does_nothing():
    k = Kernel(mem="256MiB", memory_map="flat")
    before = k.free_pages_count()
    k.vfree(0)
    k.vfree(VMALLOC_START + 0x1000)
    assert "Trying to vfree() nonexistent vm area" in k.dmesg()
    assert k.free_pages_count() == before


def test_a_large_vmalloc_keeps_its_page_array_in_vmalloc_space():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(600 * 4096)  # 600 pointers = 4800 bytes > PAGE_SIZE
    area = k.vmap_areas[addr]
    assert area.vpages and area.array in k.vmap_areas
    assert " vpages N0=600" in k.cat("/proc/vmallocinfo")
    k.vfree(addr)
    assert not k.vmap_areas
    check(k)
    check_slabs(k)


def test_vmalloc_of_nothing_reports_the_size():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.vmalloc(0) == 0
    assert "vmalloc error: size 0, exceeds total pages" in k.dmesg()


def test_vfree_gives_every_frame_back_but_keeps_page_tables():
    k = Kernel(mem="256MiB", memory_map="flat")
    areas = [k.vmalloc(n * 4096) for n in (1, 5, 17, 300)]
    frames = [pfn for addr in areas for pfn in k.vmap_areas[addr].pfns]
    tables = set(k.pgtable_pfns)
    for addr in areas:
        k.vfree(addr)
    assert all(k.block_at(pfn)[2] in ("free", "pcp") for pfn in frames)
    assert k.pgtable_pfns == tables  # vunmap_pte_range() never frees page-table pages
    check(k)


def test_virt_to_phys_of_vmalloc_memory_is_a_bug_and_names_no_frame_of_it():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(4096)
    phys = k.virt_to_phys(addr)
    log = k.dmesg()
    assert "kernel BUG at arch/x86/mm/physaddr.c:28!" in log
    assert "virt_to_phys used for non-linear address" in log
    assert phys >> 12 != k.vmalloc_to_page(addr).pfn


def test_a_device_can_dma_into_kmalloc_memory_in_one_physical_range():
    k = Kernel(mem="256MiB", memory_map="flat")
    nic = k.device("nic")
    buf = k.kmalloc(3000, GFP_KERNEL)
    dma = nic.dma_map_single(buf, 3000)
    assert dma == k.virt_to_phys(buf)
    assert nic.write(dma, 3000) == [dma >> 12]


def test_dma_map_single_rejects_vmalloc_memory():
    k = Kernel(mem="256MiB", memory_map="flat")
    nic = k.device("nic")
    buf = k.vmalloc(3 * 4096)
    assert nic.dma_mapping_error(nic.dma_map_single(buf, 3 * 4096))
    assert "nic nic: rejecting DMA map of vmalloc memory" in k.dmesg()


def test_a_device_given_the_first_page_of_a_vmalloc_buffer_writes_the_wrong_frames():
    k = Kernel(mem="256MiB", memory_map="flat")
    for addr in [k.get_free_pages(GFP_KERNEL, 0) for _ in range(16)][::2]:
        k.free_pages(addr, 0)  # holes, so the buffer's frames are scattered
    buf = k.vmalloc(3 * 4096)
    frames = [k.vmalloc_to_page(buf + i * 4096).pfn for i in range(3)]
    dev = k.device("fb")
    touched = dev.write(frames[0] << 12, 3 * 4096)
    assert touched[0] == frames[0]
    assert touched[1:] != frames[1:]  # after the first page: someone else's memory


def test_an_isa_device_needs_gfp_dma_memory():
    k = Kernel(mem="256MiB", memory_map="flat")
    isa = k.device("sb16", dma_bits=24)
    high = k.kmalloc(512, GFP_KERNEL)  # from DMA32, above 16 MiB
    assert isa.dma_mapping_error(isa.dma_map_single(high, 512))
    assert "overflow (mask ffffff, bus limit 0)." in k.dmesg()
    low = k.kmalloc(512, GFP_DMA)
    assert not isa.dma_mapping_error(isa.dma_map_single(low, 512))


def test_vmap_maps_the_callers_pages_and_vunmap_keeps_them():
    k = Kernel(mem="256MiB", memory_map="flat")
    pages = [k.alloc_pages(GFP_KERNEL, 0) for _ in range(3)]
    addr = k.vmap(pages)
    assert [k.vmalloc_to_page(addr + i * 4096).pfn for i in range(3)] == [p.pfn for p in pages]
    assert k.cat("/proc/vmallocinfo").rstrip().endswith(" vmap")
    k.vunmap(addr)
    assert all(k.block_at(p.pfn)[2] == "allocated" for p in pages)
    assert k.walk(addr).phys is None


def test_meminfo_counts_vmalloc_pages():
    k = Kernel(mem="256MiB", memory_map="flat")
    k.vmalloc(5 * 4096)
    assert "VmallocUsed:          20 kB" in k.cat("/proc/meminfo").splitlines()


def test_every_page_translates_the_same_by_walk_vmalloc_to_page_and_the_device():
    k = Kernel(mem="256MiB", memory_map="flat")
    for addr in [k.get_free_pages(GFP_KERNEL, 0) for _ in range(40)][::3]:
        k.free_pages(addr, 0)
    buf = k.vmalloc(20 * 4096)
    dev = k.device("nic")
    for i in range(20):
        page = k.vmalloc_to_page(buf + i * 4096)
        assert k.walk(buf + i * 4096).phys == page.phys
        assert dev.write(page.phys, 4096) == [page.pfn]
        assert page.pfn == k.vmap_areas[buf].pfns[i]


def test_first_fit_reuses_a_range_once_the_lazy_purge_has_run():
    k = Kernel(
        mem="256MiB", memory_map="flat"
    )  # 2 CPUs: lazy_max_pages is fls(2) * 32 MiB = 64 MiB
    first = k.vmalloc(4096)
    k.vfree(first)
    assert k.vmalloc(4096) != first  # still an unpurged vm_area
    big = k.vmalloc(65 << 20)
    k.vfree(big)  # more than lazy_max_pages pending: __purge_vmap_area_lazy()
    assert "unpurged" not in k.cat("/proc/vmallocinfo")
    assert k.vmalloc(4096) == first  # the lowest free range again


def test_a_walk_of_a_non_canonical_address_is_a_general_protection_fault():
    k = Kernel(mem="256MiB", memory_map="flat")
    walk = k.walk(0x0000800000000000)
    assert walk.phys is None and walk.fault_level == "#GP" and walk.steps == ()
    assert "general protection fault, probably for non-canonical address 0x800000000000" in (
        k.dmesg()
    )


def test_a_frame_vmalloc_maps_is_not_freed_by_hand_so_vfree_frees_it_once():
    k = Kernel(mem="256MiB", memory_map="flat")
    buf = k.vmalloc(2 * 4096)
    frame = k.vmalloc_to_page(buf).pfn
    k.kfree(PAGE_OFFSET + (frame << 12))  # Linux would free it under the mapping
    assert "of a page the vmalloc area at" in k.dmesg()
    free = k.free_pages_count() + k.pcp_pages_count()
    k.vfree(buf)
    # both frames (the page array is a slab object)
    assert k.free_pages_count() + k.pcp_pages_count() == free + 2
    assert "page_ref_count(page) == 0" not in k.dmesg()
    check(k)
    check_slabs(k)


def test_vmalloc_on_a_machine_too_small_for_its_page_tables_fails_and_leaves_no_area():
    k = Kernel(mem="2MiB", memory_map="flat")
    assert k.vmalloc(1 << 20) == 0
    assert k.vmallocinfo() == ""
    check(k)


def test_a_walk_on_a_full_machine_changes_nothing():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.spawn("hog", "64MiB")  # takes what it can without the OOM killer
    before = fingerprint(k)
    assert k.walk(PAGE_OFFSET + 0x5123).phys == 0x5123
    assert k.vmalloc_to_page(VMALLOC_START) is None
    assert fingerprint(k) == before


def test_vunmap_of_null_does_nothing():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.vunmap(0)
    assert "nonexistent vm area" not in k.dmesg()


def test_vunmap_of_a_vmalloc_area_unmaps_it_and_its_pages_stay_allocated():
    k = Kernel(mem="16MiB", memory_map="flat")
    buf = k.vmalloc(2 * 4096)
    free = k.free_pages_count()
    k.vunmap(buf)
    assert k.free_pages_count() == free and k.vmalloc_to_page(buf) is None


def test_vmap_pages_are_not_counted_in_vmalloc_used():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.vmap([k.alloc_page(GFP_KERNEL)])
    assert "VmallocUsed:           0 kB" in k.cat("/proc/meminfo")


def test_an_address_beyond_64_bits_is_a_value_error_for_vfree():
    with pytest.raises(ValueError, match="2\\*\\*64"):
        Kernel(mem="16MiB", memory_map="flat").vfree(1 << 64)


def test_a_string_is_a_type_error_for_vunmap():
    with pytest.raises(TypeError, match="address"):
        Kernel(mem="16MiB", memory_map="flat").vunmap("abc")


def test_a_device_write_far_beyond_memory_lists_only_this_machines_frames():
    k = Kernel(mem="16MiB", memory_map="flat")
    assert len(k.device().write(0, 1 << 44)) == k.nr_pfns


def test_vmalloc_to_page_of_a_direct_map_address_is_a_value_error():
    with pytest.raises(ValueError, match="not a vmalloc address"):
        Kernel(mem="1MiB", memory_map="flat").vmalloc_to_page(PAGE_OFFSET + 0x123456)


def test_neighbouring_freed_areas_wait_for_the_purge_as_one_range():
    k = Kernel(mem="256MiB", memory_map="flat")
    first, second = k.vmalloc(4096), k.vmalloc(3 * 4096)
    k.vfree(first)
    k.vfree(second)  # merge_or_add_vmap_area() joins it to the first in the purge tree
    unpurged = [line for line in k.cat("/proc/vmallocinfo").splitlines() if "unpurged" in line]
    assert unpurged == [f"0x{first:016x}-0x{first + 6 * 4096:016x}   24576 unpurged vm_area"]
    assert k.vmap_lazy_nr == 6


def test_the_purge_runs_when_the_lazy_pages_pass_lazy_max_pages():
    k = Kernel(mem="256MiB", cpus=1, memory_map="flat")  # fls(1) * 32 MiB: 8192 pages
    k.vfree(k.vmalloc(8000 * 4096))
    assert k.vmap_lazy_nr == 8001 + 17  # with the guard page, and its vmalloc'ed page array
    k.vfree(k.vmalloc(200 * 4096))  # 201 more pages: over the limit, everything is purged
    assert k.vmap_lazy_nr == 0 and len(k.purge_vmap_areas) == 0
    assert [(r.start, r.end) for r in k.free_vmap_areas] == [(1, (1 << 64) - 1)]


def test_a_double_vfree_warns_as_6_1_does_and_changes_no_memory():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.vmalloc(3 * 4096)
    k.vfree(addr)
    before = fingerprint(k, records=False)
    k.vfree(addr)  # the area is gone: __vunmap() finds nothing at addr
    assert "Trying to vfree() nonexistent vm area (" in k.dmesg()  # %p: hashed, as 6.1
    assert f"{addr:x}" not in k.dmesg()
    assert fingerprint(k, records=False) == before
