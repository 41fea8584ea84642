"""Predict-then-check exercises for the lessons: a question, a checker with specific feedback.

OSTEP style: the lesson asks the learner to predict what the kernel will do *before* the cell
that shows it runs.  ``Question.check(answer)`` says not only right or wrong but what the
answer would have meant ("order 3 is 8 pages = 32 KiB: too small for 40 KiB"), and
``Question.show_answer()`` gives the answer with its reasoning for a learner who is stuck.
Each lesson has a module here (``kmviz.exercises.pages`` …) whose functions build its
questions from a seeded machine, so the text and the pictures always agree.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .. import lab_extra  # noqa: F401 - first: a clear message when ipywidgets is missing

# isort: split
import ipywidgets as widgets


class Feedback(NamedTuple):
    """What a checker says about one answer: right or not, and why, in a sentence or two."""

    correct: bool
    message: str

    def __str__(self) -> str:
        return ("✔ " if self.correct else "✘ ") + self.message


@dataclass(frozen=True)
class Question:
    """A prediction to make: ``check(answer)`` gives Feedback, ``show_answer()`` the answer."""

    prompt: str
    checker: Callable[[Any], Feedback]
    answer: str
    why: str

    def check(self, answer) -> Feedback:
        """Feedback on ``answer`` (a learner's input: int, str, or what the prompt asks for)."""
        return self.read(answer)[0]

    def read(self, answer) -> tuple[Feedback, bool]:
        """(Feedback on ``answer``, whether it could be read at all): a typo is not a wrong try."""
        try:
            return self.checker(answer), True
        except AnswerError as error:
            return Feedback(False, str(error)), False

    def show_answer(self) -> str:
        """The answer and the reasoning behind it."""
        return f"{self.answer}. {self.why}"

    def widget(self, on_feedback: Callable[[Feedback], None] | None = None):
        """An input, a "check" button and a "show answer" button, for the lesson to display.

        ``on_feedback`` hears the feedback on every answer it could read (a quiz scores them).
        """
        entry = widgets.Text(placeholder="your prediction", description="answer",
                             continuous_update=False)  # fmt: skip
        check = widgets.Button(description="check", tooltip="check my prediction")
        reveal = widgets.Button(description="show answer", tooltip="show the answer and why")
        result = widgets.HTML()
        result.add_class("kmviz-feedback")

        def on_check(_):
            feedback, readable = self.read(entry.value)
            if readable and on_feedback is not None:
                on_feedback(feedback)
            colour = "#117733" if feedback.correct else "#882255"
            result.value = f"<span style='color:{colour}'>{html.escape(str(feedback))}</span>"

        def on_reveal(_):
            result.value = f"<b>Answer:</b> {html.escape(self.show_answer())}"

        check.on_click(on_check)
        reveal.on_click(on_reveal)
        entry.observe(lambda _: on_check(None), "value")
        box = widgets.VBox(
            [widgets.HTML(f"<b>Predict:</b> {html.escape(self.prompt)}"),
             widgets.HBox([entry, check, reveal]), result]
        )  # fmt: skip
        box.add_class("kmviz-exercise")
        return box

    def _repr_mimebundle_(self, **kwargs):
        """In a notebook a question shows as its widget."""
        return self.widget()._repr_mimebundle_(**kwargs)


class AnswerError(ValueError):
    """The answer could not be read (say what form is expected)."""


def as_int(answer) -> int:
    """An integer from an int or a string such as "12", "0x2a0" or "2^3" (a learner's notation)."""
    if isinstance(answer, bool):
        raise AnswerError("answer with a number, not True/False")
    if isinstance(answer, int):
        return answer
    text = str(answer).strip().replace("_", "").replace(",", "")
    if "^" in text or "**" in text:
        base, _, power = text.replace("**", "^").partition("^")
        return as_int(base) ** as_int(power)
    try:
        return int(text, 0)
    except ValueError:
        raise AnswerError(f"answer with a number such as 3 or 0x2a0, not {text!r}") from None


def as_choice(answer, choices: Iterable[str]) -> str:
    """One of ``choices`` (case and surrounding spaces ignored), else an AnswerError naming them."""
    options = list(choices)
    text = str(answer).strip()
    for option in options:
        if text.lower() == option.lower():
            return option
    raise AnswerError(f"answer with one of: {', '.join(options)}")
