"""How the simulated day's members price their auction orders (``transactive day --strategy``, docs/day.md).

Each member posts its residual energy ``E`` (kWh, after contracts and listings) once per slot; a strategy
sets the order's limit price (tokens/kWh) from the member's welfare parameters
(:func:`transactive.sim.day.prosumer_attributes`: seller cost ``C(E) = aE² + bE + c`` and buyer utility
``U(E) = ωE − αE²``, seed 004 eqs. 2.8-2.9) and the grid's prices (``GridTariff``: feed-in ``f``, retail ``r``):

* ``grid`` -- the grid's prices: sell at ``f``, buy at ``r`` (the day before issue 10; every slot clears at
  the same price);
* ``cost-plus`` -- a seller asks its marginal cost plus a margin, ``C'(E) + m = 2aE + b + m`` (``m`` =
  :data:`COST_PLUS_MARGIN_PER_KWH`); a buyer bids its marginal utility ``U'(E) = ω − 2αE``; both clipped
  into ``[f, r]`` (nobody trades on worse terms than the grid offers);
* ``zic`` -- zero-intelligence-constrained traders (Gode & Sunder 1993, J. Political Economy 101(1)): a
  seller asks uniformly in ``[max(C'(E), f), r]``, a buyer bids uniformly in ``[f, min(U'(E), r)]``, so no
  ask is below cost and no bid above value; seeded per (day seed, slot), drawn in member order.

Prices are whole micro-tokens (the batch resolution of a price): an ask is rounded up, a bid down, so the
rounding never crosses the member's cost or value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from transactive.settlement.grid_trading import GridTariff
from transactive.units import MICRO_PER_TOKEN, WH_PER_KWH

STRATEGIES = ("zic", "cost-plus", "grid")
DEFAULT_STRATEGY = "zic"
COST_PLUS_MARGIN_PER_KWH = 0.01  # our choice: 1 ct above marginal cost, ~10 % of the feed-in/retail spread


def marginal_cost_per_kwh(attributes: Mapping[str, object], energy_kwh: float) -> float:
    """``C'(E) = 2aE + b`` (tokens/kWh) for the seller cost ``aE² + bE + c`` (seed 004 eq. 2.8)."""
    return 2.0 * float(attributes["a"]) * energy_kwh + float(attributes["b"])  # type: ignore[arg-type]


def marginal_value_per_kwh(attributes: Mapping[str, object], energy_kwh: float) -> float:
    """``U'(E) = ω − 2αE`` (tokens/kWh) for the buyer utility ``ωE − αE²`` (seed 004 eq. 2.9)."""
    return float(attributes["omega"]) - 2.0 * float(attributes["alpha"]) * energy_kwh  # type: ignore[arg-type]


def _up(price: float) -> int:
    return math.ceil(round(price * MICRO_PER_TOKEN, 6))


def _down(price: float) -> int:
    return math.floor(round(price * MICRO_PER_TOKEN, 6))


def limit_prices(
    strategy: str, residual_wh: Mapping[str, int], attributes: Mapping[str, Mapping[str, object]],
    tariff: GridTariff, rng: np.random.Generator,
) -> dict[str, tuple[int, float]]:
    """Each member's auction order ``(energy_wh, limit price tokens/kWh)`` for the slot by ``strategy``
    (energy > 0 sells, < 0 buys, 0 posts nothing); ``rng`` is drawn from (in ``residual_wh``'s order) by
    ``zic`` only. Every price lies in ``[feed-in, retail]``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    low, high = _down(tariff.feed_in_per_kwh), _up(tariff.retail_per_kwh)
    out: dict[str, tuple[int, float]] = {}
    for member, wh in residual_wh.items():
        if not wh:
            out[member] = (0, 0.0)
            continue
        sell, energy_kwh = wh > 0, abs(wh) / WH_PER_KWH
        if strategy == "grid":
            micro = low if sell else high
        elif sell:
            cost = marginal_cost_per_kwh(attributes[member], energy_kwh)
            if strategy == "cost-plus":
                micro = min(max(_up(cost + COST_PLUS_MARGIN_PER_KWH), low), high)
            else:
                micro = int(rng.integers(min(max(_up(cost), low), high), high + 1))
        else:
            value = _down(marginal_value_per_kwh(attributes[member], energy_kwh))
            ceiling = max(min(value, high), low)
            micro = ceiling if strategy == "cost-plus" else int(rng.integers(low, ceiling + 1))
        out[member] = (wh, micro / MICRO_PER_TOKEN)
    return out
