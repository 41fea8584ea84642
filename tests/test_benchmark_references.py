"""The plain-Python references the speed ratios are measured against must be right allocators.

A reference that skipped work (lost blocks, overlapping objects) would flatter it and make
every ratio in benchmarks/bench_ratios.py a lie.
"""

import itertools
import random

from references import MAX_ORDER, PAGE_SHIFT, DictBuddy, ListVmalloc, SizeClassSlab

NR_PAGES = 1 << 14  # 64 MiB: 16 order-10 blocks


def disjoint(spans) -> bool:
    """True if no two [start, end) spans overlap."""
    ordered = sorted(spans)
    return all(end <= start for (_, end), (start, _) in itertools.pairwise(ordered))


def random_blocks(buddy: DictBuddy, seed: int, ops: int = 5000) -> list[tuple[int, int]]:
    """Allocate and free at random; the blocks still held at the end."""
    rng = random.Random(seed)
    live = []
    for _ in range(ops):
        if rng.random() < 0.6 or not live:
            order = rng.choice(range(MAX_ORDER + 1))
            pfn = buddy.alloc(order)
            if pfn is not None:
                live.append((pfn, order))
        else:
            buddy.release(*live.pop(rng.randrange(len(live))))
    return live


def test_buddy_blocks_are_aligned_and_never_overlap():
    live = random_blocks(DictBuddy(NR_PAGES), seed=1)
    assert all(pfn % (1 << order) == 0 for pfn, order in live)
    assert disjoint((pfn, pfn + (1 << order)) for pfn, order in live)


def test_buddy_freeing_everything_merges_back_to_order_10_blocks():
    buddy = DictBuddy(NR_PAGES)
    for block in random_blocks(buddy, seed=2):
        buddy.release(*block)
    assert buddy.free[MAX_ORDER] == set(range(0, NR_PAGES, 1 << MAX_ORDER))
    assert not any(buddy.free[:MAX_ORDER])


def test_buddy_says_none_when_no_block_is_large_enough():
    buddy = DictBuddy(1 << MAX_ORDER)
    assert buddy.alloc(0) is not None
    assert buddy.alloc(MAX_ORDER) is None


def test_slab_objects_fit_their_request_and_never_overlap():
    slab = SizeClassSlab(DictBuddy(NR_PAGES))
    rng = random.Random(3)
    objects = []
    for _ in range(3000):
        size = rng.choice((8, 50, 100, 192, 700, 3000, 8192, 20000))
        objects.append((slab.alloc(size), size))
    assert disjoint((addr, addr + size) for addr, size in objects)


def test_slab_gives_a_freed_object_out_again():
    slab = SizeClassSlab(DictBuddy(NR_PAGES))
    first = slab.alloc(100)
    slab.release(first)
    assert slab.alloc(100) == first


def test_slab_large_requests_come_back_to_the_buddy_allocator():
    buddy = DictBuddy(NR_PAGES)
    slab = SizeClassSlab(buddy)
    slab.release(slab.alloc(64 << 10))
    assert len(buddy.free[MAX_ORDER]) == NR_PAGES >> MAX_ORDER


def test_vmalloc_areas_are_disjoint_with_a_guard_page_and_give_their_pages_back():
    buddy = DictBuddy(NR_PAGES)
    areas = ListVmalloc(buddy, 1 << 40, 1 << 41)
    rng = random.Random(4)
    live = []
    for _ in range(400):
        if rng.random() < 0.6 or not live:
            size = rng.randint(1, 16) << PAGE_SHIFT
            live.append((areas.alloc(size), size))
        else:
            areas.release(live.pop(rng.randrange(len(live)))[0])
    assert disjoint((addr, addr + size + (1 << PAGE_SHIFT)) for addr, size in live)
    for addr, _ in live:
        areas.release(addr)
    assert buddy.free[MAX_ORDER] == set(range(0, NR_PAGES, 1 << MAX_ORDER))
