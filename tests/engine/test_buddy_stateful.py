"""Long random sequences of page allocator calls, right and wrong, checked after every step.

A hypothesis state machine drives ``Kernel`` through ``alloc_pages``, ``__get_free_pages``,
``__free_pages`` and ``free_pages`` with a choice of GFP masks and orders 0..10, and mixes in
the calls a buggy module makes: double frees, frees with the wrong order, frees of addresses
outside the direct map or of pages boot kept, impossible orders, contradictory zone bits, and
arguments of the wrong Python type.  After every step ``invariants.check()`` must hold (pages
conserved per zone, no overlapping blocks, no unmerged free buddies, nr_free equal to the list
lengths) and the machine must agree with a model of which blocks the test holds.

What each kind of call must do, following Linux 6.1 (a CONFIG_DEBUG_VM kernel, as the engine
models it):

* a good allocation returns a naturally aligned block from a zone the mask allows, preferring
  the highest zone of the zonelist while it is above its low watermark; its history shows the
  expand() splits of the block taken and then mm_page_alloc;
* a good free gives the block back and merges it with every free buddy of equal order
  (``buddy_pfn == pfn ^ (1 << order)``), and prints nothing;
* a wrong call changes nothing: the free lists (``state``, ``nxt``, ``prv``), the counters and
  the pageblock migratetypes are byte for byte as before, and the kernel log gains the report
  the kernel prints (a BUG, a bad_page() or a WARNING), rate limits aside;
* Python-level misuse (an order that is not an int, a GFP name that does not exist) raises
  TypeError / ValueError and leaves no trace at all.

A last, non-hypothesis test runs 20,000 seeded operations on a 256 MiB machine, frees
everything and checks that the free areas are exactly those of a fresh boot.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

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

from kmviz.engine import fastpath, invariants
from kmviz.engine.buddy import ALLOCATED, COMPOUND, HOLE, pcp_allowed_order
from kmviz.engine.constants import MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, ZONE_NORMAL
from kmviz.engine.events import (
    AllocationFailed,
    BadPageReported,
    BlockSplit,
    BuddiesMerged,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)
from kmviz.engine.gfp import (
    __GFP_COMP,
    __GFP_HIGHMEM,
    __GFP_MOVABLE,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RECLAIMABLE,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_NOWAIT,
    gfp_zone,
)
from kmviz.engine.kernel import Kernel
from kmviz.engine.page import Page
from kmviz.engine.zones import WMARK_LOW

# Python mangles ``__GFP_*`` names used inside a class body: unmangled twins for the machine.
GFP_COMP_BIT = __GFP_COMP
GFP_HIGHMEM_BIT = __GFP_HIGHMEM
GFP_NOWARN_BIT = __GFP_NOWARN

# (spelling, mask): the masks the state machine allocates with, by value or by name.  The
# masks that may sleep carry __GFP_NORETRY: on a full machine they give up after one reclaim
# pass instead of calling the OOM killer, which kills every task and then panics the machine
# (tests/engine/test_kernel_rules.py covers that road).
GFP_MASKS = (
    ("GFP_KERNEL|__GFP_NORETRY", GFP_KERNEL | __GFP_NORETRY),
    ("GFP_ATOMIC", GFP_ATOMIC),
    ("GFP_NOWAIT", GFP_NOWAIT),
    ("GFP_DMA", GFP_DMA),
    ("GFP_DMA32", GFP_DMA32),
    ("GFP_HIGHUSER_MOVABLE|__GFP_NORETRY", GFP_HIGHUSER_MOVABLE | __GFP_NORETRY),
    (
        "GFP_KERNEL|__GFP_NORETRY|__GFP_RECLAIMABLE",
        GFP_KERNEL | __GFP_NORETRY | __GFP_RECLAIMABLE,
    ),
    ("GFP_KERNEL|__GFP_NORETRY|__GFP_COMP", GFP_KERNEL | __GFP_NORETRY | __GFP_COMP),
    ("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY", GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY),
)
# masks whose zone modifiers contradict each other: gfp_zone() hits VM_BUG_ON (gfp.h:136)
# (none with __GFP_HIGHMEM: __get_free_pages() clears it first, which can make a mask good)
BAD_ZONE_MASKS = (
    GFP_DMA | GFP_DMA32,
    GFP_KERNEL | GFP_DMA | GFP_DMA32,
    GFP_DMA | GFP_DMA32 | __GFP_MOVABLE,
)
BAD_ORDERS = (MAX_ORDER, MAX_ORDER + 1, -1, -7, 1 << 20)
# addresses free_pages() must refuse: virt_addr_valid() is false for each
# (the end of the direct map is added per machine)
BAD_ADDRESSES = (0x1234, PAGE_OFFSET - PAGE_SIZE, 0xFFFFFFFF81000000, -PAGE_SIZE)

# a state byte that heads an allocated block: ALLOCATED + order or COMPOUND + order
ALLOCATED_HEAD = re.compile(
    bytes([ord("["), ALLOCATED, ord("-"), ALLOCATED + MAX_ORDER - 1,
           COMPOUND, ord("-"), COMPOUND + MAX_ORDER - 1, ord("]")])
)  # fmt: skip

# bad_page() prints a burst of 60 reports, then keeps quiet for the rest of the minute
BAD_PAGE_BURST = 60

# The machines: each has a different zone layout or boot.
MACHINES = {
    "64MiB": {
        "mem": "64MiB",
        "memory_map": "flat",
    },  # DMA + DMA32, BIOS holes, kernel image reserved
    "16MiB-no-reserve": {
        "mem": "16MiB",
        "memory_map": "flat",
        "boot_reserved": False,
    },  # one DMA zone, all free
    "8MiB-tiny": {
        "mem": "8MiB",
        "memory_map": "flat",
    },  # too small for mobility grouping: all Unmovable
    "64MiB-Normal-only": {
        "mem": "64MiB",
        "memory_map": "flat",
        "zone_dma": False,
        "zone_dma32": False,
    },
    # the same 64 MiB machine without the C fast path: every call through the Python reference
    "64MiB-python-reference": {"mem": "64MiB", "memory_map": "flat", "fastpath": False},
}

# 5 machines x 20 runs of up to 150 steps (each step up to 6 calls), every step followed by the
# full check(): about 15,000 steps in all.  Long runs matter: they fill the machine and reach
# the blocks at the ends of zones.  No shrinking: shrinking a 150-step run re-runs check()
# so often that it takes minutes; the failing run is printed step by step all the same.
STATEFUL_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=150,
    database=None,
    derandomize=True,
    deadline=None,
    print_blob=False,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# --- looking at a machine ---------------------------------------------------------------------
def free_pages_block(k: Kernel):
    """``k.__free_pages``; spelled with getattr, since a class body would mangle the name."""
    return getattr(k, "__free_pages")


def snapshot(k: Kernel) -> tuple:
    """Everything a wrong call must leave alone: free lists, counters, pageblock types."""
    b = k.buddy
    return (
        bytes(b.state),
        bytes(b.nxt),
        bytes(b.prv),
        list(b.pageblock_mt),
        [(z.name, list(z.nr_free), z.free_pages, z.managed_pages) for z in k.zones],
        [bytes(pcp_list) for z in k.zones for pcp_list in z.pcp_lists],
    )


def describe_difference(before: tuple, after: tuple) -> str:
    """Which part of a snapshot changed, for an assertion message."""
    names = ("state", "nxt", "prv", "pageblock_mt", "zones", "pcp lists")
    changed = [name for name, x, y in zip(names, before, after, strict=True) if x != y]
    return ", ".join(changed)


def lines_logged(k: Kernel) -> int:
    """Lines printk() has written since boot, the ones the ring dropped included."""
    return len(k.log.lines) + k.log.dropped


def text_since(k: Kernel, count: int) -> str:
    """The text of the log lines written after ``lines_logged()`` returned ``count``."""
    new = lines_logged(k) - count
    if new <= 0:
        return ""
    return "\n".join(line.text for line in list(k.log.lines)[-new:])


def allocated_heads(k: Kernel) -> dict[int, tuple[int, bool]]:
    """Every allocated block on the machine: ``{pfn: (order, compound)}``.

    A block head's state is ALLOCATED + order or COMPOUND + order; a regular expression over
    the state bytes finds them at C speed.
    """
    heads = {}
    for match in ALLOCATED_HEAD.finditer(bytes(k.buddy.state)):
        code = match.group()[0]
        heads[match.start()] = (code & 15, code >= COMPOUND)
    return heads


def available(zone) -> int:
    """Free pages of ``zone`` in the buddy (NR_FREE_PAGES) and on its CPUs' pcp lists."""
    return zone.free_pages + sum(zone.pcp_count)


def zonelist(k: Kernel, mask: int) -> list:
    """The zones an allocation with ``mask`` may use, preferred (highest) first."""
    highest = gfp_zone(mask, k.zone_dma, k.zone_dma32)
    return [z for z in reversed(k.zones) if z.idx <= highest]


def zone_can_serve(k: Kernel, zone, order: int, highest: int) -> bool:
    """Would the fast path take an order-``order`` block from ``zone``?

    __zone_watermark_ok() at the low watermark: free pages minus (2^order - 1) above
    low + lowmem_reserve[highest], and for order > 0 a free block of at least that order.
    """
    mark = zone.watermark[WMARK_LOW] + zone.lowmem_reserve[highest]
    if zone.free_pages - (1 << order) + 1 <= mark:
        return False
    return order == 0 or any(zone.nr_free[o] for o in range(order, MAX_ORDER))


def reserved_pfns(k: Kernel) -> list[int]:
    """Pfns that boot kept: memblock reservations (the kernel image) and the e820 holes."""
    pfns = {
        pfn for start, end, _ in k.memblock_reserved for pfn in range(start >> 12, -(-end >> 12))
    }
    ram_edges = [0, *(edge for start, end in k.memory.ram for edge in (start, end)), k.nr_pfns]
    for hole_start, hole_end in zip(ram_edges[::2], ram_edges[1::2], strict=True):
        pfns.update(range(hole_start, hole_end))
    return sorted(pfns)


@dataclass(frozen=True)
class Block:
    """A block the test holds: where it starts, its order, whether it is a compound page."""

    pfn: int
    order: int
    compound: bool


def covered(live: dict[int, Block], pfn: int) -> bool:
    """True if some held block contains ``pfn``."""
    for order in range(MAX_ORDER):
        head = pfn & ~((1 << order) - 1)
        block = live.get(head)
        if block is not None and block.order >= order:
            return True
    return False


# --- the state machine ------------------------------------------------------------------------
class BuddyMachine(RuleBasedStateMachine):
    """One simulated machine, the blocks the test holds and the blocks it gave back."""

    def __init__(self, kernel_args: dict):
        super().__init__()
        kernel_args = dict(kernel_args)
        use_fastpath = kernel_args.pop("fastpath", True)
        saved, fastpath.ENABLED = fastpath.ENABLED, fastpath.ENABLED and use_fastpath
        try:
            self.k = Kernel(**kernel_args)  # attaches the C fast path if it is enabled
        finally:
            fastpath.ENABLED = saved
        self.managed = {z.name: z.managed_pages for z in self.k.zones}
        self.live: dict[int, Block] = {}
        self.freed: list[Block] = []  # given back, newest last (kept short)
        self.reserved = reserved_pfns(self.k)
        self.bad_addresses = (*BAD_ADDRESSES, PAGE_OFFSET + self.k.mem)
        self.order_warned = False  # WARN_ON_ONCE_GFP(order >= MAX_ORDER) has fired
        self.bad_pages_shown = 0  # bad_page() reports printed so far

    # --- helpers ----------------------------------------------------------------------------
    def pick(self, index: int) -> Block:
        blocks = sorted(self.live)
        return self.live[blocks[index % len(blocks)]]

    def free_call(self, how: str, pfn: int, order):
        """A call that frees ``pfn`` with ``order`` through ``__free_pages`` or ``free_pages``."""
        k = self.k
        if how == "__free_pages":
            page = Page(pfn, k.buddy.zone_of(pfn).name if k.buddy.zone_of(pfn) else "?")
            return lambda: free_pages_block(k)(page, order)
        return lambda: k.free_pages(PAGE_OFFSET + (pfn << PAGE_SHIFT), order)

    def expect_rejected(self, call, report: str, raises=None):
        """Make a wrong call; the machine must not change and the log must show ``report``.

        ``report``: "BUG" (BUG()/VM_BUG_ON: "kernel BUG at"), "bad_page" ("BUG: Bad page
        state", or nothing once bad_page()'s burst is used up, but always a BadPageReported
        event), "WARNING", "silent" (no log line; an event such as AllocationFailed is fine)
        or "nothing" (not a line, not an event).  With ``raises`` the call must raise that
        and leave no trace at all.
        """
        k = self.k
        before = snapshot(k)
        logged = lines_logged(k)
        events = len(k.history)
        taint = k.taint
        if raises is None:
            result = call()
        else:
            with pytest.raises(raises):
                call()
            result = None
        after = snapshot(k)
        assert after == before, f"a rejected call changed {describe_difference(before, after)}"
        text = text_since(k, logged)
        new_events = k.history[events:]
        if raises is not None or report in ("silent", "nothing"):
            assert text == "", f"expected silence, the log got:\n{text}"
            assert k.taint == taint
            if raises is not None or report == "nothing":
                assert new_events == [], f"expected no events, got {new_events}"
        elif report == "BUG":
            assert "kernel BUG at " in text, f"no BUG report in:\n{text}"
            assert k.taint & (1 << 7), "a BUG taints the kernel D (TAINT_DIE)"
        elif report == "WARNING":
            assert "WARNING: CPU: 0 PID: " in text, f"no WARNING in:\n{text}"
            assert k.taint & (1 << 9), "a WARN taints the kernel W (TAINT_WARN)"
        elif report == "bad_page":
            assert any(isinstance(e, BadPageReported) for e in new_events), new_events
            shown = text.count("BUG: Bad page state in process ")
            if shown == 0:
                assert self.bad_pages_shown >= BAD_PAGE_BURST, f"no bad_page report in:\n{text}"
            self.bad_pages_shown += shown
            assert k.taint & (1 << 5), "a bad page taints the kernel B (TAINT_BAD_PAGE)"
        else:  # pragma: no cover - a typo in the test
            raise AssertionError(report)
        return result

    def check_allocated(self, pfn: int, order: int, mask: int, events: list, zones_before):
        """A fresh block: aligned, in an allowed zone, not overlapping, split as history says."""
        k = self.k
        assert pfn % (1 << order) == 0, f"pfn {pfn:#x} is not aligned to order {order}"
        for p in (pfn, pfn + (1 << order) - 1):
            assert not covered(self.live, p), f"pfn {p:#x} was handed out twice"
        zone = k.buddy.zone_of(pfn)
        zones = zonelist(k, mask)
        assert zone in zones, f"{zone.name} is not in the zonelist of {mask:#x}"
        assert zone.idx == k.buddy.zone_of(pfn + (1 << order) - 1).idx, "block crosses a zone"
        # only a zone below its low watermark (or without a block that big) is passed over
        nofragment = zones[0].idx == ZONE_NORMAL and k.zone_dma32
        if not nofragment:
            for higher in zones[: zones.index(zone)]:
                assert not zones_before[higher.name], (
                    f"took {zone.name} though {higher.name} was above its low watermark"
                )
        # history: blocks leave the buddy as the splits of expand() and then
        # mm_page_alloc_zone_locked, each for the caller (cpu -1) or for rmqueue_bulk()'s
        # refill of this CPU's list; mm_page_alloc comes last
        core = [
            e
            for e in events
            if isinstance(e, BlockSplit | PagesAllocatedZoneLocked | PagesAllocated)
        ]
        last = core.pop()
        assert isinstance(last, PagesAllocated), core
        assert (last.pfn, last.order, last.cpu) == (
            pfn,
            order,
            0 if pcp_allowed_order(order) else -1,
        )
        taken = [i for i, e in enumerate(core) if isinstance(e, PagesAllocatedZoneLocked)]
        start = 0
        for end in taken:
            locked, splits = core[end], core[start:end]
            assert locked.order == order and locked.cpu == last.cpu, locked
            assert all(isinstance(e, BlockSplit) and e.pfn == locked.pfn for e in splits), splits
            orders = [e.order for e in splits]
            assert orders == list(range(order + len(splits), order, -1)), orders
            if last.cpu == -1:  # each upper half is a free block one order down
                for split in splits:
                    assert k.block_at(split.buddy_pfn) == (split.buddy_pfn, split.order - 1, "free")
            start = end + 1
        assert start == len(core), core
        if last.cpu == -1:
            assert taken and core[taken[-1]].pfn == pfn  # straight from the buddy

    # --- good calls ---------------------------------------------------------------------------
    @rule(
        requests=st.lists(
            st.tuples(
                st.sampled_from(GFP_MASKS),
                st.one_of(st.integers(0, 3), st.integers(0, MAX_ORDER - 1)),
                st.sampled_from(("alloc_pages", "__get_free_pages")),
                st.booleans(),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def allocate(self, requests):
        # several per step, so that runs reach a full machine and the ends of zones
        for gfp, order, api, by_name in requests:
            self.allocate_one(gfp, order, api, by_name)

    def allocate_one(self, gfp, order: int, api: str, by_name: bool) -> None:
        """One good allocation: its result, its history and the zone it came from."""
        name, mask = gfp
        k = self.k
        if api == "__get_free_pages":
            mask &= ~GFP_HIGHMEM_BIT  # __get_free_pages() allocates without __GFP_HIGHMEM
        highest = gfp_zone(mask, k.zone_dma, k.zone_dma32)
        can_serve = {z.name: zone_can_serve(k, z, order, highest) for z in k.zones}
        free_before = {z.name: available(z) for z in k.zones}
        before = snapshot(k)
        events = len(k.history)
        arg = name if by_name else gfp[1]
        if api == "alloc_pages":
            page = k.alloc_pages(arg, order)
            pfn = -1 if page is None else page.pfn
        else:
            addr = getattr(k, "__get_free_pages")(arg, order)
            assert addr == 0 or (addr - PAGE_OFFSET) % (PAGE_SIZE << order) == 0
            pfn = -1 if addr == 0 else (addr - PAGE_OFFSET) >> PAGE_SHIFT
            page = None if addr == 0 else k.virt_to_page(addr)
        new_events = k.history[events:]
        if pfn < 0:
            # no reclaim here: a failed allocation changed nothing, and only fails when no
            # allowed zone could give the block even at the low watermark
            assert snapshot(k) == before, "a failed allocation changed the free lists"
            assert any(isinstance(e, AllocationFailed) for e in new_events), new_events
            assert not any(can_serve[z.name] for z in zonelist(k, mask)), (
                f"order-{order} {name} failed though a zone had room: {k!r}"
            )
            return
        assert page.zone == k.buddy.zone_of(pfn).name
        self.check_allocated(pfn, order, mask, new_events, can_serve)
        zone = k.buddy.zone_of(pfn)
        assert available(zone) == free_before[zone.name] - (1 << order)
        compound = bool(mask & GFP_COMP_BIT) and order > 0  # prep_new_page(): order 0 is plain
        assert k.buddy.state[pfn] == (COMPOUND if compound else ALLOCATED) + order
        self.live[pfn] = Block(pfn, order, compound)

    @precondition(lambda self: self.live)
    @rule(
        picks=st.lists(
            st.tuples(
                st.integers(0, 1 << 16),
                st.sampled_from(("__free_pages", "free_pages", "free_pages inside the page")),
                st.integers(1, PAGE_SIZE - 1),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def free(self, picks):
        for index, how, offset in picks:
            if self.live:
                self.free_one(self.pick(index), how, offset)

    def free_one(self, block: Block, how: str, offset: int) -> None:
        """One good free: it prints nothing, and merges as far as the buddies allow."""
        k = self.k
        zone = k.buddy.zone_of(block.pfn)
        free_before = available(zone)
        logged = lines_logged(k)
        events = len(k.history)
        if how == "__free_pages":
            free_pages_block(k)(k.pfn_to_page(block.pfn), block.order)
        else:
            addr = PAGE_OFFSET + (block.pfn << PAGE_SHIFT)
            if how == "free_pages inside the page":
                addr += offset  # virt_to_page() rounds down to the page
            k.free_pages(addr, block.order)
        del self.live[block.pfn]
        self.freed = [*self.freed[-31:], block]
        assert text_since(k, logged) == "", "a good free printed something"
        assert available(zone) == free_before + (1 << block.order)
        # history: mm_page_free (onto this CPU's list for a pcp order), then for every
        # block that reaches the buddy (this one, or those a drain gives back) one merge per
        # order climbed
        new_events = k.history[events:]
        cpu = 0 if pcp_allowed_order(block.order) else -1
        assert new_events[0] == PagesFreed(block.pfn, block.order, zone.name, cpu)
        chain = None if cpu == 0 else (block.pfn, block.order)
        for event in new_events[1:]:
            if isinstance(event, PcpPagesDrained):
                assert (event.cpu, event.zone) == (0, zone.name), event
                chain = (event.pfn, event.order)
                continue
            assert isinstance(event, BuddiesMerged) and chain is not None, new_events
            pfn, order = chain
            assert (event.pfn, event.order) == (pfn, order)
            assert event.buddy_pfn == pfn ^ (1 << order)
            chain = (event.merged_pfn, order + 1)
        head, order, where = k.block_at(block.pfn)
        if where == "pcp":  # still on this CPU's list, not drained
            assert cpu == 0 and (head, order) == (block.pfn, block.order)
        else:
            assert where == "free", where
        if where == "free" and order < MAX_ORDER - 1:  # merging stopped: the buddy is not free
            assert k.buddy.state[head ^ (1 << order)] != order

    @rule(order=st.integers(0, MAX_ORDER - 1))
    def free_pages_of_null_does_nothing(self, order):
        # free_pages(): `if (addr != 0)` - freeing NULL is allowed and does nothing
        self.expect_rejected(lambda: self.k.free_pages(0, order), "nothing")

    # --- wrong frees ----------------------------------------------------------------------------
    @precondition(lambda self: self.freed)
    @rule(index=st.integers(0, 1 << 16), how=st.sampled_from(("__free_pages", "free_pages")))
    def double_free(self, index, how):
        candidates = [b for b in self.freed if not covered(self.live, b.pfn)]
        if not candidates:
            return  # every block given back was handed out again
        block = candidates[index % len(candidates)]
        # put_page_testzero(): VM_BUG_ON_PAGE(page_ref_count(page) == 0)
        self.expect_rejected(self.free_call(how, block.pfn, block.order), "BUG")

    @precondition(lambda self: any(b.order < MAX_ORDER - 1 for b in self.live.values()))
    @rule(
        index=st.integers(0, 1 << 16),
        extra=st.integers(1, MAX_ORDER - 1),
        how=st.sampled_from(("__free_pages", "free_pages")),
        highest=st.booleans(),
    )
    def free_with_larger_order(self, index, extra, how, highest):
        blocks = sorted(p for p, b in self.live.items() if b.order < MAX_ORDER - 1)
        # the highest block held is the one whose too-large order may run past the end of RAM
        block = self.live[blocks[-1 if highest else index % len(blocks)]]
        order = min(block.order + extra, MAX_ORDER - 1)
        call = self.free_call(how, block.pfn, order)
        # compound: VM_BUG_ON_PAGE(compound && compound_order(page) != order);
        # otherwise free_pages_prepare() finds pages that are not this block's tails, unless
        # all of them sit free on pcp lists (refcount 0, no flags): kmviz warns instead
        state = self.k.buddy.state
        above = range(block.pfn + (1 << block.order), block.pfn + (1 << order))
        codes = {state[pfn] if pfn < len(state) else HOLE for pfn in above}
        on_pcp = bool(codes) and all(code < 0 for code in codes)  # pcp heads and their tails
        report = "BUG" if block.compound else "WARNING" if on_pcp else "bad_page"
        self.expect_rejected(call, report)

    @precondition(lambda self: any(b.order > 0 for b in self.live.values()))
    @rule(
        index=st.integers(0, 1 << 16),
        less=st.integers(1, MAX_ORDER - 1),
        how=st.sampled_from(("__free_pages", "free_pages")),
    )
    def free_with_smaller_order(self, index, less, how):
        blocks = sorted(p for p, b in self.live.items() if b.order > 0)
        block = self.live[blocks[index % len(blocks)]]
        order = max(block.order - less, 0)
        call = self.free_call(how, block.pfn, order)
        # compound: the VM_BUG_ON_PAGE above; plain: Linux would leak the rest silently,
        # kmviz warns and frees nothing
        self.expect_rejected(call, "BUG" if block.compound else "WARNING")

    @rule(index=st.integers(0, 1 << 16), order=st.integers(0, MAX_ORDER - 1))
    def free_pages_outside_the_direct_map(self, index, order):
        addr = self.bad_addresses[index % len(self.bad_addresses)]
        # free_pages(): VM_BUG_ON(!virt_addr_valid((void *)addr))
        self.expect_rejected(lambda: self.k.free_pages(addr, order), "BUG")

    @precondition(lambda self: self.reserved)
    @rule(
        index=st.integers(0, 1 << 20),
        order=st.integers(0, MAX_ORDER - 1),
        how=st.sampled_from(("__free_pages", "free_pages")),
    )
    def free_reserved_page(self, index, order, how):
        pfn = self.reserved[index % len(self.reserved)]
        call = self.free_call(how, pfn, order)
        # free_page_is_bad(): PG_reserved is in PAGE_FLAGS_CHECK_AT_FREE
        self.expect_rejected(call, "bad_page")

    # --- wrong allocations ----------------------------------------------------------------------
    @rule(
        order=st.sampled_from(BAD_ORDERS),
        gfp=st.sampled_from(GFP_MASKS),
        api=st.sampled_from(("alloc_pages", "__get_free_pages")),
    )
    def allocate_impossible_order(self, order, gfp, api):
        k = self.k
        _, mask = gfp
        call = getattr(k, api)
        warns = not mask & GFP_NOWARN_BIT and not self.order_warned
        # __alloc_pages(): WARN_ON_ONCE_GFP(order >= MAX_ORDER, gfp) and return NULL
        result = self.expect_rejected(lambda: call(mask, order), "WARNING" if warns else "silent")
        assert not result
        self.order_warned |= warns

    def _expect_failed_event(self, events: int) -> None:
        failures = [e for e in self.k.history[events:] if isinstance(e, AllocationFailed)]
        assert len(failures) == 1, failures

    @rule(
        mask=st.sampled_from(BAD_ZONE_MASKS),
        order=st.integers(0, MAX_ORDER - 1),
        api=st.sampled_from(("alloc_pages", "__get_free_pages")),
    )
    def allocate_contradictory_zones(self, mask, order, api):
        k = self.k
        logged = lines_logged(k)
        events = len(k.history)
        call = getattr(k, api)
        result = self.expect_rejected(lambda: call(mask, order), "BUG")
        assert not result
        assert "kernel BUG at include/linux/gfp.h:136!" in text_since(k, logged)
        self._expect_failed_event(events)

    # --- Python-level misuse --------------------------------------------------------------------
    @rule(
        api=st.sampled_from(("alloc_pages", "__get_free_pages")),
        gfp=st.sampled_from(GFP_MASKS),
        order=st.sampled_from(("1", 1.0, None, [0])),
    )
    def allocate_with_an_order_that_is_not_an_int(self, api, gfp, order):
        call = getattr(self.k, api)
        self.expect_rejected(lambda: call(gfp[1], order), "nothing", raises=TypeError)

    @rule(
        api=st.sampled_from(("alloc_pages", "__get_free_pages")),
        gfp=st.sampled_from(("GFP_NOPE", "GFP_KERNEL|__GFP_NOPE", "GFP_KERNEL||")),
        order=st.integers(0, MAX_ORDER - 1),
    )
    def allocate_with_an_unknown_gfp_name(self, api, gfp, order):
        call = getattr(self.k, api)
        self.expect_rejected(lambda: call(gfp, order), "nothing", raises=ValueError)

    @precondition(lambda self: self.live)
    @rule(
        index=st.integers(0, 1 << 16),
        order=st.sampled_from(("1", 1.0, None)),
        how=st.sampled_from(("__free_pages", "free_pages")),
    )
    def free_with_an_order_that_is_not_an_int(self, index, order, how):
        block = self.pick(index)
        call = self.free_call(how, block.pfn, order)
        self.expect_rejected(call, "nothing", raises=TypeError)

    # --- after every step -----------------------------------------------------------------------
    @invariant()
    def buddy_invariants_hold(self):
        invariants.check(self.k)

    @invariant()
    def pages_are_conserved_per_zone(self):
        held = dict.fromkeys(self.managed, 0)
        for block in self.live.values():
            held[self.k.buddy.zone_of(block.pfn).name] += 1 << block.order
        for zone in self.k.zones:
            assert zone.managed_pages == self.managed[zone.name]
            on_pcp = sum(zone.pcp_count)
            assert zone.free_pages + on_pcp + held[zone.name] == zone.managed_pages, zone

    @invariant()
    def allocated_blocks_are_exactly_those_held(self):
        expected = {b.pfn: (b.order, b.compound) for b in self.live.values()}
        assert allocated_heads(self.k) == expected


@pytest.mark.parametrize("kernel_args", MACHINES.values(), ids=MACHINES.keys())
def test_random_good_and_bad_calls_keep_every_invariant(kernel_args):
    run_state_machine_as_test(lambda: BuddyMachine(kernel_args), settings=STATEFUL_SETTINGS)


# --- what the state machine found ----------------------------------------------------------------
def test_freeing_too_large_an_order_at_the_end_of_memory_is_reported_not_a_crash():
    # The state machine's find, cut down: on an 8 MiB machine (pfns 0..0x7ff) take the
    # three order-9 blocks 0x200, 0x400 and 0x600 (the unmovable requests steal the Movable
    # pageblocks largest first: the order-10 block at 0x400, its upper half 0x600, then
    # 0x200), then free 0x600 as order 10.  free_pages_prepare() checks pages
    # 0x601..0x9ff: 0x800 and up are no RAM at all, so bad_page() reports them and nothing
    # is freed.
    k = Kernel(mem="8MiB", memory_map="flat")
    pages = sorted(
        (k.alloc_pages(GFP_KERNEL | __GFP_NORETRY, 9) for _ in range(3)), key=lambda p: p.pfn
    )
    assert [p.pfn for p in pages] == [0x200, 0x400, 0x600]
    before = snapshot(k)
    logged = lines_logged(k)
    free_pages_block(k)(pages[2], 10)
    assert snapshot(k) == before
    assert "BUG: Bad page state in process insmod  pfn:00800" in text_since(k, logged)
    invariants.check(k)


# --- one long seeded run --------------------------------------------------------------------------
@pytest.mark.slow
def test_20000_random_operations_then_freeing_everything_restores_the_boot_free_areas():
    rng = random.Random(61)
    k = Kernel(mem="256MiB", memory_map="flat")
    boot_free = {z.name: z.free_pages for z in k.zones}
    boot_buddyinfo = k.cat("/proc/buddyinfo")
    free = free_pages_block(k)
    live: dict[int, tuple[int, bool]] = {}  # pfn -> (order, compound)
    freed: list[tuple[int, int]] = []  # recently given back: (pfn, order)
    masks = [mask for _, mask in GFP_MASKS]
    failures = 0
    for step in range(1, 20_001):
        roll = rng.random()
        # 55% allocations, 40% frees, 5% wrong calls: the machine fills up over the run
        # (about 90% of its pages are held at the end) and allocations start to fail
        if roll < 0.55 or not live:
            order = rng.choice((0, 0, 0, 1, 1, 2, 3, rng.randrange(MAX_ORDER)))
            mask = rng.choice(masks)
            if rng.random() < 0.5:
                page = k.alloc_pages(mask, order)
                pfn = -1 if page is None else page.pfn
            else:
                addr = k.get_free_pages(mask, order)
                pfn = -1 if addr == 0 else (addr - PAGE_OFFSET) >> PAGE_SHIFT
            if pfn < 0:
                failures += 1
            else:
                assert not covered_pfn(live, pfn), f"step {step}: pfn {pfn:#x} handed out twice"
                live[pfn] = (order, bool(mask & GFP_COMP_BIT) and order > 0)
        elif roll < 0.95:
            pfn = rng.choice(list(live))
            order, _ = live.pop(pfn)
            if rng.random() < 0.5:
                free(k.pfn_to_page(pfn), order)
            else:
                k.free_pages(PAGE_OFFSET + (pfn << PAGE_SHIFT) + rng.randrange(PAGE_SIZE), order)
            freed = [*freed[-15:], (pfn, order)]
        else:  # a wrong call, which must change nothing
            before = snapshot(k)
            kind = rng.randrange(4)
            if kind == 0 and freed:
                pfn, order = rng.choice(freed)
                if not covered_pfn(live, pfn):
                    free(k.pfn_to_page(pfn), order)  # double free
            elif kind == 1:
                k.free_pages(0x1234, rng.randrange(MAX_ORDER))
            elif kind == 2:
                assert k.alloc_pages(rng.choice(masks), rng.choice(BAD_ORDERS)) is None
            else:
                assert k.alloc_pages(GFP_DMA | GFP_DMA32, rng.randrange(MAX_ORDER)) is None
            assert snapshot(k) == before, f"step {step}: a wrong call changed the machine"
        if step % 500 == 0:
            invariants.check(k)
            assert allocated_heads(k) == live, f"step {step}: the machine and the test disagree"
    invariants.check(k)
    assert 0 < failures < 20_000 // 10, f"{failures} failed allocations: the mix is off"
    for pfn in rng.sample(list(live), len(live)):
        free(k.pfn_to_page(pfn), live.pop(pfn)[0])
    invariants.check(k)
    assert allocated_heads(k) == {}
    assert {z.name: z.free_pages for z in k.zones} == boot_free
    assert k.cat("/proc/buddyinfo") == boot_buddyinfo


def covered_pfn(live: dict[int, tuple[int, bool]], pfn: int) -> bool:
    """True if a held block (``{pfn: (order, compound)}``) contains ``pfn``."""
    return any(head <= pfn < head + (1 << order) for head, (order, _) in live.items())
