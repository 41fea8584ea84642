"""Fragmentation indices of a zone's free blocks, in thousandths (0..1000, -1000 = "would succeed").

A zone can have plenty of free memory and still fail an order-9 request: if every free page
sits in a small block, no 512 contiguous pages are free.  Linux 6.1 measures this with two
numbers per order, both computed from ``free_area[order].nr_free`` alone (the blocks per order
that /proc/buddyinfo prints) and both kept as integers in thousandths:

* the **unusable free space index** (``unusable_free_index()``, mm/vmstat.c L2126): the share
  of free pages that sit in blocks too small for the order.  0 means every free page could
  serve the request, 1000 means none could.
* the **fragmentation index** (``__fragmentation_index()``, mm/vmstat.c L1087): only
  meaningful when the request would fail.  Near 0 the failure is a *lack of memory* (few free
  pages: reclaim is the cure), near 1000 it is *fragmentation* (many small free blocks:
  compaction is the cure).  When a suitable block exists the kernel answers -1000.
  compaction_suitable() (mm/compaction.c L2219) skips compaction for costly orders (> 3)
  whose index is between 0 and ``vm.extfrag_threshold`` (500).

Worked example, ``nr_free = [2, 1, 0, …, 0]`` (two free single pages and one free pair):
free_pages = 2·1 + 1·2 = 4, free_blocks_total = 3.  For order 2 (4 pages) no block is big
enough, so free_blocks_suitable = 0; the unusable index is (4 - 0·4)·1000 / 4 = 1000
("1.000"), and the fragmentation index is 1000 - (1000 + 4·1000/4) / 3 = 1000 - 2000/3
= 1000 - 666 = 334 ("0.334", integer division throughout).  For order 1 the pair is
suitable: unusable = (4 - 1·2)·1000 / 4 = 500 ("0.500"), fragmentation = -1000 ("-1.000").

The debugfs files /sys/kernel/debug/extfrag/unusable_index and extfrag_index
(CONFIG_DEBUG_FS and CONFIG_COMPACTION) print these for every populated zone of node 0;
``unusable_index_text()`` and ``extfrag_index_text()`` render them byte for byte.  Line
numbers are those of the 6.1.192 tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .constants import MAX_ORDER


def _check(nr_free: Sequence[int], order: int) -> None:
    """Reject what no zone can hold: a wrong number of orders, negative counts or orders."""
    if len(nr_free) != MAX_ORDER:
        raise ValueError(f"nr_free needs {MAX_ORDER} counts (orders 0..{MAX_ORDER - 1})")
    if any(n < 0 for n in nr_free):
        raise ValueError("nr_free counts are numbers of free blocks, never negative")
    if order < 0:
        raise ValueError(f"order {order} is negative")


def contig_page_info(nr_free: Sequence[int], order: int) -> tuple[int, int, int]:
    """``(free_pages, free_blocks_total, free_blocks_suitable)``: pages, blocks, fitting blocks.

    Mirrors fill_contig_page_info() (mm/vmstat.c L1048): for every order ``o`` it adds the
    ``nr_free[o]`` blocks to the block total and their ``nr_free[o] << o`` pages to the page
    total; a block of order ``o >= order`` counts as ``1 << (o - order)`` suitable blocks,
    since it can be split into that many blocks of the requested size.  One free order-10
    block asked about order 8 gives ``(1024, 1, 4)``.
    """
    _check(nr_free, order)
    free_pages = free_blocks_total = free_blocks_suitable = 0
    for o, blocks in enumerate(nr_free):
        free_blocks_total += blocks
        free_pages += blocks << o
        if o >= order:
            free_blocks_suitable += blocks << (o - order)
    return free_pages, free_blocks_total, free_blocks_suitable


def unusable_free_index(nr_free: Sequence[int], order: int) -> int:
    """The share of free pages too scattered for an order-``order`` block, in thousandths.

    Mirrors unusable_free_index() (mm/vmstat.c L2126): with no free page at all it is 1000
    ("all free memory is unusable"); otherwise
    ``(free_pages - (free_blocks_suitable << order)) * 1000 / free_pages``, rounded down
    (div_u64).  A zone whose 1024 free pages are all single pages has, for order 10,
    (1024 - 0) * 1000 / 1024 = 1000; one free order-10 block gives (1024 - 1024) * 1000 /
    1024 = 0 for every order.
    """
    free_pages, _, suitable = contig_page_info(nr_free, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def fragmentation_index(nr_free: Sequence[int], order: int) -> int:
    """Why an order-``order`` request fails, in thousandths: 0 lack of memory, 1000 fragmented.

    Mirrors fragmentation_index() and __fragmentation_index() (mm/vmstat.c L1129, L1087):

    * an order at or above MAX_ORDER (11) is 0 (the kernel also WARNs once);
    * no free block at all is 0;
    * any suitable block means the request would succeed: -1000;
    * otherwise ``1000 - (1000 + free_pages * 1000 / requested) / free_blocks_total`` with
      ``requested = 1 << order`` and both divisions rounded down (div_u64).

    1024 free single pages asked about order 10: 1000 - (1000 + 1024000 / 1024) / 1024 =
    1000 - 2000 / 1024 = 1000 - 1 = 999, almost pure fragmentation.  One free single page
    asked about order 1: 1000 - (1000 + 1000 / 2) / 1 = 1000 - 1500 = -500, a value the
    formula yields when there is less free memory than one request (the blocks are too few
    rather than too small); it is negative but not -1000.
    """
    free_pages, total, suitable = contig_page_info(nr_free, order)
    if order >= MAX_ORDER:
        return 0
    if not total:
        return 0
    if suitable:
        return -1000
    requested = 1 << order
    return 1000 - (1000 + free_pages * 1000 // requested) // total


def format_index(value: int, width: int = 0) -> str:
    """An index in thousandths as the kernel prints it: ``"%d.%03d"`` of value / 1000, value % 1000.

    C divides toward zero, so -1000 prints as "-1.000" and 334 as "0.334"; a value between
    -1000 and 0 such as -500 keeps its sign in the remainder, "0.-500", exactly as C's
    ``%d.%03d`` does.  ``width`` is the field width of the integer part: 0 for
    unusable_show_print() (``%d``), 2 for extfrag_show_print() (``%2d``, " 0.334", "-1.000").
    """
    whole = abs(value) // 1000 * (1 if value >= 0 else -1)
    rest = value - whole * 1000
    return f"{whole:{width}d}.{rest:03d}"


def _rows(rows: Iterable[tuple[str, Sequence[int]]] | Mapping[str, Sequence[int]]):
    """(zone name, nr_free) pairs from a list of pairs or a ``{name: nr_free}`` mapping."""
    return rows.items() if isinstance(rows, Mapping) else rows


def unusable_index_text(
    rows: Iterable[tuple[str, Sequence[int]]] | Mapping[str, Sequence[int]],
) -> str:
    """/sys/kernel/debug/extfrag/unusable_index for node 0: one line per zone, orders 0..10.

    Mirrors unusable_show_print() (mm/vmstat.c L2144): ``"Node %d, zone %8s "`` then
    ``"%d.%03d "`` per order and a newline.  The kernel walks only populated zones
    (walk_zones_in_node(…, assert_populated=true, …)) and prints nothing for a node without
    memory, so pass the populated zones, e.g. ``Kernel.buddyinfo()``; no rows give "".
    """
    out = []
    for name, nr_free in _rows(rows):
        cells = "".join(
            format_index(unusable_free_index(nr_free, order)) + " " for order in range(MAX_ORDER)
        )
        out.append(f"Node 0, zone {name:>8} {cells}\n")
    return "".join(out)


def extfrag_index_text(
    rows: Iterable[tuple[str, Sequence[int]]] | Mapping[str, Sequence[int]],
) -> str:
    """/sys/kernel/debug/extfrag/extfrag_index for node 0: one line per zone, orders 0..10.

    Mirrors extfrag_show_print() (mm/vmstat.c L2194): ``"Node %d, zone %8s "`` then
    ``"%2d.%03d "`` per order (note the width 2, unlike unusable_index, so 0.334 prints as
    " 0.334" and -1000 as "-1.000") and a newline, for the populated zones only.
    """
    out = []
    for name, nr_free in _rows(rows):
        cells = "".join(
            format_index(fragmentation_index(nr_free, order), width=2) + " "
            for order in range(MAX_ORDER)
        )
        out.append(f"Node 0, zone {name:>8} {cells}\n")
    return "".join(out)
