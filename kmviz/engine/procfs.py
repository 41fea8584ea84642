"""The /proc files of the simulated machine, as text byte for byte in Linux 6.1's formats.

One function per file, each naming the kernel function whose ``seq_printf`` calls it follows.
Only populated zones are printed (``walk_zones_in_node(…, assert_populated=true, …)``), and
node 0 is the only node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import (
    MAX_ORDER,
    MIGRATE_CMA,
    MIGRATE_TYPES,
    MIGRATETYPE_NAMES,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
)
from .fragmentation import extfrag_index_text, unusable_index_text
from .slab_geometry import SLAB_RECLAIM_ACCOUNT
from .zoneinfo import zoneinfo_text

if TYPE_CHECKING:
    from .kernel import Kernel

PAGETYPEINFO_CAP = 100000  # pagetypeinfo_showfree_print() stops counting a list here


def buddyinfo_line(zone: str, counts) -> str:
    """One /proc/buddyinfo line: ``"Node %d, zone %8s "``, then ``"%6lu "`` per order."""
    return f"Node 0, zone {zone:>8} " + "".join(f"{int(n):6d} " for n in counts) + "\n"


def buddyinfo(kernel: Kernel) -> str:
    """/proc/buddyinfo: free blocks per order and zone (frag_show_print(), mm/vmstat.c L1456)."""
    return "".join(buddyinfo_line(zone.name, zone.nr_free) for zone in kernel.zones)


def pagetypeinfo(kernel: Kernel) -> str:
    """/proc/pagetypeinfo: free blocks per order for each migratetype, then pageblocks per type.

    Mirrors pagetypeinfo_show() (mm/vmstat.c L1610): showfree counts each list (capped at
    100000 with a ">" mark), showblockcount walks the zone's pfns in pageblock steps.
    """
    buddy = kernel.buddy
    # migratetype_names[]: "CMA" exists only in a kernel built with CONFIG_CMA
    types = [mt for mt in range(MIGRATE_TYPES) if mt != MIGRATE_CMA or kernel.cma_configured]
    out = [
        f"Page block order: {PAGEBLOCK_ORDER}\n",
        f"Pages per block:  {PAGEBLOCK_NR_PAGES}\n",
        "\n",
        f"{'Free pages count per migrate type at order':<43} "
        + "".join(f"{order:6d} " for order in range(MAX_ORDER))
        + "\n",
    ]
    for zone in kernel.zones:
        for mt in types:
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
        + "".join(f"{MIGRATETYPE_NAMES[mt]:>12} " for mt in types)
        + "\n"
    )
    for zone in kernel.zones:
        counts = [0] * MIGRATE_TYPES
        for pfn in range(zone.start_pfn, zone.end_pfn, PAGEBLOCK_NR_PAGES):
            counts[buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]] += 1
        row = "".join(f"{counts[mt]:12d} " for mt in types)
        out.append(f"Node 0, zone {zone.name:>8} {row}\n")
    return "".join(out)


SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor>"
    " : slabdata <active_slabs> <num_slabs> <sharedavail>\n"
)


def slabinfo_line(name: str, active_objs: int, num_objs: int, objsize: int, objperslab: int,
                  pagesperslab: int, num_slabs: int) -> str:  # fmt: skip
    """One cache's /proc/slabinfo line (slabinfo_show(), mm/slab_common.c L1190)."""
    return (
        f"{name:<17} {active_objs:6d} {num_objs:6d} {objsize:6d} "
        f"{objperslab:4d} {pagesperslab:4d} : tunables {0:4d} {0:4d} {0:4d}"
        f" : slabdata {num_slabs:6d} {num_slabs:6d} {0:6d}\n"
    )


def slabinfo(kernel: Kernel) -> str:
    """/proc/slabinfo version 2.1, newest cache first (mm/slab_common.c L1166-1215).

    For SLUB the tunables are 0, active_slabs equals num_slabs, and active_objs counts every
    object except the free ones on partial lists (get_slabinfo(), mm/slub.c L6312), so the
    free slots of the active slab count as active.
    """
    out = [SLABINFO_HEADER]
    for cache in reversed(kernel.caches):
        free = sum(len(slab.freelist) for slab in cache.partial)
        out.append(
            slabinfo_line(cache.name, cache.num_objs - free, cache.num_objs, cache.size,
                          cache.objects, 1 << cache.order, len(cache.slabs))
        )  # fmt: skip
    return "".join(out)


def meminfo(kernel: Kernel) -> str:
    """/proc/meminfo as fs/proc/meminfo.c prints it (``%-16s%8lu kB``), for this machine.

    Modelled: MemTotal/MemFree, the page cache (Cached, Inactive(file)), user tasks'
    anonymous pages (AnonPages, Active(anon)), slab memory (SReclaimable for reclaimable
    caches, SUnreclaim for the rest and for large kmalloc), page tables of tasks; the lines
    for things not simulated (swap, hugetlb, writeback …) are 0.
    """
    kib = 4  # KiB per page
    managed = sum(z.managed_pages for z in kernel.zones)
    free = kernel.free_pages_count()
    cached = len(kernel.page_cache)
    anon = sum(t.rss for t in kernel.tasks)
    reclaimable = sum(c.pages for c in kernel.caches if c.flags & SLAB_RECLAIM_ACCOUNT)
    unreclaimable = sum(c.pages for c in kernel.caches if not c.flags & SLAB_RECLAIM_ACCOUNT)
    unreclaimable += sum(1 << order for _, order, _ in kernel.large_kmalloc.values())
    pagetables = sum(t.pgtables_bytes for t in kernel.tasks) // 4096
    low = sum(z.watermark[1] for z in kernel.zones)
    reserve = sum(z.watermark[2] + max(z.lowmem_reserve) for z in kernel.zones)
    available = max(0, free - reserve + cached - min(cached // 2, low))
    available += reclaimable - min(reclaimable // 2, low)
    gib = kernel.mem >> 30
    direct_4k = 2048 if kernel.mem >= 2 << 20 else kernel.mem >> 10
    direct_1g = max(0, gib - 1) << 20
    direct_2m = (kernel.mem >> 10) - direct_4k - direct_1g
    rows = [
        ("MemTotal", managed * kib),
        ("MemFree", free * kib),
        ("MemAvailable", max(available, 0) * kib),
        ("Buffers", 0),
        ("Cached", cached * kib),
        ("SwapCached", 0),
        ("Active", anon * kib),
        ("Inactive", cached * kib),
        ("Active(anon)", anon * kib),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", cached * kib),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Zswap", 0),  # CONFIG_ZSWAP (fs/proc/meminfo.c L90): no page is ever compressed here
        ("Zswapped", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", anon * kib),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", reclaimable * kib),
        ("Slab", (reclaimable + unreclaimable) * kib),
        ("SReclaimable", reclaimable * kib),
        ("SUnreclaim", unreclaimable * kib),
        ("KernelStack", 0),
        ("PageTables", pagetables * kib),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", managed * kib // 2),
        ("Committed_AS", anon * kib),
        ("VmallocTotal", 34359738367),
        ("VmallocUsed", kernel.nr_vmalloc_pages * kib),  # vmalloc_nr_pages(): vmap()'s not
        ("VmallocChunk", 0),
        ("Percpu", 0),
    ]
    out = [f"{label + ':':<16}{value:8d} kB\n" for label, value in rows]
    out.append(f"HardwareCorrupted: {0:5d} kB\n")
    for label in ("AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages",
                  "FilePmdMapped"):  # fmt: skip
        out.append(f"{label + ':':<16}{0:8d} kB\n")
    if kernel.cma_configured:  # #ifdef CONFIG_CMA (fs/proc/meminfo.c L153)
        out.append(f"{'CmaTotal:':<16}{kernel.cma_count * kib:8d} kB\n")
        out.append(f"{'CmaFree:':<16}{sum(z.free_cma for z in kernel.zones) * kib:8d} kB\n")
    for label in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"):
        out.append(f"{label + ':':<19}{0:5d}\n")
    out.append(f"{'Hugepagesize:':<16}{2048:8d} kB\n")
    out.append(f"{'Hugetlb:':<16}{0:8d} kB\n")
    out.append(f"{'DirectMap4k:':<16}{direct_4k:8d} kB\n")
    out.append(f"{'DirectMap2M:':<16}{direct_2m:8d} kB\n")
    # arch_report_meminfo() (arch/x86/mm/pat/set_memory.c L120) prints the 1 GiB line whenever
    # direct_gbpages is on, even at 0: CONFIG_X86_DIRECT_GBPAGES and a CPU with GBPAGES, as
    # QEMU's -cpu max of the captures has
    out.append(f"{'DirectMap1G:':<16}{direct_1g:8d} kB\n")
    return "".join(out)


def zoneinfo(kernel: Kernel) -> str:
    """/proc/zoneinfo (mm/vmstat.c zoneinfo_show_print()), see zoneinfo.py."""
    return zoneinfo_text(kernel.zone_stats(), cpus=kernel.cpus)


def unusable_index(kernel: Kernel) -> str:
    """/sys/kernel/debug/extfrag/unusable_index: per zone and order, see fragmentation.py."""
    return unusable_index_text(kernel.buddyinfo())


def extfrag_index(kernel: Kernel) -> str:
    """/sys/kernel/debug/extfrag/extfrag_index: per zone and order, see fragmentation.py."""
    return extfrag_index_text(kernel.buddyinfo())


FILES = {
    "/proc/buddyinfo": buddyinfo,
    "/proc/meminfo": meminfo,
    "/proc/pagetypeinfo": pagetypeinfo,
    "/proc/slabinfo": slabinfo,
    "/proc/vmallocinfo": lambda kernel: kernel.vmallocinfo(),
    "/proc/zoneinfo": zoneinfo,
    "/sys/kernel/debug/extfrag/unusable_index": unusable_index,
    "/sys/kernel/debug/extfrag/extfrag_index": extfrag_index,
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
