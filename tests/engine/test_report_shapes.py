"""WARN and BUG reports have the shape x86's __warn()/die() give them in the captures."""

import re
from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine.reports import code_line, symbol

DEBUG_CAPTURE = Path(__file__).resolve().parents[1] / "real61" / "debug-1G-2cpu"
# the lines kmviz leaves out of a register dump (segment and control registers)
OMITTED = ("FS:", "CS:", "CR2:", "PKRU:")
SHAPES = (
    "------------[ cut here ]",
    "WARNING:",
    "kernel BUG at",
    "invalid opcode:",
    "Modules linked in:",
    "CPU:",
    "Hardware name:",
    "RIP: 0010:",
    "Code:",
    "RSP:",
    "RAX:",
    "RDX:",
    "RBP:",
    "R10:",
    "R13:",
    "Call Trace:",
    "<TASK>",
    "</TASK>",
    "---[ end trace",
)


def shape(lines):
    """The kinds of line a report is made of, in order, outside the task's stack.

    Inside <TASK> … </TASK> a capture also shows guessed frames and the user-space registers
    of the system call; the frames are compared on their own.
    """
    kinds, in_task = [], False
    for line in lines:
        if line.startswith("<TASK>"):
            in_task = True
        if line.startswith("</TASK>"):
            in_task = False
        if in_task and not line.startswith("<TASK>"):
            continue
        kind = next((s for s in SHAPES if line.startswith(s)), None)
        if kind and not line.startswith(OMITTED):
            kinds.append(kind)
    return kinds


def captured(step):
    """The kernel's own lines of one probe step of the debug capture, without timestamps."""
    text = (DEBUG_CAPTURE / f"probe-{step}.txt").read_text()
    return [
        re.sub(r"^\[ *\d+\.\d+\] ", "", line).strip()
        for line in text.splitlines()
        if line.startswith("[") and "kmviz_probe:" not in line
    ]


def new_lines(k, action):
    before = len(k.dmesg().splitlines())
    action()
    return [line.split("] ", 1)[1].strip() for line in k.dmesg().splitlines()[before:]]


def frames_after_task(lines):
    start = lines.index("<TASK>") + 1
    return [line.split("+")[0] for line in lines[start : lines.index("</TASK>")]]


def test_a_warning_has_the_shape_of_the_captured_order_11_warning():
    k = Kernel(mem="1GiB", memory_map="flat")
    lines = new_lines(k, lambda: k.alloc_pages(GFP_KERNEL, 11))
    assert shape(lines) == shape(captured("order11"))


def test_a_bug_has_the_shape_of_the_captured_double_free_oops():
    k = Kernel(mem="1GiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    lines = new_lines(k, lambda: k.free_pages(addr, 0))
    assert shape(lines) == shape(captured("double_free"))


def test_rip_names_the_function_that_warned_and_the_trace_starts_at_its_caller():
    k = Kernel(mem="16MiB", memory_map="flat")
    lines = new_lines(k, lambda: k.alloc_pages(GFP_KERNEL, 11))
    warned = symbol("__alloc_pages")
    assert lines[1].endswith(f"at mm/page_alloc.c:5634 {warned}")
    assert f"RIP: 0010:{warned}" in lines
    assert frames_after_task(lines)[0] == "lesson_init"  # alloc_pages() tail-calls


def test_get_free_pages_stays_on_the_stack_above_the_warning():
    k = Kernel(mem="16MiB", memory_map="flat")
    lines = new_lines(k, lambda: k.get_free_pages(GFP_KERNEL, 11))
    assert frames_after_task(lines)[:2] == ["__get_free_pages", "lesson_init"]


def test_the_argument_registers_hold_the_gfp_mask_and_order_as_in_the_capture():
    k = Kernel(mem="16MiB", memory_map="flat")
    lines = new_lines(k, lambda: k.alloc_pages(GFP_KERNEL, 11))
    rbx = next(line for line in lines if line.startswith("RAX:"))
    rdi = next(line for line in lines if line.startswith("RDX:"))
    rbp = next(line for line in lines if line.startswith("RBP:"))
    assert "RBX: 0000000000000cc0" in rbx and "RDI: 0000000000000cc0" in rdi
    assert "RSI: 000000000000000b" in rdi and rbp.startswith("RBP: 000000000000000b")
    real = captured("order11")
    assert "RBX: 0000000000000cc0" in next(line for line in real if line.startswith("RAX:"))
    assert next(line for line in real if line.startswith("RBP:")).startswith(
        "RBP: 000000000000000b"
    )


def test_the_code_line_marks_the_ud2_of_bug_and_warn_among_64_bytes():
    line = code_line("__free_pages")
    before, after = line.removeprefix("Code: ").split(" <0f> ")
    assert len(before.split()) == 42 and after.split()[0] == "0b"
    assert len(before.split()) + 1 + len(after.split()) == 64
    assert code_line("__free_pages") == line  # deterministic


def test_a_bug_prints_its_registers_again_after_the_end_marker():
    k = Kernel(mem="16MiB", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    lines = new_lines(k, lambda: k.free_pages(addr, 0))
    end = lines.index("---[ end trace 0000000000000000 ]---")
    assert lines[end + 1] == f"RIP: 0010:{symbol('__free_pages')}"
    assert frames_after_task(lines)[0] == "lesson_init"  # free_pages() tail-calls


@pytest.mark.parametrize(
    ("call", "frames"),
    [
        ("kmalloc", ["dump_stack_lvl", "__might_resched.cold", "__kmem_cache_alloc_node",
                     "kmalloc_trace", "lesson_init"]),
        ("kmem_cache_alloc", ["dump_stack_lvl", "__might_resched.cold", "kmem_cache_alloc",
                              "lesson_init"]),
    ],
)  # fmt: skip
def test_might_sleep_is_reached_through_the_functions_61_inlines_into(call, frames):
    k = Kernel(mem="16MiB", memory_map="flat")
    cache = k.kmem_cache_create("thing", 64)
    with k.spin_lock("lock"):
        if call == "kmalloc":
            lines = new_lines(k, lambda: k.kmalloc(64, GFP_KERNEL))
        else:
            lines = new_lines(k, lambda: k.kmem_cache_alloc(cache, GFP_KERNEL))
    assert frames_after_task(lines)[: len(frames)] == frames
