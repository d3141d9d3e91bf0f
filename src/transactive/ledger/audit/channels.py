"""Channels (seed 004; DESIGN.md *Ledger*): who may see what of a slot.

* **prosumer channel** (prosumers, aggregators, validators, admins): the whole slot -- the signed orders
  (bids), the matching (trades) and the results;
* **DSO channel**: the results, the trades' distances and grid charges and the clearing price, **never the
  individual bids** (no order, price or quantity offered, signature or nonce; no mechanism detail that
  is computed from bids, such as scores, marginal prices or the auction's internal variables).

:class:`ChannelView` builds both documents from a slot batch and, optionally, the clearing result of a
grid-aware mechanism (whose ``details["trades"]`` carry ``buyer``, ``seller``, ``energy_kwh``,
``distance_m``, ``charge``). The DSO document is built from an allow-list, so a field added to a result in
the future stays hidden from the DSO until it is allowed here. :meth:`ChannelView.for_roles` applies the
Registry's role bitmask (DSO 4 gets the DSO view; a member with any prosumer-channel role the full view;
otherwise ``PermissionError``). The off-chain store and API enforce the channels by calling it.

Choice (the seeds are silent on the exact fields): a trade's ``energy_kwh`` is a matched (result) quantity,
not an offer, so the DSO sees it -- it needs it with the distance to bill the line use; trade ``score``
(seed 004 eq. 4.1-4.5 combines the bid price with the distance) is withheld.

Example:
    >>> from transactive.crypto.eip712 import Domain
    >>> from transactive.ledger.audit.proofs import SlotBatch
    >>> batch = SlotBatch(Domain(chain_id=1, verifying_contract="0x" + "42" * 20), 5, ())
    >>> sorted(ChannelView(batch).dso())
    ['charge_per_km', 'format', 'price_per_kwh', 'resultRoot', 'results', 'slot', 'total_charge', 'trades']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transactive.ledger.chain.constants import ROLE_ADMIN, ROLE_AGGREGATOR, ROLE_DSO, ROLE_PROSUMER, ROLE_VALIDATOR

if TYPE_CHECKING:  # import-light: the service uses this module without the ledger extra installed
    from transactive.ledger.audit.proofs import SlotBatch
    from transactive.result import ClearingResult, ResultDocument

PROSUMER_CHANNEL_ROLES = ROLE_PROSUMER | ROLE_AGGREGATOR | ROLE_VALIDATOR | ROLE_ADMIN
DSO_FORMAT = "transactive.dso-view/1"
PROSUMER_FORMAT = "transactive.prosumer-view/1"
DSO_TRADE_FIELDS = ("buyer", "seller", "energy_kwh", "distance_m", "charge")
DSO_ROW_FIELDS = ("id", "energy_kwh", "payment")
"""What the DSO sees of one traded row of a service result document (``transactive.result/1``)."""

__all__ = ["DSO_FORMAT", "DSO_ROW_FIELDS", "DSO_TRADE_FIELDS", "PROSUMER_FORMAT", "ChannelView", "dso_trades"]


def _raw_trades(details: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = details.get("trades", [])
    return [dict(t) for t in raw if isinstance(t, Mapping)] if isinstance(raw, list) else []


def dso_trades(details: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A clearing's matched trades as the DSO channel shows them: :data:`DSO_TRADE_FIELDS` only (buyer,
    seller, energy, distance, grid charge; never the trade's score, which combines the bid with the distance)."""
    return [{k: t[k] for k in DSO_TRADE_FIELDS if k in t} for t in _raw_trades(details)]


class ChannelView:
    """The two channel documents of one slot."""

    def __init__(self, batch: SlotBatch, result: ClearingResult | None = None) -> None:
        self.batch = batch
        self.result = result

    def _trades(self) -> list[dict[str, Any]]:
        return _raw_trades(self.result.details if self.result is not None else {})

    def dso(self) -> dict[str, Any]:
        """Results, distances and grid charges; no bid."""
        details = self.result.details if self.result is not None else {}
        trades = dso_trades(details)
        return {
            "format": DSO_FORMAT,
            "slot": self.batch.slot,
            "resultRoot": "0x" + self.batch.result_root.hex(),
            "results": [r.to_json() for r in self.batch.results],
            "price_per_kwh": None if self.result is None else self.result.price_per_kwh,
            "trades": trades,
            "total_charge": details.get("total_charge", 0.0),
            "charge_per_km": details.get("charge_per_km"),
        }

    @staticmethod
    def dso_of_result(result: ResultDocument, buses: Mapping[str, str | None]) -> dict[str, Any]:
        """The DSO channel of an off-chain service result (``transactive.result/1``; the service's
        ``market.views``): traded volume, money flows, participant count and the trades -- rows with
        energy > 0 reduced to :data:`DSO_ROW_FIELDS` plus their side and bus. Never an order (no offered
        quantity or price, no block), no ``details`` (they can hold marginal bids) except a grid-aware
        mechanism's matched trades reduced to :data:`DSO_TRADE_FIELDS` (``grid_trades``, with both buses, and
        ``total_charge``, ``charge_per_km``), no non-trading row.

        Example:
            >>> from transactive.result import ResultDocument
            >>> doc = {"sellers": [{"id": "s", "energy_kwh": 2.0, "payment": 5.0, "price_per_kwh": 1.0}],
            ...        "buyers": [{"id": "b", "energy_kwh": 2.0, "payment": 5.0}, {"id": "x", "energy_kwh": 0.0,
            ...        "payment": 0.0}], "details": {"marginal_bid": 3.0}}
            >>> view = ChannelView.dso_of_result(ResultDocument.from_json(doc), {"s": "bus-1"})
            >>> [sorted(t) for t in view["trades"]][0], view["participants"]
            (['bus', 'energy_kwh', 'id', 'payment', 'side'], 3)
        """
        trades = [{"id": r.id, "side": side, "bus": buses.get(r.id), "energy_kwh": r.energy_kwh,
                   "payment": r.payment}
                  for side, rows in (("sell", result.sellers), ("buy", result.buyers))
                  for r in rows if r.traded]
        details = result.details or {}
        grid = [{**t, "buyer_bus": buses.get(str(t.get("buyer"))), "seller_bus": buses.get(str(t.get("seller")))}
                for t in dso_trades(details)]
        return {
            "traded_kwh": sum(r.energy_kwh for r in result.sellers),
            "sellers_received": sum(r.payment for r in result.sellers),
            "buyers_paid": sum(r.payment for r in result.buyers),
            "participants": len(result.sellers) + len(result.buyers),
            "trades": trades,
            # a grid-aware mechanism's matched pairs (dpda_matched ...): who to whom, distance, grid charge
            "grid_trades": grid,
            "total_charge": details.get("total_charge") if grid else None,
            "charge_per_km": details.get("charge_per_km") if grid else None,
        }

    def prosumer(self) -> dict[str, Any]:
        """Everything: the batch (orders, results, endorsements) and the full matching."""
        doc = {**self.batch.to_json(), "format": PROSUMER_FORMAT, "batchFormat": self.batch.to_json()["format"]}
        doc["trades"] = self._trades()
        doc["details"] = {} if self.result is None else {k: v for k, v in self.result.details.items()}
        doc["price_per_kwh"] = None if self.result is None else self.result.price_per_kwh
        return doc

    def for_roles(self, roles: int) -> dict[str, Any]:
        """The document a member with Registry role bitmask ``roles`` may see."""
        if roles & PROSUMER_CHANNEL_ROLES:
            return self.prosumer()
        if roles & ROLE_DSO:
            return self.dso()
        raise PermissionError("not a member of either channel")
