"""Does the dashboard put every view on one timeline, so one click or step moves them all?"""

import pytest
from traitlets import TraitError

from kmviz import Kernel
from kmviz.widgets.dashboard import VIEWS, Dashboard
from kmviz.widgets.timeline import Timeline


def test_every_part_shares_the_kernels_one_timeline():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    dashboard = Dashboard(k)
    assert set(dashboard.views) == set(VIEWS)
    timelines = {view.timeline for view in dashboard.views.values()}
    timelines |= {dashboard.player.timeline, dashboard.controls.timeline}
    assert timelines == {Timeline.of(k)}


def test_a_control_click_reaches_every_view_and_jumping_back_undoes_it():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    dashboard = Dashboard(k)
    buddy, context = dashboard.views["buddy"], dashboard.views["context"]
    before, start = buddy.buddyinfo_text(), dashboard.timeline.length
    dashboard.controls.order.value = 4
    dashboard.controls.alloc_pages.click()
    after = buddy.buddyinfo_text()
    assert after == k.cat("/proc/buddyinfo") != before
    assert "mm_page_alloc" in dashboard.player.label.value
    dashboard.player.jump.value = start
    assert buddy.buddyinfo_text() == before
    assert dashboard.views["physmap"].timeline.position == start
    dashboard.player.newest.click()
    assert buddy.buddyinfo_text() == after
    assert context.timeline.follow


def test_the_grid_layout_titles_each_chosen_view():
    dashboard = Dashboard(
        Kernel("16MiB", seed=1, memory_map="flat"), views=("physmap", "context"), layout="grid"
    )
    grid = dashboard.children[-2]
    titles = [cell.children[0].value for cell in grid.children]
    assert titles == ["<b>Physical memory</b>", "<b>Context & log</b>"]


def test_an_unknown_view_or_layout_is_refused_by_name():
    k = Kernel("16MiB", seed=1, memory_map="flat")
    with pytest.raises(TraitError, match="unknown view 'heap'"):
        Dashboard(k, views=("physmap", "heap"))
    with pytest.raises(TraitError, match="layout must be one of tabs, grid"):
        Dashboard(k, layout="stack")
