"""Does binder/ alone give a working Binder image: kmviz installed, widgets enabled, lessons run?

``binder_environment`` (tests/binder_env.py) builds it as repo2docker would; every lesson is
executed in it by tests/test_notebooks.py.
"""

import os
import re
from pathlib import Path

import pytest
from working_tree import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

BINDER = REPO / "binder"


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_binder_requirements_are_the_lab_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirement_lines(BINDER / "requirements.txt") == project["optional-dependencies"]["lab"]


def test_binder_pins_a_python_the_package_supports():
    version = (BINDER / "runtime.txt").read_text().strip()
    assert version.startswith("python-3.")
    assert int(version.split(".")[1]) >= 10


def test_postbuild_is_an_executable_bash_script_that_stops_on_errors():
    script = BINDER / "postBuild"
    assert os.access(script, os.X_OK)
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -e" in lines


def test_kmviz_in_the_binder_environment_is_its_own_install(binder_environment):
    where = binder_environment.run(
        binder_environment.python, "-c", "import kmviz; print(kmviz.__file__)", cwd=REPO.parent
    ).stdout
    assert where.startswith(str(binder_environment.python.parents[1]))


@pytest.mark.parametrize("extension", ["bqplot", "@jupyter-widgets/jupyterlab-manager"])
def test_the_binder_jupyterlab_has_the_widget_extension(binder_environment, extension):
    done = binder_environment.run(
        binder_environment.python, "-m", "jupyter", "labextension", "list"
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # no colours
    assert str(binder_environment.python.parents[1] / "share" / "jupyter") in listing
    assert re.search(rf"^\s+{re.escape(extension)} v\S+ enabled OK", listing, re.M), listing
