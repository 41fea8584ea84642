"""Endless practice: a drill hands out one seeded question after another, of one kind.

A lesson asks each question once, about one number; a learner who got it wrong, or right by
luck, needs another.  Like OSTEP's simulators run with ``-s SEED``, ``drill("buddy", seed=3)``
draws the parameters of the lesson's own question builder (``pages.buddy_of(pfn, order)`` …)
from a seeded random generator: the same seed gives the same sequence, every "another one" a
fresh question, checked with the same feedback as the lesson's.  The kinds:

========== =========================================================== ======
kind       the question                                                lesson
========== =========================================================== ======
pfn        which page frame holds a physical address                   00
order      the order a request of so many bytes needs                  01
buddy      the buddy of an order-n block (pfn XOR 1 << order)           01
size class which kmalloc cache serves kmalloc(size)                    02
waste      the bytes kmalloc(size) hands out that nobody asked for     02
large      the page order of a kmalloc above 8 KiB                     02
sleep      will this mask in this context print "sleeping function…"   03
zone       which zone a mask's page comes from                         03
reserves   does a mask get a page when memory is down to min           03
pGg        what %pGg prints for a mask                                 03
walk       the four page-table indexes of an address                   04
========== =========================================================== ======
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import ipywidgets as widgets

from ..engine.constants import MAX_ORDER, PAGE_OFFSET
from ..engine.pagetable import VMALLOC_START
from ..engine.slab_geometry import KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE
from . import Question, gfp, pages, slab, vmalloc

MACHINE_BYTES = 256 << 20  # addresses and pfns are drawn from lesson 00's 256 MiB machine
REDRAWS = 8  # draws before a drill settles for repeating its last question (few kinds are small)


def _bytes(rng: random.Random, low: int, high: int) -> int:
    """A request size in [low, high]: a round size, one just above a round size, or any size."""
    shape = rng.randrange(3)
    if shape == 0:  # a power of two, a classic exact fit
        return 1 << rng.randrange(max(low, 1).bit_length() - 1, high.bit_length())
    if shape == 1:  # one byte over a power of two, the classic waste
        return min(high, (1 << rng.randrange(max(low, 1).bit_length(), high.bit_length())) + 1)
    return rng.randint(low, high)


def _buddy(rng: random.Random) -> Question:
    order = rng.randrange(MAX_ORDER - 1)  # 0 .. 9: an order-10 block has no buddy to merge with
    block = rng.randrange(MACHINE_BYTES >> 12 >> order)
    return pages.buddy_of(block << order, order)  # pfn = block index × 2^order: aligned


def _order(rng: random.Random) -> Question:
    return pages.order_for(_bytes(rng, 1, 4 << 20))


def _walk(rng: random.Random) -> Question:
    if rng.randrange(2):
        return vmalloc.walk_indexes(PAGE_OFFSET + rng.randrange(1 << 32))  # the direct map
    return vmalloc.walk_indexes(VMALLOC_START + rng.randrange(1 << 36))  # vmalloc space


def _sleep(rng: random.Random) -> Question:
    return gfp.will_splat(rng.choice(list(gfp.CONTEXTS)), rng.choice(gfp.IRQ_MASKS))


ZONE_MASKS = ("GFP_KERNEL", "GFP_ATOMIC", "GFP_DMA", "GFP_DMA32", "GFP_USER", "GFP_NOIO",
              "GFP_KERNEL | __GFP_DMA", "GFP_NOWAIT | __GFP_DMA32")  # fmt: skip
RESERVE_MASKS = ("GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_NOWAIT | __GFP_HIGH",
                 "GFP_ATOMIC | __GFP_NOMEMALLOC", "GFP_NOIO")  # fmt: skip
PGG_BASES = ("GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_NOIO", "GFP_NOFS", "GFP_USER",
             "GFP_HIGHUSER_MOVABLE", "GFP_DMA", "GFP_KERNEL_ACCOUNT")  # fmt: skip
PGG_MODIFIERS = ("__GFP_ZERO", "__GFP_NOWARN", "__GFP_COMP", "__GFP_NORETRY",
                 "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_HIGH", "__GFP_ACCOUNT")  # fmt: skip


def _pgg(rng: random.Random) -> Question:
    extra = rng.sample(PGG_MODIFIERS, rng.randrange(3))
    return gfp.pgg(" | ".join([rng.choice(PGG_BASES), *extra]))


KINDS: dict[str, Callable[[random.Random], Question]] = {
    "pfn": lambda rng: pages.pfn_of_address(rng.randrange(MACHINE_BYTES)),
    "order": _order,
    "buddy": _buddy,
    "size class": lambda rng: slab.kmalloc_class(_bytes(rng, 1, KMALLOC_MAX_CACHE_SIZE)),
    "waste": lambda rng: slab.bytes_wasted(_bytes(rng, 1, KMALLOC_MAX_CACHE_SIZE)),
    "large": lambda rng: slab.large_kmalloc_order(
        _bytes(rng, KMALLOC_MAX_CACHE_SIZE + 1, KMALLOC_MAX_SIZE)
    ),
    "sleep": _sleep,
    "zone": lambda rng: gfp.zone_for(rng.choice(ZONE_MASKS)),
    "reserves": lambda rng: gfp.succeeds(rng.choice(RESERVE_MASKS)),
    "pGg": _pgg,
    "walk": _walk,
}


@dataclass
class Drill:
    """Questions of one ``kind`` drawn from ``seed``: ``question`` now, ``another()`` next."""

    kind: str
    seed: int = 0
    question: Question = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no drill {self.kind!r}; the drills are {', '.join(KINDS)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"a drill's seed is an int, not {self.seed!r}")
        self._rng = random.Random(f"{self.kind}/{self.seed}")  # one stream per kind and seed
        self.question = self.another()

    def another(self) -> Question:
        """The next question (it becomes ``question``); never the same one twice running."""
        previous = getattr(self, "question", None)
        for _ in range(REDRAWS):
            self.question = KINDS[self.kind](self._rng)
            if previous is None or self.question.prompt != previous.prompt:
                break
        return self.question

    def widget(self):
        """The question's input and buttons, with an "another one" button below."""
        holder = widgets.VBox([self.question.widget()])
        again = widgets.Button(description="another one", tooltip="a new question of this kind")

        def on_again(_):
            holder.children = [self.another().widget()]

        again.on_click(on_again)
        box = widgets.VBox([holder, again])
        box.add_class("kmviz-drill")
        return box

    def _repr_mimebundle_(self, **kwargs):
        """A drill as a cell's last line shows its widget."""
        return self.widget()._repr_mimebundle_(**kwargs)


def drill(kind: str, seed: int = 0) -> Drill:
    """A drill of ``kind`` (see the table above), its questions fixed by ``seed``."""
    return Drill(kind, seed)
