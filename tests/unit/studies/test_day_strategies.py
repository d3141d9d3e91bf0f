"""``transactive study day-strategies`` (issue 10): the simulated day once per bidding strategy, on a reduced day."""

from __future__ import annotations

from pathlib import Path

import pytest

from transactive.cli import main
from transactive.studies import StudyError
from transactive.studies.day_strategies import StudyConfig, StudyResult, run_study, summary_row, write_report

SMALL = StudyConfig(seed=3, slots=12, prosumers=10)


@pytest.fixture(scope="module")
def small() -> StudyResult:
    return run_study(SMALL)


def test_every_strategy_plays_the_same_day_and_its_checks_hold(small: StudyResult) -> None:
    assert small.checks == {"zic": True, "cost-plus": True, "grid": True}
    for strategy in SMALL.strategies:
        assert [r.slot for r in small.of(strategy)] == list(range(12))
    assert len(small.pv_kwh) == 12 and max(small.pv_kwh) > 0


def test_prices_by_strategy(small: StudyResult) -> None:
    # grid bids (feed-in asks, retail bids): DPDA's price is the mean of the marginal ask and bid, (0.015 + 0.1) / 2
    grid = [r.price_per_kwh for r in small.of("grid") if r.price_per_kwh is not None]
    assert grid and grid == [pytest.approx(0.0575, abs=1e-12)] * len(grid)
    for strategy in ("zic", "cost-plus"):  # priced from costs and values, within the grid's prices
        prices = [r.price_per_kwh for r in small.of(strategy) if r.price_per_kwh is not None]
        assert prices and all(0.015 <= p <= 0.1 for p in prices)
    assert {r.price_per_kwh for r in small.of("zic") if r.price_per_kwh is not None} != set(grid)


def test_a_slot_without_an_auction_gains_nothing_over_the_grid(small: StudyResult) -> None:
    # with the tariffs as the grid stage, money over the grid comes from the auction only
    for r in small.rows:
        if r.price_per_kwh is None:
            assert r.auction_kwh == 0 and r.gain_micro == 0
    # the grid stage's import is the same under every strategy in the night slots (nothing to sell locally)
    night = [[r.grid_import_kwh for r in small.of(s) if r.slot < 6] for s in SMALL.strategies]
    assert night[0] == night[1] == night[2]


def test_the_summary_is_the_rows(small: StudyResult) -> None:
    rows = small.of("cost-plus")
    t = summary_row(rows)
    prices = [r.price_per_kwh for r in rows if r.price_per_kwh is not None]
    assert t["cleared"] == len(prices) and t["price_min"] == min(prices) and t["price_max"] == max(prices)
    assert t["gain_tokens"] == pytest.approx(sum(r.gain_micro for r in rows) / 1e6)


def test_deterministic_for_a_seed_and_the_report(small: StudyResult, tmp_path: Path) -> None:
    again = run_study(StudyConfig(seed=3, slots=12, prosumers=10, strategies=("grid",)))
    assert again.of("grid") == small.of("grid")
    index = write_report(small, tmp_path, 1.0)
    assert index.exists() and "gain over the grid" in index.read_text()
    for name in ("slots.csv", "strategies.csv", "prices.png", "volumes.png", "welfare.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len((tmp_path / "slots.csv").read_text().splitlines()) == 1 + 3 * 12


@pytest.mark.parametrize(("kwargs", "field"), [({"strategies": ("truthful",)}, "strategies"),
                                               ({"strategies": ()}, "strategies"), ({"slots": 0}, "slots"),
                                               ({"prosumers": 2}, "prosumers"), ({"grid": "x"}, "grid"),
                                               ({"days": 0}, "days")])
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(StudyError) as caught:
        StudyConfig(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "day-strategies", "--out", str(tmp_path), "--set", "strategies=grid", "--set", "slots=3",
                 "--set", "prosumers=4"]) == 0
    assert "report" in capsys.readouterr().out and (tmp_path / "index.html").exists()
    assert main(["study", "day-strategies", "--out", str(tmp_path), "--set", "strategies=bogus"]) == 2
    err = capsys.readouterr().err
    assert "--set strategies" in err and "Traceback" not in err


def test_with_the_wholesale_grid_stage_the_gain_is_over_that_stage() -> None:
    r = run_study(StudyConfig(seed=3, slots=12, prosumers=10, strategies=("cost-plus",), grid="wholesale"))
    assert r.checks == {"cost-plus": True}
    rows = r.of("cost-plus")
    assert any(x.price_per_kwh is not None for x in rows)
    for x in rows:
        if x.price_per_kwh is None:  # the grid stage alone is the grid-only money
            assert x.gain_micro == 0
