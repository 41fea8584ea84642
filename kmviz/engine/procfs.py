"""The /proc files of the simulated machine, as text byte for byte in Linux 6.1's formats.

One function per file, each naming the kernel function whose ``seq_printf`` calls it follows.
Only populated zones are printed (``walk_zones_in_node(…, assert_populated=true, …)``), and
node 0 is the only node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import (
    MAX_ORDER,
    MIGRATE_TYPES,
    MIGRATETYPE_NAMES,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
)

if TYPE_CHECKING:
    from .kernel import Kernel

PAGETYPEINFO_CAP = 100000  # pagetypeinfo_showfree_print() stops counting a list here


def buddyinfo(kernel: Kernel) -> str:
    """/proc/buddyinfo: free blocks per order and zone (frag_show_print(), mm/vmstat.c L1456)."""
    out = []
    for zone in kernel.zones:
        counts = "".join(f"{n:6d} " for n in zone.nr_free)
        out.append(f"Node 0, zone {zone.name:>8} {counts}\n")
    return "".join(out)


def pagetypeinfo(kernel: Kernel) -> str:
    """/proc/pagetypeinfo: free blocks per order for each migratetype, then pageblocks per type.

    Mirrors pagetypeinfo_show() (mm/vmstat.c L1610): showfree counts each list (capped at
    100000 with a ">" mark), showblockcount walks the zone's pfns in pageblock steps.
    """
    buddy = kernel.buddy
    out = [
        f"Page block order: {PAGEBLOCK_ORDER}\n",
        f"Pages per block:  {PAGEBLOCK_NR_PAGES}\n",
        "\n",
        f"{'Free pages count per migrate type at order':<43} "
        + "".join(f"{order:6d} " for order in range(MAX_ORDER))
        + "\n",
    ]
    for zone in kernel.zones:
        for mt in range(MIGRATE_TYPES):
            row = f"Node {0:4d}, zone {zone.name:>8}, type {MIGRATETYPE_NAMES[mt]:>12} "
            for order in range(MAX_ORDER):
                count = 0
                for _ in buddy.free_list(zone, order, mt):
                    count += 1
                    if count >= PAGETYPEINFO_CAP:
                        break
                row += f"{'>' if count >= PAGETYPEINFO_CAP else ''}{count:6d} "
            out.append(row + "\n")
    out.append(
        f"\n{'Number of blocks type ':<23}"
        + "".join(f"{name:>12} " for name in MIGRATETYPE_NAMES)
        + "\n"
    )
    for zone in kernel.zones:
        counts = [0] * MIGRATE_TYPES
        for pfn in range(zone.start_pfn, zone.end_pfn, PAGEBLOCK_NR_PAGES):
            counts[buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]] += 1
        out.append(f"Node 0, zone {zone.name:>8} " + "".join(f"{n:12d} " for n in counts) + "\n")
    return "".join(out)


FILES = {
    "/proc/buddyinfo": buddyinfo,
    "/proc/pagetypeinfo": pagetypeinfo,
}


def render(kernel: Kernel, path: str) -> str:
    """The text of ``path``; a path this machine does not simulate raises FileNotFoundError."""
    if not isinstance(path, str):
        raise TypeError(f"cat() takes a path (str), not {type(path).__name__}")
    render_file = FILES.get(path.rstrip("/") if path != "/" else path)
    if render_file is None:
        known = ", ".join(sorted(FILES))
        raise FileNotFoundError(f"cat: {path}: No such file in kmviz's /proc (it has {known})")
    return render_file(kernel)
