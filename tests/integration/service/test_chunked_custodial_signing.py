"""The auctioneer signs a slot's orders in chunks on threads while it builds the next chunk's rows
(:meth:`~transactive.market.ledger.anchoring.LedgerAnchoring.build_batch`, issue 13): whatever the chunk size,
the batch is the same -- the stored orders in arrival order (nonce = seq << 8), each signed by its member's
custodial key exactly as one wallet signature (:func:`~transactive.ledger.messages.orders.sign_order`), each
carrying the struct hash of its trader's attributes record -- and the slot is anchored."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.crypto.signing import Signer
from transactive.grid.feeder import load_feeder
from transactive.ledger.messages.orders import sign_order, verify_orders
from transactive.market import ManualClock
from transactive.market.ledger import anchoring
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk

ADMIN = "tk_admin_chunked_signing"
SLOT = "2026-03-01T10:15:00Z"


def test_a_batch_signed_in_chunks_is_the_batch_of_one_signature_per_order(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    buses = load_feeder().load_buses
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain")))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as client:
        assert client.post("/admin/communities", json={"name": "feeder"}, headers=admin).status_code == 201
        client.post("/admin/communities/feeder/members", headers=admin,
                    json={"id": "grid", "role": "dso", "bus": "substation"})
        for i in range(7):
            name, sell = f"m{i}", i % 2 == 0
            r = client.post("/admin/communities/feeder/members", headers=admin,
                            json={"id": name, "role": "prosumer", "bus": buses[3 * i]})
            key = {"Authorization": f"Bearer {r.json()['api_key']}"}
            welfare = {"a": 0.01, "b": 1.0, "c": 0.5} if sell else {"omega": 60.0, "alpha": 0.2}
            r = client.post("/communities/feeder/orders", headers=key, json={
                "side": "sell" if sell else "buy", "slot_start": SLOT, "idempotency_key": "k",
                "energy_kwh": 1 + i, "price_per_kwh": 0.10 + 0.02 * i, "distance_pref_m": 150.0, **welfare})
            assert r.status_code == 201, r.text
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/feeder/slots/{SLOT}/clear", headers=admin).json()["state"] == \
            "cleared"
        desk: LedgerDesk = app.state.service.ledger
        whole = desk.build_batch("feeder", SLOT)  # one chunk
        monkeypatch.setattr(anchoring, "SIGN_CHUNK", 2)  # four chunks, signed on threads
        chunked = desk.build_batch("feeder", SLOT)
        assert chunked.to_json() == whole.to_json()

        stored = desk.store.orders_in_slot("feeder", SLOT)
        keys = {a.member: a.private_key_hex for a in desk.store.chain_accounts("feeder")}
        assert [o.message.nonce for o in chunked.orders] == [o.seq << 8 for o in stored if o.seq is not None]
        for order, record, attributes in zip(stored, chunked.orders, chunked.attributes, strict=True):
            key = keys[order.member]
            assert key is not None
            signer = Signer(bytes.fromhex(key))
            assert record.message.trader == attributes.message.trader == signer.address
            assert record.message.attributes_hash == attributes.message.struct_hash()
            assert record.signature == sign_order(signer, record.message, chunked.domain).signature
        assert verify_orders(chunked.orders, chunked.domain).rejected == []

        desk.process_due(clock.now())
        rec = desk.store.get_ledger_slot("feeder", SLOT, "clearing")
        assert rec is not None and rec.state == "anchored", rec and rec.document.get("note")
        assert rec.document["batch"]["orderRoot"] == whole.to_json()["orderRoot"]
