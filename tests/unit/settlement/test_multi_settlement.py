"""Multi-settlement of one slot: bilateral -> listings -> community auction -> main grid (seed 001)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.encoding import to_checksum_address
from transactive.errors import MarketError
from transactive.settlement.bilateral import BilateralContract
from transactive.settlement.grid_trading import GridTariff
from transactive.settlement.listings import Board, Listing, ListingOrder, ServiceRates
from transactive.settlement.stages import STAGES, Prosumer, settle_slot

PEERS = [to_checksum_address(bytes([k + 1]) * 20) for k in range(8)]
A, B, C, D = PEERS[:4]


def _money(s: object, peer: str, stage: str) -> int:
    return s.statement(peer).stages[stage].money_micro  # type: ignore[attr-defined, no-any-return]


def test_seed_001_grid_options_hand_computed() -> None:
    # two surplus peers, nobody to buy locally: everything goes to the grid
    prosumers = [Prosumer("pv1", 4.0), Prosumer("pv2", 2.0)]
    s = settle_slot(0, prosumers)
    # feed-in tariff 0.015 per kWh: 0.06 and 0.03 tokens
    assert [_money(s, p, "grid") for p in ("pv1", "pv2")] == [60_000, 30_000]
    assert s.accounts["grid"] == -90_000 and s.balance_micro == 0
    # wholesale at 0.05 through the auctioneer: sells net 0.05 - 0.025 = 0.025 per kWh
    s = settle_slot(0, prosumers, wholesale_price_per_kwh=0.05)
    assert [_money(s, p, "grid") for p in ("pv1", "pv2")] == [100_000, 50_000]
    # seed 001 Table II: the wholesale surplus is 0.025 $/kWh of cleared energy
    assert s.accounts["auctioneer"] / 1e6 / 6.0 == pytest.approx(0.025)
    assert s.accounts["grid"] == -300_000  # the wholesale market paid 0.05 * 6
    # a deficit peer alone buys at retail 0.1
    s = settle_slot(0, [Prosumer("home", -2.5)])
    assert _money(s, "home", "grid") == -250_000 and s.accounts["grid"] == 250_000


def test_auction_before_grid_hand_computed() -> None:
    # pv asks its grid alternative 0.015, ev bids its grid alternative 0.1; uniform trades 3 kWh at the
    # midpoint 0.0575 (0.1725 tokens); pv's last 2 kWh go to the grid at 0.015 (0.03)
    s = settle_slot(0, [Prosumer("pv", 5.0), Prosumer("ev", -3.0)], mechanism="uniform")
    assert s.statement("pv").stages["auction"].sold_wh == 3000
    got = (_money(s, "pv", "auction"), _money(s, "pv", "grid"), _money(s, "ev", "auction"))
    assert got == (172_500, 30_000, -172_500)
    assert s.statement("ev").stages["grid"].bought_wh == 0
    # both are better off than with the grid alone (0.075 received, 0.3 paid)
    assert s.statement("pv").money_micro > 75_000 and s.statement("ev").money_micro > -300_000


def test_all_four_stages_hand_computed() -> None:
    contract = BilateralContract("k", A, B, (5,), 1.0, 0.08)
    board = (
        Board().list(Listing("L", A, 5, 2.0, 0.06)).place(ListingOrder("o", "L", C, 2.0)).review(lambda t: ())
    )
    prosumers = [Prosumer(A, 2.5), Prosumer(B, -0.5), Prosumer(C, -3.0), Prosumer(D, 1.0)]
    s = settle_slot(5, prosumers, contracts=[contract], board=board, mechanism="uniform",
                    rates=ServiceRates(service_charge_per_kwh=0.004, penalty_per_kwh=0.05))
    # bilateral: A sells B 1 kWh at 0.08 -> A has 1.5 kWh left, B now has 0.5 kWh surplus
    assert _money(s, A, "bilateral") == 80_000 and _money(s, B, "bilateral") == -80_000
    # listing: A can deliver only 1.5 of the 2 kWh ordered: 0.09 - 0.003 charge - 0.025 penalty
    assert s.statement(A).stages["listings"].sold_wh == 1500
    assert _money(s, A, "listings") == 62_000 and _money(s, C, "listings") == -93_000
    assert s.accounts["board"] == 6_000 and s.accounts["dso"] == 25_000
    # auction: B 0.5 and D 1.0 kWh at 0.015, C bids 1.5 kWh at 0.1 -> uniform 0.0575
    assert [_money(s, p, "auction") for p in (B, D, C)] == [28_750, 57_500, -86_250]
    assert all(st_.stages["grid"].sold_wh == st_.stages["grid"].bought_wh == 0 for st_ in s.statements)
    assert s.balance_micro == 0
    assert {item.state.value for item in s.board.listings} == {"CLOSE"}


def test_errors_name_the_field() -> None:
    with pytest.raises(MarketError) as err:
        settle_slot(0, [Prosumer("a", 1.0), Prosumer("a", -1.0)])
    assert err.value.field == "prosumers[1].peer"
    with pytest.raises(MarketError) as err:
        settle_slot(0, [Prosumer("a", float("nan"))])
    assert err.value.field == "prosumers[0].net_kwh"
    with pytest.raises(MarketError) as err:
        settle_slot(0, [Prosumer("a", 1.0), Prosumer("b", -1.0)], mechanism="nope")
    assert err.value.field == "mechanism"
    with pytest.raises(MarketError) as err:
        settle_slot(0, [Prosumer("a", 1.0), Prosumer("b", -1.0)], mechanism="knapsack_vcg")
    assert err.value.field == "mechanism"
    with pytest.raises(MarketError) as err:
        settle_slot(0, [Prosumer(A, 1.0)], contracts=[BilateralContract("k", A, B, (0,), 1.0, 0.1)])
    assert err.value.field == "contracts[0].buyer"


MECHANISMS = ["dpda", "uniform", "mcafee", "pay_as_bid", "double_auction_vcg", "p2p_average_price"]


@st.composite
def _slots(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 6))
    peers = PEERS[:n]
    prosumers = [
        Prosumer(p, draw(st.integers(-8000, 8000)) / 1000,
                 draw(st.one_of(st.none(), st.floats(0.0, 0.2).map(lambda x: round(x, 4)))))
        for p in peers
    ]
    contracts = []
    board = Board()
    if n >= 2:
        for k in range(draw(st.integers(0, 3))):
            i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            contracts.append(BilateralContract(
                f"k{k}", peers[i], peers[j], (0,), draw(st.integers(1, 4000)) / 1000, draw(st.integers(0, 150)) / 1000))
        for k in range(draw(st.integers(0, 3))):
            i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            e = draw(st.integers(1, 4000)) / 1000
            board = board.list(Listing(f"L{k}", peers[i], 0, e, draw(st.integers(0, 150)) / 1000))
            board = board.place(ListingOrder(f"o{k}", f"L{k}", peers[j], e))
        board = board.review(lambda trades: ("rejected",) if draw(st.booleans()) else ())
    return {
        "prosumers": prosumers, "contracts": contracts, "board": board,
        "mechanism": draw(st.sampled_from(MECHANISMS)),
        "wholesale_price_per_kwh": draw(st.one_of(st.none(), st.floats(-0.02, 0.2))),
    }


@settings(max_examples=120, deadline=None)
@given(_slots())
def test_residuals_zero_money_conserved_deterministic(case: dict[str, object]) -> None:
    s = settle_slot(0, **case)  # type: ignore[arg-type]
    for statement in s.statements:  # every residual is balanced after the grid stage
        assert statement.traded_wh == statement.net_wh
        for line in statement.stages.values():
            assert line.sold_wh >= 0 and line.bought_wh >= 0
    excess_wh = 0 if s.fund_grid_trade is None else s.fund_grid_trade.energy_wh  # DPDA's, the fund's
    for stage in ("bilateral", "listings", "auction"):
        sold = sum(x.stages[stage].sold_wh for x in s.statements)
        assert sold == sum(x.stages[stage].bought_wh for x in s.statements) + (excess_wh if stage == "auction" else 0)
    assert s.auction_lines()["fund"][0] == -excess_wh
    grid_net = sum(x.stages["grid"].sold_wh - x.stages["grid"].bought_wh for x in s.statements)
    assert grid_net == sum(g.energy_wh for g in s.grid_trades)
    assert s.balance_micro == 0
    again = settle_slot(0, **case)  # type: ignore[arg-type]
    assert [(x.peer, dict(x.stages)) for x in again.statements] == [(x.peer, dict(x.stages)) for x in s.statements]
    assert dict(again.accounts) == dict(s.accounts)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-8000, 8000), min_size=1, max_size=7), st.one_of(st.none(), st.floats(0.0, 0.2)))
def test_uniform_auction_never_worse_than_the_grid(net_wh: list[int], wholesale: float | None) -> None:
    tariff = GridTariff()
    s = settle_slot(0, [Prosumer(f"p{k}", w / 1000) for k, w in enumerate(net_wh)], mechanism="uniform",
                    wholesale_price_per_kwh=wholesale)
    for x in s.statements:
        line = x.stages["auction"]
        if line.sold_wh:
            assert line.money_micro >= tariff.sell_alternative_per_kwh(wholesale) * line.sold_wh * 1000 - 1
        if line.bought_wh:
            assert -line.money_micro <= tariff.buy_alternative_per_kwh(wholesale) * line.bought_wh * 1000 + 1
    assert set(STAGES) == set(s.statements[0].stages)


def test_dpda_scenario_10_fixture_settles_the_clearing_and_the_fund_sells_the_excess() -> None:
    # SEED-NOTES §4, scenario 10: Case 3, p0 = 20.5, E'(S) [0, 6, 0, 21, 0, 0, 0, 51], buyers 1 and 9 (45 + 27).
    # DPDA's clipping leaves 78 kWh sold against 72 bought: settled as cleared (SEED-NOTES §8), the 6 kWh
    # excess taken by the fund and sold to the grid at the feed-in tariff.
    sellers = dict(zip(["3", "14", "11", "2", "13", "6", "15", "4"], [30, 25, 18, 40, 50, 21, 14, 70], strict=True))
    s_price = [20, 10, 16, 5, 18, 25, 7, 2]
    buyers = dict(zip(["16", "1", "10", "9", "5", "8", "12"], [30, 45, 13, 27, 18, 39, 96], strict=True))
    b_price = [15, 28, 6, 30, 8, 15, 23]
    prosumers = [Prosumer(f"s{k}", e, p) for (k, e), p in zip(sellers.items(), s_price, strict=True)]
    prosumers += [Prosumer(f"b{k}", -e, p) for (k, e), p in zip(buyers.items(), b_price, strict=True)]
    s = settle_slot(0, prosumers, mechanism="dpda")
    assert s.auction is not None and s.auction.price_per_kwh == pytest.approx(20.5)
    sold = {x.peer: x.stages["auction"].sold_wh for x in s.statements if x.peer.startswith("s")}
    assert sold == {"s3": 0, "s14": 6000, "s11": 0, "s2": 21000, "s13": 0, "s6": 0, "s15": 0, "s4": 51000}
    bought = {x.peer: x.stages["auction"].bought_wh for x in s.statements if x.peer.startswith("b")}
    assert bought == {"b16": 0, "b1": 45000, "b10": 0, "b9": 27000, "b5": 0, "b8": 0, "b12": 0}
    # everyone at p0 for what it cleared: 20.5 * 6 = 123 tokens, ...; buyers 922.5 and 553.5
    assert [_money(s, p, "auction") for p in ("s14", "s2", "s4", "b1", "b9")] == [
        123_000_000, 430_500_000, 1_045_500_000, -922_500_000, -553_500_000]
    assert s.accounts["auctioneer"] == 0
    # the fund pays the excess at p0 (123 tokens) and sells its 6 kWh at 0.015 (0.09 tokens)
    assert s.fund_grid_trade is not None and (s.fund_grid_trade.energy_wh, s.fund_grid_trade.money_micro) == (
        6000, 90_000)
    assert s.accounts["fund"] == -123_000_000 + 90_000
    # the rest: s14 sells 25 - 6 = 19 kWh to the grid at 0.015; b12 buys its 96 kWh at 0.1
    assert s.statement("s14").stages["grid"].sold_wh == 19_000 and _money(s, "s14", "grid") == 285_000
    assert _money(s, "b12", "grid") == -9_600_000
    assert s.balance_micro == 0


def _grid_prosumer(peer: str, net_kwh: float, bus: str) -> Prosumer:
    return Prosumer(peer, net_kwh, None, {"bus": bus, "distance_pref_m": 200.0, "a": 0.0005, "b": 0.01, "c": 0.0,
                                          "omega": 0.2, "alpha": 0.02})


def test_a_grid_aware_auction_needs_attributes_and_pays_the_dso_its_charges() -> None:
    from transactive.grid.feeder import load_feeder
    from transactive.settlement.stages import RewardRates

    buses = load_feeder().load_buses
    with pytest.raises(MarketError) as err:  # without attributes the grid-aware mechanism cannot run
        settle_slot(0, [Prosumer("a", 2.0), Prosumer("b", -1.0)], mechanism="dpda_matched")
    assert err.value.field == "mechanism"
    prosumers = [_grid_prosumer("s1", 2.0, buses[0]), _grid_prosumer("s2", 1.5, buses[30]),
                 _grid_prosumer("b1", -1.0, buses[10]), _grid_prosumer("b2", -1.2, buses[50])]
    s = settle_slot(0, prosumers, mechanism="dpda_matched", rewards=RewardRates(10_000, 10_000))
    assert s.auction is not None
    trades = s.auction.details["trades"]
    # the DSO's income is the trades' charges C_d x d_km (0.002 tokens/km) rounded once per slot
    assert s.grid_charge_micro == round(sum(0.002 * t["distance_m"] / 1000 for t in trades) * 1e6) > 0
    assert s.accounts["dso"] == s.grid_charge_micro  # no listings: all of the DSO's money is grid charges
    # DPDA has no reward term (seed 001's rewards are VCG's): no reward whatever the slot's shares
    assert s.accounts["auctioneer_reward"] == s.accounts["miner_reward"] == 0
    assert s.accounts["auctioneer"] == 0 and s.balance_micro == 0
    sold = sum(x.stages["auction"].sold_wh for x in s.statements)
    # DPDA (SEED-NOTES §4): every bid (0.1) is above every ask (0.015), x = y = 2, no S_3 / B_3 so not
    # McAfee's case 1; Σ^{x-1} E(B) = 1.0 <= Σ^{y-1} E(S) = 2.0: Case 3, s1 sells b1 its 1 kWh
    assert sold == sum(x.stages["auction"].bought_wh for x in s.statements) == 1000
    assert s.statement("s1").stages["auction"].sold_wh == s.statement("b1").stages["auction"].bought_wh == 1000
