"""Does binder/ alone give a working Binder image: kmviz installed and every lesson running?

No Docker engine runs here, so this does what repo2docker would do with binder/, in a clean
virtual environment: install binder/requirements.txt, copy the repository's tracked files,
run binder/postBuild from their root, then execute every lesson with that environment's own
Jupyter.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from working_tree import REPO, copy_working_tree

from kmviz.lessons import LESSONS

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


@pytest.mark.slow
def test_a_venv_built_from_binder_alone_runs_every_lesson(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)

    def run(*command, cwd=tmp_path):
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(bin_dir / "python", "-m", "pip", "install", "-q", "-r", BINDER / "requirements.txt")
    checkout = copy_working_tree(tmp_path / "repo")
    run(BINDER / "postBuild", cwd=checkout)
    where = run(bin_dir / "python", "-c", "import kmviz, sys; print(kmviz.__file__)", cwd=tmp_path)
    assert where.startswith(str(venv)), "kmviz must come from the Binder environment"
    lessons = [checkout / "notebooks" / f"{name}.ipynb" for name in LESSONS]
    lessons = [path for path in lessons if path.exists()]
    assert lessons, "no lesson notebooks to run"
    for notebook in lessons:
        run(bin_dir / "python", "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            "--ExecutePreprocessor.timeout=600", "--output-dir", tmp_path / "executed",
            notebook, cwd=notebook.parent)  # fmt: skip
        assert (tmp_path / "executed" / notebook.name).exists()
