"""Does kmviz agree with the real Linux 6.1 captures (tests/real61) except where it is known not to?

The captures are made by tools/real-kernel/run.sh (Debian's 6.1.0-57-amd64 in QEMU, a probe
module making the lessons' calls); kmviz.real61 puts each next to a Kernel of the same size.
"""

from collections import Counter

import pytest

from kmviz import real61
from kmviz.real61 import CAPTURES, DEBUG, KNOWN_DIFFERENCES, MACHINES, STOCK, Item


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return [item for machine in real61.captured_machines() for item in real61.compare(machine)]


def test_every_machine_of_issue_14_is_captured():
    assert real61.captured_machines() == list(MACHINES)


@pytest.mark.parametrize("machine", STOCK)
def test_capture_comes_from_debians_6_1_kernel(machine):
    version = (CAPTURES / machine / "version").read_text()
    assert version.startswith("Linux version 6.1.0-57-amd64 ")
    assert "Debian 6.1.192-3" in version


def test_debug_capture_comes_from_the_same_source_built_with_the_debug_options():
    version = (CAPTURES / DEBUG[0] / "version").read_text()
    assert version.startswith("Linux version 6.1.192-kmviz-debug ")


def test_debug_kernels_reports_read_as_kmviz_prints_them(items):
    reports = {
        item.name: item.status
        for item in items
        if item.machine in DEBUG and item.name.endswith((".report", ".details"))
    }
    steps, parts = ("atomic_sleep", "double_free"), ("report", "details")
    assert reports == {f"{step}.{part}": "equal" for step in steps for part in parts}


def test_every_difference_is_a_known_difference(items):
    unknown = [
        (item.machine, item.name, item.real, item.kmviz)
        for item in items
        if item.status == "differs" and real61.known_difference(item) is None
    ]
    assert unknown == [], "kmviz differs from real 6.1: fix it, or list it in KNOWN_DIFFERENCES"


def test_known_difference_that_became_equal_is_removed(items):
    equal = [
        (item.machine, item.name)
        for item in items
        if item.status == "equal" and real61.known_difference(item) is not None
    ]
    assert equal == [], "now equal: take it off KNOWN_DIFFERENCES (the list only shrinks)"


def test_every_known_difference_matches_a_compared_item_on_each_listed_machine(items):
    captured = set(real61.captured_machines())
    compared = Counter(
        (real61.known_difference(item), item.machine) for item in items if item.kmviz is not None
    )
    unused = [
        (key, machine)
        for key, (_, machines) in KNOWN_DIFFERENCES.items()
        for machine in machines
        if machine in captured and not compared[key, machine]
    ]
    assert unused == []


def test_every_known_difference_gives_a_reason_and_real_machines():
    for key, (reason, machines) in KNOWN_DIFFERENCES.items():
        assert len(reason) > 40, key
        assert machines and set(machines) <= set(MACHINES), key


def test_kmalloc_ksize_and_roundup_of_every_class_equal_the_real_kernels(items):
    sizes = [
        item
        for item in items
        if item.name.startswith(("kmalloc.", "kmalloc_dma."))
        and item.name.endswith((".ksize", ".roundup"))
    ]
    assert len(sizes) == 2 * 37 * 2 * len(STOCK)  # GFP_KERNEL and GFP_DMA, 37 sizes, 2 facts
    assert [item for item in sizes if item.status != "equal"] == []


def test_report_gives_each_machines_counts_and_the_list_length():
    text = real61.report()
    for machine in STOCK:
        assert f"== {machine}: " in text
    assert f"known differences listed: {len(KNOWN_DIFFERENCES)}" in text
    assert "NOT IN KNOWN_DIFFERENCES" not in text


def test_report_without_captures_says_where_they_are(tmp_path):
    assert real61.report(tmp_path).startswith(f"no captures in {tmp_path}: ")


def test_every_cache_the_real_kernel_booted_with_has_slubs_layout_in_kmviz(items):
    boot = [item for item in items if item.name.startswith("boot_cache.")]
    assert len(boot) >= 90 * len(STOCK)  # 145 caches in slabinfo, 52 of them kmalloc's
    assert [item for item in boot if item.status != "equal"] == []
