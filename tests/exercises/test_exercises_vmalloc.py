"""Lesson 04: do its questions judge answers well, and does its text say what its machine does?"""

import json
from pathlib import Path

import pytest
from lesson_cells import cells, prose, run

from kmviz import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, Kernel, get_order
from kmviz.engine.pagetable import VMALLOC_START, pgd_index, pmd_index, pte_index, pud_index
from kmviz.exercises import AnswerError, vmalloc

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04-vmalloc-and-the-mmu.ipynb"


@pytest.fixture(scope="module")
def facts():
    return vmalloc.lesson()


@pytest.fixture(scope="module")
def ran():
    """The lesson's code cells run in order in one namespace: (namespace, what they printed)."""
    namespace, printed = run(NOTEBOOK)
    return namespace, "".join(printed)


# --- the questions ----------------------------------------------------------------------------
def test_direct_map_pfn_takes_hex_or_decimal_and_names_each_slip(facts):
    question = vmalloc.direct_map_pfn()
    pfn = (facts.buf - PAGE_OFFSET) >> PAGE_SHIFT
    assert pfn == 0x3000
    assert question.check("0x3000").correct
    assert question.check(str(pfn)).correct
    assert "physical address" in question.check("0x3000000").message
    assert "still contains PAGE_OFFSET" in question.check(hex(facts.buf >> PAGE_SHIFT)).message
    assert "virtual address kmalloc() returned" in question.check(hex(facts.buf)).message
    wrong = question.check("0x3001")
    assert not wrong.correct
    assert "0xffff888003001000" in wrong.message
    assert "0x3000000 >> 12 = 0x3000" in question.show_answer()


def test_vmallocinfo_size_wants_whole_pages_plus_the_guard_page():
    question = vmalloc.vmallocinfo_size(10_000)
    assert question.check("16384").correct
    assert question.check("0x4000").correct
    assert "guard page" in question.check("12288").message
    assert "3 whole pages" in question.check("14096").message
    assert "whole pages" in question.check("10000").message
    assert "count of pages" in question.check("4").message
    assert "Less than the 10000 bytes" in question.check("8192").message
    assert "4 × 4096 = 16384" in question.show_answer()


def test_walk_indexes_reads_four_numbers_and_points_at_the_wrong_level():
    question = vmalloc.walk_indexes(vmalloc.WALK_ADDRESS)
    assert question.answer == "402 1 5 77"
    assert question.check("402 1 5 77").correct
    assert question.check("pgd 402, pud 1, pmd 5, pte 77, offset 0x123").correct
    assert question.check("0x192 1 5 0x4d").correct
    wrong = question.check("402 0 5 77")
    assert not wrong.correct
    assert "PUD: (addr >> 30) & 511 = 1, not 0" in wrong.message
    assert "PGD" not in wrong.message  # only the wrong level is named
    assert "& 511" in question.check("402 1 5 2637").message  # forgot the mask
    with pytest.raises(AnswerError, match="four numbers"):
        question.checker("402 1 5")
    assert not question.check("402 1 5").correct  # the widget shows the form instead


def test_the_index_arithmetic_is_the_engines(facts):
    engine = {"PGD": pgd_index, "PUD": pud_index, "PMD": pmd_index, "PTE": pte_index}
    for level, _ in vmalloc.LEVELS:
        for addr in (vmalloc.WALK_ADDRESS, facts.area, facts.buf, facts.table + 0x5123):
            assert vmalloc.index_of(addr, level) == engine[level](addr)
        assert vmalloc.index_of(facts.area, level) == (402 if level == "PGD" else 0)


def test_pieces_after_uptime_accepts_close_guesses_and_explains_one_and_sixteen(facts):
    question = vmalloc.pieces_after_uptime()
    runs = vmalloc.pieces(facts.table_pfns)
    count = len(runs)
    assert 3 <= count <= 13  # scattered, yet neither 1 nor 16: the guesses below stay apart
    sizes = ", ".join(str(pages) for _, pages in runs)
    exact = question.check(str(count))
    assert exact.correct and f"Exactly {count}: runs of {sizes} pages" in exact.message
    close = question.check(str(count + 2))
    assert close.correct and "Close enough" in close.message
    one = question.check("1")
    assert not one.correct and "kmalloc()" in one.message
    sixteen = question.check("16")
    assert not sixteen.correct and "no two pages side by side" in sixteen.message
    assert not question.check(str(count + 3)).correct
    assert "from 1 to 16" in question.check("17").message


def test_dma_map_vmalloc_wants_error_and_says_why(facts):
    question = vmalloc.dma_map_vmalloc()
    assert question.check("error").correct
    assert question.check("DMA_MAPPING_ERROR").correct
    assert f"{facts.table:#x} is in the vmalloc area" in question.check("no").message
    yes = question.check("address")
    assert not yes.correct and "scattered" in yes.message
    assert "address or error" in question.check("maybe").message
    assert "rejecting DMA map of vmalloc memory" in question.show_answer()


def test_which_allocator_wants_vmalloc_and_accepts_kvmalloc():
    question = vmalloc.which_allocator()
    assert question.check("vmalloc").correct
    assert question.check("vmalloc()").correct
    assert "mm/util.c L559" in question.check("kvmalloc").message
    wrong = question.check("kmalloc")
    assert not wrong.correct and "4 MiB" in wrong.message
    assert "kmalloc or vmalloc" in question.check("malloc").message


# --- the lesson's numbers ---------------------------------------------------------------------
def test_the_fresh_machine_does_what_the_lesson_says(facts):
    text = prose(NOTEBOOK)
    assert get_order(16384) == 2 and "(order 2 here)" in text
    assert vmalloc.pieces(facts.area_pfns) == [(facts.area_pfns[0], 16)]  # "consecutive"
    assert facts.area == VMALLOC_START
    assert "says 69632 bytes: 17 pages" in text and (16 + 1) * PAGE_SIZE == 69632
    assert "4 pages, 16384 bytes" in text
    assert facts.small == facts.area + 69632  # "right after the first one's guard page"
    assert facts.area_pfns[5] == 0x3015
    assert "frame `0x3015`" in text and "`0x8000000003015163`" in text
    assert "1 GiB (PUD 1) + 5 × 2 MiB (PMD 5) + 77 × 4 KiB (PTE 77)" in text
    assert 0x40A4D123 == (1 << 30) + 5 * (2 << 20) + 77 * 4096 + 0x123


def test_the_notebook_runs_the_machine_the_questions_are_built_from(facts, ran):
    namespace, _ = ran
    assert namespace["buf"] == facts.buf
    assert namespace["area"] == facts.area
    assert namespace["small"] == facts.small
    assert namespace["report"].free_share == facts.free_share
    assert namespace["ring"] == facts.ring
    assert namespace["table"] == facts.table
    assert tuple(namespace["frames"]) == facts.table_pfns


def test_what_the_notebook_prints_is_what_its_prose_says(facts, ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    walk = namespace["k"].walk(facts.buf)
    assert walk.steps[-1].level == "PMD" and walk.steps[-1].large  # "ended early, at the PMD"
    assert "[('0x3010', 16)]" in printed and facts.area_pfns[0] == 0x3010
    batch = namespace["k"].zone("DMA32").pcp_batch  # the refills the prose counts
    assert f"`rmqueue_bulk()` refills the list {batch} pages at a time" in text
    assert f"refilled by `rmqueue_bulk()`, {batch} pages at a time" in text
    assert "page fault at the PTE" in printed and "page fault at the PUD" in printed
    runs = vmalloc.pieces(facts.table_pfns)
    assert max(pages for _, pages in runs) <= 16 and len(runs) >= 3  # blocks of order <= 4
    assert "a few short pieces" in text and "a block of 16 pages at most" in text
    assert f"{round(facts.free_share * 100)}% of memory is free" in printed
    # the device's write from the table's first frame: only the first piece is right
    assert namespace["right"] == runs[0][1] and "Only the table's first piece lands" in text
    assert namespace["foreign"] >= 8 and "belong to other owners" in text
    assert "nic nic: rejecting DMA map of vmalloc memory" in printed
    assert f"dma_map_single(ring)  = {facts.ring - PAGE_OFFSET:#x}" in printed
    # kmalloc or vmalloc
    assert get_order(32 << 20) == 13 and "order-13 block" in text
    assert "at mm/page_alloc.c:5634 __alloc_pages" in printed and "L5634" in text
    assert "kmalloc(32 MiB) = 0x0" in printed
    assert (32 << 20) // PAGE_SIZE == 8192 and "8192 single pages" in text
    assert "kernel BUG at mm/vmalloc.c:2554!" in printed and "mm/vmalloc.c:2554" in text


def test_the_booted_machine_does_what_the_lesson_says(ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    booted, first = namespace["booted"], namespace["first"]
    assert "your areas start at `VMALLOC_START`" in text and namespace["area"] == VMALLOC_START
    assert f"{len(booted.vmap_areas) - 1} areas after boot" in printed  # before `first`
    assert "irq_init_percpu_irqstack" in printed and " ioremap" in printed
    # "lands after the boot-time areas, and already comes back in pieces"
    below = [a for a in booted.vmap_areas.values() if a.addr < first]
    assert first > VMALLOC_START and len(below) == len(booted.vmap_areas) - 3  # all but
    # the percpu chunk at the top of vmalloc space, the BPF pack in module space, and itself
    assert "already comes back in pieces" in text
    assert len(vmalloc.pieces(namespace["first_frames"])) > 1
    # "the buffer's frames run backwards, each one frame below the one before": LIFO reuse
    frames = list(namespace["first_frames"])
    assert frames == list(range(frames[0], frames[0] - len(frames), -1))
    assert "run backwards" in text
    assert f"in {len(vmalloc.pieces(namespace['first_frames']))} contiguous pieces" in printed


def test_the_lesson_has_its_title_badge_imports_and_browser_check():
    from kmviz.lessons import LESSONS, badge

    name = NOTEBOOK.stem
    first = cells(NOTEBOOK, "markdown")[0].splitlines()
    assert first[0] == f"# 04 · {LESSONS[name]}"
    assert badge(name) in first
    assert any(line.startswith("About 30 minutes. You will learn") for line in first)
    assert "from kmviz.exercises import vmalloc" in cells(NOTEBOOK, "code")[0]
    metadata = json.loads(NOTEBOOK.read_text())["metadata"]
    assert metadata["kernelspec"]["name"] == "python3"
    assert metadata["kmviz"]["browser_check"] == {
        "click": ".kmviz-back",
        "changes": ".jp-Cell:has(.kmviz-back) .kmviz-physmap",  # the map beside the player
    }
    questions = [source for source in cells(NOTEBOOK, "code") if source.startswith("vmalloc.")]
    assert len(questions) >= 3


def test_answers_from_a_fork_of_the_notebooks_machine_are_the_rebuilt_ones(ran):
    assert vmalloc.lesson() == vmalloc._build_lesson(True)  # the day's cell: lesson(machine=k)


def test_lesson_refuses_a_machine_that_is_not_the_lessons():
    with pytest.raises(ValueError, match="the lesson's"):
        vmalloc.lesson(machine=Kernel("256MiB", seed=1, memory_map="flat"))
    with pytest.raises(TypeError, match="notebook's Kernel"):
        vmalloc.lesson(machine="k")
