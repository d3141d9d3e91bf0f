"""``transactive ledger verify`` recomputes the service's settlement slots: a slot cleared, anchored and
settled through REST (real SQLite, the embedded chain) leaves ``DATA_DIR/settlements/<slot>.json``; the audit
is clean; one meter reading edited in the archived input is reported as that settlement slot's postings root
mismatch naming the account (exit 1); an archive without settlement files (written before they existed)
verifies as before; an archived settlement of an unknown kind is unreadable input (exit 2)."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.cli import main
from transactive.ledger.audit.archive import SETTLEMENT_KIND, input_root
from transactive.ledger.audit.audit import AuditInputError, verify_archive
from transactive.ledger.messages.commitments import ResultEntry, result_tree
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig

ADMIN = "tk_admin_settlement_audit"
SLOT = "2026-03-01T10:15:00Z"


def _settled_archive(data_dir: Path) -> tuple[int, dict[str, str], bytes]:
    """s1 sells b1 2.5 kWh at 0.15 (DPDA: the midpoint of s2's 0.12 and b2's 0.18), anchored, then settled
    against s1 delivering 2.0 kWh:
    ``(settlement chain slot, member -> address, the postings root on chain)``; the service is stopped."""
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=data_dir, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=data_dir / "chain", archive_dir=data_dir)))
    with TestClient(app) as client:
        keys = {"admin": {"Authorization": f"Bearer {ADMIN}"}}
        assert client.post("/admin/communities", json={"name": "green", "mechanism": "dpda", "slot_minutes": 15},
                           headers=keys["admin"]).status_code == 201
        for name, role in [("s1", "prosumer"), ("s2", "prosumer"), ("b1", "prosumer"), ("b2", "prosumer"),
                           ("grid", "dso")]:
            r = client.post("/admin/communities/green/members", json={"id": name, "role": role, "bus": "34"},
                            headers=keys["admin"])
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                      ("b2", "buy", 2, 0.18)]:
            r = client.post("/communities/green/orders", json={"side": side, "slot_start": SLOT, "idempotency_key": "k",
                                                               "energy_kwh": kwh, "price_per_kwh": price},
                            headers=keys[who])
            assert r.status_code == 201, r.text
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=keys["admin"]).status_code == 200
        desk = app.state.service.ledger
        desk.process_due(clock.now())
        clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
        for who, kwh in [("s1", 2.0), ("b1", -2.5)]:
            assert client.post("/communities/green/meter-readings", json={"slot_start": SLOT, "energy_kwh": kwh},
                               headers=keys[who]).status_code == 201
        r = client.post(f"/admin/communities/green/slots/{SLOT}/settle", headers=keys["admin"])
        assert r.status_code == 200 and r.json()["settlement"]["state"] == "settled", r.text
        srec = desk.store.get_ledger_slot("green", SLOT, "settlement")
        addresses = {m: client.get("/communities/green/account", headers=keys[m]).json()["address"]
                     for m in ("s1", "b1", "grid")}
        root = bytes(desk.chain.call(desk.slots, "slots", srec.chain_slot)[6])
        return srec.chain_slot, addresses, root


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, str], bytes]:
    data_dir = tmp_path_factory.mktemp("settled")
    return (data_dir, *_settled_archive(data_dir))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst / "data")
    return dst / "data"


def test_a_settled_slot_is_archived_with_its_input_and_audits_clean(
    settled: tuple[Path, int, dict[str, str], bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, number, addresses, root = settled
    doc = json.loads((data_dir / "settlements" / f"{number}.json").read_text())
    assert doc["slot"] == number and doc["kind"] == SETTLEMENT_KIND
    assert doc["input"]["readings_kwh"] == {"b1": -2.5, "s1": 2.0}
    assert doc["orderRoot"] == "0x" + input_root(doc["input"]).hex()
    # the postings by hand ((4.8)-(4.9), micro-tokens): b1 pays 0.15 x 2.5 kWh + half the 0.01/kWh network
    # charge = 387,500; s1 receives 0.15 x 2.0 kWh - 12,500 - the 0.05/kWh penalty on 0.5 kWh = 262,500;
    # the DSO the rest, 125,000; their root is the one endorsed on chain
    postings = [ResultEntry.from_json(p) for p in doc["postings"]]
    amounts = {p.account: p.amount_micro for p in postings}
    assert {m: amounts.get(a) for m, a in addresses.items()} == {"s1": 262_500, "b1": -387_500, "grid": 125_000}
    assert sum(amounts.values()) == 0
    assert result_tree(number, postings).root == root and doc["resultRoot"] == "0x" + root.hex()
    assert verify_archive(data_dir) is None
    assert main(["ledger", "verify", str(data_dir)]) == 0
    assert "1 settlement slot(s)" in capsys.readouterr().out


def test_an_archived_settlement_of_an_unknown_kind_is_unreadable_input(
    settled: tuple[Path, int, dict[str, str], bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _copy(settled[0], tmp_path)
    path = data_dir / "settlements" / f"{settled[1]}.json"
    doc = json.loads(path.read_text())
    doc["kind"] = "settlement-input-v9"
    path.write_text(json.dumps(doc))
    with pytest.raises(AuditInputError, match="unknown settlement kind 'settlement-input-v9'"):
        verify_archive(data_dir)  # never skipped silently
    assert main(["ledger", "verify", str(data_dir)]) == 2
    assert "unknown settlement kind" in capsys.readouterr().err


def test_an_edited_meter_reading_is_the_settlement_slots_postings_root_mismatch(
    settled: tuple[Path, int, dict[str, str], bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _copy(settled[0], tmp_path)
    number, addresses = settled[1], settled[2]
    path = data_dir / "settlements" / f"{number}.json"
    doc = json.loads(path.read_text())
    doc["input"]["readings_kwh"]["s1"] = 2.5  # s1 claims to have delivered all it sold
    path.write_text(json.dumps(doc))
    found = verify_archive(data_dir)
    assert found is not None and found.slot == number
    assert found.what == f"postings root, account {addresses['s1']}"
    assert main(["ledger", "verify", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert f"slot {number}: postings root, account {addresses['s1']}" in err


def test_deleted_settlement_files_are_found_from_the_chain(
    settled: tuple[Path, int, dict[str, str], bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chain shows the settlement slot SETTLED: removing its archive file is a finding (issue 9,
    finding 7), not an older archive that verifies as before."""
    data_dir = _copy(settled[0], tmp_path)
    shutil.rmtree(data_dir / "settlements")
    found = verify_archive(data_dir)
    assert found is not None and (found.slot, found.what) == (settled[1], "archive file")
    assert "SETTLED" in found.expected
    assert main(["ledger", "verify", str(data_dir)]) == 1
    assert f"slot {settled[1]}: archive file" in capsys.readouterr().err
