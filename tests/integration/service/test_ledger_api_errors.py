"""The ledger's REST answers when the chain or the mechanism cannot take a slot: a 4xx naming the field and
the reason, nothing moved (never a 500)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk

ADMIN = "tk_admin_ledger_api_errors"
H = {"Authorization": f"Bearer {ADMIN}"}
SLOT = "2026-03-01T10:15:00Z"


class Api:
    def __init__(self, client: TestClient, clock: ManualClock, desk: LedgerDesk) -> None:
        self.client, self.clock, self.desk = client, clock, desk
        self.keys: dict[str, dict[str, str]] = {"admin": H}

    def member(self, community: str, name: str, role: str = "prosumer", bus: str | None = "34") -> None:
        body = {"id": name, "role": role} | ({} if bus is None else {"bus": bus})
        r = self.client.post(f"/admin/communities/{community}/members", headers=H, json=body)
        assert r.status_code == 201, r.text
        self.keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}

    def order(self, community: str, who: str, side: str, kwh: float, price: float, **extra: object) -> None:
        r = self.client.post(f"/communities/{community}/orders", headers=self.keys[who], json={
            "side": side, "slot_start": SLOT, "idempotency_key": "k", "energy_kwh": kwh, "price_per_kwh": price,
            **extra})
        assert r.status_code == 201, r.text


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    with TestClient(app) as client:
        yield Api(client, clock, app.state.service.ledger)


def _anchored_slot_with_a_buyer_short_of_tokens(api: Api) -> dict[str, str]:
    """A DPDA slot (p0 = 0.15, s1 sells 2.5 kWh to b1) cleared, anchored and metered, whose buyer b1 has then
    spent all its tokens; the chain addresses of s1, b1 and the DSO ``grid``."""
    c, desk = api.client, api.desk
    assert c.post("/admin/communities", headers=H, json={"name": "green", "mechanism": "dpda"}).status_code == 201
    for name in ("s1", "s2", "b1", "b2"):
        api.member("green", name)
    api.member("green", "grid", "dso")
    for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                  ("b2", "buy", 2, 0.18)]:  # DPDA: p0 = 0.15, s1 sells 2.5 kWh to b1
        api.order("green", who, side, kwh, price)
    api.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
    assert c.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=H).json()["state"] == "cleared"
    desk.process_due(api.clock.now())
    api.clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
    for who, kwh in (("s1", 2.5), ("b1", -2.5)):
        r = c.post("/communities/green/meter-readings", headers=api.keys[who], json={"slot_start": SLOT,
                                                                                     "energy_kwh": kwh})
        assert r.status_code == 201, r.text
    address = {m: c.get("/communities/green/account", headers=api.keys[m]).json()["address"]
               for m in ("s1", "b1", "grid")}
    desk.accounts.fund_gas(address["b1"])  # batch enrolment funds no gas (permits): b1 sends its own transfer
    desk.chain.transact(desk.token, "transfer", address["s1"], desk.balance_micro(address["b1"]),
                        sender=address["b1"])  # b1 spends it all
    return address


def test_settle_refused_by_the_chain_is_a_409_and_moves_nothing(api: Api) -> None:
    c, desk = api.client, api.desk
    address = _anchored_slot_with_a_buyer_short_of_tokens(api)
    before = {m: desk.balance_micro(a) for m, a in address.items()}

    r = c.post(f"/admin/communities/green/slots/{SLOT}/settle", headers=H)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "slot_start" and "refused" in r.json()["error"]["message"]
    assert {m: desk.balance_micro(a) for m, a in address.items()} == before  # no token moved
    view = c.get(f"/communities/green/slots/{SLOT}/ledger", headers=H).json()
    assert view["settlement"]["state"] == "batched" and "settle_batch" not in view["settlement"]["txs"]

    desk.chain.transact(desk.token, "mint", address["b1"], 10**9)  # topped up: the same settlement goes through
    r = c.post(f"/admin/communities/green/slots/{SLOT}/settle", headers=H)
    assert r.status_code == 200 and r.json()["settlement"]["state"] == "settled", r.text
    # 0.15 x 2.5 kWh + half the flat charge 0.01 x 2.5 kWh: 387,500 micro-tokens
    assert desk.balance_micro(address["b1"]) == 10**9 - 387_500


def test_a_multi_settlement_refused_by_the_chain_is_a_409_and_moves_nothing(api: Api) -> None:
    """The multi-settlement desk's manual settle goes through the ledger's settlement: a buyer short of tokens
    is the same 409 naming ``slot_start`` as the ledger's settle route, no token moved, retry succeeds."""
    c, desk = api.client, api.desk
    address = _anchored_slot_with_a_buyer_short_of_tokens(api)
    before = {m: desk.balance_micro(a) for m, a in address.items()}

    r = c.post(f"/communities/green/multi-settlements/{SLOT}", headers=api.keys["grid"])
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "slot_start" and "refused" in r.json()["error"]["message"]
    assert {m: desk.balance_micro(a) for m, a in address.items()} == before  # no token moved
    view = c.get(f"/communities/green/slots/{SLOT}/ledger", headers=H).json()
    assert view["settlement"]["state"] != "settled" and "settle_batch" not in view["settlement"]["txs"]

    desk.chain.transact(desk.token, "mint", address["b1"], 10**9)  # topped up: the same settlement goes through
    r = c.post(f"/communities/green/multi-settlements/{SLOT}", headers=api.keys["grid"])
    assert r.status_code == 200, r.text
    # 0.15 x 2.5 kWh + half the flat charge 0.01 x 2.5 kWh: 387,500 micro-tokens
    assert desk.balance_micro(address["b1"]) == 10**9 - 387_500


def test_a_slot_the_ledger_cannot_batch_is_cleared_and_unsupported(api: Api) -> None:
    """``dpda_matched`` on straight-line distances (``feeder: "none"``), members without a bus: the slot clears
    (200, anchoring pending); the ledger records it ``unsupported`` with the reason and never retries it."""
    c, desk = api.client, api.desk
    r = c.post("/admin/communities", headers=H, json={"name": "flat", "mechanism": "dpda_matched",
                                                      "params": {"feeder": "none"}})
    assert r.status_code == 201, r.text
    for name in ("s1", "s2", "b1", "b2"):
        api.member("flat", name, bus=None)
    for k, (who, side, kwh, price) in enumerate([("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12),
                                                 ("b1", "buy", 2.5, 0.2), ("b2", "buy", 2, 0.18)]):
        welfare = {"a": 0.01, "b": 1.0, "c": 0.5} if side == "sell" else {"omega": 60.0, "alpha": 0.2}
        api.order("flat", who, side, kwh, price, x_m=float(k), y_m=0.0, distance_pref_m=100.0, **welfare)
    api.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
    r = c.post(f"/admin/communities/flat/slots/{SLOT}/clear", headers=H)
    assert r.status_code == 200 and r.json()["state"] == "cleared" and r.json()["anchoring"] == "pending", r.text
    assert desk.process_due(api.clock.now())[0].state == "unsupported"
    view = c.get(f"/communities/flat/slots/{SLOT}/ledger", headers=H).json()["clearing"]
    assert view["state"] == "unsupported" and "bus" in view["note"], view
    assert view["txs"] == {}  # nothing sent to the chain
    assert desk.process_due(api.clock.now()) == []  # not retried
    r = c.post(f"/admin/communities/flat/slots/{SLOT}/settle", headers=H)
    assert r.status_code == 409 and "unsupported" in r.json()["error"]["message"], r.text


def test_buses_are_required_short_and_confirmed_by_the_registry(api: Api) -> None:
    from transactive.grid.feeder import load_feeder
    from transactive.market.ledger.desk import chain_slot_number
    from transactive.market.operator import hash_key, new_api_key
    from transactive.store import Member

    c, desk = api.client, api.desk
    buses = load_feeder().load_buses
    assert c.post("/admin/communities", headers=H, json={"name": "feeder"}).json()["mechanism"] == "dpda_matched"
    for body in ({"id": "p0", "role": "prosumer"}, {"id": "p0", "role": "aggregator"},
                 {"id": "p0", "role": "prosumer", "bus": "x" * 33}, {"id": "p0", "role": "prosumer", "bus": "é" * 17}):
        r = c.post("/admin/communities/feeder/members", headers=H, json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == "bus", (body, r.text)
    assert c.get("/communities/feeder", headers=H).status_code == 200 and desk.store.get_member("p0") is None
    api.member("feeder", "grid", "dso", bus=None)  # the DSO does not trade: no bus needed
    for k, name in enumerate(("s1", "s2", "b1")):
        api.member("feeder", name, bus=buses[10 * k])
    # b2 comes from an older database that registered members without a bus (Registry bus "")
    key = new_api_key()
    old = Member("b2", "feeder", "prosumer", hash_key(key), None)
    assert desk.store.add_member(old) and desk.enrol(old) is not None
    api.keys["b2"] = {"Authorization": f"Bearer {key}"}
    for who, side, kwh, price, extra in [("s1", "sell", 3, 0.10, {"a": 0.01, "b": 1.0, "c": 0.5}),
                                         ("s2", "sell", 2, 0.12, {"a": 0.02, "b": 0.5, "c": 0.1}),
                                         ("b1", "buy", 2.5, 0.2, {"omega": 60.0, "alpha": 0.2}),
                                         ("b2", "buy", 2, 0.18, {"omega": 40.0, "alpha": 0.1, "bus": buses[40]})]:
        api.order("feeder", who, side, kwh, price, distance_pref_m=150.0, **extra)  # b2 claims any bus it likes
    api.clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
    assert c.post(f"/admin/communities/feeder/slots/{SLOT}/clear", headers=H).json()["state"] == "cleared"
    assert [r.state for r in desk.process_due(api.clock.now())] == ["refused"]
    view = c.get(f"/communities/feeder/slots/{SLOT}/ledger", headers=H).json()["clearing"]
    assert "Registry" in view["note"] and buses[40] in view["note"] and view["txs"] == {}, view
    number = chain_slot_number("feeder", SLOT, "clearing")
    assert desk.chain.call(desk.slots, "slots", number)[0] == 0  # never opened on chain


def test_a_settlement_the_chain_refuses_in_the_cycle_is_blocked_with_the_reason(api: Api) -> None:
    """Issue 9, finding 5: the cycle does not retry a refused settlement every 30 s with a traceback; the slot
    goes to ``blocked`` with the reason (visible in its ledger view), is left alone, and an admin resolves it."""
    c, desk = api.client, api.desk
    address = _anchored_slot_with_a_buyer_short_of_tokens(api)
    before = {m: desk.balance_micro(a) for m, a in address.items()}
    api.clock.set(datetime(2026, 3, 1, 10, 59, tzinfo=UTC))  # every reading in, past the deadline too
    assert [(r.kind, r.state) for r in desk.process_due(api.clock.now())] == [("settlement", "blocked")]
    view = c.get(f"/communities/green/slots/{SLOT}/ledger", headers=H).json()["settlement"]
    assert view["state"] == "blocked" and "refused" in view["note"] and "/settle" in view["note"], view
    assert {m: desk.balance_micro(a) for m, a in address.items()} == before  # nothing moved
    desk._retry_at.clear()  # no back-off involved: a blocked slot is not picked up again at all
    assert desk.process_due(api.clock.now()) == []

    desk.chain.transact(desk.token, "mint", address["b1"], 10**9)  # the admin has the buyer topped up
    r = c.post(f"/admin/communities/green/slots/{SLOT}/settle", headers=H)
    assert r.status_code == 200 and r.json()["settlement"]["state"] == "settled", r.text
    assert r.json()["settlement"]["note"] is None
    assert desk.balance_micro(address["b1"]) == 10**9 - 387_500  # 0.15 x 2.5 kWh + 0.01 x 2.5 kWh / 2
