"""The ``kmviz`` command: ``lessons`` opens them in JupyterLab, ``info`` says what is installed.

Also reachable as ``python3 -m kmviz ...``.  ``lessons`` starts JupyterLab on the lesson folder
with lesson 00 as its landing page, prints that page's address (token included) before the
server's own log, works as root (containers and cloud notebooks run as root) and without a
browser (the address is what to open).  Arguments it does not know go to ``jupyter lab``
unchanged: ``kmviz lessons --ip=0.0.0.0``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from .about import PACKAGE, info, lessons_folder
from .lessons import FIRST_LESSON

PREFERRED_PORT = 8888  # JupyterLab's own default
COPY_FOLDER = "kmviz-lessons"  # where an installed (read-only) copy of the lessons is copied to


def free_port(preferred: int = PREFERRED_PORT) -> int:
    """``preferred`` if nothing listens on it at 127.0.0.1, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise OSError("no free TCP port on 127.0.0.1")


def working_folder(target: Path | None) -> Path:
    """The folder to serve: a checkout's notebooks/, or the installed lessons copied to ``target``.

    An installed package's files are not the learner's to edit, so they are copied once
    (never over an existing folder) into ``target``, ``./kmviz-lessons`` by default.
    """
    source = lessons_folder()
    if source is None:
        raise SystemExit("kmviz: the lesson notebooks are not installed with this copy of kmviz")
    if target is None and not source.is_relative_to(PACKAGE):
        return source  # a checkout: serve notebooks/ itself
    target = target or Path.cwd() / COPY_FOLDER
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        print(f"kmviz: copied the lessons to {target}", flush=True)
    if not (target / FIRST_LESSON).exists():
        raise SystemExit(f"kmviz: {target} exists but has no {FIRST_LESSON}; pick another --dir")
    return target


def lab_command(folder: Path, port: int, token: str, browser: bool, extra: list[str]) -> list[str]:
    """The ``jupyter lab`` command line that serves ``folder`` and lands on lesson 00."""
    command = [
        sys.executable, "-m", "jupyter", "lab",
        f"--ServerApp.root_dir={folder}",
        f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}",  # what it prints and opens
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the address printed first must be the one served
        f"--IdentityProvider.token={token}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    if not browser:
        command.append("--no-browser")
    return command + extra


def lessons(arguments: argparse.Namespace, extra: list[str]) -> None:
    """Start JupyterLab on the lessons at lesson 00 (replaces this process)."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit(
            "kmviz: JupyterLab is not installed; install the lessons' extra with\n"
            "  python3 -m pip install 'kmviz[lab]'"
        )
    folder = working_folder(arguments.dir)
    port = arguments.port or free_port()
    token = secrets.token_hex(24)
    print(f"kmviz: the lessons are in {folder}", flush=True)
    print(f"kmviz: open lesson 00 at http://127.0.0.1:{port}/lab/tree/{FIRST_LESSON}?token={token}")
    print("kmviz: (stop JupyterLab with Control-C)", flush=True)
    command = lab_command(folder, port, token, not arguments.no_browser, extra)
    os.execv(command[0], command)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the subcommand."""
    parser = argparse.ArgumentParser(
        prog="kmviz", description="Watch the Linux kernel allocate memory: lessons and facts."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "lessons", help="open the lessons in JupyterLab at lesson 00 (other arguments go to it)"
    )
    start.add_argument("--dir", type=Path, help="serve (and copy the lessons to) this folder")
    start.add_argument("--port", type=int, help=f"port (default {PREFERRED_PORT}, or a free one)")
    start.add_argument("--no-browser", action="store_true", help="only print the address")
    commands.add_parser("info", help="version, kernel modelled, C fast path, where the lessons are")
    arguments, extra = parser.parse_known_args(argv)
    if arguments.command == "info":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        print(info())
    else:
        lessons(arguments, extra)


if __name__ == "__main__":
    main()
