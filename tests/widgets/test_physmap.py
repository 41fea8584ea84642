"""The physical memory map shows, in its synced PNG, outlines and HTML, what the timeline holds."""

import struct
import zlib

import numpy as np
import pytest
from traitlets import TraitError

from kmviz import GFP_KERNEL, PAGE_OFFSET, PAGE_SHIFT, Kernel
from kmviz.engine.events import BuddiesMerged, LruPagesAdded, PagesAllocated
from kmviz.widgets import theme
from kmviz.widgets.physmap import (
    MIN_SPAN,
    PRIORITY,
    Fold,
    PhysMap,
    event_ranges,
    fold,
)
from kmviz.widgets.png import SIGNATURE, palette_png
from kmviz.widgets.timeline import (
    NUM_CODES,
    PAGES,
    SLAB,
    Timeline,
)


def decode(png) -> tuple[np.ndarray, bytes, tuple]:
    """Pixels, palette and IHDR fields of a PNG, checking every chunk's CRC."""
    png = bytes(png)
    assert png.startswith(SIGNATURE)
    chunks: dict[bytes, bytes] = {}
    at = len(SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        chunks[kind] = chunks.get(kind, b"") + data
        at += 12 + length
    header = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    width, height = header[:2]
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = rows.reshape(height, width + 1)
    assert not rows[:, 0].any()  # filter type 0 on every row
    return rows[:, 1:], chunks[b"PLTE"], header


def shown(view: PhysMap) -> np.ndarray:
    """The frame code of every cell, row-major, as the browser receives it."""
    return decode(view.map.image.value)[0].ravel()


def code_on_map(view: PhysMap, pfn: int) -> int:
    return int(shown(view)[fold(*view.window).cell_of(pfn)])


def pfn_of(addr: int) -> int:
    return (addr - PAGE_OFFSET) >> PAGE_SHIFT


def synced(view: PhysMap) -> tuple:
    """Everything the view sends that depends on the timeline's position."""
    return (
        view.map.image.value,
        view.event_outline.x.tolist(),
        view.event_outline.y.tolist(),
        view.selection_outline.x.tolist(),
        view.inspector.value,
        view.caption.value,
        view.zone_labels.text.tolist(),
    )


def test_png_is_a_palette_image_of_one_byte_a_cell_in_the_theme_colours():
    cells = np.arange(24, dtype=np.uint8).reshape(4, 6) % NUM_CODES
    pixels, plte, header = decode(palette_png(cells, theme.code_palette()))
    assert header == (6, 4, 8, 3, 0, 0, 0)  # width, height, 8 bits, colour type 3 (palette)
    assert plte == theme.code_palette().tobytes()
    assert (pixels == cells).all()


def test_png_refuses_what_is_not_a_grid_of_bytes():
    with pytest.raises(ValueError, match="2-D uint8"):
        palette_png(np.zeros(8, dtype=np.uint8), theme.code_palette())
    with pytest.raises(ValueError, match="RGB"):
        palette_png(np.zeros((2, 2), dtype=np.uint8), np.zeros((2, 4), dtype=np.uint8))


def test_a_cell_is_an_aligned_power_of_two_block_and_16gib_folds_into_512_by_256():
    assert fold(0, 4 << 20) == Fold(start=0, per_cell=32, columns=512, rows=256)
    assert fold(0, 256) == Fold(start=0, per_cell=1, columns=32, rows=8)
    f = fold(1000, 1_000_000)
    assert f.per_cell == 8 and f.start == 1000 - 1000 % 8 and f.stop >= 1_000_000
    assert f.rows <= f.columns // 2  # the 2:1 map keeps its cells square
    assert fold(f.start, f.stop) == f  # folding what is shown shows the same


def test_every_frame_code_has_one_place_in_the_priority():
    assert sorted(PRIORITY) == list(range(NUM_CODES))


def test_event_ranges_are_the_frames_an_event_is_about():
    assert event_ranges(PagesAllocated(pfn=8, order=1, gfp=0, migratetype=0, zone="DMA")) == [
        (8, 10)
    ]
    merged = BuddiesMerged(pfn=10, buddy_pfn=8, order=1, zone="DMA", migratetype=0)
    assert event_ranges(merged) == [(8, 12)]  # 10 & 8 == 8, two order-1 buddies
    assert event_ranges(LruPagesAdded(pfns=(9, 3, 4, 5), lru="file", comm="cat")) == [
        (3, 6),
        (9, 10),
    ]
    assert event_ranges(None) == []


def test_a_small_machine_shows_each_frame_in_its_own_cell():
    k = Kernel("256MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    nr_pfns = view.timeline.nr_pfns
    assert fold(*view.window) == Fold(0, 1, 512, 128)
    assert (shown(view)[:nr_pfns] == view.timeline.frames).all()
    assert "1 cell = 1 frame" in view.caption.value


def test_split_shows_lower_half_taken_and_upper_buddies_free():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    before = len(k.history)
    pfn = pfn_of(k.get_free_pages(GFP_KERNEL, 0))
    splits = [e for e in k.history[before:] if type(e).__name__ == "BlockSplit"]
    assert splits, "a fresh machine splits a large block for one page"
    assert code_on_map(view, pfn) == PAGES
    for split in splits:  # expand(): each upper half went on the free list of order - 1
        assert code_on_map(view, split.buddy_pfn) == split.order - 1
    f = fold(*view.window)
    row, column = divmod(f.cell_of(pfn), f.columns)
    assert view.event_outline.x.tolist()[:4] == [column, column + 1, column + 1, column]
    assert view.event_outline.y.tolist()[:4] == [row, row, row + 1, row + 1]


def test_one_allocated_page_shows_on_the_whole_16gib_map_and_the_inspector_counts_its_cell():
    k = Kernel("16GiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    assert fold(*view.window) == Fold(0, 32, 512, 256)
    assert "1 cell = 32 frames" in view.caption.value
    pfn = pfn_of(k.get_free_pages(GFP_KERNEL, 0))
    # rmqueue_bulk() moved a batch of 63 pages onto CPU 0's list and the allocation took
    # the first: 1 allocated frame beats the 31 on the list
    assert code_on_map(view, pfn) == PAGES
    view.go_to(pfn)
    assert "this cell: 32 frames" in view.inspector.value
    assert (
        "1 page allocator, 31 free, on a per-CPU list; it shows page allocator"
        in view.inspector.value
    )


def test_stepping_back_and_forth_matches_a_fresh_view_at_every_position():
    k = Kernel("1GiB", seed=3, memory_map="flat")
    timeline = Timeline(k)
    first = pfn_of(k.get_free_pages(GFP_KERNEL, 3))
    view = PhysMap(timeline, selected=first)  # 2 frames a cell: cells aggregate
    zoomed = PhysMap(timeline, window=(first - 100, first + 156), selected=first + 8)
    held = [k.kmalloc(size, GFP_KERNEL) for size in (64, 64, 5000, 20000)]
    area = k.vmalloc(6 * 4096)
    k.free_pages(PAGE_OFFSET + (first << PAGE_SHIFT), 3)
    for addr in held:
        k.kfree(addr)
    k.vfree(area)
    end = timeline.length
    timeline.follow = False
    for position in (end - 1, end - 7, 3, end // 2, 0, end - 20, end):
        timeline.seek(position)
        fresh_timeline = Timeline(k)
        fresh_timeline.seek(position)
        for old in (view, zoomed):
            fresh = PhysMap(fresh_timeline, window=old.window, selected=old.selected)
            assert synced(fresh) == synced(old), position


def test_an_event_that_changes_no_frame_sends_no_new_image():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    k.kmalloc(64, GFP_KERNEL)  # may take a new slab: frames change
    picture = view.map.image
    caption = view.caption.value
    k.kmalloc(64, GFP_KERNEL)  # a free slot in the same slab: only ObjectAllocated
    assert view.map.image is picture
    assert view.caption.value != caption  # the event line still moves on


def test_a_new_picture_replaces_the_old_widget_which_is_closed():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    picture = view.map.image
    k.get_free_pages(GFP_KERNEL, 2)
    assert view.map.image is not picture
    assert picture.comm is None  # closed: the browser can drop it


def test_click_inspects_the_frame_that_gives_the_cell_its_colour():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    view = PhysMap(k)  # 2 frames a cell
    lower = k.get_free_pages(GFP_KERNEL, 0)
    pfn = pfn_of(k.get_free_pages(GFP_KERNEL, 0))  # its buddy: lower ^ 1
    k.free_pages(lower, 0)  # the cell now holds a free frame, then the allocated one
    f = fold(*view.window)
    assert pfn % 2 == 1 and code_on_map(view, pfn) == PAGES
    row, column = divmod(f.cell_of(pfn), f.columns)
    click = {"event": "element_click", "data": {"click_x": column + 0.4, "click_y": row + 0.6}}
    view.map._handle_custom_msgs(view.map, click)  # what bqplot's front end sends
    assert view.selected == pfn
    text = view.inspector.value
    assert f"pfn {pfn:#x}" in text
    assert f"physical address {pfn << PAGE_SHIFT:#x}" in text
    assert f"zone {view.timeline.zone_of(pfn)}" in text
    assert "owner: <b>page allocator</b>" in text
    assert f"block: allocated, order 0 at pfn {pfn:#x}" in text
    assert view.selection_outline.x.tolist()[:2] == [column, column + 1]


def test_inspector_shows_a_free_block_its_head_order_and_buddy_arithmetic():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    before = len(k.history)
    k.get_free_pages(GFP_KERNEL, 0)
    split = next(e for e in k.history[before:] if type(e).__name__ == "BlockSplit")
    order = split.order - 1
    upper = split.buddy_pfn  # the free upper half: pfn + (1 << order)
    view.go_to(upper + 1)
    text = view.inspector.value
    assert f"owner: <b>free, order {order}</b>" in text
    assert f"block: free, order {order} at pfn {upper:#x}–{upper + (1 << order) - 1:#x}" in text
    assert f"its buddy: {upper:#x} ^ (1 &lt;&lt; {order}) = {upper ^ (1 << order):#x}" in text


def test_go_to_pfn_accepts_hex_and_decimal_and_brings_the_frame_onto_the_map():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k, window=(0, 256))
    view.goto.value = "0x2000"
    assert view.selected == 0x2000
    lo, hi = view.window
    assert lo <= 0x2000 < hi and hi - lo == 256
    view.goto.value = "12345"
    assert view.selected == 12345
    assert view.message.value == ""


def test_a_pfn_beyond_memory_or_not_a_number_is_refused_with_a_message_and_changes_nothing():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k, selected=0x100)
    before = (view.window, view.selected, view.inspector.value, view.map.image.value)
    view.goto.value = "0x999999"
    assert "beyond this machine" in view.message.value and "0x3fff" in view.message.value
    view.goto.value = "zz"
    assert "not a pfn" in view.message.value
    assert (view.window, view.selected, view.inspector.value, view.map.image.value) == before
    with pytest.raises(TraitError, match="beyond this machine"):
        view.selected = 0x4000
    with pytest.raises(TraitError, match="not a range inside"):
        view.show(0, 0x4001)
    assert view.window == before[0]


def test_zoom_in_reaches_one_frame_a_cell_and_whole_machine_comes_back():
    k = Kernel("1GiB", seed=1, memory_map="flat")
    view = PhysMap(k, selected=0x12345)
    assert fold(*view.window).per_cell == 2
    for _ in range(8):
        view.zoom_in_button.click()
    lo, hi = view.window
    assert hi - lo == MIN_SPAN and lo <= 0x12345 < hi  # zoomed around the inspected frame
    assert fold(lo, hi) == Fold(lo, 1, 32, 8)
    view.zoom_out_button.click()
    assert view.window[1] - view.window[0] == 4 * MIN_SPAN
    view.whole_button.click()
    assert view.window == (0, view.timeline.nr_pfns)


def test_pan_moves_by_one_window_and_stops_at_the_ends():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k, window=(0, 1024))
    view.higher_button.click()
    assert view.window == (1024, 2048)
    view.lower_button.click()
    view.lower_button.click()
    assert view.window == (0, 1024)


def test_dragging_a_brush_zooms_to_the_frames_from_its_first_cell_to_its_last():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    assert fold(*view.window) == Fold(0, 1, 256, 64)
    view.mode.value = "zoom"
    assert view.figure.interaction is view.brush
    view.brush.brushing = True
    view.brush.selected_x, view.brush.selected_y = [255.9, 0.1], [5.5, 2.5]
    view.brush.brushing = False
    assert view.window == (2 * 256, 6 * 256)  # rows 2..5, whole rows
    assert view.brush.selected_x is None  # the brush is cleared for the next drag
    view.mode.value = "inspect"
    assert view.figure.interaction is None


def test_zone_boundaries_are_drawn_where_each_zone_starts_and_labelled():
    k = Kernel("256MiB", seed=1, memory_map="flat")
    view = PhysMap(k)  # 512 frames a row: DMA32 starts at pfn 0x1000, the top of row 8
    assert view.zone_labels.text.tolist() == ["DMA (0x1)", "DMA32 (0x1000)"]
    assert view.zone_labels.colors == [theme.ZONE_COLOURS["DMA"], theme.ZONE_COLOURS["DMA32"]]
    dma32 = view.zone_lines.y.tolist()[1]
    assert dma32[:4] == [8, 8, 8, 8] and view.zone_lines.x.tolist()[1][3] == 512
    view.show(0x2000, 0x3000)  # inside DMA32: its name, no boundary
    assert view.zone_labels.text.tolist() == ["DMA32"]
    assert view.zone_lines.x.size == 0


def test_the_current_event_is_outlined_across_the_rows_it_folds_into():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    head = pfn_of(k.get_free_pages(GFP_KERNEL, 6))  # 64 frames
    view.show(head - 16, head + 240)  # 32 a row: the block is 16 + 32 + 16 cells
    assert fold(*view.window) == Fold(head - 16, 1, 32, 8)
    assert list(zip(view.event_outline.x.tolist(), view.event_outline.y.tolist(), strict=True)) == [
        (16, 0), (32, 0), (32, 2), (16, 2), (16, 3), (0, 3), (0, 1), (16, 1), (16, 0),
    ]  # fmt: skip


def test_a_slab_shows_in_the_slab_colour_and_the_inspector_names_its_cache():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    pfn = pfn_of(k.kmalloc(1000, GFP_KERNEL))
    assert code_on_map(view, pfn) == SLAB
    view.go_to(pfn)
    assert "owner: <b>slab kmalloc-1k</b>" in view.inspector.value


def test_a_closed_view_no_longer_follows_the_timeline():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    view = PhysMap(k)
    caption = view.caption.value
    view.close()
    k.get_free_pages(GFP_KERNEL, 0)
    assert view.caption.value == caption
