"""The one field-error base: every rejected input names the offending field and what is wrong with it.

Each layer's input error (``OrdersError``, ``ParamError``, ``MarketFileError``, ``GridError``,
``MatchingError``, ``SettlementError``, ``BaselineError``, ``ScenarioError``, ``DayConfigError``,
``OrderError``, ``MarketError``) subclasses :class:`FieldError`, so an interface maps them once: the CLI to
exit 2 with ``field: message``, the API to ``{"error": {"field", "message"}}`` with the status of ``kind``.

Example:
    >>> err = MarketError("slot_start", "is in the past", "too_late")
    >>> (err.field, err.message, err.kind, str(err))
    ('slot_start', 'is in the past', 'too_late', 'slot_start: is in the past')
    >>> isinstance(err, FieldError) and isinstance(err, ValueError)
    True
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["invalid", "unauthenticated", "forbidden", "not_found", "conflict", "too_late", "too_many"]
"""What kind of problem a rejected input is (the API maps each to an HTTP status)."""

__all__ = ["ErrorKind", "FieldError", "MarketError"]


class FieldError(ValueError):
    """A rejected input; nothing was changed. ``field`` names the offending input (e.g.
    ``blocks[1].price_per_kwh``, ``params.pricing``, ``slot_start``), ``message`` says what is wrong."""

    def __init__(self, field_name: str, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.kind: ErrorKind = kind


class MarketError(FieldError):
    """A request the market rejected (the operator, the desks and the pure settlement rules raise it)."""
