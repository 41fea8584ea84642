"""Free blocks per zone, order and migratetype, as /proc/pagetypeinfo counts them, in a table.

Each order's free list in 6.1 is really one list per migratetype (``zone->free_area[order]
.free_list[MIGRATE_TYPES]``, include/linux/mmzone.h): /proc/buddyinfo adds them up, and
/proc/pagetypeinfo (``pagetypeinfo_showfree_print()``, mm/vmstat.c L1481) prints them apart,
then how many 2 MiB pageblocks each type owns (``pagetypeinfo_showblockcount_print()``, L1538).
The table shows those numbers from the kernel's own file, read when the view is made.

The counts are a snapshot, not a replay: unlike BuddyView it does not follow a Player back in
time (the timeline keeps free blocks per order, not per migratetype).  Make it in the cell
whose moment it should show, or call ``refresh()``.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
from traitlets import Int

from ..engine.constants import MAX_ORDER, MIGRATETYPE_NAMES, PAGE_SIZE
from ..real import pagetypeinfo
from . import theme

# Paul Tol's muted palette, one colour per migratetype of 6.1 (MIGRATETYPE_NAMES order)
MIGRATETYPE_COLOURS = dict(
    zip(
        MIGRATETYPE_NAMES,
        ("#CC6677", "#88CCEE", "#DDCC77", "#AA4499", "#44AA99", "#888888"),
        strict=True,
    )
)
ZERO_COLOUR = "#BBBBBB"  # a count of 0, printed light so the lists that hold blocks stand out


class PageTypes(widgets.VBox):
    """Per zone a table: free blocks per order on each migratetype's lists, pageblocks per type."""

    position = Int(0, help="Events in the kernel's history when the counts were read.")

    def __init__(self, source, **kwargs):
        """The free lists of ``source`` (a kernel, timeline or view) as they are now."""
        super().__init__(**kwargs)
        timeline = getattr(source, "timeline", source)  # a view's timeline, or the source
        self.kernel = getattr(timeline, "kernel", timeline)
        self.add_class("kmviz-pagetypes")
        self.table = widgets.HTML()
        self.table.add_class("kmviz-pagetypes-table")
        self.children = [self.table]
        self.refresh()

    def refresh(self) -> None:
        """Read /proc/pagetypeinfo again and show the kernel's free lists as they are now."""
        self.position = len(self.kernel.history)
        self.table.value = self.table_html()

    def table_html(self) -> str:
        """The tables: one row per zone and migratetype, one column per order, then pageblocks."""
        info = pagetypeinfo(self.kernel.cat("/proc/pagetypeinfo"))
        blocks = {row.zone: row.counts for row in info.blocks}
        header = "".join(f"<th>{order}</th>" for order in range(MAX_ORDER))
        parts = [
            f"<p><b>/proc/pagetypeinfo at event {self.position}</b>: free blocks per order on "
            "each migratetype's free lists (their sums are /proc/buddyinfo), and how many "
            f"pageblocks of {info.pages_per_block} pages "
            f"({info.pages_per_block * PAGE_SIZE >> 20} MiB) each type owns.</p>",
            '<table class="kmviz-pagetypes-grid" style="border-collapse:collapse;'
            'font-family:monospace;text-align:right">',
            f"<tr><th>zone</th><th>type</th>{header}<th>&nbsp;pages</th>"
            "<th>&nbsp;pageblocks</th></tr>",
        ]
        zone = None
        for row in info.rows:
            first = row.zone != zone  # the zone's name on its first row, a rule above it
            zone = row.zone
            rule = "border-top:1px solid #999;" if first else ""
            swatch = theme.swatch(MIGRATETYPE_COLOURS[row.migratetype], row.migratetype)
            counts = "".join(
                f'<td style="padding:0 4px;color:{ZERO_COLOUR if n == 0 else "inherit"}">'
                f"{'&gt;' if capped else ''}{n}</td>"
                for n, capped in zip(row.free, row.capped, strict=True)
            )
            pages = sum(n << order for order, n in enumerate(row.free))
            owned = blocks.get(row.zone, {}).get(row.migratetype, 0)
            parts.append(
                f'<tr style="{rule}"><td style="text-align:left">'
                f"{html.escape(row.zone) if first else ''}</td>"
                f'<td style="text-align:left">{swatch}</td>{counts}'
                f'<td style="padding-left:8px">{pages}</td><td>{owned}</td></tr>'
            )
        parts.append("</table>")
        return "".join(parts)
