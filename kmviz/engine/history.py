"""The engine's event history: every event since boot, packed one integer per allocator call.

The hot paths (an allocation, a free) write one 64-bit record; the events a view reads are
rebuilt from it on demand.  This works because the buddy allocator is arithmetic: an
allocation that took a block of ``from_order`` and kept ``order`` implies exactly the splits
``from_order → … → order`` of the lower half (``expand()``), and a free of ``order`` that ended
as a block of ``final_order`` implies exactly the merges ``order → … → final_order`` with
``buddy_pfn = pfn ^ (1 << o)`` at each step (``__free_one_page()``).

Record layout (bit positions)::

    kind      0..1   0 = a stored event object, 1 = allocation, 2 = free
    order     2..5   the order asked for / freed
    order2    6..9   allocation: order of the block taken off the list; free: order after merging
    mt       10..12  migratetype of the lists involved
    tail     13      free: the merged block went to the list tail (buddy_merge_likely)
    gfp      13..24  allocation: index into the table of GFP masks seen so far (4096 of them)
    pfn      25..52  first page frame (1 TiB is 2^28 frames)
    pcp      53      a per-CPU list is involved: allocation popped it / free pushed it ...
    bulk     54      ... or, with pcp, rmqueue_bulk() moved it there / free_pcppages_bulk() out
    cpu      55..62  with pcp: the CPU whose list it is
    object   2..     kind 0: index into the stored objects

Events per record: a buddy allocation is its splits, mm_page_alloc_zone_locked and
mm_page_alloc; a pop off a pcp list is mm_page_alloc alone; an rmqueue_bulk() block is its
splits and mm_page_alloc_zone_locked; a free to the buddy is mm_page_free and its merges, a
push onto a pcp list is mm_page_free alone, and a drained block is mm_page_pcpu_drain and
its merges.
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

from .constants import MIGRATE_PCPTYPES, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER
from .events import (
    BlockSplit,
    BuddiesMerged,
    ObjectAllocated,
    ObjectFreed,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
    SlabFrozen,
)

CALL_SITE = "lesson_init+0x1c/0x60 [lesson]"  # the learner's code, as %pS prints it
EXIT_SITE = "lesson_exit+0x12/0x40 [lesson]"  # where it frees

# Hot paths store some events as plain tuples (tag, fields...); reading builds the object.
COMPACT_EVENTS = {
    "kmalloc": lambda addr, req, gfp, cache: ObjectAllocated(
        "kmalloc", CALL_SITE, addr, req, cache.size, gfp, cache.name
    ),
    "kmem_cache_alloc": lambda addr, req, gfp, cache: ObjectAllocated(
        "kmem_cache_alloc", CALL_SITE, addr, req, cache.size, gfp, cache.name
    ),
    "kmalloc_large": lambda addr, req, gfp, order: ObjectAllocated(
        "kmalloc", CALL_SITE, addr, req, 4096 << order, gfp, ""
    ),
    "kfree": lambda addr: ObjectFreed("kfree", EXIT_SITE, addr, ""),
    "kmem_cache_free": lambda addr, cache: ObjectFreed(
        "kmem_cache_free", EXIT_SITE, addr, cache.name
    ),
    "slab_frozen": lambda slab: SlabFrozen(slab.cache.name, slab.pfn),
}

KIND_OBJECT = 0
KIND_ALLOC = 1
KIND_FREE = 2
PFN_SHIFT = 25
PFN_MASK = (1 << 28) - 1
GFP_SHIFT = 13
GFP_MASK = (1 << (PFN_SHIFT - GFP_SHIFT)) - 1  # 0xfff: the gfp field's bits, shifted down
TAIL_BIT = 1 << 13
PCP_BIT = 1 << 53
PCP_BULK_BIT = 1 << 54
CPU_SHIFT = 55
LOW_BITS = (1 << 10) - 1  # kind, order and order2: all a record's event count depends on
PCP_KEY_SHIFT = 43  # (record >> 43) & PCP_KEY puts the pcp and bulk bits above LOW_BITS
PCP_KEY = 3 << 10
# EVENTS_OF[key]: how many events a record stands for, by key = its LOW_BITS and its pcp
# bits -- a stored event is one; a buddy allocation its splits, mm_page_alloc_zone_locked and
# mm_page_alloc; an rmqueue_bulk() block its splits and mm_page_alloc_zone_locked; a free to
# the buddy or a drained block one and its merges; a pop off or push on a pcp list one
EVENTS_OF = [
    1
    if bits & 3 == KIND_OBJECT or bits >> 10 == 1
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
        self._zone_name_of = zone_name_of
        self._ends = array("q")  # _ends[r]: number of events up to and including record r

    def __deepcopy__(self, memo: dict) -> History:
        """The history of a Kernel.fork(): the same events, sharing every stored event object.

        No stored event ever changes, so the copy holds the same ones (copying the 10^5 of a
        day took most of a fork's second); only a compact tuple's engine object, always its
        last field (a cache or a slab), becomes the copy's.
        """
        twin = History.__new__(History)
        memo[id(self)] = twin
        for name, value in self.__dict__.items():
            if name != "objects":
                twin.__dict__[name] = copy.deepcopy(value, memo)
        objects = twin.objects = self.objects.copy()
        for i, event in enumerate(objects):
            if event.__class__ is tuple and event[-1].__class__ not in (int, str):
                last = event[-1]
                twin_last = memo.get(id(last))  # copy.deepcopy()'s own first step
                if twin_last is None:
                    twin_last = copy.deepcopy(last, memo)
                objects[i] = (*event[:-1], twin_last)
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
            return [self[i] for i in range(*index.indices(len(self)))]
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
        pfn = (record >> PFN_SHIFT) & PFN_MASK
        order = (record >> 2) & 15
        order2 = (record >> 6) & 15
        mt = (record >> 10) & 7
        zone = self._zone_name_of(pfn)
        pcp = record & PCP_BIT
        bulk = record & PCP_BULK_BIT
        cpu = (record >> CPU_SHIFT) if pcp else -1
        if kind == KIND_ALLOC:
            if pcp and not bulk:  # __rmqueue_pcplist(): the list head, no buddy work
                gfp = self._gfp_masks[(record >> GFP_SHIFT) & GFP_MASK]
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
