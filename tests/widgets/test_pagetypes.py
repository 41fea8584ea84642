"""PageTypes shows the kernel's /proc/pagetypeinfo counts, per zone and migratetype, as read."""

import re

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.real import buddyinfo, pagetypeinfo
from kmviz.widgets import BuddyView, PageTypes


@pytest.fixture
def kernel():
    return Kernel("64MiB", seed=1, memory_map="flat")


def table_rows(view: PageTypes) -> dict[tuple[str, str], list[int]]:
    """(zone, migratetype) -> the numbers of its row: 11 free counts, pages, pageblocks."""
    rows, zone = {}, None
    for row in re.findall(r"<tr style=.*?</tr>", view.table.value):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td.*?</td>", row)]
        zone = cells[0] or zone
        rows[zone, cells[1]] = [int(cell.lstrip("&gt;")) for cell in cells[2:]]
    return rows


def test_rows_are_the_free_counts_the_kernel_prints(kernel):
    kernel.__get_free_pages(GFP_KERNEL, 2)
    info = pagetypeinfo(kernel.cat("/proc/pagetypeinfo"))
    rows = table_rows(PageTypes(kernel))
    assert {key: numbers[:11] for key, numbers in rows.items()} == {
        (row.zone, row.migratetype): list(row.free) for row in info.rows
    }


def test_pageblock_column_is_the_kernels_count_per_type(kernel):
    info = pagetypeinfo(kernel.cat("/proc/pagetypeinfo"))
    rows = table_rows(PageTypes(kernel))
    for block in info.blocks:
        for migratetype, count in block.counts.items():
            assert rows[block.zone, migratetype][12] == count


def test_a_zones_types_add_up_to_its_buddyinfo_line(kernel):
    kernel.kmalloc(100, GFP_KERNEL)
    rows = table_rows(PageTypes(kernel))
    for line in buddyinfo(kernel.cat("/proc/buddyinfo")).rows:
        sums = [sum(n[o] for (zone, _), n in rows.items() if zone == line.zone) for o in range(11)]
        assert sums == list(line.free)


def test_counts_stay_as_read_until_refresh(kernel):
    view = PageTypes(BuddyView(kernel))  # made from a view: the same kernel
    before, position = view.table.value, view.position
    kernel.__get_free_pages(GFP_KERNEL, 0)
    assert (view.table.value, view.position) == (before, position)
    view.refresh()
    assert view.position == len(kernel.history) > position
    assert view.table.value != before
