"""The end-of-lesson quizzes: a few questions per lesson, scored at the first try.

Each lesson ends with ``quiz("01")``: two or three questions about ideas (multiple choice, each
wrong option explained) and two drawn from the lesson's drills (:mod:`kmviz.exercises.drills`),
so a second sitting with ``quiz("01", seed=1)`` asks new numbers.  The score counts answers
right at the first try, which is what a learner (or an instructor) wants to know.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import ipywidgets as widgets

from ..lessons import LESSONS
from . import AnswerError, Feedback, Question, as_choice
from .drills import Drill


def choice(prompt: str, options: dict[str, str], right: str, why: str) -> Question:
    """A multiple-choice question: ``options`` maps each letter to its text; ``right`` is a letter.

    A wrong letter's feedback gives ``why`` too, since a quiz has no later cell to explain it.
    """
    if right not in options:
        raise ValueError(f"the right answer {right!r} is not one of the options {list(options)}")
    listed = "; ".join(f"({letter}) {text}" for letter, text in options.items())

    def checker(answer) -> Feedback:
        said = as_choice(str(answer).strip().strip("()"), options)
        if said == right:
            return Feedback(True, why)
        return Feedback(False, f"not ({said}): the answer is ({right}) {options[right]}. {why}")

    return Question(f"{prompt} {listed}", checker, f"({right}) {options[right]}", why)


# the questions about ideas, lesson by lesson; the drills add numbers
IDEAS: dict[str, list[Question]] = {
    "00-start-here": [
        choice(
            "What does a column of /proc/buddyinfo count?",
            {
                "a": "free pages of that order",
                "b": "free blocks of that order",
                "c": "allocated blocks of that order",
            },
            "b",
            "Column n counts free blocks of 2^n pages each: a 3 under order 2 is 12 free pages.",
        ),
        choice(
            "Which of these hands out physical page frames?",
            {"a": "the buddy (page) allocator", "b": "kmalloc", "c": "vmalloc"},
            "a",
            "Everything else is built on it: kmalloc carves its slabs out of pages, vmalloc "
            "maps pages it got one by one.",
        ),
    ],
    "01-pages-and-orders": [
        choice(
            "What must free_pages() be told that kfree() is not?",
            {"a": "the zone", "b": "the order", "c": "the GFP mask"},
            "b",
            "free_pages(addr, order): the caller says how big the block was; kfree() finds the "
            "size in the object's slab (or in the compound page of a large kmalloc).",
        ),
        choice(
            "Two free order-2 blocks start at pfn 0x3004 and 0x3008. Why do they not merge?",
            {
                "a": "they are in different zones",
                "b": "they are not buddies: 0x3004 ^ 4 = 0x3000",
                "c": "merging needs a third block",
            },
            "b",
            "A block merges only with its buddy, pfn ^ (1 << order); merged they would start at "
            "0x3004, which is not aligned to order 3.",
        ),
    ],
    "02-slab-and-kmalloc": [
        choice(
            "kmalloc(10000, GFP_KERNEL) on x86-64: where does the memory come from?",
            {"a": "kmalloc-16k", "b": "kmalloc-8k", "c": "the page allocator, order 2"},
            "c",
            "Above KMALLOC_MAX_CACHE_SIZE (8 KiB with SLUB) kmalloc() asks the page allocator "
            "for get_order(10000) = 2: 16 KiB.",
        ),
        choice(
            "What does kmalloc(0, GFP_KERNEL) return?",
            {"a": "NULL", "b": "ZERO_SIZE_PTR, (void *)16", "c": "an object from kmalloc-8"},
            "b",
            "ZERO_SIZE_PTR is not NULL, so callers that only test for NULL do not report a "
            "failure, but any access through it faults; kfree(ZERO_SIZE_PTR) does nothing.",
        ),
        choice(
            "What does kfree(NULL) do?",
            {"a": "nothing", "b": "oops", "c": "WARN and return"},
            "a",
            "kfree(NULL) and kfree(ZERO_SIZE_PTR) return at once, so error paths may free "
            "pointers that were never allocated.",
        ),
    ],
    "03-gfp-and-context": [
        choice(
            "An interrupt handler needs a 64-byte buffer. Which mask?",
            {"a": "GFP_KERNEL", "b": "GFP_ATOMIC", "c": "GFP_NOIO"},
            "b",
            "An interrupt handler may not sleep, and GFP_KERNEL and GFP_NOIO both may "
            "(__GFP_DIRECT_RECLAIM); GFP_ATOMIC never sleeps and may dip into the reserves.",
        ),
        choice(
            "May a driver choose its mask with in_atomic() ? GFP_ATOMIC : GFP_KERNEL?",
            {
                "a": "yes, that is what in_atomic() is for",
                "b": "no: without CONFIG_PREEMPT_COUNT it misses spinlocks, and the caller knows "
                "its context anyway",
            },
            "b",
            "The code's author knows whether it runs under a lock or in an interrupt; pass the "
            "mask down from there. in_atomic() is for debugging checks.",
        ),
    ],
    "04-vmalloc-and-the-mmu": [
        choice(
            "Why can a device not DMA into a vmalloc() buffer of 64 KiB?",
            {
                "a": "vmalloc memory is read-only",
                "b": "its pages are physically scattered and dma_map_single() wants one "
                "direct-map address",
                "c": "vmalloc memory lies above 4 GiB",
            },
            "b",
            "A device sees physical (bus) addresses; vmalloc's pages are contiguous only "
            "virtually. dma_map_single() refuses vmalloc addresses; use kmalloc, "
            "dma_alloc_coherent() or a scatter-gather list.",
        ),
        choice(
            "kvmalloc(1 MiB, GFP_KERNEL) when no free block of order 8 can be found quickly?",
            {"a": "returns NULL", "b": "falls back to vmalloc", "c": "waits for compaction"},
            "b",
            "kvmalloc_node() tries kmalloc with __GFP_NORETRY | __GFP_NOWARN first, and above a "
            "page falls back to vmalloc; free it with kvfree().",
        ),
    ],
    "05-boot-and-fragmentation": [
        choice(
            "Who hands out memory before the buddy allocator exists?",
            {"a": "memblock", "b": "kmalloc", "c": "vmalloc"},
            "a",
            "memblock manages physical ranges during early boot; memblock_free_all() hands "
            "what is left to the buddy allocator.",
        ),
        choice(
            "Which pages can compaction move to build a large free block?",
            {
                "a": "any allocated page",
                "b": "movable pages: user memory and page cache",
                "c": "slab pages",
            },
            "b",
            "Compaction migrates movable pages and updates their page tables; a slab page or a "
            "page the kernel holds by its physical address stays where it is.",
        ),
    ],
    "06-your-own-kernel": [
        choice(
            "A long-running server's /proc/buddyinfo shows almost no order-10 blocks although "
            "MemFree is large. What is the most likely reason?",
            {
                "a": "a bug in buddyinfo",
                "b": "free memory is fragmented into small blocks",
                "c": "order-10 blocks are reserved for the kernel",
            },
            "b",
            "Free memory scattered between long-lived allocations forms small blocks; "
            "compaction (and kcompactd) can rebuild large ones only from movable pages.",
        ),
    ],
    "07-capstone-buggy-driver": [
        choice(
            "Which debug option makes a GFP_KERNEL allocation in an interrupt handler print a "
            "report, even when memory is plentiful?",
            {"a": "CONFIG_DEBUG_ATOMIC_SLEEP", "b": "CONFIG_DEBUG_VM", "c": "slub_debug"},
            "a",
            "might_sleep() reports 'sleeping function called from invalid context' only with "
            "CONFIG_DEBUG_ATOMIC_SLEEP; a distro kernel without it stays silent until the "
            "allocation really sleeps.",
        ),
        choice(
            "Which tool reports memory a driver allocated and never freed?",
            {"a": "KASAN", "b": "kmemleak", "c": "lockdep"},
            "b",
            "kmemleak scans memory for pointers to each allocated object and reports the "
            "unreferenced ones; KASAN finds bad accesses, lockdep locking mistakes.",
        ),
    ],
}

DRILLS: dict[str, tuple[str, ...]] = {  # the drills whose questions end each lesson's quiz
    "00-start-here": ("pfn", "order"),
    "01-pages-and-orders": ("buddy", "order"),
    "02-slab-and-kmalloc": ("size class", "waste"),
    "03-gfp-and-context": ("sleep", "zone"),
    "04-vmalloc-and-the-mmu": ("walk", "pfn"),
    "05-boot-and-fragmentation": ("buddy", "large"),
    "06-your-own-kernel": ("order", "size class"),
    "07-capstone-buggy-driver": ("sleep", "large"),
}


@dataclass
class Quiz:
    """A lesson's closing questions; ``first_tries`` records each question's first answer."""

    title: str
    questions: list[Question]
    first_tries: dict[int, bool] = field(default_factory=dict)

    def answer(self, index: int, answer) -> Feedback:
        """Check ``answer`` to question ``index``; the first readable answer to each is scored."""
        feedback, readable = self.questions[index].read(answer)
        if readable:
            self.first_tries.setdefault(index, feedback.correct)
        return feedback

    def score(self) -> str:
        """How many questions were right at the first try, of how many answered and asked."""
        right = sum(self.first_tries.values())
        return (
            f"{right} of {len(self.first_tries)} answered right at the first try "
            f"({len(self.questions)} questions)"
        )

    def widget(self):
        """Every question with its input, numbered, and the score below, kept up to date."""
        score = widgets.HTML(html.escape(self.score()))
        score.add_class("kmviz-quiz-score")
        items = [widgets.HTML(f"<h3>{html.escape(self.title)}</h3>")]
        for index, question in enumerate(self.questions):

            def scored(feedback: Feedback, index=index) -> None:
                self.first_tries.setdefault(index, feedback.correct)
                score.value = html.escape(self.score())

            items += [widgets.HTML(f"<b>{index + 1}.</b>"), question.widget(on_feedback=scored)]
        box = widgets.VBox([*items, score])
        box.add_class("kmviz-quiz")
        return box

    def _repr_mimebundle_(self, **kwargs):
        """A quiz as a cell's last line shows its widget."""
        return self.widget()._repr_mimebundle_(**kwargs)


def quiz(lesson: str, seed: int = 0) -> Quiz:
    """The quiz that ends ``lesson`` ("01" or "01-pages-and-orders"); ``seed`` draws its numbers."""
    name = next((full for full in LESSONS if full == lesson or full[:2] == lesson), None)
    if name is None:
        raise ValueError(f"no lesson {lesson!r}; the lessons are {', '.join(LESSONS)}")
    drawn = [Drill(kind, seed).question for kind in DRILLS[name]]
    return Quiz(f"Quiz: {LESSONS[name]}", [*IDEAS[name], *drawn])


__all__ = ["AnswerError", "Quiz", "choice", "quiz"]
