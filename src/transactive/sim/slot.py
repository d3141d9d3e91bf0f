"""One market slot end to end: auction → score matching on the feeder → the DSO's network check.

:func:`run_slot` clears a :class:`~transactive.sim.scenario.Scenario` with DPDA (or McAfee), matches the
chosen participants (:mod:`transactive.matching.pipeline`), and, unless ``check_network=False``, runs the
power flow of the matched trades and curtails the lowest-score trades until the slot satisfies the
:class:`~transactive.grid.powerflow.DsoPolicy` (:func:`~transactive.grid.powerflow.check_trades`).

Default slot: 15 minutes (the thesis's market cycle, Table 4.2); a trade of ``e`` kWh is ``4e`` kW. With the
thesis's energies (30-200 kWh per prosumer) that is 120-800 kW at single LV houses, far beyond the
feeder: the DSO check then curtails most trades, which is the point of having it. Use
``energy_range_kwh`` in the generator (or a longer slot) for household-scale slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from transactive.grid.charges import DEFAULT_CHARGE_PER_KM
from transactive.grid.feeder import shared_network
from transactive.grid.newton import flow_model
from transactive.grid.powerflow import DsoPolicy, GridTrade, Method, NetworkCheck, check_trades
from transactive.matching.mechanisms import distances_for
from transactive.matching.pipeline import MatchedOutcome, match_orders
from transactive.mechanisms import NoParams
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.mechanisms.mcafee import clear_mcafee
from transactive.settlement.metering import SettledTrade
from transactive.sim.scenario import Scenario, ScenarioError


@dataclass(frozen=True, eq=False)
class SlotOutcome:
    """A slot's result: the matching, each trade's buses, and the network check (None when skipped)."""

    scenario: Scenario
    matched: MatchedOutcome
    buyer_bus: tuple[str, ...]
    seller_bus: tuple[str, ...]
    slot_hours: float
    network: NetworkCheck | None

    def settled_trades(self) -> list[SettledTrade]:
        """What the DSO accepted, as :func:`transactive.settlement.metering.settle` takes it: accepted trades
        whole, and a partially curtailed trade with its kept energy (its charge, C_d·d, unchanged)."""
        trades = self.matched.trades
        kept = {k: trades[k].energy_kwh for k in self.accepted}
        if self.network is not None:
            kept.update({c.trade: c.kept_kwh for c in self.network.curtailed if c.kept_kwh > 0})
        return [SettledTrade(trades[k].buyer, trades[k].seller, e, trades[k].charge) for k, e in sorted(kept.items())]

    @property
    def accepted(self) -> tuple[int, ...]:
        """Indices of the trades the DSO accepted (all of them without a network check)."""
        if self.network is None:
            return tuple(range(len(self.matched.trades)))
        return self.network.accepted


def run_slot(
    scenario: Scenario,
    *,
    auction: Literal["dpda", "mcafee"] = "dpda",
    charge_per_km: float = DEFAULT_CHARGE_PER_KM,
    slot_hours: float = 0.25,
    policy: DsoPolicy | None = None,
    check_network: bool = True,
    method: Method = "balanced",
    base_load: bool = False,
    partial: bool = False,
) -> SlotOutcome:
    """Clear, match and (optionally) check one slot of ``scenario`` on its feeder.

    The quotes in ``matched`` are those of the matching (before the DSO's check); settle what was accepted
    with :meth:`SlotOutcome.settled_trades`.
    """
    if auction not in ("dpda", "mcafee"):
        raise ScenarioError("auction", "must be 'dpda' or 'mcafee'")
    sellers, buyers = scenario.sellers, scenario.buyers
    distances = distances_for(sellers, buyers, scenario.feeder)
    if auction == "dpda":
        matched = match_orders(
            sellers, buyers, lambda s, b: clear_dpda(s, b, DpdaParams()), distances, charge_per_km=charge_per_km
        )
    else:
        matched = match_orders(
            sellers, buyers, lambda s, b: clear_mcafee(s, b, NoParams()), distances, charge_per_km=charge_per_km
        )
    b_bus = tuple(str(buyers.attributes["bus"][j]) for j in matched.trade_buyer)
    s_bus = tuple(str(sellers.attributes["bus"][i]) for i in matched.trade_seller)
    network = None
    if check_network:
        trades = [
            GridTrade(bb, sb, t.energy_kwh, t.score) for bb, sb, t in zip(b_bus, s_bus, matched.trades, strict=True)
        ]
        model = flow_model(scenario.feeder) if method == "balanced" and not base_load else None
        network = check_trades(
            # the prepared solver's model (the default feeder's is bundled: no pandapower import), else the
            # shared network, read only: check_trades copies it once and reuses the copy
            model or shared_network(scenario.feeder),
            trades,
            slot_hours=slot_hours,
            policy=policy,
            method=method,
            base_load=base_load,
            partial=partial,
        )
    return SlotOutcome(scenario, matched, b_bus, s_bus, slot_hours, network)
