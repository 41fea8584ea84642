"""Is the shipped sample trace a real Linux 6.1 kernel's, small, shipped, and does it replay?

kmviz/data/sample-kmem.trace.xz is recorded by tools/real-kernel/run.sh trace: Debian's
6.1.0-57-amd64 in QEMU (256 MiB, 2 CPUs), kmem tracepoints on from boot to a shell, a small
workload and the probe module.
"""

from importlib.resources import files
from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz import trace as kmtrace
from kmviz.engine.events import ObjectAllocated, VmallocMapped
from kmviz.exercises.real import SAMPLE_MACHINE


@pytest.fixture(scope="module")
def sample():
    return kmtrace.load(kmtrace.SAMPLE_TRACE)


@pytest.fixture(scope="module")
def report(sample):
    return sample.replay(Kernel(**SAMPLE_MACHINE))


def test_sample_is_compressed_to_at_most_2_mb():
    assert kmtrace.SAMPLE_TRACE.name.endswith(".xz")
    assert kmtrace.SAMPLE_TRACE.stat().st_size <= 2 << 20


def test_sample_is_a_whole_ring_buffer_of_a_2_cpu_machine(sample):
    assert sample.header.cpus == 2
    assert sample.header.overwritten == 0  # from boot on, nothing lost
    assert len(sample) > 100_000


def test_sample_was_recorded_by_a_real_kernel_booting_to_a_shell(sample):
    comms = {event.comm for event in sample}
    assert {"init", "mount", "ls", "dd", "insmod", "rmmod"} <= comms
    assert {"mm_page_pcpu_drain", "mm_page_alloc_zone_locked"} <= set(sample.skipped)


def test_sample_holds_the_probe_modules_kmalloc_of_every_size(sample):
    # the module was unloaded before the trace was read: %pS prints its call sites as addresses
    probe = {
        event.bytes_req
        for event in sample
        if isinstance(event, kmtrace.Kmalloc)
        and event.comm == "insmod"
        and event.call_site.startswith("0xffffffffc0")
    }
    assert {1, 8, 9, 192, 193, 4097, 8192, 8193, 65536} <= probe


def test_boot_vmallocs_kmalloc_their_page_arrays_with_the_masks_the_sample_shows(sample):
    # __vmalloc_area_node()'s nested_gfp for task stacks (4 pages: 32 bytes) and the tty's
    # n_tty_data (3 pages: 24 bytes); call_site is __vmalloc_node_range, where it is inlined
    real = {
        (event.bytes_req, event.gfp)
        for event in sample
        if isinstance(event, kmtrace.Kmalloc)
        and event.call_site.startswith("__vmalloc_node_range+")
        and event.bytes_req in (24, 32)
    }
    engine, array = set(), None
    booted = Kernel(mem="256MiB", cpus=2, boot_vmalloc=True)  # the sample's machine
    for event in booted.history:  # the page array is the last kmalloc before the mapping
        if event.__class__ is ObjectAllocated:
            array = event
        elif (
            event.__class__ is VmallocMapped
            and event.kind == "vmalloc"
            and array.bytes_req in (24, 32)
        ):
            engine.add((array.bytes_req, array.gfp))
    assert engine == real


def test_sample_goes_into_the_wheel():
    wheel = pytest.importorskip("hatchling.builders.wheel", reason="the build backend")
    root = Path(kmtrace.__file__).parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("kmviz is not installed from its source tree")
    builder = wheel.WheelBuilder(str(root))
    shipped = {f.distribution_path for f in builder.recurse_included_files()}
    assert "kmviz/data/sample-kmem.trace.xz" in shipped
    assert files("kmviz").joinpath("data", "sample-kmem.trace.xz").is_file()


def test_sample_replays_completely_on_the_lessons_machine(report):
    assert report.complete


def test_sample_frees_objects_allocated_before_tracing_started(report):
    assert report.frees_without_alloc > 0


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
