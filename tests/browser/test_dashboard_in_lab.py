"""Does the dashboard render in a real JupyterLab, react to clicks, and repaint in time?"""

import json

import nbformat
import pytest
from driver import (
    error_outputs,
    kernel_errors,
    open_notebook,
    repaint_ms,
    run_all,
    shut_down_kernels,
)

pytestmark = pytest.mark.xdist_group("browser")  # one JupyterLab, one Chromium

SIZES = ("1GiB", "16GiB")
REPEATS = 5
MARKS = ".bqplot svg :is(image, rect.bar, path.line, path.dot)"  # what bqplot marks draw
SETUP = """\
from kmviz import *
from kmviz.widgets import Dashboard

k = Kernel("{size}", seed=0)
k.spawn("firefox", "64MiB")
k.fill_page_cache("100MiB")
area = k.vmalloc(40 << 10)
objects = [k.kmalloc(100, GFP_KERNEL) for _ in range(30)]
blocks = [k.get_free_pages(GFP_KERNEL, 9) for _ in range(8)]  # each step back undoes one
dashboard = Dashboard(k)
dashboard"""


def write_notebook(root, size: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    notebook.cells = [nbformat.v4.new_code_cell(SETUP.format(size=size))]
    name = f"dashboard-{size}.ipynb"
    nbformat.write(notebook, root / name)
    return name


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_renders_every_view_reacts_and_repaints(browser, lab, results, size):
    page = open_notebook(browser, lab, write_notebook(lab["root"], size))
    try:
        run_all(page)
        assert error_outputs(page) == []
        assert kernel_errors(page) == [], "a widget's callback raised while the cells ran"
        tabs = page.query_selector_all(".kmviz-views .lm-TabBar-tab")
        assert [t.inner_text() for t in tabs] == [
            "Physical memory", "Buddy allocator", "Slab & kmalloc", "vmalloc & MMU",
            "Context & log",
        ]  # fmt: skip
        for index, tab in enumerate(tabs):
            tab.click()
            panel = page.locator(".kmviz-views > .widget-tab-contents > :not(.lm-mod-hidden)")
            if index < 4:  # the context view is text: its state and the log
                # bqplot lays a figure out only once it intersects the viewport (its
                # IntersectionObserver): scroll the view's first figure in, as a learner would
                panel.locator(".bqplot").first.scroll_into_view_if_needed()
                panel.locator(f"{MARKS}:visible").first.wait_for(timeout=30_000)
            else:
                assert "may sleep" in panel.inner_text()
            page.screenshot(path=str(results / f"dashboard-{size}-tab{index}.png"))
        tabs[0].click()
        page.locator(".kmviz-physmap image").first.wait_for()
        image = ".kmviz-physmap .kmviz-physmap-figure image"
        page.select_option(".kmviz-player select", "page allocations and frees")
        back = [repaint_ms(page, ".kmviz-back", image) for _ in range(REPEATS)]
        page.click(".kmviz-newest")
        page.click(".kmviz-dashboard .jupyter-widget-Collapse-header")  # open "Call the kernel"
        page.fill(".kmviz-controls .widget-text input[type=number]", "9")
        page.keyboard.press("Tab")
        alloc = [repaint_ms(page, ".kmviz-alloc-pages", image) for _ in range(REPEATS)]
        result = page.inner_text(".kmviz-result")
        assert "__get_free_pages(GFP_KERNEL, 9) = 0xffff888" in result
        assert kernel_errors(page) == [], "a click's handler raised"
        figures = {"step back": sorted(back), "__get_free_pages": sorted(alloc)}
        (results / f"repaint-{size}.json").write_text(json.dumps(figures, indent=1))
        print(f"\n{size}: repaint after a step back, ms: {[round(t) for t in sorted(back)]}")
        print(f"{size}: repaint after __get_free_pages(order 9), ms: {[round(t) for t in alloc]}")
    finally:
        shut_down_kernels(page, lab)
        page.close()
