"""Group commit: many submitters, one writer thread, one durable transaction per batch.

Each submitter hands its validated order to :meth:`OrderIntake.submit` (blocking) or
:meth:`OrderIntake.submit_async` (callback) and is answered only after the batch containing the order has
committed (with SQLite ``synchronous=FULL``: fsynced). Under load batches grow by themselves (whatever queued
while the previous commit ran), so the fsync cost is shared; with a single submitter a batch is one order.
:meth:`OrderIntake.submit_batch_async` hands over many orders with one callback for all of them (the MQTT
gateway's path: one call per received burst instead of one per order); a submitted batch is never split
between commits.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from transactive.store import OrderRecord, Outcome, Store

Answer = tuple[Outcome, OrderRecord]
Callback = Callable[[Answer | None, BaseException | None], None]
BatchCallback = Callable[[list[Answer] | None, BaseException | None], None]

MAX_BATCH = 1000


class OrderIntake:
    """The single writer of orders. Start it with :meth:`start`, stop with :meth:`stop` (drains the queue)."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[list[OrderRecord], BatchCallback] | None] = queue.SimpleQueue()
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

        def one(answers: list[Answer] | None, error: BaseException | None) -> None:
            callback(None if answers is None else answers[0], error)

        self.submit_batch_async([order], one)

    def submit_batch_async(self, orders: Sequence[OrderRecord], callback: BatchCallback) -> None:
        """Queue ``orders`` to be committed in the same transaction; ``callback(answers, error)`` runs once on the
        writer thread after that commit, with one answer per order in order (or ``None`` and the error)."""
        if self._thread is None:
            raise RuntimeError("order intake not started")
        if orders:
            self._queue.put((list(orders), callback))

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
            batch: list[tuple[list[OrderRecord], BatchCallback]] = [] if item is None else [item]
            size = 0 if item is None else len(item[0])
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    continue
                batch.append(more)
                size += len(more[0])
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[list[OrderRecord], BatchCallback]]) -> None:
        orders = [order for part, _ in batch for order in part]
        try:
            answers = self.store.put_orders(orders)
        except Exception as exc:  # the database failed: nobody is acknowledged
            for _, callback in batch:
                _safe(callback, None, exc)
            return
        self.batches += 1
        self.orders += len(orders)
        start = 0
        for part, callback in batch:
            _safe(callback, answers[start:start + len(part)], None)
            start += len(part)


def _safe(callback: BatchCallback, answer: list[Answer] | None, error: BaseException | None) -> None:
    try:
        callback(answer, error)
    except Exception:  # a submitter's callback must not kill the writer
        import logging

        logging.getLogger(__name__).exception("order intake callback failed")
