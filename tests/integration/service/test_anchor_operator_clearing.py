"""The auctioneer anchors the operator's one clearing, and the validators check it (issue 13,
:mod:`transactive.market.ledger.operator_clearing`): a slot cleared by the operator is anchored with the
entries of that clearing; when the operator's clearing is wrong (here: priced 0.16 instead of DPDA's 0.15, so
the stored result is wrong too) the validators, recomputing the signed batch from scratch, endorse another root:
the auctioneer is outvoted (a dissenter), the chain holds the validators' root and the anchor record is
``failed``, whether the in-process validators share their recomputation or not."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from transactive.api import Settings, create_app
from transactive.ledger.audit.proofs import SlotBatch
from transactive.ledger.clearance.protocol import auctioneer_index, recompute, slot_rewards
from transactive.ledger.messages.commitments import result_tree
from transactive.market import ManualClock
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.marketfile import Market
from transactive.result import Allocation, ClearingResult

ADMIN = "tk_admin_operator_clearing"
SLOT = "2026-03-01T10:15:00Z"


def _mispriced(result: ClearingResult, price: float) -> ClearingResult:
    """The same trades at another price (both sides' payments = energy x price)."""
    def at(side: Allocation) -> Allocation:
        return replace(side, payment=np.asarray(side.energy_kwh) * price)
    return replace(result, price_per_kwh=price, sellers=at(result.sellers), buyers=at(result.buyers))


def _anchor(tmp_path: Path, *, share: bool, wrong: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    if wrong:  # the operator's clearing only: the validators clear the batch through protocol._clear
        clear = Market.clear
        monkeypatch.setattr(Market, "clear", lambda self: _mispriced(clear(self), 0.16))
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp_path, admin_key=ADMIN, clock=clock, run_cycle=False,
                              ledger=LedgerConfig(chain_dir=tmp_path / "chain", share_recomputation=share)))
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as client:
        assert client.post("/admin/communities", headers=admin,
                           json={"name": "green", "mechanism": "dpda", "slot_minutes": 15}).status_code == 201
        keys = {}
        for name in ("s1", "s2", "b1", "b2"):
            r = client.post("/admin/communities/green/members", headers=admin,
                            json={"id": name, "role": "prosumer", "bus": "34"})
            keys[name] = {"Authorization": f"Bearer {r.json()['api_key']}"}
        for who, side, kwh, price in [("s1", "sell", 3, 0.10), ("s2", "sell", 2, 0.12), ("b1", "buy", 2.5, 0.2),
                                      ("b2", "buy", 2, 0.18)]:
            r = client.post("/communities/green/orders", headers=keys[who], json={
                "side": side, "slot_start": SLOT, "idempotency_key": "k", "energy_kwh": kwh, "price_per_kwh": price})
            assert r.status_code == 201, r.text
        clock.set(datetime(2026, 3, 1, 10, 19, tzinfo=UTC))
        assert client.post(f"/admin/communities/green/slots/{SLOT}/clear", headers=admin).json()["state"] == "cleared"
        desk: LedgerDesk = app.state.service.ledger
        desk.process_due(clock.now())
        rec = desk.store.get_ledger_slot("green", SLOT, "clearing")
        stored = desk.store.get_result("green", SLOT)
        assert rec is not None and stored is not None
        batch = SlotBatch.from_json(rec.document["batch"])
        honest = result_tree(rec.chain_slot, recompute(batch, rewards=slot_rewards(desk.chain, desk.slots,
                                                                                   rec.chain_slot))).root
        on_chain = bytes(desk.chain.call(desk.slots, "slots", rec.chain_slot)[6])
        auctioneer = desk.validators[auctioneer_index(rec.chain_slot, len(desk.validators))].address
        return rec, stored.document["price_per_kwh"], honest, on_chain, auctioneer


@pytest.mark.parametrize("share", [True, False])
def test_the_operators_clearing_is_anchored(tmp_path: Path, share: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    rec, price, honest, on_chain, _ = _anchor(tmp_path, share=share, wrong=False, monkeypatch=monkeypatch)
    assert rec.state == "anchored" and price == pytest.approx(0.15)
    assert on_chain == honest and rec.document["resultRoot"] == "0x" + honest.hex()
    assert rec.document["dissenters"] == []
    # DPDA: s1 sells 2.5 kWh to b1 at p0 = 0.15 (375,000 micro-tokens)
    assert sorted(e["amountMicro"] for e in rec.document["results"] if e["amountMicro"]) == [-375_000, 375_000]


@pytest.mark.parametrize("share", [True, False])
def test_a_wrong_operator_clearing_is_outvoted_by_the_validators(tmp_path: Path, share: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rec, price, honest, on_chain, auctioneer = _anchor(tmp_path, share=share, wrong=True, monkeypatch=monkeypatch)
    assert price == pytest.approx(0.16)  # the stored result is the wrong clearing
    assert rec.state == "failed" and "outvoted" in rec.document["note"]
    assert on_chain == honest  # the validators' root, recomputed from the signed batch
    assert rec.document["dissenters"] == [auctioneer] and rec.document["resultRoot"] == "0x" + honest.hex()
    assert "results" not in rec.document  # nothing of the wrong clearing is recorded as anchored


def test_the_anchoring_signs_the_orders_the_operator_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The slot's orders are read from the store once (by the operator, after closing the slot): the anchoring
    signs those (100,000 orders a slot), and the batch holds exactly the stored orders."""
    from transactive.store.sql import SqlStore

    reads: list[tuple[str, str]] = []
    read = SqlStore.orders_in_slot

    def counted(self: SqlStore, community: str, slot_start: str) -> Any:
        reads.append((community, slot_start))
        return read(self, community, slot_start)

    monkeypatch.setattr(SqlStore, "orders_in_slot", counted)
    rec, _, honest, on_chain, _ = _anchor(tmp_path, share=True, wrong=False, monkeypatch=monkeypatch)
    assert rec.state == "anchored" and on_chain == honest
    assert reads.count(("green", SLOT)) == 1
    batch = SlotBatch.from_json(rec.document["batch"])
    assert sorted((o.message.side, o.message.energy_wh, o.message.price_micro_per_kwh) for o in batch.orders) == [
        (0, 2000, 120_000), (0, 3000, 100_000), (1, 2000, 180_000), (1, 2500, 200_000)]


def test_the_anchor_record_is_stored_three_times_with_every_transaction(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The anchor record (its document holds the whole batch: ~60 MB at 100,000 orders) is stored once batched,
    once with the root and signatures before the submission, once anchored (issue 13); the hashes of
    ``open_and_commit`` and ``submit_result`` ride with those saves instead of a save each, and are exactly the
    mined transactions the store's intents hold for the slot."""
    from transactive.store.sql import SqlStore

    saves: list[tuple[str, list[str]]] = []
    mined: dict[str, str] = {}
    put = SqlStore.put_ledger_slot

    def counted(self: SqlStore, record: Any, expected_state: str | None) -> bool:
        if record.kind == "clearing" and record.slot_start == SLOT:
            saves.append((record.state, sorted(record.document.get("txs", {}))))
            if record.state == "anchored":
                mined.update({i.step: i.tx_hash for i in self.tx_intents(str(record.chain_slot)) if i.state == "mined"})
        return put(self, record, expected_state)

    monkeypatch.setattr(SqlStore, "put_ledger_slot", counted)
    rec, _, honest, on_chain, _ = _anchor(tmp_path, share=True, wrong=False, monkeypatch=monkeypatch)
    assert rec.state == "anchored" and on_chain == honest
    assert saves == [("batched", []), ("batched", ["open_and_commit"]),
                     ("anchored", ["open_and_commit", "submit_result"])]
    assert rec.document["txs"] == mined  # the transactions sent for the slot, as the intents recorded them
