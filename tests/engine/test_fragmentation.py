"""Tests of kmviz.engine.fragmentation against Linux 6.1 mm/vmstat.c.

Every expected number was worked out by hand from fill_contig_page_info() (L1048),
__fragmentation_index() (L1087), unusable_free_index() (L2126) and the seq_printf formats of
unusable_show_print() (L2144, "%d.%03d ") and extfrag_show_print() (L2194, "%2d.%03d "), with
C's rounded-down unsigned division.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmviz import Kernel
from kmviz.engine.constants import MAX_ORDER
from kmviz.engine.fragmentation import (
    contig_page_info,
    extfrag_index_text,
    format_index,
    fragmentation_index,
    unusable_free_index,
    unusable_index_text,
)

EMPTY = [0] * MAX_ORDER
ONE_MAX_BLOCK = [0] * 10 + [1]  # one free order-10 block: 1024 pages
SINGLES = [1024] + [0] * 10  # the same 1024 pages, all as order-0 blocks
SMALL = [2, 1] + [0] * 9  # two single pages and one pair: 4 pages in 3 blocks


def test_contig_page_info_counts_pages_blocks_and_splittable_blocks():
    # an order-10 block splits into 1 << (10 - 8) = 4 order-8 blocks
    assert contig_page_info(ONE_MAX_BLOCK, 8) == (1024, 1, 4)
    assert contig_page_info(ONE_MAX_BLOCK, 10) == (1024, 1, 1)
    # order 0: every page is suitable, 2 + (1 << 1) = 4
    assert contig_page_info(SMALL, 0) == (4, 3, 4)
    assert contig_page_info(SMALL, 1) == (4, 3, 1)
    assert contig_page_info(SMALL, 2) == (4, 3, 0)
    assert contig_page_info(EMPTY, 3) == (0, 0, 0)


def test_all_memory_in_order_0_blocks_is_unusable_above_order_0():
    assert unusable_free_index(SINGLES, 0) == 0
    # (1024 - 0) * 1000 / 1024
    assert [unusable_free_index(SINGLES, o) for o in range(1, MAX_ORDER)] == [1000] * 10
    assert format_index(unusable_free_index(SINGLES, 10)) == "1.000"


def test_all_memory_in_order_0_blocks_fails_by_fragmentation():
    assert fragmentation_index(SINGLES, 0) == -1000
    # 1000 - (1000 + 1024 * 1000 / 2) / 1024 = 1000 - 513000 / 1024 = 1000 - 500
    assert fragmentation_index(SINGLES, 1) == 500
    # 1000 - (1000 + 1024000 / 4) / 1024 = 1000 - 257000 / 1024 = 1000 - 250
    assert fragmentation_index(SINGLES, 2) == 750
    # 1000 - (1000 + 1024000 / 1024) / 1024 = 1000 - 2000 / 1024 = 1000 - 1: near 1
    assert fragmentation_index(SINGLES, 10) == 999
    assert format_index(fragmentation_index(SINGLES, 10)) == "0.999"


def test_one_max_order_block_is_never_fragmented():
    # (1024 - (1 << (10 - o)) << o) * 1000 / 1024 = 0 for every order
    assert [unusable_free_index(ONE_MAX_BLOCK, o) for o in range(MAX_ORDER)] == [0] * MAX_ORDER
    assert [fragmentation_index(ONE_MAX_BLOCK, o) for o in range(MAX_ORDER)] == [-1000] * 11
    assert format_index(unusable_free_index(ONE_MAX_BLOCK, 10)) == "0.000"
    assert format_index(fragmentation_index(ONE_MAX_BLOCK, 10)) == "-1.000"


def test_a_zone_without_free_memory():
    # no free pages: "all free memory is unusable"; no free blocks: index 0
    assert unusable_free_index(EMPTY, 0) == 1000
    assert fragmentation_index(EMPTY, 0) == 0


def test_the_small_worked_example():
    assert unusable_free_index(SMALL, 0) == 0
    assert unusable_free_index(SMALL, 1) == 500  # (4 - 1 * 2) * 1000 / 4
    assert unusable_free_index(SMALL, 2) == 1000  # (4 - 0) * 1000 / 4
    assert fragmentation_index(SMALL, 1) == -1000
    assert fragmentation_index(SMALL, 2) == 334  # 1000 - (1000 + 1000) / 3 = 1000 - 666
    assert fragmentation_index(SMALL, 3) == 500  # 1000 - (1000 + 500) / 3


def test_less_free_memory_than_one_request_goes_negative():
    # one free page asked about order 1: 1000 - (1000 + 1000 / 2) / 1 = -500 (int of the u64)
    assert fragmentation_index([1] + [0] * 10, 1) == -500
    assert format_index(-500) == "0.-500"  # C: -500 / 1000 = 0, -500 % 1000 = -500
    assert format_index(-500, width=2) == " 0.-500"


def test_orders_at_or_above_max_order():
    # __fragmentation_index() WARNs and answers 0; fill_contig_page_info() finds no block
    assert fragmentation_index(ONE_MAX_BLOCK, MAX_ORDER) == 0
    assert unusable_free_index(ONE_MAX_BLOCK, MAX_ORDER) == 1000


def test_bad_layouts_are_rejected():
    with pytest.raises(ValueError, match="11 counts"):
        contig_page_info([0] * 10, 0)
    with pytest.raises(ValueError, match="negative"):
        unusable_free_index([-1] + [0] * 10, 0)
    with pytest.raises(ValueError, match="negative"):
        fragmentation_index(SINGLES, -1)


def test_format_index_is_percent_d_dot_percent_03d():
    assert format_index(0) == "0.000"
    assert format_index(7) == "0.007"
    assert format_index(334) == "0.334"
    assert format_index(1000) == "1.000"
    assert format_index(-1000) == "-1.000"
    assert format_index(334, width=2) == " 0.334"
    assert format_index(-1000, width=2) == "-1.000"


def test_unusable_index_text_of_a_256mib_machine_is_exact():
    # DMA: 256 + 512 + 3 * 1024 = 3840 free pages.  Order 9: 1 + 3 * 2 = 7 suitable blocks,
    # (3840 - 3584) * 1000 / 3840 = 66; order 10: (3840 - 3072) * 1000 / 3840 = 200.
    # DMA32: 32 + 64 + 512 + 52 * 1024 = 53856.  Order 7: 4 + 52 * 8 = 420 blocks of 128,
    # 96 * 1000 / 53856 = 1; order 9: 1 + 104 = 105 blocks, 96000 / 53856 = 1;
    # order 10: (53856 - 53248) * 1000 / 53856 = 11.
    k = Kernel(mem="256MiB", memory_map="flat")
    assert unusable_index_text(k.buddyinfo()) == (
        "Node 0, zone      DMA 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.066"
        " 0.200 \n"
        "Node 0, zone    DMA32 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.001 0.001 0.001"
        " 0.011 \n"
    )
    # every order has a suitable block on a fresh machine
    assert extfrag_index_text(k.buddyinfo()) == "".join(
        f"Node 0, zone {name:>8} " + "-1.000 " * MAX_ORDER + "\n" for name in ("DMA", "DMA32")
    )


def test_extfrag_index_text_of_a_fragmented_zone():
    # SMALL: 4 pages in 3 blocks; order o >= 2 gives 1000 - (1000 + 4000 / 2^o) / 3:
    # o=3: 1000-1500/3=500, o=4: 1000-1250/3=584, o=5: 1000-1125/3=625, o=6: 1000-1062/3=646,
    # o=7: 1000-1031/3=657, o=8: 1000-1015/3=662, o=9: 1000-1007/3=665, o=10: 1000-1003/3=666
    assert extfrag_index_text([("Normal", SMALL)]) == (
        "Node 0, zone   Normal -1.000 -1.000  0.334  0.500  0.584  0.625  0.646  0.657  0.662"
        "  0.665  0.666 \n"
    )
    assert unusable_index_text([("Normal", SMALL)]) == (
        "Node 0, zone   Normal 0.000 0.500" + " 1.000" * 9 + " \n"
    )
    assert unusable_index_text([]) == ""


layouts = st.lists(st.integers(0, 5000), min_size=MAX_ORDER, max_size=MAX_ORDER)


@given(layouts, st.integers(0, MAX_ORDER - 1))
def test_indices_stay_in_their_ranges(nr_free, order):
    free_pages, total, suitable = contig_page_info(nr_free, order)
    unusable = unusable_free_index(nr_free, order)
    frag = fragmentation_index(nr_free, order)
    assert 0 <= unusable <= 1000
    if free_pages and suitable << order == free_pages:
        assert unusable == 0  # every free page sits in a suitable block
    # rounded down: 0 means fewer than one free page in a thousand is unusable
    assert (unusable == 0) == (0 <= (free_pages - (suitable << order)) * 1000 < free_pages)
    if total and suitable:
        assert frag == -1000
    elif total and free_pages >= 1 << order:
        # every block is at most half a request, so there are at least two blocks and
        # free_pages * 1000 / requested <= 500 * total: the index lies in [0, 1000)
        assert 0 <= frag < 1000
    elif not total:
        assert frag == 0
