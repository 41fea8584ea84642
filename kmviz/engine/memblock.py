"""Early boot memory: memblock hands out physical ranges, in bytes, before the buddy allocator.

Before ``mem_init()`` there are no free lists: memblock keeps two lists of physical ranges,
``memory`` (what the firmware says is RAM) and ``reserved`` (what is taken: firmware areas,
the kernel image, and every early allocation).  An allocation is a search for a free stretch,
top-down from the highest address, and a new ``reserved`` entry -- so any size is easy, even
64 MiB in one piece, because nothing has been fragmented yet.  ``mem_init()`` then gives every
page that is not reserved to the buddy allocator (memblock_free_all()), and from then on large
contiguous blocks are as hard to find as fragmentation makes them.

Linux 2.6.32 called this ``alloc_bootmem()`` (a bitmap allocator, mm/bootmem.c); bootmem was
removed in 4.20 and its calls became memblock_alloc().  The old names are kept here, mapped
onto memblock, because the tutorials of that era still use them.
"""

from __future__ import annotations

from .constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .events import MemblockAllocated
from .gfp import GFP_NOWAIT
from .printk import KERN_EMERG, KERN_WARNING
from .reports import dump_stack

SMP_CACHE_BYTES = 64  # L1_CACHE_BYTES on x86-64: memblock's default alignment
MAX_DMA_ADDRESS = 16 << 20  # bytes: 2.6.32's alloc_bootmem() goal, above ZONE_DMA
LOW_LIMIT = 1 << 32  # ARCH_LOW_ADDRESS_LIMIT + 1: what the *_low variants stay below


class EarlyBootAPI:
    """Mixin for Kernel: memblock before mem_init(), the bootmem names, and the hand-over."""

    def _memblock_init(self) -> None:
        """memblock.memory from the e820 map, memblock.reserved from what boot keeps."""
        self.memblock_memory = [(s << PAGE_SHIFT, e << PAGE_SHIFT) for s, e in self.memory.ram]
        self.memblock_reserved = [
            (s << PAGE_SHIFT, e << PAGE_SHIFT, owner) for s, e, owner in self.memory.reserved
        ]

    def _reserved_pfn_ranges(self) -> list[tuple[int, int]]:
        """Every page any reservation touches, as pfn ranges (a partly reserved page is kept)."""
        return [
            (s >> PAGE_SHIFT, (e + PAGE_SIZE - 1) >> PAGE_SHIFT)
            for s, e, _ in self.memblock_reserved
        ]

    def memblock_phys_alloc(self, size: int, align: int = SMP_CACHE_BYTES) -> int:
        """``size`` bytes of physical memory from memblock, top-down; 0 if none.

        Mirrors memblock_phys_alloc() → memblock_alloc_range_nid() (mm/memblock.c L1384): the
        highest free stretch below the limit, ``round_down(end - size, align)``, never page 0,
        recorded with memblock_reserve().
        """
        phys = self._memblock_alloc(size, align, 0, 1 << 64, "memblock_phys_alloc")
        self._notify()
        return phys

    def memblock_alloc(self, size: int, align: int = SMP_CACHE_BYTES) -> int:
        """Zeroed early memory: its direct-map address, 0 if none (memblock_alloc(), L1618)."""
        if self.boot_stage == "running":
            return self._memblock_after_slab(size, "memblock_alloc")
        phys = self._memblock_alloc(size, align, 0, 1 << 64, "memblock_alloc")
        self._notify()
        return PAGE_OFFSET + phys if phys else 0

    def memblock_alloc_low(self, size: int, align: int = SMP_CACHE_BYTES) -> int:
        """memblock_alloc() below 4 GiB (ARCH_LOW_ADDRESS_LIMIT)."""
        if self.boot_stage == "running":
            return self._memblock_after_slab(size, "memblock_alloc_low")
        phys = self._memblock_alloc(size, align, 0, LOW_LIMIT, "memblock_alloc_low")
        self._notify()
        return PAGE_OFFSET + phys if phys else 0

    def _memblock_after_slab(self, size: int, caller: str) -> int:
        """memblock_alloc_internal(): WARN_ON_ONCE(slab_is_available()), then kzalloc(GFP_NOWAIT).

        (2.6.32's alloc_arch_preferred_bootmem() did the same for alloc_bootmem().)
        """
        self._check_alive()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError(f"{caller}() size must be an int >= 0, not {size!r}")
        self._warn_once("mm/memblock.c:1505", ("memblock_alloc_internal", caller))
        addr = self.kzalloc(size, GFP_NOWAIT) if size else 0
        self._notify()
        return addr

    # --- the 2.6.32 names ------------------------------------------------------------------
    def alloc_bootmem(self, size: int) -> int:
        """2.6.32's alloc_bootmem(): SMP_CACHE_BYTES-aligned, above 16 MiB if it can be.

        Bootmem is gone since 4.20 (it became memblock_alloc(size, SMP_CACHE_BYTES)); like
        2.6.32, a request that cannot be met panics: "bootmem alloc of N bytes failed!".
        """
        return self._bootmem(size, SMP_CACHE_BYTES, MAX_DMA_ADDRESS, 1 << 64)

    def alloc_bootmem_pages(self, size: int) -> int:
        """2.6.32's alloc_bootmem_pages(): page-aligned."""
        return self._bootmem(size, PAGE_SIZE, MAX_DMA_ADDRESS, 1 << 64)

    def alloc_bootmem_low(self, size: int) -> int:
        """2.6.32's alloc_bootmem_low(): below 4 GiB."""
        return self._bootmem(size, SMP_CACHE_BYTES, 0, LOW_LIMIT)

    def alloc_bootmem_low_pages(self, size: int) -> int:
        """2.6.32's alloc_bootmem_low_pages(): page-aligned, below 4 GiB."""
        return self._bootmem(size, PAGE_SIZE, 0, LOW_LIMIT)

    def _bootmem(self, size: int, align: int, goal: int, limit: int) -> int:
        """___alloc_bootmem(): try above ``goal``, then anywhere below ``limit``, else panic."""
        if self.boot_stage == "running":
            return self._memblock_after_slab(size, "alloc_bootmem")
        phys = self._memblock_alloc(size, align, goal, limit, "alloc_bootmem")
        if not phys and self.boot_stage == "early" and goal:
            phys = self._memblock_alloc(size, align, 0, limit, "alloc_bootmem")
        self._notify()
        if phys:
            return PAGE_OFFSET + phys
        if self.boot_stage != "early":
            return 0
        self._printk(KERN_EMERG, f"bootmem alloc of {size} bytes failed!")
        self._panic("Out of memory")
        return 0  # not reached: _panic() raises

    # --- mechanics -------------------------------------------------------------------------
    def _memblock_alloc(self, size: int, align: int, low: int, high: int, caller: str) -> int:
        """The physical address of a new reservation; 0 if none (or after boot: see below)."""
        self._check_alive()
        for what, value in (("size", size), ("align", align)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TypeError(f"{caller}() {what} must be an int >= 0, not {value!r}")
        if self.boot_stage != "early":
            self._printk(
                KERN_WARNING,
                f"kmviz: {caller}({size}) after mem_init(): memblock has handed its free memory "
                "to the buddy allocator; nothing was allocated",
            )
            return 0
        if align == 0:  # "Can't use WARNs this early in boot": dump_stack() and a default
            self._print_lines(
                dump_stack(KERN_WARNING, self.comm, self.pid, self.taint,
                           self._trace("memblock_alloc_range_nid", caller))
            )  # fmt: skip
            align = SMP_CACHE_BYTES
        if size == 0:
            return 0
        phys = self._memblock_find(size, align, max(low, PAGE_SIZE), high)
        if phys is None:
            return 0
        self.memblock_reserved.append((phys, phys + size, caller))
        self.history.append_object(MemblockAllocated(phys, size, align, caller))
        return phys

    def _memblock_find(self, size: int, align: int, low: int, high: int) -> int | None:
        """memblock_find_in_range_node() top-down: the highest aligned fit in a free stretch."""
        taken = sorted((s, e) for s, e, _ in self.memblock_reserved)
        free = []
        for start, end in self.memblock_memory:
            cursor = start
            for s, e in taken:
                if e <= cursor or s >= end:
                    continue
                if s > cursor:
                    free.append((cursor, s))
                cursor = max(cursor, e)
            if cursor < end:
                free.append((cursor, end))
        for stretch_start, stretch_end in reversed(free):
            start, end = max(stretch_start, low), min(stretch_end, high)
            if end - start < size:
                continue
            candidate = (end - size) // align * align
            if candidate >= start:
                return candidate
        return None

    def memblock_text(self, kind: str = "reserved") -> str:
        """The regions as /sys/kernel/debug/memblock/<kind> would list them (arm64-style).

        (x86-64 6.1 has no such file: it lacks CONFIG_ARCH_KEEP_MEMBLOCK.)
        """
        regions = (
            [(s, e) for s, e, _ in sorted(self.memblock_reserved)]
            if kind == "reserved"
            else list(self.memblock_memory)
        )
        return "".join(f"{i:4d}: {s:#018x}..{e - 1:#018x}\n" for i, (s, e) in enumerate(regions))
