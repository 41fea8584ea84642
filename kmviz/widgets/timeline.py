"""The machine as the views see it at any position of its history: one code per page frame.

Views never keep their own copy of the machine.  They read a Timeline, which folds the
engine's events into what a picture needs -- a byte per page frame saying who has it, the
free-list counts of /proc/buddyinfo, the slab caches and their slabs, the vmalloc areas, the
kernel log and the execution context -- at one ``position`` of the event history.

``position`` counts applied events: 0 is the machine before its first event, ``length`` is
now.  Moving forward applies events; moving back restores the nearest checkpoint at or before
the target and applies forward from there, so an earlier state is rebuilt exactly from the
same events, never guessed by undoing::

    checkpoint every 4096 events          # 8,200 events in: restore the one at 8,192,
    seek(8_200) = restore(8_192) + 8 events    # then apply 8 events

A step back costs what changed, not the machine's size: the timeline keeps the frames of its
newest checkpoint (its *origin*) as runs of codes and notes every frame range an event has
touched since, so going back to a position after the origin puts only those frames back (each
read from its run), then applies forward::

    origin at 8,192; at 8,200, events touched pfns 40..43 and 96   # step(-1):
    frames[[40, 41, 42, 43, 96]] = origin's; apply events 8,192..8,198

Checkpoints keep the frame codes as runs of equal codes, zlib-compressed; when there are more
than MAX_CHECKPOINTS every other one is dropped and the spacing doubles, so memory stays
bounded on long runs.  A long catch-up (a view opened after a big workload) checkpoints
sparsely until its last stretch, so going back near the end stays quick and the catch-up
itself is not slowed down.

Applying events comes in two forms that give the same state: one event at a time through its
handler (``_apply_events``, the readable reference, used for short moves), and whole history
records in bulk (``_fold_records``): page records decoded with numpy, each frame painted by its
last write (kmviz/widgets/fold.py), the other events through their handlers in order.  The
state after ``n`` events is the same for every timeline of a kernel, so a timeline following
the kernel copies another that has just folded the same events instead of folding them again.

A kernel has one shared timeline (``Timeline.of(k)``) that follows it, and any number of
others: ``Timeline(k)`` replays the history for a player of its own, and ``fork()`` copies a
timeline's state in one step -- each notebook cell's views read a fork pinned to the machine
as that cell left it (kmviz/widgets/cells.py).  ``hold()`` on any of them holds them all.
A timeline made in a notebook, however it is made, makes every kernel hold its notifications
until the running cell ends (``watch_cells()``): a cell's thousand calls reach the views, and
through them the browser, as one change.

Frame codes (``Timeline.frames``, numpy uint8, one per pfn):

* 0..10 -- free, inside a free block of that order;
* ``PAGES`` ... ``RESERVED`` -- allocated, by owner; ``PCP`` -- free, but on a CPU's per-CPU
  list (not in the buddy); ``HOLE`` -- no RAM behind the pfn.

``nr_free`` is /proc/buddyinfo (blocks per zone and order in the buddy lists) and ``pcp``
the blocks per zone and order sitting on the per-CPU lists of all CPUs.
"""

from __future__ import annotations

import weakref
import zlib
from array import array
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from itertools import chain
from typing import ClassVar, NamedTuple

import numpy as np
from traitlets import Bool, HasTraits, Int, observe

from ..engine.constants import DEFAULT_COMM, DEFAULT_PID, MAX_ORDER, PAGE_OFFSET, PAGE_SHIFT
from ..engine.context import ContextSnapshot
from ..engine.events import (
    BlockSplit,
    BuddiesMerged,
    CacheCreated,
    CacheDestroyed,
    CacheMerged,
    ContextChanged,
    ContextViolated,
    DeviceWrote,
    DmaMapped,
    FreePagesIsolated,
    LruPagesAdded,
    MemblockAllocated,
    MessageLogged,
    ObjectAllocated,
    ObjectFreed,
    PageMigrated,
    PagesAllocated,
    PagesAllocatedInBulk,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PageTableAllocated,
    PcpPagesDrained,
    SchedulingWhileAtomic,
    SlabCreated,
    SlabFilled,
    SlabFreed,
    SlabFrozen,
    SlabsUnfrozen,
    VmallocFreed,
    VmallocMapped,
)
from ..engine.history import (
    COMPACT_EVENTS,
    KIND_ALLOC,
    KIND_FREE,
    KIND_OBJECT,
    KIND_SLAB,
    OP_KMEM_CACHE_ALLOC,
    OP_SLAB_FROZEN,
    PCP_BIT,
    PCP_BULK_BIT,
    PFN_MASK,
    PFN_SHIFT,
    SLAB_DESC_SHIFT,
    SLAB_KEY_MASK,
    SLAB_PFN_SHIFT,
    SLAB_SLOT_MASK,
    SLAB_SLOT_SHIFT,
)
from ..engine.kernel import Kernel
from .fold import LEVELS, paint_in_order

# --- frame codes: 0..10 are free blocks of that order ------------------------------------------
PAGES = 11  # alloc_pages() / __get_free_pages(): the caller owns them
SLAB = 12  # a slab of some kmem_cache
KMALLOC_LARGE = 13  # kmalloc() above 8 KiB, straight from the page allocator
VMALLOC = 14  # mapped into the vmalloc area
PAGE_TABLE = 15  # a page table of init_mm
ANON = 16  # a task's memory (anonymous, on the LRU)
FILE = 17  # page cache (file pages, on the LRU)
ISOLATED = 18  # taken by compaction's free scanner as a migration target
BOOTMEM = 19  # memblock_alloc() during early boot
RESERVED = 20  # PageReserved: firmware, the kernel image, not handed to the buddy allocator
PCP = 21  # free, on a CPU's per-CPU page list: not in the buddy's free lists
HOLE = 22  # no RAM here
NUM_CODES = 23

CODE_NAMES = (
    *(f"free, order {order}" for order in range(MAX_ORDER)),
    "page allocator",
    "slab",
    "kmalloc (large)",
    "vmalloc",
    "page table",
    "user memory (anon)",
    "page cache (file)",
    "compaction target",
    "bootmem (memblock)",
    "reserved",
    "free, on a per-CPU list",
    "hole (no RAM)",
)

# stored events whose handlers read or write what slab object records change (the slots in
# use, the active slab, the CPU's partial list) other than by adding a slab or unfreezing
SLOT_EVENTS = frozenset((CacheDestroyed, SlabFilled, SlabFrozen, SlabFreed, ObjectAllocated,
                         ObjectFreed))  # fmt: skip
BARRIERS = (FreePagesIsolated, PageMigrated)  # they read frames: the bulk fold stops at them
REFUSED_VMALLOC_DMA = "rejecting DMA map of vmalloc memory"  # dma_map_single_attrs()'s WARN
MAX_CHECKPOINTS = 256
FIRST_INTERVAL = 4096  # events between checkpoints until there are MAX_CHECKPOINTS ...
FRAMES_PER_EVENT = 256  # ... or one event per 256 frames on a big machine: a checkpoint packs
# every frame (~5 ns a frame) and folding costs ~0.3 us an event, so a long catch-up's
# checkpoints (every COARSE-th interval) cost 5 ns * 256 / 16 = 0.08 us an event, about a
# quarter of the fold; on 1 TiB, 268M frames, checkpoints are 1,048,576 events apart
TRACK_LIMIT = 4096  # a forward move longer than this reports every frame as changed
BULK_WINDOW = 4096  # records: a bulk pass's first reach, and a record-by-record stretch
MAX_BULK_WINDOW = 65536  # records: the reach of bulk passes that keep meeting no barrier
FINE_CHECKPOINTS = 16  # a long replay checkpoints every interval only this near its end
COARSE = 16  # ... and every COARSE intervals before that


class Cache(NamedTuple):
    """A kmem_cache as CacheCreated described it: slot ``size`` for objects of ``object_size``."""

    name: str
    object_size: int
    size: int
    objects: int  # per slab
    order: int  # of each slab
    red_left_pad: int = 0  # bytes before slot 0
    aliases: tuple[str, ...] = ()  # caches kmem_cache_create() merged into it (CacheMerged)


class Slab(NamedTuple):
    """One slab: 2^order frames at ``pfn`` cut in ``objects`` slots; bit i of ``used``: slot i."""

    pfn: int
    cache: str
    order: int
    objects: int
    used: int

    @property
    def inuse(self) -> int:
        """Objects handed out from this slab."""
        return self.used.bit_count()


class Area(NamedTuple):
    """A vmalloc/vmap area: ``size`` bytes (guard page included) at ``addr``, one pfn per page."""

    addr: int
    size: int
    pfns: tuple[int, ...]
    kind: str  # "vmalloc" or "vmap"
    deferred: bool  # vfree() from interrupt context asked for it to go


class EventIndex:
    """Where the rarer events sit in a kernel's history, so views look back without replaying.

    Built lazily from the history's records, one pass extended as the history grows; one per
    history, shared by its timelines.  Keys: "log" (MessageLogged), "context" (ContextChanged),
    "violation" (ContextViolated, SchedulingWhileAtomic), "dma" (DmaMapped, DeviceWrote, and
    the log line of a refused vmalloc mapping), "block"
    (PagesAllocated of order 1 or more) and "cache" (CacheCreated).
    """

    KEYS = ("log", "context", "violation", "dma", "block", "cache")
    _of: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()  # history -> index

    @classmethod
    def of(cls, history) -> EventIndex:
        """The index of ``history``, shared by every timeline of its kernel."""
        index = cls._of.get(history)
        if index is None:
            index = cls._of[history] = cls(history)
        return index

    def __init__(self, history):
        self._history = history
        self._records = 0  # history records looked at so far
        self._at = {key: array("q") for key in self.KEYS}
        # the events, None for a "block" one until asked for (it is rebuilt from its record)
        self._events: dict[str, list] = {key: [] for key in self.KEYS}

    def _extend(self, stop: int) -> None:
        """Look at the records of events up to ``stop`` (exclusive) not looked at yet.

        Only stored events can be of the keys but "block", an allocation record of order 1 or
        more; slab object records (kmalloc, kfree …) and compact events never are.
        """
        history = self._history
        ends = history.ends()
        last = min(bisect_left(ends, stop), len(ends) - 1)  # the record of event stop - 1
        if last < self._records:
            return
        at, events = self._at, self._events
        records, stored = history.records, history.objects
        for number in range(self._records, last + 1):
            record = records[number]
            position = ends[number] - 1  # a record's last event: the stored one, the allocation
            kind = record & 3
            if kind == KIND_ALLOC:
                # a refill's record ends in mm_page_alloc_zone_locked, not mm_page_alloc
                if (record >> 2) & 15 and not record & PCP_BULK_BIT:
                    at["block"].append(position)
                    events["block"].append(None)
                continue
            if kind != KIND_OBJECT:
                continue
            event = stored[record >> 2]
            kind = event.__class__
            key = None
            if kind is MessageLogged:
                key = "log"
                if REFUSED_VMALLOC_DMA in event.text:
                    at["dma"].append(position)
                    events["dma"].append(event)
            elif kind is ContextChanged:
                key = "context"
            elif kind is ContextViolated or kind is SchedulingWhileAtomic:
                key = "violation"
            elif kind is DmaMapped or kind is DeviceWrote:
                key = "dma"
            elif kind is CacheCreated:
                key = "cache"
            if key:
                at[key].append(position)
                events[key].append(event)
        self._records = last + 1

    def _built(self, key: str, first: int, stop: int) -> list:
        """``self._events[key][first:stop]``, "block" events rebuilt where not yet."""
        found = self._events[key]
        if key == "block":
            for i in range(first, stop):
                if found[i] is None:
                    found[i] = self._history[self._at[key][i]]
        return found[first:stop]

    def positions(self, key: str, start: int, stop: int) -> array:
        """The positions of ``key`` events in ``start <= position < stop``, oldest first."""
        self._extend(stop)
        at = self._at[key]
        return at[bisect_left(at, start) : bisect_left(at, stop)]

    def events(self, key: str, start: int, stop: int) -> list:
        """The ``key`` events themselves in ``start <= position < stop``, oldest first."""
        self._extend(stop)
        at = self._at[key]
        return self._built(key, bisect_left(at, start), bisect_left(at, stop))

    def newest(self, key: str, stop: int, count: int) -> array:
        """The positions of the newest ``count`` ``key`` events before ``stop``, oldest first."""
        self._extend(stop)
        at = self._at[key]
        end = bisect_left(at, stop)
        return at[max(0, end - count) : end]

    def last(self, key: str, stop: int) -> int | None:
        """The position of the newest ``key`` event before ``stop``, or None."""
        self._extend(stop)
        at = self._at[key]
        found = bisect_left(at, stop)
        return at[found - 1] if found else None

    def last_event(self, key: str, stop: int):
        """The newest ``key`` event before ``stop``, or None."""
        self._extend(stop)
        found = bisect_left(self._at[key], stop)
        return self._built(key, found - 1, found)[0] if found else None


class Timeline(HasTraits):
    """A kernel's history made seekable for views: ``seek(position)`` and read the state."""

    position = Int(0, help="How many events are applied: 0 = before the first, length = now.")
    length = Int(0, help="Events in the kernel's history so far.")
    follow = Bool(True, help="Move to the newest event whenever the kernel changes.")
    pinned = Bool(
        False,
        help="A finished notebook cell's: its length stays where the cell ended until unpinned.",
    )

    bulk_records: ClassVar[int] = 64  # fewer whole records than this go event by event
    _shared: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()
    _every: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()  # kernel -> set

    @classmethod
    def of(cls, kernel) -> Timeline:
        """The one timeline of ``kernel`` that separately displayed views share."""
        timeline = cls._shared.get(kernel)
        if timeline is None:
            timeline = cls._shared[kernel] = cls(kernel)
        return timeline

    def __init__(self, kernel, start: Timeline | None = None):
        """The kernel's history at its newest event, or a copy of ``start`` where it stands."""
        super().__init__()
        self.kernel = kernel
        self.nr_pfns = kernel.nr_pfns
        self.zones = [(z.name, z.start_pfn, z.end_pfn) for z in kernel.zones]
        self._zone_index = {name: i for i, (name, _, _) in enumerate(self.zones)}
        self.changed = (0, self.nr_pfns)  # pfn range the last move touched: [lo, hi)
        self.previous = 0  # the position before the last move
        self._handlers = {
            BlockSplit: self._split,
            PagesAllocatedZoneLocked: self._zone_locked,
            PagesAllocated: self._allocated,
            PagesAllocatedInBulk: self._allocated,  # the same pop, without mm_page_alloc
            PagesFreed: self._freed,
            PcpPagesDrained: self._drained,
            BuddiesMerged: self._merged,
            FreePagesIsolated: self._isolated,
            PageMigrated: self._migrated,
            PageTableAllocated: self._page_table,
            LruPagesAdded: self._lru,
            MemblockAllocated: self._memblock,
            CacheCreated: self._cache_created,
            CacheMerged: self._cache_merged,
            CacheDestroyed: self._cache_destroyed,
            SlabCreated: self._slab_created,
            SlabFilled: self._slab_filled,
            SlabFrozen: self._slab_frozen,
            SlabsUnfrozen: self._slabs_unfrozen,
            SlabFreed: self._slab_freed,
            ObjectAllocated: self._object_allocated,
            ObjectFreed: self._object_freed,
            VmallocMapped: self._vmalloc_mapped,
            VmallocFreed: self._vmalloc_freed,
        }
        # per entry of the history's table of slab records, its cache's index in _slab_names
        # (read from the history as it grows: a fork starts empty and fills them too)
        self._slab_desc_ids = array("q")
        self._slab_names: list[str] = []
        self._slab_name_index: dict[str, int] = {}
        if start is None:
            self._boot_state()
            self.length = len(kernel.history)
            self.seek(self.length)
        else:  # the same state in one step: no replay
            self._adopt(start)
            self.index = start.index  # where the rarer events are: the history's, shared
            self.length, self.position = start.length, start.position
            self.previous = start.position
        Timeline._every.setdefault(kernel, weakref.WeakSet()).add(self)
        shell = notebook_shell()
        if shell is not None:
            watch_cells(shell)  # before observing: this cell's calls already batch
        kernel.observe(self._kernel_changed, "tick")

    def _boot_state(self) -> None:
        """The machine before its first event: RAM reserved until mem_init() hands it over."""
        kernel = self.kernel
        frames = np.full(self.nr_pfns, HOLE, dtype=np.uint8)
        for start, end in kernel.memory.ram:
            frames[start:end] = RESERVED
        self.frames = frames
        self.orders = np.full(self.nr_pfns, -1, dtype=np.int8)  # order at an allocated head
        self.nr_free = np.zeros((len(self.zones), MAX_ORDER), dtype=np.int64)
        self.pcp = np.zeros((len(self.zones), MAX_ORDER), dtype=np.int64)
        self.caches: dict[str, Cache] = {}
        self.slabs: dict[int, Slab] = {}  # by first pfn
        self._slab_head: dict[int, int] = {}  # every pfn of a slab -> its first pfn
        self.areas: dict[int, Area] = {}  # by address
        self.active_slab: dict[str, int] = {}  # cache -> first pfn of the slab it allocates from
        self.cpu_partial: set[int] = set()  # first pfns of the slabs on a CPU's partial list
        self._splitting = -1  # pfn being split by expand(), until its PagesAllocated
        self.index = EventIndex.of(kernel.history)  # where the rarer events are, for look-backs
        self._interval = max(FIRST_INTERVAL, self.nr_pfns // FRAMES_PER_EVENT)
        self._checkpoints: list[tuple[int, tuple]] = []
        self._lo, self._hi = self.nr_pfns, 0  # the frames the current move touches: [lo, hi)
        self._checkpoint(0)

    def fork(self) -> Timeline:
        """A new timeline of the same kernel at this position, with its own position from now on."""
        return Timeline(self.kernel, start=self)

    # --- moving ------------------------------------------------------------------------------
    def seek(self, position: int) -> None:
        """Make the state that of the machine after ``position`` events (clamped to 0..length)."""
        position = max(0, min(int(position), self.length))
        if position == self.position:
            return
        at = bisect_left(self._checkpoints, position + 1, key=lambda c: c[0]) - 1
        start, snapshot = self._checkpoints[at]  # the nearest checkpoint at or before it
        self._lo, self._hi = self.nr_pfns, 0  # the range the events touch: none yet
        origin = self._origin[0]
        touched = self._touched_since_origin() if origin <= position < self.position else None
        if touched is not None:  # back, not before the origin: put back what changed since
            frames, orders = self.frames[touched], self.orders[touched]
            self._return_to_origin(touched)
            self._apply(origin, position)
            differ = touched[(frames != self.frames[touched]) | (orders != self.orders[touched])]
            self._lo, self._hi = (int(differ[0]), int(differ[-1]) + 1) if differ.size else (0, 0)
        elif position < self.position or start > self.position:
            # back, or far ahead past a checkpoint: restore it and apply events from there
            frames, orders = self.frames, self.orders  # _restore() makes new arrays
            self._restore(start, snapshot)
            self._apply(start, position)
            # what changed is what differs from before: the frames the events touched
            differ = np.flatnonzero((frames != self.frames) | (orders != self.orders))
            self._lo, self._hi = (int(differ[0]), int(differ[-1]) + 1) if differ.size else (0, 0)
        elif position - self.position > TRACK_LIMIT:  # a long way: say everything changed
            twin = self._twin_at(position)
            if twin is None:
                self._apply(self.position, position)
            else:  # another timeline of the kernel has just folded these events: copy it
                self._adopt(twin)
            self._lo, self._hi = 0, self.nr_pfns
        else:
            self._apply(self.position, position)
        self.changed = (self._lo, max(self._hi, self._lo))
        self.previous = self.position
        self.position = position

    def _twin_at(self, position: int) -> Timeline | None:
        """Another timeline of the same kernel standing at ``position``, or None."""
        for other in Timeline._every.get(self.kernel, ()):
            if other is not self and other.position == position:
                return other
        return None

    def _adopt(self, other: Timeline) -> None:
        """Take ``other``'s state and checkpoints (the same kernel's): a copy, not a replay.

        The state after ``n`` events is the same for every timeline of a kernel, so its
        checkpoints serve this one too.
        """
        self.frames, self.orders, self.nr_free = (
            other.frames.copy(), other.orders.copy(), other.nr_free.copy()
        )  # fmt: skip
        self.pcp = other.pcp.copy()
        self.caches, self.slabs = dict(other.caches), dict(other.slabs)
        self._slab_head, self.areas = dict(other._slab_head), dict(other.areas)
        self.active_slab, self._splitting = dict(other.active_slab), other._splitting
        self.cpu_partial = set(other.cpu_partial)
        self._interval, self._checkpoints = other._interval, list(other._checkpoints)
        self._origin, self._since = other._origin, list(other._since)  # origin runs: read-only

    def step(self, count: int = 1) -> None:
        """Move ``count`` events forward (negative: back)."""
        self.seek(self.position + count)

    def moved_over(self) -> list:
        """The events the last forward move applied (empty after a move back)."""
        if self.position <= self.previous:
            return []
        return list(self.kernel.history.events(self.previous, self.position))

    @contextmanager
    def hold(self):
        """Let the kernel run many calls with none of its views following each; catch up after.

        The same as ``with kernel.batch():`` (every timeline of the kernel waits for its end).
        """
        with self.kernel.batch():
            yield self

    @observe("pinned")
    def _unpinned(self, change) -> None:
        if not change["new"]:
            self._kernel_changed(None)  # what the kernel did since the cell finished

    def _kernel_changed(self, _change) -> None:
        if self.pinned:
            return  # a finished cell's timeline ends where the cell ended
        self.length = len(self.kernel.history)
        if self.follow:
            self.seek(self.length)

    def _apply(self, start: int, stop: int) -> None:
        """Apply events start..stop-1, checkpointing on the way."""
        # far from ``stop`` only every COARSE-th checkpoint is taken: a long catch-up on a
        # big machine would otherwise spend more time compressing maps than applying events
        fine_from = stop - FINE_CHECKPOINTS * self._interval
        coarse = self._interval * COARSE
        position = start
        while position < stop:
            due = (position // self._interval + 1) * self._interval
            while due <= stop and not (
                due > self._checkpoints[-1][0] and (due >= fine_from or due % coarse == 0)
            ):
                due += self._interval
            end = min(due, stop)
            self._fold(position, end)
            position = end
            if position == due:
                self._checkpoint(position)

    def _fold(self, start: int, stop: int) -> None:
        """Apply events start..stop-1: whole records in bulk when there are many, else one by one.

        ``_apply_events`` is the reference; ``_fold_records`` gives the same state faster
        (tests/widgets/test_timeline.py compares them record for record).
        """
        ends = self.kernel.history.ends()
        first = bisect_right(ends, start)  # the record holding event ``start``
        if first < len(ends) and start > (ends[first - 1] if first else 0):
            first += 1  # it starts before ``start``: apply the rest of it event by event
        last = bisect_right(ends, stop)  # the records before it end at ``stop`` or earlier
        if last - first < self.bulk_records:
            self._apply_events(start, stop)
            return
        self._apply_events(start, ends[first - 1] if first else 0)
        self._fold_records(first, last)
        self._apply_events(ends[last - 1], stop)

    def _apply_events(self, start: int, stop: int) -> None:
        """Apply events start..stop-1 one by one, each through its handler (the reference)."""
        handlers = self._handlers
        for event in self.kernel.history.events(start, stop):
            handler = handlers.get(event.__class__)
            if handler is not None:
                handler(event)

    def _fold_records(self, first: int, last: int) -> None:
        """Apply whole history records first..last-1 in bulk, a barrier event by itself.

        A bulk pass costs a fixed ~1 ms of numpy however few records it covers, so where
        barriers come thick (compaction isolates and migrates every few records) runs shorter
        than ``bulk_records`` are applied record by record, as the reference does, for the next
        BULK_WINDOW records.  A pass reads at most ``window`` records ahead: BULK_WINDOW after a
        barrier, doubling (up to MAX_BULK_WINDOW) while passes meet none, so that a long
        barrier-free history pays the fixed cost every 65536 records, not every 4096.
        """
        window = BULK_WINDOW
        while first < last:
            reach = min(last, first + window)
            barrier = self._bulk(first, reach)
            short = barrier - first < self.bulk_records
            window = min(2 * window, MAX_BULK_WINDOW) if barrier == reach else BULK_WINDOW
            if barrier < reach:  # an event that reads frames
                self._apply_record(barrier)
                barrier += 1
            first = barrier
            if short:  # barriers come thick here: go record by record for a while
                stop = min(last, first + BULK_WINDOW)
                for record in range(first, stop):
                    self._apply_record(record)
                first = stop

    def _apply_record(self, record: int) -> None:
        """Apply the events of one history record through their handlers (the reference)."""
        history, handlers = self.kernel.history, self._handlers
        for event in history.expand(history.records[record]):
            handler = handlers.get(event.__class__)
            if handler is not None:
                handler(event)

    def _bulk(self, first: int, last: int) -> int:
        """Apply records first.. up to ``last`` or the first barrier event; where it stopped.

        Stored events run through their handlers in order, except that what they paint is
        collected; page records are decoded with numpy, and so are slab object records
        (``_slab_records()``) between the stored events that read what they change.  Then
        every frame takes the value of the last record that painted it (kmviz/widgets/fold.py)
        and the free counts add up.
        """
        history = self.kernel.history
        records = np.frombuffer(history.records, np.int64, last - first, first * 8).copy()
        kinds = records & 3
        stored, handlers = history.objects, self._handlers
        painted: list[tuple[int, int, int, int]] = []  # (record, level, block, code)
        marked: list[tuple[int, np.ndarray, int]] = []  # (record, pfns, code)
        self._paint = lambda lo, hi, code: painted.extend(
            (record, level, block, code) for level, block in _aligned_blocks(lo, hi)
        )
        self._mark = lambda pfns, code: marked.append(
            (record, np.fromiter(pfns, dtype=np.int64, count=len(pfns)), code)
        )
        stop = records.size
        object_at = np.flatnonzero(kinds == KIND_OBJECT)
        slab_at = np.flatnonzero(kinds == KIND_SLAB)
        applied = 0  # slab records of slab_at applied
        unfrozen: list[tuple[int, tuple]] = []  # (record, pfns) of SlabsUnfrozen since then

        def slab_records_until(record: int) -> None:
            nonlocal applied
            upto = int(np.searchsorted(slab_at, record))
            if upto > applied:
                at = slab_at[applied:upto]
                self._slab_records(at, records[at], unfrozen)
                applied = upto
            unfrozen.clear()

        try:
            for record, index in zip(
                object_at.tolist(), (records[object_at] >> 2).tolist(), strict=True
            ):
                event = stored[index]
                kind = event.__class__
                if kind is tuple:  # a compact event (history.COMPACT_EVENTS): (tag, fields...)
                    if event[0] == "kmalloc_large":  # (tag, addr, bytes_req, gfp, order)
                        self._large_kmalloc(event[1], 1 << (event[4] + PAGE_SHIFT))
                        continue
                    event = COMPACT_EVENTS[event[0]](*event[1:])
                    kind = event.__class__
                if kind in BARRIERS:
                    stop = record
                    break
                if kind in SLOT_EVENTS and self._reads_slots(event):
                    slab_records_until(record)
                elif kind is SlabsUnfrozen:
                    unfrozen.append((record, event.pfns))
                handler = handlers.get(kind)
                if handler is not None:
                    handler(event)
            slab_records_until(stop)
        finally:
            del self._paint, self._mark
        records, kinds = records[:stop], kinds[:stop]
        page = np.flatnonzero((kinds == KIND_ALLOC) | (kinds == KIND_FREE))
        records, alloc = records[page], kinds[page] == KIND_ALLOC
        pfn = (records >> PFN_SHIFT) & PFN_MASK
        order = (records >> 2) & 15
        order2 = (records >> 6) & 15
        # per-CPU list records: a pop (alloc) or a push (free) touches no buddy list; a refill
        # (alloc, bulk) takes its block from the buddy onto a list, a drain (free, bulk) from
        # a list into the buddy, with its merges
        pcp = (records & PCP_BIT) != 0
        bulk = (records & PCP_BULK_BIT) != 0
        onto = pcp & (alloc == bulk)  # a refill or a push: the block lands on a list
        push = pcp & ~bulk & ~alloc
        buddy = ~(pcp & ~bulk)  # not a pop or a push: the buddy lists change
        zone = self._zone_of(pfn)
        self._count_free(zone[buddy], order[buddy], order2[buddy], alloc[buddy])
        on_list = np.bincount(
            zone[pcp] * MAX_ORDER + order[pcp], np.where(onto[pcp], 1, -1), self.pcp.size
        )
        self.pcp += on_list.reshape(self.pcp.shape).astype(np.int64)
        # frames: an allocation paints its pages and each half expand() put back (of orders
        # order .. order2 - 1, at pfn + 2^o), a free the block it ended in, a block landing
        # on a list the PCP code; what the objects painted comes in between, in record order
        halves = np.where(alloc, order2 - order, 0)
        ends = np.cumsum(halves)
        half_of = np.repeat(np.arange(page.size), halves)  # one row per put-back half
        half = order[half_of] + np.arange(half_of.size) - np.repeat(ends - halves, halves)
        extra = np.array(painted, dtype=np.int64).reshape(-1, 4)
        if marked:  # each marked pfn is a block of level 0
            when_marked, pfns, codes = zip(*marked, strict=True)
            sizes = [len(p) for p in pfns]
            extra = np.concatenate((extra, np.stack((
                np.repeat(when_marked, sizes), np.zeros(sum(sizes), dtype=np.int64),
                np.concatenate(pfns), np.repeat(codes, sizes),
            ), axis=1)))  # fmt: skip
        when = np.concatenate((page, page[half_of], extra[:, 0]))
        level = np.concatenate((np.where(alloc, order, order2), half, extra[:, 1]))
        block = np.concatenate(
            (pfn >> level[: page.size], (pfn[half_of] >> half) + 1, extra[:, 2])
        )  # the upper half of order o at pfn is block (pfn >> o) + 1 of level o
        code = np.concatenate(
            (np.where(onto, PCP, np.where(alloc, PAGES, order2)), half, extra[:, 3])
        )
        by_time = np.argsort(when, kind="stable")
        lo, hi, touched = paint_in_order(self.frames, level[by_time], block[by_time], code[by_time])
        # orders: an allocation, a refill or a pop sets its head's, a free clears the freed
        # block's, a drain its head's; a push clears the block, then sets its head's
        level = np.where(alloc | bulk, 0, order)
        pushed = np.flatnonzero(push)
        by_time = np.argsort(np.concatenate((np.arange(page.size), pushed)), kind="stable")
        level = np.concatenate((level, np.zeros(pushed.size, dtype=np.int64)))[by_time]
        value = np.concatenate((np.where(alloc, order, -1), order[pushed]))[by_time]
        block = np.concatenate((pfn, pfn[pushed]))[by_time] >> level
        lo_o, hi_o, touched_orders = paint_in_order(self.orders, level, block, value)
        self._since += touched + touched_orders
        self._lo, self._hi = min(self._lo, lo, lo_o), max(self._hi, hi, hi_o)
        return first + stop

    def _reads_slots(self, event) -> bool:
        """Whether a stored event of SLOT_EVENTS reads or writes what slab object records change:
        not a large kmalloc's ObjectAllocated, nor a kfree() of no slot's first byte."""
        if event.__class__ is ObjectAllocated:
            return bool(event.cache)
        if event.__class__ is ObjectFreed:
            found = self._slot(event.ptr)
            return found is not None and not found[2]
        return True

    def _slab_records(self, at: np.ndarray, records: np.ndarray, unfrozen: list) -> None:
        """Apply slab object records (kind KIND_SLAB, at window positions ``at``) in bulk.

        What _slot_taken(), _slot_released() and _slab_frozen() do one by one, with numpy:
        each slot takes the last record's word (allocated or free), each cache's active slab is
        the slab of its last allocation, and each slab is on the CPU's partial list if its last
        record there (SlabFrozen in, an allocation or ``unfrozen``'s SlabsUnfrozen out) put it
        in.  ``unfrozen``: (position, pfns) of the SlabsUnfrozen among them, already applied.
        No slab is created or freed after one of these records' slabs among them (the caller
        applies records before a SlabFreed), so every record's slab is in ``slabs``.
        """
        op = (records >> 2) & 7
        pfn = (records >> SLAB_PFN_SHIFT) & PFN_MASK
        alloc = op <= OP_KMEM_CACHE_ALLOC
        objects = np.flatnonzero(op != OP_SLAB_FROZEN)
        # slots: the last record of each (slab, slot) says allocated or free.  Sorting
        # key << shift | position (positions below 2^shift) orders by slot, then by time,
        # without a stable argsort, if that fits 63 bits (keys are up to 43 bits: a slab near
        # 1 TiB and 2^20 records do not fit, a stable argsort sorts them)
        shift = int(objects.size).bit_length()
        key = (records[objects] >> SLAB_SLOT_SHIFT) & SLAB_KEY_MASK  # pfn << 15 | slot
        if int(key.max(initial=0)).bit_length() + shift <= 63:
            order = np.sort(key << shift | np.arange(objects.size))
            key, by_key = order >> shift, order & ((1 << shift) - 1)
        else:
            by_key = np.argsort(key, kind="stable")
            key = key[by_key]
        last = np.append(key[1:] != key[:-1], True)
        key, taken = key[last], alloc[objects[by_key[last]]]
        head, slot = key >> 15, key & SLAB_SLOT_MASK
        heads, first = np.unique(head, return_index=True)  # keys are sorted: heads too
        row = np.repeat(np.arange(heads.size), np.diff(first, append=head.size))
        width = int(slot.max()) // 64 + 1 if slot.size else 1
        # the bits each slab's 64-slot words gain and lose: one (slab, word) run of keys each
        word = row * width + (slot >> 6)
        starts = np.flatnonzero(np.append(True, word[1:] != word[:-1]))
        bit = np.left_shift(np.uint64(1), (slot & 63).astype(np.uint64))
        zero = np.uint64(0)
        words = np.zeros((2, heads.size * width), dtype=np.uint64)  # bits set, bits cleared
        words[0, word[starts]] = np.bitwise_or.reduceat(np.where(taken, bit, zero), starts)
        words[1, word[starts]] = np.bitwise_or.reduceat(np.where(taken, zero, bit), starts)
        slabs, step = self.slabs, 8 * width
        taken_bytes, freed_bytes = words[0].tobytes(), words[1].tobytes()
        from_bytes, new = int.from_bytes, tuple.__new__  # Slab._make() without its call
        for start, number in zip(range(0, heads.size * step, step), heads.tolist(), strict=True):
            pfn_, cache, order_, count, used = slabs[number]
            used &= ~from_bytes(freed_bytes[start : start + step], "little")
            used |= from_bytes(taken_bytes[start : start + step], "little")
            slabs[number] = new(Slab, (pfn_, cache, order_, count, used))
        # the active slab of each cache: that of its newest allocation
        names, ids = self._slab_cache_names()
        cache_of = ids[records[alloc] >> SLAB_DESC_SHIFT]
        newest = np.full(len(names), -1, dtype=np.int64)  # per cache: its last allocation
        np.maximum.at(newest, cache_of, np.arange(cache_of.size))
        taken_from = pfn[alloc]
        for number, position in enumerate(newest.tolist()):
            if position >= 0:
                self.active_slab[names[number]] = int(taken_from[position])
        # the CPU's partial list: a slab's last record there puts it in or takes it out (no
        # two of a slab's are at one position: sorted as pfn << shift | position, then put)
        frozen = op == OP_SLAB_FROZEN
        moves = alloc | frozen
        counts = [len(pfns) for _, pfns in unfrozen]
        out_at = np.repeat(np.array([p for p, _ in unfrozen], dtype=np.int64), counts)
        out = np.fromiter(chain.from_iterable(pfns for _, pfns in unfrozen), np.int64, sum(counts))
        where, which = np.concatenate((at[moves], out_at)), np.concatenate((pfn[moves], out))
        put = np.concatenate((frozen[moves], np.zeros(out.size, dtype=bool)))
        shift = int(where.max(initial=0)).bit_length()
        order = np.sort((which << shift | where) << 1 | put)
        which, put = order >> (shift + 1), (order & 1).astype(bool)
        last = np.append(which[1:] != which[:-1], True)
        self.cpu_partial.difference_update(which[last & ~put].tolist())
        self.cpu_partial.update(which[last & put].tolist())

    def _slab_cache_names(self) -> tuple[list[str], np.ndarray]:
        """The caches' names, and per entry of the history's table of slab records the
        index of its cache's name among them (extended as the table grows)."""
        descs, ids = self.kernel.history.slab_descs, self._slab_desc_ids
        if len(ids) < len(descs):
            index, names = self._slab_name_index, self._slab_names
            for cache, _, _ in descs[len(ids) :]:
                number = index.get(cache.name)
                if number is None:
                    number = index[cache.name] = len(names)
                    names.append(cache.name)
                ids.append(number)
        return self._slab_names, np.frombuffer(ids, dtype=np.int64)

    def _zone_of(self, pfn: np.ndarray) -> np.ndarray:
        """The index in ``zones`` of the zone holding each pfn."""
        starts = np.array([start for _, start, _ in self.zones])
        by_start = np.argsort(starts, kind="stable")
        return by_start[np.searchsorted(starts[by_start], pfn, side="right") - 1]

    def _count_free(self, zone, order, order2, alloc) -> None:
        """Add what buddy records do to the free counts: nr_free[zone, order] per zone.

        An allocation takes a block of order2 and expand() puts one half of each order from
        order2 - 1 down to order back; a free puts a block of order2 and its merges took one
        buddy of each order from order to order2 - 1.
        """
        sign = np.where(alloc, 1, -1)
        width = MAX_ORDER + 1
        cells = len(self.zones) * width
        halves = np.bincount(zone * width + order, sign, cells) - np.bincount(
            zone * width + order2, sign, cells
        )
        halves = halves.reshape(len(self.zones), width).cumsum(axis=1)[:, :MAX_ORDER]
        blocks = np.bincount(zone * MAX_ORDER + order2, -sign, len(self.zones) * MAX_ORDER)
        self.nr_free += (halves + blocks.reshape(len(self.zones), MAX_ORDER)).astype(np.int64)

    def _snapshot(self) -> tuple:
        """Everything but the frame arrays, as copies a later ``_restore`` may share."""
        return (self.nr_free.copy(), self.pcp.copy(), dict(self.caches), dict(self.slabs),
                dict(self._slab_head), dict(self.areas), dict(self.active_slab),
                self._splitting, frozenset(self.cpu_partial))  # fmt: skip

    def _restore(self, position: int, checkpoint: tuple) -> None:
        """Take the state of the checkpoint at ``position``; it becomes the origin."""
        frames, orders, snapshot = checkpoint
        frame_runs, order_runs = _unpack_runs(frames, np.uint8), _unpack_runs(orders, np.int8)
        self.frames = _expand(frame_runs, self.nr_pfns)
        self.orders = _expand(order_runs, self.nr_pfns)
        self._restore_snapshot(snapshot)
        self._origin = (position, frame_runs, order_runs, snapshot)
        self._since = []

    def _restore_snapshot(self, snapshot: tuple) -> None:
        (nr_free, pcp, caches, slabs, slab_head, areas, active_slab, splitting,
         frozen) = snapshot  # fmt: skip
        self.nr_free, self.pcp = nr_free.copy(), pcp.copy()
        self.caches, self.slabs = dict(caches), dict(slabs)
        self._slab_head, self.areas = dict(slab_head), dict(areas)
        self.active_slab, self._splitting = dict(active_slab), splitting
        self.cpu_partial = set(frozen)

    def _checkpoint(self, position: int) -> None:
        """Keep the state at ``position`` packed, and as runs of codes for the new origin.

        The origin is the runs, not copies of the frame arrays: a step back reads the codes of
        the frames it puts back from them, so it costs what changed, and a 1 TiB machine does
        not hold two more 256 MiB arrays.
        """
        snapshot = self._snapshot()
        frame_runs, order_runs = _runs(self.frames), _runs(self.orders)
        self._checkpoints.append((position, (_pack(frame_runs), _pack(order_runs), snapshot)))
        if len(self._checkpoints) > MAX_CHECKPOINTS:  # keep 0, 2·interval, 4·interval, ...
            self._interval *= 2
            self._checkpoints = [c for c in self._checkpoints if c[0] % self._interval == 0]
        self._origin = (position, frame_runs, order_runs, snapshot)
        self._since = []

    def _touched_since_origin(self) -> np.ndarray | None:
        """The sorted pfns touched since the origin; None if over a quarter of the machine."""
        ranges = [(start, size) for start, size in self._since if start.__class__ is not np.ndarray]
        blocks = [(start, size) for start, size in self._since if start.__class__ is np.ndarray]
        starts = [np.array(ranges, dtype=np.int64).reshape(-1, 2)[:, 0]]
        sizes = [np.array(ranges, dtype=np.int64).reshape(-1, 2)[:, 1]]
        starts += [start for start, _ in blocks]
        sizes += [np.full(start.size, size, dtype=np.int64) for start, size in blocks]
        starts, sizes = np.concatenate(starts), np.concatenate(sizes)
        total = int(sizes.sum())
        if total > self.nr_pfns // 4:
            return None
        # pfns start .. start + size - 1 of every range, one after the other:
        # ranges (40, 4), (96, 1) -> repeat([40, 92], [4, 1]) + arange(5) == 40..43, 96
        before = np.cumsum(sizes) - sizes
        return np.unique(np.repeat(starts - before, sizes) + np.arange(total))

    def _return_to_origin(self, touched: np.ndarray) -> None:
        """The state at the origin again: ``touched`` holds every frame changed since."""
        _, frame_runs, order_runs, snapshot = self._origin
        self.frames[touched] = _codes_at(frame_runs, touched)
        self.orders[touched] = _codes_at(order_runs, touched)
        self._restore_snapshot(snapshot)
        self._since = []

    def _touch(self, lo: int, hi: int) -> None:
        """Events changed frames ``lo`` to ``hi - 1``."""
        self._since.append((lo, hi - lo))
        self._lo = min(self._lo, lo)
        self._hi = max(self._hi, hi)

    # --- the buddy allocator's events -------------------------------------------------------
    def _split(self, e: BlockSplit) -> None:
        # expand(): a block of order o becomes two buddies of o - 1; the upper one goes on
        # the free list, the lower one is split again or taken by the PagesAllocated that
        # follows.  Only the first split of a call takes the block off its list.
        z = self._zone_index[e.zone]
        if self._splitting != e.pfn:
            self.nr_free[z, e.order] -= 1
            self._splitting = e.pfn
        self.nr_free[z, e.order - 1] += 1
        end = e.pfn + (1 << e.order)
        self.frames[e.pfn : end] = e.order - 1  # both halves free-coloured until the take
        self._touch(e.pfn, end)

    def _zone_locked(self, e: PagesAllocatedZoneLocked) -> None:
        # the block leaves the buddy lists: for the caller (a PagesAllocated follows) or for
        # a CPU's per-CPU list (rmqueue_bulk())
        z = self._zone_index[e.zone]
        if self._splitting == e.pfn:  # the lower half of the last split, never on a list
            self._splitting = -1
        else:
            self.nr_free[z, e.order] -= 1
        if e.cpu >= 0:
            self.pcp[z, e.order] += 1
            end = e.pfn + (1 << e.order)
            self.frames[e.pfn : end] = PCP
            self.orders[e.pfn] = e.order
            self._touch(e.pfn, end)

    def _allocated(self, e: PagesAllocated) -> None:
        if e.cpu >= 0:  # popped off a per-CPU list
            self.pcp[self._zone_index[e.zone], e.order] -= 1
        end = e.pfn + (1 << e.order)
        self.frames[e.pfn : end] = PAGES
        self.orders[e.pfn] = e.order
        self._touch(e.pfn, end)

    def _freed(self, e: PagesFreed) -> None:
        end = e.pfn + (1 << e.order)
        z = self._zone_index[e.zone]
        if e.cpu >= 0:  # pushed on a per-CPU list: still one block, not in the buddy
            self.pcp[z, e.order] += 1
            self.frames[e.pfn : end] = PCP
            self.orders[e.pfn : end] = -1
            self.orders[e.pfn] = e.order
        else:
            self.nr_free[z, e.order] += 1
            self.frames[e.pfn : end] = e.order
            self.orders[e.pfn : end] = -1
        self._touch(e.pfn, end)

    def _drained(self, e: PcpPagesDrained) -> None:
        z = self._zone_index[e.zone]
        self.pcp[z, e.order] -= 1
        self.nr_free[z, e.order] += 1
        end = e.pfn + (1 << e.order)
        self.frames[e.pfn : end] = e.order
        self.orders[e.pfn] = -1
        self._touch(e.pfn, end)

    def _merged(self, e: BuddiesMerged) -> None:
        z = self._zone_index[e.zone]
        self.nr_free[z, e.order] -= 2
        self.nr_free[z, e.order + 1] += 1
        start = e.merged_pfn  # pfn & buddy_pfn: 8 & 10 == 8
        end = start + (2 << e.order)
        self.frames[start:end] = e.order + 1
        self._touch(start, end)

    def _isolated(self, e: FreePagesIsolated) -> None:
        self.nr_free[self._zone_index[e.zone], e.order] -= 1
        end = e.pfn + (1 << e.order)
        self.frames[e.pfn : end] = ISOLATED
        self.orders[e.pfn : end] = 0  # split_page(): each page is now an order-0 page
        self._touch(e.pfn, end)

    def _migrated(self, e: PageMigrated) -> None:
        self.frames[e.new_pfn] = self.frames[e.pfn]  # the owner moves with the contents
        self.orders[e.new_pfn] = 0
        self._touch(e.pfn, e.pfn + 1)  # what the views redraw: from the old frame ...
        self._touch(e.new_pfn, e.new_pfn + 1)  # ... to the new one

    # --- owners -------------------------------------------------------------------------------
    def _paint(self, start: int, end: int, code: int) -> None:
        """Frames ``start`` to ``end - 1`` now have owner ``code``."""
        self.frames[start:end] = code
        self._touch(start, end)

    def _mark(self, pfns, code: int) -> None:
        """The frames ``pfns`` now have owner ``code``."""
        index = np.fromiter(pfns, dtype=np.int64, count=len(pfns))
        self.frames[index] = code
        self._since.append((index, 1))
        self._lo = min(self._lo, int(index.min()))
        self._hi = max(self._hi, int(index.max()) + 1)

    def _page_table(self, e: PageTableAllocated) -> None:
        self._paint(e.pfn, e.pfn + 1, PAGE_TABLE)

    def _lru(self, e: LruPagesAdded) -> None:
        self._mark(e.pfns, ANON if e.lru == "anon" else FILE)

    def _memblock(self, e: MemblockAllocated) -> None:
        start = e.phys >> PAGE_SHIFT
        end = (e.phys + e.size + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT
        self._paint(start, end, BOOTMEM)

    def _vmalloc_mapped(self, e: VmallocMapped) -> None:
        self.areas[e.addr] = Area(e.addr, e.size, e.pfns, e.kind, False)
        if e.kind == "vmalloc":  # vmap() maps pages that stay their owner's
            self._mark(e.pfns, VMALLOC)

    def _vmalloc_freed(self, e: VmallocFreed) -> None:
        if e.deferred:  # vfree() of no area in an interrupt: the warning comes when it runs
            area = self.areas.get(e.addr)
            if area is not None:
                self.areas[e.addr] = area._replace(deferred=True)
        else:
            del self.areas[e.addr]

    # --- slab caches --------------------------------------------------------------------------
    def _cache_created(self, e: CacheCreated) -> None:
        self.caches[e.name] = Cache(
            e.name, e.object_size, e.size, e.objects, e.order, e.red_left_pad
        )

    def _cache_merged(self, e: CacheMerged) -> None:
        cache = self.caches[e.into]
        self.caches[e.into] = cache._replace(aliases=(*cache.aliases, e.name))

    def _cache_destroyed(self, e: CacheDestroyed) -> None:
        del self.caches[e.name]
        self.active_slab.pop(e.name, None)

    def _slab_created(self, e: SlabCreated) -> None:
        self.slabs[e.pfn] = Slab(e.pfn, e.cache, e.order, e.objects, 0)
        end = e.pfn + (1 << e.order)
        for pfn in range(e.pfn, end):
            self._slab_head[pfn] = e.pfn
        self._paint(e.pfn, end, SLAB)

    def _slab_filled(self, e: SlabFilled) -> None:
        # boot's objects took slots 0 .. objects - 1; a slab left with room is the active one
        pfn, cache, order, objects, _ = self.slabs[e.pfn]
        self.slabs[pfn] = Slab(pfn, cache, order, objects, (1 << e.objects) - 1)
        if e.objects < objects:
            self.active_slab[e.cache] = e.pfn

    def _slab_frozen(self, e: SlabFrozen) -> None:
        self.cpu_partial.add(e.pfn)

    def _slabs_unfrozen(self, e: SlabsUnfrozen) -> None:
        self.cpu_partial.difference_update(e.pfns)

    def _slab_freed(self, e: SlabFreed) -> None:
        self.cpu_partial.discard(e.pfn)
        del self.slabs[e.pfn]
        if self.active_slab.get(e.cache) == e.pfn:
            del self.active_slab[e.cache]
        for pfn in range(e.pfn, e.pfn + (1 << e.order)):
            del self._slab_head[pfn]

    def _slot(self, ptr: int) -> tuple[Slab, int, int] | None:
        """The slab holding object ``ptr``, its slot number and ``ptr``'s offset into the slot.

        None if ``ptr`` is not in a slab.
        """
        head = self._slab_head.get((ptr - PAGE_OFFSET) >> PAGE_SHIFT)
        if head is None:
            return None
        slab = self.slabs[head]
        cache = self.caches[slab.cache]
        base = PAGE_OFFSET + (head << PAGE_SHIFT) + cache.red_left_pad
        return slab, *divmod(ptr - base, cache.size)

    def _object_allocated(self, e: ObjectAllocated) -> None:
        if e.cache:
            self._slot_taken(e.ptr)
        else:
            self._large_kmalloc(e.ptr, e.bytes_alloc)

    def _large_kmalloc(self, ptr: int, nbytes: int) -> None:
        """kmalloc() above 8 KiB: the pages came just before, as PagesAllocated."""
        start = (ptr - PAGE_OFFSET) >> PAGE_SHIFT
        self._paint(start, start + (nbytes >> PAGE_SHIFT), KMALLOC_LARGE)

    def _slot_taken(self, ptr: int) -> None:
        """A slab object at ``ptr`` was handed out: its slot is used, its slab active."""
        found = self._slot(ptr)
        if found:
            # SLUB hands out objects only from the cache's active slab (c->slab), so the slab
            # of the newest allocation is the active one
            (pfn, cache, order, objects, used), slot, _ = found
            self.slabs[pfn] = Slab(pfn, cache, order, objects, used | 1 << slot)
            self.active_slab[cache] = pfn
            self.cpu_partial.discard(pfn)  # taken from the CPU's partial list

    def _object_freed(self, e: ObjectFreed) -> None:
        self._slot_released(e.ptr)

    def _slot_released(self, ptr: int) -> None:
        """kfree(ptr): the slot of the object starting at ``ptr`` is free again."""
        # trace_kfree() fires before SLUB looks at the pointer: a pointer into the middle of
        # an object (refused) frees nothing
        found = self._slot(ptr)
        if found and not found[2]:  # the first byte of a slot
            (pfn, cache, order, objects, used), slot, _ = found
            self.slabs[pfn] = Slab(pfn, cache, order, objects, used & ~(1 << slot))

    # --- reading ------------------------------------------------------------------------------
    def event(self, index: int):
        """Event number ``index`` of the history (0-based)."""
        return self.kernel.history[index]

    @property
    def current(self):
        """The last applied event (the one the views animate), or None at position 0."""
        return self.kernel.history[self.position - 1] if self.position else None

    def newest(self, match, within: int = 256) -> tuple[object, int]:
        """The newest applied event ``match(event)`` accepts, and how many steps back it is.

        Looks at most ``within`` events back (the last 16 first: the usual find is close);
        (None, 0) when none matches.
        """
        position, read = self.position, 0
        for window in (16, within):
            start = max(0, position - window)
            recent = list(self.kernel.history.events(start, position - read))
            for back, event in enumerate(reversed(recent), read):
                if match(event):
                    return event, back
            read = position - start
        return None, 0

    def zone_of(self, pfn: int) -> str:
        """The name of the zone spanning ``pfn`` ("" beyond every zone)."""
        for name, start, end in self.zones:
            if start <= pfn < end:
                return name
        return ""

    def block_at(self, pfn: int) -> tuple[int, int, int]:
        """The block holding ``pfn`` now: (first pfn, order, frame code)."""
        if not 0 <= pfn < self.nr_pfns:
            raise ValueError(f"pfn {pfn:#x} is beyond this machine's {self.nr_pfns} page frames")
        code = int(self.frames[pfn])
        if code < MAX_ORDER:
            return pfn & ~((1 << code) - 1), code, code
        for order in range(MAX_ORDER):
            head = pfn & ~((1 << order) - 1)
            if self.orders[head] == order:
                return head, order, code
        return pfn, 0, code

    def owner_of(self, pfn: int) -> str:
        """Who has ``pfn``, in words: "free, order 3", "slab kmalloc-128", "vmalloc 0xffffc9…"."""
        code = self.block_at(pfn)[2]
        if code == SLAB and pfn in self._slab_head:
            return f"slab {self.slabs[self._slab_head[pfn]].cache}"
        if code == VMALLOC:
            for area in self.areas.values():
                if pfn in area.pfns:
                    return f"vmalloc {area.addr:#x}"
        return CODE_NAMES[code]

    def slab_at(self, pfn: int) -> Slab | None:
        """The slab whose pages include ``pfn``, or None."""
        head = self._slab_head.get(pfn)
        return None if head is None else self.slabs[head]

    def slabs_of(self, cache: str) -> list[Slab]:
        """The slabs of ``cache``, by pfn."""
        return sorted((s for s in self.slabs.values() if s.cache == cache), key=lambda s: s.pfn)

    def log(self) -> list[MessageLogged]:
        """The kernel log up to the current position, oldest first."""
        return self.index.events("log", 0, self.position)

    def context(self) -> ContextSnapshot:
        """The execution context after the current position's last context change."""
        change = self.index.last_event("context", self.position)
        if change is not None:
            return change.context
        return ContextSnapshot(DEFAULT_COMM, DEFAULT_PID, 0, False, (), 0, "task")

    def free_pages(self, zone: str) -> int:
        """Free page frames in ``zone`` now: sum of nr_free[order] << order."""
        counts = self.nr_free[self._zone_index[zone]]
        return int(sum(int(n) << order for order, n in enumerate(counts)))


# --- notebook cells ----------------------------------------------------------------------------
this_cell: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # kernel -> its cell's timeline
_shells_watched: weakref.WeakSet = weakref.WeakSet()  # shells whose cells batch and pin


def notebook_shell():
    """The IPython shell running the current cell, or None outside IPython."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - present wherever notebooks run
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None


def watch_cells(shell) -> None:
    """From now on every cell of ``shell`` batches its kernels' notifications until it ends.

    Hooked to IPython's pre_run_cell and post_run_cell once per shell; the cell running now
    (the one making the first timeline) batches from here on.
    """
    if shell in _shells_watched:
        return
    shell.events.register("pre_run_cell", _cell_started)
    shell.events.register("post_run_cell", _cell_finished)
    _shells_watched.add(shell)
    if getattr(shell.displayhook, "exec_result", None) is not None:  # set while a cell runs
        Kernel.begin_cell()


def _cell_started(_info=None) -> None:
    """pre_run_cell: the kernels batch their notifications until the cell finishes."""
    Kernel.begin_cell()


def _cell_finished(_result=None) -> None:
    """post_run_cell: the views catch up with the cell's calls, then its timelines are pinned."""
    Kernel.end_cell()
    for timeline in list(this_cell.values()):
        timeline.pinned = True
        timeline.follow = False
    this_cell.clear()


RUNS_CHUNK = 1 << 22  # codes compared at a time by _runs(): 4 MiB of temporaries, not 256 MiB


def _runs(codes: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """``codes`` as runs: (where each run starts, its code), or (None, a copy of the codes).

    A map of whole blocks is mostly long runs (a free order-10 block is one run of 1024); with
    more than a run per 4 codes the codes themselves are smaller.  Compared a chunk at a time:
    codes 0 1 1 1 5 5 -> starts 0 1 4, codes 0 1 5.
    """
    size, limit = codes.size, codes.size // 4
    differs = np.empty(min(size, RUNS_CHUNK), dtype=bool)
    starts, count = [np.zeros(1, dtype=np.int32)], 1  # the first code starts a run
    for lo in range(1, size, RUNS_CHUNK):
        hi = min(lo + RUNS_CHUNK, size)
        block = differs[: hi - lo]
        np.not_equal(codes[lo:hi], codes[lo - 1 : hi - 1], out=block)  # a run starts here
        found = np.flatnonzero(block).astype(np.int32) + lo
        count += found.size
        if count > limit:
            return None, codes.copy()
        starts.append(found)
    starts = np.concatenate(starts)
    return starts, codes[starts]


def _pack(runs: tuple[np.ndarray | None, np.ndarray]) -> tuple[int, bytes]:
    """``_runs()``'s runs for a checkpoint: (number of runs, or -1 for codes, and their zlib)."""
    starts, codes = runs
    if starts is None:
        return -1, zlib.compress(codes.tobytes(), 1)
    return starts.size, zlib.compress(starts.tobytes() + codes.tobytes(), 1)


def _unpack_runs(packed: tuple[int, bytes], dtype) -> tuple[np.ndarray | None, np.ndarray]:
    """The runs ``_pack`` packed, read-only (views of the decompressed bytes)."""
    count, data = packed
    raw = zlib.decompress(data)
    if count < 0:
        return None, np.frombuffer(raw, dtype=dtype)
    return (np.frombuffer(raw, dtype=np.int32, count=count),
            np.frombuffer(raw, dtype=dtype, offset=4 * count))  # fmt: skip


def _expand(runs: tuple[np.ndarray | None, np.ndarray], size: int) -> np.ndarray:
    """The ``size`` codes of ``runs``, as a new writable array."""
    starts, codes = runs
    if starts is None:
        return codes.copy()
    return np.repeat(codes, np.diff(starts, append=size))


def _codes_at(runs: tuple[np.ndarray | None, np.ndarray], pfns: np.ndarray) -> np.ndarray:
    """The codes of ``runs`` at the sorted ``pfns``: each pfn's code is its run's.

    starts 0 1 4, codes 0 1 5: pfn 3 is in the run starting at 1 (the last start <= 3), code 1.
    """
    starts, codes = runs
    if starts is None:
        return codes[pfns]
    return codes[np.searchsorted(starts, pfns, side="right") - 1]


def _aligned_blocks(start: int, end: int):
    """(level, block) of the aligned blocks that tile frames ``start`` to ``end - 1``."""
    while start < end:
        level = min((start & -start).bit_length() - 1 if start else LEVELS - 1,
                    (end - start).bit_length() - 1, LEVELS - 1)  # fmt: skip
        yield level, start >> level
        start += 1 << level
