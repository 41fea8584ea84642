"""kmviz.real.pagetypeinfo(): per-migratetype free lists and pageblocks, 6.1, 6.18 and 2.6.32."""

from collections import Counter
from pathlib import Path

import pytest

from kmviz import __GFP_RECLAIMABLE, GFP_KERNEL, Kernel
from kmviz.engine.constants import PAGEBLOCK_NR_PAGES
from kmviz.real import THIS_MACHINE, ProcFormatError, buddyinfo, pagetypeinfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/pagetypeinfo").exists()
HEADER = (
    "Page block order: 9\nPages per block:  512\n\n"
    "Free pages count per migrate type at order       0      1      2 \n"
)


def worked_kernel() -> Kernel:
    k = Kernel("512MiB", seed=1, memory_map="flat")
    for order in range(12):
        k.get_free_pages(GFP_KERNEL, order % 4)
        k.get_free_pages(GFP_KERNEL | __GFP_RECLAIMABLE, order % 3)
    k.kmalloc(64, GFP_KERNEL)
    return k


def test_round_trip_free_lists_add_up_to_the_engines_buddyinfo():
    k = worked_kernel()
    parsed = pagetypeinfo(k.cat("/proc/pagetypeinfo"))
    for zone, free in k.buddyinfo().items():
        rows = [row for row in parsed if row.zone == zone]
        assert [row.migratetype for row in rows] == list(parsed.migratetypes)
        assert [sum(row.free[order] for row in rows) for order in range(11)] == free
    assert parsed.free("DMA32", "Reclaimable") != (0,) * 11


def test_round_trip_pageblocks_are_the_engines_pageblock_types():
    k = worked_kernel()
    parsed = pagetypeinfo(k.cat("/proc/pagetypeinfo"))
    assert (parsed.pageblock_order, parsed.pages_per_block) == (9, PAGEBLOCK_NR_PAGES)
    for row in parsed.blocks:
        zone = k.zone(row.zone)
        types = Counter(
            k.pageblock_migratetype(pfn)
            for pfn in range(zone.start_pfn, zone.end_pfn, PAGEBLOCK_NR_PAGES)
        )
        assert dict(row.counts) == {name: types[name] for name in parsed.migratetypes}


def test_captured_6_18_machine_has_no_cma_type():
    parsed = pagetypeinfo(DATA / "linux-6.18-vm" / "pagetypeinfo")
    assert parsed.migratetypes == ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")
    assert parsed.free("Normal", "HighAtomic") == (0,) * 11
    assert parsed.blocks[2].counts["Movable"] == 10334


def test_2_6_32_sample_has_reserve_and_adds_up_to_its_buddyinfo():
    folder = DATA / "linux-2.6.32-sample"
    parsed = pagetypeinfo(folder / "pagetypeinfo")
    assert parsed.migratetypes == ("Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate")
    for zone, free in buddyinfo(folder / "buddyinfo").free_by_zone().items():
        per_order = tuple(sum(row.free[o] for row in parsed if row.zone == zone) for o in range(11))
        assert per_order == free
    assert parsed.free("DMA32", "Reserve")[9] == 2


def test_a_capped_count_keeps_its_mark():
    text = HEADER + (
        "Node    0, zone   Normal, type    Unmovable      1 >100000      0 \n"
        "\nNumber of blocks type     Unmovable \n"
        "Node 0, zone   Normal          300 \n"
    )
    row = pagetypeinfo(text).rows[0]
    assert row.free == (1, 100000, 0) and row.capped == (False, True, False)
    assert "'>'" in pagetypeinfo(text).report()


def test_every_node_repeats_the_file_and_each_is_read():
    node = (
        "Node    {n}, zone   Normal, type    Unmovable      1      2      3 \n"
        "\nNumber of blocks type     Unmovable \n"
        "Node {n}, zone   Normal            7 \n"
    )
    parsed = pagetypeinfo(HEADER + node.format(n=0) + HEADER + node.format(n=1))
    assert [(row.node, row.free) for row in parsed] == [(0, (1, 2, 3)), (1, (1, 2, 3))]
    assert [row.node for row in parsed.blocks] == [0, 1]


def test_page_owner_mixed_blocks_are_skipped_and_counted():
    text = HEADER + (
        "Node    0, zone   Normal, type    Unmovable      1      2      3 \n"
        "\nNumber of blocks type     Unmovable \n"
        "Node 0, zone   Normal            7 \n"
        "\nNumber of mixed blocks    Unmovable \n"
        "Node 0, zone   Normal            2 \n"
    )
    parsed = pagetypeinfo(text)
    assert [skip.line for skip in parsed.skipped] == [10, 11]
    assert "skipped 2 line(s) from line 10" in parsed.report()


def test_a_file_without_its_pageblock_table_is_truncated():
    text = HEADER + "Node    0, zone   Normal, type    Unmovable      1      2      3 \n"
    with pytest.raises(ProcFormatError, match="line 6: truncated: no 'Number of blocks type'"):
        pagetypeinfo(text)


def test_a_row_with_too_few_counts_names_its_line():
    with pytest.raises(ProcFormatError, match="line 5: 2 counts under 3 orders"):
        pagetypeinfo(HEADER + "Node    0, zone   Normal, type    Unmovable      1      2 \n")


def test_a_garbage_line_names_its_line():
    with pytest.raises(ProcFormatError, match="line 2: not a line of /proc/pagetypeinfo"):
        pagetypeinfo("Page block order: 9\nPages per blob: 512\n")


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/pagetypeinfo")
def test_this_machine_is_read_live():
    try:
        parsed = pagetypeinfo(THIS_MACHINE)
    except PermissionError as error:
        assert "root" in str(error)
        return
    assert parsed.source == "/proc/pagetypeinfo"
    assert {row.zone for row in parsed.blocks} == {row.zone for row in buddyinfo(THIS_MACHINE)}
