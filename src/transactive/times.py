"""Times as the market reads and writes them: ISO 8601 with a UTC offset in, ``YYYY-MM-DDTHH:MM:SSZ`` out.

Example:
    >>> moment = parse_utc_time("2026-01-01T13:15:00+01:00", "slot_start")
    >>> iso(moment)
    '2026-01-01T12:15:00Z'
"""

from __future__ import annotations

from datetime import UTC, datetime

from transactive.errors import MarketError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

__all__ = ["ISO_FORMAT", "iso", "parse_utc_time"]


def iso(moment: datetime) -> str:
    """Canonical text of a slot start: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def parse_utc_time(value: object, field: str) -> datetime:
    """Parse an ISO 8601 time with an offset (``Z`` or ``+hh:mm``) into an aware UTC datetime (years 1971-9998)."""
    if not isinstance(value, str):
        raise MarketError(field, "must be an ISO 8601 time string such as 2026-01-01T12:15:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MarketError(field, f"not an ISO 8601 time: {value[:60]!r}") from None
    if moment.tzinfo is None:
        raise MarketError(field, "needs a UTC offset (e.g. a trailing Z)")
    try:
        moment = moment.astimezone(UTC)
        moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise MarketError(field, "out of range") from None
    if moment.year < 1971 or moment.year > 9998:
        raise MarketError(field, "out of range (years 1971-9998)")
    return moment
