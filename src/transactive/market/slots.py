"""Slots and their market windows (thesis schedule), as pure functions of time.

A slot is identified by its start (UTC, aligned to a multiple of its length since the Unix epoch) and its
length ``slot_minutes``. Within a 15-minute slot the phases are quotation 0-3 min, matching 3-10, feedback
10-13, settlement 13-15; other lengths scale these proportionally (boundaries at 1/5, 2/3 and 13/15 of the
slot, i.e. at ``12 * slot_minutes``, ``40 * slot_minutes`` and ``52 * slot_minutes`` seconds: exact integers).
Before the slot starts the phase is ``pending`` (orders are already taken), after it ``closed``.

Example:
    >>> from datetime import UTC, datetime
    >>> start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    >>> window_at(start, 15, datetime(2026, 1, 1, 12, 4, tzinfo=UTC)).phase
    <Phase.MATCHING: 'matching'>
    >>> window_at(start, 5, datetime(2026, 1, 1, 12, 1, tzinfo=UTC)).phase  # 5-min slot: quotation 0-1 min
    <Phase.MATCHING: 'matching'>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from transactive.errors import MarketError
from transactive.times import parse_utc_time

MAX_SLOT_MINUTES = 1440
# phase ends in seconds per minute of slot length: 15-min slot -> 180 s, 600 s, 780 s, 900 s
_BOUNDARY_S_PER_SLOT_MIN = (12, 40, 52, 60)


class Phase(StrEnum):
    PENDING = "pending"
    QUOTATION = "quotation"
    MATCHING = "matching"
    FEEDBACK = "feedback"
    SETTLEMENT = "settlement"
    CLOSED = "closed"

    @property
    def takes_orders(self) -> bool:
        return self in (Phase.PENDING, Phase.QUOTATION)


_PHASES = (Phase.QUOTATION, Phase.MATCHING, Phase.FEEDBACK, Phase.SETTLEMENT)


@dataclass(frozen=True)
class Window:
    """The phase at a moment and its bounds (``opens_at`` None: since ever; ``closes_at`` None: for ever)."""

    phase: Phase
    opens_at: datetime | None
    closes_at: datetime | None


def phase_bounds(slot_start: datetime, slot_minutes: int) -> dict[Phase, tuple[datetime, datetime]]:
    """Start and end of each in-slot phase."""
    bounds: dict[Phase, tuple[datetime, datetime]] = {}
    begin = slot_start
    for phase, per_minute in zip(_PHASES, _BOUNDARY_S_PER_SLOT_MIN, strict=True):
        end = slot_start + timedelta(seconds=per_minute * slot_minutes)
        bounds[phase] = (begin, end)
        begin = end
    return bounds


def quotation_closes(slot_start: datetime, slot_minutes: int) -> datetime:
    """When the slot stops taking orders."""
    return slot_start + timedelta(seconds=_BOUNDARY_S_PER_SLOT_MIN[0] * slot_minutes)


def window_at(slot_start: datetime, slot_minutes: int, now: datetime) -> Window:
    """The window of the slot starting at ``slot_start`` that ``now`` falls in (pure)."""
    if now < slot_start:
        return Window(Phase.PENDING, None, slot_start)
    for phase, (begin, end) in phase_bounds(slot_start, slot_minutes).items():
        if begin <= now < end:
            return Window(phase, begin, end)
    return Window(Phase.CLOSED, slot_start + timedelta(minutes=slot_minutes), None)


def slot_containing(now: datetime, slot_minutes: int) -> datetime:
    """Start of the slot that contains ``now``."""
    seconds = slot_minutes * 60
    epoch = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, tz=UTC)


def parse_slot_start(value: object, slot_minutes: int, field: str = "slot_start") -> datetime:
    """Parse an ISO 8601 time with an offset (``Z`` or ``+hh:mm``), aligned to the slot length."""
    moment = parse_utc_time(value, field)
    if moment.microsecond or int(moment.timestamp()) % (slot_minutes * 60):
        raise MarketError(field, f"must be a slot start: a multiple of {slot_minutes} minutes since 00:00 UTC")
    return moment
