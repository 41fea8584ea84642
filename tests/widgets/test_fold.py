"""Does the bulk fold find, for every page frame, the last of many writes to it?"""

import numpy as np
import pytest

from kmviz.widgets.fold import last_writers, paint


def painted_one_by_one(level, block, size: int) -> np.ndarray:
    """Each frame's last writer, writing the blocks in order (the obvious way)."""
    last = np.full(size, -1)
    for writer, (k, b) in enumerate(zip(level.tolist(), block.tolist(), strict=True)):
        last[b << k : (b + 1) << k] = writer
    return last


@pytest.mark.parametrize("seed", range(40))
def test_every_frame_takes_its_last_writer(seed):
    rng = np.random.default_rng(seed)
    count, size = int(rng.integers(1, 200)), 1 << 13
    level = rng.integers(0, 11, size=count)
    block = rng.integers(0, size, size=count) >> level
    last = np.full(size, -1)
    paint(last, last_writers(level, block), np.arange(count))
    assert np.array_equal(last, painted_one_by_one(level, block, size))


def test_a_later_small_write_inside_a_large_one_shows_through():
    level, block = np.array([3, 0]), np.array([0, 5])  # pfns 0..7, then pfn 5
    last = np.full(8, -1)
    paint(last, last_writers(level, block), np.array([10, 20]))
    assert last.tolist() == [10, 10, 10, 10, 10, 20, 10, 10]


def test_painting_reports_the_range_it_touched():
    target = np.zeros(64, dtype=np.int8)
    assert paint(target, last_writers(np.array([2, 0]), np.array([3, 40])), np.array([1, 2])) == (
        12,
        41,
    )
