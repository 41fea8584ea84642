"""Does boot lay memory out, reserve it and set watermarks as Linux 6.1 does on QEMU's PC?

The numbers are the real kernel's (tests/real61: Debian's 6.1.192 in QEMU, i440FX, nokaslr).
"""

import re

import pytest

from kmviz.engine.constants import PAGE_SHIFT, PAGEBLOCK_NR_PAGES
from kmviz.engine.gfp import GFP_KERNEL
from kmviz.engine.invariants import check
from kmviz.engine.kernel import Kernel
from kmviz.engine.zones import Zone, recommended_min_free_kbytes, setup_per_zone_wmarks
from kmviz.real61 import CAPTURES

CAPTURED = {"256MiB": "256M-2cpu", "1GiB": "1G-2cpu", "4GiB": "4G-2cpu"}


def _real_lines(machine: str, pattern: str) -> list[str]:
    """The capture's boot-log lines matching ``pattern``, without timestamps."""
    text = (CAPTURES / machine / "dmesg.txt").read_text()
    lines = [re.sub(r"^\[ *\d+\.\d+\] ", "", line) for line in text.splitlines()]
    return [line for line in lines if re.match(pattern, line)]


def _zoneinfo(machine: str) -> dict[str, dict[str, int]]:
    """The capture's /proc/zoneinfo fields per populated zone."""
    zones: dict[str, dict[str, int]] = {}
    for line in (CAPTURES / machine / "zoneinfo").read_text().splitlines():
        if line.startswith("Node"):
            zone = zones.setdefault(line.split()[-1], {})
        elif (words := line.split()) and words[0] in ("min", "low", "high", "managed"):
            zone[words[0]] = int(words[1])
    return {name: fields for name, fields in zones.items() if fields.get("managed")}


@pytest.fixture(scope="module", params=list(CAPTURED))
def booted(request) -> tuple[Kernel, str]:
    return Kernel(request.param, cpus=2, memory_map="pc"), CAPTURED[request.param]


def test_e820_map_is_what_qemu_and_seabios_give(booted):
    k, machine = booted
    pattern = r"BIOS-e820: |(DMA|DMA32|Normal|Device) +(\[mem|empty)|  node +0: \[mem"
    assert _real_lines(machine, pattern) == [
        line.split("] ", 1)[1]
        for line in k.dmesg().splitlines()
        if re.match(pattern, line.split("] ", 1)[1])
    ]


def test_boot_log_says_which_memory_map_runs():
    assert 'kmviz: memory map "pc"' in Kernel("128MiB", memory_map="pc").dmesg()
    assert 'kmviz: memory map "flat"' in Kernel("16MiB", memory_map="flat").dmesg()


def test_the_default_machine_is_a_pc_booted_with_its_caches_and_vmalloc_areas():
    k = Kernel("256MiB")
    assert (k.memory_layout, k.boot_caches, k.boot_vmalloc) == ("pc", True, True)
    assert "dentry" in k.cat("/proc/slabinfo") and "irq_init_percpu_irqstack" in k.cat(
        "/proc/vmallocinfo"
    )


def test_the_flat_machine_starts_from_a_clean_slate():
    k = Kernel("256MiB", memory_map="flat")
    assert (k.boot_caches, k.boot_vmalloc) == (False, False)
    assert k.cat("/proc/vmallocinfo") == ""


def test_a_pc_too_small_for_debians_image_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"needs 128MiB.*memory_map='flat' boots smaller"):
        Kernel("64MiB")


def test_unknown_memory_map_is_refused():
    with pytest.raises(ValueError, match="memory_map must be one of"):
        Kernel("16MiB", memory_map="laptop")


def test_four_gib_pc_has_the_pci_hole_and_a_normal_zone():
    k = Kernel("4GiB", memory_map="pc")
    assert [(z.name, z.spanned_pages, z.present_pages) for z in k.zones] == [
        ("DMA", 4095, 3998), ("DMA32", 1044480, 782304), ("Normal", 262144, 262144)
    ]  # fmt: skip
    assert k.block_at(0xC0000) == (0xC0000, 0, "hole")  # 3 GiB: the PCI hole
    assert k.block_at(0xBFFE0) == (0xBFFE0, 0, "hole")  # SeaBIOS's tables below 3 GiB
    assert k.virt_to_page(k.kmalloc(64, GFP_KERNEL)).zone == "Normal"


def test_flat_layout_keeps_ram_in_one_piece_below_4_gib():
    k = Kernel("4GiB", memory_map="flat")
    assert [z.name for z in k.zones] == ["DMA", "DMA32"]
    assert k.memory.ram == ((1, 0x9F), (0x100, 1 << (32 - PAGE_SHIFT)))


def test_holes_hold_no_free_block_after_the_machine_is_filled():
    k = Kernel("4GiB", seed=1, memory_map="pc")
    blocks = []
    while (page := k.alloc_pages(GFP_KERNEL, 10)) is not None and len(blocks) < 400:
        blocks.append(page)
    check(k)
    assert all(not 0xBFFE0 <= page.pfn < 0x100000 for page in blocks)
    for page in blocks:
        k.free_pages_block(page, 10)
    check(k)


def test_managed_pages_and_memtotal_match_the_real_kernel(booted):
    k, machine = booted
    real = _zoneinfo(machine)
    for zone in k.zones:
        assert zone.managed_pages == pytest.approx(real[zone.name]["managed"], rel=0.001)
    memtotal = int(re.search(r"MemTotal: +(\d+)", (CAPTURES / machine / "meminfo").read_text())[1])
    assert sum(z.managed_pages for z in k.zones) * 4 == pytest.approx(memtotal, rel=0.001)


def test_one_gib_is_exact_down_to_the_page():
    k = Kernel("1GiB", cpus=2, memory_map="pc")
    assert k.zone("DMA32").managed_pages == 242034
    assert "Memory: 972568K/1048056K available" in k.dmesg()
    assert "75488K reserved" in k.dmesg()  # the real line: "… 75488K reserved, 0K cma-reserved)"


def test_struct_page_array_takes_2_mib_per_128_mib_section():
    k = Kernel("1GiB", boot=False, memory_map="pc")
    memmap = [(s, e) for s, e, what in k.memblock_reserved if what == "struct page array"]
    assert memmap == [(0x3EC00000, 0x3FC00000)]  # 8 sections * 32768 pages * 64 bytes = 16 MiB


def test_each_cpu_keeps_62_pages_of_per_cpu_area():
    reserved = {
        cpus: 1048056
        - sum(z.managed_pages for z in Kernel("1GiB", cpus=cpus, memory_map="pc").zones) * 4
        for cpus in (1, 2, 4)
    }
    # the captures' "Memory:" lines: 75240K, 75488K and 75984K reserved with 1, 2 and 4 CPUs
    assert (reserved[2] - reserved[1], reserved[4] - reserved[2]) == (248, 496)


def test_watermarks_and_min_free_kbytes_are_the_real_ones(booted):
    k, machine = booted
    for zone in k.zones:
        real = _zoneinfo(machine)[zone.name]
        assert zone.watermark[:3] == [real["min"], real["low"], real["high"]]
    sysctls = (CAPTURES / machine / "vm-sysctls.txt").read_text()
    assert f"min_free_kbytes {k.min_free_kbytes}\n" in sysctls


def test_transparent_huge_pages_raise_min_free_kbytes_from_512_mib():
    small, large = Kernel("256MiB", memory_map="pc"), Kernel("1GiB", memory_map="pc")
    assert not small.transparent_hugepage and small.min_free_kbytes == 1787  # int_sqrt() only
    assert large.transparent_hugepage and large.min_free_kbytes == 512 * 2 * (2 + 9) * 4


def test_recommended_min_free_kbytes_stays_under_5_percent_of_lowmem():
    zone = Zone(1, 0, 40000, 40000)
    zone.managed_pages = 40000
    setup_per_zone_wmarks([zone], 800)
    free = 40000 - zone.watermark[2]
    assert recommended_min_free_kbytes([zone], 800) == free // 20 * 4
    assert free // 20 < PAGEBLOCK_NR_PAGES * 11
    assert recommended_min_free_kbytes([zone], 1 << 20) == 1 << 20  # never lowered


def test_lowmem_reserve_comes_from_managed_pages_with_a_device_zone():
    k = Kernel("4GiB", memory_map="pc")
    assert [z.lowmem_reserve for z in k.zones] == [
        [0, 2937, 3889, 3889, 3889], [0, 0, 952, 952, 952], [0, 0, 0, 0, 0]
    ]  # fmt: skip


def test_boot_frees_init_memory_after_the_watermarks_are_set():
    log = Kernel("1GiB", memory_map="pc").dmesg()
    for line in _real_lines("1G-2cpu", r"Freeing "):
        assert line in log
