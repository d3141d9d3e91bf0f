"""A member's standing instruction: seed 004's prosumer GUI (Fig. 4.3) as a setting the service acts on.

The thesis' Raspberry Pi GUI has a *status* light (green when the household's generation covers its use, red
otherwise), a *program choice* (opt in to trading), an *activity choice* (none, sell, buy), a *range of
prices*, a *settlement choice* (the amount of energy set by hand or decided by the GUI) and the *amount*. Here
those controls are one stored instruction per member (its profile document, key ``standing_instruction``),
set once like a thermostat; the service turns it into an order for each upcoming slot in which the member has
placed none (:mod:`transactive.market.standing_desk`), through the normal intake (validated, signed with the
member's custodial key at anchoring, cleared like any order).

The rules (our choices where the seed is silent, documented in ``docs/webapp.md``):

* **Price range** ``[price_min_per_kwh, price_max_per_kwh]`` (tokens/kWh): a seller asks the range's floor
  (it sells at that price or more), a buyer bids its ceiling. Where the mechanism takes block bids the amount
  is split into two blocks priced at the two ends (a seller's second half at the ceiling, a buyer's second
  half at the floor): a ladder across the range. Either end may be left out where the side does not use it.
* **Amount** ``fixed`` (``energy_kwh`` kWh every slot) or ``automatic``: the household's forecast for the slot
  (:func:`forecast`): the mean of its own net meter readings at the same time of day on the 3 days before
  (24, 48, 72 hours earlier), or, when none of those exists, of its readings in the latest 4 ended slots;
  a seller offers the forecast export, a buyer asks for the forecast import; no forecast, or a forecast of
  the other direction, places no order in that slot.
* **Status light**: green when the forecast is an export or balanced (generation covers use), red when it
  is an import, unknown without readings.
* **Demand response**: the opt-in is stored and shown; the service does not offer reductions by itself (a
  negawatt offer names an event and an amount the member decides).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from transactive.errors import MarketError
from transactive.market.order_limits import max_order_energy_kwh
from transactive.market.slots import slot_containing
from transactive.mechanisms import Mechanism
from transactive.store import Store
from transactive.times import iso

PROFILE_KEY = "standing_instruction"
KEY_PREFIX = "standing-"  # idempotency key of a standing order: standing-<slot start>
ACTIVITIES = ("none", "sell", "buy")
AMOUNTS = ("fixed", "automatic")
SAME_TIME_DAYS = 3  # the forecast's look-back at the same time of day
RECENT_SLOTS = 4  # ... else the latest ended slots
Activity = Literal["none", "sell", "buy"]
AmountMode = Literal["fixed", "automatic"]
Light = Literal["green", "red", "unknown"]


@dataclass(frozen=True)
class StandingInstruction:
    """Seed 004 Fig. 4.3's choices. ``energy_kwh``: the fixed amount (kWh per slot); prices in tokens/kWh."""

    trading: bool = False
    demand_response: bool = False
    activity: Activity = "none"
    amount: AmountMode = "fixed"
    energy_kwh: float | None = None
    price_min_per_kwh: float | None = None
    price_max_per_kwh: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        """Whether it places orders at all (opted in to trading with an activity)."""
        return self.trading and self.activity != "none"


@dataclass(frozen=True)
class Forecast:
    """The household's expected net energy in a slot (kWh, + export / − import), or None without readings;
    ``basis`` says in plain words what it was computed from; ``slots`` the readings' slots."""

    energy_kwh: float | None
    basis: str
    slots: tuple[str, ...] = ()

    @property
    def light(self) -> Light:
        """Seed 004's status light: green when generation covers use."""
        if self.energy_kwh is None:
            return "unknown"
        return "green" if self.energy_kwh >= 0 else "red"


def _bool(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise MarketError(name, "must be true or false")
    return value


def _choice(raw: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> Any:
    value = raw.get(name, default)
    if value not in choices:
        raise MarketError(name, f"must be one of {', '.join(choices)}")
    return value


def _number(raw: Mapping[str, Any], name: str, *, positive: bool) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MarketError(name, "must be a number")
    if positive and value <= 0:
        raise MarketError(name, f"must be > 0, got {value:g}")
    if not positive and value < 0:
        raise MarketError(name, f"must be >= 0, got {value:g}")
    return float(value)


def parse(raw: object) -> StandingInstruction:
    """An instruction from JSON, checking its own fields (the order it makes is checked by the intake:
    :func:`transactive.market.standing_desk.StandingDesk.validate`). Raises :class:`MarketError` naming the field."""
    if not isinstance(raw, Mapping):
        raise MarketError("(body)", "must be a JSON object")
    known = {f for f in StandingInstruction.__dataclass_fields__}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise MarketError(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
    instruction = StandingInstruction(
        trading=_bool(raw, "trading", False), demand_response=_bool(raw, "demand_response", False),
        activity=_choice(raw, "activity", ACTIVITIES, "none"), amount=_choice(raw, "amount", AMOUNTS, "fixed"),
        energy_kwh=_number(raw, "energy_kwh", positive=True),
        price_min_per_kwh=_number(raw, "price_min_per_kwh", positive=False),
        price_max_per_kwh=_number(raw, "price_max_per_kwh", positive=False))
    lo, hi = instruction.price_min_per_kwh, instruction.price_max_per_kwh
    if lo is not None and hi is not None and lo > hi:
        raise MarketError("price_max_per_kwh", f"must be at least the lowest price {lo:g}, got {hi:g}")
    if instruction.active and instruction.amount == "fixed" and instruction.energy_kwh is None:
        raise MarketError("energy_kwh", "required for a fixed amount (or choose the automatic amount)")
    return instruction


def from_profile(profile: Mapping[str, Any] | None) -> StandingInstruction | None:
    """The instruction saved in a profile document (None when the member saved none)."""
    found = (profile or {}).get(PROFILE_KEY)
    return parse(found) if isinstance(found, Mapping) else None


def forecast(store: Store, community: str, member: str, *, slot_start: datetime, slot_minutes: int,
             now: datetime) -> Forecast:
    """The member's expected net energy in the slot at ``slot_start`` (kWh, + export): the mean of its net
    meter readings 24, 48 and 72 hours earlier, else of its readings in the latest 4 slots ended by ``now``;
    rounded to whole Wh (the ledger's resolution)."""
    length = timedelta(minutes=slot_minutes)

    def readings(starts: list[datetime]) -> list[tuple[str, float]]:
        found = []
        for start in starts:
            if start + length > now:  # not ended: no reading yet
                continue
            for r in store.meter_readings(community, iso(start)):
                if r.member == member:
                    found.append((r.slot_start, r.energy_kwh))
        return found

    same_time = readings([slot_start - timedelta(days=d) for d in range(1, SAME_TIME_DAYS + 1)])
    if same_time:
        basis = (f"the average of your meter readings at this time of day on the last {SAME_TIME_DAYS} days "
                 f"({len(same_time)} found)")
    else:
        first = slot_containing(now - length, slot_minutes)  # the latest slot that has ended
        same_time = readings([first - k * length for k in range(RECENT_SLOTS)])
        basis = f"the average of your meter readings in the latest {RECENT_SLOTS} slots ({len(same_time)} found)"
    if not same_time:
        return Forecast(None, "no meter readings yet: the automatic amount needs some")
    mean = sum(e for _, e in same_time) / len(same_time)
    return Forecast(round(mean, 3) + 0.0, basis, tuple(s for s, _ in same_time))


def amount_kwh(instruction: StandingInstruction, predicted: Forecast, slot_minutes: int) -> tuple[float | None, str]:
    """The energy of the slot's order (kWh) and, when None, why no order is placed."""
    if not instruction.trading:
        return None, "you opted out of trading"
    if instruction.activity == "none":
        return None, "your activity is none"
    if instruction.amount == "fixed":
        return instruction.energy_kwh, ""
    if predicted.energy_kwh is None:
        return None, predicted.basis
    energy = predicted.energy_kwh if instruction.activity == "sell" else -predicted.energy_kwh
    if energy <= 0:
        what = "no surplus to sell" if instruction.activity == "sell" else "nothing to buy"
        return None, f"your forecast is {predicted.energy_kwh:+g} kWh: {what}"
    return min(energy, max_order_energy_kwh(slot_minutes)), ""


def order_body(instruction: StandingInstruction, mechanism: Mechanism[Any], slot_start: str,
               energy_kwh: float) -> dict[str, Any]:
    """The order the instruction makes for one slot, as ``POST .../orders`` takes it (side, slot, key, energy
    and price, or two blocks across the price range where the mechanism takes block bids)."""
    sell = instruction.activity == "sell"
    first, second = ((instruction.price_min_per_kwh, instruction.price_max_per_kwh) if sell
                     else (instruction.price_max_per_kwh, instruction.price_min_per_kwh))
    body: dict[str, Any] = {"side": instruction.activity, "slot_start": slot_start,
                            "idempotency_key": KEY_PREFIX + slot_start}
    half = round(energy_kwh / 2, 3)
    if mechanism.block_bids and first is not None and second is not None and first != second and half > 0 \
            and energy_kwh - half > 0:
        body["blocks"] = [{"energy_kwh": half, "price_per_kwh": first},
                          {"energy_kwh": round(energy_kwh - half, 3), "price_per_kwh": second}]
        return body
    body["energy_kwh"] = energy_kwh
    if first is not None:
        body["price_per_kwh"] = first
    return body


def instruction_field(order_field: str, activity: str) -> str:
    """The instruction's field behind an order field the intake named (for errors beside the right control)."""
    if order_field == "side":
        return "activity"
    if order_field.endswith("energy_kwh") or order_field == "blocks":
        return "energy_kwh"
    if order_field.endswith("price_per_kwh"):
        second = order_field.startswith("blocks[1]")
        sell = activity == "sell"
        return "price_max_per_kwh" if sell == second else "price_min_per_kwh"
    return order_field
