"""The error type of the grid layer."""

from __future__ import annotations


class GridError(ValueError):
    """Invalid grid input; ``field`` names the offending field (e.g. ``bus`` or ``sellers[3].bus``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
