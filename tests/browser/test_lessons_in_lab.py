"""Does every lesson run clean in a real JupyterLab, draw every widget, and answer a click?

Each lesson names in its metadata (``kmviz.browser_check``) a control to click and a view that
must change when it is clicked.
"""

import nbformat
import pytest
from driver import (
    click_and_wait,
    error_outputs,
    kernel_errors,
    open_notebook,
    run_all,
    shut_down_kernels,
)
from working_tree import REPO

from kmviz.lessons import LESSONS

pytestmark = pytest.mark.xdist_group("browser")  # one JupyterLab, one Chromium

MARKS = ".bqplot svg :is(image, rect.bar, path.line, path.dot)"  # what bqplot marks draw
LESSON_FILES = [name for name in LESSONS if (REPO / "notebooks" / f"{name}.ipynb").exists()]

COUNT_EMPTY_FIGURES = """
(marks) => Array.from(document.querySelectorAll('.jp-OutputArea .bqplot'))
  .filter((figure) => figure.offsetParent !== null)  // displayed, not in a hidden tab
  .filter((figure) => !Array.from(figure.querySelectorAll(marks)).some(
      (mark) => mark.getBoundingClientRect().width > 0 || mark.getBoundingClientRect().height > 0))
  .length
"""


def browser_check(name: str) -> dict:
    notebook = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    return notebook.metadata["kmviz"]["browser_check"]


@pytest.mark.parametrize("name", LESSON_FILES)
def test_lesson_runs_renders_and_reacts_to_a_click(browser, lab, results, name):
    check = browser_check(name)
    page = open_notebook(browser, lab, f"{name}.ipynb")
    try:
        seconds = run_all(page)
        print(f"\n{name}: all cells ran in {seconds:.1f} s")
        assert error_outputs(page) == []
        assert kernel_errors(page) == [], "a widget's callback raised while the cells ran"
        page.locator(f"{MARKS}").first.wait_for(state="attached", timeout=60_000)
        page.wait_for_timeout(1000)  # let the last figures lay out
        assert page.evaluate(COUNT_EMPTY_FIGURES, MARKS) == 0, "a displayed figure drew nothing"
        assert page.locator(".jp-OutputArea .widget-button").count() > 0, "no controls"
        page.screenshot(path=str(results / f"{name}.png"))
        target = page.locator(check["changes"]).first
        target.scroll_into_view_if_needed()
        before = target.inner_html()
        click_and_wait(
            page, check["click"],
            "([selector, before]) => document.querySelector(selector).innerHTML !== before",
            [check["changes"], before],
        )  # fmt: skip
        page.screenshot(path=str(results / f"{name}-after-click.png"))
    finally:
        shut_down_kernels(page, lab)
        page.close()


def test_every_lesson_exists():
    assert list(LESSONS) == LESSON_FILES
