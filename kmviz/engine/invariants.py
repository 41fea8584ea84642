"""Consistency checks over a whole machine: what must hold after every allocator call.

``check(kernel)`` raises AssertionError naming the first broken rule.  Tests call it after
every step of long random sequences; it walks every page, so it costs O(pages).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from array import array
from typing import TYPE_CHECKING

from .buddy import (
    ALLOCATED,
    ANON_PAGE,
    COMPOUND,
    FILE_PAGE,
    HOLE,
    OWNER_SLAB,
    PCP,
    PCP_END,
    RESERVED,
    TAIL,
    holder,
    order_to_pindex,
    pcp_allowed_order,
    plain_code,
)
from .constants import (
    MAX_ORDER,
    MIGRATE_CMA,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    NR_PCP_LISTS,
)
from .slab import FREE_SLOT

if TYPE_CHECKING:
    from .kernel import Kernel


def check(kernel: Kernel) -> None:
    """Assert every buddy invariant of ``kernel``; the message names the first that fails.

    * every page is covered by exactly one block (free, allocated or reserved), blocks are
      naturally aligned and never cross a zone;
    * each zone's free pages (NR_FREE_PAGES) equals the sum of its free blocks in the buddy,
      and free + on per-CPU lists + allocated = managed pages;
    * every per-CPU list holds only blocks of its order and migratetype (Movable's list also
      HighAtomic/CMA), linked both ways, and each CPU's count is the pages on its lists;
    * nr_free[order] equals the length of that order's lists, and every list entry is a free
      block head of that order in that zone, linked both ways;
    * no two free buddies of the same order are left unmerged (below the top order);
    * the pages marked anon or file (PG_lru) are the page cache's and the tasks' pages.
    """
    buddy = kernel.buddy
    state = buddy.state
    for zone in kernel.zones:
        listed: dict[int, int] = {}
        for order in range(MAX_ORDER):
            count = 0
            for mt in range(MIGRATE_TYPES):
                head = zone.sentinel(order, mt)
                node = buddy.nxt[head >> 1]
                previous = head
                while node != head:
                    assert buddy.prv[node >> 1] == previous, f"{zone.name}: broken link at {node}"
                    assert state[node] == order, (
                        f"{zone.name}: pfn {node:#x} on the order-{order} list has state "
                        f"{state[node]}"
                    )
                    assert node not in listed, f"{zone.name}: pfn {node:#x} listed twice"
                    listed[node] = order
                    count += 1
                    previous, node = node, buddy.nxt[node >> 1]
            assert count == zone.nr_free[order], (
                f"{zone.name}: nr_free[{order}] is {zone.nr_free[order]} but lists hold {count}"
            )
        cma_free = sum(
            sum(1 for _ in buddy.free_list(zone, order, MIGRATE_CMA)) << order
            for order in range(MAX_ORDER)
        )
        assert cma_free == zone.free_cma, (
            f"{zone.name}: NR_FREE_CMA_PAGES is {zone.free_cma} but the CMA lists hold {cma_free}"
        )
        on_pcp: dict[int, int] = {}
        for cpu in range(buddy.cpus):
            pages = 0
            for pindex in range(NR_PCP_LISTS):
                for node in zone.pcp_list(cpu, pindex):
                    code = state[node]
                    assert PCP <= code < PCP_END, (
                        f"{zone.name}: pfn {node:#x} on CPU {cpu}'s pcp list {pindex} has state "
                        f"{code}"
                    )
                    order, mt = (code - PCP) >> 3, (code - PCP) & 7
                    list_mt = mt if mt < MIGRATE_PCPTYPES else MIGRATE_MOVABLE
                    assert pcp_allowed_order(order) and order_to_pindex(list_mt, order) == pindex, (
                        f"{zone.name}: order-{order} block {node:#x} of migratetype {mt} on pcp "
                        f"list {pindex}"
                    )
                    assert node not in on_pcp, f"{zone.name}: pfn {node:#x} on a pcp list twice"
                    on_pcp[node] = order
                    pages += 1 << order
            assert pages == zone.pcp_count[cpu], (
                f"{zone.name}: CPU {cpu}'s pcp count is {zone.pcp_count[cpu]} but its lists "
                f"hold {pages} pages"
            )
        free = allocated = pcp = 0
        pfn = zone.start_pfn
        while pfn < zone.end_pfn:
            code = plain_code(state[pfn])  # a held head counts as the block it is
            if 0 <= code < MAX_ORDER:
                order = code
                assert listed.get(pfn) == order, f"{zone.name}: free block {pfn:#x} not listed"
                free += 1 << order
                if order < MAX_ORDER - 1:
                    buddy_pfn = pfn ^ (1 << order)
                    assert state[buddy_pfn] != order, (
                        f"{zone.name}: free buddies {pfn:#x} and {buddy_pfn:#x} of order "
                        f"{order} left unmerged"
                    )
            elif ALLOCATED <= code < RESERVED:
                order = code - (COMPOUND if code >= COMPOUND else ALLOCATED)
                allocated += 1 << order
            elif code in (RESERVED, HOLE):
                order = 0
            elif PCP <= code < PCP_END:
                order = (code - PCP) >> 3
                assert on_pcp.get(pfn) == order, f"{zone.name}: pcp block {pfn:#x} not listed"
                pcp += 1 << order
            else:
                raise AssertionError(f"{zone.name}: pfn {pfn:#x} is a tail without a head")
            size = 1 << order
            assert pfn % size == 0, f"{zone.name}: block {pfn:#x} of order {order} misaligned"
            assert pfn + size <= zone.end_pfn, f"{zone.name}: block {pfn:#x} crosses the zone"
            if size > 1 and state[pfn + 1 : pfn + size].count(TAIL) != size - 1:
                tail = next(t for t in range(pfn + 1, pfn + size) if state[t] != TAIL)
                raise AssertionError(f"{zone.name}: block {pfn:#x} overlaps {tail:#x}")
            pfn += size
        assert free == zone.free_pages, (
            f"{zone.name}: free blocks hold {free} pages but free_pages says {zone.free_pages}"
        )
        assert free + pcp + allocated == zone.managed_pages, (
            f"{zone.name}: {free} free + {pcp} on pcp lists + {allocated} allocated != "
            f"{zone.managed_pages} managed"
        )
    lru = set(kernel.page_cache.pages()).union(*(task.pages for task in kernel.tasks))
    on_lru = re.compile(b"[%c%c]" % (ANON_PAGE, FILE_PAGE))  # both codes are plain ASCII bytes
    marked = {found.start() for found in on_lru.finditer(bytes(state))}
    assert marked == lru, (
        f"{len(marked ^ lru)} pages marked anon/file (PG_lru) but not on an LRU list, or the "
        f"other way round: {sorted(marked ^ lru)[:4]}"
    )


def check_slabs(kernel: Kernel) -> None:
    """Assert the slab allocator's invariants; the message names the first that fails.

    * every slab's pages are an allocated block of the slab's order, its head held by the
      slab allocator (PG_slab), and every page maps back to the slab in ``slab_by_pfn``;
    * a slab's free slots are distinct and in range, and exactly its slots without a
      requested size (Slab.requested);
    * the node's partial list holds only slabs with free objects that are not the CPU's, the
      CPU's partial list only slabs with free objects, and a slab is frozen exactly when it
      is the active slab or on the CPU's partial list;
    * each large kmalloc is an allocated compound block of its order.
    """
    buddy = kernel.buddy
    owned = 0
    for cache in kernel.caches:
        for slab in cache.slabs:
            head = buddy.state[slab.pfn]
            assert plain_code(head) in (ALLOCATED + slab.order, COMPOUND + slab.order), (
                f"{cache.name}: slab at {slab.pfn:#x} is not an allocated order-{slab.order} block"
            )
            assert holder(head) == OWNER_SLAB, f"{cache.name}: slab at {slab.pfn:#x} not PG_slab"
            for page in range(slab.pfn, slab.pfn + (1 << slab.order)):
                assert kernel.slab_by_pfn.get(page) is slab, f"{cache.name}: page {page:#x} lost"
            owned += 1 << slab.order
            free = slab.freelist
            assert len(set(free)) == len(free), f"{cache.name}: a slot is free twice"
            assert all(0 <= i < slab.objects for i in free), f"{cache.name}: bad free slot"
            unasked = {i for i, asked in enumerate(slab.requested) if asked == FREE_SLOT}
            assert len(slab.requested) == slab.objects and unasked <= set(range(slab.objects)), (
                f"{cache.name}: slab {slab.pfn:#x} records sizes for slots it does not have"
            )
            assert unasked == set(free), (
                f"{cache.name}: slab {slab.pfn:#x}: {len(free)} free slots but "
                f"{len(unasked)} without a requested size"
            )
        for slab in cache.partial:
            assert slab in cache.slabs and slab.freelist and not slab.frozen, (
                f"{cache.name}: slab {slab.pfn:#x} should not be on the partial list"
            )
        for slab in cache.percpu_partial:
            assert slab in cache.slabs and slab.freelist and slab is not cache.cpu_slab, (
                f"{cache.name}: slab {slab.pfn:#x} should not be on the CPU's partial list"
            )
        cpu_owned = {id(slab) for slab in cache.percpu_partial}
        if cache.cpu_slab is not None:
            cpu_owned.add(id(cache.cpu_slab))
        for slab in cache.slabs:
            assert slab.frozen == (id(slab) in cpu_owned), (
                f"{cache.name}: slab {slab.pfn:#x} frozen={slab.frozen} but "
                f"{'is' if id(slab) in cpu_owned else 'is not'} the CPU's"
            )
        listed = [*map(id, cache.partial), *map(id, cache.percpu_partial)]
        assert len(set(listed)) == len(listed), "a slab listed twice"
    assert owned == len(kernel.slab_by_pfn), "slab_by_pfn maps pages no slab owns"
    for pfn, order, _ in kernel.large_kmalloc.values():
        assert buddy.state[pfn] == COMPOUND + order, f"large kmalloc at {pfn:#x} not allocated"


def _check_maxima(node, kind: str) -> int:
    """The largest range under ``node``, asserting every subtree_max_size on the way."""
    if node is None:
        return 0
    best = max(node.end - node.start, _check_maxima(node.left, kind),
               _check_maxima(node.right, kind))  # fmt: skip
    assert node.subtree_max_size == best, f"{kind}: stale subtree_max_size at {node!r}"
    return best


def check_vmap_areas(kernel: Kernel) -> None:
    """Assert the vmap area trees' invariants; the message names the first that fails.

    * live areas, unpurged ranges and free ranges tile the address space [1, ULONG_MAX)
      (vmap_init_free_space()'s span) without a gap or an overlap;
    * no two free ranges, and no two unpurged ranges, touch (they would have merged);
    * every free-tree node's subtree_max_size is the largest range in its subtree;
    * vmap_lazy_nr counts the pages of the unpurged ranges.
    """
    spans = [(a.addr, a.end, "live") for a in kernel.vmap_areas.values()]
    for kind, ranges in (("free", kernel.free_vmap_areas), ("unpurged", kernel.purge_vmap_areas)):
        listed = [(r.start, r.end, kind) for r in ranges]
        assert len(listed) == ranges.count, f"{kind}: count {ranges.count}, {len(listed)} listed"
        assert sum(end - start for start, end, _ in listed) == ranges.total, f"{kind}: total"
        for (_, end, _), (start, _, _) in itertools.pairwise(listed):
            assert end < start, f"{kind} ranges at {end:#x} touch or overlap: not merged"
        spans += listed
        if kind == "free":  # the purge list is not searched: no maxima
            _check_maxima(ranges.root, kind)
    spans.sort()
    position = 1
    for start, end, kind in spans:
        assert start == position, f"{kind} range at {start:#x}: expected {position:#x}"
        position = end
    assert position == (1 << 64) - 1, f"the ranges end at {position:#x}, not ULONG_MAX"
    lazy = sum(r.end - r.start for r in kernel.purge_vmap_areas) >> 12
    assert kernel.vmap_lazy_nr == lazy, f"vmap_lazy_nr {kernel.vmap_lazy_nr}, unpurged {lazy}"


def fingerprint(kernel: Kernel, records: bool = True) -> str:
    """A digest of everything a call could change; equal digests mean an unchanged machine.

    It covers the page arrays (states with their holders, list links, pageblock types), the
    free counts, every cache with its slabs, live objects and lists, large kmallocs, vmalloc
    areas and the purge and deferred lists, page tables, tasks, the page cache, memblock, the
    execution context and kswapd; with ``records`` also the clock, taint, panic, the history's
    length and the kernel log's length and newest line (what a refused call adds to, leaving
    memory as it was).
    """
    buddy = kernel.buddy
    digest = hashlib.blake2b(digest_size=16)
    for data in (buddy.state, buddy.pageblock_mt):
        digest.update(bytes(data))
    # the free lists as they run (a block off the lists leaves stale links, which mean nothing)
    for zone in kernel.zones:
        for order in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                digest.update(array("i", [-1, *buddy.free_list(zone, order, mt)]).tobytes())
        for pcp_list in zone.pcp_lists:
            digest.update(array("i", [-1, *pcp_list]).tobytes())
    caches = []
    for c in kernel.caches:
        if not c.slabs:
            caches.append(c.name)
            continue
        slabs = sorted(c.slabs, key=lambda slab: slab.pfn)
        caches.append((
            c.name, c.refcount, [s.pfn for s in c.partial], [s.pfn for s in c.percpu_partial],
            c.cpu_slab.pfn if c.cpu_slab else None,
            [(s.pfn, s.order, len(s.freelist)) for s in slabs],
        ))  # fmt: skip
        # each slab's free slots in order and each slot's requested size, as bytes
        digest.update(b"".join(array("i", s.freelist).tobytes() + s.requested.tobytes()
                               for s in slabs))  # fmt: skip
    tables = kernel._page_tables
    entries = (
        [] if tables is None else sorted((p, sorted(t.items())) for p, t in tables._tables.items())
    )
    parts = (
        [
            (
                z.free_pages,
                tuple(z.nr_free),
                z.managed_pages,
                tuple(z.pcp_count),
                tuple(z.pcp_free_factor),
                z.pcp_high,
                z.pcp_batch,
            )
            for z in kernel.zones
        ],
        caches,
        sorted(kernel.large_kmalloc.items()),
        sorted(
            (a.addr, a.size, tuple(a.pfns), a.array, a.kind) for a in kernel.vmap_areas.values()
        ),
        [(r.start, r.end) for r in kernel.purge_vmap_areas],
        [(r.start, r.end) for r in kernel.free_vmap_areas],
        list(kernel.deferred_vfree),
        entries,
        [(t.comm, t.pid, t.oom_score_adj, tuple(t.pages), t.oom_victim) for t in kernel.tasks],
        list(kernel.page_cache.lru),
        list(kernel.page_cache.active),
        kernel.memblock_reserved,
        kernel.context.snapshot(),
        kernel.context.cpu,
        kernel.boot_stage,
        kernel._kswapd_pending is not None,
        kernel._next_pid,
        kernel.nr_vmalloc_pages,
    )
    digest.update(repr(parts).encode())
    if records:
        lines = kernel.log.lines
        log = (kernel.now_ns(), kernel.taint, kernel.panic_message, len(kernel.history),
               len(lines) + kernel.log.dropped, lines[-1] if lines else None)  # fmt: skip
        digest.update(repr(log).encode())
    return digest.hexdigest()
