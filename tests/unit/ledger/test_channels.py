"""Channels: the DSO view carries results, distances and grid charges but never an individual bid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transactive.crypto.eip712 import SIDE_BUY, SIDE_SELL, Domain
from transactive.crypto.signing import Signer
from transactive.ledger.audit.channels import ROLE_DSO, ROLE_PROSUMER, ChannelView
from transactive.ledger.audit.proofs import ResultEntry, SlotBatch
from transactive.ledger.messages.orders import OrderMessage, sign_order
from transactive.result import Allocation, ClearingResult

# distinctive bid figures that appear nowhere in the results
SELL_WH, SELL_MICRO = 4_321, 123_457  # offered 4.321 kWh at 0.123457 tokens/kWh; 3 kWh trade
BUY_WH, BUY_MICRO = 3_777, 198_765


def slot_view() -> tuple[ChannelView, Signer, Signer]:
    domain = Domain(chain_id=31337, verifying_contract="0x" + "42" * 20)
    s, b = Signer(bytes(31) + b"\x05"), Signer(bytes(31) + b"\x06")
    orders = (
        sign_order(s, OrderMessage(s.address, 8, SIDE_SELL, SELL_WH, SELL_MICRO, 11), domain),
        sign_order(b, OrderMessage(b.address, 8, SIDE_BUY, BUY_WH, BUY_MICRO, 12), domain),
    )
    results = (ResultEntry(s.address, 3_000, 449_000), ResultEntry(b.address, -3_000, -451_000))
    batch = SlotBatch(domain, 8, orders, results, mechanism="score_matching", params={})
    trade = {"buyer": b.address, "seller": s.address, "energy_kwh": 3.0, "distance_m": 500.0, "charge": 0.002,
             "score": 0.7}
    result = ClearingResult(
        "score_matching", 0.15, Allocation(np.array([3.0]), np.array([0.449])),
        Allocation(np.array([3.0]), np.array([0.451])),
        {"trades": [trade], "total_charge": 0.002, "charge_per_km": 0.004,
         "marginal_seller_price_per_kwh": SELL_MICRO / 1e6, "x": [SELL_WH / 1000]},
    )
    return ChannelView(batch, result), s, b


def bid_figures() -> list[str]:
    figures = [SELL_WH, SELL_MICRO, BUY_WH, BUY_MICRO]
    return [str(f) for f in figures] + [repr(f / 1000) for f in (SELL_WH, BUY_WH)] + [
        repr(f / 1e6) for f in (SELL_MICRO, BUY_MICRO)]


def test_dso_view_has_results_distances_and_charges_but_no_bid() -> None:
    view, s, b = slot_view()
    doc = view.for_roles(ROLE_DSO)
    assert doc["results"] == [{"account": s.address, "energyWh": 3_000, "amountMicro": 449_000},
                              {"account": b.address, "energyWh": -3_000, "amountMicro": -451_000}]
    assert doc["trades"] == [{"buyer": b.address, "seller": s.address, "energy_kwh": 3.0, "distance_m": 500.0,
                              "charge": 0.002}]
    assert doc["total_charge"] == 0.002 and doc["resultRoot"] == "0x" + view.batch.result_root.hex()
    text = json.dumps(doc)
    for figure in bid_figures():
        assert figure not in text, figure
    for word in ("orders", "signature", "nonce", "priceMicroPerKwh", "score", "marginal"):
        assert word not in text, word


def test_prosumer_view_has_the_bids() -> None:
    view, _, _ = slot_view()
    text = json.dumps(view.for_roles(ROLE_PROSUMER))
    for figure in (str(SELL_WH), str(SELL_MICRO), str(BUY_WH), str(BUY_MICRO)):
        assert figure in text
    assert '"score": 0.7' in text


def test_non_member_sees_nothing() -> None:
    view, _, _ = slot_view()
    with pytest.raises(PermissionError):
        view.for_roles(0)
    with pytest.raises(PermissionError):
        view.for_roles(32)  # a market contract role is no channel
