"""A lesson notebook as the exercise tests read it: its cells, its prose, its code run in order."""

import contextlib
import io
import re
from pathlib import Path

import nbformat


def cells(path: Path, kind: str) -> list[str]:
    """The source of every ``kind`` ("code" or "markdown") cell, in order."""
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == kind]


def prose(path: Path) -> str:
    """The notebook's markdown as one line of text, so phrases can wrap across lines."""
    return re.sub(r"\s+", " ", "\n".join(cells(path, "markdown")))


def run(path: Path) -> tuple[dict, list[str]]:
    """Every code cell run in order in one namespace: (namespace, what each cell printed)."""
    namespace: dict = {"display": lambda *objects: None}
    printed = []
    for source in cells(path, "code"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, str(path), "exec"), namespace)
        printed.append(out.getvalue())
    return namespace, printed
