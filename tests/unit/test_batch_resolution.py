"""One rounding to batch resolution (issue 12, finding 4): every place that brings a figure to what a signed
slot batch carries -- the operator's clearing with the ledger, the market-file batch builder, the service's
order quantiser, signed attributes, the day's prosumer attributes -- gives the value of the integer the
signed order carries (``round(value × scale)``, nearest, ties to even)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from transactive.crypto.eip712 import Domain
from transactive.crypto.signing import Signer
from transactive.ledger.messages.attributes import ParticipantAttributes
from transactive.ledger.messages.batch import at_batch_resolution as doc_at_batch_resolution
from transactive.ledger.messages.batch import signed_market_batch
from transactive.market import ManualClock, Operator
from transactive.market.ledger.batch import quantised_entry
from transactive.market.ledger.desk import LedgerConfig, LedgerDesk
from transactive.marketfile import parse_market
from transactive.registry import full_registry
from transactive.sim.day import prosumer_attributes
from transactive.store import open_store
from transactive.units import BATCH_SCALES, at_batch_resolution, entry_at_batch_resolution

TIE_KWH = 792.2965  # x 1000 is the float 792296.5: a tie, to even 792296; round(x, 3) would give 792.297
ADDRESS = "0x" + "11" * 20


def _doc(energy_kwh: float, price: float) -> dict[str, Any]:
    return {"format": "transactive.market/1", "mechanism": "uniform",
            "sellers": [{"id": "s", "energy_kwh": energy_kwh, "price_per_kwh": price}],
            "buyers": [{"id": "b", "energy_kwh": 1000.0, "price_per_kwh": 0.5}]}


def test_the_tie_goes_to_even_everywhere() -> None:
    assert TIE_KWH * 1000 == 792296.5
    assert at_batch_resolution(TIE_KWH, 1000) == 792.296
    assert doc_at_batch_resolution(_doc(TIE_KWH, 0.1))["sellers"][0]["energy_kwh"] == 792.296
    assert quantised_entry({"energy_kwh": TIE_KWH, "price_per_kwh": 0.1}) == [(792296, 100000)]
    market = parse_market(_doc(TIE_KWH, 0.1), full_registry())
    domain = Domain(chain_id=1, verifying_contract=ADDRESS)
    batch = signed_market_batch(market, {"s": Signer(b"\x01" * 32), "b": Signer(b"\x02" * 32)},
                                domain=domain, slot=1)
    assert batch.orders[0].message.energy_wh == 792296


def test_the_operator_clears_at_the_batch_resolution(tmp_path: Path) -> None:
    """The service's intake with the ledger: an order of 792.2965 kWh clears as the 792,296 Wh it is signed as
    (an hourly community: the 1,000 kW connection limit allows 1,000 kWh a slot, docs/api.md)."""
    clock = ManualClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    store = open_store(tmp_path)
    operator = Operator(store, clock)
    desk = LedgerDesk(store, LedgerConfig(chain_dir=tmp_path / "chain"), started=clock.now())
    try:
        operator.ledger = desk
        operator.create_community("green", "uniform", {}, 60)
        seller, _ = operator.add_member("green", "s", "prosumer")
        buyer, _ = operator.add_member("green", "b", "prosumer")
        slot = "2026-03-01T11:00:00Z"
        operator.submit_order(seller, "green", {"side": "sell", "slot_start": slot, "idempotency_key": "1",
                                                "energy_kwh": TIE_KWH, "price_per_kwh": 0.1})
        operator.submit_order(buyer, "green", {"side": "buy", "slot_start": slot, "idempotency_key": "2",
                                               "energy_kwh": 1000.0, "price_per_kwh": 0.5})
        operator.clear_slot("green", datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
        result = store.get_result("green", slot)
        assert result is not None
        assert result.document["sellers"][0]["energy_kwh"] == 792.296
    finally:
        desk.close()
        store.close()


finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300)
@given(energy=finite, price=st.floats(min_value=0.0, max_value=1e3), pref=finite, a=finite, omega=finite)
def test_every_call_site_agrees(energy: float, price: float, pref: float, a: float, omega: float) -> None:
    """Market-file builder, order quantiser and signed attributes give the same numbers as the one rule."""
    wh, micro = round(energy * 1000), round(price * 1e6)
    expected = {"energy_kwh": wh / 1000, "price_per_kwh": micro / 1e6, "distance_pref_m": round(pref * 1000) / 1000,
                "a": round(a * 1e9) / 1e9, "omega": round(omega * 1e9) / 1e9}
    entry = {"id": "p", "energy_kwh": energy, "price_per_kwh": price, "distance_pref_m": pref, "a": a,
             "omega": omega}
    doc = {"sellers": [entry], "buyers": [{**entry, "blocks": [{"energy_kwh": energy, "price_per_kwh": price}]}]}
    rounded = doc_at_batch_resolution(doc)
    seller = rounded["sellers"][0]
    assert {k: seller[k] for k in expected} == expected
    assert rounded["buyers"][0]["blocks"][0] == {"energy_kwh": wh / 1000, "price_per_kwh": micro / 1e6}
    assert entry_at_batch_resolution(entry) == seller
    assert quantised_entry(entry) == [(wh, micro)]
    columns = ParticipantAttributes.from_values(ADDRESS, slot=1, bus="1", distance_pref_m=pref, a=a,
                                                omega=omega).columns()
    assert {k: columns[k] for k in ("distance_pref_m", "a", "omega")} == {
        k: expected[k] for k in ("distance_pref_m", "a", "omega")}
    # rounding twice changes nothing (a batch-resolution file is a fixed point)
    assert doc_at_batch_resolution(rounded) == rounded


def test_the_days_prosumer_attributes_are_at_batch_resolution() -> None:
    for row in prosumer_attributes(3, [str(k) for k in range(40)]):
        for key, scale in BATCH_SCALES.items():
            if key in row:
                value = row[key]
                assert isinstance(value, float)
                assert value == at_batch_resolution(value, scale)
                assert math.isclose(value * scale, round(value * scale), abs_tol=1e-6)
