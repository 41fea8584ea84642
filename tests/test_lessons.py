"""Are the lessons complete, consistently headed, saved clean, linked from one repository URL?"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from kmviz.lessons import LESSONS, PREDICT_TAG, badge, binder_url, fold_explanations, rewrite_badges

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def lesson(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_opens_with_its_number_title_and_binder_badge(name):
    first = lesson(name).cells[0]
    assert first.cell_type == "markdown"
    lines = first.source.splitlines()
    assert lines[0] == f"# {name[:2]} · {LESSONS[name]}"
    assert badge(name) in first.source


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_is_saved_without_outputs_and_names_its_kernel(name):
    notebook = lesson(name)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_names_a_control_for_the_browser_test(name):
    check = lesson(name).metadata["kmviz"]["browser_check"]
    assert check["click"].startswith(".kmviz-")
    assert check["changes"].split()[-1].startswith(".kmviz-")  # a view, maybe in a chosen cell


def test_the_readme_badge_opens_the_first_lesson():
    assert badge("00-start-here") in (REPO / "README.md").read_text()


def test_binder_url_names_the_lesson_and_refuses_an_unknown_one():
    assert binder_url("03-gfp-and-context").endswith(
        "urlpath=lab/tree/notebooks/03-gfp-and-context.ipynb"
    )
    with pytest.raises(ValueError, match="no lesson '07-swap'"):
        binder_url("07-swap")


def test_rewrite_badges_points_stale_badges_at_the_repository(tmp_path):
    (tmp_path / "notebooks").mkdir()
    stale = (
        "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/old/repo/x)"
    )
    (tmp_path / "README.md").write_text(f"# kmviz\n\n{stale}\n")
    assert rewrite_badges(tmp_path) == [tmp_path / "README.md"]
    assert (tmp_path / "README.md").read_text() == f"# kmviz\n\n{badge()}\n"
    assert rewrite_badges(tmp_path) == []


QUESTION_CALL = re.compile(r"^(pages|slab|gfp|vmalloc|boot|ex)\.\w+\(")  # an exercise builder


@pytest.mark.parametrize("name", LESSONS)
def test_every_prediction_cell_is_tagged_predict(name):
    for cell in lesson(name).cells:
        last = cell.source.strip().splitlines()[-1:] if cell.cell_type == "code" else []
        if last and QUESTION_CALL.match(last[0]):
            assert PREDICT_TAG in cell.metadata.get("tags", []), cell.source


def fake_lesson(tmp_path, cells) -> Path:
    """Lesson 01 as a notebook of ``cells``: (cell type, source, tags) each."""
    notebook = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = getattr(nbformat.v4, f"new_{kind}_cell")(source)
        cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    path = tmp_path / "notebooks" / "01-pages-and-orders.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    return path


def test_the_explanation_after_a_prediction_and_its_reveal_is_folded(tmp_path):
    path = fake_lesson(tmp_path, [("code", "pages.order_for(5)", ["predict"]),
                                  ("code", "print(get_order(5))", []),
                                  ("markdown", "Order 0: one page.", [])])  # fmt: skip
    assert fold_explanations(tmp_path) == [path]
    folded = nbformat.read(path, as_version=4).cells[2]
    assert folded.metadata["jupyter"]["source_hidden"] is True
    assert fold_explanations(tmp_path) == []


def test_a_heading_after_a_prediction_stays_open(tmp_path):
    fake_lesson(tmp_path, [("code", "pages.order_for(5)", ["predict"]),
                           ("code", "print(get_order(5))", []),
                           ("markdown", "## Next section", [])])  # fmt: skip
    assert fold_explanations(tmp_path) == []


def test_instructions_right_after_a_prediction_stay_open(tmp_path):
    fake_lesson(tmp_path, [("code", "pages.order_for(5)", ["predict"]),
                           ("markdown", "Now run the next cell.", []),
                           ("code", "print(get_order(5))", [])])  # fmt: skip
    assert fold_explanations(tmp_path) == []


def test_every_explanation_after_a_prediction_is_folded(tmp_path):
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    assert fold_explanations(tmp_path) == []  # python3 -m kmviz.lessons folds what is open
