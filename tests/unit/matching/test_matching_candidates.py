"""The exact candidate windows (matching/candidates.py) against scoring every seller: the same batches for
every row (ties, islands, negative scores, uncovered sellers, refills after a last candidate, dead sellers)
and the same greedy trades, to the bit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.matching.candidates import TopCandidates
from transactive.matching.greedy import match, match_naive
from transactive.matching.score import BusScores
from transactive.units import energy_to_units


def _market(rng: np.random.Generator, trial: int) -> BusScores:
    n_bus = int(rng.integers(1, 9))
    n_b, n_s = int(rng.integers(1, 120)), int(rng.integers(1, 400))
    grid = [0.0, 50.0, 100.0, 150.0, 1000.0, 123.456]
    bus_d = rng.choice(grid, size=(n_bus, n_bus)) if trial % 2 else rng.uniform(0, 500, (n_bus, n_bus))
    if trial % 3 == 0:  # a pair of islands
        bus_d[rng.integers(n_bus), rng.integers(n_bus)] = np.inf
    prices = [0.0, 0.1, 0.15, 0.2]
    coarse = trial % 4 == 1  # few distinct values: many equal scores (ties broken by seller index)
    return BusScores(
        bus_d, rng.integers(0, n_bus, n_b), rng.integers(0, n_bus, n_s),
        buyer_price_per_kwh=rng.choice(prices, n_b) if trial % 2 else rng.uniform(0, 1, n_b),
        seller_price_per_kwh=rng.choice(prices, n_s) if trial % 2 else rng.uniform(0, 1, n_s),
        buyer_pref_m=rng.choice([0.0, 100.0, 150.0], n_b),
        seller_pref_m=rng.choice([0.0, 100.0, 150.0, 200.0], n_s),
        buyer_welfare=rng.choice([0.0, 1.5, 2.0], n_b) if coarse else rng.normal(0, 10, n_b),
        seller_welfare=rng.choice([0.5, 1.5, 3.0], n_s) if coarse else rng.normal(0, 10, n_s),
        charge_per_km=float(rng.choice([0.0, 0.002, 0.5, 900.0])),  # 900: negative price scores
    )


def _first_k(scores: np.ndarray, eligible: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole row's first ``k`` eligible finite cells in the order (score descending, seller ascending)."""
    idx = np.flatnonzero(eligible & (scores > -np.inf))
    order = np.lexsort((idx, -scores[idx]))[:k]
    return idx[order], scores[idx][order]


def _bits(values: np.ndarray) -> list[int]:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64).ravel().tolist()


@pytest.mark.parametrize("trial", range(60))
def test_windows_give_every_row_the_batch_of_its_whole_row(trial: int) -> None:
    rng = np.random.default_rng(1000 + trial)
    bs = _market(rng, trial)
    n_b, n_s = len(bs.buyer_price), len(bs.seller_price)
    alive = rng.random(n_s) > (0.3 if trial % 2 else 0.0)
    k = int(rng.choice([1, 3, 16, 128]))
    rows = np.arange(n_b, dtype=np.int64)
    full = bs.rows(rows)
    last_score, last_seller = np.full(n_b, np.inf), np.full(n_b, -1, dtype=np.int64)
    for j in rows.tolist():  # a last candidate taken from the row's own order (or none)
        idx, sc = _first_k(full[j], alive, k)
        if trial % 3 and len(idx):
            last_score[j], last_seller[j] = sc[len(sc) // 2], idx[len(idx) // 2]
    top = TopCandidates(bs, window=int(rng.choice([1, 2, 16])))
    got_idx, got_sc, count = top.batches(rows, alive, k, last_score, last_seller)
    for j in rows.tolist():
        ls, li = last_score[j], last_seller[j]
        eligible = alive & ((full[j] < ls) | ((full[j] == ls) & (np.arange(n_s) > li)))
        want_idx, want_sc = _first_k(full[j], eligible, k)
        assert got_idx[j, : count[j]].tolist() == want_idx.tolist(), j
        assert _bits(got_sc[j, : count[j]]) == _bits(want_sc)


def _amounts(rng: np.random.Generator, bs: Any, trial: int) -> tuple[Any, Any, Callable[[int, int, float], bool]]:
    """Buyers' and sellers' kWh (equal steps in odd trials, so that scores tie) and an admissibility test that
    refuses five random pairs in odd trials."""
    n_b, n_s = len(bs.buyer_price), len(bs.seller_price)
    buyer_kwh = rng.choice([0.5, 1.0, 2.5], n_b) if trial % 2 else rng.uniform(0.1, 5, n_b).round(3)
    seller_kwh = rng.choice([0.5, 1.0, 2.5], n_s) if trial % 2 else rng.uniform(0.1, 5, n_s).round(3)
    refused = set(map(tuple, rng.integers(0, [n_b, n_s], size=(5, 2)).tolist())) if trial % 2 else set()

    def admissible(j: int, i: int, energy_kwh: float) -> bool:
        return (j, i) not in refused and energy_kwh > 0

    return buyer_kwh, seller_kwh, admissible


@pytest.mark.parametrize("trial", range(40))
def test_greedy_trades_with_windows_equal_the_whole_rows(trial: int) -> None:
    rng = np.random.default_rng(2000 + trial)
    bs = _market(rng, trial)
    buyer_kwh, seller_kwh, admissible = _amounts(rng, bs, trial)

    batch = int(rng.choice([2, 8, 128]))
    kwargs = {"batch": batch, "small": 0, "admissible": admissible}
    plain = match(bs.rows, buyer_kwh, seller_kwh, **kwargs)  # type: ignore[arg-type]
    windows = match(bs.rows, buyer_kwh, seller_kwh, top=TopCandidates(bs, window=2), **kwargs)  # type: ignore[arg-type]
    assert plain.buyer.tolist() == windows.buyer.tolist()
    assert plain.seller.tolist() == windows.seller.tolist()
    assert energy_to_units(plain.energy_kwh).tolist() == energy_to_units(windows.energy_kwh).tolist()
    assert _bits(plain.score) == _bits(windows.score)


@pytest.mark.parametrize("near", [0.0, 0.01, 1e9])
@pytest.mark.parametrize("trial", range(0, 40, 3))
def test_early_refills_of_dead_batches_keep_the_literal_trades(
    trial: int, near: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows whose batch is all dead refilled early with a pending row of their bus (``NEAR`` 1e9: every such row,
    however far below the top) give the trades of the literal loop over the whole score matrix."""
    from transactive.matching import greedy

    monkeypatch.setattr(greedy, "NEAR", near)
    rng = np.random.default_rng(3000 + trial)
    bs = _market(rng, trial)
    buyer_kwh, seller_kwh, admissible = _amounts(rng, bs, trial)

    windows = match(bs.rows, buyer_kwh, seller_kwh, batch=int(rng.choice([1, 2, 4])), small=0, admissible=admissible,
                    top=TopCandidates(bs, window=2))
    literal = match_naive(bs.rows(np.arange(len(bs.buyer_price), dtype=np.int64)), buyer_kwh, seller_kwh, admissible)
    assert windows.buyer.tolist() == literal.buyer.tolist()
    assert windows.seller.tolist() == literal.seller.tolist()
    assert energy_to_units(windows.energy_kwh).tolist() == energy_to_units(literal.energy_kwh).tolist()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), trial=st.integers(0, 11), batch=st.sampled_from([1, 2, 4, 64]),
       near=st.sampled_from([0.0, 0.01, 1e9]))
def test_windowed_greedy_equals_the_literal_loop(seed: int, trial: int, batch: int, near: float) -> None:
    """Random books (ties, islands, negative scores, refused pairs, any batch size, early refills of dead batches
    near the top or everywhere): the windowed greedy makes the literal loop's trades, to the bit."""
    from transactive.matching import greedy

    rng = np.random.default_rng(seed)
    bs = _market(rng, trial)
    buyer_kwh, seller_kwh, admissible = _amounts(rng, bs, trial)
    with patch.object(greedy, "NEAR", near):
        windows = match(bs.rows, buyer_kwh, seller_kwh, batch=batch, small=0, admissible=admissible,
                        top=TopCandidates(bs, window=int(rng.choice([1, 2, 16]))))
    literal = match_naive(bs.rows(np.arange(len(bs.buyer_price), dtype=np.int64)), buyer_kwh, seller_kwh, admissible)
    assert windows.buyer.tolist() == literal.buyer.tolist()
    assert windows.seller.tolist() == literal.seller.tolist()
    assert energy_to_units(windows.energy_kwh).tolist() == energy_to_units(literal.energy_kwh).tolist()
    assert _bits(windows.score) == _bits(literal.score)
