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

from .constants import (
    DECRYPTED_UNUSED_KIB,
    EARLY_MISC_PAGES,
    FLAT_KERNEL_IMAGE_KIB,
    INITRD_KIB,
    ISA_END,
    KERNEL_BSS_KIB,
    KERNEL_CODE_KIB,
    KERNEL_INIT_KIB,
    KERNEL_RESERVE_END,
    KERNEL_RODATA_KIB,
    MAX_DMA32_PFN,
    MAX_DMA_PFN,
    NODE_DATA_BYTES,
    PAGE_MASK,
    PAGE_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGES_PER_SECTION,
    PERCPU_UNIT_PAGES,
    PHYSICAL_START,
    RODATA_DATA_GAP_KIB,
    SMP_LOCKS_KIB,
    STRUCT_PAGE_SIZE,
    SWIOTLB_BYTES,
    SWIOTLB_SLOT_BYTES,
    TEXT_RODATA_GAP_KIB,
    ZONE_DMA,
)
from .events import MemblockAllocated
from .gfp import GFP_NOWAIT
from .pagetable import PMD_SIZE
from .printk import KERN_EMERG, KERN_INFO, KERN_WARNING
from .reports import dump_stack
from .zones import memmap_pages

_FREED_NAMES = {  # reservation: how its "Freeing … memory" line names it
    "SMP alternatives": "SMP alternatives",
    "initrd": "initrd",
    "unused decrypted": "unused decrypted",
    "init sections": "unused kernel image (initmem)",
    "text/rodata gap": "unused kernel image (text/rodata gap)",
    "rodata/data gap": "unused kernel image (rodata/data gap)",
}
SMP_CACHE_BYTES = 64  # L1_CACHE_BYTES on x86-64: memblock's default alignment
MAX_DMA_ADDRESS = 16 << 20  # bytes: 2.6.32's alloc_bootmem() goal, above ZONE_DMA
LOW_LIMIT = 1 << 32  # ARCH_LOW_ADDRESS_LIMIT + 1: what the *_low variants stay below


class EarlyBootAPI:
    """Mixin for Kernel: memblock before mem_init(), the bootmem names, and the hand-over."""

    def _memblock_init(self) -> None:
        """memblock.memory from the e820 map; memblock.reserved as a 6.1 boot fills it.

        ``boot_reserved=False`` reserves nothing: every RAM page goes to the buddy allocator.
        """
        self.memblock_memory = [(s << PAGE_SHIFT, e << PAGE_SHIFT) for s, e in self.memory.ram]
        self.memblock_reserved: list[tuple[int, int, str]] = []
        if not self.boot_reserved:
            return
        if self.memory_layout == "pc":
            self._reserve_boot_memory()
            return
        top = self.memory.nr_pfns << PAGE_SHIFT  # "flat": the first MiB and a smaller image
        self.memblock_reserved.append((0, min(ISA_END, top), "first 1 MiB (real mode)"))
        if top > PHYSICAL_START:
            image_end = min(PHYSICAL_START + (FLAT_KERNEL_IMAGE_KIB << 10), top)
            self.memblock_reserved.append((PHYSICAL_START, image_end, "kernel image"))

    def _reserve_boot_memory(self) -> None:
        """What setup_arch() and start_kernel() reserve before mem_init(), in their order.

        early_reserve_memory() (arch/x86/kernel/setup.c L771): the kernel image from
        CONFIG_PHYSICAL_START, in the pieces the running kernel later frees or keeps, and the
        initrd the boot loader put at the top of RAM below 4 GiB; reserve_real_mode(): the
        whole first MiB; then top-down allocations: NODE_DATA (alloc_node_data()), the
        struct page array (sparse_init(): 2 MiB of struct page per 128 MiB section, one
        2 MiB-aligned buffer), the per-CPU areas (pcpu_embed_first_chunk(): 2 MiB atoms, the
        unused part of each unit freed again), the dentry and inode hash tables
        (vfs_caches_init_early()) and EARLY_MISC_PAGES of smaller allocations.  A machine
        too small for Debian's kernel gets what fits (a real one would not boot).
        """
        top = self.memory.nr_pfns << PAGE_SHIFT
        for start, end, what in _kernel_image_pieces():
            if start < top:
                self.memblock_reserved.append((start, min(end, top), what))
        low_top = max((e for s, e, kind in self.memory.e820 if kind == "usable" and e <= LOW_LIMIT))
        initrd = (low_top - (INITRD_KIB << 10)) & PAGE_MASK
        if initrd >= KERNEL_RESERVE_END:  # QEMU loads it above the kernel or not at all
            self.memblock_reserved.append((initrd, initrd + (INITRD_KIB << 10), "initrd"))
        self.memblock_reserved.append((0, min(ISA_END, top), "first 1 MiB (real mode)"))
        self._boot_alloc(NODE_DATA_BYTES, SMP_CACHE_BYTES, "NODE_DATA(0)")
        self._reserve_memmap()
        self._reserve_percpu()
        for name, scale in (("Dentry cache", 13), ("Inode-cache", 14)):
            entries = _hash_entries(self._nr_kernel_pages(), scale)
            self._boot_alloc(entries * 8, SMP_CACHE_BYTES, f"{name} hash table")
        self._boot_alloc(EARLY_MISC_PAGES * PAGE_SIZE, PAGE_SIZE, "page tables and other early")

    def _boot_alloc(self, size: int, align: int, what: str, high: int = 1 << 64) -> int | None:
        """A boot-time memblock allocation, top-down above 16 MiB, else anywhere below ``high``.

        memblock_alloc_internal() retries without its lower limit (mm/memblock.c L1476).
        """
        for low in (MAX_DMA_ADDRESS, PAGE_SIZE):
            phys = self._memblock_find(size, align, low, high)
            if phys is not None:
                self.memblock_reserved.append((phys, phys + size, what))
                return phys
        return None

    def _reserve_memmap(self) -> None:
        """sparse_init(): the struct page array, 2 MiB per present 128 MiB section.

        One buffer for the node (sparse_buffer_init(), 2 MiB aligned); if none fits, the
        vmemmap is populated section by section, and with base pages for the present pages
        only when no 2 MiB block is left (vmemmap_populate_basepages()).
        """
        sections = sorted({pfn // PAGES_PER_SECTION for s, e in self.memory.ram
                           for pfn in range(s, e, PAGES_PER_SECTION)} |
                          {(e - 1) // PAGES_PER_SECTION for s, e in self.memory.ram})  # fmt: skip
        size = PAGES_PER_SECTION * STRUCT_PAGE_SIZE  # 2 MiB
        if self._boot_alloc(len(sections) * size, size, "struct page array") is not None:
            return
        for section in sections:
            if self._boot_alloc(size, size, "struct page array") is None:
                first, last = section * PAGES_PER_SECTION, (section + 1) * PAGES_PER_SECTION
                present = sum(max(0, min(e, last) - max(s, first)) for s, e in self.memory.ram)
                pages = -(-present * STRUCT_PAGE_SIZE // PAGE_SIZE)
                self._boot_alloc(pages * PAGE_SIZE, PAGE_SIZE, "struct page array")

    def _reserve_percpu(self) -> None:
        """pcpu_embed_first_chunk(): 2 MiB atoms of per-CPU units, 62 pages kept per CPU.

        pcpu_build_alloc_info() packs up to 8 units in an atom (1 CPU: u2097152, 2: u1048576,
        4: u524288, as "percpu: Embedded 62 pages/cpu ... u…" says); pcpu_fc_free() returns
        the unused tail of every unit.
        """
        per_atom = min(8, 1 << (self.cpus - 1).bit_length())
        unit = PMD_SIZE // per_atom
        for first_cpu in range(0, self.cpus, per_atom):
            atom = self._boot_alloc(PMD_SIZE, PMD_SIZE, "percpu")
            if atom is None:
                return
            self.memblock_reserved.pop()
            for cpu in range(min(per_atom, self.cpus - first_cpu)):
                start = atom + cpu * unit
                self.memblock_reserved.append(
                    (start, start + PERCPU_UNIT_PAGES * PAGE_SIZE, "percpu")
                )

    def _nr_kernel_pages(self) -> int:
        """nr_kernel_pages: present pages less their struct page estimate and the DMA reserve.

        Mirrors free_area_init_core() (mm/page_alloc.c L7790) with memblock_find_dma_reserve()
        (arch/x86/mm/init.c L1017): the pages of the first 16 MiB memblock keeps.
        """
        dma_reserve = 0
        for s, e in self._reserved_pfn_ranges():
            for r_s, r_e in self.memory.ram:
                dma_reserve += max(0, min(e, r_e, MAX_DMA_PFN) - max(s, r_s))
        pages = sum(max(z.present_pages - memmap_pages(z), 0) for z in self.zones)
        return pages - dma_reserve if self.zones[0].idx == ZONE_DMA else pages

    def _reserve_swiotlb(self) -> None:
        """swiotlb_init() from mem_init(): 64 MiB of bounce buffers below 4 GiB, and its slots.

        pci_swiotlb_detect() turns it on when RAM reaches above 4 GiB; the buffer is
        memblock_alloc_low(), so top-down below 4 GiB; the slot array (24 bytes per 2 KiB
        slot) goes anywhere.
        """
        if not self.boot_reserved or self.memory_layout != "pc" or self.nr_pfns <= MAX_DMA32_PFN:
            return
        phys = self._boot_alloc(SWIOTLB_BYTES, PAGE_SIZE, "swiotlb", high=LOW_LIMIT)
        slots = SWIOTLB_BYTES // 2048 * SWIOTLB_SLOT_BYTES
        self._boot_alloc(-(-slots // PAGE_SIZE) * PAGE_SIZE, PAGE_SIZE, "swiotlb slots")
        if phys is not None:
            self._printk(
                KERN_INFO,
                f"software IO TLB: mapped [mem {phys:#018x}-{phys + SWIOTLB_BYTES:#018x}] "
                f"({SWIOTLB_BYTES >> 20}MB)",
                at_ns=0,
            )

    def _free_boot_memory(self, names: tuple[str, ...]) -> None:
        """free_reserved_area() of the reservations called ``names``, one page at a time.

        Each freed page becomes managed and goes to the buddy allocator as __free_page() does
        it, with the kernel's "Freeing … memory: …K" line.
        """
        for name in names:
            ranges = [(s, e) for s, e, what in self.memblock_reserved if what == name]
            if not ranges:
                continue
            self.memblock_reserved = [r for r in self.memblock_reserved if r[2] != name]
            kept = self._reserved_pfn_ranges()
            freed = 0
            for start, end in ranges:
                for free_start, free_end in subtract_ranges(
                    start >> PAGE_SHIFT, end >> PAGE_SHIFT, kept
                ):
                    for pfn in range(free_start, free_end):
                        if self.memory.is_ram(pfn):
                            self._free_reserved_page(pfn)
                            freed += 1
            self._printk(KERN_INFO, f"Freeing {_FREED_NAMES[name]} memory: {freed * 4}K")

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


def _kernel_image_pieces() -> list[tuple[int, int, str]]:
    """The kernel image [_text, __end_of_kernel_reserve) in the pieces it later frees or keeps.

    Laid out as arch/x86/kernel/vmlinux.lds.S orders the sections, sized from Debian's
    kernel: code to _etext, the gap to rodata (freed by mark_rodata_ro()), rodata, the gap to
    data, data and per-CPU data, the init sections and the SMP lock table (both freed once
    booted), bss, and at its end the unused part of .bss..decrypted (freed too).
    """
    code_end = PHYSICAL_START + ((KERNEL_CODE_KIB << 10) + PAGE_SIZE - 1 & PAGE_MASK)
    rodata = code_end + (TEXT_RODATA_GAP_KIB << 10)  # 0x2000000, on a 2 MiB boundary
    rodata_end = rodata + (KERNEL_RODATA_KIB << 10)
    data = rodata_end + (RODATA_DATA_GAP_KIB << 10)
    bss = KERNEL_RESERVE_END - (KERNEL_BSS_KIB << 10)
    smp_locks = bss - (SMP_LOCKS_KIB << 10)
    init = smp_locks - (KERNEL_INIT_KIB << 10)
    decrypted = KERNEL_RESERVE_END - (DECRYPTED_UNUSED_KIB << 10)
    return [
        (PHYSICAL_START, code_end, "kernel code"),
        (code_end, rodata, "text/rodata gap"),
        (rodata, rodata_end, "kernel rodata"),
        (rodata_end, data, "rodata/data gap"),
        (data, init, "kernel data"),
        (init, smp_locks, "init sections"),
        (smp_locks, bss, "SMP alternatives"),
        (bss, decrypted, "kernel bss"),
        (decrypted, KERNEL_RESERVE_END, "unused decrypted"),
    ]


def _hash_entries(nr_kernel_pages: int, scale: int) -> int:
    """Buckets alloc_large_system_hash() gives a table of one bucket per 2^scale bytes.

    mm/page_alloc.c L9000: the kernel pages rounded up to 1 MiB, shifted by scale - PAGE_SHIFT,
    rounded up to a power of two (1 GiB, dentry scale 13: 257760 → 131072 entries).
    """
    pages = -(-nr_kernel_pages // 256) * 256
    entries = max(pages >> (scale - PAGE_SHIFT), PAGE_SIZE // 8)
    return 1 << (entries - 1).bit_length()


def subtract_ranges(start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) without the ranges in ``taken``, as sorted disjoint pieces."""
    pieces = [(start, end)]
    for t_start, t_end in taken:
        pieces = [
            piece
            for s, e in pieces
            for piece in ((s, min(e, t_start)), (max(s, t_end), e))
            if piece[0] < piece[1]
        ]
    return sorted(pieces)
