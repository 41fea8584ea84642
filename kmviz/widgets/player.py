"""The player: one position in a kernel's event history that the views of its timeline show.

Step forward and back (the views show the exact earlier state), play at a chosen speed, jump
to an event number, and move only between events of one kind (splits and merges, slab, …).
Stepping back stops following the kernel; "newest" follows it again.  A player drives the
views made in its notebook cell, or the view it is given (``Player(view)``):
kmviz/widgets/cells.py.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
from traitlets import TraitError, Unicode, observe, validate

from ..engine.events import (
    AllocationFailed,
    BadPageReported,
    BlockSplit,
    BuddiesMerged,
    CacheCreated,
    CacheDestroyed,
    CacheMerged,
    CompactionBegan,
    CompactionDeferred,
    CompactionFinished,
    CompactionMigrated,
    CompactionSkippedAsDeferred,
    CompactionTried,
    ContextChanged,
    ContextViolated,
    DeviceWrote,
    DmaMapped,
    FallbackStolen,
    FreePagesIsolated,
    KcompactdWoken,
    KernelPanicked,
    KswapdWoken,
    LruPagesAdded,
    MemoryReclaimed,
    MessageLogged,
    ObjectAllocated,
    ObjectFreed,
    OomKilled,
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
from ..engine.gfp import describe_gfp
from .cells import timeline_for

# what the filter offers: a name and the event classes it stops at (None: every event)
FILTERS = {
    "every event": None,
    "splits and merges": (BlockSplit, BuddiesMerged),
    "page allocations and frees": (PagesAllocated, PagesFreed, AllocationFailed),
    "per-CPU lists": (PagesAllocatedZoneLocked, PcpPagesDrained),
    "slab and kmalloc": (
        ObjectAllocated,
        ObjectFreed,
        SlabCreated,
        SlabFilled,
        SlabFrozen,
        SlabsUnfrozen,
        SlabFreed,
        CacheCreated,
        CacheMerged,
        CacheDestroyed,
    ),
    "vmalloc, page tables and DMA": (
        VmallocMapped,
        VmallocFreed,
        PageTableAllocated,
        DmaMapped,
        DeviceWrote,
    ),
    "context and violations": (ContextChanged, ContextViolated, SchedulingWhileAtomic),
    "failures, reclaim and OOM": (
        AllocationFailed,
        KswapdWoken,
        MemoryReclaimed,
        OomKilled,
        KernelPanicked,
        BadPageReported,
    ),
    "compaction": (
        CompactionTried,
        CompactionBegan,
        FreePagesIsolated,
        PageMigrated,
        CompactionMigrated,
        CompactionFinished,
        CompactionDeferred,
        CompactionSkippedAsDeferred,
        KcompactdWoken,
    ),
    "kernel log": (MessageLogged,),
}
LONGEST = 200  # characters of an event's description
SEARCH_LIMIT = 200_000  # events looked at for the next one of a kind before giving up


def describe(event) -> str:
    """One line saying what ``event`` was, in the kernel's terms (pfns in hex)."""
    match event:
        case BlockSplit(pfn=pfn, order=order, zone=zone):
            half = order - 1
            return (
                f"expand(): order-{order} block at pfn {pfn:#x} ({zone}) split; upper buddy "
                f"{event.buddy_pfn:#x} = {pfn:#x} + (1 << {half}) went to free_area[{half}]"
            )
        case PagesAllocatedZoneLocked(pfn=pfn, order=order, zone=zone, cpu=cpu):
            where = (
                f"onto CPU {cpu}'s per-CPU list (rmqueue_bulk)" if cpu >= 0 else "for the caller"
            )
            return f"mm_page_alloc_zone_locked: pfn {pfn:#x} order {order} ({zone}) {where}"
        case PagesAllocatedInBulk(pfn=pfn, zone=zone, cpu=cpu):
            return (
                f"__alloc_pages_bulk(): pfn {pfn:#x} ({zone}) off CPU {cpu}'s per-CPU list "
                "(no tracepoint: no mm_page_alloc)"
            )
        case PagesAllocated(pfn=pfn, order=order, gfp=gfp, zone=zone, cpu=cpu):
            source = f" off CPU {cpu}'s per-CPU list" if cpu >= 0 else ""
            return (
                f"mm_page_alloc: pfn {pfn:#x} order {order} ({zone}) gfp {describe_gfp(gfp)}"
                + source
            )
        case PagesFreed(pfn=pfn, order=order, zone=zone, cpu=cpu):
            where = f" onto CPU {cpu}'s per-CPU list" if cpu >= 0 else ""
            return f"mm_page_free: pfn {pfn:#x} order {order} ({zone}){where}"
        case PcpPagesDrained(pfn=pfn, order=order, zone=zone, cpu=cpu):
            return f"mm_page_pcpu_drain: pfn {pfn:#x} order {order} ({zone}) from CPU {cpu}'s list"
        case BuddiesMerged(pfn=pfn, buddy_pfn=buddy, order=order):
            return (
                f"__free_one_page(): buddy_pfn = {pfn:#x} ^ (1 << {order}) = {buddy:#x}; "
                f"merged into order {order + 1} at {event.merged_pfn:#x}"
            )
        case ObjectAllocated(tracepoint=tp, ptr=ptr, bytes_req=req, bytes_alloc=alloc, cache=c):
            where = c or "page allocator"
            return f"{tp}: ptr {ptr:#x} bytes_req={req} bytes_alloc={alloc} ({where})"
        case ObjectFreed(tracepoint=tp, ptr=ptr):
            return f"{tp}: ptr {ptr:#x}"
        case MessageLogged(text=text):
            return f"printk: {text}"
        case ContextChanged(action=action):
            return f"context: {action}"
        case ContextViolated(function=function, location=location):
            return f"might_sleep() fired in {function} at {location}"
        case AllocationFailed(order=order, gfp=gfp, reason=reason):
            return f"allocation failed: order {order}, {describe_gfp(gfp)}: {reason}"
        case SlabCreated(cache=cache, pfn=pfn, order=order, objects=objects):
            return f"new slab for {cache}: pfn {pfn:#x} order {order}, {objects} objects"
        case SlabFilled(cache=cache, pfn=pfn, objects=objects):
            return f"boot's objects: {objects} of {cache}'s slab at pfn {pfn:#x} in use"
        case SlabFrozen(cache=cache, pfn=pfn):
            return f"put_cpu_partial(): {cache}'s slab at pfn {pfn:#x} to the CPU's partial list"
        case SlabsUnfrozen(cache=cache, pfns=pfns):
            return f"__unfreeze_partials(): {len(pfns)} slabs of {cache} to the node's partial list"
        case SlabFreed(cache=cache, pfn=pfn):
            return f"empty slab of {cache} at pfn {pfn:#x} returned to the page allocator"
        case VmallocMapped(addr=addr, size=size, kind="ioremap" | "percpu" as kind):
            return f"{kind}: {size} bytes of vmalloc space at {addr:#x}"  # no RAM frames
        case VmallocMapped(addr=addr, pfns=pfns, kind=kind):
            return f"{kind}: {len(pfns)} pages mapped at {addr:#x}"
        case VmallocFreed(addr=addr, deferred=deferred):
            return f"vfree({addr:#x})" + (" deferred (interrupt context)" if deferred else "")
        case FallbackStolen(pfn=pfn, fallback_order=order):
            return f"mm_page_alloc_extfrag: stole an order-{order} block at pfn {pfn:#x}"
        case LruPagesAdded(pfns=pfns, lru=lru, comm=comm):
            return f"mm_lru_insertion: {len(pfns)} pages onto the {lru} LRU for {comm}"
        case PageTableAllocated(pfn=pfn, level=level):
            return f"pfn {pfn:#x} became a {level} page table"
        case FreePagesIsolated(pfn=pfn, order=order):
            return f"compaction isolated the free order-{order} block at pfn {pfn:#x}"
        case PageMigrated(pfn=pfn, new_pfn=new):
            return f"mm_migrate_pages: page at pfn {pfn:#x} moved to {new:#x}"
        case CompactionTried(order=order, mode=mode):
            return f"mm_compaction_try_to_compact_pages: order {order}, {mode}"
        case CompactionFinished(zone=zone, order=order, status=status, mode=mode):
            return (
                f"mm_compaction_end: {zone} order {order} {mode}: {status}, "
                f"{event.pages_moved} pages moved"
            )
        case CompactionDeferred(zone=zone, order=order, defer_limit=limit):
            return f"mm_compaction_defer_compaction: {zone} order {order}, skip {limit - 1}"
        case KcompactdWoken(order=order):
            return f"mm_compaction_wakeup_kcompactd: order {order}"
    text = repr(event)
    return text if len(text) <= LONGEST else text[: LONGEST - 1] + "…"


class Player(widgets.VBox):
    """Controls that move a Timeline: first, back, forward, newest, play, jump, a filter."""

    kind = Unicode("every event", help="Which events stepping and playing stop at.")

    def __init__(self, source, follow: bool = False, **kwargs):
        self.timeline = timeline_for(source, follow)
        tl = self.timeline
        self.first = _button("fast-backward", "first event", "kmviz-first")
        self.back = _button("step-backward", "step back", "kmviz-back")
        self.forward = _button("step-forward", "step forward", "kmviz-forward")
        self.newest = _button("fast-forward", "newest event (follow the kernel)", "kmviz-newest")
        self.play = widgets.Play(
            value=tl.position,
            min=0,
            max=tl.length,
            interval=500,
            description="play",
            show_repeat=False,
        )
        self.speed = widgets.SelectionSlider(
            options=[("1/s", 1000), ("2/s", 500), ("5/s", 200), ("10/s", 100), ("25/s", 40)],
            value=500,
            description="speed",
            continuous_update=False,
        )
        self.slider = widgets.IntSlider(
            value=tl.position,
            min=0,
            max=tl.length,
            description="event",
            continuous_update=False,
            layout=widgets.Layout(width="420px"),
        )
        self.jump = widgets.BoundedIntText(
            value=tl.position,
            min=0,
            max=tl.length,
            description="jump to",
            layout=widgets.Layout(width="180px"),
        )
        self.filter = widgets.Dropdown(
            options=list(FILTERS), value=self.kind, description="stop at"
        )
        self.label = widgets.HTML()
        self.label.add_class("kmviz-current-event")
        self.message = widgets.HTML()
        for button, handler in (
            (self.first, lambda _: self.go(0)),
            (self.back, lambda _: self.step(-1)),
            (self.forward, lambda _: self.step(1)),
            (self.newest, lambda _: self.follow()),
        ):
            button.on_click(handler)
        self.play.observe(self._played, "value")
        self.speed.observe(lambda c: setattr(self.play, "interval", c["new"]), "value")
        self.slider.observe(lambda c: self.go(c["new"]), "value")
        self.jump.observe(lambda c: self.go(c["new"]), "value")
        widgets.link((self.filter, "value"), (self, "kind"))
        tl.observe(self._moved, "position")
        tl.observe(self._grew, "length")
        super().__init__(
            [
                widgets.HBox(
                    [self.first, self.back, self.play, self.forward, self.newest, self.speed]
                ),
                widgets.HBox([self.slider, self.jump, self.filter]),
                self.label,
                self.message,
            ],
            **kwargs,
        )
        self.add_class("kmviz-player")
        self._moved(None)

    @validate("kind")
    def _valid_kind(self, proposal):
        if proposal["value"] not in FILTERS:
            raise TraitError(f"kind must be one of {', '.join(FILTERS)}")
        return proposal["value"]

    @observe("kind")
    def _kind_changed(self, _change) -> None:
        self.message.value = ""

    # --- moving ------------------------------------------------------------------------------
    def go(self, position: int) -> None:
        """Show the machine after ``position`` events; the views stop following the kernel.

        Reaching the newest event follows the kernel again, unless the timeline is a finished
        cell's (``pinned``): that one ends where its cell ended until the newest button,
        ``follow()``, lets it follow the kernel again.
        """
        tl = self.timeline
        tl.kernel.notify()  # the kernel's calls so far, also those of the running cell
        tl.follow = position >= tl.length and not tl.pinned
        tl.seek(position)

    def step(self, direction: int) -> None:
        """Move to the next (+1) or previous (-1) event the filter stops at."""
        target = self.next_position(direction)
        if target is None:
            self.message.value = f"no earlier or later event of kind “{self.kind}”"
            return
        self.message.value = ""
        self.go(target)

    def replay(self, start: int, kind: str = "every event", interval: int | None = None) -> None:
        """Go to ``start`` and play from there, stopping at events of ``kind`` (the animation).

        The browser's Play widget ticks at ``interval`` ms (default: the speed slider's);
        each tick moves every view one event on, so a split or merge is seen step by step.
        Call it once the player is on screen (the browser starts playing on the change).
        """
        self.kind = kind
        if interval is not None:
            self.play.interval = interval
        self.go(start)
        self.play.playing = True

    def follow(self) -> None:
        """Jump to the newest event and follow the kernel from now on, later cells included."""
        self.timeline.pinned = False
        self.go(self.timeline.length)

    def next_position(self, direction: int) -> int | None:
        """The position just after the next/previous event of the chosen kind, or None."""
        tl = self.timeline
        kinds = FILTERS[self.kind]
        if kinds is None:
            target = tl.position + direction
            return target if 0 <= target <= tl.length else None
        history = tl.kernel.history
        if direction > 0:
            stop = min(tl.length, tl.position + SEARCH_LIMIT)
            for index, event in enumerate(history.events(tl.position, stop), tl.position):
                if isinstance(event, kinds):
                    return index + 1
            return None
        # back: the event before the current one (the current one is at position - 1)
        stop = tl.position - 1
        while stop > 0:
            start = max(0, stop - 4096)
            found = [
                i for i, e in enumerate(history.events(start, stop), start) if isinstance(e, kinds)
            ]
            if found:
                return found[-1] + 1
            if tl.position - start > SEARCH_LIMIT:
                return None
            stop = start
        return None

    # --- following the timeline ----------------------------------------------------------------
    def _played(self, change) -> None:
        tl = self.timeline
        if change["new"] == tl.position:
            return
        if change["new"] == change["old"] + 1 and self.kind != "every event":
            target = self.next_position(1)
            if target is None:
                self.play.playing = False
                return
            self.go(target)
        else:
            self.go(change["new"])

    def _grew(self, _change) -> None:
        length = self.timeline.length
        for control in (self.play, self.slider, self.jump):
            control.max = length

    def _moved(self, _change) -> None:
        tl = self.timeline
        for control in (self.play, self.slider, self.jump):
            control.max = max(control.max, tl.length)
            control.value = tl.position
        current = tl.current
        text = describe(current) if current is not None else "the machine before its first event"
        follow = " · following the kernel" if tl.follow else ""
        self.label.value = (
            f"<b>event {tl.position} of {tl.length}</b>{follow}<br><code>{html.escape(text)}</code>"
        )


def _button(icon: str, tooltip: str, css: str) -> widgets.Button:
    button = widgets.Button(icon=icon, tooltip=tooltip, layout=widgets.Layout(width="42px"))
    button.add_class(css)
    return button
