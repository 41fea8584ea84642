"""Address ranges of the kernel's virtual space, in bytes, kept in a search tree that finds the
lowest free range of a given size in O(log n).

Linux 6.1 keeps its free vmalloc space in ``free_vmap_area_root``, a red-black tree of free
``vmap_area`` ranges ordered by address, each node augmented with ``subtree_max_size``: the
size of the largest free range in its subtree (mm/vmalloc.c L800–L1160).  That one number per
node lets ``find_vmap_lowest_match()`` (L1321) go straight down to the lowest range that fits,
skipping every subtree whose largest range is too small, so a search costs the height of the
tree however many areas are mapped.  Lazily freed ranges wait in a second tree,
``purge_vmap_area_root``, where neighbours merge as they arrive (L1277); nothing searches it
for space, so kmviz keeps those in TouchingRanges, which finds a neighbour that touches by
its address.

kmviz uses a *treap* instead of a red-black tree: a binary search tree by start address whose
nodes also carry a random priority kept in heap order (a parent's priority is at least its
children's), which keeps it balanced on average (expected height about 2 ln n) with simpler
rebalancing.  The searches and the fit rules are 6.1's, step for step.

    ranges [0x1000, 0x3000) [0x5000, 0x6000) [0x9000, 0x10000)      sizes 0x2000 0x1000 0x7000
    tree         [0x5000, 0x6000) max 0x7000
                /                \\
    [0x1000, 0x3000) max 0x2000   [0x9000, 0x10000) max 0x7000
    a search for 0x3000 bytes skips the left subtree (max 0x2000 < 0x3000) and the root
    (0x1000), and takes [0x9000, 0x10000): the lowest range that fits.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import NamedTuple

from . import fastpath

PAGE_SIZE = 4096  # bytes; every range starts and ends on a page boundary


class VmapRange:
    """One node: a range [start, end) of addresses and the largest range in its subtree."""

    __slots__ = ("end", "left", "priority", "right", "start", "subtree_max_size")

    def __init__(self, start: int, end: int, priority: float):
        self.start = start  # first address
        self.end = end  # one past the last address
        self.priority = priority  # heap order: no child has a higher one
        self.left: VmapRange | None = None  # ranges below start
        self.right: VmapRange | None = None  # ranges above end
        self.subtree_max_size = end - start  # bytes: the largest range here or below

    def __repr__(self) -> str:
        return f"VmapRange({self.start:#x}, {self.end:#x})"


def _update(node: VmapRange) -> None:
    """compute_subtree_max_size() (mm/vmalloc.c L1000): the node's size or a child's maximum."""
    best = node.end - node.start
    if node.left is not None and node.left.subtree_max_size > best:
        best = node.left.subtree_max_size
    if node.right is not None and node.right.subtree_max_size > best:
        best = node.right.subtree_max_size
    node.subtree_max_size = best


def _split(node: VmapRange | None, key: int) -> tuple[VmapRange | None, VmapRange | None]:
    """The treap cut in two: ranges starting below ``key``, and the rest."""
    if node is None:
        return None, None
    if node.start < key:
        node.right, above = _split(node.right, key)
        _update(node)
        return node, above
    below, node.left = _split(node.left, key)
    _update(node)
    return below, node


def _join(low: VmapRange | None, high: VmapRange | None) -> VmapRange | None:
    """Two treaps as one, every range of ``low`` lying below every range of ``high``."""
    if low is None:
        return high
    if high is None:
        return low
    if low.priority > high.priority:
        low.right = _join(low.right, high)
        _update(low)
        return low
    high.left = _join(low, high.left)
    _update(high)
    return high


def _insert(root: VmapRange | None, new: VmapRange) -> VmapRange:
    """``root``'s treap with ``new`` linked in by its start address; the new root.

    ``new`` goes down by start address to the first node of lower priority, takes its place
    with that subtree split around ``new.start`` as its children, and the maxima above grow
    to ``new``'s size where they are smaller (once one is not, none above is).
    """
    path: list[VmapRange] = []
    node = root
    while node is not None and node.priority >= new.priority:
        path.append(node)
        node = node.left if new.start < node.start else node.right
    new.left, new.right = _split(node, new.start)
    _update(new)
    if not path:
        return new
    parent = path[-1]
    if new.start < parent.start:
        parent.left = new
    else:
        parent.right = new
    size = new.subtree_max_size
    for ancestor in reversed(path):
        if ancestor.subtree_max_size >= size:
            break
        ancestor.subtree_max_size = size
    return root


def _remove(root: VmapRange, start: int) -> VmapRange | None:
    """``root``'s treap without the range that begins at ``start`` (which must be in it)."""
    path: list[VmapRange] = []
    node = root
    while node.start != start:
        path.append(node)
        node = node.left if start < node.start else node.right
    replacement = _join(node.left, node.right)
    if not path:
        return replacement
    parent = path[-1]
    if parent.left is node:
        parent.left = replacement
    else:
        parent.right = replacement
    _refresh(path)
    return root


def _refresh(path: list[VmapRange]) -> None:
    """Recompute the maxima along ``path`` (root first) from its end up, as
    augment_tree_propagate_from() does: an unchanged maximum stops the climb."""
    for node in reversed(path):
        best = node.end - node.start
        left, right = node.left, node.right
        if left is not None and left.subtree_max_size > best:
            best = left.subtree_max_size
        if right is not None and right.subtree_max_size > best:
            best = right.subtree_max_size
        if node.subtree_max_size == best:
            return
        node.subtree_max_size = best


def _aligned_start(node: VmapRange, align: int, vstart: int) -> int:
    """Where a request would begin in ``node``: ALIGN(max(va_start, vstart), align)."""
    base = node.start if node.start > vstart else vstart
    return (base + align - 1) & -align


class VmapRanges:
    """A set of disjoint address ranges, merged with their neighbours as they are added.

    The free space (``free_vmap_area_root``), searched by lowest_match() and cut by take();
    the lazily freed areas are TouchingRanges.  ``seed`` only shapes the tree, never a result.
    """

    def __init__(self, seed: int = 0):
        self.root: VmapRange | None = None
        self.count = 0  # ranges in the tree
        self.total = 0  # bytes in all of them
        self._treap = random.Random(seed)  # priorities; kept whole so that a copy has its own
        # alloc()'s search and its LE/RE cuts in C (_fastpath.c vmap_fit()), if built
        self._fit = fastpath.vmap_fitter()

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[VmapRange]:
        """The ranges in address order (an in-order walk)."""
        stack: list[VmapRange] = []
        node = self.root
        while stack or node is not None:
            while node is not None:
                stack.append(node)
                node = node.left
            node = stack.pop()
            yield node
            node = node.right

    def clear(self) -> None:
        """Forget every range (the purge takes the whole list at once)."""
        self.root, self.count, self.total = None, 0, 0

    # --- finding -------------------------------------------------------------------------
    def lowest_match(
        self, size: int, align: int = PAGE_SIZE, vstart: int = 0
    ) -> tuple[VmapRange, int] | None:
        """The lowest range holding ``size`` bytes aligned to ``align`` at or above ``vstart``.

        Mirrors find_vmap_lowest_match() (mm/vmalloc.c L1321) as __alloc_vmap_area() (L1562)
        calls it: with an alignment above a page the search asks subtrees for
        ``size + align - 1`` bytes (room for the worst alignment waste); it goes left while
        the left subtree has such a range and starts above vstart, takes the node if the
        request fits in it, goes right if the right subtree has one, and otherwise climbs
        back to the first ancestor whose right subtree does.  Returns the range and the
        aligned start (``nva_start_addr``), or None.
        """
        found = self._find(size, align, vstart)
        return None if found is None else found[:2]

    def alloc(self, size: int, align: int, vstart: int, vend: int) -> int | None:
        """Take the lowest ``size`` bytes aligned to ``align`` within [vstart, vend); None if
        they are not there.

        Mirrors __alloc_vmap_area() (mm/vmalloc.c L1562): find_vmap_lowest_match(), the
        ``vend`` check, then adjust_va_to_fit_type() on the range found, whose maxima are
        refreshed along the path the search took.
        """
        found = NotImplemented
        if self._fit is not None:
            found = self._fit(self.root, size, align, vstart, vend)
            if found.__class__ is int:  # C found it and cut it (LE_FIT_TYPE or RE_FIT_TYPE)
                self.total -= size
                return found
        if found is NotImplemented:  # no C, or a value past 64 bits: the search here
            found = self._find(size, align, vstart)
            if found is not None and found[1] + size > vend:
                found = None
        if found is None:
            return None
        node, start, path = found
        self.take(node, start, size, path)
        return start

    def _find(
        self, size: int, align: int, vstart: int
    ) -> tuple[VmapRange, int, list[VmapRange]] | None:
        """lowest_match()'s search: the range, the aligned start and the range's ancestors."""
        length = size + align - 1 if align > PAGE_SIZE else size
        node = self.root
        path: list[VmapRange] = []  # the ancestors, for the climb back (rb_parent())
        while node is not None:
            left = node.left
            if left is not None and left.subtree_max_size >= length and vstart < node.start:
                path.append(node)
                node = left
                continue
            # is_within_this_va(): ALIGN(max(va_start, vstart), align) and the size fit
            start = ((node.start if node.start > vstart else vstart) + align - 1) & -align
            if start >= vstart and start + size <= node.end:
                return node, start, path
            right = node.right
            if right is not None and right.subtree_max_size >= length:
                path.append(node)
                node = right
                continue
            # climb back: the first ancestor that fits, or whose right subtree may
            child = node
            node = None
            while path:
                parent = path.pop()
                if parent.right is child:  # came up from the right: done with this one
                    child = parent
                    continue
                start = _aligned_start(parent, align, vstart)
                if start >= vstart and start + size <= parent.end:
                    return parent, start, path
                right = parent.right
                if (
                    right is not None
                    and right.subtree_max_size >= length
                    and vstart <= parent.start
                ):
                    vstart = parent.start + 1  # its left subtree and itself are checked
                    path.append(parent)
                    node = right
                    break
                child = parent
        return None

    def neighbours(self, start: int, end: int) -> tuple[VmapRange | None, VmapRange | None]:
        """The range just below ``start`` and the one at or above ``end``, if any."""
        below = above = None
        node = self.root
        while node is not None:
            if node.start < start:
                below = node
                node = node.right
            else:
                above = node
                node = node.left
        if above is not None and above.start < end:
            raise ValueError(f"[{start:#x}, {end:#x}) overlaps {above!r}")
        if below is not None and below.end > start:
            raise ValueError(f"[{start:#x}, {end:#x}) overlaps {below!r}")
        return below, above

    def enclosing(self, addr: int) -> VmapRange | None:
        """The range that holds ``addr``, or None."""
        node = self.root
        while node is not None:
            if addr < node.start:
                node = node.left
            elif addr >= node.end:
                node = node.right
            else:
                return node
        return None

    # --- changing ------------------------------------------------------------------------
    def add(self, start: int, end: int) -> VmapRange:
        """Put [start, end) in, merged with a neighbour it touches; the range it ends up in.

        Mirrors __merge_or_add_vmap_area() (mm/vmalloc.c L1192): coalesce with the next
        range if it begins at ``end``, with the previous one if it ends at ``start``, both if
        both; insert a new node only if neither touches.  ValueError on an overlap (6.1
        WARNs and leaks the range).
        """
        if not start < end:
            raise ValueError(f"empty range [{start:#x}, {end:#x})")
        below, above = self.neighbours(start, end)
        self.total += end - start
        merged: VmapRange | None = None
        if above is not None and above.start == end:
            if below is not None and below.end == start:  # both: next goes, previous grows
                self.root = _remove(self.root, above.start)
                self.count -= 1
                below.end = above.end
                merged = below
            else:  # its start moves down: nothing lies between, so the order holds
                above.start = start
                merged = above
        elif below is not None and below.end == start:
            below.end = end
            merged = below
        if merged is not None:
            self._propagate(merged)
            return merged
        node = VmapRange(start, end, self._treap.random())
        self.root = _insert(self.root, node)
        self.count += 1
        return node

    def take(
        self, node: VmapRange, start: int, size: int, path: list[VmapRange] | None = None
    ) -> None:
        """Cut [start, start + size) out of ``node``, a range of this tree that holds it.

        Mirrors adjust_va_to_fit_type() (mm/vmalloc.c L1458): FL_FIT_TYPE (the whole range)
        unlinks the node, LE_FIT_TYPE moves its start up, RE_FIT_TYPE its end down, and
        NE_FIT_TYPE (the middle) shrinks it to the right part and inserts the left part as a
        new node; then the subtree maxima are brought up to date, along ``path`` (the node's
        ancestors, root first) if the caller knows it.
        """
        end = start + size
        if start < node.start or end > node.end:
            raise ValueError(f"[{start:#x}, {end:#x}) is not inside {node!r}")  # NOTHING_FIT
        self.total -= size
        if start == node.start and end == node.end:  # FL_FIT_TYPE
            self.root = _remove(self.root, node.start)
            self.count -= 1
        elif start == node.start:  # LE_FIT_TYPE: keys keep their order
            node.start = end
            self._propagate(node, path)
        elif end == node.end:  # RE_FIT_TYPE
            node.end = start
            self._propagate(node, path)
        else:  # NE_FIT_TYPE: [node.start, start) becomes a node of its own
            left = node.start
            node.start = end
            self._propagate(node, path)
            self.root = _insert(self.root, VmapRange(left, start, self._treap.random()))
            self.count += 1

    def _propagate(self, node: VmapRange, path: list[VmapRange] | None = None) -> None:
        """augment_tree_propagate_from(): refresh the maxima from ``node`` up to the root.

        ``path``: the node's ancestors, root first, if known (the node is appended to it);
        else they are found by its start.
        """
        if path is None:
            path = []
            above = self.root
            while above is not node:
                path.append(above)
                above = above.left if node.start < above.start else above.right
        path.append(node)
        _refresh(path)


class Range(NamedTuple):
    """An address range [start, end) of TouchingRanges."""

    start: int
    end: int


class TouchingRanges:
    """Disjoint address ranges, each merged with the ranges it touches as it is added.

    The lazily freed vmalloc areas waiting for the purge.  6.1 keeps them in
    ``purge_vmap_area_root``, a red-black tree where merge_or_add_vmap_area() (mm/vmalloc.c
    L1192) looks up a new range's neighbours and coalesces with those that touch it; nothing
    ever searches it for free space, so it has no size augmentation.  Only a neighbour that
    touches can merge, so kmviz finds it by address in two dicts (the range that ends at the
    new start, the range that begins at the new end) and sorts the ranges when the purge or
    /proc/vmallocinfo walks them in address order.
    """

    def __init__(self):
        self.end_of: dict[int, int] = {}  # start -> end of each range
        self.start_of: dict[int, int] = {}  # end -> start of each range
        self.total = 0  # bytes in all of them

    @property
    def count(self) -> int:
        """How many ranges there are."""
        return len(self.end_of)

    def __len__(self) -> int:
        return len(self.end_of)

    def __iter__(self) -> Iterator[Range]:
        """The ranges in address order."""
        return (Range(start, self.end_of[start]) for start in sorted(self.end_of))

    def add(self, start: int, end: int) -> tuple[int, int]:
        """Put [start, end) in, merged with the ranges that end at ``start`` or begin at
        ``end``; (start, end) of the range it ends up in."""
        if not start < end:
            raise ValueError(f"empty range [{start:#x}, {end:#x})")
        self.total += end - start
        below = self.start_of.pop(start, None)  # a range [below, start)
        if below is not None:
            del self.end_of[below]
            start = below
        above = self.end_of.pop(end, None)  # a range [end, above)
        if above is not None:
            del self.start_of[above]
            end = above
        self.end_of[start] = end
        self.start_of[end] = start
        return start, end

    def clear(self) -> None:
        """Forget every range (the purge takes them all at once)."""
        self.end_of.clear()
        self.start_of.clear()
        self.total = 0
