"""The error type of the matching layer."""

from __future__ import annotations

from transactive.errors import FieldError


class MatchingError(FieldError):
    """Invalid matching input; ``field`` names the offending field (e.g. ``buyers.alpha[2]``)."""
