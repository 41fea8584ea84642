"""Tests of kmviz.engine.slab_geometry against Linux 6.1 mm/slub.c, mm/slab_common.c and slab.h.

Every expected number below was worked out by hand from the 6.1.192 source (calculate_order(),
calc_slab_order(), calculate_sizes(), calculate_alignment(), size_index[], kmalloc_info[]) and
agrees with the team notes (kernel-facts.md 5.5) for 1 to 64 CPUs.  The notes' "16, 32, 64 and
128 are always order 0" and their "≥16 CPUs" row hold only below 128 CPUs: from 128 present
CPUs on min_objects is 4 * (fls(128) + 1) = 36, and 36 * 128 > 4096 (see
test_the_notes_always_order_0_stops_at_128_cpus).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmviz.engine.constants import MAX_ORDER, PAGE_SIZE
from kmviz.engine.gfp import (
    __GFP_ACCOUNT,
    __GFP_DMA,
    __GFP_DMA32,
    __GFP_RECLAIMABLE,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_KERNEL,
    GFP_KERNEL_ACCOUNT,
)
from kmviz.engine.slab_geometry import (
    ARCH_KMALLOC_MINALIGN,
    ARCH_SLAB_MINALIGN,
    DEBUG_DEFAULT_FLAGS,
    KMALLOC_INDEXES,
    KMALLOC_KINDS,
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    KMALLOC_MIN_SIZE,
    KMALLOC_SHIFT_HIGH,
    KMALLOC_SHIFT_LOW,
    KMALLOC_SHIFT_MAX,
    MAX_OBJS_PER_PAGE,
    SIZE_MAX,
    SLAB_ACCOUNT,
    SLAB_CACHE_DMA,
    SLAB_CONSISTENCY_CHECKS,
    SLAB_HWCACHE_ALIGN,
    SLAB_KMALLOC,
    SLAB_PANIC,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    SLAB_TYPESAFE_BY_RCU,
    SLUB_MAX_ORDER,
    ZERO_SIZE_PTR,
    Geometry,
    auto_min_objects,
    cache_line_size,
    calc_slab_order,
    calculate_alignment,
    calculate_order,
    kmalloc_cache_name,
    kmalloc_cache_size,
    kmalloc_geometry,
    kmalloc_index,
    kmalloc_size_roundup,
    kmalloc_type,
    slab_geometry,
)

# --- constants --------------------------------------------------------------------------------


def test_constants_are_those_of_6_1_slub_on_x86_64():
    assert KMALLOC_SHIFT_LOW == 3
    assert KMALLOC_MIN_SIZE == 8
    assert KMALLOC_SHIFT_HIGH == 13
    assert KMALLOC_MAX_CACHE_SIZE == 8192
    assert KMALLOC_SHIFT_MAX == 22
    assert KMALLOC_MAX_SIZE == 4 << 20
    assert ZERO_SIZE_PTR == 16
    assert SLUB_MAX_ORDER == 3
    assert MAX_OBJS_PER_PAGE == 32767
    assert ARCH_KMALLOC_MINALIGN == ARCH_SLAB_MINALIGN == 8
    assert cache_line_size() == 64


def test_slab_flag_bits_are_those_of_include_linux_slab_h():
    assert SLAB_CONSISTENCY_CHECKS == 0x100
    assert SLAB_RED_ZONE == 0x400
    assert SLAB_POISON == 0x800
    assert SLAB_KMALLOC == 0x1000
    assert SLAB_HWCACHE_ALIGN == 0x2000
    assert SLAB_CACHE_DMA == 0x4000
    assert SLAB_STORE_USER == 0x10000
    assert SLAB_RECLAIM_ACCOUNT == 0x20000
    assert SLAB_PANIC == 0x40000
    assert SLAB_TYPESAFE_BY_RCU == 0x80000
    assert SLAB_ACCOUNT == 0x4000000
    # plain "slub_debug" = F, Z, P, U (mm/slub.c L257)
    assert DEBUG_DEFAULT_FLAGS == 0x10D00


def test_create_kmalloc_caches_makes_classes_1_2_and_3_to_13():
    assert KMALLOC_INDEXES == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
    assert sorted(kmalloc_cache_size(i) for i in KMALLOC_INDEXES) == [
        8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192
    ]  # fmt: skip


# --- size classes -----------------------------------------------------------------------------

# (size, kmalloc_index, kmalloc_size_roundup) at every class boundary
BOUNDARIES = [
    (0, 0, 0),
    (1, 3, 8),
    (8, 3, 8),
    (9, 4, 16),
    (16, 4, 16),
    (17, 5, 32),
    (32, 5, 32),
    (33, 6, 64),
    (64, 6, 64),
    (65, 1, 96),
    (96, 1, 96),
    (97, 7, 128),
    (128, 7, 128),
    (129, 2, 192),
    (192, 2, 192),
    (193, 8, 256),
    (256, 8, 256),
    (257, 9, 512),
    (512, 9, 512),
    (513, 10, 1024),
    (1024, 10, 1024),
    (1025, 11, 2048),
    (2048, 11, 2048),
    (2049, 12, 4096),
    (4096, 12, 4096),
    (4097, 13, 8192),
    (8192, 13, 8192),
]


@pytest.mark.parametrize(("size", "index", "roundup"), BOUNDARIES)
def test_every_size_class_boundary(size, index, roundup):
    assert kmalloc_index(size) == index
    assert kmalloc_size_roundup(size) == roundup
    if size:
        assert kmalloc_cache_size(index) == roundup


def test_kmalloc_index_matches_the_size_index_table_entry_by_entry():
    # slab_common.c L664: size_index[(size - 1) / 8] for 1..192
    table = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2]
    for size in range(1, 193):
        assert kmalloc_index(size) == table[(size - 1) // 8], size


def test_kmalloc_index_above_the_caches_follows___kmalloc_index_up_to_2_mib():
    assert kmalloc_index(8193) == 14
    assert kmalloc_index(2 << 20) == 21
    with pytest.raises(ValueError):
        kmalloc_index((2 << 20) + 1)


def test_kmalloc_size_roundup_above_8k_is_a_compound_page():
    assert kmalloc_size_roundup(8193) == 16384  # order 2: PAGE_SIZE << get_order(8193)
    assert kmalloc_size_roundup(12288) == 16384
    assert kmalloc_size_roundup(16385) == 32768
    assert kmalloc_size_roundup(KMALLOC_MAX_SIZE) == KMALLOC_MAX_SIZE
    # 6.1 does not cap at KMALLOC_MAX_SIZE (slab_common.c L718-733): it just rounds
    assert kmalloc_size_roundup(KMALLOC_MAX_SIZE + 1) == 2 * KMALLOC_MAX_SIZE
    assert kmalloc_size_roundup(SIZE_MAX) == SIZE_MAX


def test_size_arguments_are_checked():
    with pytest.raises(ValueError):
        kmalloc_index(-1)
    with pytest.raises(TypeError):
        kmalloc_size_roundup(1.5)
    with pytest.raises(ValueError):
        kmalloc_cache_size(22)
    with pytest.raises(ValueError):
        kmalloc_cache_name(3, "dma32")


# --- names and kinds --------------------------------------------------------------------------


def test_names_of_all_four_kinds_as_kmalloc_info_spells_them():
    assert KMALLOC_KINDS == ("normal", "cgroup", "reclaim", "dma")  # enum kmalloc_cache_type
    assert kmalloc_cache_name(1) == "kmalloc-96"
    assert kmalloc_cache_name(2, "normal") == "kmalloc-192"
    assert kmalloc_cache_name(10) == "kmalloc-1k"
    assert kmalloc_cache_name(13) == "kmalloc-8k"
    assert kmalloc_cache_name(7, "dma") == "dma-kmalloc-128"
    assert kmalloc_cache_name(6, "reclaim") == "kmalloc-rcl-64"
    assert kmalloc_cache_name(11, "cgroup") == "kmalloc-cg-2k"
    assert kmalloc_cache_name(0) == "kmalloc-0"
    assert kmalloc_cache_name(20) == "kmalloc-1M"
    assert kmalloc_cache_name(21, "dma") == "dma-kmalloc-2M"
    expected = {
        "normal": "kmalloc-{}",
        "dma": "dma-kmalloc-{}",
        "reclaim": "kmalloc-rcl-{}",
        "cgroup": "kmalloc-cg-{}",
    }
    shorts = ["96", "192", "8", "16", "32", "64", "128", "256", "512", "1k", "2k", "4k", "8k"]
    for kind, pattern in expected.items():
        names = [kmalloc_cache_name(i, kind) for i in range(1, 14)]
        assert names == [pattern.format(short) for short in shorts]


def test_kmalloc_type_priorities_dma_then_reclaimable_then_account():
    assert kmalloc_type(GFP_KERNEL) == "normal"
    assert kmalloc_type(GFP_ATOMIC) == "normal"
    assert kmalloc_type(GFP_KERNEL | __GFP_DMA32) == "normal"  # DMA32 is no kmalloc kind
    assert kmalloc_type(GFP_KERNEL | GFP_DMA) == "dma"
    assert kmalloc_type(GFP_KERNEL | __GFP_RECLAIMABLE) == "reclaim"
    assert kmalloc_type(GFP_KERNEL_ACCOUNT) == "cgroup"
    # slab.h L371: __GFP_DMA beats both, and __GFP_RECLAIMABLE beats __GFP_ACCOUNT
    assert kmalloc_type(__GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT) == "dma"
    assert kmalloc_type(__GFP_DMA | __GFP_ACCOUNT) == "dma"
    assert kmalloc_type(__GFP_RECLAIMABLE | __GFP_ACCOUNT) == "reclaim"
    assert kmalloc_type(GFP_KERNEL_ACCOUNT | __GFP_RECLAIMABLE) == "reclaim"


# --- alignment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "align", "size", "expected"),
    [
        (0, 0, 24, 8),  # at least ARCH_SLAB_MINALIGN
        (0, 0, 1, 8),
        (0, 4, 24, 8),
        (0, 12, 24, 16),  # rounded up to sizeof(void *)
        (0, 64, 24, 64),
        (SLAB_HWCACHE_ALIGN, 0, 24, 32),  # 64 halved once: 24 <= 32 but not <= 16
        (SLAB_HWCACHE_ALIGN, 0, 32, 32),
        (SLAB_HWCACHE_ALIGN, 0, 33, 64),
        (SLAB_HWCACHE_ALIGN, 0, 16, 16),
        (SLAB_HWCACHE_ALIGN, 0, 8, 8),
        (SLAB_HWCACHE_ALIGN, 0, 1, 8),  # halved down to 1, then ARCH_SLAB_MINALIGN
        (SLAB_HWCACHE_ALIGN, 0, 100, 64),
        (SLAB_HWCACHE_ALIGN, 0, 9000, 64),
        (SLAB_HWCACHE_ALIGN, 128, 24, 128),  # a larger explicit align wins
    ],
)
def test_calculate_alignment(flags, align, size, expected):
    assert calculate_alignment(flags, align, size) == expected


def test_a_24_byte_hwcache_aligned_cache_has_32_byte_objects():
    geometry = slab_geometry(24, flags=SLAB_HWCACHE_ALIGN)
    assert (geometry.align, geometry.size, geometry.offset, geometry.inuse) == (32, 32, 8, 24)
    assert (geometry.objects, geometry.order, geometry.leftover) == (128, 0, 0)


# --- calculate_order ---------------------------------------------------------------------------


def test_auto_min_objects():
    assert [auto_min_objects(n) for n in (1, 2, 3, 4, 8, 16, 32, 64, 128)] == [
        8, 12, 12, 16, 20, 24, 28, 32, 36
    ]  # fmt: skip


def test_calc_slab_order_steps():
    # 192 bytes, 24 objects: 4608 bytes need order 1; 8192 % 192 = 128 <= 8192 / 16
    assert calc_slab_order(192, 24, 3, 16) == 1
    # 9024 bytes, 3 objects, 1/16 and 1/8: order 3 leaves 5696, too much; gives max_order + 1
    assert calc_slab_order(9024, 3, 3, 16) == 4
    assert calc_slab_order(9024, 3, 3, 8) == 4
    assert calc_slab_order(9024, 3, 3, 4) == 3
    # tiny objects with a big slub_min_order: the MAX_OBJS_PER_PAGE early exit
    assert calc_slab_order(8, 1, 3, 16, min_order=7) == 5


def test_calculate_order_fallbacks_and_enosys():
    # one 4 MiB object: above slub_max_order, so the MAX_ORDER fallback gives order 10
    assert calculate_order(4 << 20) == MAX_ORDER - 1
    assert calculate_order(20000) == 3  # one object per order-3 slab is still within max
    with pytest.raises(ValueError, match="ENOSYS"):
        calculate_order((4 << 20) + 8)
    with pytest.raises(ValueError):
        slab_geometry((4 << 20) + 1)


def test_boot_parameters():
    # slub_max_order=0: kmalloc-512 packs 8 per page even on 2 CPUs
    assert kmalloc_geometry(9, cpus=2, max_order=0).objects == 8
    assert kmalloc_geometry(13, cpus=2, max_order=0).order == 1  # one object needs order 1
    # slub_min_order=2: every slab at least 4 pages
    assert kmalloc_geometry(3, min_order=2).pages_per_slab == 4
    assert kmalloc_geometry(3, min_order=2).objects == 2048
    # slub_min_objects=4: kmalloc-1k on order 0
    geometry = kmalloc_geometry(10, min_objects=4)
    assert (geometry.objects, geometry.order) == (4, 0)
    # slub_max_order= is clamped to MAX_ORDER - 1 like setup_slub_max_order()
    assert kmalloc_geometry(13, max_order=99, min_objects=1000).order == MAX_ORDER - 1


# --- kmalloc table (kernel-facts.md 5.5, checked against the source) -------------------------

# present CPUs -> {kmalloc class size: (objects per slab, pages per slab)}
KMALLOC_TABLE = {
    1: {
        8: (512, 1), 16: (256, 1), 32: (128, 1), 64: (64, 1), 96: (42, 1), 128: (32, 1),
        192: (21, 1), 256: (16, 1), 512: (8, 1), 1024: (8, 2), 2048: (8, 4), 4096: (8, 8),
        8192: (4, 8),
    },
    2: {
        8: (512, 1), 16: (256, 1), 32: (128, 1), 64: (64, 1), 96: (42, 1), 128: (32, 1),
        192: (21, 1), 256: (16, 1), 512: (16, 2), 1024: (16, 4), 2048: (16, 8), 4096: (8, 8),
        8192: (4, 8),
    },
    8: {
        8: (512, 1), 16: (256, 1), 32: (128, 1), 64: (64, 1), 96: (42, 1), 128: (32, 1),
        192: (21, 1), 256: (32, 2), 512: (32, 4), 1024: (32, 8), 2048: (16, 8), 4096: (8, 8),
        8192: (4, 8),
    },
    16: {
        8: (512, 1), 16: (256, 1), 32: (128, 1), 64: (64, 1), 96: (42, 1), 128: (32, 1),
        192: (42, 2), 256: (32, 2), 512: (32, 4), 1024: (32, 8), 2048: (16, 8), 4096: (8, 8),
        8192: (4, 8),
    },
}  # fmt: skip
KMALLOC_TABLE[4] = KMALLOC_TABLE[3] = KMALLOC_TABLE[2]  # min_objects 16 / 12 change nothing
KMALLOC_TABLE[32] = KMALLOC_TABLE[64] = KMALLOC_TABLE[16]  # min_objects 28 / 32 neither


@pytest.mark.parametrize("cpus", sorted(KMALLOC_TABLE))
def test_kmalloc_objects_and_pages_per_slab(cpus):
    by_size = {kmalloc_cache_size(i): i for i in KMALLOC_INDEXES}
    for class_size, (objects, pages) in KMALLOC_TABLE[cpus].items():
        geometry = kmalloc_geometry(by_size[class_size], cpus=cpus)
        assert (geometry.objects, geometry.pages_per_slab) == (objects, pages), class_size
        assert geometry.size == geometry.object_size == class_size  # no debug: no padding
        assert geometry.red_left_pad == 0
        assert geometry.inuse == class_size
        assert geometry.offset == class_size // 2 & ~7  # free pointer in the middle, a word


def test_the_notes_always_order_0_stops_at_128_cpus():
    # kernel-facts.md 5.5 says 16..128 are "always" order 0 and gives a "≥16" row; with 128
    # present CPUs min_objects is 36: 36 * 128 = 4608 bytes needs order 1.
    assert kmalloc_geometry(7, cpus=127).order == 0
    assert (kmalloc_geometry(7, cpus=128).objects, kmalloc_geometry(7, cpus=128).order) == (64, 1)
    assert kmalloc_geometry(8, cpus=128).objects == 64  # -256: 64/4, not 32/2
    assert kmalloc_geometry(9, cpus=128).pages_per_slab == 8  # -512: 64/8, not 32/4


def test_kmalloc_96_and_192_leave_64_bytes_per_page():
    assert kmalloc_geometry(1).leftover == 4096 - 42 * 96 == 64
    assert kmalloc_geometry(2).leftover == 64
    assert kmalloc_geometry(2, cpus=16).leftover == 128  # 42 in two pages
    assert kmalloc_geometry(1).align == 8  # not a power of two: ARCH_KMALLOC_MINALIGN
    assert kmalloc_geometry(10).align == 1024  # powers of two are naturally aligned


def test_min_is_the_order_of_one_object():
    assert (kmalloc_geometry(13).min_order, kmalloc_geometry(13).min_objects) == (1, 1)
    assert (kmalloc_geometry(12).min_order, kmalloc_geometry(12).min_objects) == (0, 1)
    assert (kmalloc_geometry(10).min_order, kmalloc_geometry(10).min_objects) == (0, 4)
    assert (kmalloc_geometry(3).min_order, kmalloc_geometry(3).min_objects) == (0, 512)


def test_kmalloc_class_0_is_not_a_cache():
    with pytest.raises(ValueError):
        kmalloc_geometry(0)


# --- user caches ------------------------------------------------------------------------------


def test_a_task_struct_like_cache():
    # kmem_cache_create("task_struct_like", 9000, 64, SLAB_PANIC | SLAB_ACCOUNT, NULL)
    geometry = slab_geometry(9000, 64, SLAB_PANIC | SLAB_ACCOUNT)
    assert geometry == Geometry(
        object_size=9000,
        size=9024,  # ALIGN(9000, 64)
        align=64,
        offset=4496,  # ALIGN_DOWN(4500, 8)
        inuse=9000,
        red_left_pad=0,
        order=3,  # 3 objects: 1/16 and 1/8 fail (5696 left), 1/4 passes
        objects=3,
        pages_per_slab=8,
        min_order=2,
        min_objects=1,
        leftover=5696,
    )
    assert geometry.slab_bytes == 32768
    # on one CPU the same: max_objects = 32768 // 9024 = 3 caps min_objects anyway
    assert slab_geometry(9000, 64, SLAB_PANIC | SLAB_ACCOUNT, cpus=1) == geometry


def test_odd_sized_user_caches():
    # 100 bytes, no flags: 104-byte stride, 39 per page, 40 bytes wasted
    geometry = slab_geometry(100)
    assert (geometry.size, geometry.offset, geometry.objects, geometry.leftover) == (
        104, 48, 39, 40
    )  # fmt: skip
    # 100 bytes, cache-line aligned: 128-byte stride
    assert slab_geometry(100, flags=SLAB_HWCACHE_ALIGN).size == 128
    # 700 bytes on 2 CPUs: 12 * 704 = 8448 needs order 2 (16384 % 704 = 192 <= 1024)
    geometry = slab_geometry(700)
    assert (geometry.size, geometry.order, geometry.objects, geometry.leftover) == (
        704, 2, 23, 192
    )  # fmt: skip


def test_free_pointer_moves_out_of_the_object_for_rcu_and_ctor():
    rcu = slab_geometry(24, flags=SLAB_TYPESAFE_BY_RCU)
    assert (rcu.offset, rcu.inuse, rcu.size) == (24, 24, 32)
    ctor = slab_geometry(20, has_ctor=True)
    assert (ctor.offset, ctor.inuse, ctor.size) == (24, 24, 32)
    plain = slab_geometry(20)
    assert (plain.offset, plain.inuse, plain.size) == (8, 24, 24)


# --- debug layouts (calculate_sizes with slub_debug's default flags) --------------------------


def test_slub_debug_24_byte_user_cache():
    # 24 -> +8 right red zone = 32 (inuse) -> +8 free pointer (POISON) = 40 -> +64 tracks = 104
    # -> +8 padding word = 112 -> +8 red_left_pad = 120 -> ALIGN(120, 8)
    geometry = slab_geometry(24, flags=DEBUG_DEFAULT_FLAGS)
    assert (geometry.inuse, geometry.offset, geometry.red_left_pad, geometry.size) == (
        32, 32, 8, 120
    )  # fmt: skip
    assert (geometry.objects, geometry.order, geometry.leftover) == (34, 0, 16)


def test_slub_debug_kmalloc_64_is_naturally_aligned_so_it_balloons():
    # 64 -> 72 (inuse) -> 80 -> 144 -> +4 orig size = 148 -> +8 = 156 -> red_left_pad
    # ALIGN(8, 64) = 64 -> 220 -> ALIGN(220, 64) = 256
    geometry = kmalloc_geometry(6, DEBUG_DEFAULT_FLAGS)
    assert (geometry.inuse, geometry.offset, geometry.red_left_pad, geometry.size) == (
        72, 72, 64, 256
    )  # fmt: skip
    assert (geometry.objects, geometry.order) == (16, 0)


def test_slub_debug_kmalloc_96_and_8k():
    # 96 -> 104 -> 112 -> 176 -> 180 -> 188 -> +8 = 196 -> ALIGN(196, 8) = 200
    geometry = kmalloc_geometry(1, DEBUG_DEFAULT_FLAGS)
    assert (geometry.size, geometry.red_left_pad, geometry.objects, geometry.order) == (
        200, 8, 20, 0
    )  # fmt: skip
    # 8192: red_left_pad 8192 and ALIGN to 8192 make a 24 KiB stride, one per order-3 slab
    geometry = kmalloc_geometry(13, DEBUG_DEFAULT_FLAGS)
    assert (geometry.size, geometry.objects, geometry.order, geometry.leftover) == (
        24576, 1, 3, 8192
    )  # fmt: skip


def test_red_zone_on_tiny_objects_moves_the_free_pointer():
    # 4 bytes: ALIGN to 8 leaves 4 spare bytes of red zone; object < sizeof(void *)
    geometry = slab_geometry(4, flags=SLAB_RED_ZONE)
    assert (geometry.inuse, geometry.offset, geometry.red_left_pad, geometry.size) == (
        8, 8, 8, 32
    )  # fmt: skip
    # 16 bytes red-zoned: an extra word of red zone, free pointer stays in the middle
    geometry = slab_geometry(16, flags=SLAB_RED_ZONE)
    assert (geometry.inuse, geometry.offset, geometry.size) == (24, 8, 40)
    # store-user alone on a non-kmalloc cache: no orig-size word
    assert slab_geometry(16, flags=SLAB_STORE_USER).size == 16 + 64


def test_bad_arguments():
    with pytest.raises(ValueError):
        slab_geometry(0)
    with pytest.raises(ValueError):
        slab_geometry(64, cpus=0)
    with pytest.raises(ValueError):
        slab_geometry(64, min_order=MAX_ORDER)


# --- properties -------------------------------------------------------------------------------


@given(size=st.integers(1, KMALLOC_MAX_CACHE_SIZE), cpus=st.integers(1, 64))
def test_geometry_fits_and_obeys_the_leftover_rule(size, cpus):
    geometry = slab_geometry(size, cpus=cpus)
    slab_bytes = PAGE_SIZE << geometry.order
    assert geometry.objects >= 1
    assert geometry.order <= SLUB_MAX_ORDER
    assert geometry.objects * geometry.size <= slab_bytes
    assert geometry.leftover == slab_bytes - geometry.objects * geometry.size < geometry.size
    assert geometry.pages_per_slab == 1 << geometry.order
    # within slub_max_order the search always succeeds with at least the 1/4 fraction
    assert geometry.leftover <= slab_bytes // 4
    # up to 8 KiB order 3 always passes 1/4 (leftover < size <= 32768 / 4), so the first
    # min_objects calculate_order() tries always succeeds: the slab holds at least that many
    wanted = min(auto_min_objects(cpus), (PAGE_SIZE << SLUB_MAX_ORDER) // geometry.size)
    assert geometry.objects >= wanted
    assert geometry.size >= size
    assert geometry.size % geometry.align == 0
    assert geometry.min_objects >= 1
    assert geometry.min_order <= geometry.order


@given(size=st.integers(0, KMALLOC_MAX_CACHE_SIZE))
def test_roundup_is_the_class_that_kmalloc_index_picks(size):
    index = kmalloc_index(size)
    assert kmalloc_size_roundup(size) == kmalloc_cache_size(index) >= size
    if size:
        assert index in KMALLOC_INDEXES
        # no smaller created class would do
        smaller = [kmalloc_cache_size(i) for i in KMALLOC_INDEXES if kmalloc_cache_size(i) >= size]
        assert kmalloc_cache_size(index) == min(smaller)
