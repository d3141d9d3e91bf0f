"""One community over three slots and a demand-response event, run by the market cycle alone on a stepped
(accelerated) clock, real SQLite and the embedded chain: a bilateral contract, a listing with a DSO-accepted
order and a short delivery, auction orders, meter readings, a negawatt event with a shortfall. Each slot is
settled once, on chain, through bilateral -> listings -> auction against the meters -> grid; every member's
token balance is its start plus its statements and its event postings; the DSO's balance rose by its grid
charges, penalties, imbalance, service charges and grid energy; the supply is conserved; the audit is clean;
manual settlements afterwards change nothing, and a manual settlement racing the cycle settles once (a slot
through the desk, an event through its aggregator after the grace time); without a chain the cycle stores the
desk's off-chain settlement at the deadline."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.api.app import Service
from transactive.cli import main
from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer, new_private_key
from transactive.ledger.audit.audit import verify_archive
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.market.multi_signing import sign_address, sign_contract
from transactive.settlement.metering import SettledTrade, settle
from transactive.settlement.slot_settlement import trades_of

ADMIN = "tk_admin_cycle_tests"
C = "/communities/green"
A, B, CC = "2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z"
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
M = 10**6
MEMBERS = ("s1", "s2", "b1", "b2", "agg", "grid")


@dataclass
class Svc:
    client: TestClient
    clock: ManualClock
    service: Service
    keys: dict[str, dict[str, str]]

    @property
    def desk(self) -> LedgerDesk:
        assert self.service.ledger is not None
        return self.service.ledger

    def post(self, path: str, who: str, body: Any = None, status: int | None = None) -> Any:
        r = self.client.post(path, json=body, headers=self.keys[who])
        if status is not None:
            assert r.status_code == status, r.text
        return r.json()

    def get(self, path: str, who: str) -> Any:
        r = self.client.get(path, headers=self.keys[who])
        assert r.status_code == 200, r.text
        return r.json()

    def run_until(self, moment: datetime) -> None:
        """The cycle alone: one tick per market minute up to ``moment``."""
        while self.clock.now() < moment:
            self.clock.advance(timedelta(minutes=1))
            self.service.cycle.tick()

    def balances(self) -> dict[str, int]:
        return {m: self.get(f"{C}/account", m)["balance_micro"] for m in MEMBERS}


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    clock = ManualClock(START)
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path)))
    with TestClient(app) as client:
        s = Svc(client, clock, app.state.service, {"admin": {"Authorization": f"Bearer {ADMIN}"}})
        s.post("/admin/communities", "admin", {"name": "green", "mechanism": "dpda", "slot_minutes": 15}, 201)
        for name, role in [("s1", "prosumer"), ("s2", "prosumer"), ("b1", "prosumer"), ("b2", "prosumer"),
                           ("agg", "aggregator"), ("grid", "dso")]:
            key = s.post("/admin/communities/green/members", "admin", {"id": name, "role": role, "bus": "34"},
                         201)["api_key"]
            s.keys[name] = {"Authorization": f"Bearer {key}"}
        yield s
    # the audit, clean (service stopped) ...
    assert verify_archive(tmp_path) is None
    assert main(["ledger", "verify", str(tmp_path)]) == 0  # ... and the command: transactive ledger verify DATA_DIR


def _contract(svc: Svc, slots: list[str]) -> None:
    """s1 sells b1 1 kWh per slot at 0.08, both signing with their own keys in the chain's domain."""
    domain = Domain.from_dict(svc.get(f"{C}/signing", "s1")["domain"])
    assert domain.chain_id == svc.desk.chain.chain_id and domain.verifying_contract == svc.desk.slots.address
    keys = {m: new_private_key() for m in ("s1", "b1")}
    for m, key in keys.items():
        svc.post(f"{C}/addresses", m, {"address": Signer(key).address,
                                       "signature": sign_address(key, "green", m, domain)}, 201)
    seller, buyer = Signer(keys["s1"]).address, Signer(keys["b1"]).address
    terms = {"slot_starts": slots, "energy_kwh_per_slot": 1.0, "price_per_kwh": 0.08, "nonce": 0}
    svc.post(f"{C}/bilateral-contracts", "s1", {"id": "k1", "seller": "s1", "buyer": "b1", **terms,
                                                "signature": sign_contract(keys["s1"], terms, seller, buyer, domain)},
             201)
    svc.post(f"{C}/bilateral-contracts/k1/sign", "b1",
             {"signature": sign_contract(keys["b1"], terms, seller, buyer, domain)}, 200)


def _order(svc: Svc, who: str, slot: str, side: str, kwh: float, *, price: float) -> None:
    svc.post(f"{C}/orders", who, {"side": side, "slot_start": slot, "idempotency_key": f"{slot}-{who}",
                                  "energy_kwh": kwh, "price_per_kwh": price}, 201)


def _reading(svc: Svc, who: str, slot: str, kwh: float) -> None:
    svc.post(f"{C}/meter-readings", who, {"slot_start": slot, "energy_kwh": kwh}, 201)


def _meter(event_hour_kwh: float) -> dict[str, Any]:
    day = [2.0] * 24
    today = [2.0] * 24
    today[11] = event_hour_kwh
    return {"history_kwh": [day] * 10, "event_day_kwh": today}


def _stages(svc: Svc, who: str) -> dict[str, dict[str, dict[str, int]]]:
    return {ln["slot_start"]: ln["stages"] for ln in svc.get(f"{C}/statements?member={who}", "admin")}


def test_the_cycle_alone_settles_every_stage_and_the_event_once_on_chain(svc: Svc) -> None:
    chain, desk = svc.desk.chain, svc.desk
    start = svc.balances()
    supply = chain.call(desk.token, "totalSupply")
    _contract(svc, [A, B])
    # slot A: auction orders of all four, and a listing of s2 that b2 orders from (the DSO accepts)
    for who, side, kwh, price in [("s1", "sell", 2, 0.10), ("s2", "sell", 1, 0.12), ("b1", "buy", 2, 0.2),
                                  ("b2", "buy", 1, 0.18)]:
        _order(svc, who, A, side, kwh, price=price)
    svc.post(f"{C}/listings", "s2", {"id": "L1", "slot_start": A, "energy_kwh": 1.5, "price_per_kwh": 0.09}, 201)
    svc.post(f"{C}/listings/L1/orders", "b2", {"id": "o1", "energy_kwh": 1.0}, 201)
    svc.post(f"{C}/listing-orders/o1/review", "grid", {"decision": "accept"}, 200)
    # slot B: the contract and an auction pair; slot C: a void auction (one side) and a listing with an
    # accepted order and a pending one (never reviewed: rejected at settlement)
    _order(svc, "s1", B, "sell", 0.5, price=0.1)
    _order(svc, "b2", B, "buy", 0.5, price=0.2)
    _order(svc, "s1", CC, "sell", 1.0, price=0.1)
    svc.post(f"{C}/listings", "s2", {"id": "L2", "slot_start": CC, "energy_kwh": 1.0, "price_per_kwh": 0.07}, 201)
    svc.post(f"{C}/listings/L2/orders", "b1", {"id": "o2", "energy_kwh": 0.5}, 201)
    svc.post(f"{C}/listings/L2/orders", "b2", {"id": "o3", "energy_kwh": 0.3}, 201)
    svc.post(f"{C}/listing-orders/o2/review", "grid", {"decision": "accept"}, 200)
    # the aggregator's event: 3 kWh over 11:00-12:00 at 0.3 (penalty 0.3), offers until 10:20
    svc.post(f"{C}/negawatt-events", "agg", {"id": "dr1", "target_kwh": 3, "price_per_kwh": 0.3,
                                             "offers_close": "2026-03-01T10:20:00Z",
                                             "window_start": "2026-03-01T11:00:00Z",
                                             "window_end": "2026-03-01T12:00:00Z"}, 201)
    svc.post(f"{C}/negawatt-events/dr1/offers", "s1", {"side": "sell", "energy_kwh": 2, "price_per_kwh": 0.1}, 201)
    svc.post(f"{C}/negawatt-events/dr1/offers", "b1", {"side": "sell", "energy_kwh": 2, "price_per_kwh": 0.15}, 201)

    svc.run_until(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
    assert svc.get(f"{C}/negawatt-events/dr1", "agg")["state"] == "CLEARED"  # cleared by the cycle at 10:20
    assert svc.get(f"{C}/slots/{A}/ledger", "s1")["clearing"]["state"] == "anchored"
    for who, kwh in [("s1", 2.5), ("b1", -2.8), ("s2", 0.6), ("b2", -2.0)]:
        _reading(svc, who, A, kwh)
    svc.run_until(datetime(2026, 3, 1, 10, 46, tzinfo=UTC))
    for who, kwh in [("s1", 1.2), ("b1", -1.0), ("b2", -0.5)]:
        _reading(svc, who, B, kwh)
    svc.run_until(datetime(2026, 3, 1, 11, 1, tzinfo=UTC))
    for who, kwh in [("s2", 0.5), ("b1", -0.5), ("s1", 1.0)]:
        _reading(svc, who, CC, kwh)
    svc.run_until(datetime(2026, 3, 1, 12, 1, tzinfo=UTC))
    svc.post(f"{C}/negawatt-events/dr1/deliveries", "s1", _meter(1.5), 201)  # delivered 0.5 of 2 sold
    svc.post(f"{C}/negawatt-events/dr1/deliveries", "b1", _meter(0.0), 201)  # delivered 2: 1 spare
    svc.run_until(datetime(2026, 3, 1, 12, 3, tzinfo=UTC))

    # every slot settled once, on chain, as one settlement slot (void C included)
    for slot in (A, B, CC):
        view = svc.get(f"{C}/slots/{slot}/ledger", "grid")
        assert view["settlement"]["state"] == "settled", (slot, view)
        assert set(view["settlement"]["txs"]) == {"open_and_commit", "submit_and_settle"}
    assert svc.get(f"{C}/slots/{CC}/ledger", "grid")["clearing"] is None  # void: nothing to anchor

    # slot A by hand: bilateral 1 kWh at 0.08; listing 0.6 of 1 kWh delivered at 0.09, service charge
    # 0.004/kWh split, s2 short 0.4 kWh at 0.05; the auction's clearing against the residual meters
    stages = {m: _stages(svc, m) for m in ("s1", "s2", "b1", "b2")}
    assert stages["s1"][A]["bilateral"] == {"sold_wh": 1000, "bought_wh": 0, "money_micro": 80_000}
    assert stages["b1"][A]["bilateral"] == {"sold_wh": 0, "bought_wh": 1000, "money_micro": -80_000}
    assert stages["s2"][A]["listings"] == {"sold_wh": 600, "bought_wh": 0, "money_micro": 54_000 - 1_200 - 20_000}
    assert stages["b2"][A]["listings"] == {"sold_wh": 0, "bought_wh": 600, "money_micro": -(54_000 + 1_200)}
    residual_kwh = {"s1": 1.5, "b1": 1.8, "s2": 0.0, "b2": 1.4}  # after bilateral and listings (magnitudes)
    result = svc.get(f"{C}/slots/{A}/result", "admin")["result"]
    trades = trades_of(result, 0.01)
    expected = settle(result["price_per_kwh"], [SettledTrade(t.buyer, t.seller, t.energy_kwh, t.charge)
                                                for t in trades],
                      {t.buyer: residual_kwh[t.buyer] for t in trades},
                      {t.seller: residual_kwh[t.seller] for t in trades}, penalty_per_kwh=0.05)
    for line in expected.lines:
        got = stages[line.participant][A]["auction"]
        assert got["money_micro"] == (line.amount_micro if line.side == "seller" else -line.amount_micro)
    traded = {ln.participant for ln in expected.lines}
    grid_a = {m: stages[m][A]["grid"] for m in stages if A in stages[m]}
    if "b2" not in traded:  # b2's 1.4 kWh left after the listing is bought from the grid at retail
        assert grid_a["b2"] == {"sold_wh": 0, "bought_wh": 1400, "money_micro": -140_000}
    # slot C: only the accepted order delivers; the pending one was rejected; s1's void auction order is nothing
    assert stages["b1"][CC]["listings"] == {"sold_wh": 0, "bought_wh": 500, "money_micro": -(35_000 + 1_000)}
    assert CC not in stages["b2"]
    orders = {o["id"]: o for o in svc.get(f"{C}/listing-orders", "grid")}
    assert orders["o3"]["state"] == "rejected" and orders["o1"]["state"] == "accepted"
    assert {item["state"] for item in svc.get(f"{C}/listings", "s2")} == {"CLOSE"}

    # the event: cleared, verified, secondary market, penalty; postings moved on chain
    event = svc.get(f"{C}/negawatt-events/dr1", "agg")
    assert event["state"] == "SETTLED"
    posted = {p["account"]: p["amount_micro"] for p in event["settlement"]["postings"]}
    assert event["settlement"]["secondary"] and event["settlement"]["penalties"]
    penalty = sum(int(p["amount_micro"]) for p in event["settlement"]["postings"] if p["account"] == "balancing")
    assert penalty == 150_000  # 2 sold - 0.5 delivered - 1 bought from b1's spare = 0.5 kWh x 0.3

    # balances: start + statements (all stages, all slots) + event postings; the DSO: its income + penalty
    end = svc.balances()
    for m in ("s1", "s2", "b1", "b2"):
        statements = sum(ln["balance_change_micro"] for ln in svc.get(f"{C}/statements", m))
        assert end[m] == start[m] + statements + posted.get(f"member:{m}", 0), m
    assert end["agg"] == start["agg"] + posted["aggregator:agg"]
    income = svc.get(f"{C}/dso/income", "grid")
    assert len(income) == 3
    for row in income:
        parts = ("tariffs_micro", "penalties_micro", "imbalance_micro", "service_charges_micro", "grid_energy_micro")
        assert row["amount_micro"] == sum(row[k] for k in parts)
    assert sum(r["tariffs_micro"] for r in income) > 0 and sum(r["penalties_micro"] for r in income) >= 40_000
    assert end["grid"] == start["grid"] + sum(r["amount_micro"] for r in income) + penalty
    assert chain.call(desk.token, "totalSupply") == supply
    assert sum(end.values()) == sum(start.values())

    # the desk's statement is the same settlement; a manual settle after the cycle changes nothing
    doc = svc.post(f"{C}/multi-settlements/{A}", "grid", None, 200)
    assert {s["member"]: s["stages"] for s in doc["members"]} == {m: stages[m][A] for m in stages if A in stages[m]}
    assert svc.get(f"{C}/multi-settlements/{A}", "b2")["statement"]["stages"] == stages["b2"][A]
    assert svc.client.post(f"/admin/communities/green/slots/{A}/settle", headers=svc.keys["admin"]).status_code == 409
    assert svc.client.post(f"{C}/negawatt-events/dr1/settle", headers=svc.keys["agg"]).status_code == 409
    svc.run_until(datetime(2026, 3, 1, 12, 20, tzinfo=UTC))
    assert svc.balances() == end


def test_a_manual_settlement_racing_the_cycle_settles_once(svc: Svc) -> None:
    _contract(svc, [A])
    start = svc.balances()
    svc.run_until(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))  # A ended; no orders: the auction is void
    _reading(svc, "s1", A, 1.0)
    _reading(svc, "b1", A, -1.0)
    answers: list[int] = []

    def manual() -> None:
        answers.append(svc.client.post(f"{C}/multi-settlements/{A}", headers=svc.keys["grid"]).status_code)

    threads = [threading.Thread(target=manual), threading.Thread(target=svc.service.cycle.tick),
               threading.Thread(target=manual)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200, 200]
    end = svc.balances()
    assert end["s1"] == start["s1"] + 80_000 and end["b1"] == start["b1"] - 80_000  # moved exactly once
    assert end["grid"] == start["grid"]
    svc.run_until(datetime(2026, 3, 1, 10, 50, tzinfo=UTC))
    assert svc.balances() == end


def test_without_a_chain_the_cycle_settles_the_desk_off_chain(tmp_path: Path) -> None:
    clock = ManualClock(START)
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False))
    with TestClient(app) as client:
        s = Svc(client, clock, app.state.service, {"admin": {"Authorization": f"Bearer {ADMIN}"}})
        assert s.service.ledger is None
        s.post("/admin/communities", "admin", {"name": "green", "mechanism": "dpda", "slot_minutes": 15}, 201)
        for name in ("s1", "b1", "grid"):
            key = s.post("/admin/communities/green/members", "admin",
                         {"id": name, "role": "dso" if name == "grid" else "prosumer", "bus": "34"}, 201)["api_key"]
            s.keys[name] = {"Authorization": f"Bearer {key}"}
        assert s.get(f"{C}/signing", "s1")["domain"]["chainId"] == 0  # the off-chain domain
        domain = Domain.from_dict(s.get(f"{C}/signing", "s1")["domain"])
        keys = {m: new_private_key() for m in ("s1", "b1")}
        for m, key in keys.items():
            s.post(f"{C}/addresses", m, {"address": Signer(key).address,
                                         "signature": sign_address(key, "green", m, domain)}, 201)
        seller, buyer = Signer(keys["s1"]).address, Signer(keys["b1"]).address
        terms = {"slot_starts": [A], "energy_kwh_per_slot": 1.0, "price_per_kwh": 0.08, "nonce": 0}
        s.post(f"{C}/bilateral-contracts", "s1", {"id": "k1", "seller": "s1", "buyer": "b1", **terms,
                                                  "signature": sign_contract(keys["s1"], terms, seller, buyer,
                                                                             domain)}, 201)
        s.post(f"{C}/bilateral-contracts/k1/sign", "b1",
               {"signature": sign_contract(keys["b1"], terms, seller, buyer, domain)}, 200)
        s.run_until(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
        _reading(s, "s1", A, 1.0)
        _reading(s, "b1", A, -1.0)
        s.run_until(datetime(2026, 3, 1, 10, 42, tzinfo=UTC))  # before the deadline (10:43): not yet
        assert s.client.get(f"{C}/multi-settlements/{A}", headers=s.keys["grid"]).status_code == 404
        s.run_until(datetime(2026, 3, 1, 10, 43, tzinfo=UTC))
        doc = s.get(f"{C}/multi-settlements/{A}", "grid")
        stages = {m["member"]: m["stages"]["bilateral"] for m in doc["members"]}
        assert stages == {"s1": {"sold_wh": 1000, "bought_wh": 0, "money_micro": 80_000},
                          "b1": {"sold_wh": 0, "bought_wh": 1000, "money_micro": -80_000}}
        again = s.post(f"{C}/multi-settlements/{A}", "grid", None, 200)
        assert again["computed_at"] == doc["computed_at"]  # the manual settle answers the cycle's settlement


def test_an_event_settles_after_the_grace_time_once_when_racing_its_aggregator(svc: Svc) -> None:
    svc.post(f"{C}/negawatt-events", "agg", {"id": "dr2", "target_kwh": 2, "price_per_kwh": 0.3,
                                             "offers_close": "2026-03-01T10:20:00Z",
                                             "window_start": "2026-03-01T11:00:00Z",
                                             "window_end": "2026-03-01T12:00:00Z"}, 201)
    svc.post(f"{C}/negawatt-events/dr2/offers", "s1", {"side": "sell", "energy_kwh": 1, "price_per_kwh": 0.1}, 201)
    svc.post(f"{C}/negawatt-events/dr2/offers", "b1", {"side": "sell", "energy_kwh": 1, "price_per_kwh": 0.2}, 201)
    start = svc.balances()
    svc.run_until(datetime(2026, 3, 1, 12, 1, tzinfo=UTC))
    svc.post(f"{C}/negawatt-events/dr2/deliveries", "s1", _meter(1.0), 201)  # s1 delivered; b1 never reports
    svc.run_until(datetime(2026, 3, 1, 12, 59, tzinfo=UTC))
    assert svc.get(f"{C}/negawatt-events/dr2", "agg")["state"] == "CLEARED"  # waiting for b1 within the grace
    svc.clock.set(datetime(2026, 3, 1, 13, 0, tzinfo=UTC))
    answers: list[int] = []

    def manual() -> None:
        answers.append(svc.client.post(f"{C}/negawatt-events/dr2/settle", headers=svc.keys["agg"]).status_code)

    threads = [threading.Thread(target=manual), threading.Thread(target=svc.service.cycle.tick)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    svc.service.cycle.tick()  # posts the tokens if the manual settlement won
    event = svc.get(f"{C}/negawatt-events/dr2", "agg")
    assert event["state"] == "SETTLED" and answers[0] in (200, 409)
    posted = {p["account"]: p["amount_micro"] for p in event["settlement"]["postings"]}
    # b1 sold 1 kWh and delivered nothing (no data): it pays the penalty 0.3 x 1 kWh to the DSO (balancing)
    assert posted["balancing"] == 300_000 and posted["member:b1"] == event_paid(event, "b1") - 300_000
    end = svc.balances()
    assert end["s1"] == start["s1"] + posted["member:s1"] and end["b1"] == start["b1"] + posted["member:b1"]
    assert end["agg"] == start["agg"] + posted["aggregator:agg"] and end["grid"] == start["grid"] + 300_000
    svc.run_until(datetime(2026, 3, 1, 13, 10, tzinfo=UTC))
    assert svc.balances() == end  # moved once


def event_paid(event: dict[str, Any], member: str) -> int:
    """The member's primary VCG payment (micro-tokens) from the event's clearing."""
    row = next(r for r in event["clearing"]["sellers"] if r["id"] == member)
    return round(row["payment"] * M)
