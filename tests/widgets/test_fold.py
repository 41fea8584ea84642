"""Does the bulk fold find, for every page frame, the last of many writes to it?"""

import numpy as np
import pytest

from kmviz.engine import fastpath
from kmviz.widgets.fold import last_writers, paint, paint_in_order

PAINTERS = ["numpy", "C"] if fastpath.available() else ["numpy"]


@pytest.fixture(params=PAINTERS)
def painter(request, monkeypatch):
    """paint_in_order() through last_writers() (numpy), or through the C extension's memsets."""
    monkeypatch.setattr(fastpath, "ENABLED", request.param == "C")
    return request.param


def random_writes(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to 200 aligned blocks of levels 0..10 inside ``size`` frames: (level, block)."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 200))
    level = rng.integers(0, 11, size=count)
    return level, rng.integers(0, size, size=count) >> level


def painted_one_by_one(level, block, size: int) -> np.ndarray:
    """Each frame's last writer, writing the blocks in order (the obvious way)."""
    last = np.full(size, -1)
    for writer, (k, b) in enumerate(zip(level.tolist(), block.tolist(), strict=True)):
        last[b << k : (b + 1) << k] = writer
    return last


@pytest.mark.parametrize("seed", range(40))
def test_every_frame_takes_its_last_writer(seed):
    size = 1 << 13
    level, block = random_writes(seed, size)
    last = np.full(size, -1)
    paint(last, last_writers(level, block), np.arange(level.size))
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


@pytest.mark.parametrize("seed", range(40))
def test_painting_in_order_leaves_each_frame_its_last_writers_value(seed, painter):
    size = 1 << 13
    level, block = random_writes(seed, size)
    values = np.arange(level.size) % 23  # codes, as the Timeline's frames hold
    target = np.full(size, 99, dtype=np.uint8)
    lo, hi, _ = paint_in_order(target, level, block, values)
    last = painted_one_by_one(level, block, size)
    expected = np.where(last < 0, 99, values[last])
    assert np.array_equal(target, expected)
    assert (lo, hi) == (np.flatnonzero(last >= 0)[0], np.flatnonzero(last >= 0)[-1] + 1)


@pytest.mark.parametrize("seed", range(10))
def test_the_blocks_painting_in_order_reports_cover_exactly_the_frames_it_painted(seed, painter):
    size = 1 << 13
    level, block = random_writes(seed, size)
    target = np.zeros(size, dtype=np.int8)
    _, _, touched = paint_in_order(target, level, block, np.full(level.size, -1))
    covered = np.zeros(size, dtype=bool)
    for firsts, frames in touched:
        assert firsts.size and (firsts % frames == 0).all()
        covered[(firsts[:, None] + np.arange(frames)).ravel()] = True
    assert np.array_equal(covered, painted_one_by_one(level, block, size) >= 0)


@pytest.mark.skipif(not fastpath.available(), reason="the C extension is not built")
def test_the_c_painter_refuses_a_block_outside_the_frames_and_paints_nothing():
    target = np.zeros(64, dtype=np.uint8)
    level, block, values = np.array([0, 3]), np.array([5, 8]), np.array([1, 2])  # 64..71
    with pytest.raises(ValueError, match="block 8 of level 3 is not in the 64 frames"):
        fastpath.paint_blocks(target, level, block, values)
    assert not target.any()
