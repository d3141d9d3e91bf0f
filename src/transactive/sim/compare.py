"""The thesis's comparison of DPDA with the standard double auction (McAfee, "DAM") under cooperative and
non-cooperative behaviour (seed 004, ch. 3.5 and 4.5), as a table of rows: the numbers behind Figs. 4.8-4.12.
It draws no figure; the thesis's figures (3.13-3.20, 4.7-4.18, with the energy sellers cannot trade and the
trade costs per participant) are drawn by ``transactive study martinez-trejo-2022``
(:mod:`transactive.studies.martinez_2022`).

For every size, behaviour, seed and auction: a scenario (:func:`~transactive.sim.scenario.generate_scenario`)
is cleared and matched on its feeder (no power flow), and the row reports the price, how many participants
were chosen and matched, the traded energy, the number of trades, the mean distance per trade, the DSO's
charges and the mean welfare (2.8)-(2.9) of the chosen participants.

Example:
    >>> rows = compare_auctions(["P-10"], seeds=[1])
    >>> sorted({(r.auction, r.behaviour) for r in rows})[:2]
    [('dpda', 'cooperative'), ('dpda', 'non_cooperative')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from transactive.sim.scenario import BEHAVIOUR_SIGMA, generate_scenario
from transactive.sim.slot import run_slot


@dataclass(frozen=True)
class ComparisonRow:
    """One (size, behaviour, seed, auction) outcome; money in tokens (£ for the thesis), energy in kWh."""

    size: str
    behaviour: str
    seed: int
    auction: str
    price_per_kwh: float | None
    chosen_sellers: int
    chosen_buyers: int
    traded_kwh: float
    trades: int
    mean_distance_m: float
    total_charge: float
    mean_seller_welfare: float
    mean_buyer_welfare: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def compare_auctions(
    sizes: Sequence[str | int] = ("P-10", "P-20", "P-30", "P-40", "P-50"),
    behaviours: Sequence[str] = tuple(BEHAVIOUR_SIGMA),
    seeds: Sequence[int] = (0,),
    auctions: Sequence[Literal["dpda", "mcafee"]] = ("dpda", "mcafee"),
    *,
    charge_per_km: float = 0.002,
) -> list[ComparisonRow]:
    """Rows for every combination, in the order of the arguments (sizes outermost)."""
    rows: list[ComparisonRow] = []
    for size in sizes:
        for behaviour in behaviours:
            for seed in seeds:
                scenario = generate_scenario(size, behaviour, seed)
                for auction in auctions:
                    out = run_slot(
                        scenario,
                        auction=auction,
                        charge_per_km=charge_per_km,
                        check_network=False,
                    )
                    m = out.matched
                    dist = np.array([t.distance_m for t in m.trades])
                    rows.append(
                        ComparisonRow(
                            scenario.name,
                            behaviour,
                            int(seed),
                            auction,
                            m.price_per_kwh,
                            int(np.isfinite(m.seller_welfare).sum()),
                            int(np.isfinite(m.buyer_welfare).sum()),
                            float(m.buyer_energy_kwh.sum()),
                            len(m.trades),
                            float(dist.mean()) if dist.size else 0.0,
                            m.total_charge,
                            _mean(m.seller_welfare),
                            _mean(m.buyer_welfare),
                        )
                    )
    return rows
