"""Is the shipped sample trace what its recipe makes, and does the lesson's story hold?"""

from importlib.resources import files
from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz import trace as kmtrace


def test_shipped_sample_is_exactly_the_recipe_with_its_seed():
    made = kmtrace.make_sample_trace(kmtrace.SAMPLE_SEED)
    assert kmtrace.SAMPLE_TRACE.read_text(encoding="utf-8") == made, (
        "the engine changed: regenerate with python3 -c 'from kmviz import trace; "
        "trace.SAMPLE_TRACE.write_text(trace.make_sample_trace())'"
    )


def test_sample_goes_into_the_wheel():
    wheel = pytest.importorskip("hatchling.builders.wheel", reason="the build backend")
    root = Path(kmtrace.__file__).parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("kmviz is not installed from its source tree")
    builder = wheel.WheelBuilder(str(root))
    shipped = {f.distribution_path for f in builder.recurse_included_files()}
    assert "kmviz/data/sample-kmem.trace" in shipped
    assert files("kmviz").joinpath("data", "sample-kmem.trace").is_file()


def test_sample_replays_on_a_fresh_machine_as_its_docstring_says():
    sample = kmtrace.load(kmtrace.SAMPLE_TRACE)
    report = sample.replay(Kernel(mem="256MiB"))
    assert report.complete
    assert report.frees_without_alloc == 4  # the buffers taken before tracing started
    assert {"lesson_node", "lesson_req"} <= set(report.caches)
    assert {e.comm for e in sample} == {"insmod", "kworker/0:1"}
    assert "d.h.." in {e.flags for e in sample}  # the interrupt handler's events


def test_capture_howto_gives_every_step():
    howto = kmtrace.CAPTURE_HOWTO
    for step in (
        "/sys/kernel/tracing",
        "root",
        "buffer_size_kb",
        "echo 1 > tracing_on",
        "echo 0 > tracing_on",
        "cat trace > /tmp/kmem.trace",
        *(f"echo 1 > events/kmem/{event}/enable" for event in kmtrace.TRACEPOINTS[:6]),
    ):
        assert step in howto, step
