"""The order form of a community, described for clients (``GET /communities/{c}/order-form``).

Everything that decides whether an order is valid is read from where the intake takes it, never restated:
the keys every order needs and the side names (:mod:`transactive.market.operator`), the energy and price
bounds and the field rules (:mod:`transactive.marketfile`: ``MAX_ENERGY_KWH``, ``MAX_ABS_PRICE_PER_KWH``,
``parse_participant``), and the mechanism's descriptor (its sides, ``block_bids``, ``price_required`` and
``participant_fields`` with their kinds, minimums and defaults). Only the words are written here
(:data:`TEXT`: a label, a unit and a line of help per field name); a field without words gets its name.
A member's own defaults (:mod:`transactive.market.order_defaults`) are the fields' ``default``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from transactive.market import order_defaults
from transactive.market.commit_reveal import SIDE_NAMES
from transactive.market.operator import MAX_KEY_LENGTH, ORDER_KEYS
from transactive.marketfile import MAX_ABS_PRICE_PER_KWH, MAX_ENERGY_KWH
from transactive.mechanisms import Mechanism, ParticipantField
from transactive.store import Community, Member

TEXT: Mapping[str, tuple[str, str, str]] = {
    "side": ("Sell or buy", "", "Sell: you offer energy you have spare. Buy: you want energy."),
    "slot_start": ("Slot", "", "The period your order is for; orders close shortly before it starts."),
    "idempotency_key": ("Order key", "", "Chosen by your app, new for each order: sending the same order again "
                        "with the same key cannot place it twice."),
    "energy_kwh": ("Energy (kWh)", "kWh", "Sell: what you offer in the slot. Buy: what you want in the slot."),
    "price_per_kwh": ("Price per kWh", "tokens/kWh", "Sell: the lowest price you accept. Buy: the highest price "
                      "you pay."),
    "bus": ("Feeder bus", "", "Where your meter is connected to the grid; the service fills in your registered "
            "bus."),
    "x_m": ("Position east (m)", "m", "Only for a community that measures straight-line distances: where you "
            "are, east of the community's reference point."),
    "y_m": ("Position north (m)", "m", "Only for a community that measures straight-line distances: where you "
            "are, north of the community's reference point."),
    "distance_pref_m": ("How far you like to trade (m)", "m", "Trades with homes closer than this along the "
                        "cables rank best; farther ones are still possible but rank lower. 250 m is about a "
                        "street."),
    "a": ("Cost growing with the amount (a)", "tokens/kWh²", "Selling E kWh costs you a·E² + b·E + c. "
          "a makes each further kWh a little dearer (wear, losses); small, e.g. 0.0005."),
    "b": ("Cost per kWh (b)", "tokens/kWh", "What each kWh you sell costs you, e.g. what the grid would pay you "
          "for it instead."),
    "c": ("Fixed cost per slot (c)", "tokens", "A cost you have whatever you sell; usually 0."),
    "omega": ("Worth of the first kWh (ω)", "tokens/kWh", "Buying E kWh is worth ω·E − α·E² to you: ω is what "
              "the first kWh is worth."),
    "alpha": ("How fast more is worth less (α)", "tokens/kWh²", "The larger α, the sooner you have enough: more "
              "than ω/(2α) kWh in a slot adds nothing (with ω 0.2 and α 0.04: 2.5 kWh)."),
}
"""Label, unit and plain-words help per field name (words only: the rules come from the intake's sources)."""


def _words(name: str) -> tuple[str, str, str]:
    return TEXT.get(name, (name, "", ""))


def _finite(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _field(name: str, kind: str, *, required: bool, default: object = None, minimum: float | None = None,
           exclusive_minimum: bool = False, maximum: float | None = None, sides: tuple[str, ...] = ("sell", "buy"),
           choices: tuple[str, ...] = (), part: str = "order", default_source: str | None = None) -> dict[str, Any]:
    label, unit, help_text = _words(name)
    return {"name": name, "label": label, "type": kind, "unit": unit, "help": help_text, "required": required,
            "default": _finite(default), "default_source": default_source, "minimum": minimum,
            "exclusive_minimum": exclusive_minimum, "maximum": maximum, "sides": list(sides),
            "choices": list(choices), "part": part}


def _extra(spec: ParticipantField, member: Member, saved: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    sides = tuple(SIDE_NAMES[s] for s in spec.sides)
    kind = "text" if spec.kind is str else "integer" if spec.kind is int else "number"
    maximum = None if spec.kind is not float else MAX_ABS_PRICE_PER_KWH  # marketfile._extra_field's bound
    if spec.name in saved:
        value, source = saved[spec.name]
        return _field(spec.name, kind, required=source == "none", default=value, minimum=spec.minimum,
                      exclusive_minimum=spec.exclusive_minimum, maximum=maximum, sides=sides, part="preference",
                      default_source=None if source == "none" else source)
    default: object = spec.default
    origin = "mechanism"
    if spec.name == "bus" and member.bus is not None:  # the operator defaults and checks a member's bus
        default, origin = member.bus, "member"
    return _field(spec.name, kind, required=False, default=default, minimum=spec.minimum,
                  exclusive_minimum=spec.exclusive_minimum, maximum=maximum, sides=sides, part="advanced",
                  default_source=origin if _finite(default) is not None else None)


def describe(community: Community, mechanism: Mechanism[Any], member: Member,
             profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """The order form of ``community`` for ``member`` (whose saved ``profile`` gives its defaults).

    ``fields`` in the order a form shows them; each with ``name``, ``label``, ``type`` (``choice``, ``slot``,
    ``key``, ``number``, ``integer``, ``text``), ``unit``, ``help``, ``required`` (the order is refused
    without it), ``default`` and where it comes from (``default_source``: ``profile``, ``suggested``,
    ``member``, ``mechanism``), bounds (``minimum`` with ``exclusive_minimum``, ``maximum``), the ``sides`` it
    belongs to, ``choices`` and ``part``: ``order`` (top level), ``block`` (inside each of ``blocks`` where the
    mechanism takes block bids, else top level), ``preference`` (a standing value with a member default) or
    ``advanced`` (optional, rarely needed).
    """
    sides = tuple(SIDE_NAMES[s] for s in mechanism.sides)
    saved = order_defaults.effective(mechanism, profile)  # the suggestions where no profile was saved
    fields: list[dict[str, Any]] = []
    for key in ORDER_KEYS:
        if key == "side":
            fields.append(_field(key, "choice", required=True, default=sides[0], choices=sides))
        elif key == "slot_start":
            fields.append(_field(key, "slot", required=True))
        else:
            fields.append(_field(key, "key", required=True, minimum=1, maximum=MAX_KEY_LENGTH))
    part = "block" if mechanism.block_bids else "order"
    fields.append(_field("energy_kwh", "number", required=True, minimum=0.0, exclusive_minimum=True,
                         maximum=MAX_ENERGY_KWH, part=part))
    fields.append(_field("price_per_kwh", "number", required=mechanism.price_required,
                         default=None if mechanism.price_required else 0.0, minimum=0.0,
                         maximum=MAX_ABS_PRICE_PER_KWH, part=part,
                         default_source=None if mechanism.price_required else "mechanism"))
    extras = sorted(mechanism.participant_fields, key=lambda f: f.name not in saved)  # preferences first
    fields.extend(_extra(spec, member, saved) for spec in extras)
    return {"community": community.name, "mechanism": mechanism.name, "summary": mechanism.summary,
            "slot_minutes": community.slot_minutes, "sides": list(sides), "block_bids": mechanism.block_bids,
            "fields": fields}


def defaults_view(mechanism: Mechanism[Any], member: Member, profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """The member's order defaults as ``GET .../profile`` shows them: each defaultable field described (value,
    source) and the saved values alone."""
    saved = order_defaults.effective(mechanism, profile)
    fields = [_extra(spec, member, saved) for spec in order_defaults.defaultable(mechanism)]
    return {"member": member.id, "mechanism": mechanism.name,
            "order_defaults": {f["name"]: f["default"] for f in fields},
            "saved": order_defaults.saved_defaults(profile), "fields": fields}
