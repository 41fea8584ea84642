"""Lesson 02's predictions (slab caches, kmalloc), checked on a machine built like the lesson's."""

from __future__ import annotations

from ..engine.constants import MAX_ORDER, PAGE_SIZE
from ..engine.gfp import GFP_KERNEL
from ..engine.kernel import Kernel
from ..engine.page import get_order
from ..engine.slab_geometry import (
    KMALLOC_INDEXES,
    KMALLOC_MAX_CACHE_SIZE,
    SLUB_MAX_ORDER,
    ZERO_SIZE_PTR,
    auto_min_objects,
    calc_slab_order,
    fls,
    kmalloc_cache_name,
    kmalloc_cache_size,
    kmalloc_index,
    order_objects,
)
from . import AnswerError, Feedback, Question, as_int

MEM, SEED = "256MiB", 0  # lesson 02's machine
CONN_SIZE = 200  # bytes of the lesson's struct my_conn
CONN_CACHE = "my_conn"
CONNS = 50  # objects the lesson allocates from my_conn
CLASS_SIZES = tuple(sorted(kmalloc_cache_size(index) for index in KMALLOC_INDEXES))
CLASS_LIST = " ".join(kmalloc_cache_name(kmalloc_index(s)).removeprefix("kmalloc-")
                      for s in CLASS_SIZES)  # fmt: skip


def lesson_kernel() -> Kernel:
    """A machine like lesson 02's: 256 MiB, seed 0, 2 CPUs."""
    return Kernel(mem=MEM, seed=SEED, memory_map="flat")


def conn_machine():
    """Lesson 02 after its 50 allocations: (kernel, my_conn cache, the objects' addresses)."""
    k = lesson_kernel()
    cache = k.kmem_cache_create(CONN_CACHE, CONN_SIZE)
    objects = [k.kmem_cache_alloc(cache, GFP_KERNEL) for _ in range(CONNS)]
    return k, cache, objects


def slabinfo_row(k: Kernel, name: str) -> list[str]:
    """The /proc/slabinfo line of cache ``name``, split on white space."""
    for line in k.cat("/proc/slabinfo").splitlines():
        if line.split()[:1] == [name]:
            return line.split()
    raise KeyError(f"/proc/slabinfo has no line for {name}")


def _pages(order: int) -> str:
    return f"{1 << order} page{'s' if order else ''} ({PAGE_SIZE << order} B)"


def slub_hint(cpus: int) -> str:
    """calculate_order()'s rule in words, without its result."""
    wanted = auto_min_objects(cpus)
    return (
        f"Hint: SLUB wants at least {wanted} objects per slab on this {cpus}-CPU machine "
        f"(4 × (fls({cpus}) + 1)), in the smallest power-of-two number of pages that holds "
        "them with at most 1/16 of the slab left over."
    )


def slub_reasoning(size: int, cpus: int) -> str:
    """Why calculate_order() (mm/slub.c L3972) picks its order for ``size``-byte objects."""
    k = lesson_kernel() if cpus == 2 else Kernel(mem=MEM, seed=SEED, cpus=cpus, memory_map="flat")
    cache = k.kmem_cache_create("probe", size)
    order, objects = cache.order, cache.objects
    wanted = auto_min_objects(cpus)
    slab = PAGE_SIZE << order
    leftover = slab - objects * cache.size
    first = calc_slab_order(cache.size, wanted, SLUB_MAX_ORDER, 16)
    start = get_order(wanted * cache.size)
    if wanted <= order_objects(SLUB_MAX_ORDER, cache.size) and first == order:
        steps = f"{wanted} × {cache.size} B = {wanted * cache.size} B needs order {start}"
        if order > start:
            steps += f"; the leftover there is over 1/16 of the slab, so it goes up to {order}"
        return (
            f"SLUB's calculate_order() wants at least {wanted} objects per slab on this "
            f"{cpus}-CPU machine (4 × (fls({cpus}) + 1) = 4 × {fls(cpus) + 1}) with at most 1/16 "
            f"of the slab left over: {steps}. A slab of {_pages(order)} holds "
            f"{slab} // {cache.size} = {objects} objects, {leftover} B left over."
        )
    return (
        f"SLUB's calculate_order() tried {wanted} objects per slab (4 × (fls({cpus}) + 1)) with "
        f"at most 1/16, 1/8, then 1/4 left over, then fewer objects, never above order "
        f"{SLUB_MAX_ORDER}, and settled on order {order}: {_pages(order)} hold {objects} objects, "
        f"{leftover} B left over."
    )


def objects_per_slab(size: int) -> Question:
    """How many ``size``-byte objects one slab of a new cache holds on the lesson's machine."""
    k = lesson_kernel()
    cache = k.kmem_cache_create("probe", size)
    slot, order, objects = cache.size, cache.order, cache.objects
    hint = slub_hint(k.cpus)
    why = slub_reasoning(size, k.cpus)
    fits = ", ".join(str(order_objects(o, slot)) for o in range(SLUB_MAX_ORDER + 1))

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == objects:
            return Feedback(True, f"{objects} objects per slab. {why}")
        for other in range(SLUB_MAX_ORDER + 1):
            if other != order and n == order_objects(other, slot):
                return Feedback(
                    False,
                    f"{n} is what a slab of order {other}, {_pages(other)}, would hold, but "
                    f"SLUB picks another order for {slot}-byte slots. {hint}",
                )
        if n <= 0:
            return Feedback(False, f"a slab holds at least one object. {hint}")
        if slot != size and n == (PAGE_SIZE << order) // size:
            return Feedback(False, f"each slot is {slot} B (aligned to 8 bytes), not {size} B.")
        return Feedback(
            False,
            f"{n} is not how many {slot}-byte slots fit in 1, 2, 4 or 8 pages ({fits}). {hint}",
        )

    return Question(
        f"kmem_cache_create() of {size}-byte objects on this 2-CPU machine: how many objects "
        "will one slab hold?",
        checker,
        str(objects),
        why,
    )


def slabinfo_active_objs() -> Question:
    """What /proc/slabinfo's active_objs says for my_conn after the lesson's 50 allocations."""
    k, cache, _ = conn_machine()
    row = slabinfo_row(k, CONN_CACHE)
    active, num_objs, per_slab, slabs = int(row[1]), int(row[2]), int(row[4]), int(row[14])
    in_use = sum(slab.inuse for slab in cache.slabs)
    rule = (
        "get_slabinfo() (mm/slub.c L6312) counts every slot except the free ones on the "
        "node's partial list"
    )
    why = (
        f"{in_use} objects are in use, but {rule}; the {active - in_use} free slots of the "
        "active slab (the CPU's c->slab) are not on that list, so they count as active too."
    )

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == active:
            return Feedback(True, f"active_objs is {active}. {why}")
        if n == in_use:
            return Feedback(
                False,
                f"{in_use} is how many objects are really in use, but {rule}. Where are the free "
                "slots of the slab the CPU is allocating from?",
            )
        if n == slabs:
            return Feedback(False, f"{slabs} is the number of slabs (num_slabs), not objects.")
        if n == per_slab:
            return Feedback(False, f"{per_slab} is objperslab, the objects one slab holds.")
        return Feedback(
            False,
            f"active_objs counts objects; it lies between the {in_use} in use and the "
            f"{num_objs} slots of the cache's {slabs} slabs: {rule}.",
        )

    return Question(
        f"The lesson allocated {CONNS} objects from {CONN_CACHE}. What will the active_objs "
        "column of /proc/slabinfo say?",
        checker,
        str(active),
        why,
    )


def slabs_after_free() -> Question:
    """How many slabs my_conn still holds once the lesson has freed its 50 objects."""
    k, cache, objects = conn_machine()
    before = len(cache.slabs)
    for addr in objects:
        k.kmem_cache_free(cache, addr)
    left = len(cache.slabs)
    rule = (
        "SLUB does not hand an empty slab back at once. The CPU keeps its active slab; a full "
        "slab that gets an object back goes to the CPU's partial list (put_cpu_partial()) and "
        "stays there even when empty; and the node keeps empty slabs on its partial list while "
        f"the cache has only a few partial slabs (min_partial is {cache.min_partial} for "
        f"{CONN_CACHE}): allocations are likely to come back."
    )
    why = (
        f"{rule} All {left} slabs stay, {cache.pages} pages; kmem_cache_shrink() would give them "
        "back."
    )

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == left:
            return Feedback(True, why)
        if n == 0:
            return Feedback(
                False, f"every object is free, yet the pages stay with the cache. {rule}"
            )
        if 0 < n < left:
            return Feedback(False, f"the active slab stays, but not only the active slab. {rule}")
        return Feedback(
            False, f"the cache had {before} slabs, and freeing objects never adds a slab. {rule}"
        )

    return Question(
        f"The lesson frees all {CONNS} objects of {CONN_CACHE}. How many slabs will the cache "
        "still hold?",
        checker,
        str(left),
        why,
    )


def _class_bytes(answer) -> int:
    """A kmalloc class from "128", "kmalloc-128", "1k" or "kmalloc-2k", in bytes."""
    text = str(answer).strip().lower().removeprefix("kmalloc-").replace(" ", "")
    if text.endswith("k") and text[:-1].isdigit():
        return int(text[:-1]) * 1024
    try:
        return as_int(text)
    except AnswerError:
        raise AnswerError(
            f"answer with a size class such as 128 or kmalloc-128, not {answer!r}"
        ) from None


def kmalloc_class(size: int) -> Question:
    """Which kmalloc cache serves kmalloc(``size``, GFP_KERNEL)."""
    right = lesson_kernel().kmalloc_size_roundup(size)
    name = kmalloc_cache_name(kmalloc_index(size))
    rule = (
        f"kmalloc() takes the smallest size class that holds the request; the classes are "
        f"{CLASS_LIST}."
    )
    why = (
        f"{rule} {size} B goes to {name}, whose slots are {right} B (kmalloc_slab(), "
        "mm/slab_common.c L700)."
    )

    def checker(answer) -> Feedback:
        n = _class_bytes(answer)
        if n == right:
            return Feedback(True, why)
        if n not in CLASS_SIZES:
            return Feedback(False, f"there is no kmalloc-{n} cache. {rule}")
        label = kmalloc_cache_name(kmalloc_index(n))
        if n < size:
            return Feedback(False, f"{label} holds only {n} B, too small for {size} B. {rule}")
        return Feedback(
            False,
            f"{label} would hold {size} B, but a smaller class also does, and kmalloc() picks "
            "the smallest class that fits.",
        )

    return Question(
        f"Which kmalloc cache serves kmalloc({size}, GFP_KERNEL)? (its size, e.g. 64)",
        checker,
        name,
        why,
    )


def bytes_wasted(size: int) -> Question:
    """The bytes kmalloc(``size``) hands out but nobody asked for (internal fragmentation)."""
    k = lesson_kernel()
    got = k.ksize(k.kmalloc(size, GFP_KERNEL))
    wasted = got - size
    name = kmalloc_cache_name(kmalloc_index(size))
    hint = (
        f"Find the smallest class that holds {size} B ({CLASS_LIST}); the rest of its slot is "
        "wasted."
    )
    why = f"kmalloc({size}) gets a {got}-byte slot of {name}: {got} - {size} = {wasted} B wasted."

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == wasted:
            return Feedback(True, why)
        if n == 0:
            return Feedback(False, f"only a {size}-byte class would waste nothing. {hint}")
        for other in CLASS_SIZES:
            if other < size and n == size - other:
                return Feedback(
                    False,
                    f"{size} B do not fit in the {other}-byte class: a request never shares "
                    f"slots, it goes up a class. {hint}",
                )
            if other > got and n == other - size:
                return Feedback(
                    False, f"{n} B is what {other}-byte slots would waste; a smaller class fits."
                )
        return Feedback(False, hint)

    return Question(
        f"kmalloc({size}, GFP_KERNEL): how many bytes of the slot it gets are wasted?",
        checker,
        str(wasted),
        why,
    )


def large_kmalloc_order(size: int) -> Question:
    """The page order kmalloc(``size``) asks the page allocator for, above 8 KiB."""
    if size <= KMALLOC_MAX_CACHE_SIZE:
        raise ValueError(f"kmalloc({size}) is served by a cache, not by pages")
    order = get_order(size)
    got = PAGE_SIZE << order
    why = (
        f"{size} B is above KMALLOC_MAX_CACHE_SIZE ({KMALLOC_MAX_CACHE_SIZE}), so no cache "
        f"serves it: __kmalloc_large_node() (mm/slab_common.c L1067) asks the page allocator "
        f"for get_order({size}) = {order}, {1 << order} pages = {got // 1024} KiB with "
        f"__GFP_COMP, and {got - size} B of them are wasted."
    )

    def checker(answer) -> Feedback:
        n = as_int(answer)
        if n == order:
            return Feedback(True, why)
        if n < 0:
            return Feedback(False, "it does not fail: kmalloc() works up to 4 MiB (order 10).")
        if n >= MAX_ORDER:
            return Feedback(False, f"there is no order {n}: the largest is {MAX_ORDER - 1}.")
        if n < order:
            return Feedback(
                False,
                f"order {n} is {1 << n} page{'s' if n else ''} = {(PAGE_SIZE << n) // 1024} KiB, "
                f"too small for "
                f"{size} B.",
            )
        return Feedback(
            False,
            f"order {n} = {(PAGE_SIZE << n) // 1024} KiB holds it, but get_order() gives the "
            "smallest order that does.",
        )

    return Question(
        f"kmalloc({size}, GFP_KERNEL): which page order does it ask the page allocator for?",
        checker,
        str(order),
        why,
    )


def kmalloc_zero() -> Question:
    """What kmalloc(0, GFP_KERNEL) returns on the lesson's machine: ZERO_SIZE_PTR, 0x10."""
    returned = lesson_kernel().kmalloc(0, GFP_KERNEL)
    why = (
        f"kmalloc(0) returns ZERO_SIZE_PTR, ((void *){ZERO_SIZE_PTR}) in include/linux/slab.h "
        "L145 (kmalloc_slab() in mm/slab_common.c L706): not NULL, so an `if (!p)` check does "
        "not take an empty request for a failure, and no slot is handed out: nothing is mapped "
        'there, so any access through it faults at once ("a distinct access fault", says '
        "slab.h). kfree() ignores it as it ignores NULL (ZERO_OR_NULL_PTR(), L147), and "
        "ksize() says 0."
    )

    def checker(answer) -> Feedback:
        text = str(answer).strip()
        n = 0 if text.upper() in ("NULL", "NONE") else as_int(answer)
        if n == returned:
            return Feedback(True, why)
        if n == 0:
            return Feedback(
                False,
                "not NULL: NULL means the allocation failed, and asking for nothing cannot fail. "
                "6.1 returns a special non-NULL pointer that may not be dereferenced.",
            )
        if n > returned:
            return Feedback(
                False,
                f"{n:#x} is not it: no cache has a 0-byte class, so kmalloc(0) takes no slot at "
                "all; it returns the same special pointer every time, just above NULL.",
            )
        return Feedback(False, "a special pointer just above NULL: look in include/linux/slab.h.")

    return Question(
        "kmalloc(0, GFP_KERNEL): which address does it return? (hex, or 0 for NULL)",
        checker,
        f"{returned:#x}",
        why,
    )
