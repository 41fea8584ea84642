"""What this installation of kmviz is: its version, the kernel it models, its C path, its lessons.

``kmviz.info()`` answers in one object; ``python3 -m kmviz info`` prints it, and every
benchmark prints it first so that a figure always says what produced it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from dataclasses import dataclass
from pathlib import Path

from .engine import fastpath
from .engine.constants import DEFAULT_CONFIG, KERNEL_CONFIGS
from .engine.reports import UTS_RELEASE
from .lessons import FIRST_LESSON

__version__ = "0.1.0"  # the one place; pyproject.toml reads it from here
PACKAGE = Path(__file__).resolve().parent
MODELLED = "Linux 6.1 LTS (x86-64, 4 KiB pages, 4-level paging, SLUB), booted with nokaslr"
BUILD_STATUS = PACKAGE / "engine" / "_fastpath_build.txt"  # written by hatch_build.py
LAB_PACKAGES = ("jupyterlab", "ipywidgets", "bqplot")  # the "lab" extra


def lessons_folder() -> Path | None:
    """The folder holding the lesson notebooks: a checkout's notebooks/, else the installed copy."""
    for candidate in (PACKAGE.parent / "notebooks", PACKAGE / "notebooks"):
        if (candidate / FIRST_LESSON).exists():
            return candidate
    return None


def _fastpath_file() -> str | None:
    spec = importlib.util.find_spec("kmviz.engine._fastpath")
    return spec.origin if spec is not None else None


def _fastpath_build() -> str:
    if BUILD_STATUS.exists():
        return BUILD_STATUS.read_text().strip()
    return "no record of a build (kmviz was not installed by pip, or by an older kmviz)"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Info:
    """Facts about this installation; ``str()`` gives them as ``python3 -m kmviz info`` prints."""

    version: str  # kmviz's own
    kernel: str  # what is modelled
    uname_release: str  # what the simulated kernel's reports print as its release
    config: tuple[tuple[str, str], ...]  # the options a default Kernel() behaves as
    fastpath_built: bool  # the C extension is present
    fastpath_in_use: bool  # new Kernels attach it (False: built but switched off, or absent)
    fastpath_file: str | None  # where the extension is
    fastpath_build: str  # what the install's compile step said
    lessons: Path | None  # where the lesson notebooks are
    lab: tuple[tuple[str, str | None], ...]  # the "lab" extra's packages and their versions
    python: str

    def __str__(self) -> str:
        if self.fastpath_in_use:
            c_path = f"built and in use ({self.fastpath_file})"
        elif self.fastpath_built:
            c_path = f"built but switched off ({self.fastpath_file})"
        else:
            c_path = "not built, pure Python (same results, slower)"
        missing = [name for name, version in self.lab if version is None]
        lab = ", ".join(f"{name} {version}" for name, version in self.lab if version)
        if missing:
            lab = (lab + "; " if lab else "") + (
                f"missing {', '.join(missing)}: pip install 'kmviz[lab]' for the widgets"
            )
        lines = [
            f"kmviz {self.version}",
            f"kernel modelled: {self.kernel}; reports say {self.uname_release}",
            f"config: {DEFAULT_CONFIG} (Kernel(config=...): {', '.join(KERNEL_CONFIGS)}): "
            + " ".join(f"{name}={value}" for name, value in self.config),
            f"C fast path: {c_path}",
            f"  install said: {self.fastpath_build}",
            f"lessons: {self.lessons or 'not found (a checkout has them in notebooks/)'}",
            f"widgets: {lab}",
            f"python: {self.python}",
        ]
        return "\n".join(lines)


def info() -> Info:
    """What this installation of kmviz is and has (nothing is changed or started)."""
    built = fastpath.FastPath is not None
    return Info(
        version=__version__,
        kernel=MODELLED,
        uname_release=UTS_RELEASE,
        config=KERNEL_CONFIGS[DEFAULT_CONFIG],
        fastpath_built=built,
        fastpath_in_use=fastpath.available(),
        fastpath_file=_fastpath_file() if built else None,
        fastpath_build=_fastpath_build(),
        lessons=lessons_folder(),
        lab=tuple((name, _version(name)) for name in LAB_PACKAGES),
        python=f"{platform.python_version()} ({platform.python_implementation()})",
    )
