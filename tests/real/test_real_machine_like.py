"""kmviz.real.machine_like(): a simulated machine with a real one's memory, CPUs and free lists."""

from pathlib import Path

from kmviz.engine.invariants import check
from kmviz.engine.kernel import MAX_MEM
from kmviz.real import _chains, machine_like, meminfo

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
    k = machine_like(DATA / "linux-6.18-vm")
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


def test_memory_beyond_what_kmviz_simulates_is_capped_with_a_note():
    huge = dict(SMALL, meminfo="MemTotal:       134217728 kB\nMemFree:        1000 kB\n")
    k = machine_like(huge)
    assert k.mem == MAX_MEM
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
