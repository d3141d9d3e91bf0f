"""The result the service stores and serves is the clearing the validators endorse and the chain pays
(``docs/settlement.md`` section 4): a ``p2p_average_price`` slot whose average price (seed 003 eq. 1) makes a
seller it fills sell below its ask is served as its ``balanced_budget`` remedy, row for row equal to the
anchored result entries (Wh and micro-tokens); a slot that is individually rational is served exactly as
``transactive clear`` prints it, with no ``details.remedy``."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transactive.market import ManualClock, Operator
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.marketfile import parse_market, result_document
from transactive.store import open_store
from transactive.units import energy_to_wh, money_to_micro

SLOT = "2026-03-01T10:15:00Z"


def _orders(seed: int) -> list[tuple[str, str, float, float]]:
    rng = random.Random(seed)
    return [(f"{side[0]}{k}", side, rng.randint(100, 4_000) / 1000, rng.randint(*prices) / 1e6)
            for side, prices in (("sell", (20_000, 120_000)), ("buy", (60_000, 200_000))) for k in range(5)]


@pytest.mark.parametrize(("mechanism", "remedied"), [("p2p_average_price", True), ("uniform", False)])
def test_the_served_result_is_the_endorsed_one(mechanism: str, remedied: bool, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    store = open_store(tmp_path)
    operator = Operator(store, clock)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain", archive_dir=tmp_path), started=clock.now())
    try:
        operator.ledger = desk
        operator.create_community("green", mechanism, {}, 15)
        orders = _orders(1)
        for who, side, kwh, price in orders:
            key, _ = operator.add_member("green", who, "prosumer")
            operator.submit_order(key, "green", {"side": side, "slot_start": SLOT, "idempotency_key": "1",
                                                 "energy_kwh": kwh, "price_per_kwh": price})
        operator.clear_slot("green", datetime(2026, 3, 1, 10, 15, tzinfo=UTC))
        stored = store.get_result("green", SLOT)
        assert stored is not None
        served = stored.document
        own = parse_market({"format": "transactive.market/1", "mechanism": mechanism, "params": {},
                            "sellers": [{"id": w, "energy_kwh": k, "price_per_kwh": p}
                                        for w, s, k, p in orders if s == "sell"],
                            "buyers": [{"id": w, "energy_kwh": k, "price_per_kwh": p}
                                       for w, s, k, p in orders if s == "buy"]})
        printed = result_document(own, own.clear())  # what `transactive clear` prints
        ask = {w: p for w, s, _, p in orders}
        if remedied:
            # seed 003's average price makes a seller it fills sell below its ask: the remedy is served
            assert any(r["energy_kwh"] > 0 and r["payment"] < r["energy_kwh"] * ask[r["id"]] - 1e-9
                       for r in printed["sellers"])
            assert served["details"]["remedy"]["policy"] == "balanced_budget"
            assert served["details"]["remedy"]["mechanism_price_per_kwh"] == printed["price_per_kwh"]
            assert served["mechanism"] == mechanism
        else:
            assert served == printed
        for r in served["sellers"]:  # individually rational as served
            assert r["payment"] >= r["energy_kwh"] * ask[r["id"]] - 1e-9
        for r in served["buyers"]:
            assert r["payment"] <= r["energy_kwh"] * ask[r["id"]] + 1e-9
        anchored = desk.anchor("green", SLOT)
        assert anchored.state == "anchored"
        entries = {e["account"]: (e["energyWh"], e["amountMicro"]) for e in anchored.document["results"]}
        for side, sign in (("sellers", 1), ("buyers", -1)):
            for r in served[side]:
                account = store.chain_account(r["id"])
                assert account is not None
                wh, micro = entries.get(account.address, (0, 0))
                assert wh == sign * int(energy_to_wh(r["energy_kwh"])), r
                assert abs(micro - sign * int(money_to_micro(r["payment"]))) <= 1, r
    finally:
        desk.close()
        store.close()
