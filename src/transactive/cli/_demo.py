"""``transactive demo``: clears every worked example of the seed documents and prints readable tables.

Each example goes through the same path as a user's file (market document → validation → mechanism →
result document) and is compared with the canonical figures of SEED-NOTES; where the source document
printed something else, the demo shows what it printed and why the canonical rule differs.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from transactive.examples import Outcome, load_examples, run_example


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="clear every worked example of the seed documents")
    demo.add_argument("--only", metavar="TEXT", help="only the examples whose name contains TEXT")
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
    return 0 if failed == 0 else 1
