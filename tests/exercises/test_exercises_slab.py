"""Lesson 02's questions: right and wrong answers with their feedback; the lesson's numbers."""

from pathlib import Path

import pytest
from lesson_cells import cells, run

from kmviz import (
    __GFP_COMP,
    GFP_KERNEL,
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    ZERO_SIZE_PTR,
    Kernel,
    events,
    get_order,
)
from kmviz.exercises import slab

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02-slab-and-kmalloc.ipynb"


# --- the questions -------------------------------------------------------------------------------
def test_objects_per_slab_of_200_bytes_is_one_page_of_20():
    question = slab.objects_per_slab(200)
    assert question.answer == "20"
    right = question.check("20")
    assert right.correct and "12 objects per slab" in right.message
    assert "96 B left over" in right.message
    wrong = question.check(40)
    assert not wrong.correct
    assert "what a slab of order 1, 2 pages (8192 B), would hold" in wrong.message
    assert "Hint: SLUB wants at least 12 objects" in wrong.message
    assert "not how many 200-byte slots fit" in question.check(23).message


def test_objects_per_slab_of_700_bytes_needs_four_pages():
    question = slab.objects_per_slab(700)
    assert question.answer == "23"
    assert "12 × 704 B = 8448 B needs order 2" in question.why
    assert "192 B left over" in question.why
    one_page = question.check("5")
    assert not one_page.correct and "order 0, 1 page (4096 B)" in one_page.message
    assert "order 1, 2 pages" in question.check(11).message
    assert question.check("0x17").correct


def test_objects_per_slab_counts_aligned_slots():
    question = slab.objects_per_slab(100)
    assert question.answer == "39"
    assert "each slot is 104 B (aligned to 8 bytes), not 100 B" in question.check(40).message


def test_objects_per_slab_explains_a_search_that_backs_off():
    question = slab.objects_per_slab(3000)
    assert question.answer == "10"
    assert "settled on order 3" in question.why


def test_slabinfo_active_objs_counts_the_active_slabs_free_slots():
    question = slab.slabinfo_active_objs()
    assert question.answer == "60"
    assert question.check(60).correct
    in_use = question.check(50)
    assert not in_use.correct and "50 is how many objects are really in use" in in_use.message
    assert "number of slabs" in question.check(3).message
    assert "objperslab" in question.check(20).message
    assert "between the 50 in use and the 60 slots" in question.check(55).message
    assert "the 10 free slots of the active slab" in question.why


def test_slabs_after_free_keeps_all_three():
    question = slab.slabs_after_free()
    assert question.answer == "3"
    assert question.check(3).correct
    assert "yet the pages stay with the cache" in question.check(0).message
    assert "not only the active slab" in question.check(1).message
    assert "freeing objects never adds a slab" in question.check(4).message
    assert "min_partial is 5" in question.why


def test_kmalloc_class_reads_sizes_and_cache_names():
    question = slab.kmalloc_class(100)
    assert question.answer == "kmalloc-128"
    for answer in ("128", "kmalloc-128", " KMALLOC-128 "):
        assert question.check(answer).correct
    assert "kmalloc-96 holds only 96 B, too small for 100 B" in question.check(96).message
    assert "there is no kmalloc-100 cache" in question.check(100).message
    bigger = question.check("kmalloc-256")
    assert not bigger.correct and "picks the smallest class that fits" in bigger.message
    assert "a size class such as 128" in question.check("big").message
    assert slab.kmalloc_class(1000).check("1k").correct


def test_bytes_wasted_by_kmalloc_200():
    question = slab.bytes_wasted(200)
    assert question.answer == "56"
    assert question.check(56).correct
    assert "only a 200-byte class would waste nothing" in question.check(0).message
    assert "do not fit in the 192-byte class" in question.check(8).message
    assert "what 512-byte slots would waste" in question.check(312).message


def test_large_kmalloc_order_of_20000():
    question = slab.large_kmalloc_order(20000)
    assert question.answer == "3"
    assert "12768 B of them are wasted" in question.why
    assert question.check(3).correct
    assert "order 2 is 4 pages = 16 KiB, too small for 20000 B" in question.check(2).message
    assert "smallest order that does" in question.check(4).message
    assert "it does not fail" in question.check(-1).message
    assert "there is no order 11" in question.check(11).message
    with pytest.raises(ValueError):
        slab.large_kmalloc_order(8192)


def test_every_question_reveals_its_answer_and_widget():
    for question in (slab.objects_per_slab(200), slab.slabinfo_active_objs()):
        assert question.show_answer().startswith(question.answer)
        assert question.widget().children


# --- the lesson's numbers on the seeded machine --------------------------------------------------
@pytest.fixture(scope="module")
def lesson():
    """The lesson's code cells run in order: (namespace, printed text per cell, its markdown)."""
    namespace, printed = run(NOTEBOOK)
    return namespace, "\n".join(printed), "\n".join(cells(NOTEBOOK, "markdown"))


def test_the_lesson_builds_the_exercises_machine():
    source = NOTEBOOK.read_text()
    assert 'Kernel(mem=\\"256MiB\\", seed=0, memory_map=\\"flat\\")' in source
    assert 'k.kmem_cache_create(\\"my_conn\\", 200)' in source
    assert "range(50)" in source and slab.CONNS == 50


def test_a_page_for_200_bytes_wastes_95_percent(lesson):
    _, printed, _ = lesson
    assert "get_order(200) = 0: a 4096-byte page for 200 bytes, 3896 wasted (95%)" in printed


def test_the_stated_cache_geometry(lesson):
    namespace, _, text = lesson
    conn = slab.lesson_kernel().kmem_cache_create("my_conn", 200)
    assert (conn.objects, conn.order, 4096 - conn.objects * conn.size) == (20, 0, 96)
    assert "One page, 20 slots of 200 bytes, and 96 bytes at the end" in text
    request = namespace["request_cache"]
    assert (request.size, request.objects, request.order) == (704, 23, 2)
    assert (4096 // 704, 8192 // 704, 16384 - 23 * 704) == (5, 11, 192)
    assert "One page would hold 5 and two pages 11" in text
    assert "23 objects, 192 bytes left over" in text


def test_after_50_allocations_two_slabs_are_full_and_one_partial():
    _, cache, _ = slab.conn_machine()
    states = sorted(s.state for s in cache.slabs)
    assert states == ["full", "full", "partial"]
    assert cache.cpu_slab.state == "partial" and len(cache.cpu_slab.freelist) == 10


def test_the_slabinfo_line_the_table_reads(lesson):
    _, printed, text = lesson
    line = next(line for line in printed.splitlines() if line.startswith("my_conn "))
    fields = line.split()
    assert fields[1:6] == ["60", "60", "200", "20", "1"]
    assert fields[7:11] == ["tunables", "0", "0", "0"]
    assert fields[12:] == ["slabdata", "3", "3", "0"]
    for row in ("| `active_objs` | 60 |", "| `num_objs` | 60 |", "| `objsize` | 200 |",
                "| `objperslab` | 20 |", "| `slabdata` | 3 3 0 |"):  # fmt: skip
        assert row in text
    assert 'So `active_objs` is not "objects in use": 50 are.' in text


def test_freeing_keeps_three_empty_slabs_and_300_objects_fill_15(lesson):
    _, printed, text = lesson
    assert "slabs: ['empty', 'empty', 'empty']" in printed
    assert "300 objects in 15 slabs" in printed
    assert "Three empty slabs, and not one page went back" in text
    assert "(the cache's `min_partial`: 5 here" in text
    cache = slab.lesson_kernel().kmem_cache_create("my_conn", 200)
    assert cache.min_partial == 5 and cache.cpu_partial_slabs == 12
    assert "12 for `my_conn`" in text and "240 / 20" in text
    returned = [line for line in printed.splitlines() if "SlabFreed(" in line]
    assert len(returned) == 7 and "7 emptied slabs went back" in printed
    assert "the first 5 stayed (`min_partial`) and the other 7 went back" in text
    assert "The first 12 slabs to get an object back" in text


def test_the_size_classes_and_the_waste_of_the_mix(lesson):
    namespace, printed, text = lesson
    k = namespace["k"]
    assert "kmalloc( 100) gets a  128-byte slot" in printed
    assert "8, 16, 32, 64, **96**, 128, **192**, 256, 512 bytes, 1k, 2k, 4k, 8k" in text
    assert k.kmalloc_size_roundup(700) == 1024
    assert "they take 1024-byte slots of kmalloc-1k" in text
    assert "kmalloc-1k   asked   2800 B, got   4096 B" in printed
    assert "my_request` had 704-byte slots" in text


def test_the_large_kmalloc_and_where_it_sits(lesson):
    namespace, printed, text = lesson
    k, big = namespace["k"], namespace["big"]
    assert "ksize(big) = 32768: 12768 bytes wasted" in printed
    assert "`get_order(20000)` = 3, eight pages with `__GFP_COMP`" in text
    assert "12768 of the 32768 bytes are wasted" in text
    history = list(k.history)
    large = next(
        i for i, e in enumerate(history)
        if isinstance(e, events.ObjectAllocated) and e.bytes_req == 20000
    )  # fmt: skip
    pages = history[large - 1]
    assert isinstance(pages, events.PagesAllocated)
    assert (pages.order, pages.gfp) == (3, GFP_KERNEL | __GFP_COMP)
    assert (k.kmalloc_cache("kmalloc-1k").order, k.kmalloc_cache("kmalloc-4k").order) == (2, 3)
    assert "the kmalloc-1k slabs are order 2 here, kmalloc-4k order 3" in text
    first = namespace["first"]
    pfn_of = lambda addr: k.virt_to_phys(addr) >> 12  # noqa: E731
    inside = [pfn_of(a) for a in namespace["buffers"]] + [pfn_of(big)]
    assert all(first <= pfn < first + 256 for pfn in inside)


def test_the_double_free_reports(lesson):
    namespace, printed, text = lesson
    assert "kernel BUG at mm/slub.c:419!" in printed
    assert "BUG kmalloc-128 (Not tainted): Object already free" in printed
    assert "=" * 77 in printed and "FIX kmalloc-128: Object at 0x" in printed
    assert "objects=21 used=0" in printed and " 6b 6b " in printed
    cache = namespace["dbg"].kmalloc_cache("kmalloc-128")
    assert (cache.size, cache.objects, cache.order) == (384, 21, 1)
    assert "a 128-byte object takes a 384-byte slot" in text
    assert "only 21 fit in two pages" in text


def test_the_report_walk_through_names_the_lines_slub_debug_prints(lesson):
    _, printed, text = lesson
    for printed_part, told in (
        ("Allocated in lesson_init+", "`Allocated in lesson_init+… age=0 cpu=0 pid=1234`"),
        ("@offset=128 ", "`Object 0x… @offset=128`"),
        ("Redzone  ", "(`Redzone`, all `bb`"),
        (" 6b a5  kkkkkkkkkkkkkkk.", "its last byte `a5`"),
        ("Padding  ", "the `Padding` (`5a`, `Z`)"),
        ("Disabling lock debugging due to kernel taint", "`Disabling lock debugging"),
    ):
        assert printed_part in printed and told in text, (printed_part, told)


def test_the_double_free_after_a_reuse_is_reported_only_at_the_new_owners_free(lesson):
    _, printed, text = lesson
    assert "the same object: True" in printed
    assert "lines logged by the second kfree(p): 0" in printed
    assert printed.count("BUG kmalloc-128 (Tainted: G    B") == 1
    assert "The second `kfree(p)` printed nothing" in text


def test_the_red_zone_and_poison_findings_the_lesson_names(lesson):
    _, _, text = lesson
    assert "(`dbg.memset(p + 128, 0, 1)`) is `Right Redzone overwritten` at its `kfree()`" in text
    dbg = Kernel(mem="256MiB", seed=0, slub_debug=True, memory_map="flat")
    p = dbg.kmalloc(100, "GFP_KERNEL")
    dbg.memset(p + 128, 0, 1)
    dbg.kfree(p)
    assert "BUG kmalloc-128 (Not tainted): Right Redzone overwritten" in dbg.dmesg()
    dbg.kfree(p)  # SLUB kept p allocated and restored its red zone: this free passes
    dbg.memset(p, 0, 1)
    dbg.kmalloc(100, "GFP_KERNEL")
    assert "Poison overwritten" in dbg.dmesg()


def test_slub_debug_is_what_the_lesson_boots():
    dbg = Kernel(mem="256MiB", seed=0, slub_debug=True, memory_map="flat")
    assert dbg.kmalloc_cache("kmalloc-128").debug


def test_kmalloc_zero_returns_zero_size_ptr():
    question = slab.kmalloc_zero()
    assert question.answer == "0x10"
    assert question.check("0x10").correct and question.check(16).correct
    assert "not NULL" in question.check("NULL").message
    assert "not NULL" in question.check(0).message
    assert "no cache has a 0-byte class" in question.check("0xffff888003000000").message
    assert "ZERO_SIZE_PTR, ((void *)16)" in question.why


def test_kmalloc_zero_and_kfree_null_as_the_lesson_shows(lesson):
    namespace, printed, text = lesson
    k = namespace["k"]
    assert f"kmalloc(0) = {ZERO_SIZE_PTR:#x}, ZERO_SIZE_PTR = 0x10, ksize(empty) = 0" in printed
    assert "ptr=16, cache='')" in printed and "ptr=0, cache='')" in printed
    assert "`ZERO_SIZE_PTR` is `((void *)16)`" in text and "`ksize()` says 0" in text
    assert k.kmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR


def test_kvmalloc_takes_kmalloc_then_vmalloc_as_the_lesson_says(lesson):
    _, printed, text = lesson
    small = next(line for line in printed.splitlines() if line.startswith("kvmalloc(64 KiB)"))
    large = next(line for line in printed.splitlines() if line.startswith("kvmalloc(8192 KiB)"))
    assert small.endswith("kmalloc, direct map") and large.endswith("vmalloc")
    assert get_order(64 << 10) == 4 and "an order-4 block" in text
    assert (8 << 20) > KMALLOC_MAX_SIZE == 4 << 20 and "4 MiB (order 10)" in text
    assert KMALLOC_MAX_CACHE_SIZE == 8192 and "8 KiB with SLUB" in text
    k = slab.lesson_kernel()
    before = len(k.dmesg().splitlines())
    k.kvmalloc(8 << 20, GFP_KERNEL)
    assert "WARNING" not in "\n".join(k.dmesg().splitlines()[before:])  # "without a warning"
    assert "without a warning" in text
