"""Do questions read a learner's notation, give the checker's feedback, and reveal the answer?"""

import pytest

from kmviz.exercises import AnswerError, Feedback, Question, as_choice, as_int


def order_question() -> Question:
    def checker(answer):
        order = as_int(answer)
        if order == 3:
            return Feedback(True, "8 pages = 32 KiB hold 20 KiB")
        return Feedback(False, f"order {order} is {1 << order} pages")

    return Question("Order for 20 KiB?", checker, "3", "get_order(20480) == 3")


@pytest.mark.parametrize("text, value", [("12", 12), ("0x2a0", 0x2A0), ("2^3", 8), ("1_024", 1024)])
def test_as_int_reads_decimal_hex_and_powers(text, value):
    assert as_int(text) == value


def test_as_int_refuses_words_with_the_expected_form():
    with pytest.raises(AnswerError, match="a number such as 3"):
        as_int("three")


def test_as_choice_ignores_case_and_names_the_options_when_wrong():
    assert as_choice(" gfp_atomic ", ["GFP_KERNEL", "GFP_ATOMIC"]) == "GFP_ATOMIC"
    with pytest.raises(AnswerError, match="GFP_KERNEL, GFP_ATOMIC"):
        as_choice("GFP_NOIO", ["GFP_KERNEL", "GFP_ATOMIC"])


def test_check_returns_the_checkers_specific_feedback():
    question = order_question()
    assert question.check("3") == Feedback(True, "8 pages = 32 KiB hold 20 KiB")
    assert question.check(2) == Feedback(False, "order 2 is 4 pages")


def test_an_unreadable_answer_is_feedback_not_an_exception():
    feedback = order_question().check("lots")
    assert not feedback.correct
    assert "a number such as 3" in feedback.message


def test_the_widget_checks_on_click_and_reveals_the_answer():
    box = order_question().widget()
    entry, check, reveal = box.children[1].children
    entry.value = "4"
    check.click()
    assert "order 4 is 16 pages" in box.children[2].value
    reveal.click()
    assert "get_order(20480) == 3" in box.children[2].value
