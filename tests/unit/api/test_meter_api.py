"""The REST routes of meter keys, signed readings and disputes (no ledger: the off-chain EIP-712 domain): who
may register a meter key, readings of a metered member only signed by its meter (``transactive sign reading``
makes the body), the DSO unable to report one, disputes resolved by an admin and a DSO, every error a 4xx
naming the field and nothing stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from api_support import SLOT, Api

from transactive.cli import main
from transactive.crypto.signing import address_of

METER = bytes(31) + b"\x41"
OTHER = bytes(31) + b"\x42"
URL = "/communities/green/meter-readings"


def err(response: Any, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["field"] == field, body
    return str(body["message"])


def cli_signed(tmp_path: Path, key: bytes, member: str, kwh: float, capsys: pytest.CaptureFixture[str]
               ) -> dict[str, Any]:
    key_file = tmp_path / f"{key.hex()[-4:]}.key"
    key_file.write_text(key.hex())
    assert main(["sign", "reading", "--key-file", str(key_file), "--community", "green", "--member", member,
                 "--slot-start", SLOT, "--energy-kwh", str(kwh)]) == 0
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    return body


def test_meter_keys(api: Api) -> None:
    c = api.client
    err(c.put("/communities/green/meter", json={"meter_address": "0x12"}, headers=api.auth("alice")), 422,
        "meter_address")
    r = c.put("/communities/green/meter", json={"meter_address": address_of(METER)}, headers=api.auth("alice"))
    assert r.status_code == 200 and r.json()["member"] == "alice" and r.json()["set_by"] == "alice"
    err(c.put("/communities/green/meter", json={"meter_address": address_of(OTHER)}, headers=api.auth("alice")),
        409, "meter_address")  # only an admin replaces a registered meter key
    err(c.put("/communities/green/meter", json={"meter_address": address_of(OTHER), "member": "bob"},
              headers=api.auth("alice")), 403, "Authorization")
    err(c.put("/communities/green/meter", json={"meter_address": address_of(OTHER), "member": "alice"},
              headers=api.auth("grid")), 403, "Authorization")
    r = c.put("/communities/green/meter", json={"meter_address": address_of(OTHER), "member": "alice"},
              headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["meter_address"] == address_of(OTHER)
    # at enrolment; a bad address stores no member
    admin = api.auth("admin")
    err(c.post("/admin/communities/green/members", json={"id": "dave", "role": "prosumer", "meter_address": "x"},
               headers=admin), 422, "meter_address")
    r = c.post("/admin/communities/green/members", json={"id": "dave", "role": "prosumer",
                                                         "meter_address": address_of(METER)}, headers=admin)
    assert r.status_code == 201 and r.json()["meter_address"] == address_of(METER)
    assert [m["member"] for m in c.get("/communities/green/meters", headers=api.auth("grid")).json()] == \
        ["alice", "dave"]
    assert [m["member"] for m in c.get("/communities/green/meters", headers=api.auth("bob")).json()] == []


def test_signed_readings(api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = api.client
    assert c.put("/communities/green/meter", json={"meter_address": address_of(METER)},
                 headers=api.auth("alice")).status_code == 200
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    err(c.post(URL, json={"slot_start": SLOT, "energy_kwh": 1.5}, headers=api.auth("alice")), 422, "signature")
    err(c.post(URL, json={"slot_start": SLOT, "energy_kwh": 1.5, "member": "alice"}, headers=api.auth("grid")),
        403, "Authorization")  # the DSO cannot report a metered member's reading
    forged = cli_signed(tmp_path, OTHER, "alice", 1.5, capsys)
    assert "not signed by the meter key" in err(c.post(URL, json=forged, headers=api.auth("alice")), 422, "signature")
    err(c.post(URL, json={**cli_signed(tmp_path, METER, "alice", 1.5, capsys), "energy_kwh": 1.6},
               headers=api.auth("alice")), 422, "signature")  # another value than the meter signed
    err(c.post(URL, json={"slot_start": SLOT, "energy_kwh": 1.0, "signature": forged["signature"]},
               headers=api.auth("bob")), 422, "signature")  # bob has no meter key
    assert c.get(URL, params={"slot_start": SLOT}, headers=api.auth("admin")).json() == []  # nothing stored
    good = cli_signed(tmp_path, METER, "alice", 1.5, capsys)
    r = c.post(URL, json=good, headers=api.auth("alice"))
    assert r.status_code == 201 and r.json()["meter"] == address_of(METER)
    assert r.json()["signature"] == good["signature"]
    assert c.post(URL, json=good, headers=api.auth("alice")).status_code == 200  # the same again
    assert c.post(URL, json={"slot_start": SLOT, "energy_kwh": -2.0}, headers=api.auth("bob")).status_code == 201
    seen = {r["member"]: r for r in c.get(URL, params={"slot_start": SLOT}, headers=api.auth("grid")).json()}
    assert sorted(seen) == ["alice", "bob"] and seen["bob"]["signature"] is None
    assert [r["member"] for r in c.get(URL, params={"slot_start": SLOT}, headers=api.auth("bob")).json()] == ["bob"]


def test_disputes(api: Api) -> None:
    c = api.client
    api.clock.set(datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    assert c.post(URL, json={"slot_start": SLOT, "energy_kwh": -2.0}, headers=api.auth("bob")).status_code == 201
    disputes = URL + "/disputes"
    err(c.post(disputes, json={"slot_start": SLOT, "energy_kwh": -1.5}, headers=api.auth("bob")), 422, "reason")
    err(c.post(disputes, json={"slot_start": SLOT, "energy_kwh": -1.5, "reason": "x"}, headers=api.auth("alice")),
        404, "slot_start")  # alice has no reading to dispute
    err(c.post(disputes, json={"slot_start": SLOT, "energy_kwh": -2.0, "reason": "x"}, headers=api.auth("bob")),
        422, "energy_kwh")
    r = c.post(disputes, json={"slot_start": SLOT, "energy_kwh": -1.5, "reason": "clamp meter misread"},
               headers=api.auth("bob"))
    assert r.status_code == 201 and (r.json()["state"], r.json()["metered_kwh"]) == ("open", -2.0)
    dispute = r.json()["id"]
    err(c.post(disputes, json={"slot_start": SLOT, "energy_kwh": -1.0, "reason": "again"}, headers=api.auth("bob")),
        409, "slot_start")
    err(c.post(f"{disputes}/{dispute}/approve", headers=api.auth("val")), 403, "Authorization")
    err(c.post(f"{disputes}/{dispute}/approve", headers=api.auth("bob")), 403, "Authorization")
    err(c.post(f"{disputes}/nope/approve", headers=api.auth("admin")), 404, "dispute")
    assert c.post(f"{disputes}/{dispute}/approve", headers=api.auth("admin")).json()["state"] == "open"
    # still open: settlement reads the meter's value
    assert c.get(URL, params={"slot_start": SLOT}, headers=api.auth("bob")).json()[0]["energy_kwh"] == -2.0
    done = c.post(f"{disputes}/{dispute}/approve", json={"note": "verified"}, headers=api.auth("grid")).json()
    assert (done["state"], done["approvals"], done["resolution"]) == ("resolved", {"admin": "admin", "dso": "grid"},
                                                                      "verified")
    err(c.post(f"{disputes}/{dispute}/reject", headers=api.auth("admin")), 409, "dispute")
    (reading,) = c.get(URL, params={"slot_start": SLOT}, headers=api.auth("bob")).json()
    assert (reading["energy_kwh"], reading["metered_kwh"], reading["dispute"]) == (-1.5, -2.0, dispute)
    # a rejection keeps the reading; the record says who and why
    assert c.post(URL, json={"slot_start": SLOT, "energy_kwh": 1.0}, headers=api.auth("alice")).status_code == 201
    opened = c.post(disputes, json={"slot_start": SLOT, "energy_kwh": 0.5, "reason": "DSO audit", "member": "alice"},
                    headers=api.auth("grid")).json()
    rejected = c.post(f"{disputes}/{opened['id']}/reject", headers=api.auth("admin")).json()
    assert rejected["state"] == "rejected" and "admin" in rejected["resolution"]
    assert [(d["member"], d["state"]) for d in c.get(disputes, headers=api.auth("val")).json()] == [
        ("alice", "rejected"), ("bob", "resolved")]  # by slot, member, time
    assert [d["member"] for d in c.get(disputes, headers=api.auth("alice")).json()] == ["alice"]
    assert {r["member"]: r["energy_kwh"] for r in c.get(URL, params={"slot_start": SLOT},
                                                        headers=api.auth("admin")).json()} == {"alice": 1.0,
                                                                                                "bob": -1.5}
