"""Does a figure tell the truth of its cell?  Cells run in a real IPython shell, as in Jupyter."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

from kmviz import GFP_KERNEL, Kernel
from kmviz.widgets import BuddyView, Controls, PhysMap, Player, Timeline


@pytest.fixture
def notebook():
    """An IPython shell with a 16 MiB kernel ``k`` and the widgets in its namespace."""
    shell = InteractiveShell.instance()
    shell.user_ns.update(
        k=Kernel("16MiB", seed=0, memory_map="flat"), GFP_KERNEL=GFP_KERNEL, BuddyView=BuddyView,
        PhysMap=PhysMap, Player=Player, Controls=Controls, Timeline=Timeline,
    )  # fmt: skip
    yield shell
    InteractiveShell.clear_instance()


def cell(shell, source: str) -> None:
    """Run one cell; its exceptions fail the test."""
    shell.run_cell(source).raise_error()


def test_a_view_keeps_showing_the_machine_its_cell_left(notebook):
    cell(notebook, "view = BuddyView(k)\nat = len(k.history)")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    view, k = notebook.user_ns["view"], notebook.user_ns["k"]
    assert view.timeline.position == notebook.user_ns["at"] < len(k.history)


def test_a_view_shows_the_calls_made_after_it_in_its_own_cell(notebook):
    cell(notebook, "view = PhysMap(k)\nk.get_free_pages(GFP_KERNEL, 3)")
    assert notebook.user_ns["view"].timeline.position == len(notebook.user_ns["k"].history)


def test_follow_true_follows_later_cells(notebook):
    cell(notebook, "view = BuddyView(k, follow=True)")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    assert notebook.user_ns["view"].timeline.position == len(notebook.user_ns["k"].history)


def test_what_one_cell_makes_moves_together_and_apart_from_other_cells(notebook):
    cell(notebook, "player, view = Player(k), BuddyView(k)")
    cell(notebook, "later = BuddyView(k)")
    ns = notebook.user_ns
    assert ns["player"].timeline is ns["view"].timeline
    assert ns["later"].timeline is not ns["view"].timeline


def test_a_player_made_from_an_earlier_view_drives_that_view(notebook):
    cell(notebook, "view = BuddyView(k)")
    cell(notebook, "player = Player(view)\nplayer.go(0)")
    assert notebook.user_ns["view"].timeline.position == 0


def test_stepping_to_the_end_of_a_finished_cell_does_not_follow_later_cells(notebook):
    cell(notebook, "player, view = Player(k), BuddyView(k)")
    cell(notebook, "player.go(0)\nplayer.go(player.timeline.length)")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    ns = notebook.user_ns
    assert ns["view"].timeline.position < len(ns["k"].history)


def test_the_newest_button_follows_later_cells_again(notebook):
    cell(notebook, "player, view = Player(k), BuddyView(k)")
    cell(notebook, "player.newest.click()")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    assert notebook.user_ns["view"].timeline.position == len(notebook.user_ns["k"].history)


def test_a_control_moves_its_cells_views_to_its_call_and_no_further(notebook):
    cell(notebook, "controls, view = Controls(k), BuddyView(k)")
    cell(notebook, "controls.call_get_free_pages()\nat = len(k.history)")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    ns = notebook.user_ns
    assert ns["view"].timeline.position == ns["at"] < len(ns["k"].history)


def test_holding_the_kernels_timeline_holds_the_cells_views_until_the_end(notebook):
    cell(notebook, "view = BuddyView(k)\nseen = []\n"
                   "with Timeline.of(k).hold():\n"
                   "    k.get_free_pages(GFP_KERNEL, 3)\n"
                   "    seen.append(view.timeline.position)")  # fmt: skip
    ns = notebook.user_ns
    assert ns["seen"][0] < ns["view"].timeline.position == len(ns["k"].history)


def test_outside_a_notebook_every_view_of_a_kernel_follows_it():
    k = Kernel("16MiB", seed=0, memory_map="flat")
    view = BuddyView(k)
    k.get_free_pages(GFP_KERNEL, 3)
    assert view.timeline is Timeline.of(k)
    assert view.timeline.position == len(k.history)


def test_a_finished_cells_player_ends_where_the_cell_ended(notebook):
    cell(notebook, "player, view = Player(k), BuddyView(k)\nat = len(k.history)")
    cell(notebook, "k.get_free_pages(GFP_KERNEL, 3)")
    ns = notebook.user_ns
    assert ns["player"].slider.max == ns["view"].timeline.length == ns["at"]


def test_a_cells_views_hear_of_its_calls_once_when_it_ends(notebook):
    cell(notebook, "view = BuddyView(k)\nmoves = []\n"
                   "view.timeline.observe(lambda c: moves.append(c['new']), 'position')\n"
                   "fast = k.notify_each_call[0]\n"
                   "for _ in range(50):\n"
                   "    k.get_free_pages(GFP_KERNEL, 1)")  # fmt: skip
    ns = notebook.user_ns
    assert ns["moves"] == [len(ns["k"].history)] and ns["fast"] == 0


def test_a_player_moved_inside_a_cell_knows_the_cells_calls(notebook):
    cell(notebook, "player = Player(k)\nk.get_free_pages(GFP_KERNEL, 3)\nplayer.go(0)\n"
                   "player.go(10**9)\nat = player.timeline.position")  # fmt: skip
    assert notebook.user_ns["at"] == len(notebook.user_ns["k"].history)


def test_a_cells_events_are_folded_once_though_two_timelines_follow(notebook, monkeypatch):
    cell(notebook, "view = BuddyView(k)")
    folded = []
    fold = Timeline._fold

    def counted(timeline, start, stop):
        folded.append(stop - start)
        fold(timeline, start, stop)

    monkeypatch.setattr(Timeline, "_fold", counted)
    cell(notebook, "start = len(k.history)\nlater = BuddyView(k)\nfor _ in range(3000):\n"
                   "    k.free_pages(k.get_free_pages(GFP_KERNEL, 0), 0)")  # fmt: skip
    ns = notebook.user_ns
    k, later = ns["k"], ns["later"]
    assert Timeline.of(k).position == later.timeline.position == len(k.history)  # both follow
    assert sum(folded) == len(k.history) - ns["start"]


def test_a_timeline_made_in_a_cell_hears_of_each_later_cells_calls_once(notebook):
    cell(notebook, "film = Timeline(k)\nlengths = []\n"
                   "film.observe(lambda c: lengths.append(c['new']), 'length')")  # fmt: skip
    cell(notebook, "for _ in range(50):\n    k.get_free_pages(GFP_KERNEL, 1)")
    assert notebook.user_ns["lengths"] == [len(notebook.user_ns["k"].history)]


def test_a_player_of_a_timeline_sends_the_browser_one_change_per_cell(notebook):
    cell(notebook, "film = Timeline(k)\nplayer = Player(film)\nmaxima = []\n"
                   "player.slider.observe(lambda c: maxima.append(c['new']), 'max')")  # fmt: skip
    cell(notebook, "for _ in range(100):\n    k.free_pages(k.get_free_pages(GFP_KERNEL, 0), 0)")
    assert notebook.user_ns["maxima"] == [len(notebook.user_ns["k"].history)]
