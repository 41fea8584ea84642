"""The capstone's grader names each of the buggy driver's five mistakes, and only those."""

from pathlib import Path

import pytest
from lesson_cells import cells

from kmviz.capstone import grade
from kmviz.engine.gfp import GFP_KERNEL

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "07-capstone-buggy-driver.ipynb"
CHECKS = [
    "no allocation that may sleep in interrupt context",
    "the device can reach its DMA buffer",
    "nothing leaked after remove()",
    "nothing freed twice",
    "pages freed with the order they were allocated with",
]


def notebook_drivers() -> dict:
    """The lesson's own classes: RxDriver (buggy) and FixedRxDriver (its collapsed solution)."""
    namespace: dict = {}
    for source in cells(NOTEBOOK, "code"):
        if "class " in source or source.startswith("from "):
            exec(
                compile(source.replace("print(grade(FixedRxDriver))", ""), "07", "exec"), namespace
            )
    return namespace


DRIVERS = notebook_drivers()
Fixed = DRIVERS["FixedRxDriver"]


def failed(report) -> list[str]:
    return [check.title for check in report.checks if not check.passed]


def test_the_lessons_driver_fails_all_five_checks():
    assert failed(grade(DRIVERS["RxDriver"])) == CHECKS


def test_the_lessons_solution_passes_every_check():
    report = grade(Fixed)
    assert report.passed and failed(report) == []


class SleepsInIrq(Fixed):
    def rx_irq(self):
        self.k.kfree(self.k.kmalloc(1500, GFP_KERNEL))


class VmallocRing(Fixed):
    def probe(self):
        super().probe()
        self.k.kfree(self.ring)
        self.ring = self.k.vmalloc(64 * 1024)
        self.ring_dma = self.dev.dma_map_single(self.ring, 64 * 1024)

    def remove(self):
        self.k.vfree(self.ring)
        self.ring = 0
        super().remove()


class Leaks(Fixed):
    def remove(self):
        self.name = 0  # forgotten: kfree(0) does nothing
        super().remove()


class FreesTwice(Fixed):
    def remove(self):
        self.k.kfree(self.name)
        super().remove()


class WrongOrder(Fixed):
    def remove(self):
        self.k.free_pages(self.table, 1)
        self.table = 0
        super().remove()


@pytest.mark.parametrize(
    ("driver", "check"),
    [(SleepsInIrq, 0), (VmallocRing, 1), (Leaks, 2), (FreesTwice, 3), (WrongOrder, 4)],
)
def test_one_mistake_fails_exactly_its_check(driver, check):
    assert failed(grade(driver)) == [CHECKS[check]]


def test_a_failed_check_shows_the_kernels_own_report():
    report = grade(SleepsInIrq)
    assert "BUG: sleeping function called from invalid context" in report.checks[0].evidence[0]


def test_a_hint_spells_the_call_as_c_does():
    assert (
        "kmalloc(1500, GFP_KERNEL) ran in an interrupt handler" in grade(SleepsInIrq).checks[0].hint
    )


def test_a_driver_that_never_maps_its_ring_fails_the_dma_check():
    class NeverMaps(Fixed):
        def probe(self):  # Fixed.probe() without dma_map_single(): the card has no address
            self.ring = self.k.kmalloc(64 * 1024, GFP_KERNEL)
            self.stats = self.k.kzalloc(256, GFP_KERNEL)
            self.table = self.k.get_free_pages(GFP_KERNEL, 2)
            self.name = self.k.kmalloc(32, GFP_KERNEL)

    report = grade(NeverMaps)
    assert failed(report) == [CHECKS[1]] and "never called" in report.checks[1].hint


def test_a_driver_that_raises_is_reported_with_its_error():
    class Raises(Fixed):
        def rx_irq(self):
            raise RuntimeError("oops in rx_irq")

    report = grade(Raises)
    assert not report.passed and "oops in rx_irq" in report.crash


def test_freeing_null_is_not_a_double_free():
    class FreesNull(Fixed):
        def remove(self):
            super().remove()
            self.k.kfree(None)
            self.k.kfree(0)

    assert failed(grade(FreesNull)) == []


def test_the_kernels_report_opens_on_a_click():
    box = grade(SleepsInIrq).widget()
    button = next(child for child in box.children if "kmviz-show-evidence" in child._dom_classes)
    detail = box.children[box.children.index(button) + 1]
    button.click()
    assert "sleeping function called from invalid context" in detail.value
