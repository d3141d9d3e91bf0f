"""The clock seam: the market reads time only through a :class:`Clock` (real, accelerated or manual).

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=3)).isoformat()
    '2026-01-01T00:03:00+00:00'
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from transactive.files import write_atomic


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

    ``factor=60`` runs a 15-minute slot in 15 seconds. :meth:`persistent` keeps the origin in a file (the
    service's data directory), so that market time goes on across restarts instead of jumping back.
    """

    def __init__(self, start: datetime, factor: float) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not factor > 0:
            raise ValueError("factor must be > 0")
        self._start = start.astimezone(UTC)
        self._factor = factor
        self._origin = time.monotonic()

    @property
    def origin(self) -> datetime:
        """The virtual time at which this clock started."""
        return self._start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._factor)

    @classmethod
    def persistent(cls, path: Path, factor: float, wall: datetime | None = None) -> AcceleratedClock:
        """The accelerated clock whose origin is kept in ``path`` (JSON: ``real_origin``, ``virtual_origin``,
        ``factor``). The first start begins at the wall time ``wall`` (now by default); a later one at
        ``virtual = virtual_origin + (wall - real_origin) * factor`` of the recorded origin (the time that passed
        while the service was down runs accelerated too, and never backwards). A start with another factor
        re-anchors the file at that virtual time, so that time never jumps either way.

        Example:
            >>> import tempfile
            >>> from pathlib import Path
            >>> path = Path(tempfile.mkdtemp()) / "clock.json"
            >>> first = AcceleratedClock.persistent(path, 60, datetime(2026, 1, 1, tzinfo=UTC))
            >>> again = AcceleratedClock.persistent(path, 60, datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC))
            >>> again.origin.isoformat()
            '2026-01-01T00:10:00+00:00'
        """
        if not factor > 0:
            raise ValueError("factor must be > 0")
        wall = datetime.now(UTC) if wall is None else wall.astimezone(UTC)
        virtual = wall
        if path.exists():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                real_origin = datetime.fromisoformat(doc["real_origin"])
                virtual_origin = datetime.fromisoformat(doc["virtual_origin"])
                recorded = float(doc["factor"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: not an accelerated clock's origin ({exc})") from None
            elapsed_s = max(0.0, (wall - real_origin).total_seconds())
            virtual = virtual_origin + timedelta(seconds=elapsed_s * recorded)
            if recorded == factor:
                return cls(virtual, factor)
        write_atomic(path, json.dumps({"real_origin": wall.isoformat(), "virtual_origin": virtual.isoformat(),
                                       "factor": factor}) + "\n")
        return cls(virtual, factor)
