"""Bounded JSON: size and nesting depth checked on the raw bytes before any parser sees them.

Every JSON boundary of the service (REST bodies, MQTT payloads) calls :func:`check_json` first, so no input
reaches ``json.loads`` (recursive, in C) nested deeper than :data:`MAX_JSON_DEPTH` or larger than
:data:`MAX_JSON_BYTES`. An order is a few hundred bytes nested 3 deep (a block bid: 3), so the limits leave
a wide margin.

Example:
    >>> check_json(b'{"blocks": [{"energy_kwh": 1}]}')
    >>> check_json(b"[" * 40 + b"]" * 40)
    Traceback (most recent call last):
    ...
    transactive.bounded_json.JsonLimitError: nested deeper than 32 levels
"""

from __future__ import annotations

import re

MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 32

# a JSON string literal, possessive so that no input backtracks; brackets inside strings do not nest
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class JsonLimitError(ValueError):
    """The document is larger or deeper than the limits (a 413 / 422 over REST, a rejected MQTT message)."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.too_large = too_large


def json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """The deepest nesting of arrays / objects in ``raw`` (strings skipped), counting stops past ``limit``."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def check_json(raw: bytes, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`JsonLimitError` if ``raw`` is over ``max_bytes`` or nested deeper than ``max_depth``."""
    if len(raw) > max_bytes:
        raise JsonLimitError(f"larger than {max_bytes} bytes", too_large=True)
    # fewer opening brackets than the limit cannot nest deeper (an order: one): skip the scan
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw, max_depth) > max_depth:
        raise JsonLimitError(f"nested deeper than {max_depth} levels")
