"""The service's ledger end to end through REST: orders -> cleared -> anchored (roots on chain equal an
independent recomputation) -> meter readings -> settled on chain (balances move exactly by the statements,
supply conserved, the DSO gets the grid charges) -> a second settlement is a 409."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.ledger.audit.audit import verify_archive
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.protocol import recompute, slot_rewards
from transactive.ledger.messages.commitments import result_tree
from transactive.market import ManualClock
from transactive.market.ledger.desk import CLEARED, SETTLED, LedgerConfig, LedgerDesk

ADMIN = "tk_admin_ledger_tests"
SLOT = "2026-03-01T10:15:00Z"


@dataclass
class Svc:
    client: TestClient
    clock: ManualClock
    desk: LedgerDesk
    keys: dict[str, dict[str, str]]
    data_dir: Path

    def post(self, path: str, who: str, body: Any = None) -> Any:
        return self.client.post(path, json=body, headers=self.keys[who])

    def get(self, path: str, who: str) -> Any:
        return self.client.get(path, headers=self.keys[who])


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Svc]:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path)))
    with TestClient(app) as client:
        keys = {"admin": {"Authorization": f"Bearer {ADMIN}"}}
        r = client.post("/admin/communities", json={"name": "green", "mechanism": "dpda", "slot_minutes": 15},
                        headers=keys["admin"])
        assert r.status_code == 201, r.text
        for name, role in [("s1", "prosumer"), ("s2", "prosumer"), ("b1", "prosumer"), ("b2", "aggregator"),
                           ("grid", "dso")]:
            r = client.post("/admin/communities/green/members", json={"id": name, "role": role, "bus": "34"},
                            headers=keys["admin"])
            assert r.status_code == 201, r.text
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        yield Svc(client, clock, app.state.service.ledger, keys, tmp_path)


def _balances(svc: Svc, addresses: dict[str, str]) -> dict[str, int]:
    return {who: svc.desk.balance_micro(a) for who, a in addresses.items()}


def test_orders_anchored_settled_on_chain_exactly_once(svc: Svc) -> None:
    members = ("s1", "s2", "b1", "b2", "grid")
    addresses = {m: svc.get("/communities/green/account", m).json()["address"] for m in members}
    assert len(set(addresses.values())) == len(members)
    chain, desk = svc.desk.chain, svc.desk
    # registered with their roles: prosumer 1, aggregator 2, DSO 4; starting tokens 1,000
    assert [chain.call(desk.registry, "roles", addresses[m]) for m in members] == [1, 1, 1, 2, 4]
    assert all(svc.desk.balance_micro(a) == 1_000 * 10**6 for a in addresses.values())

    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                  ("b2", "buy", 2, 0.18)]:
        r = svc.post("/communities/green/orders", who, {"side": side, "slot_start": SLOT, "idempotency_key": "k",
                                                        "energy_kwh": kwh, "price_per_kwh": price})
        assert r.status_code == 201, r.text
    svc.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))  # quotation closed at 10:18
    r = svc.post(f"/admin/communities/green/slots/{SLOT}/clear", "admin")
    assert r.json()["state"] == "cleared" and r.json()["anchoring"] == "pending", r.text
    assert svc.get(f"/communities/green/slots/{SLOT}/ledger", "b1").json()["clearing"] is None  # not in the request
    svc.desk.process_due(svc.clock.now())  # the cycle's ledger step

    # anchored: the roots on chain equal an independent recomputation of the stored, signed batch
    view = svc.get(f"/communities/green/slots/{SLOT}/ledger", "b1").json()
    assert view["clearing"]["state"] == "anchored" and view["settlement"] is None
    assert set(view["clearing"]["txs"]) == {"open_and_commit", "submit_result"}
    rec = desk.store.get_ledger_slot("green", SLOT, "clearing")
    assert rec is not None
    batch = SlotBatch.from_json(rec.document["batch"])  # refuses a batch whose stated roots differ
    on_chain = chain.call(desk.slots, "slots", rec.chain_slot)
    assert on_chain[0] == CLEARED and on_chain[5] == 4
    assert on_chain[4] == batch.order_root
    assert on_chain[6] == result_tree(rec.chain_slot, recompute(
        batch, rewards=slot_rewards(chain, desk.slots, rec.chain_slot))).root
    assert view["clearing"]["result_root"] == "0x" + on_chain[6].hex()
    signed = {(o.message.trader, o.message.side, o.message.energy_wh, o.message.price_micro_per_kwh)
              for o in batch.orders}
    assert signed == {(addresses["s1"], 0, 3000, 100_000), (addresses["s2"], 0, 2000, 120_000),
                      (addresses["b1"], 1, 2500, 200_000), (addresses["b2"], 1, 2000, 180_000)}

    # DPDA (thesis): p0 = 0.15 (the midpoint of 0.12 and 0.18), s1 sells 2.5 kWh to b1
    result = svc.get(f"/communities/green/slots/{SLOT}/result", "admin").json()["result"]
    assert result["price_per_kwh"] == pytest.approx(0.15)
    assert [(r["id"], r["energy_kwh"]) for r in result["sellers"] + result["buyers"]] == \
        [("s1", 2.5), ("s2", 0.0), ("b1", 2.5), ("b2", 0.0)]
    # the stored result and the anchored entries agree account by account (Wh and micro-tokens)
    # (plus the claims-mode reward leaves of the auctioneer and the miner, zero in the service's deployment)
    anchored = {e["account"]: (e["energyWh"], e["amountMicro"]) for e in rec.document["results"]}
    assert anchored == {addresses["s1"]: (2500, 375_000), addresses["s2"]: (0, 0),
                        addresses["b1"]: (-2500, -375_000), addresses["b2"]: (0, 0),
                        on_chain[2]: (0, 0), "0x" + "00" * 20: (0, 0)}

    r = svc.post(f"/admin/communities/green/slots/{SLOT}/settle", "admin")
    assert r.status_code == 409 and "not ended" in r.json()["error"]["message"], r.text
    svc.clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
    r = svc.post("/communities/green/meter-readings", "s1", {"slot_start": SLOT, "energy_kwh": 2.0})
    assert r.status_code == 201, r.text
    r = svc.post(f"/admin/communities/green/slots/{SLOT}/settle", "admin")
    assert r.status_code == 409 and "b1" in r.json()["error"]["message"], r.text  # waiting for b1's reading
    assert svc.post("/communities/green/meter-readings", "b1", {"slot_start": SLOT, "energy_kwh": -2.5}).status_code \
        == 201
    # s2 and b2 ordered but did not clear: with their readings in, their meters settle with the grid
    # (SEED-NOTES §8)
    for member, kwh in (("s2", 2.0), ("b2", -2.0)):
        assert svc.post("/communities/green/meter-readings", member,
                        {"slot_start": SLOT, "energy_kwh": kwh}).status_code == 201

    before = _balances(svc, addresses)
    supply = chain.call(desk.token, "totalSupply")
    r = svc.post(f"/admin/communities/green/slots/{SLOT}/settle", "admin")
    assert r.status_code == 200, r.text
    assert r.json()["settlement"]["state"] == "settled" and r.json()["settlement"]["mode"] == "batch"
    after = _balances(svc, addresses)
    srec = desk.store.get_ledger_slot("green", SLOT, "settlement")
    assert srec is not None and chain.call(desk.slots, "slots", srec.chain_slot)[0] == SETTLED

    # (4.8)-(4.9) by hand, micro-tokens: the flat network charge is 0.01/kWh on the 2.5 kWh trade = 25,000,
    # split 12,500 each; the penalty is 0.05/kWh on s1's 0.5 kWh shortfall = 25,000.
    # b1 pays 0.15 x 2.5 kWh + 12,500 = 387,500; s1 receives 0.15 x 2.0 kWh - 12,500 - 25,000 = 262,500;
    # the DSO gets the rest: tariffs 25,000 + penalty 25,000 + imbalance 0.15 x 0.5 kWh = 75,000.
    b1 = svc.get("/communities/green/statements", "b1").json()
    s1 = svc.get("/communities/green/statements", "s1").json()
    assert [(x["member"], x["amount_micro"], x["balance_change_micro"]) for x in b1] == [("b1", 387_500, -387_500)]
    assert [(x["member"], x["tariff_micro"], x["penalty_micro"], x["balance_change_micro"]) for x in s1] == \
        [("s1", 12_500, 25_000, 262_500)]
    # the grid stage: s2 sells its 2.0 kWh at the feed-in tariff 0.015 = 30,000, b2 buys 2.0 kWh at retail
    # 0.1 = 200,000; the DSO's account is the grid's, so it gets 125,000 + 200,000 - 30,000 = 295,000
    s2 = svc.get("/communities/green/statements", "s2").json()
    b2 = svc.get("/communities/green/statements", "b2").json()
    assert [(x["member"], x["stages"]["grid"], x["balance_change_micro"]) for x in s2 + b2] == [
        ("s2", {"sold_wh": 2000, "bought_wh": 0, "money_micro": 30_000}, 30_000),
        ("b2", {"sold_wh": 0, "bought_wh": 2000, "money_micro": -200_000}, -200_000)]
    income = svc.get("/communities/green/dso/income", "grid").json()
    assert [(x["tariffs_micro"], x["penalties_micro"], x["imbalance_micro"], x["grid_energy_micro"],
             x["amount_micro"]) for x in income] == [(25_000, 25_000, 75_000, 170_000, 295_000)]
    assert not {"price_per_kwh", "lines", "trades", "energy_kwh", "orders"} & set(income[0])  # no bids

    # balances changed exactly by the statements; supply conserved
    changes = {m: after[m] - before[m] for m in members}
    assert changes == {"s1": 262_500, "s2": 30_000, "b1": -387_500, "b2": -200_000, "grid": 295_000}
    assert sum(changes.values()) == 0 and chain.call(desk.token, "totalSupply") == supply

    # exactly once
    r = svc.post(f"/admin/communities/green/slots/{SLOT}/settle", "admin")
    assert r.status_code == 409 and r.json()["error"]["field"] == "slot_start"
    assert desk.process_due(svc.clock.now()) == []
    assert _balances(svc, addresses) == after

    # channels: only the DSO (and admin) see the income; the DSO has no statement; own lines only
    assert svc.get("/communities/green/dso/income", "b1").status_code == 403
    assert svc.get("/communities/green/statements", "grid").status_code == 403
    assert svc.client.get("/communities/green/statements?member=s1", headers=svc.keys["b1"]).status_code == 403
    assert svc.client.get("/communities/green/statements?member=s1", headers=svc.keys["admin"]).json() == s1

    # the project's audit (`transactive ledger verify DATA_DIR`) agrees: every anchored slot recomputes to its
    # roots on chain, endorsements reach the threshold, and the supply equals the mints and the balances
    assert verify_archive(svc.data_dir, chain=chain) is None
    assert [p.name for p in (svc.data_dir / "slots").iterdir()] == [f"{rec.chain_slot}.json"]


def test_default_dpda_matched_community_is_anchored_and_settled_with_grid_charges(tmp_path: Path) -> None:
    """The default mechanism, DPDA + score matching on the IEEE European LV feeder: the traders' signed
    attributes (bus, distance preference, welfare parameters) travel in the batch, the validators recompute
    the matched clearing, and the settlement pays the DSO each trade's distance charge C_d·d."""
    from transactive.grid.distance import distance_matrix
    from transactive.grid.feeder import load_feeder
    from transactive.units import money_to_micro

    feeder = load_feeder()
    buses = {"s1": feeder.load_buses[0], "s2": feeder.load_buses[5], "b1": feeder.load_buses[20],
             "b2": feeder.load_buses[40]}
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as client:
        r = client.post("/admin/communities", json={"name": "feeder"}, headers=admin)
        assert r.status_code == 201 and r.json()["mechanism"] == "dpda_matched", r.text
        keys = {}
        for name, role in [*((m, "prosumer") for m in buses), ("grid", "dso")]:
            r = client.post("/admin/communities/feeder/members", headers=admin,
                            json={"id": name, "role": role, "bus": buses.get(name, "substation")})
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        desk: LedgerDesk = app.state.service.ledger
        address = {m: client.get("/communities/feeder/account", headers=keys[m]).json()["address"] for m in keys}
        assert bytes(desk.chain.call(desk.registry, "bus", address["s1"])).rstrip(b"\0").decode() == buses["s1"]
        orders = {"s1": ("sell", 3, 0.10, {"a": 0.01, "b": 1.0, "c": 0.5}),
                  "s2": ("sell", 2, 0.12, {"a": 0.02, "b": 0.5, "c": 0.1}),
                  "b1": ("buy", 2.5, 0.2, {"omega": 60.0, "alpha": 0.2}),
                  "b2": ("buy", 2, 0.18, {"omega": 40.0, "alpha": 0.1})}
        for who, (side, kwh, price, welfare) in orders.items():  # no bus: the member's registered bus
            r = client.post("/communities/feeder/orders", headers=keys[who], json={
                "side": side, "slot_start": SLOT, "idempotency_key": "k", "energy_kwh": kwh, "price_per_kwh": price,
                "distance_pref_m": 150.0, **welfare})
            assert r.status_code == 201 and r.json()["bus"] == buses[who], r.text
        r = client.post("/communities/feeder/orders", headers=keys["s1"], json={
            "side": "sell", "slot_start": SLOT, "idempotency_key": "k2", "energy_kwh": 1, "price_per_kwh": 0.1,
            "bus": buses["b1"], "distance_pref_m": 1.0, "a": 0, "b": 0, "c": 0})
        assert r.status_code == 422 and r.json()["error"]["field"] == "bus"  # not where it is registered
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/feeder/slots/{SLOT}/clear", headers=admin).json()["state"] == \
            "cleared"
        desk.process_due(clock.now())
        rec = desk.store.get_ledger_slot("feeder", SLOT, "clearing")
        assert rec is not None and rec.state == "anchored", rec and rec.document.get("note")
        batch = SlotBatch.from_json(rec.document["batch"])
        assert {a.message.trader: a.message.bus for a in batch.attributes} == \
            {address[m]: buses[m] for m in buses}
        assert batch.dso == address["grid"]
        assert desk.chain.call(desk.slots, "slots", rec.chain_slot)[6] == \
            result_tree(rec.chain_slot, recompute(batch, rewards=slot_rewards(desk.chain, desk.slots,
                                                                              rec.chain_slot))).root

        result = client.get(f"/communities/feeder/slots/{SLOT}/result", headers=admin).json()["result"]
        trades = result["details"]["trades"]
        assert trades, "the example must trade"
        for t in trades:  # the charge is C_d·d with the feeder distance between the two members' buses
            d_m = distance_matrix(feeder, [buses[t["buyer"]]], [buses[t["seller"]]])[0, 0]
            assert t["charge"] == pytest.approx(0.002 * d_m / 1000)
        clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
        for row in result["sellers"] + result["buyers"]:
            if row["energy_kwh"] > 0:
                sign = 1 if any(row["id"] == s["id"] for s in result["sellers"]) else -1
                client.post("/communities/feeder/meter-readings", headers=keys[row["id"]],
                            json={"slot_start": SLOT, "energy_kwh": sign * row["energy_kwh"]})
        before = {m: desk.balance_micro(a) for m, a in address.items()}
        supply = desk.chain.call(desk.token, "totalSupply")
        r = client.post(f"/admin/communities/feeder/slots/{SLOT}/settle", headers=admin)
        assert r.status_code == 200, r.text
        after = {m: desk.balance_micro(a) for m, a in address.items()}
        income = client.get("/communities/feeder/dso/income", headers=keys["grid"]).json()
        charges = sum(money_to_micro(t["charge"]) for t in trades)
        assert income[0]["tariffs_micro"] == charges and income[0]["penalties_micro"] == 0
        assert after["grid"] - before["grid"] == income[0]["amount_micro"]
        for m in buses:
            lines = client.get("/communities/feeder/statements", headers=keys[m]).json()
            assert after[m] - before[m] == sum(x["balance_change_micro"] for x in lines)
        assert sum(after.values()) == sum(before.values())
        assert desk.chain.call(desk.token, "totalSupply") == supply
