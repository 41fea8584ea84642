"""None is NULL wherever the kernel accepts NULL; kvmalloc() tries kmalloc, then vmalloc."""

import pytest

from kmviz.engine import fastpath
from kmviz.engine.buddy import ALLOCATED, OWNER_PAGE_TABLE, held_code
from kmviz.engine.gfp import GFP_ATOMIC, GFP_KERNEL
from kmviz.engine.invariants import fingerprint
from kmviz.engine.kernel import Kernel
from kmviz.engine.pagetable import VMALLOC_END, VMALLOC_START


@pytest.fixture(params=["C path", "Python"])
def k(request, monkeypatch):
    """A 256 MiB machine, with the C fast path attached or not."""
    if request.param == "Python":
        monkeypatch.setattr(fastpath, "ENABLED", False)
    return Kernel("256MiB", seed=0, memory_map="flat")


@pytest.mark.parametrize("free", ["kfree", "vfree", "kvfree", "free_page", "vunmap", "free_pages"])
def test_freeing_none_does_nothing_as_freeing_null_does(k, free):
    before = fingerprint(k, records=False)
    dmesg = k.dmesg()
    args = (None, 0) if free == "free_pages" else (None,)
    getattr(k, free)(*args)
    assert (fingerprint(k, records=False), k.dmesg()) == (before, dmesg)


def test_ksize_of_none_is_zero(k):
    assert k.ksize(None) == 0


def test_krealloc_of_none_allocates_like_kmalloc(k):
    addr = k.krealloc(None, 100, GFP_KERNEL)
    assert k.ksize(addr) == 128


def test_an_address_that_is_neither_int_nor_none_is_a_type_error(k):
    with pytest.raises(TypeError, match="None for NULL"):
        k.kfree("0xffff888000000000")


def test_kvmalloc_of_a_small_size_comes_from_kmalloc(k):
    addr = k.kvmalloc(100, GFP_KERNEL)
    assert not VMALLOC_START <= addr <= VMALLOC_END and k.ksize(addr) == 128


def test_kvmalloc_above_kmalloc_max_falls_back_to_vmalloc_without_a_warning(k):
    dmesg = k.dmesg()
    addr = k.kvmalloc(8 << 20, GFP_KERNEL)  # 8 MiB: above KMALLOC_MAX_SIZE (4 MiB)
    assert VMALLOC_START <= addr <= VMALLOC_END and k.dmesg() == dmesg


def test_kvmalloc_that_may_not_sleep_does_not_fall_back_to_vmalloc(k):
    assert k.kvmalloc(8 << 20, GFP_ATOMIC) == 0


def free_or_page_table(k) -> int:
    """Free pages plus page-table pages (vmalloc's page tables stay, as in Linux)."""
    return k.free_pages_count() + k.buddy.state.count(held_code(ALLOCATED, OWNER_PAGE_TABLE))


@pytest.mark.parametrize("size", [100, 64 << 10])
def test_kvfree_gives_back_what_kvmalloc_took(k, size):
    k.kfree(k.kmalloc(100, GFP_KERNEL))  # kmalloc-128's first slab stays, as SLUB keeps it
    before = free_or_page_table(k)
    k.kvfree(k.kvmalloc(size, GFP_KERNEL))
    assert free_or_page_table(k) == before


def test_kvmalloc_and_kvfree_of_8_mib_do_what_vmalloc_and_vfree_do(k):
    twin = Kernel("256MiB", seed=0, memory_map="flat")
    twin.vfree(twin.vmalloc(8 << 20))
    k.kvfree(k.kvmalloc(8 << 20, GFP_KERNEL))
    assert fingerprint(k, records=False) == fingerprint(twin, records=False)
