"""Lesson 05: do its questions judge answers well, and does its text say what its machine does?"""

import json
from pathlib import Path

import pytest
from lesson_cells import cells, prose, run

from kmviz import PAGE_OFFSET
from kmviz.engine.events import (
    AllocationFailed,
    CompactionFinished,
    KswapdWoken,
    MemoryReclaimed,
    PagesAllocated,
)
from kmviz.exercises import AnswerError, boot
from kmviz.widgets.timeline import BOOTMEM

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05-boot-and-fragmentation.ipynb"


@pytest.fixture(scope="module")
def facts():
    return boot.lesson()


@pytest.fixture(scope="module")
def ran():
    """The lesson's code cells run in order in one namespace: (namespace, what they printed)."""
    namespace, printed = run(NOTEBOOK)
    return namespace, "".join(printed)


# --- the questions ----------------------------------------------------------------------------
def test_memblock_address_is_the_top_of_ram_and_bottom_up_is_named(facts):
    question = boot.memblock_address()
    assert facts.grabber - PAGE_OFFSET == 0xC000000
    assert question.check("0xc000000").correct
    assert question.check(hex(facts.grabber)).correct  # the direct-map address memblock returns
    bottom_up = question.check(hex(facts.image_end))
    assert not bottom_up.correct and "bottom-up" in bottom_up.message
    assert "where RAM ends" in question.check("0x10000000").message
    assert "Check the size" in question.check("0xe000000").message
    assert "low in memory" in question.check("0x100000").message
    assert "highest free stretch" in question.check("0xd000000").message
    assert "0x10000000 − 0x4000000 = 0xc000000" in question.show_answer()


def test_order10_after_mem_init_counts_whole_aligned_blocks(facts):
    question = boot.order10_after_mem_init()
    assert facts.order10_after_mem_init["DMA32"] == 36
    right = question.check("36")
    assert right.correct and "(192 − 48) / 4 = 36" in right.message
    assert "aligned" in question.check("37").message  # 146.4 MiB / 4, rounded up
    assert "kernel image is there" in question.check("44").message  # from 16 MiB
    assert "normal boot" in question.check("52").message
    assert "the 64 MiB you reserved" in question.check("16").message
    assert "Too many" in question.check("40").message
    assert "Too few" in question.check("30").message


def test_order10_after_uptime_is_no_with_the_free_memory_in_the_prompt(facts):
    question = boot.order10_after_uptime()
    assert not facts.first_ok
    assert f"{facts.free_pages * 4096 / (1 << 20):.0f} MiB are free" in question.prompt
    assert question.check("no").correct
    assert question.check("Fails").correct
    yes = question.check("yes")
    assert not yes.correct and "free is not contiguous" in yes.message
    assert "yes or no" in question.check("perhaps").message


def test_unusable_share_reads_percent_thousandths_and_the_files_notation(facts):
    question = boot.unusable_share("DMA32")
    assert facts.unusable_index("DMA32") == 1000
    for answer in ("100", "100%", "100 %", "1.000", "1000"):
        assert question.check(answer).correct, answer
    free = question.check(str(round(facts.free_share * 100)))
    assert not free.correct and "how much of memory is free" in free.message
    assert "order-10 column" in question.check("0").message
    assert "Count the free pages" in question.check("70").message
    with pytest.raises(AnswerError, match="percentage"):
        question.checker("most")


def test_what_compaction_moves_wants_page_cache_and_process_memory():
    question = boot.what_compaction_moves()
    assert question.check("a b").correct
    assert question.check("b, a").correct
    partial = question.check("a c")
    assert not partial.correct
    assert "b moves" in partial.message and "c stays" in partial.message
    assert "d stays" in question.check("a b d").message
    assert "letters" in question.check("e").message


# --- the lesson's numbers ---------------------------------------------------------------------
def test_the_notebook_runs_the_machine_the_questions_are_built_from(facts, ran):
    namespace, _ = ran
    assert namespace["grabber"] == facts.grabber
    assert namespace["report"].free_pages == facts.free_pages
    assert namespace["first"] is None and not facts.first_ok
    assert namespace["second"] is not None and facts.second_ok
    assert namespace["old"].panic_message  # the spare machine panicked in early boot
    assert not namespace["k"].panic_message  # ours did not


def test_early_boot_prints_what_the_prose_says(facts, ran):
    _, printed = ran
    text = prose(NOTEBOOK)
    assert "bootmem alloc of 1073741824 bytes failed!" in printed
    assert "Kernel panic - not syncing: Out of memory" in printed
    assert "memblock_alloc(1 GiB) = 0x0" in printed
    assert "the last 64 MiB of RAM" in text
    assert "DMA32 has 36 free order-10 blocks" in text
    assert "96504K reserved" in printed  # 64 MiB (65536K) of it ours
    assert "half of memory free" in text and 0.45 <= facts.free_share <= 0.55


def test_the_day_and_the_failure_print_what_the_prose_says(facts, ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    k = namespace["k"]
    assert "page allocation failure: order:10, mode:0xcc0(GFP_KERNEL)" in printed
    zones = [line for line in printed.splitlines() if "kB (" in line]
    assert len(zones) == 2 and all("0*4096kB" in line for line in zones)
    # what woke and what was reclaimed between the failure and the retry
    events = list(k.history.events(0, len(k.history)))
    failed = max(
        i for i, e in enumerate(events) if isinstance(e, AllocationFailed) and e.order == 10
    )
    retry = next(
        i for i in range(failed, len(events))
        if isinstance(events[i], PagesAllocated) and events[i].order == 10
    )  # fmt: skip
    woke = max(
        i for i, e in enumerate(events[:retry]) if isinstance(e, KswapdWoken) and e.order == 10
    )
    assert woke < failed  # the slow path wakes kswapd first, then fails
    between = events[woke:retry]
    reclaimed = [(e.by, e.pages) for e in between if isinstance(e, MemoryReclaimed)]
    assert [by for by, _ in reclaimed] == ["direct", "kswapd"]
    assert reclaimed[0][1] == 32 and "reclaimed 32 pages itself" in text
    dropped = reclaimed[1][1]
    assert 10 <= dropped * 4096 / (1 << 20) < 100 and dropped >= 1000  # "tens of MiB"
    assert "dropped thousands of pages of clean page cache, tens of MiB" in text
    assert f"kswapd dropped {dropped} pages of page cache" in printed
    after = printed.split("kswapd dropped")[1]
    dma = next(line for line in after.splitlines() if "zone      DMA " in line)
    dma32 = next(line for line in after.splitlines() if "zone    DMA32" in line)
    assert (dma.split()[-1], dma32.split()[-1]) == ("1", "0")
    assert "one order-10 block formed, in DMA this time" in text


def test_fragmentation_numbers_match_the_prose(facts, ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    assert facts.nr_free["DMA32"][10] == 0 and facts.nr_free["DMA"][10] == 0
    assert "the order-10 column is empty again" in text
    assert "1.000" in text and facts.unusable_index("DMA") == 1000
    extfrag = printed.split("extfrag_index:")[1].splitlines()
    dma32 = next(line for line in extfrag if "DMA32" in line)
    assert float(dma32.split()[-1]) >= 0.9 and "close to 1 in DMA32" in text
    samples = namespace["report"].fragmentation_over_time(10)
    gone = [op for op, zones in samples if zones["DMA32"][0] == 1000]
    assert 20_000 < gone[0] <= 30_000  # "Early in the day the zone still had free 4 MiB blocks"
    last = max(op for op, zones in samples if zones["DMA32"][0] < 1000)
    assert last < 100_000 and "well before the day was half over, none formed again" in text
    assert f"free order-10 block in DMA32: after {last:,} operations" in printed


def test_compaction_does_what_the_prose_says(ran):
    namespace, _ = ran
    text = prose(NOTEBOOK)
    k = namespace["k"]
    finished = [
        event
        for event in k.history.events(namespace["before"], len(k.history))
        if isinstance(event, CompactionFinished)
    ]
    assert [e.zone for e in finished] == ["DMA", "DMA32"] and all(e.success for e in finished)
    moved = [e.pages_moved for e in finished]
    assert 10 <= moved[0] < 100 and 100 <= moved[1] < 1000
    assert "a few dozen movable pages in DMA and a few hundred in DMA32" in text
    assert not any(task.pages for task in k.tasks)  # "here they are page cache"
    assert namespace["third"] is not None
    frames = namespace["physmap"].timeline.frames
    assert (frames[0xC000:0x10000] == BOOTMEM).all()  # "still one bootmem block"
    assert "still one bootmem block" in text


def test_the_lesson_has_its_title_badge_imports_and_browser_check():
    from kmviz.lessons import LESSONS, badge

    name = NOTEBOOK.stem
    first = cells(NOTEBOOK, "markdown")[0].splitlines()
    assert first[0] == f"# 05 · {LESSONS[name]}"
    assert badge(name) in first
    assert any(line.startswith("About 30 minutes. You will learn") for line in first)
    assert "from kmviz.exercises import boot" in cells(NOTEBOOK, "code")[0]
    metadata = json.loads(NOTEBOOK.read_text())["metadata"]
    assert metadata["kernelspec"]["name"] == "python3"
    assert metadata["kmviz"]["browser_check"] == {
        "click": ".kmviz-first",
        "changes": ".jp-Cell:has(.kmviz-first) .kmviz-physmap",  # the map beside the player
    }
    questions = [source for source in cells(NOTEBOOK, "code") if source.startswith("boot.")]
    assert len(questions) >= 3
