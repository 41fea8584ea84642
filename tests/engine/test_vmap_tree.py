"""The vmap range tree: 6.1's lowest-fit search, its fit types, merging, and a shallow tree."""

import random

import pytest

from kmviz.engine import fastpath
from kmviz.engine.vmap_tree import PAGE_SIZE, TouchingRanges, VmapRanges

P = PAGE_SIZE


def first_fit(free: set[tuple[int, int]], size: int, align: int, vstart: int):
    """The lowest (range start, aligned start) that holds the request: the answer by hand."""
    for start, end in sorted(free):
        nva = (max(start, vstart) + align - 1) & -align
        if nva + size <= end:
            return start, nva
    return None


def depth(node) -> int:
    return 0 if node is None else 1 + max(depth(node.left), depth(node.right))


def maxima_hold(node) -> int:
    if node is None:
        return 0
    best = max(node.end - node.start, maxima_hold(node.left), maxima_hold(node.right))
    assert node.subtree_max_size == best
    return best


@pytest.mark.parametrize("seed", range(20))
def test_the_search_finds_the_lowest_fit_as_a_sorted_scan_would(seed):
    rng = random.Random(seed)
    tree, free, busy = VmapRanges(seed), {(0, 4096 * P)}, []
    tree.add(0, 4096 * P)
    for _ in range(300):
        if rng.random() < 0.6 or not busy:
            size, vstart = rng.randint(1, 40) * P, rng.choice([0, rng.randint(0, 4096) * P])
            found = tree.lowest_match(size, P, vstart)
            expected = first_fit(free, size, P, vstart)
            assert (None if found is None else (found[0].start, found[1])) == expected
            if found is None:
                continue
            node, start = found
            free.remove((node.start, node.end))
            free |= {r for r in ((node.start, start), (start + size, node.end)) if r[0] < r[1]}
            tree.take(node, start, size)
            busy.append((start, start + size))
        else:
            start, end = busy.pop(rng.randrange(len(busy)))
            tree.add(start, end)
            touching = {r for r in free if r[1] == start or r[0] == end}
            free -= touching
            low = min([start, *(r[0] for r in touching)])
            free.add((low, max([end, *(r[1] for r in touching)])))
        assert [(r.start, r.end) for r in tree] == sorted(free)
        maxima_hold(tree.root)


@pytest.mark.parametrize("seed", range(20))
def test_alloc_takes_the_lowest_fit_below_vend_and_refreshes_the_maxima_on_its_path(seed):
    rng = random.Random(seed)
    tree, free, busy = VmapRanges(seed), {(0, 4096 * P)}, []
    tree.add(0, 4096 * P)
    for _ in range(300):
        if rng.random() < 0.6 or not busy:
            size, vstart = rng.randint(1, 40) * P, rng.choice([0, rng.randint(0, 4096) * P])
            vend = rng.choice([4096 * P, rng.randint(0, 4096) * P])
            expected = first_fit(free, size, P, vstart)
            if expected is not None and expected[1] + size > vend:
                expected = None  # the lowest fit lies beyond vend: 6.1 gives up
            start = tree.alloc(size, P, vstart, vend)
            assert start == (None if expected is None else expected[1])
            if start is None:
                continue
            low, high = next(r for r in free if r[0] <= start < r[1])
            free.remove((low, high))
            free |= {r for r in ((low, start), (start + size, high)) if r[0] < r[1]}
            busy.append((start, start + size))
        else:
            start, end = busy.pop(rng.randrange(len(busy)))
            tree.add(start, end)
            touching = {r for r in free if r[1] == start or r[0] == end}
            free -= touching
            low = min([start, *(r[0] for r in touching)])
            free.add((low, max([end, *(r[1] for r in touching)])))
        assert [(r.start, r.end) for r in tree] == sorted(free)
        maxima_hold(tree.root)


def tree_shape(tree: VmapRanges) -> list[tuple[int, int, int, int | None, int | None]]:
    """Every node in address order: its range, its maximum and its children's starts."""
    return [
        (r.start, r.end, r.subtree_max_size, r.left and r.left.start, r.right and r.right.start)
        for r in tree
    ]


@pytest.mark.parametrize("seed", range(12))
def test_alloc_in_c_leaves_the_tree_the_python_search_leaves(seed):
    # _fastpath.c's vmap_fit() searches and cuts the range (LE/RE fits) in place of _find()
    # and take(): over the whole 64-bit space, with alignments above a page, vstart and vend
    # windows, exact fits and frees in between, both trees must agree call for call
    if fastpath.vmap_fitter() is None:
        pytest.skip("the C fast path is not built")
    rng = random.Random(seed)
    c, python = VmapRanges(seed), VmapRanges(seed)
    python._fit = None
    assert c._fit is not None
    for tree in (c, python):
        tree.add(1, (1 << 64) - 1)  # vmap_init_free_space()'s [1, ULONG_MAX)
    base = 0xFFFFC90000000000  # VMALLOC_START
    busy: list[tuple[int, int]] = []
    for _ in range(400):
        if rng.random() < 0.65 or not busy:
            size = rng.choice([rng.randint(1, 17), 512, 4]) * P
            align = rng.choice([P, P, 4 * P, 1 << 21, 1 << 30])
            vstart = rng.choice([base, base + rng.randint(0, 4096) * P, 1])
            vend = rng.choice([(1 << 64) - 1, base + rng.randint(64, 8192) * P, base])
            got = c.alloc(size, align, vstart, vend)
            assert got == python.alloc(size, align, vstart, vend)
            if got is not None:
                busy.append((got, got + size))
        else:
            start, end = busy.pop(rng.randrange(len(busy)))
            c.add(start, end)
            python.add(start, end)
        assert tree_shape(c) == tree_shape(python)
        assert (c.count, c.total) == (python.count, python.total)
    maxima_hold(c.root)


@pytest.mark.parametrize("seed", range(5))
def test_touching_ranges_merge_as_the_tree_does(seed):
    rng = random.Random(seed)
    slots = list(range(400))
    rng.shuffle(slots)
    tree, touching = VmapRanges(seed), TouchingRanges()
    for slot in slots[:300]:  # disjoint ranges in random order; neighbours often touch
        start, end = slot * 4 * P, (slot * 4 + rng.choice([2, 4])) * P
        merged = touching.add(start, end)
        node = tree.add(start, end)
        assert merged == (node.start, node.end)
        assert [(r.start, r.end) for r in touching] == [(r.start, r.end) for r in tree]
        assert (len(touching), touching.total) == (len(tree), tree.total)
    touching.clear()
    assert len(touching) == 0 and touching.total == 0 and not list(touching)


def test_an_aligned_request_starts_on_its_alignment():
    tree = VmapRanges()
    tree.add(P, 1 << 30)
    node, start = tree.lowest_match(5 * P, 4 * P, 0)  # a 16 KiB stack with its guard page
    assert start == 4 * P
    tree.take(node, start, 5 * P)  # NE_FIT_TYPE: [P, 4P) stays free below it
    assert [(r.start, r.end) for r in tree] == [(P, 4 * P), (9 * P, 1 << 30)]


def test_the_fit_types_cut_the_range_as_6_1_does():
    tree = VmapRanges()
    tree.add(0, 10 * P)
    tree.take(tree.enclosing(0), 0, 2 * P)  # LE_FIT_TYPE: the start moves up
    tree.take(tree.enclosing(9 * P), 8 * P, 2 * P)  # RE_FIT_TYPE: the end moves down
    tree.take(tree.enclosing(2 * P), 2 * P, 6 * P)  # FL_FIT_TYPE: the whole range goes
    assert len(tree) == 0 and tree.total == 0


def test_a_range_merges_with_the_neighbours_it_touches():
    tree = VmapRanges()
    tree.add(0, P)
    tree.add(2 * P, 3 * P)
    tree.add(P, 2 * P)  # fills the hole: one range
    assert [(r.start, r.end) for r in tree] == [(0, 3 * P)]
    tree.add(5 * P, 6 * P)
    assert len(tree) == 2


def test_an_overlapping_range_is_refused():
    tree = VmapRanges()
    tree.add(0, 4 * P)
    with pytest.raises(ValueError, match="overlaps"):
        tree.add(3 * P, 5 * P)
    assert [(r.start, r.end) for r in tree] == [(0, 4 * P)]


def test_the_tree_stays_shallow_as_ranges_pile_up():
    tree = VmapRanges()
    for i in range(10_000):  # in address order: the worst case for an unbalanced tree
        tree.add(2 * i * P, (2 * i + 1) * P)
    assert len(tree) == 10_000
    assert depth(tree.root) <= 4 * 14  # about 2 ln n expected; log2(10,000) is 13.3
