"""The alashery-2021 study: determinism, Table I's apparatus, and the mechanism's theorems on the study's data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.mechanisms.double_auction_vcg import DoubleAuctionParams, clear_double_auction_vcg
from transactive.settlement.fund import settle_auction
from transactive.sim.profiles import households
from transactive.studies import StudyError
from transactive.studies import alashery_peers as peers
from transactive.studies.alashery_2021 import (
    P2P,
    SCHEMES,
    StudyConfig,
    StudyResult,
    clear_hour,
    fund_balances,
    load_day,
    run_study,
)
from transactive.studies.alashery_claims import claims
from transactive.units import money_to_micro

HALF_MICRO = 0.5e-6


@pytest.fixture(scope="module")
def day() -> StudyResult:
    return run_study(StudyConfig(seed=11, days=1, profiles="synthetic"))


@pytest.fixture(scope="module")
def two_days_no_shares() -> StudyResult:
    return run_study(StudyConfig(seed=4, days=2, hours=24, share=0.0, profiles="synthetic"))


def test_same_seed_same_study_other_seed_other_study() -> None:
    a = run_study(StudyConfig(seed=2, hours=4, profiles="synthetic"))
    b = run_study(StudyConfig(seed=2, hours=4, profiles="synthetic"))
    c = run_study(StudyConfig(seed=3, hours=4, profiles="synthetic"))
    assert repr(a.hours) == repr(b.hours) and repr(a.prices) == repr(b.prices) and a.bids == b.bids
    assert repr(a.hours) != repr(c.hours)


def test_every_scheme_and_hour_has_one_row_per_share_setting(day: StudyResult) -> None:
    for scheme in SCHEMES:
        assert [r.hour for r in day.rows(scheme)] == list(range(24))
    for scheme in P2P:
        assert [r.hour for r in day.rows(scheme, 0.0)] == list(range(24))
    assert not day.rows("feed_in", 0.0)


def test_bids_follow_table_one(day: StudyResult) -> None:
    owners: dict[str, set[int]] = {}
    for _, hb in day.bids:
        for b in hb.bids:
            owners.setdefault(b.apparatus, set()).add(b.peer)
            assert b.energy_kwh > 0
    assert owners["G"] == set(peers.GEN_PEERS)
    assert owners["CL"] <= set(peers.CL_PEERS) and owners["PV"] <= set(peers.PV_PEERS)
    assert owners["ES"] == set(peers.ES_PEERS) and owners["EV"] <= set(peers.EV_PEERS)
    assert owners["PL"] == set(range(1, 21))
    for _, hb in day.bids:
        pl = {b.peer: b for b in hb.bids if b.apparatus == "PL"}
        assert {b.price_per_kwh for b in pl.values()} == {0.2}  # 2 × max(retail 0.1, wholesale)
        if hb.hour < 5:  # no sun: CL / PL is the drawn ratio, within [0.2, 0.8]
            for p in peers.CL_PEERS:
                cl = sum(b.energy_kwh for b in hb.bids if b.apparatus == "CL" and b.peer == p)
                assert 0.2 <= cl / pl[p].energy_kwh <= 0.8
    for p in peers.ES_PEERS:  # the arbitrage plan: 3 charging and 3 discharging hours
        assert sum(1 for _, hb in day.bids for b in hb.bids if b.peer == p and b.apparatus == "ES") == 6


def test_load_and_pv_are_on_the_hour_and_pv_is_dark_at_night() -> None:
    load, pv_per_kwp, source = load_day(3, 0, "synthetic")
    assert source == "synthetic" and load.shape == pv_per_kwp.shape == (20, 24)
    assert (load > 0).all() and (pv_per_kwp[:, :5] == 0).all() and pv_per_kwp[:, 12].min() > 0


def test_the_three_pricing_rules_clear_the_same_energy(day: StudyResult) -> None:
    for u, v, b in zip(*(day.rows(p) for p in P2P), strict=True):
        assert u.auction_kwh == v.auction_kwh == b.auction_kwh and u.cleared_kwh == v.cleared_kwh == b.cleared_kwh
        assert u.cleared_kwh <= u.requested_kwh + 1e-9


def test_wholesale_surplus_is_the_fee_per_kwh(day: StudyResult) -> None:
    for r in day.rows("wholesale"):
        if r.auction_kwh > 1:
            assert r.surplus_per_kwh == pytest.approx(0.025, rel=1e-4)


@pytest.mark.parametrize("share", [0.0, 0.01])
def test_vcg_welfare_at_least_bb_welfare_every_hour(day: StudyResult, share: float) -> None:
    for v, b in zip(day.rows("vcg", share), day.rows("balanced_budget", share), strict=True):
        assert v.welfare >= b.welfare - 1e-9


def test_zero_shares_bb_never_in_deficit_and_uniform_balances_to_the_micro_token(day: StudyResult) -> None:
    assert all(r.surplus >= -HALF_MICRO for r in day.rows("balanced_budget", 0.0))
    assert all(money_to_micro(r.surplus) == 0 for r in day.rows("uniform", 0.0))


def test_with_shares_uniform_surplus_is_minus_the_rewards(day: StudyResult) -> None:
    for r in day.rows("uniform"):
        assert money_to_micro(r.budget) == 0
        assert r.surplus == pytest.approx(-2 * r.reward_each, abs=1e-9)


def test_individual_rationality_at_zero_shares_recomputed_from_the_bids(day: StudyResult) -> None:
    """Each participant's receipt >= its cleared blocks' cost and payment <= their value, recomputed from the
    bids; the study's ``ir_violations`` counts the same thing."""
    for _, hb in day.bids:
        sellers, buyers = hb.orders("sell"), hb.orders("buy")
        for pricing in ("vcg", "balanced_budget"):
            r = clear_double_auction_vcg(sellers, buyers, DoubleAuctionParams(pricing=pricing))  # type: ignore[arg-type]
            s_blocks = np.asarray(r.details["seller_block_energy_kwh"])
            d_blocks = np.asarray(r.details["buyer_block_energy_kwh"])
            cost = sellers.per_participant(s_blocks * sellers.price_per_kwh)
            value = buyers.per_participant(d_blocks * buyers.price_per_kwh)
            assert (r.sellers.payment >= cost - HALF_MICRO).all() and (r.buyers.payment <= value + HALF_MICRO).all()
            row = next(x for x in day.rows(pricing, 0.0) if x.hour == hb.hour)
            assert row.ir_violations == 0


def test_claims_that_are_theorems_hold_at_zero_shares(two_days_no_shares: StudyResult) -> None:
    verdict = {c.key: c.holds for c in claims(two_days_no_shares)}
    for key in ("vcg_welfare_ge_bb", "bb_never_deficit", "uniform_budget_zero", "individually_rational",
                "uniform_best_unless_vcg_deficit"):
        assert verdict[key] is True, key


def test_claim_verdicts_match_the_rows(day: StudyResult) -> None:
    verdict = {c.key: c.holds for c in claims(day)}
    assert verdict["bb_never_deficit"] == all(r.surplus >= -HALF_MICRO for r in day.rows("balanced_budget"))
    rows = [r for share in (0.0, 0.01) for p in ("vcg", "balanced_budget") for r in day.rows(p, share)]
    assert verdict["individually_rational"] == (sum(r.ir_violations for r in rows) == 0)
    assert verdict["vcg_daily_surplus"] == (sum(r.surplus for r in day.rows("vcg")) > 0)


def test_fund_accumulates_vcg_and_never_goes_negative_with_the_bb_fallback(two_days_no_shares: StudyResult) -> None:
    plain, backed, used = fund_balances(two_days_no_shares)
    vcg = two_days_no_shares.rows("vcg")
    # at zero shares VCG is individually rational, so the unbounded fund takes every surplus and deficit (to the
    # micro-token: each hour's side totals are rounded once)
    assert plain == pytest.approx(np.cumsum([r.surplus for r in vcg]).tolist(), abs=1e-6 * len(vcg))
    assert min(backed) >= 0  # the fund pays only what it holds; BB never runs a deficit
    assert len(used) == 48 and set(used) <= {"vcg", "balanced_budget"}
    assert "balanced_budget" in used  # the data has hours the fund cannot cover


def test_the_studys_fund_is_the_platforms_fund_rule() -> None:
    """Issue 10: the study's fund is settlement/fund.py's rule, recomputed here hour by hour from the bids
    (the VCG clearing at the study's shares, ``settle_auction`` with the fund's balance so far)."""
    config = StudyConfig(seed=5, days=1, hours=8, profiles="synthetic")
    result = run_study(config)
    ppm = round(config.share * 1_000_000)
    balance = 0
    assert [(f.day, f.hour) for f in result.fund] == [(d, hb.hour) for d, hb in result.bids]
    for (_, hb), f, row in zip(result.bids, result.fund, result.rows("vcg"), strict=True):
        sellers, buyers = hb.orders("sell"), hb.orders("buy")
        r = clear_double_auction_vcg(sellers, buyers, DoubleAuctionParams(
            pricing="vcg", auctioneer_share=config.share, miner_share=config.share))
        free = settle_auction(r, sellers, buyers, sellers.ids, buyers.ids, ppm=(ppm, ppm))
        held = settle_auction(r, sellers, buyers, sellers.ids, buyers.ids, fund_micro=balance, ppm=(ppm, ppm))
        assert free.stage is not None and held.stage is not None
        balance += held.stage.fund_micro
        assert (f.unbounded_micro, f.balance_micro, f.rule) == (
            free.stage.fund_micro, balance, held.policy_applied or "vcg")
        assert f.balance_micro >= 0
        if free.policy_applied is None:  # settled as cleared: the mechanism's own surplus, in micro-tokens
            assert abs(f.unbounded_micro - row.surplus * 1e6) <= 3  # two sides rounded, two rewards floored
        else:  # the rule re-prices an hour only where VCG (with rewards) was not individually rational
            assert row.ir_violations > 0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"days": 0}, "days"), ({"hours": 25}, "hours"), ({"seed": -1}, "seed"), ({"share": 0.6}, "share"),
    ({"profiles": "gecad"}, "profiles"), ({"days": True}, "days"),
])
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(StudyError) as info:
        StudyConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_simbench_requested_but_missing_names_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    from transactive.sim import simbench_profiles

    def missing() -> None:
        raise simbench_profiles.SimbenchUnavailable("not installed")

    monkeypatch.setattr(simbench_profiles, "load_simbench_frames", missing)
    with pytest.raises(StudyError) as info:
        load_day(1, 0, "simbench")
    assert info.value.field == "profiles"
    assert load_day(1, 0, "auto")[2] == "synthetic"


def test_simbench_profiles_are_used_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SimBench-shaped frames (constant load, a PV ramp by quarter hour) the study takes its load and PV
    per kWp from them: each hour is the mean of its four quarter hours."""
    from transactive.sim import simbench_profiles as sb

    quarters = 366 * 96
    ramp = np.tile(np.arange(96) / 96.0, 366)
    frames = ({p: np.ones(quarters) for p in sb.LOAD_PROFILES}, {p: ramp.copy() for p in sb.PV_PROFILES})
    monkeypatch.setattr(sb, "load_simbench_frames", lambda: frames)
    load, pv_per_kwp, source = load_day(1, 0, "auto")
    assert source == "simbench" and load.shape == (20, 24)
    hourly = np.arange(96).reshape(24, 4).mean(axis=1) / 96.0
    assert pv_per_kwp == pytest.approx(np.tile(hourly, (20, 1)))
    scale, _ = households(20, 1, 1.0)
    assert load[:, 5] == pytest.approx(sb.ANNUAL_MEAN_KW * scale)


@pytest.mark.parametrize("share", [0.0, 0.01])
def test_pricing_only_moves_money_total_welfare_is_the_same_under_every_rule(day: StudyResult, share: float) -> None:
    """Participants' welfare + the market's surplus + both rewards = the allocation's welfare (+ the tariff
    trades of the rest), whatever the pricing rule: payments are transfers."""
    for u, v, b in zip(*(day.rows(p, share) for p in P2P), strict=True):
        totals = [r.welfare + r.surplus + 2 * r.reward_each for r in (u, v, b)]
        assert totals == pytest.approx([totals[0]] * 3, abs=1e-6)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), day=st.integers(0, 400))
def test_theorems_hold_for_any_seed_at_zero_shares(seed: int, day: int) -> None:
    config = StudyConfig(seed=seed, days=1, hours=24, share=0.0, profiles="synthetic")
    fleet = peers.draw_fleet(seed)
    load, pv_per_kwp, _ = load_day(seed, day, "synthetic")
    bids = peers.day_bids(fleet, load, pv_per_kwp, peers.wholesale_prices(seed, day), seed=seed, day=day)
    for hb in bids[::6]:
        rows, _ = clear_hour(day, hb, config.share, config.tariff)
        by = {r.scheme: r for r in rows}
        assert by["vcg"].welfare >= by["balanced_budget"].welfare - 1e-9
        assert by["balanced_budget"].surplus >= -HALF_MICRO
        assert money_to_micro(by["uniform"].surplus) == 0
        assert by["vcg"].surplus <= HALF_MICRO  # VCG's budget is <= 0 in a one-good market (docs/studies.md)
        assert by["vcg"].ir_violations == by["balanced_budget"].ir_violations == 0
