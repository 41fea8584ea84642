"""Do lesson 06's predictions read the learner's own machine and say why an answer is wrong?"""

from pathlib import Path

import pytest

from kmviz import real, trace
from kmviz.exercises import real as questions

FIXTURE = Path(__file__).resolve().parents[1] / "real" / "data" / "linux-6.18-vm"
SYNTHETIC = {
    "buddyinfo": "Node 0, zone      DMA      0      0      0      0      0      0      0      0"
    "      1      1      3\nNode 0, zone    DMA32     40     30     20     10      5      4"
    "      3      2      1      0      0\n",
    "meminfo": "MemTotal:         262144 kB\nMemFree:          100000 kB\n",
    "cpus": 2,
}


@pytest.fixture(scope="module")
def captured():
    return real.snapshot(FIXTURE)


def test_most_free_order_is_read_from_the_zone_line(captured):
    question = questions.most_free_order(captured)
    counts = next(row.free for row in captured.buddyinfo.rows if row.zone == "Normal")
    best = counts.index(max(counts))
    assert question.check(best).correct
    wrong = question.check(10)
    assert not wrong.correct and f"order 10 has {counts[10]} free blocks" in wrong.message


def test_most_free_order_refuses_an_order_out_of_range_and_a_missing_zone(captured):
    assert "orders run from 0 to 10" in questions.most_free_order(captured).check(11).message
    with pytest.raises(ValueError, match="no zone 'Movable'"):
        questions.most_free_order(captured, "Movable")


def test_order10_falls_back_to_dma_when_dma32_has_no_4mib_block():
    # the zonelist of GFP_KERNEL goes DMA32 -> DMA; DMA's 3 free order-10 blocks are above
    # its min watermark plus the small lowmem_reserve it keeps against DMA32 requests
    question = questions.order10_on_the_copy(real.machine_like(SYNTHETIC))
    assert question.answer == "yes"
    wrong = question.check("no")
    assert not wrong.correct and "3 free order-10 blocks" in wrong.message


def test_order10_on_the_captured_machine_succeeds_and_the_copy_stays_as_it_was(captured):
    copy = real.machine_like(captured, slabs=False, vmalloc=False)
    events = len(copy.history)
    question = questions.order10_on_the_copy(copy)
    assert question.answer == "yes"
    assert question.check("YES").correct
    assert len(copy.history) == events  # tried on a fork


def test_order10_on_a_copy_short_of_the_real_count_says_both_counts():
    # 200 free 4 MiB blocks do not fit in 256 MiB: the copy gets fewer than the real machine has
    buddyinfo = SYNTHETIC["buddyinfo"].replace("      1      0      0\n", "      1      0    200\n")
    copy = real.machine_like(dict(SYNTHETIC, buddyinfo=buddyinfo))
    free10 = sum(counts[10] for counts in copy.buddyinfo().values())
    question = questions.order10_on_the_copy(copy)
    assert 0 < free10 < 200
    assert f"the copy has {free10}, where your machine has 203" in question.why  # 3 + 200


def test_order10_on_the_copy_refuses_anything_but_a_copy():
    with pytest.raises(TypeError, match=r"the copy real.machine_like\(\) made"):
        questions.order10_on_the_copy(real.snapshot(SYNTHETIC))


def test_frees_without_alloc_of_the_real_boot_trace_are_many_and_none_gets_the_reason():
    question = questions.frees_without_alloc(trace.load(trace.SAMPLE_TRACE))
    assert question.answer == "many"
    assert question.check("Many").correct
    assert "a trace starts mid-run" in question.check("none").message
    assert "not few" in question.check("few").message
