"""Commit first, reveal after: a slot's orders are sealed until its quotation window closes.

While a slot takes orders (its ``pending`` and ``quotation`` phases) nobody but the order's own member sees an
order: the whole-slot view of the validators and the admin is the **commitment** -- the number of orders and
``sha256`` of the canonical JSON (sorted keys, no spaces) of the list the view answers once the window has
closed (each order as :func:`order_json` renders it, in arrival order). After the window the orders are
revealed, and anyone holding the commitment recomputes it from them (:func:`order_commitment`): an order
added, dropped or changed after the commitment was shown changes the hash. This closes the front-running
channel of issue 9 (finding 10): a validator or the admin reading the bids while quotation is open.

Example:
    >>> order_commitment([])
    '0x4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transactive.market.slots import quotation_closes, window_at
from transactive.store import OrderRecord, SideName
from transactive.times import iso

__all__ = ["OrderCommitment", "order_commitment", "order_json", "sealed"]

SIDE_NAMES: Mapping[SideName, str] = {"sellers": "sell", "buyers": "buy"}


def order_json(order: OrderRecord) -> dict[str, Any]:
    """An order as the REST API and MQTT answer it (``side`` ``sell`` / ``buy``, the entry's fields inline)."""
    return {"id": order.id, "community": order.community, "slot_start": order.slot_start, "member": order.member,
            "side": SIDE_NAMES[order.side], **order.entry, "idempotency_key": order.idempotency_key,
            "received_at": order.received_at}


def order_commitment(orders: Sequence[OrderRecord]) -> str:
    """``0x`` + SHA-256 of the canonical JSON of ``[order_json(o) for o in orders]`` (arrival order)."""
    raw = json.dumps([order_json(o) for o in orders], sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "0x" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def sealed(start: datetime, slot_minutes: int, now: datetime) -> bool:
    """Whether the slot starting at ``start`` still takes orders at ``now`` (its orders are not revealed)."""
    return window_at(start, slot_minutes, now).phase.takes_orders


@dataclass(frozen=True)
class OrderCommitment:
    """What the whole-slot view shows while the slot takes orders: ``count`` orders, their ``commitment`` hash
    (:func:`order_commitment`) and when they are revealed (``reveals_at``, the close of quotation)."""

    community: str
    slot_start: str
    count: int
    commitment: str
    reveals_at: str

    @classmethod
    def of(cls, community: str, start: datetime, slot_minutes: int, orders: Sequence[OrderRecord]) -> OrderCommitment:
        return cls(community, iso(start), len(orders), order_commitment(orders),
                   iso(quotation_closes(start, slot_minutes)))

    def to_json(self) -> dict[str, Any]:
        return {"community": self.community, "slot_start": self.slot_start, "revealed": False, "count": self.count,
                "commitment": self.commitment, "reveals_at": self.reveals_at}
