"""Many writes to page-frame arrays at once: for each frame, the value of the last write to it.

The bulk half of the Timeline's fold (kmviz/widgets/timeline.py).  Every write paints an
aligned block: 2^level frames starting at ``block << level``, the shape every buddy
allocation, free and slab has.  Aligned blocks either nest or do not meet, so the last write
to a frame is found level by level, from order 10 down to single frames: a block keeps the
latest write painting it or any block around it, and is looked into only if a later write
painted something inside it::

    writes: #0 paints block 0 of level 3 (pfns 0..7), #1 paints pfn 5, #2 block 0 of level 2
    level 3: block 0 -> #0, but #1 and #2 inside are later: look into its halves
    level 2: block 0 (pfns 0..3) -> #2, nothing later inside: a piece;  block 1 (4..7) -> #0,
             #1 inside is later: look into it ...
    level 0: pfn 4 -> #0, pfn 5 -> #1, pfn 6 -> #0, pfn 7 -> #0

The pieces found cover exactly the frames some write painted, each frame once, so painting
them costs what changed, not the size of the machine; a piece is painted as one row of a
(blocks, 2^level) view of the array.

With the C extension built, ``paint_in_order`` paints the writes one after the other instead,
each a memset of its block (kmviz/engine/_fastpath.c paint_blocks()): cheaper than finding the
pieces, and the same frames in the end.
"""

from __future__ import annotations

import numpy as np

from ..engine import fastpath

LEVELS = 11  # block sizes 2^0 .. 2^10 frames (MAX_ORDER)
LOG2 = np.zeros(1 << (LEVELS - 1), dtype=np.int8)  # LOG2[n]: floor(log2(n)) for n >= 1
for _bit in range(1, LEVELS - 1):
    LOG2[1 << _bit :] = _bit


def _latest_per_block(blocks: np.ndarray, writers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct blocks and the latest (largest) writer of each."""
    span = np.int64(writers.max(initial=0)) + 1
    keys = np.sort(blocks * span + writers)  # by block, then by writer
    blocks, writers = keys // span, keys % span
    last = np.ones(blocks.size, dtype=bool)
    last[:-1] = blocks[1:] != blocks[:-1]
    return blocks[last], writers[last]


def last_writers(level: np.ndarray, block: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """Disjoint pieces (first frames, level, writer) covering every frame the writes paint.

    Write ``i`` paints block ``block[i]`` of level ``level[i]``; a later index wins.  Each
    piece is painted last by write ``writer`` over its 2^level frames.
    """
    writer = np.arange(level.size, dtype=np.int64)
    by_level = np.argsort(level, kind="stable")
    bounds = np.searchsorted(level[by_level], np.arange(LEVELS + 1))
    own = []
    for k in range(LEVELS):
        at = by_level[bounds[k] : bounds[k + 1]]
        own.append(_latest_per_block(block[at], writer[at]))
    # bottom up: inside[k] = the latest write of a lower level inside each block of level k,
    # below[k] = the blocks of level k holding any write of level k or lower
    inside = [(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))]
    below = [own[0]]
    for k in range(1, LEVELS):
        parents = below[k - 1][0] >> 1  # still sorted: one group per parent block
        if parents.size:
            starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
            inside.append((parents[starts], np.maximum.reduceat(below[k - 1][1], starts)))
        else:
            inside.append(inside[0])
        below.append(
            _latest_per_block(
                np.concatenate((inside[k][0], own[k][0])),
                np.concatenate((inside[k][1], own[k][1])),
            )
        )
    # top down: around = the latest write of a higher level around each of below[k]'s blocks;
    # a write under a later one of a higher level is painted over entirely: drop it
    around = np.full(below[LEVELS - 1][0].size, -1, dtype=np.int64)
    for k in range(LEVELS - 2, -1, -1):
        parent_blocks = below[k + 1][0]
        parent_own = np.full(parent_blocks.size, -1, dtype=np.int64)
        own_blocks, own_writers = own[k + 1]
        parent_own[np.searchsorted(parent_blocks, own_blocks)] = own_writers
        around = np.maximum(around, parent_own)[np.searchsorted(parent_blocks, below[k][0] >> 1)]
        own_blocks, own_writers = own[k]
        keep = own_writers > around[np.searchsorted(below[k][0], own_blocks)]
        own[k] = (own_blocks[keep], own_writers[keep])
    # top down: keep the latest write of each block; look into it if a later one is inside
    pieces = []
    carried_block = carried_writer = np.empty(0, dtype=np.int64)
    for k in range(LEVELS - 1, -1, -1):
        blocks, writers = _latest_per_block(
            np.concatenate((carried_block, own[k][0])), np.concatenate((carried_writer, own[k][1]))
        )
        if not blocks.size:
            continue
        later_blocks, later = inside[k]
        look = np.zeros(blocks.size, dtype=bool)
        if later_blocks.size:
            at = np.minimum(np.searchsorted(later_blocks, blocks), later_blocks.size - 1)
            look = (later_blocks[at] == blocks) & (later[at] > writers)
        pieces.append((blocks[~look] << k, k, writers[~look]))
        halves = blocks[look] * 2
        carried_block = np.stack((halves, halves + 1), axis=1).ravel()
        carried_writer = np.repeat(writers[look], 2)
    return pieces


def paint(target: np.ndarray, pieces, values: np.ndarray) -> tuple[int, int]:
    """Give each piece's frames of ``target`` the value of its writer; the range touched."""
    lo, hi = target.size, 0
    for first, k, writer in pieces:
        if not first.size:
            continue
        if k:
            rows = target[: target.size >> k << k].reshape(-1, 1 << k)
            rows[first >> k] = values[writer][:, None]
        else:
            target[first] = values[writer]
        lo, hi = min(lo, int(first.min())), max(hi, int(first.max()) + (1 << k))
    return lo, hi


def paint_in_order(
    target: np.ndarray, level: np.ndarray, block: np.ndarray, values: np.ndarray
) -> tuple[int, int, list[tuple[np.ndarray, int]]]:
    """Paint write ``i`` (block ``block[i]`` of level ``level[i]``) with ``values[i]``, in order.

    Returns the range touched and the blocks painted, as (first frames, 2^level) pairs that
    cover every frame painted; the C painter lists a frame once per write painting it.
    """
    painter = fastpath.block_painter()
    if painter is None:
        pieces = last_writers(level, block)
        lo, hi = paint(target, pieces, values)
        return lo, hi, [(first, 1 << k) for first, k, _ in pieces if first.size]
    lo, hi = painter(target, level, block, values)
    by_level = np.argsort(level.astype(np.int8), kind="stable")  # a radix sort of bytes
    bounds = np.searchsorted(level[by_level], np.arange(LEVELS + 1))
    firsts = (block << level)[by_level]
    touched = [(firsts[bounds[k] : bounds[k + 1]], 1 << k) for k in range(LEVELS)]
    return lo, hi, [(first, frames) for first, frames in touched if first.size]
