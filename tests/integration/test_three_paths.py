"""One market file, three paths, the same Wh and micro-tokens (issue 12, part B):

1. the batch path: ``transactive clear FILE`` (its kWh and tokens converted by the one rounding rule);
2. the service's intake: the orders submitted to the :class:`~transactive.market.operator.Operator` in process,
   cleared, and anchored by the service's :class:`~transactive.market.ledger.desk.LedgerDesk` (custodial
   signatures, Proof of Clearance on its chain): the endorsed result entries, per member's chain account;
3. the simulated day's path: the file's participants enrolled and bidding through
   :class:`~transactive.sim.day_service.DayService` (what ``transactive day`` drives: the service's operator and
   ledger desk in process, members with their own keys and registered addresses), cleared and anchored; the
   endorsed result entries per member.

The market is generated at batch resolution (Wh, micro-tokens/kWh), where the three must agree exactly. The
community fund's row (``FUND_LEAF``: a surplus, a deficit, DPDA's excess bought at the clearing price,
``docs/settlement.md``) is the balance of the others on the batch path; the ME row moves nothing."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from transactive.cli import main
from transactive.crypto.signing import Signer
from transactive.ledger.messages.commitments import FUND_LEAF, ME_LEAF
from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.sim.day_service import DayService
from transactive.store import open_store
from transactive.units import apportion, energy_to_wh, money_to_micro

SLOT = "2026-03-01T10:15:00Z"


def market(mechanism: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)

    def side(prefix: str, low: int, high: int) -> list[dict[str, Any]]:
        return [{"id": f"{prefix}{k}", "energy_kwh": rng.randint(100, 4_000) / 1000,
                 "price_per_kwh": rng.randint(low, high) / 1e6} for k in range(6)]

    return {"format": "transactive.market/1", "mechanism": mechanism,
            "sellers": side("s", 20_000, 120_000), "buyers": side("b", 60_000, 200_000)}


def batch_path(doc: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[int, int]]:
    path = tmp_path / "market.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["clear", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    out = {}
    for side, sign in (("sellers", 1), ("buyers", -1)):  # per side, the parts add up to the rounded total
        rows = result[side]
        energies = [float(r["energy_kwh"]) for r in rows]
        payments = [float(r["payment"]) for r in rows]
        wh = apportion(energy_to_wh(math.fsum(energies)), energies)
        micro = apportion(money_to_micro(math.fsum(payments)), payments)
        for row, e, m in zip(rows, wh, micro, strict=True):
            if (e, m) != (0, 0):
                out[row["id"]] = (sign * e, sign * m)
    fund = (-sum(e for e, _ in out.values()), -sum(m for _, m in out.values()))
    if fund != (0, 0):
        out["fund"] = fund
    return out


def service_path(doc: dict[str, Any], tmp_path: Path) -> dict[str, tuple[int, int]]:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    store = open_store(tmp_path / "service")
    operator = Operator(store, clock)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "service" / "chain"), started=clock.now())
    try:
        operator.ledger = desk
        operator.create_community("green", doc["mechanism"], {}, 15)
        for side, word in (("sellers", "sell"), ("buyers", "buy")):
            for row in doc[side]:
                member, _ = operator.add_member("green", row["id"], "prosumer")
                operator.submit_order(member, "green", {"side": word, "slot_start": SLOT, "idempotency_key": "1",
                                                        "energy_kwh": row["energy_kwh"],
                                                        "price_per_kwh": row["price_per_kwh"]})
        operator.clear_slot("green", datetime(2026, 3, 1, 10, 15, tzinfo=UTC))
        rec = desk.anchor("green", SLOT)
        assert rec.state == "anchored", rec.document.get("note")
        member_of = {}
        for side in ("sellers", "buyers"):
            for row in doc[side]:
                account = store.chain_account(row["id"])
                assert account is not None
                member_of[account.address.lower()] = row["id"]
        member_of[FUND_LEAF.lower()] = "fund"
        # (claims mode adds the auctioneer's and the miner's reward leaves: zero, the service has no rewards)
        return {member_of[e["account"].lower()]: (e["energyWh"], e["amountMicro"]) for e in rec.document["results"]
                if (e["energyWh"], e["amountMicro"]) != (0, 0) and e["account"].lower() != ME_LEAF.lower()}
    finally:
        desk.close()
        store.close()


def day_path(doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    ids = [row["id"] for side in ("sellers", "buyers") for row in doc[side]]
    keys = {pid: bytes([0] * 30 + [1, k + 1]) for k, pid in enumerate(ids)}
    address = {pid: Signer(key).address for pid, key in keys.items()}
    start = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    service = DayService(doc["mechanism"], 15, datetime(2026, 3, 1, 10, 0, tzinfo=UTC), None)
    try:
        service.enrol(list(keys.values()), [None] * len(keys))
        orders = {address[row["id"]]: (sign * energy_to_wh(row["energy_kwh"]), row["price_per_kwh"])
                  for side, sign in (("sellers", 1), ("buyers", -1)) for row in doc[side]}
        service.bid(start, orders)
        assert service.clear_and_anchor(start)
        member_of = {a: pid for pid, a in address.items()} | {FUND_LEAF: "fund"}
        return {member_of[m]: (wh, micro) for m, wh, micro in service.anchored_entries(start)
                if (wh, micro) != (0, 0) and m != ME_LEAF}
    finally:
        service.close()


@pytest.mark.parametrize(("mechanism", "seed"), [
    ("uniform", 1), ("uniform", 5),
    ("pay_as_bid", 4), ("dpda", 2),
    ("mcafee", 3),
])
def test_batch_service_and_day_paths_settle_the_same_wh_and_micro_tokens(
    mechanism: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = market(mechanism, seed)
    service = service_path(doc, tmp_path)
    day = day_path(doc)
    assert service and service == day  # the two ledger paths: one Proof of Clearance, one entry rule
    assert sum(wh for wh, _ in service.values()) == 0  # Wh sold == Wh bought
    assert batch_path(doc, tmp_path, capsys) == service
