"""Does the player move the shared position as its buttons say and keep its controls in step?"""

import pytest
from traitlets import TraitError

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine.events import BlockSplit, BuddiesMerged, PagesAllocatedInBulk
from kmviz.widgets.player import Player, describe
from kmviz.widgets.timeline import Timeline


@pytest.fixture
def machine():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    player = Player(k)
    addr = k.get_free_pages(GFP_KERNEL, 2)
    k.free_pages(addr, 2)  # onto CPU 0's per-CPU list
    k.drain_all_pages()  # back to the buddy, where it merges
    return k, player


def test_back_and_forward_buttons_move_one_event_and_stop_following(machine):
    _, player = machine
    tl = player.timeline
    newest = tl.length
    player.back.click()
    assert tl.position == newest - 1
    assert not tl.follow
    player.forward.click()
    assert tl.position == newest


def test_newest_follows_the_kernel_again(machine):
    k, player = machine
    tl = player.timeline
    player.first.click()
    assert tl.position == 0
    player.newest.click()
    k.get_free_pages(GFP_KERNEL, 0)
    assert tl.follow
    assert tl.position == tl.length


def test_slider_jump_and_play_show_the_position_and_grow_with_history(machine):
    k, player = machine
    tl = player.timeline
    player.jump.value = 10
    assert tl.position == 10
    assert player.slider.value == player.play.value == 10
    k.get_free_pages(GFP_KERNEL, 0)
    assert player.slider.max == player.play.max == player.jump.max == tl.length


def test_the_split_filter_stops_only_at_splits_and_merges(machine):
    _, player = machine
    tl = player.timeline
    player.filter.value = "splits and merges"
    player.first.click()
    stops = []
    for _ in range(50):
        before = tl.position
        player.forward.click()
        if tl.position == before:
            break
        stops.append(tl.current)
    assert stops
    assert all(isinstance(event, (BlockSplit, BuddiesMerged)) for event in stops)
    assert "no earlier or later event" in player.message.value


def test_playing_with_a_filter_skips_to_the_next_event_of_that_kind(machine):
    _, player = machine
    tl = player.timeline
    player.filter.value = "splits and merges"
    player.first.click()
    player.play.value = 1  # what the browser's Play widget sends on its first tick
    assert isinstance(tl.current, (BlockSplit, BuddiesMerged))
    assert player.play.value == tl.position


def test_the_label_names_the_current_event_with_its_arithmetic(machine):
    _, player = machine
    tl = player.timeline
    merge = next(i for i in range(tl.length) if isinstance(tl.event(i), BuddiesMerged))
    player.jump.value = merge + 1
    e = tl.event(merge)
    assert f"{e.pfn:#x} ^ (1 &lt;&lt; {e.order}) = {e.buddy_pfn:#x}" in player.label.value
    assert f"event {merge + 1} of {tl.length}" in player.label.value


def test_an_unknown_filter_is_refused():
    player = Player(Kernel("16MiB", seed=1, memory_map="flat"))
    with pytest.raises(TraitError, match="kind must be one of"):
        player.kind = "everything"


def test_views_on_one_kernel_share_one_timeline():
    k = Kernel("16MiB", seed=1, memory_map="flat")
    assert Player(k).timeline is Player(k).timeline is Timeline.of(k)


def test_describe_names_the_tracepoint_of_a_page_allocation():
    k = Kernel("16MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    k.get_free_pages(GFP_KERNEL, 1)
    assert describe(tl.current).startswith("mm_page_alloc: pfn ")


def test_describe_says_a_bulk_page_fires_no_tracepoint():
    k = Kernel("16MiB", seed=1, memory_map="flat")
    tl = Timeline.of(k)
    before = len(k.history)
    k.vmalloc(4 * 4096)
    events = k.history.since(before)
    last = max(i for i, e in enumerate(events) if isinstance(e, PagesAllocatedInBulk))
    tl.seek(before + last + 1)  # the area's last page
    assert describe(tl.current).startswith("__alloc_pages_bulk(): pfn ")
    assert describe(tl.current).endswith("(no tracepoint: no mm_page_alloc)")


def test_replay_rewinds_chooses_the_kind_and_starts_playing(machine):
    _, player = machine
    tl = player.timeline
    player.replay(3, "splits and merges", interval=300)
    assert (tl.position, player.kind, player.play.interval) == (3, "splits and merges", 300)
    assert player.play.playing
    assert not tl.follow


def test_describe_says_an_ioremap_maps_bytes_not_pages():
    from kmviz.engine.events import VmallocMapped

    event = VmallocMapped(0xFFFFC9000000B000, 8192, (), "ioremap")
    assert describe(event) == "ioremap: 8192 bytes of vmalloc space at 0xffffc9000000b000"
    assert describe(VmallocMapped(0xFFFFC90000000000, 8192, (7,))) == (
        "vmalloc: 1 pages mapped at 0xffffc90000000000"
    )
