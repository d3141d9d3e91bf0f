"""The day's bidding strategies (``transactive.sim.strategy``): every limit price lies in [feed-in, retail],
no seller asks below its marginal cost and no buyer bids above its marginal utility (where the grid's prices
allow), ``grid`` is the grid's prices, ``cost-plus`` is the closed form, and ``zic`` is seeded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.settlement.grid_trading import GridTariff
from transactive.sim.day import prosumer_attributes
from transactive.sim.strategy import (
    COST_PLUS_MARGIN_PER_KWH,
    STRATEGIES,
    limit_prices,
    marginal_cost_per_kwh,
    marginal_value_per_kwh,
)
from transactive.units import MICRO_PER_TOKEN, at_batch_resolution

TARIFF = GridTariff()
BUSES = [f"bus{k}" for k in range(12)]


def _book(seed: int, energies_wh: list[int], strategy: str) -> tuple[dict[str, dict[str, object]],
                                                                     dict[str, tuple[int, float]]]:
    welfare = {str(k): dict(a) for k, a in enumerate(prosumer_attributes(seed, BUSES))}
    residual = {str(k): wh for k, wh in enumerate(energies_wh)}
    return welfare, limit_prices(strategy, residual, welfare, TARIFF, np.random.default_rng([seed, 11, 0]))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), strategy=st.sampled_from(STRATEGIES),
       energies_wh=st.lists(st.integers(-20_000, 20_000), min_size=12, max_size=12))
def test_limit_prices_stay_between_the_grid_prices_and_respect_cost_and_value(
    seed: int, strategy: str, energies_wh: list[int]
) -> None:
    welfare, book = _book(seed, energies_wh, strategy)
    for member, (wh, price) in book.items():
        assert wh == energies_wh[int(member)]
        if not wh:
            continue
        assert TARIFF.feed_in_per_kwh <= price <= TARIFF.retail_per_kwh
        assert at_batch_resolution(price, MICRO_PER_TOKEN) == price  # whole micro-tokens
        energy_kwh = abs(wh) / 1000
        if strategy == "grid":
            assert price == (TARIFF.feed_in_per_kwh if wh > 0 else TARIFF.retail_per_kwh)
        elif wh > 0:  # never below cost, unless the cost is above retail (then retail, the grid's best)
            assert price >= min(marginal_cost_per_kwh(welfare[member], energy_kwh), TARIFF.retail_per_kwh)
        else:  # never above value, unless the value is below feed-in
            assert price <= max(marginal_value_per_kwh(welfare[member], energy_kwh), TARIFF.feed_in_per_kwh)


def test_cost_plus_is_marginal_cost_plus_margin_and_marginal_utility() -> None:
    welfare = {"s": {"a": 1e-3, "b": 0.01, "c": 0.0, "omega": 0.2, "alpha": 0.05},
               "b": {"a": 1e-3, "b": 0.01, "c": 0.0, "omega": 0.2, "alpha": 0.05},
               "far": {"a": 1e-3, "b": 0.01, "c": 0.0, "omega": 0.2, "alpha": 0.05}}
    book = limit_prices("cost-plus", {"s": 2000, "b": -1500, "far": -1900}, welfare, TARIFF,
                        np.random.default_rng(0))
    assert book["s"] == (2000, round(2 * 1e-3 * 2 + 0.01 + COST_PLUS_MARGIN_PER_KWH, 6))  # 0.024
    assert book["b"] == (-1500, 0.05)  # U'(1.5) = 0.2 − 2·0.05·1.5
    assert book["far"] == (-1900, 0.015)  # U'(1.9) = 0.01, below feed-in: clipped to it


def test_zic_is_seeded_and_grid_is_the_grid() -> None:
    energies = [1500, -800, 300, -2500, 0, 700, -100, 900, -400, 2000, -50, 10]
    assert _book(5, energies, "zic") == _book(5, energies, "zic")
    assert _book(5, energies, "zic")[1] != _book(6, energies, "zic")[1]
    assert {p for _, p in _book(5, energies, "grid")[1].values()} == {0.0, 0.015, 0.1}
