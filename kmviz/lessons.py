"""The lesson catalogue: notebook names, titles, and the one place the repository URL lives.

The README and every lesson carry a Binder launch badge built from REPOSITORY and BRANCH
(``tests/test_lessons.py`` checks that they all agree with ``badge()``), so moving the
repository means changing these two lines and re-running ``python3 -m kmviz.lessons``, which
rewrites the badges.

A lesson asks for a prediction in a code cell tagged ``predict`` (it shows a Question); the
explanation after it must not be on screen before the learner has answered, so
``fold_explanations()`` folds the markdown cell after the one that reveals the answer
(JupyterLab shows it as a bar to click open).  ``python3 -m kmviz.lessons`` does that too.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPOSITORY = "https://github.com/kmviz/kmviz"  # where the project is published
BRANCH = "main"

LESSONS = {
    "00-start-here": "Start here: watch the kernel hand out memory",
    "01-pages-and-orders": "Pages, orders and the buddy allocator",
    "02-slab-and-kmalloc": "Slab caches and kmalloc",
    "03-gfp-and-context": "GFP flags and execution context",
    "04-vmalloc-and-the-mmu": "vmalloc and the MMU",
    "05-boot-and-fragmentation": "Boot-time memory and fragmentation",
    "06-your-own-kernel": "Your own kernel beside the simulation",
    "07-capstone-buggy-driver": "Capstone: fix a buggy driver",
}

FIRST_LESSON = f"{next(iter(LESSONS))}.ipynb"  # where the series starts

BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"
_BADGE = re.compile(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\([^)]*\)")


def binder_url(lesson: str = "00-start-here") -> str:
    """The mybinder.org address that builds the repository and opens ``lesson`` in JupyterLab."""
    if lesson not in LESSONS:
        raise ValueError(f"no lesson {lesson!r}; the lessons are {', '.join(LESSONS)}")
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    return (
        f"https://mybinder.org/v2/gh/{owner_repo}/{BRANCH}"
        f"?urlpath=lab/tree/notebooks/{lesson}.ipynb"
    )


def badge(lesson: str = "00-start-here") -> str:
    """The Markdown launch badge for ``lesson``."""
    return f"[![Binder]({BADGE_IMAGE})]({binder_url(lesson)})"


def rewrite_badges(root: Path) -> list[Path]:
    """Point every Binder badge in README.md and notebooks/*.ipynb at REPOSITORY; files changed."""
    changed = []
    targets = [(root / "README.md", "00-start-here")]
    targets += [(root / "notebooks" / f"{name}.ipynb", name) for name in LESSONS]
    for path, lesson in targets:
        if not path.exists():
            continue
        text = path.read_text()
        markdown = badge(lesson)
        new = _BADGE.sub(lambda _match, markdown=markdown: markdown, text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


PREDICT_TAG = "predict"  # the cell tag of a code cell that asks for a prediction


def fold_explanations(root: Path) -> list[Path]:
    """Fold each explanation that follows a prediction in every lesson; the files changed.

    The pattern is a ``predict`` cell, the code cell that reveals the answer, then the markdown
    cell explaining it; a heading there starts a new section and stays open.
    """
    changed = []
    for name in LESSONS:
        path = root / "notebooks" / f"{name}.ipynb"
        if not path.exists():
            continue
        notebook = json.loads(path.read_text())  # nbformat 4, read as plain JSON
        cells = notebook["cells"]
        folded = False
        for index, cell in enumerate(cells):
            if PREDICT_TAG not in cell["metadata"].get("tags", ()):
                continue
            reveal, explanation = cells[index + 1 : index + 2], cells[index + 2 : index + 3]
            if [cell["cell_type"] for cell in reveal + explanation] == [
                "code",
                "markdown",
            ] and not "".join(explanation[0]["source"]).startswith("#"):
                jupyter = explanation[0]["metadata"].setdefault("jupyter", {})
                folded |= jupyter.get("source_hidden") is not True
                jupyter["source_hidden"] = True
        if folded:  # written as nbformat.writes() does: sorted keys, indent 1
            path.write_text(
                json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            )
            changed.append(path)
    return changed


if __name__ == "__main__":
    where = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for changed_path in rewrite_badges(where) + fold_explanations(where):
        print(f"updated {changed_path}")
