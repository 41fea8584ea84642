"""The ``kmviz`` command and what ``import kmviz`` gives a newcomer in the first five minutes."""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from working_tree import REPO, copy_working_tree

import kmviz
from kmviz import __main__ as command
from kmviz.engine import fastpath


def python(*code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python3 -c`` in a fresh interpreter (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", "\n".join(code)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )


def test_info_prints_version_kernel_config_c_path_and_lessons():
    done = subprocess.run(
        [sys.executable, "-m", "kmviz", "info"], capture_output=True, text=True, check=True
    )
    state = "built and in use" if fastpath.available() else "not built"
    assert f"kmviz {kmviz.__version__}" in done.stdout
    assert "Linux 6.1 LTS" in done.stdout
    assert "CONFIG_DEBUG_ATOMIC_SLEEP=y" in done.stdout
    assert f"C fast path: {state}" in done.stdout
    assert f"lessons: {REPO / 'notebooks'}" in done.stdout


def test_info_says_when_the_c_path_is_switched_off(monkeypatch):
    monkeypatch.setattr(fastpath, "ENABLED", False)
    expected = "built but switched off" if fastpath.FastPath is not None else "not built"
    assert kmviz.info().fastpath_in_use is False
    assert f"C fast path: {expected}" in str(kmviz.info())


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert kmviz.__version__ == version("kmviz")


@pytest.mark.parametrize("name", kmviz.SUBMODULES)
def test_submodule_is_reachable_after_import_kmviz(name):
    done = python("import kmviz", f"print(kmviz.{name}.__name__)")
    assert done.stdout.strip() == f"kmviz.{name}", done.stderr


@pytest.mark.parametrize("name", ["widgets", "exercises"])
def test_widgets_without_the_lab_extra_say_to_install_it(name):
    done = python("import sys", "sys.modules['bqplot'] = None", f"import kmviz.{name}")
    assert "ImportError" in done.stderr
    assert "pip install 'kmviz[lab]'" in done.stderr


def test_import_kmviz_alone_imports_no_widget_package():
    done = python("import sys, kmviz", "print(sorted({'ipywidgets', 'bqplot'} & set(sys.modules)))")
    assert done.stdout.strip() == "[]", done.stderr


def test_installed_lessons_are_copied_to_a_folder_the_learner_owns(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "kmviz"
    shutil.copytree(REPO / "notebooks", package / "notebooks")
    monkeypatch.setattr(command, "PACKAGE", package)
    monkeypatch.setattr(command, "lessons_folder", lambda: package / "notebooks")
    monkeypatch.chdir(tmp_path)
    served = command.working_folder(None)
    assert served == tmp_path / "kmviz-lessons"
    assert (served / "00-start-here.ipynb").read_bytes() == (
        REPO / "notebooks" / "00-start-here.ipynb"
    ).read_bytes()


def test_a_checkout_serves_its_own_notebooks():
    assert command.working_folder(None) == REPO / "notebooks"


def test_lessons_command_runs_as_root_or_not():
    line = command.lab_command(REPO / "notebooks", 8888, "t", browser=False, extra=[])
    assert ("--allow-root" in line) == (os.geteuid() == 0)


def wait_for_url(process: subprocess.Popen, deadline_s: float = 120) -> str:
    """The lesson address ``kmviz lessons`` prints first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "open lesson 00 at " in line:
            return line.split(" at ", 1)[1].strip()
        if not line and process.poll() is not None:
            break
    raise AssertionError("kmviz lessons printed no address")


def get(url: str, deadline_s: float = 120) -> bytes:
    """GET ``url`` once the server answers it."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def lessons_server(tmp_path):
    """``kmviz lessons`` started as a learner would, with a stand-in browser that notes its URL."""
    opened = tmp_path / "browser-opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = dict(
        os.environ,
        BROWSER=str(browser),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "kmviz", "lessons", "--port", str(command.free_port(0))],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        yield process, opened
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_lessons_command_prints_an_address_that_opens_lesson_00(lessons_server):
    process, _ = lessons_server
    url = wait_for_url(process)
    assert "/lab/tree/00-start-here.ipynb?token=" in url
    page = get(url).decode()
    assert "JupyterLab" in page
    base, token = url.split("/lab/tree/")[0], url.split("token=")[1]
    contents = json.loads(get(f"{base}/api/contents/00-start-here.ipynb?token={token}"))
    assert contents["name"] == "00-start-here.ipynb"


def test_lessons_command_points_the_browser_at_lesson_00(lessons_server):
    process, opened = lessons_server
    wait_for_url(process)
    deadline = time.monotonic() + 120
    while not opened.exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    target = opened.read_text().strip()  # JupyterLab opens a local redirect page
    redirect = Path(target.removeprefix("file://")).read_text()
    assert "/lab/tree/00-start-here.ipynb" in redirect


def build_wheel(tmp_path: Path, compiler: str) -> zipfile.ZipFile:
    """A wheel of this working tree built with ``CC=compiler``, in a copy of it."""
    source = copy_working_tree(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")],
        env=dict(os.environ, CC=compiler), check=True, capture_output=True,
    )  # fmt: skip
    return zipfile.ZipFile(next((tmp_path / "dist").glob("kmviz-*.whl")))


@pytest.fixture(scope="module")
def wheel_built_with_my_cc(tmp_path_factory):
    """A wheel built with CC set to a wrapper of cc that notes its arguments; (wheel, notes, cc)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    calls = tmp_path / "cc-calls"
    wrapper = tmp_path / "my-cc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec cc "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return build_wheel(tmp_path, str(wrapper)), calls, wrapper


def test_the_build_uses_the_compiler_in_cc(wheel_built_with_my_cc):
    wheel, calls, wrapper = wheel_built_with_my_cc
    assert "_fastpath.c" in calls.read_text()
    status = wheel.read("kmviz/engine/_fastpath_build.txt").decode()
    assert status.startswith(f"built with {wrapper}")


def test_a_failed_compile_ships_pure_python_and_says_why(tmp_path):
    wheel = build_wheel(tmp_path, "false")
    names = wheel.namelist()
    assert not [name for name in names if name.endswith(".so")]
    assert (
        wheel.read("kmviz/engine/_fastpath_build.txt")
        .decode()
        .startswith("not built: false failed")
    )


def test_a_wheel_carries_the_lessons(wheel_built_with_my_cc):
    wheel, _, _ = wheel_built_with_my_cc
    assert "kmviz/notebooks/00-start-here.ipynb" in wheel.namelist()


def readme_commands() -> list[str]:
    """The bash blocks of the README's "Two commands" section, in order."""
    section = (REPO / "README.md").read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0].strip() for block in section.split("```bash")[1:]]


def test_the_readmes_first_command_starts_the_lessons():
    assert readme_commands()[0] == 'python3 -m pip install -e ".[lab]" && python3 -m kmviz lessons'


def test_ci_runs_exactly_the_readmes_test_command():
    assert (REPO / ".ci" / "run").read_text().strip().splitlines()[-1] == readme_commands()[1]
