"""Validators recomputing a slot at the same time, each in its own worker process (in one service; for
validators on other machines see :mod:`transactive.ledger.clearance.validator_service`).

Proof of Clearance asks every validator to recompute the committed batch on its own (re-verify every
signature, clear, build the result root: :func:`transactive.ledger.clearance.protocol.recompute`). A service that
hosts several validators in-process (the ledger desk) would otherwise run them one after the other on one
core; :class:`ParallelValidators` runs them side by side in worker processes instead, as separate parties
would: nothing is shared between them but the published batch (sent once per validator, pickled) and the
slot's reward shares; each worker verifies every signature itself (in its own process) and returns the
root it computed. The caller keeps one validator (typically the auctioneer) in its own process meanwhile.

Workers start on the first slot of at least :attr:`ParallelValidators.threshold` orders (smaller slots are
recomputed in-process by the caller: a round trip costs more than it saves), or at :meth:`start`; keep one
instance open in a long-running service and :meth:`close` it on shutdown.

Example (a small batch stays below the threshold, so nothing is started)::

    with ParallelValidators(3) as validators:
        if validators.worth_it(batch):
            roots = validators.submit(batch, rewards, count=3)()
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from transactive.crypto.signing import DEFAULT_PARALLEL_THRESHOLD, WorkerPool, processes_cpu_seconds
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.messages.commitments import RewardShares, result_tree

__all__ = ["ParallelValidators", "recomputed_root"]


def recomputed_root(payload: bytes, rewards: RewardShares | None) -> bytes:
    """Worker: one validator's recomputation of the pickled batch (every signature verified here, in this
    process) and the root of its result entries (:class:`~transactive.ledger.clearance.protocol.ClearanceError`
    when the batch does not verify or clear)."""
    from transactive.ledger.clearance.protocol import recompute

    batch: SlotBatch = pickle.loads(payload)  # our own pickle of a SlotBatch (submit)
    with WorkerPool(workers=1) as in_process:  # no nested pool: this process is the validator's core
        entries = recompute(batch, pool=in_process, rewards=rewards)
    return result_tree(batch.slot, entries).root


class ParallelValidators:
    """A pool of ``processes`` worker processes, each recomputing one validator's answer at a time."""

    def __init__(
        self, processes: int, *, threshold: int = DEFAULT_PARALLEL_THRESHOLD, start_method: str | None = "forkserver"
    ) -> None:
        if processes < 1:
            raise ValueError("processes: must be >= 1")
        self.processes = processes
        self.threshold = threshold
        self.start_method = start_method
        self._executor: Executor | None = None

    def __enter__(self) -> ParallelValidators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worth_it(self, batch: SlotBatch) -> bool:
        """Whether ``batch`` is large enough to be recomputed in the worker processes."""
        return len(batch.orders) + len(batch.attributes) >= self.threshold

    def start(self) -> None:
        """Start the worker processes now (else on the first large slot)."""
        if self._executor is None:
            context = multiprocessing.get_context(self.start_method)
            self._executor = ProcessPoolExecutor(max_workers=self.processes, mp_context=context)

    def warm_up(self, batch: SlotBatch) -> None:
        """Let every worker import the clearing code by recomputing ``batch`` (a small one) once each."""
        self.start()
        assert self._executor is not None
        payload = pickle.dumps(batch)
        for future in [self._executor.submit(recomputed_root, payload, None) for _ in range(self.processes)]:
            future.result()

    def submit(self, batch: SlotBatch, rewards: RewardShares | None, count: int) -> Callable[[], list[bytes]]:
        """Start ``count`` independent recomputations of ``batch`` and return a function that waits for their
        roots (in submission order; it re-raises a worker's ``ClearanceError``)."""
        self.start()
        assert self._executor is not None
        payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        futures = [self._executor.submit(recomputed_root, payload, rewards) for _ in range(count)]

        def wait() -> list[bytes]:
            try:
                return [f.result() for f in futures]
            except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh next time
                self._executor = None
                raise

        return wait

    def cpu_seconds(self) -> float:
        """CPU seconds the live worker processes have used so far (Linux; benchmarks)."""
        return processes_cpu_seconds(self._executor)

    def close(self) -> None:
        """Stop the worker processes (if started)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
