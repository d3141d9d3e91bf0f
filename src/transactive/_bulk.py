"""Building a slot's many small objects without the cyclic garbage collector in the way (issue 13).

A 100,000-order slot builds millions of small, acyclic objects in one go (order records, market entries, signed
messages, their JSON): every 700 allocations CPython runs a generation-0 collection, and whenever the objects
that survived grow by a quarter of the long-lived heap a full collection walks the whole heap (all the slot's
objects so far). Those walks find nothing to free (reference counting frees acyclic objects) and cost seconds per
slot. :func:`gc_paused` turns the cyclic collector off for such a step and back on after it, then collects the
young generations once: the objects the step made are examined once, by the step (proportional to them, not to
the heap; otherwise the next step's first collections would examine them) and move to the oldest generation.
Reference counting works as always. Re-entrant and thread-safe: the collector is enabled again (and the young
generations collected) when the outermost pause ends, and only if it was enabled before.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]



class _Pauses:
    """How many pauses are open, and whether the collector was enabled when the first began."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = False


_pauses = _Pauses()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the block runs (see the module docstring).

    Example:
        >>> import gc
        >>> with gc_paused():
        ...     with gc_paused():
        ...         inner = gc.isenabled()
        ...     outer = gc.isenabled()
        >>> inner, outer, gc.isenabled()
        (False, False, True)
    """
    with _pauses.lock:
        if _pauses.depth == 0:
            _pauses.was_enabled = gc.isenabled()
            gc.disable()
        _pauses.depth += 1
    try:
        yield
    finally:
        with _pauses.lock:
            _pauses.depth -= 1
            if _pauses.depth == 0 and _pauses.was_enabled:
                gc.enable()
                gc.collect(1)  # the step's own objects examined once now, not by the next step's collections
