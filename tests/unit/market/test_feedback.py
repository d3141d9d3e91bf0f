"""Feedback on one order (seed 004 Alg. 5 step 5), pure: block orders use their best block, an order without a
price is not told its price was good enough, and the gap's sign follows the side."""

from __future__ import annotations

from typing import Any

from transactive.market.feedback import feedback
from transactive.store import OrderRecord, SideName, Slot, SlotState

S = "2026-03-01T10:15:00Z"


def _order(side: SideName, entry: dict[str, Any]) -> OrderRecord:
    return OrderRecord("o", "c", S, "m", side, entry, "k", S)


def _result(price: float | None, side: str, energy: float, payment: float) -> dict[str, Any]:
    return {"price_per_kwh": price, side: [{"id": "m", "energy_kwh": energy, "payment": payment}]}


def test_block_orders_use_the_best_block_and_the_gap_follows_the_side() -> None:
    blocks = {"blocks": [{"energy_kwh": 1.0, "price_per_kwh": 0.2}, {"energy_kwh": 2.0, "price_per_kwh": 0.35}]}
    buy = feedback(_order("buyers", blocks), None, _result(0.3, "buyers", 1.0, 0.3))
    assert (buy.outcome, buy.asked_kwh, buy.price_per_kwh, buy.gap_per_kwh, buy.money) == ("partly", 3.0, 0.35,
                                                                                           -0.05, -0.3)
    sell = feedback(_order("sellers", blocks), None, _result(0.3, "sellers", 0.0, 0.0))
    assert (sell.outcome, sell.price_per_kwh, sell.gap_per_kwh) == ("not won", 0.2, -0.1)  # good enough, left out
    assert "good enough" in sell.reason
    high = feedback(_order("sellers", {"energy_kwh": 1.0, "price_per_kwh": 0.5}), None, _result(0.3, "sellers", 0, 0))
    assert high.gap_per_kwh == 0.2 and "0.5 was 0.2 above the price of 0.3" in high.reason


def test_no_price_void_pending_and_no_trade() -> None:
    bare = _order("sellers", {"energy_kwh": 1.0})
    unpriced = feedback(bare, None, _result(0.3, "sellers", 0.0, 0.0))
    assert (unpriced.outcome, unpriced.gap_per_kwh) == ("not won", None)
    assert "good enough" not in unpriced.reason and "not chosen" in unpriced.reason
    void = feedback(bare, Slot("c", S, 15, SlotState.VOID, "no buyers"), None)
    assert (void.outcome, void.reason) == ("void", "The slot did not clear: no buyers.")
    assert feedback(bare, None, None).outcome == "pending"
    none = feedback(_order("buyers", {"energy_kwh": 1.0, "price_per_kwh": 0.1}), None, _result(None, "buyers", 0, 0))
    assert (none.outcome, none.clearing_price_per_kwh, none.gap_per_kwh) == ("not won", None, None)
