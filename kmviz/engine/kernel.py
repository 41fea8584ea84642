"""The simulated machine: zones of 4 KiB page frames, the page allocator's API, its log and history.

``Kernel`` owns everything: the memory map from boot, the zones and their buddy free lists,
the kernel log (``dmesg()``), the event history (``history``) and the text of the /proc
files (``cat()``).  Its methods carry the kernel's names (``alloc_pages``,
``__get_free_pages``, ``free_pages`` …) and follow what Linux 6.1 does, including what it
prints when a caller gets something wrong.

An allocation walks the *zonelist* from the highest zone the GFP mask allows down to DMA
(``get_page_from_freelist()``): a zone is tried only if its free pages stay above the *low*
watermark plus the ``lowmem_reserve`` it keeps from higher-zone requests.  If every zone is
too low, the slow path retries at the *min* watermark, which ``__GFP_HIGH`` (GFP_ATOMIC) may
undercut, and otherwise the allocation fails with a warning.  (Sleeping, reclaim and kswapd
arrive with the kernel-rules engine; here a request that does not fit simply returns NULL.)
"""

from __future__ import annotations

import copy
import functools
import operator
import random
import weakref
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from traitlets import All, Any, HasTraits, Int

from . import fastpath, procfs
from .buddy import (
    ALLOCATED,
    ANON_PAGE,
    COMPOUND,
    FILE_PAGE,
    HOLE,
    OWNER_ANON,
    OWNER_FILE,
    OWNER_NONE,
    OWNER_PAGE_TABLE,
    OWNER_SLAB,
    OWNER_VMALLOC,
    PCP,
    PCP_END,
    RESERVED,
    TAIL,
    BuddyAllocator,
    holder,
    pcp_allowed_order,
    plain_code,
)
from .cma import CmaAPI, cma_pages
from .compaction import CompactionAPI
from .constants import (
    DEBUG_OPTIONS,
    DEFAULT_COMM,
    DEFAULT_CONFIG,
    DEFAULT_PID,
    KERNEL_BSS_KIB,
    KERNEL_CODE_KIB,
    KERNEL_CONFIGS,
    KERNEL_INIT_KIB,
    KERNEL_RODATA_KIB,
    KERNEL_RWDATA_KIB,
    MAX_ORDER,
    MEM_INIT_NS,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
    MIGRATETYPE_NAMES,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
    ZONE_DEVICE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NAMES,
    ZONE_NORMAL,
)
from .context import ExecutionContext
from .device import Device
from .events import (
    AllocationFailed,
    BadPageReported,
    BootStageReached,
    ContextViolated,
    LruPagesAdded,
    MessageLogged,
)
from .execution import ExecutionContextAPI
from .gfp import (
    __GFP_BITS_MASK,
    __GFP_FS,
    __GFP_IO,
    __GFP_RECLAIM,
    BIT,
    GFP_HIGHUSER_MOVABLE,
    BadGfpZone,
    describe_gfp,
    format_gfp,
    gfp_migratetype,
    gfp_t,
    gfp_zone,
    parse_gfp,
)
from .history import History
from .kmalloc import SlabAPI
from .memblock import EarlyBootAPI, subtract_ranges
from .page import Page, format_size, parse_size
from .pagetable import VMALLOC_END, VMALLOC_START
from .printk import KERN_ALERT, KERN_INFO, KERN_NOTICE, KERN_WARNING, KernelLog
from .reclaim import PageCache, Task
from .reports import (
    LIST_POISON1,
    LIST_POISON2,
    PAGE_BUDDY_MAPCOUNT,
    TAINT_BAD_PAGE,
    TAINT_DIE,
    TAINT_WARN,
    UTS_RELEASE,
    UTS_VERSION,
    bad_page_header,
    dump_page,
    dump_stack,
    kernel_bug,
    struct_page_address,
    warning,
)
from .slab_geometry import SLAB_RECLAIM_ACCOUNT
from .slowpath import SlowPathMixin
from .vmalloc import VmallocAPI
from .zones import (
    MEMORY_LAYOUTS,
    WMARK_HIGH,
    WMARK_LOW,
    WMARK_MIN,
    Zone,
    build_memory_map,
    build_zones,
    calculate_min_free_kbytes,
    recommended_min_free_kbytes,
    setup_per_cpu_pagesets,
    setup_per_zone_lowmem_reserve,
    setup_per_zone_wmarks,
    thp_enabled,
)

# GFP_BOOT_MASK (mm/internal.h L30): gfp_allowed_mask until the scheduler is up
GFP_BOOT_MASK = __GFP_BITS_MASK & ~(__GFP_RECLAIM | __GFP_IO | __GFP_FS)

MIGHT_ALLOC_LOCATION = "include/linux/sched/mm.h:274"  # might_alloc(): might_sleep_if(...)
MIN_MEM = 1 << 20  # bytes: the smallest machine that boots here (memory_map="flat")
# bytes: the smallest QEMU PC Debian's 6.1 boots on here: its image and bss end at 68 MiB
# (KERNEL_RESERVE_END), and the initrd, struct pages and per-CPU areas come on top
MIN_PC_MEM = 128 << 20
MAX_MEM = 1 << 40  # bytes: the largest, 1 TiB (its page arrays take 5 bytes a page: 1.3 GB)
MAX_CPUS = 256
BOOT_DONE_NS = 1_000_000_000  # simulated time when boot is over and the learner's code runs
NS_PER_RECORD = 1_000  # simulated time one allocator call takes
NS_PER_SECOND = 1_000_000_000
WARN_ALLOC_INTERVAL_NS = 10 * NS_PER_SECOND  # DEFINE_RATELIMIT_STATE(nopage_rs, 10*HZ, 1)
BAD_PAGE_BURST = 60  # bad_page(): 60 reports, then quiet for the rest of the minute
BAD_PAGE_WINDOW_NS = 60 * 1_000_000_000
MAX_IDLE_SECONDS = 365 * 24 * 3600  # idle(): longer than any lesson waits
MAX_OOM_SCORE_ADJ = 1000  # OOM_SCORE_ADJ_MAX (include/uapi/linux/oom.h)


def _alloc_frames(caller: str) -> tuple[str, ...]:
    """The frames of __alloc_pages() called for ``caller``, innermost first.

    With CONFIG_NUMA alloc_pages() (mm/mempolicy.c) ends in a tail call of __alloc_pages(),
    so it is not on the stack; __get_free_pages() calls it and stays.
    """
    return ("__alloc_pages",) if caller == "alloc_pages" else ("__alloc_pages", caller)


def _free_frames(caller: str) -> tuple[str, ...]:
    """The frames of __free_pages() called for ``caller``: free_pages() tail-calls it."""
    return ("__free_pages",) if caller in ("__free_pages", "free_pages") else (
        "__free_pages", caller)  # fmt: skip


class AllocPlan:
    """What an allocation with one GFP mask needs: its zonelist with marks, lists and record.

    ``fast`` pairs each zone of the zonelist with the mark for the first attempt (low
    watermark + lowmem_reserve[highest_zoneidx]), ``slow`` with the mark of the slow path
    (min watermark, less the __GFP_HIGH share of the reserves).
    """

    __slots__ = (
        "alloc_cma",
        "fast",
        "first_mark",
        "first_zone",
        "gfp",
        "head",
        "highest_zoneidx",
        "migratetype",
        "nofragment",
        "record",
        "slow",
    )

    def __init__(
        self, gfp, fast, slow, migratetype, record, head, nofragment, highest_zoneidx, alloc_cma
    ):
        self.gfp = gfp  # the mask, as an int
        self.alloc_cma = alloc_cma  # ALLOC_CMA: a movable request on a kernel with a CMA area
        self.fast = fast  # ((zone, mark), ...) for the first pass
        self.slow = slow  # ((zone, mark), ...) for the slow path
        self.migratetype = migratetype  # gfp_migratetype()
        self.record = record  # history bits naming the mask and migratetype
        self.head = head  # ALLOCATED or COMPOUND: a block head's state (head_code())
        self.nofragment = nofragment  # ALLOC_NOFRAGMENT on the first pass
        self.highest_zoneidx = highest_zoneidx  # gfp_zone()
        # the fast path's zone and the mark it must stay at or above after the allocation
        self.first_zone = fast[0][0] if fast else None
        self.first_mark = fast[0][1] if fast else 0


_cell_running = [False]  # True while a notebook cell runs: every kernel batches (begin_cell())


def head_code(plan: AllocPlan, order: int) -> int:
    """The state the first page of a block of ``order`` takes under ``plan``.

    prep_new_page() (mm/page_alloc.c L2569) makes a compound page only ``if (order && (gfp_flags
    & __GFP_COMP))``: an order-0 page asked for with __GFP_COMP is a plain page.
    """
    return plan.head + order if order else ALLOCATED


class Kernel(
    HasTraits,
    ExecutionContextAPI,
    SlowPathMixin,
    SlabAPI,
    VmallocAPI,
    EarlyBootAPI,
    CompactionAPI,
    CmaAPI,
):
    """A simulated x86-64 machine running Linux 6.1's memory allocators.

    ``Kernel(mem="256MiB", cpus=2, seed=0, memory_map="pc", boot_reserved=True,
    zone_dma=True, zone_dma32=True)``: ``mem`` is bytes of RAM or a size such as "4GiB".
    ``memory_map="pc"`` (the default) is a real VM: QEMU's PC with SeaBIOS and Debian's 6.1
    booting on it, as tests/real61 captured it.  Its e820 map has the BIOS areas below 1 MiB,
    128 KiB of BIOS tables below the top of low RAM and, from 3.5 GiB of RAM, the 32-bit PCI
    hole (low RAM stops at 3 GiB, the rest starts at 4 GiB: a 4 GiB machine has DMA, DMA32 and
    Normal); boot reserves what 6.1 reserves (the first MiB, the kernel image, the initrd, the
    struct page array, NODE_DATA, per-CPU areas, hash tables, swiotlb), sets the watermarks
    with the transparent-huge-page raise, then frees its init sections and the initrd, so
    managed pages, MemTotal and the watermarks are the real kernel's; it needs 128 MiB
    (MIN_PC_MEM).  Boot leaves what a booted 6.1 has: its slab caches and objects and its
    vmalloc areas (``boot_caches`` and ``boot_vmalloc`` default to True).
    ``memory_map="flat"`` is the classroom machine the lessons choose for round numbers: RAM in
    one piece from 0 to ``mem``, kmviz's simpler boot (the first MiB and a 30 MiB kernel
    image, watermarks from int_sqrt() alone) and a clean slate (``boot_caches`` and
    ``boot_vmalloc`` default to False: only the kmalloc caches, all empty, and an empty
    vmalloc space).  The boot log says which map runs.
    ``boot_reserved=False`` reserves nothing (on "flat" not even the BIOS areas).
    ``zone_dma``/``zone_dma32`` False behave like CONFIG_ZONE_DMA/CONFIG_ZONE_DMA32 off.
    ``seed`` fixes everything random in the engine; ``slub_debug`` turns on SLUB's consistency
    checks, red zones, poisoning and owner tracking for every cache, as the boot option does;
    ``slab_nomerge`` keeps kmem_cache_create() from merging a new cache into a compatible
    one (6.1 merges by default); ``boot_caches=True`` gives the machine the ~145 slab caches
    and ~61,000 objects a booted 6.1 kernel has (kmviz/engine/boot_caches.py; False: only the
    kmalloc caches, all empty);
    ``config`` is the kernel configuration (constants.KERNEL_CONFIGS): "debug" (the default,
    what the lessons use: Debian's 6.1 with CONFIG_DEBUG_ATOMIC_SLEEP, CONFIG_DEBUG_PREEMPT and
    CONFIG_DEBUG_VM) or "debian" (the stock distribution kernel, silent about sleeping in
    atomic context and about a double free_pages());
    ``cma`` (e.g. "64MiB") builds the kernel with CONFIG_CMA and boots it with ``cma=64M``: a
    contiguous area for cma_alloc() that movable pages use meanwhile (None: no CONFIG_CMA, as
    Debian's 6.1); ``boot=False`` stops in early boot (memblock only) until ``k.mem_init()`` /
    ``k.boot()``; ``boot_vmalloc=True`` makes, at boot, the vmalloc areas a booted 6.1 kernel
    holds (task and IRQ stacks, ACPI/HPET ioremaps, a percpu chunk, ...; vmalloc.py
    _boot_vmalloc_areas()), which break up the free lists as a real boot does (False: vmalloc
    space starts empty).
    ``pcp=False`` keeps every CPU's boot pageset (high 0, batch 1), as 6.1 has before
    setup_per_cpu_pageset(): each block passes through the CPU's list straight from and to
    the buddy lists, which then behave as the textbook buddy system.

    Observers of ``tick`` (the views' Timelines) hear of the calls in batches: once at the end
    of a ``with k.batch():`` block, once at the end of a notebook cell (``begin_cell()`` /
    ``end_cell()``, which kmviz.widgets hooks to IPython), whenever ``k.notify()`` asks, and
    outside all of those once per call.  Inside a batch the C fast paths stay on.
    """

    _every: ClassVar[weakref.WeakSet] = weakref.WeakSet()  # every kernel, for the cells' batches

    tick = Int(
        0,
        help="Bumped once per batch of calls that changed the machine, while anything observes it.",
    )
    last_violation = Any(
        None, allow_none=True, help="The latest ContextViolated event (might_sleep fired)."
    )
    last_failure = Any(None, allow_none=True, help="The latest AllocationFailed event.")

    def __init__(
        self,
        mem: int | str = "256MiB",
        cpus: int = 2,
        seed: int = 0,
        memory_map: str = "pc",
        boot_reserved: bool = True,
        zone_dma: bool = True,
        zone_dma32: bool = True,
        slub_debug: bool = False,
        slab_nomerge: bool = False,
        boot_caches: bool | None = None,
        boot: bool = True,
        config: str = DEFAULT_CONFIG,
        boot_vmalloc: bool | None = None,
        cma: int | str | None = None,
        pcp: bool = True,
    ):
        super().__init__()
        wanted_cma = cma_pages(cma)
        size = parse_size(mem)
        if not MIN_MEM <= size <= MAX_MEM:
            raise ValueError(
                f"mem={format_size(size)} is outside what kmviz simulates "
                f"({format_size(MIN_MEM)} .. {format_size(MAX_MEM)})"
            )
        if memory_map not in MEMORY_LAYOUTS:
            raise ValueError(f"memory_map must be one of {MEMORY_LAYOUTS}, not {memory_map!r}")
        if memory_map == "pc" and size < MIN_PC_MEM:
            raise ValueError(
                f"mem={format_size(size)} is too small for Debian's 6.1 on a PC (memory_map='pc' "
                f"needs {format_size(MIN_PC_MEM)}: the kernel image alone ends at 68 MiB); "
                "memory_map='flat' boots smaller machines"
            )
        # a PC boots into what a real 6.1 boot leaves; "flat" starts from the clean slate
        boot_caches = memory_map == "pc" if boot_caches is None else boot_caches
        boot_vmalloc = memory_map == "pc" if boot_vmalloc is None else boot_vmalloc
        self.cpus = _require_int("cpus", cpus, 1, MAX_CPUS)
        self.seed = _require_int("seed", seed, -(1 << 63), (1 << 63) - 1)
        for name, flag in (
            ("boot_reserved", boot_reserved),
            ("zone_dma", zone_dma),
            ("zone_dma32", zone_dma32),
            ("slub_debug", slub_debug),
            ("slab_nomerge", slab_nomerge),
            ("boot_caches", boot_caches),
            ("boot", boot),
            ("boot_vmalloc", boot_vmalloc),
            ("pcp", pcp),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, not {flag!r}")
        if not isinstance(config, str) or config not in KERNEL_CONFIGS:
            raise (ValueError if isinstance(config, str) else TypeError)(
                f"config must be one of {', '.join(map(repr, KERNEL_CONFIGS))}, not {config!r}: "
                "'debug' is Debian's 6.1 with CONFIG_DEBUG_ATOMIC_SLEEP, CONFIG_DEBUG_PREEMPT and "
                "CONFIG_DEBUG_VM, 'debian' the stock kernel"
            )
        self.config = config  # the name of the configuration this machine runs
        # its options, e.g. config_options["CONFIG_DEBUG_VM"] == "y"
        self.config_options = dict(KERNEL_CONFIGS[config])
        self.debug_vm = self.config_options["CONFIG_DEBUG_VM"] == "y"
        self.debug_atomic_sleep = self.config_options["CONFIG_DEBUG_ATOMIC_SLEEP"] == "y"
        self.mem = size & ~(PAGE_SIZE - 1)  # bytes of RAM, whole pages
        self.memory_layout = memory_map
        self.memory = build_memory_map(self.mem, memory_map, boot_reserved)
        self.nr_pfns = self.memory.nr_pfns  # max_pfn: holes below it have struct pages too
        self.direct_map_end = PAGE_OFFSET + (self.nr_pfns << PAGE_SHIFT)
        self.boot_reserved = boot_reserved
        self.boot_vmalloc = boot_vmalloc
        self.zone_dma = zone_dma
        self.zone_dma32 = zone_dma32
        self.random = random.Random(seed)  # every random choice of the engine comes from here
        self.context = ExecutionContext(DEFAULT_COMM, DEFAULT_PID)  # current task, irqs, locks
        self.context.debug_preempt = self.config_options["CONFIG_DEBUG_PREEMPT"] == "y"
        # 1 while sleeping is not allowed: the fast paths then defer to might_sleep()
        self.atomic_flag = array("b", [0])
        # 1 while observers of tick hear of every call (observed, no batch open): the C fast
        # paths then step aside for the Python methods, which notify
        self.notify_each_call = array("b", [0])
        self._batches = 0  # open ``with k.batch()`` blocks
        self._heard = 0  # history records when observers last heard (at a batch's start)
        self._observed = False  # something observes tick
        Kernel._every.add(self)
        self.atomic = False  # the same, as a bool for the Python fast paths
        self._next_might_sleep_ns = 0
        self.cma_configured = bool(wanted_cma)  # CONFIG_CMA with a cma= area asked for
        self.pinned_pfns: set[int] = set()  # pages pin_user_pages() holds (FOLL_PIN)
        self.page_cache = PageCache()  # clean file pages reclaim may drop, oldest first
        # by GFP mask: (plan, its fast and slow zonelists as (zone position, mark) pairs) for
        # the C loop of page faults (_pages_in_a_row())
        self._fault_zonelists: dict[int, tuple] = {}
        self.tasks = [  # user processes; init is never an OOM victim
            Task("systemd", 1, unkillable=True),
            Task(DEFAULT_COMM, DEFAULT_PID),
        ]
        self._next_pid = 2000
        # (plan, order, kswapd reclaims?) of the allocation that woke kswapd or kcompactd
        self._kswapd_pending = None
        self._kcompactd_max_order = 0  # pgdat->kcompactd_max_order
        self.panic_message: str | None = None
        self.taint = 0  # tainted_mask bits
        self.log = KernelLog()
        self.history = History(self._zone_name_of)
        self._clock_offset_ns = 0
        self._boot_records = 0
        self._warned_once: set[str] = set()
        self._next_warn_alloc_ns = 0
        self._bad_page_shown = 0
        self._bad_page_unshown = 0
        self._bad_page_resume_ns = 0
        self._plans: dict[int, AllocPlan] = {}  # by GFP mask
        # the plans the fast paths serve, by the mask __get_free_pages / alloc_pages was given
        self._page_plans: dict[int, AllocPlan] = {}
        self._alloc_page_plans: dict[int, AllocPlan] = {}
        # the same plans as plain tuples for the C fast path (fastpath.py)
        self.page_plans_for_c: dict[int, tuple[int, int, int, int, int, bool, bool]] = {}
        self.alloc_page_plans_for_c: dict[int, tuple[int, int, int, int, int, bool, bool]] = {}
        # ... and by the mask allocate_slab() and kmalloc_large() give __alloc_pages()
        self._slab_page_plans: dict[int, AllocPlan] = {}
        self.slab_page_plans_for_c: dict[int, tuple[int, int, int, int, int, bool, bool]] = {}
        # how often _drop_fast_plans() emptied them, in an array the C fast path reads: a plan
        # it looked up stays good until this changes (no other write replaces a plan)
        self.fast_plans_dropped = array("q", [0])
        self.slub_debug = slub_debug
        self.slab_nomerge = slab_nomerge  # the boot option: no cache is merged into another
        self.boot_caches = boot_caches  # boot creates 6.1's caches and objects, not only kmalloc's
        # free pages whose refcount a silent double free took to -1 (config="debian")
        self.refcount_underflow: set[int] = set()
        self.pcp = pcp  # False: the boot pagesets stay (see the class docstring)
        self.boot_stage = "early"
        self._setup_arch(wanted_cma)
        if boot:
            self.boot()

    # === observers ==============================================================================
    def observe(self, handler, names=All, type="change") -> None:
        """traitlets' observe(); an observer of ``tick`` hears once per call outside a batch."""
        super().observe(handler, names=names, type=type)
        self._observers_changed()

    def unobserve(self, handler, names=All, type="change") -> None:
        """traitlets' unobserve()."""
        super().unobserve(handler, names=names, type=type)
        self._observers_changed()

    def unobserve_all(self, name=All) -> None:
        """traitlets' unobserve_all()."""
        super().unobserve_all(name)
        self._observers_changed()

    def _observers_changed(self) -> None:
        """Set notify_each_call: something observes ``tick`` and no batch is open."""
        if not hasattr(self, "notify_each_call"):  # HasTraits.__init__ observing, before ours
            return
        notifiers = self._trait_notifiers
        observed = any(
            notifiers.get(name, {}).get(kind) for name in ("tick", All) for kind in ("change", All)
        )
        self._observed = observed
        self.notify_each_call[0] = observed and not self._batching()

    def _batching(self) -> bool:
        """True inside a ``with k.batch()`` block or a notebook cell."""
        return bool(self._batches) or _cell_running[0]

    @contextmanager
    def batch(self) -> Iterator[Kernel]:
        """``with k.batch():`` the calls inside notify observers once, at the end.

        The end of the block tells them even inside a notebook cell (a player moved after the
        block sees its calls); blocks may nest, and only the outermost end tells.
        """
        if not self._batching():
            self._heard = self.history.record_count
        self._batches += 1
        self._observers_changed()
        try:
            yield self
        finally:
            self._batches -= 1
            self._observers_changed()
            if not self._batches:
                self.notify()

    def notify(self) -> None:
        """Tell observers now of every call since they last heard (a view asks, a batch ends)."""
        count = self.history.record_count
        if count != self._heard:
            self._heard = count
            if self._observed:
                self.tick += 1

    @staticmethod
    def begin_cell() -> None:
        """A notebook cell starts: every kernel, those it makes too, batches until end_cell()."""
        if _cell_running[0]:
            return
        _cell_running[0] = True
        for kernel in list(Kernel._every):
            if not kernel._batches:
                kernel._heard = kernel.history.record_count
            kernel._observers_changed()

    @staticmethod
    def end_cell() -> None:
        """The cell is over: each kernel's observers hear of what it did (outside a batch)."""
        if not _cell_running[0]:
            return
        _cell_running[0] = False
        for kernel in list(Kernel._every):
            kernel._observers_changed()
            if not kernel._batches:
                kernel.notify()

    # === boot ==================================================================================
    def _setup_arch(self, cma: int) -> None:
        """Early boot up to memblock: e820 map, zones, the struct page arrays, the boot log.

        Mirrors setup_arch() → e820 → memblock → free_area_init(): no free lists yet, every
        page is reserved until mem_init().
        """
        self.zones: list[Zone] = build_zones(self.memory, self.zone_dma, self.zone_dma32)
        self.zone_by_idx = {zone.idx: zone for zone in self.zones}
        self._memblock_init()
        estimate = self._nr_kernel_pages()  # vm_total_pages while managed is an estimate
        mobility = estimate >= PAGEBLOCK_NR_PAGES * MIGRATE_TYPES
        self.mobility_grouping = mobility
        self.buddy = BuddyAllocator(self.nr_pfns, self.zones, self.history, mobility, self.cpus)
        self._kcompactd_highest_zoneidx = self.zones[-1].idx  # pgdat->nr_zones - 1
        self.buddy.count_lru_pages = self._count_lru_pages
        if not self.debug_vm:  # without CONFIG_DEBUG_VM pages are checked on and off pcp lists
            self.buddy.check_pcp_refill = self._check_pcp_refill
            self.buddy.bulkfree_pcp_prepare = self._bulkfree_pcp_prepare
        state = self.buddy.state
        for start, end in self.memory.ram:
            state[start:end] = array("b", [RESERVED]) * (end - start)
        self._print_version()
        self._print_memory_map(estimate)
        self._cma_reserve(cma)  # dma_contiguous_reserve()
        self._slab_structures()
        self._vmalloc_init()
        self.history.append_object(BootStageReached("early"))

    def mem_init(self) -> None:
        """Hand every page memblock did not reserve to the buddy allocator (x86 mem_init())."""
        self._check_alive()
        if self.boot_stage != "early":
            raise RuntimeError(
                f"mem_init() runs once, in early boot; this machine is {self.boot_stage}"
            )
        self._reserve_swiotlb()
        self._memblock_free_all()
        self.boot_stage = "mem_init"
        self.history.append_object(BootStageReached("mem_init"))
        self._notify()

    def boot(self) -> None:
        """Finish booting: mem_init() if not done, watermarks, slab and vmalloc, then run.

        Mirrors start_kernel() → mm_init() (mem_init, kmem_cache_init, vmalloc_init) and the
        postcore initcall init_per_zone_wmark_min().  On a running machine it does nothing.
        """
        if self.boot_stage == "running":
            return
        self._check_alive()
        if self.boot_stage == "early":
            self.mem_init()
        self._free_boot_memory(("SMP alternatives",))  # alternative_instructions()
        self._cma_activate()  # core_initcall cma_init_reserved_areas()
        # init_per_zone_wmark_min() (postcore initcall, mm/page_alloc.c L8846)
        self.min_free_kbytes = calculate_min_free_kbytes(self.zones)
        setup_per_zone_wmarks(self.zones, self.min_free_kbytes)
        setup_per_zone_lowmem_reserve(self.zones)
        # hugepage_init() (subsys initcall): THP on from 512 MiB, and khugepaged's start raises
        # min_free_kbytes (set_recommended_min_free_kbytes()); lowmem_reserve stays.  The
        # "flat" machine keeps kmviz's simpler boot: no THP, nothing freed after boot.
        self.transparent_hugepage = self.memory_layout == "pc" and thp_enabled(self.zones)
        if self.transparent_hugepage:
            self.min_free_kbytes = recommended_min_free_kbytes(self.zones, self.min_free_kbytes)
            setup_per_zone_wmarks(self.zones, self.min_free_kbytes)
        # populate_rootfs() frees the initrd, kernel_init() the init sections and the gaps;
        # the watermarks keep the managed pages of before (nothing recomputes them)
        self._free_boot_memory(
            ("initrd", "unused decrypted", "init sections", "text/rodata gap", "rodata/data gap")
        )
        self._plans.clear()  # marks computed before the watermarks existed are stale
        self._drop_fast_plans()
        self._kmem_cache_init()
        # setup_per_cpu_pageset() after mm_init(), then init_per_zone_wmark_min()'s
        # zone_pcp_update(): until here the boot pagesets (high 0, batch 1) kept no pages
        if self.pcp:
            self.setup_per_cpu_pageset()
        self.boot_stage = "running"
        if self.boot_vmalloc:
            self._boot_vmalloc_areas()
        self.history.append_object(BootStageReached("running"))
        self._boot_records = self.history.record_count
        self._clock_offset_ns = 0
        fastpath.attach(self)
        self._notify()

    def _print_version(self) -> None:
        """The first boot lines: linux_banner (init/version.c) with the configuration, and
        the command line."""
        debug = " ".join(f"{name}={self.config_options[name]}" for name in DEBUG_OPTIONS)
        self._printk(
            KERN_NOTICE,
            f"Linux version {UTS_RELEASE} (kmviz) {UTS_VERSION} SMP PREEMPT_DYNAMIC "
            f"config: {self.config} ({debug})",
            at_ns=0,
        )
        command_line = "nokaslr" + (" slub_debug" if self.slub_debug else "")
        self._printk(KERN_INFO, f"Command line: {command_line}", at_ns=0)

    def _debug_report_note(self, option: str) -> None:
        """After a report only a debug option prints: which one, and what a stock kernel does."""
        self._printk(
            KERN_WARNING,
            f"kmviz: {option}=y printed this (Kernel(config={self.config!r})); "
            "Debian's stock kernel (config='debian') prints nothing here",
        )

    def setup_per_cpu_pageset(self) -> None:
        """Give every zone's per-CPU lists their high and batch, replacing the boot pagesets.

        Mirrors setup_per_cpu_pageset() and zone_pcp_update() (mm/page_alloc.c L7247):
        batch from the managed pages (zone_batchsize()), high from the low watermark over
        the CPUs (zone_highsize()).  boot() calls it unless the machine was made with
        ``pcp=False``; calling it later turns the lists on for such a machine.
        """
        self._check_alive()
        setup_per_cpu_pagesets(self.zones, self.cpus)
        self.pcp = True

    def _print_memory_map(self, total_pages: int) -> None:
        """The boot lines about memory: BIOS map, zone ranges, node ranges, zonelists."""
        lines = ["BIOS-provided physical RAM map:"]
        for start, end, kind in self.memory.e820:
            lines.append(f"BIOS-e820: [mem {start:#018x}-{end - 1:#018x}] {kind}")
        if self.memory.ram[0][0]:  # trim_bios_range() and e820__memblock_setup()
            lines.append("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved")
            lines.append("e820: remove [mem 0x000a0000-0x000fffff] usable")
        lines.append(
            'kmviz: memory map "pc": QEMU\'s i440FX PC with SeaBIOS'
            if self.memory_layout == "pc"
            else 'kmviz: memory map "flat": RAM in one piece from 0 (not a real PC\'s layout)'
        )
        lines.append("Zone ranges:")
        configured = [
            (ZONE_DMA, self.zone_dma),
            (ZONE_DMA32, self.zone_dma32),
            (ZONE_NORMAL, True),
            (ZONE_DEVICE, True),  # CONFIG_ZONE_DEVICE: never populated at boot
        ]
        for idx, enabled in configured:
            if not enabled:
                continue
            zone = self.zone_by_idx.get(idx)
            if zone is None:
                lines.append(f"  {ZONE_NAMES[idx]:<8} empty")
            else:
                lines.append(
                    f"  {zone.name:<8} [mem {zone.start_pfn << PAGE_SHIFT:#018x}-"
                    f"{(zone.end_pfn << PAGE_SHIFT) - 1:#018x}]"
                )
        lines.append("Movable zone start for each node")
        lines.append("Early memory node ranges")
        for start, stop in self.memory.ram:
            lines.append(
                f"  node   0: [mem {start << PAGE_SHIFT:#018x}-{(stop << PAGE_SHIFT) - 1:#018x}]"
            )
        lines.append(
            f"Built 1 zonelists, mobility grouping {'on' if self.mobility_grouping else 'off'}."
            f"  Total pages: {total_pages}"
        )
        for line in lines:
            self._printk(KERN_INFO, line, at_ns=0)

    def _memblock_free_all(self) -> None:
        """Release every free RAM range to the buddy allocator in naturally aligned blocks.

        Mirrors memblock_free_all() → __free_pages_memory() (mm/memblock.c L2128): each range
        goes in the largest aligned blocks that fit,
        ``order = min(MAX_ORDER - 1, __ffs(start)); while start + (1 << order) > end: order--``,
        freed to the *tail* of the lists (FPI_TO_TAIL), so the lowest blocks are used first.
        """
        buddy = self.buddy
        state = buddy.state
        # memmap_init() marks Movable only the pageblocks whose first pfn is RAM; the others
        # (pfn 0 when the BIOS keeps it) keep the zeroed bitmap's type, Unmovable.
        # The pageblocks starting at or after ``hole`` and before the next RAM range start in a
        # hole: blocks ceil(hole / 512) .. ceil(start / 512) - 1, range by range.
        blocks = len(buddy.pageblock_mt)
        hole = 0
        for start, end in (*self.memory.ram, (blocks * PAGEBLOCK_NR_PAGES, 0)):
            first, stop = -(-hole // PAGEBLOCK_NR_PAGES), -(-start // PAGEBLOCK_NR_PAGES)
            if first < stop:
                buddy.pageblock_mt[first:stop] = array("b", [MIGRATE_UNMOVABLE]) * (stop - first)
            hole = end
        reserved = self._reserved_pfn_ranges()
        for start, end in self.memory.ram:
            for free_start, free_end in subtract_ranges(start, end, reserved):
                pfn = free_start
                while pfn < free_end:
                    order = min(MAX_ORDER - 1, (pfn & -pfn).bit_length() - 1 if pfn else 63)
                    while pfn + (1 << order) > free_end:
                        order -= 1
                    zone = buddy.zone_by_chunk[pfn >> 12]
                    state[pfn : pfn + (1 << order)] = array("b", [TAIL]) * (1 << order)
                    zone.managed_pages += 1 << order
                    migratetype = buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
                    buddy.free_one_page(pfn, zone, order, migratetype, True)
                    pfn += 1 << order
        managed = sum(z.managed_pages for z in self.zones)
        present = self.memory.present_pages
        self._printk(
            KERN_INFO,
            f"Memory: {self.free_pages_count() * 4}K/{present * 4}K available "
            f"({KERNEL_CODE_KIB}K kernel code, {KERNEL_RWDATA_KIB}K rwdata, "
            f"{KERNEL_RODATA_KIB}K rodata, {KERNEL_INIT_KIB}K init, {KERNEL_BSS_KIB}K bss, "
            f"{(present - managed - self.cma_count) * 4}K reserved, "
            f"{self.cma_count * 4}K cma-reserved)",
            at_ns=MEM_INIT_NS,
        )

    def _free_reserved_page(self, pfn: int) -> None:
        """free_reserved_page(): a page boot kept becomes managed and goes to the free lists."""
        buddy = self.buddy
        zone = buddy.zone_by_chunk[pfn >> 12]
        zone.managed_pages += 1  # adjust_managed_page_count()
        buddy.free_one_page(pfn, zone, 0, buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES], False)

    # === time and the log ======================================================================
    def now_ns(self) -> int:
        """Simulated nanoseconds since boot: one microsecond per allocator call after boot."""
        calls = self.history.record_count - self._boot_records
        if self.boot_stage != "running":  # still booting: time from 0
            return calls * NS_PER_RECORD + self._clock_offset_ns
        return BOOT_DONE_NS + calls * NS_PER_RECORD + self._clock_offset_ns

    def _printk(self, level: int, text: str, at_ns: int | None = None) -> None:
        """Append one line to the kernel log and the history."""
        timestamp = self.now_ns() if at_ns is None else at_ns
        self.log.append(timestamp, level, text)
        self.history.append_object(MessageLogged(timestamp, level, text))
        if at_ns is None:
            self._clock_offset_ns += NS_PER_RECORD  # a logged line takes its own microsecond

    def _print_lines(self, lines) -> None:
        for level, text in lines:
            self._printk(level, text)

    def dmesg(self, level: int | None = None) -> str:
        """The kernel log as ``dmesg`` prints it (``[    1.000123] text`` lines)."""
        return self.log.text(level)

    def _trace(self, *frames: str) -> list[str]:
        """A call trace: ``frames`` (innermost first) on top of the code running now."""
        return [*frames, *self._context_frames()]

    @property
    def comm(self) -> str:
        """current->comm: the name of the task making the calls."""
        return self.context.comm

    @property
    def pid(self) -> int:
        """current->pid."""
        return self.context.pid

    # === GFP → an allocation plan ==============================================================
    def _plan(self, gfp: int) -> AllocPlan:
        """What an allocation with ``gfp`` needs, worked out once per mask (raises BadGfpZone)."""
        try:
            highest = gfp_zone(gfp, self.zone_dma, self.zone_dma32)
        except BadGfpZone:
            if self.debug_vm:
                raise
            # no VM_BUG_ON: GFP_ZONE_TABLE's entry for a contradiction is 0, the lowest zone
            highest = ZONE_DMA if self.zone_dma else ZONE_DMA32 if self.zone_dma32 else ZONE_NORMAL
        mt = gfp_migratetype(gfp) if self.mobility_grouping else MIGRATE_UNMOVABLE
        zones = [z for z in reversed(self.zones) if z.idx <= highest]
        # gfp_to_alloc_flags() of 6.1.192 (L4891; 6.1.116 took it from 6.3): __GFP_HIGH is
        # ALLOC_MIN_RESERVE, a caller that cannot block gets ALLOC_NON_BLOCK (unless
        # __GFP_NOMEMALLOC); __GFP_ATOMIC grants nothing (6.1.0-6.1.115: ALLOC_HARDER)
        min_reserve = bool(gfp & BIT.HIGH)
        non_block = not gfp & BIT.DIRECT_RECLAIM and not gfp & BIT.NOMEMALLOC

        def slow_mark(zone: Zone) -> int:
            mark = zone.watermark[WMARK_MIN]
            if min_reserve:  # __zone_watermark_ok() with ALLOC_RESERVES (L4029)
                mark -= mark // 2
                if non_block:
                    mark -= mark // 4
            return mark + zone.lowmem_reserve[highest]

        return AllocPlan(
            gfp=gfp,
            fast=tuple((z, z.watermark[WMARK_LOW] + z.lowmem_reserve[highest]) for z in zones),
            slow=tuple((z, slow_mark(z)) for z in zones),
            migratetype=mt,
            record=self.history.gfp_bits(gfp) | (mt << 10),
            head=COMPOUND if gfp & BIT.COMP else ALLOCATED,
            # alloc_flags_nofragment(): only when the preferred zone is Normal and DMA32 exists
            nofragment=bool(zones) and zones[0].idx == ZONE_NORMAL and self.zone_dma32,
            highest_zoneidx=highest,
            # gfp_to_alloc_flags_cma(): movable requests may use MIGRATE_CMA pageblocks
            alloc_cma=bool(self.cma_count) and mt == MIGRATE_MOVABLE,
        )

    # === allocation ============================================================================
    def _alloc(self, gfp, order, caller: str = "alloc_pages", might_sleep: bool = True) -> int:
        """The pfn of 2^order fresh pages, or -1: __alloc_pages() (mm/page_alloc.c L5622).

        Checks the arguments (order, gfp_zone(), gfp_migratetype(), might_alloc(), in that
        order, as prepare_alloc_pages() does), walks the zonelist at the low watermark, then
        the slow path.  ``might_sleep=False``: the caller already ran might_alloc() once for
        a batch of pages.
        """
        self._check_alive()
        if isinstance(order, bool):
            raise TypeError(f"order must be an int from 0 to {MAX_ORDER - 1}, not bool")
        if not isinstance(order, int):
            try:
                order = operator.index(order)
            except TypeError:
                raise TypeError(
                    f"order must be an int from 0 to {MAX_ORDER - 1}, not {type(order).__name__}"
                ) from None
        try:
            plan = self._plans.get(gfp)
        except TypeError:  # unhashable
            plan = None
        if plan is None:
            gfp = gfp_t(gfp)
        else:
            gfp = plan.gfp
        if self.boot_stage != "running":
            gfp &= GFP_BOOT_MASK  # gfp_allowed_mask: nothing may sleep or reclaim during boot
        if not 0 <= order < MAX_ORDER:
            # WARN_ON_ONCE_GFP(order >= MAX_ORDER, gfp): order is unsigned in C
            if not gfp & BIT.NOWARN:
                self._warn_once("mm/page_alloc.c:5634", _alloc_frames(caller), (gfp, order))
            self._fail(order, gfp, f"order {order} is not below MAX_ORDER ({MAX_ORDER})")
            return -1
        if plan is None:
            plan = self._plans.get(gfp)
        if plan is None:
            try:
                plan = self._plan(gfp)
            except BadGfpZone as bad:
                self._print_lines(
                    kernel_bug(bad.location, self.comm, self.pid, self.taint,
                               self._trace(*_alloc_frames(caller)), (gfp, order))
                )  # fmt: skip
                self._debug_report_note("CONFIG_DEBUG_VM")
                self.taint |= 1 << TAINT_DIE
                self._fail(order, gfp, str(bad))
                return -1
            self._plans[gfp] = plan
        if plan.migratetype >= MIGRATE_PCPTYPES:
            # __GFP_MOVABLE|__GFP_RECLAIMABLE: gfp_migratetype() warns (VM_WARN_ON) and
            # yields MIGRATE_HIGHATOMIC, which has no fallback row; Linux reads past
            # fallbacks[] there, so kmviz stops after the warning.
            if self.debug_vm:
                self._print_lines(
                    warning("include/linux/gfp.h:18", self.comm, self.pid, self.taint,
                            self._trace("gfp_migratetype", "__alloc_pages", "alloc_pages"))
                )  # fmt: skip
                self._debug_report_note("CONFIG_DEBUG_VM")
                self.taint |= 1 << TAINT_WARN
            else:
                self._printk(
                    KERN_WARNING,
                    f"kmviz: {describe_gfp(gfp)} has __GFP_MOVABLE and __GFP_RECLAIMABLE: "
                    "without CONFIG_DEBUG_VM Linux silently takes MIGRATE_HIGHATOMIC and reads "
                    "past fallbacks[]; kmviz fails the allocation",
                )
            self._fail(order, gfp, "__GFP_MOVABLE and __GFP_RECLAIMABLE together")
            return -1
        if gfp & BIT.DIRECT_RECLAIM and self.atomic and might_sleep:
            self._might_sleep(gfp, MIGHT_ALLOC_LOCATION, ("__alloc_pages", caller))
        if not plan.fast:
            self._fail(order, gfp, "no zone the GFP mask allows has memory")
            self._warn_alloc(gfp, order, plan.highest_zoneidx)
            return -1
        pfn = self._get_page_from_freelist(plan, plan.fast, order, plan.nofragment)
        if pfn >= 0:
            return pfn
        return self._alloc_slowpath(plan, order)

    def _get_page_from_freelist(self, plan: AllocPlan, zonelist, order: int, nofrag: bool):
        """Walk the zonelist; the first zone above its mark that has a block gives the pfn.

        Mirrors get_page_from_freelist() (L4241) with __rmqueue() (L3115): own migratetype
        first, then a fallback steal and retry.  With ALLOC_NOFRAGMENT the whole walk is
        done once without fragmenting steals and, if that fails, once more with them.
        """
        buddy = self.buddy
        mt, record, head = plan.migratetype, plan.record, head_code(plan, order)
        cma = plan.alloc_cma
        pcp = pcp_allowed_order(order)
        while True:
            for zone, mark in zonelist:
                # __zone_watermark_ok(): free pages minus (2^order - 1) must exceed the mark
                # (free CMA pages do not count without ALLOC_CMA), and for order > 0 a block
                # of at least that order must be free
                free = zone.free_pages if cma else zone.free_pages - zone.free_cma
                if free - (1 << order) + 1 <= mark:
                    continue
                if order and not buddy.has_free_block(zone, order):
                    continue
                if pcp:  # rmqueue(): this CPU's list first, then rmqueue_buddy()
                    # (6.1 skips the list for a Movable request without ALLOC_CMA, since
                    # CMA pages sit on it; every Movable request has ALLOC_CMA here)
                    pfn = buddy.rmqueue_pcplist(
                        zone, self.context.cpu_cell[0], order, mt, record, head, nofrag, cma
                    )
                    if pfn >= 0:
                        # check_new_pcp() checks only with CONFIG_DEBUG_VM, where no refcount
                        # underflows; otherwise prep_new_page() just sets the refcount to 1
                        self.refcount_underflow.difference_update(range(pfn, pfn + (1 << order)))
                        return pfn
                pfn = buddy.rmqueue(
                    zone, order, mt, record, head, nofrag, (record, head) if cma else None
                )
                if pfn >= 0:
                    if self.refcount_underflow and self._check_new_pages(pfn, order):
                        return self._get_page_from_freelist(plan, zonelist, order, nofrag)
                    return pfn
            if not nofrag:
                return -1
            nofrag = False

    def _fail(self, order: int, gfp: int, reason: str) -> None:
        event = AllocationFailed(order, gfp, reason)
        self.history.append_object(event)
        self.last_failure = event

    def _warn_alloc(self, gfp: int, order: int, highest_zoneidx: int) -> None:
        """warn_alloc(): "page allocation failure", the stack, and the free areas per zone.

        Suppressed by __GFP_NOWARN, for __GFP_DMA on machines without a DMA zone, and
        rate-limited to one report per 10 seconds
        (nopage_rs), like mm/page_alloc.c L4410.
        """
        if gfp & BIT.NOWARN:
            return
        if gfp & BIT.DMA and ZONE_DMA not in self.zone_by_idx:
            return  # (gfp_mask & __GFP_DMA) && !has_managed_dma(): nobody could have helped
        now = self.now_ns()
        if now < self._next_warn_alloc_ns:
            return
        self._next_warn_alloc_ns = now + WARN_ALLOC_INTERVAL_NS
        lines = [
            (KERN_WARNING,
             f"{self.comm}: page allocation failure: order:{order}, mode:{describe_gfp(gfp)}, "
             "nodemask=(null),cpuset=/,mems_allowed=0"),
        ]  # fmt: skip
        lines += dump_stack(
            KERN_WARNING, self.comm, self.pid, self.taint,
            self._trace("dump_stack_lvl", "warn_alloc", "__alloc_pages_slowpath.constprop.0",
                        "__alloc_pages", "__get_free_pages"),
        )  # fmt: skip
        lines.append((KERN_WARNING, "Mem-Info:"))
        lines += [(KERN_WARNING, text) for text in self.show_free_areas(highest_zoneidx)]
        self._print_lines(lines)

    def _might_sleep(self, gfp: int, location: str, frames: tuple[str, ...]) -> None:
        """might_sleep(): report a call that may sleep from a context that must not.

        Mirrors __might_resched() (kernel/sched/core.c L9975): the report is printed at most
        once a second (``prev_jiffy + HZ``), but every violation is an event.  Without
        CONFIG_DEBUG_ATOMIC_SLEEP (config="debian") might_sleep() checks nothing: no report,
        no event.
        """
        if not self.debug_atomic_sleep:
            return
        file, line = location.rsplit(":", 1)
        lines = self.context.might_sleep_report(file, int(line), self.taint, self._trace(*frames))
        if lines is None:
            return
        now = self.now_ns()
        logged = not self._next_might_sleep_ns or now >= self._next_might_sleep_ns
        if logged:
            self._next_might_sleep_ns = now + NS_PER_SECOND
            self._print_lines(lines)
            self._debug_report_note("CONFIG_DEBUG_ATOMIC_SLEEP")
            self.taint |= 1 << TAINT_WARN
        event = ContextViolated(
            context=self.context.snapshot(),
            gfp=gfp,
            function=frames[-1],
            location=location,
            explanation=self.context.explain(format_gfp(gfp) or "0"),
            logged=logged,
        )
        self.history.append_object(event)
        self.last_violation = event

    def idle(self, seconds: float) -> None:
        """Let simulated time pass, as if the machine sat idle (rate limits expire)."""
        self._check_alive()
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"idle() takes a number of seconds, not {seconds!r}")
        if not 0 <= seconds <= MAX_IDLE_SECONDS:  # also refuses inf and nan
            raise ValueError(
                f"idle() takes 0 to {MAX_IDLE_SECONDS} seconds (a year), not {seconds!r}"
            )
        self._clock_offset_ns += int(seconds * NS_PER_SECOND)

    def show_free_areas(self, max_zone_idx: int = ZONE_MOVABLE) -> list[str]:
        """The memory summary of show_mem(): global counters, then zones, then free blocks.

        Mirrors __show_free_areas() (mm/page_alloc.c L6195): warn_alloc() and the OOM killer
        show the zones up to the failed request's highest zone.  Anonymous pages are the user
        tasks', file pages the page cache's; nothing is dirty, in writeback or in swap.
        """
        zone_of = self.buddy.zone_of
        anon, file = {}, {}
        for task in self.tasks:
            for pfn in task.pages:
                anon[zone_of(pfn).idx] = anon.get(zone_of(pfn).idx, 0) + 1
        for pfn in self.page_cache.pages():
            file[zone_of(pfn).idx] = file.get(zone_of(pfn).idx, 0) + 1
        slab_rcl = sum(c.pages for c in self.caches if c.flags & SLAB_RECLAIM_ACCOUNT)
        slab_unrcl = sum(c.pages for c in self.caches if not c.flags & SLAB_RECLAIM_ACCOUNT)
        slab_unrcl += sum(1 << order for _, order, _ in self.large_kmalloc.values())
        pagetables = sum(t.pgtables_bytes for t in self.tasks) // PAGE_SIZE
        total_anon, total_file = sum(anon.values()), sum(file.values())
        active_file = len(self.page_cache.active)
        lines = [
            f"active_anon:{total_anon} inactive_anon:0 isolated_anon:0",
            f" active_file:{active_file} inactive_file:{total_file - active_file} isolated_file:0",
            " unevictable:0 dirty:0 writeback:0",
            f" slab_reclaimable:{slab_rcl} slab_unreclaimable:{slab_unrcl}",
            f" mapped:0 shmem:0 pagetables:{pagetables}",
            " sec_pagetables:0 bounce:0",
            " kernel_misc_reclaimable:0",
            f" free:{self.free_pages_count()} free_pcp:{self.pcp_pages_count()} "
            f"free_cma:{sum(z.free_cma for z in self.zones)}",
            f"Node 0 active_anon:{4 * total_anon}kB inactive_anon:0kB "
            f"active_file:{4 * active_file}kB inactive_file:{4 * (total_file - active_file)}kB "
            "unevictable:0kB isolated(anon):0kB "
            "isolated(file):0kB mapped:0kB dirty:0kB writeback:0kB shmem:0kB shmem_thp: 0kB "
            "shmem_pmdmapped: 0kB anon_thp: 0kB writeback_tmp:0kB kernel_stack:0kB "
            f"pagetables:{4 * pagetables}kB sec_pagetables:0kB all_unreclaimable? no",
        ]
        zones = [z for z in self.zones if z.idx <= max_zone_idx]
        for z in zones:
            wmin, wlow, whigh = (4 * w for w in z.watermark[:3])
            lines.append(
                f"Node 0 {z.name} free:{z.free_pages * 4}kB boost:0kB min:{wmin}kB "
                f"low:{wlow}kB high:{whigh}kB reserved_highatomic:0KB "
                f"active_anon:{4 * anon.get(z.idx, 0)}kB inactive_anon:0kB active_file:0kB "
                f"inactive_file:{4 * file.get(z.idx, 0)}kB unevictable:0kB "
                f"writepending:0kB present:{z.present_pages * 4}kB "
                f"managed:{z.managed_pages * 4}kB mlocked:0kB bounce:0kB "
                f"free_pcp:{self.buddy.pcp_pages(z) * 4}kB "
                f"local_pcp:{z.pcp_count[self.context.cpu] * 4}kB free_cma:{4 * z.free_cma}kB"
            )
            lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in z.lowmem_reserve))
        letters = "UMEHCI"
        for z in zones:
            parts = []
            for order in range(MAX_ORDER):
                count = z.nr_free[order]
                part = f"{count}*{4 << order}kB "
                if count:
                    types = "".join(
                        letters[mt]
                        for mt in range(MIGRATE_TYPES)
                        if self.buddy.nxt[z.sentinel(order, mt) >> 1] != z.sentinel(order, mt)
                    )
                    part += f"({types}) "
                parts.append(part)
            lines.append(f"Node 0 {z.name}: {''.join(parts)}= {z.free_pages * 4}kB")
        for size in (1048576, 2048):  # hugetlb_show_meminfo_node(): the 1 GiB and 2 MiB hstates
            lines.append(
                f"Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 "
                f"hugepages_size={size}kB"
            )
        lines.append(f"{len(self.page_cache)} total pagecache pages")
        lines += ["0 pages in swap cache", "Free swap  = 0kB", "Total swap = 0kB"]
        return lines

    # === the page allocator's API ==============================================================
    def alloc_pages(self, gfp: int | str, order: int) -> Page | None:
        """2^order physically contiguous pages as their first ``Page``, or None (NULL).

        Mirrors alloc_pages() (mm/mempolicy.c L2255), which ends in __alloc_pages(); a mask
        seen before takes the fast path first (_alloc_fast()).
        """
        pfn = self._fast_attempt(self._alloc_page_plans, gfp, order)
        if pfn >= 0:
            if self.notify_each_call[0]:
                self.tick += 1
            return Page(pfn, self.buddy.zone_by_chunk[pfn >> 12].name)
        return self._alloc_pages_slow(gfp, order)

    def _alloc_pages_slow(self, gfp, order) -> Page | None:
        """alloc_pages() past its fast path: the whole of __alloc_pages()."""
        pfn = self._alloc(gfp, order)
        if self._kswapd_pending:
            self._run_kswapd()
        if pfn >= 0:
            gfp = gfp if gfp.__class__ is int else gfp_t(gfp)
            self._remember_fast_plan(
                gfp, gfp_t(gfp), self._alloc_page_plans, self.alloc_page_plans_for_c
            )
        if self.notify_each_call[0]:
            self.tick += 1
        if pfn < 0:
            return None
        return Page(pfn, self.buddy.zone_by_chunk[pfn >> 12].name)

    def _fast_attempt(self, plans: dict, gfp, order) -> int:
        """_alloc_fast() under the plan ``plans`` keeps for ``gfp``, if there is one and the
        call may take it (an int mask and order 0..10, not atomic): the pfn, else -1 (the
        whole path must run; the C fast path mirrors this test)."""
        plan = plans.get(gfp) if gfp.__class__ is int else None
        if plan is None or order.__class__ is not int or not 0 <= order < MAX_ORDER or self.atomic:
            return -1
        return self._alloc_fast(plan, order)

    def _alloc_fast(self, plan: AllocPlan, order: int) -> int:
        """get_page_from_freelist()'s common case: the pfn, or -1 if the whole path must run.

        The first zone of the plan's zonelist keeps free pages to spare above its mark after
        the allocation and has a block of ``order`` or larger: the block comes off this CPU's
        per-CPU list (rmqueue_pcplist(), orders 0..3 and 9) or from the buddy lists by
        __rmqueue() (rmqueue(): the plan's own migratetype, else a fallback steal and a retry;
        MIGRATE_CMA blocks too for a movable request, ALLOC_CMA), as the whole path's first zone
        would give it.  No other zone, no slow path.
        """
        zone, cma = plan.first_zone, plan.alloc_cma
        free = zone.free_pages if cma else zone.free_pages - zone.free_cma
        if free - (1 << order) < plan.first_mark or not (
            order == 0 or zone.nr_free[order] or self.buddy.has_free_block(zone, order)
        ):
            return -1
        record, head = plan.record, head_code(plan, order)
        if pcp_allowed_order(order):
            return self.buddy.rmqueue_pcplist(
                zone, self.context.cpu_cell[0], order, plan.migratetype, record, head,
                plan.nofragment, cma,
            )  # fmt: skip
        return self.buddy.rmqueue(
            zone, order, plan.migratetype, record, head, plan.nofragment,
            (record, head) if cma else None,
        )  # fmt: skip

    def _remember_fast_plan(self, gfp: int, mask: int, plans: dict, for_c: dict) -> None:
        """Let the fast paths serve ``gfp`` with the plan of ``mask`` from now on, if they may.

        They may once the machine runs and while no free page sits at refcount -1: they run no
        check_new_pages().  ``mask``: what
        __alloc_pages() was given for ``gfp``; ``plans`` and ``for_c``: the Python and C fast
        path's tables of one call (__get_free_pages() or alloc_pages()).
        """
        if gfp in plans or self.boot_stage != "running" or self.refcount_underflow:
            return
        plan = plans[gfp] = self._plans[mask]
        for_c[gfp] = self._plan_for_c(plan)

    def _plan_for_c(self, plan) -> tuple[int, int, int, int, int, bool, bool]:
        """The fields of ``plan`` the C FastPath reads, in the order it unpacks them."""
        return (
            self.zones.index(plan.first_zone),
            plan.first_mark,
            plan.migratetype,
            plan.record,
            plan.head,
            plan.nofragment,
            plan.alloc_cma,
        )

    def _drop_fast_plans(self) -> None:
        """Send every allocation through the whole path until its mask is seen again."""
        for plans in (
            self._page_plans,
            self._alloc_page_plans,
            self._slab_page_plans,
            self.page_plans_for_c,
            self.alloc_page_plans_for_c,
            self.slab_page_plans_for_c,
        ):
            plans.clear()
        self.fast_plans_dropped[0] += 1

    def alloc_page(self, gfp: int | str) -> Page | None:
        """One page: ``alloc_pages(gfp, 0)``."""
        return self.alloc_pages(gfp, 0)

    def get_free_pages(self, gfp: int | str, order: int) -> int:
        """__get_free_pages(): the direct-map address of 2^order pages, 0 on failure.

        Mirrors mm/page_alloc.c L5704: ``alloc_pages(gfp & ~__GFP_HIGHMEM, order)`` and
        page_address() of the result.
        """
        # Fast path: a mask seen before whose first zone has a block to spare (_alloc_fast())
        pfn = self._fast_attempt(self._page_plans, gfp, order)
        if pfn >= 0:
            if self.notify_each_call[0]:
                self.tick += 1
            return PAGE_OFFSET + (pfn << PAGE_SHIFT)
        return self._get_free_pages_slow(gfp, order)

    def _get_free_pages_slow(self, gfp, order) -> int:
        """__get_free_pages() past its fast path: the whole of __alloc_pages()."""
        if gfp.__class__ is not int:
            gfp = gfp_t(gfp)
        pfn = self._alloc(gfp & ~BIT.HIGHMEM, order, "__get_free_pages")
        if self._kswapd_pending:
            self._run_kswapd()
        if pfn >= 0:
            self._remember_fast_plan(
                gfp, gfp_t(gfp) & ~BIT.HIGHMEM, self._page_plans, self.page_plans_for_c
            )
        if self.notify_each_call[0]:
            self.tick += 1
        return 0 if pfn < 0 else PAGE_OFFSET + (pfn << PAGE_SHIFT)

    def get_free_pages_many(self, gfp: int | str, count: int) -> list[int]:
        """``count`` calls of ``__get_free_pages(gfp, 0)`` in a row; the addresses they got.

        As a driver filling a ring or a process faulting in its page tables makes them: each
        page is one __alloc_pages(), and the calls stop at the first failure (fewer addresses
        then).  kswapd, if a call woke it, runs once after the last.
        """
        self._check_alive()
        count = _require_int("count", count, 0, self.nr_pfns)
        gfp = (gfp if gfp.__class__ is int else gfp_t(gfp)) & ~BIT.HIGHMEM
        pfns = self._pages_in_a_row(gfp, count, ALLOCATED, "__get_free_pages")
        if self._kswapd_pending:
            self._run_kswapd()
        if self.notify_each_call[0]:
            self.tick += 1
        return [PAGE_OFFSET + (pfn << PAGE_SHIFT) for pfn in pfns]

    def get_free_page(self, gfp: int | str) -> int:
        """__get_free_page(): one page's address, 0 on failure."""
        return self.get_free_pages(gfp, 0)

    def get_zeroed_page(self, gfp: int | str) -> int:
        """get_zeroed_page(): one zeroed page's address, 0 on failure."""
        return self.get_free_pages(parse_gfp(gfp) | BIT.ZERO, 0)

    def free_pages_block(self, page: Page, order: int) -> None:
        """__free_pages(page, order): give 2^order pages starting at ``page`` back.

        (The kernel spelling ``k.__free_pages(page, order)`` is the same method.)
        """
        if not isinstance(page, Page):
            raise TypeError(f"__free_pages() takes a Page from alloc_pages(), not {page!r}")
        self._require_pfn(page)
        self._free(page.pfn, order, "__free_pages")
        if self.notify_each_call[0]:
            self.tick += 1

    def free_page(self, addr: int) -> None:
        """free_page(addr): ``free_pages(addr, 0)``."""
        self.free_pages(addr, 0)

    def free_pages(self, addr: int, order: int) -> None:
        """Give back 2^order pages at direct-map address ``addr``; ``addr == 0`` does nothing.

        Mirrors free_pages() (mm/page_alloc.c L5754): ``VM_BUG_ON(!virt_addr_valid(addr))``,
        then ``__free_pages(virt_to_page(addr), order)``; an address inside a page frees that
        page, as virt_to_page() rounds down.
        """
        try:
            if PAGE_OFFSET <= addr < self.direct_map_end:
                pfn = (addr - PAGE_OFFSET) >> PAGE_SHIFT
                buddy = self.buddy
                if (
                    order.__class__ is int
                    and order >= 0
                    and buddy.state[pfn] == ALLOCATED + order  # a held block's code differs
                    and self.panic_message is None
                ):
                    self._free_the_page(pfn, order)
                    if self.notify_each_call[0]:
                        self.tick += 1
                    return
        except TypeError:
            pass
        self._free_pages_checked(addr, order)

    def _free_pages_checked(self, addr, order) -> None:
        """free_pages() for anything but a plain block head: checks, reports, compound pages."""
        self._check_alive()
        if addr is None:  # NULL: free_pages(0, order) does nothing
            return
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"free_pages() takes an address (int, or None for NULL), not {addr!r}")
        addr = int(addr)
        if addr == 0:
            return
        if not PAGE_OFFSET <= addr < self.direct_map_end:
            reason = f"free_pages({addr:#x}): not a direct-map address"
            if self.debug_vm:  # VM_BUG_ON(!virt_addr_valid(addr))
                self._print_lines(
                    kernel_bug("mm/page_alloc.c:5757", self.comm, self.pid, self.taint,
                               self._trace("free_pages")),
                )  # fmt: skip
                self._debug_report_note("CONFIG_DEBUG_VM")
                self.taint |= 1 << TAINT_DIE
                self.history.append_object(BadPageReported(-1, reason))
            else:
                self._refuse_free(
                    -1,
                    f"kmviz: {reason}; without CONFIG_DEBUG_VM Linux hands virt_to_page() of "
                    "it, a struct page that is not one, to __free_pages(): memory corruption "
                    "or an oops; nothing was freed",
                    self._trace("free_pages"),
                )
        else:
            self._free((addr - PAGE_OFFSET) >> PAGE_SHIFT, order, "free_pages")
        if self.notify_each_call[0]:
            self.tick += 1

    def _free(self, pfn: int, order: int, caller: str) -> None:
        """__free_pages(): free the block if it is what the caller says, else report."""
        self._check_alive()
        if isinstance(order, bool) or not isinstance(order, int):
            raise TypeError(
                f"order must be an int from 0 to {MAX_ORDER - 1}, not {type(order).__name__}"
            )
        buddy = self.buddy
        code = buddy.state[pfn]
        if plain_code(code) in (ALLOCATED + order, COMPOUND + order):
            if holder(code):
                self._owned_free(pfn, order, caller)
                return
            if code >= COMPOUND:  # a large kmalloc freed by its pages is gone as a kmalloc too
                self.large_kmalloc.pop(PAGE_OFFSET + (pfn << PAGE_SHIFT), None)
            self._free_the_page(pfn, order)
        else:
            self._bad_free(pfn, order, caller)

    def _free_the_page(self, pfn: int, order: int) -> None:
        """free_the_page() (mm/page_alloc.c L778): small orders and THP go to this CPU's list."""
        buddy = self.buddy
        zone = buddy.zone_by_chunk[pfn >> 12]
        if pcp_allowed_order(order):
            buddy.free_unref_page(pfn, zone, self.context.cpu_cell[0], order)
        else:
            buddy.free_one_page(pfn, zone, order, buddy.pageblock_mt[pfn >> 9], False)

    def drain_all_pages(self, zone: str | None = None) -> None:
        """Give every page on every CPU's per-CPU lists back to the buddy lists.

        Mirrors drain_all_pages() (mm/page_alloc.c L3349): of one zone, or of all when
        ``zone`` is None; CPUs whose lists are empty are skipped.  6.1 calls it when direct
        reclaim made progress but the allocation still failed, after a kcompactd run that
        did not succeed, in alloc_contig_range() and when memory goes offline.
        """
        self._check_alive()
        self._drain_all_pages(self.zones if zone is None else [self.zone(zone)])
        if self.notify_each_call[0]:
            self.tick += 1

    def _drain_all_pages(self, zones) -> None:
        """drain_all_pages() inside another call: every CPU's lists of ``zones``, no tick."""
        for cpu in range(self.cpus):
            for z in zones:
                self.buddy.drain_pages_zone(z, cpu)

    def _owned_free(self, pfn: int, order: int, caller: str) -> None:
        """A free of a page some subsystem still holds: Linux's report, nothing freed.

        free_pages_prepare() → free_page_is_bad() → page_expected_state() (mm/page_alloc.c
        L1289) find a page table's page_type in _mapcount, a user or page-cache page's mapping
        and PG_lru, a slab's PG_slab; page_bad_reason() (L1283) runs its checks in order and
        each match overwrites the reason, so the *last* one is printed: PG_lru and PG_slab are
        in PAGE_FLAGS_CHECK_AT_FREE, checked after mapcount and mapping (memcg, checked last,
        is not modelled).  A vmalloc page passes every check in Linux and is freed while the
        area still maps it; kmviz refuses that in its own words.
        """
        owner = self.buddy.owner_of(pfn)
        callers = _free_frames(caller)
        trace = self._trace("free_pages_prepare", *callers)
        if owner == OWNER_VMALLOC:
            area = next(
                a for a in self.vmap_areas.values() if a.kind == "vmalloc" and pfn in a.pfns
            )
            message = (
                f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}) of a page the vmalloc area at "
                f"{area.addr:#x} maps: Linux would free it under the mapping, and whoever "
                "gets the frame next would share it with the buffer; nothing was freed (vfree() "
                "the area instead)"
            )
            self._refuse_free(pfn, message, trace)
            return
        flags_set = "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"
        reason = {
            OWNER_SLAB: flags_set,  # PG_slab
            OWNER_PAGE_TABLE: "nonzero mapcount",  # PG_table is a page_type, not a flag
            OWNER_ANON: flags_set,  # PG_lru, after its mapcount and anon mapping
            OWNER_FILE: flags_set,  # PG_lru, after its mapping
        }[owner]
        self._bad_page(pfn, reason, trace)

    def _bad_free(self, pfn: int, order: int, caller: str) -> None:
        """Report a free the kernel would catch, the way it catches it; change nothing."""
        code = plain_code(self.buddy.state[pfn])
        trace = self._trace(*_free_frames(caller))
        if code <= TAIL or 0 <= code < MAX_ORDER:  # a tail, or free: in the buddy or a pcp list
            self._free_free_page(pfn, order, caller, trace)
            return
        if code in (RESERVED, HOLE):
            self._bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", trace)
            return
        allocated_order = code & 15
        if order < 0:
            message = (
                f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}): the order is an unsigned int, "
                f"so Linux would read {order & 0xFFFFFFFF} and shift past 64 bits; "
                "nothing was freed"
            )
            self._refuse_free(pfn, message, trace)
            return
        if code >= COMPOUND:
            reason = "VM_BUG_ON_PAGE(compound && compound_order(page) != order)"
            if not self.debug_vm:
                message = (
                    f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}) of an order-"
                    f"{allocated_order} compound page: without CONFIG_DEBUG_VM Linux frees it "
                    f"as order {order} unchecked and the page state goes wrong; nothing was freed"
                )
                self._refuse_free(pfn, message, trace)
                return
            self._print_lines(self._dump_page(pfn, reason))
            self._print_lines(
                kernel_bug("mm/page_alloc.c:1459", self.comm, self.pid, self.taint, trace)
            )
            self._debug_report_note("CONFIG_DEBUG_VM")
            self.taint |= 1 << TAINT_DIE
            self.history.append_object(BadPageReported(pfn, reason))
            return
        if order > allocated_order:
            # free_pages_prepare() checks every tail page before freeing anything
            found = False
            for tail in range(pfn + (1 << allocated_order), pfn + (1 << min(order, MAX_ORDER))):
                reason = self._tail_bad_reason(tail)
                if reason:
                    self._bad_page(tail, reason, trace)
                    found = True
            if not found:  # every page above the block is free on a per-CPU list
                message = (
                    f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}) on an order-{allocated_order} "
                    "block: the pages above it sit free on a per-CPU list, which "
                    "free_pages_prepare() cannot tell from pages being freed; Linux would free "
                    "them a second time and corrupt that list; nothing was freed"
                )
                self._refuse_free(pfn, message, trace)
            return
        # order < allocated_order: Linux frees the first 2^order pages and leaks the rest,
        # silently; kmviz knows the allocation's order (as page_owner does) and says so.
        message = (
            f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}) on an order-{allocated_order} block: "
            f"Linux would free {1 << order} of its {1 << allocated_order} pages and leak the "
            "rest without a word; nothing was freed"
        )
        self._refuse_free(pfn, message, trace)

    def _free_free_page(self, pfn: int, order: int, caller: str, trace: list[str]) -> None:
        """__free_pages() of a page that is already free: its refcount is 0.

        put_page_testzero() (include/linux/mm.h L780) drops the refcount.  With CONFIG_DEBUG_VM
        VM_BUG_ON_PAGE(page_ref_count(page) == 0) stops the task first.  Without it the count
        goes to -1 and nothing is freed, silently; for order > 0 __free_pages() (L5737) then
        frees the block's upper halves a second time, which kmviz refuses in its own words.  A
        page at -1 is caught when a drain takes it off its pcp list (bulkfree_pcp_prepare(),
        L1563) or an allocation takes it from the buddy (check_new_pages(), L2424): either
        reports it ("nonzero _refcount") and leaks the block.  The real hazard is
        a reuse between the two frees, which no check sees: the second free then frees the new
        owner's page.
        """
        if self.debug_vm:
            reason = "VM_BUG_ON_PAGE(page_ref_count(page) == 0)"
            self._print_lines(self._dump_page(pfn, reason))
            self._print_lines(
                kernel_bug("include/linux/mm.h:780", self.comm, self.pid, self.taint, trace,
                           (struct_page_address(pfn), order))
            )  # fmt: skip
            self._debug_report_note("CONFIG_DEBUG_VM")
            self.taint |= 1 << TAINT_DIE
            self.history.append_object(BadPageReported(pfn, reason))
            return
        if order:
            message = (
                f"kmviz: {caller}(pfn:{pfn:#x}, order:{order}) of a free block: without "
                "CONFIG_DEBUG_VM Linux takes its refcount to -1 and frees the block's upper "
                "halves a second time; nothing was freed"
            )
            self._refuse_free(pfn, message, trace)
            return
        self.refcount_underflow.add(pfn)  # page_ref_dec_and_test(): 0 -> -1, not zero
        # the fast paths do not run check_new_pages(): send allocations through the slow one
        self._drop_fast_plans()

    def _check_pcp_refill(self, pfn: int, order: int) -> bool:
        """check_pcp_refill() (mm/page_alloc.c L2461): check_new_pages() as rmqueue_bulk()
        moves a block to a pcp list, in a kernel without CONFIG_DEBUG_VM."""
        return bool(self.refcount_underflow) and self._check_new_pages(pfn, order)

    def _bulkfree_pcp_prepare(self, pfn: int, order: int) -> bool:
        """bulkfree_pcp_prepare() (mm/page_alloc.c L1563): free_page_is_bad() as a drain takes
        a block off a pcp list for the buddy, in a kernel without CONFIG_DEBUG_VM.

        A page at refcount -1 (a silent double free, config="debian") is reported as bad_page()
        does ("nonzero _refcount"), and free_pcppages_bulk() leaves the block out of the buddy
        (leaked).
        """
        if pfn not in self.refcount_underflow:
            return False
        self.refcount_underflow.discard(pfn)
        self._bad_page(pfn, "nonzero _refcount", self._trace("free_pcppages_bulk"), refcount=-1)
        return True

    def _check_new_pages(self, pfn: int, order: int) -> bool:
        """check_new_pages() (mm/page_alloc.c L2424): True if a page of the block is bad.

        The first page at refcount -1 (a silent double free, config="debian") is reported as
        bad_page() does ("nonzero _refcount"); the block is left allocated to nobody (leaked),
        and the caller takes another.
        """
        end = pfn + (1 << order)
        bad = [page for page in self.refcount_underflow if pfn <= page < end]
        if not bad:
            return False
        self.refcount_underflow.discard(min(bad))
        self._bad_page(
            min(bad), "nonzero _refcount",
            self._trace("check_new_pages", "get_page_from_freelist", "__alloc_pages"),
            refcount=-1, checked_by=("bad_page",),
        )  # fmt: skip
        return True

    def _refuse_free(self, pfn: int, message: str, trace: list[str]) -> None:
        """A free Linux would get silently wrong: warn in kmviz's own words, change nothing."""
        self._print_lines(
            warning("mm/page_alloc.c:5745", self.comm, self.pid, self.taint, trace, message)
        )
        self.taint |= 1 << TAINT_WARN
        self.history.append_object(BadPageReported(pfn, message))

    def _tail_bad_reason(self, pfn: int) -> str:
        """Why free_page_is_bad() rejects a page inside a block being freed ('' if fine)."""
        code = plain_code(self.buddy.state[pfn]) if pfn < len(self.buddy.state) else HOLE
        if 0 <= code < MAX_ORDER:
            return "nonzero mapcount"  # PageBuddy lives in page_type, over _mapcount
        if code < PCP_END:
            return ""  # on a pcp list: refcount 0, no flags, no page_type
        if ALLOCATED <= code < RESERVED:
            return "nonzero _refcount"
        if code in (RESERVED, HOLE):
            return "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"
        return ""

    def _bad_page(
        self,
        pfn: int,
        reason: str,
        trace: list[str],
        refcount: int | None = None,
        checked_by: tuple[str, ...] = ("bad_page", "free_page_is_bad_report"),
    ) -> None:
        """bad_page(): report a page in a state it must not be in (mm/page_alloc.c L695).

        ``checked_by``: the frames between dump_stack_lvl and ``trace`` (the check that found
        it); ``refcount`` overrides what the page's state says (-1 after a silent double free).
        """
        now = self.now_ns()
        self.history.append_object(BadPageReported(pfn, reason))
        if self._bad_page_shown == BAD_PAGE_BURST:
            if now < self._bad_page_resume_ns:
                self._bad_page_unshown += 1
                return
            if self._bad_page_unshown:
                self._printk(
                    KERN_ALERT, f"BUG: Bad page state: {self._bad_page_unshown} messages suppressed"
                )
                self._bad_page_unshown = 0
            self._bad_page_shown = 0
        if self._bad_page_shown == 0:
            self._bad_page_resume_ns = now + BAD_PAGE_WINDOW_NS
        self._bad_page_shown += 1
        self.taint |= 1 << TAINT_BAD_PAGE
        self._printk(*bad_page_header(self.comm, pfn))
        self._print_lines(self._dump_page(pfn, reason, refcount))
        self._printk(KERN_WARNING, "Modules linked in:")
        self._print_lines(
            dump_stack(KERN_WARNING, self.comm, self.pid, self.taint,
                       ["dump_stack_lvl", *checked_by, *trace])
        )  # fmt: skip

    def _dump_page(self, pfn: int, reason: str, refcount_override: int | None = None) -> list:
        """dump_page() lines for ``pfn`` as its struct page would read now (or its refcount).

        Past the end of RAM the memory map still has struct pages, marked reserved
        (init_unavailable_range()).
        """
        buddy = self.buddy
        held = buddy.state[pfn] if pfn < self.nr_pfns else HOLE
        code = plain_code(held)
        zone = buddy.zone_of(pfn)
        zone_idx = zone.idx if zone else ZONE_NORMAL
        if 0 <= code < MAX_ORDER or code < PCP_END:
            # PageBuddy with buddy_order in page->private, or on a pcp list: no page_type,
            # linked through page->pcp_list (which shares the lru words)
            buddy_page = code >= 0
            refcount = 0
            mapcount = PAGE_BUDDY_MAPCOUNT if buddy_page else 0
            private = code if buddy_page else 0
            links = buddy.neighbours(pfn) if buddy_page else buddy.pcp_neighbours(zone, pfn)
            if links is None:  # taken off its free list (list_del() poisons the links)
                lru = (LIST_POISON1, LIST_POISON2)
            else:
                lru = tuple(
                    struct_page_address(n) if 0 <= n < len(buddy.state) else LIST_POISON1
                    for n in links
                )
        else:
            refcount = 1 if code >= ALLOCATED else 0
            # a mapped user page is mapped once; a page table's PG_table page_type lives in
            # _mapcount (0xfffffdff), which page_mapcount() reads as -512
            mapcount = {OWNER_ANON: 1, OWNER_PAGE_TABLE: -512}.get(holder(held), 0)
            private, lru = 0, (LIST_POISON1, LIST_POISON2)
        if refcount_override is not None:
            refcount = refcount_override
        return dump_page(
            pfn, zone_idx, refcount, mapcount, code in (RESERVED, HOLE), private, lru, reason,
            None if self.slub_debug else self.seed,  # slub_debug: no_hash_pointers
        )  # fmt: skip

    def _warn_once(
        self, location: str, frames: tuple[str, ...], args: tuple[int, ...] = ()
    ) -> None:
        """WARN_ON_ONCE(): the first time a location trips, print the warning; then never.

        ``frames[0]`` is the function that warned; ``args`` its arguments, for the registers.
        """
        if location in self._warned_once:
            return
        self._warned_once.add(location)
        self._print_lines(
            warning(location, self.comm, self.pid, self.taint, self._trace(*frames), args=args)
        )
        self.taint |= 1 << TAINT_WARN

    # === user space: tasks and the page cache ==================================================
    def spawn(self, comm: str, size: int | str = "16MiB", oom_score_adj: int = 0) -> int:
        """Start a user process that touches ``size`` of anonymous memory; its pid.

        Its pages are order-0 GFP_HIGHUSER_MOVABLE allocations, as page faults make them;
        the OOM killer may choose it.  If memory runs short it simply gets fewer pages.
        """
        self._check_alive()
        if not isinstance(comm, str) or not comm:
            raise TypeError("spawn() needs the process name as a non-empty str")
        _require_int("oom_score_adj", oom_score_adj, -MAX_OOM_SCORE_ADJ, MAX_OOM_SCORE_ADJ)
        wanted = _require_size(size)
        pid = self._next_pid
        self._next_pid += 1
        task = Task(comm[:15], pid, uid=1000, oom_score_adj=oom_score_adj)
        task.pages = self._user_pages(wanted, "anon", task.comm)
        self.tasks.append(task)
        if self.notify_each_call[0]:
            self.tick += 1
        return pid

    def kill(self, pid: int) -> None:
        """The task exits (SIGKILL): its memory goes back to the page allocator."""
        self._check_alive()
        for task in self.tasks:
            if task.pid == pid and not task.unkillable:
                self._exit_task(task)
                if self.notify_each_call[0]:
                    self.tick += 1
                return
        raise ValueError(f"no killable task with pid {pid}")

    def touch(self, pids, size: int | str) -> int:
        """Tasks ``pids`` each fault in ``size`` more anonymous memory, side by side; pages got.

        The tasks run at the same time on one CPU, so their page faults interleave: the pages
        come off the allocator in one run and go to the tasks in turn, page by page (each task
        gets every ``len(pids)``-th page).  When memory runs out they all get fewer pages.  A
        pid that is not a live user task is a ValueError.
        """
        self._check_alive()
        by_pid = {task.pid: task for task in self.tasks if not task.unkillable}
        tasks = []
        for pid in pids:
            if pid not in by_pid:
                raise ValueError(f"no user task with pid {pid!r}")
            tasks.append(by_pid[pid])
        pages = -(-_require_size(size) // PAGE_SIZE)
        pfns = self._user_pages(pages * len(tasks) * PAGE_SIZE, "anon", self.comm)
        for i, task in enumerate(tasks):
            task.pages.extend(pfns[i :: len(tasks)])
        if self.notify_each_call[0]:
            self.tick += 1
        return len(pfns)

    def fill_page_cache(self, size: int | str) -> int:
        """Read ``size`` of files into the page cache (clean, reclaimable); pages cached."""
        return self.read_files(((_require_size(size), 1),))

    def read_files(self, files) -> int:
        """Read files one after another into the page cache; the pages cached.

        ``files`` is a sequence of ``(size, reads)``: bytes (or a size such as "64KiB") and
        how often the file is read.  A file read once waits on the inactive list; one read
        again has its pages activated by folio_mark_accessed() (mm/swap.c L467): they join
        the active list and outlive the files read once.  The pages are allocated in one
        go, in the files' order (as readahead of each file in turn gets them); when memory
        runs out the files read last get fewer pages, or none.
        """
        self._check_alive()
        files = [  # (pages, read again?); plain ints pass without the parsing and messages
            (-(-size // PAGE_SIZE), reads > 1)
            if size.__class__ is int and 0 <= size <= MAX_MEM and reads.__class__ is int
            and reads > 0
            else (-(-_require_size(size) // PAGE_SIZE),
                  _require_int("reads", reads, 1, 1 << 30) > 1)
            for size, reads in files
        ]  # fmt: skip
        pfns = self._user_pages(sum(pages for pages, _ in files) * PAGE_SIZE, "file", self.comm)
        add = self.page_cache.add
        if len(files) == 1:
            add(pfns, files[0][1])
        else:
            start = 0
            for pages, again in files:
                add(pfns[start : start + pages], again)
                start += pages
        if self.notify_each_call[0]:
            self.tick += 1
        return len(pfns)

    def _user_pages(self, size: int, lru: str, comm: str) -> list[int]:
        """Order-0 movable pages for user space, as many of ``size`` bytes as fit without OOM.

        One __alloc_pages() per page, as faults and readahead make them; they join the ``lru``
        ("file" or "anon") list on behalf of task ``comm``.
        """
        gfp = GFP_HIGHUSER_MOVABLE | BIT.NOWARN | BIT.NORETRY
        code = ANON_PAGE if lru == "anon" else FILE_PAGE  # held_code(ALLOCATED, OWNER_*)
        pfns = self._pages_in_a_row(gfp, -(-size // PAGE_SIZE), code, "handle_mm_fault")
        if pfns:
            self.history.append_object(LruPagesAdded(tuple(pfns), lru, comm))
        if self._kswapd_pending:
            self._run_kswapd()
        return pfns

    def _pages_in_a_row(self, gfp: int, count: int, code: int, caller: str) -> list[int]:
        """``count`` order-0 pages, one __alloc_pages(gfp, 0) each from ``caller``; their pfns.

        Stops at the first failure.  Each page's state becomes ``code`` (ALLOCATED: a plain
        page; ANON_PAGE or FILE_PAGE: the LRU holds it).  kswapd, if an allocation woke it,
        runs after the last page (the caller's business).  With the C fast path the loop runs
        in FastPath.alloc_pages_bulk(), which walks the plan's zonelist for each page as
        get_page_from_freelist() does (at the low marks, then at the min marks once kswapd is
        woken: the slow path's pass) and leaves the rest of the slow path to
        _alloc_after_walk(); in atomic context might_sleep() reports once, for the first page.
        """
        pfns = []
        fast = self.pages_fastpath
        bulk = None
        if fast is not None:  # vmalloc's cache of _bulk_calls(), while gfp's plan holds
            cached = self._bulk_plans.get(gfp)
            plan = self._plans.get(gfp)
            bulk = cached[1] if cached and cached[0] is plan else self._bulk_calls(gfp)
        if bulk is not None:  # the loop below in C, each page already marked with ``code``
            zonelists = self._fault_zonelists.get(gfp)
            if zonelists is None or zonelists[0] is not plan:
                positions = {zone: position for position, zone in enumerate(self.zones)}
                zonelists = self._fault_zonelists[gfp] = (
                    plan,
                    tuple((positions[zone], mark) for zone, mark in plan.fast),
                    tuple((positions[zone], mark) for zone, mark in plan.slow),
                )
            first = functools.partial(self._alloc, gfp, 0, caller)
            later = functools.partial(first, might_sleep=False)
            fast.alloc_pages_bulk(
                bulk[0], count, pfns, first, later, zonelists[1],
                zonelists[2], self._kswapd_woken, code,
                functools.partial(self._alloc_after_walk, plan, False),
                functools.partial(self._alloc_after_walk, plan, True),
            )  # fmt: skip
            return pfns
        for number in range(count):  # in atomic context one report for the whole batch
            pfn = self._alloc(gfp, 0, caller, might_sleep=not number)
            if pfn < 0:
                break
            pfns.append(pfn)
        if code != ALLOCATED:
            state = self.buddy.state
            for pfn in pfns:
                state[pfn] = code
        return pfns

    def _alloc_after_walk(self, plan, slow_walked: bool) -> int:
        """An order-0 page for ``plan`` after FastPath found none on its zonelist walks; -1.

        The rest of __alloc_pages(): the slow path, or with ``slow_walked`` what follows its
        pass at the min marks (kswapd was woken already).  Kernel._alloc() would have made
        the same walks first, with the same outcome.
        """
        self._check_alive()
        return self._alloc_slowpath(plan, 0, slow_walked)

    def _kswapd_woken(self) -> bool:
        """Whether an allocation woke kswapd and it has not run yet (it runs after the call)."""
        return self._kswapd_pending is not None

    def _exit_task(self, task: Task) -> None:
        """do_exit(): free the task's pages and forget it."""
        self._reap_task(task)
        self.tasks.remove(task)

    def _reap_task(self, task: Task) -> None:
        """Free a task's anonymous pages (exit_mmap(), or the oom reaper's unmapping)."""
        self.pinned_pfns.difference_update(task.pages)  # the pins die with the mappings
        self._free_held_pages(task.pages, "exit_mmap")
        task.pages = []

    def _free_held_pages(self, pfns: list[int], caller: str) -> None:
        """Free order-0 pages their holder let go of, each in order, as ``caller`` does.

        The holder is the LRU (unmapped and off it: reclaim, exit) or a vmalloc area
        (__vunmap()'s loop, mm/vmalloc.c L2772); each is then a plain page for __free_pages().
        When every one is an order-0 page, the C loop FastPath.free_pages_bulk() frees them.
        """
        fast = self.pages_fastpath
        if fast is not None and fast.free_pages_bulk(pfns):  # the loop below in C
            return
        set_owner = self.buddy.set_owner
        for pfn in pfns:
            set_owner(pfn, OWNER_NONE)
            self._free(pfn, 0, caller)

    def _count_lru_pages(self, start: int, end: int) -> int:
        """Pages in [start, end) on an LRU list (PageLRU()): page cache and user tasks' memory.

        Those and only those are held by OWNER_ANON or OWNER_FILE, whose pages have the state
        codes ANON_PAGE and FILE_PAGE (invariants.check() holds it), so the count takes the
        length of the range, not of the lists.
        """
        states = self.buddy.state[start:end]
        return states.count(ANON_PAGE) + states.count(FILE_PAGE)

    def _stop_fast_paths(self) -> None:
        """After a panic every call goes through the Python checks, which refuse."""
        fastpath.detach(self)
        self.atomic_flag[0] = 1
        self.atomic = True
        self._fast_slabs = {}

    # === addresses =============================================================================
    def _require_pfn(self, page: Page) -> None:
        """A Page made by hand must name a frame of this machine (else TypeError/ValueError)."""
        pfn = page.pfn
        if isinstance(pfn, bool) or not isinstance(pfn, int):
            raise TypeError(f"a Page's pfn is an int, not {pfn!r}")
        if not 0 <= pfn < self.nr_pfns:
            raise ValueError(f"{page!r} is beyond this machine's memory")

    def page_address(self, page: Page) -> int:
        """The direct-map virtual address of ``page``'s first byte."""
        if not isinstance(page, Page):
            raise TypeError(f"page_address() takes a Page, not {page!r}")
        return PAGE_OFFSET + (page.pfn << PAGE_SHIFT)

    def virt_to_page(self, addr: int) -> Page:
        """The Page holding direct-map address ``addr`` (rounds down to its page).

        Any other address is a ValueError, a vmalloc one too: its Page comes from
        vmalloc_to_page().
        """
        if isinstance(addr, int) and VMALLOC_START <= addr <= VMALLOC_END:
            raise ValueError(f"{addr:#x} is vmalloc memory: use vmalloc_to_page() for its Page")
        return self.pfn_to_page(self.virt_to_phys(addr) >> PAGE_SHIFT)

    def pfn_to_page(self, pfn: int) -> Page:
        """The Page for page frame ``pfn``."""
        zone = self.buddy.zone_of(pfn)
        if zone is None:
            raise ValueError(f"pfn {pfn:#x} is beyond this machine's memory")
        return Page(pfn, zone.name)

    def virt_to_phys(self, addr: int) -> int:
        """Physical address of a direct-map address: ``addr - PAGE_OFFSET`` (__pa).

        A vmalloc address is not in the direct map: x86-64's CONFIG_DEBUG_VIRTUAL
        __phys_addr() hits VIRTUAL_BUG_ON (arch/x86/mm/physaddr.c L28); kmviz prints that
        report and the warning other architectures give ("virt_to_phys used for non-linear
        address"), and returns what __pa() computes, which names no frame of the buffer.
        Any other address outside the direct map is a Python ValueError.
        """
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"virt_to_phys() takes an address (int), not {addr!r}")
        phys = addr - PAGE_OFFSET
        if 0 <= phys < self.nr_pfns << PAGE_SHIFT:
            return phys
        if VMALLOC_START <= addr <= VMALLOC_END:
            self._print_lines(
                kernel_bug("arch/x86/mm/physaddr.c:28", self.comm, self.pid, self.taint,
                           self._trace("__phys_addr", "virt_to_phys"))
            )  # fmt: skip
            self._printk(
                KERN_WARNING,
                f"kmviz: virt_to_phys used for non-linear address: {addr:#x} is vmalloc memory, "
                "not in the direct map; use vmalloc_to_page() for each page",
            )
            self.taint |= 1 << TAINT_DIE
            self._notify()
            return phys
        raise ValueError(
            f"{addr:#x} is not in the direct map of this machine "
            f"({PAGE_OFFSET:#x}..{self.direct_map_end - 1:#x})"
        )

    def device(self, name: str = "nic", dma_bits: int = 64) -> Device:
        """A device that does DMA with ``dma_bits`` address lines (24 for an ISA card)."""
        if not isinstance(name, str) or not name:
            raise TypeError("device() needs a name (non-empty str)")
        if isinstance(dma_bits, bool) or not isinstance(dma_bits, int) or not 1 <= dma_bits <= 64:
            raise ValueError(f"dma_bits must be an int from 1 to 64, not {dma_bits!r}")
        return Device(self, name, dma_bits)

    def phys_to_virt(self, phys: int) -> int:
        """Direct-map address of physical address ``phys``: ``phys + PAGE_OFFSET`` (__va)."""
        if isinstance(phys, bool) or not isinstance(phys, int):
            raise TypeError(f"phys_to_virt() takes a physical address (int), not {phys!r}")
        if not 0 <= phys < self.nr_pfns << PAGE_SHIFT:
            raise ValueError(f"physical address {phys:#x} is beyond this machine's memory")
        return phys + PAGE_OFFSET

    # === state =================================================================================
    def _zone_name_of(self, pfn: int) -> str:
        zone = self.buddy.zone_of(pfn)
        return zone.name if zone else "?"

    def zone(self, name: str) -> Zone:
        """The zone called ``name`` ("DMA", "DMA32", "Normal")."""
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise KeyError(f"no zone {name!r} on this machine; it has {[z.name for z in self.zones]}")

    def free_pages_count(self) -> int:
        """NR_FREE_PAGES over all zones."""
        return sum(z.free_pages for z in self.zones)

    def pcp_pages_count(self) -> int:
        """Pages on every CPU's per-CPU lists: free, but not in NR_FREE_PAGES (MemFree)."""
        return sum(self.buddy.pcp_pages(z) for z in self.zones)

    def free_pages_in(self, zone: str) -> int:
        """Free pages in one zone."""
        return self.zone(zone).free_pages

    def zone_stats(self) -> list[dict]:
        """Per zone, what the views show: free pages, watermarks, reserves, blocks per order."""
        return [
            {
                "zone": z.name,
                "start_pfn": z.start_pfn,
                "end_pfn": z.end_pfn,
                "present": z.present_pages,
                "managed": z.managed_pages,
                "free": z.free_pages,
                "min": z.watermark[WMARK_MIN],
                "low": z.watermark[WMARK_LOW],
                "high": z.watermark[WMARK_HIGH],
                "lowmem_reserve": list(z.lowmem_reserve),
                "nr_free": list(z.nr_free),
                "page_cache": self.page_cache.in_zones(self.buddy.zone_of, {z.idx}),
                "pageset": [(count, z.pcp_high, z.pcp_batch) for count in z.pcp_count],
            }
            for z in self.zones
        ]

    def buddyinfo(self) -> dict[str, list[int]]:
        """``{zone name: nr_free per order 0..10}``, what /proc/buddyinfo prints."""
        return {z.name: list(z.nr_free) for z in self.zones}

    def block_at(self, pfn: int) -> tuple[int, int, str]:
        """The block containing ``pfn``: (first pfn, order, "free"/"pcp"/"allocated"/"reserved").

        "pcp": free, but on a CPU's per-CPU list rather than the buddy lists.
        """
        state = self.buddy.state
        if not 0 <= pfn < self.nr_pfns:
            raise ValueError(f"pfn {pfn:#x} is beyond this machine's memory")
        for order in range(MAX_ORDER):
            head = pfn & ~((1 << order) - 1)
            code = plain_code(state[head])
            if code == order:
                return head, order, "free"
            if PCP <= code < PCP_END and (code - PCP) >> 3 == order:
                return head, order, "pcp"
            if code in (ALLOCATED + order, COMPOUND + order):
                return head, order, "allocated"
        if state[pfn] == RESERVED:
            return pfn, 0, "reserved"
        return pfn, 0, "hole"

    def pageblock_migratetype(self, pfn: int) -> str:
        """The migratetype name of the pageblock holding ``pfn``."""
        _require_int("pfn", pfn, 0, self.nr_pfns - 1)
        return MIGRATETYPE_NAMES[self.buddy.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]]

    def cat(self, path: str) -> str:
        """The text of a /proc file, byte for byte as Linux 6.1 prints it."""
        return procfs.render(self, path)

    def fork(self) -> Kernel:
        """A copy of the machine as it is now (memory, history, clock, log); nothing observes it.

        What-if calls on the copy leave this machine alone: the lessons' questions take their
        answers from a fork of the notebook's machine instead of building it again.  The C
        fast paths of the copy work on the copy's arrays.
        """
        fast = {name: self.__dict__.pop(name) for name in fastpath.NAMES if name in self.__dict__}
        try:
            twin = copy.deepcopy(self)  # HasTraits' __getstate__ leaves the observers behind
        finally:
            self.__dict__.update(fast)
        twin.buddy.record = twin.history.records.append  # a list's method: deepcopy shares it
        if fast:
            fastpath.attach(twin)
        Kernel._every.add(twin)
        return twin

    def __repr__(self) -> str:
        zones = ", ".join(f"{z.name} {z.free_pages}/{z.managed_pages}" for z in self.zones)
        return f"<Kernel {format_size(self.mem)} free/managed pages: {zones}>"


# The kernel's own spellings. Inside a class body Python would mangle ``__free_pages`` into
# ``_Kernel__free_pages``; set after the class, the attributes keep their literal names, so
# ``k.__get_free_pages(GFP_KERNEL, 0)`` works from a notebook.
setattr(Kernel, "__get_free_pages", Kernel.get_free_pages)
setattr(Kernel, "__get_free_page", Kernel.get_free_page)
setattr(Kernel, "__free_pages", Kernel.free_pages_block)


def _require_int(name: str, value, low: int, high: int) -> int:
    """``value`` if it is an int within [low, high], else a precise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _require_size(size) -> int:
    """Bytes from ``size`` (an int or "16MiB"), at most the machine's limit; else an error."""
    nbytes = parse_size(size)
    if not 0 <= nbytes <= MAX_MEM:
        raise ValueError(f"a size from 0 to {format_size(MAX_MEM)}, not {size!r}")
    return nbytes
