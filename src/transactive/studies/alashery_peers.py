"""The 20 peers of seed 001's case study (AlAshery et al. 2021, §IV-A, Table I) and their hourly bids.

Table I: every peer has a price-insensitive load (PL); peers 1-10 a controllable load (CL); peers 5-20 PV;
peers 1-5 a controllable generator (G); peers 11-20 energy storage (ES); peers 5-15 an electric vehicle (EV).
The paper's costs and profiles come from GECAD data it does not include, so every model below is ours,
simple and documented (one constant per assumption; change one line to change one assumption):

* **PL** (kWh per hour): the household load profile of the day (SimBench's measured H0 profiles when the
  ``simbench`` package is installed, else the project's synthetic shape, :mod:`transactive.sim.profiles`)
  times :data:`HOUSEHOLDS_PER_PEER` (a peer is a building of that many households, chosen so the hourly
  volumes are of the order Table II implies: 230-540 kWh an hour through the wholesale market). PL is
  critical: it bids ``PL_PRICE_FACTOR × max(retail, the day's highest wholesale price)`` (§IV-A: "higher
  than twice the anticipated maximum daily price (e.g. $0.2/kWh)"; = 0.2 with the 0.1 retail rate).
* **CL** (peers 1-10): ``CL = r · PL`` with ``r`` drawn uniformly in [0.2, 0.8] per peer and hour (§IV-A:
  the load lies between PL and PL + CL). Flexible, bid "by preference" as two equal blocks valued at
  ``λ_w(t) · U[1.0, 1.6]`` and ``λ_w(t) · U[0.5, 1.0]`` (``λ_w`` the hour's wholesale price), clipped to
  [feed-in, retail].
* **PV** (peers 5-20): the day's PV profile per kWp times a size drawn in :data:`PV_KWP_RANGE`. Behind the
  meter it first serves the peer's own PL, then its CL; the surplus is offered at a per-peer cost drawn in
  :data:`PV_COST_RANGE` (never below the feed-in tariff, which the owner can always get).
* **G** (peers 1-5): capacity ``C`` in :data:`GEN_KW_RANGE`, quadratic cost with marginal cost
  ``a + b · P / C`` per kWh (``a``, ``b`` drawn in :data:`GEN_A_RANGE`, :data:`GEN_B_RANGE`), offered every
  hour as :data:`GEN_BLOCKS` equal blocks priced at the marginal cost of each block's midpoint (the supply
  curve from the cost curve, §IV-A).
* **ES** (peers 11-20): capacity in :data:`ES_KWH_RANGE`, emptied or filled in :data:`ES_HOURS` hours,
  round-trip efficiency :data:`ES_EFFICIENCY`. A day-ahead arbitrage plan on the wholesale price: it bids
  to buy ``capacity / ES_HOURS`` kWh in the ``ES_HOURS`` cheapest hours, valued at ``η ×`` the mean price of
  its discharge hours (what the stored kWh resells for), and offers ``η · capacity / ES_HOURS`` kWh in the
  ``ES_HOURS`` dearest hours at ``mean charge price / η`` (what a stored kWh cost). The plan is fixed for
  the day (no state-of-charge feedback from the clearing: a block that does not clear is not executed).
* **EV** (peers 5-15): needs ``D`` kWh a day (drawn in :data:`EV_KWH_RANGE` per day), charges at up to
  :data:`EV_KW` while plugged in (18:00-07:00, the day's own evening and early hours), in the cheapest
  plugged hours by wholesale price, valued at a per-EV price drawn in :data:`EV_VALUE_RANGE`.

Randomness: the fleet (sizes, costs, valuations) depends on the seed only; the day's draws (CL ratios and
preferences, EV needs) on ``(seed, day)``; the profiles on ``(seed, day)`` as in :mod:`transactive.sim`.

Example:
    >>> fleet = draw_fleet(1)
    >>> len(fleet.pv_kwp), int((fleet.pv_kwp > 0).sum()), int((fleet.gen_kw > 0).sum())
    (20, 16, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transactive.orders import Orders
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.wholesale import synthetic_prices
from transactive.sim.profiles import FloatArray

N_PEERS = 20
HOURS = 24
CL_PEERS = range(1, 11)  # Table I, 1-based peer numbers
PV_PEERS = range(5, 21)
GEN_PEERS = range(1, 6)
ES_PEERS = range(11, 21)
EV_PEERS = range(5, 16)

HOUSEHOLDS_PER_PEER = 20.0
PL_PRICE_FACTOR = 2.0
CL_RATIO_RANGE = (0.2, 0.8)
CL_HIGH_VALUE_RANGE = (1.0, 1.6)  # × the hour's wholesale price
CL_LOW_VALUE_RANGE = (0.5, 1.0)
PV_KWP_RANGE = (20.0, 60.0)
PV_COST_RANGE = (0.015, 0.035)
GEN_KW_RANGE = (30.0, 80.0)
GEN_A_RANGE = (0.03, 0.05)
GEN_B_RANGE = (0.02, 0.04)
GEN_BLOCKS = 3
ES_KWH_RANGE = (40.0, 120.0)
ES_HOURS = 3
ES_EFFICIENCY = 0.9
EV_KWH_RANGE = (15.0, 40.0)
EV_KW = 7.4
EV_PLUGGED_HOURS = (*range(0, 7), *range(18, 24))
EV_VALUE_RANGE = (0.06, 0.1)


def _mask(peers: range) -> FloatArray:
    out = np.zeros(N_PEERS)
    out[[p - 1 for p in peers]] = 1.0
    return out


@dataclass(frozen=True, eq=False)
class Fleet:
    """Per-peer parameters (index ``k`` is peer ``k + 1``; 0 where a peer lacks the apparatus).

    Attributes:
        pv_kwp: PV size, kWp.  pv_cost_per_kwh: the PV surplus's offer price.
        gen_kw: generator capacity, kW.  gen_a, gen_b: marginal cost ``a + b P/C``, tokens/kWh.
        es_kwh: storage capacity, kWh.  ev_value_per_kwh: the EV's valuation of a charged kWh.
    """

    pv_kwp: FloatArray
    pv_cost_per_kwh: FloatArray
    gen_kw: FloatArray
    gen_a: FloatArray
    gen_b: FloatArray
    es_kwh: FloatArray
    ev_value_per_kwh: FloatArray


def draw_fleet(seed: int) -> Fleet:
    """The peers' apparatus for ``seed`` (Table I; ranges in the module docstring)."""
    rng = np.random.default_rng([seed, 1001])
    return Fleet(
        pv_kwp=_mask(PV_PEERS) * rng.uniform(*PV_KWP_RANGE, N_PEERS),
        pv_cost_per_kwh=_mask(PV_PEERS) * rng.uniform(*PV_COST_RANGE, N_PEERS),
        gen_kw=_mask(GEN_PEERS) * rng.uniform(*GEN_KW_RANGE, N_PEERS),
        gen_a=_mask(GEN_PEERS) * rng.uniform(*GEN_A_RANGE, N_PEERS),
        gen_b=_mask(GEN_PEERS) * rng.uniform(*GEN_B_RANGE, N_PEERS),
        es_kwh=_mask(ES_PEERS) * rng.uniform(*ES_KWH_RANGE, N_PEERS),
        ev_value_per_kwh=_mask(EV_PEERS) * rng.uniform(*EV_VALUE_RANGE, N_PEERS),
    )


@dataclass(frozen=True)
class Bid:
    """One block: ``peer`` 1-based, ``side`` ``sell``/``buy``, ``apparatus`` (PL, CL, PV, G, ES, EV)."""

    peer: int
    side: str
    apparatus: str
    energy_kwh: float
    price_per_kwh: float


@dataclass(frozen=True)
class HourBids:
    """The hour's blocks (sellers then buyers, each by peer) and the hour's wholesale price."""

    hour: int
    wholesale_per_kwh: float
    bids: tuple[Bid, ...]

    def side(self, side: str) -> tuple[Bid, ...]:
        """The blocks of one side, ordered by peer (the order :meth:`orders` uses)."""
        return tuple(sorted((b for b in self.bids if b.side == side), key=lambda b: b.peer))

    def orders(self, side: str) -> Orders:
        """The side as :class:`Orders` (ids ``P1`` ... ``P20``; a peer is one agent per side)."""
        blocks = self.side(side)
        if not blocks:
            return Orders.empty()
        peers = sorted({b.peer for b in blocks})
        return Orders.from_blocks([f"P{p}" for p in peers],
                                  [[(b.energy_kwh, b.price_per_kwh) for b in blocks if b.peer == p]
                                   for p in peers])


def wholesale_prices(seed: int, day: int) -> FloatArray:
    """The day's synthetic hourly wholesale price, tokens/kWh: the platform's one series
    (:func:`transactive.settlement.wholesale.synthetic_prices`, the grid stage's default too)."""
    return synthetic_prices(seed, day)


def day_bids(
    fleet: Fleet, load_kwh: FloatArray, pv_per_kwp: FloatArray, wholesale: FloatArray, *, seed: int, day: int,
    tariff: GridTariff | None = None,
) -> tuple[HourBids, ...]:
    """Every hour's blocks for one day. ``load_kwh`` (20 × 24) is each peer's household load per hour (scaled
    here by :data:`HOUSEHOLDS_PER_PEER`), ``pv_per_kwp`` (20 × 24) the PV energy per kWp, ``wholesale`` the
    24 hourly prices. Pure: the same inputs give the same bids."""
    tariff = tariff or GridTariff()
    rng = np.random.default_rng([seed, 1003, day])
    ratio = _mask(CL_PEERS)[:, None] * rng.uniform(*CL_RATIO_RANGE, (N_PEERS, HOURS))
    cl_high = np.clip(wholesale * rng.uniform(*CL_HIGH_VALUE_RANGE, (N_PEERS, HOURS)),
                      tariff.feed_in_per_kwh, tariff.retail_per_kwh)
    cl_low = np.clip(wholesale * rng.uniform(*CL_LOW_VALUE_RANGE, (N_PEERS, HOURS)),
                     tariff.feed_in_per_kwh, tariff.retail_per_kwh)
    ev_need = _mask(EV_PEERS) * rng.uniform(*EV_KWH_RANGE, N_PEERS)
    pl_price = PL_PRICE_FACTOR * max(tariff.retail_per_kwh, float(wholesale.max()))

    by_price = np.argsort(wholesale, kind="stable")
    charge_hours = set(by_price[:ES_HOURS].tolist())
    discharge_hours = set(by_price[-ES_HOURS:].tolist())
    charge_price = float(wholesale[sorted(charge_hours)].mean())
    discharge_price = float(wholesale[sorted(discharge_hours)].mean())
    plugged = sorted(EV_PLUGGED_HOURS, key=lambda t: (wholesale[t], t))
    ev_kwh = np.zeros((N_PEERS, HOURS))
    for k in range(N_PEERS):
        need = ev_need[k]
        for t in plugged:
            ev_kwh[k, t] = min(EV_KW, need)
            need -= ev_kwh[k, t]

    out: list[HourBids] = []
    for t in range(HOURS):
        bids: list[Bid] = []
        for k in range(N_PEERS):
            peer = k + 1
            pl = float(load_kwh[k, t]) * HOUSEHOLDS_PER_PEER
            cl = float(ratio[k, t]) * pl
            pv = float(pv_per_kwp[k, t]) * float(fleet.pv_kwp[k])
            own_pl = min(pv, pl)
            own_cl = min(pv - own_pl, cl)
            pl, cl, pv = pl - own_pl, cl - own_cl, pv - own_pl - own_cl
            if pl > 0:
                bids.append(Bid(peer, "buy", "PL", pl, pl_price))
            if cl > 0:
                bids.append(Bid(peer, "buy", "CL", cl / 2, float(cl_high[k, t])))
                bids.append(Bid(peer, "buy", "CL", cl / 2, float(cl_low[k, t])))
            if pv > 0:
                bids.append(Bid(peer, "sell", "PV", pv, max(float(fleet.pv_cost_per_kwh[k]), tariff.feed_in_per_kwh)))
            if fleet.gen_kw[k] > 0:
                size = float(fleet.gen_kw[k]) / GEN_BLOCKS
                for m in range(GEN_BLOCKS):
                    mc = float(fleet.gen_a[k] + fleet.gen_b[k] * (m + 0.5) / GEN_BLOCKS)
                    bids.append(Bid(peer, "sell", "G", size, mc))
            if fleet.es_kwh[k] > 0 and t in charge_hours:
                bids.append(Bid(peer, "buy", "ES", float(fleet.es_kwh[k]) / ES_HOURS, ES_EFFICIENCY * discharge_price))
            if fleet.es_kwh[k] > 0 and t in discharge_hours:
                bids.append(Bid(peer, "sell", "ES", ES_EFFICIENCY * float(fleet.es_kwh[k]) / ES_HOURS,
                                charge_price / ES_EFFICIENCY))
            if ev_kwh[k, t] > 0:
                bids.append(Bid(peer, "buy", "EV", float(ev_kwh[k, t]), float(fleet.ev_value_per_kwh[k])))
        out.append(HourBids(t, float(wholesale[t]), tuple(bids)))
    return tuple(out)
