"""ftrace kmem traces in Linux 6.1's text format: events loaded, replayed, exported; bytes, ns.

A real kernel can record every kmalloc(), kfree(), kmem_cache_alloc(), kmem_cache_free() and
every page the page allocator hands out or takes back: the tracepoints of
include/trace/events/kmem.h.  This module reads such a recording, plays it on a simulated
machine, and writes the simulation's own history in the same format::

    from kmviz import Kernel
    from kmviz import trace

    print(trace.CAPTURE_HOWTO)                  # how to record one on your machine (root)
    t = trace.load("kmem.trace")                # or trace.load(trace.SAMPLE_TRACE)
    t[0]                                        # Kmalloc(comm='insmod', pid=1234, ...)
    k = Kernel(mem="1GiB")
    report = t.replay(k)                        # allocations matched to frees, by pointer
    print(report)                               # what was replayed, what could not be
    trace.export(k, "mine.trace")               # the simulation's history, same format

**Capturing a trace** on a real machine needs root and tracefs, mounted at
/sys/kernel/tracing: switch on the six events (``echo 1 > events/kmem/kmalloc/enable`` and
likewise kfree, kmem_cache_alloc, kmem_cache_free, mm_page_alloc, mm_page_free), give each CPU's
ring buffer room (``echo 16384 > buffer_size_kb``), ``echo 1 > tracing_on``, run what you want
to watch, ``echo 0 > tracing_on`` and ``cat trace > kmem.trace``.  ``CAPTURE_HOWTO`` has the
commands to paste, and the lesson prints it.

**The format** is what ``cat /sys/kernel/tracing/trace`` prints.  ``s_show()``
(kernel/trace/trace.c) starts with ``# tracer: nop``, ``print_event_info()`` adds
``# entries-in-buffer/entries-written: %lu/%lu   #P:%d`` and ``print_func_help_header_irq()``
the column legend.  Each event is one line: ``trace_print_context()``
(kernel/trace/trace_output.c) prints ``"%16s-%-7d "`` (comm-pid), ``"(%7d) "`` with the
``record-tgid`` option, ``"[%03d] "`` (CPU), the five flag characters of
``trace_print_lat_fmt()`` (irqs-off, need-resched, hardirq/softirq, preempt-depth,
migrate-disable; absent with ``noirq-info``) and ``" %5lu.%06lu: "`` (seconds since boot);
``trace_raw_output_prep()`` adds ``"%s: "`` (the event name), then the event's ``TP_printk``:

* ``kmalloc`` and ``kmem_cache_alloc``: ``call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu
  gfp_flags=%s node=%d accounted=%s``.  6.1's kmem_cache_alloc does not print the cache's
  name (a 2025 patch, "kmem/tracing: Add kmem name to kmem_cache_alloc tracepoint", prints
  ``name=%s`` after ``ptr=`` in later kernels; load() reads both).  Without it load() takes
  the name from the object's ``kmem_cache_free`` (which prints ``name=``), or from the only
  cache of the same sizes; ``Trace.cache_names`` counts how each was found.
* ``kfree``: ``call_site=%pS ptr=%p``; ``kmem_cache_free``: ``call_site=%pS ptr=%p name=%s``.
* ``mm_page_alloc``: ``page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s`` (page=NULL
  and pfn=0 when the allocation failed); ``mm_page_free``: ``page=%p pfn=0x%lx order=%d``;
  ``mm_page_free_batched`` (order-0 pages freed as a list): ``page=%p pfn=0x%lx order=0``.

``gfp_flags`` is ``show_gfp_flags()`` (include/trace/events/mmflags.h).  ``%p`` is hashed
by default (the ``hash-ptr`` option, lib/vsprintf.c ``ptr_to_id()``): 16 hex digits, the
same pointer always giving the same hash, NULL printing as zeros; allocations and frees
still match, but the numbers are not addresses.  Lines of other events, ``CPU:%d [LOST %lu
EVENTS]`` lines (``Trace.lost``), the ``##### CPU %u buffer started ####`` line of a wrapped
ring buffer (``Trace.buffer_started``) and stack-trace lines are counted and reported, not
errors.  Kernels after 6.1 print the same kmem lines (6.18 adds ``name=`` to
kmem_cache_alloc, see above) with more need-resched letters (``B``, ``L``, ``b``, ``l`` of
lazy preemption, 6.13); load() reads them too.

**trace-cmd report** output is read as well: its first line ``cpus=N``
(``Trace.trace_cmd_cpus``), ``CPU:%d [%lu EVENTS DROPPED]`` gaps, no flag column unless
asked for, the event name padded with spaces, libtraceevent's kmem plugin's ``(function+off)``
before ``call_site=``, and pointers printed as ``0x…`` (real addresses) or ``(nil)``.  A line that
starts like an event of the seven above but does not match its format, any other line, a
header out of place, a cut-off last line or fewer or more event lines than the header
announces are a ``TraceFormatError`` naming the file and the line (and, for a kmem event
line, the field that breaks its format).

**Speed**: with numpy installed (it comes with the widgets), load() reads a file or text a
few megabytes at a time with array operations (kmviz/_trace_columns.py; the event lines in C
when kmviz's fast path is built, _fastpath.c scan_trace_lines()) and hands only the lines
those do not take whole (the header, gaps, other events, unusual layouts, errors) to the
line-by-line parser, which stays the reference: all give the same trace and the same errors.
benchmarks/bench_trace.py times them.

**Replay** (``Trace.replay(k)`` or ``replay(trace, k)``) calls the simulated kernel's
``kmalloc``/``kfree``/``kmem_cache_alloc``/``kmem_cache_free``/``alloc_pages``/
``__free_pages`` in the trace's order.  A free is matched to its allocation by pointer (by
pfn for pages) and frees the simulated object, wherever the simulation put it.  Caches are
created with the name and object size the trace shows, and the alignment that gives its slot
size if one does.  A page the slab allocator took for itself (its mm_page_alloc is followed,
on the same CPU and task, by the kmalloc or kmem_cache_alloc it served, as ``allocate_slab()``
and ``__kmalloc_large_node()`` do it) is left to the simulated SLUB, which takes its own.  Frees
whose allocation happened before the buffer started, allocations that failed on the traced
machine or fail in the simulation: counted in the ``ReplayReport``, never a crash; a panic
of the simulated kernel stops the replay, and the report says where.  Every call runs in the
kernel's current context (the task ``insmod`` unless you chose another), and call sites stay
in the trace: the simulation records its own.  With views open, wrap the replay in ``with
Timeline.of(k).hold():`` (kmviz.widgets.timeline) so that they catch up once, at the end.
The loop over the events runs in C when kmviz's fast path is built (_fastpath.c
replay_events()): the same kernel calls in the same order as the Python loop
(``_replay_events()``), without the interpreter's cost per event.

**Export** (``export(k, path)``) writes the events ObjectAllocated, ObjectFreed,
PagesAllocated, PagesFreed, AllocationFailed (a failed ``mm_page_alloc``, where 6.1's
__alloc_pages() reaches its tracepoint), PagesAllocatedZoneLocked and PcpPagesDrained (the
per-CPU list events mm_page_alloc_zone_locked and mm_page_pcpu_drain) of ``k.history`` since
boot -- not PagesAllocatedInBulk: the pages vmalloc()'s __alloc_pages_bulk() takes off a per-CPU
list fire no tracepoint in 6.1 --, with the task, flags
and preempt depth of the simulated context at each, and the kernel clock: exact at every
logged line, one microsecond per allocator call in between.
Pointers print as with ``echo 0 > options/hash-ptr`` (real addresses), or hashed.

**The sample trace** ``kmviz/data/sample-kmem.trace.xz`` (``SAMPLE_TRACE``) is a real Linux
6.1 kernel's: Debian's 6.1.0-57-amd64 (upstream 6.1.192) booted in QEMU with 256 MiB and 2
CPUs, the kmem tracepoints (and the per-CPU list events mm_page_alloc_zone_locked and
mm_page_pcpu_drain) switched on from the kernel command line (``trace_event=``), from early
boot to a busybox shell, a small workload (dd into tmpfs, ls, cat) and kmviz's probe module
(tools/real-kernel/probe) — every event of it, ``cat trace`` compressed with xz.
``tools/real-kernel/run.sh trace`` records it again.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import re
import shutil
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .engine import fastpath
from .engine.constants import (
    DEFAULT_COMM,
    DEFAULT_PID,
    MAX_ORDER,
    MIGRATE_UNMOVABLE,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
)
from .engine.context import HARDIRQ_MASK, NMI_MASK, SOFTIRQ_MASK, SOFTIRQ_OFFSET, SOFTIRQ_SHIFT
from .engine.events import (
    AllocationFailed,
    BootStageReached,
    ContextChanged,
    MessageLogged,
    ObjectAllocated,
    ObjectFreed,
    PagesAllocated,
    PagesAllocatedZoneLocked,
    PagesFreed,
    PcpPagesDrained,
)
from .engine.gfp import (
    __GFP_ACCOUNT,
    __GFP_NORETRY,
    __GFP_NOWARN,
    BadGfpZone,
    gfp_migratetype,
    gfp_zone,
    parse_gfp,
    show_gfp_flags,
)
from .engine.history import (
    CALL_SITE,
    EXIT_SITE,
    KIND_SLAB,
    OP_KFREE,
    OP_KMEM_CACHE_FREE,
    OP_SLAB_FROZEN,
    PFN_MASK,
    SLAB_DESC_SHIFT,
    SLAB_OPS,
    SLAB_PFN_SHIFT,
    SLAB_SLOT_MASK,
    SLAB_SLOT_SHIFT,
)
from .engine.kernel import BOOT_DONE_NS, NS_PER_RECORD, Kernel
from .engine.page import Page
from .engine.reports import hashed_pointer, struct_page_address
from .engine.slab import KmemCache
from .engine.slab_geometry import (
    KMALLOC_MAX_CACHE_SIZE,
    SLAB_ACCOUNT,
    SLAB_HWCACHE_ALIGN,
    slab_geometry,
)
from .engine.slowpath import KernelPanic

try:  # numpy (installed with the widgets) reads whole files at once: _trace_columns.py
    import numpy as _numpy
except ImportError:  # pragma: no cover - the engine alone needs only traitlets
    _numpy = None

__all__ = [
    "CAPTURE_HOWTO",
    "SAMPLE_TRACE",
    "BufferStarted",
    "Kfree",
    "Kmalloc",
    "KmemCacheAlloc",
    "KmemCacheFree",
    "LostEvents",
    "MmPageAlloc",
    "MmPageFree",
    "MmPageFreeBatched",
    "ReplayReport",
    "Trace",
    "TraceEvent",
    "TraceFormatError",
    "TraceHeader",
    "export",
    "load",
    "replay",
]

CAPTURE_HOWTO = """\
Recording a kmem trace on a real Linux machine (tracefs; every step needs root):

  sudo -s
  cd /sys/kernel/tracing              # empty? mount -t tracefs nodev /sys/kernel/tracing
                                      # (older systems: /sys/kernel/debug/tracing)
  echo 0 > tracing_on                 # stop while setting up
  echo > trace                        # empty the ring buffer
  echo 16384 > buffer_size_kb         # KiB per CPU; when full, the oldest events are overwritten
  echo 1 > events/kmem/kmalloc/enable
  echo 1 > events/kmem/kfree/enable
  echo 1 > events/kmem/kmem_cache_alloc/enable
  echo 1 > events/kmem/kmem_cache_free/enable
  echo 1 > events/kmem/mm_page_alloc/enable
  echo 1 > events/kmem/mm_page_free/enable
  echo 1 > tracing_on                 # record ...
  sleep 2                             # ... while what you want to watch runs
  echo 0 > tracing_on                 # stop before reading: a running trace reads inconsistently
  cat trace > /tmp/kmem.trace         # the header and every event: what kmviz.trace.load() reads
  echo 0 > events/kmem/enable         # switch the kmem events off again

Pointers are hashed (the hash-ptr option): allocations still match their frees. With
`echo 0 > options/hash-ptr` the trace shows real kernel addresses (keep such a file to
yourself). `cat trace_pipe > /tmp/kmem.trace` streams instead, without the header.
"""

SAMPLE_TRACE = Path(__file__).with_name("data") / "sample-kmem.trace.xz"
BLOCK = 2 << 20  # bytes load() reads at a time (its arrays stay in the CPU caches)

NULL_POINTER = "0000000000000000"  # %p of NULL: ptr_to_id() prints NULL as it is
# print_trace_line()'s "[LOST %lu EVENTS]", and trace-cmd report's "[%lu EVENTS DROPPED]"
LOST_LINE = re.compile(r"CPU:(\d+) \[(?:LOST (?:(\d+) )?EVENTS|(?:(\d+) )?EVENTS DROPPED)\]\n?")
TRACE_CMD_LINE = re.compile(r"cpus=(\d+)\n?")  # the first line of trace-cmd report
# test_cpu_buff_start() (kernel/trace/trace.c): where a CPU's events start in an overwritten buffer
BUFFER_STARTED_LINE = re.compile(r"##### CPU (\d+) buffer started ####\n?")
STACK_LINE_PREFIX = " => "  # the frames of a <stack trace> entry (trace_stack_print())

# One event line: the context trace_print_context() prints, then "<event>: ".  The context
# (comm-pid, TGID, CPU, flags) is one group, so that a context seen before is looked up once.
_CONTEXT = (
    r" *(.+?)-(\d+) +(?:\( *(?:\d+|-------)\) +)?\[(\d+)\]"
    r"(?: ([.dDbX][.NnpBLbl][.ZzHhs][.0-9a-f][.0-9a-f]))?"
)
CONTEXT = re.compile(_CONTEXT)
ENTRY_LINE = re.compile(_CONTEXT + r" +\d+\.\d{6}: ")  # any entry: function tracer lines …
EVENT_LINE = re.compile("(" + _CONTEXT + r") +(\d+)\.(\d{6}): (\w+): ")  # groups 1, 6, 7, 8
TRACER_LINE = re.compile(r"# tracer: (\S+)\n?")
ENTRIES_LINE = re.compile(r"# entries-in-buffer/entries-written: (\d+)/(\d+)   #P:(\d+)\n?")

# The events load() keeps, as numbers in Trace's columns.
KMALLOC, KFREE, KMEM_CACHE_ALLOC, KMEM_CACHE_FREE = 0, 1, 2, 3
MM_PAGE_ALLOC, MM_PAGE_FREE, MM_PAGE_FREE_BATCHED = 4, 5, 6
TRACEPOINTS = (
    "kmalloc",
    "kfree",
    "kmem_cache_alloc",
    "kmem_cache_free",
    "mm_page_alloc",
    "mm_page_free",
    "mm_page_free_batched",
)
KIND_OF = {name: kind for kind, name in enumerate(TRACEPOINTS)}


# Each event's TP_printk in include/trace/events/kmem.h (6.1), as a pattern and as printed.
def _field_patterns(pointer: str, plugin: str) -> dict[int, re.Pattern]:
    """The fields of each event after "<event>: ", ``%p`` as ``pointer``, ``plugin`` first."""
    object_alloc = (
        plugin + r"call_site=(.+?) ptr=" + pointer + r"{name} bytes_req=(\d+) "
        r"bytes_alloc=(\d+) gfp_flags=(\S+) node=(-?\d+) accounted=(true|false)\n?"
    )
    return {
        KMALLOC: re.compile(object_alloc.replace("{name}", "()")),
        KMEM_CACHE_ALLOC: re.compile(object_alloc.replace("{name}", r"(?: name=(\S+))?")),
        KFREE: re.compile(plugin + r"call_site=(.+?) ptr=" + pointer + r"\n?"),
        KMEM_CACHE_FREE: re.compile(plugin + r"call_site=(.+?) ptr=" + pointer + r" name=(.+?)\n?"),
        MM_PAGE_ALLOC: re.compile(
            plugin + r"page=" + pointer + r" pfn=0x([0-9a-f]+) order=(\d+) "
            r"migratetype=(-?\d+) gfp_flags=(\S+)\n?"
        ),
        MM_PAGE_FREE: re.compile(
            plugin + r"page=" + pointer + r" pfn=0x([0-9a-f]+) order=(\d+)\n?"
        ),
        MM_PAGE_FREE_BATCHED: re.compile(
            plugin + r"page=" + pointer + r" pfn=0x([0-9a-f]+) order=0\n?"
        ),
    }


FIELDS = _field_patterns(r"([0-9a-f]{16})", "")  # tracefs: %p hashed or not, 16 digits
# trace-cmd report: the event name padded with spaces, the kmem plugin's "(function+off) "
# before call_site=, and %p as libtraceevent prints it: 0x… or (nil)
TRACE_CMD_FIELDS = _field_patterns(r"(0x[0-9a-f]+|\(nil\))", r" *(?:\([^)]*\) )?")
_OBJECT_ALLOC_FORMAT = (
    "call_site=%pS ptr=%p bytes_req=%zu bytes_alloc=%zu gfp_flags=%s node=%d accounted=%s"
)
FORMATS = {
    KMALLOC: _OBJECT_ALLOC_FORMAT,
    KMEM_CACHE_ALLOC: _OBJECT_ALLOC_FORMAT,
    KFREE: "call_site=%pS ptr=%p",
    KMEM_CACHE_FREE: "call_site=%pS ptr=%p name=%s",
    MM_PAGE_ALLOC: "page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s",
    MM_PAGE_FREE: "page=%p pfn=0x%lx order=%d",
    MM_PAGE_FREE_BATCHED: "page=%p pfn=0x%lx order=0",
}

# print_func_help_header_irq() (kernel/trace/trace.c L4270) without the TGID column.
HEADER_LEGEND = """\
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""


class TraceFormatError(ValueError):
    """A trace that is not what tracefs prints; says which file and line, and why."""

    def __init__(self, source: str, line: int, problem: str):
        super().__init__(f"{source}, line {line}: {problem}")
        self.source = source
        self.line = line
        self.problem = problem


# === the events ==================================================================================
@dataclass(frozen=True, slots=True)
class TraceEvent:
    """What every trace line says: the task, its CPU, the flag column, and when (ns since boot).

    ``flags`` is the five characters of trace_print_lat_fmt() ("d.h1." …), "" when the trace
    was recorded without the irq-info option.
    """

    comm: str
    pid: int
    cpu: int
    flags: str
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class Kmalloc(TraceEvent):
    """kmalloc() returned ``ptr`` (0: NULL) for ``bytes_req`` bytes, ``bytes_alloc`` in fact."""

    call_site: str
    ptr: int
    bytes_req: int
    bytes_alloc: int
    gfp: int
    node: int
    accounted: bool


@dataclass(frozen=True, slots=True)
class KmemCacheAlloc(TraceEvent):
    """kmem_cache_alloc() returned ``ptr`` from cache ``name`` (``bytes_req``: its object size).

    ``name`` is "" when neither the line (kernels after 6.1), nor the object's
    kmem_cache_free, nor the object's sizes tell it.
    """

    call_site: str
    ptr: int
    bytes_req: int
    bytes_alloc: int
    gfp: int
    node: int
    accounted: bool
    name: str


@dataclass(frozen=True, slots=True)
class Kfree(TraceEvent):
    """kfree(ptr) was called (before its NULL check: ``ptr`` may be 0)."""

    call_site: str
    ptr: int


@dataclass(frozen=True, slots=True)
class KmemCacheFree(TraceEvent):
    """kmem_cache_free() gave ``ptr`` back to cache ``name``."""

    call_site: str
    ptr: int
    name: str


@dataclass(frozen=True, slots=True)
class MmPageAlloc(TraceEvent):
    """__alloc_pages() returned 2^order pages at ``pfn`` (``page``: its struct page pointer)."""

    page: int
    pfn: int
    order: int
    migratetype: int
    gfp: int

    @property
    def failed(self) -> bool:
        """True when the allocation returned NULL (page=NULL, pfn=0 in the line)."""
        return self.page == 0


@dataclass(frozen=True, slots=True)
class MmPageFree(TraceEvent):
    """2^order pages at ``pfn`` went back to the page allocator (free_pages_prepare())."""

    page: int
    pfn: int
    order: int


@dataclass(frozen=True, slots=True)
class MmPageFreeBatched(TraceEvent):
    """One order-0 page of a list freed together (free_unref_page_list())."""

    page: int
    pfn: int

    @property
    def order(self) -> int:
        """Always 0: only single pages are freed in batches."""
        return 0


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """The header of the trace file: the tracer, the ring buffer's counts, the CPUs (#P).

    ``entries_written - entries_in_buffer`` events were overwritten before the first line:
    the reason some frees in a trace have no allocation.
    """

    tracer: str
    entries_in_buffer: int
    entries_written: int
    cpus: int

    @property
    def overwritten(self) -> int:
        """Events recorded but overwritten in the ring buffer before it was read."""
        return self.entries_written - self.entries_in_buffer


@dataclass(frozen=True, slots=True)
class LostEvents:
    """A ``CPU:%d [LOST %lu EVENTS]`` line: ``count`` events (None: unknown) missing there.

    ``before_event`` is the index in the trace of the first event after the gap.
    """

    cpu: int
    count: int | None
    before_event: int


@dataclass(frozen=True, slots=True)
class BufferStarted:
    """A ``##### CPU %u buffer started ####`` line: CPU ``cpu``'s events begin there.

    The trace file prints it when the ring buffer wrapped (events were overwritten) and a CPU's
    first remaining event comes after other CPUs' events; ``before_event`` is the index in the
    trace of the first event after the line.
    """

    cpu: int
    before_event: int


# === loading ======================================================================================
class Trace(Sequence):
    """The events of a loaded trace, oldest first; ``trace[i]`` builds event ``i``.

    Events are kept in typed arrays, about 60 bytes each (``nbytes``), and built as
    dataclasses only when read.  ``counts`` has the events per tracepoint, ``skipped`` the
    lines not loaded (other events by name, stack-trace lines, blank lines), ``lost`` the
    ring buffer's gaps, ``buffer_started`` where each CPU's events start after the buffer
    wrapped, ``cache_names`` how the name of each kmem_cache_alloc was found.
    """

    def __init__(self, source: str, header: TraceHeader | None):
        self.source = source
        self.header = header
        self.skipped: dict[str, int] = {}
        self.lost: list[LostEvents] = []
        self.buffer_started: list[BufferStarted] = []
        self.trace_cmd_cpus: int | None = None  # trace-cmd report's "cpus=N"
        self.cache_names: dict[str, int] = {}
        self.contexts: list[tuple[str, int, int, str]] = []  # (comm, pid, cpu, flags)
        self.call_sites: list[str] = []
        self.names: list[str] = []
        self.kind = array("B")
        self.context = array("I")  # index into contexts
        self.timestamp_ns = array("q")
        self.call_site = array("I")  # index into call_sites (0 for page events)
        self.pointer = array("Q")  # ptr=, or page= for page events
        self.bytes_req_or_pfn = array("q")
        self.bytes_alloc_or_order = array("q")
        self.gfp = array("I")
        self.node_or_migratetype = array("i")
        self.name = array("i")  # index into names, -1 when unknown or not a cache event
        self.accounted = array("B")

    @property
    def counts(self) -> dict[str, int]:
        """How many events of each tracepoint the trace has."""
        kinds = self.kind.tobytes()
        return {name: kinds.count(kind) for kind, name in enumerate(TRACEPOINTS)}

    @property
    def nbytes(self) -> int:
        """Bytes the event columns take (the tables of names and contexts not counted)."""
        columns = (
            self.kind,
            self.context,
            self.timestamp_ns,
            self.call_site,
            self.pointer,
            self.bytes_req_or_pfn,
            self.bytes_alloc_or_order,
            self.gfp,
            self.node_or_migratetype,
            self.name,
            self.accounted,
        )
        return sum(column.itemsize * len(column) for column in columns)

    def __len__(self) -> int:
        return len(self.kind)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"trace index {index} out of range (0..{len(self) - 1})")
        kind = self.kind[index]
        common = (*self.contexts[self.context[index]], self.timestamp_ns[index])
        pointer = self.pointer[index]
        first, second = self.bytes_req_or_pfn[index], self.bytes_alloc_or_order[index]
        if kind == MM_PAGE_ALLOC:
            migratetype = self.node_or_migratetype[index]
            return MmPageAlloc(*common, pointer, first, second, migratetype, self.gfp[index])
        if kind == MM_PAGE_FREE:
            return MmPageFree(*common, pointer, first, second)
        if kind == MM_PAGE_FREE_BATCHED:
            return MmPageFreeBatched(*common, pointer, first)
        call_site = self.call_sites[self.call_site[index]]
        name = self.names[self.name[index]] if self.name[index] >= 0 else ""
        if kind == KFREE:
            return Kfree(*common, call_site, pointer)
        if kind == KMEM_CACHE_FREE:
            return KmemCacheFree(*common, call_site, pointer, name)
        details = (first, second, self.gfp[index], self.node_or_migratetype[index])
        if kind == KMALLOC:
            return Kmalloc(*common, call_site, pointer, *details, bool(self.accounted[index]))
        return KmemCacheAlloc(
            *common, call_site, pointer, *details, bool(self.accounted[index]), name
        )

    def replay(self, kernel: Kernel) -> ReplayReport:
        """Play these events on ``kernel``; what happened, as a ReplayReport (see replay())."""
        return replay(self, kernel)

    def __repr__(self) -> str:
        return f"<Trace {self.source}: {len(self):,} events>"

    def __str__(self) -> str:
        lines = [f"{self.source}: {len(self):,} kmem events"]
        lines += [f"  {name:<22}{count:>12,}" for name, count in self.counts.items() if count]
        if self.header is not None:
            header = self.header
            lines.append(
                f"header: tracer {header.tracer}, {header.cpus} CPUs, "
                f"{header.entries_in_buffer:,} entries in the buffer of "
                f"{header.entries_written:,} written ({header.overwritten:,} overwritten)"
            )
        elif self.trace_cmd_cpus is not None:
            lines.append(f"trace-cmd report of {self.trace_cmd_cpus} CPUs")
        else:
            lines.append("no header (trace_pipe output)")
        if self.skipped:
            skipped = ", ".join(f"{name} {count:,}" for name, count in self.skipped.items())
            lines.append(f"lines skipped: {skipped}")
        if self.lost:
            known = sum(gap.count or 0 for gap in self.lost)
            lines.append(f"ring buffer gaps: {len(self.lost)} ({known:,} events lost)")
        for started in self.buffer_started:
            lines.append(
                f"CPU {started.cpu}'s events start at event {started.before_event:,} "
                "(the ring buffer had wrapped)"
            )
        if any(self.cache_names.values()):
            found = ", ".join(f"{how} {count:,}" for how, count in self.cache_names.items())
            lines.append(f"kmem_cache_alloc cache names: {found}")
        return "\n".join(lines)


def load(source: str | os.PathLike | TextIO | Iterable[str]) -> Trace:
    """The trace in ``source``, read line by line; TraceFormatError if it is not a 6.1 trace.

    ``source`` is a path (``.gz`` and ``.xz`` are decompressed), the text itself (a str with a
    newline),
    an open text file, or any iterable of lines.
    """
    if isinstance(source, bytes | bytearray):
        raise TypeError("load() reads text: decode the bytes first (the trace file is ASCII)")
    if isinstance(source, str) and "\n" in source:
        if _columns is not None:
            data = source.encode("utf-8")
            blocks = (data[at : at + BLOCK] for at in range(0, len(data), BLOCK))
            trace = _read_columns(blocks, "<string>")
            if trace is not None:
                return trace
        return _read(io.StringIO(source), "<string>")
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        opener = {".gz": gzip.open, ".xz": lzma.open}.get(path.suffix, open)
        if _columns is not None:
            with opener(path, "rb") as file:
                trace = _read_columns(iter(lambda: file.read(BLOCK), b""), path.name)
            if trace is not None:
                return trace
        with opener(path, "rt", encoding="utf-8", errors="replace") as file:
            return _read(file, path.name)
    if isinstance(source, Iterable):
        return _read(source, getattr(source, "name", None) or "<lines>")
    raise TypeError(f"load() takes a path, the text, or an open file, not {source!r}")


def _read_columns(blocks: Iterable[bytes], source: str) -> Trace | None:
    """The trace in ``blocks`` of bytes read with numpy (kmviz/_trace_columns.py), or None.

    None when _LineReader must read it all: bytes that are not ASCII, carriage returns
    (text files split lines there too), a trace-cmd report (its first line "cpus=N").
    """
    trace = _columns.read_columns(blocks, source)
    if trace is not None:
        _columns.resolve_cache_names(trace)
    return trace


def _read(lines: Iterable[str], source: str) -> Trace:
    """Parse every line of one trace into a Trace (the loop load() runs)."""
    reader = _LineReader(Trace(source, None))
    number, line = 0, "\n"
    for number, line in enumerate(lines, 1):
        reader.line(line, number)
    reader.end(number, line)
    _resolve_cache_names(reader.trace)
    return reader.trace


class _LineReader:
    """The reference parser: a trace one line at a time, into ``trace``'s columns.

    load() runs it on every line; the vectorised loader (kmviz/_trace_columns.py) runs it on
    the lines it does not take itself, so that those give the same events and errors.
    """

    def __init__(self, trace: Trace):
        self.trace = trace
        self.odd = _HeaderAndOddLines(trace)
        self.contexts: dict[str, int] = {}
        self.call_sites: dict[str, int] = {"": 0}
        self.names: dict[str, int] = {"": -1}
        self.gfp_masks: dict[str, int] = {}
        self.fields_of = FIELDS

    def line(self, line: str, number: int) -> None:
        """Parse line ``number``: an event into the columns, or the header, a gap, an error."""
        trace, reader = self.trace, self.odd
        source = trace.source
        match = EVENT_LINE.match(line)
        if match is None:
            reader.other_line(line, number)
            if trace.trace_cmd_cpus is not None:
                self.fields_of = TRACE_CMD_FIELDS
            return
        if not reader.entries:
            reader.first_event(number)
        reader.entries += 1
        context, seconds, microseconds, event = match.group(1, 6, 7, 8)
        kind = KIND_OF.get(event)
        if kind is None:
            reader.skip(event)
            return
        fields = self.fields_of[kind].fullmatch(line, match.end())
        if fields is None:
            wrong = _wrong_field(kind, line[match.end() :].rstrip("\n"))
            raise TraceFormatError(
                source,
                number,
                f"not the 6.1 format of {event} ({FORMATS[kind]}, include/trace/events/"
                f"kmem.h){': ' + wrong if wrong else ''}: {_shorten(line)}",
            )
        try:
            self._append(trace, kind, context, seconds + microseconds, fields.groups(), number)
        except OverflowError:  # a column's C type (array typecode) cannot hold the number
            raise TraceFormatError(
                source,
                number,
                f"a number too large for {event} ({FORMATS[kind]}, include/trace/events/"
                f"kmem.h): {_shorten(line)}",
            ) from None

    def _append(self, trace: Trace, kind: int, context: str, usecs: str, values, number: int):
        """Put one event's fields (``values``, its regular expression's groups) in the columns."""
        context_index = self.contexts.get(context)
        if context_index is None:
            context_index = self.contexts[context] = _new_context(trace, context)
        trace.kind.append(kind)
        trace.context.append(context_index)
        trace.timestamp_ns.append(int(usecs) * 1000)
        if kind <= KMEM_CACHE_FREE:  # an object event: call_site, ptr first
            site = self.call_sites.get(values[0])
            if site is None:
                site = self.call_sites[values[0]] = len(self.call_sites)
            trace.call_site.append(site)
            trace.pointer.append(int(values[1], 16) if values[1][0] != "(" else 0)  # "(nil)"
            if kind in (KFREE, KMEM_CACHE_FREE):
                name = values[2] if kind == KMEM_CACHE_FREE else ""
                gfp = first = second = node = accounted = 0
            else:  # kmalloc, kmem_cache_alloc
                name = values[2] or ""
                gfp = self._gfp(values[5], number)
                first, second, node = int(values[3]), int(values[4]), int(values[6])
                accounted = values[7] == "true"
            name_index = self.names.get(name)
            if name_index is None:
                name_index = self.names[name] = len(self.names) - 1
            trace.name.append(name_index)
        else:  # a page event: page, pfn first
            trace.call_site.append(0)
            trace.pointer.append(int(values[0], 16) if values[0][0] != "(" else 0)
            first, accounted = int(values[1], 16), 0
            trace.name.append(-1)
            if kind == MM_PAGE_ALLOC:
                gfp, second, node = self._gfp(values[4], number), int(values[2]), int(values[3])
            else:
                gfp = node = 0
                second = int(values[2]) if kind == MM_PAGE_FREE else 0
        trace.bytes_req_or_pfn.append(first)
        trace.bytes_alloc_or_order.append(second)
        trace.gfp.append(gfp)
        trace.node_or_migratetype.append(node)
        trace.accounted.append(accounted)

    def _gfp(self, text: str, number: int) -> int:
        """The mask show_gfp_flags() printed as ``text`` (parsed once per text)."""
        gfp = self.gfp_masks.get(text)
        if gfp is None:
            gfp = _gfp(text, self.gfp_masks, self.trace.source, number)
        return gfp

    def end(self, number: int, line: str) -> None:
        """After the last line (``number``, ``line``): the end checks, the tables of strings."""
        self.odd.end(number, line)
        self.trace.call_sites = list(self.call_sites)
        self.trace.names = list(self.names)[1:]


def _new_context(trace: Trace, context: str) -> int:
    """Add a context seen for the first time to ``trace.contexts``; its index."""
    comm, pid, cpu, flags = CONTEXT.fullmatch(context).groups()
    trace.contexts.append((comm.lstrip(), int(pid), int(cpu), flags or ""))
    return len(trace.contexts) - 1


class _HeaderAndOddLines:
    """What _read() needs besides event lines: the header, skipped lines, gaps, the checks."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.tracer: str | None = None
        self.entries = 0  # lines of entries (events or not) so far
        self.events_elsewhere = 0  # events before this line not in trace's columns (yet)

    def events_before(self) -> int:
        """How many events the trace has before the line being read."""
        return len(self.trace.kind) + self.events_elsewhere

    def skip(self, what: str) -> None:
        """Count a line that is legitimately there but not loaded."""
        skipped = self.trace.skipped
        skipped[what] = skipped.get(what, 0) + 1

    def other_line(self, line: str, number: int) -> None:
        """A line that is not a kmem event: header, gap, stack line, other entry, or an error."""
        trace = self.trace
        if (started := BUFFER_STARTED_LINE.fullmatch(line)) is not None:
            trace.buffer_started.append(BufferStarted(int(started.group(1)), self.events_before()))
        elif line.startswith("#"):
            if self.entries:
                raise TraceFormatError(trace.source, number, "a header line after the events")
            self._header_line(line, number)
        elif line.startswith(STACK_LINE_PREFIX):
            self.skip("stack trace line")
        elif (lost := LOST_LINE.fullmatch(line)) is not None:
            number_lost = lost.group(2) or lost.group(3)
            count = int(number_lost) if number_lost else None
            trace.lost.append(LostEvents(int(lost.group(1)), count, self.events_before()))
        elif not line.strip():
            self.skip("blank line")
        elif number == 1 and (cpus := TRACE_CMD_LINE.fullmatch(line)) is not None:
            trace.trace_cmd_cpus = int(cpus.group(1))
        elif ENTRY_LINE.match(line) is not None:
            if not self.entries:
                self.first_event(number)
            self.entries += 1
            self.skip("entries that are not events")
        else:
            raise TraceFormatError(trace.source, number, _not_a_trace_line(line, number))

    def _header_line(self, line: str, number: int) -> None:
        """One '#' line before the events: the tracer, the counts, or the column legend."""
        source = self.trace.source
        if self.tracer is None:
            matched = TRACER_LINE.fullmatch(line)
            if matched is None:
                raise TraceFormatError(
                    source,
                    number,
                    "expected '# tracer: <name>', the first line of tracefs's trace file "
                    f"(s_show(), kernel/trace/trace.c): {_shorten(line)}",
                )
            self.tracer = matched.group(1)
        elif TRACER_LINE.fullmatch(line):
            raise TraceFormatError(source, number, "a second '# tracer:' line: two traces in one?")
        elif (entries := ENTRIES_LINE.fullmatch(line)) is not None:
            in_buffer, written, cpus = (int(value) for value in entries.groups())
            self.trace.header = TraceHeader(self.tracer, in_buffer, written, cpus)

    def first_event(self, number: int) -> None:
        """The header, if there is one, must be complete when the events start."""
        if self.tracer is not None and self.trace.header is None:
            raise TraceFormatError(
                self.trace.source,
                number,
                "the header has no '# entries-in-buffer/entries-written' line",
            )

    def end(self, number: int, line: str) -> None:
        """The checks at the end: not empty, not cut off, as many entries as announced."""
        source, header = self.trace.source, self.trace.header
        if number == 0:
            raise TraceFormatError(source, 1, "the trace is empty (no header, no events)")
        if not line.endswith("\n"):
            raise TraceFormatError(
                source, number, "the last line is cut off (no newline at its end): truncated?"
            )
        if self.tracer is not None and header is None:
            self.first_event(number + 1)
        if header is not None and self.entries != header.entries_in_buffer:
            cut = "truncated" if self.entries < header.entries_in_buffer else "edited"
            raise TraceFormatError(
                source,
                number,
                f"the header announces {header.entries_in_buffer:,} entries but the file has "
                f"{self.entries:,}: {cut}, or read while tracing was on (echo 0 > tracing_on "
                "first); without the header lines it loads as trace_pipe output",
            )


# What each field's value must be, as TP_printk() prints it: (pattern, in words)
FIELD_VALUES = {
    "call_site": (r".+", "%pS, a symbol"),
    "ptr": (r"[0-9a-f]{16}|0x[0-9a-f]+|\(nil\)", "%p, 16 hex digits"),
    "page": (r"[0-9a-f]{16}|0x[0-9a-f]+|\(nil\)", "%p, 16 hex digits"),
    "name": (r".+", "%s, the cache's name"),
    "bytes_req": (r"\d+", "%zu, a number"),
    "bytes_alloc": (r"\d+", "%zu, a number"),
    "gfp_flags": (r"\S+", "%s, show_gfp_flags()"),
    "node": (r"-?\d+", "%d, a number"),
    "accounted": (r"true|false", "%s, true or false"),
    "pfn": (r"0x[0-9a-f]+", "0x%lx, hex digits"),
    "order": (r"\d+", "%d, a number"),
    "migratetype": (r"-?\d+", "%d, a number"),
}


def _wrong_field(kind: int, text: str) -> str | None:
    """Which field of ``text`` (an event's fields) breaks its 6.1 format, in words; None if
    each field alone looks right.

    The fields are read in FORMATS' order, each value running to the next key of a later
    field: the first key missing, or the first value its FIELD_VALUES pattern refuses, is named.
    """
    keys = [field.split("=")[0] for field in FORMATS[kind].split(" ")]
    text = re.sub(r"^ *\([^)]*\) ", "", text)  # trace-cmd's "(function+off) " before call_site
    if kind == KMEM_CACHE_ALLOC and " name=" in text:  # the cache's name, printed after 6.1
        keys.insert(2, "name")
    at = 0
    for position, key in enumerate(keys):
        prefix = f" {key}=" if position else f"{key}="
        if not text.startswith(prefix, at):
            found = text[at:].split("=")[0].strip() or "the end of the line"
            return f"field {key}= is missing (found {found!r})"
        start = at + len(prefix)
        later = [text.find(f" {later}=", start) for later in keys[position + 1 :]]
        at = min([end for end in later if end >= 0], default=len(text))
        pattern, words = FIELD_VALUES[key]
        value = text[start:at]
        if kind == MM_PAGE_FREE_BATCHED and key == "order":
            pattern, words = "0", "0: a batch frees single pages"
        if not re.fullmatch(pattern, value):
            return f"field {key}= is {value!r}, not {words}"
    return None


def _not_a_trace_line(line: str, number: int) -> str:
    """Why ``line`` is neither an event, a header line nor one of the lines a trace may have."""
    if number == 1:
        return (
            "not an ftrace trace: expected '# tracer: <name>' (the trace file), 'cpus=<n>' "
            f"(trace-cmd report) or an event line (trace_pipe): {_shorten(line)}"
        )
    return (
        "not a line of an ftrace trace (an event needs 'comm-pid [cpu] flags seconds: "
        f"event: fields' with a nanosecond trace_clock): {_shorten(line)}"
    )


def _gfp(text: str, known: dict[str, int], source: str, number: int) -> int:
    """The mask show_gfp_flags() printed as ``text``, remembered in ``known``."""
    try:
        mask = known[text] = parse_gfp(text)
    except ValueError as error:
        raise TraceFormatError(source, number, f"gfp_flags={text}: {error}") from None
    return mask


def _shorten(line: str) -> str:
    """A line for an error message: without its newline, at most 160 characters."""
    line = line.rstrip("\n")
    return line if len(line) <= 160 else line[:157] + "..."


def _resolve_cache_names(trace: Trace) -> None:
    """Name each kmem_cache_alloc that 6.1 printed without its cache's name, where possible.

    First from the object's kmem_cache_free (same pointer, before it is allocated again),
    then from the only cache whose objects have the same bytes_req and bytes_alloc.
    """
    kinds, pointers, name_column = trace.kind, trace.pointer, trace.name
    unnamed: dict[int, int] = {}  # pointer -> index of its unnamed kmem_cache_alloc
    found = {"printed": 0, "from kmem_cache_free": 0, "by size": 0, "unknown": 0}
    for index, kind in enumerate(kinds):
        if kind == KMEM_CACHE_ALLOC:
            if name_column[index] >= 0:
                found["printed"] += 1
            else:
                unnamed[pointers[index]] = index
        elif kind == KMEM_CACHE_FREE:
            alloc = unnamed.pop(pointers[index], None)
            if alloc is not None:
                name_column[alloc] = name_column[index]
                found["from kmem_cache_free"] += 1
        elif kind == KFREE:
            unnamed.pop(pointers[index], None)
    object_sizes, slot_sizes = trace.bytes_req_or_pfn, trace.bytes_alloc_or_order
    by_size: dict[tuple[int, int], set[int]] = {}
    unresolved = []
    for index, kind in enumerate(kinds):
        if kind == KMEM_CACHE_ALLOC:
            key = (object_sizes[index], slot_sizes[index])
            if name_column[index] >= 0:
                by_size.setdefault(key, set()).add(name_column[index])
            else:
                unresolved.append((index, key))
    for index, key in unresolved:
        candidates = by_size.get(key, ())
        if len(candidates) == 1:
            name_column[index] = next(iter(candidates))
            found["by size"] += 1
        else:
            found["unknown"] += 1
    trace.cache_names = found


# === replay =======================================================================================
@dataclass
class ReplayReport:
    """What replaying a trace did to a simulated machine, counted.

    Allocations and frees are kernel calls made; the other counts are events that could
    not be played as they were, each for the reason its name gives.  ``caches`` maps each
    cache the replay used to (object size, slot size in the trace, slot size simulated).
    ``history_start`` and ``history_end`` delimit the replay in ``kernel.history`` (for
    ``Player.go()``).  ``stopped`` is the panic that ended a replay early (then
    ``complete`` is False and ``events_replayed`` says how far it got).
    """

    events: int = 0
    events_replayed: int = 0
    allocations: int = 0
    frees: int = 0
    null_frees: int = 0
    failed_in_trace: int = 0
    failed_in_simulation: int = 0
    frees_of_failed: int = 0
    frees_without_alloc: int = 0
    allocated_again_without_free: int = 0
    free_order_differs: int = 0
    slab_pages: int = 0
    live_objects: int = 0
    live_pages: int = 0
    caches: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    history_start: int = 0
    history_end: int = 0
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        """True when every event of the trace was played (the machine did not panic)."""
        return self.stopped is None

    def __str__(self) -> str:
        lines = [
            f"replayed {self.events_replayed:,} of {self.events:,} events: "
            f"{self.allocations:,} allocations and {self.frees:,} frees "
            f"(history events {self.history_start:,}..{self.history_end:,})"
        ]
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped}")
        reasons = (
            (self.frees_without_alloc, "frees of memory allocated before the trace started"),
            (self.failed_in_trace, "allocations that had failed on the traced machine"),
            (self.failed_in_simulation, "allocations the simulated machine could not satisfy"),
            (self.frees_of_failed, "frees of those (skipped)"),
            (self.allocated_again_without_free, "allocations at a pointer or pfn still in use "
             "(its free was not traced): the old one was freed first"),
            (self.free_order_differs, "page frees of another order than allocated (freed "
             "with the allocation's order)"),
            (self.slab_pages, "page events of the slab allocator's own pages (the simulated "
             "SLUB takes its own)"),
            (self.null_frees, "kfree(NULL)"),
            (self.live_objects, "objects still allocated at the end"),
            (self.live_pages, "page blocks still allocated at the end"),
        )  # fmt: skip
        lines += [f"  {count:>10,}  {why}" for count, why in reasons if count]
        for name, (object_size, traced, simulated) in self.caches.items():
            same = "" if traced == simulated else f" (simulated slots are {simulated})"
            lines.append(f"  cache {name}: {object_size}-byte objects in {traced}-byte slots{same}")
        return "\n".join(lines)


def replay(trace: Trace, kernel: Kernel) -> ReplayReport:
    """Play ``trace`` on ``kernel`` in its order; a ReplayReport of what was done and skipped.

    See the module's docstring for the matching rules.  A panic of the simulated kernel ends
    the replay early; the report says so.  The loop runs in C when the fast path is built
    (fastpath.replay_function()), which makes the same calls as _replay_events().
    """
    k = kernel
    report = ReplayReport(events=len(trace), history_start=len(k.history))
    in_c = fastpath.replay_function()
    slab_owned = _slab_owned(trace, in_c)
    counters = array("q", bytes(8 * (len(REPLAY_COUNTERS) + 1)))  # and the event reached
    state = _ReplayState()
    objects = None if in_c is None else in_c[1]()  # the C loop's objects and cache keys
    try:
        if in_c is None:
            _replay_events(trace, slab_owned, state, counters, k, report)
        else:
            columns = (trace.kind, trace.pointer, trace.bytes_req_or_pfn)
            columns += (trace.bytes_alloc_or_order, trace.gfp, trace.name, slab_owned)
            caches: list[KmemCache | None] = []  # in the order of objects.cache_keys()
            while True:  # C stops at each cache the trace names first (_cache_for())
                in_c[0](columns, counters, objects, caches, state.pages, state.slab_pfns,
                        _replay_calls(k))  # fmt: skip
                if counters[-1] == len(trace):
                    break
                key = objects.cache_keys()[len(caches)]
                caches.append(_cache_for(k, trace, key, report))
    except KernelPanic:
        report.stopped = (
            f"the simulated kernel panicked at event {counters[-1]:,} (traced at "
            f"{trace.timestamp_ns[counters[-1]] / 1e9:.6f}): {k.panic_message}"
        )
    for name, count in zip(REPLAY_COUNTERS, counters, strict=False):
        setattr(report, name, count)
    report.events_replayed = counters[-1]
    report.live_objects = (
        sum(1 for addr in state.objects.values() if addr)
        if objects is None
        else objects.live_objects()
    )
    report.live_pages = sum(1 for block in state.pages.values() if block is not None)
    report.history_end = len(k.history)
    return report


# ReplayReport's counts that _replay_events() keeps in its array, in the order _fastpath.c reads
REPLAY_COUNTERS = (
    "allocations",
    "frees",
    "null_frees",
    "failed_in_trace",
    "failed_in_simulation",
    "frees_of_failed",
    "frees_without_alloc",
    "allocated_again_without_free",
    "free_order_differs",
    "slab_pages",
)


@dataclass
class _ReplayState:
    """What a replay remembers between events: the trace's memory and the simulation's."""

    objects: dict[int, int] = field(default_factory=dict)  # trace pointer -> address (0: failed)
    object_caches: dict[int, KmemCache] = field(default_factory=dict)  # same, kmem_cache_alloc's
    pages: dict[int, tuple[Page, int] | None] = field(default_factory=dict)  # pfn -> block
    slab_pfns: set[int] = field(default_factory=set)  # the slab allocator's pages, left to SLUB
    caches: dict[tuple[int, int, int], KmemCache | None] = field(default_factory=dict)


def _replay_calls(k: Kernel) -> tuple:
    """The kernel calls a replay makes, looked up again after each kmem_cache_create()."""
    return (k.kmalloc, k.kfree, k.kmem_cache_alloc, k.kmem_cache_free, k.alloc_pages,
            k.free_pages_block)  # fmt: skip


def _replay_events(
    trace: Trace, slab_owned, state: _ReplayState, counters: array, k: Kernel, report
) -> None:
    """Play every event of ``trace``, counting into ``counters`` (REPLAY_COUNTERS, then the
    event reached: the one a panic stopped at, or the trace's length).

    The reference of replay()'s loop; _fastpath.c's replay_events() does the same in C.
    """
    objects, object_caches, pages, slab_pfns = (
        state.objects, state.object_caches, state.pages, state.slab_pfns
    )  # fmt: skip
    calls = _replay_calls(k)
    kmalloc, _, cache_alloc, _, alloc_pages, _ = calls
    name_column = trace.name
    counts = dict.fromkeys(REPLAY_COUNTERS, 0)  # kept in a dict meanwhile: quicker than the array
    rows = zip(  # one tuple per event: the columns as Python lists are quick to walk
        trace.kind.tolist(),
        trace.pointer.tolist(),
        trace.bytes_req_or_pfn.tolist(),  # bytes_req, or pfn
        trace.bytes_alloc_or_order.tolist(),  # bytes_alloc, or order
        trace.gfp.tolist(),
        strict=True,
    )
    index = 0
    try:
        for index, (kind, pointer, first, second, gfp) in enumerate(rows):
            if kind in (KFREE, KMEM_CACHE_FREE):
                addr = objects.pop(pointer, None)
                if addr:
                    _free_object(calls, addr, object_caches.pop(pointer, None))
                    counts["frees"] += 1
                elif addr is None:
                    if pointer == 0 and kind == KFREE:
                        calls[1](0)  # kfree(NULL): traced before its NULL check, as here
                        counts["null_frees"] += 1
                    else:
                        counts["frees_without_alloc"] += 1
                else:
                    counts["frees_of_failed"] += 1
            elif kind in (KMALLOC, KMEM_CACHE_ALLOC):
                if pointer == 0:
                    counts["failed_in_trace"] += 1
                    continue
                if pointer in objects:
                    counts["allocated_again_without_free"] += 1
                    _free_object(calls, objects.pop(pointer), object_caches.pop(pointer, None))
                if kind == KMALLOC:
                    addr = kmalloc(first, gfp)
                else:
                    key = (name_column[index], first, second)
                    cache = state.caches.get(key)
                    if cache is None and key not in state.caches:
                        cache = state.caches[key] = _cache_for(k, trace, key, report)
                        calls = _replay_calls(k)  # a debugged cache changes k.kfree
                        kmalloc, _, cache_alloc, _, alloc_pages, _ = calls
                    addr = cache_alloc(cache, gfp) if cache is not None else 0
                    if addr:
                        object_caches[pointer] = cache
                objects[pointer] = addr
                counts["allocations" if addr else "failed_in_simulation"] += 1
            elif kind == MM_PAGE_ALLOC:
                pfn, order = first, second
                if pointer == 0:
                    counts["failed_in_trace"] += 1
                elif slab_owned[index]:
                    slab_pfns.add(pfn)
                    counts["slab_pages"] += 1
                else:
                    if pfn in pages:
                        counts["allocated_again_without_free"] += 1
                        _free_block(calls, pages.pop(pfn))
                    page = alloc_pages(gfp, order)
                    pages[pfn] = (page, order) if page is not None else None
                    counts["failed_in_simulation" if page is None else "allocations"] += 1
            else:  # mm_page_free, mm_page_free_batched
                pfn, order = first, second
                if pfn in pages:
                    block = pages.pop(pfn)
                    if block is None:
                        counts["frees_of_failed"] += 1
                        continue
                    if block[1] != order:
                        counts["free_order_differs"] += 1
                    _free_block(calls, block)
                    counts["frees"] += 1
                elif pfn in slab_pfns:
                    slab_pfns.discard(pfn)
                    counts["slab_pages"] += 1
                else:
                    counts["frees_without_alloc"] += 1
        index = len(trace)
    finally:
        counters[-1] = index
        for slot, name in enumerate(REPLAY_COUNTERS):
            counters[slot] = counts[name]


def _free_object(calls: tuple, addr: int, cache: KmemCache | None) -> None:
    """Free a replayed object: kmem_cache_free() to its cache, or kfree(); nothing for 0."""
    if not addr:
        return
    if cache is not None:
        calls[3](cache, addr)  # kmem_cache_free
    else:
        calls[1](addr)  # kfree


def _free_block(calls: tuple, block: tuple[Page, int] | None) -> None:
    """__free_pages() of a replayed block, with the order it was allocated with."""
    if block is not None:
        calls[5](*block)  # free_pages_block


def _cache_for(k: Kernel, trace: Trace, key: tuple[int, int, int], report: ReplayReport):
    """The simulated cache for objects named and sized ``key``: the kernel's, or a new one.

    A new cache gets the first alignment (none, SLAB_HWCACHE_ALIGN, 8 … 4096 bytes) that makes
    SLUB's slot size the one the trace shows; if none does, the plain one.
    """
    name_index, object_size, slot_size = key
    name = trace.names[name_index] if name_index >= 0 else f"unnamed-{object_size}-{slot_size}"
    for cache in k.caches:
        if cache.name == name and cache.object_size == object_size:
            report.caches[name] = (object_size, slot_size, cache.size)
            return cache
    choices = [(0, 0), (0, SLAB_HWCACHE_ALIGN), *((1 << shift, 0) for shift in range(3, 13))]
    align, flags = next(
        (
            (align, flags)
            for align, flags in choices
            if 0 < object_size <= slot_size
            and slab_geometry(object_size, align, flags, k.cpus).size == slot_size
        ),
        (0, 0),
    )
    cache = k.kmem_cache_create(name, object_size, align, flags)
    if cache is not None:
        report.caches[name] = (object_size, slot_size, cache.size)
    return cache


def _slab_owned(trace: Trace, in_c: tuple | None) -> bytearray:
    """_slab_page_allocs(trace) in C (``in_c``: fastpath.replay_function()), with numpy, or
    in Python: the same bytes."""
    if in_c is None:
        return _slab_page_allocs(trace) if _columns is None else _columns.slab_page_allocs(trace)
    streams: dict[tuple[int, int], int] = {}  # (pid, cpu) -> its number
    stream_of = array("q", [streams.setdefault((pid, cpu), len(streams))
                            for _, pid, cpu, _ in trace.contexts])  # fmt: skip
    return in_c[2](
        trace.kind, trace.pointer, trace.gfp, trace.bytes_alloc_or_order, trace.context,
        stream_of, __GFP_NOWARN | __GFP_NORETRY, KMALLOC_MAX_CACHE_SIZE,
    )  # fmt: skip


def _slab_page_allocs(trace: Trace) -> bytearray:
    """1 for each mm_page_alloc that the slab allocator made for the object allocated next.

    The object's kmalloc or kmem_cache_alloc follows on the same CPU in the same task, and
    the pages are either a slab, allocated by allocate_slab() (mm/slub.c L1946) with
    __GFP_NOWARN|__GFP_NORETRY or, after that try failed (page=NULL), with the cache's own
    flags; or a large kmalloc's (above KMALLOC_MAX_CACHE_SIZE), from __kmalloc_large_node()
    with ``bytes_alloc`` equal to PAGE_SIZE << order.
    """
    kinds, pointers, context_column, gfps = trace.kind, trace.pointer, trace.context, trace.gfp
    alloc_or_order = trace.bytes_alloc_or_order  # bytes_alloc of objects, order of pages
    streams = [(pid, cpu) for _, pid, cpu, _ in trace.contexts]
    owned = bytearray(len(kinds))
    slab_try = __GFP_NOWARN | __GFP_NORETRY
    failed_try: set[tuple[int, int]] = set()  # streams whose last event was a failed alloc
    waiting: dict[tuple[int, int], tuple[int, bool]] = {}  # stream -> (page alloc, slab-like)
    for index, kind in enumerate(kinds):
        stream = streams[context_column[index]]
        page_alloc = waiting.pop(stream, None)
        if page_alloc is not None and kind in (KMALLOC, KMEM_CACHE_ALLOC):
            alloc, slab_like = page_alloc
            bytes_alloc = alloc_or_order[index]
            large = (
                kind == KMALLOC
                and bytes_alloc > KMALLOC_MAX_CACHE_SIZE
                and bytes_alloc == PAGE_SIZE << alloc_or_order[alloc]
            )
            if slab_like or large:
                owned[alloc] = 1
        if kind == MM_PAGE_ALLOC and pointers[index] == 0:
            failed_try.add(stream)
            continue
        if kind == MM_PAGE_ALLOC:
            slab_like = stream in failed_try or gfps[index] & slab_try == slab_try
            waiting[stream] = (index, slab_like)
        failed_try.discard(stream)
    return owned


# === export =======================================================================================
def export(
    kernel: Kernel,
    file_or_path: str | os.PathLike | TextIO | None = None,
    *,
    start: int | None = None,
    hash_pointers: bool = False,
) -> str | None:
    """Write ``kernel.history`` from ``start`` as a 6.1 kmem trace; the text if no file is given.

    ``start`` is a position in the history (default: where boot finished).  Pointers print as
    real addresses (tracefs's ``nohash-ptr``), or hashed as 6.1 prints them by default.
    """
    if start is None:
        start = _boot_end(kernel.history)
    if file_or_path is None:
        body = io.StringIO()
        entries = _write_events(kernel, start, hash_pointers, body)
        return _header(kernel, entries) + body.getvalue()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as body:
        header = _header(kernel, _write_events(kernel, start, hash_pointers, body))
        body.seek(0)
        if isinstance(file_or_path, str | os.PathLike):
            with open(file_or_path, "w", encoding="utf-8") as out:
                out.write(header)
                shutil.copyfileobj(body, out)
        else:
            file_or_path.write(header)
            shutil.copyfileobj(body, file_or_path)
    return None


def _header(kernel: Kernel, entries: int) -> str:
    """The header s_show() prints above ``entries`` events of a nop tracer on ``kernel``."""
    return (
        "# tracer: nop\n#\n"
        f"# entries-in-buffer/entries-written: {entries}/{entries}   #P:{kernel.cpus}\n"
        + HEADER_LEGEND
    )


def _write_events(kernel: Kernel, start: int, hash_pointers: bool, out: TextIO) -> int:
    """Write the event lines of export() to ``out``; how many."""
    entries = 0
    for line in _trace_lines(kernel, start, hash_pointers):
        out.write(line)
        entries += 1
    return entries


def _boot_end(history) -> int:
    """The position after BootStageReached("running"), or 0 for a machine still booting."""
    for position, event in enumerate(history):
        if isinstance(event, BootStageReached) and event.stage == "running":
            return position + 1
    return 0


def _exported(event) -> bool:
    """Whether ``event`` is one that 6.1 would have traced with one of the kmem events.

    A failed allocation is traced only once __alloc_pages() got past its checks of the
    order and the zone modifiers (mm/page_alloc.c L5634, gfp_zone()'s VM_BUG_ON).
    """
    cls = event.__class__
    if cls is AllocationFailed:
        if not 0 <= event.order < MAX_ORDER:
            return False
        try:
            gfp_zone(event.gfp)
        except BadGfpZone:
            return False
        return True
    return cls in (
        ObjectAllocated,
        ObjectFreed,
        PagesAllocated,
        PagesFreed,
        PagesAllocatedZoneLocked,
        PcpPagesDrained,
    )


def _trace_lines(kernel: Kernel, start: int, hash_pointers: bool) -> Iterator[str]:
    """The event lines of export(), oldest first.

    A slab record stands for one kmalloc/kfree/kmem_cache_* event: its line is written from
    the record and its table entry (_slab_text_parts()), without building the event object
    (the same text: tests/real/test_trace_export.py).
    """
    history = kernel.history
    if hash_pointers:
        seed = kernel.seed

        def pointer(value: int) -> str:
            return hashed_pointer(value, seed)
    else:

        def pointer(value: int) -> str:
            return f"{value:016x}"

    accounted_caches = {cache.name for cache in kernel.caches if cache.flags & SLAB_ACCOUNT}
    context = f"{DEFAULT_COMM:>16}-{DEFAULT_PID:<7} [000] {_flag_column(0, False)}"
    anchor_ns, anchor_record = 0, 0  # the clock at the last logged line, and its record
    last_ns = 0
    position = 0
    slab_texts: dict[int, tuple | None] = {}  # a slab record's (desc, op) bits -> its text parts
    for record_number, record in enumerate(history.records):
        if record & 3 == KIND_SLAB:  # one object event: its line straight from the record
            position += 1
            key = ((record >> SLAB_DESC_SHIFT) << 3) | ((record >> 2) & 7)  # (desc, op)
            parts = slab_texts.get(key, False)
            if parts is False:
                parts = slab_texts[key] = _slab_text_parts(
                    history.slab_descs[key >> 3], key & 7, accounted_caches
                )
            if position <= start or parts is None:
                continue
            before, base, size, after = parts
            pfn = (record >> SLAB_PFN_SHIFT) & PFN_MASK
            slot = (record >> SLAB_SLOT_SHIFT) & SLAB_SLOT_MASK
            now_ns = max(last_ns, anchor_ns + (record_number - anchor_record) * NS_PER_RECORD)
            last_ns = now_ns
            microseconds = (now_ns + 500) // 1000  # ns2usecs() rounds
            yield (
                f"{context} {microseconds // 1_000_000:5d}.{microseconds % 1_000_000:06d}: "
                f"{before}{pointer(base + (pfn << PAGE_SHIFT) + slot * size)}{after}\n"
            )
            continue
        for event in history.expand(record):
            cls = event.__class__
            if cls is MessageLogged:  # a logged line takes its own microsecond (_printk())
                anchor_ns, anchor_record = event.timestamp_ns + NS_PER_RECORD, record_number
            elif cls is BootStageReached and event.stage == "running":
                anchor_ns, anchor_record = BOOT_DONE_NS - NS_PER_RECORD, record_number
            elif cls is ContextChanged:
                snapshot = event.context
                flags = _flag_column(snapshot.preempt_count, snapshot.irqs_disabled)
                context = f"{snapshot.comm[:15]:>16}-{snapshot.pid:<7} [000] {flags}"
            position += 1
            if position <= start or not _exported(event):
                continue
            now_ns = max(last_ns, anchor_ns + (record_number - anchor_record) * NS_PER_RECORD)
            last_ns = now_ns
            microseconds = (now_ns + 500) // 1000  # ns2usecs() rounds
            prefix = f"{context} {microseconds // 1_000_000:5d}.{microseconds % 1_000_000:06d}: "
            yield prefix + _event_text(event, pointer, accounted_caches, kernel) + "\n"


def _slab_text_parts(desc: tuple, op: int, accounted_caches: set[str]) -> tuple | None:
    """What _event_text() writes for the object event of a slab record, around its pointer.

    ``(text before the pointer, the address of slot 0 of the slab at pfn 0, the slot size,
    text after the pointer)`` for the record's (cache, requested, gfp) entry ``desc`` and
    ``op``, the event history.py's _slab_event() builds; None for a SlabFrozen (not traced).
    """
    cache, requested, gfp = desc
    if op == OP_SLAB_FROZEN:
        return None
    base = PAGE_OFFSET + cache.red_left_pad  # Slab.address() of slot 0 at pfn 0
    if op in (OP_KFREE, OP_KMEM_CACHE_FREE):
        name = f" name={cache.name}" if op == OP_KMEM_CACHE_FREE else ""
        return f"{SLAB_OPS[op]}: call_site={EXIT_SITE} ptr=", base, cache.size, name
    tracepoint = SLAB_OPS[op]
    accounted = bool(gfp & __GFP_ACCOUNT) or (
        tracepoint == "kmem_cache_alloc" and cache.name in accounted_caches
    )
    return (
        f"{tracepoint}: call_site={CALL_SITE} ptr=",
        base,
        cache.size,
        f" bytes_req={requested} bytes_alloc={cache.size} gfp_flags={show_gfp_flags(gfp)} "
        f"node=-1 accounted={'true' if accounted else 'false'}",
    )


def _event_text(event, pointer, accounted_caches: set[str], kernel: Kernel) -> str:
    """``"<event>: <TP_printk text>"`` for one exported engine event."""
    cls = event.__class__
    if cls is ObjectAllocated:
        accounted = bool(event.gfp & __GFP_ACCOUNT) or (
            event.tracepoint == "kmem_cache_alloc" and event.cache in accounted_caches
        )
        return (
            f"{event.tracepoint}: call_site={event.call_site} ptr={pointer(event.ptr)} "
            f"bytes_req={event.bytes_req} bytes_alloc={event.bytes_alloc} "
            f"gfp_flags={show_gfp_flags(event.gfp)} node=-1 "
            f"accounted={'true' if accounted else 'false'}"
        )
    if cls is ObjectFreed:
        text = f"{event.tracepoint}: call_site={event.call_site} ptr={pointer(event.ptr)}"
        return text + f" name={event.cache}" if event.tracepoint == "kmem_cache_free" else text
    if cls is PagesFreed:
        page = pointer(struct_page_address(event.pfn))
        return f"mm_page_free: page={page} pfn={event.pfn:#x} order={event.order}"
    if cls is PagesAllocatedZoneLocked:
        page = pointer(struct_page_address(event.pfn))
        return (
            f"mm_page_alloc_zone_locked: page={page} pfn={event.pfn:#x} order={event.order} "
            f"migratetype={event.migratetype} percpu_refill={int(event.percpu_refill)}"
        )
    if cls is PcpPagesDrained:
        page = pointer(struct_page_address(event.pfn))
        return (
            f"mm_page_pcpu_drain: page={page} pfn={event.pfn:#x} order={event.order} "
            f"migratetype={event.migratetype}"
        )
    if cls is PagesAllocated:
        page, pfn, migratetype = (
            pointer(struct_page_address(event.pfn)),
            event.pfn,
            event.migratetype,
        )
    else:  # AllocationFailed: page=NULL, pfn=0 (mm_page_alloc's TP_printk)
        page, pfn = NULL_POINTER, 0
        migratetype = gfp_migratetype(event.gfp) if kernel.mobility_grouping else MIGRATE_UNMOVABLE
    return (
        f"mm_page_alloc: page={page} pfn={pfn:#x} order={event.order} "
        f"migratetype={migratetype} gfp_flags={show_gfp_flags(event.gfp)}"
    )


def _flag_column(preempt_count: int, irqs_disabled: bool) -> str:
    """The five flag characters for a context, as trace_print_lat_fmt() prints them.

    tracing_gen_ctx_irq_test() (kernel/trace/trace.c L2632) records NMI, hardirq, serving a
    softirq, bottom halves off, and ``min(preempt_count & 0xff, 0xf)``; nothing needs
    rescheduling and no migration is disabled in the simulation.
    """
    nmi, hardirq = preempt_count & NMI_MASK, preempt_count & HARDIRQ_MASK
    softirq = preempt_count & SOFTIRQ_OFFSET
    bh_off = (preempt_count & SOFTIRQ_MASK) >> (SOFTIRQ_SHIFT + 1)
    irqs_off = "D" if irqs_disabled and bh_off else "d" if irqs_disabled else "b" if bh_off else "."
    if nmi:
        hardsoft = "Z" if hardirq else "z"
    elif hardirq:
        hardsoft = "H" if softirq else "h"
    else:
        hardsoft = "s" if softirq else "."
    depth = min(preempt_count & 0xFF, 0xF)
    return f"{irqs_off}.{hardsoft}{f'{depth:x}' if depth else '.'}."


if _numpy is not None:  # after everything _trace_columns.py uses from this module
    from . import _trace_columns as _columns
else:  # pragma: no cover
    _columns = None
