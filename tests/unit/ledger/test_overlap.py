"""Beside: signature chunks on at most ``workers - 1`` of the pool's workers while the caller works, the rest of
the chunks taken over by the caller when it waits; results always in item order, as ``WorkerPool`` gives them."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from transactive.crypto.signing import WorkerPool
from transactive.ledger.clearance.overlap import Beside

_lock = threading.Lock()
_active: set[int] = set()  # the pool's threads running a chunk now (the caller's thread excluded)
_most = [0]  # the largest number of them at once
_callers: list[int] = []  # the chunks the caller's thread computed, by first item


def _square(items: Sequence[int]) -> list[int]:
    return [x * x for x in items]


def _recorded(items: Sequence[int]) -> list[int]:
    """``_square``, noting how many of the pool's threads run a chunk at the same time."""
    me = threading.get_ident()
    if me == threading.main_thread().ident:
        _callers.append(items[0])
        return _square(items)
    with _lock:
        _active.add(me)
        _most[0] = max(_most[0], len(_active))
    time.sleep(0.002)  # long enough for a second worker to start a chunk, were one allowed to
    with _lock:
        _active.discard(me)
    return _square(items)


@pytest.mark.parametrize("n", [300, 2_047, 2_048, 5_000, 20_001])
def test_results_are_in_item_order_whatever_the_chunking(n: int) -> None:
    items = list(range(n))
    with WorkerPool(workers=2, parallel_threshold=256, start_method="forkserver") as pool:
        assert Beside(pool).submit_chunks(_square, items)() == _square(items)
        assert Beside(pool, chunks_per_worker=1).map_chunks(_square, items) == _square(items)


def test_at_most_workers_minus_one_chunks_run_beside_the_caller() -> None:
    items = list(range(40 * 256))  # 40 chunks of 256
    for workers in (2, 3):
        _most[0] = 0
        _callers.clear()
        with WorkerPool(workers=workers, parallel_threshold=256, threads=True) as pool:
            wait = Beside(pool, chunks_per_worker=40 // workers + 1).submit_chunks(_recorded, items)
            assert wait() == _square(items)
        assert 1 <= _most[0] <= workers - 1
        # the caller took chunks from the end of the queue while the workers took them from the front
        assert _callers == sorted(_callers, reverse=True)
        assert all(c > 0 for c in _callers)


def test_a_pool_of_one_worker_or_a_small_batch_is_computed_at_once_in_this_process() -> None:
    with WorkerPool(workers=1) as one:
        wait = Beside(one).submit_chunks(_square, list(range(5_000)))
        assert one._executor is None  # nothing started
        assert wait()[-1] == 4_999 ** 2
    with WorkerPool(workers=2, parallel_threshold=2_048) as pool:
        assert Beside(pool).submit_chunks(_square, [1, 2, 3])() == [1, 4, 9]
        assert pool._executor is None


def test_a_shut_down_pool_leaves_every_chunk_to_the_caller() -> None:
    pool = WorkerPool(workers=2, parallel_threshold=256, threads=True)
    pool.start()
    assert pool._executor is not None
    pool._executor.shutdown()  # submit now raises RuntimeError: nothing is lost, the caller computes it all
    items = list(range(3_000))
    assert Beside(pool).submit_chunks(_square, items)() == _square(items)
    view = Beside(pool)
    view.close()  # the view never stops the caller's pool
    assert pool._executor is not None
    pool.close()
