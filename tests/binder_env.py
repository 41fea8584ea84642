"""The environment mybinder.org would build from binder/ alone, for the tests that run lessons.

No Docker engine runs here, so this does what repo2docker does with binder/, in a clean
virtual environment: install binder/requirements.txt (with uv, from its wheel cache: seconds,
not a minute), copy the working tree, run binder/postBuild from its root (which installs
kmviz), and offer that environment's Python as a Jupyter kernel.  Every lesson is executed
in it (tests/test_notebooks.py), so a lesson that passes runs on Binder as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from working_tree import REPO, copy_working_tree

BINDER = REPO / "binder"
KERNEL_NAME = "binder-python3"


@dataclass(frozen=True)
class BinderEnvironment:
    """A virtual environment built from binder/ and the checkout copy it was built from."""

    python: Path  # the environment's interpreter
    checkout: Path  # the copy of the working tree postBuild ran in
    kernels: Path  # a Jupyter kernel folder holding KERNEL_NAME, started with ``python``
    env: dict  # the process environment with the virtual environment first on PATH

    def run(self, *command, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``command`` inside the environment; a failure shows all it printed."""
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd or self.checkout, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}"
        return done


def build(root: Path) -> BinderEnvironment:
    """Build in ``root`` the environment repo2docker would build from binder/."""
    venv = root / "venv"
    bin_dir = venv / "bin"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    uv = [sys.executable, "-m", "uv"]
    python = sys.executable
    checkout = copy_working_tree(root / "repo")
    environment = BinderEnvironment(bin_dir / "python", checkout, root / "kernels", env)
    environment.run(*uv, "venv", "--quiet", "--seed", "--python", python, venv)
    requirements = BINDER / "requirements.txt"
    environment.run(
        *uv, "pip", "install", "--quiet", "--python", environment.python, "-r", requirements
    )
    environment.run(environment.checkout / "binder" / "postBuild")
    spec = environment.kernels / KERNEL_NAME / "kernel.json"
    spec.parent.mkdir(parents=True)
    argv = [str(environment.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.write_text(json.dumps({"argv": argv, "display_name": "Binder", "language": "python"}))
    return environment
