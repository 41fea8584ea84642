"""vmalloc: hands out virtually contiguous kernel memory, in pages, from scattered page frames.

A vmalloc area is a range of kernel *virtual* addresses in [VMALLOC_START, VMALLOC_END]
(found lowest-address first, with a one-page guard after it) whose pages are order-0
allocations taken one at a time and stitched together by page-table entries.  To the CPU the
buffer is contiguous; in physical memory its frames are wherever the page allocator found
them -- which is why a device doing DMA, which sees physical addresses, cannot use it::

    virtual  0xffffc90000000000 0xffffc90000001000 0xffffc90000002000
    frames   pfn 0x3a07          pfn 0x1c42          pfn 0x3a06

Free space is found as 6.1 finds it, in a tree of free ranges augmented with the largest
range below each node (vmap_tree.py), so a call costs O(log n) however many areas exist.
Freed areas are purged lazily: their virtual range stays taken ("unpurged vm_area") until
enough has piled up (lazy_max_pages()), so a new vmalloc() does not reuse it at once.

``Kernel(boot_vmalloc=True)`` starts with what a booted 6.1 kernel has in this space (task and
IRQ stacks, ioremap()s of ACPI tables and the HPET, a percpu chunk, ...), from the real
captures (kmviz/data/boot-vmalloc-areas.json).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from .buddy import ALLOCATED, OWNER_NONE, OWNER_PAGE_TABLE, OWNER_VMALLOC
from .constants import MIGRATE_PCPTYPES, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .events import PageTableAllocated, VmallocFreed, VmallocMapped
from .gfp import (
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_ZERO,
    BIT,
    GFP_KERNEL,
    GFP_KERNEL_ACCOUNT,
    GFP_RECLAIM_MASK,
    BadGfpZone,
    describe_gfp,
)
from .history import BULK_TAKEN_BIT
from .page import Page
from .pagetable import (
    MODULES_END,
    MODULES_VADDR,
    PAGE_KERNEL,
    PAGE_KERNEL_IO_UC_MINUS,
    PMD_SIZE,
    PUD_SIZE,
    VMALLOC_END,
    VMALLOC_START,
    PageTableError,
    PageTables,
    Walk,
    canonical,
)
from .printk import KERN_WARNING
from .reports import TAINT_DIE, TAINT_WARN, dump_stack, kernel_bug, warning
from .vmap_tree import TouchingRanges, VmapRanges

GFP_PGTABLE_KERNEL = GFP_KERNEL | __GFP_ZERO  # page-table pages (asm-generic/pgalloc.h)
VMALLOC_CALLER = "lesson_init+0x1d/0x1000 [lesson]"
MAX_TABLES_AT_ONCE = 8  # pages: the PGD and the direct map's tables, with room to spare
BOOT_AREAS = Path(__file__).parent.parent / "data" / "boot-vmalloc-areas.json"
THREAD_SIZE = 16 << 10  # bytes: a task's stack, THREAD_SIZE_ORDER 2; THREAD_ALIGN is the same
PCPU_ATOM_SIZE = 2 << 20  # bytes: x86-64 percpu chunks come in PMD_SIZE allocations
IOREMAP_MAX_ORDER = 30  # PUD_SHIFT (arch/x86/include/asm/page_types.h L41)
VM_BULK_MAX = 100  # pages: vm_area_alloc_pages()'s largest request to the bulk allocator
# the mask each boot-time vmalloc caller passes, by the function of its caller address
BOOT_VMALLOC_GFP = {
    # alloc_thread_stack_node(): THREADINFO_GFP & ~__GFP_ACCOUNT (kernel/fork.c L318)
    "kernel_clone": GFP_KERNEL | __GFP_ZERO,
    "fork_idle": GFP_KERNEL | __GFP_ZERO,
    "gen_pool_add_owner": GFP_KERNEL | __GFP_ZERO,  # vzalloc_node() (lib/genalloc.c L192)
    "bpf_prog_alloc_no_stats": GFP_KERNEL_ACCOUNT | __GFP_ZERO,  # kernel/bpf/core.c L88
    # pcpu_balance_populated()'s GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN (mm/percpu.c
    # L2043) through pcpu_create_chunk() and pcpu_mem_zalloc()'s | __GFP_ZERO
    "pcpu_create_chunk": GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN | __GFP_ZERO,
    "crypto_scomp_init_tfm": GFP_KERNEL,  # vmalloc_node() (crypto/scompress.c L93)
    "n_tty_open": GFP_KERNEL | __GFP_ZERO,  # vzalloc() (drivers/tty/n_tty.c L1900)
    "bpf_prog_pack_alloc": GFP_KERNEL,  # module_alloc() (arch/x86/kernel/module.c L70)
}


@dataclass(eq=False, slots=True)
class VmArea:
    """One vmalloc area (struct vm_struct): its range, guard page included, and its frames."""

    addr: int  # first virtual address
    size: int  # bytes, guard page included, as /proc/vmallocinfo prints it
    pfns: list[int]  # the frame behind each page, in virtual order
    caller: str
    array: int  # address of the page-pointer array (kmalloc'ed, or vmalloc'ed: vpages)
    vpages: bool
    # "vmalloc": pages owned by the area; "vmap": the caller's pages; "ioremap": device or
    # firmware memory at ``phys``; "percpu": a percpu chunk's range (pcpu_get_vm_areas())
    kind: str = "vmalloc"
    phys: int = 0  # ioremap: the physical address mapped

    @property
    def end(self) -> int:
        """One past the guard page."""
        return self.addr + self.size


class VmallocAPI:
    """Mixin for Kernel: vmalloc/vfree, the kernel page tables, walks and /proc/vmallocinfo."""

    pages_fastpath = None  # the C FastPath while fastpath.attach() has put one in front

    def _vmalloc_init(self) -> None:
        self.vmap_areas: dict[int, VmArea] = {}  # live areas by address (vmap_area_root)
        # free_vmap_area_root: all of the address space but the live and unpurged areas, as
        # vmap_init_free_space() (mm/vmalloc.c L2433) starts it: [1, ULONG_MAX)
        self.free_vmap_areas = VmapRanges(self.seed)
        self.free_vmap_areas.add(1, (1 << 64) - 1)
        # purge_vmap_area_root: freed areas whose range stays taken until the purge
        self.purge_vmap_areas = TouchingRanges()
        self._bulk_plans: dict[int, tuple] = {}  # by GFP mask: (AllocPlan, _bulk_calls())
        self.vmap_lazy_nr = 0  # pages in purge_vmap_areas
        self.deferred_vfree: list[int] = []  # vfree() from interrupt context, done later
        self.pgtable_pfns: set[int] = set()
        self._page_tables: PageTables | None = None
        self.nr_vmalloc_pages = 0  # pages vmalloc() allocated and vfree() has not freed
        self._totalram_floor = 0  # totalram_pages() when last counted: the count only grows
        # lazy_max_pages() (mm/vmalloc.c L1770): fls(num_online_cpus()) * 32 MiB, in pages
        self.lazy_max_pages = self.cpus.bit_length() * ((32 << 20) >> PAGE_SHIFT)

    # --- the kernel page tables ------------------------------------------------------------
    @property
    def page_tables(self) -> PageTables | None:
        """init_mm's page tables, built on first use with the direct map in 2 MiB/1 GiB pages.

        None if the page allocator has no pages left for them (nothing is kept then).
        (Simplified: Linux builds them during boot from memblock; here their pages come from
        the page allocator when something is first mapped.)
        """
        if self._page_tables is None:
            try:
                tables = PageTables(self._alloc_pgtable, self._free_pgtable)
            except PageTableError:  # no page for the PGD
                return None
            for start, end in self._direct_map_ranges():
                offset = start
                while offset < end:
                    step = (
                        PUD_SIZE
                        if offset % PUD_SIZE == 0 and end - offset >= PUD_SIZE
                        else PMD_SIZE
                    )
                    level = "PUD" if step == PUD_SIZE else "PMD"
                    if not tables.map_large(PAGE_OFFSET + offset, offset >> PAGE_SHIFT, level):
                        for pfn in sorted(tables.table_pages(), reverse=True):
                            self._free_pgtable(pfn)
                        return None
                    offset += step
            self._page_tables = tables
        return self._page_tables

    def _direct_map_ranges(self) -> list[tuple[int, int]]:
        """The RAM ranges the direct map covers, in bytes, widened to 2 MiB pages.

        init_mem_mapping() maps each memblock.memory range (arch/x86/mm/init.c L770), so the
        PCI hole has no direct map; Linux maps the unaligned ends with 4 KiB pages, kmviz with
        the 2 MiB page around them.
        """
        ranges: list[tuple[int, int]] = []
        for start, end in self.memory.ram:
            low = (start << PAGE_SHIFT) // PMD_SIZE * PMD_SIZE
            high = -(-(end << PAGE_SHIFT) // PMD_SIZE) * PMD_SIZE
            if ranges and low <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], max(high, ranges[-1][1]))
            else:
                ranges.append((low, high))
        return ranges

    def _alloc_pgtable(self, level: str) -> int:
        """A zeroed page for a page table (GFP_PGTABLE_KERNEL); -1 if none."""
        pfn = self._alloc(GFP_PGTABLE_KERNEL, 0, "__pte_alloc_kernel")
        if pfn >= 0:
            self.pgtable_pfns.add(pfn)
            self.buddy.set_owner(pfn, OWNER_PAGE_TABLE)
            self.history.append_object(PageTableAllocated(pfn, level))
        return pfn

    def _free_pgtable(self, pfn: int) -> None:
        self.pgtable_pfns.discard(pfn)
        self.buddy.set_owner(pfn, OWNER_NONE)
        self._free(pfn, 0, "pte_free_kernel")

    def walk(self, vaddr: int) -> Walk:
        """What the MMU does with ``vaddr``: the four levels, and the physical address or fault.

        A non-canonical address never reaches the page tables: the CPU raises #GP, reported
        as exc_general_protection() does (arch/x86/kernel/traps.c L773), with no steps.
        kmviz builds init_mm's tables on first use (Linux has them from boot); a walk builds
        them only if the page allocator's fast path can give their pages, so reading never
        reclaims, kills or panics.  Without tables (a full or panicked machine) the walk has
        no steps: a direct-map address translates as __pa() does, any other faults at the PGD.
        """
        if isinstance(vaddr, bool) or not isinstance(vaddr, int):
            raise TypeError(f"walk() takes a virtual address (int), not {vaddr!r}")
        if not 0 <= vaddr < 1 << 64 or not canonical(vaddr):
            lines = [
                (KERN_WARNING,
                 "general protection fault, probably for non-canonical address "
                 f"{vaddr & (1 << 64) - 1:#x}: 0000 [#1] PREEMPT SMP NOPTI"),
            ]  # fmt: skip
            lines += dump_stack(KERN_WARNING, self.comm, self.pid, self.taint,
                                self._trace("asm_exc_general_protection"))  # fmt: skip
            self._print_lines(lines)
            self.taint |= 1 << TAINT_DIE
            self._notify()
            return Walk(vaddr & (1 << 64) - 1, (), None, "#GP")
        if self._page_tables is None and self._tables_come_easily():
            self.page_tables  # noqa: B018 -- built on first use, as the docstring says
            self._notify()
        if self._page_tables is None:
            phys = vaddr - PAGE_OFFSET
            if any(start <= phys < end for start, end in self._direct_map_ranges()):
                return Walk(vaddr, (), phys, None)
            return Walk(vaddr, (), None, "PGD")
        return self._page_tables.walk(vaddr)

    def _tables_come_easily(self) -> bool:
        """Whether the first zone of GFP_PGTABLE_KERNEL keeps its low mark after the tables."""
        if self.panic_message is not None or self.boot_stage != "running":
            return False
        zone, mark = self._plan(GFP_PGTABLE_KERNEL).fast[0]
        return zone.free_pages - MAX_TABLES_AT_ONCE > mark

    # --- vmalloc ---------------------------------------------------------------------------
    def vmalloc(self, size: int) -> int:
        """``size`` bytes of virtually contiguous memory (GFP_KERNEL), or 0 (NULL)."""
        addr = self._vmalloc(size, GFP_KERNEL, VMALLOC_CALLER)
        self._notify()
        return addr

    def vzalloc(self, size: int) -> int:
        """vmalloc() of zeroed memory."""
        addr = self._vmalloc(size, GFP_KERNEL | BIT.ZERO, VMALLOC_CALLER)
        self._notify()
        return addr

    def _vmalloc(
        self,
        size: int,
        gfp: int,
        caller: str,
        align: int = PAGE_SIZE,
        vstart: int = VMALLOC_START,
        vend: int = VMALLOC_END + 1,
    ) -> int:
        """__vmalloc_node_range() (mm/vmalloc.c L3215): area, page array, pages, mappings.

        ``align`` (bytes, a power of two) and [vstart, vend) bound where the area may lie:
        a task's stack asks for THREAD_ALIGN, module_alloc() for module space.
        """
        if self.panic_message is not None:  # _check_alive() raises
            self._check_alive()
        if size.__class__ is not int and (isinstance(size, bool) or not isinstance(size, int)):
            raise TypeError(f"vmalloc() size must be an int >= 0 bytes, not {size!r}")
        if size < 0:
            raise TypeError(f"vmalloc() size must be an int >= 0 bytes, not {size!r}")
        if self.deferred_vfree:
            self._run_deferred_vfree()
        if self.context.in_interrupt():  # __get_vm_area_node(): BUG_ON(in_interrupt())
            self._print_lines(
                kernel_bug("mm/vmalloc.c:2554", self.comm, self.pid, self.taint,
                           self._trace("__get_vm_area_node", "__vmalloc_node_range", "vmalloc"))
            )  # fmt: skip
            self.taint |= 1 << TAINT_DIE
            return 0
        nr_pages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
        if self.boot_stage != "running":  # before vmalloc_init(): alloc_vmap_area() -EBUSY
            self._vmalloc_error(gfp, f"vmalloc error: size {size}, vm_struct allocation failed")
            return 0
        if not nr_pages or (nr_pages > self._totalram_floor and nr_pages > self._totalram()):
            self._vmalloc_error(gfp, f"vmalloc error: size {size}, exceeds total pages")
            return 0
        if gfp & BIT.DIRECT_RECLAIM and self.atomic:  # alloc_vmap_area(): might_sleep()
            self._might_sleep(gfp, "mm/vmalloc.c:1673", ("alloc_vmap_area", "vmalloc"))
        addr = self._alloc_vmap_area((nr_pages + 1) << PAGE_SHIFT, align, vstart, vend)
        if addr is None:
            return 0
        # reserve the range while the pages are found, as the vmap_area is inserted first
        area = VmArea(addr, (nr_pages + 1) << PAGE_SHIFT, [], caller, 0, False)
        self.vmap_areas[addr] = area
        # __vmalloc_area_node() (mm/vmalloc.c L3090): the page array is asked for with the
        # caller's reclaim bits only, zeroed (nested_gfp: GFP_KERNEL_ACCOUNT gives
        # GFP_KERNEL|__GFP_ZERO); the pages with __GFP_NOWARN, and __GFP_HIGHMEM unless the
        # caller asked for DMA or DMA32 memory (on x86-64 still ZONE_NORMAL: gfp_zone())
        nested_gfp = (gfp & GFP_RECLAIM_MASK) | BIT.ZERO
        page_gfp = gfp | BIT.NOWARN
        if not page_gfp & (BIT.DMA | BIT.DMA32):
            page_gfp |= BIT.HIGHMEM  # GFP_KERNEL 0xcc0 -> 0x2cc2
        array_bytes = nr_pages * 8
        if array_bytes > PAGE_SIZE:  # __vmalloc_node(array_size, ..., area->caller)
            area.array, area.vpages = self._vmalloc(array_bytes, nested_gfp, caller), True
        else:
            area.array = self.kmalloc(array_bytes, nested_gfp)
        # 6.1.192's three warn_alloc() calls below get the mask with __GFP_NOWARN already
        # set, so a failure here prints nothing (only the page array's own kmalloc reports)
        if not area.array:
            self._undo_vmalloc(area)
            return 0
        area.pfns = self._vm_area_alloc_pages(page_gfp, nr_pages)
        if len(area.pfns) < nr_pages:
            self._undo_vmalloc(area)
            return 0
        tables = self._page_tables or self.page_tables  # built on first use
        if tables is None or tables.map_checked(addr, area.pfns, PAGE_KERNEL) < nr_pages:
            self._undo_vmalloc(area)
            return 0
        self.nr_vmalloc_pages += nr_pages
        self.history.append_object(("vmalloc", addr, area.size, tuple(area.pfns)))  # compact
        return addr

    def _totalram(self) -> int:
        """totalram_pages(): the pages the zones manage (remembered as a floor: boot, CMA and
        freed reserved pages only ever add to it)."""
        self._totalram_floor = total = sum(z.managed_pages for z in self.zones)
        return total

    def _vm_area_alloc_pages(self, gfp: int, count: int) -> list[int]:
        """``count`` order-0 pages for a vmalloc area, fewer if memory ran out; their pfns.

        Mirrors vm_area_alloc_pages() (mm/vmalloc.c L2989) for order 0: the bulk allocator
        is asked for at most VM_BULK_MAX pages a call ("to prevent a long preemption off
        scenario"), with __GFP_NOFAIL taken out ("bulk allocator doesn't support nofail req.
        officially"); once a call returns fewer pages than asked, the rest come one
        alloc_pages() at a time with the caller's own mask ("fallback to a single page
        allocator that is more permissive").  Each page belongs to the area as it comes
        (OWNER_VMALLOC), as vm_area_alloc_pages() puts it in area->pages.  (6.1 also stops
        that fallback at fatal_signal_pending(); no kmviz task gets a fatal signal.)
        """
        pfns: list[int] = []
        fast = self.pages_fastpath
        if fast is not None and not self.atomic and not gfp & BIT.NOFAIL:
            cached = self._bulk_plans.get(gfp)  # (AllocPlan, _bulk_calls()) while it holds
            if cached is not None and cached[0] is self._plans.get(gfp):
                bulk = cached[1]
            else:
                bulk = self._bulk_calls(gfp)
            if bulk is not None:  # the same loops in C
                plan, zonelist, in_bulk, single, fallback = bulk
                fast.alloc_pages_bulk(
                    plan, count, pfns, in_bulk, single, fallback, zonelist,
                )  # fmt: skip
                return pfns
        bulk_gfp = gfp & ~BIT.NOFAIL
        while len(pfns) < count:
            request = min(VM_BULK_MAX, count - len(pfns))
            if self._alloc_pages_bulk(bulk_gfp, request, pfns) != request:
                break
        while len(pfns) < count and self._alloc_vmalloc_page(gfp, "__vmalloc_area_node", pfns):
            pass
        return pfns

    def _alloc_pages_bulk(self, gfp: int, nr_pages: int, pfns: list[int]) -> int:
        """Append up to ``nr_pages`` order-0 pages to ``pfns``; how many it appended.

        Mirrors __alloc_pages_bulk() (mm/page_alloc.c L5469) filling vm_area_alloc_pages()'s
        array.  "Use the single page allocator for one page": a request of 1 is one
        __alloc_pages().  Otherwise prepare_alloc_pages() (might_alloc() included), then one
        watermark test for the whole request: the first zone of the zonelist whose free
        pages (free CMA pages only with ALLOC_CMA) exceed its low watermark plus
        lowmem_reserve plus ``nr_pages`` (zone_watermark_fast(zone, 0, wmark_low + nr_pages));
        with none, one __alloc_pages() "and reclaim if necessary".  From that zone the pages
        come off this CPU's pcp list by __rmqueue_pcplist() (take_pcp_head()), an empty list
        refilled by rmqueue_bulk(), with ALLOC_WMARK_LOW alone (no ALLOC_NOFRAGMENT: that is
        __alloc_pages()'s alloc_flags_nofragment()), without rmqueue_pcplist()'s halving of
        free_factor, and without mm_page_alloc: each page gets prep_new_page() only
        (BULK_TAKEN_BIT, PagesAllocatedInBulk).  A list that cannot be refilled ends the
        loop: with no page yet, one __alloc_pages() ("Try and allocate at least one page"),
        else what it has.  (6.1 also sends __GFP_ACCOUNT requests to __alloc_pages() while
        memcg_kmem_enabled(), and everything while page_owner is on; kmviz has neither.)
        """
        if nr_pages == 1:  # "Use the single page allocator for one page."
            return self._alloc_vmalloc_page(gfp, "__alloc_pages_bulk", pfns)
        plan = self._plans.get(gfp)  # vmalloc() runs after boot: no gfp_allowed_mask to apply
        if plan is None:
            try:
                plan = self._plans[gfp] = self._plan(gfp)
            except BadGfpZone:  # __alloc_pages() reports it and fails
                return self._alloc_vmalloc_page(gfp, "__alloc_pages_bulk", pfns)
        # no zone for the mask, or __GFP_MOVABLE|__GFP_RECLAIMABLE: __alloc_pages() fails them
        if not plan.fast or plan.migratetype >= MIGRATE_PCPTYPES:
            return self._alloc_vmalloc_page(gfp, "__alloc_pages_bulk", pfns)
        if gfp & BIT.DIRECT_RECLAIM and self.atomic:  # prepare_alloc_pages(): might_alloc()
            self._might_sleep(
                gfp, "include/linux/sched/mm.h:274", ("__alloc_pages_bulk", "__vmalloc_area_node")
            )
        cma = plan.alloc_cma
        for zone, mark in plan.fast:  # "Find an allowed local zone that meets the low watermark"
            if (zone.free_pages if cma else zone.free_pages - zone.free_cma) > mark + nr_pages:
                break
        else:  # "try to allocate a single page and reclaim if necessary"
            return self._alloc_vmalloc_page(gfp, "__alloc_pages_bulk", pfns)
        buddy, underflow = self.buddy, self.refcount_underflow
        cpu, mt = self.context.cpu_cell[0], plan.migratetype
        head = ALLOCATED  # order-0 pages are plain, even under __GFP_COMP (head_code())
        record = plan.record | BULK_TAKEN_BIT
        taken = 0
        while taken < nr_pages:  # "Attempt the batch allocation"
            pfn = buddy.take_pcp_head(zone, cpu, 0, mt, record, head, False, cma)
            if pfn < 0:
                if not taken:  # "Try and allocate at least one page"
                    return self._alloc_vmalloc_page(gfp, "__alloc_pages_bulk", pfns)
                break
            # prep_new_page(): refcount 1 (check_new_pcp() checks only with CONFIG_DEBUG_VM,
            # where no refcount underflows)
            underflow.discard(pfn)
            pfns.append(pfn)
            buddy.set_owner(pfn, OWNER_VMALLOC)
            taken += 1
        return taken

    def _alloc_vmalloc_page(self, gfp: int, caller: str, pfns: list[int]) -> int:
        """One __alloc_pages(gfp, 0) from ``caller`` for a vmalloc area, appended to ``pfns``
        and held by the area: 1, or 0 if it failed."""
        pfn = self._alloc(gfp, 0, caller)
        if pfn < 0:
            return 0
        pfns.append(pfn)
        self.buddy.set_owner(pfn, OWNER_VMALLOC)
        return 1

    def _bulk_calls(self, gfp: int) -> tuple | None:
        """What FastPath.alloc_pages_bulk() needs besides the count for vmalloc's pages with
        ``gfp`` (no __GFP_NOFAIL: bulk and fallback then share the mask); None while the C
        loops could not mirror _vm_area_alloc_pages().

        The plan (as _plan_for_c() gives it), its zonelist as (zone position, low mark)
        pairs, then the Python steps C hands over to: _alloc_pages_bulk() (nr_pages, pfns)
        and _alloc_vmalloc_page() (pfns) from __alloc_pages_bulk() and from the fallback
        loop.  None before a first allocation made ``gfp``'s plan, outside the running kernel
        (boot masks the flags), after a panic, and for a plan the C fast path does not know:
        no zone, or no pcp list for its migratetype.
        """
        plan = self._plans.get(gfp)
        if (
            plan is None
            or plan.first_zone is None
            or plan.migratetype >= MIGRATE_PCPTYPES
            or self.boot_stage != "running"
            or self.panic_message is not None
        ):
            return None
        calls = (
            self._plan_for_c(plan),
            tuple((self.zones.index(zone), mark) for zone, mark in plan.fast),
            functools.partial(self._alloc_pages_bulk, gfp),
            functools.partial(self._alloc_vmalloc_page, gfp, "__alloc_pages_bulk"),
            functools.partial(self._alloc_vmalloc_page, gfp, "__vmalloc_area_node"),
        )
        self._bulk_plans[gfp] = (plan, calls)
        return calls

    def _alloc_vmap_area(
        self,
        size: int,
        align: int = PAGE_SIZE,
        vstart: int = VMALLOC_START,
        vend: int = VMALLOC_END + 1,
    ) -> int | None:
        """alloc_vmap_area() (mm/vmalloc.c L1655): take the lowest free ``size`` bytes; or None.

        __alloc_vmap_area() (L1562) asks the free tree for the lowest range that fits
        between ``vstart`` and ``vend`` and cuts the request out of it.  On failure the
        lazily freed areas are purged and the search runs once more; then 6.1 warns.
        """
        addr = self.free_vmap_areas.alloc(size, align, vstart, vend)
        if addr is not None:
            return addr
        self._purge_vmap_areas()
        addr = self.free_vmap_areas.alloc(size, align, vstart, vend)
        if addr is not None:
            return addr
        self._printk(
            KERN_WARNING,
            f"vmap allocation for size {size} failed: use vmalloc=<size> to increase size",
        )
        return None

    def _undo_vmalloc(self, area: VmArea) -> None:
        """Give back what a failed vmalloc() had taken: mappings, pages, array, range."""
        if self._page_tables is not None:
            self._page_tables.unmap_pages(area.addr, len(area.pfns))
        self._free_held_pages(area.pfns, "__vunmap")
        if area.array:
            if area.vpages:
                self.vfree(area.array)
            else:
                self.kfree(area.array)
        # simplified: the range goes straight back to the free tree (free_vmap_area()), not
        # through the lazy purge as 6.1's vfree() of the half-built area does
        del self.vmap_areas[area.addr]
        self.free_vmap_areas.add(area.addr, area.end)

    def _vmalloc_error(self, gfp: int, text: str) -> None:
        """warn_alloc() for vmalloc: the message with the mask, unless __GFP_NOWARN."""
        if gfp & BIT.NOWARN:
            return
        self._printk(
            KERN_WARNING, f"{self.comm}: {text}, mode:{describe_gfp(gfp)}, nodemask=(null)"
        )

    # --- vfree -----------------------------------------------------------------------------
    def vfree(self, addr: int) -> None:
        """Free a vmalloc area; vfree(NULL) does nothing; in interrupt context it is deferred.

        Mirrors vfree() (mm/vmalloc.c L2852): BUG_ON(in_nmi()), might_sleep_if(!in_interrupt()),
        and __vfree_deferred() when in_interrupt().
        """
        if self.panic_message is not None:  # _check_alive() raises
            self._check_alive()
        if addr.__class__ is not int or not 0 < addr < 1 << 64:
            addr = self._require_addr(addr)
            if addr == 0:
                return
        context = self.context
        interrupted = context.in_interrupt()
        if interrupted and context.in_nmi():
            self._print_lines(
                kernel_bug("mm/vmalloc.c:2854", self.comm, self.pid, self.taint,
                           self._trace("vfree"))
            )  # fmt: skip
            self.taint |= 1 << TAINT_DIE
            self._notify()
            return
        if interrupted:
            self.deferred_vfree.append(addr)
            self.history.append_object(VmallocFreed(addr, deferred=True))
            self._notify()
            return
        if self.atomic:
            self._might_sleep(GFP_KERNEL, "mm/vmalloc.c:2858", ("vfree",))
        self._vfree_now(addr)
        self._notify()

    def _nonexistent_area(self, addr: int, caller: str) -> None:
        """__vunmap()'s WARN for an address that starts no vm area (mm/vmalloc.c L2758)."""
        self._print_lines(
            warning("mm/vmalloc.c:2758", self.comm, self.pid, self.taint,
                    self._trace("__vunmap", caller),
                    f"Trying to vfree() nonexistent vm area ({self._ptr(addr)})")
        )  # fmt: skip
        self.taint |= 1 << TAINT_WARN

    def _vfree_now(self, addr: int) -> None:
        """__vunmap(addr, 1): unmap the area, free its pages and page array, queue the range."""
        area = self.vmap_areas.get(addr)
        if area is None or area.kind != "vmalloc":  # vmap(), ioremap() and percpu areas too
            self._nonexistent_area(addr, "vfree")
            return
        self._page_tables.clear_range(addr, len(area.pfns))  # vunmap, then __free_pages() each
        self._free_held_pages(area.pfns, "__vunmap")
        self.nr_vmalloc_pages -= len(area.pfns)
        if area.vpages:
            self._vfree_now(area.array)
        else:
            self.kfree(area.array)
        self._free_vmap_area_noflush(area)
        self.history.append_object(("vfree", addr))  # VmallocFreed(addr, False), compact

    def _run_deferred_vfree(self) -> None:
        """delayed_vfree_work(): free what interrupt handlers asked to free."""
        if self.deferred_vfree and not self.in_interrupt():
            pending, self.deferred_vfree = self.deferred_vfree, []
            for addr in pending:
                self._vfree_now(addr)

    def _free_vmap_area_noflush(self, area: VmArea) -> None:
        """free_vmap_area_noflush() (mm/vmalloc.c L1881): the range waits for the purge.

        It leaves the busy areas, merges with any unpurged neighbour it touches, and its pages
        count towards vmap_lazy_nr; above lazy_max_pages() the purge runs (6.1 schedules
        drain_vmap_work for it; kmviz runs it at once).
        """
        addr, size = area.addr, area.size
        del self.vmap_areas[addr]
        self.purge_vmap_areas.add(addr, addr + size)
        self.vmap_lazy_nr += size >> PAGE_SHIFT
        if self.vmap_lazy_nr > self.lazy_max_pages:
            self._purge_vmap_areas()

    def _purge_vmap_areas(self) -> None:
        """__purge_vmap_area_lazy() (mm/vmalloc.c L1794): unpurged ranges become free space.

        Each range merges into the free tree with its free neighbours
        (merge_or_add_vmap_area_augment()), after one TLB flush for all of them.
        """
        for lazy in self.purge_vmap_areas:
            self.free_vmap_areas.add(lazy.start, lazy.end)
        self.purge_vmap_areas.clear()
        self.vmap_lazy_nr = 0

    def vmap(self, pages: list[Page]) -> int:
        """Map the caller's ``pages`` into one virtually contiguous range; its address or 0.

        Mirrors vmap() (mm/vmalloc.c L2902): might_sleep(), a vmap area with a guard page,
        the pages mapped with PAGE_KERNEL.  The pages stay the caller's: vunmap() does not
        free them.
        """
        self._check_alive()
        if (
            not isinstance(pages, list | tuple)
            or not pages
            or not all(isinstance(p, Page) for p in pages)
        ):
            raise TypeError("vmap() takes a non-empty list of Page objects from alloc_pages()")
        for page in pages:
            self._require_pfn(page)
        if self.atomic:
            self._might_sleep(GFP_KERNEL, "mm/vmalloc.c:2907", ("vmap",))
        addr = self._map_area([p.pfn for p in pages], VMALLOC_CALLER, "vmap")
        self._notify()
        return addr

    def _map_area(
        self,
        pfns: list[int],
        caller: str,
        kind: str,
        phys: int = 0,
        align: int = PAGE_SIZE,
        prot: int = PAGE_KERNEL,
    ) -> int:
        """A vmalloc-space area with a guard page mapping ``pfns``, which stay their owner's.

        get_vm_area_caller() and vmap_pages_range(), as vmap() (mm/vmalloc.c L2902) and
        ioremap_prot() (mm/ioremap.c L13) make them; the address, or 0.
        """
        addr = self._alloc_vmap_area((len(pfns) + 1) << PAGE_SHIFT, align)
        if addr is None:
            return 0
        area = VmArea(addr, (len(pfns) + 1) << PAGE_SHIFT, pfns, caller, 0, False, kind, phys)
        tables = self.page_tables
        if tables is None or tables.map_pages(addr, pfns, prot) < len(pfns):
            if tables is not None:
                tables.unmap_pages(addr, len(pfns))
            self.free_vmap_areas.add(addr, area.end)
            return 0
        self.vmap_areas[addr] = area
        # an ioremap maps no page of RAM the views could colour
        shown = () if kind == "ioremap" else tuple(pfns)
        self.history.append_object(VmallocMapped(addr, area.size, shown, kind))
        return addr

    def vunmap(self, addr: int) -> None:
        """Undo vmap(): unmap the range and keep the pages; vunmap(NULL) does nothing.

        Mirrors vunmap() (mm/vmalloc.c L2876): BUG_ON(in_interrupt()), then __vunmap(addr, 0)
        for a non-NULL address.  Given a vmalloc area it unmaps that too and frees nothing:
        its pages and page array stay allocated with nobody left to free them.
        """
        self._check_alive()
        addr = self._require_addr(addr)
        if self.in_interrupt():  # vunmap(): BUG_ON(in_interrupt())
            self._print_lines(
                kernel_bug("mm/vmalloc.c:2878", self.comm, self.pid, self.taint,
                           self._trace("vunmap"))
            )  # fmt: skip
            self.taint |= 1 << TAINT_DIE
            self._notify()
            return
        if addr == 0:
            return
        area = self.vmap_areas.get(addr)
        if area is None:
            self._nonexistent_area(addr, "vunmap")
            self._notify()
            return
        self._page_tables.unmap_pages(addr, len(area.pfns))
        if area.kind == "vmalloc":  # leaked: still allocated and counted, held by nobody
            set_owner = self.buddy.set_owner
            for pfn in area.pfns:
                set_owner(pfn, OWNER_NONE)
        self._free_vmap_area_noflush(area)
        self.history.append_object(VmallocFreed(addr, deferred=False))
        self._notify()

    def vmalloc_to_page(self, addr: int) -> Page | None:
        """The Page behind vmalloc address ``addr`` (a page-table walk), or None.

        Any other address is a ValueError, where CONFIG_DEBUG_VIRTUAL would stop at
        VIRTUAL_BUG_ON(!is_vmalloc_or_module_addr()); a direct-map address has virt_to_page().
        """
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"vmalloc_to_page() takes a vmalloc address (int), not {addr!r}")
        if not VMALLOC_START <= addr <= VMALLOC_END:
            raise ValueError(f"{addr:#x} is not a vmalloc address; virt_to_page() maps the rest")
        walk = self.walk(addr)
        if walk.phys is None:
            return None
        return self.pfn_to_page(walk.phys >> PAGE_SHIFT)

    def vmallocinfo(self) -> str:
        """/proc/vmallocinfo (mm/vmalloc.c s_show() L4210), lazily freed areas last."""
        lines = []
        for area in sorted(self.vmap_areas.values(), key=lambda a: a.addr):
            line = f"0x{area.addr:016x}-0x{area.end:016x} {area.size:7d} {area.caller}"
            if area.kind == "vmap":  # vmap() keeps no page array: no pages=, no N0=
                lines.append(line + " vmap\n")
                continue
            if area.kind == "ioremap":  # phys=%pa, VM_IOREMAP
                lines.append(line + f" phys=0x{area.phys:016x} ioremap\n")
                continue
            if area.kind == "percpu":  # VM_ALLOC; its pages are percpu's: nr_pages 0
                lines.append(line + " vmalloc\n")
                continue
            line += f" pages={len(area.pfns)} vmalloc"
            if area.vpages:
                line += " vpages"
            lines.append(line + f" N0={len(area.pfns)}\n")
        for lazy in self.purge_vmap_areas:  # show_purge_info(): merged, in address order
            lines.append(
                f"0x{lazy.start:016x}-0x{lazy.end:016x} {lazy.end - lazy.start:7d} "
                "unpurged vm_area\n"
            )
        return "".join(lines)

    # --- what boot leaves in vmalloc space ------------------------------------------------------
    def _boot_vmalloc_areas(self) -> None:
        """Make the vmalloc areas a booted 6.1 kernel holds, as kmviz/data/boot-vmalloc-areas.json
        lists them (taken from the real captures), in a plausible boot order.

        Task stacks (16 KiB, 16 KiB-aligned: alloc_thread_stack_node()), the IRQ stacks,
        ACPI, HPET and SMBIOS ioremaps, the first dynamic percpu chunk, zswap's scratch
        buffers, a tty, a BPF pack in module space; the areas the captured kernel had freed by
        then (exited threads, a percpu map, a scratch buffer) are vfree()d at the end and wait
        for the purge.  Each vmalloc() passes its caller's mask (BOOT_VMALLOC_GFP).  Their
        pages come from the page allocator one at a time, so a later vmalloc() meets free
        lists that boot has broken up.  Each area is made only while more
        than 1/8 of memory stays free; the boot log says when a small machine ran short.
        (Simplified: the IRQ stacks' pages come from the page allocator, not from the percpu
        first chunk memblock set aside, and the percpu chunk maps none of its pages.)
        """
        floor = sum(zone.managed_pages for zone in self.zones) // 8
        freed: list[int] = []
        skipped = 0

        def vmalloc(caller: str, pages: int, align: int = PAGE_SIZE, module: bool = False) -> int:
            nonlocal skipped
            if self.free_pages_count() - pages - 1 <= floor:
                skipped += 1
                return 0
            where = (MODULES_VADDR, MODULES_END) if module else (VMALLOC_START, VMALLOC_END + 1)
            gfp = BOOT_VMALLOC_GFP[caller.partition("+")[0]]
            return self._vmalloc(pages << PAGE_SHIFT, gfp, caller, align, *where)

        def irq_stack(caller: str) -> None:  # map_irq_stack(): vmap() of 4 pages
            nonlocal skipped
            if self.free_pages_count() - 4 <= floor:
                skipped += 1
                return
            gfp = GFP_KERNEL | BIT.NOWARN
            pfns = [self._alloc(gfp, 0, "irq_init_percpu_irqstack") for _ in range(4)]
            if min(pfns) < 0 or not self._map_area(pfns, caller, "vmap"):
                for pfn in pfns:
                    if pfn >= 0:
                        self._free(pfn, 0, "irq_init_percpu_irqstack")
                skipped += 1

        lowmem = self.mem if self.mem < 0xE0000000 else 0xC0000000  # QEMU i440FX below 4 GiB
        for step in json.loads(BOOT_AREAS.read_text())["steps"]:
            kind, caller = step["kind"], step.get("caller", "")
            if kind == "vmalloc":
                count = step.get("count", 1) + step.get("per_cpu", 0) * self.cpus
                gone = step.get("freed", 0)
                dying = {count * (2 * i + 1) // (2 * gone) for i in range(gone)}  # spread out
                for i in range(count):
                    addr = vmalloc(caller, step["pages"], step.get("align_pages", 1) * PAGE_SIZE)
                    if addr and i in dying:
                        freed.append(addr)
            elif kind == "vmap":
                irq_stack(caller)
            elif kind == "ioremap":
                phys = step["phys"]
                phys = lowmem - int(phys[8:], 16) if phys.startswith("ram_top-") else int(phys, 16)
                size = step["pages"] << PAGE_SHIFT
                # __get_vm_area_node(): VM_IOREMAP aligns to the size's order, 4 KiB .. 1 GiB
                align = 1 << min(max((size - 1).bit_length(), PAGE_SHIFT), IOREMAP_MAX_ORDER)
                prot = PAGE_KERNEL_IO_UC_MINUS if step.get("uncached") else PAGE_KERNEL
                pfns = list(range(phys >> PAGE_SHIFT, (phys + size) >> PAGE_SHIFT))
                if not self._map_area(pfns, caller, "ioremap", phys, align, prot):
                    skipped += 1
            elif kind == "percpu_chunk":
                self._pcpu_create_chunk(vmalloc)
            elif kind == "fork_idle":  # idle_threads_init(), then each CPU's bring-up
                for _cpu in range(1, self.cpus):
                    vmalloc("fork_idle+0x76/0x105", THREAD_SIZE >> PAGE_SHIFT, THREAD_SIZE)
                    irq_stack("irq_init_percpu_irqstack+0xf0/0x120")
            elif kind == "crypto_scratch":  # crypto_scomp_alloc_scratches(): src, dst per CPU
                for _cpu in range(self.cpus):
                    vmalloc("crypto_scomp_init_tfm+0x75/0xe0", 32)
                    vmalloc("crypto_scomp_init_tfm+0x93/0xe0", 32)
            elif kind == "module":
                vmalloc(caller, step["pages"], module=True)
            else:
                raise ValueError(f"{BOOT_AREAS.name}: unknown step kind {kind!r}")
        for addr in freed:
            self._vfree_now(addr)
        if skipped:
            self._printk(
                KERN_WARNING,
                f"kmviz: {skipped} boot-time vmalloc areas left out: this machine is smaller "
                "than what a 6.1 kernel allocates while it boots",
            )

    def _pcpu_create_chunk(self, vmalloc) -> None:
        """pcpu_create_chunk() (mm/percpu-vm.c L332): a dynamic percpu chunk and its maps.

        Each CPU has a unit of the chunk: 2 MiB shared by up to 8 CPUs, as
        pcpu_build_alloc_info() chose on the captured kernels (62 pages per CPU rounded up:
        u2097152 with 1 CPU, u1048576 with 2, u524288 with 4).  pcpu_alloc_chunk()
        (mm/percpu.c L1439) sizes its maps from the unit, one bit per 4 bytes
        (PCPU_MIN_ALLOC_SIZE), and pcpu_mem_zalloc() vmallocs any map above a page:
        alloc_map (bits / 8 bytes), bound_map (one bit more, whole longs), md_blocks (32 bytes
        per page), obj_cgroups (a pointer per bit).  Then pcpu_get_vm_areas() (mm/vmalloc.c
        L3862) takes one range per group of units from the top of vmalloc space, aligned to
        2 MiB and without a guard page.
        """
        per_group = min(8, 1 << (self.cpus - 1).bit_length())  # units in one 2 MiB block
        unit = PCPU_ATOM_SIZE // per_group  # bytes per CPU
        bits = unit // 4
        maps = (
            ("pcpu_create_chunk+0x4e/0x1b0", bits // 8),  # alloc_map
            ("pcpu_create_chunk+0x75/0x1b0", (bits // 64 + 1) * 8),  # bound_map
            ("pcpu_create_chunk+0x92/0x1b0", (unit // PAGE_SIZE) * 32),  # md_blocks
            ("pcpu_create_chunk+0x167/0x1b0", bits * 8),  # obj_cgroups
        )
        for caller, size in maps:
            if size > PAGE_SIZE:  # pcpu_mem_zalloc(): kzalloc() up to a page
                vmalloc(caller, -(-size // PAGE_SIZE))  # 32776 bytes: 9 pages
        groups = -(-self.cpus // per_group)
        top = VMALLOC_END & ~(PCPU_ATOM_SIZE - 1)  # pvm_determine_end_from_reverse()
        base = top - groups * PCPU_ATOM_SIZE
        node = self.free_vmap_areas.enclosing(base)
        if node is None or node.end < top:
            return
        self.free_vmap_areas.take(node, base, top - base)
        for group in range(groups):
            addr = base + group * PCPU_ATOM_SIZE
            area = VmArea(addr, PCPU_ATOM_SIZE, [], "pcpu_get_vm_areas+0x0/0x1080", 0, False,
                          "percpu")  # fmt: skip
            self.vmap_areas[addr] = area
            self.history.append_object(VmallocMapped(addr, area.size, (), "percpu"))
