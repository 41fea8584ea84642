"""The buddy view shows, in its synced bars, text, tree and story, what the timeline holds."""

import html

import numpy as np
import pytest
from traitlets import TraitError

from kmviz import GFP_KERNEL, PAGE_OFFSET, PAGE_SHIFT, Kernel
from kmviz.engine.events import (
    BlockSplit,
    BuddiesMerged,
    PagesAllocated,
    PagesAllocatedInBulk,
    PagesFreed,
    PcpPagesDrained,
)
from kmviz.engine.procfs import buddyinfo_line
from kmviz.widgets import theme
from kmviz.widgets.buddy import (
    BLOCK,
    TAKEN_COLOUR,
    BuddyView,
    parse_pfn,
    slot_of,
)
from kmviz.widgets.timeline import PAGES, SLAB, Timeline


def pfn_of(addr: int) -> int:
    return (addr - PAGE_OFFSET) >> PAGE_SHIFT


def picture(view: BuddyView) -> tuple:
    """Everything the view has synced to the browser, comparable with ==."""
    scale = view.tree.scales["x"]
    return (
        [bars.y.tolist() for bars in view.zone_bars],
        view.buddyinfo.value,
        view.tree.x.tolist(),
        view.tree.y.tolist(),
        list(view.tree.fill_colors),
        list(view.tree.fill_opacities),
        view.labels.text.tolist(),
        view.labels.x.tolist(),
        view.highlight.x.tolist(),
        view.highlight.y.tolist(),
        (scale.min, scale.max),
        view.x_axis.label,
        view.story.value,
    )


def rect_of(view: BuddyView, slot: int) -> tuple[list, list]:
    return view.tree.x[slot].tolist(), view.tree.y[slot].tolist()


@pytest.fixture
def kernel():
    return Kernel("64MiB", seed=1, memory_map="flat")


def test_buddyinfo_text_matches_proc_buddyinfo_at_head(kernel):
    view = BuddyView(kernel)
    kernel.__get_free_pages(GFP_KERNEL, 3)
    kernel.kmalloc(100, GFP_KERNEL)
    assert view.buddyinfo_text() == kernel.cat("/proc/buddyinfo")
    assert html.escape(kernel.cat("/proc/buddyinfo")) in view.buddyinfo.value


def test_bars_hold_each_zones_free_block_counts(kernel):
    view = BuddyView(kernel)
    kernel.__get_free_pages(GFP_KERNEL, 0)
    for index, zone in enumerate(kernel.zones):
        assert view.zone_bars[index].y.tolist() == [float(n) for n in zone.nr_free]
    assert [bars.y.tolist() for bars in view.zone_bars] == view.timeline.nr_free.tolist()


def test_buddyinfo_at_an_earlier_position_is_what_the_kernel_printed_then(kernel):
    view = BuddyView(kernel)
    before, text_before = view.timeline.length, kernel.cat("/proc/buddyinfo")
    kernel.__get_free_pages(GFP_KERNEL, 2)
    assert view.buddyinfo_text() != text_before
    view.timeline.seek(before)
    assert view.buddyinfo_text() == text_before
    first = view.timeline.zones[0][0]
    line = buddyinfo_line(first, view.timeline.nr_free[0])
    assert line.startswith(f"Node 0, zone {first:>8} ") and line.endswith(" \n")


def test_split_shows_lower_half_taken_and_upper_buddy_free(kernel):
    view = BuddyView(kernel)
    timeline = view.timeline
    start = timeline.length
    kernel.__get_free_pages(GFP_KERNEL, 0)
    events = timeline.kernel.history[start : timeline.length]
    first = next(i for i, e in enumerate(events) if isinstance(e, BlockSplit))
    split = events[first]
    assert split.order == 10
    timeline.seek(start + first)  # just before the split: the order-10 block is whole
    assert "<code>__rmqueue_fallback()</code>" in view.story.value  # stolen from Movable
    assert view.tree.fill_colors[0] == theme.ORDER_COLOURS[10]
    whole = rect_of(view, 0)
    assert rect_of(view, slot_of(9, False))[0] == whole[0]  # halves folded into the block

    timeline.step(1)  # the split
    lower, upper = slot_of(9, False), slot_of(9, True)
    assert view.tree.fill_opacities[0] == 0.0  # split: outline only
    assert view.tree.fill_colors[lower] == TAKEN_COLOUR
    assert view.tree.fill_colors[upper] == theme.ORDER_COLOURS[9]
    root = split.pfn  # an order-10 block: the tree is drawn in its pfns
    assert rect_of(view, lower)[0] == [root, root + 512, root + 512, root, root]
    assert rect_of(view, upper)[0] == [root + 512, root + 1024, root + 1024, root + 512, root + 512]
    assert view.x_axis.tick_format == "#x"  # the axis reads pfns as the story writes them
    story = view.story.value
    assert "expand()" in story
    assert (
        f"buddy = pfn + (1 &lt;&lt; (order - 1)) = {split.pfn:#x} + 0x200 = "
        f"{split.pfn + 512:#x}" in story
    )

    timeline.step(1)  # the lower half splits again; the upper order-9 buddy stays free
    assert view.tree.fill_opacities[lower] == 0.0
    assert view.tree.fill_colors[slot_of(8, False)] == TAKEN_COLOUR
    assert view.tree.fill_colors[slot_of(8, True)] == theme.ORDER_COLOURS[8]
    assert view.tree.fill_colors[upper] == theme.ORDER_COLOURS[9]


def test_the_story_of_a_bulk_page_names_the_bulk_allocator_and_no_tracepoint(kernel):
    view = BuddyView(kernel)
    before = len(kernel.history)
    kernel.vmalloc(4 * 4096)
    events = kernel.history.since(before)
    last = max(i for i, e in enumerate(events) if isinstance(e, PagesAllocatedInBulk))
    view.timeline.seek(before + last + 1)  # the area's last page
    assert isinstance(view.timeline.current, PagesAllocatedInBulk)
    assert "<code>__alloc_pages_bulk()</code>" in view.story.value
    assert "no <code>mm_page_alloc</code>" in view.story.value


def test_allocated_block_is_coloured_by_owner_and_outlined(kernel):
    view = BuddyView(kernel)
    addr = kernel.__get_free_pages(GFP_KERNEL, 0)
    pfn = pfn_of(addr)
    assert isinstance(view.timeline.current, PagesAllocated)
    leaf = slot_of(0, pfn & 1 == 1)
    assert view.tree.fill_colors[leaf] == theme.OWNER_COLOURS[PAGES]
    assert view.tree.fill_colors[slot_of(0, pfn & 1 == 0)] == theme.ORDER_COLOURS[0]
    assert view.highlight.x.tolist() == [pfn, pfn + 1, pfn + 1, pfn, pfn]
    assert "split it 10 times" in view.story.value
    assert f"= {addr:#x}</code>" in view.story.value


def test_merge_shows_the_buddy_arithmetic_and_joins_the_buddies(kernel):
    view = BuddyView(kernel)
    timeline = view.timeline
    addr = kernel.__get_free_pages(GFP_KERNEL, 0)
    start = timeline.length
    kernel.free_pages(addr, 0)  # onto CPU 0's per-CPU list: no merging yet
    assert "Freed to a per-CPU list" in view.story.value
    kernel.drain_all_pages()  # now to the buddy, where it merges
    events = timeline.kernel.history[start : timeline.length]
    assert [type(e) for e in events[:2]] == [PagesFreed, PcpPagesDrained]
    merges = [e for e in events if isinstance(e, BuddiesMerged)]
    assert [m.order for m in merges] == list(range(10))

    timeline.seek(start + 2)  # drained: the block and its buddy are two free order-0 pages
    pfn = events[0].pfn
    assert view.tree.fill_colors[slot_of(0, False)] == theme.ORDER_COLOURS[0]
    assert view.tree.fill_colors[slot_of(0, True)] == theme.ORDER_COLOURS[0]
    assert f"{pfn:#x} ^ 0x1 = {pfn ^ 1:#x}" in view.story.value
    assert "they merge next" in view.story.value

    timeline.step(1)  # the first merge: one order-1 block; the order-0 halves fold into it
    merge = merges[0]
    assert (
        f"buddy_pfn = pfn ^ (1 &lt;&lt; order) = {merge.pfn:#x} ^ 0x1 = {merge.buddy_pfn:#x}; "
        f"merged block starts at pfn &amp; buddy_pfn = {merge.merged_pfn:#x}" in view.story.value
    )
    leaf = slot_of(1, merge.merged_pfn & 2 == 2)
    assert view.tree.fill_colors[leaf] == theme.ORDER_COLOURS[1]
    assert rect_of(view, slot_of(0, False)) == rect_of(view, leaf)
    assert rect_of(view, slot_of(0, True)) == rect_of(view, leaf)

    timeline.seek(start + len(events))  # the last merge reaches order 10
    assert view.tree.fill_colors[0] == theme.ORDER_COLOURS[10]
    assert "Order 10 is the largest" in view.story.value


def test_free_next_to_an_allocated_buddy_does_not_merge(kernel):
    view = BuddyView(kernel)
    first = kernel.__get_free_pages(GFP_KERNEL, 0)
    second = kernel.__get_free_pages(GFP_KERNEL, 0)
    assert pfn_of(second) == pfn_of(first) ^ 1  # the two halves of one order-1 block
    kernel.free_pages(first, 0)
    assert isinstance(view.timeline.current, PagesFreed)
    kernel.drain_all_pages()
    assert isinstance(view.timeline.current, PcpPagesDrained)
    assert f"Its buddy {pfn_of(second):#x} is not a free order-0 block" in view.story.value
    assert "page allocator" in view.story.value


def test_fresh_view_shows_what_a_stepped_view_shows_at_every_position(kernel):
    timeline = Timeline.of(kernel)
    view = BuddyView(timeline)
    start = timeline.length
    addr = kernel.__get_free_pages(GFP_KERNEL, 1)
    kernel.kmalloc(3000, GFP_KERNEL)
    kernel.free_pages(addr, 1)
    end = timeline.length
    positions = [*range(start - 2, end + 1), *range(end, start - 3, -3), 0, end]
    for position in positions:
        timeline.seek(position)
        fresh_timeline = Timeline(kernel)
        fresh_timeline.seek(position)
        assert picture(BuddyView(fresh_timeline)) == picture(view), position


def test_typed_pfn_shows_its_block_until_following_again(kernel):
    view = BuddyView(kernel)
    addr = kernel.__get_free_pages(GFP_KERNEL, 2)
    kernel.kmalloc(64, GFP_KERNEL)
    pfn = pfn_of(addr) + 3
    view.pfn_box.value = hex(pfn)
    assert view.focus_pfn == pfn
    assert f"block at {pfn_of(addr):#x} (order 2): page allocator" in view.story.value
    assert view.tree.fill_colors[slot_of(2, pfn & 4 == 4)] == theme.OWNER_COLOURS[PAGES]
    view.pfn_box.value = hex(addr)  # a direct-map address means its pfn
    assert view.focus_pfn == pfn_of(addr)
    view.follow_button.click()  # back to the events: kmalloc(64) made a slab of a new page
    assert (view.focus_pfn, view.pfn_box.value) == (-1, "")
    assert "This step is ObjectAllocated, not a buddy-allocator event" in view.story.value
    slab_pfn = view.timeline.event(view.timeline.position - 2).pfn
    assert view.tree.fill_colors[slot_of(0, slab_pfn & 1 == 1)] == theme.OWNER_COLOURS[SLAB]


def test_bad_pfn_gives_a_clear_message_and_changes_nothing(kernel):
    view = BuddyView(kernel)
    kernel.__get_free_pages(GFP_KERNEL, 0)
    shown = picture(view)
    view.pfn_box.value = "zz"
    assert "'zz' is not a pfn" in html.unescape(view.status.value)
    assert view.focus_pfn == -1 and picture(view) == shown
    view.pfn_box.value = hex(kernel.nr_pfns)
    assert "is not on this machine" in view.status.value
    assert view.focus_pfn == -1 and picture(view) == shown
    with pytest.raises(TraitError, match="not on this machine"):
        view.focus_pfn = -5
    with pytest.raises(ValueError):
        parse_pfn("0x")


def test_zoom_shows_the_whole_block_or_the_part_around_the_block(kernel):
    view = BuddyView(kernel, animation_ms=0)
    kernel.__get_free_pages(GFP_KERNEL, 0)
    scale = view.tree.scales["x"]
    assert scale.max - scale.min == 8  # an order-0 block, three orders up
    view.zoom_box.value = "whole"
    root = view.timeline.current.pfn & ~(BLOCK - 1)
    assert (view.zoom, scale.min, scale.max) == ("whole", root, root + BLOCK)
    view.zoom = "block"  # a choice made in code shows in the control too
    assert view.zoom_box.value == "block" and scale.max - scale.min == 8
    view.focus_pfn = 0x1234
    assert view.pfn_box.value == "0x1234"
    assert view.tree_figure.animation_duration == 0


def test_sixteen_gib_machine_shows_three_zones_as_the_kernel_prints_them():
    kernel = Kernel("16GiB", seed=1, memory_map="flat")
    view = BuddyView(kernel)
    kernel.__get_free_pages(GFP_KERNEL, 5)
    assert [f.title for f in view.zone_figures] == [
        f"zone {name}: free blocks per order" for name in ("DMA", "DMA32", "Normal")
    ]
    assert view.buddyinfo_text() == kernel.cat("/proc/buddyinfo")
    assert np.array_equal(view.zone_bars[2].y, view.timeline.nr_free[2])


def test_steps_without_buddy_events_show_the_last_one_and_how_far_back(kernel):
    view = BuddyView(kernel)
    kernel.kmalloc(8, GFP_KERNEL)  # a new slab: pages from the buddy allocator
    for _ in range(40):
        kernel.kmalloc(8, GFP_KERNEL)  # from that slab: no buddy event
    history = kernel.history
    back = next(
        back
        for back in range(len(history))
        if isinstance(history[len(history) - 1 - back], PagesAllocated)
    )
    assert back > 16  # beyond the first window read
    assert f"the last one was {back} steps back" in view.story.value
    assert view.tree.fill_colors.count(theme.OWNER_COLOURS[SLAB]) >= 1


def test_free_counts_sit_above_their_bars_on_a_whole_number_axis():
    kernel = Kernel("256MiB", seed=0, memory_map="flat")
    kernel.__get_free_pages(GFP_KERNEL, 0)  # DMA32: 1 block of each order 0..9 next to ~55 of 10
    view = BuddyView(kernel)
    bars, axis = view.zone_bars[1], view.zone_figures[1].axes[1]
    tallest = int(bars.y.max())
    assert bars.label_display_vertical_offset < 0  # lifted above the bar's top edge
    assert bars.scales["y"].max >= tallest * 1.2  # room for the tallest bar's count
    ticks = np.asarray(axis.tick_values)
    assert ticks[0] == 0 and ticks[-1] == bars.scales["y"].max
    assert np.array_equal(ticks, ticks.round())  # no "1" printed for a tick at 1.33
    assert len(ticks) <= 5
