"""The one definition of an auction's integer outcome (``settlement/auction_entries``): the statements' auction
stage (``settle_slot``) and the validators' endorsed entries (``commitments.result_entries`` +
``settle_entries``) are the same numbers, DPDA's unequal sides are cut once, rewards come from the sellers."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from transactive.ledger.messages.commitments import RewardShares, result_entries, settle_entries
from transactive.mechanisms.dpda import DpdaParams, clear_dpda
from transactive.orders import Orders
from transactive.settlement.auction_entries import auction_entries, rebalance_credits, settled_energy_wh
from transactive.settlement.stages import Prosumer, RewardRates, settle_slot
from transactive.units import energy_to_wh

SELLERS = dict(zip(["3", "14", "11", "2", "13", "6", "15", "4"], [30, 25, 18, 40, 50, 21, 14, 70], strict=True))
S_PRICE = [20, 10, 16, 5, 18, 25, 7, 2]
BUYERS = dict(zip(["16", "1", "10", "9", "5", "8", "12"], [30, 45, 13, 27, 18, 39, 96], strict=True))
B_PRICE = [15, 28, 6, 30, 8, 15, 23]


def _addr(k: int) -> str:
    return "0x" + f"{k + 1:040x}"


def test_dpda_scenario_10_cut_once_for_both_paths() -> None:
    # SEED-NOTES §4 scenario 10: E'(S) [0, 6, 0, 21, 0, 0, 0, 51] (78 kWh) against buyers 1 and 9 (72 kWh):
    # the sellers are cut to 72 kWh by apportion over 6000 : 21000 : 51000 Wh -> [5538, 19385, 47077].
    sellers = Orders.single(list(SELLERS), list(SELLERS.values()), S_PRICE)
    buyers = Orders.single(list(BUYERS), list(BUYERS.values()), B_PRICE)
    result = clear_dpda(sellers, buyers, DpdaParams())
    sold, bought = settled_energy_wh(result)
    assert sold == [0, 5538, 0, 19385, 0, 0, 0, 47077] and bought == [0, 45000, 0, 27000, 0, 0, 0]
    rows = {a: (e, m) for a, e, m in auction_entries(result, list(SELLERS), list(BUYERS))}
    assert rows["14"] == (5538, 113_529_000) and rows["2"] == (19385, 397_392_500)  # p0 = 20.5 per kWh settled
    assert rows["4"] == (47077, 965_078_500) and rows["1"] == (-45000, -922_500_000)
    assert sum(e for e, _ in rows.values()) == 0 and sum(m for _, m in rows.values()) == 0
    # the ledger's entries (participants as addresses) are the same integers, in the same order
    ids = {pid: _addr(k) for k, pid in enumerate([*SELLERS, *BUYERS])}
    as_addr = result_entries(
        result,
        Orders.single([ids[p] for p in SELLERS], list(SELLERS.values()), S_PRICE),
        Orders.single([ids[p] for p in BUYERS], list(BUYERS.values()), B_PRICE),
    )
    assert [(e.energy_wh, e.amount_micro) for e in as_addr] == [rows[p] for p in [*SELLERS, *BUYERS]]


def test_rebalance_takes_the_rewards_from_the_sellers() -> None:
    # the docs' example: a buyer pays 300,000 µ at 1 % + 1 %: the seller keeps 294,000, 3,000 each reward
    assert rebalance_credits([300_000, -300_000], auctioneer_ppm=10_000, miner_ppm=10_000) == (
        [294_000, -300_000], 3_000, 3_000)
    # a kept DSO fee is not shared: D = 1,000,001, G = 11, rewards floor(10,000.01) = 10,000 each, so the
    # sellers share 1,000,001 - 20,000 - 11 = 979,990 in proportion 3 : 2 -> 587,994 and 391,996
    amounts, ra, rm = rebalance_credits([600_000, 400_000, 11, -1_000_001], kept={2},
                                        auctioneer_ppm=10_000, miner_ppm=10_000)
    assert (ra, rm) == (10_000, 10_000) and amounts == [587_994, 391_996, 11, -1_000_001]
    with pytest.raises(ValueError, match="no account is credited"):
        rebalance_credits([0, -5])


@st.composite
def _slot(draw: st.DrawFn) -> list[Prosumer]:
    n = draw(st.integers(2, 9))
    return [Prosumer(_addr(k), draw(st.integers(-6000, 6000)) / 1000,
                     draw(st.one_of(st.none(), st.integers(0, 200_000).map(lambda x: x / 1e6)))) for k in range(n)]


@settings(max_examples=80, deadline=None)
@given(_slot(), st.sampled_from(["dpda", "mcafee", "uniform", "pay_as_bid"]),
       st.integers(0, 50_000), st.integers(0, 50_000))
def test_the_statements_auction_stage_is_the_endorsed_entries(
    prosumers: list[Prosumer], mechanism: str, ppm_a: int, ppm_m: int
) -> None:
    try:
        s = settle_slot(0, prosumers, mechanism=mechanism, rewards=RewardRates(ppm_a, ppm_m))
    except ValueError:  # buyers pay and no seller is credited: the ledger refuses such a slot too
        return
    lines = s.auction_lines()
    if s.auction is None:
        assert all(v == (0, 0) for v in lines.values())
        return
    # the validators' path on the same clearing: raw entries, then rebalanced with the slot's shares
    ids = [p.peer for p in prosumers]
    sellers = [p.peer for p in prosumers if energy_to_wh(p.net_kwh) > 0]  # no contracts or listings here
    buyers = [p.peer for p in prosumers if energy_to_wh(p.net_kwh) < 0]
    one = Orders.single(sellers, [1.0] * len(sellers), [0.0] * len(sellers))  # only the ids matter here
    other = Orders.single(buyers, [1.0] * len(buyers), [0.0] * len(buyers))
    entries = settle_entries(result_entries(s.auction, one, other), RewardShares(ppm_a, ppm_m))
    endorsed = {e.account.lower(): (e.energy_wh, e.amount_micro) for e in entries}
    assert {p.lower(): v for p, v in lines.items() if p.startswith("0x")} == {
        p.lower(): endorsed.get(p.lower(), (0, 0)) for p in ids}
    debits = -sum(m for e, m in endorsed.values() if m < 0)
    assert lines["auctioneer_reward"][1] == debits * ppm_a // 1_000_000
    assert lines["miner_reward"][1] == debits * ppm_m // 1_000_000
    assert lines["auctioneer"] == (0, 0)  # the surplus is the sellers' (rule 4), nothing left over
    assert sum(e for e, _ in lines.values()) == 0 and sum(m for _, m in lines.values()) == 0
