"""REST: bilateral contracts and the listing board through the multi-settlement desk, settled slot by slot.

Expected figures are worked out by hand from the documented rules (seed 001's firm contracts; seed 002's
listing settlement with the default service charge 0.004 and penalty 0.05 per kWh; tariffs 0.015 / 0.1).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import Api

from transactive.crypto.signing import Signer, new_private_key
from transactive.market import multi_slot
from transactive.market.multi_signing import OFF_CHAIN_DOMAIN, contract_of, sign_address
from transactive.store import MeterReading, Outcome

C = "/communities/green"
S1, S2 = "2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"
KEYS = {name: new_private_key(random.Random(k)) for k, name in enumerate(("alice", "bob", "carol", "mallory"))}


def sign_contract(key: bytes, terms: dict[str, Any], seller: str, buyer: str) -> str:
    """Any key's signature of the terms (the library's ``sign_contract`` refuses a key of neither party)."""
    return "0x" + Signer(key).sign_digest(contract_of("-", terms, seller, buyer).digest(OFF_CHAIN_DOMAIN)).hex()


def _error(r: Any, status: int, field: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field, r.json()


def _register(api: Api, who: str) -> str:
    r = api.client.post(f"{C}/addresses", json={"address": Signer(KEYS[who]).address,
                                                "signature": sign_address(KEYS[who], "green", who)},
                        headers=api.auth(who))
    assert r.status_code == 201, r.text
    return str(r.json()["address"])


def _meter(api: Api, who: str, slot: str, energy_kwh: float) -> None:
    r = api.client.post(f"{C}/meter-readings", json={"slot_start": slot, "energy_kwh": energy_kwh},
                        headers=api.auth(who))
    assert r.status_code == 201, r.text


def _stages(doc: dict[str, Any], member: str) -> dict[str, Any]:
    return next(s for s in doc["members"] if s["member"] == member)


def _net_wh(doc: dict[str, Any]) -> dict[str, tuple[int, bool]]:
    return {s["member"]: (s["net_wh"], s["metered"]) for s in doc["members"]}


def _balanced(doc: dict[str, Any]) -> None:
    """Money to the micro-token over every member and account; energy per member over the stages."""
    assert sum(s["money_micro"] for s in doc["members"]) + sum(doc["accounts"].values()) == 0
    assert doc["balance_micro"] == 0
    for s in doc["members"]:
        assert sum(line["sold_wh"] - line["bought_wh"] for line in s["stages"].values()) == s["net_wh"]
        assert sum(line["money_micro"] for line in s["stages"].values()) == s["money_micro"]


def test_address_registration_proves_the_key(api: Api) -> None:
    c = api.client
    alice = Signer(KEYS["alice"]).address
    forged = sign_address(KEYS["mallory"], "green", "alice")  # mallory's key, alice's claimed address
    _error(c.post(f"{C}/addresses", json={"address": alice, "signature": forged}, headers=api.auth("alice")),
           422, "signature")
    _error(c.post(f"{C}/addresses", json={"address": "0x12", "signature": forged}, headers=api.auth("alice")),
           422, "address")
    _error(c.post(f"{C}/addresses", json={"address": alice, "signature": "0xzz"}, headers=api.auth("alice")),
           422, "signature")
    assert c.get(f"{C}/addresses", headers=api.auth("bob")).json() == []  # nothing stored
    assert _register(api, "alice") == alice
    again = c.post(f"{C}/addresses", json={"address": alice, "signature": sign_address(KEYS["alice"], "green",
                                                                                       "alice")},
                   headers=api.auth("alice"))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    _error(c.post(f"{C}/addresses", json={"address": alice, "signature": sign_address(KEYS["alice"], "green",
                                                                                      "bob")},
                  headers=api.auth("bob")), 409, "address")  # another member's address
    _error(c.post(f"{C}/addresses", json={"address": Signer(KEYS["bob"]).address,
                                          "signature": sign_address(KEYS["bob"], "green", "alice")},
                  headers=api.auth("alice")), 409, "address")  # alice has one already
    _error(c.post(f"{C}/addresses", json={"address": alice, "signature": forged}, headers=api.auth("grid")),
           403, "Authorization")
    assert c.get(f"{C}/addresses", headers=api.auth("grid")).json() == [{"member": "alice", "address": alice}]


def test_signed_contract_delivers_at_its_price_and_a_half_signed_one_does_not(api: Api) -> None:
    c = api.client
    address = {who: _register(api, who) for who in ("alice", "bob", "carol")}
    terms = {"slot_starts": [S1, S2], "energy_kwh_per_slot": 2.0, "price_per_kwh": 0.08}

    def body(cid: str, seller: str, buyer: str, signer: str, **extra: Any) -> dict[str, Any]:
        t = terms | extra
        return {"id": cid, "seller": seller, "buyer": buyer, **t,
                "signature": sign_contract(KEYS[signer], t, address[seller], address[buyer])}

    # a forged proposal (bob proposes with mallory's key) is refused and nothing is stored
    _error(c.post(f"{C}/bilateral-contracts", json=body("c1", "alice", "bob", "mallory"), headers=api.auth("bob")),
           422, "signature")
    _error(c.get(f"{C}/bilateral-contracts/c1", headers=api.auth("bob")), 404, "contract")
    # a signature over other terms (a lower price) does not match the terms sent
    cheap = body("c1", "alice", "bob", "bob", price_per_kwh=0.01) | {"price_per_kwh": 0.08}
    _error(c.post(f"{C}/bilateral-contracts", json=cheap, headers=api.auth("bob")), 422, "signature")
    _error(c.post(f"{C}/bilateral-contracts", json=body("c1", "alice", "bob", "alice") | {"slot_starts": [S2, S1]},
                  headers=api.auth("alice")), 422, "slot_starts[1]")
    _error(c.post(f"{C}/bilateral-contracts", json=body("c1", "alice", "bob", "alice") | {"energy_kwh_per_slot": -1.0},
                  headers=api.auth("alice")), 422, "energy_kwh_per_slot")
    _error(c.post(f"{C}/bilateral-contracts", json=body("c9", "bob", "carol", "bob"), headers=api.auth("alice")),
           403, "seller")  # not a party
    r = c.post(f"{C}/bilateral-contracts", json=body("c1", "alice", "bob", "alice"), headers=api.auth("alice"))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "proposed" and r.json()["buyer_signature"] is None
    _error(c.post(f"{C}/bilateral-contracts", json=body("c1", "alice", "bob", "alice"), headers=api.auth("alice")),
           409, "id")
    # the buyer's countersignature must be the buyer's: mallory's or alice's key is refused
    for forger in ("mallory", "alice"):
        forged = sign_contract(KEYS[forger], terms, address["alice"], address["bob"])
        _error(c.post(f"{C}/bilateral-contracts/c1/sign", json={"signature": forged}, headers=api.auth("bob")),
               422, "signature")
    assert c.get(f"{C}/bilateral-contracts/c1", headers=api.auth("bob")).json()["state"] == "proposed"
    _error(c.post(f"{C}/bilateral-contracts/c1/sign", json={"signature": body("x", "alice", "bob", "alice")
                                                            ["signature"]}, headers=api.auth("alice")),
           409, "signature")  # the proposer does not sign twice
    r = c.post(f"{C}/bilateral-contracts/c1/sign",
               json={"signature": sign_contract(KEYS["bob"], terms, address["alice"], address["bob"])},
               headers=api.auth("bob"))
    assert r.status_code == 200 and r.json()["state"] == "signed", r.text
    # c2: alice -> carol, only alice signs
    r = c.post(f"{C}/bilateral-contracts", json=body("c2", "alice", "carol", "alice", energy_kwh_per_slot=1.0),
               headers=api.auth("alice"))
    assert r.status_code == 201, r.text
    # visibility: parties and the DSO
    assert [x["id"] for x in c.get(f"{C}/bilateral-contracts", headers=api.auth("bob")).json()] == ["c1"]
    assert [x["id"] for x in c.get(f"{C}/bilateral-contracts", headers=api.auth("carol")).json()] == ["c2"]
    assert [x["id"] for x in c.get(f"{C}/bilateral-contracts", headers=api.auth("grid")).json()] == ["c1", "c2"]
    _error(c.get(f"{C}/bilateral-contracts/c2", headers=api.auth("bob")), 404, "contract")
    # the first slot starts: c2 can no longer be countersigned
    api.clock.set(datetime(2026, 3, 1, 10, 15, tzinfo=UTC))
    late = sign_contract(KEYS["carol"], terms | {"energy_kwh_per_slot": 1.0}, address["alice"], address["carol"])
    _error(c.post(f"{C}/bilateral-contracts/c2/sign", json={"signature": late}, headers=api.auth("carol")),
           409, "slot_starts[0]")
    _error(c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")), 409, "slot_start")  # not ended
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    for who, kwh in (("alice", 3.0), ("bob", -2.0), ("carol", -1.0)):
        _meter(api, who, S1, kwh)
    _error(c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("bob")), 403, "Authorization")
    r = c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["view"] == "full"
    _balanced(doc)
    # c1 delivers 2 kWh at 0.08: 160 000 micro-tokens from bob to alice; c2 (one signature) delivers nothing
    assert _stages(doc, "alice")["stages"]["bilateral"] == {"sold_wh": 2000, "bought_wh": 0, "money_micro": 160_000}
    assert _stages(doc, "bob")["stages"]["bilateral"] == {"sold_wh": 0, "bought_wh": 2000, "money_micro": -160_000}
    assert _stages(doc, "carol")["stages"]["bilateral"] == {"sold_wh": 0, "bought_wh": 0, "money_micro": 0}
    # alice's other 1 kWh meets carol's 1 kWh deficit in the auction, between feed-in and retail
    alice_auction = _stages(doc, "alice")["stages"]["auction"]
    assert alice_auction["sold_wh"] == 1000 and _stages(doc, "carol")["stages"]["auction"]["bought_wh"] == 1000
    assert 15_000 <= alice_auction["money_micro"] <= 100_000
    assert all(g["energy_wh"] == 0 for g in doc["grid"])
    # bob's view: his statement only, no one else's, no bids
    mine = c.get(f"{C}/multi-settlements/{S1}", headers=api.auth("bob")).json()
    assert mine["view"] == "member" and mine["statement"]["member"] == "bob"
    assert [x["id"] for x in mine["contracts"]] == ["c1"] and "members" not in mine
    assert c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")).json() == doc  # idempotent
    # second slot: the firm contract delivers although alice metered only 1.5 kWh; she buys the rest back
    api.clock.set(datetime(2026, 3, 1, 10, 45, tzinfo=UTC))
    _meter(api, "alice", S2, 1.5)
    _meter(api, "bob", S2, -2.0)
    doc2 = c.post(f"{C}/multi-settlements/{S2}", headers=api.auth("admin")).json()
    # without a chain too the settlement closed S2's readings as it read them: carol's late one is refused (409),
    # not stored and left unsettled
    _error(c.post(f"{C}/meter-readings", json={"slot_start": S2, "energy_kwh": -0.5}, headers=api.auth("carol")),
           409, "slot_start")
    stored = c.get(f"{C}/meter-readings", params={"slot_start": S2}, headers=api.auth("grid")).json()
    assert sorted(x["member"] for x in stored) == ["alice", "bob"]
    _balanced(doc2)
    assert _stages(doc2, "alice")["stages"]["bilateral"]["money_micro"] == 160_000
    assert _stages(doc2, "alice")["stages"]["grid"] == {"sold_wh": 0, "bought_wh": 500, "money_micro": -50_000}


def test_listing_board_dso_review_short_delivery_and_penalties(api: Api) -> None:
    c = api.client
    r = c.post(f"{C}/listings", json={"id": "L1", "slot_start": S1, "energy_kwh": 3.0, "price_per_kwh": 0.06},
               headers=api.auth("alice"))
    assert r.status_code == 201 and r.json()["state"] == "FOR_SALE", r.text
    _error(c.post(f"{C}/listings", json={"id": "L2", "slot_start": S1, "energy_kwh": 0.0001, "price_per_kwh": 1},
                  headers=api.auth("alice")), 422, "energy_kwh")  # 0.1 Wh
    _error(c.post(f"{C}/listings", json={"id": "L2", "slot_start": "2026-03-01T10:16:00Z", "energy_kwh": 1,
                                         "price_per_kwh": 1}, headers=api.auth("alice")), 422, "slot_start")
    _error(c.post(f"{C}/listings/L1/orders", json={"id": "o0", "energy_kwh": 1}, headers=api.auth("alice")),
           403, "listing")  # own listing
    for oid, who, kwh in (("o1", "bob", 2.0), ("o2", "carol", 1.0)):
        r = c.post(f"{C}/listings/L1/orders", json={"id": oid, "energy_kwh": kwh}, headers=api.auth(who))
        assert r.status_code == 201 and r.json()["state"] == "pending", r.text
    _error(c.post(f"{C}/listings/L1/orders", json={"id": "o3", "energy_kwh": 1}, headers=api.auth("carol")),
           409, "energy_kwh")  # nothing remains
    _error(c.post(f"{C}/listings/L1/orders", json={"id": "o1", "energy_kwh": 1}, headers=api.auth("carol")),
           409, "id")
    _error(c.post(f"{C}/listing-orders/o1/review", json={"decision": "accept"}, headers=api.auth("bob")),
           403, "Authorization")
    _error(c.post(f"{C}/listing-orders/o1/review", json={"decision": "maybe"}, headers=api.auth("grid")),
           422, "decision")
    # the members' buses (b-alice, ...) are not on the feeder: a power-flow review is refused, nothing decided
    _error(c.post(f"{C}/listing-orders/o1/review", json={"decision": "power_flow"}, headers=api.auth("grid")),
           409, "decision")
    r = c.post(f"{C}/listing-orders/o1/review", json={"decision": "accept"}, headers=api.auth("grid"))
    assert r.status_code == 200 and r.json()["state"] == "accepted", r.text
    r = c.post(f"{C}/listing-orders/o2/review", json={"decision": "reject", "reason": "feeder congestion"},
               headers=api.auth("grid"))
    assert r.json()["state"] == "rejected" and r.json()["reason"] == ["feeder congestion"]
    _error(c.post(f"{C}/listing-orders/o2/review", json={"decision": "accept"}, headers=api.auth("grid")),
           409, "order")
    # the rejected kWh is back on the board; carol orders it again and the DSO never reviews it
    assert c.get(f"{C}/listings?slot_start={S1}", headers=api.auth("bob")).json()[0]["remaining_kwh"] == 1.0
    assert c.post(f"{C}/listings/L1/orders", json={"id": "o4", "energy_kwh": 1}, headers=api.auth("carol")
                  ).status_code == 201
    # visibility: bob sees his order, alice (seller) all three, carol her two
    seen = {who: [o["id"] for o in c.get(f"{C}/listing-orders", headers=api.auth(who)).json()]
            for who in ("alice", "bob", "carol", "grid")}
    assert seen == {"alice": ["o1", "o2", "o4"], "bob": ["o1"], "carol": ["o2", "o4"], "grid": ["o1", "o2", "o4"]}
    api.clock.set(datetime(2026, 3, 1, 10, 18, tzinfo=UTC))  # quotation closed
    _error(c.post(f"{C}/listings/L1/orders", json={"id": "o5", "energy_kwh": 0.5}, headers=api.auth("bob")),
           409, "listing")
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    for who, kwh in (("alice", 1.5), ("bob", -2.0), ("carol", -1.0)):  # alice promised 2 kWh to bob
        _meter(api, who, S1, kwh)
    doc = c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")).json()
    _balanced(doc)
    (o1,) = doc["listing_orders"]
    # delivered 1.5 kWh at 0.06 = 90 000; service charge 0.004 x 1.5 = 6 000 split 3 000 / 3 000;
    # alice short by 0.5 kWh: penalty 0.05 x 0.5 = 25 000 to the DSO
    assert o1 == {"id": "o1", "listing_id": "L1", "seller": "alice", "buyer": "bob", "ordered_wh": 2000,
                  "delivered_wh": 1500, "seller_micro": 90_000 - 3_000 - 25_000, "buyer_micro": -93_000,
                  "service_charge_micro": 6_000, "penalty_micro": 25_000}
    assert doc["accounts"]["board"] == 6_000 and doc["accounts"]["dso"] == 25_000
    assert {o["id"]: o["reason"] for o in doc["rejected_orders"]} == {
        "o2": ["feeder congestion"], "o4": ["not reviewed before bidding closed"]}
    assert _stages(doc, "carol")["stages"]["listings"] == {"sold_wh": 0, "bought_wh": 0, "money_micro": 0}
    # what no listing delivered comes from the grid at retail 0.1: bob 0.5 kWh, carol 1 kWh
    grid = {g["member"]: g for g in doc["grid"]}
    assert (grid["bob"]["money_micro"], grid["carol"]["money_micro"]) == (-50_000, -100_000)
    board = c.get(f"{C}/listings", headers=api.auth("carol")).json()
    assert board[0]["state"] == "CLOSE"
    orders = {o["id"]: o["state"] for o in c.get(f"{C}/listing-orders", headers=api.auth("grid")).json()}
    assert orders == {"o1": "accepted", "o2": "rejected", "o4": "rejected"}
    mine = c.get(f"{C}/multi-settlements/{S1}", headers=api.auth("carol")).json()
    assert [o["id"] for o in mine["rejected_orders"]] == ["o2", "o4"] and mine["listing_orders"] == []


def test_power_flow_review_on_the_feeder(api: Api) -> None:
    """Members on the IEEE European LV feeder: a household-sized order passes, a 2 MW one overloads a line."""
    c = api.client
    for name, bus in (("pv9", "906"), ("ev9", "905"), ("hp9", "905")):
        r = c.post("/admin/communities/green/members", json={"id": name, "role": "prosumer", "bus": bus},
                   headers=api.auth("admin"))
        assert r.status_code == 201, r.text
        api.keys[name] = r.json()["api_key"]
    assert c.post(f"{C}/listings", json={"id": "big", "slot_start": S1, "energy_kwh": 600, "price_per_kwh": 0.05},
                  headers=api.auth("pv9")).status_code == 201
    for oid, who, kwh in (("small", "ev9", 2.0), ("huge", "hp9", 500.0)):
        assert c.post(f"{C}/listings/big/orders", json={"id": oid, "energy_kwh": kwh},
                      headers=api.auth(who)).status_code == 201
    # what the DSO sees before deciding (read only): the power flow of the slot's accepted trades plus the order,
    # by the review's own code
    views: dict[str, Any] = {}

    def look(oid: str, buyer: str) -> None:
        r = c.get(f"{C}/listing-orders/{oid}/power-flow", headers=api.auth("grid"))
        assert r.status_code == 200, r.text
        views[oid] = view = r.json()
        loads = [line["loading_percent"] for line in view["lines"]]
        assert loads == sorted(loads, reverse=True) and view["max_line_loading_percent"] == loads[0]
        assert [(b["member"], b["bus"]) for b in view["buses"]] == [("pv9", "906"), (buyer, "905")]
        assert all(view["min_vm_pu"] <= b["vm_pu"] <= view["max_vm_pu"] for b in view["buses"])

    look("small", "ev9")
    assert views["small"]["violations"] == [] and views["small"]["accepted_trades"] == 0
    assert views["small"]["max_line_loading_percent"] < views["small"]["limits"]["max_line_loading_percent"]
    assert c.get(f"{C}/listing-orders/small/power-flow", headers=api.auth("ev9")).status_code == 403
    assert c.get(f"{C}/listing-orders/nope/power-flow", headers=api.auth("grid")).status_code == 404
    small = c.post(f"{C}/listing-orders/small/review", json={"decision": "power_flow"}, headers=api.auth("grid"))
    assert small.status_code == 200 and small.json()["state"] == "accepted", small.text
    look("huge", "hp9")
    assert views["huge"]["accepted_trades"] == 1  # the small order, accepted meanwhile
    assert views["huge"]["max_line_loading_percent"] > views["huge"]["limits"]["max_line_loading_percent"]
    huge = c.post(f"{C}/listing-orders/huge/review", json={"decision": "power_flow"}, headers=api.auth("grid"))
    assert huge.status_code == 200 and huge.json()["state"] == "rejected", huge.text
    assert any("loading" in reason for reason in huge.json()["reason"])  # a thermal violation names the line
    assert huge.json()["reason"] == views["huge"]["violations"]  # the decision gives what the DSO was shown


def test_signing_document_matches_eth_account(api: Api) -> None:
    """A wallet building the typed data from GET /signing (eth-account here) signs the digest the desk checks."""
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    from transactive.market.multi_signing import address_digest

    info = api.client.get(f"{C}/signing", headers=api.auth("bob")).json()
    alice, bob = Signer(KEYS["alice"]).address, Signer(KEYS["bob"]).address

    def digest(primary: str, message: dict[str, Any]) -> bytes:
        types = {name: info["types"][name] for name in ("EIP712Domain", primary)}
        typed = {"types": types, "primaryType": primary, "domain": info["domain"], "message": message}
        return bytes(_hash_eip191_message(encode_typed_data(full_message=typed)))

    assert digest("MemberAddress", {"community": "green", "member": "alice", "account": alice}) == \
        address_digest("green", "alice", alice)
    terms = {"slot_starts": [S1, S2], "energy_kwh_per_slot": 1.5, "price_per_kwh": 0.08, "nonce": 7}
    message = {"seller": alice, "buyer": bob, "slots": [1772360100, 1772361000], "energyWh": 1500,
               "priceMicroPerKwh": 80_000, "nonce": 7}
    assert digest("BilateralContract", message) == contract_of("x", terms, alice, bob).digest(OFF_CHAIN_DOMAIN)


def test_cli_signatures_are_accepted_by_the_service(api: Api, tmp_path: Any, capsys: Any) -> None:
    """``transactive sign`` makes the key, the registration and the contract signatures a client sends."""
    import json

    from transactive.cli import main

    def run(*args: str) -> dict[str, Any]:
        assert main(list(args)) == 0
        out: dict[str, Any] = json.loads(capsys.readouterr().out)
        return out

    keys = {}
    for who in ("alice", "bob"):
        made = run("sign", "key")
        (tmp_path / who).write_text(made["private_key"])
        keys[who] = made["address"]
        body = run("sign", "address", "--key-file", str(tmp_path / who), "--community", "green", "--member", who)
        r = api.client.post(f"{C}/addresses", json=body, headers=api.auth(who))
        assert r.status_code == 201 and r.json()["address"] == made["address"], r.text
    terms = {"slot_starts": [S1], "energy_kwh_per_slot": 1.0, "price_per_kwh": 0.07}
    (tmp_path / "terms.json").write_text(json.dumps(terms))
    sigs = {who: run("sign", "contract", "--key-file", str(tmp_path / who), "--terms", str(tmp_path / "terms.json"),
                     "--seller-address", keys["alice"], "--buyer-address", keys["bob"])["signature"]
            for who in ("alice", "bob")}
    r = api.client.post(f"{C}/bilateral-contracts", json={"id": "k", "seller": "alice", "buyer": "bob", **terms,
                                                          "signature": sigs["bob"]}, headers=api.auth("bob"))
    assert r.status_code == 201, r.text
    r = api.client.post(f"{C}/bilateral-contracts/k/sign", json={"signature": sigs["alice"]},
                        headers=api.auth("alice"))
    assert r.status_code == 200 and r.json()["state"] == "signed", r.text
    (tmp_path / "bad").write_text("nothex")
    assert main(["sign", "address", "--key-file", str(tmp_path / "bad"), "--community", "g", "--member", "m"]) == 2
    assert "--key-file" in capsys.readouterr().err


def test_a_persistent_failure_computing_the_settlement_leaves_the_readings_open(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # without a chain the settlement is computed before the slot's readings close: a mechanism failing on the
    # residuals fails every attempt with the readings open, so a reading sent meanwhile is taken and settles
    c = api.client
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    _meter(api, "alice", S1, 3.0)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("the mechanism refuses the residuals")

    monkeypatch.setattr(multi_slot, "settle_slot", refused)
    for _ in range(2):  # persistent: every attempt fails the same way, answered 409 naming the slot
        r = c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid"))
        _error(r, 409, "slot_start")
        assert "the mechanism refuses the residuals" in r.json()["error"]["message"]
    _error(c.get(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")), 404, "slot_start")  # nothing stored
    _meter(api, "bob", S1, -2.0)  # 201: the readings are still open
    monkeypatch.undo()
    doc = c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")).json()
    _balanced(doc)
    assert _net_wh(doc) == {"alice": (3000, True), "bob": (-2000, True)}  # both readings settle
    _error(c.post(f"{C}/meter-readings", json={"slot_start": S1, "energy_kwh": -1.0}, headers=api.auth("carol")),
           409, "slot_start")  # closed by the settlement that succeeded


def test_a_reading_while_the_settlement_is_computed_settles_and_one_after_its_read_is_refused(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    c = api.client
    store = c.app.state.multi_desk.store  # type: ignore[attr-defined]
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    _meter(api, "alice", S1, 3.0)
    settle, close = multi_slot.settle_slot, store.close_meter_readings
    settled: list[set[str]] = []
    late: list[Outcome] = []

    def bob_meters_meanwhile(number: int, prosumers: Any, **kwargs: Any) -> Any:
        settled.append({p.peer for p in prosumers})
        if len(settled) == 1:  # bob's reading comes in while the settlement is computed, before the close
            late.append(store.put_meter_reading(MeterReading("green", "bob", S1, -2.0, "2026-03-01T10:30:01Z"))[0])
        return settle(number, prosumers, **kwargs)

    def carol_meters_after_the_read(community: str, slot_start: str, **kwargs: Any) -> Any:
        answer = close(community, slot_start, **kwargs)
        late.append(store.put_meter_reading(MeterReading("green", "carol", S1, -1.0, "2026-03-01T10:30:02Z"))[0])
        return answer

    monkeypatch.setattr(multi_slot, "settle_slot", bob_meters_meanwhile)
    monkeypatch.setattr(store, "close_meter_readings", carol_meters_after_the_read)
    doc = c.post(f"{C}/multi-settlements/{S1}", headers=api.auth("grid")).json()
    monkeypatch.undo()
    assert late == [Outcome.CREATED, Outcome.CLOSED]  # bob's taken, carol's refused by the close
    assert settled == [{"alice"}, {"alice", "bob"}]  # computed again from the readings as closed
    _balanced(doc)
    assert _net_wh(doc) == {"alice": (3000, True), "bob": (-2000, True)}
    stored = c.get(f"{C}/meter-readings", params={"slot_start": S1}, headers=api.auth("grid")).json()
    assert sorted((x["member"], x["energy_kwh"]) for x in stored) == [("alice", 3.0), ("bob", -2.0)]  # as settled
    _error(c.post(f"{C}/meter-readings", json={"slot_start": S1, "energy_kwh": -1.0}, headers=api.auth("carol")),
           409, "slot_start")
