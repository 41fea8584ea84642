"""The C fast path and the pure-Python reference leave bit-identical machines."""

import random
from dataclasses import FrozenInstanceError

import pytest

from kmviz import (
    __GFP_DMA32,
    __GFP_MOVABLE,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RECLAIMABLE,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_HIGHUSER,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    PAGE_OFFSET,
    SLAB_RED_ZONE,
    Kernel,
)
from kmviz.engine import fastpath, history
from kmviz.engine.constants import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE
from kmviz.engine.events import (
    FallbackStolen,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PcpPagesDrained,
)
from kmviz.engine.gfp import __GFP_COMP
from kmviz.engine.invariants import check, fingerprint
from kmviz.engine.page import Page
from kmviz.engine.slab_geometry import SLAB_CACHE_DMA32, SLAB_RECLAIM_ACCOUNT

GFPS = [  # blocking masks carry __GFP_NORETRY: a full machine fails instead of going OOM
    GFP_KERNEL | __GFP_NORETRY,
    GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_HIGHUSER | __GFP_NORETRY,
    GFP_HIGHUSER_MOVABLE | __GFP_NORETRY,
    GFP_KERNEL | __GFP_RECLAIMABLE | __GFP_NORETRY,
]


def machine_state(k):
    buddy = k.buddy
    return (
        bytes(buddy.state),
        bytes(buddy.nxt),
        bytes(buddy.prv),
        bytes(buddy.pageblock_mt),
        [(bytes(z.nr_free), z.free_pages) for z in k.zones],
        [(bytes(z.pcp_count), bytes(z.pcp_free_factor)) for z in k.zones],
        [[bytes(pcp_list) for pcp_list in z.pcp_lists] for z in k.zones],  # tail first
        bytes(k.history.records),
        k.dmesg(),
    )


def churn(k, seed, steps, double_frees=0.0):
    """A seeded mix of allocations, frees, double frees and wrong orders, by address.

    Now and then the task moves to another CPU (other per-CPU lists) or every list is drained;
    ``double_frees``: how often an order-0 page just freed is freed again.
    """
    rng = random.Random(seed)
    live = []
    freed = []
    for _ in range(steps):
        roll = rng.random()
        if roll < double_frees and freed:
            k.free_pages(freed.pop(), 0)
        elif roll < 0.01:
            k.on_cpu(rng.randrange(k.cpus))
        elif roll < 0.012:
            k.drain_all_pages()
        elif roll < 0.55 or not live:
            order = min(int(rng.expovariate(0.7)), 11)
            addr = k.get_free_pages(rng.choice(GFPS), order)
            if addr:
                live.append((addr, order))
        elif roll < 0.97:
            addr, order = live.pop(rng.randrange(len(live)))
            k.free_pages(addr, order)
            if not order:
                freed.append(addr)
        elif live:
            addr, order = rng.choice(live)
            k.free_pages(addr, order + rng.choice((-1, 1)))  # a learner's wrong order
    return live


@pytest.fixture
def pure_python(monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", False)


def test_the_c_fast_path_was_built_and_is_used():
    assert fastpath.FastPath is not None, "kmviz/engine/_fastpath.c did not compile at install"
    k = Kernel(memory_map="flat")
    assert type(k.get_free_pages).__name__ == "builtin_function_or_method"


def test_pure_python_switch_really_switches(pure_python):
    k = Kernel(memory_map="flat")
    assert type(k.get_free_pages).__name__ == "method"


@pytest.mark.parametrize(
    "machine",
    [
        {"mem": "64MiB", "memory_map": "flat"},
        {"mem": "24MiB", "memory_map": "flat", "boot_reserved": False},
        {"mem": "4200MiB"},
        {"mem": "32MiB", "memory_map": "flat", "zone_dma": False, "zone_dma32": False},
    ],
    ids=["64MiB", "24MiB-no-reserve", "4200MiB-three-zones", "32MiB-normal-only"],
)
def test_c_and_python_leave_identical_machines(machine, monkeypatch):
    fast = Kernel(**machine)
    churn(fast, seed=7, steps=6000)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    churn(slow, seed=7, steps=6000)
    assert machine_state(fast) == machine_state(slow)
    check(fast)
    kinds = {type(event) for event in fast.history}
    assert {PcpPagesDrained, PagesAllocatedZoneLocked} <= kinds  # both pcp paths ran


def test_c_and_python_agree_when_silent_double_frees_drop_and_remake_the_plans(monkeypatch):
    # config="debian": a double free takes a refcount to -1 and the fast paths' plans are
    # dropped until an allocation finds the page; the C path must not serve from stale plans
    fast = Kernel(mem="32MiB", memory_map="flat", config="debian")
    churn(fast, seed=11, steps=4000, double_frees=0.02)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="32MiB", memory_map="flat", config="debian")
    churn(slow, seed=11, steps=4000, double_frees=0.02)
    assert machine_state(fast) == machine_state(slow)
    assert "nonzero _refcount" in fast.dmesg()  # a double-freed page was caught being reused
    check(fast)


def page_churn(k, seed, steps):
    """churn() by struct page: alloc_pages() and __free_pages(), mixed with the address calls.

    A block may be freed by the other call than the one that allocated it, by a Page made by
    hand, with a wrong order or twice.  Returns what every call returned.
    """
    rng = random.Random(seed)
    live, returned = [], []
    free_block = getattr(k, "__free_pages")
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.01:
            k.on_cpu(rng.randrange(k.cpus))
        elif roll < 0.55 or not live:
            order = min(int(rng.expovariate(0.7)), 11)
            if rng.random() < 0.7:
                got = k.alloc_pages(rng.choice(GFPS), order)
                page = got
            else:
                got = k.get_free_pages(rng.choice(GFPS), order)
                page = k.virt_to_page(got) if got else None
            returned.append(got)
            if page is not None:
                live.append((page, order))
        else:
            page, order = live.pop(rng.randrange(len(live)))
            how = rng.random()
            if how < 0.03:
                order += rng.choice((-1, 1))  # a learner's wrong order: nothing is freed
            elif how < 0.05:
                live.append((page, order))  # freed now and again later: a double free
            if how < 0.1:
                page = Page(page.pfn, page.zone)  # made by hand: equal, not the same object
            if rng.random() < 0.7:
                returned.append(free_block(page, order))
            else:
                returned.append(k.free_pages(k.page_address(page), order))
    return returned


@pytest.mark.parametrize("config", ["debug", "debian"])
def test_c_and_python_alloc_pages_and_free_pages_leave_identical_machines(config, monkeypatch):
    machine = {"mem": "4200MiB", "config": config}  # a PC: DMA, DMA32 and Normal
    fast = Kernel(**machine)
    assert type(fast.alloc_pages).__name__ == "builtin_function_or_method"
    fast_returned = page_churn(fast, seed=5, steps=5000)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    slow_returned = page_churn(slow, seed=5, steps=5000)
    assert fast_returned == slow_returned
    assert machine_state(fast) == machine_state(slow)
    assert list(fast.history)[-3000:] == list(slow.history)[-3000:]
    check(fast)


def test_a_page_from_the_c_path_is_the_page_python_makes(monkeypatch):
    fast = Kernel(mem="64MiB", memory_map="flat")
    fast.alloc_pages(GFP_KERNEL, 0)  # the first call of a mask goes the whole way, in Python
    page = fast.alloc_pages(GFP_KERNEL, 0)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="64MiB", memory_map="flat")
    slow.alloc_pages(GFP_KERNEL, 0)
    expected = slow.alloc_pages(GFP_KERNEL, 0)
    assert type(page) is Page
    assert (page, hash(page), repr(page)) == (expected, hash(expected), repr(expected))
    with pytest.raises(FrozenInstanceError):
        page.pfn = 0


def test_a_mask_the_c_path_served_just_before_a_double_free_goes_the_whole_path_after_it(
    monkeypatch,
):
    # config="debian": the double free drops the plans; the C path, which remembers the plan
    # it found for the last mask, must look again: the page comes back through the whole
    # path, whose prep_new_page() sets the refcount of -1 to 1 again
    machines = []
    for enabled in (True, False):
        monkeypatch.setattr(fastpath, "ENABLED", enabled)
        k = Kernel(mem="128MiB", memory_map="flat", config="debian")
        k.get_free_pages(GFP_KERNEL, 0)  # the mask's first call makes its plan
        addr = k.get_free_pages(GFP_KERNEL, 0)  # served by the fast path, from that plan
        k.free_pages(addr, 0)
        k.free_pages(addr, 0)  # silent: the refcount goes to -1
        assert k.get_free_pages(GFP_KERNEL, 0) == addr  # the pcp list's head
        assert not k.refcount_underflow
        machines.append(machine_state(k))
    assert machines[0] == machines[1]


def test_a_buddy_order_block_stolen_from_another_migratetype_comes_through_the_fast_path(
    monkeypatch,
):
    # order 5 skips the per-CPU lists: when the Unmovable lists run dry, __rmqueue() steals a
    # block from another migratetype and retries, in C as in Python, without the whole path
    python_calls = []  # Kernel.get_free_pages() (the C path hands it what it does not serve)
    whole_path_calls = []  # Kernel._alloc(): __alloc_pages()
    for name, calls in (("get_free_pages", python_calls), ("_alloc", whole_path_calls)):
        method = getattr(Kernel, name)
        monkeypatch.setattr(Kernel, name, lambda k, *a, m=method, c=calls: c.append(a) or m(k, *a))
    machines = []
    for enabled in (True, False):
        monkeypatch.setattr(fastpath, "ENABLED", enabled)
        k = Kernel(mem="64MiB", memory_map="flat")
        k.get_free_pages(GFP_KERNEL, 5)  # the mask's first call makes its plan
        del python_calls[:], whole_path_calls[:]
        for _ in range(120):  # 15 MiB: DMA32 stays above its low watermark
            k.get_free_pages(GFP_KERNEL, 5)
        assert not whole_path_calls
        machines.append(k)
        if enabled:
            assert not python_calls
    fast, slow = machines
    steals = [e for e in fast.history if isinstance(e, FallbackStolen) and e.alloc_order == 5]
    assert len(steals) >= 3
    assert machine_state(fast) == machine_state(slow)
    check(fast)


def cma_churn(k, seed, steps):
    """Movable pages by the page (page cache, user memory) and by block, freed in any order.

    The CMA area of the test's machine holds a little under half of the free pages: movable
    requests take their own blocks until it holds over half, then CMA blocks first, so
    __rmqueue()'s balance tips back and forth (also in the middle of rmqueue_bulk()'s batches);
    unmovable requests never get CMA blocks.
    """
    rng = random.Random(seed)
    live = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.05:
            k.fill_page_cache(rng.randrange(1, 64) << 12)
        elif roll < 0.55 or not live:
            order = min(int(rng.expovariate(0.7)), 10)
            gfp = rng.choice((GFP_HIGHUSER_MOVABLE | __GFP_NORETRY, GFP_KERNEL | __GFP_NORETRY))
            addr = k.get_free_pages(gfp, order)
            if addr:
                live.append((addr, order))
        else:
            k.free_pages(*live.pop(rng.randrange(len(live))))
    k.drain_all_pages()


def test_c_and_python_balance_movable_allocations_onto_the_cma_area_alike(monkeypatch):
    python_calls = []  # Kernel.get_free_pages(): what the C path hands over
    method = Kernel.get_free_pages
    monkeypatch.setattr(
        Kernel, "get_free_pages", lambda k, *a: python_calls.append(a) or method(k, *a)
    )
    machine = {"mem": "256MiB", "memory_map": "flat", "cma": "96MiB"}  # 24,576 of 53,856 free
    fast = Kernel(**machine)
    assert fast.pages_fastpath is not None
    cma_churn(fast, seed=3, steps=4000)
    assert len(python_calls) < 40  # a mask's first call, the odd watermark miss
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    cma_churn(slow, seed=3, steps=4000)
    assert machine_state(fast) == machine_state(slow)
    assert [z.free_cma for z in fast.zones] == [z.free_cma for z in slow.zones]
    area = range(fast.cma_base, fast.cma_base + fast.cma_count)
    assert any(e.pfn in area for e in fast.history if isinstance(e, PagesAllocatedZoneLocked))
    check(fast)


def test_a_fork_allocates_pages_through_the_c_path_on_its_own_arrays():
    k = Kernel(mem="64MiB", memory_map="flat")
    page = k.alloc_pages(GFP_KERNEL, 0)
    twin = k.fork()
    assert type(twin.alloc_pages).__name__ == "builtin_function_or_method"
    getattr(twin, "__free_pages")(page, 0)
    assert k.block_at(page.pfn)[2] == "allocated" and twin.block_at(page.pfn)[2] == "pcp"


def test_observers_are_notified_through_the_c_path():
    k = Kernel(memory_map="flat")
    seen = []
    k.observe(lambda change: seen.append(change["new"]), names="tick")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    assert seen == [1, 2]


def test_observers_hear_of_alloc_pages_and_free_pages_through_the_c_path():
    k = Kernel(memory_map="flat")
    k.alloc_pages(GFP_KERNEL, 0)  # the mask's first call makes its plan
    seen = []
    k.observe(lambda change: seen.append(change["new"]), names="tick")
    page = k.alloc_pages(GFP_KERNEL, 0)
    getattr(k, "__free_pages")(page, 0)
    with k.batch():  # inside a batch the C path serves and observers hear once, at the end
        getattr(k, "__free_pages")(k.alloc_pages(GFP_KERNEL, 0), 0)
    assert seen == [1, 2, 3]


def test_unobserve_all_then_observe_again_still_notifies():
    k = Kernel(memory_map="flat")
    k.observe(lambda change: None, names="tick")
    k.unobserve_all()
    seen = []
    k.observe(lambda change: seen.append(change["new"]), names="tick")
    k.get_free_pages(GFP_KERNEL, 0)
    assert len(seen) == 1


def slab_state(k):
    return (
        machine_state(k),
        [
            (
                c.name,
                sorted(  # every field of every slab, whichever path made it
                    (
                        s.pfn,
                        s.order,
                        s.objects,
                        tuple(s.freelist),
                        s.base,
                        s.frozen,
                        s.disabled,
                        s.requested.tolist(),
                        s.cache is c,
                    )
                    for s in c.slabs
                ),
                [s.pfn for s in c.partial],
                c.cpu_slab.pfn if c.cpu_slab else None,
                [s.pfn for s in c.percpu_partial],
                sorted(s.pfn for s in c.slabs if s.frozen),
                sorted(c.requested.items()),
            )
            for c in k.caches
        ],
        list(k.history),
    )


def slab_churn(k, seed, steps):
    """A seeded mix of kmalloc, kfree, double kfree and interior pointers."""
    rng = random.Random(seed)
    sizes = [0, 8, 24, 64, 96, 100, 192, 500, 1000, 3000, 8192, 9000]
    live = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.55 or not live:
            addr = k.kmalloc(rng.choice(sizes), rng.choice(GFPS))
            if addr > 16:
                live.append(addr)
        elif roll < 0.95:
            k.kfree(live.pop(rng.randrange(len(live))))
        else:
            k.kfree(rng.choice(live) + rng.choice((0, 8)))  # double or interior frees
            live = [a for a in live if k._slab_of(a) and a in k._slab_of(a).cache.requested]


def test_slab_c_and_python_leave_identical_machines(monkeypatch):
    fast = Kernel(mem="32MiB", memory_map="flat")
    assert type(fast.kmalloc).__name__ == "builtin_function_or_method"
    slab_churn(fast, seed=3, steps=6000)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="32MiB", memory_map="flat")
    slab_churn(slow, seed=3, steps=6000)
    assert slab_state(fast) == slab_state(slow)
    check(fast)


def cache_churn(k, seed, steps, debugged_at=None):
    """A seeded mix of kmem_cache_alloc/free over a few caches, kmalloc/kfree among them.

    Now and then: a free into the wrong cache, a double or interior free, an allocation in
    atomic context, a destroyed cache used again; at step ``debugged_at`` a red-zoned cache
    joins (SLUB's checks then run in Python).  At the end every object goes back.
    """
    rng = random.Random(seed)
    caches = [k.kmem_cache_create(name, size) for name, size in
              (("obj_40", 40), ("obj_192", 192), ("obj_700", 700), ("obj_3000", 3000))]  # fmt: skip
    k.kmem_cache_create("obj_192_again", 192)  # merged: an alias of obj_192's cache
    live = []  # (cache, addr); cache None: kmalloc's
    for step in range(steps):
        if step == debugged_at:
            caches.append(k.kmem_cache_create("obj_redzone", 100, flags=SLAB_RED_ZONE))
        roll = rng.random()
        if roll < 0.5 or not live:
            cache = rng.choice(caches)
            addr = k.kmem_cache_alloc(cache, rng.choice(GFPS))
            if addr:
                live.append((cache, addr))
        elif roll < 0.6:
            addr = k.kmalloc(rng.choice((8, 100, 192, 700)), GFP_KERNEL)
            if addr > 16:
                live.append((None, addr))
        elif roll < 0.95:
            cache, addr = live.pop(rng.randrange(len(live)))
            if cache is None:
                k.kfree(addr)
            else:
                k.kmem_cache_free(cache, addr)
        elif roll < 0.97:
            cache, addr = rng.choice(live)
            k.kmem_cache_free(rng.choice(caches), addr + rng.choice((0, 0, 8)))
            live = [(c, a) for c, a in live if k._slab_of(a) and a in k._slab_of(a).cache.requested]
        elif roll < 0.98:
            with k.spin_lock("lock"):
                addr = k.kmem_cache_alloc(rng.choice(caches), rng.choice(GFPS))
            if addr:
                live.append((rng.choice(caches), addr))  # maybe the wrong cache: it warns
        elif roll < 0.985:
            k.kmem_cache_free(caches[0], 0)  # NULL: a kernel BUG in virt_to_folio()
    rng.shuffle(live)
    for cache, addr in live:  # everything back: slabs empty, and go beyond min_partial
        if cache is None:
            k.kfree(addr)
        else:
            k.kmem_cache_free(cache, addr)
    gone = k.kmem_cache_create("gone", 64, flags=SLAB_RED_ZONE)
    k.kmem_cache_destroy(gone)
    with pytest.raises(ValueError):
        k.kmem_cache_alloc(gone, GFP_KERNEL)


@pytest.mark.parametrize("debugged_at", [None, 3000], ids=["plain", "a-debugged-cache-joins"])
def test_kmem_cache_c_and_python_leave_identical_machines(debugged_at, monkeypatch):
    fast = Kernel(mem="32MiB", memory_map="flat")
    assert type(fast.kmem_cache_alloc).__name__ == "builtin_function_or_method"
    cache_churn(fast, seed=5, steps=8000, debugged_at=debugged_at)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="32MiB", memory_map="flat")
    assert type(slow.kmem_cache_alloc).__name__ == "method"
    cache_churn(slow, seed=5, steps=8000, debugged_at=debugged_at)
    assert slab_state(fast) == slab_state(slow)
    check(fast)
    kinds = {type(event).__name__ for event in fast.history}
    assert {"SlabsUnfrozen", "SlabFrozen", "SlabFreed"} <= kinds  # the drains and discards ran


@pytest.mark.parametrize("beyond", [1 << 64, -(1 << 64)], ids=["above-2**64", "negative"])
def test_an_address_outside_64_bits_is_refused_as_the_python_method_refuses_it(beyond):
    # the C path reads an address modulo 2**64: beyond that, an object's address returns
    k = Kernel(mem="16MiB", memory_map="flat")
    cache = k.kmem_cache_create("obj", 100)
    objects = [k.kmalloc(64, GFP_KERNEL), k.kmem_cache_alloc(cache, GFP_KERNEL)]
    with pytest.raises(ValueError, match=r"an address is 0 \.\. 2\*\*64"):
        k.kfree(objects[0] + beyond)
    with pytest.raises(ValueError, match=r"an address is 0 \.\. 2\*\*64"):
        k.kmem_cache_free(cache, objects[1] + beyond)
    assert k.kmalloc_cache("kmalloc-64").requested == {objects[0]: 64}
    assert cache.requested == {objects[1]: 100}


def test_the_c_fast_path_takes_the_keywords_the_python_methods_take():
    k = Kernel(mem="16MiB", memory_map="flat")
    addr = k.get_free_pages(gfp=GFP_KERNEL, order=0)
    k.free_pages(addr, order=0)
    k.kfree(k.kmalloc(64, gfp=GFP_KERNEL))
    cache = k.kmem_cache_create("obj", 100)
    k.kmem_cache_free(cache=cache, addr=k.kmem_cache_alloc(cache=cache, gfp=GFP_KERNEL))
    assert not k.leaks() and "BUG:" not in k.dmesg()


def test_the_built_extension_has_the_interface_fastpath_expects():
    # a build from an older _fastpath.c (other keywords) is left unused, not called wrongly
    built = pytest.importorskip("kmviz.engine._fastpath")
    assert built.INTERFACE == fastpath.INTERFACE and fastpath.FastPath is built.FastPath


def vmalloc_churn(k, seed, steps):
    """A seeded mix of vmalloc, vzalloc and vfree of 1-40 pages among page churn: the areas'
    pages come off the pcp lists, from refills, and from __alloc_pages() once memory is short
    (until the OOM killer and failed vmallocs); some calls run under a spinlock, some vfrees in
    an interrupt (deferred), the task moves between CPUs, the lists are drained and pages are
    freed twice."""
    rng = random.Random(seed)
    areas, pages = [], []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.02:
            k.on_cpu(rng.randrange(k.cpus))
        elif roll < 0.03:
            k.drain_all_pages()
        elif roll < 0.033 and pages:  # a double free: "debian" takes the refcount to -1
            addr = pages.pop()
            k.free_pages(addr, 0)
            k.free_pages(addr, 0)
        elif roll < 0.2:
            addr = k.get_free_pages(GFP_KERNEL | __GFP_NORETRY, 0)
            if addr:
                pages.append(addr)
        elif roll < 0.3 and pages:
            k.free_pages(pages.pop(rng.randrange(len(pages))), 0)
        elif roll < 0.75 or not areas:
            allocate = k.vzalloc if roll < 0.35 else k.vmalloc
            size = rng.randint(1, 40) * 4096 - rng.randrange(4096)
            if roll < 0.32:
                with k.spin_lock("bench_lock"):  # atomic: every page takes __alloc_pages()
                    addr = allocate(size)
            else:
                addr = allocate(size)
            if addr:
                areas.append(addr)
        elif roll < 0.77:
            with k.irq():
                k.vfree(areas.pop(rng.randrange(len(areas))))
        else:
            k.vfree(areas.pop(rng.randrange(len(areas))))


def vmalloc_state(k):
    tables = k.page_tables
    return (
        machine_state(k),  # its page states say which pages the areas hold
        k.cat("/proc/vmallocinfo"),
        sorted(k.refcount_underflow),
        {pfn: tables.entries(pfn) for pfn in tables.table_pages()},
        list(k.history),
    )


@pytest.mark.parametrize(
    "machine",
    [
        {"mem": "24MiB", "memory_map": "flat", "boot_reserved": False, "cpus": 2},
        {"mem": "128MiB", "cpus": 4},
        {"mem": "32MiB", "memory_map": "flat", "config": "debian"},
        {"mem": "48MiB", "memory_map": "flat", "cma": "16MiB"},
    ],
    ids=["24MiB-runs-out", "128MiB-pc", "32MiB-debian", "48MiB-cma"],
)
def test_vmalloc_c_page_loops_and_python_leave_identical_machines(machine, monkeypatch):
    fast = Kernel(**machine)
    assert fast.pages_fastpath is not None  # vmalloc's page loops run in C
    vmalloc_churn(fast, seed=11, steps=3000)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    assert slow.pages_fastpath is None
    vmalloc_churn(slow, seed=11, steps=3000)
    assert vmalloc_state(fast) == vmalloc_state(slow)
    check(fast)


def fast_and_slow(monkeypatch, scenario, **machine):
    """vmalloc_state() of two machines after ``scenario(k)``: with the C path, then without."""
    fast = Kernel(**machine)
    assert fast.pages_fastpath is not None
    scenario(fast)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    scenario(slow)
    return vmalloc_state(fast), vmalloc_state(slow)


def without_unmovable_pageblocks_in_normal(k):
    """Leave Normal free pages above its marks, but only in movable pageblocks that each hold
    an allocated page, and this CPU's free_factor above 1: ALLOC_NOFRAGMENT refills of the
    unmovable list (whole pageblocks only) fail there."""
    k.vfree(k.vmalloc(4096))  # the page tables and the page array's slab exist
    normal = k.zone("Normal")
    pfn = lambda addr: (addr - PAGE_OFFSET) >> 12  # noqa: E731
    held = []
    while normal.start_pfn <= pfn(addr := k.get_free_pages(GFP_HIGHUSER_MOVABLE, 0)):
        held.append(addr)
    k.free_pages(addr, 0)
    for addr in held:
        if pfn(addr) % 512:
            k.free_pages(addr, 0)
    while normal.start_pfn <= pfn(k.get_free_pages(GFP_KERNEL, 0)):
        pass  # until Normal's unmovable pages are gone
    more = [k.get_free_pages(GFP_HIGHUSER_MOVABLE, 0) for _ in range(3000)]
    for addr in more:
        k.free_pages(addr, 0)
    assert normal.pcp_free_factor[0] > 1


def test_a_one_page_area_off_an_empty_pcp_list_goes_through_alloc_pages(monkeypatch):
    # __alloc_pages_bulk() leaves one page to __alloc_pages(): Normal's refill with
    # ALLOC_NOFRAGMENT fails, and __alloc_pages() halves the CPU's free_factor (3 after the
    # frees) as often as the Python path does, not once more.
    def scenario(k):
        without_unmovable_pageblocks_in_normal(k)
        assert k.vmalloc(4096)

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="4200MiB", memory_map="flat")
    assert fast == slow


def test_a_bulk_refill_steals_in_normal_where_alloc_pages_goes_on_to_dma32(monkeypatch):
    # __alloc_pages_bulk()'s refill runs without ALLOC_NOFRAGMENT (alloc_flags_nofragment()
    # is __alloc_pages()'s): it steals from Normal's movable pageblocks, while one page by
    # __alloc_pages() comes from DMA32, the next zone
    def scenario(k):
        without_unmovable_pageblocks_in_normal(k)
        one, eight = k.vmalloc(4096), k.vmalloc(8 * 4096)
        assert k.vmalloc_to_page(one).zone == "DMA32"
        assert {k.vmalloc_to_page(eight + i * 4096).zone for i in range(8)} == {"Normal"}

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="4200MiB", memory_map="flat")
    assert fast == slow


def test_an_area_takes_a_page_at_refcount_below_zero_and_sets_it_to_one(monkeypatch):
    # config="debian": a silent double free leaves a page at refcount -1 on the pcp list;
    # __alloc_pages_bulk() takes it like any other (check_new_pcp() checks nothing without
    # CONFIG_DEBUG_VM) and prep_new_page() sets its refcount back to 1
    def scenario(k):
        k.vfree(k.vmalloc(8 * 4096))  # the page tables and the page array's slab exist
        below_zero, other = k.get_free_pages(GFP_KERNEL, 0), k.get_free_pages(GFP_KERNEL, 0)
        k.free_pages(below_zero, 0)
        k.free_pages(below_zero, 0)
        k.free_pages(other, 0)  # on the list's head, before the page at refcount -1
        assert k.refcount_underflow
        assert k.vmalloc(8 * 4096)
        assert not k.refcount_underflow

    machine = {"mem": "64MiB", "memory_map": "flat", "config": "debian"}
    fast, slow = fast_and_slow(monkeypatch, scenario, **machine)
    assert fast == slow


def test_a_bulk_refill_reports_a_page_at_refcount_below_zero_as_python_does(monkeypatch):
    # config="debian": a silent double free, then a drain puts the page at refcount -1 back on
    # the buddy lists; __alloc_pages_bulk()'s refill (rmqueue_bulk()) runs check_pcp_refill(),
    # which reports it ("nonzero _refcount") and leaks it, in C as in Python
    def scenario(k):
        k.vfree(k.vmalloc(8 * 4096))  # the page tables and the page array's slab exist
        below_zero = k.get_free_pages(GFP_KERNEL, 0)
        k.free_pages(below_zero, 0)
        k.free_pages(below_zero, 0)
        k.drain_all_pages()
        assert k.vmalloc(64 * 4096)

    machine = {"mem": "64MiB", "memory_map": "flat", "config": "debian"}
    fast, slow = fast_and_slow(monkeypatch, scenario, **machine)
    assert "nonzero _refcount" in slow[0][-1]  # the scenario reaches check_pcp_refill()
    assert fast == slow


def test_areas_of_many_bulk_calls_on_a_machine_running_short(monkeypatch):
    # areas of up to 300 pages: __alloc_pages_bulk() calls of up to 100 pages; DMA32 (2048
    # pages) soon short of low + nr_pages, so DMA gives them; at last no zone has a request to
    # spare: single pages, the fallback loop, and a failure
    def scenario(k):
        for pages in (300, 150, 101, 100, 250, 2, 99, *[300] * 16, 40, 3, 1, 40, 300):
            k.vmalloc(pages * 4096)

    machine = {"mem": "24MiB", "memory_map": "flat", "boot_reserved": False, "cpus": 2}
    fast, slow = fast_and_slow(monkeypatch, scenario, **machine)
    assert fast == slow


def test_vfree_of_a_page_in_an_isolated_pageblock_skips_the_pcp_list(monkeypatch):
    def scenario(k):
        addr = k.vmalloc(8 * 4096)
        pfn = k.vmalloc_to_page(addr + 3 * 4096).pfn
        k.buddy.set_pageblock_migratetype(pfn // 512, MIGRATE_ISOLATE)
        k.vfree(addr)

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="32MiB", memory_map="flat")
    assert fast == slow


def user_churn(k, seed, steps):
    """A seeded mix of file reads (some read twice), task faults, exits and kernel pages.

    The machine runs full: reclaim, kswapd and fallbacks into lower zones all happen.
    """
    rng = random.Random(seed)
    tasks = []
    for _ in range(steps):
        r = rng.random()
        if r < 0.35:
            files = [(rng.randint(1, 24) * 4096, rng.choice((1, 1, 2))) for _ in range(4)]
            k.read_files(files)
        elif r < 0.55 and tasks:
            k.touch(rng.sample(tasks, min(3, len(tasks))), rng.randint(1, 40) * 4096)
        elif r < 0.65:
            tasks.append(k.spawn("worker", rng.randint(0, 64) * 4096))
        elif r < 0.75 and tasks:
            k.kill(tasks.pop(rng.randrange(len(tasks))))
        elif r < 0.9:
            k.get_free_pages_many(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, rng.randint(1, 16))
        else:
            k.fill_page_cache(rng.randint(1, 300) * 4096)


@pytest.mark.parametrize(
    "machine",
    [
        {"mem": "48MiB", "memory_map": "flat", "cpus": 2},
        {"mem": "4352MiB", "memory_map": "flat"},
    ],
    ids=["48MiB-dma32-then-dma", "4352MiB-normal-then-dma32"],
)
def test_c_page_fault_loops_and_python_leave_identical_machines(machine, monkeypatch):
    def day(k):
        normal = [z for z in k.zones if z.name == "Normal"]
        if normal:  # fill most of Normal first: the faults then go on to DMA32 (nofragment)
            k.fill_page_cache((normal[0].managed_pages - 4096) * 4096)
        user_churn(k, seed=5, steps=1500)

    fast = Kernel(**machine)
    day(fast)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(**machine)
    day(slow)
    assert machine_state(fast) == machine_state(slow)
    assert list(fast.page_cache.lru) == list(slow.page_cache.lru)
    assert list(fast.page_cache.active) == list(slow.page_cache.active)
    assert [t.pages for t in fast.tasks] == [t.pages for t in slow.tasks]
    check(fast)


def test_page_faults_reach_the_lower_zones_through_the_c_loop():
    k = Kernel("48MiB", memory_map="flat")
    k.fill_page_cache("40MiB")  # more than DMA32 has above its low mark
    zones = {k.buddy.zone_of(pfn).name for pfn in k.page_cache.lru}
    assert zones == {"DMA32", "DMA"}


def test_slab_c_and_python_agree_once_the_table_of_slab_records_is_full(monkeypatch):
    # past the table's end every slab event is stored whole, by the Python methods
    monkeypatch.setattr(history, "SLAB_DESCS", 60)
    fast = Kernel(mem="32MiB", memory_map="flat")
    slab_churn(fast, seed=4, steps=3000)
    assert len(fast.history.slab_descs) == 60  # it filled up
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="32MiB", memory_map="flat")
    slab_churn(slow, seed=4, steps=3000)
    assert slab_state(fast) == slab_state(slow)


def large_and_new_slab_churn(k, seed, steps):
    """kmalloc/kfree of the benchmark's mix: many new slabs, a large kmalloc now and then."""
    rng = random.Random(seed)
    live = []
    for _ in range(steps):
        if rng.random() < 0.6 or not live:
            size = rng.choice((rng.randint(8, 512), rng.randint(513, 4096), 9000, 70_000))
            addr = k.kmalloc(size, rng.choice((GFP_KERNEL, GFP_DMA, GFPS[-1])))
            if addr > 16:
                live.append(addr)
        else:
            k.kfree(live.pop(rng.randrange(len(live))))
    return live


def test_new_slabs_and_large_kmallocs_take_the_c_path_and_leave_the_python_machine(monkeypatch):
    # once a mask got pages from _slab_pages(), allocate_slab() and kmalloc_large() run in C:
    # the Python methods see only each mask's first slab or block
    calls = []
    for name in ("_new_slab", "_kmalloc_large", "_free_large_kmalloc"):
        method = getattr(Kernel, name)
        monkeypatch.setattr(Kernel, name, lambda self, *a, _m=method, _n=name: calls.append(_n)
                            or _m(self, *a))  # fmt: skip
    fast = Kernel(mem="256MiB", memory_map="flat")
    calls.clear()  # boot's slabs
    large_and_new_slab_churn(fast, seed=9, steps=6000)
    in_c = list(calls)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="256MiB", memory_map="flat")
    calls.clear()
    large_and_new_slab_churn(slow, seed=9, steps=6000)
    assert slab_state(fast) == slab_state(slow)
    assert fast.large_kmalloc == slow.large_kmalloc
    check(fast)
    assert calls.count("_new_slab") > 50 and in_c.count("_new_slab") <= 3  # one per mask
    assert calls.count("_kmalloc_large") > 1000 and "_kmalloc_large" not in in_c
    assert calls.count("_free_large_kmalloc") > 1000 and "_free_large_kmalloc" not in in_c


def test_a_new_slab_without_pages_fails_in_c_as_in_python(monkeypatch):
    # the fast attempt declines (the zone is at its mark), the whole path finds nothing:
    # kmalloc() returns NULL with SLUB's report, as the Python method does
    def scenario(k):
        k.kmalloc(100, GFP_KERNEL | __GFP_NORETRY)  # the mask's plan, for _slab_pages()
        k.kmalloc(20_000, GFP_KERNEL | __GFP_NORETRY)
        while k.get_free_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0):
            pass
        cache = k.kmalloc_cache("kmalloc-1k")
        results = [k.kmalloc(1000, GFP_KERNEL | __GFP_NORETRY) for _ in range(cache.objects + 1)]
        results.append(k.kmalloc(20_000, GFP_KERNEL | __GFP_NORETRY))
        return results

    fast = Kernel(mem="32MiB", memory_map="flat")
    got = scenario(fast)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="32MiB", memory_map="flat")
    assert scenario(slow) == got
    assert got[-2:] == [0, 0]
    assert "SLUB: Unable to allocate memory" in fast.dmesg()
    assert slab_state(fast) == slab_state(slow)


def test_a_cache_with_a_constructor_makes_its_slabs_in_python_as_without_the_c_path(
    monkeypatch,
):
    # setup_object() runs the learner's constructor once per slot of a new slab: never in C
    def scenario(k):
        made = []
        cache = k.kmem_cache_create("with_ctor", 200, ctor=made.append)
        live = [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(3 * cache.objects)]
        for addr in live[::2]:
            k.kmem_cache_free(cache, addr)
        return made, [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(cache.objects)]

    fast = Kernel(mem="64MiB", memory_map="flat")
    made, got = scenario(fast)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    slow = Kernel(mem="64MiB", memory_map="flat")
    assert scenario(slow) == (made, got)
    assert len(made) == 3 * fast.kmalloc_cache("with_ctor").objects  # three slabs, every slot
    assert slab_state(fast) == slab_state(slow)


@pytest.mark.parametrize("size", [64, 5000, 20_000], ids=["free slot", "new slab", "large"])
@pytest.mark.parametrize("enabled", [True, False], ids=["C", "Python"])
def test_kmalloc_refuses_a_bool_mask_even_where_true_finds_gfp_dmas_table(
    monkeypatch, enabled, size
):
    # True == 1 == GFP_DMA as a dict key: a mask seen before must still be an int, as parse_gfp()
    # wants, on every path (an object in a slab, a new slab, a large kmalloc)
    monkeypatch.setattr(fastpath, "ENABLED", enabled)
    k = Kernel(mem="64MiB", memory_map="flat")
    for asked in (64, 5000, 20_000):
        k.kmalloc(asked, GFP_DMA)  # GFP_DMA's table, its active slabs and its page plan
    before = fingerprint(k, records=False)
    with pytest.raises(TypeError):
        k.kmalloc(size, True)
    assert fingerprint(k, records=False) == before


@pytest.mark.parametrize("enabled", [True, False], ids=["C", "Python"])
def test_a_large_kmalloc_fixes_a_mask_it_may_not_take_as_61s_kmalloc_large_node_does(
    monkeypatch, enabled
):
    # __kmalloc_large_node() runs kmalloc_fix_flags() before the page allocator: __GFP_DMA32
    # goes (with the warning), so GFP_KERNEL's block comes from Normal, not DMA32
    monkeypatch.setattr(fastpath, "ENABLED", enabled)
    k = Kernel(mem="6GiB", memory_map="flat")
    k.kmalloc(20_000, GFP_KERNEL)  # the mask's plan: the next one could run in C
    addr = k.kmalloc(20_000, GFP_KERNEL | __GFP_DMA32)
    assert "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL)" in k.dmesg()
    assert k.virt_to_page(addr).zone == "Normal"


def new_slab_pages(k, cache, gfp) -> PagesAllocated:
    """The page allocation of the new slab kmem_cache_alloc(cache, gfp) makes."""
    start = len(k.history)
    k.kmem_cache_alloc(cache, gfp)
    (allocated,) = [e for e in k.history[start:] if isinstance(e, PagesAllocated)]
    return allocated


@pytest.mark.parametrize("enabled", [True, False], ids=["C", "Python"])
def test_a_new_slab_takes_its_zone_and_migratetype_from_the_cache_not_the_callers_mask(
    monkeypatch, enabled
):
    # new_slab() keeps GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK of the mask, allocate_slab() adds
    # s->allocflags: __GFP_MOVABLE and __GFP_DMA of the caller are dropped, a SLAB_CACHE_DMA32
    # cache's slabs come from DMA32
    monkeypatch.setattr(fastpath, "ENABLED", enabled)
    k = Kernel(mem="6GiB", memory_map="flat")
    plain = k.kmem_cache_create("plain", 256)
    low = k.kmem_cache_create("low", 256, flags=SLAB_CACHE_DMA32)
    for cache in (plain, low):
        k.kmem_cache_alloc(cache, GFP_KERNEL)  # GFP_KERNEL's slab page plan
        for _ in range(cache.objects - 1):  # fill the slab: the next call makes a new one
            k.kmem_cache_alloc(cache, GFP_KERNEL)
    movable = new_slab_pages(k, plain, GFP_KERNEL | __GFP_MOVABLE)
    assert (movable.zone, movable.migratetype) == ("Normal", MIGRATE_UNMOVABLE)
    for _ in range(plain.objects - 1):
        k.kmem_cache_alloc(plain, GFP_KERNEL)
    assert new_slab_pages(k, plain, GFP_DMA).zone == "Normal"
    assert new_slab_pages(k, low, GFP_KERNEL).zone == "DMA32"


@pytest.mark.parametrize("enabled", [True, False], ids=["C", "Python"])
def test_a_gfp_atomic_slabs_pages_keep_gfp_atomic(monkeypatch, enabled):
    # GFP_RECLAIM_MASK has __GFP_ATOMIC: the sample trace's reclaimable order-1 slabs made
    # under GFP_ATOMIC print gfp_flags=GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|
    # __GFP_RECLAIMABLE (allocate_slab()'s first try)
    monkeypatch.setattr(fastpath, "ENABLED", enabled)
    k = Kernel(mem="256MiB", memory_map="flat")
    cache = k.kmem_cache_create("rcl", 1024, flags=SLAB_RECLAIM_ACCOUNT)
    assert cache.order > 0
    expected = GFP_ATOMIC | __GFP_NOWARN | __GFP_NORETRY | __GFP_COMP | __GFP_RECLAIMABLE
    assert new_slab_pages(k, cache, GFP_ATOMIC).gfp == expected


def test_c_and_python_agree_on_a_refill_of_more_blocks_than_the_c_stack_holds(monkeypatch):
    # rmqueue_bulk() in C keeps up to 64 blocks on its stack; a batch of 200 takes more
    def scenario(k):
        k.drain_all_pages()
        zone = k.zone("DMA32")
        zone.pcp_limits[1] = 200  # pcp->batch
        held = [(k.get_free_pages(GFP_KERNEL, 0), 0)]
        assert zone.pcp_count[0] == 199  # one refill of 200 pages, one handed out
        held += [(k.get_free_pages(GFP_KERNEL, o), o) for o in (1, 2, 3) for _ in range(30)]
        for addr, order in held:
            k.free_pages(addr, order)

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="64MiB", memory_map="flat")
    assert fast == slow


def test_a_pcp_list_with_a_live_memoryview_sends_the_call_to_python(monkeypatch):
    # the C path holds no buffer of the pcp lists; while someone does, array_resize() refuses
    # to change their size, so the Python methods run and raise BufferError, as without C
    def scenario(k):
        addrs = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(3)]
        area, large = k.vmalloc(4 * 4096), k.kmalloc(20000, GFP_KERNEL)  # large: order 3
        views = [memoryview(pcp_list) for pcp_list in k.zone("DMA32").pcp_lists]
        with pytest.raises(BufferError):
            k.free_pages(addrs.pop(), 0)
        with pytest.raises(BufferError):
            k.get_free_pages(GFP_KERNEL, 0)
        with pytest.raises(BufferError):
            k.vmalloc(4 * 4096)
        with pytest.raises(BufferError):
            k.vfree(area)
        with pytest.raises(BufferError):
            k.kfree(large)
        for view in views:
            view.release()
        for addr in addrs:
            k.free_pages(addr, 0)
        k.vfree(k.vmalloc(4 * 4096))

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="64MiB", memory_map="flat")
    assert fast == slow


def test_a_drain_in_c_frees_by_pageblock_while_the_zone_has_an_isolated_pageblock(monkeypatch):
    # free_pcppages_bulk(): "Pageblock could have been isolated meanwhile": while the zone
    # counts an isolated pageblock, a block goes back with its pageblock's migratetype, not
    # with the one it was stored with on the pcp list
    def scenario(k):
        k.drain_all_pages()
        zone = k.zone("DMA32")
        block = k.get_free_pages(GFP_KERNEL, 1)
        addrs = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(4)]
        for addr in addrs:
            k.free_pages(addr, 0)  # on the Unmovable list, stored as Unmovable
        for pfn in zone.pcp_list(0, 0):
            k.buddy.set_pageblock_migratetype(pfn // 512, MIGRATE_MOVABLE)
        zone.nr_isolate_pageblock = 1  # as alloc_contig_range() counts elsewhere in the zone
        zone.pcp_free_factor[0] = 1  # frees came last: an order-1 free drains every list
        k.free_pages(block, 1)
        assert zone.pcp_count[0] == 0

    fast, slow = fast_and_slow(monkeypatch, scenario, mem="64MiB", memory_map="flat")
    assert fast == slow
