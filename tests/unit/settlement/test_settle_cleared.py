"""Settlement against the meters settles the auction as the mechanism cleared it (``docs/settlement.md``,
"Settlement against the meters"; seed 004 eq. 4.8-4.9, SEED-NOTES §8):

* for a single price, a clearing at ``round(p0·E_ref)`` settled by :func:`settle_cleared` is eqs. (4.8)-(4.9)
  of :func:`settle` to the micro-token, for any meters (flat network charges, or charges inside the cleared
  payments as the ``*_matched`` mechanisms clear them);
* over every registered two-sided mechanism and random markets, the settlement input a validator recomputes
  (:func:`~transactive.settlement.sequence.settle_sequence`, format 3 built by
  :func:`~transactive.market.ledger.sequence.auction_input` from the endorsed result entries) posts exactly the
  endorsed entries when the meters read the cleared energies, and the deviations at the deviation price minus
  the penalty otherwise;
* archived format-2 documents (written by the service before this rule) recompute to their archived postings."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from fixtures.registered_runs import run_registered
from transactive.crypto.eip712 import Domain
from transactive.ledger.messages.commitments import FUND_LEAF, ResultEntry, result_entries, result_tree
from transactive.market.ledger.sequence import auction_input, entry_rows
from transactive.orders import Orders
from transactive.registry import full_registry
from transactive.result import ClearingResult, ResultDocument
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.input import SettlementInput
from transactive.settlement.listings import ServiceRates
from transactive.settlement.metering import Cleared, SettledTrade, SettlementError, settle, settle_cleared
from transactive.settlement.sequence import SEQUENCE_FORMAT, SEQUENCE_FORMAT_V2, settle_sequence, settlement_postings
from transactive.settlement.slot_settlement import SettlementTerms
from transactive.units import money_to_micro

TWO_SIDED = sorted(k for k, m in full_registry().items() if m.sides == ("sellers", "buyers"))
DOMAIN = Domain(1337, "0x" + "ab" * 20)
DSO = "0x" + "12" * 20  # digits only: its EIP-55 form is itself
ARCHIVES = Path(__file__).parents[2] / "fixtures" / "archives"


def test_seed_004_worked_example_as_cleared() -> None:
    # metering's example (p0 16.5, 10 kWh agreed, the seller delivers 9, penalty 2, charge 0.003 split
    # 1,500 / 1,500): cleared as a *_matched mechanism clears it (charges inside the payments), the seller
    # is paid 16.5 x 9 - 1,500 - 2 x 1 kWh and the buyer pays 16.5 x 10 + 1,500, exactly as (4.8)-(4.9)
    cleared = {"b": Cleared(-10_000, -165_001_500), "s": Cleared(10_000, 164_998_500)}
    s = settle_cleared(16.5, cleared, {"b": -10_000, "s": 9_000}, penalty_per_kwh=2.0, charges_micro=3_000)
    assert [(p.account, p.amount_micro) for p in s.postings] == [
        ("buyer:b", -165_001_500), ("seller:s", 146_498_500), ("dso", 18_503_000)]
    old = settle(16.5, [SettledTrade("b", "s", 10.0, 0.003)], {"b": 10.0}, {"s": 9.0}, penalty_per_kwh=2.0)
    assert s.postings == old.postings


_wh = st.integers(0, 20_000)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500_000).map(lambda x: x / 1e5), st.integers(0, 300).map(lambda x: x / 100),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 9_000), st.integers(0, 40_000)),
                min_size=1, max_size=8),
       st.lists(_wh, min_size=4, max_size=4), st.lists(_wh, min_size=4, max_size=4), st.booleans())
def test_a_single_price_cleared_at_p0_is_equations_4_8_and_4_9(  # noqa: PLR0917 - hypothesis draws
    p0: float, penalty: float, raw: list[tuple[int, int, int, int]], meter_b: list[int], meter_s: list[int],
    matched: bool,
) -> None:
    trades = [SettledTrade(f"b{b}", f"s{s}", wh / 1000, charge / 1e6) for b, s, wh, charge in raw]
    old = settle(p0, trades, {f"b{k}": v / 1000 for k, v in enumerate(meter_b)},
                 {f"s{k}": v / 1000 for k, v in enumerate(meter_s)}, penalty_per_kwh=penalty)
    cleared = {}
    for ln in old.lines:  # the clearing at p0 (a matched mechanism: its payments carry the tariff halves)
        sign = 1 if ln.side == "seller" else -1
        cleared[ln.participant] = Cleared(sign * ln.agreed_wh, sign * money_to_micro(p0 * ln.agreed_wh / 1000)
                                          - (ln.tariff_micro if matched else 0))
    charges = old.dso_tariffs_micro if matched else 0
    fund = -(sum(c.amount_micro for c in cleared.values()) + charges)  # per-figure rounding's leftovers
    metered = {ln.participant: (1 if ln.side == "seller" else -1) * ln.metered_wh for ln in old.lines}
    new = settle_cleared(p0, cleared, metered, penalty_per_kwh=penalty, network_trades=() if matched else trades,
                         charges_micro=charges, fund_micro=fund)
    assert [(ln.side, ln.participant, ln.amount_micro, ln.credit_micro) for ln in new.lines] == \
        [(ln.side, ln.participant, ln.amount_micro, ln.credit_micro) for ln in old.lines]
    if not matched:  # (matched: a line's energy money carries its half of the charges, as cleared)
        assert [ln.energy_micro for ln in new.lines] == [ln.energy_micro for ln in old.lines]
    amounts = {p.account: p.amount_micro for p in new.postings}
    assert amounts["dso"] + amounts.get("fund", 0) == dict((p.account, p.amount_micro) for p in old.postings)["dso"]
    assert (new.dso_tariffs_micro, new.dso_penalties_micro) == (old.dso_tariffs_micro, old.dso_penalties_micro)


def test_bad_cleared_input_names_the_field() -> None:
    with pytest.raises(SettlementError) as err:
        settle_cleared(1.0, {"s": Cleared(1000, 1_000_000)}, {"s": 1000}, penalty_per_kwh=0.0)
    assert err.value.field == "auction"  # the rows do not balance (no buyer, no fund row)
    with pytest.raises(SettlementError) as err:
        settle_cleared(1.0, {"s": Cleared(1000, 1_000_000), "b": Cleared(-1000, -1_000_000)}, {"s": 1000, "b": 5},
                       penalty_per_kwh=0.0)
    assert err.value.field == "metered_wh.buyers[b]"


def _addr(k: int) -> str:
    return "0x" + f"{k + 16:040x}"


@st.composite
def _market(draw: st.DrawFn) -> tuple[Orders, Orders]:
    ns, nb = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sellers = Orders.single([_addr(k) for k in range(ns)], [draw(st.integers(1, 20_000)) / 1000 for _ in range(ns)],
                            [draw(st.integers(1, 300)) / 1000 for _ in range(ns)])
    buyers = Orders.single([_addr(ns + k) for k in range(nb)], [draw(st.integers(1, 20_000)) / 1000 for _ in range(nb)],
                           [draw(st.integers(1, 300)) / 1000 for _ in range(nb)])
    return sellers, buyers




def _document(r: ClearingResult, sellers: Orders, buyers: Orders) -> dict[str, Any]:
    def rows(ids: tuple[str, ...] | list[str], alloc: Any) -> list[dict[str, Any]]:
        return [{"id": i, "energy_kwh": float(e), "payment": float(p)}
                for i, e, p in zip(ids, alloc.energy_kwh, alloc.payment, strict=True)]

    return {"price_per_kwh": r.price_per_kwh, "details": dict(r.details), "sellers": rows(sellers.ids, r.sellers),
            "buyers": rows(buyers.ids, r.buyers)}


def _input(entries: list[ResultEntry], result: dict[str, Any], readings_wh: dict[str, int],
           terms: SettlementTerms) -> SettlementInput:
    auction = auction_input(ResultDocument.from_json(result), entry_rows(entries),
                            member_of={e.account.lower(): e.account for e in entries}, dso_address=DSO, terms=terms)
    parties = tuple(sorted(auction["cleared"].members))
    return SettlementInput(format=SEQUENCE_FORMAT, slot=1, clearing_slot=0, clearing_root=None, multi_slot=7,
                           **auction, parties=parties, readings_kwh={m: readings_wh[m] / 1000 for m in parties},
                           missing_readings=(), tariff=GridTariff(feed_in_per_kwh=0.015, retail_per_kwh=0.1),
                           rates=ServiceRates(service_charge_per_kwh=0.004, penalty_per_kwh=0.05),
                           accounts={m: m for m in parties}, dso=DSO)


@settings(max_examples=120, deadline=None)
@given(_market(), st.sampled_from(TWO_SIDED), st.integers(0, 20_000).map(lambda x: x / 1e6),
       st.lists(st.integers(-1_500, 1_500), min_size=10, max_size=10), st.booleans())
def test_the_settlement_slot_posts_the_endorsed_entries_and_the_meters_only_the_deviations(
    book: tuple[Orders, Orders], mechanism: str, grid_charge: float, deviations: list[int], exact: bool,
) -> None:
    sellers, buyers = book
    r = run_registered(mechanism, sellers, buyers)
    if r is None:
        return
    entries = result_entries(r, sellers, buyers, dso=DSO)
    terms = SettlementTerms(penalty_per_kwh=0.05, grid_charge_per_kwh=grid_charge)
    endorsed = {e.account: (e.energy_wh, e.amount_micro) for e in entries}
    traders = {a: wh for a, (wh, m) in endorsed.items() if a in (*sellers.ids, *buyers.ids) and (wh, m) != (0, 0)}
    readings = {}
    for k, (a, wh) in enumerate(sorted(traders.items())):  # a meter on the cleared side, or 0 if nothing cleared
        dev = 0 if exact else deviations[k]
        readings[a] = max(0, wh + dev) if wh > 0 else min(0, wh + dev) if wh < 0 else 0
    doc = _input(entries, _document(r, sellers, buyers), readings, terms)
    seq = settle_sequence(doc, DOMAIN)
    posted = {p.address: (p.energy_wh, p.amount_micro) for p in seq.postings}
    assert sum(m for _, m in posted.values()) == 0 and sum(e for e, _ in posted.values()) == 0
    assert seq.auction is not None or not traders
    lines = {} if seq.auction is None else {ln.participant: ln for ln in seq.auction.lines}
    p = float(doc.price_per_kwh)
    penalties = 0
    for a, wh in traders.items():
        cleared = endorsed[a][1]
        dev_wh = readings[a] - wh
        if readings[a] == wh:  # exact meters: the endorsed entry, less the flat network charge's half
            assert posted[a] == (wh, cleared - lines[a].tariff_micro)
        else:  # the deviation at p, the penalty on |deviation| (independent of the code's integer rule)
            expected = cleared + p * dev_wh / 1000 * 1e6 - 0.05 * abs(dev_wh) / 1000 * 1e6 - lines[a].tariff_micro
            assert abs(posted[a][1] - expected) <= 1.5
            assert posted[a][0] == readings[a] or readings[a] == 0  # the rest went to the grid stage
        penalties += lines[a].credit_micro
    fund_wh, fund_micro = endorsed.get(FUND_LEAF, (0, 0))
    fit = money_to_micro(-fund_wh / 1000 * 0.015)  # DPDA's excess, sold by the fund at the feed-in tariff
    assert posted.get(FUND_LEAF, (0, 0)) == ((0, fund_micro + fit) if fund_micro + fit else (0, 0))
    if exact:
        tariffs = sum(ln.tariff_micro for ln in lines.values())
        assert posted[DSO][1] == endorsed.get(DSO, (0, 0))[1] + tariffs - fit and penalties == 0
        assert all(math.isclose(ln.energy_micro, abs(endorsed[a][1])) for a, ln in lines.items())


@pytest.mark.parametrize("name", ["settlement_input_v2_dpda.json", "settlement_input_v2_pay_as_bid.json"])
def test_an_archived_format_2_document_recomputes_to_its_archived_postings(name: str) -> None:
    # written by the service before format 3 (pay_as_bid: re-priced at the buyers' average price, 0.1911)
    archived = json.loads((ARCHIVES / name).read_text(encoding="utf-8"))
    assert archived["input"]["format"] == SEQUENCE_FORMAT_V2
    postings = [ResultEntry(p.address, p.energy_wh, p.amount_micro)
                for p in settlement_postings(archived["input"], DOMAIN)]
    assert postings == [ResultEntry.from_json(p) for p in archived["postings"]]
    assert "0x" + result_tree(int(archived["slot"]), postings).root.hex() == archived["resultRoot"]
