"""/proc/zoneinfo of node 0 as text, byte for byte in Linux 6.1's format; counts are pages.

/proc/zoneinfo is the long form of what /proc/buddyinfo summarises: for every zone of the
node, its free pages, its watermarks (min, low, high), its size three ways (spanned: the pfn
range including holes; present: RAM in that range; managed: what the buddy allocator got after
boot reservations), the lowmem reserves ("protection"), its vmstat counters and its per-CPU
page lists.  zoneinfo_show() (mm/vmstat.c L1755) walks *all* MAX_NR_ZONES zones, populated or
not ("userspace would not be aware of such zones if they are suppressed"), so a 256 MiB machine
still shows an empty Normal, Movable and Device zone.

How to read the protection line: on a 256 MiB machine zone DMA shows low 42 and
``protection: (0, 179, 179, 179, 179)``.  A GFP_KERNEL request may use Normal and below
(highest zone index 2); falling back to DMA, the fast path's low-watermark check passes only
while DMA's free pages exceed low + lowmem_reserve[2] = 42 + 179 = 221 (__zone_watermark_ok(),
mm/page_alloc.c L4029: ``free_pages <= min + z->lowmem_reserve[highest_zoneidx]`` fails).

The configuration assumed is a distribution x86-64 kernel: CONFIG_NUMA=y (the six numa_*
event lines per zone), CONFIG_SMP=y (the "vm stats threshold" lines), CONFIG_ZSMALLOC=m
(nr_zspages), CONFIG_SWAP=y (nr_swapcached), CONFIG_NUMA_BALANCING=y (pgpromote_*), no
CONFIG_SHADOW_CALL_STACK (arm64 only), and CONFIG_ZONE_DEVICE (constants.ZONE_NAMES: five
zones, Device never populated), so ``protection`` has five entries.  Line numbers are those
of the 6.1.192 tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .constants import MAX_NR_ZONES, PAGE_SHIFT, ZONE_NAMES

# vmstat_text[] (mm/vmstat.c L1168), split the way zone_stat_name(), numa_stat_name() and
# node_stat_name() index it.
ZONE_STAT_NAMES = (  # enum zone_stat_item (include/linux/mmzone.h L138)
    "nr_free_pages",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_bounce",
    "nr_zspages",  # CONFIG_ZSMALLOC
    "nr_free_cma",
)
NUMA_STAT_NAMES = (  # enum numa_stat_item (mmzone.h L125), CONFIG_NUMA
    "numa_hit",
    "numa_miss",
    "numa_foreign",
    "numa_interleave",
    "numa_local",
    "numa_other",
)
NODE_STAT_NAMES = (  # enum node_stat_item (mmzone.h L157)
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_swapcached",  # CONFIG_SWAP
    "pgpromote_success",  # CONFIG_NUMA_BALANCING
    "pgpromote_candidate",
)

# The per-CPU page list values of a boot pageset (mm/page_alloc.c L6690-6691), what
# zone_pcp_init() (L7295) gives a zone before setup_zone_pageset() sizes its lists: no pages
# cached, high 0, batch 1; a zone dict without its own pagesets prints these.
BOOT_PAGESET_COUNT = 0
BOOT_PAGESET_HIGH = 0
BOOT_PAGESET_BATCH = 1
STAT_THRESHOLD_MAX = 125  # calculate_normal_threshold()'s cap (mm/vmstat.c L264)


def calculate_normal_threshold(managed: int, cpus: int) -> int:
    """The per-CPU vmstat drift a zone tolerates before folding its counters, in pages.

    Mirrors calculate_normal_threshold() (mm/vmstat.c L222), which refresh_zone_stat_thresholds()
    (L272) sets for every online CPU of a populated zone: ``mem`` is the zone's managed memory
    in 128 MiB units, ``2 * fls(cpus) * (1 + fls(mem))``, at most 125.  A 256 MiB machine's
    DMA32 zone (53856 managed pages → mem = 53856 >> 15 = 1, fls 1) on 2 CPUs (fls 2):
    2 * 2 * (1 + 1) = 8.  Its DMA zone (3840 pages → mem 0, fls 0): 2 * 2 * 1 = 4.
    """
    mem = managed >> (27 - PAGE_SHIFT)
    return min(STAT_THRESHOLD_MAX, 2 * cpus.bit_length() * (1 + mem.bit_length()))


def _empty_zone(idx: int) -> dict:
    """A zone the machine does not populate: no pages, zero watermarks and reserves."""
    return {
        "zone": ZONE_NAMES[idx],
        "start_pfn": 0,
        "end_pfn": 0,
        "present": 0,
        "managed": 0,
        "free": 0,
        "min": 0,
        "low": 0,
        "high": 0,
        "lowmem_reserve": [0] * MAX_NR_ZONES,
        "page_cache": 0,
    }


def _zone_stats(zone: Mapping) -> list[int]:
    """The vm_zone_stat values printed for ``zone``, in ZONE_STAT_NAMES order, in pages.

    Modelled: nr_free_pages (``free``) and nr_zone_inactive_file (``page_cache``: kmviz keeps
    clean file pages on the inactive file LRU).  The rest are 0 unless the dict's optional
    ``vm_stats`` mapping names them.
    """
    values = dict.fromkeys(ZONE_STAT_NAMES, 0)
    values["nr_free_pages"] = zone["free"]
    values["nr_zone_inactive_file"] = zone.get("page_cache", 0)
    values.update(zone.get("vm_stats", {}))
    return [values[name] for name in ZONE_STAT_NAMES]


def _node_stats(zones: Sequence[Mapping], overrides: Mapping[str, int]) -> list[int]:
    """The node_stat values of node 0, in NODE_STAT_NAMES order, in pages.

    The page cache is summed over the zones into nr_inactive_file and nr_file_pages (which
    /proc/meminfo's Cached line derives from); everything else is 0 unless ``overrides``
    names it (values already in the printed unit: THP counts in huge pages, nr_kernel_stack
    in KiB, as node_page_state_pages() and vmstat_item_print_in_thp() would leave them).
    """
    cache = sum(zone.get("page_cache", 0) for zone in zones)
    values = dict.fromkeys(NODE_STAT_NAMES, 0)
    values["nr_inactive_file"] = cache
    values["nr_file_pages"] = cache
    values.update(overrides)
    return [values[name] for name in NODE_STAT_NAMES]


def _stat_lines(names: Sequence[str], values: Sequence[int]) -> str:
    """``"\\n      %-12s %lu"`` per counter, as zoneinfo_show_print() prints every stat."""
    return "".join(f"\n      {name:<12} {value}" for name, value in zip(names, values, strict=True))


def zoneinfo_text(
    zones: Sequence[Mapping],
    cpus: int = 2,
    node_stats: Mapping[str, int] | None = None,
    node_unreclaimable: bool = False,
) -> str:
    """/proc/zoneinfo of node 0: every zone DMA, DMA32, Normal, Movable, in pages.

    ``zones`` are dicts as ``Kernel.zone_stats()`` returns them (keys zone, start_pfn, end_pfn,
    present, managed, free, min, low, high, lowmem_reserve, page_cache; nr_free is ignored
    here).  Zones missing from the list print as unpopulated.  Optional keys, for what kmviz
    does not model: ``boost`` (watermark_boost, 0), ``cma`` (0), ``spanned`` (default
    end_pfn - start_pfn), ``vm_stats`` and ``numa_stats`` (``{counter name: value}``, 0 for
    those not named), ``pageset`` (``(count, high, batch)`` for every CPU, or a list of
    them, one per CPU; default the boot pageset's (0, 0, 1)) and ``stat_threshold`` (default
    calculate_normal_threshold()).  ``cpus`` is the number of online CPUs, one pagesets
    entry each; ``node_stats`` overrides per-node counters; ``node_unreclaimable`` is
    ``pgdat->kswapd_failures >= MAX_RECLAIM_RETRIES``.

    Mirrors zoneinfo_show_print() (mm/vmstat.c L1660):

    * ``"Node %d, zone %8s"``, then, for the first populated zone only
      (is_zone_first_populated(), L1646), ``"\\n  per-node stats"`` and one
      ``"\\n      %-12s %lu"`` line per node counter;
    * pages free, boost, min, low, high, spanned, present, managed, cma and
      ``"\\n        protection: (%ld, %ld, …)"`` over all lowmem_reserve entries;
    * an unpopulated zone (present_pages == 0) stops there with a newline;
    * a populated one goes on with its zone counters, its numa_* events, ``"\\n  pagesets"``
      with count/high/batch and the vm stats threshold per online CPU, then
      node_unreclaimable and start_pfn, and a newline.
    """
    if cpus < 1:
        raise ValueError("a machine has at least one online CPU")
    by_name = {zone["zone"]: zone for zone in zones}
    unknown = set(by_name) - set(ZONE_NAMES)
    if unknown:
        raise ValueError(f"unknown zone(s) {sorted(unknown)}; zones are {ZONE_NAMES}")
    all_zones = [by_name.get(name) or _empty_zone(idx) for idx, name in enumerate(ZONE_NAMES)]
    populated = [zone for zone in all_zones if zone["present"]]
    first_populated = populated[0] if populated else None
    node_values = _node_stats(populated, node_stats or {})

    out = []
    for zone in all_zones:
        out.append(f"Node 0, zone {zone['zone']:>8}")
        if zone is first_populated:
            out.append("\n  per-node stats" + _stat_lines(NODE_STAT_NAMES, node_values))
        spanned = zone.get("spanned", zone["end_pfn"] - zone["start_pfn"])
        out.append(
            f"\n  pages free     {zone['free']}"
            f"\n        boost    {zone.get('boost', 0)}"
            f"\n        min      {zone['min']}"
            f"\n        low      {zone['low']}"
            f"\n        high     {zone['high']}"
            f"\n        spanned  {spanned}"
            f"\n        present  {zone['present']}"
            f"\n        managed  {zone['managed']}"
            f"\n        cma      {zone.get('cma', 0)}"
        )
        reserve = list(zone["lowmem_reserve"])  # cumulative: an unlisted zone adds nothing
        reserve += reserve[-1:] * (MAX_NR_ZONES - len(reserve))
        out.append(f"\n        protection: ({', '.join(str(r) for r in reserve)})")
        if not zone["present"]:
            out.append("\n")
            continue
        out.append(_stat_lines(ZONE_STAT_NAMES, _zone_stats(zone)))
        numa = zone.get("numa_stats", {})
        out.append(_stat_lines(NUMA_STAT_NAMES, [numa.get(name, 0) for name in NUMA_STAT_NAMES]))
        out.append("\n  pagesets")
        pagesets = zone.get("pageset", (BOOT_PAGESET_COUNT, BOOT_PAGESET_HIGH, BOOT_PAGESET_BATCH))
        if isinstance(pagesets, tuple):
            pagesets = [pagesets] * cpus
        threshold = zone.get("stat_threshold", calculate_normal_threshold(zone["managed"], cpus))
        for cpu, (count, high, batch) in zip(range(cpus), pagesets, strict=True):
            out.append(
                f"\n    cpu: {cpu}"
                f"\n              count: {count}"
                f"\n              high:  {high}"
                f"\n              batch: {batch}"
                f"\n  vm stats threshold: {threshold}"
            )
        out.append(
            f"\n  node_unreclaimable:  {int(node_unreclaimable)}"
            f"\n  start_pfn:           {zone['start_pfn']}"
            "\n"
        )
    return "".join(out)
