"""BusScores (per-bus tables, branch-free blend) against the reference ``scores`` to the bit, and the score
matching with bus distances against the same market given as a full distance matrix."""

from __future__ import annotations

import numpy as np
import pytest

from transactive.matching import pipeline
from transactive.matching.pipeline import BusDistances, DistanceMatrix, match_energies
from transactive.matching.score import BusScores, scores
from transactive.orders import Orders


def _bits(values: np.ndarray) -> list[int]:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64).ravel().tolist()


def _case(rng: np.random.Generator, trial: int) -> tuple[dict[str, object], np.ndarray, np.ndarray, np.ndarray]:
    n_bus = int(rng.integers(1, 7))
    n_b, n_s = int(rng.integers(1, 25)), int(rng.integers(1, 25))
    grid = [0.0, 50.0, 100.0, 150.0, 1000.0, np.inf, 123.456]
    bus_d = rng.choice(grid, size=(n_bus, n_bus)) if trial % 2 else rng.uniform(0, 500, (n_bus, n_bus))
    if trial % 3 == 0:  # a pair of islands
        bus_d[rng.integers(n_bus), rng.integers(n_bus)] = np.inf
    prices = [0.0, 0.1, 0.15, 0.2]
    kwargs: dict[str, object] = {
        "buyer_price_per_kwh": rng.choice(prices, n_b) if trial % 2 else rng.uniform(0, 1, n_b),
        "seller_price_per_kwh": rng.choice(prices, n_s) if trial % 2 else rng.uniform(0, 1, n_s),
        "buyer_pref_m": rng.choice([0.0, 100.0, 150.0], n_b),
        "seller_pref_m": rng.choice([0.0, 100.0, 150.0, 200.0], n_s),
        "buyer_welfare": rng.choice([0.0, -1.5, 2.0], n_b) if trial % 4 == 1 else rng.normal(0, 10, n_b),
        "seller_welfare": rng.normal(0, 10, n_s),
        "charge_per_km": float(rng.choice([0.0, 0.002, 0.5])),
    }
    if trial % 7 == 0:  # a negative zero: BusScores must fall back to the reference
        kwargs["seller_welfare"][0] = -0.0  # type: ignore[index]
    return kwargs, bus_d, rng.integers(0, n_bus, n_b), rng.integers(0, n_bus, n_s)


@pytest.mark.parametrize("trial", range(120))
def test_bus_scores_equal_the_reference_to_the_bit(trial: int) -> None:
    rng = np.random.default_rng(trial)
    kwargs, bus_d, buyer_bus, seller_bus = _case(rng, trial)
    pb = kwargs.pop("buyer_price_per_kwh")
    reference = scores(pb, distance_m=bus_d[np.ix_(buyer_bus, seller_bus)], **kwargs)  # type: ignore[arg-type]
    fast = BusScores(bus_d, buyer_bus, seller_bus, buyer_price_per_kwh=pb, **kwargs)  # type: ignore[arg-type]
    assert fast.blended == (trial % 7 != 0)
    rows = rng.permutation(len(buyer_bus))[: int(rng.integers(1, len(buyer_bus) + 1))]
    assert _bits(fast.rows(rows)) == _bits(reference[rows])
    assert _bits(fast.rows(rows[:1])) == _bits(reference[rows[:1]])  # one row (a refill)


def _market(rng: np.random.Generator, n: int, n_bus: int) -> tuple[Orders, Orders, np.ndarray, np.ndarray, np.ndarray]:
    sellers = Orders.single([f"s{i}" for i in range(n)], rng.uniform(0.5, 5, n).round(3),
                            rng.uniform(0.05, 0.2, n).round(4), distance_pref_m=rng.choice([100.0, 150.0], n),
                            a=np.full(n, 0.01), b=np.full(n, 1.0), c=np.full(n, 0.5))
    buyers = Orders.single([f"b{i}" for i in range(n)], rng.uniform(0.5, 5, n).round(3),
                           rng.uniform(0.1, 0.3, n).round(4), distance_pref_m=np.full(n, 150.0),
                           omega=np.full(n, 60.0), alpha=np.full(n, 0.2))
    points = rng.uniform(0, 800, n_bus)
    bus_d = np.abs(points[:, None] - points[None, :]).round(1)
    return sellers, buyers, bus_d, rng.integers(0, n_bus, n), rng.integers(0, n_bus, n)


@pytest.mark.parametrize(("seed", "n", "n_bus", "p0"), [(11, 300, 6, 0.15), (12, 400, 55, 0.12), (13, 250, 2, 0.19),
                                                     (14, 500, 20, 0.16), (15, 120, 9, 0.1)])
@pytest.mark.parametrize("windows", [True, False])
def test_matching_with_bus_distances_equals_the_full_matrix(  # noqa: PLR0917
    seed: int, n: int, n_bus: int, p0: float, windows: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # large enough for the batched greedy (n_b * n_s > 4096) and for ties (few buses, equal parameters); the
    # bus path takes its batches from candidate windows (matching/candidates.py), the matrix path scores rows
    monkeypatch.setattr(pipeline, "WINDOW_MIN_SELLERS", 0 if windows else 10**9)
    rng = np.random.default_rng(seed)
    sellers, buyers, bus_d, buyer_bus, seller_bus = _market(rng, n, n_bus)
    e_s, e_b = sellers.energy_kwh * 0.9, buyers.energy_kwh
    common = {"price_per_kwh": p0, "seller_kwh": e_s, "buyer_kwh": e_b, "charge_per_km": 0.002}
    fast = match_energies(sellers, buyers, BusDistances(bus_d, buyer_bus, seller_bus), **common)  # type: ignore[arg-type]
    full = match_energies(sellers, buyers, DistanceMatrix(bus_d[np.ix_(buyer_bus, seller_bus)]),
                          **common)  # type: ignore[arg-type]
    assert len(fast.trades) >= n
    assert fast.trades == full.trades
    assert _bits(fast.buyer_bill) == _bits(full.buyer_bill)
    assert _bits(fast.seller_income) == _bits(full.seller_income)
