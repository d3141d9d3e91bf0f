"""``transactive clear MARKET.json [--out RESULT.json]`` and ``transactive mechanisms``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from transactive.files import write_atomic
from transactive.marketfile import MarketFileError, dumps_result, read_market, result_document
from transactive.registry import full_registry


def register(sub: Any) -> None:
    clear = sub.add_parser("clear", help="clear a market file and print or write the result")
    clear.add_argument("market", help="a transactive.market/1 JSON file ('-' reads standard input)")
    clear.add_argument("--out", help="write the transactive.result/1 JSON here instead of standard output")
    clear.set_defaults(run=run_clear)
    mechanisms = sub.add_parser("mechanisms", help="list the mechanisms a market file can name")
    mechanisms.set_defaults(run=run_mechanisms)


def run_clear(args: argparse.Namespace) -> int:
    if args.market == "-":
        from transactive.marketfile import load_json, parse_market

        market = parse_market(load_json(sys.stdin.read()))
    else:
        market = read_market(args.market)
    if args.out is not None:
        out = Path(args.out)
        if out.is_dir():
            raise MarketFileError("--out", f"{out} is a directory")
    text = dumps_result(result_document(market, market.clear()))
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out, text)
        except OSError as exc:
            raise MarketFileError("--out", f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def run_mechanisms(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Mechanisms")
    for column in ("name", "sides", "blocks", "summary", "source"):
        table.add_column(column)
    for name, m in full_registry().items():
        table.add_row(name, "+".join(m.sides), "yes" if m.block_bids else "", m.summary, m.source)
    Console().print(table)
    return 0
