"""A community's settings that are not its mechanism's parameters: for now its time zone (an IANA name such as
``Europe/Berlin``, checked with :mod:`zoneinfo`), in which the web app shows every time. Slots stay aligned to
UTC multiples of their length and the API speaks UTC; the time zone only changes how times are shown.

Stored per community (``Store.community_settings``); a community that saved none is in ``UTC``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from transactive.errors import MarketError
from transactive.store import Store

DEFAULT_TIME_ZONE = "UTC"
KNOWN = ("time_zone",)


def check_time_zone(value: object, field: str = "time_zone") -> str:
    """An IANA time zone name that :mod:`zoneinfo` knows, else :class:`MarketError` naming ``field``."""
    if not isinstance(value, str) or not value or len(value) > 64 or value.startswith(("/", ".")) or ".." in value:
        raise MarketError(field, "must be an IANA time zone name such as Europe/Berlin or UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise MarketError(field, f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
    return value


def check(raw: object) -> dict[str, Any]:
    """Settings from JSON: known names only, each checked (``time_zone``)."""
    if not isinstance(raw, Mapping):
        raise MarketError("(body)", "must be a JSON object")
    unknown = sorted(set(raw) - set(KNOWN))
    if unknown:
        raise MarketError(unknown[0], f"unknown setting (known: {', '.join(KNOWN)})")
    return {"time_zone": check_time_zone(raw["time_zone"])} if "time_zone" in raw else {}


def time_zone(store: Store, community: str) -> str:
    """The community's time zone name (``UTC`` when it saved none)."""
    return str((store.community_settings(community) or {}).get("time_zone", DEFAULT_TIME_ZONE))


def save(store: Store, community: str, settings: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Merge checked ``settings`` into the community's stored ones; the result."""
    document = {**(store.community_settings(community) or {}), **settings}
    store.put_community_settings(community, document, now.astimezone(UTC).isoformat())
    return document
