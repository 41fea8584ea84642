"""x86-64 4-level page tables: index arithmetic, entry bits, building, walking and tearing down.

The tables get their pages from a fake page allocator that hands out pfns from 0x1000 up and
counts every alloc_table() and free_table() call, so a test can see exactly which table pages
a mapping cost and that a failure gave them all back.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmviz.engine import fastpath
from kmviz.engine.constants import PAGE_OFFSET as CONSTANTS_PAGE_OFFSET
from kmviz.engine.pagetable import (
    _KERNPG_TABLE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_GLOBAL,
    _PAGE_NX,
    _PAGE_PRESENT,
    _PAGE_PSE,
    _PAGE_RW,
    _PAGE_TABLE,
    _PAGE_USER,
    PAGE_KERNEL,
    PAGE_KERNEL_EXEC,
    PAGE_OFFSET,
    PTE_PFN_MASK,
    VMALLOC_END,
    VMALLOC_START,
    PageTableError,
    PageTables,
    START_KERNEL_map,
    _pte_clear,
    _pte_fill,
    canonical,
    describe_flags,
    pgd_index,
    pmd_index,
    ptdump_prot,
    pte_index,
    pud_index,
)

KERNEL_TEXT = 0xFFFFFFFF80000000
FIRST_TABLE_PFN = 0x1000


class FakeAllocator:
    """alloc_table / free_table for PageTables: fresh pfns, a budget, and a log of calls."""

    def __init__(self, budget: int | None = None):
        self.budget = budget  # tables it may still hand out; None: unlimited
        self.next_pfn = FIRST_TABLE_PFN
        self.allocated: list[tuple[str, int]] = []
        self.freed: list[int] = []

    def alloc(self, level: str) -> int:
        if self.budget is not None:
            if self.budget == 0:
                return -1
            self.budget -= 1
        pfn = self.next_pfn
        self.next_pfn += 1
        self.allocated.append((level, pfn))
        return pfn

    def free(self, pfn: int) -> None:
        self.freed.append(pfn)

    def live(self) -> set[int]:
        return {pfn for _, pfn in self.allocated} - set(self.freed)


def make(budget: int | None = None) -> tuple[PageTables, FakeAllocator]:
    allocator = FakeAllocator(budget)
    return PageTables(allocator.alloc, allocator.free), allocator


# --- index arithmetic and constants ------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "indexes"),
    [
        (PAGE_OFFSET, (273, 0, 0, 0)),
        (VMALLOC_START, (402, 0, 0, 0)),
        (VMALLOC_END, (465, 511, 511, 511)),
        (KERNEL_TEXT, (511, 510, 0, 0)),
        (0xFFFFC90000C35234, (402, 0, 6, 53)),
    ],
)
def test_indexes_of_the_kernel_regions(addr, indexes):
    assert (pgd_index(addr), pud_index(addr), pmd_index(addr), pte_index(addr)) == indexes


def test_address_space_constants():
    assert PAGE_OFFSET == CONSTANTS_PAGE_OFFSET == 0xFFFF888000000000
    assert VMALLOC_START == 0xFFFFC90000000000
    assert VMALLOC_END == 0xFFFFE8FFFFFFFFFF
    assert START_KERNEL_map == KERNEL_TEXT
    assert PTE_PFN_MASK == 0x000FFFFFFFFFF000


def test_page_kernel_value_and_flags_text():
    assert PAGE_KERNEL == 0x8000000000000163
    assert PAGE_KERNEL == (
        _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL | _PAGE_NX
    )
    assert describe_flags(PAGE_KERNEL) == "P RW A D G NX"
    assert PAGE_KERNEL_EXEC == 0x163
    assert describe_flags(PAGE_KERNEL_EXEC) == "P RW A D G"
    assert _KERNPG_TABLE == 0x63
    assert _PAGE_TABLE == 0x67 == _KERNPG_TABLE | _PAGE_USER
    assert describe_flags(_PAGE_TABLE) == "P RW USR A D"
    assert describe_flags(0) == "none"


def test_bit_7_and_bit_12_depend_on_the_level():
    huge = 0x40000000 | PAGE_KERNEL | _PAGE_PSE | 0x1000
    assert describe_flags(huge, "PMD") == "P RW A D PSE G PAT NX"
    assert describe_flags(0x80 | PAGE_KERNEL, "PTE") == "P RW A D PAT G NX"
    assert describe_flags(0x1000 | PAGE_KERNEL, "PTE") == "P RW A D G NX"  # bit 12: the pfn


def test_ptdump_prot_mirrors_printk_prot():
    assert ptdump_prot(PAGE_KERNEL, "PTE") == "    RW " + " " * 16 + "GLB NX pte"
    assert ptdump_prot(PAGE_KERNEL_EXEC | _PAGE_PSE, "PMD") == "    RW " + " " * 8 + (
        "PSE " + " " * 4 + "GLB x  pmd"
    )
    assert ptdump_prot(0, "PGD") == " " * 30 + "pgd"


@pytest.mark.parametrize(
    ("addr", "ok"),
    [
        (0, True),
        (0x00007FFFFFFFFFFF, True),
        (0x0000800000000000, False),
        (0xFFFF7FFFFFFFFFFF, False),
        (0xFFFF800000000000, True),
        (VMALLOC_START, True),
        (2**64, False),
        (-1, False),
    ],
)
def test_canonical(addr, ok):
    assert canonical(addr) is ok


# --- building ----------------------------------------------------------------------------------


def test_construction_allocates_the_pgd():
    tables, allocator = make()
    assert allocator.allocated == [("PGD", FIRST_TABLE_PFN)]
    assert tables.pgd_pfn == FIRST_TABLE_PFN
    assert tables.table_pages() == {FIRST_TABLE_PFN: "PGD"}
    assert tables.mapped_count() == 0


def test_construction_without_a_page_raises():
    with pytest.raises(PageTableError, match="PGD"):
        make(budget=0)


def test_first_mapping_builds_the_whole_path_with_table_entries():
    tables, allocator = make()
    assert tables.map_page(VMALLOC_START, 0x12345)
    assert [level for level, _ in allocator.allocated] == ["PGD", "PUD", "PMD", "PTE"]
    pgd, pud, pmd, pte = (pfn for _, pfn in allocator.allocated)
    assert tables.entries(pgd) == {402: pud << 12 | _PAGE_TABLE}
    assert tables.entries(pud) == {0: pmd << 12 | _PAGE_TABLE}
    assert tables.entries(pmd) == {0: pte << 12 | _PAGE_TABLE}
    assert tables.entries(pte) == {0: 0x8000000012345163}
    assert tables.table_pages() == {pgd: "PGD", pud: "PUD", pmd: "PMD", pte: "PTE"}
    assert tables.mapped_count() == 1


def test_two_pages_4k_apart_share_one_pte_table():
    tables, allocator = make()
    assert tables.map_page(VMALLOC_START, 0x100)
    assert tables.map_page(VMALLOC_START + 0x1000, 0x200)
    assert len(allocator.allocated) == 4
    pte_tables = [pfn for pfn, level in tables.table_pages().items() if level == "PTE"]
    assert len(pte_tables) == 1
    assert tables.entries(pte_tables[0]) == {
        0: 0x100 << 12 | PAGE_KERNEL,
        1: 0x200 << 12 | PAGE_KERNEL,
    }
    assert tables.mapped_count() == 2


def test_pages_2m_apart_need_a_second_pte_table():
    tables, allocator = make()
    assert tables.map_page(VMALLOC_START, 0x100)
    assert tables.map_page(VMALLOC_START + (2 << 20), 0x200)
    levels = sorted(tables.table_pages().values())
    assert levels == ["PGD", "PMD", "PTE", "PTE", "PUD"]
    assert allocator.allocated[-1][0] == "PTE"


def test_mapping_over_a_present_pte_warns_and_changes_nothing():
    tables, allocator = make()
    assert tables.map_page(VMALLOC_START, 0x100)
    before = (tables.table_pages(), len(allocator.allocated))
    assert not tables.map_page(VMALLOC_START, 0x200)
    assert (tables.table_pages(), len(allocator.allocated)) == before
    assert tables.walk(VMALLOC_START).pfn == 0x100
    (warning,) = tables.warnings
    assert warning.location == "mm/vmalloc.c:541"
    assert warning.function == "vmap_pages_pte_range"
    assert "WARN_ON(!pte_none(*pte))" in str(warning)


@pytest.mark.parametrize("budget", [0, 1, 2])
def test_table_allocation_failure_leaves_nothing_behind(budget):
    tables, allocator = make(budget=budget + 1)  # + 1 for the PGD
    assert not tables.map_page(VMALLOC_START, 0x100)
    assert len(allocator.allocated) == 1 + budget
    assert sorted(allocator.freed) == sorted(pfn for _, pfn in allocator.allocated[1:])
    assert tables.table_pages() == {tables.pgd_pfn: "PGD"}
    assert tables.entries(tables.pgd_pfn) == {}
    assert tables.mapped_count() == 0
    assert tables.walk(VMALLOC_START).fault_level == "PGD"


def test_failure_below_an_existing_path_frees_only_the_new_tables():
    tables, allocator = make(budget=4)  # PGD, PUD, PMD, PTE: nothing to spare
    assert tables.map_page(VMALLOC_START, 0x100)
    before = tables.table_pages()
    assert not tables.map_page(VMALLOC_START + (2 << 20), 0x200)  # needs one PTE table
    assert allocator.freed == []
    assert tables.table_pages() == before


@pytest.mark.parametrize(
    ("vaddr", "pfn", "message"),
    [
        (0x0000800000000000, 1, "canonical"),
        (VMALLOC_START + 0x10, 1, "aligned"),
        (VMALLOC_START, 1 << 40, "52 physical bits"),
        (VMALLOC_START, -1, "52 physical bits"),
    ],
)
def test_bad_arguments_raise_and_change_nothing(vaddr, pfn, message):
    tables, allocator = make()
    with pytest.raises(PageTableError, match=message):
        tables.map_page(vaddr, pfn)
    assert len(allocator.allocated) == 1
    assert tables.mapped_count() == 0


def test_bad_prot_and_types_raise():
    tables, _ = make()
    with pytest.raises(PageTableError, match="_PAGE_PRESENT"):
        tables.map_page(VMALLOC_START, 1, PAGE_KERNEL & ~_PAGE_PRESENT)
    with pytest.raises(PageTableError, match="outside the flags"):
        tables.map_page(VMALLOC_START, 1, PAGE_KERNEL | 0x5000)
    with pytest.raises(TypeError):
        tables.map_page(float(VMALLOC_START), 1)
    with pytest.raises(PageTableError, match="canonical"):
        tables.walk(0x0000800000000000)
    assert isinstance(PageTableError("x"), ValueError)


def test_a_misbehaving_allocator_is_caught():
    tables = PageTables(lambda level: 7, lambda pfn: None)
    with pytest.raises(PageTableError, match="already a PGD table"):
        tables.map_page(VMALLOC_START, 1)


# --- walking -----------------------------------------------------------------------------------


def test_walk_of_a_mapped_address():
    tables, allocator = make()
    assert tables.map_page(0xFFFFC90000C35000, 0x12345)
    walk = tables.walk(0xFFFFC90000C35234)
    assert walk.phys == 0x12345 << 12 | 0x234 == 0x12345234
    assert walk.pfn == 0x12345
    assert walk.fault_level is None
    assert [step.level for step in walk.steps] == ["PGD", "PUD", "PMD", "PTE"]
    assert [step.index for step in walk.steps] == [402, 0, 6, 53]
    assert [step.table_pfn for step in walk.steps] == [pfn for _, pfn in allocator.allocated]
    assert [step.next_pfn for step in walk.steps] == [
        *(pfn for _, pfn in allocator.allocated[1:]),
        0x12345,
    ]
    assert walk.steps[-1].entry == 0x8000000012345163
    assert walk.steps[-1].flags_text == "P RW A D G NX"
    assert walk.steps[0].flags_text == "P RW USR A D"
    assert not any(step.large for step in walk.steps)
    text = str(walk)
    assert "PGD[402]" in text
    assert "0x8000000012345163" in text
    assert "-> PUD table at pfn 0x1001" in text
    assert "phys = 0x12345000 + 0x234 = 0x12345234" in text


def test_walk_faults_at_the_first_missing_level():
    tables, _ = make()
    assert tables.walk(VMALLOC_START).fault_level == "PGD"
    assert tables.map_page(VMALLOC_START, 0x100)
    cases = {
        VMALLOC_START + 0x1000: "PTE",  # same PTE table, empty slot
        VMALLOC_START + (2 << 20): "PMD",  # same PMD table, no PTE table
        VMALLOC_START + (1 << 30): "PUD",  # same PUD table, no PMD table
        VMALLOC_START + (1 << 39): "PGD",  # next PGD slot
    }
    for vaddr, level in cases.items():
        walk = tables.walk(vaddr)
        assert walk.phys is None
        assert walk.fault_level == level
        assert walk.steps[-1].level == level
        assert walk.steps[-1].entry == 0
        assert walk.steps[-1].next_pfn is None
        assert len(walk.steps) == ["PGD", "PUD", "PMD", "PTE"].index(level) + 1
        assert f"page fault at the {level}" in str(walk)


# --- large pages -------------------------------------------------------------------------------


def test_2m_page_walks_in_three_steps():
    tables, allocator = make()
    assert tables.map_large(PAGE_OFFSET + (2 << 20), 512, "PMD")
    assert [level for level, _ in allocator.allocated] == ["PGD", "PUD", "PMD"]
    walk = tables.walk(PAGE_OFFSET + (2 << 20) + 0x12345)
    assert [step.level for step in walk.steps] == ["PGD", "PUD", "PMD"]
    assert walk.steps[-1].large
    assert walk.steps[-1].entry == 0x200000 | 0x80000000000001E3
    assert walk.steps[-1].flags_text == "P RW A D PSE G NX"
    assert walk.phys == (2 << 20) + 0x12345
    assert "2 MiB page" in str(walk)
    assert tables.mapped_count() == 1


def test_1g_page_walks_in_two_steps():
    tables, allocator = make()
    assert tables.map_large(PAGE_OFFSET + (3 << 30), 3 << 18, "PUD")
    assert [level for level, _ in allocator.allocated] == ["PGD", "PUD"]
    walk = tables.walk(PAGE_OFFSET + (3 << 30) + 0x2345678)
    assert [step.level for step in walk.steps] == ["PGD", "PUD"]
    assert walk.steps[-1].large
    assert walk.phys == (3 << 30) + 0x2345678


def test_direct_map_of_4g_with_1g_pages_follows_pa_equals_va_minus_page_offset():
    tables, _ = make()
    for gib in range(4):
        assert tables.map_large(PAGE_OFFSET + (gib << 30), gib << 18, "PUD")
    for phys in (0, 0x1234567, 0xFFFFFFFF, 0x9FC00):
        assert tables.walk(PAGE_OFFSET + phys).phys == phys


def test_large_mappings_check_alignment_and_refuse_populated_entries():
    tables, _ = make()
    with pytest.raises(PageTableError, match="aligned"):
        tables.map_large(PAGE_OFFSET + 0x1000, 512, "PMD")
    with pytest.raises(PageTableError, match="multiple of 512"):
        tables.map_large(PAGE_OFFSET, 1, "PMD")
    with pytest.raises(PageTableError, match="level"):
        tables.map_large(PAGE_OFFSET, 0, "PTE")
    assert tables.map_page(PAGE_OFFSET, 0)  # a PTE table now hangs off PMD[0]
    assert not tables.map_large(PAGE_OFFSET, 0, "PMD")
    assert tables.warnings[-1].function == "pmd_set_huge"
    assert tables.map_large(PAGE_OFFSET + (2 << 20), 512, "PMD")
    assert not tables.map_large(PAGE_OFFSET + (2 << 20), 1024, "PMD")
    with pytest.raises(PageTableError, match="unmap_large"):
        tables.map_page(PAGE_OFFSET + (2 << 20) + 0x1000, 5)
    with pytest.raises(PageTableError, match="unmap_large"):
        tables.unmap_page(PAGE_OFFSET + (2 << 20) + 0x1000)


def test_unmap_large_returns_the_first_pfn():
    tables, _ = make()
    assert tables.map_large(PAGE_OFFSET + (2 << 20), 512, "PMD")
    assert tables.unmap_large(PAGE_OFFSET + (2 << 20), "PMD") == 512
    assert tables.unmap_large(PAGE_OFFSET + (2 << 20), "PMD") is None
    assert tables.walk(PAGE_OFFSET + (2 << 20)).fault_level == "PMD"
    assert tables.mapped_count() == 0
    assert tables.map_page(PAGE_OFFSET, 0)
    with pytest.raises(PageTableError, match="points to a table"):
        tables.unmap_large(PAGE_OFFSET, "PMD")


# --- tearing down ------------------------------------------------------------------------------


def test_unmap_returns_the_pfn_and_keeps_the_tables():
    tables, allocator = make()
    assert tables.map_page(VMALLOC_START, 0x100)
    pages = tables.table_pages()
    assert tables.unmap_page(VMALLOC_START) == 0x100
    assert tables.unmap_page(VMALLOC_START) is None
    assert tables.unmap_page(VMALLOC_START + (1 << 30)) is None
    assert tables.table_pages() == pages  # vunmap frees no page-table pages
    assert allocator.freed == []
    assert tables.walk(VMALLOC_START).fault_level == "PTE"
    assert tables.mapped_count() == 0
    assert tables.map_page(VMALLOC_START, 0x300)  # the PTE table is reused
    assert len(allocator.allocated) == 4


# --- random sequences against a dict model -----------------------------------------------------

# a few PGD/PUD/PMD slots and PTE indexes, so sequences share tables and collide often
_VADDRS = st.builds(
    lambda pgd, pud, pmd, pte: 0xFFFF000000000000 | pgd << 39 | pud << 30 | pmd << 21 | pte << 12,
    st.sampled_from([256, 402, 511]),
    st.sampled_from([0, 1, 510]),
    st.sampled_from([0, 7]),
    st.sampled_from([0, 1, 2, 511]),
)
_OPS = st.lists(
    st.tuples(st.sampled_from(["map", "unmap"]), _VADDRS, st.integers(0, (1 << 40) - 1)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops=_OPS, budget=st.one_of(st.none(), st.integers(1, 12)))
def test_random_map_unmap_agrees_with_a_dict_model(ops, budget):
    tables, allocator = make(budget=budget)
    model: dict[int, int] = {}
    for op, vaddr, pfn in ops:
        if op == "map":
            ok = tables.map_page(vaddr, pfn)
            if ok:
                assert vaddr not in model
                model[vaddr] = pfn
            elif vaddr in model:
                assert "WARN_ON" in str(tables.warnings[-1])
            else:
                assert allocator.budget == 0  # only a table allocation can fail
        else:
            assert tables.unmap_page(vaddr) == model.pop(vaddr, None)
        assert tables.mapped_count() == len(model)
    for pgd in (256, 402, 511):
        for pud in (0, 1, 510):
            for pmd in (0, 7):
                for pte in (0, 1, 2, 511):
                    vaddr = 0xFFFF000000000000 | pgd << 39 | pud << 30 | pmd << 21 | pte << 12
                    walk = tables.walk(vaddr + 0xABC)
                    if vaddr in model:
                        assert walk.phys == model[vaddr] << 12 | 0xABC
                        assert len(walk.steps) == 4
                    else:
                        assert walk.phys is None
                        assert walk.fault_level is not None
    # every table page is reachable, allocated and not freed; nothing else is live
    assert set(tables.table_pages()) == allocator.live()
    reachable = {tables.pgd_pfn}
    frontier = [tables.pgd_pfn]
    while frontier:
        table = frontier.pop()
        if tables.table_pages()[table] == "PTE":
            continue
        for entry in tables.entries(table).values():
            child = (entry & PTE_PFN_MASK) >> 12
            assert entry & 0xFFF == _PAGE_TABLE
            reachable.add(child)
            frontier.append(child)
    assert reachable == set(tables.table_pages())


def test_map_pages_and_unmap_pages_agree_with_page_by_page_calls():
    allocated = iter(range(0x1000, 0x2000))
    bulk = PageTables(lambda level: next(allocated), lambda pfn: None)
    single_ids = iter(range(0x1000, 0x2000))
    single = PageTables(lambda level: next(single_ids), lambda pfn: None)
    start = VMALLOC_START + (511 << 12)  # crosses a 2 MiB boundary after one page
    frames = [0x500 + 7 * i for i in range(600)]
    assert bulk.map_pages(start, frames) == 600
    for i, pfn in enumerate(frames):
        assert single.map_page(start + (i << 12), pfn)
    for i in range(0, 600, 37):
        assert bulk.walk(start + (i << 12)).phys == single.walk(start + (i << 12)).phys
    assert bulk.unmap_pages(start, 600) == frames
    assert bulk.mapped_count() == 0


@pytest.mark.parametrize(
    "frames", [(0x500, 0x507, 0x50E), range(0x600, 0x603)], ids=["tuple", "range"]
)
def test_map_pages_maps_frames_given_as_any_sequence_with_the_c_writes_too(frames):
    # map_pages() checks each of ``frames`` whatever sequence holds them; _fastpath.c's
    # pte_fill() takes a list only, so map_pages() must hand it one, as the Python twin needs not
    allocated = iter(range(0x1000, 0x2000))
    tables = PageTables(lambda level: next(allocated), lambda pfn: None)
    if fastpath.pte_functions() is None:
        pytest.skip("the C fast path is not built")
    assert tables._fill is fastpath.pte_functions()[0]
    assert tables.map_pages(VMALLOC_START, frames) == 3  # installs the PTE table, then fills
    assert tables.map_pages(VMALLOC_START + (3 << 12), frames[::-1]) == 3  # a known table
    mapped = [tables.walk(VMALLOC_START + (i << 12)).phys for i in range(6)]
    assert mapped == [pfn << 12 for pfn in (*frames, *frames[::-1])]


_RUNS = st.lists(
    st.tuples(
        st.sampled_from(["map_checked", "clear_range", "unmap_page"]),
        st.integers(0, 3 * 512),  # the first page: in one of three 2 MiB stretches
        st.integers(1, 40),
    ),
    max_size=40,
)


@pytest.mark.parametrize("writes", ["C", "Python"])
@settings(max_examples=150, deadline=None)
@given(runs=_RUNS, budget=st.one_of(st.none(), st.integers(1, 6)))
def test_vmallocs_runs_of_pages_agree_with_a_dict_model(writes, runs, budget):
    # map_checked() and clear_range(), vmalloc()'s and vfree()'s calls, with the PTE tables
    # they remember per 2 MiB, against page-by-page bookkeeping (tables may run out midway);
    # the runs within one table are written by _fastpath.c's pte_fill()/pte_clear() or by
    # their Python twins
    tables, allocator = make(budget=budget)
    if writes == "Python":
        tables._fill, tables._clear = _pte_fill, _pte_clear
    else:
        assert fastpath.pte_functions() == (tables._fill, tables._clear)
    model: dict[int, int] = {}
    for op, first, count in runs:
        start = VMALLOC_START + (first << 12)
        pages = [start + (i << 12) for i in range(count)]
        if op == "map_checked":
            frames = [0x700 + first + i for i in range(count)]
            done = tables.map_checked(start, frames, PAGE_KERNEL)
            free = next((i for i, vaddr in enumerate(pages) if vaddr in model), count)
            assert done <= free
            if done < free:
                assert allocator.budget == 0  # only a table allocation stops it early
            model.update(zip(pages[:done], frames[:done], strict=True))
        elif op == "clear_range":
            tables.clear_range(start, count)
            for vaddr in pages:
                model.pop(vaddr, None)
        else:
            assert tables.unmap_page(start) == model.pop(start, None)
        assert tables.mapped_count() == len(model)
    for first in range(0, 3 * 512 + 40, 7):
        vaddr = VMALLOC_START + (first << 12)
        walk = tables.walk(vaddr)
        assert walk.phys == (model[vaddr] << 12 if vaddr in model else None)
