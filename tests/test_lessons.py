"""Are the lessons complete, consistently headed, saved clean, linked from one repository URL?"""

from pathlib import Path

import nbformat
import pytest

from kmviz.lessons import LESSONS, badge, binder_url, rewrite_badges

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
