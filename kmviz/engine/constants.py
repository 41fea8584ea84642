"""Fixed numbers of the simulated x86-64 machine, each with its unit (Linux 6.1, 4 KiB pages)."""

# --- pages -----------------------------------------------------------------------------------
PAGE_SHIFT = 12  # bits; arch/x86/include/asm/page_types.h
PAGE_SIZE = 1 << PAGE_SHIFT  # bytes: 4096
PAGE_MASK = ~(PAGE_SIZE - 1)  # bytes mask that clears the offset within a page

# --- buddy allocator -------------------------------------------------------------------------
MAX_ORDER = 11  # exclusive in 6.1: orders 0..10 (include/linux/mmzone.h L28)
MAX_ORDER_NR_PAGES = 1 << (MAX_ORDER - 1)  # pages in the largest block: 1024 (4 MiB)
PAGE_ALLOC_COSTLY_ORDER = 3  # orders above this are "costly" (mmzone.h L40)
PAGEBLOCK_ORDER = 9  # HUGETLB_PAGE_ORDER = 21 - 12 on x86-64 (pageblock-flags.h)
PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER  # pages per pageblock: 512 (2 MiB)

# --- migrate types (enum migratetype, mmzone.h; CONFIG_CMA=y, CONFIG_MEMORY_ISOLATION=y) -----
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_HIGHATOMIC = 3  # == MIGRATE_PCPTYPES
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5
MIGRATE_PCPTYPES = 3  # the types that have per-cpu lists and fall back to each other
MIGRATE_TYPES = 6
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

# fallbacks[] in mm/page_alloc.c L2621: where __rmqueue_fallback() looks, in order.
FALLBACKS = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
}

# --- zones (enum zone_type; x86-64 has no HIGHMEM) -----------------------------------------
ZONE_DMA = 0
ZONE_DMA32 = 1
ZONE_NORMAL = 2
ZONE_MOVABLE = 3
MAX_NR_ZONES = 4
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")  # zone_names[], page_alloc.c L388
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT  # first pfn above ZONE_DMA: 4096 (16 MiB)
MAX_DMA32_PFN = 1 << (32 - PAGE_SHIFT)  # first pfn above ZONE_DMA32: 1048576 (4 GiB)

# sysctl_lowmem_reserve_ratio[], page_alloc.c L374 (DMA, DMA32, Normal, Movable)
LOWMEM_RESERVE_RATIO = (256, 256, 32, 0)
WATERMARK_SCALE_FACTOR = 10  # parts per 10000 of a zone (vm.watermark_scale_factor)
MIN_FREE_KBYTES_MIN = 128  # KiB; calculate_min_free_kbytes() clamp
MIN_FREE_KBYTES_MAX = 262144  # KiB

# --- kernel virtual address space (x86-64, 4-level paging, KASLR off) ----------------------
PAGE_OFFSET = 0xFFFF888000000000  # start of the direct map of all physical memory
VMEMMAP_START = 0xFFFFEA0000000000  # the struct page array (mem_map)
STRUCT_PAGE_SIZE = 64  # bytes per struct page
START_KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map: where the kernel image is mapped

# --- what a real boot keeps (boot_reserved=True) --------------------------------------------
# The BIOS owns pfn 0 ("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved") and
# 0x9fc00..0xfffff (EBDA, VGA memory, option and system ROMs); the kernel image is loaded at
# CONFIG_PHYSICAL_START.
BIOS_HOLE_START_PFN = 0x9F  # 0x9f000: the page holding the EBDA start 0x9fc00
BIOS_HOLE_END_PFN = 0x100  # 1 MiB
PHYSICAL_START = 0x1000000  # bytes: CONFIG_PHYSICAL_START, 16 MiB
# A 6.1 distribution kernel's image, as the boot line "Memory: ..." reports it (KiB).
KERNEL_CODE_KIB = 14336
KERNEL_RWDATA_KIB = 2432
KERNEL_RODATA_KIB = 5120
KERNEL_INIT_KIB = 2816
KERNEL_BSS_KIB = 5632
KERNEL_IMAGE_KIB = (
    KERNEL_CODE_KIB + KERNEL_RWDATA_KIB + KERNEL_RODATA_KIB + KERNEL_INIT_KIB + KERNEL_BSS_KIB
)

# --- the configurations a Kernel can run: Kernel(config=...) ----------------------------------
# Both are Debian's 6.1.192 build (linux-image-6.1.0-57-amd64, booted with ``nokaslr``; the
# captures in tests/real61 come from it), as far as they change what kmviz does or prints.
# "debug" adds what tools/real-kernel/build-debug-kernel.sh turns on (the debug-1G-2cpu
# capture): the checks that catch the lessons' mistakes.  "debian" is the stock kernel, which
# prints nothing for sleeping in atomic context or a double free_pages().  README "Where the
# simulation is simpler than Linux" says what else differs.
_DEBIAN_6_1 = (
    ("CONFIG_X86_64", "y"),
    ("CONFIG_X86_5LEVEL", "y"),  # the CPU has no LA57: 4-level paging at run time
    ("CONFIG_SLUB", "y"),
    ("CONFIG_SLUB_DEBUG", "y"),  # so the slub_debug boot option works
    ("CONFIG_SLUB_CPU_PARTIAL", "y"),  # kmviz has no per-CPU partial slabs yet
    ("CONFIG_ZONE_DMA", "y"),
    ("CONFIG_ZONE_DMA32", "y"),
    ("CONFIG_PREEMPT_DYNAMIC", "y"),  # and CONFIG_PREEMPT_COUNT: spin_lock() counts
    ("CONFIG_DEBUG_ATOMIC_SLEEP", "n"),
    ("CONFIG_DEBUG_PREEMPT", "n"),
    ("CONFIG_DEBUG_VM", "n"),
    ("CONFIG_LOCKDEP", "n"),
)
_DEBUG_OPTIONS = {
    "CONFIG_DEBUG_ATOMIC_SLEEP": "y",  # might_sleep() reports sleeping in atomic context
    "CONFIG_DEBUG_PREEMPT": "y",  # preempt_count underflow and smp_processor_id() checks
    "CONFIG_DEBUG_VM": "y",  # VM_BUG_ON_PAGE() catches a double free_pages()
}
KERNEL_CONFIGS: dict[str, tuple[tuple[str, str], ...]] = {
    "debug": tuple((name, _DEBUG_OPTIONS.get(name, value)) for name, value in _DEBIAN_6_1),
    "debian": _DEBIAN_6_1,
}
DEFAULT_CONFIG = "debug"  # the lessons teach with the kernel that reports the mistakes
# what each configuration turns on, as the boot log's version line says it
DEBUG_OPTIONS = tuple(_DEBUG_OPTIONS)

# --- the simulated task that makes the calls ------------------------------------------------
DEFAULT_COMM = "insmod"  # a learner's code runs like a module being loaded
DEFAULT_PID = 1234
