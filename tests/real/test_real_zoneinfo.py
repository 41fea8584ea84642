"""kmviz.real.zoneinfo(): zones in pages, in the formats of 6.1, 6.18 and 2.6.32."""

from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.real import THIS_MACHINE, ProcFormatError, meminfo, zoneinfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/zoneinfo").exists()


def worked_kernel() -> Kernel:
    k = Kernel("1GiB", cpus=3, seed=2, memory_map="flat")
    k.fill_page_cache("8MiB")
    for order in range(8):
        k.get_free_pages(GFP_KERNEL, order)
    return k


def test_round_trip_gives_the_engines_zone_stats():
    k = worked_kernel()
    parsed = zoneinfo(k.cat("/proc/zoneinfo"))
    for stats in k.zone_stats():
        row = parsed.zone(stats["zone"])
        assert (row.free, row.min, row.low, row.high) == tuple(
            stats[key] for key in ("free", "min", "low", "high")
        )
        assert (row.present, row.managed, row.start_pfn) == (
            stats["present"], stats["managed"], stats["start_pfn"]
        )  # fmt: skip
        assert row.spanned == stats["end_pfn"] - stats["start_pfn"]
        assert row.protection == tuple(stats["lowmem_reserve"])
        assert row.stats["nr_free_pages"] == stats["free"]
        assert [pageset.cpu for pageset in row.pagesets] == [0, 1, 2]


def test_round_trip_lists_unpopulated_zones_without_start_pfn():
    parsed = zoneinfo(worked_kernel().cat("/proc/zoneinfo"))
    assert [(row.zone, row.populated) for row in parsed] == [
        ("DMA", True), ("DMA32", True), ("Normal", False), ("Movable", False), ("Device", False)
    ]  # fmt: skip
    assert parsed.zone("Normal").start_pfn is None and parsed.zone("Normal").pagesets == ()


def test_round_trip_node_stats_hold_the_page_cache():
    k = worked_kernel()
    parsed = zoneinfo(k.cat("/proc/zoneinfo"))
    assert parsed.node_stats[0]["nr_file_pages"] == len(k.page_cache) == 2048


def test_captured_6_18_machine_reads_its_newer_lines():
    parsed = zoneinfo(DATA / "linux-6.18-vm" / "zoneinfo")
    assert [row.zone for row in parsed] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    normal = parsed.zone("Normal")
    assert (normal.free, normal.min, normal.managed, normal.start_pfn) == (
        4346916, 14769, 5394266, 1048576
    )  # fmt: skip
    assert normal.fields["promo"] == 30951 and len(normal.protection) == 5
    assert normal.pagesets[1].count == 9663 and normal.pagesets[1].stat_threshold == 36
    assert parsed.node_stats[0]["nr_kernel_file_pages"] == 0


def test_captured_6_18_machine_skips_and_counts_the_per_cpu_high_min_max():
    parsed = zoneinfo(DATA / "linux-6.18-vm" / "zoneinfo")
    assert len(parsed.skipped) == 3 * 2 * 2  # 3 populated zones, 2 CPUs, high_min + high_max
    assert {skip.text.split(":")[0].strip() for skip in parsed.skipped} == {"high_min", "high_max"}


def test_captured_managed_pages_add_up_to_memtotal():
    folder = DATA / "linux-6.18-vm"
    managed = sum(row.managed for row in zoneinfo(folder / "zoneinfo"))
    assert managed * 4 == meminfo(folder / "meminfo")["MemTotal"]


def test_2_6_32_sample_has_scanned_and_no_managed():
    parsed = zoneinfo(DATA / "linux-2.6.32-sample" / "zoneinfo")
    dma32 = parsed.zone("DMA32")
    assert dma32.managed is None and dma32.fields["scanned"] == 0
    assert (dma32.fields["prev_priority"], dma32.fields["inactive_ratio"]) == (12, 3)
    assert dma32.stats["nr_free_pages"] == dma32.free == 334663
    assert parsed.zone("DMA").protection == (0, 2005, 2005, 2005)
    assert [p.count for p in dma32.pagesets] == [163, 54]
    assert parsed.node_stats == {}


def test_a_populated_zone_cut_before_start_pfn_is_truncated():
    lines = (DATA / "linux-6.18-vm" / "zoneinfo").read_text().split("\n")
    cut = lines.index("Node 0, zone    DMA32") - 3  # before node_unreclaimable and start_pfn
    with pytest.raises(
        ProcFormatError, match=r"truncated: zone DMA \(from line 1\) has no start_pfn"
    ):
        zoneinfo("\n".join(lines[:cut]) + "\n")


def test_a_zone_cut_before_its_watermarks_is_truncated():
    text = "Node 0, zone      DMA\n  pages free     3840\n        boost    0\n"
    with pytest.raises(ProcFormatError, match=r"line 3: truncated: zone DMA .* has no min, low"):
        zoneinfo(text)


def test_a_garbage_line_names_its_line():
    text = "Node 0, zone      DMA\n  pages free     3840\n  this is garbage\n"
    with pytest.raises(ProcFormatError, match="line 3: not a line of /proc/zoneinfo"):
        zoneinfo(text)


def test_a_counter_twice_in_a_zone_is_an_error():
    text = "Node 0, zone      DMA\n  pages free     3840\n        min      3\n        min      4\n"
    with pytest.raises(ProcFormatError, match="line 4: min twice in zone DMA"):
        zoneinfo(text)


def test_text_before_the_first_zone_is_an_error():
    with pytest.raises(ProcFormatError, match="line 1: expected 'Node N, zone NAME' first"):
        zoneinfo("  pages free     3840\n")


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/zoneinfo")
def test_this_machine_is_read_live():
    parsed = zoneinfo(THIS_MACHINE)
    assert parsed.source == "/proc/zoneinfo"
    assert all(row.free <= row.present for row in parsed)
    assert any(row.populated for row in parsed)
