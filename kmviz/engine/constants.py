"""Fixed numbers of the simulated x86-64 machine, each with its unit (Linux 6.1, 4 KiB pages)."""

# --- pages -----------------------------------------------------------------------------------
PAGE_SHIFT = 12  # bits; arch/x86/include/asm/page_types.h
PAGE_SIZE = 1 << PAGE_SHIFT  # bytes: 4096
PAGE_MASK = ~(PAGE_SIZE - 1)  # bytes mask that clears the offset within a page

# --- time ----------------------------------------------------------------------------------------
HZ = 250  # timer ticks (jiffies) per second: CONFIG_HZ_250, Debian's
MEM_INIT_NS = 12_000_000  # ns: when mem_init() prints "Memory:" (kmem_cache_init() follows)

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
# NR_PCP_LISTS (mmzone.h): MIGRATE_PCPTYPES lists per order up to the costly order, 3 * 4 == 12,
# and two for THP (Unmovable/Reclaimable together, Movable): 14 per zone and CPU
NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + 2
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
ZONE_DEVICE = 4  # CONFIG_ZONE_DEVICE (Debian's 6.1 has it): never populated here
MAX_NR_ZONES = 5
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable", "Device")  # zone_names[], page_alloc.c L388
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT  # first pfn above ZONE_DMA: 4096 (16 MiB)
MAX_DMA32_PFN = 1 << (32 - PAGE_SHIFT)  # first pfn above ZONE_DMA32: 1048576 (4 GiB)

# sysctl_lowmem_reserve_ratio[], page_alloc.c L374 (DMA, DMA32, Normal, Movable, Device: 0)
LOWMEM_RESERVE_RATIO = (256, 256, 32, 0, 0)
WATERMARK_SCALE_FACTOR = 10  # parts per 10000 of a zone (vm.watermark_scale_factor)
MIN_FREE_KBYTES_MIN = 128  # KiB; calculate_min_free_kbytes() clamp
MIN_FREE_KBYTES_MAX = 262144  # KiB

# --- kernel virtual address space (x86-64, 4-level paging, KASLR off) ----------------------
PAGE_OFFSET = 0xFFFF888000000000  # start of the direct map of all physical memory
VMEMMAP_START = 0xFFFFEA0000000000  # the struct page array (mem_map)
STRUCT_PAGE_SIZE = 64  # bytes per struct page
START_KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map: where the kernel image is mapped

# --- the machine's memory map (Kernel(memory_map=...)) ---------------------------------------
# QEMU's i440FX PC with SeaBIOS, as the captures' "BIOS-e820:" lines show it: the EBDA at
# 0x9fc00, the system ROM at 0xf0000, SeaBIOS's tables in the last 128 KiB below the top of low
# RAM, the BIOS flash below 4 GiB, and (QEMU 7.1+) the AMD HyperTransport hole at 1012 GiB.
EBDA_START = 0x9FC00  # bytes: "BIOS-e820: [mem 0x...9fc00-0x...9ffff] reserved"
ISA_END = 0x100000  # bytes: 1 MiB, end of the legacy ISA area
SYSTEM_ROM_START = 0xF0000  # bytes: "[mem 0x...f0000-0x...fffff] reserved"
BIOS_TABLES_SIZE = 0x20000  # bytes: SeaBIOS's high tables below the top of low RAM (128 KiB)
BIOS_FLASH_START = 0xFFFC0000  # bytes: the BIOS image mapped below 4 GiB (256 KiB)
HT_HOLE = (0xFD00000000, 0x10000000000)  # bytes: QEMU's reserved HyperTransport range
PCI_HOLE_SPLIT = 0xE0000000  # bytes: from 3.5 GiB of RAM QEMU starts the PCI hole lower...
PCI_HOLE_START = 0xC0000000  # bytes: ...at 3 GiB, and puts the rest of RAM above 4 GiB
BIOS_HOLE_START_PFN = 0x9F  # 0x9f000: the page holding the EBDA start 0x9fc00
BIOS_HOLE_END_PFN = 0x100  # 1 MiB
PAGES_PER_SECTION = 1 << (27 - PAGE_SHIFT)  # SPARSEMEM sections of 128 MiB: 32768 pages

# --- what a real boot keeps (boot_reserved=True) --------------------------------------------
# The kernel Debian's 6.1.192 (6.1.0-57-amd64) boots from, loaded at CONFIG_PHYSICAL_START with
# nokaslr; /proc/iomem of the captures: "Kernel code 01000000-01e01d31", "Kernel rodata
# 02000000-028eafff", "Kernel data 02a00000-02c4897f", "Kernel bss 03310000-043fffff".
PHYSICAL_START = 0x1000000  # bytes: CONFIG_PHYSICAL_START, 16 MiB (_text)
KERNEL_RESERVE_END = 0x4400000  # bytes: __end_of_kernel_reserve (= __bss_stop), 68 MiB
# The boot line "Memory: ... (14343K kernel code, 2338K rwdata, 9132K rodata, 2824K init,
# 17344K bss, ...)" of that kernel (KiB).
KERNEL_CODE_KIB = 14343
KERNEL_RWDATA_KIB = 2338
KERNEL_RODATA_KIB = 9132
KERNEL_INIT_KIB = 2824
KERNEL_BSS_KIB = 17344
# What the running kernel gives back from its image (KiB), as its "Freeing ..." lines say.
SMP_LOCKS_KIB = 36  # "Freeing SMP alternatives memory: 36K"
DECRYPTED_UNUSED_KIB = 2036  # "Freeing unused decrypted memory: 2036K"
TEXT_RODATA_GAP_KIB = 2040  # "Freeing unused kernel image (text/rodata gap) memory: 2040K"
RODATA_DATA_GAP_KIB = 1108  # "Freeing unused kernel image (rodata/data gap) memory: 1108K"
INITRD_KIB = 2884  # the captures' initramfs (tools/real-kernel): "Freeing initrd memory: 2884K"
NODE_DATA_BYTES = 0x2B000  # roundup(sizeof(pg_data_t), PAGE_SIZE): "NODE_DATA(0) allocated"
PERCPU_UNIT_PAGES = 62  # "percpu: Embedded 62 pages/cpu" (static, reserved and dynamic parts)
SWIOTLB_BYTES = 64 << 20  # IO_TLB_DEFAULT_SIZE, when RAM reaches above 4 GiB
SWIOTLB_SLOT_BYTES = 24  # sizeof(struct io_tlb_slot): one per 2 KiB IO_TLB_SIZE slab
# memory_map="flat" keeps kmviz's earlier, simpler boot: the first MiB and an image of this
# size (KiB) from CONFIG_PHYSICAL_START, nothing else, so small machines keep room.
FLAT_KERNEL_IMAGE_KIB = 30336
# Page tables, mem_section, memblock's own arrays, usemaps, the brk area and the other small
# early allocations, not modelled one by one: what the 256 MiB and 1 GiB captures keep beyond
# the pieces above (both 34 pages).
EARLY_MISC_PAGES = 34

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
    ("CONFIG_SLUB_CPU_PARTIAL", "y"),  # per-CPU partial slabs (put_cpu_partial())
    ("CONFIG_ZONE_DMA", "y"),
    ("CONFIG_ZONE_DMA32", "y"),
    ("CONFIG_ZSWAP", "y"),  # /proc/meminfo has Zswap: and Zswapped: (nothing is swapped here)
    ("CONFIG_X86_DIRECT_GBPAGES", "y"),  # 1 GiB direct-map pages where the CPU has them
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
