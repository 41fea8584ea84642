"""Does the Timeline rebuild the machine exactly, at the newest event and at any earlier one?"""

import numpy as np
import pytest

from kmviz import GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, PAGE_OFFSET, Kernel
from kmviz.engine import fastpath
from kmviz.engine.buddy import HOLE as ENGINE_HOLE
from kmviz.engine.buddy import RESERVED as ENGINE_RESERVED
from kmviz.engine.events import BlockSplit
from kmviz.engine.history import (
    KIND_SLAB,
    OP_KFREE,
    OP_KMALLOC,
    SLAB_DESC_SHIFT,
    SLAB_PFN_SHIFT,
    SLAB_SLOT_SHIFT,
)
from kmviz.widgets import timeline as timeline_module
from kmviz.widgets.timeline import (
    ANON,
    BOOTMEM,
    FILE,
    HOLE,
    KMALLOC_LARGE,
    PAGE_TABLE,
    PAGES,
    RESERVED,
    SLAB,
    VMALLOC,
    Slab,
    Timeline,
)
from kmviz.workloads import uptime


def assert_matches_engine(k: Kernel, tl: Timeline) -> None:
    """Free blocks, buddyinfo counts and every owner the engine knows agree with the timeline."""
    expected_free = np.full(k.nr_pfns, -1, dtype=np.int16)
    for zone in k.zones:
        for pfn, order, code in k.buddy.blocks(zone):
            if code == order:
                expected_free[pfn : pfn + (1 << order)] = order
    frames = tl.frames.astype(np.int16)
    assert np.array_equal(np.where(frames <= 10, frames, -1), expected_free)
    buddyinfo = k.buddyinfo()
    for index, (name, _, _) in enumerate(tl.zones):
        assert list(tl.nr_free[index]) == buddyinfo[name]
    assert all(tl.frames[pfn] == SLAB for pfn in k.slab_by_pfn)
    assert all(tl.frames[pfn] == PAGE_TABLE for pfn in k.pgtable_pfns)
    assert all(tl.frames[pfn] == FILE for pfn in k.page_cache.lru)
    assert all(tl.frames[pfn] == ANON for task in k.tasks for pfn in task.pages)
    engine_state = np.frombuffer(k.buddy.state, dtype=np.int8)[: k.nr_pfns]
    assert (tl.frames[engine_state == ENGINE_HOLE] == HOLE).all()
    assert (tl.frames[engine_state == ENGINE_RESERVED] == RESERVED).all()


def busy_machine() -> Kernel:
    """A 256 MiB machine that has done a bit of everything the views show."""
    k = Kernel("256MiB", seed=3, memory_map="flat")
    Timeline.of(k)
    k.spawn("firefox", "8MiB")
    k.fill_page_cache("24MiB")
    objects = [k.kmalloc(size, GFP_KERNEL) for size in (8, 100, 100, 700, 3000) * 20]
    for addr in objects[::3]:
        k.kfree(addr)
    k.kmalloc(64 << 10, GFP_KERNEL)  # large: straight from the page allocator
    area = k.vmalloc(40 << 10)
    k.get_free_pages(GFP_ATOMIC, 2)
    k.vfree(k.vmalloc(12 << 10))
    k.kill(k.spawn("make", "4MiB"))
    k.compact()
    assert area
    return k


def test_newest_state_matches_the_engine_after_mixed_work():
    k = busy_machine()
    assert_matches_engine(k, Timeline.of(k))


def test_allocator_owners_get_their_own_codes():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    pages = k.get_free_pages(GFP_KERNEL, 1)
    large = k.kmalloc(20 << 10, GFP_KERNEL)
    area = k.vmalloc(3 << 12)
    pfn_of = lambda addr: k.virt_to_page(addr).pfn  # noqa: E731
    assert tl.frames[pfn_of(pages)] == PAGES
    assert tl.frames[pfn_of(large)] == KMALLOC_LARGE
    assert all(tl.frames[pfn] == VMALLOC for pfn in tl.areas[area].pfns)
    assert tl.owner_of(tl.areas[area].pfns[0]) == f"vmalloc {area:#x}"
    assert tl.block_at(pfn_of(pages) + 1) == (pfn_of(pages), 1, PAGES)


def test_a_split_shows_both_halves_free_until_the_allocation_takes_the_lower():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    before = tl.length
    pfn = k.virt_to_page(k.get_free_pages(GFP_KERNEL, 0)).pfn
    events = list(k.history.events(before, tl.length))
    at, first_split = next((i, e) for i, e in enumerate(events) if isinstance(e, BlockSplit))
    tl.seek(before + at + 1)  # the first split applied, nothing allocated yet
    half = 1 << (first_split.order - 1)
    assert tl.frames[first_split.pfn] == first_split.order - 1
    assert tl.frames[first_split.pfn + half] == first_split.order - 1
    tl.seek(tl.length)
    assert tl.frames[pfn] == PAGES
    assert tl.frames[pfn + 1] == 0  # the last upper buddy: an order-0 free page


def test_seeking_back_rebuilds_every_earlier_state_exactly(monkeypatch):
    monkeypatch.setattr(timeline_module, "FIRST_INTERVAL", 64)
    monkeypatch.setattr(timeline_module, "MAX_CHECKPOINTS", 8)  # forces thinning
    k = Kernel("128MiB", seed=5, memory_map="flat")
    tl = Timeline(k)
    seen = {}
    for step in range(60):
        addr = k.kmalloc(64 + step * 40, GFP_KERNEL)
        if step % 4 == 0:
            k.kfree(addr)
        if step % 7 == 0:
            k.free_pages(k.get_free_pages(GFP_KERNEL, step % 5), step % 5)
        if step % 11 == 0:
            k.vmalloc(8 << 10)
        seen[tl.position] = (tl.frames.copy(), tl.nr_free.copy(), dict(tl.slabs), dict(tl.areas))
    assert len(tl._checkpoints) <= 8
    for position in sorted(seen, reverse=True) + sorted(seen):
        tl.seek(position)
        frames, nr_free, slabs, areas = seen[position]
        assert np.array_equal(tl.frames, frames)
        assert np.array_equal(tl.nr_free, nr_free)
        assert tl.slabs == slabs
        assert tl.areas == areas


def test_a_fresh_timeline_seeked_to_a_position_equals_one_that_stepped_there():
    k = busy_machine()
    old = Timeline.of(k)
    old.seek(old.length // 2)
    fresh = Timeline(k)
    fresh.seek(old.position)
    assert np.array_equal(fresh.frames, old.frames)
    assert np.array_equal(fresh.orders, old.orders)
    assert fresh.slabs == old.slabs
    assert fresh.log() == old.log()


def test_slab_slots_follow_kmalloc_and_kfree():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    first = k.kmalloc(200, GFP_KERNEL)
    second = k.kmalloc(200, GFP_KERNEL)
    slab = tl.slabs[k.virt_to_page(first).pfn & ~((1 << tl.caches["kmalloc-256"].order) - 1)]
    assert slab.cache == "kmalloc-256"
    assert slab.inuse == 2
    k.kfree(second)
    assert tl.slabs[slab.pfn].inuse == 1


def test_log_and_context_are_those_of_the_position():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    lines_before = len(tl.log())
    k.irq_enter()
    in_irq = tl.position
    k.kmalloc(100, GFP_KERNEL)  # might_sleep() in interrupt context: the splat
    k.irq_exit()
    assert len(tl.log()) > lines_before
    assert tl.context().kind == "task"
    tl.seek(in_irq)
    assert tl.context().kind == "hardirq"
    assert len(tl.log()) == lines_before


def test_following_waits_while_held_and_catches_up_after():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    start = tl.position
    with tl.hold():
        k.get_free_pages(GFP_KERNEL, 0)
        assert tl.position == start
    assert tl.position == tl.length > start


def test_stepping_back_stops_nothing_but_the_view():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    k.get_free_pages(GFP_KERNEL, 3)
    length = tl.length
    tl.follow = False
    tl.step(-3)
    k.get_free_pages(GFP_KERNEL, 3)
    assert tl.position == length - 3  # not following: the view stays where the learner put it
    assert tl.length > length


def test_early_boot_memory_is_reserved_until_handed_over_and_bootmem_stays():
    k = Kernel("64MiB", seed=1, boot=False, memory_map="flat")
    tl = Timeline.of(k)
    phys = k.memblock_phys_alloc(1 << 20)
    k.boot()
    first = phys >> 12
    assert (tl.frames[first : first + 256] == BOOTMEM).all()
    tl.seek(0)
    ram = tl.frames[tl.frames != HOLE]
    assert (ram == RESERVED).all()


def test_a_pfn_beyond_memory_is_a_clear_error():
    tl = Timeline(Kernel("16MiB", seed=1, memory_map="flat"))
    with pytest.raises(ValueError, match="beyond this machine"):
        tl.block_at(tl.nr_pfns)


def test_a_step_back_reports_only_the_frames_the_undone_event_touched():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    pfn = k.virt_to_page(k.get_free_pages(GFP_KERNEL, 2)).pfn
    tl.step(-1)  # undo the mm_page_alloc: those 4 frames are free again
    assert tl.changed == (pfn, pfn + 4)


def test_mid_split_buddyinfo_counts_only_the_upper_halves_on_the_lists():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    before = tl.length
    k.get_free_pages(GFP_KERNEL, 0)
    events = list(k.history.events(before, tl.length))
    at, split = next((i, e) for i, e in enumerate(events) if isinstance(e, BlockSplit))
    zone = [name for name, _, _ in tl.zones].index(split.zone)
    tl.seek(before + at)
    counts = tl.nr_free[zone].copy()
    tl.seek(before + at + 2)  # two splits: the block left its list, two upper halves joined theirs
    assert tl.nr_free[zone, split.order] == counts[split.order] - 1
    assert tl.nr_free[zone, split.order - 1] == counts[split.order - 1] + 1
    assert tl.nr_free[zone, split.order - 2] == counts[split.order - 2] + 1


def test_a_second_vfree_from_an_interrupt_leaves_the_timeline_following():
    k = Kernel(mem="16MiB", memory_map="flat")
    timeline = Timeline(k)
    buf = k.vmalloc(8192)
    k.vfree(buf)
    with k.irq():
        k.vfree(buf)
    k.kmalloc(8, GFP_KERNEL)
    assert timeline.position == len(k.history) and buf not in timeline.areas


@pytest.mark.parametrize("slub_debug", [False, True])
def test_a_refused_kfree_into_the_middle_of_an_object_leaves_it_live_in_the_timeline(slub_debug):
    k = Kernel(mem="16MiB", slub_debug=slub_debug, memory_map="flat")
    timeline = Timeline(k)
    ptr = k.kmalloc(64, GFP_KERNEL)
    k.kfree(ptr + 8)
    assert timeline.slab_at((ptr - PAGE_OFFSET) >> 12).inuse == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda k: k.kmem_cache_create("c", 0),
        lambda k: k.walk(1 << 47),
        lambda k: k.vmalloc(0),
        lambda k: k.vunmap(0xFFFFC90000000000),
        lambda k: k.virt_to_phys(0xFFFFC90000000000),
        lambda k: k.memblock_alloc(4096),
    ],
)
def test_a_call_that_only_logs_still_brings_the_timeline_to_the_head(call):
    k = Kernel(mem="16MiB", memory_map="flat")
    timeline = Timeline(k)
    call(k)
    assert timeline.position == len(k.history)


def test_a_fork_shows_the_same_machine_and_moves_on_its_own():
    k = Kernel("16MiB", seed=0, memory_map="flat")
    shared = Timeline.of(k)
    k.get_free_pages(GFP_KERNEL, 3)
    fork = shared.fork()
    assert (fork.frames == shared.frames).all() and fork.position == shared.position
    fork.seek(0)
    fresh = Timeline(k)
    fresh.seek(0)
    assert shared.position == len(k.history)
    assert (fork.frames == fresh.frames).all()


def timeline_state(tl: Timeline) -> tuple:
    """Everything a view reads from a timeline, comparable with ==."""
    return (tl.position, tl.frames.tobytes(), tl.orders.tobytes(), tl.nr_free.tolist(),
            tl.pcp.tolist(), tl.caches, tl.slabs, tl.areas, tl.active_slab,
            tl.cpu_partial)  # fmt: skip


def test_a_timeline_following_batches_misses_and_reorders_no_event():
    k = Kernel("64MiB", seed=2, memory_map="flat")
    tl = Timeline.of(k)
    applied = []
    tl.observe(lambda _change: applied.extend(tl.moved_over()), "position")
    start = tl.position
    with k.batch():
        held = [k.get_free_pages(GFP_KERNEL, order % 4) for order in range(40)]
        k.notify()  # a view asks in the middle of the batch
        held += [k.kmalloc(64 << (n % 6), GFP_KERNEL) for n in range(40)]
    k.get_free_pages(GFP_ATOMIC, 1)  # outside a batch: heard at once
    with tl.hold():
        for n, addr in enumerate(held[:40]):
            k.free_pages(addr, n % 4)
    assert applied == list(k.history.events(start, len(k.history)))
    assert timeline_state(tl) == timeline_state(Timeline(k))


def painted_machine() -> Kernel:
    """A machine whose history has every kind of event the fold paints, barriers included."""
    k = Kernel("16MiB", seed=4, boot=False, memory_map="flat")
    k.memblock_alloc(3 << 12)
    k.memblock_alloc(5000)
    k.boot()
    uptime(k, 600)
    k.fill_page_cache("1MiB")
    holes = [k.alloc_pages(GFP_HIGHUSER_MOVABLE, 0) for _ in range(k.free_pages_count() - 300)]
    for page in holes[::2]:  # no free block above order 0 left for compaction to find
        k.free_pages_block(page, 0)
    cache = k.kmem_cache_create("fold_test", 200)
    objects = [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(50)]
    large = [k.kmalloc(40_000, GFP_KERNEL) for _ in range(5)]
    areas = [k.vmalloc(5 << 12) for _ in range(5)]
    area = k.vmap([k.alloc_pages(GFP_KERNEL, 0) for _ in range(3)])
    for addr in objects[::2]:
        k.kmem_cache_free(cache, addr)
    k.kfree(large[0])
    k.kfree(k.kmalloc(64, GFP_KERNEL) + 8)  # into an object: refused, its slot stays used
    k.vfree(areas[1])
    k.vunmap(area)
    k.compact(10)  # isolates free pages and migrates pages: the bulk fold's barriers
    return k


def pcp_machine() -> Kernel:
    """A machine whose per-CPU lists on both CPUs fill, refill, pass high and are drained."""
    k = Kernel("256MiB", seed=6, memory_map="flat")
    rng = np.random.default_rng(6)
    held: list[tuple[int, int]] = []
    for round_ in range(6):
        with k.on_cpu(round_ % 2):
            for order in rng.choice([0, 0, 0, 1, 2, 3, 9], size=400).tolist():
                held.append((k.get_free_pages(GFP_KERNEL, order), order))
            rng.shuffle(held)
            for addr, order in held[: len(held) * 2 // 3]:  # above high: free_pcppages_bulk()
                k.free_pages(addr, order)
            del held[: len(held) * 2 // 3]
            k.kfree(k.kmalloc(3000, GFP_KERNEL))
    k.fill_page_cache("4MiB")
    k.drain_all_pages()
    return k


def slab_machine() -> Kernel:
    """A machine whose slab object records fill, drain and empty slabs of every shape.

    kmalloc-8's 512 slots a slab (bitmaps of many words) up to kmalloc-4k's order-3 slabs;
    frees full slabs back onto the CPU's partial list until it drains, shrinks and destroys a
    cache (SlabFreed, CacheDestroyed) and frees a pointer into an object (stored ObjectFreed).
    """
    k = Kernel("64MiB", seed=7, memory_map="flat")
    rng = np.random.default_rng(7)
    cache = k.kmem_cache_create("fold_objects", 200)
    live: list[tuple[object, int]] = []
    for round_ in range(4):
        for size in rng.choice([8, 8, 24, 96, 200, 700, 4000], size=3000).tolist():
            if size == 200:
                live.append((cache, k.kmem_cache_alloc(cache, GFP_KERNEL)))
            else:
                live.append((None, k.kmalloc(size, GFP_KERNEL)))
        order = rng.permutation(len(live)).tolist()
        for i in order[: len(live) * 3 // 4]:
            owner, addr = live[i]
            if owner is None:
                k.kfree(addr)
            else:
                k.kmem_cache_free(owner, addr)
        live = [live[i] for i in order[len(live) * 3 // 4 :]]
        k.kfree(k.kmalloc(64, GFP_KERNEL) + 8)  # into an object: refused, stored as the event
        k.kfree(None)
        if round_ == 2:
            k.kmem_cache_shrink(cache)
    for owner, addr in live:
        if owner is cache:
            k.kmem_cache_free(cache, addr)
    k.kmem_cache_destroy(cache)
    return k


FOLDED_MACHINES = {  # the events each machine must have for its fold test to mean something
    "painted": (painted_machine, {"LruPagesAdded", "SlabCreated", "SlabFrozen", "VmallocMapped",
                                  "PageTableAllocated", "MemblockAllocated", "FreePagesIsolated",
                                  "PageMigrated", "PagesAllocatedInBulk"}),
    "slab": (slab_machine, {"SlabFrozen", "SlabsUnfrozen", "SlabFreed", "CacheDestroyed",
                            "ObjectAllocated", "ObjectFreed"}),
    "pcp": (pcp_machine, {"PagesAllocatedZoneLocked", "PcpPagesDrained", "BuddiesMerged",
                          "BlockSplit", "ContextChanged", "SlabCreated"}),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(FOLDED_MACHINES))
def folded(request):
    """A machine and two timelines of it: one folded event by event, one in bulk.

    Neither copies the other where both stand at the same event (``_twin_at``).
    """
    make, kinds = FOLDED_MACHINES[request.param]
    k = make()
    with pytest.MonkeyPatch.context() as patch:  # while they are made
        patch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
        patch.setattr(Timeline, "bulk_records", 10**12)  # event by event: the reference
        reference = Timeline(k)
        patch.setattr(Timeline, "bulk_records", 1)  # every whole record in bulk
        bulk = Timeline(k)
    for timeline, records in ((reference, 10**12), (bulk, 1)):  # and from then on
        timeline._twin_at = lambda _position: None
        timeline.bulk_records = records
    return k, reference, bulk, kinds


def test_the_folded_machine_has_every_kind_of_event_its_fold_must_paint(folded):
    k, _, _, needed = folded
    kinds = {type(event).__name__ for event in k.history}
    assert needed <= kinds
    if "PcpPagesDrained" in needed:  # pops, pushes, refills and drains on both CPUs
        events = [e for e in k.history if getattr(e, "cpu", -1) >= 0]
        assert {(type(e).__name__, e.cpu) for e in events} >= {
            (kind, cpu)
            for kind in ("PagesAllocated", "PagesFreed", "PagesAllocatedZoneLocked",
                         "PcpPagesDrained")
            for cpu in (0, 1)
        }  # fmt: skip


def test_the_bulk_fold_equals_the_reference_at_the_newest_event(folded):
    _, reference, bulk, _ = folded
    assert timeline_state(bulk) == timeline_state(reference)


def test_the_bulk_fold_without_the_c_painter_equals_the_reference(folded, monkeypatch):
    k, reference, _, _ = folded
    monkeypatch.setattr(fastpath, "ENABLED", False)  # fold.py's last_writers() paints
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
    monkeypatch.setattr(Timeline, "bulk_records", 1)
    reference.seek(reference.length)
    assert timeline_state(Timeline(k)) == timeline_state(reference)


def test_the_bulk_fold_equals_the_reference_after_every_record_of_a_stretch(folded):
    k, reference, bulk, _ = folded
    ends = k.history.ends()
    middle = len(ends) // 2
    for position in [0, *ends[middle : middle + 150]]:
        for timeline in (reference, bulk):
            timeline.seek(position)
            timeline.seek(position + 3000)  # forward in bulk from a record's end
        assert timeline_state(bulk) == timeline_state(reference), position


def test_the_bulk_fold_equals_the_reference_from_and_to_any_event(folded):
    k, reference, bulk, _ = folded
    rng = np.random.default_rng(5)
    for start, stop in rng.integers(0, len(k.history) + 1, size=(40, 2)):
        for timeline in (reference, bulk):
            timeline.seek(int(start))
            timeline.seek(int(stop))
        assert timeline_state(bulk) == timeline_state(reference), (start, stop)


def test_the_event_index_finds_what_a_scan_of_every_event_finds():
    k = Kernel("16MiB", seed=1, memory_map="flat")
    k.kmem_cache_create("indexed", 100)
    k.free_pages(k.get_free_pages(GFP_KERNEL, 2), 2)
    k.irq_enter()
    k.kmalloc(64, GFP_KERNEL)  # might_sleep in interrupt context: a violation, a log line
    k.irq_exit()
    scan = {key: [] for key in timeline_module.EventIndex.KEYS}
    for position, event in enumerate(k.history):
        kind = type(event).__name__
        key = {"MessageLogged": "log", "ContextChanged": "context", "CacheCreated": "cache",
               "ContextViolated": "violation", "SchedulingWhileAtomic": "violation",
               "DmaMapped": "dma", "DeviceWrote": "dma"}.get(kind)  # fmt: skip
        if kind == "PagesAllocated" and event.order:
            key = "block"
        if key:
            scan[key].append((position, event))
    index = timeline_module.EventIndex(k.history)
    for key, found in scan.items():
        assert list(index.positions(key, 0, len(k.history))) == [p for p, _ in found], key
        assert index.events(key, 0, len(k.history)) == [e for _, e in found], key
    assert scan["violation"] and scan["context"] and scan["block"] and scan["log"]


@pytest.mark.parametrize(("runs", "longest"), [(50, 300), (5000, 3)])
def test_a_checkpoint_gives_back_the_codes_it_packed(monkeypatch, runs, longest):
    monkeypatch.setattr(timeline_module, "RUNS_CHUNK", 1000)  # runs that cross chunks
    rng = np.random.default_rng(runs)
    codes = np.repeat(rng.integers(-1, 22, size=runs), rng.integers(1, longest, size=runs))
    for dtype in (np.uint8, np.int8):
        packed = timeline_module._pack(timeline_module._runs(codes.astype(dtype)))
        assert (packed[0] < 0) == (longest < 4)  # long runs: packed as runs; else the codes
        runs_back = timeline_module._unpack_runs(packed, dtype)
        unpacked = timeline_module._expand(runs_back, codes.size)
        assert np.array_equal(unpacked, codes.astype(dtype)) and unpacked.flags.writeable


@pytest.mark.parametrize(("runs", "longest"), [(50, 300), (5000, 3)])
def test_the_runs_of_a_checkpoint_give_the_code_of_any_frame(runs, longest):
    rng = np.random.default_rng(runs)
    codes = np.repeat(rng.integers(-1, 22, size=runs), rng.integers(1, longest, size=runs))
    codes = codes.astype(np.int8)
    pfns = np.unique(rng.integers(0, codes.size, size=500))
    runs = timeline_module._runs(codes)
    assert np.array_equal(timeline_module._codes_at(runs, pfns), codes[pfns])


def test_a_timeline_that_copies_its_twin_has_the_state_it_would_have_folded(monkeypatch):
    k = Kernel("64MiB", seed=2, memory_map="flat")
    first, second = Timeline(k), Timeline(k)
    adopted = []
    adopt = Timeline._adopt
    monkeypatch.setattr(
        Timeline, "_adopt", lambda tl, other: adopted.append(tl) or adopt(tl, other)
    )
    with k.batch():
        held = [k.get_free_pages(GFP_KERNEL, n % 3) for n in range(3000)]
        for n, addr in enumerate(held[::2]):
            k.free_pages(addr, (2 * n) % 3)
    assert adopted == [second]  # the first folded, the second copied it
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
    assert timeline_state(second) == timeline_state(first) == timeline_state(Timeline(k))


def test_a_fork_knows_which_slabs_sit_on_the_cpus_partial_list():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    objects = [k.kmalloc(64, GFP_KERNEL) for _ in range(200)]  # several full slabs
    k.kfree(objects[0])  # a full slab gets an object back: put_cpu_partial()
    timeline = Timeline.of(k)
    assert timeline.fork().cpu_partial == timeline.cpu_partial != set()


def test_a_fork_folds_slab_records_in_bulk_when_it_steps_back():
    # a fork (each notebook cell's views read one) restores a checkpoint and folds the
    # records up to the step's target in bulk, slab records included
    k = Kernel("64MiB", seed=1, memory_map="flat")
    shared = Timeline.of(k)
    objects = [k.kmalloc(100, GFP_KERNEL) for _ in range(300)]
    for addr in objects[::2]:
        k.kfree(addr)
    k.get_free_pages(GFP_KERNEL, 3)
    fork = shared.fork()
    fork.seek(fork.length - 1)
    fresh = Timeline(k)
    fresh.seek(fork.position)
    assert timeline_state(fork) == timeline_state(fresh)


def test_a_fork_folds_the_slab_records_that_come_after_it_in_bulk(monkeypatch):
    # a fork has no boot state of its own: what the bulk fold keeps about the history's table
    # of slab records must be there all the same
    k = Kernel("64MiB", seed=1, memory_map="flat")
    timeline = Timeline.of(k)
    fork = timeline.fork()
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
    monkeypatch.setattr(Timeline, "bulk_records", 1)  # every whole record in bulk
    objects = [k.kmalloc(size, GFP_KERNEL) for size in range(8, 808, 4)]
    for addr in objects[::3]:
        k.kfree(addr)
    fork.seek(len(k.history))
    assert timeline_state(fork) == timeline_state(Timeline(k))


def test_the_bulk_fold_keeps_each_slots_last_record_for_a_million_records_near_1_tib():
    # the fold sorts a slab's pfn, slot and position packed in one int64: with a pfn near
    # 1 TiB (28 bits, 15 for the slot) and 2^20 records they need 64 bits, one too many
    k = Kernel("64MiB", seed=1, memory_map="flat")
    k.kmalloc(64, GFP_KERNEL)
    timeline = Timeline(k)
    cache = k.kmalloc_cache("kmalloc-64")
    desc = k.history._slab_desc_index[cache, 64, GFP_KERNEL]
    pfn = (1 << 28) - 16  # the last slab of a 1 TiB machine
    timeline.slabs[pfn] = Slab(pfn, cache.name, 0, cache.objects, 0)
    position = np.arange((1 << 20) + 5, dtype=np.int64)
    slot = position % 7
    op = np.where(position // 7 % 2 == 0, OP_KMALLOC, OP_KFREE)  # slot by slot: taken, freed
    records = (
        KIND_SLAB | op << 2 | pfn << SLAB_PFN_SHIFT | slot << SLAB_SLOT_SHIFT
        | desc << SLAB_DESC_SHIFT
    )  # fmt: skip
    timeline._slab_records(position, records, [])
    last_taken = [op[np.flatnonzero(slot == s)[-1]] == OP_KMALLOC for s in range(7)]
    assert timeline.slabs[pfn].used == sum(1 << s for s in range(7) if last_taken[s])
    assert timeline.active_slab[cache.name] == pfn


def test_where_barriers_come_thick_the_fold_goes_record_by_record_and_equals_the_reference(
    monkeypatch,
):
    k = painted_machine()  # ends with compact(10): isolations and migrations every few records
    applied = []
    apply_record = Timeline._apply_record
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
    monkeypatch.setattr(Timeline, "bulk_records", 10**12)
    reference = Timeline(k)  # event by event
    monkeypatch.setattr(Timeline, "bulk_records", 64)  # the default
    monkeypatch.setattr(
        Timeline, "_apply_record", lambda self, record: applied.append(apply_record(self, record))
    )
    mixed = Timeline(k)  # bulk passes, and record by record between thick barriers
    assert len(applied) > mixed.bulk_records  # compaction's barriers made it switch
    assert timeline_state(mixed) == timeline_state(reference)


def test_bulk_passes_reach_further_while_they_meet_no_barrier_and_equal_the_reference(
    monkeypatch,
):
    k = painted_machine()  # long barrier-free stretches, then compact(10)'s thick barriers
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)
    monkeypatch.setattr(Timeline, "bulk_records", 10**12)
    reference = Timeline(k)  # event by event
    monkeypatch.setattr(Timeline, "bulk_records", 1)
    monkeypatch.setattr(timeline_module, "BULK_WINDOW", 8)
    monkeypatch.setattr(timeline_module, "MAX_BULK_WINDOW", 64)
    reaches = []
    bulk = Timeline._bulk
    monkeypatch.setattr(
        Timeline,
        "_bulk",
        lambda self, first, last: reaches.append(last - first) or bulk(self, first, last),
    )
    grown = Timeline(k)
    assert max(reaches) == 64  # doubled from 8 while passes met no barrier
    assert timeline_state(grown) == timeline_state(reference)


def test_steps_back_put_back_only_the_frames_touched_since_the_origin(monkeypatch):
    k = busy_machine()
    reference = Timeline(k)
    reference._touched_since_origin = lambda: None  # back = unpack a checkpoint, replay
    expected = {}
    for position in range(reference.length - 1, reference.length - 21, -1):
        reference.seek(position)
        expected[position] = timeline_state(reference)
    tl = Timeline(k)
    assert tl.length - tl._origin[0] > 20  # the steps back stay after the origin
    monkeypatch.setattr(Timeline, "_restore", None)  # no checkpoint is unpacked
    for position in sorted(expected, reverse=True):
        tl.step(-1)
        assert timeline_state(tl) == expected[position], position


def test_a_big_machine_checkpoints_once_per_event_per_256_frames(monkeypatch):
    k = Kernel("256MiB", seed=2, memory_map="flat")  # 65,536 frames
    for order in range(6000):
        k.free_pages(k.get_free_pages(GFP_KERNEL, order % 4), order % 4)
    assert len(k.history) > 2 * 4096
    monkeypatch.setattr(Timeline, "_twin_at", lambda _self, _position: None)  # each folds
    reference = Timeline(k)
    monkeypatch.setattr(timeline_module, "FRAMES_PER_EVENT", 2)  # as if 128 times bigger
    spaced = Timeline(k)
    assert spaced._interval == 65_536 // 2 > len(k.history)
    assert [position for position, _ in spaced._checkpoints] == [0]
    assert len(reference._checkpoints) > 2
    assert timeline_state(spaced) == timeline_state(reference)
