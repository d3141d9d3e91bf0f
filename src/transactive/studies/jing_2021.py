"""Seed 003's study (Jing et al. 2021, negawatt networks; SEED-NOTES §6): the worked cases of Type I (the DRA
buys at a fixed price) and Type II (peer-to-peer at the sellers' average price), then the sweep the paper
does not run: both networks' prices and outcomes as the request grows.

**Worked cases**: Tables I-II through the library's ``dra_fixed_price`` and Tables III-IV through
``p2p_average_price`` (also with ``exclude_sellers_above_mcp``), with the token balances the tables print
(500 and 600 tokens before; a balance moves by what the mechanism pays or charges). kW over one hour = kWh.

**Sweep** (:func:`market`): per seed, ``buildings`` buildings, each able to cut U(5, 50) kW (Tables I/III's
range) with a bid price β ~ U(5, 20) tokens/kW (Table III's range), rounded to 1 kW and 0.01 tokens; the
request R grows over :data:`REQUESTS_KWH`. On each (seed, R):

* **Type I**: ``dra_fixed_price`` (R at ``dra_price_per_kwh``, default Table I's 10; the buildings' β are not
  offered, the rule ignores them);
* **Type II**: ``p2p_average_price`` with one buyer (the building short of R, offer price
  ``buyer_price_per_kwh``, default Table III's b7 16) and the same buildings as sellers, faithful and with
  ``exclude_sellers_above_mcp``;
* **cheapest first**: ``knapsack_vcg``'s allocation (no fallback) on the same asks, the least-cost way to cut
  R; its marginal ask is the competitive (uniform) price of R, paid on every kW here, and its cost the minimum
  social cost.

Per rule: the price per kW, kW served, unmet, the sellers (and kW) paid below their β, the social cost
(Σ sold kW · β) and the least cost of cutting the same kW (cheapest first).

Example:
    >>> r = run_study(StudyConfig(seed=3, seeds=1, requests_kwh=(50.0,)))
    >>> [c.name for c in r.cases]
    ['type_1_table_2', 'type_2_tables_3_4', 'type_2_exclude_above_mcp']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from transactive.mechanisms.dra_fixed_price import DraParams, clear_dra_fixed_price
from transactive.mechanisms.knapsack_vcg import KnapsackParams, clear_knapsack_vcg
from transactive.mechanisms.p2p_average_price import P2pAverageParams, clear_p2p_average_price
from transactive.orders import Orders
from transactive.result import ClearingResult
from transactive.studies import StudyError

REQUESTS_KWH = (10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 250.0, 300.0)
CAPACITY_RANGE_KWH = (5.0, 50.0)
BID_RANGE_PER_KWH = (5.0, 20.0)
TOL = 1e-9


@dataclass(frozen=True)
class CaseResult:
    """A worked case: the mechanism's price, each building's traded kWh and balance after (input order:
    sellers then buyers), unsold and unmet kWh, the total paid."""

    name: str
    mechanism: str
    ids: tuple[str, ...]
    price_per_kwh: float | None
    traded_kwh: tuple[float, ...]
    balance_after: tuple[float, ...]
    unsold_kwh: tuple[float, ...]
    unmet_kwh: tuple[float, ...]
    total_paid: float


def _balances(result: ClearingResult, initial: float) -> tuple[float, ...]:
    return tuple(float(x) for x in np.concatenate((initial + result.sellers.payment, initial - result.buyers.payment)))


def worked_cases() -> tuple[CaseResult, ...]:
    """Tables I-II (Type I, 500 tokens each before) and III-IV (Type II, 600 before), faithful and with
    ``exclude_sellers_above_mcp``."""
    ids1 = ("b1", "b2", "b3", "b4", "b5")
    t1 = clear_dra_fixed_price(Orders.single(list(ids1), [10, 40, 38, 5, 25], [0] * 5), Orders.empty(),
                               DraParams(100, 10))
    out = [CaseResult("type_1_table_2", "dra_fixed_price", ids1, t1.price_per_kwh,
                      tuple(float(x) for x in t1.sellers.energy_kwh), _balances(t1, 500.0),
                      tuple(t1.details["unsold_kwh"]), (float(t1.details["unmet_kwh"]),),
                      float(t1.details["total_payment"]))]
    sellers = Orders.single(list(ids1), [10, 40, 5, 10, 50], [20, 8, 7, 15, 5])
    buyers = Orders.single(["b6", "b7"], [50, 70], [5, 16])
    for name, exclude in (("type_2_tables_3_4", False), ("type_2_exclude_above_mcp", True)):
        t2 = clear_p2p_average_price(sellers, buyers, P2pAverageParams(exclude_sellers_above_mcp=exclude))
        out.append(CaseResult(name, "p2p_average_price", (*ids1, "b6", "b7"), t2.price_per_kwh,
                              tuple(float(x) for x in np.concatenate((t2.sellers.energy_kwh, t2.buyers.energy_kwh))),
                              _balances(t2, 600.0), tuple(t2.details["unsold_kwh"]), tuple(t2.details["unmet_kwh"]),
                              float(t2.buyers.payment.sum())))
    return tuple(out)


@dataclass(frozen=True)
class StudyConfig:
    """``seeds`` draws from ``seed``; ``buildings`` per draw; requests in kWh (kW over an hour); prices in
    tokens/kWh."""

    seed: int = 1
    seeds: int = 20
    buildings: int = 10
    requests_kwh: tuple[float, ...] = REQUESTS_KWH
    dra_price_per_kwh: float = 10.0
    buyer_price_per_kwh: float = 16.0

    def __post_init__(self) -> None:
        for name, low, high in (("seed", 0, 2**32 - 1000), ("seeds", 1, 1000), ("buildings", 1, 1000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StudyError(name, f"must be an integer in [{low}, {high}]")
        r = self.requests_kwh
        if not r or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0
                        for x in r) or list(r) != sorted(set(r)):
            raise StudyError("requests_kwh", "must be increasing finite numbers > 0")
        for name in ("dra_price_per_kwh", "buyer_price_per_kwh"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise StudyError(name, "must be a finite number >= 0")


@dataclass(frozen=True)
class Outcome:
    """One rule on one (seed, request): price (None: nothing trades), kWh served and unmet, sellers and kWh
    paid below their β, social cost Σ sold · β, the least cost of serving the same kWh (cheapest first), what
    the buyer pays."""

    price_per_kwh: float | None
    served_kwh: float
    unmet_kwh: float
    below_ask_sellers: int
    below_ask_kwh: float
    social_cost: float
    least_cost: float
    paid: float


@dataclass(frozen=True)
class Run:
    """One (seed, request): the buildings' capacity and the four rules' outcomes."""

    seed: int
    request_kwh: float
    capacity_kwh: float
    type_1: Outcome
    type_2: Outcome
    type_2_exclude: Outcome
    cheapest: Outcome


@dataclass(frozen=True)
class StudyResult:
    config: StudyConfig
    cases: tuple[CaseResult, ...]
    runs: tuple[Run, ...]

    def at(self, request_kwh: float) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.request_kwh == request_kwh)


def draw_buildings(seed: int, n: int) -> Orders:
    """``n`` buildings of seed ``seed``: capacity (kWh) and bid price β (tokens/kWh), drawn building by building."""
    u = np.random.default_rng(seed).random((n, 2))
    (c_low, c_high), (b_low, b_high) = CAPACITY_RANGE_KWH, BID_RANGE_PER_KWH
    return Orders.single([f"b{k + 1}" for k in range(n)], np.round(c_low + (c_high - c_low) * u[:, 0]),
                         np.round(b_low + (b_high - b_low) * u[:, 1], 2))


def least_cost(buildings: Orders, energy_kwh: float) -> float:
    """The cheapest-first cost (``knapsack_vcg``'s allocation, no fallback) of cutting ``energy_kwh``."""
    if energy_kwh <= TOL:
        return 0.0
    return float(clear_knapsack_vcg(buildings, Orders.empty(), KnapsackParams(energy_kwh)).details["cost"])


def outcome(result: ClearingResult, buildings: Orders, price: float | None, unmet_kwh: float) -> Outcome:
    """An :class:`Outcome` from a mechanism's result on ``buildings`` (their β: ``price_per_kwh``)."""
    asks = buildings.price_per_kwh
    sold = result.sellers.energy_kwh
    pay = result.sellers.payment
    below = (sold > TOL) & (pay < sold * asks - TOL)
    served = float(sold.sum())
    return Outcome(price, served, unmet_kwh, int(below.sum()), float(sold[below].sum()),
                   float(np.dot(sold, asks)), least_cost(buildings, served), float(pay.sum()))


def market(seed: int, request_kwh: float, config: StudyConfig) -> Run:
    """One (seed, request) under Type I, Type II (faithful, excluding sellers above the MCP) and cheapest first."""
    b = draw_buildings(seed, config.buildings)
    t1 = clear_dra_fixed_price(b, Orders.empty(), DraParams(request_kwh, config.dra_price_per_kwh))
    buyer = Orders.single(["short"], [request_kwh], [config.buyer_price_per_kwh])
    t2 = [clear_p2p_average_price(b, buyer, P2pAverageParams(exclude_sellers_above_mcp=x)) for x in (False, True)]
    k = clear_knapsack_vcg(b, Orders.empty(), KnapsackParams(request_kwh))
    taken = k.sellers.energy_kwh > TOL
    marginal = float(b.price_per_kwh[taken].max()) if taken.any() else None
    served, cost = float(k.sellers.energy_kwh.sum()), float(k.details["cost"])
    cheapest = Outcome(marginal, served, float(k.details["unmet_kwh"]), 0, 0.0, cost, cost,
                       served * (marginal or 0.0))  # everyone paid the marginal ask: nobody below its β
    faithful, exclude = (outcome(r, b, r.price_per_kwh, float(r.details["unmet_kwh"][0])) for r in t2)
    return Run(seed, request_kwh, float(b.energy_kwh.sum()),
               outcome(t1, b, t1.price_per_kwh, float(t1.details["unmet_kwh"])), faithful, exclude, cheapest)


def run_study(config: StudyConfig, progress: Callable[[int, int], None] | None = None) -> StudyResult:
    """The worked cases, then every seed × request; ``progress(done, total)`` after each seed."""
    runs: list[Run] = []
    for k, seed in enumerate(range(config.seed, config.seed + config.seeds)):
        runs.extend(market(seed, r, config) for r in config.requests_kwh)
        if progress is not None:
            progress(k + 1, config.seeds)
    return StudyResult(config, worked_cases(), tuple(runs))
