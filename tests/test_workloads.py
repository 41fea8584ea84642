"""uptime(): a seeded day of work that leaves free memory in pieces."""

import dataclasses

import pytest

from kmviz import __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL, MAX_ORDER, Kernel
from kmviz.engine import fastpath
from kmviz.engine.constants import DEFAULT_COMM
from kmviz.engine.events import CompactionFinished, MemoryReclaimed
from kmviz.engine.invariants import check, check_slabs
from kmviz.workloads import UptimeReport, uptime

GFP_TRY = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN  # fail quietly, never wake the OOM killer
ORDER_10_PAGES = 1 << 10  # 4 MiB: MAX_ORDER caps one block there
RANGE_64MIB_PAGES = 16 * ORDER_10_PAGES


def free_aligned_64mib_ranges(k):
    """First pfns of naturally aligned 64 MiB ranges that are wholly free.

    One block cannot be bigger than 4 MiB (order 10), so "64 MiB physically contiguous and
    free" means sixteen free order-10 blocks side by side from a 64 MiB boundary.
    """
    return [
        start
        for start in range(0, k.nr_pfns - RANGE_64MIB_PAGES + 1, RANGE_64MIB_PAGES)
        if all(
            k.block_at(pfn) == (pfn, 10, "free")
            for pfn in range(start, start + RANGE_64MIB_PAGES, ORDER_10_PAGES)
        )
    ]


@pytest.fixture(scope="module")
def story():
    """The seed's story on one machine, step by step; later tests only read what it recorded.

    Boot, a 4 MiB and a 64 MiB request (freed again), 200,000 operations of seed 0, then
    the 4 MiB request once more and a 4 MiB vmalloc().
    """
    k = Kernel(mem="256MiB", seed=0, memory_map="flat")
    seen = {"boot_buddyinfo": k.cat("/proc/buddyinfo")}
    page = k.alloc_pages(GFP_KERNEL, 10)
    seen["boot_order_10"] = page
    k.__free_pages(page, 10)
    blocks = [k.alloc_pages(GFP_KERNEL, 10) for _ in range(16)]
    seen["boot_sixteen"] = blocks
    for block in blocks:
        k.__free_pages(block, 10)
    seen["boot_aligned_64mib"] = free_aligned_64mib_ranges(k)
    seen["boot_buddyinfo_after_frees"] = k.cat("/proc/buddyinfo")

    report = uptime(k)
    seen["free_pages"] = k.free_pages_count()
    seen["buddyinfo"] = k.buddyinfo()
    seen["page_cache"] = len(k.page_cache)
    seen["aligned_64mib"] = free_aligned_64mib_ranges(k)
    before = len(k.history)
    seen["order_10"] = k.alloc_pages(GFP_TRY, 10)
    seen["order_10_retrying"] = k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)
    seen["compactions"] = [
        e for e in k.history[before:] if isinstance(e, CompactionFinished) and e.order == 10
    ]
    seen["compact_memory"] = k.compact(10)
    addr = k.vmalloc(4 << 20)
    seen["vmalloc"] = addr
    seen["vmalloc_frames"] = [
        k.vmalloc_to_page(addr + offset).pfn for offset in range(0, 4 << 20, 4096)
    ]
    k.vfree(addr)
    return k, seen, report


def test_right_after_boot_4_and_64_mib_are_trivial(story):
    _, seen, _ = story
    assert seen["boot_order_10"] is not None
    assert all(block is not None for block in seen["boot_sixteen"])
    pfns = [block.pfn for block in seen["boot_sixteen"]]
    assert pfns == list(range(pfns[0], pfns[0] + RANGE_64MIB_PAGES, ORDER_10_PAGES))  # 64 MiB
    assert len(seen["boot_aligned_64mib"]) >= 1
    assert seen["boot_buddyinfo_after_frees"] == seen["boot_buddyinfo"]  # all put back


def test_after_uptime_4_mib_fails_though_plenty_is_free_and_vmalloc_works(story):
    _, seen, report = story
    assert seen["free_pages"] == report.free_pages
    assert report.free_pages > 0.25 * report.managed_pages
    assert report.free_share > 0.25
    assert all(order < 10 for order in report.largest_free_order.values())
    assert seen["aligned_64mib"] == []
    assert seen["order_10"] is None
    assert seen["vmalloc"] != 0
    assert len(set(seen["vmalloc_frames"])) == 1024  # 4 MiB from scattered order-0 frames


def test_after_uptime_even_compaction_makes_no_4_mib_block(story):
    _, seen, _ = story
    assert seen["order_10_retrying"] is None
    modes = [(e.zone, e.mode, e.success) for e in seen["compactions"]]
    assert ("DMA32", "async", False) in modes and ("DMA32", "sync_light", False) in modes
    assert any(e.pages_moved > 0 for e in seen["compactions"])  # it moved pages, in vain
    assert seen["compact_memory"] == {"DMA": False, "DMA32": False}


def test_the_workload_never_kills_panics_or_warns(story):
    k, _, report = story
    kinds = {type(event).__name__ for event in k.history}
    assert "OomKilled" not in kinds
    assert "KernelPanicked" not in kinds
    assert "page allocation failure" not in k.dmesg()
    assert report.failed_allocations == 0
    assert [task.comm for task in k.tasks] == ["systemd", DEFAULT_COMM]  # the jobs exited


def test_invariants_hold_at_the_end(story):
    k, _, _ = story
    check(k)
    check_slabs(k)


def test_the_report_describes_the_run(story):
    _, seen, report = story
    assert isinstance(report, UptimeReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.ops = 1  # type: ignore[misc]
    assert (report.ops, report.seed, report.sample_every) == (200_000, 0, 2_000)
    assert report.seconds > 0 and report.wall_seconds > 0
    assert report.held_pages > 0 and report.slab_objects > 0 and report.tasks_spawned > 0
    assert report.page_cache_pages == seen["page_cache"]
    indexes = [index for index, _ in report.samples]
    assert indexes == list(range(0, 200_001, 2_000))
    first, last = report.samples[0][1], report.samples[-1][1]
    assert first == {  # what boot left, as /proc/buddyinfo showed it
        "DMA": (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3),
        "DMA32": (0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 52),
    }
    assert seen["boot_buddyinfo"].split()[4:15] == [str(n) for n in first["DMA"]]
    assert last == {zone: tuple(counts) for zone, counts in seen["buddyinfo"].items()}
    assert all(len(counts) == MAX_ORDER for _, snap in report.samples for counts in snap.values())
    free_at_end = sum(n << order for counts in last.values() for order, n in enumerate(counts))
    assert free_at_end == report.free_pages
    for zone, counts in last.items():
        assert report.largest_free_order[zone] == max(o for o, n in enumerate(counts) if n)


def run(seed, ops=20_000):
    k = Kernel(mem="256MiB", seed=0, memory_map="flat")
    report = uptime(k, ops=ops, seed=seed)
    return k, report


def test_the_same_seed_gives_the_same_machine():
    k1, r1 = run(7)
    k2, r2 = run(7)
    assert k1.cat("/proc/buddyinfo") == k2.cat("/proc/buddyinfo")
    assert len(k1.history) == len(k2.history)
    assert dataclasses.replace(r1, wall_seconds=0) == dataclasses.replace(r2, wall_seconds=0)


@pytest.mark.parametrize(
    ("observed", "scale"), [(False, 1), (True, 1), (False, 3)], ids=["alone", "observed", "busier"]
)
def test_the_c_fast_path_and_pure_python_age_a_machine_identically(observed, scale, monkeypatch):
    # page faults, reclaim and process exits go through the C loops when they are attached,
    # also while something hears of every call (the other C paths then step aside)
    def aged():
        k = Kernel(mem="64MiB", seed=0, memory_map="flat")
        ticks = []
        if observed:
            k.observe(ticks.append, names="tick")
        # fills 64 MiB: kswapd reclaims, processes exit; at scale 3 files are read twice,
        # processes fault side by side and the kernel keeps pages three at a time
        uptime(k, ops=20_000, scale=scale)
        buddy = k.buddy
        return k, (
            *(bytes(a) for a in (buddy.state, buddy.nxt, buddy.prv)),
            [(bytes(z.nr_free), z.free_pages, bytes(z.pcp_count)) for z in k.zones],
            [bytes(pcp_list) for z in k.zones for pcp_list in z.pcp_lists],
            bytes(k.history.records),
            k.dmesg(),
            len(ticks),
        )

    fast, with_c = aged()
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow, in_python = aged()
    assert fast.pages_fastpath is not None and slow.pages_fastpath is None
    assert fast.notify_each_call[0] == observed
    assert any(isinstance(e, MemoryReclaimed) and e.pages for e in fast.history)
    assert with_c == in_python


def test_another_seed_gives_another_machine():
    k1, _ = run(7)
    k2, _ = run(8)
    assert k1.cat("/proc/buddyinfo") != k2.cat("/proc/buddyinfo")


@pytest.mark.parametrize("ops", [1_000, 250, 7, 0])
def test_progress_rises_to_the_total(ops):
    calls = []
    k = Kernel(mem="64MiB", memory_map="flat")
    uptime(k, ops=ops, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (ops, ops)
    assert {total for _, total in calls} == {ops}
    done = [d for d, _ in calls]
    assert done == sorted(set(done))  # strictly increasing
    if ops >= 100:
        assert 100 <= len(calls) <= 102  # about every 1 %
        assert max(b - a for a, b in zip([0, *done], done, strict=False)) <= ops // 100 + 1


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"ops": -1}, ValueError, "ops must be at least 0, got -1"),
        ({"ops": 1.5}, TypeError, "ops must be an int, not float"),
        ({"ops": True}, TypeError, "ops must be an int, not bool"),
        ({"seed": "0"}, TypeError, "seed must be an int, not str"),
        ({"progress": 42}, TypeError, "progress must be callable"),
        ({"cache_share": -0.1}, ValueError, "cache_share must be from 0 to 1, got -0.1"),
        ({"held_share": float("nan")}, ValueError, "held_share must be from 0 to 1"),
        ({"task_share": "lots"}, TypeError, "task_share must be a number from 0 to 1"),
        ({"cache_share": 0.6, "burst_share": 0.5}, ValueError, "must not exceed 1"),
        ({"cache_read": (8, 2)}, ValueError, "cache_read[1] must be at least 8, got 2"),
        ({"task_size": 16}, TypeError, "task_size must be a (low, high) tuple"),
        ({"max_tasks": 0}, ValueError, "max_tasks must be at least 1, got 0"),
        ({"sample_every": 0}, ValueError, "sample_every must be at least 1, got 0"),
        ({"scale": 0}, ValueError, "scale must be at least 1, got 0"),
        ({"hot_share": 1.5}, ValueError, "hot_share must be from 0 to 1, got 1.5"),
        ({"touch_share": None, "cache_share": 0.99}, ValueError, "must not exceed 1"),
        ({"touch_share": "some"}, TypeError, "touch_share must be a number from 0 to 1"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(kwargs, error, words):
    k = Kernel(mem="64MiB", memory_map="flat")
    before = len(k.history)
    with pytest.raises(error) as raised:
        uptime(k, **kwargs)
    assert words in str(raised.value)
    assert len(k.history) == before


def test_only_a_kernel_can_be_aged():
    with pytest.raises(TypeError, match="uptime\\(\\) ages a Kernel, not str"):
        uptime("256MiB")


def test_atomic_context_is_refused():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.spin_lock("dev_lock"), pytest.raises(RuntimeError, match="process-context"):
        uptime(k, ops=10)


def test_fragmentation_rises_over_uptime_as_the_kernel_measures_it():
    from kmviz import Kernel
    from kmviz.workloads import uptime

    report = uptime(
        Kernel(mem="256MiB", seed=0, memory_map="flat"), ops=50_000, sample_every=10_000
    )
    series = report.fragmentation_over_time(order=10)
    first_op, first = series[0]
    assert first_op == 0 and first["DMA32"][1] == -1000  # at boot an order-10 block exists
    assert all(-1000 <= extfrag <= 1000 for _, zones in series for _, extfrag in zones.values())


def test_the_day_scales_with_the_machine_and_grows_busier():
    # 256 MiB is scale 1: no file read twice, no process grows, a page held at a time
    k = Kernel(mem="64MiB", memory_map="flat")
    assert uptime(k, ops=2_000).scale == 1
    assert not k.page_cache.active
    big = Kernel(mem="1GiB", memory_map="flat")
    report = uptime(big, ops=2_000)
    assert report.scale == 4  # started 256 MiB of managed memory
    assert report.held_pages % 4 == 0 and report.held_pages > 0
    assert big.page_cache.active  # some files were read twice
