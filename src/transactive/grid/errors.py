"""The error type of the grid layer."""

from __future__ import annotations

from transactive.errors import FieldError


class GridError(FieldError):
    """Invalid grid input; ``field`` names the offending field (e.g. ``bus`` or ``sellers[3].bus``)."""
