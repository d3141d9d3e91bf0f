"""The cyclic garbage collector paused for a bulk step (:mod:`transactive._bulk`): off inside, restored after
the outermost pause (also when the step raises), never turned on when it was off before."""

from __future__ import annotations

import gc
import threading

import pytest

from transactive._bulk import gc_paused


def test_the_collector_is_off_inside_and_back_on_after_a_failing_step() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("the step failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_of_two_threads_end_with_the_last() -> None:
    inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with gc_paused():
        pass
    seen.append(gc.isenabled())  # the other thread's pause is still open
    release.set()
    thread.join(5)
    assert seen == [False] and gc.isenabled()
