"""A validator's signature checks on its machine's other cores while it clears the batch (issue 13).

A validator's recomputation (:func:`~transactive.ledger.clearance.protocol.clear_batch`) has two independent
parts: recovering every signature (libsecp256k1 in C) and clearing the batch (Python and NumPy in this
process). The clearing does not need the signers until it is done, so on a machine with ``c`` cores -- a
:class:`~transactive.crypto.signing.WorkerPool` of ``c`` worker processes -- :class:`Beside` keeps at most
``c - 1`` signature chunks running in the pool's processes while this process clears on the remaining core
(no core is asked to run two things at once: with all ``c`` workers busy next to this process, the clearing
would get only ``c / (c + 1)`` of a core). When this process asks for the signers (its clearing done), it
computes every chunk no worker has started yet itself, next to the workers, so every core recovers the tail.

The chunks are handed to the pool one at a time per free worker (a finished chunk starts the next one), in
order; the signers come back in item order, as :meth:`WorkerPool.submit_chunks` returns them. A pool of one
worker, or a batch below the pool's ``parallel_threshold``, is computed in this process right away, as
:meth:`WorkerPool.submit_chunks` does.

Choice: the chunks go to the pool's own executor (``WorkerPool._executor``, started by ``WorkerPool.start``),
so a long-lived pool's warm workers serve them; ``crypto/signing.py`` is left as it is.

Example (``rows``: the ``(digest, signature)`` pairs of a batch)::

    with WorkerPool(workers=2) as pool:
        wait = Beside(pool).submit_chunks(recover_chunk, rows)
        ...  # clear the batch meanwhile
        signers = wait()
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from transactive.crypto.signing import WorkerPool

__all__ = ["Beside"]

T = TypeVar("T")
R = TypeVar("R")


class Beside(WorkerPool):
    """A view of ``pool`` for work done beside this process's own (the caller's pool: :meth:`close` leaves it
    running). ``chunks_per_worker``: how finely the items are cut (the tail this process may take over is
    one chunk)."""

    def __init__(self, pool: WorkerPool, *, chunks_per_worker: int = 8) -> None:
        super().__init__(pool.workers, pool.parallel_threshold, start_method=pool.start_method, threads=pool.threads)
        self.pool = pool
        self.chunks_per_worker = chunks_per_worker
        self._queues: list[tuple[threading.Lock, deque[int]]] = []  # each submission's chunks not yet started

    def start(self) -> None:
        self.pool.start()

    def close(self) -> None:
        """Hand out no more chunks: the ones no worker has started are dropped (call it once the results were
        taken, or when they never will be -- a clearing that failed otherwise -- so that a long-lived pool does
        not go on with work nobody collects). The pool itself is the caller's and keeps running."""
        for lock, todo in self._queues:
            with lock:
                todo.clear()

    def cpu_seconds(self) -> float:
        return self.pool.cpu_seconds()

    def submit_chunks(self, fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], *,
                      chunks_per_worker: int | None = None) -> Callable[[], list[R]]:
        """Start ``fn`` over contiguous chunks of ``items`` on at most ``workers - 1`` of the pool's processes
        and return a function that computes in this process the chunks no worker has started, waits for the
        others and returns the results concatenated in order (a chunk's exception is raised there).
        ``chunks_per_worker``: the caller's cut (the batch verifier wants few large chunks), else this view's."""
        pool = self.pool
        n = len(items)
        per_worker = self.chunks_per_worker if chunks_per_worker is None else max(1, chunks_per_worker)
        if pool.workers <= 1 or n < pool.parallel_threshold:
            return pool.submit_chunks(fn, items, chunks_per_worker=per_worker)
        pool.start()
        executor = pool._executor  # the pool's started processes (or threads)
        assert executor is not None
        size = max(256, -(-n // (pool.workers * per_worker)))
        chunks = [items[i : i + size] for i in range(0, n, size)]
        results: list[list[R] | None] = [None] * len(chunks)
        todo = deque(range(len(chunks)))
        running: dict[int, Future[list[R]]] = {}
        lock = threading.Lock()  # the queue, shared by this process's thread and the pool's result thread
        self._queues.append((lock, todo))

        def feed(_: object = None) -> None:
            """Hand the next chunk to a worker (called again when that chunk is done)."""
            with lock:
                if not todo:
                    return
                k = todo.popleft()
                try:
                    future = executor.submit(fn, chunks[k])
                except RuntimeError:  # the pool is broken or shut down: this process computes the chunk
                    todo.appendleft(k)
                    return
                running[k] = future
            future.add_done_callback(feed)  # outside the lock: a finished future calls back at once

        for _ in range(max(1, pool.workers - 1)):
            feed()

        def wait() -> list[R]:
            while True:  # this process's share: every chunk no worker has started
                with lock:
                    k = todo.pop() if todo else None
                    if k is None:
                        started = dict(running)
                        break
                try:
                    results[k] = fn(chunks[k])
                except BaseException:
                    with lock:  # nobody will collect the rest: the workers get no more of it
                        todo.clear()
                    raise
            for k, future in started.items():
                results[k] = future.result()
            out: list[R] = []
            for part in results:
                assert part is not None
                out.extend(part)
            return out

        return wait
