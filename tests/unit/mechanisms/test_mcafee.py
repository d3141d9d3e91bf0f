"""McAfee's double auction (seed 004, Algorithm 1): thesis fixtures, a literal reference, invariants."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from fixtures import double_auction_reference as ref
from fixtures import seed004
from fixtures.book_strategies import books, fractions, orders
from transactive.mechanisms import REGISTRY, NoParams
from transactive.mechanisms.mcafee import clear_mcafee, select_mcafee
from transactive.orders import Orders
from transactive.result import ClearingResult


def _clear(book: seed004.Book) -> ClearingResult:
    return clear_mcafee(
        Orders.single(book.seller_ids, book.seller_energy_kwh, book.seller_price_per_kwh),
        Orders.single(book.buyer_ids, book.buyer_energy_kwh, book.buyer_price_per_kwh),
        NoParams(),
    )


@pytest.mark.parametrize("name", sorted(seed004.MCAFEE))
def test_thesis_fixtures(name: str) -> None:
    book, want = seed004.MCAFEE[name]
    r = _clear(book)
    seed004.assert_matches(r, want, "mcafee")
    assert r.details["individually_rational"] is True


def test_registered() -> None:
    mechanism = REGISTRY["mcafee"]
    assert mechanism.params_type is NoParams and mechanism.clear is clear_mcafee
    with pytest.raises(TypeError):
        mechanism.run(Orders.empty(), Orders.empty(), object())


def test_select_exposes_priority_order_and_energies() -> None:
    book, _ = seed004.MCAFEE["table_2_2"]
    s = select_mcafee(
        Orders.single(book.seller_ids, book.seller_energy_kwh, book.seller_price_per_kwh),
        Orders.single(book.buyer_ids, book.buyer_energy_kwh, book.buyer_price_per_kwh),
    )
    assert [book.seller_ids[i] for i in s.seller_index] == ["4", "20", "45", "24"]
    assert s.seller_energy_kwh.tolist() == [70.0, 40.0, 14.0, 22.0]
    assert [book.buyer_ids[i] for i in s.buyer_index] == ["9", "39", "12"]
    assert s.buyer_energy_kwh.tolist() == [70.0, 16.0, 60.0]


def test_case_1_shortfall_falls_on_the_last_chosen_buyer() -> None:
    # hand computation: sellers a 5@1, b 5@3, g 10@9; buyers c 4@10, d 8@7, e 5@2.
    # walk: [0,4] a-c, [4,5] a-d, [5,10] b-d (3 <= 7), [10,..] g-d fails (9 > 7): x=2, y=2.
    # cond: (P(S3) + P(B3))/2 = (9+2)/2 = 5.5 in [3, 7] -> Case 1: sellers a, b (10 kWh), buyers c, d (12).
    # theta = -2: d is short by 2 and buys 6.
    r = clear_mcafee(
        Orders.single(["a", "b", "g"], [5.0, 5.0, 10.0], [1.0, 3.0, 9.0]),
        Orders.single(["c", "d", "e"], [4.0, 8.0, 5.0], [10.0, 7.0, 2.0]),
        NoParams(),
    )
    assert (r.details["case"], r.details["x"], r.details["y"]) == (1, 2, 2)
    assert r.price_per_kwh == 5.5
    assert r.details["unserved_kwh"] == 2.0 and r.details["theta_kwh"] == -2.0
    assert r.details["oversupply_kwh"] == 0.0
    assert r.sellers.energy_kwh.tolist() == [5.0, 5.0, 0.0]
    assert r.buyers.energy_kwh.tolist() == [4.0, 6.0, 0.0]


def test_case_2_shortfall_larger_than_the_last_buyer_carries_on() -> None:
    # hand computation: sellers a 3@1, b 10@4, f 10@5; buyers c 4@10, d 6@9, e 10@4.5.
    # walk: [0,3] a-c, [3,4] b-c, [4,10] b-d, [10,13] b-e (4 <= 4.5), [13,..] f-e fails: x=3, y=2.
    # B4 absent -> Case 2: sellers {a} (3 kWh), buyers {c, d} (10 kWh) at (4 + 4.5)/2 = 4.25.
    # theta = -7 > E(d) = 6: d buys 0 and c, short by the remaining 1, buys 3.
    r = clear_mcafee(
        Orders.single(["a", "b", "f"], [3.0, 10.0, 10.0], [1.0, 4.0, 5.0]),
        Orders.single(["c", "d", "e"], [4.0, 6.0, 10.0], [10.0, 9.0, 4.5]),
        NoParams(),
    )
    assert (r.details["case"], r.details["x"], r.details["y"]) == (2, 3, 2)
    assert r.price_per_kwh == 4.25
    assert r.details["unserved_kwh"] == 7.0 and r.details["theta_kwh"] == -7.0
    assert r.details["chosen_buyers"] == ["c", "d"]
    assert r.sellers.energy_kwh.tolist() == [3.0, 0.0, 0.0]
    assert r.buyers.energy_kwh.tolist() == [3.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("sellers", "buyers"),
    [
        (Orders.empty(), Orders.single(["b"], [1.0], [5.0])),
        (Orders.single(["s"], [1.0], [5.0]), Orders.empty()),
        (Orders.single(["s"], [1.0], [5.0]), Orders.single(["b"], [1.0], [4.0])),  # no crossing
        (Orders.single(["s"], [1.0], [1.0]), Orders.single(["b"], [1.0], [4.0])),  # Case 2 with x = y = 1
    ],
)
def test_nothing_trades(sellers: Orders, buyers: Orders) -> None:
    r = clear_mcafee(sellers, buyers, NoParams())
    assert r.price_per_kwh is None
    assert r.sellers.total_energy_kwh == 0 and r.buyers.total_energy_kwh == 0
    assert r.details["chosen_sellers"] == [] and r.details["chosen_buyers"] == []


def _check_against_reference(s_side: list, b_side: list) -> ClearingResult:
    r = clear_mcafee(orders(s_side, "s"), orders(b_side, "b"), NoParams())
    se, sp = fractions(s_side)
    be, bp = fractions(b_side)
    want = ref.mcafee(se, sp, be, bp)
    assert (r.details["case"], r.details["x"], r.details["y"]) == (want.case, want.x, want.y)
    if want.price is None:
        assert r.price_per_kwh is None
    else:
        assert r.price_per_kwh == pytest.approx(float(want.price), abs=1e-9)
    np.testing.assert_allclose(r.sellers.energy_kwh, [float(v) for v in want.seller_energy], atol=1e-9)
    np.testing.assert_allclose(r.buyers.energy_kwh, [float(v) for v in want.buyer_energy], atol=1e-9)
    assert r.details["chosen_sellers"] == [f"s{i}" for i in want.chosen_sellers]
    assert r.details["chosen_buyers"] == [f"b{i}" for i in want.chosen_buyers]
    for key, value in want.figures.items():
        assert r.details[key] == pytest.approx(float(value), abs=1e-9), key
    return r


@settings(max_examples=300)
@given(books)
def test_agrees_with_the_literal_reference(book: tuple) -> None:
    _check_against_reference(*book)


@settings(max_examples=200)
@given(books)
def test_invariants(book: tuple) -> None:
    s_side, b_side = book
    sellers, buyers = orders(s_side, "s"), orders(b_side, "b")
    r = clear_mcafee(sellers, buyers, NoParams())
    sold, bought = r.sellers.energy_kwh, r.buyers.energy_kwh
    assert np.all(sold >= 0) and np.all(bought >= 0)
    assert np.all(sold <= sellers.energy_kwh + 1e-12)
    assert np.all(bought <= buyers.energy_kwh + 1e-12)
    assert sold.sum() == pytest.approx(bought.sum(), abs=1e-9)  # Σ sold == Σ bought
    p = 0.0 if r.price_per_kwh is None else r.price_per_kwh
    np.testing.assert_array_equal(r.sellers.payment, sold * p)
    np.testing.assert_array_equal(r.buyers.payment, bought * p)
    assert r.sellers.total_payment == pytest.approx(r.buyers.total_payment, abs=1e-9)  # budget balance
    # individual rationality holds in both cases: p0 within every chosen participant's ask / bid
    ids_s, ids_b = list(sellers.ids), list(buyers.ids)
    for sid in r.details["chosen_sellers"]:
        assert sellers.price_per_kwh[ids_s.index(sid)] <= p
    for bid in r.details["chosen_buyers"]:
        assert buyers.price_per_kwh[ids_b.index(bid)] >= p
    assert r.details["individually_rational"] is True
    # determinism: the same input gives the same bytes
    again = clear_mcafee(sellers, buyers, NoParams())
    assert again.sellers.energy_kwh.tobytes() == sold.tobytes()
    assert again.buyers.payment.tobytes() == r.buyers.payment.tobytes()
    assert json.dumps(again.details, sort_keys=True) == json.dumps(r.details, sort_keys=True)
