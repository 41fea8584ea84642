"""Tests of kmviz.engine.gfp against the Linux 6.1 headers, printers and zone table."""

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmviz.engine import gfp
from kmviz.engine.constants import (
    MIGRATE_HIGHATOMIC,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NORMAL,
)
from kmviz.engine.gfp import (
    __GFP_ATOMIC,
    __GFP_BITS_MASK,
    __GFP_BITS_SHIFT,
    __GFP_COMP,
    __GFP_DIRECT_RECLAIM,
    __GFP_DMA,
    __GFP_DMA32,
    __GFP_HIGHMEM,
    __GFP_KSWAPD_RECLAIM,
    __GFP_MOVABLE,
    __GFP_NOLOCKDEP,
    __GFP_RECLAIM,
    __GFP_RECLAIMABLE,
    __GFP_SKIP_KASAN_POISON,
    __GFP_SKIP_KASAN_UNPOISON,
    __GFP_SKIP_ZERO,
    __GFP_ZERO,
    __GFP_ZEROTAGS,
    GFP_ATOMIC,
    GFP_CONSTANTS,
    GFP_DMA,
    GFP_DMA32,
    GFP_ERA_2_6_32,
    GFP_FLAG_NAMES,
    GFP_HIGHUSER,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_KERNEL_ACCOUNT,
    GFP_MOVABLE_MASK,
    GFP_NOFS,
    GFP_NOIO,
    GFP_NOWAIT,
    GFP_TRANSHUGE,
    GFP_TRANSHUGE_LIGHT,
    GFP_USER,
    GFP_ZONEMASK,
    BadGfpZone,
    describe_gfp,
    format_gfp,
    gfp_migratetype,
    gfp_zone,
    gfpflags_allow_blocking,
    parse_gfp,
    show_gfp_flags,
)

# --- values ------------------------------------------------------------------------------------


def test_gfp_kernel_is_0xcc0():
    assert GFP_KERNEL == 0xCC0


def test_gfp_atomic_is_0xa20():
    assert GFP_ATOMIC == 0xA20


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GFP_KERNEL_ACCOUNT", 0x400CC0),
        ("GFP_NOWAIT", 0x800),
        ("GFP_NOIO", 0xC00),
        ("GFP_NOFS", 0xC40),
        ("GFP_USER", 0x100CC0),
        ("GFP_DMA", 0x1),
        ("GFP_DMA32", 0x4),
        ("GFP_HIGHUSER", 0x100CC2),
        ("GFP_HIGHUSER_MOVABLE", 0x100CCA),
        ("GFP_TRANSHUGE_LIGHT", 0x1C20CA),
        ("GFP_TRANSHUGE", 0x1C24CA),
        ("__GFP_RECLAIM", 0xC00),
        ("__GFP_BITS_MASK", 0x7FFFFFF),
        ("GFP_ZONEMASK", 0xF),
        ("GFP_MOVABLE_MASK", 0x18),
    ],
)
def test_composite_has_its_6_1_value(name, value):
    assert GFP_CONSTANTS[name] == value


def test_gfp_bits_shift_is_27_without_lockdep():
    assert __GFP_BITS_SHIFT == 27


def test_single_bits_are_the_powers_of_two_0x1_to_0x800000_in_header_order():
    header_order = [
        "__GFP_DMA", "__GFP_HIGHMEM", "__GFP_DMA32", "__GFP_MOVABLE", "__GFP_RECLAIMABLE",
        "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "__GFP_ATOMIC",
        "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT",
        "__GFP_ZEROTAGS",
    ]  # fmt: skip
    assert [GFP_CONSTANTS[name] for name in header_order] == [1 << i for i in range(24)]


def test_kasan_and_lockdep_bits_are_zero_in_this_config():
    assert (__GFP_SKIP_ZERO, __GFP_SKIP_KASAN_UNPOISON, __GFP_SKIP_KASAN_POISON) == (0, 0, 0)
    assert __GFP_NOLOCKDEP == 0


def test_gfp_constants_holds_the_module_level_values():
    for name, value in GFP_CONSTANTS.items():
        assert getattr(gfp, name) == value


def test_star_import_brings_the_double_underscore_names():
    namespace: dict[str, object] = {}
    exec("from kmviz.engine.gfp import *", namespace)
    assert namespace["__GFP_ZERO"] == 0x100
    assert set(GFP_CONSTANTS) <= set(namespace)


def test_all_names_only_existing_attributes():
    assert all(hasattr(gfp, name) for name in gfp.__all__)


# --- the name table ----------------------------------------------------------------------------


def test_flag_name_table_follows_mmflags_h_order():
    assert [name for _, name in GFP_FLAG_NAMES] == [
        "GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER",
        "GFP_USER", "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO",
        "GFP_NOWAIT", "GFP_DMA", "__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_ATOMIC",
        "__GFP_IO", "__GFP_FS", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL",
        "__GFP_NORETRY", "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC",
        "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_MOVABLE",
        "__GFP_ACCOUNT", "__GFP_WRITE", "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM",
        "__GFP_KSWAPD_RECLAIM", "__GFP_ZEROTAGS",
    ]  # fmt: skip


def test_flag_name_table_pairs_each_name_with_its_value():
    assert all(GFP_CONSTANTS[name] == mask for mask, name in GFP_FLAG_NAMES)


def test_flag_name_table_has_no_zero_mask_that_would_print_on_every_mask():
    assert all(mask != 0 for mask, _ in GFP_FLAG_NAMES)


# --- %pGg --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "printed"),
    [
        (0xCC0, "GFP_KERNEL"),
        (0xDC0, "GFP_KERNEL|__GFP_ZERO"),
        (0x40CC0, "GFP_KERNEL|__GFP_COMP"),
        (0xCC1, "GFP_KERNEL|GFP_DMA"),
        (0xA20, "GFP_ATOMIC"),
        (0x2A20, "GFP_ATOMIC|__GFP_NOWARN"),
        (0x800, "GFP_NOWAIT"),
        (0x12CC0, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY"),
        (0xD2CC0, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC"),
    ],
)
def test_format_gfp_prints_like_pGg(mask, printed):
    assert format_gfp(mask) == printed


def test_format_gfp_of_zero_is_empty():
    assert format_gfp(0) == ""


def test_format_gfp_prints_unknown_bit_as_lower_case_0x_hex():
    assert format_gfp(1 << 30) == "0x40000000"


def test_format_gfp_joins_unknown_bits_after_the_names_with_a_bar():
    assert format_gfp(GFP_KERNEL | 0xA000000) == "GFP_KERNEL|0xa000000"


def test_format_gfp_prints_a_composite_before_its_bits():
    assert format_gfp(GFP_USER | __GFP_ZERO) == "GFP_USER|__GFP_ZERO"


def test_reclaim_bits_print_as_the_composites_that_shadow_them():
    assert format_gfp(__GFP_RECLAIM) == "GFP_NOIO"
    assert format_gfp(__GFP_KSWAPD_RECLAIM) == "GFP_NOWAIT"
    assert format_gfp(GFP_KERNEL & ~__GFP_DIRECT_RECLAIM) == "GFP_NOWAIT|__GFP_IO|__GFP_FS"


def test_direct_reclaim_alone_prints_its_own_name():
    assert format_gfp(__GFP_DIRECT_RECLAIM) == "__GFP_DIRECT_RECLAIM"


def test_format_gfp_rejects_a_mask_wider_than_gfp_t():
    with pytest.raises(ValueError, match="unsigned 32-bit"):
        format_gfp(1 << 32)


def test_format_gfp_rejects_a_float():
    with pytest.raises(TypeError, match="float"):
        format_gfp(3264.0)


# --- ftrace and the kernel log -----------------------------------------------------------------


def test_show_gfp_flags_of_zero_is_none():
    assert show_gfp_flags(0) == "none"


def test_show_gfp_flags_matches_format_gfp_for_nonzero_masks():
    assert show_gfp_flags(GFP_KERNEL | __GFP_ZERO | (1 << 30)) == "GFP_KERNEL|__GFP_ZERO|0x40000000"


def test_describe_gfp_is_hex_then_names_in_parentheses():
    assert describe_gfp(GFP_KERNEL) == "0xcc0(GFP_KERNEL)"


def test_describe_gfp_of_zero_keeps_the_0x_prefix():
    assert describe_gfp(0) == "0x0()"


# --- parsing -----------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=(1 << __GFP_BITS_SHIFT) - 1))
def test_parse_gfp_inverts_format_gfp(mask):
    assert parse_gfp(format_gfp(mask)) == mask


@given(st.integers(min_value=0, max_value=(1 << __GFP_BITS_SHIFT) - 1))
def test_parse_gfp_inverts_show_gfp_flags(mask):
    assert parse_gfp(show_gfp_flags(mask)) == mask


def test_parse_gfp_reads_c_spelling_with_spaces():
    assert parse_gfp("GFP_KERNEL | __GFP_ZERO") == 0xDC0


def test_parse_gfp_reads_hex_and_decimal_terms():
    assert parse_gfp("GFP_KERNEL|0x100|1") == 0xDC1


def test_parse_gfp_accepts_a_valid_int():
    assert parse_gfp(GFP_HIGHUSER_MOVABLE) == 0x100CCA


def test_parse_gfp_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"'GFP_ZERO'.*did you mean __GFP_ZERO\?"):
        parse_gfp("GFP_KERNEL|GFP_ZERO")


def test_parse_gfp_suggests_the_upper_case_name_for_lower_case_input():
    with pytest.raises(ValueError, match="did you mean GFP_KERNEL"):
        parse_gfp("gfp_kernel")


def test_parse_gfp_rejects_a_negative_int():
    with pytest.raises(ValueError, match="non-negative"):
        parse_gfp(-1)


def test_parse_gfp_names_the_bits_above_gfp_bits_mask():
    with pytest.raises(ValueError, match="0x8000000"):
        parse_gfp(GFP_KERNEL | (1 << __GFP_BITS_SHIFT))


def test_parse_gfp_names_a_too_high_bit_given_in_a_string():
    with pytest.raises(ValueError, match="0x40000000"):
        parse_gfp("GFP_KERNEL|0x40000000")


def test_parse_gfp_rejects_a_float_with_type_error():
    with pytest.raises(TypeError, match=r"parse_gfp\(\) takes an int mask or a str.*float"):
        parse_gfp(3264.0)


def test_parse_gfp_rejects_a_bool():
    with pytest.raises(TypeError, match="bool"):
        parse_gfp(True)


def test_parse_gfp_rejects_an_empty_term():
    with pytest.raises(ValueError, match="empty term"):
        parse_gfp("GFP_KERNEL||__GFP_ZERO")


def test_parse_gfp_rejects_a_term_that_is_neither_name_nor_number():
    with pytest.raises(ValueError, match="neither a GFP flag name nor"):
        parse_gfp("GFP_KERNEL|1.5")


def test_parse_gfp_does_not_accept_the_shift_as_a_flag():
    with pytest.raises(ValueError, match="unknown GFP flag '__GFP_BITS_SHIFT'"):
        parse_gfp("__GFP_BITS_SHIFT")


# --- zones -------------------------------------------------------------------------------------

BAD = "bad"

# The low four bits → (zone with CONFIG_ZONE_DMA and _DMA32, zone with neither), gfp.h L68–85.
ZONE_BY_MODIFIERS = {
    0x0: (ZONE_NORMAL, ZONE_NORMAL),
    0x1: (ZONE_DMA, ZONE_NORMAL),
    0x2: (ZONE_NORMAL, ZONE_NORMAL),
    0x3: (BAD, BAD),
    0x4: (ZONE_DMA32, ZONE_NORMAL),
    0x5: (BAD, BAD),
    0x6: (BAD, BAD),
    0x7: (BAD, BAD),
    0x8: (ZONE_NORMAL, ZONE_NORMAL),
    0x9: (ZONE_DMA, ZONE_NORMAL),
    0xA: (ZONE_MOVABLE, ZONE_MOVABLE),
    0xB: (BAD, BAD),
    0xC: (ZONE_DMA32, ZONE_NORMAL),
    0xD: (BAD, BAD),
    0xE: (BAD, BAD),
    0xF: (BAD, BAD),
}


@pytest.mark.parametrize("modifiers", sorted(ZONE_BY_MODIFIERS))
@pytest.mark.parametrize("zones_configured", [True, False], ids=["dma+dma32", "neither"])
def test_gfp_zone_follows_gfp_zone_table(modifiers, zones_configured):
    expected = ZONE_BY_MODIFIERS[modifiers][0 if zones_configured else 1]
    mask = GFP_KERNEL | modifiers
    if expected == BAD:
        with pytest.raises(BadGfpZone):
            gfp_zone(mask, zone_dma=zones_configured, zone_dma32=zones_configured)
    else:
        assert gfp_zone(mask, zone_dma=zones_configured, zone_dma32=zones_configured) == expected


def test_gfp_zone_without_only_zone_dma32_sends_dma32_to_normal_but_keeps_dma():
    assert gfp_zone(GFP_DMA32, zone_dma32=False) == ZONE_NORMAL
    assert gfp_zone(GFP_DMA, zone_dma32=False) == ZONE_DMA


def test_gfp_zone_of_highuser_movable_is_zone_movable():
    assert gfp_zone(GFP_HIGHUSER_MOVABLE) == ZONE_MOVABLE


def test_gfp_zone_of_highuser_is_zone_normal_without_highmem():
    assert gfp_zone(GFP_HIGHUSER) == ZONE_NORMAL


def test_gfp_zone_bad_marks_exactly_the_bad_combinations():
    bad = {modifiers for modifiers, zones in ZONE_BY_MODIFIERS.items() if zones[0] == BAD}
    assert {bit for bit in range(16) if (gfp.GFP_ZONE_BAD >> bit) & 1} == bad


def test_bad_gfp_zone_carries_mask_and_vm_bug_on_location():
    with pytest.raises(BadGfpZone) as caught:
        gfp_zone(GFP_KERNEL | __GFP_DMA | __GFP_DMA32)
    assert caught.value.mask == 0xCC5
    assert caught.value.location == "include/linux/gfp.h:136"


def test_bad_gfp_zone_message_names_the_clashing_modifiers():
    with pytest.raises(BadGfpZone) as caught:
        gfp_zone(GFP_KERNEL | __GFP_DMA | __GFP_DMA32)
    assert str(caught.value) == "VM_BUG_ON: bad zone modifier combination 0x5 (GFP_DMA|GFP_DMA32)"


def test_bad_gfp_zone_is_a_value_error():
    with pytest.raises(ValueError, match="bad zone modifier"):
        gfp_zone(__GFP_DMA32 | __GFP_HIGHMEM)


def test_bad_gfp_zone_survives_pickle_and_copy():
    error = BadGfpZone(GFP_KERNEL | __GFP_DMA | __GFP_HIGHMEM)
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert clone.mask == error.mask
        assert str(clone) == str(error)


def test_zone_modifiers_are_the_low_four_bits():
    assert __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE == GFP_ZONEMASK


# --- migrate type, blocking --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "migratetype"),
    [
        (GFP_KERNEL, MIGRATE_UNMOVABLE),
        (GFP_HIGHUSER_MOVABLE, MIGRATE_MOVABLE),
        (GFP_KERNEL | __GFP_RECLAIMABLE, MIGRATE_RECLAIMABLE),
        (GFP_KERNEL | GFP_MOVABLE_MASK, MIGRATE_HIGHATOMIC),
    ],
    ids=["unmovable", "movable", "reclaimable", "both-bits-is-highatomic"],
)
def test_gfp_migratetype_shifts_the_mobility_bits(mask, migratetype):
    assert gfp_migratetype(mask) == migratetype


@pytest.mark.parametrize(
    ("mask", "may_block"),
    [
        (GFP_KERNEL, True),
        (GFP_NOFS, True),
        (GFP_NOIO, True),
        (GFP_USER, True),
        (GFP_TRANSHUGE, True),
        (GFP_KERNEL_ACCOUNT, True),
        (GFP_ATOMIC, False),
        (GFP_NOWAIT, False),
        (GFP_TRANSHUGE_LIGHT, False),
        (GFP_DMA, False),
        (GFP_DMA32, False),
    ],
)
def test_gfpflags_allow_blocking_means_direct_reclaim(mask, may_block):
    assert gfpflags_allow_blocking(mask) is may_block


def test_gfp_atomic_has_atomic_bit_and_no_direct_reclaim():
    assert GFP_ATOMIC & __GFP_ATOMIC
    assert not GFP_ATOMIC & __GFP_DIRECT_RECLAIM


def test_transhuge_light_drops_reclaim_and_adds_compound():
    assert GFP_TRANSHUGE_LIGHT & __GFP_RECLAIM == 0
    assert GFP_TRANSHUGE_LIGHT & __GFP_COMP


def test_no_flag_reaches_past_gfp_bits_mask():
    assert all(value & ~__GFP_BITS_MASK == 0 for value in GFP_CONSTANTS.values())


def test_zerotags_is_the_highest_defined_bit():
    assert max(mask for mask, _ in GFP_FLAG_NAMES) == __GFP_ZEROTAGS


# --- 2.6.32 ------------------------------------------------------------------------------------


def test_era_2_6_32_gfp_kernel_is_0xd0():
    assert GFP_ERA_2_6_32["GFP_KERNEL"] == 0xD0


def test_era_2_6_32_gfp_nowait_is_zero_and_atomic_is_just_high():
    assert GFP_ERA_2_6_32["GFP_NOWAIT"] == 0
    assert GFP_ERA_2_6_32["GFP_ATOMIC"] == 0x20


def test_era_2_6_32_composites_are_built_from_its_own_bits():
    era = GFP_ERA_2_6_32
    assert era["GFP_NOFS"] == era["__GFP_WAIT"] | 0x40
    assert era["GFP_KERNEL"] == era["GFP_NOFS"] | 0x80
    assert era["GFP_HIGHUSER_MOVABLE"] == era["GFP_HIGHUSER"] | __GFP_MOVABLE


def test_era_2_6_32_lists_only_values_that_differ_from_6_1():
    assert all(GFP_CONSTANTS.get(name) != value for name, value in GFP_ERA_2_6_32.items())


def test_era_2_6_32_is_read_only():
    with pytest.raises(TypeError):
        GFP_ERA_2_6_32["GFP_KERNEL"] = 0xCC0  # type: ignore[index]


def test_zero_flag_moved_between_eras():
    assert (GFP_ERA_2_6_32["__GFP_ZERO"], __GFP_ZERO) == (0x8000, 0x100)
