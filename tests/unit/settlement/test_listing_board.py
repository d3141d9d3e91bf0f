"""The Elecbay listing board: states, orders, DSO review (fake and real power flow), metering, settlement."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.errors import MarketError
from transactive.settlement.listings import (
    Board,
    Delivery,
    Listing,
    ListingOrder,
    ListingState,
    PlannedTrade,
    ServiceRates,
    metered_delivery,
    power_flow_check,
    settle_listings,
)


def _board() -> Board:
    return (
        Board()
        .list(Listing("L1", "pv1", 3, 4.0, 0.06))
        .list(Listing("L2", "pv2", 3, 2.0, 0.05))
        .place(ListingOrder("o1", "L1", "ev", 3.0))
        .place(ListingOrder("o2", "L2", "home", 2.0))
        .place(ListingOrder("o3", "L1", "home", 1.0))
    )


def test_states_follow_seed_003() -> None:
    board = _board()
    assert {item.state for item in board.listings} == {ListingState.FOR_SALE}
    board = board.review(lambda trades: ()).close(3)
    assert {item.state for item in board.listings} == {ListingState.RESERVE_NOT_MET}
    deliveries = [Delivery(o.order_id, o.energy_wh) for o in board.accepted_orders(3)]
    board, _ = settle_listings(board, 3, deliveries)
    assert {item.state for item in board.listings} == {ListingState.CLOSE}


def test_orders_cannot_exceed_the_listing_or_follow_close() -> None:
    board = _board()
    assert board.remaining_wh("L1") == 0
    with pytest.raises(MarketError) as err:
        board.place(ListingOrder("o4", "L1", "ev2", 0.001))
    assert err.value.field == "order.energy_kwh" and err.value.kind == "conflict"
    closed = board.review(lambda trades: ()).close(3)
    with pytest.raises(MarketError) as err:
        closed.place(ListingOrder("o5", "L2", "ev2", 0.5))
    assert err.value.kind == "too_late"
    with pytest.raises(MarketError) as err:
        board.place(ListingOrder("o1", "L2", "x", 0.1))
    assert err.value.field == "order.order_id"
    with pytest.raises(MarketError) as err:
        board.place(ListingOrder("o6", "L9", "x", 0.1))
    assert err.value.kind == "not_found"
    with pytest.raises(MarketError) as err:
        Board().list(Listing("L", "s", 1, 1.0, 0.1)).place(ListingOrder("o", "L", "s", 0.5))
    assert err.value.field == "order.buyer"


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Listing("", "s", 1, 1.0, 0.1), "listing.listing_id"),
    (lambda: Listing("L", "s", -1, 1.0, 0.1), "listing.slot"),
    (lambda: Listing("L", "s", 1, 0.0, 0.1), "listing.energy_kwh"),
    (lambda: Listing("L", "s", 1, 1.0001, 0.1), "listing.energy_kwh"),
    (lambda: Listing("L", "s", 1, 1.0, -0.1), "listing.price_per_kwh"),
    (lambda: ListingOrder("o", "L", "b", float("nan")), "order.energy_kwh"),
    (lambda: ServiceRates(penalty_per_kwh=-1), "rates.penalty_per_kwh"),
])
def test_validation_names_the_field(make: object, field: str) -> None:
    with pytest.raises(MarketError) as err:
        make()  # type: ignore[operator]
    assert err.value.field == field


def test_review_checks_each_order_against_the_accepted_ones() -> None:
    seen: list[list[str]] = []

    def dso(trades: Sequence[PlannedTrade]) -> tuple[str, ...]:
        seen.append([t.order_id for t in trades])
        # a 4 kWh cap on the slot's accepted energy
        return ("line overloaded",) if sum(t.energy_kwh for t in trades) > 4.0 else ()

    board = _board().review(dso)
    assert seen == [["o1"], ["o1", "o2"], ["o1", "o3"]]
    assert [board.decisions[k].accepted for k in ("o1", "o2", "o3")] == [True, False, True]
    assert board.decisions["o2"].reason == ("line overloaded",)
    # a rejected order frees its energy on the listing
    assert board.remaining_wh("L2") == 2000


def test_close_rejects_unreviewed_orders() -> None:
    board = _board().close(3)
    assert not any(d.accepted for d in board.decisions.values()) and len(board.decisions) == 3


def test_power_flow_check_on_the_ieee_feeder() -> None:
    from transactive.grid.feeder import load_feeder, load_network

    loads = load_feeder().load_buses
    bus_of = {"pv1": loads[2], "ev": loads[3], "far": loads[0], "pv2": loads[-1]}
    board = (
        Board()
        .list(Listing("L1", "pv1", 0, 1.0, 0.06))
        .list(Listing("L2", "pv2", 0, 60.0, 0.05))
        .place(ListingOrder("small", "L1", "ev", 0.5))
        .place(ListingOrder("huge", "L2", "far", 40.0))  # 160 kW over 15 min: overloads the feeder
    )
    board = board.review(power_flow_check(load_network(), bus_of, slot_hours=0.25))
    assert board.decisions["small"].accepted and board.decisions["small"].reason == ()
    huge = board.decisions["huge"]
    assert not huge.accepted and huge.reason and all(isinstance(r, str) for r in huge.reason)
    with pytest.raises(MarketError) as err:
        Board().list(Listing("L", "x", 0, 1.0, 0.1)).place(ListingOrder("o", "L", "y", 1.0)).review(
            power_flow_check(load_network(), bus_of))
    assert err.value.field == "bus_of[x]"


def test_metered_delivery_hand_computed() -> None:
    board = _board().review(lambda trades: ())
    # pv1 metered only 3.5 kWh of surplus, home can take only 2.5 kWh
    d = metered_delivery(board, 3, {"pv1": 3500, "pv2": 2000}, {"ev": 5000, "home": 2500})
    assert d == (
        Delivery("o1", 3000, 0, 0),
        Delivery("o2", 2000, 0, 0),
        Delivery("o3", 500, 500, 0),  # pv1 has 0.5 kWh left for o3; home still needs 0.5
    )
    d = metered_delivery(board, 3, {"pv1": 4000, "pv2": 2000}, {"ev": 3000, "home": 2500})
    assert d[2] == Delivery("o3", 500, 0, 500)  # home took 2 kWh via o2, so it is short by 0.5 on o3


def test_settlement_hand_computed() -> None:
    board = _board().review(lambda trades: ()).close(3)
    deliveries = [Delivery("o1", 3000), Delivery("o2", 2000), Delivery("o3", 500, 500, 0)]
    _, s = settle_listings(board, 3, deliveries, ServiceRates(service_charge_per_kwh=0.004, penalty_per_kwh=0.05))
    o1, o2, o3 = s
    # o1: 3 kWh * 0.06 = 0.18; charge 0.012 split 0.006 / 0.006
    assert (o1.buyer_micro, o1.seller_micro, o1.service_charge_micro) == (-186_000, 174_000, 12_000)
    # o2: 2 kWh * 0.05 = 0.10; charge 0.008
    assert (o2.buyer_micro, o2.seller_micro) == (-104_000, 96_000)
    # o3: 0.5 kWh * 0.06 = 0.03; charge 0.002; seller penalty 0.5 kWh * 0.05 = 0.025
    assert (o3.buyer_micro, o3.seller_micro, o3.penalty_micro) == (-31_000, 30_000 - 1_000 - 25_000, 25_000)


def test_settlement_needs_closed_bidding_and_one_delivery_per_order() -> None:
    board = _board().review(lambda trades: ())
    with pytest.raises(MarketError) as err:
        settle_listings(board, 3, [])
    assert err.value.field == "slot"
    with pytest.raises(MarketError) as err:
        settle_listings(board.close(3), 3, [Delivery("o1", 3000)])
    assert err.value.field == "deliveries"
    with pytest.raises(MarketError) as err:
        settle_listings(board.close(3), 3, [Delivery("o1", 2000), Delivery("o2", 2000), Delivery("o3", 1000)])
    assert err.value.field == "deliveries[o1]"
    full = [Delivery("o1", 3000), Delivery("o2", 2000), Delivery("o3", 1000)]
    settled, _ = settle_listings(board.close(3), 3, full)
    with pytest.raises(MarketError) as err:  # a slot is settled once
        settle_listings(settled, 3, full)
    assert err.value.field == "slot" and err.value.kind == "conflict"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 5000), st.integers(0, 5000)), min_size=1, max_size=6),
       st.floats(0, 0.02), st.floats(0, 0.2), st.floats(0, 0.3))
def test_money_is_conserved_per_order(
    rows: list[tuple[int, int, int]], charge: float, penalty: float, price: float
) -> None:
    board = Board()
    available_sell, available_buy = {}, {}
    for k, (ordered, sell_wh, buy_wh) in enumerate(rows):
        board = board.list(Listing(f"L{k}", f"s{k}", 0, ordered / 1000, round(price, 6)))
        board = board.place(ListingOrder(f"o{k}", f"L{k}", f"b{k}", ordered / 1000))
        available_sell[f"s{k}"], available_buy[f"b{k}"] = sell_wh, buy_wh
    board = board.review(lambda trades: ()).close(0)
    deliveries = metered_delivery(board, 0, available_sell, available_buy)
    for (ordered, sell_wh, buy_wh), d in zip(rows, deliveries, strict=True):
        assert d.delivered_wh == min(ordered, sell_wh, buy_wh)
    _, s = settle_listings(board, 0, deliveries, ServiceRates(charge, penalty))
    for o in s:
        assert o.seller_micro + o.buyer_micro + o.service_charge_micro + o.penalty_micro == 0
        assert o.buyer_micro <= 0 and o.service_charge_micro >= 0 and o.penalty_micro >= 0


def test_a_second_review_sees_the_orders_accepted_earlier() -> None:
    seen: list[list[str]] = []

    def dso(trades: Sequence[PlannedTrade]) -> tuple[str, ...]:
        seen.append([t.order_id for t in trades])
        return ()

    board = _board().review(lambda trades: ()).list(Listing("L3", "pv3", 3, 1.0, 0.05))
    board.place(ListingOrder("o5", "L3", "ev", 1.0)).review(dso)
    assert seen == [["o1", "o2", "o3", "o5"]]


def test_bulk_operations_equal_one_by_one() -> None:
    listings = [Listing(f"L{k}", f"s{k}", 1, 2.0, 0.05) for k in range(4)]
    orders = [ListingOrder(f"o{k}", f"L{k % 4}", f"b{k}", 0.5) for k in range(8)]
    one = Board()
    for item in listings:
        one = one.list(item)
    for o in orders:
        one = one.place(o)
    bulk = Board().list_all(listings).place_all(orders)
    assert bulk.listings == one.listings and bulk.orders == one.orders
    assert [bulk.remaining_wh(f"L{k}") for k in range(4)] == [1000] * 4
    with pytest.raises(MarketError) as err:  # the 5th half-kWh order on L0 exceeds it: nothing is added
        bulk.place_all([ListingOrder("x1", "L1", "b", 0.5), ListingOrder("x2", "L0", "b", 1.5)])
    assert err.value.field == "order.energy_kwh"
    with pytest.raises(MarketError):
        Board().list_all([listings[0], listings[0]])
