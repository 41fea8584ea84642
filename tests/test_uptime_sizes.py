"""uptime()'s default day on each machine size: does order 10 fail even after compaction?

Every size runs in the suite (tests/test_workloads.py's story checks 256 MiB in detail as
well; benchmarks/bench_uptime.py prints each size's seconds).  From 4 GiB up the 16 MiB DMA
zone keeps free 4 MiB blocks, as on a real machine: its lowmem_reserve keeps a GFP_KERNEL
request out of it (a request for the zone itself, GFP_DMA, would get one), so the zones that
must have none are the others.
"""

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine.gfp import __GFP_NOWARN
from kmviz.workloads import uptime


def order_10_after_the_day(mem: str, memory_map: str = "flat") -> tuple[bool, dict[str, bool]]:
    """(whether alloc_pages(GFP_KERNEL, 10) got a block, compact_memory's result per zone
    other than DMA)."""
    k = Kernel(mem=mem, seed=0, memory_map=memory_map)
    uptime(k)
    page = k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)
    return page is not None, {zone: ok for zone, ok in k.compact(10).items() if zone != "DMA"}


def test_256mib_order_10_fails_even_after_compaction():
    got, compacted = order_10_after_the_day("256MiB")
    assert not got and not any(compacted.values())


@pytest.mark.parametrize("memory_map", ["flat", "pc"])
def test_1gib_order_10_fails_even_after_compaction(memory_map):
    got, compacted = order_10_after_the_day("1GiB", memory_map)
    assert not got and not any(compacted.values())


@pytest.mark.parametrize("memory_map", ["flat", "pc"])
def test_4gib_order_10_fails_even_after_compaction(memory_map):
    got, compacted = order_10_after_the_day("4GiB", memory_map)
    assert not got and not any(compacted.values())


@pytest.mark.parametrize("memory_map", ["flat", "pc"])
def test_16gib_order_10_fails_even_after_compaction(memory_map):
    got, compacted = order_10_after_the_day("16GiB", memory_map)
    assert not got and not any(compacted.values())
