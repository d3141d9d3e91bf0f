"""The market's error: names the field and says what kind of problem it is (the API maps kinds to HTTP)."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["invalid", "unauthenticated", "forbidden", "not_found", "conflict", "too_late"]


class MarketError(ValueError):
    """A rejected request; nothing was changed. ``field`` names the offending input (e.g. ``blocks[1].price_per_kwh``,
    ``slot_start``, ``Authorization``)."""

    def __init__(self, field_name: str, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.kind: ErrorKind = kind
