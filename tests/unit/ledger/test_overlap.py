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


def _fails_in_the_caller(items: Sequence[int]) -> list[int]:
    """``_square`` in the pool's threads (counted); raises in the caller's own thread (a chunk this process
    computes itself)."""
    if threading.get_ident() == threading.main_thread().ident:
        raise ValueError("caller's chunk")
    with _lock:
        _worker_chunks[0] += 1
    time.sleep(0.002)
    return _square(items)


_worker_chunks = [0]


def test_no_chunk_is_handed_out_after_the_callers_own_chunk_failed_or_the_view_closed() -> None:
    items = list(range(40 * 256))  # 40 chunks of 256, one worker beside the caller
    _worker_chunks[0] = 0
    with WorkerPool(workers=2, parallel_threshold=256, threads=True) as pool:
        beside = Beside(pool, chunks_per_worker=20)
        wait = beside.submit_chunks(_fails_in_the_caller, items)
        with pytest.raises(ValueError, match="caller's chunk"):
            wait()
        time.sleep(0.3)  # time enough for the worker to go through all 39 chunks, were it handed them
    # the pool closed (every chunk handed out finished): the worker ran the chunk it had and at most one more,
    # not the 39 left for nobody
    assert 1 <= _worker_chunks[0] <= 2
    # a view closed before its results are taken (a clearing that failed otherwise) hands out no more either
    _worker_chunks[0] = 0
    with WorkerPool(workers=2, parallel_threshold=256, threads=True) as pool:
        beside = Beside(pool, chunks_per_worker=20)
        beside.submit_chunks(_fails_in_the_caller, items)
        beside.close()
        time.sleep(0.3)
    assert 1 <= _worker_chunks[0] <= 2
