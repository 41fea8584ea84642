"""A machine booted with boot_caches=True has the slab caches and objects a booted 6.1 has."""

from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine.boot_caches import boot_caches
from kmviz.engine.invariants import check, check_slabs
from kmviz.real import slabinfo

CAPTURE = Path(__file__).resolve().parents[1] / "real61" / "1G-2cpu"


@pytest.fixture(scope="module")
def booted() -> Kernel:
    return Kernel(mem="1GiB", boot_caches=True, memory_map="flat")


def test_slabinfo_lists_the_captured_caches_in_the_captured_order(booted):
    real = [row.name for row in slabinfo(CAPTURE / "slabinfo").rows]
    assert [row.name for row in slabinfo(booted.cat("/proc/slabinfo")).rows] == real


def test_each_cache_holds_the_captured_objects(booted):
    # kmalloc-8: 2047 objects in use in the capture, four 512-slot slabs
    cache = booted.kmalloc_cache("kmalloc-8")
    assert len(cache.requested) == 2047 and len(cache.slabs) == 4


def test_the_slab_memory_is_the_captured_kernels_within_one_percent(booted):
    real = sum(row.num_slabs * row.pagesperslab for row in slabinfo(CAPTURE / "slabinfo").rows)
    assert abs(sum(cache.pages for cache in booted.caches) - real) <= real // 100


def test_boot_aliases_are_symlinks_to_their_caches_directory(booted):
    assert "dmaengine-unmap-2" in booted.kmalloc_cache("vmap_area").aliases
    assert booted.sysfs_slab()["dmaengine-unmap-2"] == booted.sysfs_slab()["vmap_area"]
    assert booted.sysfs_slab()["vmap_area"] == ":0000064"


def test_a_new_64_byte_cache_merges_into_the_booted_one():
    k = Kernel(mem="256MiB", boot_caches=True, memory_map="flat")
    assert k.kmem_cache_create("my_obj", 64).name == "vmap_area"


def test_boot_objects_are_neither_waste_nor_leaks():
    k = Kernel(mem="256MiB", boot_caches=True, memory_map="flat")
    assert k.fragmentation() == {} and k.leaks() == {}
    k.kmalloc(100, GFP_KERNEL)
    assert k.fragmentation() == {"kmalloc-128": (100, 128)}


def test_a_small_machine_gets_a_share_of_the_objects():
    # 2047 * 64 MiB // 256 MiB == 511 objects of kmalloc-8
    k = Kernel(mem="64MiB", boot_caches=True, memory_map="flat")
    assert len(k.kmalloc_cache("kmalloc-8").requested) == 511


@pytest.mark.parametrize("mem", ["16MiB", "1GiB"])
def test_a_booted_machine_keeps_every_invariant(mem):
    k = Kernel(mem=mem, boot_caches=True, memory_map="flat")
    check(k)
    check_slabs(k)


def test_the_table_names_every_cache_once():
    names = [entry.name for entry in boot_caches()]
    assert len(names) == len(set(names)) == 145
