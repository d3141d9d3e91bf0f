"""A short day cleared with ``dpda_matched`` (DPDA + score matching on the feeder, grid charges to the DSO)
through the service's desks: every anchored slot's endorsed result is what an independent validator
recomputes from the archived signed batch, the DSO's grid charges in the statements are the charges of the
anchored trades, the settled postings give the DSO exactly its accounts, ``ledger verify`` is clean and catches
a tampered endorsed entry, and the mechanism stays configurable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.clearance.protocol import recompute
from transactive.sim.day import DayConfig, DayResult, run_day
from transactive.sim.day_summary import SETTLEMENT_ACCOUNTS
from transactive.sim.report import write_report

# 8 slots of 3 hours: the whole day, so PV surpluses meet evening deficits in the auction
CONFIG = DayConfig(seed=5, n_slots=8, slot_minutes=180, n_prosumers=30, dso_power_flow=False)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[DayResult, Path]:
    assert CONFIG.mechanism == "dpda_matched"  # the day's default
    out = tmp_path_factory.mktemp("grid-day")
    result = run_day(CONFIG, out)
    write_report(result, out)
    return result, out


def _settlements(out: Path) -> dict[int, dict[str, object]]:
    """The archived settlement slots by their ``multiSlot`` (the slot start in Unix seconds)."""
    docs = [json.loads(p.read_text()) for p in (out / "ledger" / "settlements").iterdir()]
    return {int(d["input"]["multiSlot"]): d for d in docs}


def test_every_anchored_slot_is_what_a_validator_recomputes(day: tuple[DayResult, Path]) -> None:
    result, out = day
    archive = SlotArchive(out / "ledger")
    assert len(archive.slots()) == sum(x.anchored for x in result.slots) >= 2
    for number in archive.slots():
        batch, _ = archive.load(number)
        assert batch.mechanism == "dpda_matched" and batch.attributes  # the traders' signed grid attributes
        ours = recompute(batch)  # (the archive also holds the claims mode's zero reward leaves)
        assert {e.account: (e.energy_wh, e.amount_micro) for e in ours if (e.energy_wh, e.amount_micro) != (0, 0)} == {
            e.account: (e.energy_wh, e.amount_micro) for e in batch.results if (e.energy_wh, e.amount_micro) != (0, 0)}
        assert any(e.amount_micro for e in ours)
        assert sum(e.energy_wh for e in batch.results) == 0  # sold == bought to the Wh


def test_grid_charges_are_the_anchored_trades_charges(day: tuple[DayResult, Path]) -> None:
    """The DSO's grid charges per slot (its ``tariffs_micro``) are the score-matched trades' charges
    (``C_d × d_km`` per trade, rounded once per slot): the DSO's row of the anchored, endorsed clearing, and
    they are real on this feeder."""
    result, out = day
    settled = _settlements(out)
    charged = 0
    for x in result.slots:
        if not x.anchored:
            assert x.grid_charge_micro == 0
            continue
        doc = settled[int(_unix(x.slot_start))]["input"]
        assert doc["clearingSlot"] is not None  # type: ignore[index]
        # the charges are inside the cleared payments (docs/settlement.md): the DSO's endorsed row of the
        # anchored clearing, rounded once per slot, is what the DSO's income reports
        anchored = json.loads((out / "ledger" / "slots" / f"{doc['clearingSlot']}.json").read_text())  # type: ignore[index]
        dso_rows = [int(e["amountMicro"]) for e in anchored["results"]
                    if str(e["account"]).lower() == str(doc["dso"]).lower()]  # type: ignore[index]
        assert x.grid_charge_micro == sum(dso_rows) == int(doc["charges_micro"])  # type: ignore[index]
        charged += x.grid_charge_micro > 0
    assert charged >= 2
    assert result.summary["grid_charges_micro"]["total"] == sum(x.grid_charge_micro for x in result.slots) > 0


def _unix(iso_start: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_start.replace("Z", "+00:00")).timestamp()


def test_the_dso_posting_is_its_accounts_and_the_audit_is_clean(day: tuple[DayResult, Path]) -> None:
    result, out = day
    settled = _settlements(out)
    for x in result.slots:
        doc = settled[int(_unix(x.slot_start))]
        dso = doc["input"]["dso"]  # type: ignore[index]
        postings = {p["account"]: p["amountMicro"] for p in doc["postings"]}  # type: ignore[attr-defined]
        assert postings[dso] == sum(x.accounts[a] for a in SETTLEMENT_ACCOUNTS)
    s = result.summary
    assert all(s["checks"].values()), s["checks"]
    assert s["ledger"]["audit"] == "clean"
    assert verify_archive(out / "ledger") is None
    assert (out / "dso_income.png").read_bytes()[:4] == b"\x89PNG"


def test_a_tampered_endorsed_entry_is_detected(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    _, out = day
    ledger = tmp_path / "ledger"
    shutil.copytree(out / "ledger", ledger, ignore=shutil.ignore_patterns("chain.lock"))
    number = SlotArchive(ledger).slots()[0]
    path = ledger / "slots" / f"{number}.json"
    doc = json.loads(path.read_text())
    seller = next(r for r in doc["results"] if r["amountMicro"] > 0 and r["energyWh"] > 0)
    seller["amountMicro"] += 1  # a seller paid one micro-token more than the clearing gives
    path.write_text(json.dumps(doc))
    found = verify_archive(ledger)
    assert found is not None and found.slot == number and found.what == f"result {seller['account']}"


def test_the_mechanism_stays_configurable(tmp_path: Path) -> None:
    # grid-priced bids: every ask below every bid, so McAfee's trade reduction still leaves trades in these
    # few 6-hour slots (with zic bids this small community may have none left to trade)
    config = DayConfig(seed=5, n_slots=4, slot_minutes=360, n_prosumers=12, dso_power_flow=False,
                       mechanism="mcafee_matched", dr_offerers=0, strategy="grid")
    result = run_day(config, tmp_path)
    s = result.summary
    assert s["mechanism"] == "mcafee_matched" and all(s["checks"].values()), s["checks"]
    assert s["energy_kwh"]["auction"] > 0 and s["grid_charges_micro"]["total"] > 0
    assert s["ledger"]["audit"] == "clean" and not s["demand_response"]["ran"]
    batches = [SlotArchive(tmp_path / "ledger").load(n)[0] for n in SlotArchive(tmp_path / "ledger").slots()]
    assert batches and all(b.mechanism == "mcafee_matched" for b in batches)
