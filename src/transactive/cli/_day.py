"""``transactive day``: a full simulated day on the IEEE European LV feeder (``docs/day.md``).

Thin wrapper over :func:`transactive.sim.day.run_day` (the day through the service's operator and desks, in
process) and :func:`transactive.sim.report.write_report`: a rich progress bar over the slots, a printed summary,
and ``OUT/index.html`` with plots (the ledger's archive and chain are in ``OUT/ledger``; the day ends with
``transactive ledger verify OUT/ledger``'s audit, which anyone can re-run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def register(sub: Any) -> None:
    day = sub.add_parser("day", help="simulate a full day of trading on the IEEE European LV feeder")
    day.add_argument("--out", metavar="DIR", help="report folder (default: a new temporary folder)")
    day.add_argument("--slots", type=int, default=96, help="number of slots (default 96 × 15 min)")
    day.add_argument("--seed", type=int, default=7, help="random seed (same seed → same day)")
    day.add_argument("--mechanism", default="dpda_matched",
                     help="community auction mechanism (default dpda_matched: DPDA + score matching on the feeder, "
                          "grid charges to the DSO; also dpda, mcafee, mcafee_matched, uniform, ...)")
    day.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a mechanism parameter, as in a market file's params (VALUE is JSON, else a string; "
                          "repeatable), e.g. --param pricing=balanced_budget --param auctioneer_share=0.01")
    day.add_argument("--strategy", default=None, metavar="NAME",
                     help="how members price their auction orders: zic (the default: zero-intelligence-constrained, "
                          "random between cost/value and the grid's prices), cost-plus (marginal cost plus a "
                          "margin / marginal utility) or grid (feed-in to sell, retail to buy); docs/day.md")
    day.add_argument("--grid", choices=("tariffs", "wholesale"), default="tariffs",
                     help="the grid stage: tariffs (feed-in 0.015 / retail 0.1, the default) or wholesale (the "
                          "auctioneer trades each residual in the wholesale market for a 0.025/kWh fee where that "
                          "beats the tariffs; seed 001 §IV); docs/settlement.md")
    day.add_argument("--wholesale-prices", default="synthetic", metavar="FILE|synthetic",
                     help="with --grid wholesale: the day's wholesale prices (tokens/kWh from 00:00 UTC in equal "
                          "intervals: one per line, hour,price CSV or a JSON list), or synthetic (the default: "
                          "the documented series of settlement/wholesale.py for --seed)")
    day.add_argument("--no-power-flow", action="store_true", help="skip the DSO's power-flow review of listings")
    day.add_argument("--no-chain", action="store_true", help="keep the chain in memory: no archive, no audit")
    add_profiles_argument(day)
    day.set_defaults(run=run_day_command)


def add_profiles_argument(parser: Any) -> None:
    parser.add_argument("--profiles", choices=("auto", "simbench", "synthetic"), default="auto",
                        help="load and PV profiles: SimBench's when installed (auto, the default), or force one")


def _tokens(micro: int) -> str:
    return f"{micro / 1e6:,.6f}"


def run_day_command(args: argparse.Namespace) -> int:
    from transactive.sim.day import DayConfig, DayConfigError

    params: dict[str, Any] = {}
    for item in args.param:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            print(f"error: --param: expected NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw
    try:
        config = DayConfig(seed=args.seed, n_slots=args.slots, mechanism=args.mechanism,
                           dso_power_flow=not args.no_power_flow, on_chain=not args.no_chain,
                           profiles=args.profiles, params=params, grid=args.grid,
                           wholesale_prices=args.wholesale_prices,
                           **({} if args.strategy is None else {"strategy": args.strategy}))
    except DayConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return play_day(config, args.out or tempfile.mkdtemp(prefix="transactive-day-"), Console())


def play_day(config: Any, out: str, console: Console) -> int:
    """Run the day with a progress bar over the slots, write the report into ``out``, print the summary.
    Exit code 0 when every conservation check holds (including the on-chain balances), else 1."""
    from transactive.sim.day import DayConfigError, run_day
    from transactive.sim.report import write_report

    with Progress(TextColumn("[bold]slots"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("day", total=config.n_slots)
        try:
            result = run_day(config, out, progress=lambda slot: bar.update(task, completed=slot + 1))
        except DayConfigError as exc:
            bar.stop()
            print(f"error: {exc}", file=sys.stderr)
            return 2
    index = write_report(result, out)
    s = result.summary
    console.rule(f"[bold]Simulated day {s['date']}: {s['prosumers']} prosumers, {s['slots']} slots, "
                 f"{s['mechanism']}, {s['strategy']} bids")
    energy = Table(title="Energy by stage", title_justify="left")
    energy.add_column("stage")
    energy.add_column("kWh", justify="right")
    for stage, kwh in s["energy_kwh"].items():
        energy.add_row(stage, f"{kwh:,.3f}")
    money = Table(title="Money by account (tokens, > 0 received)", title_justify="left")
    money.add_column("account")
    money.add_column("tokens", justify="right")
    for account, micro in s["money_micro"].items():
        money.add_row(account, _tokens(micro))
    money.add_row("[bold]sum", _tokens(sum(s["money_micro"].values())))
    console.print(energy)
    console.print(money)
    charges = s["grid_charges_micro"]
    busy = sum(1 for c in charges["per_slot"] if c)
    console.print(f"DSO income from the auction's grid charges: {_tokens(charges['total'])} tokens over {busy} "
                  f"slot(s) (part of the dso account; plot dso_income.png)")
    series = s["prices_per_kwh"]
    cleared = [p for p in series["auction"] if p is not None]
    console.print(f"Auction prices ({s['strategy']} bids): {len(cleared)} slot(s) with a price"
                  + (f", from {min(cleared):.4f} to {max(cleared):.4f} tokens/kWh" if cleared else "")
                  + f" (feed-in {series['feed_in']}, retail {series['retail']}; plot price_formation.png)")
    if s["grid"]["option"] == "wholesale":
        wholesale = [p for p in series["wholesale"] if p is not None]
        console.print(f"Grid stage: wholesale through the auctioneer ({s['grid']['wholesale_source']}, "
                      f"{min(wholesale):.4f}-{max(wholesale):.4f} tokens/kWh, fee {s['grid']['wholesale_fee_per_kwh']}"
                      f"); auctioneer fees {_tokens(s['money_micro']['auctioneer'])} tokens")
    for check, ok in s["checks"].items():
        console.print(f"  {'[green]✓' if ok else '[red]✗'} {check}[/]")
    dr = s["demand_response"]
    if dr["ran"]:
        short = [f"{v['id'][:10]} short {v['shortfall_kwh']} kWh" for v in dr["verification"] if v["shortfall_kwh"]]
        bought = sum(len(x["bought"]) for x in dr["secondary"])
        console.print(f"DR event (slots {dr['window_slots'][0]}-{dr['window_slots'][1] - 1}): target "
                      f"{dr['target_kwh']} kWh, {dr['offers']} offers, {len(dr['winners'])} winners; "
                      f"{'; '.join(short) or 'no shortfall'}; {bought} secondary trade(s), "
                      f"{len(dr['penalties'])} penalty(ies)")
    ledger = s["ledger"]
    clean = ledger["audit"] == "clean"
    console.print(f"Ledger audit: {'[green]' if clean else '[yellow]'}{ledger['audit']}[/] "
                  f"(transactive ledger verify {out}/ledger)")
    console.print(f"  on chain: {ledger['on_chain']} ({ledger['slots_anchored']} slots anchored, "
                  f"{ledger['slots_settled']} settlement slots)")
    console.print(f"  token balances: {ledger['balances_equal_statements']} of {ledger['accounts_checked']} "
                  f"accounts hold exactly starting balance + statements (each started with "
                  f"{_tokens(ledger['starting_balance_micro'])} tokens); token supply "
                  f"{_tokens(ledger['token_supply_micro'])} (what was minted)")
    console.print(f"Profiles: {s['profiles']['description']} (see docs/day.md).")
    console.print(f"Runtime {result.runtime_s:.1f} s. Report: {index}")
    return 0 if all(s["checks"].values()) else 1
