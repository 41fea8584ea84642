"""Lesson 05: do its questions judge answers well, and does its text say what its machine does?"""

import json
from pathlib import Path

import pytest
from lesson_cells import cells, prose, run

from kmviz import PAGE_OFFSET, Kernel
from kmviz.engine.compaction import compact_gap
from kmviz.engine.events import (
    AllocationFailed,
    CompactionDeferred,
    CompactionFinished,
    CompactionSkippedAsDeferred,
    CompactionTried,
    KcompactdWoken,
    KswapdWoken,
    MemoryReclaimed,
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
    assert namespace["second"] is None and not facts.second_ok
    assert namespace["old"].panic_message  # the spare machine panicked in early boot
    assert not namespace["k"].panic_message  # ours did not


def test_the_lessons_machine_keeps_the_per_cpu_lists_off_as_the_prose_says(ran):
    namespace, _ = ran
    k = namespace["k"]
    assert not k.pcp and not any(sum(zone.pcp_count) for zone in k.zones)
    assert all((zone.pcp_high, zone.pcp_batch) == (0, 1) for zone in k.zones)  # boot pagesets
    assert "keeps the per-CPU page lists off for this lesson's machine" in prose(NOTEBOOK)


def test_early_boot_prints_what_the_prose_says(facts, ran):
    _, printed = ran
    text = prose(NOTEBOOK)
    assert "bootmem alloc of 1073741824 bytes failed!" in printed
    assert "Kernel panic - not syncing: Out of memory" in printed
    assert "memblock_alloc(1 GiB) = 0x0" in printed
    assert "the last 64 MiB of RAM" in text
    assert "DMA32 has 36 free order-10 blocks" in text
    assert "96504K reserved" in printed  # 64 MiB (65536K) of it ours
    assert "with 40 % of memory free, even after the kernel compacts it" in text
    assert round(facts.free_share, 1) == 0.4


def test_the_day_and_the_failure_print_what_the_prose_says(ran):
    _, printed = ran
    text = prose(NOTEBOOK)
    assert "page allocation failure: order:10, mode:0xcc0(GFP_KERNEL)" in printed
    zones = [line for line in printed.splitlines() if "kB (" in line]
    assert len(zones) == 2 and all("0*4096kB" in line for line in zones)
    dma32 = next(line for line in zones if "DMA32" in line)
    sizes = [part.split("*") for part in dma32.split() if "*" in part]
    largest = max(int(size.removesuffix("kB")) for count, size in sizes if count != "0")
    assert f"blocks of 4, 8 … {largest} kB" in text
    assert "kernel pages spread into every 4 MiB" in text.replace("over the day", "")


def test_the_failed_request_compacts_async_then_sync_and_defers_as_the_prose_says(ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    kinds = (KswapdWoken, CompactionTried, CompactionFinished, CompactionDeferred,
             CompactionSkippedAsDeferred, KcompactdWoken, MemoryReclaimed,
             AllocationFailed)  # fmt: skip
    steps = [e for e in namespace["events"] if isinstance(e, kinds)]
    assert [type(e).__name__ for e in steps] == [
        "KswapdWoken", "CompactionTried", "CompactionFinished", "MemoryReclaimed",
        "CompactionTried", "CompactionFinished", "CompactionDeferred", "AllocationFailed",
        "MemoryReclaimed", "KcompactdWoken", "CompactionSkippedAsDeferred",
    ]  # fmt: skip
    _, _, async_, direct, _, sync, deferred, _, kswapd, woken, skipped = steps
    assert (async_.mode, async_.pages_moved) == ("async", 0) and "moved nothing" in text
    assert (direct.by, direct.pages) == ("direct", 32) and "reclaimed 32 pages itself" in text
    assert sync.mode == "sync_light" and not sync.success and sync.pages_moved >= 1000
    assert "moved thousands of page-cache pages" in text
    assert f"synchronous compaction moved {sync.pages_moved} pages" in printed
    assert (deferred.zone, deferred.defer_limit) == ("DMA32", 2)
    assert "the next attempt is skipped" in text
    assert kswapd.by == "kswapd" and kswapd.pages >= compact_gap(10)  # 2048: then order 0
    assert f"dropped {kswapd.pages} pages" in text and "until it had `compact_gap(10)`" in text
    assert woken.order == 10 and skipped.zone == "DMA32"
    assert "found DMA32's compaction deferred" in text


def test_fragmentation_numbers_match_the_prose(facts, ran):
    namespace, printed = ran
    text = prose(NOTEBOOK)
    assert facts.nr_free["DMA32"][10] == 0 and facts.nr_free["DMA"][10] == 0
    assert "the order-10 column is empty" in text
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
        if isinstance(event, CompactionFinished) and event.order == -1  # compact_memory
    ]
    assert [(e.zone, e.mode, e.order) for e in finished] == [
        ("DMA", "sync", -1), ("DMA32", "sync", -1)
    ]  # fmt: skip
    assert not any(e.success for e in finished) and finished[1].pages_moved > 0
    assert "made no 4 MiB block, and the allocation still fails" in text
    assert not any(task.pages for task in k.tasks)  # "the day's processes have exited"
    assert namespace["third"] is None
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


def test_cma_after_uptime_is_yes_with_the_reason_in_the_feedback():
    facts = boot.cma_lesson()
    question = boot.cma_after_uptime()
    assert facts.cma_ok and not facts.order10_ok and facts.cached_inside > 0
    yes = question.check("yes")
    assert yes.correct and f"{facts.cached_inside} pages of page cache" in yes.message
    no = question.check("no")
    assert not no.correct and "only ever held movable pages" in no.message
    assert "yes or no" in question.check("maybe").message


def test_the_cma_section_prints_what_the_prose_says(ran):
    _, printed = ran
    text = prose(NOTEBOOK)
    facts = boot.cma_lesson()
    assert "cma: Reserved 64 MiB at 0x000000000c000000" in printed
    assert "65536K cma-reserved" in printed
    assert "the last 64 MiB again, now 32 pageblocks of type CMA" in text
    assert f"{facts.cached_inside} page-cache pages live in the area" in printed
    assert "cma_alloc(16384) = <Page pfn:0xc000 zone:DMA32" in printed
    assert f"after migrating {facts.migrated_out} pages out of the area" in printed
    assert "took 64 MiB in one piece" in text and "ret: -16" in text


# --- the answers come from a fork of the notebook's machine ---------------------------------------
def test_answers_from_a_fork_of_the_notebooks_machine_are_the_rebuilt_ones(ran):
    assert boot.lesson() == boot._build_lesson(True, None)  # the aging cell's lesson(machine=k)


def test_cma_answers_from_a_fork_of_the_notebooks_machine_are_the_rebuilt_ones(ran):
    assert boot.cma_lesson() == boot._build_cma_lesson(None)  # cma_lesson(machine=c)


def test_lesson_refuses_a_machine_that_is_not_the_lessons():
    with pytest.raises(ValueError, match="the lesson's"):
        boot.lesson(machine=Kernel("128MiB", seed=0, memory_map="flat"))
    with pytest.raises(ValueError, match="played its day"):
        boot.lesson(machine=Kernel("256MiB", seed=0, boot=False, memory_map="flat"))
    with pytest.raises(TypeError, match="notebook's Kernel"):
        boot.cma_lesson(machine="c")
