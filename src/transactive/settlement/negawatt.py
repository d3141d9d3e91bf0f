"""Negawatt (demand-response) events: a pure lifecycle over frozen values (no I/O, no clock).

An aggregator announces an event (target kWh, event window, reservation price); prosumers offer reductions
until the offers close; the event clears with a registered mechanism; after the window, each winner's
delivery is verified from meter data against its baseline (:mod:`transactive.settlement.baseline`); a winner
that under-delivered buys its shortfall in a secondary P2P negawatt market (seed 000, Case 2) and any
shortfall left unresolved is penalised. ``docs/negawatt.md`` describes the rules and the choices.

Listing states (seed 003, extended): ``CLOSE`` (created) → ``FOR_SALE`` (offers taken) → ``RESERVE_NOT_MET``
(bidding closed, the contract runs) → ``CLEARED`` (seed 003's final CLOSE, with a result) or ``CLOSE`` (void:
nothing to clear) → ``VERIFIED`` (deliveries measured) → ``SETTLED`` (secondary market and penalties booked).
``history`` records every state the event passed through.

Event types: ``knapsack_vcg`` (seed 000 DSRA reverse auction, default; ``price_per_kwh`` is the reservation
price), ``dra_fixed_price`` (seed 003 Type I; ``price_per_kwh`` is DRAOfferPrice) and ``p2p_average_price``
(seed 003 Type II; buildings sell and buy negawatts at the MCP, the announcer only runs the listing).

Money (settlement) is in integer micro-tokens (:mod:`transactive.units`), postings signed: positive = the
account receives. Accounts: ``aggregator:<id>``, ``member:<id>`` and ``balancing`` (receives penalties).

Example (seed 000, Case 1 then Case 2):
    >>> spec = parse_spec({"id": "e1", "target_kwh": 100, "price_per_kwh": 5, "offers_close":
    ...     "2026-03-01T08:00:00Z", "window_start": "2026-03-01T17:00:00Z", "window_end": "2026-03-01T18:00:00Z"},
    ...     "dsra", now="2026-03-01T07:00:00Z")
    >>> event = announce(spec)
    >>> for m, e, c in [("C1", 30, 4), ("C2", 25, 4), ("C3", 45, 150 / 45), ("C4", 10, 2), ("C5", 20, 3)]:
    ...     event = add_offer(event, m, {"energy_kwh": e, "price_per_kwh": c}, now="2026-03-01T07:30:00Z")
    >>> event = clear(event, now="2026-03-01T08:00:00Z")
    >>> [(r["id"], r["energy_kwh"]) for r in event.clearing["sellers"] if r["energy_kwh"] > 0]
    [('C1', 25.0), ('C3', 45.0), ('C4', 10.0), ('C5', 20.0)]
    >>> event = settle(event, {"C1": 30, "C2": 25, "C3": 27, "C4": 10, "C5": 20}, now="2026-03-01T19:00:00Z")
    >>> [(s["id"], s["bought"]) for s in event.settlement["secondary"]]
    [('C3', [['C1', 5.0, 20.0], ['C2', 13.0, 65.0]])]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

import numpy as np

from transactive.errors import MarketError
from transactive.mechanisms.dra_fixed_price import DraParams
from transactive.mechanisms.knapsack_vcg import KnapsackParams
from transactive.mechanisms.p2p_average_price import P2pAverageParams
from transactive.orders import Orders
from transactive.registry import full_registry
from transactive.settlement.append_only import AppendOnly
from transactive.settlement.baseline import Baseline, BaselineError, delivered_kwh, high_x_of_y
from transactive.times import parse_utc_time
from transactive.units import apportion, energy_to_wh, money_to_micro, wh_to_kwh

EVENT_TYPES = ("knapsack_vcg", "dra_fixed_price", "p2p_average_price")
DEFAULT_EVENT_TYPE = "knapsack_vcg"
BALANCING_ACCOUNT = "balancing"
MAX_MAGNITUDE = 1e9
ADJUSTMENT_LEAD_MINUTES = (240, 60)  # same-day adjustment window: from 4 h to 1 h before the event start


class ListingState(StrEnum):
    CLOSE = "CLOSE"
    FOR_SALE = "FOR_SALE"
    RESERVE_NOT_MET = "RESERVE_NOT_MET"
    CLEARED = "CLEARED"
    VERIFIED = "VERIFIED"
    SETTLED = "SETTLED"


@dataclass(frozen=True)
class BaselineConfig:
    """High ``x_days`` of ``y_days`` with a same-day ``adjustment`` capped at ``cap`` (a fraction)."""

    x_days: int = 10
    y_days: int = 10
    adjustment: str = "multiplicative"
    cap: float = 0.2


@dataclass(frozen=True)
class EventSpec:
    """What the aggregator announced. Times are ISO 8601 UTC (``YYYY-MM-DDTHH:MM:SSZ``)."""

    id: str
    aggregator: str
    event_type: str
    target_kwh: float
    price_per_kwh: float | None
    penalty_per_kwh: float
    offers_close: str
    window_start: str
    window_end: str
    interval_minutes: int = 60
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


@dataclass(frozen=True)
class Offer:
    """A reduction offer (``side`` ``sell``) or, in ``p2p_average_price`` events, a negawatt bid (``buy``)."""

    member: str
    side: str
    energy_kwh: float
    price_per_kwh: float
    received_at: str


@dataclass(frozen=True)
class NegawattEvent:
    """An event: its spec, state, state history, offers in arrival order, clearing and settlement documents.
    ``offers`` is an :class:`~transactive.settlement.append_only.AppendOnly` snapshot keyed by member (equal to
    a tuple of the same offers), so :func:`add_offer` costs O(1) per offer, not a copy of the event's offers."""

    spec: EventSpec
    state: ListingState
    history: tuple[str, ...]
    offers: Sequence[Offer] = ()
    clearing: Mapping[str, Any] | None = None
    settlement: Mapping[str, Any] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.offers, AppendOnly):
            object.__setattr__(self, "offers", AppendOnly(self.offers, key=_offer_member))


def _offer_member(offer: Offer) -> str:
    return offer.member


# ---------------------------------------------------------------------------------------------- parsing
def _number(body: Mapping[str, Any], name: str, *, positive: bool = False, default: Any = ...) -> Any:
    if name not in body or body[name] is None:
        if default is ...:
            raise MarketError(name, "is required")
        return default
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MarketError(name, "must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
        raise MarketError(name, f"must be finite and at most {MAX_MAGNITUDE:g} in magnitude")
    if number < 0 or (positive and number == 0):
        raise MarketError(name, "must be > 0" if positive else "must be >= 0")
    return number


def _time(body: Mapping[str, Any], name: str) -> datetime:
    moment = parse_utc_time(body.get(name), name)
    if not 2000 <= moment.year <= 9998:
        raise MarketError(name, "must be a year from 2000 to 9998")
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(now: str | datetime) -> datetime:
    return now.astimezone(UTC) if isinstance(now, datetime) else datetime.fromisoformat(now).astimezone(UTC)


def _minute_of_day(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def parse_spec(body: Mapping[str, Any], aggregator: str, now: str | datetime) -> EventSpec:
    """Validate an announcement (field by field; the error names the field)."""
    known = {"id", "event_type", "target_kwh", "price_per_kwh", "penalty_per_kwh", "offers_close", "window_start",
             "window_end", "interval_minutes", "baseline"}
    for key in body:
        if key not in known:
            raise MarketError(str(key), "unknown field")
    event_id = body.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 64 or not event_id.replace("-", "").replace(
            "_", "").replace(".", "").isalnum() or not event_id[0].isalnum() or not event_id.isascii():
        raise MarketError("id", "must be 1-64 characters: letters, digits, '_', '.', '-' (not first)")
    event_type = body.get("event_type", DEFAULT_EVENT_TYPE)
    if event_type not in EVENT_TYPES:
        raise MarketError("event_type", f"must be one of {', '.join(EVENT_TYPES)}")
    target = _number(body, "target_kwh", positive=True)
    if event_type == "p2p_average_price":
        if body.get("price_per_kwh") is not None:
            raise MarketError("price_per_kwh", "a p2p_average_price event has no price (trades settle at the MCP)")
        price = None
        penalty = _number(body, "penalty_per_kwh")
    else:
        price = _number(body, "price_per_kwh")
        penalty = _number(body, "penalty_per_kwh", default=price)
    interval = body.get("interval_minutes", 60)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0 or 1440 % interval:
        raise MarketError("interval_minutes", "must be a whole number of minutes dividing a day (e.g. 15, 60)")
    close, start, end = _time(body, "offers_close"), _time(body, "window_start"), _time(body, "window_end")
    if close <= _at(now):
        raise MarketError("offers_close", "must be in the future")
    if start < close:
        raise MarketError("window_start", "must not be before offers_close")
    if end <= start:
        raise MarketError("window_end", "must be after window_start")
    for name, moment in (("window_start", start), ("window_end", end)):
        if moment.second or moment.microsecond or _minute_of_day(moment) % interval:
            raise MarketError(name, f"must be aligned to interval_minutes ({interval})")
    day_end = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() + 86400
    if end.timestamp() > day_end:
        raise MarketError("window_end", "the event window must lie within one UTC day")
    raw = body.get("baseline") or {}
    if not isinstance(raw, Mapping):
        raise MarketError("baseline", "must be an object")
    for key in raw:
        if key not in ("x_days", "y_days", "adjustment", "cap"):
            raise MarketError(f"baseline.{key}", "unknown field")
    x_days, y_days = raw.get("x_days", 10), raw.get("y_days", 10)
    for name, value in (("x_days", x_days), ("y_days", y_days)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 366:
            raise MarketError(f"baseline.{name}", "must be an integer from 1 to 366")
    if y_days < x_days:
        raise MarketError("baseline.y_days", "must be >= x_days")
    adjustment = raw.get("adjustment", "multiplicative")
    if adjustment not in ("none", "multiplicative", "additive"):
        raise MarketError("baseline.adjustment", "must be 'none', 'multiplicative' or 'additive'")
    cap = raw.get("cap", 0.2)
    if isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 <= cap < 1:
        raise MarketError("baseline.cap", "must be a number in [0, 1)")
    return EventSpec(event_id, aggregator, event_type, target, price, penalty, _iso(close), _iso(start), _iso(end),
                     interval, BaselineConfig(x_days, y_days, adjustment, float(cap)))


# ---------------------------------------------------------------------------------------------- lifecycle
def announce(spec: EventSpec) -> NegawattEvent:
    """A new listing: created CLOSE and opened FOR_SALE at once."""
    return NegawattEvent(spec, ListingState.FOR_SALE, (ListingState.CLOSE.value, ListingState.FOR_SALE.value))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_offer(event: NegawattEvent, member: str, body: Mapping[str, Any], now: str | datetime) -> Offer:
    """Validate an offer against the event (field by field; the error names the field and its kind)."""
    for key in body:
        if key not in ("side", "energy_kwh", "price_per_kwh"):
            raise MarketError(str(key), "unknown field")
    spec = event.spec
    if member == spec.aggregator:
        raise MarketError("member", "the aggregator cannot offer in its own event", "forbidden")
    side = body.get("side", "sell")
    if side not in ("sell", "buy") or (side == "buy" and spec.event_type != "p2p_average_price"):
        allowed = "'sell' or 'buy'" if spec.event_type == "p2p_average_price" else "'sell'"
        raise MarketError("side", f"must be {allowed}")
    energy = _number(body, "energy_kwh", positive=True)
    price = _number(body, "price_per_kwh", default=0.0 if spec.event_type == "dra_fixed_price" else ...)
    moment = _at(now)
    if event.state is not ListingState.FOR_SALE or moment >= _at(spec.offers_close):
        raise MarketError("offers_close", f"offers closed at {spec.offers_close}", "too_late")
    return Offer(member, side, energy, price, _stamp(moment))


def add_offer(event: NegawattEvent, member: str, body: Mapping[str, Any], now: str | datetime) -> NegawattEvent:
    """The event with one more offer (one per member: a second is a conflict)."""
    offer = parse_offer(event, member, body, now)
    offers = cast(AppendOnly[Offer], event.offers)
    if offers.has_key(member):
        raise MarketError("member", f"{member!r} has already offered in this event", "conflict")
    return replace(event, offers=offers.extended([offer]))


def _params(spec: EventSpec) -> Any:
    if spec.event_type == "knapsack_vcg":
        return KnapsackParams(spec.target_kwh, spec.price_per_kwh)
    if spec.event_type == "dra_fixed_price":
        assert spec.price_per_kwh is not None
        return DraParams(spec.target_kwh, spec.price_per_kwh)
    return P2pAverageParams()


def _side(offers: Sequence[Offer]) -> Orders:
    if not offers:
        return Orders.empty()
    return Orders.single([o.member for o in offers], [o.energy_kwh for o in offers],
                         [o.price_per_kwh for o in offers])


def _rows(side: Orders, energy_kwh: Any, payment: Any) -> list[dict[str, Any]]:
    return [{"id": str(i), "energy_kwh": float(e), "payment": float(p)}
            for i, e, p in zip(list(side.ids), energy_kwh.tolist(), payment.tolist(), strict=True)]


def clear(event: NegawattEvent, now: str | datetime) -> NegawattEvent:
    """Close the bidding (FOR_SALE → RESERVE_NOT_MET, unless already there) and clear: CLEARED with a result,
    or CLOSE (void) with a note when there is nothing to clear. Only after ``offers_close``."""
    spec = event.spec
    if event.state not in (ListingState.FOR_SALE, ListingState.RESERVE_NOT_MET):
        raise MarketError("state", f"the event is {event.state.value}, not FOR_SALE", "conflict")
    if _at(now) < _at(spec.offers_close):
        raise MarketError("offers_close", f"offers are taken until {spec.offers_close}", "conflict")
    history = event.history
    if event.state is ListingState.FOR_SALE:
        history = (*history, ListingState.RESERVE_NOT_MET.value)
    sellers = _side([o for o in event.offers if o.side == "sell"])
    buyers = _side([o for o in event.offers if o.side == "buy"])
    void = "no reduction offers" if sellers.n == 0 else (
        "no negawatt bids" if spec.event_type == "p2p_average_price" and buyers.n == 0 else "")
    if void:
        return replace(event, state=ListingState.CLOSE, history=(*history, ListingState.CLOSE.value), note=void)
    result = full_registry()[spec.event_type].run(sellers, buyers, _params(spec))
    document = {
        "mechanism": result.mechanism, "price_per_kwh": result.price_per_kwh,
        "sellers": _rows(sellers, result.sellers.energy_kwh, result.sellers.payment),
        "buyers": _rows(buyers, result.buyers.energy_kwh, result.buyers.payment),
        "details": dict(result.details),
    }
    return replace(event, state=ListingState.CLEARED, history=(*history, ListingState.CLEARED.value),
                   clearing=document)


# ---------------------------------------------------------------------------------------------- verification
def verify_delivery(spec: EventSpec, history_kwh: Any, eligible: Any, event_day_kwh: Any) -> tuple[float, Baseline]:
    """Negawatts a member delivered in the event window, from whole days of interval meter data (kWh per
    interval of ``spec.interval_minutes``): history days (oldest first), their eligibility, and the event day.

    The baseline is the event's high X of Y; the same-day adjustment uses the intervals from 4 h to 1 h
    before the window start (clipped to the day; no adjustment when that is empty).
    """
    per_day = 1440 // spec.interval_minutes
    history = np.asarray(history_kwh, dtype=np.float64)
    today = np.asarray(event_day_kwh, dtype=np.float64)
    if history.ndim != 2 or history.shape[1] != per_day:
        raise MarketError("history_kwh", f"must be a list of days, each of {per_day} interval energies")
    if today.shape != (per_day,):
        raise MarketError("event_day_kwh", f"must be {per_day} interval energies")
    start = _minute_of_day(_at(spec.window_start)) // spec.interval_minutes
    end_minute = _minute_of_day(_at(spec.window_end)) or 1440
    end = end_minute // spec.interval_minutes
    lead_from, lead_to = (max(start * spec.interval_minutes - m, 0) for m in ADJUSTMENT_LEAD_MINUTES)
    adj_window = slice(lead_from // spec.interval_minutes, lead_to // spec.interval_minutes)
    adjustment = spec.baseline.adjustment if adj_window.stop > adj_window.start else "none"
    try:
        baseline = high_x_of_y(history, eligible, slice(start, end), x_days=spec.baseline.x_days,
                               y_days=spec.baseline.y_days, event_day_kwh=today, adjustment_window=adj_window,
                               adjustment=adjustment,  # type: ignore[arg-type]
                               cap=spec.baseline.cap)
        return delivered_kwh(baseline.baseline_kwh[start:end], today[start:end]), baseline
    except BaselineError as exc:
        raise MarketError(exc.field, exc.message) from None


# ---------------------------------------------------------------------------------------------- settlement
def _post(postings: dict[str, int], account: str, amount_micro: int) -> None:
    postings[account] = postings.get(account, 0) + amount_micro


def settle(event: NegawattEvent, delivered: Mapping[str, float], now: str | datetime) -> NegawattEvent:
    """VERIFIED then SETTLED: primary payments, secondary markets for shortfalls, penalties, postings.

    ``delivered`` maps a member to its verified negawatts (kWh) in the window; a winner without a figure
    delivered nothing. Only after the window ends.
    """
    spec = event.spec
    if event.state is not ListingState.CLEARED or event.clearing is None:
        raise MarketError("state", f"the event is {event.state.value}, not CLEARED", "conflict")
    if _at(now) < _at(spec.window_end):
        raise MarketError("window_end", f"delivery is verified after the window ends ({spec.window_end})", "conflict")
    for member, value in delivered.items():
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise MarketError(f"delivered.{member}", "must be a finite number >= 0")
    penalty = spec.penalty_per_kwh
    sellers = event.clearing["sellers"]
    offered = {o.member: o for o in event.offers if o.side == "sell"}
    postings: dict[str, int] = {}
    # primary payments, integer micro-tokens; the payer pays exactly what the payees receive
    if spec.event_type == "p2p_average_price":
        buyers = event.clearing["buyers"]
        paid = [money_to_micro(b["payment"]) for b in buyers]
        for b, amount in zip(buyers, paid, strict=True):
            _post(postings, f"member:{b['id']}", -amount)
        for s, amount in zip(sellers, apportion(sum(paid), [max(s["payment"], 0.0) for s in sellers]), strict=True):
            _post(postings, f"member:{s['id']}", amount)
    else:
        for s in sellers:
            amount = money_to_micro(s["payment"])
            _post(postings, f"member:{s['id']}", amount)
            _post(postings, f"aggregator:{spec.aggregator}", -amount)
    sold_wh = {s["id"]: energy_to_wh(s["energy_kwh"]) for s in sellers}
    got_wh = {m: energy_to_wh(float(delivered.get(m, 0.0))) for m in sold_wh}
    # capacity for the secondary market: verified surplus, up to the unsold part of the offer
    capacity_wh = {m: max(min(energy_to_wh(offered[m].energy_kwh) - sold_wh[m], got_wh[m] - sold_wh[m]), 0)
                   for m in sold_wh}
    verification = [{"id": m, "sold_kwh": wh_to_kwh(sold_wh[m]), "delivered_kwh": wh_to_kwh(got_wh[m]),
                     "shortfall_kwh": wh_to_kwh(max(sold_wh[m] - got_wh[m], 0))} for m in sold_wh]
    secondary: list[dict[str, Any]] = []
    penalties: list[dict[str, Any]] = []
    knapsack = full_registry()["knapsack_vcg"]
    for m, m_sold_wh in sold_wh.items():
        short_wh = max(m_sold_wh - got_wh[m], 0)
        if short_wh == 0:
            continue
        pool = [o for o in offered.values() if o.member != m and capacity_wh[o.member] > 0]
        unresolved_wh = short_wh
        bought: list[list[Any]] = []
        if pool:
            orders = Orders.single([o.member for o in pool], [wh_to_kwh(capacity_wh[o.member]) for o in pool],
                                   [o.price_per_kwh for o in pool])
            result = knapsack.run(orders, Orders.empty(), KnapsackParams(wh_to_kwh(short_wh), penalty))
            for o, e, p in zip(pool, result.sellers.energy_kwh.tolist(), result.sellers.payment.tolist(),
                               strict=True):
                e_wh = min(energy_to_wh(e), capacity_wh[o.member], unresolved_wh)
                if e_wh <= 0:
                    continue
                amount = money_to_micro(p)
                capacity_wh[o.member] -= e_wh
                unresolved_wh -= e_wh
                _post(postings, f"member:{o.member}", amount)
                _post(postings, f"member:{m}", -amount)
                bought.append([o.member, wh_to_kwh(e_wh), p])
        secondary.append({"id": m, "shortfall_kwh": wh_to_kwh(short_wh), "bought": bought,
                          "unresolved_kwh": wh_to_kwh(unresolved_wh)})
        if unresolved_wh:
            amount = money_to_micro(wh_to_kwh(unresolved_wh) * penalty)
            _post(postings, f"member:{m}", -amount)
            _post(postings, BALANCING_ACCOUNT, amount)
            penalties.append({"id": m, "unresolved_kwh": wh_to_kwh(unresolved_wh), "penalty": amount / 1e6})
    document = {
        "verification": verification, "secondary": secondary, "penalties": penalties,
        "penalty_per_kwh": penalty,
        "postings": [{"account": a, "amount_micro": v} for a, v in sorted(postings.items())],
    }
    return replace(event, state=ListingState.SETTLED,
                   history=(*event.history, ListingState.VERIFIED.value, ListingState.SETTLED.value),
                   settlement=document)


# ---------------------------------------------------------------------------------------------- JSON
def to_document(event: NegawattEvent) -> dict[str, Any]:
    """The event as a JSON-compatible document (the store keeps it; :func:`from_document` reads it back)."""
    spec = event.spec
    return {
        "id": spec.id, "aggregator": spec.aggregator, "event_type": spec.event_type, "target_kwh": spec.target_kwh,
        "price_per_kwh": spec.price_per_kwh, "penalty_per_kwh": spec.penalty_per_kwh,
        "offers_close": spec.offers_close, "window_start": spec.window_start, "window_end": spec.window_end,
        "interval_minutes": spec.interval_minutes,
        "baseline": {"x_days": spec.baseline.x_days, "y_days": spec.baseline.y_days,
                     "adjustment": spec.baseline.adjustment, "cap": spec.baseline.cap},
        "state": event.state.value, "history": list(event.history), "note": event.note,
        "offers": [{"member": o.member, "side": o.side, "energy_kwh": o.energy_kwh,
                    "price_per_kwh": o.price_per_kwh, "received_at": o.received_at} for o in event.offers],
        "clearing": event.clearing, "settlement": event.settlement,
    }


def from_document(doc: Mapping[str, Any]) -> NegawattEvent:
    spec = EventSpec(doc["id"], doc["aggregator"], doc["event_type"], doc["target_kwh"], doc["price_per_kwh"],
                     doc["penalty_per_kwh"], doc["offers_close"], doc["window_start"], doc["window_end"],
                     doc["interval_minutes"], BaselineConfig(**doc["baseline"]))
    offers = tuple(Offer(**o) for o in doc["offers"])
    return NegawattEvent(spec, ListingState(doc["state"]), tuple(doc["history"]), offers, doc["clearing"],
                         doc["settlement"], doc["note"])
