"""The engine's event history: every event since boot, packed one integer per allocator call.

The hot paths (an allocation, a free) write one 64-bit record; the events a view reads are
rebuilt from it on demand.  This works because the buddy allocator is arithmetic: an
allocation that took a block of ``from_order`` and kept ``order`` implies exactly the splits
``from_order → … → order`` of the lower half (``expand()``), and a free of ``order`` that ended
as a block of ``final_order`` implies exactly the merges ``order → … → final_order`` with
``buddy_pfn = pfn ^ (1 << o)`` at each step (``__free_one_page()``).

Record layout (bit positions)::

    kind      0..1   0 = a stored event object, 1 = allocation, 2 = free, 3 = slab object
    order     2..5   the order asked for / freed
    order2    6..9   allocation: order of the block taken off the list; free: order after merging
    mt       10..12  migratetype of the lists involved
    tail     13      free: the merged block went to the list tail (buddy_merge_likely)
    gfp      13..24  allocation: index into the table of GFP masks seen so far (4096 of them)
    pfn      25..52  first page frame (1 TiB is 2^28 frames)
    pcp      53      a per-CPU list is involved: allocation popped it / free pushed it ...
    bulk     54      ... or, with pcp, rmqueue_bulk() moved it there / free_pcppages_bulk() out
    cpu      55..62  with pcp: the CPU whose list it is
    taken    63      allocation with pcp, not bulk: __alloc_pages_bulk() took it off the list,
                     which fires no mm_page_alloc (the sign bit: BULK_TAKEN_BIT is negative)
    object   2..     kind 0: index into the stored objects

A slab object record (kind 3) is one kmalloc, kmem_cache_alloc, kfree or kmem_cache_free of a
slot, or one put_cpu_partial() of a slab (SlabFrozen); the slab's cache, and an allocation's
requested size and GFP mask, are one entry of a table (``slab_desc()``)::

    op        2..4   SLAB_OPS: kmalloc, kmem_cache_alloc, kfree, kmem_cache_free, slab_frozen
    slot      5..19  the object's slot in the slab (0 for slab_frozen; a slab has < 32768)
    pfn      20..47  the slab's first page frame
    desc     48..62  index into the table of (cache, bytes requested, gfp); frees: (cache, 0, 0)

so object ``slot`` of the slab at ``pfn`` is at ``PAGE_OFFSET + (pfn << PAGE_SHIFT) +
red_left_pad + slot * size`` (``Slab.address()``): ``3 | 2 << 2 | 5 << 5 | 0x3f7 << 20`` is a
kfree() of slot 5 of the slab at pfn 0x3f7, whose cache is entry 0 of the table.

Events per record: a buddy allocation is its splits, mm_page_alloc_zone_locked and
mm_page_alloc; a pop off a pcp list is mm_page_alloc alone (PagesAllocated), or no tracepoint
at all when __alloc_pages_bulk() took the page (PagesAllocatedInBulk); an rmqueue_bulk()
block is its splits and mm_page_alloc_zone_locked; a free to the buddy is mm_page_free and its
merges, a push onto a pcp list is mm_page_free alone, and a drained block is
mm_page_pcpu_drain and its merges.
"""

from __future__ import annotations

import copy
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, islice

try:  # numpy (installed with the widgets) counts a long stretch of records at once
    import numpy as _numpy
except ImportError:  # pragma: no cover - the engine alone needs only traitlets
    _numpy = None

from .constants import (
    MIGRATE_PCPTYPES,
    PAGE_ALLOC_COSTLY_ORDER,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGEBLOCK_ORDER,
)
from .events import (
    BlockSplit,
    BuddiesMerged,
    ObjectAllocated,
    ObjectFreed,
    PagesAllocated,
    PagesAllocatedInBulk,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
    SlabFrozen,
    VmallocFreed,
    VmallocMapped,
)

CALL_SITE = "lesson_init+0x1c/0x60 [lesson]"  # the learner's code, as %pS prints it
EXIT_SITE = "lesson_exit+0x12/0x40 [lesson]"  # where it frees

# Hot paths store some events as plain tuples (tag, fields...); reading builds the object.
COMPACT_EVENTS = {
    "kmalloc_large": lambda addr, req, gfp, order: ObjectAllocated(
        "kmalloc", CALL_SITE, addr, req, 4096 << order, gfp, ""
    ),
    "vmalloc": VmallocMapped,  # vmalloc()'s areas: (tag, addr, size, pfns)
    "vfree": lambda addr: VmallocFreed(addr, False),  # vfree() of one, not deferred
}

KIND_OBJECT = 0
KIND_ALLOC = 1
KIND_FREE = 2
KIND_SLAB = 3
# the ops of a slab object record, bits 2..4
OP_KMALLOC, OP_KMEM_CACHE_ALLOC, OP_KFREE, OP_KMEM_CACHE_FREE, OP_SLAB_FROZEN = range(5)
SLAB_OPS = ("kmalloc", "kmem_cache_alloc", "kfree", "kmem_cache_free", "slab_frozen")
SLAB_SLOT_SHIFT = 5
SLAB_PFN_SHIFT = 20  # above the slot: (record >> 5) & SLAB_KEY_MASK orders by slab, then slot
SLAB_KEY_MASK = (1 << 43) - 1
SLAB_SLOT_MASK = (1 << 15) - 1
SLAB_DESC_SHIFT = 48
SLAB_DESCS = 1 << 15  # entries the table of (cache, requested, gfp) may have
PFN_SHIFT = 25
PFN_MASK = (1 << 28) - 1
GFP_SHIFT = 13
GFP_MASK = (1 << (PFN_SHIFT - GFP_SHIFT)) - 1  # 0xfff: the gfp field's bits, shifted down
TAIL_BIT = 1 << 13
PCP_BIT = 1 << 53
PCP_BULK_BIT = 1 << 54
CPU_SHIFT = 55
CPU_MASK = 0xFF  # (record >> CPU_SHIFT) & CPU_MASK: bit 63 is BULK_TAKEN_BIT's
BULK_TAKEN_BIT = -(1 << 63)  # bit 63 of an int64: OR it in, test it with record < 0
LOW_BITS = (1 << 10) - 1  # kind, order and order2: all a record's event count depends on
PCP_KEY_SHIFT = 43  # (record >> 43) & PCP_KEY puts the pcp and bulk bits above LOW_BITS
PCP_KEY = 3 << 10
# EVENTS_OF[key]: how many events a record stands for, by key = its LOW_BITS and its pcp
# bits -- a stored event is one; a buddy allocation its splits, mm_page_alloc_zone_locked and
# mm_page_alloc; an rmqueue_bulk() block its splits and mm_page_alloc_zone_locked; a free to
# the buddy or a drained block one and its merges; a pop off or push on a pcp list one
EVENTS_OF = [
    1
    if bits & 3 in (KIND_OBJECT, KIND_SLAB) or bits >> 10 == 1
    else 1 + ((bits >> 6) & 15) - ((bits >> 2) & 15) + (bits >> 10 == 0 and bits & 3 == KIND_ALLOC)
    for bits in range(4 << 10)
]
NUMPY_INDEX_FROM = 4096  # records: a stretch at least this long is counted with numpy


class History(Sequence):
    """Every event since boot, oldest first; ``history[i]`` builds event ``i``.

    ``len(history)`` counts events (a split is one event), not records.
    """

    def __init__(self, zone_name_of: Callable[[int], str]):
        self.records = array("q")
        self.objects: list = []
        self._gfp_masks: list[int] = []
        self._gfp_index: dict[int, int] = {}
        self.slab_descs: list[tuple] = []  # (cache, bytes requested, gfp) of slab records
        self._slab_desc_index: dict[tuple, int] = {}
        # append_slab()'s last free's entry, (cache, index): a cache's objects go in runs
        self._last_free_desc: tuple = (None, -1)
        self._zone_name_of = zone_name_of
        self._ends = array("q")  # _ends[r]: number of events up to and including record r

    def __deepcopy__(self, memo: dict) -> History:
        """The history of a Kernel.fork(): the same events, sharing every stored event object.

        No stored event ever changes, so the copy holds the same ones (copying the 10^5 of a
        day took most of a fork's second); the slab records' table of caches becomes the
        copy's caches.
        """
        twin = History.__new__(History)
        memo[id(self)] = twin
        for name, value in self.__dict__.items():
            if name != "objects":
                twin.__dict__[name] = copy.deepcopy(value, memo)
        twin.objects = self.objects.copy()
        return twin

    # --- writing -----------------------------------------------------------------------------
    def gfp_bits(self, gfp: int) -> int:
        """The record bits that stand for ``gfp`` in an allocation record."""
        index = self._gfp_index.get(gfp)
        if index is None:
            index = self._gfp_index[gfp] = len(self._gfp_masks)
            self._gfp_masks.append(gfp)
            if index > GFP_MASK:
                raise OverflowError("more distinct GFP masks than a history record can name")
        return (index << GFP_SHIFT) | KIND_ALLOC

    def slab_desc(self, cache, requested: int = 0, gfp: int = 0) -> int:
        """The index of ``(cache, requested, gfp)`` in the slab records' table, -1 if it is full.

        A free's or a SlabFrozen's entry is ``(cache, 0, 0)``; an allocation's entry comes
        after its cache's, so the table grows in the same order however the calls ran.
        """
        key = (cache, requested, gfp)
        index = self._slab_desc_index.get(key)
        if index is None:
            if requested and self.slab_desc(cache) < 0:
                return -1
            index = len(self.slab_descs)
            if index >= SLAB_DESCS:
                return -1
            self._slab_desc_index[key] = index
            self.slab_descs.append(key)
        return index

    def append_slab(self, op: int, pfn: int, slot: int, cache, requested=0, gfp=0) -> None:
        """One slab object record: ``op`` (OP_KMALLOC …) of object ``slot`` of the slab at ``pfn``.

        With the table of (cache, requested, gfp) full, the event itself is stored instead.
        """
        if requested or gfp:  # slab_desc()'s lookup, without the call
            desc = self._slab_desc_index.get((cache, requested, gfp))
        elif self._last_free_desc[0] is cache:  # a free (cache, 0, 0) like the last one
            desc = self._last_free_desc[1]
        else:
            desc = self._slab_desc_index.get((cache, 0, 0))
            if desc is not None:
                self._last_free_desc = (cache, desc)
        if desc is None:
            desc = self.slab_desc(cache, requested, gfp)
        if desc >= 0:
            self.records.append(
                KIND_SLAB | op << 2 | pfn << SLAB_PFN_SHIFT | slot << SLAB_SLOT_SHIFT
                | desc << SLAB_DESC_SHIFT
            )  # fmt: skip
        else:
            self.records.append(len(self.objects) << 2)
            self.objects.append(_slab_event(op, pfn, slot, (cache, requested, gfp)))

    def append_object(self, event) -> None:
        """Store an event that is not a page allocation or free (a report, a log line …).

        ``event`` may be an event object or, on hot paths, a tuple ``(tag, *fields)`` with a
        tag of COMPACT_EVENTS, built into the event when read.
        """
        self.records.append(len(self.objects) << 2)
        self.objects.append(event)

    # --- reading -----------------------------------------------------------------------------
    def _index(self) -> array:
        """Extend the running event count over records written since the last read."""
        ends, records = self._ends, self.records
        if _numpy is not None and len(records) - len(ends) >= NUMPY_INDEX_FROM:
            self._index_numpy()
        if len(ends) < len(records):
            total = ends[-1] if ends else 0
            counts = (
                EVENTS_OF[(record & LOW_BITS) | ((record >> PCP_KEY_SHIFT) & PCP_KEY)]
                for record in records[len(ends) :]
            )
            ends.extend(islice(accumulate(counts, initial=total), 1, None))
        return ends

    def _index_numpy(self) -> None:
        """``_index()``'s counting, in one numpy pass over the records written since."""
        ends, done = self._ends, len(self._ends)
        new = _numpy.frombuffer(self.records, _numpy.int64, offset=8 * done).copy()  # no export
        keys = (new & LOW_BITS) | ((new >> PCP_KEY_SHIFT) & PCP_KEY)
        counts = _numpy.asarray(EVENTS_OF, dtype=_numpy.int64)[keys]
        ends.frombytes((_numpy.cumsum(counts) + (ends[-1] if done else 0)).tobytes())

    def ends(self) -> array:
        """Per record, how many events there are up to and including it (read-only)."""
        return self._index()

    def __len__(self) -> int:
        ends = self._index()
        return ends[-1] if ends else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:  # history[before:]: each record expanded once, not once per event
                return list(self.events(start, stop))
            return [self[i] for i in range(start, stop, step)]
        ends = self._index()
        total = ends[-1] if ends else 0
        if index < 0:
            index += total
        if not 0 <= index < total:
            raise IndexError(f"history index {index} out of range (0..{total - 1})")
        record_no = bisect_right(ends, index)
        first = ends[record_no - 1] if record_no else 0
        return self.expand(self.records[record_no])[index - first]

    def __iter__(self) -> Iterator:
        for record in self.records:
            yield from self.expand(record)

    def since(self, position: int) -> list:
        """The events from ``position`` (an earlier ``len(history)``) to now."""
        return list(self.events(position, len(self)))

    def events(self, start: int, stop: int) -> Iterator:
        """Events ``start`` to ``stop - 1``, rebuilding each record once (for replaying a range)."""
        ends = self._index()
        stop = min(stop, ends[-1] if ends else 0)
        if start >= stop:
            return
        record_no = bisect_right(ends, start)
        position = ends[record_no - 1] if record_no else 0
        records, expand = self.records, self.expand
        while position < stop:
            for event in expand(records[record_no]):
                if start <= position < stop:
                    yield event
                position += 1
            record_no += 1

    @property
    def record_count(self) -> int:
        """How many packed records there are (one per allocation, free or stored event)."""
        return len(self.records)

    def expand(self, record: int) -> list:
        """The events one record stands for, in the order the kernel makes them happen."""
        kind = record & 3
        if kind == KIND_OBJECT:
            event = self.objects[record >> 2]
            if event.__class__ is tuple:
                event = COMPACT_EVENTS[event[0]](*event[1:])
            return [event]
        if kind == KIND_SLAB:
            return [
                _slab_event(
                    (record >> 2) & 7,
                    (record >> SLAB_PFN_SHIFT) & PFN_MASK,
                    (record >> SLAB_SLOT_SHIFT) & SLAB_SLOT_MASK,
                    self.slab_descs[record >> SLAB_DESC_SHIFT],
                )
            ]
        pfn = (record >> PFN_SHIFT) & PFN_MASK
        order = (record >> 2) & 15
        order2 = (record >> 6) & 15
        mt = (record >> 10) & 7
        zone = self._zone_name_of(pfn)
        pcp = record & PCP_BIT
        bulk = record & PCP_BULK_BIT
        cpu = (record >> CPU_SHIFT) & CPU_MASK if pcp else -1
        if kind == KIND_ALLOC:
            if pcp and not bulk:  # __rmqueue_pcplist(): the list head, no buddy work
                gfp = self._gfp_masks[(record >> GFP_SHIFT) & GFP_MASK]
                if record < 0:  # BULK_TAKEN_BIT: __alloc_pages_bulk()'s, no mm_page_alloc
                    return [PagesAllocatedInBulk(pfn, order, gfp, mt, zone, cpu)]
                return [PagesAllocated(pfn, order, gfp, mt, zone, cpu)]
            # expand(): the block of order2 at pfn is halved until it is of `order`;
            # each halving keeps the lower half, so every split starts at pfn.
            events: list = [BlockSplit(pfn, o, zone, mt) for o in range(order2, order, -1)]
            refill = mt < MIGRATE_PCPTYPES and (
                order <= PAGE_ALLOC_COSTLY_ORDER or order == PAGEBLOCK_ORDER
            )
            events.append(PagesAllocatedZoneLocked(pfn, order, mt, zone, refill, cpu))
            if not pcp:
                gfp = self._gfp_masks[(record >> GFP_SHIFT) & GFP_MASK]
                events.append(PagesAllocated(pfn, order, gfp, mt, zone))
            return events
        if pcp and not bulk:  # free_unref_page_commit(): onto the list head
            return [PagesFreed(pfn, order, zone, cpu)]
        events = [
            PcpPagesDrained(pfn, order, mt, zone, cpu) if pcp else PagesFreed(pfn, order, zone)
        ]
        for o in range(order, order2):
            buddy = pfn ^ (1 << o)  # e.g. 8 ^ (1 << 1) == 10
            events.append(BuddiesMerged(pfn, buddy, o, zone, mt))
            pfn &= buddy  # the merged block starts at the lower buddy
        return events


def _slab_event(op: int, pfn: int, slot: int, desc: tuple):
    """The event of a slab object record: ``op`` on object ``slot`` of the slab at ``pfn``."""
    cache, requested, gfp = desc
    if op == OP_SLAB_FROZEN:
        return SlabFrozen(cache.name, pfn)
    # Slab.address(): PAGE_OFFSET + (pfn << PAGE_SHIFT) + red_left_pad + slot * size
    addr = PAGE_OFFSET + (pfn << PAGE_SHIFT) + cache.red_left_pad + slot * cache.size
    if op == OP_KFREE:
        return ObjectFreed("kfree", EXIT_SITE, addr, "")
    if op == OP_KMEM_CACHE_FREE:
        return ObjectFreed("kmem_cache_free", EXIT_SITE, addr, cache.name)
    return ObjectAllocated(SLAB_OPS[op], CALL_SITE, addr, requested, cache.size, gfp, cache.name)
