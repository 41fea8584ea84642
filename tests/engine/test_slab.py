"""SLUB caches and kmalloc: size classes, slabs, the page allocator underneath, SLUB's reports."""

import pytest

from kmviz import (
    __GFP_ACCOUNT,
    __GFP_DMA32,
    __GFP_RECLAIMABLE,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_KERNEL,
    PAGE_OFFSET,
    Kernel,
)
from kmviz.engine import fastpath
from kmviz.engine.buddy import ALLOCATED, plain_code
from kmviz.engine.events import (
    ObjectAllocated,
    ObjectFreed,
    SlabCreated,
    SlabFreed,
    SlabFrozen,
    SlabsUnfrozen,
)
from kmviz.engine.gfp import BIT
from kmviz.engine.invariants import check, check_slabs
from kmviz.engine.slab_geometry import SLAB_CONSISTENCY_CHECKS, SLAB_POISON, SLAB_RECLAIM_ACCOUNT
from kmviz.real import machine_like


def cache_of(k, addr):
    return k.slab_by_pfn[(addr - PAGE_OFFSET) >> 12].cache.name


def snapshot(k):
    return (
        bytes(k.buddy.state),
        [(c.name, sorted((s.pfn, tuple(s.freelist)) for s in c.slabs)) for c in k.caches],
        [dict(c.requested) for c in k.caches],
    )


@pytest.mark.parametrize(
    ("size", "cache"),
    [
        (1, "kmalloc-8"),
        (8, "kmalloc-8"),
        (9, "kmalloc-16"),
        (64, "kmalloc-64"),
        (65, "kmalloc-96"),
        (96, "kmalloc-96"),
        (97, "kmalloc-128"),
        (128, "kmalloc-128"),
        (129, "kmalloc-192"),
        (192, "kmalloc-192"),
        (193, "kmalloc-256"),
        (8192, "kmalloc-8k"),
    ],
)
def test_kmalloc_picks_the_kernels_size_class(size, cache):
    k = Kernel(mem="64MiB", memory_map="flat")
    assert cache_of(k, k.kmalloc(size, GFP_KERNEL)) == cache


def test_above_8k_kmalloc_goes_to_the_page_allocator_as_a_compound_block():
    k = Kernel(mem="64MiB", memory_map="flat")
    addr = k.kmalloc(8193, GFP_KERNEL)
    pfn, order, requested = k.large_kmalloc[addr]
    assert (order, requested) == (2, 8193)  # get_order(8193) == 2
    assert k.ksize(addr) == 16384
    k.kfree(addr)
    assert k.block_at(pfn)[2] == "pcp"  # order 2: onto this CPU's per-CPU list
    check(k)


def test_kmalloc_of_zero_is_zero_size_ptr_and_kfree_of_it_does_nothing():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert k.kmalloc(0, GFP_KERNEL) == 16
    before = snapshot(k)
    k.kfree(16)
    k.kfree(0)
    assert snapshot(k) == before
    assert [e.ptr for e in k.history[-2:]] == [16, 0]  # trace_kfree() comes first


def test_kmalloc_above_kmalloc_max_size_warns_and_fails():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert k.kmalloc((4 << 20) + 1, GFP_KERNEL) == 0
    assert "WARNING: CPU: 0 PID: 1234 at mm/page_alloc.c:5634" in k.dmesg()


def test_gfp_flags_choose_the_kmalloc_kind():
    k = Kernel(mem="64MiB", memory_map="flat")
    dma = k.kmalloc(100, GFP_DMA)
    assert cache_of(k, dma) == "dma-kmalloc-128"
    assert (dma - PAGE_OFFSET) >> 12 < 4096  # its slab came from ZONE_DMA
    assert cache_of(k, k.kmalloc(100, GFP_KERNEL | __GFP_RECLAIMABLE)) == "kmalloc-rcl-128"
    assert cache_of(k, k.kmalloc(100, GFP_KERNEL | __GFP_ACCOUNT)) == "kmalloc-cg-128"


def test_objects_come_from_one_slab_until_it_is_full():
    k = Kernel(mem="64MiB", memory_map="flat")
    addrs = [k.kmalloc(128, GFP_KERNEL) for _ in range(33)]  # 32 per order-0 slab
    assert [a - addrs[0] for a in addrs[:32]] == [128 * i for i in range(32)]
    slabs = [e for e in k.history if isinstance(e, SlabCreated) and e.cache == "kmalloc-128"]
    assert [(s.order, s.objects) for s in slabs] == [(0, 32), (0, 32)]


def test_internal_fragmentation_is_requested_against_allocated():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.kmalloc(100, GFP_KERNEL)
    k.kmalloc(65, GFP_KERNEL)
    assert k.fragmentation() == {"kmalloc-128": (100, 128), "kmalloc-96": (65, 96)}
    event = next(e for e in k.history if isinstance(e, ObjectAllocated))
    assert (event.tracepoint, event.bytes_req, event.bytes_alloc) == ("kmalloc", 100, 128)


def test_empty_slabs_go_back_to_the_page_allocator():
    k = Kernel(mem="64MiB", memory_map="flat")
    free_at_boot = k.free_pages_count()
    addrs = [k.kmalloc(1024, GFP_KERNEL) for _ in range(200)]
    assert k.free_pages_count() < free_at_boot
    for addr in addrs:
        k.kfree(addr)
    k.kmem_cache_shrink(k.kmalloc_cache("kmalloc-1k"))
    k.drain_all_pages()  # the slab pages went to the per-CPU lists first
    assert k.free_pages_count() == free_at_boot
    assert any(isinstance(e, SlabFreed) for e in k.history)
    check(k)
    check_slabs(k)


def test_a_user_cache_allocates_and_frees_its_objects():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_obj", 200)
    addr = k.kmem_cache_alloc(cache, GFP_KERNEL)
    assert cache_of(k, addr) == "lesson_obj"
    k.kmem_cache_free(cache, addr)
    assert isinstance(k.history[-1], ObjectFreed)
    k.kmem_cache_destroy(cache)
    assert "lesson_obj" not in k.cat("/proc/slabinfo")


def test_slabinfo_rows_are_exact():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_obj", 200)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    lines = k.cat("/proc/slabinfo").splitlines()
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[2] == (
        "lesson_obj            20     20    200   20    1 : tunables    0    0    0 : "
        "slabdata      1      1      0"
    )
    assert lines[-1].startswith("kmalloc-8              0      0      8  512    1 :")


def test_meminfo_counts_slab_memory():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.kmalloc(100, GFP_KERNEL | __GFP_RECLAIMABLE)
    k.kmalloc(100, GFP_KERNEL)
    lines = k.cat("/proc/meminfo").splitlines()
    assert "Slab:                  8 kB" in lines
    assert "SReclaimable:          4 kB" in lines
    assert "SUnreclaim:            4 kB" in lines


def test_kmalloc_with_gfp_kernel_in_an_irq_is_a_might_sleep_bug():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.irq():
        assert k.kmalloc(64, GFP_KERNEL)
        assert k.kmalloc(64, GFP_ATOMIC)
    assert k.dmesg().count("BUG: sleeping function called from invalid context") == 1


def test_krealloc_keeps_the_object_while_it_fits_its_slot():
    k = Kernel(mem="64MiB", memory_map="flat")
    addr = k.kmalloc(100, GFP_KERNEL)
    assert k.krealloc(addr, 120, GFP_KERNEL) == addr
    moved = k.krealloc(addr, 200, GFP_KERNEL)
    assert moved != addr and cache_of(k, moved) == "kmalloc-256"
    assert k.kcalloc(1 << 62, 8, GFP_KERNEL) == 0  # the multiplication overflows


def test_leaks_count_live_objects_by_call_site():
    k = Kernel(mem="64MiB", memory_map="flat")
    for _ in range(3):
        k.kmalloc(32, GFP_KERNEL)
    assert k.leaks() == {"lesson_init+0x1c/0x60 [lesson]": 3}


# --- mistakes, with and without slub_debug -------------------------------------------------------
def test_double_free_with_slub_debug_reports_object_already_free():
    k = Kernel(mem="64MiB", slub_debug=True, memory_map="flat")
    addr = k.kmalloc(100, GFP_KERNEL)
    k.kmalloc(100, GFP_KERNEL)
    k.kfree(addr)
    before = snapshot(k)
    k.kfree(addr)
    lines = [line.split("] ", 1)[1] for line in k.dmesg().splitlines()]
    start = lines.index("=" * 77)
    assert lines[start + 1] == "BUG kmalloc-128 (Not tainted): Object already free"
    assert lines[start + 2] == "-" * 77
    assert any(line.startswith("FIX kmalloc-128: Object at 0x") for line in lines)
    assert snapshot(k) == before
    check_slabs(k)


def test_freeing_a_pointer_into_an_object_with_slub_debug_is_invalid():
    k = Kernel(mem="64MiB", slub_debug=True, memory_map="flat")
    addr = k.kmalloc(100, GFP_KERNEL)
    before = snapshot(k)
    k.kfree(addr + 8)
    assert "BUG kmalloc-128 (Not tainted): Invalid object pointer 0x" in k.dmesg()
    assert snapshot(k) == before


def test_immediate_double_free_without_debug_hits_the_hardened_bug_on():
    k = Kernel(mem="64MiB", memory_map="flat")
    addr = k.kmalloc(100, GFP_KERNEL)
    k.kfree(addr)
    before = snapshot(k)
    k.kfree(addr)
    assert "kernel BUG at mm/slub.c:419!" in k.dmesg()
    assert snapshot(k) == before


def test_a_later_double_free_without_debug_is_refused_and_explained():
    k = Kernel(mem="64MiB", memory_map="flat")
    first, second = k.kmalloc(100, GFP_KERNEL), k.kmalloc(100, GFP_KERNEL)
    k.kfree(first)
    k.kfree(second)
    before = snapshot(k)
    k.kfree(first)
    assert "hand the same memory out twice later; nothing was freed" in k.dmesg()
    assert snapshot(k) == before


def test_freeing_into_the_wrong_cache_warns_and_frees_into_the_right_one():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_obj", 200)
    addr = k.kmalloc(100, GFP_KERNEL)
    k.kmem_cache_free(cache, addr)
    assert "kmem_cache_free: Wrong slab cache. lesson_obj but object is from kmalloc-128" in (
        k.dmesg()
    )
    assert not k.kmalloc_cache("kmalloc-128").requested
    check_slabs(k)


def test_destroying_a_cache_with_objects_warns_and_keeps_it():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_obj", 200)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    k.kmem_cache_destroy(cache)
    log = k.dmesg()
    assert "BUG lesson_obj (Not tainted): Objects remaining in lesson_obj on " in log
    assert "kmem_cache_destroy lesson_obj: Slab cache still has objects when called from" in log
    assert "lesson_obj" in k.cat("/proc/slabinfo")


def test_kmem_cache_create_refuses_impossible_sizes_like_the_kernel():
    k = Kernel(mem="64MiB", memory_map="flat")
    assert k.kmem_cache_create("huge", (4 << 20) + 1) is None
    assert "kmem_cache_create(huge) integrity check failed" in k.dmesg()


def test_a_constructor_runs_once_for_every_slot_of_a_new_slab():
    k = Kernel(mem="64MiB", memory_map="flat")
    built = []
    cache = k.kmem_cache_create("with_ctor", 512, ctor=built.append)
    addr = k.kmem_cache_alloc(cache, GFP_KERNEL)
    assert len(built) == cache.objects and addr in built


def test_a_cache_with_a_constructor_keeps_its_free_pointer_after_the_object():
    # calculate_sizes(): s->offset = 64, the slot grows by a word, 72 * 56 fits one page
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("with_ctor", 64, ctor=lambda addr: None)
    assert (cache.size, cache.objects) == (72, 56)


def test_total_fragmentation_counts_large_kmalloc_too():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.kmalloc(100, GFP_KERNEL)
    k.kmalloc(9000, GFP_KERNEL)
    assert k.fragmentation_total() == (9100, 128 + 16384)


def test_per_cache_debug_flags_turn_on_slub_reports():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("checked", 64, flags=SLAB_CONSISTENCY_CHECKS)
    addr = k.kmem_cache_alloc(cache, GFP_KERNEL)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    k.kmem_cache_free(cache, addr)
    k.kmem_cache_free(cache, addr)
    assert "BUG checked (Not tainted): Object already free" in k.dmesg()


def test_a_pointer_into_a_large_kmalloc_frees_the_whole_block():
    k = Kernel(mem="64MiB", memory_map="flat")
    addr = k.kmalloc(20000, GFP_KERNEL)
    pfn = k.large_kmalloc[addr][0]
    k.kfree(addr + 4096)  # virt_to_folio() finds the head, as in Linux
    assert addr not in k.large_kmalloc and k.block_at(pfn)[2] == "pcp"  # order 3
    check(k)
    check_slabs(k)


def test_a_slab_above_the_minimum_order_is_first_tried_without_reclaim():
    # allocate_slab() (mm/slub.c L1944): NOWARN|NORETRY, and NOMEMALLOC instead of reclaim
    k = Kernel("256MiB", seed=1, memory_map="flat")
    cache = k.kmem_cache_create("big_objects", 3000)
    assert cache.order > cache.min_order
    start = len(k.history)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    events = k.history[start:]
    created = next(i for i, e in enumerate(events) if isinstance(e, SlabCreated))
    page = next(e for e in reversed(events[:created]) if e.__class__.__name__ == "PagesAllocated")
    expected = (GFP_KERNEL | BIT.NOWARN | BIT.NORETRY | BIT.NOMEMALLOC | BIT.COMP) & ~BIT.RECLAIM
    assert page.gfp == expected


@pytest.mark.parametrize("c_path", [True, False], ids=["C", "Python"])
def test_a_cache_of_order_3_asks_for_its_order_0_fallback_with_gfp_comp(c_path, monkeypatch):
    # allocate_slab() (mm/slub.c L1940): flags |= s->allocflags, which calculate_sizes() gave
    # __GFP_COMP because the cache's order is 3; the minimum-order try keeps it, and
    # prep_new_page() leaves the order-0 page plain (not compound)
    monkeypatch.setattr(fastpath, "ENABLED", c_path)
    only_order_0 = "Node 0, zone    DMA32   3000" + "      0" * 10 + " \n"
    meminfo = "MemTotal: 262144 kB\nMemFree: 12000 kB\n"
    k = machine_like({"buddyinfo": only_order_0, "meminfo": meminfo, "cpus": 1})
    cache = k.kmem_cache_create("big_objects", 3000)
    assert (cache.order, cache.min_order) == (3, 0)
    start = len(k.history)
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    page = next(e for e in k.history[start:] if type(e).__name__ == "PagesAllocated")
    assert (page.order, page.gfp) == (0, GFP_KERNEL | BIT.COMP)
    assert plain_code(k.buddy.state[page.pfn]) == ALLOCATED
    check(k)
    check_slabs(k)


def test_an_emptied_slab_goes_back_once_min_partial_slabs_are_partial_counting_itself():
    # __slab_free(): !new.inuse && n->nr_partial >= s->min_partial (mm/slub.c L3578), in a
    # cache without a per-CPU partial list (debugged), where freed full slabs go to the node
    k = Kernel("64MiB", seed=1, memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256, flags=SLAB_CONSISTENCY_CHECKS)
    objects = [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(cache.objects * 7)]
    slabs = sorted({k.virt_to_page(a).pfn for a in objects})
    by_slab = {pfn: [a for a in objects if k.virt_to_page(a).pfn == pfn] for pfn in slabs}
    partial_before = cache.min_partial - 1
    for pfn in slabs[:partial_before]:  # these become partial: one free each
        k.kmem_cache_free(cache, by_slab[pfn][0])
    emptied = slabs[partial_before]
    start = len(k.history)
    for addr in by_slab[emptied]:
        k.kmem_cache_free(cache, addr)
    assert any(isinstance(e, SlabFreed) and e.pfn == emptied for e in k.history[start:])


def test_kmalloc_fix_flags_prints_both_masks_with_a_space_as_61_does():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    k.kmalloc(64, GFP_KERNEL | __GFP_DMA32)
    assert (
        "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!"
        in (k.dmesg())
    )


@pytest.mark.parametrize("name", ["my_cache", "kmalloc-64"])
def test_a_second_cache_with_a_taken_name_is_refused_as_sysfs_refuses_it(name):
    k = Kernel(mem="16MiB", slab_nomerge=True, memory_map="flat")
    k.kmem_cache_create("my_cache", 64)
    assert k.kmem_cache_create(name, 64) is None
    assert f"kmem_cache_create({name}) failed with error -17" in k.dmesg()


def test_a_ctor_that_is_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match="ctor"):
        Kernel(mem="16MiB", memory_map="flat").kmem_cache_create("c", 64, ctor=5)


def test_a_ctor_that_raises_gives_the_new_slab_back():
    k = Kernel(mem="16MiB", memory_map="flat")

    def ctor(addr):
        raise RuntimeError("the learner's bug")

    cache = k.kmem_cache_create("c", 64, ctor=ctor)
    free = k.free_pages_count() + k.pcp_pages_count()
    with pytest.raises(RuntimeError):
        k.kmem_cache_alloc(cache, GFP_KERNEL)
    assert k.free_pages_count() + k.pcp_pages_count() == free


def test_destroying_a_kmalloc_cache_is_refused_as_kmalloc_still_uses_it():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.kmem_cache_destroy(k.kmalloc_cache("kmalloc-64"))
    assert "a kmalloc cache" in k.dmesg()
    assert k.kmalloc_cache("kmalloc-64") in k.caches


def test_a_compatible_new_cache_becomes_an_alias_of_the_existing_one():
    # find_mergeable(): ALIGN(60, 8) = 64 fits my_obj's 64-byte slots with nothing to spare
    k = Kernel(mem="16MiB", memory_map="flat")
    first = k.kmem_cache_create("my_obj", 64)
    second = k.kmem_cache_create("my_other", 60)
    assert second is first and first.aliases == ["my_other"] and first.refcount == 2
    assert "my_other" not in k.cat("/proc/slabinfo")


def test_an_alias_allocates_from_the_caches_slabs():
    k = Kernel(mem="16MiB", memory_map="flat")
    first = k.kmem_cache_create("my_obj", 64)
    alias = k.kmem_cache_create("my_other", 64)
    addr = k.kmem_cache_alloc(alias, GFP_KERNEL)
    assert k._slab_of(addr).cache is first


def test_sysfs_shows_an_alias_as_a_symlink_to_the_unique_id():
    k = Kernel(mem="16MiB", memory_map="flat")
    k.kmem_cache_create("my_obj", 64)
    k.kmem_cache_create("my_other", 64)
    entries = k.sysfs_slab()
    assert entries["my_obj"] == entries["my_other"] == ":0000064"
    assert entries["kmalloc-64"] == "kmalloc-64"  # usersize and refcount -1: never merged


@pytest.mark.parametrize(
    ("size", "kwargs"),
    [
        (64, {"ctor": lambda addr: None}),  # a constructor
        (64, {"flags": SLAB_CONSISTENCY_CHECKS | SLAB_POISON}),  # SLAB_NEVER_MERGE
        (48, {}),  # 64 - 48 wastes a word or more
        (72, {}),  # does not fit
        (64, {"flags": SLAB_RECLAIM_ACCOUNT}),  # SLAB_MERGE_SAME differs
    ],
)
def test_an_incompatible_cache_is_created_anew(size, kwargs):
    k = Kernel(mem="16MiB", memory_map="flat")
    first = k.kmem_cache_create("my_obj", 64)
    assert k.kmem_cache_create("my_other", size, **kwargs) is not first


def test_kmalloc_caches_are_never_merged_into():
    k = Kernel(mem="16MiB", memory_map="flat")
    assert k.kmem_cache_create("my_obj", 64).name == "my_obj"


def test_slab_nomerge_creates_every_cache():
    k = Kernel(mem="16MiB", slab_nomerge=True, memory_map="flat")
    first = k.kmem_cache_create("my_obj", 64)
    assert k.kmem_cache_create("my_other", 64) is not first


def test_destroying_an_alias_keeps_the_cache_for_its_other_users():
    k = Kernel(mem="16MiB", memory_map="flat")
    first = k.kmem_cache_create("my_obj", 64)
    addr = k.kmem_cache_alloc(first, GFP_KERNEL)
    k.kmem_cache_destroy(k.kmem_cache_create("my_other", 64))
    assert first in k.caches and first.refcount == 1 and "Slab cache still has" not in k.dmesg()
    k.kmem_cache_free(first, addr)


def full_slabs(k, cache, count):
    """Allocate ``count`` slabs full and one object more; {pfn: its objects}, oldest first."""
    objects = [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(cache.objects * count + 1)]
    by_slab = {}
    for addr in objects[:-1]:
        by_slab.setdefault(k.virt_to_page(addr).pfn, []).append(addr)
    return by_slab


@pytest.mark.parametrize(
    ("size", "cpu_partial", "slabs"),
    [(100, 120, 7), (1000, 52, 7), (1024, 24, 3), (4096, 6, 2), (8192, 6, 3)],
)
def test_cpu_partial_is_set_as_61_sets_it(size, cpu_partial, slabs):
    # set_cpu_partial(): by slot size; slabs: DIV_ROUND_UP(2 * objects, per slab), e.g. a
    # 104-byte slot, 39 per slab: (240 + 38) // 39 == 7 (the capture's kmviz_plain_100)
    cache = Kernel("64MiB", memory_map="flat").kmem_cache_create("probe", size)
    assert (cache.cpu_partial, cache.cpu_partial_slabs) == (cpu_partial, slabs)


def test_a_debugged_cache_has_no_cpu_partial_list():
    cache = Kernel("64MiB", slub_debug=True, memory_map="flat").kmem_cache_create("probe", 100)
    assert (cache.cpu_partial, cache.cpu_partial_slabs) == (0, 0)


def test_a_full_slab_that_gets_an_object_back_joins_the_cpus_partial_list():
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 3)
    first, second = list(by_slab)[:2]
    k.kmem_cache_free(cache, by_slab[first][0])
    k.kmem_cache_free(cache, by_slab[second][0])
    assert [s.pfn for s in cache.percpu_partial] == [first, second] and not cache.partial
    assert isinstance(k.history[-1], SlabFrozen) and k.history[-1].pfn == second


def test_an_empty_slab_on_the_cpus_partial_list_stays():
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 7)
    for pfn in list(by_slab)[:6]:
        k.kmem_cache_free(cache, by_slab[pfn][0])
    emptied = next(iter(by_slab))
    for addr in by_slab[emptied][1:]:
        k.kmem_cache_free(cache, addr)
    assert emptied in [s.pfn for s in cache.percpu_partial] and len(cache.slabs) == 8


def test_a_full_cpu_partial_list_drains_to_the_node_list():
    # put_cpu_partial(drain=1): 7 slabs allowed for 256-byte slots; the 8th replaces them
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 8)
    pfns = list(by_slab)
    for pfn in pfns:
        k.kmem_cache_free(cache, by_slab[pfn][0])
    assert [s.pfn for s in cache.percpu_partial] == [pfns[7]]
    assert [s.pfn for s in cache.partial] == pfns[6::-1]  # head first, each to the tail
    drained = next(e for e in k.history[::-1] if isinstance(e, SlabsUnfrozen))
    assert drained.pfns == tuple(pfns[6::-1])


def test_the_active_slab_refills_from_the_cpus_partial_list_newest_first():
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 3)
    first, second, _ = by_slab
    k.kmem_cache_free(cache, by_slab[first][0])
    k.kmem_cache_free(cache, by_slab[second][0])
    for _ in range(cache.objects):  # uses up the active slab, then takes the CPU's newest
        k.kmem_cache_alloc(cache, GFP_KERNEL)
    assert cache.cpu_slab.pfn == second and [s.pfn for s in cache.percpu_partial] == [first]


def test_a_node_partial_refill_moves_more_slabs_to_the_cpus_list():
    # get_partial_node(): the first slab becomes active, then slabs move to the CPU's list
    # until more than cpu_partial_slabs / 2 (7 // 2 == 3) have: 4 of them
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 8)
    for pfn in by_slab:
        k.kmem_cache_free(cache, by_slab[pfn][0])
    k.kmem_cache_shrink(cache)  # every slab to the node's list: 9 partial
    k.kmem_cache_alloc(cache, GFP_KERNEL)
    assert len(cache.percpu_partial) == 4 and len(cache.partial) == 9 - 1 - 4


def test_slabinfo_counts_the_free_slots_of_the_cpus_partial_slabs_as_active():
    # get_slabinfo() subtracts only the free objects of the node's partial list
    k = Kernel("64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_objects", 256)
    by_slab = full_slabs(k, cache, 3)
    k.kmem_cache_free(cache, next(iter(by_slab.values()))[0])
    line = next(x for x in k.cat("/proc/slabinfo").splitlines() if x.startswith("lesson_objects"))
    assert line.split()[1:3] == ["64", "64"]


def test_a_caches_requested_sizes_are_listed_without_looking_up_an_address(monkeypatch):
    k = Kernel("64MiB", seed=0, memory_map="flat")
    addrs = [k.kmalloc(100 + n % 20, GFP_KERNEL) for n in range(500)]
    cache = k.kmalloc_cache("kmalloc-128")
    expected = {addr: 100 + n % 20 for n, addr in enumerate(addrs)}
    monkeypatch.setattr(type(cache.requested), "__getitem__", None)  # a lookup would fail
    assert dict(cache.requested.items()) == expected
    assert sorted(cache.requested.values()) == sorted(expected.values())
