"""Drills hand out seeded questions of one kind; a lesson ends with a quiz scored at first try."""

import pytest

from kmviz.engine.events import BuddiesMerged
from kmviz.engine.gfp import __GFP_MEMALLOC, __GFP_NOWARN, GFP_KERNEL
from kmviz.engine.kernel import Kernel
from kmviz.exercises.drills import KINDS, drill
from kmviz.exercises.quizzes import IDEAS, choice, quiz
from kmviz.lessons import LESSONS

DRAWS = 12  # questions drawn per kind in the tests below


@pytest.mark.parametrize("kind", KINDS)
def test_every_drawn_question_accepts_its_own_answer(kind):
    d = drill(kind, seed=5)
    for _ in range(DRAWS):
        assert d.question.check(d.question.answer).correct, d.question.prompt
        d.another()


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_draws_the_same_questions(kind):
    first, second = drill(kind, seed=7), drill(kind, seed=7)
    assert [first.another().prompt for _ in range(4)] == [second.another().prompt for _ in range(4)]


@pytest.mark.parametrize("kind", ["pfn", "buddy", "order", "walk", "size class"])
def test_another_seed_draws_other_questions(kind):
    assert drill(kind, seed=1).question.prompt != drill(kind, seed=2).question.prompt


@pytest.mark.parametrize("kind", KINDS)
def test_another_one_is_never_the_question_just_asked(kind):
    d = drill(kind, seed=3)
    for _ in range(DRAWS):
        before = d.question.prompt
        assert d.another().prompt != before


def test_a_buddy_question_names_the_block_the_engine_merges_with():
    """The drill's pfn XOR agrees with the engine: freeing the block merges it with that buddy."""
    d = drill("buddy", seed=11)
    while not 4 <= (order := int(d.question.prompt.split("order-")[1].split(" ")[0])) <= 8:
        d.another()  # orders 0-3 and 9 may rest on per-CPU lists instead of merging
    question = d.question
    pfn = int(question.prompt.split("pfn ")[1].split(",")[0], 16)
    k = Kernel("256MiB", seed=0, boot_reserved=False, memory_map="flat")
    everything = GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOWARN  # no watermarks: take every block
    pair = {pfn: None, int(question.answer, 16): None}
    while (page := k.alloc_pages(everything, order)) is not None:
        if page.pfn in pair:
            pair[page.pfn] = page
    for page in pair.values():
        k.free_pages_block(page, order)
    merged = next(event for event in reversed(k.history) if isinstance(event, BuddiesMerged))
    assert (merged.order, {merged.pfn, merged.buddy_pfn}) == (order, set(pair))


def test_an_unknown_drill_names_the_drills():
    with pytest.raises(ValueError, match="the drills are pfn, order, buddy"):
        drill("buddies")


def test_the_another_one_button_puts_a_new_question_on_screen():
    d = drill("order", seed=0)
    box = d.widget()
    holder, again = box.children
    shown = holder.children[0].children[0].value
    again.click()
    assert holder.children[0].children[0].value != shown and d.question.prompt in (
        holder.children[0].children[0].value
    )


def test_every_lesson_has_a_quiz_of_ideas_and_drawn_numbers():
    for lesson in LESSONS:
        q = quiz(lesson)
        assert len(q.questions) >= len(IDEAS[lesson]) + 2, lesson


def test_a_quiz_scores_the_first_readable_answer_only():
    q = quiz("02")
    q.answer(0, "z")  # not an option: a typo, not a try
    q.answer(0, "a")  # wrong
    q.answer(0, "c")  # right, but a second try
    q.answer(1, "b")  # right at once
    assert q.score() == "1 of 2 answered right at the first try (5 questions)"


def test_a_quiz_answered_in_its_widget_updates_the_score_on_screen():
    q = quiz("03")
    box = q.widget()
    first = box.children[2]  # title, "1.", question 1 …
    entry = first.children[1].children[0]
    entry.value = "b"
    assert box.children[-1].value.startswith("1 of 1 answered right")


def test_a_wrong_choice_gives_the_right_one_and_why():
    question = choice("Which?", {"a": "this", "b": "that"}, "b", "Because.")
    assert str(question.check("a")) == "✘ not (a): the answer is (b) that. Because."


def test_a_choice_whose_right_answer_is_not_an_option_is_refused():
    with pytest.raises(ValueError, match="not one of the options"):
        choice("Which?", {"a": "this"}, "c", "Because.")


def test_a_quiz_for_an_unknown_lesson_names_the_lessons():
    with pytest.raises(ValueError, match="no lesson '09'"):
        quiz("09")
