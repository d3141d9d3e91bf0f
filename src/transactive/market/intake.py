"""Group commit: many submitters, one writer thread, one durable transaction per batch.

Each submitter hands its validated order to :meth:`OrderIntake.submit` (blocking) or
:meth:`OrderIntake.submit_async` (callback) and is answered only after the batch containing the order has
committed (with SQLite ``synchronous=FULL``: fsynced). Under load batches grow by themselves (whatever queued
while the previous commit ran), so the fsync cost is shared; with a single submitter a batch is one order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from transactive.store import OrderRecord, Outcome, Store

Answer = tuple[Outcome, OrderRecord]
Callback = Callable[[Answer | None, BaseException | None], None]

MAX_BATCH = 1000


class OrderIntake:
    """The single writer of orders. Start it with :meth:`start`, stop with :meth:`stop` (drains the queue)."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[OrderRecord, Callback] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.orders = 0

    def start(self) -> OrderIntake:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="order-intake", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def submit_async(self, order: OrderRecord, callback: Callback) -> None:
        """Queue ``order``; ``callback(answer, error)`` runs on the writer thread after the commit."""
        if self._thread is None:
            raise RuntimeError("order intake not started")
        self._queue.put((order, callback))

    def submit(self, order: OrderRecord, timeout_s: float = 60.0) -> Answer:
        """Queue ``order`` and wait until it is durable (or rejected by the store)."""
        return self.submit_many([order], timeout_s)[0]

    def submit_many(self, orders: Sequence[OrderRecord], timeout_s: float = 60.0) -> list[Answer]:
        futures: list[Future[Answer]] = []
        for order in orders:
            future: Future[Answer] = Future()

            def done(answer: Answer | None, error: BaseException | None, f: Future[Answer] = future) -> None:
                if error is not None:
                    f.set_exception(error)
                else:
                    assert answer is not None
                    f.set_result(answer)

            futures.append(future)
            self.submit_async(order, done)
        return [f.result(timeout=timeout_s) for f in futures]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is None
            batch: list[tuple[OrderRecord, Callback]] = [] if item is None else [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    continue
                batch.append(more)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[OrderRecord, Callback]]) -> None:
        try:
            answers = self.store.put_orders([order for order, _ in batch])
        except Exception as exc:  # the database failed: nobody is acknowledged
            for _, callback in batch:
                _safe(callback, None, exc)
            return
        self.batches += 1
        self.orders += len(batch)
        for (_, callback), answer in zip(batch, answers, strict=True):
            _safe(callback, answer, None)


def _safe(callback: Callback, answer: Answer | None, error: BaseException | None) -> None:
    try:
        callback(answer, error)
    except Exception:  # a submitter's callback must not kill the writer
        import logging

        logging.getLogger(__name__).exception("order intake callback failed")
