"""A short simulated day end to end (``transactive.sim.day``): money conserved to the micro-token, energy
balanced per slot and prosumer against the profiles, the demand-response event's secondary market runs,
the ledger archive audits clean, the report folder is complete, and the same seed gives the same day."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transactive.cli import main
from transactive.ledger.audit import SlotArchive, verify_archive
from transactive.market.multi_settlement import ACCOUNTS, STAGES
from transactive.sim.day import DayConfig, DayConfigError, DayResult, run_day
from transactive.sim.report import PLOTS, write_report
from transactive.units import energy_to_wh

CONFIG = DayConfig(seed=3, n_slots=8, n_prosumers=20, mechanism="uniform")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[DayResult, Path]:
    out = tmp_path_factory.mktemp("day")
    result = run_day(CONFIG, out)
    write_report(result, out)
    return result, out


def test_money_is_conserved_to_the_micro_token(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    total = 0
    for x in result.settlements:
        slot_sum = sum(s.money_micro for s in x.statements) + sum(x.accounts[a] for a in ACCOUNTS)
        assert slot_sum == 0
        total += slot_sum
    assert result.event is not None and result.event.settlement is not None
    postings = [p["amount_micro"] for p in result.event.settlement["postings"]]
    assert all(isinstance(p, int) for p in postings)
    assert sum(postings) == 0
    assert sum(result.summary["money_micro"].values()) == 0
    assert all(result.summary["checks"].values())


def test_energy_balances_per_slot_against_the_profiles(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    metered_net = result.profiles.pv_kwh[:, : CONFIG.n_slots] - result.metered_load_kwh
    for slot, x in enumerate(result.settlements):
        assert [s.net_wh for s in x.statements] == [energy_to_wh(float(v)) for v in metered_net[:, slot]]
        for s in x.statements:
            assert sum(s.stages[g].sold_wh - s.stages[g].bought_wh for g in STAGES) == s.net_wh
        for g in ("bilateral", "listings", "auction"):
            assert sum(s.stages[g].sold_wh for s in x.statements) == sum(s.stages[g].bought_wh for s in x.statements)
        export = sum(s.stages["grid"].sold_wh for s in x.statements)
        imported = sum(s.stages["grid"].bought_wh for s in x.statements)
        assert export - imported == sum(s.net_wh for s in x.statements)
    # the firm bilateral baseload contract delivers 200 Wh in every slot
    assert all(sum(s.stages["bilateral"].sold_wh for s in x.statements) >= 200 for x in result.settlements)


def test_the_demand_response_event_reduces_load_and_runs_the_secondary_market(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    w0, w1 = CONFIG.dr_window
    assert (w0, w1) == (4, 8)  # an 8-slot day: the last four slots
    dr = result.summary["demand_response"]
    assert dr["ran"] and dr["winners"]
    offerers = [i for i, p in enumerate(result.peers) if any(o.member == p for o in result.event.offers)]  # type: ignore[union-attr]
    reduced = result.profiles.load_kwh[offerers, w0:w1] - result.metered_load_kwh[offerers, w0:w1]
    assert np.all(reduced > 0)  # every offerer reduced its metered load in the window
    outside = np.delete(np.arange(len(result.peers)), offerers)
    assert np.array_equal(result.metered_load_kwh[outside], result.profiles.load_kwh[outside, : CONFIG.n_slots])
    first = dr["winners"][0]["id"]
    row = next(v for v in dr["verification"] if v["id"] == first)
    assert row["shortfall_kwh"] > 0  # the designated under-deliverer
    assert any(s["id"] == first and s["bought"] for s in dr["secondary"])


def test_the_ledger_archive_audits_clean(day: tuple[DayResult, Path]) -> None:
    result, out = day
    assert result.summary["ledger"]["audit"] == "clean"
    assert verify_archive(out / "ledger") is None
    assert SlotArchive(out / "ledger").slots() == list(range(CONFIG.n_slots))
    assert result.summary["ledger"]["slots_committed"] == CONFIG.n_slots


def test_the_report_folder_has_the_page_and_the_plots(day: tuple[DayResult, Path]) -> None:
    _, out = day
    page = (out / "index.html").read_text()
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page
    assert "synthetic stand-ins for SimBench" in page
    assert (out / "summary.json").exists()


def test_same_seed_same_day_other_seed_other_day(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    config = DayConfig(seed=3, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False)
    again = run_day(config)
    keys = ("energy_kwh", "money_micro", "demand_response", "peer_money_micro", "checks")
    assert {k: again.summary[k] for k in keys} == {k: result.summary[k] for k in keys}
    other = run_day(DayConfig(seed=4, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False))
    assert other.summary["peer_money_micro"] != result.summary["peer_money_micro"]


def test_the_command_runs_a_short_dpda_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["day", "--slots", "4", "--seed", "1", "--out", str(tmp_path), "--no-power-flow"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Energy by stage" in out and "Ledger audit:" in out and "synthetic" in out
    assert (tmp_path / "index.html").exists()


def test_a_whole_day_puts_the_event_at_the_evening_peak() -> None:
    assert DayConfig().dr_window == (18 * 4, 19 * 4)  # 18:00-19:00 in 15-minute slots
    assert DayConfig(slot_minutes=60, n_slots=24, dr_slots=2).dr_window == (18, 20)


@pytest.mark.parametrize(("field", "value"), [("n_slots", 0), ("n_slots", 97), ("slot_minutes", 7),
                                              ("date", "22/06/2026"), ("n_prosumers", 56), ("pv_share", 1.5)])
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(DayConfigError) as caught:
        DayConfig(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field
