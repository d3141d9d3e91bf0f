"""A short simulated day end to end through the service's desks (``transactive.sim.day``, issue 12 part B):
``transactive ledger verify`` is clean on the day's folder (anchored and settlement slots), every slot's
statements are the validators' settled postings, every member's on-chain tokens are its starting tokens plus
its statements, the token supply is what was minted, energy matches the profiles, the demand-response event
runs its secondary market, the report folder is complete, and the same seed gives the same day."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transactive.cli import main
from transactive.ledger.audit.audit import SlotArchive, verify_archive
from transactive.ledger.chain.base import Contract
from transactive.ledger.chain.compiler import load_artifact
from transactive.ledger.chain.connect import open_local_chain
from transactive.ledger.chain.constants import CLEARED
from transactive.ledger.messages.commitments import ME_LEAF
from transactive.settlement.stages import STAGES
from transactive.sim.day import DayConfig, DayConfigError, DayResult, run_day
from transactive.sim.day_service import DAY_MARKER, START_TOKENS
from transactive.sim.day_summary import SETTLEMENT_ACCOUNTS
from transactive.sim.report import PLOTS, write_report
from transactive.units import MICRO_PER_TOKEN, energy_to_wh, money_to_micro

CONFIG = DayConfig(seed=3, n_slots=8, n_prosumers=20, mechanism="uniform")
START_MICRO = START_TOKENS * MICRO_PER_TOKEN


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[DayResult, Path]:
    out = tmp_path_factory.mktemp("day")
    result = run_day(CONFIG, out)
    write_report(result, out)
    return result, out


def _settled(out: Path) -> list[dict[str, object]]:
    """The archived settlement slots (what the validators endorsed and submit_and_settle paid), in slot order."""
    folder = out / "ledger" / "settlements"
    return [json.loads(p.read_text()) for p in sorted(folder.iterdir(), key=lambda p: int(p.stem))]


def _token(out: Path) -> Contract:
    manifest = json.loads((out / "ledger" / "ledger.json").read_text())
    return Contract("EnergyToken", manifest["token"], tuple(load_artifact("EnergyToken").abi))


def test_ledger_verify_is_clean_on_the_days_folder(day: tuple[DayResult, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    result, out = day
    capsys.readouterr()
    assert main(["ledger", "verify", str(out / "ledger")]) == 0
    printed = capsys.readouterr().out
    archive = SlotArchive(out / "ledger")
    anchored, settled = len(archive.slots()), len(archive.settlement_slots())
    assert printed.startswith(f"clean: {anchored} slot(s), {settled} settlement slot(s)")
    assert anchored == sum(x.anchored for x in result.slots) >= 1
    assert settled == CONFIG.n_slots  # every slot has the baseload contract, so every slot settles
    assert result.summary["ledger"]["audit"] == "clean"


def test_statements_are_the_settled_postings_and_balance(day: tuple[DayResult, Path]) -> None:
    """Per slot: each member's statement is its account's endorsed posting, the DSO's posting is the four
    settlement accounts, and the postings sum to zero micro-tokens (tokens move, none are made)."""
    result, out = day
    records = _settled(out)
    assert len(records) == len(result.slots)
    for x, rec in zip(result.slots, records, strict=True):
        doc = rec["input"]
        assert isinstance(doc, dict)
        postings = {p["account"]: p["amountMicro"] for p in rec["postings"]}  # type: ignore[attr-defined]
        assert sum(postings.values()) == 0
        for s in x.statements:
            assert postings[doc["accounts"][s.peer]] == s.money_micro
        assert postings[doc["dso"]] == sum(x.accounts[a] for a in SETTLEMENT_ACCOUNTS)
        assert x.balance_micro == 0
    assert sum(result.summary["money_micro"].values()) == 0
    assert all(result.summary["checks"].values()), result.summary["checks"]


def test_a_new_days_chain_runs_on_the_revm_engine(day: tuple[DayResult, Path]) -> None:
    """DAY_CHAIN_ENGINE: the day's ledger holds the revm journal (and no py-evm database), which the audit and
    open_local_chain read with the revm engine."""
    _, out = day
    chain_dir = out / "ledger" / "chain"
    assert sorted(p.name for p in chain_dir.glob("chain*.sqlite")) == ["chain-revm.sqlite"]
    chain = open_local_chain(chain_dir, read_only=True)
    try:
        assert type(chain).__name__ == "RevmChain" and chain.block_number() > 0
    finally:
        chain.close()


def test_the_days_text_names_the_transaction_that_pays(day: tuple[DayResult, Path]) -> None:
    """What the day says it did on chain is what the chain shows: every settlement slot is SETTLED in the block
    (one transaction per block) that endorsed its result -- ``submit_and_settle``, not a later ``settle_batch``
    -- and every anchored auction slot stays CLEARED (its trades are paid inside the settlement slot)."""
    result, out = day
    manifest = json.loads((out / "ledger" / "ledger.json").read_text())
    slots = Contract("MarketSlots", manifest["slots"], tuple(load_artifact("MarketSlots").abi))
    archive = SlotArchive(out / "ledger")
    chain = open_local_chain(out / "ledger" / "chain", read_only=True)
    try:
        endorsed = {int(e["slot"]): e["blockNumber"] for e in chain.logs(slots, "ResultEndorsed")}
        settled = {int(e["slot"]): e["blockNumber"] for e in chain.logs(slots, "SlotSettled")}
        states = {s: int(chain.call(slots, "slots", s)[0]) for s in archive.slots()}
    finally:
        chain.close()
    assert sorted(settled) == archive.settlement_slots()
    assert all(endorsed[s] == block for s, block in settled.items())
    assert set(states.values()) == {CLEARED}
    text = result.summary["ledger"]["on_chain"]
    assert "submitted and paid in one transaction (MarketSlots.submit_and_settle)" in text
    assert "settle_batch" not in text


def test_on_chain_tokens_are_starting_tokens_plus_statements(day: tuple[DayResult, Path]) -> None:
    result, out = day
    account = {}
    for rec in _settled(out):
        account.update(rec["input"]["accounts"])  # type: ignore[index]
    manifest = json.loads((out / "ledger" / "ledger.json").read_text())
    token = _token(out)
    chain = open_local_chain(out / "ledger" / "chain")
    try:
        for peer in result.peers:  # every prosumer that traded: slots (all stages) and the DR event
            if peer in account:
                assert chain.call(token, "balanceOf", account[peer]) == (
                    START_MICRO + result.summary["peer_money_micro"][peer]), peer
        dso = result.summary["ledger"]["addresses"]["dso"]
        money = result.summary["money_micro"]
        assert chain.call(token, "balanceOf", dso) == START_MICRO + sum(
            money[a] for a in (*SETTLEMENT_ACCOUNTS, "balancing"))
        assert chain.call(token, "balanceOf", result.summary["ledger"]["addresses"]["aggregator"]) == (
            START_MICRO + money["aggregator"])
        # tokens conserved: the supply is what was minted (START_TOKENS per member account, the suite's own)
        assert chain.call(token, "totalSupply") == manifest["mintedMicro"] - manifest["burnedMicro"]
        assert chain.call(token, "totalSupply") == result.summary["ledger"]["token_supply_micro"]
    finally:
        chain.close()
    assert result.summary["ledger"]["balances_equal_statements"] == result.summary["ledger"]["accounts_checked"]


def test_energy_matches_the_profiles(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    metered = result.profiles.pv_kwh[:, : CONFIG.n_slots] - result.metered_load_kwh
    index = {p: k for k, p in enumerate(result.peers)}
    for x in result.slots:
        for s in x.statements:
            assert s.net_wh == energy_to_wh(float(metered[index[s.peer], x.slot]))
            assert sum(s.stages[g].sold_wh - s.stages[g].bought_wh for g in STAGES) == s.net_wh
        for g in ("bilateral", "listings"):
            assert sum(s.stages[g].sold_wh for s in x.statements) == sum(s.stages[g].bought_wh for s in x.statements)
        # the firm contracts deliver in every slot: 200 Wh baseload, and 500 Wh midday (an 8-slot day has no
        # 10:00-15:00 slot, so the midday contract runs in every slot)
        assert sum(s.stages["bilateral"].sold_wh for s in x.statements) == 700


def test_every_members_metered_energy_settles_to_the_wh(day: tuple[DayResult, Path]) -> None:
    """SEED-NOTES §8 / docs/settlement.md: the grid stage buys or sells whatever a member's metered position
    leaves after the auction, so every member's metered Wh of every slot -- also a member whose auction order
    did not clear, or whose slot was void -- is its Σ(sold − bought) over the stages, and nothing is left
    unsettled."""
    result, _ = day
    metered = result.profiles.pv_kwh[:, : CONFIG.n_slots] - result.metered_load_kwh
    unsettled_wh = 0
    for x in result.slots:
        statements = {s.peer: s for s in x.statements}
        for k, peer in enumerate(result.peers):
            metered_wh = energy_to_wh(float(metered[k, x.slot]))
            s = statements.get(peer)
            settled_wh = 0 if s is None else sum(s.stages[g].sold_wh - s.stages[g].bought_wh for g in STAGES)
            unsettled_wh += abs(metered_wh - settled_wh)
    assert unsettled_wh == 0
    assert result.summary["energy_kwh"]["not settled (no order, contract or listing)"] == 0.0
    # the day's energy balances: what the members metered is what the stages moved, to the Wh
    total_metered_wh = sum(energy_to_wh(float(metered[k, x.slot])) for x in result.slots
                           for k in range(len(result.peers)))
    assert total_metered_wh == sum(s.net_wh for x in result.slots for s in x.statements)


def test_the_demand_response_event_reduces_load_and_runs_the_secondary_market(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    w0, w1 = CONFIG.dr_window
    assert (w0, w1) == (4, 8)  # an 8-slot day: the last four slots
    dr = result.summary["demand_response"]
    assert dr["ran"] and dr["winners"] and dr["postings_sum_micro"] == 0
    assert result.event is not None
    offerers = [i for i, p in enumerate(result.peers) if any(o.member == p for o in result.event.offers)]
    reduced = result.profiles.load_kwh[offerers, w0:w1] - result.metered_load_kwh[offerers, w0:w1]
    assert np.all(reduced > 0)  # every offerer reduced its metered load in the window
    outside = np.delete(np.arange(len(result.peers)), offerers)
    assert np.array_equal(result.metered_load_kwh[outside], result.profiles.load_kwh[outside, : CONFIG.n_slots])
    first = dr["winners"][0]["id"]
    row = next(v for v in dr["verification"] if v["id"] == first)
    assert row["shortfall_kwh"] > 0  # the designated under-deliverer
    assert any(s["id"] == first and s["bought"] for s in dr["secondary"])
    assert set(result.dr_baseline_kwh) == {result.peers[i] for i in offerers}


def _copy(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(out / "ledger", copy, ignore=shutil.ignore_patterns("chain.lock"))
    return copy


def test_the_audit_detects_a_minted_balance(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    result, out = day
    ledger = _copy(out, tmp_path)
    chain = open_local_chain(ledger / "chain")
    dso = result.summary["ledger"]["addresses"]["dso"]
    chain.transact(_token(out), "mint", dso, 5)
    chain.close()
    found = verify_archive(ledger)
    minted = json.loads((ledger / "ledger.json").read_text())["mintedMicro"]
    assert found is not None and found.what == "token supply" and found.found == f"totalSupply {minted + 5}"


def test_the_audit_detects_an_edited_meter_reading(day: tuple[DayResult, Path], tmp_path: Path) -> None:
    _, out = day
    ledger = _copy(out, tmp_path)
    path = min((ledger / "settlements").iterdir(), key=lambda p: int(p.stem))
    doc = json.loads(path.read_text())
    member = next(iter(doc["input"]["readings_kwh"]))
    doc["input"]["readings_kwh"][member] += 0.001  # not the input the validators endorsed
    path.write_text(json.dumps(doc))
    found = verify_archive(ledger)
    assert found is not None and found.slot == int(path.stem)


def test_the_report_folder_has_the_page_and_the_plots(day: tuple[DayResult, Path]) -> None:
    _, out = day
    page = (out / "index.html").read_text()
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page
    assert "synthetic stand-ins for SimBench" in page
    assert "transactive ledger verify DIR/ledger" in page and "<b>clean</b>" in page
    assert json.loads((out / "summary.json").read_text())["ledger"]["audit"] == "clean"
    assert (out / "ledger" / DAY_MARKER).exists()


def test_same_seed_same_day_other_seed_other_day(day: tuple[DayResult, Path]) -> None:
    result, _ = day
    again = run_day(DayConfig(seed=3, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False))
    keys = ("energy_kwh", "money_micro", "demand_response", "peer_money_micro", "checks")
    assert {k: again.summary[k] for k in keys} == {k: result.summary[k] for k in keys}
    assert again.summary["ledger"]["audit"].startswith("not run")
    other = run_day(DayConfig(seed=4, n_slots=8, n_prosumers=20, mechanism="uniform", on_chain=False))
    assert other.summary["peer_money_micro"] != result.summary["peer_money_micro"]


def test_the_same_seed_gives_the_same_summary_on_chain() -> None:
    """The whole summary, chain addresses and balances included, is a function of the config: the DSO's and the
    aggregator's custodial keys come from the seed like the prosumers' (they were random per run)."""
    config = DayConfig(seed=3, n_slots=2, n_prosumers=8, mechanism="uniform")
    first, second = run_day(config), run_day(config)
    assert first.summary == second.summary
    addresses = first.summary["ledger"]["addresses"]
    other = run_day(DayConfig(seed=4, n_slots=2, n_prosumers=8, mechanism="uniform"))
    assert set(other.summary["ledger"]["addresses"].values()).isdisjoint(addresses.values())


def test_the_command_runs_a_short_dpda_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["day", "--slots", "4", "--seed", "1", "--out", str(tmp_path), "--no-power-flow",
                 "--profiles", "synthetic"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Energy by stage" in out and "Ledger audit: clean" in out and "synthetic" in out
    assert "token balances: 59 of 59 accounts hold exactly starting balance + statements" in out
    assert "Auction prices (zic bids):" in out  # the default strategy
    assert (tmp_path / "index.html").exists()
    # a second run into the same folder starts from a fresh chain
    assert main(["day", "--slots", "2", "--seed", "1", "--out", str(tmp_path), "--no-power-flow",
                 "--profiles", "synthetic"]) == 0
    assert len(list((tmp_path / "ledger" / "settlements").iterdir())) == 2


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
                                              ("profiles", "measured"), ("strategy", "truthful")])
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
    archives = [json.loads(p.read_text()) for p in sorted((tmp_path / "ledger" / "slots").glob("*.json"))]
    assert archives  # the validators' batches, as anchored
    assert all(a["market"]["params"] == {"auctioneer_share": 0.01, "miner_share": 0.01} for a in archives)
    assert any(e["account"] == ME_LEAF for a in archives for e in a["results"])  # a reward term: the ME row
    assert main(["day", "--slots", "1", "--out", str(tmp_path), "--mechanism", "double_auction_vcg",
                 "--param", "pricing=bogus"]) == 2
    assert "params.pricing" in capsys.readouterr().err


# issue 10: bidding that forms prices. 24 hourly slots (the whole day, so PV surpluses meet the morning
# and evening deficits), in memory (the on-chain path of the default strategy is the fixture's day above)
def _prices(strategy: str) -> tuple[list[float | None], dict[str, Any]]:
    result = run_day(DayConfig(seed=3, n_slots=24, slot_minutes=60, n_prosumers=30, mechanism="dpda",
                               strategy=strategy, on_chain=False, dso_power_flow=False))
    series = result.summary["prices_per_kwh"]
    assert len(series["auction"]) == 24 and result.summary["strategy"] == strategy
    assert all(result.summary["checks"].values())
    return series["auction"], series


@pytest.mark.parametrize("strategy", ["zic", "cost-plus"])
def test_a_price_forming_strategy_moves_the_auction_price_through_the_day(strategy: str) -> None:
    auction, series = _prices(strategy)
    cleared = [p for p in auction if p is not None]
    assert len(cleared) >= 8
    assert all(series["feed_in"] <= p <= series["retail"] for p in cleared)
    assert len(set(cleared)) > 1  # not one price for the whole day


def test_grid_bids_reproduce_the_grid_priced_day() -> None:
    # every order at the grid's prices: DPDA's price is the mean of the marginal ask and bid, (0.015 + 0.1) / 2
    auction, _ = _prices("grid")
    cleared = [p for p in auction if p is not None]
    assert len(cleared) >= 8
    assert cleared == [pytest.approx(0.0575, abs=1e-12)] * len(cleared)


def test_a_bad_strategy_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["day", "--slots", "1", "--out", str(tmp_path), "--strategy", "truthful"]) == 2
    err = capsys.readouterr().err
    assert "strategy" in err and "zic" in err and "Traceback" not in err
    assert not (tmp_path / "ledger").exists()


# issue 10: wholesale trading through the auctioneer as the grid stage's option (seed 001 §IV-A, fee 0.025)
WHOLESALE = DayConfig(seed=3, n_slots=12, slot_minutes=60, n_prosumers=8, mechanism="uniform", grid="wholesale",
                      dso_power_flow=False, dr_slots=0)  # 00:00-12:00: night imports and morning PV exports


def test_a_wholesale_day_pays_the_auctioneer_and_verifies(tmp_path: Path) -> None:
    result = run_day(WHOLESALE, tmp_path)
    series = WHOLESALE.wholesale_series()
    assert series is not None
    assert all(result.summary["checks"].values()), result.summary["checks"]
    assert result.summary["ledger"]["audit"] == "clean"
    assert verify_archive(tmp_path / "ledger") is None  # what `transactive ledger verify` runs, settlement included
    fees = 0
    routes = set()
    for x, rec in zip(result.slots, _settled(tmp_path), strict=True):
        doc = rec["input"]
        assert isinstance(doc, dict)
        lam = series.prices_per_kwh[x.slot]  # hourly slots from 00:00: slot k is hour k
        assert doc["wholesale"]["price_per_kwh"] == lam and doc["wholesale"]["fee_per_kwh"] == 0.025
        postings = {p["account"]: p["amountMicro"] for p in rec["postings"]}  # type: ignore[attr-defined]
        assert sum(postings.values()) == 0
        auctioneer = doc["wholesale"]["auctioneer"]
        assert postings.get(auctioneer, 0) == x.accounts["auctioneer"]
        assert postings[doc["dso"]] == sum(x.accounts[a] for a in SETTLEMENT_ACCOUNTS if a != "auctioneer")
        for s in x.statements:  # each grid line by hand: the better of the tariff and λ ∓ fee, rounded per figure
            line = s.stages["grid"]
            kwh = (line.sold_wh - line.bought_wh) / 1000
            if kwh > 0:
                wholesale = money_to_micro(lam * kwh) - money_to_micro(0.025 * kwh)
                assert line.money_micro == max(wholesale, money_to_micro(0.015 * kwh))
                routes.add("sell")
            elif kwh < 0:
                wholesale = money_to_micro(lam * -kwh) + money_to_micro(0.025 * -kwh)
                assert -line.money_micro == min(wholesale, money_to_micro(0.1 * -kwh))
                routes.add("buy")
        fees += x.accounts["auctioneer"]
        if x.price_per_kwh is not None:  # the bids take the slot's grid alternatives as the grid's prices
            assert max(0.015, lam - 0.025) - 1e-6 <= x.price_per_kwh <= min(0.1, lam + 0.025) + 1e-6
    assert routes == {"sell", "buy"}  # both sides reached the grid stage
    assert fees > 0 and result.summary["money_micro"]["auctioneer"] == fees
    fee_check = result.summary["ledger"]["auctioneer_fees_micro"]
    assert fee_check["validators_now"] - fee_check["validators_start"] == fees  # the auctioneers' tokens
    assert result.summary["prices_per_kwh"]["wholesale"] == list(series.prices_per_kwh[:12])
    # the validators' batches carry the mechanism's parameters only (the grid stage's are the settlement's)
    archives = [json.loads(p.read_text()) for p in (tmp_path / "ledger" / "slots").glob("*.json")]
    assert archives and all("wholesale" not in a["market"]["params"] for a in archives)


def test_the_day_command_takes_a_price_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("hour,price\n" + "".join(f"{h},0.06\n" for h in range(24)))
    code = main(["day", "--slots", "2", "--seed", "1", "--out", str(tmp_path / "day"), "--no-power-flow",
                 "--profiles", "synthetic", "--no-chain", "--grid", "wholesale", "--wholesale-prices", str(prices)])
    out = capsys.readouterr().out
    assert code == 0 and "Grid stage: wholesale through the auctioneer (file prices.csv" in out
    (tmp_path / "bad.csv").write_text("0.06\n" * 7)
    assert main(["day", "--slots", "1", "--out", str(tmp_path / "x"), "--grid", "wholesale",
                 "--wholesale-prices", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert "wholesale_prices" in err and "Traceback" not in err
    with pytest.raises(DayConfigError) as caught:
        DayConfig(grid="market")
    assert caught.value.field == "grid"
