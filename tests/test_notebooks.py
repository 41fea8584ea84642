"""Every notebook runs top to bottom without an error, in the environment Binder builds.

The kernel is the Python of ``binder_environment`` (tests/binder_env.py): binder/requirements.txt
and postBuild alone, kmviz installed from a copy of the working tree.  So a notebook that
passes here runs for a learner who clicks the Binder badge, and for one who followed the
README (the same packages).  Each notebook is executed once per test process; its tests read
that run.
"""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from binder_env import KERNEL_NAME
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# a notebook's tests share one run, so they go to one test process
BY_NOTEBOOK = [
    pytest.param(path, id=path.stem, marks=pytest.mark.xdist_group(f"notebook-{path.stem}"))
    for path in NOTEBOOKS
]
# IOPub is a ZMQ PUB socket: once this many messages (its default high-water mark) wait for a
# busy Jupyter server, newer ones are dropped, the cell's "idle" status with them, and
# JupyterLab shows the cell running for ever
IOPUB_BUDGET = 1000


class CountingClient(NotebookClient):
    """nbclient's client, counting the IOPub messages each code cell's execution sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.messages = Counter()  # cell index -> IOPub messages

    def process_message(self, msg, cell, cell_index):
        """Count ``msg`` for its cell, then handle it as nbclient does."""
        self.messages[cell_index] += 1
        return super().process_message(msg, cell, cell_index)


@dataclass(frozen=True)
class Run:
    """A notebook executed in the Binder environment: its outputs and its cells' traffic."""

    notebook: nbformat.NotebookNode
    messages: Counter  # cell index -> IOPub messages its execution sent


_runs: dict[Path, Run] = {}


def executed(path: Path, binder_environment) -> Run:
    """Notebook ``path`` run top to bottom in the Binder environment (once per test process)."""
    if path not in _runs:
        copy = binder_environment.checkout / "notebooks" / path.name
        notebook = nbformat.read(copy, as_version=4)
        specs = KernelSpecManager(kernel_dirs=[str(binder_environment.kernels)])
        kernel = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
        client = CountingClient(
            notebook, km=kernel, timeout=300, resources={"metadata": {"path": str(copy.parent)}}
        )
        client.execute()
        _runs[path] = Run(notebook, client.messages)
    return _runs[path]


@pytest.mark.parametrize("path", BY_NOTEBOOK)
def test_notebook_runs_without_errors(path, binder_environment):
    notebook = executed(path, binder_environment).notebook
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert not errors, errors


@pytest.mark.parametrize("path", BY_NOTEBOOK)
def test_no_cell_sends_the_browser_more_messages_than_iopub_keeps(path, binder_environment):
    run = executed(path, binder_environment)
    floods = {
        run.notebook.cells[index].get("id"): count
        for index, count in run.messages.items()
        if count > IOPUB_BUDGET
    }
    assert not floods, f"cells sending over {IOPUB_BUDGET} IOPub messages: {floods}"
