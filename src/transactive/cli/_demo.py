"""``transactive demo``: the seed documents' worked examples, then a full simulated day (``docs/day.md``).

1. every worked example of the seed documents, cleared and printed as readable tables; each example goes
   through the same path as a user's file (market document → validation → mechanism → result document) and
   is compared with the canonical figures of SEED-NOTES; where the source document printed something else,
   the demo shows what it printed and why the canonical rule differs;
2. one slot of the thesis's score matching on the IEEE European LV feeder (``--no-grid`` skips it);
3. the full simulated day of ``transactive day`` (96 slots, the feeder's 55 prosumers, SimBench profiles when
   installed, a demand-response event with its secondary market, bilateral contracts, listings, the community
   auction and the grid, run through the service's own operator and desks in process -- cleared, anchored by
   Proof of Clearance, settled by settlement slots on an embedded chain -- and audited by ``transactive ledger
   verify``'s function), with a progress bar, a
   printed summary and ``index.html`` with plots in ``--out`` (default ``./transactive-demo-out``;
   ``--no-day`` skips it, and so does ``--only``).

Exit code 0 when every example is reproduced and every check of the day holds.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from transactive.cli._day import add_profiles_argument
from transactive.examples import Outcome, load_examples, run_example

DEFAULT_OUT = "transactive-demo-out"


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="clear every worked example of the seed documents")
    demo.add_argument("--only", metavar="TEXT", help="only the examples whose name contains TEXT")
    demo.add_argument("--no-grid", action="store_true", help="skip the slot on the IEEE European LV feeder")
    demo.add_argument("--no-day", action="store_true", help="skip the simulated day")
    demo.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                      help=f"the day's report folder (default ./{DEFAULT_OUT})")
    demo.add_argument("--slots", type=int, default=96, help="slots of the simulated day (default 96 × 15 min)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the simulated day")
    add_profiles_argument(demo)
    demo.set_defaults(run=run_demo)


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _table(outcome: Outcome) -> Table:
    ex = outcome.example
    result = outcome.result
    price = result["price_per_kwh"]
    table = Table(
        title=f"[bold]{ex.title}[/]  ·  {result['mechanism']}"
        + (f"  ·  price {_fmt(price)}/kWh" if price is not None else ""),
        caption=ex.source,
        title_justify="left",
    )
    table.add_column("side")
    table.add_column("id")
    table.add_column("energy kWh", justify="right")
    table.add_column("payment", justify="right")
    for side, label in (("sellers", "seller"), ("buyers", "buyer")):
        for row in result[side]:
            style = "" if row["energy_kwh"] > 0 else "dim"
            table.add_row(label, row["id"], _fmt(row["energy_kwh"]), _fmt(row["payment"]), style=style)
    return table


def _detail_line(details: dict[str, Any]) -> str:
    shown = [f"{k} {_fmt(v) if isinstance(v, int | float) and not isinstance(v, bool) else v}"
             for k, v in details.items() if isinstance(v, int | float | str) and not isinstance(v, bool)]
    return ", ".join(shown[:8])


def run_demo(args: argparse.Namespace) -> int:
    console = Console()
    examples = [e for e in load_examples() if not args.only or args.only in e.name]
    outcomes = [run_example(e) for e in examples]
    console.rule("[bold]Transactive: the seed documents' worked examples")
    for outcome in outcomes:
        console.print()
        console.print(_table(outcome))
        details = _detail_line(outcome.result["details"])
        if details:
            console.print(f"  details: {details}")
        if outcome.reproduced:
            console.print("  [green]✓ canonical result reproduced[/]")
        else:
            for m in outcome.mismatches:
                console.print(f"  [red]✗ {m.where}: expected {_fmt(m.expected)}, got {m.got}[/]")
        if outcome.example.document:
            console.print(f"  [yellow]≠ the document printed: {outcome.example.document}[/]")
            console.print(f"    why: {outcome.example.why}")
    summary = Table(title="Summary", title_justify="left")
    for column in ("example", "mechanism", "canonical", "document"):
        summary.add_column(column)
    for o in outcomes:
        summary.add_row(
            o.example.name,
            o.result["mechanism"],
            "[green]reproduced[/]" if o.reproduced else "[red]MISMATCH[/]",
            "[yellow]differs (see above)[/]" if o.example.document else "agrees",
        )
    console.print()
    console.print(summary)
    failed = sum(not o.reproduced for o in outcomes)
    console.print(f"{len(outcomes) - failed} of {len(outcomes)} examples reproduced.")
    if not args.no_grid and not args.only:
        _grid_slot(console)
    day_code = 0
    if not args.no_day and not args.only:
        day_code = _day(args, console)
    return 0 if failed == 0 and day_code == 0 else 1


def _day(args: argparse.Namespace, console: Console) -> int:
    from transactive.cli._day import play_day
    from transactive.sim.day import DayConfig, DayConfigError

    console.print()
    console.rule("[bold]A full simulated day on the IEEE European LV feeder (transactive day)")
    try:
        config = DayConfig(seed=args.seed, n_slots=args.slots, profiles=args.profiles)
    except DayConfigError as exc:
        console.print(f"[red]error: {exc}[/]")
        return 2
    return play_day(config, args.out, console)


def _grid_slot(console: Console) -> None:
    """The thesis's pipeline on the feeder: DPDA → welfare → scores → matching → charges → DSO check."""
    from transactive.sim.scenario import generate_scenario
    from transactive.sim.slot import run_slot

    console.print()
    console.rule("[bold]Score matching on the IEEE European LV feeder (seed 004, ch. 4)")
    for energy_range, label in (((1.0, 5.0), "household-scale orders (1-5 kWh per 15 min)"),
                                ((30.0, 200.0), "the thesis's order sizes (30-200 kWh per 15 min)")):
        scenario = generate_scenario("P-50", "cooperative", seed=0, energy_range_kwh=energy_range)
        outcome = run_slot(scenario)
        m, net = outcome.matched, outcome.network
        assert net is not None
        traded = sum(t.energy_kwh for t in m.trades)
        kept = sum(t.energy_kwh for k, t in enumerate(m.trades) if k in set(net.accepted))
        console.print(
            f"P-50 cooperative, {label}: p0 {m.price_per_kwh:.4f} £/kWh, {len(m.trades)} trades, "
            f"{traded:,.1f} kWh, grid charges £{sum(t.charge for t in m.trades):.5f}"
        )
        console.print(
            f"  DSO power-flow check: min voltage {net.initial.min_vm_pu:.3f} pu, max line loading "
            f"{net.initial.max_line_loading_percent:.0f} % → curtailed {len(net.curtailed)} lowest-score trade(s); "
            f"accepted {kept:,.1f} kWh; min voltage {net.final.min_vm_pu:.3f} pu, "
            f"max loading {net.final.max_line_loading_percent:.0f} %, feasible: {net.feasible}"
        )
    console.print("  (`transactive scenario P-50 --draw slot.png` draws a slot; docs/grid.md explains the rules)")
