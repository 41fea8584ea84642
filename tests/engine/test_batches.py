"""Do observers hear of a batch of calls once, with the C fast path on, and miss nothing?"""

import random

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine import fastpath


@pytest.fixture
def k():
    """A 64 MiB machine with an observer counting what it hears."""
    kernel = Kernel("64MiB", seed=3, memory_map="flat")
    kernel.heard = []
    kernel.observe(lambda change: kernel.heard.append(len(kernel.history)), names="tick")
    return kernel


def churn(k: Kernel, calls: int, seed: int) -> None:
    """``calls`` seeded page and kmalloc calls, freeing about half of what they get."""
    rng = random.Random(seed)
    held = []
    for _ in range(calls):
        if held and rng.random() < 0.45:
            kind, addr, order = held.pop(rng.randrange(len(held)))
            k.free_pages(addr, order) if kind == "pages" else k.kfree(addr)
        elif rng.random() < 0.5:
            order = rng.randrange(4)
            held.append(("pages", k.get_free_pages(GFP_KERNEL, order), order))
        else:
            held.append(("kmalloc", k.kmalloc(rng.randrange(8, 3000), GFP_KERNEL), 0))


def test_observers_hear_once_at_the_end_of_a_batch(k):
    with k.batch():
        churn(k, 200, seed=1)
        assert k.heard == []
    assert k.heard == [len(k.history)]


def test_the_c_fast_path_stays_on_inside_a_batch(k):
    if not fastpath.available():
        pytest.skip("the C extension is not built")
    assert k.notify_each_call[0] == 1  # observed, no batch: every call goes to Python
    with k.batch():
        assert k.notify_each_call[0] == 0
    assert k.notify_each_call[0] == 1


def test_a_batch_that_changes_nothing_tells_nobody(k):
    with k.batch():
        k.cat("/proc/buddyinfo")
    assert k.heard == []


def test_only_the_outermost_batch_tells(k):
    with k.batch():
        with k.batch():
            k.get_free_pages(GFP_KERNEL, 0)
        assert k.heard == []
        k.get_free_pages(GFP_KERNEL, 0)
    assert k.heard == [len(k.history)]


def test_notify_inside_a_batch_tells_at_once(k):
    with k.batch():
        k.get_free_pages(GFP_KERNEL, 2)
        k.notify()
        assert k.heard == [len(k.history)]
        k.get_free_pages(GFP_KERNEL, 2)
    assert k.heard[-1] == len(k.history) and len(k.heard) == 2


def test_a_cell_batches_every_kernel_even_one_it_makes(k):
    Kernel.begin_cell()
    try:
        made = Kernel("16MiB", memory_map="flat")
        made.heard = []
        made.observe(lambda change: made.heard.append(len(made.history)), names="tick")
        k.get_free_pages(GFP_KERNEL, 0)
        made.get_free_pages(GFP_KERNEL, 0)
        assert k.heard == made.heard == []
    finally:
        Kernel.end_cell()
    assert (k.heard, made.heard) == ([len(k.history)], [len(made.history)])


def test_a_batch_inside_a_cell_tells_at_its_own_end(k):
    Kernel.begin_cell()
    try:
        with k.batch():
            k.get_free_pages(GFP_KERNEL, 0)
        assert k.heard == [len(k.history)]
    finally:
        Kernel.end_cell()


def test_without_observers_a_batch_bumps_nothing():
    k = Kernel("16MiB", memory_map="flat")
    with k.batch():
        k.get_free_pages(GFP_KERNEL, 0)
    assert k.tick == 0


def test_batched_and_per_call_machines_are_identical(k):
    plain = Kernel("64MiB", seed=3, memory_map="flat")
    plain.observe(lambda change: None, names="tick")
    churn(plain, 3000, seed=5)
    with k.batch():
        churn(k, 3000, seed=5)
    assert list(k.history.records) == list(plain.history.records)
    assert k.buddyinfo() == plain.buddyinfo()
