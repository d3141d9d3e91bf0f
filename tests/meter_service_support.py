"""The service with meters on the embedded chain, for the signed-readings tests (issue 9): a store, an operator
with its ledger desk and meter desk, community ``green`` (uniform) with prosumers ``s`` and ``b`` and the DSO
``grid``, and a slot in which ``s`` sells 2 kWh to ``b`` (cleared and anchored).

Used by ``tests/integration/service/test_signed_readings_settle.py`` and ``test_registry_at_the_slots_block.py``
(import it like ``service_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transactive.market import ManualClock, Operator
from transactive.market.ledger.config import SETTLEMENT
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.market.meters import MeterDesk
from transactive.market.multi_signing import slot_number
from transactive.settlement.meter_readings import sign_reading
from transactive.store import Store, open_store

SLOT = "2026-03-01T10:15:00Z"
METER_S, METER_S2, METER_B = bytes(31) + b"\x21", bytes(31) + b"\x23", bytes(31) + b"\x22"  # the meters' keys


@dataclass
class MeterService:
    data: Path
    store: Store
    operator: Operator
    desk: LedgerDesk
    meters: MeterDesk
    clock: ManualClock
    admin: Any
    seller: Any
    buyer: Any
    dso: Any

    def signed(self, key: bytes, member: str, wh: int, slot: str = SLOT) -> dict[str, object]:
        """A reading of ``wh`` Wh for ``member`` in ``slot`` as the intake takes it, signed by meter ``key``."""
        reading = sign_reading(key, "green", member, slot=slot_number(slot), energy_wh=wh, domain=self.desk.domain)
        return {"slot_start": slot, "energy_kwh": wh / 1000, "signature": reading.signature}

    def meter_address(self, key: bytes) -> str:
        """The address of meter ``key`` (what the Registry holds for a member's meter)."""
        return sign_reading(key, "-", "-", slot=0, energy_wh=0, domain=self.desk.domain).meter

    def settlement_state_on_chain(self, slot: str = SLOT) -> int:
        """The ``MarketSlots`` state of ``slot``'s settlement slot."""
        rec = self.store.get_ledger_slot("green", slot, SETTLEMENT)
        assert rec is not None
        return int(self.desk.chain.call(self.desk.slots, "slots", rec.chain_slot)[0])

    def trade_and_anchor(self, slot: str = SLOT) -> None:
        """``s`` sells 2 kWh to ``b`` in ``slot`` (0.1 / 0.3 per kWh): cleared, anchored, and the clock moved to
        one minute after the slot's end (its readings are due)."""
        start = datetime.fromisoformat(slot)
        for member, side, price in ((self.seller, "sell", 0.1), (self.buyer, "buy", 0.3)):
            self.operator.submit_order(member, "green", {"side": side, "slot_start": slot, "idempotency_key": slot,
                                                         "energy_kwh": 2.0, "price_per_kwh": price})
        self.operator.clear_slot("green", start)
        assert self.desk.anchor("green", slot).state == "anchored"
        self.clock.set(start + timedelta(minutes=16))

    def close(self) -> None:
        """Close the desk and the store (so ``verify_archive`` may open the archive's chain)."""
        self.desk.close()
        self.store.close()


@contextmanager
def meter_service(tmp_path: Path, admin_token: str) -> Iterator[MeterService]:
    """The service at 10:00 UTC on 2026-03-01, data in ``tmp_path/service``, no order yet; closed on exit."""
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    data = tmp_path / "service"
    store = open_store(data)
    operator = Operator(store, clock)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=data / "chain", archive_dir=data), started=clock.now())
    try:
        operator.ledger = desk
        meters = MeterDesk(operator)
        admin = operator.ensure_admin(admin_token)
        operator.create_community("green", "uniform", {}, 15)
        seller, _ = operator.add_member("green", "s", "prosumer")
        buyer, _ = operator.add_member("green", "b", "prosumer")
        dso, _ = operator.add_member("green", "grid", "dso")
        yield MeterService(data, store, operator, desk, meters, clock, admin, seller, buyer, dso)
    finally:
        desk.close()
        store.close()
