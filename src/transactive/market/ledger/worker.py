"""The ledger's own thread: anchors cleared slots and settles anchored ones (``LedgerDesk.process_due``) beside
the market cycle, so that a slow or unreachable chain never delays the clearing of the next slot."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from transactive.market.clock import Clock

if TYPE_CHECKING:
    from transactive.market.ledger.desk import LedgerDesk
    from transactive.store import LedgerSlot

log = logging.getLogger(__name__)


class LedgerWorker:
    """Calls ``desk.process_due(clock.now())`` every ``poll_s`` real seconds, or at once after :meth:`wake`
    (e.g. when a slot was cleared); then each of ``on_done`` with every slot record it anchored or settled (e.g.
    the live-update hub)."""

    def __init__(self, desk: LedgerDesk, clock: Clock, poll_s: float = 0.5) -> None:
        self.desk, self.clock, self.poll_s = desk, clock, poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_done: list[Callable[[LedgerSlot], None]] = []

    def start(self) -> LedgerWorker:
        self._thread = threading.Thread(target=self._run, name="ledger-worker", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop after the step under way (a step interrupted by a crash resumes at the next start anyway)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                done = self.desk.process_due(self.clock.now())
            except Exception:  # keep going: the next round retries
                log.exception("ledger worker round failed")
                continue
            for record in done:
                for listener in self.on_done:
                    try:
                        listener(record)
                    except Exception:
                        log.exception("ledger listener failed")
