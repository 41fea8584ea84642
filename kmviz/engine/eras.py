"""Where Linux 2.6.32 (the era of the "Unreliable Guide" and its alloc_bootmem() advice) differed.

The engine follows Linux 6.1.  Everything a later "era" switch needs to know about 2.6.32 is
collected here, each item with the 6.1 behaviour it replaces and the 2.6.32 source it comes
from (the tree named in the team's kernel-facts notes).  Nothing in the engine reads this yet.
"""

from types import MappingProxyType

from .gfp import GFP_ERA_2_6_32

ERA_2_6_32 = MappingProxyType(
    {
        # GFP bit values and composites (include/linux/gfp.h L21-90): GFP_KERNEL 0xd0,
        # GFP_ATOMIC 0x20, GFP_NOWAIT 0, __GFP_WAIT 0x10 instead of __GFP_DIRECT_RECLAIM ...
        "gfp": GFP_ERA_2_6_32,
        # trace show_gfp_flags(): names without leading underscores, 0 prints "GFP_NOWAIT"
        "gfp_trace_zero": "GFP_NOWAIT",
        # migratetype order and names (mmzone.h L38): no HighAtomic, a Reserve type instead
        "migratetypes": ("Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate"),
        "page_offset": 0xFFFF880000000000,  # direct map base (page_64_types.h L32)
        # setup_per_zone_wmarks() L4639: low = min + min/4, high = min + min/2
        "watermark_low": lambda wmin: wmin + wmin // 4,
        "watermark_high": lambda wmin: wmin + wmin // 2,
        "min_free_kbytes_max": 65536,  # the clamp was [128, 65536]
        # zone_watermark_ok() L1364: ALLOC_HIGH halves min and ALLOC_HARDER (!__GFP_WAIT)
        # takes a quarter, independently: GFP_ATOMIC 37.5 %, but GFP_NOWAIT (0) gets 75 %
        "gfp_nowait_reserve_share": 0.75,
        # __alloc_pages_slowpath() L1920: "%s: page allocation failure. order:%d, mode:0x%x"
        "warn_alloc": "{comm}: page allocation failure. order:{order}, mode:{gfp:#x}",
        # __might_sleep() (kernel/sched.c L9857): two lines, no non_block/preempt_count/RCU
        "might_sleep": (
            "BUG: sleeping function called from invalid context at {file}:{line}",
            "in_atomic(): {in_atomic}, irqs_disabled(): {irqs_disabled}, pid: {pid}, name: {comm}",
        ),
        # vfree() L1440: BUG_ON(in_interrupt()); 6.1 defers the free instead
        "vfree_in_interrupt": "BUG",
        # the early allocator was bootmem (mm/bootmem.c), removed in 4.20 for memblock
        "boot_allocator": "bootmem",
        # slub_def.h: kmalloc caches named by bytes (kmalloc-1024) and "kmalloc_dma-%d"
        "kmalloc_names": ("kmalloc-{size}", "kmalloc_dma-{size}"),
        # no direct compaction in the allocation slow path; orders <= 3 retried forever
        "direct_compaction": False,
    }
)
