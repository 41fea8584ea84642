"""Does kmviz.trace.load() read what tracefs prints, field by field, and count what it skips?

``data/kmem-6.1-handmade.trace`` is written for these tests in Linux 6.1's trace format
(s_show()/print_func_help_header_irq() in kernel/trace/trace.c, trace_print_context() in
kernel/trace/trace_output.c, the TP_printk strings of include/trace/events/kmem.h): the machine
the tests were written on has no tracefs to capture a real one.  It has hashed pointers,
module and built-in call sites, comms with a space and a dash, interrupt flags, a ring-buffer
gap, other events, a failed allocation and frees whose allocation was overwritten.
"""

import gzip
from pathlib import Path

import pytest

from kmviz import __GFP_COMP, __GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL, GFP_KERNEL_ACCOUNT
from kmviz import trace as kmtrace
from kmviz.trace import (
    Kfree,
    Kmalloc,
    KmemCacheAlloc,
    KmemCacheFree,
    LostEvents,
    MmPageAlloc,
    MmPageFree,
    MmPageFreeBatched,
    TraceHeader,
)

HANDMADE = Path(__file__).parent / "data" / "kmem-6.1-handmade.trace"
LEGEND = "".join(HANDMADE.read_text().splitlines(keepends=True)[3:12])  # "#" … "| |"


@pytest.fixture(scope="module")
def handmade():
    return kmtrace.load(HANDMADE)


def test_header_gives_tracer_buffer_counts_and_cpus(handmade):
    assert handmade.header == TraceHeader("nop", 24, 43, 4)
    assert handmade.header.overwritten == 19


def test_every_kmem_event_of_the_file_is_loaded_in_order(handmade):
    assert len(handmade) == 22
    assert [type(event).__name__ for event in handmade[:4]] == [
        "KmemCacheFree",
        "Kmalloc",
        "Kfree",
        "KmemCacheAlloc",
    ]
    assert handmade.counts == {
        "kmalloc": 4,
        "kfree": 5,
        "kmem_cache_alloc": 4,
        "kmem_cache_free": 3,
        "mm_page_alloc": 3,
        "mm_page_free": 2,
        "mm_page_free_batched": 1,
    }


def test_kmalloc_line_gives_every_field(handmade):
    assert handmade[1] == Kmalloc(
        comm="systemd-journal",
        pid=301,
        cpu=0,
        flags=".....",
        timestamp_ns=5273_101220_000,
        call_site="seq_read_iter+0x104/0x4b0",
        ptr=0x4B6E2A90,
        bytes_req=4096,
        bytes_alloc=4096,
        gfp=GFP_KERNEL_ACCOUNT,
        node=-1,
        accounted=True,
    )


def test_comm_with_a_space_and_module_call_site_are_kept_whole(handmade):
    web = handmade[3]
    assert (web.comm, web.pid, web.cpu) == ("Web Content", 4567, 3)
    assert handmade[6].call_site == "lesson_init+0x1c/0x60 [lesson]"


def test_interrupt_flags_column_is_kept(handmade):
    page = handmade[5]
    assert isinstance(page, MmPageAlloc)
    assert (page.comm, page.pid, page.flags) == ("<idle>", 0, "d.s2.")
    assert page.gfp == GFP_ATOMIC | __GFP_NOWARN | 0x80000  # __GFP_NOMEMALLOC


def test_page_events_give_pfn_order_and_hashed_page(handmade):
    alloc, free = handmade[5], handmade[13]
    assert (alloc.pfn, alloc.order, alloc.migratetype, alloc.page) == (0x11A2C3, 0, 0, 0x3C5E1B6F)
    assert free == MmPageFree("<idle>", 0, 2, "..s2.", 5273_101850_000, 0x3C5E1B6F, 0x11A2C3, 0)


def test_failed_page_allocation_is_page_null(handmade):
    failed = handmade[11]
    assert failed.failed and failed.pfn == 0 and failed.order == 4
    assert not handmade[5].failed


def test_batched_free_is_an_order_0_free(handmade):
    batched = handmade[12]
    assert isinstance(batched, MmPageFreeBatched)
    assert (batched.pfn, batched.order) == (0x2F1B0, 0)


def test_kfree_of_null_has_pointer_0(handmade):
    assert handmade[10] == Kfree(
        "rsyslogd", 512, 0, ".....", 5273_101731_000, "syslog_print+0x1b4/0x300", 0
    )


def test_kmem_cache_free_gives_the_cache_name(handmade):
    assert handmade[15] == KmemCacheFree(
        "Web Content",
        4567,
        3,
        "d..1.",
        5273_101906_000,
        "kfree_skbmem+0x6b/0x80",
        0xA9E4C3B1,
        "skbuff_head_cache",
    )


def test_cache_names_come_from_the_free_then_from_sizes(handmade):
    names = [event.name for event in handmade if isinstance(event, KmemCacheAlloc)]
    # skbuff_head_cache and lesson_node from their frees, lesson_node again by its sizes,
    # and names_cache (4096/4096, never freed, no other cache that size) stays unknown
    assert names == ["skbuff_head_cache", "lesson_node", "lesson_node", ""]
    assert handmade.cache_names == {
        "printed": 0,
        "from kmem_cache_free": 2,
        "by size": 1,
        "unknown": 1,
    }


def test_other_events_are_counted_not_loaded(handmade):
    assert handmade.skipped == {"mm_page_pcpu_drain": 1, "tracing_mark_write": 1}


def test_lost_events_line_is_reported_where_it_was(handmade):
    assert handmade.lost == [LostEvents(cpu=1, count=12, before_event=10)]


def test_events_are_stored_in_arrays_not_objects(handmade):
    assert handmade.nbytes < 64 * len(handmade)
    assert handmade[-1] == handmade[len(handmade) - 1]
    with pytest.raises(IndexError):
        handmade[len(handmade)]


def test_summary_names_the_counts_and_the_gaps(handmade):
    text = str(handmade)
    assert "kmem-6.1-handmade.trace: 22 kmem events" in text
    assert "19 overwritten" in text and "12 events lost" in text
    assert "mm_page_pcpu_drain 1" in text


def test_gzipped_file_and_open_file_load_like_the_path(tmp_path, handmade):
    packed = tmp_path / "kmem.trace.gz"
    packed.write_bytes(gzip.compress(HANDMADE.read_bytes()))
    assert list(kmtrace.load(packed)) == list(handmade)
    with open(HANDMADE, encoding="utf-8") as file:
        assert list(kmtrace.load(file)) == list(handmade)


def test_trace_pipe_output_without_header_loads(handmade):
    events = "".join(HANDMADE.read_text().splitlines(keepends=True)[12:])
    piped = kmtrace.load(events)
    assert piped.header is None
    assert list(piped) == list(handmade)


def test_kmem_cache_alloc_name_printed_by_newer_kernels_is_read():
    line = (
        "          insmod-2210    [001] .....  5273.101515: kmem_cache_alloc: "
        "call_site=lesson_init+0x3a/0x60 [lesson] ptr=000000008f2d1e55 name=lesson_node "
        "bytes_req=200 bytes_alloc=200 gfp_flags=GFP_KERNEL node=-1 accounted=false\n"
    )
    loaded = kmtrace.load(line)
    assert loaded[0].name == "lesson_node"
    assert loaded.cache_names["printed"] == 1


def test_record_tgid_column_and_missing_irq_info_are_read():
    lines = (
        "          insmod-2210    (   2210) [001] .....  5273.101512: kfree: "
        "call_site=lesson_exit+0x12/0x40 [lesson] ptr=00000000e3b0c442\n"
        "          insmod-2210    [001]  5273.101513: kfree: "
        "call_site=lesson_exit+0x12/0x40 [lesson] ptr=00000000e3b0c443\n"
    )
    first, second = kmtrace.load(lines)
    assert (first.pid, first.cpu, first.flags) == (2210, 1, ".....")
    assert (second.pid, second.cpu, second.flags, second.ptr) == (2210, 1, "", 0xE3B0C443)


def test_large_kmalloc_gfp_with_comp_is_parsed(handmade):
    assert handmade[8].gfp == GFP_KERNEL | __GFP_COMP


def test_stack_trace_entries_are_counted_as_skipped_entries():
    text = (
        "# tracer: nop\n#\n# entries-in-buffer/entries-written: 2/2   #P:1\n" + LEGEND
        + "          insmod-2210    [000] .....  1.000001: kfree: call_site=f+0x1/0x2 "
        "ptr=00000000e3b0c442\n"
        "          insmod-2210    [000] .....  1.000002: <stack trace>\n"
        " => kfree\n => lesson_exit\n"
    )  # fmt: skip
    loaded = kmtrace.load(text)
    assert len(loaded) == 1
    assert loaded.skipped == {"entries that are not events": 1, "stack trace line": 2}
