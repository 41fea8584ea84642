"""Build hook: compile kmviz/engine/_fastpath.c when a C compiler is there; ship the lessons.

The package works without it (the Python methods are the reference); the extension only
makes the hottest calls faster.  The compiler is ``$CC`` when set, else the one Python was
built with, else ``cc``.  Either way the outcome is written to
``kmviz/engine/_fastpath_build.txt``, which ships with the package, so ``python3 -m kmviz
info`` can say whether the C path was built and, if not, why (pip hides a build hook's output
unless run with ``-v``).

A regular wheel also carries the lesson notebooks as ``kmviz/notebooks`` (``kmviz lessons``
copies them out for the learner); an editable install serves the checkout's own notebooks/.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("kmviz") / "engine" / "_fastpath.c"
STATUS = SOURCE.with_name("_fastpath_build.txt")  # read by kmviz.about.info()


def compiler() -> list[str]:
    """The C compiler command: $CC, else Python's own CC, else cc."""
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


class CompileFastPath(BuildHookInterface):
    """Compiles the C fast path into the package before the wheel is assembled."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if version == "standard":
            build_data["force_include"][str(root / "notebooks")] = "kmviz/notebooks"
        target = SOURCE.with_name("_fastpath" + sysconfig.get_config_var("EXT_SUFFIX"))
        command = [
            *compiler(),
            "-O2",
            "-fPIC",
            "-shared",
            "-Wall",
            f"-I{sysconfig.get_paths()['include']}",
            str(root / SOURCE),
            "-o",
            str(root / target),
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = (getattr(error, "stderr", "") or str(error)).strip()
            status = f"not built: {shlex.join(command[:1])} failed: {detail}"
            print(f"kmviz: C fast path {status}; using pure Python", file=sys.stderr)
            (root / target).unlink(missing_ok=True)  # an older build must not look current
        else:
            status = f"built with {shlex.join(command)}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            build_data["artifacts"].append(target.as_posix())
        (root / STATUS).write_text(status + "\n")
        build_data["artifacts"].append(STATUS.as_posix())
