"""REST: ``GET /communities/{c}/order-form`` describes what the intake accepts, and a member's order defaults
(``GET|PUT /communities/{c}/profile``) fill the fields a ``dpda_matched`` order omits.

The description is checked against the intake itself: an order built from it is accepted for every mechanism
with default parameters, and each bound it states is enforced by the intake naming that field.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from typing import Any

from api_support import ADMIN, SLOT, T0, Api

from transactive.grid.feeder import load_feeder
from transactive.market import iso
from transactive.market.order_defaults import SUGGESTED
from transactive.market.order_form import TEXT
from transactive.matching.mechanisms import DEFAULT_FEEDER
from transactive.registry import full_registry

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


def _community(api: Api, name: str, members: dict[str, str | None], **body: Any) -> dict[str, str]:
    r = api.client.post("/admin/communities", json={"name": name, **body}, headers=ADMIN_H)
    assert r.status_code == 201, r.text
    keys = {}
    for member, bus in members.items():
        spec: dict[str, Any] = {"id": member, "role": "prosumer"} if bus is None else {
            "id": member, "role": "prosumer", "bus": bus}
        r = api.client.post(f"/admin/communities/{name}/members", json=spec, headers=ADMIN_H)
        assert r.status_code == 201, r.text
        keys[member] = r.json()["api_key"]
        api.keys[member] = keys[member]
    return keys


def _order(api: Api, community: str, who: str, key: str, **fields: Any) -> Any:
    body = {"slot_start": SLOT, "idempotency_key": key, **fields}
    return api.client.post(f"/communities/{community}/orders", json=body, headers=api.auth(who))


def _form(api: Api, community: str, who: str) -> dict[str, Any]:
    r = api.client.get(f"/communities/{community}/order-form", headers=api.auth(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _buses(n: int) -> list[str]:
    return [str(b) for b in list(load_feeder(DEFAULT_FEEDER).load_buses)[:n]]


def test_a_default_community_takes_an_order_of_side_energy_and_price_only(api: Api) -> None:
    """The bug of issue 11: a ``dpda_matched`` order without ``distance_pref_m`` and the welfare parameters was
    refused (422 ``distance_pref_m: required by dpda_matched``). Now the suggested defaults fill them, and the
    slot clears with them: DPDA (seed 004 Alg. 2) on asks 0.1, 0.5 (2 kWh each) and bids 0.4 (1.5 kWh), 0.05
    (1 kWh) is Case 1 (x = y = 1, (0.5 + 0.05)/2 = 0.275 within [0.1, 0.4], 1.5 <= 2): p0 0.275, the first
    buyer gets its 1.5 kWh, from the first seller."""
    buses = _buses(4)
    _community(api, "town", dict(zip(("s1", "s2", "b1", "b2"), buses, strict=True)))  # defaults: dpda_matched
    r = _order(api, "town", "s1", "k1", side="sell", energy_kwh=2.0, price_per_kwh=0.1)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("distance_pref_m", "a", "b", "c")} == {
        k: SUGGESTED[k] for k in ("distance_pref_m", "a", "b", "c")}
    assert "omega" not in r.json()  # a seller's entry carries no buyer parameter
    r = _order(api, "town", "b1", "k2", side="buy", energy_kwh=1.5, price_per_kwh=0.4)
    assert r.status_code == 201, r.text
    assert (r.json()["omega"], r.json()["alpha"], r.json()["bus"]) == (SUGGESTED["omega"], SUGGESTED["alpha"],
                                                                        buses[2])
    assert _order(api, "town", "s2", "k3", side="sell", energy_kwh=2.0, price_per_kwh=0.5).status_code == 201
    assert _order(api, "town", "b2", "k4", side="buy", energy_kwh=1.0, price_per_kwh=0.05).status_code == 201
    api.clock.set(T0 + timedelta(minutes=30))
    r = api.client.post(f"/admin/communities/town/slots/{SLOT}/clear", headers=ADMIN_H)
    assert r.status_code == 200 and r.json()["state"] == "cleared", r.text
    result = api.client.get(f"/communities/town/slots/{SLOT}/result", headers=ADMIN_H).json()
    assert result["price_per_kwh"] == 0.275
    full = result["result"]
    assert {row["id"]: row["energy_kwh"] for row in full["buyers"]} == {"b1": 1.5, "b2": 0.0}
    # the trade's Alg. 4 score is computed with the suggested defaults (both parties within 250 m):
    # s_p = 0.4 - d_km * 0.002; W_S = 0.275*1.5 - (0.0005*1.5² + 0.01*1.5 + 0); W_B = (0.2*1.5 - 0.04*1.5²) - 0.275*1.5
    (trade,) = full["details"]["trades"]
    d_km = trade["distance_m"] / 1000
    assert trade["distance_m"] < SUGGESTED["distance_pref_m"]
    w_s = 0.275 * 1.5 - (0.0005 * 1.5**2 + 0.01 * 1.5)
    w_b = (0.2 * 1.5 - 0.04 * 1.5**2) - 0.275 * 1.5
    assert math.isclose(trade["score"], (0.4 - d_km * 0.002) * (w_s + w_b) / 2, rel_tol=1e-12)


def test_saved_defaults_fill_an_order_and_an_order_s_own_value_wins(api: Api) -> None:
    (bus,) = _buses(1)
    _community(api, "town", {"p": bus})
    r = api.client.put("/communities/town/profile", json={"order_defaults": {"distance_pref_m": 900, "omega": 0.5}},
                       headers=api.auth("p"))
    assert r.status_code == 200, r.text
    assert r.json()["saved"] == {"distance_pref_m": 900, "omega": 0.5}
    assert r.json()["order_defaults"] == {**SUGGESTED, "distance_pref_m": 900, "omega": 0.5}
    sources = {f["name"]: f["default_source"] for f in r.json()["fields"]}
    assert sources == {"distance_pref_m": "profile", "a": "suggested", "b": "suggested", "c": "suggested",
                       "omega": "profile", "alpha": "suggested"}
    r = _order(api, "town", "p", "k1", side="buy", energy_kwh=1.0, price_per_kwh=0.2, alpha=0.1)
    assert r.status_code == 201, r.text
    assert (r.json()["distance_pref_m"], r.json()["omega"], r.json()["alpha"]) == (900, 0.5, 0.1)
    form = {f["name"]: f for f in _form(api, "town", "p")["fields"]}
    assert (form["distance_pref_m"]["default"], form["omega"]["default"]) == (900, 0.5)
    assert form["bus"]["default"] == bus and form["bus"]["default_source"] == "member"


def test_bad_defaults_are_refused_by_field_and_change_nothing(api: Api) -> None:
    (bus,) = _buses(1)
    _community(api, "town", {"p": bus})
    api.client.put("/communities/town/profile", json={"order_defaults": {"a": 0.002}}, headers=api.auth("p"))
    for body, field, message in [
        ({"order_defaults": {"distance_pref_m": -5}}, "order_defaults.distance_pref_m", "must be >= 0, got -5"),
        ({"order_defaults": {"omega": "high"}}, "order_defaults.omega", "must be a number, got a string"),
        ({"order_defaults": {"price_per_kwh": 1}}, "order_defaults.price_per_kwh", "not a default"),
        ({"order_defaults": {"bus": "12"}}, "order_defaults.bus", "not a default"),
    ]:
        r = api.client.put("/communities/town/profile", json=body, headers=api.auth("p"))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field and message in r.json()["error"]["message"], r.text
    assert api.client.get("/communities/town/profile", headers=api.auth("p")).json()["saved"] == {"a": 0.002}
    r = api.client.put("/communities/green/profile", json={"order_defaults": {}}, headers=api.auth("grid"))
    assert r.status_code == 403, r.text  # a DSO places no orders
    r = api.client.get("/communities/town/profile", headers=api.auth("alice"))  # another community's member
    assert r.status_code in (403, 404), r.text
    r = api.client.put("/communities/green/profile", json={"order_defaults": {"omega": 1}}, headers=api.auth("alice"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "order_defaults.omega", r.text  # uniform: none


def _valid_value(field: dict[str, Any]) -> Any:
    if field["type"] == "choice":
        return field["choices"][0]
    if field["type"] == "text":
        return "x"
    low = field["minimum"] if field["minimum"] is not None else 0
    return low + 1


def _bad_values(field: dict[str, Any]) -> list[Any]:
    """Values the description says are out of bounds."""
    bad: list[Any] = []
    if field["minimum"] is not None:
        bad.append(field["minimum"] if field["exclusive_minimum"] else field["minimum"] - 1)
    if field["maximum"] is not None:
        bad.append(field["maximum"] * 2)
    return bad


def test_the_description_matches_the_intake_for_every_mechanism(api: Api) -> None:
    """For each mechanism whose parameters all have defaults: an order built only from the description (its
    required fields, the described defaults left to the service) is accepted; every stated bound of a number
    field is enforced by the intake, naming the field where the description puts it (inside ``blocks``)."""
    checked = 0
    for n, (name, mechanism) in enumerate(sorted(full_registry().items())):
        if any(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(mechanism.params_type)):
            continue
        who = f"m{n}"
        _community(api, f"c{n}", {who: None}, mechanism=name)
        form = _form(api, f"c{n}", who)
        assert form["mechanism"] == name and form["block_bids"] == mechanism.block_bids
        fields = form["fields"]
        assert [f["name"] for f in fields[:3]] == ["side", "slot_start", "idempotency_key"]

        def body(extra: dict[str, Any], side: str, form: dict[str, Any] = form) -> dict[str, Any]:
            fields = form["fields"]
            order: dict[str, Any] = {}
            block: dict[str, Any] = {}
            for f in fields[3:]:
                if side not in f["sides"] or not f["required"]:
                    continue
                (block if f["part"] == "block" else order)[f["name"]] = _valid_value(f)
            for key, value in extra.items():
                part = next(f["part"] for f in fields if f["name"] == key)
                (block if part == "block" else order)[key] = value
            return {**order, **({"blocks": [block]} if form["block_bids"] else block), "side": side}

        for k, side in enumerate(form["sides"]):
            r = _order(api, f"c{n}", who, f"ok{k}", **body({}, side))
            assert r.status_code in (201, 409), r.text  # 409: the member's order for the slot exists already
        for f in fields[3:]:
            if f["type"] not in ("number", "integer"):
                continue
            side = next(s for s in form["sides"] if s in f["sides"])
            for value in _bad_values(f):
                r = _order(api, f"c{n}", who, "bad", **body({f["name"]: value}, side))
                expected = f"blocks[0].{f['name']}" if f["part"] == "block" and form["block_bids"] else f["name"]
                assert r.status_code == 422, (name, f["name"], value, r.text)
                assert r.json()["error"]["field"] == expected, (name, r.text)
                checked += 1
        if form["sides"] != ["sell", "buy"]:
            other = "buy" if form["sides"] == ["sell"] else "sell"
            r = _order(api, f"c{n}", who, "other", **body({}, form["sides"][0]) | {"side": other})
            assert r.status_code == 422 and r.json()["error"]["field"] == "side", r.text
    assert checked >= 20


def test_every_field_of_every_mechanism_has_words_and_defaults_are_valid() -> None:
    """A new mechanism's field needs a label and help (else the form shows its bare name); each suggested
    default passes the field's own rule and welfare parameters make sense (α > 0 for the utility's peak)."""
    for mechanism in full_registry().values():
        for spec in mechanism.participant_fields:
            label, _unit, help_text = TEXT[spec.name]
            assert label and help_text, spec.name
            if spec.name in SUGGESTED:
                assert math.isfinite(SUGGESTED[spec.name]) and SUGGESTED[spec.name] >= (spec.minimum or 0)
    assert SUGGESTED["alpha"] > 0 and SUGGESTED["omega"] / (2 * SUGGESTED["alpha"]) == 2.5


def test_order_form_for_block_bids_and_roles(api: Api) -> None:
    _community(api, "blk", {"q": None}, mechanism="double_auction_vcg")
    form = _form(api, "blk", "q")
    parts = {f["name"]: f["part"] for f in form["fields"]}
    assert form["block_bids"] and parts["energy_kwh"] == parts["price_per_kwh"] == "block"
    r = _order(api, "blk", "q", "b1", side="sell", blocks=[{"energy_kwh": 1, "price_per_kwh": 0.1},
                                                         {"energy_kwh": 2, "price_per_kwh": 0.3}])
    assert r.status_code == 201, r.text
    # any member of the community may read the form (a DSO, which has no profile, sees the suggestions)
    dso = _form(api, "green", "grid")
    assert dso["mechanism"] == "uniform"
    assert [f["name"] for f in dso["fields"]] == ["side", "slot_start", "idempotency_key", "energy_kwh",
                                                  "price_per_kwh"]
    assert api.client.get("/communities/blk/order-form", headers=api.auth("grid")).status_code in (403, 404)


def test_feedback_says_who_won_and_how_far_the_others_were(api: Api) -> None:
    """Seed 004 Alg. 5 step 5 on the DPDA Case 1 slot above (p0 = 0.275): the first buyer won all of its 1.5
    kWh; the first seller sold 1.5 of 2 kWh (oversupply 0.5 shared by the one chosen seller); the second buyer's
    bid 0.05 was 0.225 below the price and the second seller's ask 0.5 0.225 above it. A slot with a buyer alone
    is void; a slot that has started but not cleared is pending; a slot not started yet is not listed."""
    buses = _buses(4)
    _community(api, "town", dict(zip(("s1", "s2", "b1", "b2"), buses, strict=True)))
    for who, side, energy, price in (("s1", "sell", 2.0, 0.1), ("s2", "sell", 2.0, 0.5), ("b1", "buy", 1.5, 0.4),
                                     ("b2", "buy", 1.0, 0.05)):
        assert _order(api, "town", who, "k1", side=side, energy_kwh=energy, price_per_kwh=price).status_code == 201
    later = iso(T0 + timedelta(minutes=30))  # b1 alone: void once cleared
    nxt = iso(T0 + timedelta(minutes=45))  # started (pending) at the check below
    future = iso(T0 + timedelta(hours=2))
    for key, slot in (("k2", later), ("k3", nxt), ("k4", future)):
        r = api.client.post("/communities/town/orders", headers=api.auth("b1"), json={
            "side": "buy", "slot_start": slot, "idempotency_key": key, "energy_kwh": 1.0, "price_per_kwh": 0.3})
        assert r.status_code == 201, r.text
    for slot in (SLOT, later):
        api.clock.set(datetime.fromisoformat(slot) + timedelta(minutes=10))
        assert api.client.post(f"/admin/communities/town/slots/{slot}/clear", headers=ADMIN_H).status_code == 200
    api.clock.set(datetime.fromisoformat(nxt) + timedelta(minutes=1))

    def mine(who: str) -> list[dict[str, Any]]:
        r = api.client.get("/communities/town/feedback", headers=api.auth(who))
        assert r.status_code == 200, r.text
        return list(r.json())

    (s1,), (s2,), (b2,) = mine("s1"), mine("s2"), mine("b2")
    assert (s1["outcome"], s1["traded_kwh"], s1["asked_kwh"], s1["gap_per_kwh"]) == ("partly", 1.5, 2.0, -0.175)
    assert (s2["outcome"], s2["traded_kwh"], s2["gap_per_kwh"], s2["clearing_price_per_kwh"]) == (
        "not won", 0.0, 0.225, 0.275)
    assert "0.5 was 0.225 above the price of 0.275" in s2["reason"]
    assert (b2["outcome"], b2["gap_per_kwh"]) == ("not won", 0.225)
    assert "0.05 was 0.225 below the price of 0.275" in b2["reason"]
    b1 = mine("b1")
    assert [(f["slot_start"], f["outcome"]) for f in b1] == [(nxt, "pending"), (later, "void"), (SLOT, "won")]
    assert b1[2]["gap_per_kwh"] == -0.125 and b1[2]["money"] < 0  # bid 0.4, price 0.275: a buyer pays
    assert "sellers" in b1[1]["reason"]  # the void slot's note names the empty side
    assert len(mine("b1")) == 3 and api.client.get("/communities/town/feedback?last=1",
                                                   headers=api.auth("b1")).json()[0]["slot_start"] == nxt
    assert api.client.get("/communities/green/feedback", headers=api.auth("grid")).status_code == 403


def test_alpha_zero_is_refused_at_the_intake_not_voiding_the_slot(api: Api) -> None:
    """A buyer's α must be > 0 (the utility ωE − αE² peaks at ω/(2α); score matching refuses α = 0). The intake
    took α = 0 (its rule said >= 0), and at clearing the whole slot became void for everyone ("cannot clear:
    buyers[1].alpha: must be a finite number > 0"). Now the order, and a saved default, are refused by field,
    and the order form says so."""
    (bus,) = _buses(1)
    _community(api, "town", {"p": bus})
    r = _order(api, "town", "p", "k1", side="buy", energy_kwh=1.0, price_per_kwh=0.2, alpha=0)
    assert r.status_code == 422 and r.json()["error"] == {"field": "alpha", "message": "must be > 0, got 0"}, r.text
    r = api.client.put("/communities/town/profile", json={"order_defaults": {"alpha": 0.0}}, headers=api.auth("p"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "order_defaults.alpha", r.text
    alpha = next(f for f in _form(api, "town", "p")["fields"] if f["name"] == "alpha")
    assert (alpha["minimum"], alpha["exclusive_minimum"]) == (0.0, True)
    assert _order(api, "town", "p", "k2", side="buy", energy_kwh=1.0, price_per_kwh=0.2, alpha=1e-6).status_code == 201
