"""The slab view shows, in its synced table, slab picture, size classes and story, the timeline."""

import html
import re
import struct
import zlib

import numpy as np
import pytest
from traitlets import TraitError

from kmviz import GFP_KERNEL, PAGE_OFFSET, PAGE_SHIFT, Kernel
from kmviz.engine.events import ObjectAllocated, SlabCreated
from kmviz.widgets import theme
from kmviz.widgets.png import SIGNATURE
from kmviz.widgets.slab import (
    CLASS_COLOUR,
    EVENT_SLOT,
    FREE_SLOT,
    RULER,
    RULER_START,
    USED_SLOT,
    SlabView,
    kmalloc_arithmetic,
    tile_shape,
)
from kmviz.widgets.timeline import KMALLOC_LARGE, SLAB, Timeline


def pixels(png) -> np.ndarray:
    """The palette indices of a palette PNG as the browser receives it."""
    png = bytes(png)
    assert png.startswith(SIGNATURE)
    chunks, at = {}, len(SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        chunks[png[at + 4 : at + 8]] = png[at + 8 : at + 8 + length]
        at += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    return rows.reshape(height, width + 1)[:, 1:]


def table_rows(view: SlabView) -> dict[str, list[str]]:
    """The cache table as the browser receives it: cache name -> its cells' text."""
    rows = {}
    for row in re.findall(r'<tr class="kmviz-slab-row.*?</tr>', view.table.value):
        cells = [
            re.sub(r"<[^>]*>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def picture(view: SlabView) -> tuple:
    """Everything the view has synced to the browser, comparable with ==."""
    return (
        view.cache_box.value,
        list(view.cache_box.options),
        view.table.value,
        view.slab_caption.value,
        bytes(view.slab_image.value),
        view.story.value,
        view.ruler.title,
        list(view.classes.fill_colors),
        view.request.x.tolist(),
        list(view.request.opacities),
        view.request_label.text.tolist(),
    )


@pytest.fixture
def kernel():
    return Kernel("64MiB", seed=1, memory_map="flat")


def test_slabinfo_text_matches_proc_slabinfo_at_head(kernel):
    view = SlabView(kernel)
    objects = [kernel.kmalloc(size, GFP_KERNEL) for size in (100, 300, 64, 100, 5000) * 30]
    for addr in objects[::4]:
        kernel.kfree(addr)
    cache = kernel.kmem_cache_create("lesson_cache", 200)
    kernel.kmem_cache_alloc(cache, GFP_KERNEL)
    assert view.slabinfo_text() == kernel.cat("/proc/slabinfo")
    view.slabinfo_box.selected_index = 0  # opening the accordion shows the text
    assert html.escape(kernel.cat("/proc/slabinfo")) in view.slabinfo.value


def test_active_objs_counts_the_free_slots_of_the_active_slab(kernel):
    view = SlabView(kernel)
    kernel.kfree(kernel.kmalloc(100, GFP_KERNEL))
    row = next(row for row in view.cache_rows() if row.name == "kmalloc-128")
    assert (row.in_use, row.active_objs, row.num_objs, row.num_slabs) == (0, 32, 32, 1)
    assert table_rows(view)["kmalloc-128"] == ["32", "32", "128", "32", "1", "1", "0", "4 KiB"]


def test_table_lists_caches_in_use_unless_all_are_asked_for(kernel):
    view = SlabView(kernel)
    kernel.kmalloc(100, GFP_KERNEL)
    kernel.kmalloc(3000, GFP_KERNEL)
    listed = [row.name for row in view.listed_rows(view.cache_rows())]
    assert listed == ["kmalloc-4k", "kmalloc-128"]  # newest first, as /proc/slabinfo
    assert list(table_rows(view)) == ["kmalloc-4k", "kmalloc-128"]
    view.all_box.value = True
    assert view.show_all and table_rows(view)["kmalloc-64"][:3] == ["0", "0", "64"]
    view.sort_box.value = "memory"
    rows = view.listed_rows(view.cache_rows())
    assert rows[0].name == "kmalloc-4k" and rows[0].pages == 8
    assert [row.pages for row in rows] == sorted((row.pages for row in rows), reverse=True)


def test_kmalloc_picks_its_size_class_and_shows_the_waste(kernel):
    view = SlabView(kernel)
    view.cache = "kmalloc-8"
    addr = kernel.kmalloc(100, GFP_KERNEL)
    assert view.cache == "kmalloc-128" and view.cache_box.value == "kmalloc-128"
    fills = view.classes.fill_colors
    assert fills[RULER.index(128)] == theme.OWNER_COLOURS[SLAB]
    assert fills.count(CLASS_COLOUR) == len(RULER) - 1
    request, waste = view.request.x.tolist()
    assert (request[0], request[1]) == (RULER_START, 100)
    assert (waste[0], waste[1]) == (100, 128)
    assert view.request_label.text.tolist() == ["asked 100 B, got 128 B, 28 B wasted"]
    story = view.story.value
    assert "size_index[(100 - 1) / 8] = size_index[12] = 7" in story
    assert "kmalloc_caches[KMALLOC_NORMAL][7]</code> = kmalloc-128" in story
    slot = (addr - PAGE_OFFSET - (view.timeline.slabs_of("kmalloc-128")[0].pfn << 12)) // 128
    assert f"took slot {slot} of the slab" in story
    assert "28 wasted (21.9 %)" in story
    assert kmalloc_arithmetic(300) == "fls(300 - 1) = 9"


def test_large_kmalloc_goes_to_the_page_allocator_with_its_order(kernel):
    view = SlabView(kernel)
    kernel.kmalloc(20000, GFP_KERNEL)
    event = view.timeline.current
    assert isinstance(event, ObjectAllocated) and event.cache == ""
    assert view.classes.fill_colors[RULER.index(32768)] == theme.OWNER_COLOURS[KMALLOC_LARGE]
    assert "get_order(20000) = 3</code>: 8 pages = 32768 bytes" in view.story.value
    assert "12768 bytes wasted" in view.story.value
    assert view.ruler.title == "kmalloc(20000) → the page allocator (this step)"


def test_slab_picture_marks_used_free_and_this_steps_slots(kernel):
    view = SlabView(kernel)
    objects = [kernel.kmalloc(100, GFP_KERNEL) for _ in range(5)]
    kernel.kfree(objects[1])
    shown = pixels(view.slab_image.value)
    columns, _ = tile_shape(32)  # kmalloc-128: 32 objects per slab, in 8 columns of 12 px
    cell = 96 // columns - 1  # the painted part of a cell, one pixel is the gap
    assert np.count_nonzero(shown == USED_SLOT) == 4 * cell * cell
    assert np.count_nonzero(shown == EVENT_SLOT) == cell * cell  # the slot kfree() returned
    assert np.count_nonzero(shown == FREE_SLOT) == (32 - 5) * cell * cell
    caption = view.slab_caption.value
    assert "1 slab (0 full, 1 partial, 0 empty)" in caption
    assert "pfn 0x" in caption and "4/32 objects in use" in caption


def test_the_cap_on_slabs_drawn_is_said(kernel):
    view = SlabView(kernel)
    for _ in range(5 * 64):
        kernel.kmalloc(64, GFP_KERNEL)
    assert len(view.timeline.slabs_of("kmalloc-64")) == 5
    view.max_box.value = 2
    assert view.max_slabs == 2
    assert "Drawing 2 of 5 slabs" in view.slab_caption.value
    assert len(view.drawn_slabs()[0]) == 2


def test_bad_control_input_gives_a_clear_message_and_changes_nothing(kernel):
    view = SlabView(kernel)
    kernel.kmalloc(100, GFP_KERNEL)
    shown = picture(view)
    view.max_box.value = 0
    assert "slabs drawn must be 1..1024, not 0" in view.status.value
    assert (view.max_slabs, view.max_box.value) == (64, 64)
    assert picture(view) == shown
    with pytest.raises(TraitError, match="this kernel has no slab cache called 'nope'"):
        view.cache = "nope"
    assert view.cache == "kmalloc-128"


def test_slab_events_select_their_cache_unless_following_is_off(kernel):
    view = SlabView(kernel)
    kernel.kmalloc(100, GFP_KERNEL)
    view.follow_box.value = False
    kernel.kmalloc(300, GFP_KERNEL)
    assert view.cache == "kmalloc-128"
    view.follow_events = True
    kernel.kmalloc(300, GFP_KERNEL)
    assert view.cache == "kmalloc-512"
    kernel.kfree(kernel.kmalloc(30, GFP_KERNEL))  # kfree names no cache: found by address
    assert view.cache == "kmalloc-32"
    assert "puts slot 0 back on its freelist" in view.story.value


def test_new_slab_story_names_allocate_slab(kernel):
    view = SlabView(kernel)
    start = view.timeline.length
    kernel.kmalloc(700, GFP_KERNEL)
    created = next(
        i for i, e in enumerate(kernel.history[start:], start) if isinstance(e, SlabCreated)
    )
    view.timeline.seek(created + 1)
    assert view.cache == "kmalloc-1k"
    assert "allocate_slab()" in view.story.value and "cut them into 16 slots" in view.story.value


def test_fresh_view_shows_what_a_stepped_view_shows_at_every_position(kernel):
    timeline = Timeline.of(kernel)
    view = SlabView(timeline)
    start = timeline.length
    objects = [kernel.kmalloc(size, GFP_KERNEL) for size in (100, 20000, 100, 300) * 12]
    for addr in objects[::3]:
        kernel.kfree(addr)
    end = timeline.length
    positions = [*range(start, end + 1, 3), *range(end, start - 1, -5), 0, end]
    for position in positions:
        timeline.seek(position)
        fresh_timeline = Timeline(kernel)
        fresh_timeline.seek(position)
        fresh = SlabView(fresh_timeline)
        fresh.cache = view.cache  # the same UI choice
        assert picture(fresh) == picture(view), position


def test_pfn_of_an_object_is_in_the_slab_the_view_draws(kernel):
    view = SlabView(kernel)
    addr = kernel.kmalloc(100, GFP_KERNEL)
    slabs, active, total = view.drawn_slabs()
    assert total == 1 and slabs == [active]
    assert active.pfn == (addr - PAGE_OFFSET) >> PAGE_SHIFT
    assert f"tile pfns: {active.pfn:#x}" in view.slab_caption.value


def test_frees_that_give_no_slot_back_say_what_happened(kernel):
    view = SlabView(kernel)
    kernel.kfree(0)
    assert "of NULL or ZERO_SIZE_PTR does nothing" in view.story.value
    big = kernel.kmalloc(20000, GFP_KERNEL)
    start = view.timeline.length
    kernel.kfree(big)
    view.timeline.seek(start + 1)  # the kfree, before its pages go back
    assert "a large kmalloc, so <code>free_large_kmalloc()</code>" in view.story.value
    view.timeline.seek(view.timeline.length)
    addr = kernel.kmalloc(100, GFP_KERNEL)
    kernel.kmalloc(100, GFP_KERNEL)
    kernel.kfree(addr)
    start = view.timeline.length
    kernel.kfree(addr)  # a double free: SLUB's BUG_ON(object == fp)
    view.timeline.seek(start + 1)
    assert "The kernel objected</b> (next steps): kernel BUG at mm/slub.c:419!" in (
        view.story.value
    )


def test_choices_given_to_the_constructor_apply_to_the_built_view():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    k.kmalloc(100, GFP_KERNEL)
    view = SlabView(k, sort_by="memory", show_all=True, max_slabs=3, cache="kmalloc-128")
    assert (view.sort_by, view.show_all, view.max_slabs, view.cache) == (
        "memory",
        True,
        3,
        "kmalloc-128",
    )
    assert view.sort_box.value == "memory" and view.all_box.value


def test_a_merged_cache_shows_its_aliases_and_no_row_of_their_own(kernel):
    view = SlabView(kernel)
    cache = kernel.kmem_cache_create("my_obj", 64)
    kernel.kmem_cache_create("my_other", 64)
    kernel.kmem_cache_alloc(cache, GFP_KERNEL)
    rows = {row.name: row for row in view.cache_rows()}
    assert rows["my_obj"].aliases == ("my_other",) and "my_other" not in rows
    assert "(+1 merged)" in view.table_html(view.cache_rows())


def test_a_booted_machines_caches_read_as_its_slabinfo():
    booted = Kernel(mem="256MiB", boot_caches=True, memory_map="flat")
    view = SlabView(booted)
    view.all_box.value = True
    rows = [row.slabinfo_line() for row in view.listed_rows(view.cache_rows())]
    assert "".join(rows) == booted.cat("/proc/slabinfo").split("\n", 2)[2]


def test_the_slabs_come_before_the_size_class_ruler(kernel):
    view = SlabView(kernel)
    assert view.children.index(view.slab_image) < view.children.index(view.ruler)


@pytest.mark.parametrize("table", ["table", "slabinfo"])
def test_a_long_cache_table_scrolls_inside_the_view(kernel, table):
    layout = getattr(SlabView(kernel), table).layout
    assert (layout.max_height, layout.overflow) == (theme.SCROLL_HEIGHT, "auto")
