"""Kernel.fork(): is the copy a machine of its own, equal now and independent afterwards?"""

import gc
import types

from kmviz import GFP_KERNEL, Kernel
from kmviz.engine import fastpath
from kmviz.workloads import uptime

IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset, range, slice)
NOT_WALKED = (type, types.ModuleType, types.FunctionType, types.CodeType, types.BuiltinFunctionType)


def reachable(root) -> dict[int, object]:
    """Every object reachable from ``root`` by references, not into modules, classes or code.

    A bound method of a C type (``list.append`` of some list) leads to its list.
    """
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, IMMUTABLE):
            continue
        seen[id(obj)] = obj
        if isinstance(obj, types.BuiltinMethodType) and not isinstance(
            obj.__self__, types.ModuleType | type
        ):
            stack.append(obj.__self__)
        elif not isinstance(obj, NOT_WALKED):
            stack.extend(gc.get_referents(obj))
    return seen


def aged() -> Kernel:
    k = Kernel(mem="64MiB", seed=1, memory_map="flat")
    uptime(k, ops=3000)
    return k


def frozen_event(obj) -> bool:
    """True for an instance of a frozen dataclass (every event in kmviz.engine.events)."""
    params = getattr(type(obj), "__dataclass_params__", None)
    return params is not None and params.frozen


def module_function(obj) -> bool:
    """True for a function of a C module (``_fastpath.vmap_fit``): a constant, as a def is."""
    return isinstance(obj, types.BuiltinFunctionType) and isinstance(obj.__self__, types.ModuleType)


def test_a_fork_shares_nothing_mutable_with_its_machine():
    k = aged()
    twin = k.fork()
    mine, theirs = reachable(k), reachable(twin)
    shared = {
        type(obj).__name__
        for key, obj in mine.items()
        if key in theirs and not frozen_event(obj) and not module_function(obj)
    }
    assert shared <= {"tuple", "type", "function", "MetaHasTraits", "ABCMeta"}  # constants


def test_a_fork_shares_its_machines_stored_events():
    k = aged()
    twin = k.fork()
    assert twin.history.objects is not k.history.objects
    pairs = [
        (a, b)
        for a, b in zip(twin.history.objects, k.history.objects, strict=True)
        if frozen_event(b)
    ]
    assert pairs and all(a is b for a, b in pairs)
    assert list(twin.history) == list(k.history)  # compact events too, built from the copy


def test_a_fork_is_the_same_machine_now():
    k = aged()
    twin = k.fork()
    assert twin.cat("/proc/buddyinfo") == k.cat("/proc/buddyinfo")
    assert twin.cat("/proc/slabinfo") == k.cat("/proc/slabinfo")
    assert len(twin.history) == len(k.history) and twin.dmesg() == k.dmesg()
    assert twin.now_ns() == k.now_ns()


def test_calls_on_a_fork_leave_the_machine_as_it_was():
    k = aged()
    before = (k.cat("/proc/buddyinfo"), k.cat("/proc/slabinfo"), len(k.history), k.dmesg())
    twin = k.fork()
    for _ in range(200):
        twin.kmalloc(64, GFP_KERNEL)
        twin.get_free_pages(GFP_KERNEL, 0)
    twin.alloc_pages(GFP_KERNEL, 10)
    after = (k.cat("/proc/buddyinfo"), k.cat("/proc/slabinfo"), len(k.history), k.dmesg())
    assert after == before
    assert twin.cat("/proc/buddyinfo") != before[0]


def test_a_fork_goes_on_as_the_machine_would():
    k = aged()
    twin = k.fork()
    for machine in (k, twin):
        uptime(machine, ops=500, seed=5)
    assert twin.cat("/proc/buddyinfo") == k.cat("/proc/buddyinfo")
    assert list(twin.history.records) == list(k.history.records)


def test_a_fork_keeps_the_c_fast_paths_when_its_machine_has_them():
    k = aged()
    twin = k.fork()
    assert ("kmalloc" in twin.__dict__) == ("kmalloc" in k.__dict__) == fastpath.available()
