"""A short day cleared with ``dpda_matched`` (DPDA + score matching on the feeder, grid charges to the DSO):
on every slot the validators' endorsed result entries are the statements' auction stage, the auction's money
is settled on chain from the endorsed entries (plus the PoC rewards), every account's balance is its starting
balance plus its statements, the DSO receives exactly the grid charges, and the audit catches a tampered
entry and postings that differ from the endorsed entries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.statements import Posting, StatementJournal, batch_ref
from transactive.ledger.chain.base import Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.sim.day import DayConfig, DayResult, run_day
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


def _contract(out: Path, key: str, name: str) -> Contract:
    manifest = json.loads((out / "ledger" / "ledger.json").read_text())
    return Contract(name, manifest[key], tuple(load_artifact(name).abi))


def _records(out: Path) -> dict[int, tuple[str, str, int, int]]:
    """Each slot's (auctioneer, miner, auctioneer_ppm, miner_ppm) as recorded by MarketSlots."""
    chain = EmbeddedChain(out / "ledger" / "chain")
    slots = _contract(out, "slots", "MarketSlots")
    try:
        return {s: (str(r[2]), str(r[3]), int(r[7]), int(r[8]))
                for s in SlotArchive(out / "ledger").slots() for r in [chain.call(slots, "slots", s)]}
    finally:
        chain.close()


def test_every_slot_endorsed_entries_equal_the_auction_stage(day: tuple[DayResult, Path]) -> None:
    result, out = day
    archive = SlotArchive(out / "ledger")
    assert archive.slots() == list(range(CONFIG.n_slots))
    dso = result.summary["ledger"]["addresses"]["dso"]
    records = _records(out)
    charged = 0
    for x in result.settlements:
        batch, _ = archive.load(x.slot)
        endorsed = {e.account.lower(): (e.energy_wh, e.amount_micro) for e in batch.results}
        lines = x.auction_lines()
        ours = {p.lower(): v for p, v in lines.items() if p.startswith("0x")}
        ours[dso.lower()] = lines["dso"]
        assert {k: v for k, v in ours.items() if v != (0, 0)} == {k: v for k, v in endorsed.items() if v != (0, 0)}
        # the statements' rewards are the ones MarketSlots fixes for the slot, of the entries' debits
        debits = -sum(m for _, m in endorsed.values() if m < 0)
        _, _, ppm_a, ppm_m = records[x.slot]
        assert (lines["auctioneer_reward"][1], lines["miner_reward"][1]) == (
            debits * ppm_a // 1_000_000, debits * ppm_m // 1_000_000)
        assert lines["auctioneer"] == (0, 0)
        # energy: sold = bought to the Wh in the statements, and so on chain
        assert sum(e for e, _ in endorsed.values()) == 0
        charged += x.grid_charge_micro > 0
    assert charged >= 2  # the feeder's grid charges are real: several slots pay the DSO
    s = result.summary
    assert all(s["checks"].values()), s["checks"]
    assert s["ledger"]["slots_where_endorsed_result_equals_auction_statements"] == CONFIG.n_slots


def test_on_chain_balances_are_starting_plus_statements(day: tuple[DayResult, Path]) -> None:
    result, out = day
    names = result.summary["ledger"]["addresses"]
    records = _records(out)
    expected: dict[str, int] = {}

    def add(address: str, micro: int) -> None:
        expected[address.lower()] = expected.get(address.lower(), 0) + micro

    for x in result.settlements:  # from the statements only
        for st in x.statements:
            add(st.peer, st.money_micro)
        auctioneer, miner, _, _ = records[x.slot]
        for account, micro in x.accounts.items():
            address = {"auctioneer_reward": auctioneer, "miner_reward": miner}.get(account) or names[account]
            add(address, micro)
    assert result.event is not None and result.event.settlement is not None
    for p in result.event.settlement["postings"]:
        account = str(p["account"])
        address = (account.removeprefix("member:") if account.startswith("member:")
                   else names["aggregator"] if account.startswith("aggregator:") else names["balancing"])
        add(address, int(p["amount_micro"]))
    starting = {a.lower(): v for a, v in json.loads((out / "ledger" / "statements.json").read_text())[
        "startingMicro"].items()}
    assert set(expected) <= set(starting)
    token = _contract(out, "token", "EnergyToken")
    chain = EmbeddedChain(out / "ledger" / "chain")
    try:
        for address, start in starting.items():
            assert chain.call(token, "balanceOf", address) == start + expected.get(address, 0), address
    finally:
        chain.close()
    # the DSO: its listing penalties plus exactly the grid charges of the endorsed entries
    charges = sum(x.grid_charge_micro for x in result.settlements)
    assert charges == result.summary["grid_charges_micro"]["total"] > 0
    archive = SlotArchive(out / "ledger")
    on_chain = sum(e.amount_micro for s in archive.slots() for e in archive.load(s)[0].results
                   if e.account.lower() == names["dso"].lower())
    assert on_chain == charges
    assert expected[names["dso"].lower()] == charges + sum(o.penalty_micro for x in result.settlements
                                                           for o in x.listing_settlements)
    assert (out / "dso_income.png").read_bytes()[:4] == b"\x89PNG" and "dso_income.png" in (
        out / "index.html").read_text()


def test_the_audit_is_clean(day: tuple[DayResult, Path]) -> None:
    result, out = day
    assert result.summary["ledger"]["audit"] == "clean"
    assert verify_archive(out / "ledger") is None


def _copy(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(out / "ledger", copy, ignore=shutil.ignore_patterns("chain.lock"))
    return copy


def test_a_tampered_endorsed_entry_is_detected(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    result, out = day
    ledger = _copy(out, tmp_path)
    slot = next(x.slot for x in result.settlements if x.grid_charge_micro > 0)
    path = ledger / "slots" / f"{slot}.json"
    doc = json.loads(path.read_text())
    seller = next(r for r in doc["results"] if r["amountMicro"] > 0 and r["energyWh"] > 0)
    seller["amountMicro"] += 1  # a seller paid one micro-token more than the clearing gives
    path.write_text(json.dumps(doc))
    found = verify_archive(ledger)
    assert found is not None and found.slot == slot and found.what == f"result {seller['account']}"


def test_postings_that_differ_from_the_endorsed_entries_are_detected(
    day: tuple[DayResult, Path], tmp_path: Path
) -> None:
    result, out = day
    ledger = _copy(out, tmp_path)
    journal = StatementJournal(ledger)
    lines = [json.loads(line) for line in journal.batches_path.read_text().splitlines()]
    slot = next(x.slot for x in result.settlements if x.grid_charge_micro > 0)
    k = next(i for i, line in enumerate(lines) if line.get("slot") == slot)
    auction = [p for p in lines[k]["postings"] if p[0] == "auction" and p[1].lower() != "0x" + "0" * 40]
    auction[0][2] += 1  # one account gets a micro-token more than its entry, another one less:
    auction[1][2] -= 1  # the batch still balances and its reference is recomputed to match it
    postings = [Posting(*p) for p in lines[k]["postings"]]
    lines[k]["ref"] = "0x" + batch_ref(lines[k]["label"], postings, slot=slot).hex()
    journal.batches_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    found = verify_archive(ledger)
    assert found is not None and found.slot == slot
    assert found.what in {f"auction postings {auction[0][1]}", f"auction postings {auction[1][1]}"}


def test_the_mechanism_stays_configurable(tmp_path: Path) -> None:
    config = DayConfig(seed=5, n_slots=4, slot_minutes=360, n_prosumers=12, dso_power_flow=False,
                       mechanism="mcafee_matched")
    result = run_day(config, tmp_path)
    s = result.summary
    assert s["mechanism"] == "mcafee_matched" and all(s["checks"].values()), s["checks"]
    assert s["energy_kwh"]["auction"] > 0 and s["grid_charges_micro"]["total"] > 0
    assert s["ledger"]["audit"] == "clean"
    assert s["ledger"]["slots_where_endorsed_result_equals_auction_statements"] == s["ledger"]["slots_committed"]
