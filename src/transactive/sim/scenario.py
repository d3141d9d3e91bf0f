"""Scenario generator for the thesis's cooperative / non-cooperative behaviour (seed 004, ch. 3.3).

Sizes: ``"P-10"`` … ``"P-50"`` use Table 3.2's split of sellers and buyers (5/5, 11/9, 14/16, 22/18,
25/25); any integer ``n >= 2`` gives ``n // 2`` sellers and the rest buyers.

Draws (one ``numpy.random.Generator`` seeded with ``seed``, in a fixed order, so a seed always gives the
same scenario on every machine with the same NumPy):

* reserved prices ~ Normal(local price £0.2023/kWh, σ): cooperative σ = 0.01 (buyers) / 0.025 (sellers),
  non-cooperative σ = 0.02 / 0.045 (thesis); rounded to 0.0001 and kept >= 0.0001. The thesis calls a
  seller above +15 % or a buyer below −15 % of the average price non-cooperative; with these σ that is
  about one seller in four in the non-cooperative case;
* energies ~ Uniform(30, 200) kWh (thesis), rounded to 0.01 kWh;
* buses: distinct load buses of the feeder when there are enough (55 on the IEEE feeder), otherwise drawn
  with replacement (several prosumers per bus);
* distance preferences ~ Uniform(50, 500) m, rounded to 1 m (the thesis's Table B.1 gives 35-400 *km* on a
  feeder of 1.4 km; we keep the preference meaningful at feeder scale);
* welfare (the thesis gives no values): sellers a ~ U(1e-4, 1e-3) £/kWh², b ~ U(0.02, 0.10) £/kWh,
  c ~ U(0.05, 0.5) £; buyers ω = price × U(1.5, 2.5) and α = ω / (2·E·U(1, 2)), so each buyer's demand lies
  below its saturation point ω/(2α).

The draws do not depend on ``behaviour``: one seed gives a paired comparison (same energies, buses and cost
parameters; prices ``local + σ·z`` from the same standard normals). Every choice without a source above is
ours, and documented in ``docs/grid.md``.

Example:
    >>> s = generate_scenario("P-10", "cooperative", seed=1)
    >>> (s.sellers.n, s.buyers.n, len(set(s.sellers.attributes["bus"]) | set(s.buyers.attributes["bus"])))
    (5, 5, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transactive.errors import FieldError
from transactive.grid.feeder import DEFAULT_FEEDER, load_feeder
from transactive.orders import Orders

LOCAL_PRICE_PER_KWH = 0.2023  # seed 004 ch. 3.3: £627.18 for 3,100 kWh (2021)
SCENARIO_SIZES: dict[str, tuple[int, int]] = {
    "P-10": (5, 5),
    "P-20": (11, 9),
    "P-30": (14, 16),
    "P-40": (22, 18),
    "P-50": (25, 25),
}
BEHAVIOUR_SIGMA: dict[str, tuple[float, float]] = {  # (buyers, sellers), seed 004 ch. 3.3
    "cooperative": (0.01, 0.025),
    "non_cooperative": (0.02, 0.045),
}


class ScenarioError(FieldError):
    """Invalid scenario request; ``field`` names the argument."""


@dataclass(frozen=True, eq=False)
class Scenario:
    """One generated market: sellers and buyers with ``bus``, ``distance_pref_m`` and welfare attributes."""

    name: str
    behaviour: str
    seed: int
    feeder: str
    sellers: Orders
    buyers: Orders

    def to_market(self, mechanism: str = "dpda_matched", params: dict[str, Any] | None = None) -> dict[str, Any]:
        """As a ``transactive.market/1`` document."""

        def side(orders: Orders) -> list[dict[str, Any]]:
            out = []
            for k, pid in enumerate(orders.ids):
                entry: dict[str, Any] = {
                    "id": pid,
                    "energy_kwh": float(orders.energy_kwh[k]),
                    "price_per_kwh": float(orders.price_per_kwh[k]),
                }
                for name, col in orders.attributes.items():
                    value = col[k]
                    entry[name] = str(value) if name == "bus" else float(value)
                out.append(entry)
            return out

        return {
            "format": "transactive.market/1",
            "mechanism": mechanism,
            "description": f"{self.name} {self.behaviour} (seed {self.seed}) on {self.feeder}",
            "params": {"feeder": self.feeder, **(params or {})},
            "sellers": side(self.sellers),
            "buyers": side(self.buyers),
        }


def generate_scenario(
    n: int | str,
    behaviour: str = "cooperative",
    seed: int = 0,
    *,
    feeder: str = DEFAULT_FEEDER,
    buses: Sequence[str] | None = None,
    local_price_per_kwh: float = LOCAL_PRICE_PER_KWH,
    energy_range_kwh: tuple[float, float] = (30.0, 200.0),
    distance_pref_range_m: tuple[float, float] = (50.0, 500.0),
) -> Scenario:
    """A reproducible scenario of ``n`` prosumers (``"P-10"`` … ``"P-50"`` or an integer >= 2).

    ``buses`` overrides where prosumers may sit (default: the feeder's load buses).
    """
    if isinstance(n, str):
        if n not in SCENARIO_SIZES:
            raise ScenarioError("n", f"unknown size {n!r} (known: {', '.join(SCENARIO_SIZES)}, or an integer)")
        n_sellers, n_buyers = SCENARIO_SIZES[n]
        name = n
    else:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ScenarioError("n", "must be an integer >= 2 or a size name such as 'P-10'")
        n_sellers, n_buyers = n // 2, n - n // 2
        name = f"P-{n}"
    if behaviour not in BEHAVIOUR_SIGMA:
        raise ScenarioError("behaviour", f"must be one of {', '.join(BEHAVIOUR_SIGMA)}")
    lo_e, hi_e = energy_range_kwh
    if not (np.isfinite(lo_e) and np.isfinite(hi_e) and 0 < lo_e <= hi_e):
        raise ScenarioError("energy_range_kwh", "must be finite with 0 < low <= high")
    lo_d, hi_d = distance_pref_range_m
    if not (np.isfinite(lo_d) and np.isfinite(hi_d) and 0 <= lo_d <= hi_d):
        raise ScenarioError("distance_pref_range_m", "must be finite with 0 <= low <= high")
    if not np.isfinite(local_price_per_kwh) or local_price_per_kwh <= 0:
        raise ScenarioError("local_price_per_kwh", "must be a finite number > 0")
    places = list(buses) if buses is not None else list(load_feeder(feeder).load_buses)
    if not places:
        raise ScenarioError("buses", "must not be empty")
    sigma_b, sigma_s = BEHAVIOUR_SIGMA[behaviour]
    rng = np.random.default_rng(seed)
    total = n_sellers + n_buyers

    def prices(sigma: float, k: int) -> np.ndarray:
        return np.maximum(np.round(rng.normal(local_price_per_kwh, sigma, k), 4), 0.0001)

    price_s = prices(sigma_s, n_sellers)
    price_b = prices(sigma_b, n_buyers)
    energy = np.round(rng.uniform(lo_e, hi_e, total), 2)
    replace = total > len(places)
    where = rng.choice(len(places), size=total, replace=replace)
    pref = np.round(rng.uniform(lo_d, hi_d, total))
    a = rng.uniform(1e-4, 1e-3, n_sellers)
    b = rng.uniform(0.02, 0.10, n_sellers)
    c = rng.uniform(0.05, 0.5, n_sellers)
    omega = price_b * rng.uniform(1.5, 2.5, n_buyers)
    e_b = energy[n_sellers:]
    alpha = omega / (2.0 * e_b * rng.uniform(1.0, 2.0, n_buyers))
    bus = np.array([places[k] for k in where], dtype=object).astype(str)
    sellers = Orders.single(
        [f"S{k + 1}" for k in range(n_sellers)],
        energy[:n_sellers],
        price_s,
        bus=bus[:n_sellers],
        distance_pref_m=pref[:n_sellers],
        a=a,
        b=b,
        c=c,
    )
    buyers = Orders.single(
        [f"B{k + 1}" for k in range(n_buyers)],
        e_b,
        price_b,
        bus=bus[n_sellers:],
        distance_pref_m=pref[n_sellers:],
        omega=omega,
        alpha=alpha,
    )
    return Scenario(name, behaviour, int(seed), feeder, sellers, buyers)
