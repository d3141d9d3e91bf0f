"""Grid commands: ``transactive scenario`` (generate and run one slot on the feeder, optionally draw it) and
``transactive compare`` (DPDA against McAfee over the thesis's P-10 … P-50 sizes).

Thin wrappers over :mod:`transactive.sim`; every rule lives there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from transactive.marketfile import MarketFileError


def register(sub: Any) -> None:
    scenario = sub.add_parser("scenario", help="generate a thesis-style scenario on the feeder and run one slot")
    scenario.add_argument("size", help="P-10 … P-50, or a number of prosumers (>= 2)")
    scenario.add_argument("--behaviour", default="cooperative", choices=("cooperative", "non_cooperative"))
    scenario.add_argument("--seed", type=int, default=0, help="random seed (same seed → same scenario)")
    scenario.add_argument("--auction", default="dpda", choices=("dpda", "mcafee"))
    scenario.add_argument("--energy-range-kwh", nargs=2, type=float, metavar=("LOW", "HIGH"),
                          default=(30.0, 200.0), help="energies per order (thesis: 30 200)")
    scenario.add_argument("--no-network-check", action="store_true", help="skip the DSO's power-flow check")
    scenario.add_argument("--market-out", metavar="FILE", help="also write the scenario as a market file")
    scenario.add_argument("--draw", metavar="PNG", help="draw the feeder with the slot's trades")
    scenario.set_defaults(run=run_scenario)
    compare = sub.add_parser("compare", help="DPDA vs McAfee on P-10 … P-50, both behaviours (a table; the "
                             "thesis's figures: transactive study martinez-trejo-2022)")
    compare.add_argument("--seeds", type=int, default=3, help="scenarios per size and behaviour")
    compare.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    compare.set_defaults(run=run_compare)


def _size(text: str) -> str | int:
    if text.isdigit():
        return int(text)
    return text


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def run_scenario(args: argparse.Namespace) -> int:
    from transactive.sim.draw import draw_slot
    from transactive.sim.scenario import generate_scenario
    from transactive.sim.slot import run_slot

    low, high = args.energy_range_kwh
    scenario = generate_scenario(_size(args.size), args.behaviour, args.seed, energy_range_kwh=(low, high))
    outcome = run_slot(scenario, auction=args.auction, check_network=not args.no_network_check)
    matched = outcome.matched
    console = Console()
    console.print(f"[bold]{scenario.name}[/] {scenario.behaviour}, seed {scenario.seed}, {scenario.feeder}: "
                  f"{scenario.sellers.n} sellers, {scenario.buyers.n} buyers; {args.auction} "
                  f"p0 = {_fmt(matched.price_per_kwh)}/kWh, {len(matched.trades)} trades")
    table = Table(title="Trades (match order)", title_justify="left")
    for column in ("#", "buyer", "seller", "kWh", "distance m", "charge", "score", "DSO"):
        table.add_column(column, justify="right" if column not in ("buyer", "seller", "DSO") else "left")
    curtailed = {c.trade: c for c in outcome.network.curtailed} if outcome.network else {}
    for k, t in enumerate(matched.trades):
        status = "accepted"
        if k in curtailed:
            c = curtailed[k]
            status = f"curtailed to {c.kept_kwh:.2f} kWh: {'; '.join(c.reason)}" if c.kept_kwh else \
                f"curtailed: {'; '.join(c.reason)}"
        table.add_row(str(k + 1), t.buyer, t.seller, _fmt(t.energy_kwh, 2), _fmt(t.distance_m, 1),
                      _fmt(t.charge, 6), _fmt(t.score, 4), status, style="dim" if k in curtailed else "")
    console.print(table)
    if outcome.network is not None:
        net = outcome.network
        console.print(f"DSO check ({net.method}): before, min voltage {net.initial.min_vm_pu:.4f} pu, "
                      f"{len(net.initial.violations)} violations; after curtailing {len(net.curtailed)} trade(s), "
                      f"min voltage {net.final.min_vm_pu:.4f} pu, feasible: {net.feasible}")
    if args.market_out:
        Path(args.market_out).write_text(json.dumps(scenario.to_market(), indent=1) + "\n", encoding="utf-8")
        console.print(f"wrote {args.market_out}")
    if args.draw:
        draw_slot(scenario.feeder, outcome, args.draw)
        console.print(f"wrote {args.draw}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from transactive.sim.compare import compare_auctions

    if args.seeds < 1:
        raise MarketFileError("--seeds", "must be >= 1")
    rows = compare_auctions(seeds=tuple(range(args.seeds)))
    table = Table(title=f"DPDA vs McAfee (means over {args.seeds} seed(s) are per row)", title_justify="left")
    for column in ("size", "behaviour", "seed", "auction", "p0", "sellers", "buyers", "kWh", "trades",
                   "mean dist m", "charges"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.size, r.behaviour, str(r.seed), r.auction, _fmt(r.price_per_kwh), str(r.chosen_sellers),
                      str(r.chosen_buyers), _fmt(r.traded_kwh, 1), str(r.trades), _fmt(r.mean_distance_m, 1),
                      _fmt(r.total_charge, 5))
    Console().print(table)
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in rows], indent=1) + "\n", encoding="utf-8")
    return 0
