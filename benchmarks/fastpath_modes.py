"""Hands the benchmarks each allocator implementation to time, one label at a time."""

from __future__ import annotations

from collections.abc import Iterator

from kmviz.engine import fastpath


def fastpath_modes() -> Iterator[str]:
    """Yield "C fast path" then "pure Python", setting fastpath.ENABLED to match; restore it."""
    built = fastpath.available()
    try:
        for use_c in (True, False) if built else (False,):
            fastpath.ENABLED = use_c
            yield "C fast path" if use_c else "pure Python"
    finally:
        fastpath.ENABLED = built
    if not built:
        print("(the C fast path is not built: there was no C compiler when kmviz was installed)")
