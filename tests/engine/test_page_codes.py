"""The page arrays: one state code per frame (a held block's head has its own) and two links."""

import re
from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz.engine import fastpath
from kmviz.engine.buddy import (
    ALLOCATED,
    COMPOUND,
    HELD_PAIRS,
    HOLE,
    OWNER_ANON,
    OWNER_FILE,
    OWNER_NONE,
    OWNER_SLAB,
    OWNER_VMALLOC,
    PCP,
    PCP_END,
    RESERVED,
    TAIL,
    held_code,
    holder,
    plain_code,
)
from kmviz.engine.constants import MAX_ORDER, MIGRATE_TYPES
from kmviz.engine.gfp import __GFP_COMP, GFP_KERNEL
from kmviz.engine.invariants import check


def test_a_held_head_s_code_gives_back_its_plain_code_and_its_holder():
    for plain, owner in HELD_PAIRS:
        code = held_code(plain, owner)
        assert (plain_code(code), holder(code)) == (plain, owner)
        assert held_code(code, OWNER_NONE) == plain


def test_held_codes_are_no_other_state_and_fit_in_a_signed_byte():
    others = {
        *range(MAX_ORDER),
        *(kind + order for kind in (ALLOCATED, COMPOUND) for order in range(MAX_ORDER)),
        RESERVED,
        HOLE,
        TAIL,
        *range(PCP, PCP_END),
    }
    held = {held_code(plain, owner) for plain, owner in HELD_PAIRS}
    assert len(held) == len(HELD_PAIRS)
    assert not held & others
    assert all(-128 <= code < 128 for code in held)


def test_a_slab_is_held_by_its_head_page_and_its_other_pages_stay_tails():
    k = Kernel(mem="64MiB", memory_map="flat")
    k.kmalloc(8192, GFP_KERNEL)  # kmalloc-8k: order-3 slabs
    slab = k.kmalloc_cache("kmalloc-8k").cpu_slab
    assert slab.order == 3
    assert k.buddy.owner_of(slab.pfn) == OWNER_SLAB
    assert plain_code(k.buddy.state[slab.pfn]) == COMPOUND + 3
    assert list(k.buddy.state[slab.pfn + 1 : slab.pfn + 8]) == [TAIL] * 7


def test_a_page_frame_costs_one_state_byte_and_a_pair_of_frames_two_4_byte_links():
    k = Kernel(mem="64MiB", memory_map="flat")
    buddy, frames = k.buddy, 64 << (20 - 12)
    assert (buddy.state.itemsize, buddy.nxt.itemsize, buddy.prv.itemsize) == (1, 4, 4)
    assert len(buddy.state) == frames
    sentinels = len(k.zones) * MAX_ORDER * MIGRATE_TYPES
    assert len(buddy.nxt) == len(buddy.prv) == frames // 2 + sentinels
    assert not hasattr(buddy, "owner")


def test_the_c_path_s_codes_of_held_order_0_pages_are_the_held_codes():
    source = (Path(__file__).parents[2] / "kmviz/engine/_fastpath.c").read_text()
    for name, owner in (("ANON", OWNER_ANON), ("FILE", OWNER_FILE), ("VMALLOC", OWNER_VMALLOC)):
        defined = re.search(rf"#define {name}_PAGE (\d+)", source)
        assert int(defined.group(1)) == held_code(ALLOCATED, owner), name


def test_a_page_and_its_buddy_both_on_pcp_lists_keep_their_own_places():
    k = Kernel(mem="64MiB", memory_map="flat")
    addrs = {k.virt_to_page(a).pfn: a for a in (k.get_free_pages(GFP_KERNEL, 0) for _ in range(64))}
    pair = next(pfn for pfn in addrs if pfn % 2 == 0 and pfn + 1 in addrs)
    for pfn in (pair, pair + 1):
        k.free_pages(addrs[pfn], 0)
    zone = k.buddy.zone_of(pair)
    pcp = [pfn for pcp_list in zone.pcp_lists for pfn in pcp_list]
    assert pcp[-2:] == [pair, pair + 1]  # the last freed is the list head, the array's end
    check(k)


@pytest.mark.parametrize("c_path", [True, False], ids=["C", "Python"])
def test_an_order_0_page_asked_for_with_gfp_comp_is_a_plain_page(c_path, monkeypatch):
    # prep_new_page() (mm/page_alloc.c L2569): prep_compound_page() only if order > 0
    monkeypatch.setattr(fastpath, "ENABLED", c_path)
    k = Kernel(mem="64MiB", memory_map="flat")
    for _ in range(2):  # the first call makes the mask's plan, the second takes the fast path
        page = k.alloc_pages(GFP_KERNEL | __GFP_COMP, 0)
        assert k.buddy.state[page.pfn] == ALLOCATED
    order_1 = k.alloc_pages(GFP_KERNEL | __GFP_COMP, 1)
    assert k.buddy.state[order_1.pfn] == COMPOUND + 1
    check(k)
