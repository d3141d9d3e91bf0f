"""A short simulated day end to end (``transactive.sim.day``): money conserved to the micro-token, energy
balanced per slot and prosumer against the profiles, the demand-response event's secondary market runs,
the ledger archive audits clean, the report folder is complete, and the same seed gives the same day."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from transactive.cli import main
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.audit.statements import Posting, StatementJournal, batch_ref
from transactive.ledger.chain.base import ChainRevert, Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.constants import SETTLED, SLOT_OFF_CHAIN_REF, SLOT_STATE
from transactive.ledger.chain.embedded import EmbeddedChain
from transactive.ledger.messages.commitments import ME_LEAF, SettlementTree
from transactive.settlement.stages import ACCOUNTS, REWARD_ACCOUNTS, STAGES
from transactive.sim.day import DAY_ACCOUNTS, DayConfig, DayConfigError, DayResult, run_day
from transactive.sim.day_ledger import (
    DAY_MARKER,
    MARKET_ACCOUNTS,
    STARTING_ACCOUNT_MICRO,
    STARTING_PROSUMER_MICRO,
    market_account_address,
    slot_postings,
)
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
        assert set(x.accounts) == {*ACCOUNTS, *REWARD_ACCOUNTS}  # the auction is settled with the PoC rewards
        slot_sum = sum(s.money_micro for s in x.statements) + sum(x.accounts.values())
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


def _contract(out: Path, key: str, name: str) -> Contract:
    manifest = json.loads((out / "ledger" / "ledger.json").read_text())
    return Contract(name, manifest[key], tuple(load_artifact(name).abi))


def _token(out: Path) -> Contract:
    return _contract(out, "token", "EnergyToken")


def test_every_account_holds_its_starting_tokens_plus_its_statements_on_chain(day: tuple[DayResult, Path]) -> None:
    result, out = day
    s = result.summary
    addresses = s["ledger"]["addresses"]
    assert set(addresses) == set(DAY_ACCOUNTS)
    token = _token(out)
    chain = EmbeddedChain(out / "ledger" / "chain")
    try:
        for peer in result.peers:  # every prosumer's statements: slots (all stages) and the DR event
            expected = STARTING_PROSUMER_MICRO + s["peer_money_micro"][peer]
            assert chain.call(token, "balanceOf", peer) == expected
        for account, address in addresses.items():
            assert chain.call(token, "balanceOf", address) == STARTING_ACCOUNT_MICRO + s["money_micro"][account]
        # supply: deploy_suite's 10 x 1,000 tokens, 1,000 for dso, board, auctioneer, grid, balancing and the
        # community fund, 100 per prosumer; nothing created or destroyed by the day
        supply = (10 * 1_000 + 6 * 1_000 + 100 * len(result.peers)) * 10**6
        assert chain.call(token, "totalSupply") == supply == s["ledger"]["final_supply_micro"]
        assert chain.call(token, "balanceOf", token.address) == 0
    finally:
        chain.close()
    assert s["ledger"]["balances_equal_statements"] == s["ledger"]["accounts_checked"]
    assert s["ledger"]["settlement_batches"] == CONFIG.n_slots + 1  # one per slot, one for the event
    assert s["ledger"]["audit"] == "clean"


def test_the_token_postings_settle_each_stage_of_each_slot(day: tuple[DayResult, Path]) -> None:
    result, out = day
    chain = EmbeddedChain(out / "ledger" / "chain")
    slots = _contract(out, "slots", "MarketSlots")
    try:  # the rewards go to the slot's auctioneer and miner (validators), read from the slot's record
        validators = {x.slot: chain.call(slots, "slots", x.slot)[2:4] for x in result.settlements}
    finally:
        chain.close()
    for x in result.settlements:
        auctioneer, miner = validators[x.slot]
        addresses = {**result.summary["ledger"]["addresses"], "auctioneer_reward": auctioneer, "miner_reward": miner}
        rows = slot_postings(x, addresses)
        for stage in STAGES:
            assert sum(r.amount_micro for r in rows if r.stage == stage) == 0, (x.slot, stage)
        for st in x.statements:
            assert sum(r.amount_micro for r in rows if r.account == st.peer) == st.money_micro
        for account in ACCOUNTS:
            assert sum(r.amount_micro for r in rows if r.account == addresses[account]) == x.accounts[account]


def _tampered(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(out / "ledger", copy, ignore=shutil.ignore_patterns("chain.lock"))
    return copy


def test_the_audit_detects_a_transfer_not_in_the_statements(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    result, out = day
    ledger = _tampered(out, tmp_path)
    chain = EmbeddedChain(ledger / "chain")
    a, b = result.peers[0], result.peers[1]
    chain.transact(_token(out), "settle", b"\x42" * 32, [(a, -1), (b, 1)])  # the operator moves 1 micro-token
    chain.close()
    found = verify_archive(ledger)
    assert found is not None
    flagged = {f"balance {a}": (a, -1), f"balance {b}": (b, 1)}  # the first in address order is reported
    assert found.what in flagged
    peer, delta = flagged[found.what]
    assert int(found.found) == STARTING_PROSUMER_MICRO + result.summary["peer_money_micro"][peer] + delta


def test_the_audit_detects_a_minted_balance(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    result, out = day
    ledger = _tampered(out, tmp_path)
    chain = EmbeddedChain(ledger / "chain")
    grid = result.summary["ledger"]["addresses"]["grid"]
    chain.transact(_token(out), "mint", grid, 5)
    chain.close()
    found = verify_archive(ledger)
    assert found is not None and found.what == f"balance {grid}"
    assert int(found.found) == STARTING_ACCOUNT_MICRO + result.summary["money_micro"]["grid"] + 5


def test_the_audit_detects_an_edited_statement_batch(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    _, out = day
    ledger = _tampered(out, tmp_path)
    journal = StatementJournal(ledger)
    lines = journal.batches_path.read_text().splitlines()
    first = json.loads(lines[0])
    first["postings"][0][2] -= 1
    first["postings"][1][2] += 1  # still balances, but is not what was settled under the reference
    journal.batches_path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    found = verify_archive(ledger)
    assert found is not None and found.what == "batch slot 0: ref"
    rows = [Posting(*p) for p in first["postings"]]
    assert found.expected.startswith("0x" + batch_ref("slot 0", rows, slot=0).hex())


def test_every_slot_paid_by_a_token_batch_is_marked_settled_and_cannot_settle_again(
    day: tuple[DayResult, Path], tmp_path: Path
) -> None:
    """The day pays each anchored slot with EnergyToken.settle and marks it SETTLED on MarketSlots with that
    batch's reference; settle_batch then reverts even though the payers approve MarketSlots."""
    _, out = day
    ledger = _tampered(out, tmp_path)
    slots = _contract(out, "slots", "MarketSlots")
    marked = {line.slot: line.ref for line in StatementJournal(ledger).read()[1]
              if line.slot is not None and line.postings}
    assert sorted(marked) == list(range(CONFIG.n_slots))
    archive = SlotArchive(ledger)
    chain = EmbeddedChain(ledger / "chain")
    try:
        for slot, ref in marked.items():
            record = chain.call(slots, "slots", slot)
            assert record[SLOT_STATE] == SETTLED and bytes(record[SLOT_OFF_CHAIN_REF]) == ref
        batch = archive.load(0)[0]
        tree = SettlementTree.build([e.values(0) for e in batch.results])
        with pytest.raises(ChainRevert, match="not CLEARED"):
            chain.transact(slots, "settle_batch", 0, [(a, e, m) for _, a, e, m in tree.rows])
    finally:
        chain.close()


def test_the_audit_checks_the_slot_is_marked_with_its_batch_reference(
    day: tuple[DayResult, Path], tmp_path: Path
) -> None:
    _, out = day
    ledger = _tampered(out, tmp_path)
    journal = StatementJournal(ledger)
    lines = journal.batches_path.read_text().splitlines()
    first = json.loads(lines[0])
    original = first["ref"]
    first["ref"] = "0x" + "42" * 32  # as if another batch (never marked on the slot) had settled slot 0
    journal.batches_path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    found = verify_archive(ledger)
    assert found is not None and found.slot == 0 and found.what == "auction postings (batch slot 0)"
    assert found.found == f"state {SETTLED}, reference {original}"


def test_market_accounts_are_keyless_hash_addresses() -> None:
    """Each market account's address is the last 20 bytes of keccak256 of a public string (no private key)."""
    from eth_utils import keccak, to_checksum_address

    for name in MARKET_ACCOUNTS:
        expected = to_checksum_address(keccak(text=f"transactive-day/account/{name}")[-20:])
        assert market_account_address(name) == expected


def test_the_report_folder_has_the_page_and_the_plots(day: tuple[DayResult, Path]) -> None:
    _, out = day
    page = (out / "index.html").read_text()
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page
    assert "synthetic stand-ins for SimBench" in page
    assert "on-chain token balances equal starting balance + statements" in page
    assert (out / "summary.json").exists()


def test_same_seed_same_day_other_seed_other_day(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    config = DayConfig(seed=3, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False)
    again = run_day(config)
    keys = ("energy_kwh", "money_micro", "demand_response", "peer_money_micro")
    assert {k: again.summary[k] for k in keys} == {k: result.summary[k] for k in keys}
    assert again.summary["checks"] == {k: v for k, v in result.summary["checks"].items() if "chain" not in k}
    other = run_day(DayConfig(seed=4, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False))
    assert other.summary["peer_money_micro"] != result.summary["peer_money_micro"]


def test_the_command_runs_a_short_dpda_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["day", "--slots", "4", "--seed", "1", "--out", str(tmp_path), "--no-power-flow",
                 "--profiles", "synthetic"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Energy by stage" in out and "Ledger audit: clean" in out and "synthetic" in out
    assert "token balances: 76 of 76 accounts hold exactly starting balance + statements" in out
    assert (tmp_path / "index.html").exists()
    # a second run into the same folder starts from a fresh chain
    assert main(["day", "--slots", "2", "--seed", "1", "--out", str(tmp_path), "--no-power-flow",
                 "--profiles", "synthetic"]) == 0
    assert sorted(p.name for p in (tmp_path / "ledger" / "slots").iterdir()) == ["0.json", "1.json"]


def test_the_demo_plays_the_examples_then_the_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--no-grid", "--slots", "2", "--out", str(tmp_path / "demo"), "--profiles", "synthetic"])
    out = capsys.readouterr().out
    assert code == 0
    assert "examples reproduced." in out and out.index("examples reproduced.") < out.index("Simulated day")
    assert "55 prosumers, 2 slots" in out and "Ledger audit: clean" in out
    assert (tmp_path / "demo" / "index.html").exists()


def test_bad_day_options_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["day", "--slots", "0", "--out", str(tmp_path)]) == 2
    assert "n_slots" in capsys.readouterr().err
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "mine.txt").write_text("not an archive")
    assert main(["day", "--slots", "1", "--out", str(tmp_path), "--profiles", "synthetic"]) == 2
    assert "out_dir" in capsys.readouterr().err
    assert (tmp_path / "ledger" / "mine.txt").exists()
    # a service's data directory also has a ledger.json (and its chain, keys, database): never deleted
    service = tmp_path / "service"
    (service / "ledger" / "chain").mkdir(parents=True)
    (service / "ledger" / "ledger.json").write_text('{"format": "transactive.ledger-archive/1"}')
    (service / "ledger" / "chain" / "keys").write_text("secret")
    assert main(["day", "--slots", "1", "--out", str(service), "--profiles", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert "out_dir" in err and DAY_MARKER in err
    assert (service / "ledger" / "chain" / "keys").read_text() == "secret"


def test_a_whole_day_puts_the_event_at_the_evening_peak() -> None:
    assert DayConfig().dr_window == (18 * 4, 19 * 4)  # 18:00-19:00 in 15-minute slots
    assert DayConfig(slot_minutes=60, n_slots=24, dr_slots=2).dr_window == (18, 20)


@pytest.mark.parametrize(("field", "value"), [("n_slots", 0), ("n_slots", 97), ("slot_minutes", 7),
                                              ("date", "22/06/2026"), ("n_prosumers", 56), ("pv_share", 1.5),
                                              ("profiles", "measured")])
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(DayConfigError) as caught:
        DayConfig(**{field: value})  # type: ignore[arg-type]
    assert caught.value.field == field


def test_day_params_reach_the_mechanism_on_both_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # issue 12: `transactive day --param` reaches the statements' mechanism and the validators' batch alike: a
    # VCG day with seed 001's 1 % + 1 % shares; the endorsed results equal the statements and the audit is clean
    code = main(["day", "--slots", "3", "--seed", "2", "--out", str(tmp_path), "--no-power-flow", "--profiles",
                 "synthetic", "--mechanism", "double_auction_vcg", "--param", "auctioneer_share=0.01",
                 "--param", "miner_share=0.01"])
    out = capsys.readouterr().out
    assert code == 0 and "Ledger audit: clean" in out
    archived = json.loads((tmp_path / "ledger" / "slots" / "0.json").read_text())  # the validators' batch
    assert archived["market"]["params"] == {"auctioneer_share": 0.01, "miner_share": 0.01}
    assert any(e["account"] == ME_LEAF for e in archived["results"])  # a reward term: the ME row is committed
    assert main(["day", "--slots", "1", "--out", str(tmp_path), "--mechanism", "double_auction_vcg",
                 "--param", "pricing=bogus"]) == 2
    assert "params.pricing" in capsys.readouterr().err
