"""The clock seam: the market reads time only through a :class:`Clock` (real, accelerated or manual).

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=3)).isoformat()
    '2026-01-01T00:03:00+00:00'
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time (timezone-aware UTC)."""

    def now(self) -> datetime: ...


class RealClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Time that moves only when told (tests). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            self._now = moment.astimezone(UTC)
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


class AcceleratedClock:
    """Virtual time running ``factor`` times faster than real time from ``start`` (demos).

    ``factor=60`` runs a 15-minute slot in 15 seconds.
    """

    def __init__(self, start: datetime, factor: float) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not factor > 0:
            raise ValueError("factor must be > 0")
        self._start = start.astimezone(UTC)
        self._factor = factor
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._factor)
