"""kmviz.real.machine_like(): a simulated machine with a real one's memory, CPUs and free lists."""

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

import kmviz.real
from kmviz.engine.gfp import GFP_KERNEL
from kmviz.engine.invariants import check, fingerprint
from kmviz.real import _chains, _ZoneCarver, machine_like, meminfo, slabinfo, snapshot, vmallocinfo
from kmviz.widgets.timeline import Timeline

DATA = Path(__file__).parent / "data"
SMALL = {
    "buddyinfo": (
        "Node 0, zone      DMA      2      1      0      3      1      0      1      0      1"
        "      0      2 \n"
        "Node 0, zone    DMA32     40     31     12      7      5      3      2      1      0"
        "      1     30 \n"
    ),
    "meminfo": "MemTotal:         250000 kB\nMemFree:          136000 kB\n",
    "cpus": 3,
}


def test_a_small_buddyinfo_that_fits_is_reproduced_exactly():
    k = machine_like(SMALL)
    assert k.buddyinfo() == {
        "DMA": [2, 1, 0, 3, 1, 0, 1, 0, 1, 0, 2],
        "DMA32": [40, 31, 12, 7, 5, 3, 2, 1, 0, 1, 30],
    }
    assert k.likeness.exact and not any(any(d) for d in k.likeness.differences.values())
    check(k)


def test_an_exact_copy_is_made_without_a_failed_allocation():
    assert machine_like(SMALL).last_failure is None


def test_memtotal_and_cpus_are_the_real_ones():
    k = machine_like(SMALL, seed=9)
    assert meminfo(k.cat("/proc/meminfo"))["MemTotal"] == 250000
    assert k.likeness.memtotal_kib == (250000, 250000)
    assert (k.cpus, k.seed) == (3, 9)


def test_the_captured_6_18_machine_fits_and_is_exact():
    k = machine_like(DATA / "linux-6.18-vm", slabs=False, vmalloc=False)
    assert k.likeness.exact
    assert k.buddyinfo()["Normal"][0] == 27245 and k.cpus == 2
    assert k.likeness.memtotal_kib == (24684084, 24684084)


def test_a_zone_too_small_for_its_target_is_reported_not_hidden():
    k = machine_like(DATA / "linux-2.6.32-sample")
    likeness = k.likeness
    assert not likeness.exact
    assert likeness.copy == {zone: tuple(free) for zone, free in k.buddyinfo().items()}
    assert likeness.differences["DMA32"] == (0,) * 11  # the big zone fits
    dma = likeness.differences["DMA"]
    assert dma == tuple(
        c - r for c, r in zip(likeness.copy["DMA"], likeness.real["DMA"], strict=True)
    )
    assert any(dma) and "DMA copy - real" in str(likeness)
    check(k)


def test_the_largest_blocks_are_served_first_when_memory_runs_short():
    crowded = dict(
        SMALL, buddyinfo="Node 0, zone    DMA32 200000      0      0" + "      0" * 7 + "     40 \n"
    )
    likeness = machine_like(crowded).likeness
    assert likeness.copy["DMA32"][10] == 40 and likeness.copy["DMA32"][0] < 200000


def test_memory_beyond_what_kmviz_simulates_is_capped_with_a_note(monkeypatch):
    monkeypatch.setattr(kmviz.real, "MAX_MEM", 256 << 20)  # a cap of 256 MiB, not 1 TiB
    huge = dict(SMALL, meminfo="MemTotal:       2147483648 kB\nMemFree:        1000 kB\n")
    k = machine_like(huge)
    assert k.mem == 256 << 20
    assert any("beyond what kmviz simulates" in note for note in k.likeness.notes)


def test_a_machine_without_zone_dma_gets_none():
    k = machine_like(dict(SMALL, buddyinfo=SMALL["buddyinfo"].split("\n", 1)[1]))
    assert [zone.name for zone in k.zones] == ["DMA32"]
    assert k.likeness.exact


def test_nodes_and_unsimulated_zones_are_added_into_the_copys_zones():
    text = (
        "Node 0, zone    DMA32 4" + " 0" * 9 + " 5 \n"
        "Node 1, zone    DMA32 1" + " 0" * 9 + " 5 \n"
        "Node 1, zone  Movable 0 2" + " 0" * 9 + " \n"
    )
    likeness = machine_like(dict(SMALL, buddyinfo=text)).likeness
    assert likeness.real["DMA32"] == (5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 10)
    assert likeness.exact
    assert any("nodes [0, 1]" in note for note in likeness.notes)
    assert any("zone Movable is not simulated" in note for note in likeness.notes)


def test_orders_above_kmviz_s_largest_count_as_that_many_largest_blocks():
    text = "Node 0, zone    DMA32" + "      0" * 10 + "      3      2 \n"  # orders 0..11
    likeness = machine_like(dict(SMALL, buddyinfo=text)).likeness
    assert likeness.real["DMA32"][10] == 3 + 2 * 2
    assert any("order 11 and up" in note for note in likeness.notes)


def test_an_unknown_cpu_count_keeps_the_default_and_says_so():
    k = machine_like({key: SMALL[key] for key in ("buddyinfo", "meminfo")})
    assert k.cpus == 2 and any("CPU count is unknown" in note for note in k.likeness.notes)


def test_chains_start_where_more_blocks_are_wanted_and_end_where_fewer_are():
    # 4 order-0, 2 order-1, 1 order-2 blocks: chains 2..0, 1..0, 0..0, 0..0 (4 bottom pages)
    assert _chains([4, 2, 1] + [0] * 7) == [(2, 0), (1, 0), (0, 0), (0, 0)]
    # more blocks higher up than below: a chain ends above order 0
    assert _chains([0, 1, 2] + [0] * 7) == [(2, 2), (2, 1)]


# A host whose free memory is mostly small blocks (a quarter million chains on 24 GiB; here
# fewer on 6 GiB, in all three zones)
FRAGMENTED = {
    "buddyinfo": (
        "Node 0, zone      DMA      3      2      1      0      1      1      0      1      1"
        "      1      1 \n"
        "Node 0, zone    DMA32   2400   1900   1500   1800   1200    700    300    120     60"
        "     20     40 \n"
        "Node 0, zone   Normal  30000  21000  14000   8000   3000   1200    400    100     30"
        "     12      9 \n"
    ),
    "meminfo": "MemTotal:        6000000 kB\nMemFree:         3000000 kB\n",
    "cpus": 2,
}


def block_by_block(monkeypatch, source, **options):
    """machine_like(source, **options) with every chain allocated one block at a time."""
    with monkeypatch.context() as patch:
        patch.setattr(_ZoneCarver, "plan_chains", lambda self, chains: None)
        return machine_like(source, **options)


@pytest.mark.parametrize("name", ["SMALL", "FRAGMENTED", "linux-2.6.32-sample"])
def test_chains_made_in_bulk_leave_the_machine_allocating_them_block_by_block_leaves(
    monkeypatch, name
):
    source = globals().get(name) or DATA / name
    bulk, reference = machine_like(source), block_by_block(monkeypatch, source)
    # the same page states, free-list links, pageblocks, counts, caches ... and clock and log
    assert fingerprint(bulk, records=False) == fingerprint(reference, records=False)
    assert (bulk.now_ns(), bulk.dmesg()) == (reference.now_ns(), reference.dmesg())
    assert str(bulk.likeness) == str(reference.likeness)
    # without the chain blocks' allocations and frees, which cancel out
    assert len(bulk.history) < len(reference.history)
    pages = [bulk.get_free_pages(GFP_KERNEL, order) for order in (0, 3, 5, 9, 0, 2)]
    assert pages == [reference.get_free_pages(GFP_KERNEL, order) for order in (0, 3, 5, 9, 0, 2)]


@pytest.mark.parametrize("seed", range(6))
def test_random_free_lists_made_in_bulk_equal_them_made_block_by_block(monkeypatch, seed):
    rng = random.Random(seed)
    lines = ""
    for zone, pages in (("DMA", 3900), ("DMA32", 170_000)):  # a 700 MiB machine's zones
        weights = [rng.random() ** rng.choice((1, 3)) * (11 - order) for order in range(11)]
        unit = pages * rng.choice((0.1, 0.3, 0.5)) / sum(w * 2**o for o, w in enumerate(weights))
        lines += f"Node 0, zone {zone:>8}" + "".join(f" {int(w * unit):6d}" for w in weights)
        lines += " \n"
    meminfo = "MemTotal: 700000 kB\nMemFree: 100000 kB\n"
    source = {"buddyinfo": lines, "meminfo": meminfo, "cpus": 1 + seed % 3}
    bulk, reference = (
        machine_like(source, seed=seed),
        block_by_block(monkeypatch, source, seed=seed),
    )
    assert len(bulk.history) < len(reference.history)
    assert fingerprint(bulk, records=False) == fingerprint(reference, records=False)
    assert (bulk.now_ns(), bulk.dmesg()) == (reference.now_ns(), reference.dmesg())


def test_a_copy_s_shorter_history_replays_to_the_copy():
    k = machine_like(FRAGMENTED)
    timeline = Timeline.of(k)
    for index, zone in enumerate(k.zones):
        assert list(timeline.nr_free[index]) == k.buddyinfo()[zone.name]
    free = [(pfn, order) for zone in k.zones for pfn, order, code in k.buddy.blocks(zone)
            if code == order]  # fmt: skip
    assert all((timeline.frames[pfn : pfn + (1 << order)] == order).all() for pfn, order in free)
    check(k)


def test_chains_are_allocated_block_by_block_when_memory_runs_short(monkeypatch):
    crowded = dict(
        SMALL, buddyinfo="Node 0, zone    DMA32 200000      0      0" + "      0" * 7 + "     40 \n"
    )
    assert len(machine_like(crowded).history) == len(block_by_block(monkeypatch, crowded).history)


# --- slab caches and vmalloc areas ------------------------------------------------------------
SLAB_LINE = (
    "{name:<17} {active:6d} {num:6d} {size:6d} {per:4d} {pages:4d} : tunables    0    0    0"
    " : slabdata {slabs:6d} {slabs:6d}      0\n"
)
SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs>"
    " <sharedavail>\n"
)


def slab_text(*rows: tuple) -> str:
    """A slabinfo 2.1 file of (name, active, num, objsize, objperslab, pagesperslab, slabs)."""
    keys = ("name", "active", "num", "size", "per", "pages", "slabs")
    return SLABINFO_HEADER + "".join(
        SLAB_LINE.format(**dict(zip(keys, row, strict=True))) for row in rows
    )


@pytest.fixture(scope="module")
def fixture_copy():
    """The 6.18 machine copied with its caches and vmalloc areas (about 4 s), and its snapshot."""
    snap = snapshot(DATA / "linux-6.18-vm")
    return snap, machine_like(snap)


def test_the_fixture_copy_has_every_real_cache_with_the_real_numbers(fixture_copy):
    snap, k = fixture_copy
    copy = {row.name: row for row in slabinfo(k.cat("/proc/slabinfo")).rows}
    assert len(copy) == len(slabinfo(k.cat("/proc/slabinfo")).rows)  # no name twice
    assert set(copy) == {row.name for row in snap.slabinfo.rows}  # kmalloc-* not duplicated
    columns = ("active_objs", "num_objs", "num_slabs", "objsize", "objperslab", "pagesperslab")
    for real in snap.slabinfo.rows:
        assert [getattr(copy[real.name], c) for c in columns] == [getattr(real, c) for c in columns]
    likeness = k.likeness
    assert likeness.slabs_exact and likeness.slab_differences == {}
    assert likeness.objects_scale == 1.0 and len(likeness.caches) == len(snap.slabinfo.rows)
    assert likeness.cache("dentry").how == "created"
    assert likeness.cache("kmalloc-rcl-96").how == "kmalloc"
    assert likeness.cache("dentry").copy.active_objs == 288007
    # the copy's slabinfo lists the caches in the real order, newest first (kmalloc's own last)
    created = [name for name in copy if not name.startswith(("kmalloc-", "dma-kmalloc-"))]
    assert created == [r.name for r in snap.slabinfo.rows if r.name in created]


def test_the_fixture_copy_s_kmalloc_objects_are_in_the_copy_s_own_kmalloc_caches(fixture_copy):
    _, k = fixture_copy
    assert [c.name for c in k.caches].count("kmalloc-128") == 1
    assert k.kmalloc_cache("kmalloc-128").active_objs == 26496
    assert k.kmalloc_cache("kmalloc-rcl-96").active_objs == 14658
    assert k.kmalloc_cache("kmalloc-cg-1k").active_objs == 206
    # the guessed SLAB_RECLAIM_ACCOUNT caches land near the real SReclaimable
    real_kib, copy_kib = k.likeness.sreclaimable_kib
    assert real_kib == 475756 and abs(copy_kib - real_kib) < real_kib // 100


def test_the_fixture_copy_has_the_real_vmalloc_areas_with_their_page_counts(fixture_copy):
    snap, k = fixture_copy
    wanted = Counter(
        (area.pages, area.size)
        for area in snap.vmallocinfo.rows
        if area.kind == "area" and "vmalloc" in area.flags and area.pages
    )
    made = [area for area in vmallocinfo(k.cat("/proc/vmallocinfo")).rows if area.pages]
    assert Counter((area.pages, area.size) for area in made) == wanted
    assert sum(area.pages for area in made) == 3623
    callers = Counter(area.caller for area in made)
    # three vpages areas and their page arrays, which 6.1 vmallocs with the area's caller
    assert callers["kernel_clone+0x94/0x3e0"] == 108 and callers["htab_map_alloc+0x2e4/0x5a0"] == 7
    vm = k.likeness.vmalloc
    assert vm.exact and (vm.real_areas, vm.real_pages) == (vm.copy_areas, vm.copy_pages) == (
        217,
        3623,
    )
    assert dict(vm.not_copied) == {
        "vmap": 2,
        "ioremap": 29,
        "vmalloc without pages (a reserved range)": 1,
        "unpurged (freed, not yet purged)": 1756,
    }
    assert "29 ioremap" in str(k.likeness)


def test_the_fixture_copy_s_free_lists_are_still_the_real_ones(fixture_copy):
    snap, k = fixture_copy
    assert k.likeness.exact
    assert k.buddyinfo() == {
        zone: list(free) for zone, free in snap.buddyinfo.free_by_zone().items()
    }
    assert k.likeness.memtotal_kib == (24684084, 24684084)
    assert k.last_failure is None and k.taint == 0
    check(k)


def test_the_copy_is_a_machine_to_ask_what_if_on(fixture_copy):
    _, k = fixture_copy
    dentry = next(cache for cache in k.caches if cache.name == "dentry")
    addr = k.kmem_cache_alloc(dentry, GFP_KERNEL)
    assert addr and dentry.active_objs == 288008
    k.kmem_cache_free(dentry, addr)
    assert dentry.active_objs == 288007


def test_a_fork_of_the_copy_shares_its_likeness_and_leaves_the_copy_alone():
    k = machine_like(SMALL)
    twin = k.fork()
    assert twin.likeness is k.likeness  # read-only: shared, not copied
    assert twin.get_free_pages(GFP_KERNEL, 10)
    assert k.buddyinfo()["DMA32"][10] == 30 and twin.buddyinfo()["DMA32"][10] == 29


def test_a_snapshot_without_slabinfo_or_vmallocinfo_still_copies_with_notes():
    snap = replace(snapshot(DATA / "linux-6.18-vm"), slabinfo=None, vmallocinfo=None)
    k = machine_like(snap)
    likeness = k.likeness
    assert likeness.exact and likeness.caches == () and likeness.vmalloc is None
    assert any("no slabinfo (root-only" in note for note in likeness.notes)
    assert any("no vmallocinfo" in note for note in likeness.notes)
    assert sum(cache.active_objs for cache in k.caches) == 0
    assert "note: no slabinfo" in str(likeness)


def test_slabs_and_vmalloc_can_be_left_out():
    likeness = machine_like(
        dict(SMALL, slabinfo=slab_text(("foo", 10, 10, 64, 64, 1, 1))), slabs=False, vmalloc=False
    ).likeness
    assert likeness.caches == () and likeness.vmalloc is None
    assert any("slabs=False" in note for note in likeness.notes)


def test_above_max_objects_every_cache_is_scaled_down_and_said_so():
    k = machine_like(DATA / "linux-6.18-vm", max_objects=50_000)
    likeness = k.likeness
    assert 0 < likeness.objects_scale < 0.03
    assert any("more than max_objects=50000" in note for note in likeness.notes)
    assert not likeness.slabs_exact
    # kmalloc-8 and -32 hold the page arrays of the copy's vmalloc areas: more than wanted
    assert {cache.name for cache in likeness.caches if not cache.as_wanted} == {
        "kmalloc-8",
        "kmalloc-32",
    }
    assert "vmalloc page arrays" in likeness.cache("kmalloc-32").note
    copied = sum(cache.copy.active_objs for cache in likeness.caches)
    assert 50_000 - 200 <= copied <= 50_000 + len(likeness.caches)
    dentry = likeness.cache("dentry")
    assert dentry.copy.active_objs == dentry.wanted == int(288007 * likeness.objects_scale)
    assert "scaled by" in str(likeness) and likeness.exact  # the free lists still match
    check(k)


def test_names_the_copy_cannot_take_as_they_are_are_changed_and_reported():
    text = slab_text(
        ("my cache", 5, 8, 64, 64, 1, 1),
        ("foo", 3, 8, 128, 32, 1, 1),
        ("foo", 2, 8, 128, 32, 1, 1),
        ("kmalloc-64", 10, 64, 64, 64, 1, 1),
        ("kmalloc-64", 7, 64, 64, 64, 1, 1),
        ("kmalloc-4096", 8, 8, 4096, 8, 8, 1),
        ("kmalloc_dma-512", 16, 16, 512, 16, 2, 1),
        ("kmalloc-rnd-01-64", 4, 64, 64, 64, 1, 1),
        ("empty", 0, 0, 32, 128, 1, 0),
    )
    k = machine_like(dict(SMALL, slabinfo=text))
    likeness = k.likeness
    names = [row.name for row in slabinfo(k.cat("/proc/slabinfo")).rows]
    assert len(names) == len(set(names))
    first_foo, second_foo = (c for c in likeness.caches if c.name == "foo")
    # the file lists the newest first, so the last "foo" is created first and keeps the name
    assert (second_foo.how, second_foo.copy.name) == ("created", "foo")
    assert (first_foo.how, first_foo.copy.name) == ("renamed", "foo#2")
    assert "already has a cache foo" in first_foo.note
    spaced = likeness.cache("my cache")
    assert (spaced.how, spaced.copy.name, spaced.copy.active_objs) == ("renamed", "my_cache", 5)
    first_64, second_64 = (c for c in likeness.caches if c.name == "kmalloc-64")
    assert second_64.how == "kmalloc" and first_64.copy.name == "kmalloc-64#2"
    assert likeness.cache("kmalloc-4096").copy.name == "kmalloc-4k"
    assert likeness.cache("kmalloc_dma-512").copy.name == "dma-kmalloc-512"
    assert likeness.cache("kmalloc-rnd-01-64").how == "created"
    assert likeness.cache("empty").exact
    assert all(c.copy.active_objs == c.real.active_objs for c in likeness.caches)
    assert any("copied under another name" in note for note in likeness.notes)
    assert k.taint == 0 and "integrity check failed" not in k.dmesg()  # no WARN for the space
    assert likeness.exact


def test_an_object_size_the_engine_refuses_is_not_copied_and_said_so():
    text = slab_text(("huge", 1, 1, 8 << 20, 1, 1024, 1), ("ok", 1, 64, 64, 64, 1, 1))
    likeness = machine_like(dict(SMALL, slabinfo=text)).likeness
    huge = likeness.cache("huge")
    assert (
        huge.copy is None and huge.how == "not copied" and "kmem_cache_create() takes" in huge.note
    )
    assert huge.differences["active_objs"] == -1 and not likeness.slabs_exact
    assert likeness.cache("ok").exact
    assert any("1 real cache(s) not copied" in note for note in likeness.notes)


def test_a_real_slab_geometry_the_copy_does_not_share_is_reported_per_cache():
    # 2.6.32 on its machine put 3 task_structs in 4 pages; 6.1 SLUB on 2 CPUs puts 5 in 8
    text = slab_text(("task_struct", 221, 243, 5808, 3, 4, 81))
    cache = machine_like(dict(SMALL, slabinfo=text)).likeness.cache("task_struct")
    assert cache.copy.active_objs == 221 and cache.geometry_differs and not cache.as_wanted
    assert cache.differences == {
        "num_objs": 245 - 243,
        "num_slabs": 49 - 81,
        "objperslab": 2,
        "pagesperslab": 4,
    }
    assert "SLUB geometry: 5 objects of 5808 B per 8-page slab" in cache.note


def test_free_objects_of_the_real_partial_slabs_are_freed_spread_over_the_slabs():
    text = slab_text(("spread", 100, 640, 64, 64, 1, 10), ("fallback", 60, 62, 64, 64, 1, 1))
    k = machine_like(dict(SMALL, slabinfo=text), seed=3)
    spread = next(cache for cache in k.caches if cache.name == "spread")
    assert len(spread.slabs) == 10 and spread.active_objs == 100 and spread.cpu_slab is None
    assert all(slab.inuse >= 1 for slab in spread.slabs)
    assert max(slab.inuse for slab in spread.slabs) - min(slab.inuse for slab in spread.slabs) <= 1
    fallback = k.likeness.cache("fallback")
    assert fallback.differences == {"num_objs": 2} and "fallback" in fallback.note
    again = machine_like(dict(SMALL, slabinfo=text), seed=3)
    assert again.cat("/proc/slabinfo") == k.cat("/proc/slabinfo")


def test_vmalloc_areas_are_copied_and_the_rest_counted():
    lines = [
        "20480 kernel_clone+0x94/0x3e0 pages=4 vmalloc N0=4",
        "12288 htab+0x2e4/0x5a0 pages=2 vmalloc N0=2",  # the page array of the next one
        "2625536 htab+0x2e4/0x5a0 pages=640 vmalloc vpages N0=640",
        "8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x00000000000a0000 ioremap",
        "20480 irq_init_percpu_irqstack+0xca/0x100 vmap",
        "20480 snd_pcm+0x5e/0x100 pages=4 vmalloc user N0=4",
        "16384 vm_map_ram",
        "8192 unpurged vm_area",
    ]
    text = "".join(f"0x{n:016x}-0x{n + 1:016x} {line}\n" for n, line in enumerate(lines))
    k = machine_like(dict(SMALL, vmallocinfo=text))
    vm = k.likeness.vmalloc
    assert (vm.real_areas, vm.real_pages, vm.copy_areas, vm.copy_pages) == (3, 646, 3, 646)
    assert vm.exact and dict(vm.not_copied) == {
        "ioremap": 1,
        "vmap": 1,
        "user": 1,
        "vm_map_ram": 1,
        "unpurged (freed, not yet purged)": 1,
    }
    made = vmallocinfo(k.cat("/proc/vmallocinfo")).rows
    assert sorted((a.caller, a.pages, "vpages" in a.flags) for a in made) == [
        ("htab+0x2e4/0x5a0", 2, False),  # its page array: __vmalloc_node(..., area->caller)
        ("htab+0x2e4/0x5a0", 640, True),
        ("kernel_clone+0x94/0x3e0", 4, False),
    ]
    assert any("page array(s) of vpages areas" in note for note in vm.notes)
    assert k.likeness.exact
    check(k)


def test_the_report_says_what_the_copy_has_of_each():
    likeness = machine_like(dict(SMALL, slabinfo=slab_text(("foo", 10, 64, 64, 64, 1, 1)))).likeness
    text = str(likeness)
    assert "slab caches: 1 of 1 real caches in the copy, 10 of 10 active objects; 0 differ" in text
    assert "no vmallocinfo" in text


def test_max_objects_must_be_a_count():
    with pytest.raises(ValueError, match="max_objects"):
        machine_like(SMALL, max_objects=-1)
