"""Every notebook runs top to bottom without an error, in the environment Binder builds.

The kernel is the Python of ``binder_environment`` (tests/binder_env.py): binder/requirements.txt
and postBuild alone, kmviz installed from a copy of the working tree.  So a notebook that
passes here runs for a learner who clicks the Binder badge, and for one who followed the
README (the same packages).
"""

from pathlib import Path

import nbformat
import pytest
from binder_env import KERNEL_NAME
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, binder_environment):
    copy = binder_environment.checkout / "notebooks" / path.name
    notebook = nbformat.read(copy, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(binder_environment.kernels)])
    kernel = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    NotebookClient(
        notebook,
        km=kernel,
        timeout=300,
        resources={"metadata": {"path": str(copy.parent)}},
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert not errors, errors
