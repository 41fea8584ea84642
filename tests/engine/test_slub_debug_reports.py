"""slub_debug's reports against Linux 6.1's mm/slub.c and a real 6.1.192 booted with slub_debug.

tests/real61/slub-debug-1G-2cpu/ holds what Debian's 6.1.192 kernel printed, booted in QEMU
with plain ``slub_debug`` (FZPU on every cache) by tools/real-kernel/run.sh slub-debug: a
double free (probe-slub_double_free.txt) and a double free with a reuse in between
(probe-slub_reused_free.txt), both of a kmalloc(100) object in kmalloc-128.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmviz import Kernel
from kmviz.engine.kmalloc import NO_HASH_POINTERS_NOTICE, hex_dump_row
from kmviz.engine.slab_geometry import (
    SLAB_CONSISTENCY_CHECKS,
    SLAB_POISON,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
)

CAPTURE = Path(__file__).resolve().parents[1] / "real61" / "slub-debug-1G-2cpu"
TIMESTAMP = re.compile(r"^\[ *\d+\.\d+\] ")


GENERIC = (  # (pattern, replacement) applied in order
    (r"\+0x[0-9a-f]+/0x[0-9a-f]+|\.cold|\.part\.\d+", ""),
    (r"(0x)?[0-9a-f]{16}(?![0-9a-f])", "ADDR"),
    (r"(?<= )(age|cpu|pid|used|@offset)=\d+", r"\1=N"),
    (r"\((Not tainted|Tainted: [A-Z ]+)\)", "(TAINT)"),
    (r"^CPU: \d+ PID: \d+ Comm: (\S+) .*", r"CPU: N PID: N Comm: \1"),
    (r"^Hardware name: .*", "Hardware name: HW"),
)


def report(text: str) -> list[str]:
    """The first slab_bug() report in ``text``: from its ``=====`` rule to its ``FIX`` lines."""
    lines = [TIMESTAMP.sub("", line) for line in text.splitlines()]
    start = lines.index("=" * 77)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("FIX "))
    while end + 1 < len(lines) and lines[end + 1].startswith("FIX "):
        end += 1
    return lines[start : end + 1]


def shape(lines: list[str]) -> list[str]:
    """A report with what differs between any two machines made generic.

    Pointers become ADDR, numbers that depend on the run N, the module's functions CALLER
    (consecutive ones merged: the probe allocates from a helper), ``.cold`` and ``.part.0``
    (the compiler's split functions) and the
    ``? `` guesses of the real unwinder go, and so do the user-space registers x86 prints at
    the end of a trace from a system call (kmviz prints none of them anywhere).
    """
    out = []
    for raw in lines:
        if re.match(r"^ \? |^(RIP|Code|RSP|RAX|RDX|RBP|R10|R13): ", raw):
            continue
        line = re.sub(r"\b(kmviz_probe_init|kmalloc_until|lesson_init)\+0x\w+/0x\w+ \[\w+\]",
                      "CALLER", raw)  # fmt: skip
        for pattern, generic in GENERIC:
            line = re.sub(pattern, generic, line)
        if out and line.strip() == "CALLER" == out[-1].strip():
            continue
        if out and line == " CALLER" and out[-1].startswith("Freed in"):
            continue  # the probe freed it in a helper, whose caller's frame is kept
        out.append(line)
    return out


def captured(step: str) -> list[str]:
    return report((CAPTURE / f"probe-{step}.txt").read_text())


def new_text(k: Kernel, before: int) -> str:
    return k.dmesg()[before:]


@pytest.fixture
def k() -> Kernel:
    return Kernel("1GiB", seed=1, slub_debug=True, memory_map="flat")


def double_free(k: Kernel) -> tuple[int, list[str]]:
    """kmalloc(100), kfree() twice, as the probe's slub_double_free step: (address, report)."""
    p = k.kmalloc(100, "GFP_KERNEL")
    k.kfree(p)
    before = len(k.dmesg())
    k.kfree(p)
    return p, report(new_text(k, before))


# --- the whole report against the real one -----------------------------------------------------
def test_a_double_free_prints_the_report_the_real_61_printed():
    assert shape(
        double_free(Kernel("1GiB", seed=1, slub_debug=True, memory_map="flat"))[1]
    ) == shape(captured("slub_double_free"))


def test_a_double_free_after_a_reuse_blames_the_new_owner_as_the_real_61_did():
    k = Kernel("1GiB", seed=1, slub_debug=True, memory_map="flat")
    double_free(k)  # the probe's step before: this kernel is tainted B already
    p = k.kmalloc(100, "GFP_KERNEL")
    k.kfree(p)
    q = k.kmalloc(100, "GFP_KERNEL")
    assert q == p  # the object came back
    k.kfree(p)  # the stale pointer frees the new owner's object: nothing to see
    before = len(k.dmesg())
    k.kfree(q)
    assert shape(report(new_text(k, before))) == shape(captured("slub_reused_free"))


def test_the_free_of_a_reused_object_through_a_stale_pointer_prints_nothing(k):
    p = k.kmalloc(100, "GFP_KERNEL")
    k.kfree(p)
    assert k.kmalloc(100, "GFP_KERNEL") == p
    before = len(k.dmesg())
    k.kfree(p)
    assert new_text(k, before) == ""


# --- each element -------------------------------------------------------------------------------
def test_the_banner_is_slab_bugs_two_77_character_rules_and_a_blank_line(k):
    lines = double_free(k)[1]
    assert lines[:4] == ["=" * 77, "BUG kmalloc-128 (Not tainted): Object already free",
                         "-" * 77, ""]  # fmt: skip


def test_allocated_in_names_the_caller_then_the_stack_from_kmalloc_down(k):
    lines = double_free(k)[1]
    at = next(i for i, line in enumerate(lines) if line.startswith("Allocated in "))
    assert re.fullmatch(
        r"Allocated in lesson_init\+0x\w+/0x\w+ \[lesson\] age=0 cpu=0 pid=1234", lines[at]
    )
    assert [line.split("+")[0] for line in lines[at + 1 : at + 4]] == [
        " __kmalloc", " lesson_init", " do_one_initcall"]  # fmt: skip


def test_freed_in_gives_the_age_in_jiffies_at_250_hz(k):
    p = k.kmalloc(100, "GFP_KERNEL")
    k.kfree(p)
    k.idle(2)
    before = len(k.dmesg())
    k.kfree(p)
    freed = next(line for line in report(new_text(k, before)) if line.startswith("Freed in "))
    assert " age=500 cpu=0 pid=1234" in freed


def test_tracks_come_before_the_slab_line_as_print_trailer_prints_them(k):
    lines = double_free(k)[1]
    firsts = [line.split()[0] for line in lines if line[:1].isalpha()]
    assert firsts[1:5] == ["Allocated", "Freed", "Slab", "Object"]


def test_the_slab_line_gives_the_struct_page_and_the_folio_flags_with_lastcpupid(k):
    line = next(line for line in double_free(k)[1] if line.startswith("Slab "))
    assert re.fullmatch(
        r"Slab 0xffffea[0-9a-f]{10} objects=21 used=\d+ fp=0xffff888[0-9a-f]{9} "
        r"flags=0xfffffc0010200\(slab\|head\|node=0\|zone=1\|lastcpupid=0x1fffff\)",
        line,
    )


def test_the_objects_offset_is_the_left_red_zone_plus_whole_slots(k):
    p, lines = double_free(k)
    offset = int(next(line for line in lines if line.startswith("Object 0x")).split("=")[1][:-3])
    cache = k.kmalloc_cache("kmalloc-128")
    assert (offset - cache.red_left_pad) % cache.size == 0  # (offset - 128) % 384
    assert p & 0xFFF == offset & 0xFFF


def test_slub_debug_prints_pointers_unhashed(k):
    p, lines = double_free(k)
    assert lines[-1] == f"FIX kmalloc-128: Object at 0x{p:016x} not freed"


def test_without_slub_debug_pointers_stay_hashed():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    cache = k.kmem_cache_create("checked", 100, flags=SLAB_RED_ZONE | SLAB_POISON)
    p = k.kmem_cache_alloc(cache, "GFP_KERNEL")
    k.kmem_cache_free(cache, p)
    before = len(k.dmesg())
    k.kmem_cache_free(cache, p)
    assert f"{p:016x}" not in new_text(k, before)


def test_the_left_red_zone_is_red_left_pad_bytes_of_0xbb(k):
    lines = double_free(k)[1]
    rows = [line for line in lines if line.startswith("Redzone  ")]
    assert len(rows[:-1]) == 128 // 16
    assert all(line.endswith(": " + hex_dump_row(bytes([0xBB]) * 16)) for line in rows[:-1])


def test_the_object_is_poison_free_and_ends_with_poison_end(k):
    rows = [line for line in double_free(k)[1] if line.startswith("Object   ")]
    assert len(rows) == 128 // 16
    assert rows[-1].endswith(": 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b a5  kkkkkkkkkkkkkkk.")


def test_the_right_red_zone_is_the_word_between_object_and_metadata(k):
    last = [line for line in double_free(k)[1] if line.startswith("Redzone  ")][-1]
    assert last.endswith(": bb bb bb bb bb bb bb bb" + " " * 26 + "........")


def test_the_padding_starts_after_free_pointer_tracks_and_original_size(k):
    p, lines = double_free(k)
    rows = [line for line in lines if line.startswith("Padding  ")]
    # inuse 136 + free pointer 8 + 2 tracks of 32 + orig_size 4 == 212; the slot's 256
    # bytes after the left red zone leave 44 bytes of POISON_INUSE
    assert rows[0].startswith(f"Padding  {p + 212:016x}: 5a 5a")
    assert rows[-1].endswith(": " + hex_dump_row(bytes([0x5A]) * 12))
    assert len(rows) == 3


def test_a_cache_without_red_zone_prints_the_16_bytes_before_the_object():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    flags = SLAB_CONSISTENCY_CHECKS | SLAB_POISON | SLAB_STORE_USER  # slub_debug=FPU
    cache = k.kmem_cache_create("poisoned", 100, flags=flags)
    k.kmem_cache_alloc(cache, "GFP_KERNEL")
    p = k.kmem_cache_alloc(cache, "GFP_KERNEL")
    k.kmem_cache_free(cache, p)
    before = len(k.dmesg())
    k.kmem_cache_free(cache, p)
    lines = report(new_text(k, before))
    assert any(line.startswith("Bytes b4 ") for line in lines)
    assert not any(line.startswith("Redzone  ") for line in lines)


def test_the_call_trace_runs_through_object_err_and_free_to_partial_list(k):
    lines = double_free(k)[1]
    at = lines.index(" <TASK>")
    assert [line.split("+")[0] for line in lines[at + 1 : at + 5]] == [
        " dump_stack_lvl", " object_err", " free_to_partial_list", " lesson_init"]  # fmt: skip


def test_the_first_bad_page_taint_turns_lock_debugging_off_once(k):
    double_free(k)
    double_free(k)
    assert k.dmesg().count("Disabling lock debugging due to kernel taint") == 1


def test_the_second_report_shows_taint_b(k):
    double_free(k)
    assert double_free(k)[1][1].startswith("BUG kmalloc-128 (Tainted: G    B")


def test_a_hex_dump_row_pads_a_short_row_to_the_ascii_column():
    assert hex_dump_row(b"\x5a" * 12) == "5a " * 11 + "5a" + " " * 14 + "Z" * 12


def test_slub_debug_boots_with_no_hash_pointers_notice_after_the_memory_line(k):
    lines = [TIMESTAMP.sub("", line) for line in k.dmesg().splitlines()]
    at = next(i for i, line in enumerate(lines) if line.startswith("Memory: "))
    real = [TIMESTAMP.sub("", line) for line in (CAPTURE / "dmesg.txt").read_text().splitlines()]
    real_at = next(i for i, line in enumerate(real) if line.startswith("Memory: "))
    assert lines[at + 1 : at + 14] == list(NO_HASH_POINTERS_NOTICE) == real[real_at + 1 :][:13]


# --- what it costs ------------------------------------------------------------------------------
def test_a_kernel_without_debugged_caches_keeps_no_tracks():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    for _ in range(100):
        k.kfree(k.kmalloc(100, "GFP_KERNEL"))
    assert not any(cache.tracks for cache in k.caches)


def test_a_kernel_without_debugged_caches_keeps_the_kfree_fast_path():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    assert k._fast_slabs is k.slab_by_pfn


def test_creating_a_store_user_cache_sends_kfree_through_the_checks():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    k.kmem_cache_create("tracked", 100, flags=SLAB_STORE_USER)
    assert k._fast_slabs == {} and "kfree" not in vars(k)


def test_a_discarded_slab_forgets_its_objects_tracks():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    cache = k.kmem_cache_create("tracked", 2000, flags=SLAB_STORE_USER)
    p = k.kmem_cache_alloc(cache, "GFP_KERNEL")
    k.kmem_cache_free(cache, p)
    assert p in cache.tracks
    k.kmem_cache_shrink(cache)
    assert not cache.slabs and not cache.tracks


# --- the geometry the reports rest on -----------------------------------------------------------
def test_every_kmalloc_cache_has_the_debug_layout_the_real_61_reported():
    k = Kernel("1GiB", seed=1, slub_debug=True, cpus=2, memory_map="flat")
    real = {}
    for line in (CAPTURE / "slab-kmalloc.txt").read_text().splitlines():
        name, *fields = line.split()
        real[name] = dict(field.split("=", 1) for field in fields)
    keys = ("object_size", "slab_size", "objs_per_slab", "order", "align")
    ours = {
        c.name: (c.object_size, c.size, c.objects, c.order, c.align)
        for c in k.caches
        if c.name in real
    }
    assert len(ours) == len(real) == 52
    assert ours == {name: tuple(int(r[key]) for key in keys) for name, r in real.items()}


# --- bytes written where they should not be (memset()) ------------------------------------------
def overflow_by_one(k: Kernel) -> tuple[int, list[str]]:
    """kmalloc(128), one byte written just past it, kfree(): the probe's slub_redzone step."""
    p = k.kmalloc(128, "GFP_KERNEL")
    k.memset(p + 128, 0x12, 1)
    before = len(k.dmesg())
    k.kfree(p)
    return p, report(new_text(k, before))


def write_after_free(k: Kernel, at: int = 0) -> tuple[int, list[str]]:
    """kmalloc(128), kfree(), a byte written into it, kmalloc(128): the slub_poison step."""
    p = k.kmalloc(128, "GFP_KERNEL")
    k.kfree(p)
    k.memset(p + at, 0x12, 1)
    before = len(k.dmesg())
    k.kmalloc(128, "GFP_KERNEL")
    return p, report(new_text(k, before))


def test_a_write_past_the_end_is_reported_at_kfree_as_the_real_61_did(k):
    double_free(k)  # the probe's steps before: tainted, and the object has a free track
    assert shape(overflow_by_one(k)[1]) == shape(captured("slub_redzone"))


def test_a_write_after_free_is_reported_at_the_next_allocation_as_the_real_61_did(k):
    double_free(k)
    assert shape(write_after_free(k)[1]) == shape(captured("slub_poison"))


def test_the_overwritten_range_and_first_byte_follow_the_banner(k):
    p, lines = overflow_by_one(k)
    assert lines[4] == (f"0x{p + 128:016x}-0x{p + 128:016x} @offset={(p + 128) & 0x1FFF}. "
                        "First byte 0x12 instead of 0xcc")  # fmt: skip


def test_the_red_zone_dump_shows_the_byte_written(k):
    lines = overflow_by_one(k)[1]
    right = [line for line in lines if line.startswith("Redzone  ")][-1]
    assert right.endswith(": 12 cc cc cc cc cc cc cc" + " " * 26 + "........")


def test_slub_restores_the_red_zone_and_keeps_the_object_allocated(k):
    p, lines = overflow_by_one(k)
    assert lines[-2:] == [
        f"FIX kmalloc-128: Restoring Right Redzone 0x{p + 128:016x}-0x{p + 128:016x}=0xcc",
        f"FIX kmalloc-128: Object at 0x{p:016x} not freed",
    ]
    assert p in k.kmalloc_cache("kmalloc-128").requested
    before = len(k.dmesg())
    k.kfree(p)  # the red zone was restored: this free passes
    assert new_text(k, before) == "" and p not in k.kmalloc_cache("kmalloc-128").requested


def test_a_write_before_the_object_overwrites_the_left_red_zone(k):
    p = k.kmalloc(128, "GFP_KERNEL")
    k.memset(p - 2, 0, 2)
    before = len(k.dmesg())
    k.kfree(p)
    assert report(new_text(k, before))[1].endswith("): Left Redzone overwritten")


def test_a_write_after_free_costs_the_whole_slab(k):
    p, lines = write_after_free(k)
    assert lines[-2:] == [
        f"FIX kmalloc-128: Restoring Poison 0x{p:016x}-0x{p:016x}=0x6b",
        "FIX kmalloc-128: Marking all objects used",
    ]
    slab = k._slab_of(p)
    assert slab.disabled and not slab.freelist


def test_a_disabled_slab_refuses_every_free(k):
    p = k.kmalloc(128, "GFP_KERNEL")
    q = write_after_free(k)[0]
    assert k._slab_of(p) is k._slab_of(q)
    before = len(k.dmesg())
    k.kfree(p)
    lines = report(new_text(k, before))
    assert lines[1].endswith("): Slab disabled since SLUB metadata consistency check failed")
    assert lines[-1] == f"FIX kmalloc-128: Object at 0x{p:016x} not freed"


def test_the_last_byte_of_a_free_object_is_checked_as_end_poison(k):
    lines = write_after_free(k, at=127)[1]
    assert lines[1].endswith("): End Poison overwritten")
    assert lines[4].endswith("First byte 0x12 instead of 0xa5")


def test_overwritten_padding_is_reported_and_restored_but_the_free_goes_on(k):
    p = k.kmalloc(128, "GFP_KERNEL")
    k.memset(p + 212, 0, 1)  # the first byte after the metadata
    before = len(k.dmesg())
    k.kfree(p)
    lines = report(new_text(k, before))
    assert lines[1].endswith("): Object padding overwritten")
    assert (
        lines[-1]
        == f"FIX kmalloc-128: Restoring Object padding 0x{p + 212:016x}-0x{p + 212:016x}=0x5a"
    )
    assert p not in k.kmalloc_cache("kmalloc-128").requested


def test_writes_inside_a_live_object_are_shown_in_its_dump_and_not_reported(k):
    p = k.kmalloc(128, "GFP_KERNEL")
    k.memset(p, ord("A"), 128)
    before = len(k.dmesg())
    k.kfree(p)
    assert new_text(k, before) == ""
    k.kfree(p)
    text = new_text(k, before)
    assert "Object already free" in text and " 41 41 " not in text  # poisoned again by kfree


def test_memset_keeps_nothing_for_caches_without_red_zones_or_poison():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    p = k.kmalloc(128, "GFP_KERNEL")
    assert k.memset(p, 0, 200) == p
    assert not any(cache.images for cache in k.caches)


@pytest.mark.parametrize(
    ("args", "error"),
    [((0x10, 0, 1), ValueError), ((None, 0, 0), None), ((1 << 63, 256, 1), ValueError),
     ((1 << 63, -1, 1), TypeError), ((1 << 63, 0, "1"), TypeError)],
)  # fmt: skip
def test_memset_refuses_what_is_not_a_byte_or_not_the_direct_map(k, args, error):
    if error is None:
        assert k.memset(*args) == 0  # memset(NULL, 0, 0) writes nothing
        return
    with pytest.raises(error):
        k.memset(*args)


def test_a_kzalloc_object_dumps_as_zeros_not_poison(k):
    p = k.kzalloc(128, "GFP_KERNEL")
    k.memset(p + 128, 0x12, 1)
    before = len(k.dmesg())
    k.kfree(p)
    rows = [line for line in report(new_text(k, before)) if line.startswith("Object   ")]
    assert rows[-1].endswith(": " + hex_dump_row(bytes(16)))


def test_slub_debug_unhashes_the_page_allocators_reports_too(k):
    addr = k.get_free_page("GFP_KERNEL")
    k.free_page(addr)
    before = len(k.dmesg())
    k.free_page(addr)
    page = next(line for line in new_text(k, before).splitlines() if "page:" in line)
    assert "page:ffffea" in page


def test_a_fork_of_a_slub_debug_machine_reports_as_the_machine_would(k):
    p = k.kmalloc(128, "GFP_KERNEL")
    k.memset(p + 128, 0x12, 1)
    twin = k.fork()
    assert twin.kmalloc_cache("kmalloc-128").tracks == k.kmalloc_cache("kmalloc-128").tracks
    before = len(twin.dmesg())
    twin.kfree(p)
    assert "Right Redzone overwritten" in new_text(twin, before)
    assert k.kmalloc_cache("kmalloc-128").images[p][128 + 128] == 0x12  # the machine kept its byte


# --- how a debugged cache hands out objects ----------------------------------------------------
def test_a_debugged_cache_has_no_cpu_slab_so_slabinfo_counts_live_objects_exactly(k):
    ps = [k.kmalloc(100, "GFP_KERNEL") for _ in range(30)]
    for p in ps[::3]:
        k.kfree(p)
    cache = k.kmalloc_cache("kmalloc-128")
    assert cache.cpu_slab is None and not cache.percpu_partial
    assert cache.active_objs == len(cache.requested) == 20


def test_a_debugged_caches_new_slab_heads_the_partial_list_until_full(k):
    cache = k.kmalloc_cache("kmalloc-128")
    first = k._slab_of(k.kmalloc(100, "GFP_KERNEL"))
    assert cache.partial == [first]
    for _ in range(cache.objects - 1):
        k.kmalloc(100, "GFP_KERNEL")
    assert cache.partial == [] and not first.freelist  # full: on no list (add_full())
    second = k._slab_of(k.kmalloc(100, "GFP_KERNEL"))
    assert second is not first and cache.partial == [second]


def test_destroying_a_cache_with_objects_lists_each_with_its_offset_and_allocator(k):
    cache = k.kmem_cache_create("mine", 100)
    k.kmem_cache_alloc(cache, "GFP_KERNEL")
    p = k.kmem_cache_alloc(cache, "GFP_KERNEL")
    before = len(k.dmesg())
    k.kmem_cache_destroy(cache)
    lines = [TIMESTAMP.sub("", line) for line in new_text(k, before).splitlines()]
    at = lines.index(f"Object 0x{p:016x} @offset={cache.red_left_pad + cache.size}")
    assert lines[at + 1].startswith("Allocated in lesson_init+")
    warned = next(line for line in lines if line.startswith("CPU: ") and "Tainted" in line)
    assert "Tainted: G    B" in warned  # slab_err() tainted the kernel before the WARN
