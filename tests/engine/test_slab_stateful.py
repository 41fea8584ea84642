"""Long random sequences of slab calls, right and wrong, checked after every step.

A hypothesis state machine drives ``Kernel`` through the slab API: ``kmem_cache_create`` of a
few caches of its own (1..5000 bytes, aligned to 0, 8 or 64 bytes, with or without
SLAB_HWCACHE_ALIGN), ``kmem_cache_alloc`` / ``kmem_cache_free``, ``kmalloc`` of small, large
(straight from the page allocator) and zero sizes, ``kfree`` (of live objects, of NULL and of
ZERO_SIZE_PTR), ``krealloc``, ``kmem_cache_shrink`` and ``kmem_cache_destroy``, with four GFP
masks.  It mixes in the calls a buggy module makes: freeing an object twice (right after the
first free, or much later), freeing a pointer into the middle of an object, freeing into the
wrong cache and destroying a cache that still has objects.

After every step ``invariants.check()`` and ``invariants.check_slabs()`` hold, and the machine
agrees with the test's model of the objects it holds:

* every object held is live in exactly one cache (or is one large kmalloc) with the size the
  test asked for, ``ksize()`` is at least that size, and no other object is live anywhere;
* pages in slabs + pages of large kmallocs + free pages == managed pages;
* /proc/slabinfo counts each cache's slabs and slots, and its active_objs is what SLUB's
  get_slabinfo() promises: every slot but the free ones on the partial list, i.e. the live
  objects plus the free slots of the active slab.

What the wrong calls must do (Linux 6.1, as the engine models it):

* a double free, or a free of ``addr + 1``, changes nothing (the free lists of the buddy
  allocator, the zone counters, every cache's slabs, freelists, partial list and live
  objects are as before) and logs a report: SLUB's "Object already free" / "Invalid object
  pointer" with slub_debug, the BUG_ON of set_freepointer()'s naive double-free detection,
  or kmviz's own warning without it;
* ``kmem_cache_destroy`` of a cache with objects logs "Slab cache still has objects" and
  keeps the cache and its objects (it may still flush the active slab and discard empty
  slabs first, as __kmem_cache_shutdown() does; after a shrink it changes nothing);
* ``kmem_cache_free`` into the wrong cache WARNs "Wrong slab cache" (cache_from_obj() with
  CONFIG_SLAB_FREELIST_HARDENED) and frees the object into the cache it came from.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kmviz.engine import invariants
from kmviz.engine.constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from kmviz.engine.gfp import __GFP_DMA, __GFP_NORETRY, __GFP_RECLAIMABLE, GFP_ATOMIC, GFP_KERNEL
from kmviz.engine.kernel import Kernel
from kmviz.engine.slab_geometry import SLAB_HWCACHE_ALIGN, ZERO_SIZE_PTR

# Python mangles ``__GFP_*`` names used inside a class body: unmangled twins for the machine.
GFP_DMA_BIT = __GFP_DMA
GFP_RECLAIMABLE_BIT = __GFP_RECLAIMABLE

# The masks may sleep only with __GFP_NORETRY: on a full machine plain GFP_KERNEL would call
# the OOM killer, which kills every task and then panics the machine.
GFP_MASKS = (
    GFP_KERNEL | __GFP_NORETRY,
    GFP_ATOMIC,
    GFP_KERNEL | __GFP_RECLAIMABLE | __GFP_NORETRY,
    __GFP_DMA,
)
# the kmalloc size classes, smallest first, with the names create_kmalloc_caches() gives them
KMALLOC_CLASSES = (
    (8, "8"), (16, "16"), (32, "32"), (64, "64"), (96, "96"), (128, "128"), (192, "192"),
    (256, "256"), (512, "512"), (1024, "1k"), (2048, "2k"), (4096, "4k"), (8192, "8k"),
)  # fmt: skip
KMALLOC_MAX_CACHE_SIZE = 8192
MAX_USER_CACHES = 4

# kmalloc sizes: mostly 1..512, some from the page allocator's side of 8 KiB, some 0
KMALLOC_SIZES = st.one_of(
    st.integers(1, 512),
    st.integers(1, 512),
    st.integers(1, 512),
    st.integers(1, 512),
    st.integers(513, 20000),
    st.integers(513, 20000),
    st.just(0),
)

MACHINES = {
    "32MiB": {"mem": "32MiB", "memory_map": "flat"},
    "32MiB-slub_debug": {"mem": "32MiB", "memory_map": "flat", "slub_debug": True},
    "8MiB-runs-out": {"mem": "8MiB", "memory_map": "flat"},
}

# 3 machines x 25 runs of up to 120 steps, every step followed by both invariant walks.  No
# shrinking: the failing run is printed step by step all the same.
STATEFUL_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=120,
    database=None,
    derandomize=True,
    deadline=None,
    print_blob=False,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


# --- looking at a machine ---------------------------------------------------------------------
def snapshot(k: Kernel) -> tuple:
    """Everything a rejected call must leave alone: the buddy allocator and every cache."""
    b = k.buddy
    caches = []
    for c in k.caches:
        slabs = tuple(
            sorted((s.pfn, s.order, s.objects, tuple(s.freelist), bytes(s.requested))
                   for s in c.slabs)
        )  # fmt: skip
        cpu = None if c.cpu_slab is None else c.cpu_slab.pfn
        partial = tuple(id(s) for s in c.partial)
        caches.append((c.name, c.refcount, cpu, slabs, partial))
    return (
        bytes(b.state),
        bytes(b.nxt),
        bytes(b.prv),
        [(z.name, tuple(z.nr_free), z.free_pages, z.managed_pages) for z in k.zones],
        [bytes(pcp_list) for z in k.zones for pcp_list in z.pcp_lists],
        caches,
        dict(k.large_kmalloc),
        {pfn: id(slab) for pfn, slab in k.slab_by_pfn.items()},
    )


def describe_difference(before: tuple, after: tuple) -> str:
    names = (
        "state", "nxt", "prv", "zones", "pcp lists", "caches", "large_kmalloc", "slab_by_pfn"
    )  # fmt: skip
    return ", ".join(n for n, x, y in zip(names, before, after, strict=True) if x != y)


def lines_logged(k: Kernel) -> int:
    """Lines printk() has written since boot, the ones the ring dropped included."""
    return len(k.log.lines) + k.log.dropped


def text_since(k: Kernel, count: int) -> str:
    new = lines_logged(k) - count
    if new <= 0:
        return ""
    return "\n".join(line.text for line in list(k.log.lines)[-new:])


def slabinfo_rows(k: Kernel) -> dict[str, tuple[int, ...]]:
    """/proc/slabinfo as {name: (active_objs, num_objs, objsize, objperslab, pagesperslab,
    active_slabs, num_slabs)}."""
    rows = {}
    for line in k.cat("/proc/slabinfo").splitlines()[2:]:
        fields = line.split()
        assert fields[7] == "tunables" and fields[12] == "slabdata", line
        rows[fields[0]] = (*map(int, fields[1:6]), int(fields[13]), int(fields[14]))
    return rows


def expected_kmalloc_cache(size: int, gfp: int) -> str:
    """The cache kmalloc(size, gfp) must use: the size class and kmalloc_type() of the mask."""
    name = next(n for s, n in KMALLOC_CLASSES if s >= size)
    if gfp & GFP_DMA_BIT:
        return f"dma-kmalloc-{name}"
    if gfp & GFP_RECLAIMABLE_BIT:
        return f"kmalloc-rcl-{name}"
    return f"kmalloc-{name}"


def get_order(size: int) -> int:
    order = 0
    while PAGE_SIZE << order < size:
        order += 1
    return order


# --- the state machine ------------------------------------------------------------------------
class SlabMachine(RuleBasedStateMachine):
    """One simulated machine, the caches the test made and the objects it holds."""

    def __init__(self, kernel_args: dict):
        super().__init__()
        # every cache under its own name (merging has its own tests in test_slab.py)
        self.k = Kernel(slab_nomerge=True, **kernel_args)
        self.debug = kernel_args.get("slub_debug", False)
        self.managed = sum(z.managed_pages for z in self.k.zones)
        self.user_caches: list = []  # the caches the test created and has not destroyed
        self.aligns: dict[str, int] = {}  # cache name -> the align it was created with
        self.created = 0
        # addr -> (cache or None for a large kmalloc, requested size, "kmalloc" or "cache")
        self.live: dict[int, tuple] = {}
        self.freed: list[int] = []  # addresses given back, newest last (kept short)

    # --- helpers ----------------------------------------------------------------------------
    def pick_live(self, index: int, slab_only: bool = False, kind: str | None = None) -> int:
        addrs = sorted(
            a
            for a, (cache, _, how) in self.live.items()
            if (not slab_only or cache is not None) and (kind is None or how == kind)
        )
        return addrs[index % len(addrs)] if addrs else 0

    def slab_objects(self) -> bool:
        return any(cache is not None for cache, _, _ in self.live.values())

    def stale(self, addr: int) -> bool:
        """True if freeing ``addr`` now would free nothing live: its slot or page is free."""
        if addr in self.live:
            return False
        k = self.k
        slab = k.slab_by_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)
        if slab is not None:
            index = slab.index_of(addr)
            return index is None or index in slab.freelist
        return k.block_at((addr - PAGE_OFFSET) >> PAGE_SHIFT)[2] == "free"

    def record_alloc(self, addr: int, cache, requested: int, how: str) -> None:
        assert addr not in self.live, f"{addr:#x} handed out twice"
        assert addr not in (0, ZERO_SIZE_PTR)
        self.live[addr] = (cache, requested, how)

    def good_free(self, addr: int, call) -> None:
        """A free of a live object: quiet, and the object is gone from its cache."""
        k = self.k
        cache, _, _ = self.live.pop(addr)
        logged = lines_logged(k)
        call()
        assert text_since(k, logged) == "", "a good free printed something"
        if cache is None:
            assert addr not in k.large_kmalloc
        else:
            assert addr not in cache.requested
        self.freed = [*self.freed[-15:], addr]

    def expect_rejected(self, call) -> str:
        """Make a wrong call: the machine must not change and the log must say why."""
        k = self.k
        before = snapshot(k)
        logged = lines_logged(k)
        call()
        after = snapshot(k)
        assert after == before, f"a rejected call changed {describe_difference(before, after)}"
        text = text_since(k, logged)
        assert text, "a rejected call logged nothing"
        return text

    # --- caches -----------------------------------------------------------------------------
    @precondition(lambda self: len(self.user_caches) < MAX_USER_CACHES)
    @rule(
        size=st.integers(1, 5000),
        align=st.sampled_from((0, 8, 64)),
        flags=st.sampled_from((0, SLAB_HWCACHE_ALIGN)),
    )
    def create_cache(self, size, align, flags):
        k = self.k
        name = f"lesson_cache_{self.created}"
        self.created += 1
        cache = k.kmem_cache_create(name, size, align, flags)
        assert cache is not None
        assert cache in k.caches and cache.name == name
        assert cache.object_size == size and cache.size >= size
        assert not cache.slabs and not cache.requested
        self.user_caches.append(cache)
        self.aligns[name] = align

    @precondition(lambda self: self.user_caches)
    @rule(index=st.integers(0, 1 << 16), gfp=st.sampled_from(GFP_MASKS), n=st.integers(1, 6))
    def cache_alloc(self, index, gfp, n):
        k = self.k
        cache = self.user_caches[index % len(self.user_caches)]
        for _ in range(n):
            addr = k.kmem_cache_alloc(cache, gfp)
            if not addr:
                return  # out of memory
            assert cache.requested.get(addr) == cache.object_size
            assert (addr - PAGE_OFFSET) % max(self.aligns[cache.name], 8) == 0, (
                f"{cache.name}: object {addr:#x} not aligned to {self.aligns[cache.name]}"
            )
            self.record_alloc(addr, cache, cache.object_size, "cache")

    @precondition(lambda self: self.slab_objects())
    @rule(index=st.integers(0, 1 << 16))
    def cache_free(self, index):
        addr = self.pick_live(index, slab_only=True)
        cache = self.live[addr][0]
        self.good_free(addr, lambda: self.k.kmem_cache_free(cache, addr))

    @rule(index=st.integers(0, 1 << 16), user=st.booleans())
    def shrink(self, index, user):
        k = self.k
        caches = self.user_caches if user and self.user_caches else k.caches
        cache = caches[index % len(caches)]
        live_before = dict(cache.requested)
        assert k.kmem_cache_shrink(cache) == 0
        assert cache.requested == live_before
        assert cache.cpu_slab is None
        assert all(slab.inuse for slab in cache.slabs), "an empty slab survived the shrink"

    @precondition(lambda self: any(not c.requested for c in self.user_caches))
    @rule(index=st.integers(0, 1 << 16))
    def destroy_empty_cache(self, index):
        k = self.k
        empty = [c for c in self.user_caches if not c.requested]
        cache = empty[index % len(empty)]
        free_before = k.free_pages_count() + k.pcp_pages_count()
        pages = cache.pages
        logged = lines_logged(k)
        k.kmem_cache_destroy(cache)
        assert text_since(k, logged) == ""
        assert cache not in k.caches and cache.refcount == 0
        assert k.free_pages_count() + k.pcp_pages_count() == free_before + pages
        self.user_caches.remove(cache)

    # --- kmalloc ----------------------------------------------------------------------------
    @rule(sizes=st.lists(KMALLOC_SIZES, min_size=1, max_size=6), gfp=st.sampled_from(GFP_MASKS))
    def kmalloc(self, sizes, gfp):
        k = self.k
        for size in sizes:
            addr = k.kmalloc(size, gfp)
            if size == 0:
                assert addr == ZERO_SIZE_PTR
                continue
            if not addr:
                continue  # out of memory
            self.record_kmalloc(addr, size, gfp)

    @rule(size=KMALLOC_SIZES, gfp=st.sampled_from(GFP_MASKS), n=st.integers(8, 64))
    def kmalloc_many(self, size, gfp, n):
        # a burst of one size: fills slabs, and on the small machine fills memory
        self.kmalloc([size] * n, gfp)

    @rule(size=st.integers(KMALLOC_MAX_CACHE_SIZE + 1, 20000), n=st.integers(16, 64))
    def kmalloc_large_burst(self, size, n):
        # 16..64 blocks of 4 or 8 pages straight from the page allocator: runs memory out
        self.kmalloc([size] * n, GFP_MASKS[0])  # GFP_KERNEL|__GFP_NORETRY

    def record_kmalloc(self, addr: int, size: int, gfp: int) -> None:
        k = self.k
        if size > KMALLOC_MAX_CACHE_SIZE:
            assert addr % PAGE_SIZE == 0
            pfn, order, requested = k.large_kmalloc[addr]
            assert (order, requested) == (get_order(size), size)
            assert addr == PAGE_OFFSET + (pfn << PAGE_SHIFT)
            self.record_alloc(addr, None, size, "kmalloc")
        else:
            cache = k.kmalloc_cache(expected_kmalloc_cache(size, gfp))
            assert cache.requested.get(addr) == size, f"{addr:#x} not from {cache.name}"
            assert (addr - PAGE_OFFSET) % 8 == 0
            self.record_alloc(addr, cache, size, "kmalloc")

    @precondition(lambda self: self.live)
    @rule(index=st.integers(0, 1 << 16))
    def kfree(self, index):
        # kfree() of a kmem_cache_alloc()ed object is fine with SLUB too
        addr = self.pick_live(index)
        self.good_free(addr, lambda: self.k.kfree(addr))

    @rule(addr=st.sampled_from((0, ZERO_SIZE_PTR)))
    def kfree_null_or_zero_size_ptr(self, addr):
        k = self.k
        before = snapshot(k)
        logged = lines_logged(k)
        k.kfree(addr)
        assert snapshot(k) == before
        assert text_since(k, logged) == ""

    @rule(
        index=st.integers(0, 1 << 16),
        size=KMALLOC_SIZES,
        gfp=st.sampled_from(GFP_MASKS),
        from_zero=st.booleans(),
    )
    def krealloc(self, index, size, gfp, from_zero):
        k = self.k
        old = self.pick_live(index, kind="kmalloc")
        if from_zero or not old:
            old = ZERO_SIZE_PTR
        held = self.live.get(old)
        room = k.ksize(old)
        new = k.krealloc(old, size, gfp)
        if size == 0:
            assert new == ZERO_SIZE_PTR
            if held:
                self.live.pop(old)
                assert old not in (k.large_kmalloc if held[0] is None else held[0].requested)
                self.freed = [*self.freed[-15:], old]
            return
        if held and room >= size:
            assert new == old, "krealloc() moved an object that had room"
            return  # the object keeps the size first asked for, as in 6.1
        if not new:
            return  # out of memory: the old object is untouched
        if held:
            self.live.pop(old)
            self.freed = [*self.freed[-15:], old]
        self.record_kmalloc(new, size, gfp)

    # --- wrong frees ------------------------------------------------------------------------
    @precondition(lambda self: self.slab_objects())
    @rule(index=st.integers(0, 1 << 16), how=st.sampled_from(("kfree", "kmem_cache_free")))
    def double_free_at_once(self, index, how):
        k = self.k
        addr = self.pick_live(index, slab_only=True)
        cache = self.live[addr][0]
        if how == "kfree":
            call = lambda: k.kfree(addr)  # noqa: E731
        else:
            call = lambda: k.kmem_cache_free(cache, addr)  # noqa: E731
        self.good_free(addr, call)
        slab_gone = k.slab_by_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT) is None
        if slab_gone and how == "kmem_cache_free":
            # the first free emptied the slab and it went back to the page allocator:
            # cache_from_obj() -> virt_to_cache() WARNs once, then kmem_cache_free() returns
            warned_before = "virt_to_cache" in k._warned_once
            before, logged = snapshot(k), lines_logged(k)
            call()
            assert snapshot(k) == before
            text = text_since(k, logged)
            assert ("virt_to_cache: Object is not a Slab page!" in text) != warned_before, text
            return
        text = self.expect_rejected(call)
        if slab_gone:
            # kfree() of a page that is no longer a slab: free_large_kmalloc() and then
            # __free_pages() of a free page hits VM_BUG_ON_PAGE(page_ref_count(page) == 0)
            assert "VM_BUG_ON_PAGE(page_ref_count(page) == 0)" in text, text
        elif self.debug:  # the last line: an 8k object's report outgrows the 128 KiB ring
            assert f"FIX {cache.name}: Object at 0x{addr:016x} not freed" in text, text
        else:  # set_freepointer(): BUG_ON(object == fp), the naive double-free detection
            assert "kernel BUG at mm/slub.c:419!" in text, text

    @precondition(lambda self: self.freed)
    @rule(index=st.integers(0, 1 << 16))
    def double_free_later(self, index):
        k = self.k
        candidates = [a for a in self.freed if self.stale(a)]
        if not candidates:
            return  # every address given back is live again
        addr = candidates[index % len(candidates)]
        self.expect_rejected(lambda: k.kfree(addr))

    @precondition(lambda self: self.slab_objects())
    @rule(
        index=st.integers(0, 1 << 16),
        offset=st.sampled_from((1, 1, 4, 7)),
        how=st.sampled_from(("kfree", "kmem_cache_free")),
    )
    def free_interior_pointer(self, index, offset, how):
        k = self.k
        addr = self.pick_live(index, slab_only=True)
        cache = self.live[addr][0]
        bad = addr + offset
        if how == "kfree":
            text = self.expect_rejected(lambda: k.kfree(bad))
        else:
            text = self.expect_rejected(lambda: k.kmem_cache_free(cache, bad))
        assert "Invalid object pointer" in text or "invalid object pointer" in text, text

    @precondition(lambda self: self.slab_objects())
    @rule(index=st.integers(0, 1 << 16), wrong=st.integers(0, 1 << 16))
    def free_into_the_wrong_cache(self, index, wrong):
        k = self.k
        addr = self.pick_live(index, slab_only=True)
        real = self.live[addr][0]
        others = [c for c in self.user_caches if c is not real]
        others += [k.kmalloc_cache(n) for n in ("kmalloc-64", "kmalloc-1k") if n != real.name]
        cache = others[wrong % len(others)]
        logged = lines_logged(k)
        self.live.pop(addr)
        k.kmem_cache_free(cache, addr)
        text = text_since(k, logged)
        assert (
            f"kmem_cache_free: Wrong slab cache. {cache.name} but object is from {real.name}"
        ) in text, text
        assert "WARNING: CPU: 0 PID: " in text
        assert addr not in real.requested, "the object was not freed from its real cache"
        assert real in k.caches
        self.freed = [*self.freed[-15:], addr]

    @precondition(lambda self: any(c.requested for c in self.user_caches))
    @rule(index=st.integers(0, 1 << 16), shrink_first=st.booleans())
    def destroy_cache_with_objects(self, index, shrink_first):
        k = self.k
        busy = [c for c in self.user_caches if c.requested]
        cache = busy[index % len(busy)]
        if shrink_first:
            # __kmem_cache_shutdown() flushes the active slab and discards empty slabs before
            # it finds the objects left; after a shrink there is nothing left to do that to
            k.kmem_cache_shrink(cache)
            text = self.expect_rejected(lambda: k.kmem_cache_destroy(cache))
        else:
            live_before = dict(cache.requested)
            logged = lines_logged(k)
            k.kmem_cache_destroy(cache)
            text = text_since(k, logged)
            assert cache.requested == live_before
        assert "Slab cache still has objects" in text, text
        assert f"Objects remaining in {cache.name} on __kmem_cache_shutdown()" in text, text
        assert cache in k.caches and cache.refcount == 1

    # --- after every step -------------------------------------------------------------------
    @invariant()
    def buddy_and_slab_invariants_hold(self):
        invariants.check(self.k)
        invariants.check_slabs(self.k)

    @invariant()
    def objects_held_are_exactly_the_live_ones(self):
        k = self.k
        seen: dict[int, tuple] = {}
        for cache in k.caches:
            for addr, requested in cache.requested.items():
                assert addr not in seen, f"{addr:#x} live in {cache.name} and elsewhere"
                seen[addr] = (cache, requested)
        for addr, (_, _, requested) in k.large_kmalloc.items():
            assert addr not in seen
            seen[addr] = (None, requested)
        expected = {a: (cache, req) for a, (cache, req, _) in self.live.items()}
        assert seen.keys() == expected.keys(), (
            f"machine has {len(seen)} live objects, the test holds {len(expected)}"
        )
        for addr, (cache, requested) in expected.items():
            assert seen[addr][0] is cache, f"{addr:#x} is live in the wrong cache"
            assert seen[addr][1] == requested, f"{addr:#x}: requested {seen[addr][1]}"
            assert k.ksize(addr) >= requested, f"ksize({addr:#x}) < {requested}"

    @invariant()
    def pages_are_conserved(self):
        k = self.k
        slab_pages = sum(c.pages for c in k.caches)
        large = sum(1 << order for _, order, _ in k.large_kmalloc.values())
        assert slab_pages + large + k.free_pages_count() + k.pcp_pages_count() == self.managed

    @invariant()
    def slabinfo_agrees(self):
        k = self.k
        rows = slabinfo_rows(k)
        assert len(rows) == len(k.caches)
        for cache in k.caches:
            active, num_objs, objsize, per_slab, pages, active_slabs, num_slabs = rows[cache.name]
            assert num_objs == sum(s.objects for s in cache.slabs), cache.name
            assert num_slabs == active_slabs == len(cache.slabs), cache.name
            assert (objsize, per_slab, pages) == (cache.size, cache.objects, 1 << cache.order)
            # get_slabinfo(): every slot but the free ones on the node's partial list; so the
            # live objects plus the free slots of the CPU's slabs, the active one and those on
            # its partial list (every other slab is full)
            cpu_slabs = [*cache.percpu_partial, *([cache.cpu_slab] if cache.cpu_slab else [])]
            cpu_free = sum(len(slab.freelist) for slab in cpu_slabs)
            assert active == len(cache.requested) + cpu_free, (
                f"{cache.name}: active_objs {active}, live {len(cache.requested)}, "
                f"free in the CPU's slabs {cpu_free}"
            )


@pytest.mark.parametrize("kernel_args", MACHINES.values(), ids=MACHINES.keys())
def test_random_good_and_bad_slab_calls_keep_every_invariant(kernel_args):
    run_state_machine_as_test(lambda: SlabMachine(kernel_args), settings=STATEFUL_SETTINGS)


# --- found while writing the state machine ------------------------------------------------------
def test_kmem_cache_free_of_a_large_kmalloc_warns_and_frees_nothing():
    k = Kernel(mem="32MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_cache", 64)
    addr = k.kmalloc(10000, GFP_MASKS[0])
    before = snapshot(k)
    logged = lines_logged(k)
    k.kmem_cache_free(cache, addr)
    assert "virt_to_cache: Object is not a Slab page!" in text_since(k, logged)
    assert snapshot(k) == before
