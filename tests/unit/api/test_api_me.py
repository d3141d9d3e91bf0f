"""REST: ``GET /me`` says whom an API key belongs to (the web app picks its view from it)."""

from __future__ import annotations

import random

from api_support import ADMIN, Api

from transactive.crypto.signing import Signer, new_private_key
from transactive.market.multi_signing import sign_address


def test_me_names_the_member_role_community_and_bus(api: Api) -> None:
    for who, role in [("alice", "prosumer"), ("carol", "aggregator"), ("grid", "dso"), ("val", "validator")]:
        r = api.client.get("/me", headers=api.auth(who))
        assert r.status_code == 200, r.text
        assert r.json() == {"id": who, "role": role, "community": "green", "bus": f"b-{who}",
                            "chain_address": None, "registered_address": None}  # no ledger in this app
    r = api.client.get("/me", headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["role"], me["community"], me["bus"], me["registered_address"]) == ("admin", None, None, None)
    assert isinstance(me["id"], str) and me["id"]


def test_me_shows_the_registered_address(api: Api) -> None:
    key = new_private_key(random.Random(3))
    address = Signer(key).address
    r = api.client.post("/communities/green/addresses", json={"address": address,
                                                              "signature": sign_address(key, "green", "alice")},
                        headers=api.auth("alice"))
    assert r.status_code == 201, r.text
    assert api.client.get("/me", headers=api.auth("alice")).json()["registered_address"] == address
    assert api.client.get("/me", headers=api.auth("bob")).json()["registered_address"] is None


def test_me_refuses_a_missing_or_unknown_key(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer tk_nobody"}, {"Authorization": f"Bearer {ADMIN}x"}):
        r = api.client.get("/me", headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["field"] == "Authorization"
