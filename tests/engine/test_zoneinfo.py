"""Tests of kmviz.engine.zoneinfo against zoneinfo_show_print() of Linux 6.1 (mm/vmstat.c L1660).

The expected text follows the seq_printf formats line by line: "Node %d, zone %8s", the
per-node stats once (first populated zone), "\\n      %-12s %lu" per counter, the protection
line over all four lowmem_reserve entries, the short form of unpopulated zones, and a
pagesets entry per online CPU with calculate_normal_threshold() (L222) worked by hand.
"""

import pytest

from kmviz import Kernel
from kmviz.engine.zoneinfo import (
    NODE_STAT_NAMES,
    NUMA_STAT_NAMES,
    ZONE_STAT_NAMES,
    calculate_normal_threshold,
    zoneinfo_text,
)

DMA = {
    "zone": "DMA",
    "start_pfn": 1,
    "end_pfn": 4096,
    "present": 3998,
    "managed": 3840,
    "free": 3000,
    "min": 31,
    "low": 38,
    "high": 45,
    "lowmem_reserve": [0, 210, 210, 210],
    "nr_free": [0] * 11,
    "page_cache": 5,
}
DMA32 = {
    "zone": "DMA32",
    "start_pfn": 4096,
    "end_pfn": 65536,
    "present": 61440,
    "managed": 53856,
    "free": 50000,
    "min": 448,
    "low": 560,
    "high": 672,
    "lowmem_reserve": [0, 0, 0, 0],
    "nr_free": [0] * 11,
    "page_cache": 20,
}


def unpopulated(name):
    return (
        f"Node 0, zone {name:>8}\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      0\n"
        "        low      0\n"
        "        high     0\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n"
    )


def test_two_zone_machine_starts_with_the_node_header_and_per_node_stats():
    lines = zoneinfo_text([DMA, DMA32], cpus=1).split("\n")
    assert lines[:5] == [
        "Node 0, zone      DMA",
        "  per-node stats",
        "      nr_inactive_anon 0",
        "      nr_active_anon 0",
        "      nr_inactive_file 25",  # 5 + 20 cached pages
    ]
    assert "      nr_mapped    0" in lines  # %-12s pads short names
    assert "      nr_file_pages 25" in lines
    assert lines.count("  per-node stats") == 1
    after = 2 + len(NODE_STAT_NAMES)
    assert lines[after : after + 11] == [
        "  pages free     3000",
        "        boost    0",
        "        min      31",
        "        low      38",
        "        high     45",
        "        spanned  4095",  # 4096 - 1
        "        present  3998",
        "        managed  3840",
        "        cma      0",
        "        protection: (0, 210, 210, 210, 210)",
        "      nr_free_pages 3000",
    ]


def test_the_dma32_section_is_exact():
    text = zoneinfo_text([DMA, DMA32], cpus=2)
    start = text.index("Node 0, zone    DMA32")
    end = text.index("Node 0, zone   Normal")
    # 53856 managed pages >> 15 = 1 (fls 1); 2 CPUs (fls 2): 2 * 2 * (1 + 1) = 8
    pageset = (
        "              count: 0\n"
        "              high:  0\n"
        "              batch: 1\n"
        "  vm stats threshold: 8\n"
    )
    assert text[start:end] == (
        "Node 0, zone    DMA32\n"
        "  pages free     50000\n"
        "        boost    0\n"
        "        min      448\n"
        "        low      560\n"
        "        high     672\n"
        "        spanned  61440\n"
        "        present  61440\n"
        "        managed  53856\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0, 0)\n"
        "      nr_free_pages 50000\n"
        "      nr_zone_inactive_anon 0\n"
        "      nr_zone_active_anon 0\n"
        "      nr_zone_inactive_file 20\n"
        "      nr_zone_active_file 0\n"
        "      nr_zone_unevictable 0\n"
        "      nr_zone_write_pending 0\n"
        "      nr_mlock     0\n"
        "      nr_bounce    0\n"
        "      nr_zspages   0\n"
        "      nr_free_cma  0\n"
        "      numa_hit     0\n"
        "      numa_miss    0\n"
        "      numa_foreign 0\n"
        "      numa_interleave 0\n"
        "      numa_local   0\n"
        "      numa_other   0\n"
        "  pagesets\n"
        "    cpu: 0\n" + pageset + "    cpu: 1\n" + pageset + "  node_unreclaimable:  0\n"
        "  start_pfn:           4096\n"
    )


def test_every_zone_is_printed_and_unpopulated_ones_are_short():
    text = zoneinfo_text([DMA, DMA32], cpus=1)
    assert [line for line in text.split("\n") if line.startswith("Node")] == [
        "Node 0, zone      DMA",
        "Node 0, zone    DMA32",
        "Node 0, zone   Normal",
        "Node 0, zone  Movable",
        "Node 0, zone   Device",
    ]
    assert text.endswith(unpopulated("Normal") + unpopulated("Movable") + unpopulated("Device"))


def test_per_node_stats_go_with_the_first_populated_zone():
    # without DMA, the unpopulated DMA comes first in its short form, and DMA32 carries them
    text = zoneinfo_text([DMA32], cpus=1)
    assert text.startswith(unpopulated("DMA") + "Node 0, zone    DMA32\n  per-node stats\n")
    assert "      nr_inactive_file 20\n" in text


def test_optional_counters_and_overrides():
    zone = dict(
        DMA32,
        boost=7,
        cma=3,
        vm_stats={"nr_mlock": 2},
        numa_stats={"numa_hit": 9},
        pageset=(5, 6, 4),
        stat_threshold=12,
    )
    text = zoneinfo_text([zone], cpus=1, node_stats={"nr_dirty": 4}, node_unreclaimable=True)
    for line in (
        "        boost    7\n",
        "        cma      3\n",
        "      nr_mlock     2\n",
        "      numa_hit     9\n",
        "      nr_dirty     4\n",
        "              count: 5\n              high:  6\n              batch: 4\n",
        "  vm stats threshold: 12\n",
        "  node_unreclaimable:  1\n",
    ):
        assert line in text


def test_counter_lists_follow_vmstat_text():
    assert len(ZONE_STAT_NAMES) == 11  # with nr_zspages (CONFIG_ZSMALLOC)
    assert len(NUMA_STAT_NAMES) == 6
    assert len(NODE_STAT_NAMES) == 43  # with nr_swapcached and pgpromote_*
    assert NODE_STAT_NAMES[-3:] == ("nr_swapcached", "pgpromote_success", "pgpromote_candidate")


def test_calculate_normal_threshold():
    assert calculate_normal_threshold(3840, 2) == 4  # mem 0: 2 * 2 * (1 + 0)
    assert calculate_normal_threshold(53856, 2) == 8  # mem 1: 2 * 2 * (1 + 1)
    # 1.5 GiB = 393216 pages, mem 12 (fls 4): the kernel's sample "20, 2 CPUs, 1-2 GB"
    assert calculate_normal_threshold(393216, 2) == 20
    assert calculate_normal_threshold(393216, 1) == 10
    # 1024 CPUs (fls 11), 16 GiB (mem 128, fls 8): 2 * 11 * 9 = 198, capped
    assert calculate_normal_threshold(4 << 20, 1024) == 125


def test_a_real_256mib_machine():
    text = zoneinfo_text(Kernel(mem="256MiB", memory_map="flat").zone_stats())
    lines = text.split("\n")
    assert lines[0] == "Node 0, zone      DMA"
    assert "        protection: (0, 210, 210, 210, 210)" in lines
    assert "  start_pfn:           1" in lines  # pfn 0 is firmware's
    assert "  start_pfn:           4096" in lines
    assert text.count("    cpu: ") == 4  # 2 CPUs x 2 populated zones


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="unknown zone"):
        zoneinfo_text([dict(DMA, zone="HighMem")])
    with pytest.raises(ValueError, match="CPU"):
        zoneinfo_text([DMA], cpus=0)
