"""The market cycle: a background thread that clears every slot as soon as its quotation window closes, and,
when the service runs a ledger, anchors cleared slots and settles each slot once (the whole seed-001 sequence
when it has contracts or listings, against the meter readings; unless ``run_ledger`` is False: the service
runs that in its own thread, :mod:`transactive.market.ledger.worker`); further ``tasks`` (e.g. the negawatt
desk's ``process_due``: clear events when offers close, settle them after their window) run on every tick.

In a fleet of processes on one PostgreSQL (``docs/deployment.md``) every process runs this cycle: a slot is
cleared by the process holding its lease ``clear/<community>/<start>`` (the others skip it), the ledger's steps
under ``clearing|settlement/<community>/<start>`` and the tasks of a tick under ``cycle/tasks``
(:mod:`transactive.store.leases`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from transactive.market.operator import Operator
from transactive.store import Slot

log = logging.getLogger(__name__)


class CycleRunner:
    """Polls ``operator.clear_due()`` every ``poll_s`` real seconds; ``on_cleared(slot)`` after each slot."""

    def __init__(self, operator: Operator, poll_s: float = 0.5,
                 on_cleared: Callable[[Slot], None] | None = None) -> None:
        self.operator = operator
        self.poll_s = poll_s
        self.on_cleared = on_cleared
        self.run_ledger = True  # False: the ledger's work runs in its own thread (market.ledger_worker)
        self.tasks: list[Callable[[datetime], Any]] = []  # run with the market time on every tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> CycleRunner:
        self._thread = threading.Thread(target=self._run, name="market-cycle", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def tick(self) -> list[Slot]:
        """Clear the due slots; then, with a ledger, anchor cleared slots and settle the ones whose meter
        readings are in (``LedgerDesk.process_due``)."""
        slots = self.operator.clear_due()
        if self.on_cleared is not None:
            for slot in slots:
                self.on_cleared(slot)
        if self.operator.ledger is not None and self.run_ledger:
            self.operator.ledger.process_due(self.operator.clock.now())
        with self.operator.leases.hold("cycle/tasks") as held:  # in a fleet: one process per tick runs them
            for task in self.tasks if held else ():
                try:
                    task(self.operator.clock.now())
                except Exception:  # one task failing must not stop the others
                    log.exception("cycle task %r failed", task)
        return slots

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # keep cycling: the next tick retries
                log.exception("market cycle tick failed")
