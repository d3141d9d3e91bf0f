"""Standing instructions (seed 004 Fig. 4.3's controls as a stored setting): parsing by field, the order an
instruction makes (price range, block ladder), the automatic amount from the member's meter readings, the
status light, when the service places the orders, and an instruction's order clearing on the default
``dpda_matched`` community (seed 004 Alg. 2, Case 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from transactive.grid.feeder import load_feeder
from transactive.market import ManualClock, MarketError, Operator, iso
from transactive.market.standing import (
    Forecast,
    StandingInstruction,
    amount_kwh,
    forecast,
    instruction_field,
    order_body,
    parse,
)
from transactive.market.standing_desk import StandingDesk, due_slots
from transactive.matching.mechanisms import DEFAULT_FEEDER
from transactive.registry import full_registry
from transactive.store import MeterReading

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SLOT = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
REGISTRY = full_registry()
SELL = {"trading": True, "activity": "sell", "amount": "fixed", "energy_kwh": 2.0, "price_min_per_kwh": 0.1,
        "price_max_per_kwh": 0.3}


@pytest.mark.parametrize(("raw", "field", "words"), [
    ({"activity": "trade"}, "activity", "one of none, sell, buy"),
    ({"amount": "guess"}, "amount", "one of fixed, automatic"),
    ({"trading": "yes"}, "trading", "true or false"),
    ({**SELL, "energy_kwh": -1}, "energy_kwh", "must be > 0, got -1"),
    ({**SELL, "energy_kwh": None}, "energy_kwh", "required for a fixed amount"),
    ({**SELL, "price_min_per_kwh": -0.5}, "price_min_per_kwh", "must be >= 0, got -0.5"),
    ({**SELL, "price_max_per_kwh": 0.05}, "price_max_per_kwh", "at least the lowest price 0.1, got 0.05"),
    ({**SELL, "price_max_per_kwh": "high"}, "price_max_per_kwh", "must be a number"),
    ({**SELL, "colour": "green"}, "colour", "unknown field"),
])
def test_a_bad_instruction_is_refused_naming_its_field(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(MarketError) as caught:
        parse(raw)
    assert caught.value.field == field and words in caught.value.message


def test_an_inactive_instruction_needs_no_amount_and_places_nothing() -> None:
    off = parse({"trading": False, "activity": "sell"})
    assert not off.active and amount_kwh(off, Forecast(1.0, ""), 15) == (None, "you opted out of trading")
    idle = parse({"trading": True, "activity": "none"})
    assert amount_kwh(idle, Forecast(1.0, ""), 15) == (None, "your activity is none")


def test_the_price_range_gives_a_seller_the_floor_and_a_buyer_the_ceiling() -> None:
    seller = parse(SELL)
    buyer = parse({**SELL, "activity": "buy"})
    one = order_body(seller, REGISTRY["dpda_matched"], "2026-03-01T10:15:00Z", 2.0)
    assert one == {"side": "sell", "slot_start": "2026-03-01T10:15:00Z",
                   "idempotency_key": "standing-2026-03-01T10:15:00Z", "energy_kwh": 2.0, "price_per_kwh": 0.1}
    assert order_body(buyer, REGISTRY["dpda_matched"], "2026-03-01T10:15:00Z", 2.0)["price_per_kwh"] == 0.3


def test_block_bids_ladder_the_amount_across_the_range() -> None:
    vcg = REGISTRY["double_auction_vcg"]
    assert vcg.block_bids
    ladder = order_body(parse(SELL), vcg, "s", 3.001)["blocks"]
    assert ladder == [{"energy_kwh": 1.5, "price_per_kwh": 0.1}, {"energy_kwh": 1.501, "price_per_kwh": 0.3}]
    buyer = order_body(parse({**SELL, "activity": "buy"}), vcg, "s", 3.0)["blocks"]
    assert buyer == [{"energy_kwh": 1.5, "price_per_kwh": 0.3}, {"energy_kwh": 1.5, "price_per_kwh": 0.1}]
    flat = order_body(parse({**SELL, "price_max_per_kwh": 0.1}), vcg, "s", 3.0)  # a range of one price
    assert "blocks" not in flat and (flat["energy_kwh"], flat["price_per_kwh"]) == (3.0, 0.1)


@pytest.mark.parametrize(("order_field", "activity", "expected"), [
    ("price_per_kwh", "sell", "price_min_per_kwh"), ("price_per_kwh", "buy", "price_max_per_kwh"),
    ("blocks[1].price_per_kwh", "sell", "price_max_per_kwh"), ("blocks[1].price_per_kwh", "buy", "price_min_per_kwh"),
    ("blocks[0].energy_kwh", "sell", "energy_kwh"), ("side", "buy", "activity"),
    ("distance_pref_m", "buy", "distance_pref_m"),
])
def test_an_order_field_maps_back_to_the_control_that_made_it(order_field: str, activity: str, expected: str) -> None:
    assert instruction_field(order_field, activity) == expected


def _reading(store: Any, member: str, start: datetime, energy: float) -> None:
    store.put_meter_reading(MeterReading("town", member, iso(start), energy, "t"))


def _town(store: Any, mechanism: str = "dpda_matched") -> tuple[Operator, ManualClock, dict[str, Any]]:
    clock = ManualClock(T0)
    op = Operator(store, clock)
    op.create_community("town", mechanism, None, 15)
    buses = [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:4]]
    members = {who: op.add_member("town", who, "prosumer", bus)[0]
               for who, bus in zip(("s1", "s2", "b1", "b2"), buses, strict=True)}
    return op, clock, members


def test_the_forecast_is_the_same_time_on_earlier_days_else_the_latest_slots(store: Any) -> None:
    _town(store)
    now = T0 + timedelta(minutes=5)
    # nothing yet: no forecast, the light is unknown
    none = forecast(store, "town", "s1", slot_start=SLOT, slot_minutes=15, now=now)
    assert (none.energy_kwh, none.light) == (None, "unknown")
    # the latest ended slots (09:45, 09:30, ...): -0.5 and -1.5 kWh imported -> -1.0, red
    _reading(store, "s1", T0 - timedelta(minutes=15), -0.5)
    _reading(store, "s1", T0 - timedelta(minutes=45), -1.5)
    _reading(store, "s2", T0 - timedelta(minutes=15), 9.0)  # another member's: not counted
    _reading(store, "s1", T0 - timedelta(minutes=90), 7.0)  # older than the latest 4 slots
    recent = forecast(store, "town", "s1", slot_start=SLOT, slot_minutes=15, now=now)
    assert (recent.energy_kwh, recent.light) == (-1.0, "red") and "latest 4 slots (2 found)" in recent.basis
    # the same time 24 and 48 hours earlier wins: (1.0 + 2.0) / 2, green
    _reading(store, "s1", SLOT - timedelta(days=1), 1.0)
    _reading(store, "s1", SLOT - timedelta(days=2), 2.0)
    _reading(store, "s1", SLOT - timedelta(days=4), 50.0)  # beyond the 3 days
    daily = forecast(store, "town", "s1", slot_start=SLOT, slot_minutes=15, now=now)
    assert (daily.energy_kwh, daily.light, len(daily.slots)) == (1.5, "green", 2)
    auto = parse({"trading": True, "activity": "sell", "amount": "automatic", "price_min_per_kwh": 0.1})
    assert amount_kwh(auto, daily, 15) == (1.5, "")
    assert amount_kwh(auto, recent, 15)[0] is None  # an import forecast: nothing to sell
    assert amount_kwh(parse({**auto.to_json(), "activity": "buy"}), recent, 15) == (1.0, "")


def test_standing_orders_are_due_from_a_fifth_of_a_slot_before_until_quotation_closes() -> None:
    lead_start = SLOT - timedelta(minutes=3)
    assert due_slots(lead_start - timedelta(seconds=1), 15) == []
    assert due_slots(lead_start, 15) == [SLOT]
    assert due_slots(SLOT + timedelta(minutes=2, seconds=59), 15) == [SLOT]
    assert due_slots(SLOT + timedelta(minutes=3), 15) == []  # quotation closed (0-3 min)


def test_an_instruction_places_one_order_per_slot_that_clears_on_the_default_community(store: Any) -> None:
    op, clock, m = _town(store)
    desk = StandingDesk(op)
    desk.save(m["s1"], "town", SELL)  # sell 2 kWh at 0.1 or more
    desk.save(m["b2"], "town", {**SELL, "activity": "buy"})  # it orders itself below: its own order stands
    for who, side, energy, price in (("s2", "sell", 2.0, 0.5), ("b1", "buy", 1.5, 0.4), ("b2", "buy", 1.0, 0.05)):
        op.submit_order(m[who], "town", {"side": side, "slot_start": iso(SLOT), "idempotency_key": f"{who}-1",
                                         "energy_kwh": energy, "price_per_kwh": price})
    clock.set(SLOT - timedelta(minutes=3, seconds=1))
    assert desk.process_due(clock.now()) == []  # not due yet
    clock.set(SLOT - timedelta(minutes=2))
    (placed,) = desk.process_due(clock.now())
    assert (placed.order.member, placed.order.idempotency_key) == ("s1", f"standing-{iso(SLOT)}")
    entry = placed.order.entry
    assert (entry["energy_kwh"], entry["price_per_kwh"], entry["distance_pref_m"], entry["b"]) == (2.0, 0.1, 250.0,
                                                                                                   0.01)
    assert desk.process_due(clock.now()) == []  # once per slot
    assert [o.entry["price_per_kwh"] for o in store.orders_of_member("b2")] == [0.05]
    view = desk.view(m["s1"], "town")
    assert view["status"]["last"]["order_id"] == placed.order.id and view["saved"]
    clock.set(SLOT + timedelta(minutes=3))
    op.clear_slot("town", SLOT)
    result = store.get_result("town", iso(SLOT)).document
    assert result["price_per_kwh"] == pytest.approx((0.5 + 0.05) / 2)  # seed 004 Alg. 2, Case 1
    sold = {row["id"]: row["energy_kwh"] for row in result["sellers"]}
    bought = {row["id"]: row["energy_kwh"] for row in result["buyers"]}
    assert sold["s1"] == pytest.approx(1.5) and sum(sold.values()) == pytest.approx(sum(bought.values()))


def test_saving_checks_the_order_by_the_intakes_rules_and_changes_nothing_on_an_error(store: Any) -> None:
    op, _, m = _town(store)
    desk = StandingDesk(op)
    cases = [({**SELL, "energy_kwh": 1e6}, "energy_kwh", "must be <="),
             ({**SELL, "price_min_per_kwh": 5000.0, "price_max_per_kwh": 6000.0}, "price_min_per_kwh", "must be <="),
             ({**SELL, "activity": "buy", "price_min_per_kwh": 0.0, "price_max_per_kwh": 5000.0},
              "price_max_per_kwh", "must be <=")]
    for raw, field, words in cases:
        with pytest.raises(MarketError) as caught:
            desk.save(m["s1"], "town", raw)
        assert caught.value.field == field and words in caught.value.message, caught.value
    assert store.member_profile("s1") is None
    op.create_community("fixed", "dra_fixed_price", {"request_kwh": 5, "offer_price_per_kwh": 0.3}, 15)
    seller, _ = op.add_member("fixed", "f", "prosumer")
    with pytest.raises(MarketError) as caught:
        desk.save(seller, "fixed", {**SELL, "activity": "buy"})
    assert caught.value.field == "activity" and "takes no buyers" in caught.value.message


def test_the_view_shows_the_light_and_the_next_order(store: Any) -> None:
    op, clock, m = _town(store)
    clock.set(T0 + timedelta(minutes=5))  # the 10:00 slot's quotation closed at 10:03: the next is 10:15
    desk = StandingDesk(op)
    assert desk.view(m["s1"], "town")["instruction"] == StandingInstruction().to_json()
    desk.save(m["s1"], "town", {"trading": True, "activity": "sell", "amount": "automatic",
                                "price_min_per_kwh": 0.12})
    view = desk.view(m["s1"], "town")["status"]
    assert (view["light"], view["next_order"], view["next_slot"]) == ("unknown", None, iso(SLOT))
    assert "no meter readings" in view["why_no_order"]
    _reading(store, "s1", T0 - timedelta(minutes=15), 0.8)
    view = desk.view(m["s1"], "town")["status"]
    assert (view["light"], view["forecast_kwh"]) == ("green", 0.8)
    assert (view["next_order"]["energy_kwh"], view["next_order"]["price_per_kwh"]) == (0.8, 0.12)
    clock.set(SLOT - timedelta(minutes=1))
    (placed,) = desk.process_due(clock.now())
    assert placed.order.entry["energy_kwh"] == 0.8


def test_an_unreadable_stored_instruction_stops_only_its_member(store: Any) -> None:
    op, clock, m = _town(store)
    desk = StandingDesk(op)
    desk.save(m["s1"], "town", SELL)
    store.put_member_profile("s2", {"standing_instruction": {"activity": "dance"}}, "t")  # e.g. a newer version's
    clock.set(SLOT - timedelta(minutes=1))
    (placed,) = desk.process_due(clock.now())
    assert placed.order.member == "s1"
    status = desk.view(m["s2"], "town")["status"]
    assert status["last"]["field"] == "activity" and "cannot be used (activity:" in status["why_no_order"]


def test_a_standing_order_carries_the_members_saved_preferences(store: Any) -> None:
    op, clock, m = _town(store)
    store.put_member_profile("b1", {"order_defaults": {"distance_pref_m": 400, "omega": 0.3}}, "t")
    desk = StandingDesk(op)
    desk.save(m["b1"], "town", {**SELL, "activity": "buy"})
    assert store.member_profile("b1")["order_defaults"] == {"distance_pref_m": 400, "omega": 0.3}  # kept
    clock.set(SLOT - timedelta(minutes=1))
    (placed,) = desk.process_due(clock.now())
    entry = placed.order.entry
    assert (entry["price_per_kwh"], entry["distance_pref_m"], entry["omega"], entry["alpha"]) == (0.3, 400, 0.3, 0.04)
