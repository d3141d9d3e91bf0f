"""A member's order defaults: values of a mechanism's required per-participant fields (``dpda_matched``'s
distance preference and welfare parameters) that the service puts into an order which omits them.

Which fields have defaults is read from the mechanism itself (:attr:`Mechanism.participant_fields`, the same
specs :func:`transactive.marketfile.parse_participant` validates orders with): every number field without a
default of its own. A value is checked by the same rule as in an order. Where the member has saved nothing,
the service's suggestion applies (:data:`SUGGESTED`; our choices, the seeds give no household figures; they sit
inside the ranges of ``transactive.sim.day.prosumer_attributes``).

Stored in the member's profile document (``Store.member_profile``) as ``{"order_defaults": {name: value}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transactive.errors import MarketError
from transactive.marketfile import MarketFileError
from transactive.marketfile import _extra_field as check_field
from transactive.mechanisms import Mechanism, ParticipantField
from transactive.store import Store

PROFILE_KEY = "order_defaults"

SUGGESTED: Mapping[str, float] = {
    "distance_pref_m": 250.0,  # about a street: neighbours within it score best (seed 004, Alg. 4)
    "a": 0.0005,  # seller cost aE² + bE + c (eq. 2.8), tokens/kWh²
    "b": 0.01,  # tokens/kWh
    "c": 0.0,  # tokens: a slot has no fixed cost
    "omega": 0.2,  # buyer utility ωE − αE² (eq. 2.9), tokens/kWh
    "alpha": 0.04,  # tokens/kWh²: saturates at ω/(2α) = 2.5 kWh per slot
}
"""The service's suggested defaults by field name, used where a member has saved none."""


def defaultable(mechanism: Mechanism[Any]) -> tuple[ParticipantField, ...]:
    """The mechanism's fields a member may keep defaults for: number fields an order must otherwise give."""
    return tuple(f for f in mechanism.participant_fields if f.default is None and f.kind in (float, int))


def saved_defaults(profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """The order defaults in a saved profile document (empty when none)."""
    found = (profile or {}).get(PROFILE_KEY)
    return dict(found) if isinstance(found, Mapping) else {}


def effective(mechanism: Mechanism[Any], profile: Mapping[str, Any] | None) -> dict[str, tuple[Any, str]]:
    """For each defaultable field: ``(value, source)``, source ``"profile"`` (saved by the member),
    ``"suggested"`` (the service's) or ``"none"`` (value None: the order must give it)."""
    saved = saved_defaults(profile)
    out: dict[str, tuple[Any, str]] = {}
    for spec in defaultable(mechanism):
        if spec.name in saved:
            out[spec.name] = (saved[spec.name], "profile")
        elif spec.name in SUGGESTED:
            out[spec.name] = (SUGGESTED[spec.name], "suggested")
        else:
            out[spec.name] = (None, "none")
    return out


def validate(mechanism: Mechanism[Any], raw: object) -> dict[str, float | int | str]:
    """Check ``{"order_defaults": {...}}`` for ``mechanism``: known fields only, each value by the order's rule.
    Raises :class:`MarketError` naming ``order_defaults.<name>``."""
    if not isinstance(raw, Mapping):
        raise MarketError(PROFILE_KEY, "must be an object of field names and values")
    specs = {f.name: f for f in defaultable(mechanism)}
    out: dict[str, float | int | str] = {}
    for name, value in raw.items():
        where = f"{PROFILE_KEY}.{name}"
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise MarketError(where, f"not a default {mechanism.name} orders can use (known: {known})")
        try:
            out[name] = check_field(specs[name], value, where)
        except MarketFileError as exc:
            raise MarketError(exc.field, exc.message) from None
    return out


def fill(store: Store, member_id: str, mechanism: Mechanism[Any], side: str, entry: dict[str, Any]) -> None:
    """Put the member's defaults (else the suggested ones) into ``entry`` for fields of ``side`` it omits.

    Reads the profile only when a field is missing (an order giving every field costs no read)."""
    missing = [f for f in defaultable(mechanism) if side in f.sides and f.name not in entry]
    if not missing:
        return
    values = effective(mechanism, store.member_profile(member_id))
    for spec in missing:
        value, source = values[spec.name]
        if source != "none":
            entry[spec.name] = value
