"""Every worked example of the seed documents, through the market-file path, reproduces SEED-NOTES."""

from __future__ import annotations

import pytest

from transactive.cli import main
from transactive.examples import Example, load_examples, run_example

EXAMPLES = load_examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_reproduces_the_canonical_figures(example: Example) -> None:
    outcome = run_example(example)
    assert outcome.mismatches == ()


def test_catalogue_covers_every_seed_mechanism() -> None:
    mechanisms = {e.market["mechanism"] for e in EXAMPLES}
    assert mechanisms >= {"knapsack_vcg", "double_auction_vcg", "mcafee", "dpda", "dra_fixed_price",
                          "p2p_average_price"}


def test_demo_runs_and_reports_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-day"]) == 0
    out = capsys.readouterr().out
    assert f"{len(EXAMPLES)} of {len(EXAMPLES)} examples reproduced." in out
    assert "the document printed" in out
