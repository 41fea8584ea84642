"""Does kmviz.trace.export() write the simulation's history as a 6.1 kernel writes its trace?"""

import io
import random
import re

import pytest

from kmviz import (
    __GFP_NORETRY,
    __GFP_NOWARN,
    GFP_ATOMIC,
    GFP_KERNEL,
    GFP_KERNEL_ACCOUNT,
    MAX_ORDER,
    SLAB_HWCACHE_ALIGN,
    Kernel,
)
from kmviz import trace as kmtrace
from kmviz.engine.events import (
    AllocationFailed,
    ObjectAllocated,
    ObjectFreed,
    PagesAllocated,
    PagesFreed,
)
from kmviz.engine.reports import hashed_pointer
from kmviz.engine.slab_geometry import SLAB_ACCOUNT
from kmviz.trace import Kfree, Kmalloc, KmemCacheAlloc, KmemCacheFree, MmPageAlloc, MmPageFree
from kmviz.workloads import release

# print_func_help_header_irq() (kernel/trace/trace.c L4270) with prec 2 (no TGID column)
LEGEND_FORMATS = (
    "#                            %.*s  _-----=> irqs-off/BH-disabled\n",
    "#                            %.*s / _----=> need-resched\n",
    "#                            %.*s| / _---=> hardirq/softirq\n",
    "#                            %.*s|| / _--=> preempt-depth\n",
    "#                            %.*s||| / _-=> migrate-disable\n",
    "#                            %.*s|||| /     delay\n",
)


def expected_header(entries: int, cpus: int) -> str:
    """s_show() + print_event_info() + print_func_help_header_irq(), formatted from their C."""
    legend = "".join(line.replace("%.*s", "            "[:2]) for line in LEGEND_FORMATS)
    legend += "#           TASK-PID  %.*s CPU#  |||||  TIMESTAMP  FUNCTION\n".replace(
        "%.*s", "     TGID   "[:2]
    )
    legend += "#              | |    %.*s   |   |||||     |         |\n".replace(
        "%.*s", "       |    "[:2]
    )
    return (
        "# tracer: nop\n#\n"
        f"# entries-in-buffer/entries-written: {entries}/{entries}   #P:{cpus}\n#\n" + legend
    )


def event_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def driver(k: Kernel, steps: int, seed: int) -> None:
    """A seeded mix of every call that makes a kmem event, from boot on."""
    rng = random.Random(seed)
    caches = (
        k.kmem_cache_create("lesson_node", 200),
        k.kmem_cache_create("lesson_req", 72, flags=SLAB_HWCACHE_ALIGN),
    )
    held = []
    for _ in range(steps):
        choice = rng.random()
        if held and choice < 0.45:
            release(k, held.pop(rng.randrange(len(held))))
        elif choice < 0.6:
            cache = caches[rng.randrange(2)]
            held.append(("cache", k.kmem_cache_alloc(cache, GFP_KERNEL), cache))
        elif choice < 0.94:
            held.append(("kmalloc", k.kmalloc(rng.randint(1, 4096), GFP_KERNEL), None))
        elif choice < 0.97:
            held.append(("kmalloc", k.kmalloc(rng.choice((9000, 40000)), GFP_KERNEL), None))
        else:
            order = rng.randrange(4)
            held.append(("pages", k.get_free_pages(GFP_KERNEL, order), order))


def engine_kmem_events(k: Kernel, start: int) -> list[tuple]:
    """The engine's events that export() writes, as comparable tuples."""
    rows = []
    for event in k.history.events(start, len(k.history)):
        if isinstance(event, ObjectAllocated):
            cache = event.cache if event.tracepoint == "kmem_cache_alloc" else ""
            rows.append((event.tracepoint, event.ptr, event.bytes_req, event.bytes_alloc,
                         event.gfp, cache))  # fmt: skip
        elif isinstance(event, ObjectFreed):
            rows.append((event.tracepoint, event.ptr, event.cache))
        elif isinstance(event, PagesAllocated):
            rows.append(("mm_page_alloc", event.pfn, event.order, event.gfp))
        elif isinstance(event, AllocationFailed) and event.order < MAX_ORDER:
            rows.append(("mm_page_alloc", 0, event.order, event.gfp))
        elif isinstance(event, PagesFreed):
            rows.append(("mm_page_free", event.pfn, event.order))
    return rows


def trace_rows(loaded) -> list[tuple]:
    """The loaded events as the same tuples."""
    rows = []
    for event in loaded:
        if isinstance(event, Kmalloc):
            rows.append(("kmalloc", event.ptr, event.bytes_req, event.bytes_alloc, event.gfp, ""))
        elif isinstance(event, KmemCacheAlloc):
            rows.append(("kmem_cache_alloc", event.ptr, event.bytes_req, event.bytes_alloc,
                         event.gfp, event.name))  # fmt: skip
        elif isinstance(event, Kfree):
            rows.append(("kfree", event.ptr, ""))
        elif isinstance(event, KmemCacheFree):
            rows.append(("kmem_cache_free", event.ptr, event.name))
        elif isinstance(event, MmPageAlloc):
            rows.append(("mm_page_alloc", event.pfn, event.order, event.gfp))
        else:
            rows.append(("mm_page_free", event.pfn, event.order))
    return rows


@pytest.fixture(scope="module")
def driven():
    k = Kernel(mem="128MiB", seed=3, memory_map="flat")
    start = len(k.history)
    driver(k, 3000, seed=3)
    return k, start


def test_header_is_byte_for_byte_what_6_1_prints():
    k = Kernel(mem="64MiB", cpus=4, memory_map="flat")
    k.kfree(k.kmalloc(100, GFP_KERNEL))
    text = kmtrace.export(k)
    # the slab's page: mm_page_alloc_zone_locked (rmqueue_bulk() refills the per-CPU list
    # with one page, the DMA32 zone of 64 MiB has batch 1) and mm_page_alloc; kmalloc, kfree
    assert text.startswith(expected_header(entries=4, cpus=4))


def test_kmalloc_line_is_byte_for_byte_the_tp_printk():
    k = Kernel(mem="64MiB", memory_map="flat")
    addr = k.kmalloc(100, GFP_KERNEL_ACCOUNT)
    context, event = event_lines(kmtrace.export(k))[-1].split(": ", 1)
    # "%16s-%-7d " comm-pid, "[%03d] " CPU, the flags, " %5lu.%06lu" (trace_print_context())
    assert re.fullmatch(r"          insmod-1234    \[000\] \.\.\.\.\.     1\.\d{6}", context)
    assert event == (
        f"kmalloc: call_site=lesson_init+0x1c/0x60 [lesson] ptr={addr:016x} bytes_req=100 "
        "bytes_alloc=128 gfp_flags=GFP_KERNEL_ACCOUNT node=-1 accounted=true"
    )


def test_page_lines_give_the_struct_page_and_pfn():
    k = Kernel(mem="64MiB", memory_map="flat")
    page = k.alloc_pages(GFP_KERNEL, 2)
    k.free_pages_block(page, 2)
    # rmqueue_bulk() refills CPU 0's order-2 list (batch 1 on 64 MiB: one block), then the
    # allocation takes it; the free pushes it back on the list, nothing reaches the buddy
    refill, alloc, free = (line.split(": ", 1)[1] for line in event_lines(kmtrace.export(k)))
    struct_page = 0xFFFFEA0000000000 + page.pfn * 64  # vmemmap + pfn * sizeof(struct page)
    assert refill == (
        f"mm_page_alloc_zone_locked: page={struct_page:016x} pfn={page.pfn:#x} order=2 "
        "migratetype=0 percpu_refill=1"
    )
    assert alloc == (
        f"mm_page_alloc: page={struct_page:016x} pfn={page.pfn:#x} order=2 migratetype=0 "
        "gfp_flags=GFP_KERNEL"
    )
    assert free == f"mm_page_free: page={struct_page:016x} pfn={page.pfn:#x} order=2"


def test_kmem_cache_lines_name_the_cache_only_on_free():
    k = Kernel(mem="64MiB", memory_map="flat")
    cache = k.kmem_cache_create("lesson_node", 200)
    addr = k.kmem_cache_alloc(cache, GFP_KERNEL)
    k.kmem_cache_free(cache, addr)
    *_, alloc, free = event_lines(kmtrace.export(k))
    assert "kmem_cache_alloc: call_site=lesson_init+0x1c/0x60 [lesson] ptr=" in alloc
    assert alloc.endswith(
        " bytes_req=200 bytes_alloc=200 gfp_flags=GFP_KERNEL node=-1 accounted=false"
    )
    assert free.endswith(
        "kmem_cache_free: call_site=lesson_exit+0x12/0x40 [lesson] "
        f"ptr={addr:016x} name=lesson_node"
    )


def test_failed_allocation_is_mm_page_alloc_of_null():
    k = Kernel(mem="16MiB", memory_map="flat")
    while k.alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 10) is not None:
        pass
    k.alloc_pages(GFP_KERNEL | __GFP_NOWARN, MAX_ORDER)  # rejected before the tracepoint
    last = event_lines(kmtrace.export(k))[-1]
    assert last.endswith(
        "mm_page_alloc: page=0000000000000000 pfn=0x0 order=10 migratetype=0 "
        "gfp_flags=GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY"
    )


def test_round_trip_gives_the_same_events(driven):
    k, start = driven
    loaded = kmtrace.load(kmtrace.export(k))
    expected = engine_kmem_events(k, start)
    assert len(expected) > 3000
    assert {row[0] for row in expected} == set(kmtrace.TRACEPOINTS[:6])
    assert trace_rows(loaded) == expected


def test_round_trip_through_a_file_and_a_file_object(driven, tmp_path):
    k, _ = driven
    text = kmtrace.export(k)
    path = tmp_path / "driven.trace"
    assert kmtrace.export(k, path) is None
    assert path.read_text() == text
    buffer = io.StringIO()
    kmtrace.export(k, buffer)
    assert buffer.getvalue() == text


def test_timestamps_are_the_kernel_clock():
    k = Kernel(mem="64MiB", memory_map="flat")
    addrs = [k.kmalloc(64, GFP_KERNEL) for _ in range(3)]
    clock = []
    for addr in addrs[:2]:
        clock.append(k.now_ns())
        k.kfree(addr)  # one record: the kfree event happens at the clock read before it
    k.idle(2.5)
    with k.spin_lock("dev_lock"):
        k.kmalloc(64, GFP_KERNEL)  # might_sleep() logs its splat: the log has the clock
    clock.append(k.now_ns())
    k.kfree(addrs[2])
    loaded = kmtrace.load(kmtrace.export(k))
    assert [e.timestamp_ns for e in loaded if isinstance(e, Kfree)] == clock
    stamps = [e.timestamp_ns for e in loaded]
    assert stamps == sorted(stamps)


def test_task_and_interrupt_context_show_in_comm_and_flags():
    k = Kernel(mem="64MiB", memory_map="flat")
    with k.task("kworker/0:1", 42):
        k.kmalloc(64, GFP_KERNEL)
        with k.irq():
            k.kmalloc(64, GFP_ATOMIC)
        with k.spin_lock("dev_lock"):
            k.kmalloc(64, GFP_ATOMIC)
    k.kmalloc(64, GFP_KERNEL)
    contexts = [(e.comm, e.pid, e.flags) for e in kmtrace.load(kmtrace.export(k))
                if isinstance(e, Kmalloc)]  # fmt: skip
    assert contexts == [
        ("kworker/0:1", 42, "....."),
        ("kworker/0:1", 42, "d.h.."),  # irqs off, in a hard interrupt
        ("kworker/0:1", 42, "...1."),  # preempt_count 1 under the spinlock
        ("insmod", 1234, "....."),
    ]


def test_hashed_pointers_are_the_kernel_hash(driven):
    k, _ = driven
    addr = k.kmalloc(100, GFP_KERNEL)
    line = event_lines(kmtrace.export(k, hash_pointers=True))[-1]
    assert f"ptr={hashed_pointer(addr, k.seed)} " in line
    assert f"{addr:016x}" not in line


def test_boot_is_left_out_unless_asked(driven):
    k = Kernel(mem="64MiB", memory_map="flat")
    assert event_lines(kmtrace.export(k)) == []
    boot = kmtrace.load(kmtrace.export(k, start=0))
    assert len(boot) > 0 and all(isinstance(e, MmPageFree) for e in boot)  # memblock_free_all()


def test_each_slab_record_s_line_is_the_text_of_its_event():
    # export() writes a slab record's line from the record itself; _event_text() of the
    # event the record stands for is the reference
    k = Kernel(mem="128MiB", seed=5, memory_map="flat")
    driver(k, 600, seed=5)
    accounted = k.kmem_cache_create("lesson_acct", 96, flags=SLAB_ACCOUNT)
    k.kmem_cache_free(accounted, k.kmem_cache_alloc(accounted, GFP_KERNEL))
    k.kfree(k.kmalloc(100, GFP_KERNEL_ACCOUNT))
    caches = {cache.name for cache in k.caches if cache.flags & SLAB_ACCOUNT}
    expected = [
        kmtrace._event_text(event, "{:016x}".format, caches, k)
        for event in k.history
        if kmtrace._exported(event)
    ]
    lines = event_lines(kmtrace.export(k, start=0))
    assert [re.sub(r"^.*? \d+\.\d{6}: ", "", line) for line in lines] == expected
    assert sum(line.endswith("accounted=true") for line in lines) == 2
