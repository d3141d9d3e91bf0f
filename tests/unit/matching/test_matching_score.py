from __future__ import annotations

import numpy as np
import pytest

from transactive.matching.score import price_score, scores


def one(  # noqa: PLR0917  (the eight inputs of Alg. 4, in the thesis's order)
    pb: float, ps: float, d: float, db: float, ds: float, wb: float, ws: float, cd: float = 0.002
) -> float:
    s = scores(
        np.array([pb]),
        seller_price_per_kwh=np.array([ps]),
        distance_m=np.array([[d]]),
        buyer_pref_m=np.array([db]),
        seller_pref_m=np.array([ds]),
        buyer_welfare=np.array([wb]),
        seller_welfare=np.array([ws]),
        charge_per_km=cd,
    )
    return float(s[0, 0])


def test_price_score_alg3() -> None:
    assert float(price_score(28.0, 10.0, 2000.0, 0.002)) == pytest.approx(27.996)
    assert float(price_score(10.0, 10.0, 0.0, 0.002)) == 10.0  # equal prices: P(B) >= P(S)
    assert float(price_score(9.0, 10.0, 2000.0, 0.002)) == 1.0  # discarded: 1.0


def test_both_within_preference() -> None:
    # (20 - 0.5 km * 2) * (30 + 50)/2 = 19 * 40
    assert one(20.0, 5.0, 500.0, 600.0, 500.0, 30.0, 50.0, cd=2.0) == pytest.approx(760.0)


def test_only_seller_preference_exceeded() -> None:
    # s_p = 19; (40 + 400/500)/2 = 20.4
    assert one(20.0, 5.0, 500.0, 600.0, 400.0, 30.0, 50.0, cd=2.0) == pytest.approx(19 * 20.4)


def test_only_buyer_preference_exceeded() -> None:
    # (40 + 250/500)/2 = 20.25
    assert one(20.0, 5.0, 500.0, 250.0, 800.0, 30.0, 50.0, cd=2.0) == pytest.approx(19 * 20.25)


def test_both_exceeded() -> None:
    # (40 + 250/500 + 100/500)/3 = 40.7/3
    assert one(20.0, 5.0, 500.0, 250.0, 100.0, 30.0, 50.0, cd=2.0) == pytest.approx(19 * 40.7 / 3)


def test_price_incompatible_pair_scores_with_one() -> None:
    assert one(4.0, 5.0, 500.0, 600.0, 600.0, 30.0, 50.0, cd=2.0) == pytest.approx(40.0)


def test_same_bus_and_zero_preference_is_within() -> None:
    assert one(20.0, 5.0, 0.0, 0.0, 0.0, 30.0, 50.0) == pytest.approx(20.0 * 40.0)


def test_infinite_distance_never_matches() -> None:
    assert one(20.0, 5.0, np.inf, 10.0, 10.0, 30.0, 50.0) == -np.inf


def test_matrix_orientation_buyers_rows_sellers_columns() -> None:
    s = scores(
        np.array([20.0, 10.0]),
        seller_price_per_kwh=np.array([5.0, 8.0, 30.0]),
        distance_m=np.zeros((2, 3)),
        buyer_pref_m=np.ones(2),
        seller_pref_m=np.ones(3),
        buyer_welfare=np.array([2.0, 4.0]),
        seller_welfare=np.array([0.0, 2.0, 4.0]),
        charge_per_km=0.0,
    )
    expected = [[20 * 1.0, 20 * 2.0, 1.0 * 3.0], [10 * 2.0, 10 * 3.0, 1.0 * 4.0]]
    np.testing.assert_allclose(s, expected)
