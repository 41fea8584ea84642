"""Build hook: compile kmviz/engine/_fastpath.c when a C compiler is there; skip it when not.

The package works without it (the Python methods are the reference); the extension only
makes the page allocator's two hottest calls faster.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("kmviz") / "engine" / "_fastpath.c"


class CompileFastPath(BuildHookInterface):
    """Compiles the C fast path into the package before the wheel is assembled."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        target = SOURCE.with_name("_fastpath" + sysconfig.get_config_var("EXT_SUFFIX"))
        command = [
            *shlex.split(sysconfig.get_config_var("CC") or "cc"),
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
            detail = getattr(error, "stderr", "") or str(error)
            print(f"kmviz: C fast path not built, using pure Python ({detail})", file=sys.stderr)
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["artifacts"].append(target.as_posix())
