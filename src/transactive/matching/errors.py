"""The error type of the matching layer."""

from __future__ import annotations


class MatchingError(ValueError):
    """Invalid matching input; ``field`` names the offending field (e.g. ``buyers.alpha[2]``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
