"""``transactive ledger verify`` checks what the API shows from the SQL store against the archive and the chain
(issue 9, finding 7: "editing orders, readings, results, statements or chain addresses in the SQL store still
verifies clean; the API serves the store").

A real service (REST, SQLite, the embedded chain) clears, anchors and settles one slot; each test edits one copy
of its ``transactive.sqlite3`` the way an intruder or a bug would (``sqlite3`` UPDATE / DELETE on the very table
the API route reads) and expects ``ledger verify`` to exit 1 naming the community, slot, member and field, while
the archive's own audit (:func:`verify_archive`, all that ran before) stays clean: on main every one of these
edits verifies "clean". The untampered copy is clean and its database file unchanged (bytes, mtime, no ``-wal``
left behind); a garbage store file is unreadable input (exit 2); a directory without a store (a ``transactive
day`` one) is audited without the store check, and says so. The same on PostgreSQL with ``--db-url``, whose
session is read-only."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service_support import own_database

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.cli import main
from transactive.ledger.audit.audit import verify_archive
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig
from transactive.store.readonly import StoreUnreadable, open_read_only

ADMIN = "tk_admin_store_audit"
SLOT = "2026-03-01T10:15:00Z"
STORE = "transactive.sqlite3"


def _run_service(data_dir: Path, db_url: str | None = None) -> dict[str, Any]:
    """s1 and s2 sell, b1 and b2 buy (DPDA, a DSO ``grid``); cleared, anchored, read by the meters (s1 delivers
    2.0 of its 2.5 kWh) and settled; returns what the API showed (addresses, statements) for the tests' oracle."""
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=data_dir, db_url=db_url, admin_key=ADMIN, clock=clock, run_cycle=False,
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
        app.state.service.ledger.process_due(clock.now())
        clock.set(datetime(2026, 3, 1, 10, 31, tzinfo=UTC))
        for who, kwh in [("s1", 2.0), ("b1", -2.5)]:
            assert client.post("/communities/green/meter-readings", json={"slot_start": SLOT, "energy_kwh": kwh},
                               headers=keys[who]).status_code == 201
        r = client.post(f"/admin/communities/green/slots/{SLOT}/settle", headers=keys["admin"])
        assert r.status_code == 200 and r.json()["settlement"]["state"] == "settled", r.text
        return {"addresses": {m: client.get("/communities/green/account", headers=keys[m]).json()["address"]
                              for m in ("s1", "b1", "grid")},
                "statement": client.get("/communities/green/statements", headers=keys["s1"]).json()}


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("settled") / "data"
    shown = _run_service(data_dir)
    assert verify_archive(data_dir) is None
    return data_dir, shown


def _copy(settled: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    return Path(shutil.copytree(settled[0], tmp_path / "data"))


def _edit(data_dir: Path, sql: str, *params: Any) -> None:
    with sqlite3.connect(data_dir / STORE) as conn:
        assert conn.execute(sql, params).rowcount >= 1, sql
    conn.close()


def _edit_json(data_dir: Path, table: str, where: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the JSON ``document`` of the one row of ``table`` matching ``where``."""
    with sqlite3.connect(data_dir / STORE) as conn:
        (raw,) = conn.execute(f"SELECT document FROM {table} WHERE {where}").fetchone()
        doc = json.loads(raw)
        change(doc)
        conn.execute(f"UPDATE {table} SET document = ? WHERE {where}", (json.dumps(doc),))
    conn.close()


def _verify(data_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["ledger", "verify", str(data_dir), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _fingerprint(path: Path) -> tuple[str, int, list[str]]:
    return (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
            sorted(p.name for p in path.parent.iterdir()))


def test_the_untampered_store_is_clean_and_left_as_it_was(settled: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = _copy(settled, tmp_path)
    before = _fingerprint(data_dir / STORE)
    code, out, err = _verify(data_dir, capsys)
    assert code == 0, err
    assert "store clean" in out and "1 anchored and 1 settled slot(s)" in out
    assert _fingerprint(data_dir / STORE) == before  # same bytes, same mtime, no -wal / -shm created


def test_a_store_in_use_is_read_with_its_write_ahead_log(settled: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """While the service has the database open (WAL mode), a committed change may sit only in the ``-wal``
    file: the audit reads it (``mode=ro``, not ``immutable``) and reports the edit."""
    from transactive.store import open_store

    data_dir = _copy(settled, tmp_path)
    running = open_store(data_dir)  # as the service holds it
    try:
        with running.engine.begin() as conn:
            conn.execute(sa.text("PRAGMA wal_autocheckpoint=0"))
            conn.execute(sa.text("UPDATE meter_readings SET energy_kwh = 2.4 WHERE member = 's1'"))
        assert (data_dir / f"{STORE}-wal").stat().st_size > 0
        code, _, err = _verify(data_dir, capsys)
    finally:
        running.close()
    assert code == 1 and "member s1: meter reading energy_kwh: expected 2.0 kWh" in err, err


def _line(doc: dict[str, Any], member: str) -> dict[str, Any]:
    line: dict[str, Any] = next(ln for ln in doc["lines"] if ln["member"] == member)
    return line


def _row(doc: dict[str, Any], member: str) -> dict[str, Any]:
    row: dict[str, Any] = next(r for r in (*doc["sellers"], *doc["buyers"]) if r["id"] == member)
    return row


def _tamper_statement(data_dir: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        line = _line(doc, "s1")
        line["amount_micro"] += 50_000
        line["balance_change_micro"] += 50_000
    _edit_json(data_dir, "ledger_slots", "kind = 'settlement'", change)


def _tamper_result(data_dir: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        _row(doc, "b1")["payment"] += 0.05
    _edit_json(data_dir, "results", "community = 'green'", change)


def _tamper_dso_income(data_dir: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["dso"]["amount_micro"] += 1
    _edit_json(data_dir, "ledger_slots", "kind = 'settlement'", change)


def _tamper_result_root(data_dir: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["resultRoot"] = "0x" + "ab" * 32
    _edit_json(data_dir, "ledger_slots", "kind = 'clearing'", change)


TAMPERS: dict[str, tuple[Callable[[Path], None], str]] = {
    # the order page (GET /communities/{c}/orders): s1 now offers 2.9 kWh instead of the 3 it signed
    "order edited": (lambda d: _edit(d, "UPDATE orders SET entry = json_set(entry, '$.energy_kwh', 2.9) "
                                        "WHERE member = 's1'"),
                     "member s1: order seq {seq} block 0 energy_wh: expected 3000 (the signed order), the store "
                     "shows 2900"),
    "order price edited": (lambda d: _edit(d, "UPDATE orders SET entry = json_set(entry, '$.price_per_kwh', 0.19) "
                                              "WHERE member = 'b1'"), "member b1: order seq {seq} block 0 "
                                                                      "price_micro_per_kwh: expected 200000"),
    "order deleted": (lambda d: _edit(d, "DELETE FROM orders WHERE member = 'b2'"),
                      "member b2: order seq {seq} block 0: expected the signed order"),
    # the readings page (GET .../meter-readings): s1 delivered 2.0 kWh, the store now says 2.4
    "reading edited": (lambda d: _edit(d, "UPDATE meter_readings SET energy_kwh = 2.4 WHERE member = 's1'"),
                       "member s1: meter reading energy_kwh: expected 2.0 kWh (the settlement input), the store "
                       "shows 2.4 kWh"),
    "reading deleted": (lambda d: _edit(d, "DELETE FROM meter_readings WHERE member = 'b1'"),
                        "member b1: meter reading energy_kwh: expected -2.5 kWh (the settlement input), the store "
                        "shows none"),
    # the result page (GET .../slots/{s}/result): b1 paid 0.05 tokens more than the endorsed entry
    "result edited": (_tamper_result, "member b1: result payment"),
    # the statement (GET .../statements): s1 received 0.05 tokens more than the chain moved
    "statement edited": (_tamper_statement, "member s1: statement amount_micro"),
    "dso income edited": (_tamper_dso_income, "member grid: dso amount_micro: expected"),
    "ledger root edited": (_tamper_result_root, ": ledger result_root: expected 0x"),
    "settlement record deleted": (lambda d: _edit(d, "DELETE FROM ledger_slots WHERE kind = 'settlement'"),
                                  ": ledger record of on-chain slot"),
    # the account page (GET .../account): b1's address replaced by another account's
    "chain address edited": (lambda d: _edit(d, "UPDATE chain_accounts SET address = "
                                                "'0x00000000000000000000000000000000000000b1' WHERE member = 'b1'"),
                             "member b1: chain address: expected an address the Registry has as a member"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_each_edit_of_what_the_api_shows_is_a_finding(name: str, settled: tuple[Path, dict[str, Any]],
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = _copy(settled, tmp_path)
    with sqlite3.connect(data_dir / STORE) as conn:
        seqs = dict(conn.execute("SELECT member, seq FROM orders").fetchall())
    conn.close()
    tamper, expected = TAMPERS[name]
    tamper(data_dir)
    assert verify_archive(data_dir) is None  # the archive and the chain alone: clean (all main checked)
    code, out, err = _verify(data_dir, capsys)
    assert code == 1, out + err
    who = next((m for m in seqs if f"member {m}:" in expected), None)
    want = expected.format(seq=seqs.get(who, 0))
    slot_finding = f"discrepancy: store green {SLOT}{'' if want.startswith(':') else ' '}{want}"
    assert slot_finding in err or f"discrepancy: store green {want}" in err, err  # (an address: no slot)
    assert "store clean" not in out


def test_the_api_serves_an_edited_statement_and_verify_names_it(settled: tuple[Path, dict[str, Any]],
                                                                tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 7 as a user meets it: after the edit the service itself shows s1 a statement 0.05 tokens larger
    than the chain moved; the archive's audit alone is clean, the store check names the line."""
    data_dir = _copy(settled, tmp_path)
    before = settled[1]["statement"][0]
    _tamper_statement(data_dir)
    app = create_app(Settings(data_dir=data_dir, admin_key=ADMIN, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=data_dir / "chain", archive_dir=data_dir)))
    with TestClient(app) as client:
        shown = client.get("/communities/green/statements", params={"member": "s1"},
                           headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert shown[0]["amount_micro"] == before["amount_micro"] + 50_000
    assert verify_archive(data_dir) is None
    code, _, err = _verify(data_dir, capsys)
    assert code == 1
    assert (f"store green {SLOT} member s1: statement amount_micro: expected {before['amount_micro']}, the store "
            f"shows {before['amount_micro'] + 50_000}") in err


def test_a_chain_address_differing_from_the_archived_input_is_named(settled: tuple[Path, dict[str, Any]],
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Swapping two members' addresses keeps every address a Registry member: the settlement input's
    ``accounts`` (committed on chain by its root) names both members."""
    data_dir = _copy(settled, tmp_path)
    shown = settled[1]["addresses"]
    _edit(data_dir, "UPDATE chain_accounts SET address = 'x' WHERE member = 's1'")
    _edit(data_dir, "UPDATE chain_accounts SET address = ? WHERE member = 'b1'", shown["s1"])
    _edit(data_dir, "UPDATE chain_accounts SET address = ? WHERE member = 's1'", shown["b1"])
    code, _, err = _verify(data_dir, capsys)
    assert code == 1
    for member, archived, stored in (("s1", shown["s1"], shown["b1"]), ("b1", shown["b1"], shown["s1"])):
        assert f"member {member}: chain address: expected {archived} (settlements/" in err
        assert f"the store shows {stored}" in err


def test_no_store_and_a_day_directory_skip_the_store_check_and_say_so(
        settled: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = _copy(settled, tmp_path)
    _tamper_statement(data_dir)
    code, out, _ = _verify(data_dir, capsys, "--no-store")
    assert code == 0 and "store: not checked (--no-store)" in out
    (data_dir / STORE).unlink()  # as a `transactive day` directory: an archive and its chain, no SQL store
    code, out, _ = _verify(data_dir, capsys)
    assert code == 0 and "the store check is skipped" in out


@pytest.mark.parametrize("content", [b"this is not a database" * 300, b""])
def test_an_unreadable_store_exits_2(content: bytes, settled: tuple[Path, dict[str, Any]], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Garbage bytes, and an empty file (an SQLite database without the service's tables)."""
    data_dir = _copy(settled, tmp_path)
    (data_dir / STORE).write_bytes(content)
    code, _, err = _verify(data_dir, capsys)
    assert code == 2
    assert f"error: cannot read the store {data_dir / STORE}" in err and "Traceback" not in err


def test_an_undecodable_stored_document_exits_2(settled: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = _copy(settled, tmp_path)
    _edit(data_dir, "UPDATE results SET document = '{not json'")
    code, _, err = _verify(data_dir, capsys)
    assert code == 2 and "community green" in err


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test cluster (dropped afterwards)."""
    with own_database(postgres_url, "audit") as url:
        yield url


def test_the_store_on_postgresql_is_checked_in_a_read_only_transaction(
        pg_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    _run_service(data_dir, pg_db)
    assert not (data_dir / STORE).exists()
    code, out, err = _verify(data_dir, capsys, "--db-url", pg_db)
    assert code == 0 and "store clean" in out, err
    store = open_read_only(url=pg_db)
    with store.snapshot(), pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        assert store._conn is not None
        store._conn.execute(sa.text("UPDATE meter_readings SET energy_kwh = 0"))
    engine = sa.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        assert conn.execute(sa.text("UPDATE meter_readings SET energy_kwh = 2.4 WHERE member = 's1'")).rowcount == 1
    engine.dispose()
    code, _, err = _verify(data_dir, capsys, "--db-url", pg_db)
    assert code == 1 and f"store green {SLOT} member s1: meter reading energy_kwh: expected 2.0 kWh" in err
    with pytest.raises(StoreUnreadable, match="cannot read the store"), \
            open_read_only(url=pg_db.rsplit("/", 1)[0] + "/no_such_db").snapshot():
        pass
