"""The operator's clearing of a slot reused by its anchoring: the auctioneer clears each slot once (issue 13).

:meth:`Operator.clear_slot <transactive.market.Operator.clear_slot>` clears the slot's stored orders (at the
ledger's batch resolution, member ids) and stores the result document; it hands its clearing to the desk
(:meth:`LedgerDesk.keep_clearing <transactive.market.ledger.desk.LedgerDesk.keep_clearing>`), which keeps the
last few in memory (:class:`ClearingMemo`), with the orders it read (a closed slot's orders are final). The anchoring
then signs the same orders as a batch (not read from the store a second time) and, instead of clearing the batch
again, takes the operator's clearing as its own (:func:`batch_clearing`) when the batch's orders are exactly the
ones the operator cleared:

* the same mechanism and params;
* sides built from the batch the way every validator builds them
  (:func:`~transactive.ledger.messages.orders.messages_to_orders` with
  :func:`~transactive.ledger.messages.attributes.attribute_columns`): the same participants (member id ->
  custodial address) in the same order, the same blocks (energy, price, owner, bit for bit) and the same
  attribute columns; a column only the batch has (an ``Attributes`` record carries both sides' welfare
  parameters) must be all zero, one only the operator's has (the parser's unset ``x_m``/``y_m``) all NaN.

The mechanism is a pure function of ``(sellers, buyers, params)`` in which ids are labels only, so the operator's
result is then the batch's clearing, aligned with the batch's sides. Otherwise (another process of a fleet
cleared the slot, a restart lost the memo, or the batch differs) the anchoring clears the batch itself
(:func:`~transactive.ledger.clearance.protocol.clear_batch`): the result entries are always made by
:func:`~transactive.ledger.clearance.protocol.recompute` from one clearing.

The validators never take it on trust: they recompute the committed batch from scratch (the desk's in-process
validators once, shared; separate processes each), so an operator's clearing that is not the batch's is outvoted
and the anchor record is ``failed`` (``docs/ledger.md``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from transactive.ledger.messages.attributes import attribute_columns
from transactive.ledger.messages.orders import OrderError, messages_to_orders

if TYPE_CHECKING:
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.orders import Orders
    from transactive.result import ClearingResult
    from transactive.store import OrderRecord

__all__ = ["ClearingMemo", "OperatorClearing", "batch_clearing"]


@dataclass(frozen=True)
class OperatorClearing:
    """One slot as the operator cleared it: the mechanism's name, its JSON params (as the batch carries them),
    both sides (participant ids = member ids) and the mechanism's result; ``orders``: the slot's stored orders
    it read after closing the slot (final from then on), which the anchoring signs instead of reading them
    again (empty: the anchoring reads them)."""

    mechanism: str
    params: Mapping[str, Any]
    sellers: Orders
    buyers: Orders
    result: ClearingResult
    orders: tuple[OrderRecord, ...] = ()


class ClearingMemo:
    """The operator's last ``keep`` clearings by ``(community, slot_start)`` (thread-safe: the operator's cycle
    and the ledger worker run in different threads)."""

    def __init__(self, *, keep: int = 4) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], OperatorClearing] = OrderedDict()

    def put(self, community: str, slot_start: str, clearing: OperatorClearing) -> None:
        with self._lock:
            self._kept[(community, slot_start)] = clearing
            self._kept.move_to_end((community, slot_start))
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)

    def get(self, community: str, slot_start: str) -> OperatorClearing | None:
        """The kept clearing of the slot, or None."""
        with self._lock:
            return self._kept.get((community, slot_start))

    def take_orders(self, community: str, slot_start: str) -> tuple[OrderRecord, ...]:
        """The orders of the kept clearing of the slot, handed over once (the clearing is kept without them:
        100,000 stored orders are not held for the next slots); empty when none are kept."""
        with self._lock:
            kept = self._kept.get((community, slot_start))
            if kept is None or not kept.orders:
                return ()
            self._kept[(community, slot_start)] = replace(kept, orders=())
            return kept.orders


def _same_side(ours: Orders, theirs: Orders, address_of: Mapping[str, str]) -> bool:
    """``theirs`` (the batch's side) is ``ours`` (the operator's, member ids) with each member's address."""
    if ours.n != theirs.n or [address_of.get(m) for m in ours.ids] != list(theirs.ids):
        return False
    if not (np.array_equal(ours.energy_kwh, theirs.energy_kwh) and np.array_equal(ours.price_per_kwh,
                                                                                   theirs.price_per_kwh)
            and np.array_equal(ours.owner, theirs.owner)):
        return False
    for name, column in theirs.attributes.items():
        mine = ours.attributes.get(name)
        if mine is None:
            if column.dtype.kind not in "fiu" or np.any(column != 0):  # an unsigned other-side parameter: 0
                return False
        elif mine.shape != column.shape or not np.array_equal(mine, column):  # exact values (a cast truncates)
            return False
    for name, column in ours.attributes.items():  # a column only the operator's side has: never given (NaN)
        if name not in theirs.attributes and (column.dtype.kind != "f" or not np.all(np.isnan(column))):
            return False
    return True


def batch_clearing(batch: SlotBatch, clearing: OperatorClearing, address_of: Mapping[str, str]
                   ) -> tuple[Orders, Orders, ClearingResult] | None:
    """``(sellers, buyers, result)`` of ``batch`` from the operator's ``clearing`` (see the module docstring):
    the batch's sides with the operator's result, or None when the batch's orders are not exactly the ones the
    operator cleared. ``address_of``: member id -> the custodial address that signed its orders."""
    if batch.mechanism != clearing.mechanism or dict(batch.params or {}) != dict(clearing.params):
        return None
    try:
        columns = attribute_columns(batch.attributes) if batch.attributes else None
        sellers, buyers = messages_to_orders((o.message for o in batch.orders), attributes=columns)
    except (OrderError, ValueError):
        return None  # the anchoring's own clearing reports it
    if not (_same_side(clearing.sellers, sellers, address_of) and _same_side(clearing.buyers, buyers, address_of)):
        return None
    return sellers, buyers, clearing.result
