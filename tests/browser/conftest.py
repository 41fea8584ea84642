"""A real JupyterLab on 127.0.0.1 driven by Debian's headless Chromium through Playwright.

Chromium comes from apt (``playwright install`` cannot download here).  When it is missing the
suite installs it if it runs as root with apt; otherwise the browser tests are skipped with a
loud reason, except under ``CI=true`` where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from working_tree import REPO

from kmviz.__main__ import free_port

CHROMIUM = "/usr/bin/chromium"
RESULTS = REPO / "test-results" / "browser"  # screenshots; ignored by git
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LAB_SETTINGS = {  # autosave off: the lab must never write outputs into the notebooks under test
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def _unavailable(reason: str):
    message = f"BROWSER TESTS NOT RUN: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing browser is a failure)", pytrace=False)
    pytest.skip(message)


def _install_chromium() -> None:
    """apt-get install chromium, when running as root on a machine with apt."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        subprocess.run(command, env=env, check=False, capture_output=True, timeout=1200)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a usable Chromium, installed on the way if it can be."""
    if not Path(CHROMIUM).exists():
        _install_chromium()
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is missing; pip install -e '.[test]'")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab(tmp_path_factory, chromium):
    """A JupyterLab serving a private copy of notebooks/ (plus test notebooks); its base URL."""
    root = tmp_path_factory.mktemp("lab")
    served = root / "notebooks"
    shutil.copytree(REPO / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = root / "settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )  # the lab's kernels import the kmviz under test, whatever an editable install points at
    port = free_port(0)  # any free port
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.token=", "--ServerApp.password=", "--allow-root",
         f"--ServerApp.root_dir={served}",
         "--LabApp.expose_app_in_browser=True"],  # window.jupyterapp: the driver reads kernel state
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; see {root / 'server.log'}")
            time.sleep(0.3)
    yield {"url": url, "root": served}
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory, chromium):
    """One headless Chromium for the session (a persistent context with a private profile)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture(scope="session")
def results() -> Path:
    """Where screenshots go (test-results/browser, ignored by git)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS
