"""Feedback to a member on its recent orders (seed 004, Alg. 5 step 5: unsuccessful bidders are told why and
where the price settled, so they can bid closer to it next time). Pure: orders and stored results in, plain
words out.

For each order: the slot's outcome (``won``: all of its energy traded; ``partly``; ``not won``; ``void``: the
slot did not clear; ``pending``: not cleared yet), the energy asked and traded, the clearing price and the
**gap** to it in tokens/kWh: how far the order's price was on the wrong side of the clearing price (a buyer:
``p0 − bid``; a seller: ``ask − p0``); positive means the price kept the order out, zero or negative means the
price was good enough. Block orders use their best block (a buyer's highest bid, a seller's lowest ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from transactive.store import OrderRecord, Slot, SlotState

TOLERANCE_KWH = 1e-9


@dataclass(frozen=True)
class OrderFeedback:
    """What became of one order; ``money`` is what the member received (+) or paid (−) in tokens."""

    slot_start: str
    side: str
    outcome: str
    reason: str
    asked_kwh: float
    traded_kwh: float
    price_per_kwh: float | None
    clearing_price_per_kwh: float | None
    gap_per_kwh: float | None
    money: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(entry: Mapping[str, Any]) -> list[tuple[float, float | None]]:
    if "blocks" in entry:
        return [(float(b["energy_kwh"]), b.get("price_per_kwh")) for b in entry["blocks"]]
    return [(float(entry["energy_kwh"]), entry.get("price_per_kwh"))]


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def feedback(order: OrderRecord, slot: Slot | None, result: Mapping[str, Any] | None) -> OrderFeedback:
    """The feedback on ``order`` given its slot record and the slot's stored result document (or None)."""
    buyer = order.side == "buyers"
    side = "buy" if buyer else "sell"
    blocks = _blocks(order.entry)
    asked = sum(e for e, _ in blocks)
    prices = [float(p) for _, p in blocks if p is not None]
    price = (max(prices) if buyer else min(prices)) if prices else None
    base: dict[str, Any] = {"slot_start": order.slot_start, "side": side, "asked_kwh": asked, "price_per_kwh": price}
    if result is None:
        if slot is not None and slot.state is SlotState.VOID:
            return OrderFeedback(**base, outcome="void", reason=f"The slot did not clear: {slot.note or 'void'}.",
                                 traded_kwh=0.0, clearing_price_per_kwh=None, gap_per_kwh=None, money=0.0)
        return OrderFeedback(**base, outcome="pending", reason="Not cleared yet.", traded_kwh=0.0,
                             clearing_price_per_kwh=None, gap_per_kwh=None, money=0.0)
    rows = result.get("buyers" if buyer else "sellers", [])
    row: Mapping[str, Any] = next((r for r in rows if str(r.get("id")) == order.member), {})
    traded = float(row.get("energy_kwh", 0.0))
    payment = float(row.get("payment", 0.0))
    money = -payment if buyer else payment
    p0 = result.get("price_per_kwh")
    if p0 is None:
        return OrderFeedback(**base, outcome="not won", traded_kwh=traded, clearing_price_per_kwh=None,
                             gap_per_kwh=None, money=money,
                             reason="Nothing traded in this slot: no bid reached an ask.")
    p0 = float(p0)
    gap = None if price is None else round((p0 - price) if buyer else (price - p0), 9)
    did = "bought" if buyer else "sold"
    if traded >= asked - TOLERANCE_KWH:
        outcome, reason = "won", f"You {did} all {_num(asked)} kWh; the price was {_num(p0)} per kWh."
    elif traded > TOLERANCE_KWH:
        outcome = "partly"
        reason = (f"You {did} {_num(traded)} of {_num(asked)} kWh at {_num(p0)} per kWh: "
                  + ("the sellers chosen offered more than the buyers wanted, so each sold less."
                     if not buyer else "not all of it found a seller."))
    elif gap is not None and gap > 0:
        outcome = "not won"
        word, where, move = ("bid", "below", "higher") if buyer else ("ask", "above", "lower")
        reason = (f"Your {word} of {_num(price or 0.0)} was {_num(gap)} {where} the price of {_num(p0)} per kWh: "
                  f"a {word} {_num(gap)} {move} would have been in.")
    elif price is None:
        outcome, reason = "not won", f"Your order was not chosen in this slot (the price was {_num(p0)} per kWh)."
    else:
        outcome = "not won"
        reason = (f"Your price was good enough (the price was {_num(p0)} per kWh), but your order was at the edge: "
                  "the auction uses the last orders in line to set the price fairly, and they do not trade.")
    return OrderFeedback(**base, outcome=outcome, reason=reason, traded_kwh=traded, clearing_price_per_kwh=p0,
                         gap_per_kwh=gap, money=money)
