"""The simulated machine: memory sizes, zones, boot reservations, watermarks and reserves."""

from math import isqrt

import pytest

from kmviz import Kernel
from kmviz.engine.buddy import HOLE, RESERVED
from kmviz.engine.constants import PAGE_SIZE


def test_mem_accepts_size_strings_and_byte_counts():
    assert Kernel(mem="1MiB", memory_map="flat").mem == 1 << 20
    assert Kernel(mem="64M", memory_map="flat").mem == 64 << 20
    assert Kernel(mem=32 * 1024 * 1024, memory_map="flat").mem == 32 << 20


def test_mem_rejects_unreadable_sizes_with_a_precise_error():
    with pytest.raises(ValueError, match="cannot read '256 potatoes' as a memory size"):
        Kernel(mem="256 potatoes", memory_map="flat")
    with pytest.raises(TypeError, match="not float"):
        Kernel(mem=1.5e9, memory_map="flat")
    with pytest.raises(ValueError, match="outside what kmviz simulates"):
        Kernel(mem="512KiB", memory_map="flat")


def test_constructor_checks_its_other_arguments():
    with pytest.raises(ValueError, match="cpus must be between 1 and 256"):
        Kernel(cpus=0, memory_map="flat")
    with pytest.raises(TypeError, match="zone_dma must be True or False"):
        Kernel(zone_dma="yes", memory_map="flat")


def test_256mib_has_dma_and_dma32_but_no_normal_zone():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert [z.name for z in k.zones] == ["DMA", "DMA32"]
    dma, dma32 = k.zones
    # pfn 0 and 0x9f..0xff belong to the BIOS, so DMA starts at pfn 1 with 3998 pages
    assert (dma.start_pfn, dma.end_pfn, dma.present_pages) == (1, 4096, 3998)
    assert (dma32.start_pfn, dma32.end_pfn) == (4096, 65536)


def test_machines_above_4gib_have_a_normal_zone():
    k = Kernel(mem="5GiB", memory_map="flat")
    normal = k.zone("Normal")
    assert (normal.start_pfn, normal.end_pfn) == (1 << 20, 5 << 18)


def test_zone_dma_off_moves_low_memory_into_dma32():
    k = Kernel(mem="64MiB", zone_dma=False, boot_reserved=False, memory_map="flat")
    assert [(z.name, z.start_pfn, z.end_pfn) for z in k.zones] == [("DMA32", 0, 16384)]


def test_both_zone_configs_off_put_all_memory_in_normal():
    k = Kernel(mem="64MiB", zone_dma=False, zone_dma32=False, memory_map="flat")
    assert [z.name for z in k.zones] == ["Normal"]


def test_boot_reserved_false_hands_every_page_to_the_buddy_allocator():
    k = Kernel(mem="64MiB", boot_reserved=False, memory_map="flat")
    assert sum(z.managed_pages for z in k.zones) == (64 << 20) // PAGE_SIZE
    assert k.free_pages_count() == (64 << 20) // PAGE_SIZE


def test_boot_keeps_pfn0_the_bios_area_and_the_kernel_image():
    k = Kernel(mem="256MiB", memory_map="flat")
    state = k.buddy.state
    assert state[0] == HOLE  # e820: the BIOS keeps page 0
    assert all(state[pfn] == HOLE for pfn in range(0x9F, 0x100))  # EBDA, VGA, ROMs
    # reserve_real_mode(): 6.1 reserves the whole first 1 MiB; memblock keeps the image
    assert [(s, owner) for s, _, owner in k.memblock_reserved] == [
        (0, "first 1 MiB (real mode)"),
        (0x1000000, "kernel image"),
    ]
    assert all(state[pfn] == RESERVED for pfn in range(1, 0x9F))
    image_start, image_end, _ = k.memblock_reserved[1]
    assert all(state[pfn] == RESERVED for pfn in range(image_start >> 12, image_end >> 12))
    assert k.block_at(0x1000) == (0x1000, 0, "reserved")
    assert k.zone("DMA").managed_pages == 3840  # as /proc/zoneinfo shows on a real VM


def test_boot_log_reports_memory_like_linux():
    log = Kernel(mem="256MiB", memory_map="flat").dmesg()
    assert "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable" in log
    assert "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]" in log
    assert "  Normal   empty" in log
    assert "Built 1 zonelists, mobility grouping on.  Total pages:" in log
    assert "K reserved, 0K cma-reserved)" in log


def test_tiny_machines_turn_mobility_grouping_off():
    # build_all_zonelists(): fewer than pageblock_nr_pages * MIGRATE_TYPES pages
    k = Kernel(mem="8MiB", memory_map="flat")
    assert not k.mobility_grouping
    assert "mobility grouping off" in k.dmesg()


def test_min_free_kbytes_follows_int_sqrt_of_lowmem():
    k = Kernel(mem="256MiB", memory_map="flat")
    managed = sum(z.managed_pages for z in k.zones)
    assert k.min_free_kbytes == isqrt(managed * 4 * 16)


def test_watermarks_of_a_256mib_machine_match_the_kernel_formula():
    # min_free_kbytes 1921 -> pages_min 480, shared by managed pages (3840 : 53856);
    # each gap is max(min / 4, managed * 10 / 10000)
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.zone("DMA").watermark == [31, 38, 45, 52]
    assert k.zone("DMA32").watermark == [448, 560, 672, 784]


def test_lowmem_reserve_keeps_dma_from_dma32_requests():
    # lowmem_reserve[DMA32] of DMA = managed(DMA32) / 256 = 53856 / 256
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.zone("DMA").lowmem_reserve == [0, 210, 210, 210, 210]
    assert k.zone("DMA32").lowmem_reserve == [0, 0, 0, 0, 0]


def test_a_16gib_machine_boots():
    k = Kernel(mem="16GiB", memory_map="flat")
    assert k.zone("Normal").managed_pages == 3 << 20


def test_the_seed_fixes_everything_random_in_the_log():
    def report(seed):
        k = Kernel(mem="64MiB", seed=seed, memory_map="flat")
        addr = k.get_free_pages("GFP_KERNEL", 0)
        k.free_pages(addr, 0)
        k.free_pages(addr, 0)  # the report hashes the struct page pointer per boot
        return k.dmesg()

    assert report(1) == report(1)
    assert report(1) != report(2)


def test_tiny_machines_still_boot_with_movable_pageblocks():
    # memmap_init() (in setup_arch) runs before build_all_zonelists() turns grouping off
    k = Kernel(mem="8MiB", boot_reserved=False, memory_map="flat")
    assert k.pageblock_migratetype(0) == "Movable"
    k.alloc_pages("GFP_HIGHUSER_MOVABLE", 0)  # served as Unmovable, stealing the pageblock
    assert k.pageblock_migratetype(0) == "Unmovable"


def test_free_pages_in_names_a_zone():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.free_pages_in("DMA") == k.zone("DMA").free_pages == 3840
    with pytest.raises(KeyError, match="no zone 'Normal'"):
        k.free_pages_in("Normal")
