"""The worked examples of the seed documents, as market files with their expected (canonical) results.

The catalogue lives in ``data/seed_examples.json``: each example has a ``market`` (a ``transactive.market/1``
document), the ``expected`` canonical figures from SEED-NOTES (recomputed independently of this code), and,
where the source document printed something else, ``document`` and ``why`` (an erratum or a different rule).
``transactive demo`` clears them all; the test suite checks every expected figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from transactive.marketfile import Market, parse_market, result_document

TOLERANCE = 1e-9  # relative (absolute below 1)


@dataclass(frozen=True)
class Example:
    """One worked example."""

    name: str
    title: str
    source: str
    market: dict[str, Any]
    expected: dict[str, Any]
    document: str | None = None
    why: str | None = None


@dataclass(frozen=True)
class Mismatch:
    """An expected figure the computation did not reproduce."""

    where: str
    expected: float
    got: float | None


@dataclass(frozen=True)
class Outcome:
    """An example cleared: the parsed market, the result document, and any mismatches."""

    example: Example
    market: Market
    result: dict[str, Any]
    mismatches: tuple[Mismatch, ...]

    @property
    def reproduced(self) -> bool:
        return not self.mismatches


def load_examples() -> list[Example]:
    """All examples, in catalogue order."""
    text = resources.files("transactive.data").joinpath("seed_examples.json").read_text(encoding="utf-8")
    return [Example(**item) for item in json.loads(text)["examples"]]


def _close(expected: float, got: object) -> bool:
    if not isinstance(got, int | float) or isinstance(got, bool):
        return False
    return abs(float(got) - expected) <= TOLERANCE * max(1.0, abs(expected))


def compare(expected: dict[str, Any], result: dict[str, Any]) -> list[Mismatch]:
    """Every expected figure (energies, payments, price, details) checked against a result document."""
    out: list[Mismatch] = []
    if "price_per_kwh" in expected and not _close(expected["price_per_kwh"], result["price_per_kwh"]):
        out.append(Mismatch("price_per_kwh", expected["price_per_kwh"], result["price_per_kwh"]))
    for side in ("sellers", "buyers"):
        rows = {row["id"]: row for row in result[side]}
        for pid, (energy, payment) in expected.get(side, {}).items():
            row = rows.get(pid)
            for label, want in (("energy_kwh", energy), ("payment", payment)):
                if want is None:
                    continue
                got = None if row is None else row[label]
                if not _close(want, got):
                    out.append(Mismatch(f"{side}[{pid}].{label}", want, got))
    for key, want in expected.get("details", {}).items():
        got = result["details"].get(key)
        if not _close(want, got):
            out.append(Mismatch(f"details.{key}", want, got))
    return out


def run_example(example: Example) -> Outcome:
    """Clear one example through the market-file path and compare."""
    market = parse_market(example.market)
    document = result_document(market, market.clear())
    return Outcome(example, market, document, tuple(compare(example.expected, document)))

