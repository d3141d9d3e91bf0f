"""Who sees what of a slot's result (the channels of DESIGN.md, enforced here, below the API).

* **admin, validator:** the whole ``transactive.result/1`` document (validators recompute the clearing).
* **prosumer, aggregator:** the clearing price and their OWN rows only; no other participant, no details.
* **DSO:** the grid view: per slot the mechanism, price, traded volume, money flows, and the trades
  (participants with energy > 0: id, side, bus, energy, payment). Never an order: no offered quantities,
  no bid or ask prices, no blocks, no details (mechanism details can contain marginal bids), and no rows of
  participants that did not trade. Built by :meth:`transactive.ledger.audit.channels.ChannelView.dso_of_result`,
  the one place that decides what the DSO channel shows.
"""

from __future__ import annotations

from typing import Any

from transactive.errors import MarketError
from transactive.ledger.audit.channels import ChannelView
from transactive.result import ResultDocument
from transactive.store import Member, ResultRecord, Store


def _header(record: ResultRecord, result: ResultDocument) -> dict[str, Any]:
    return {"community": record.community, "slot_start": record.slot_start, "computed_at": record.computed_at,
            "mechanism": result.mechanism, "price_per_kwh": result.price_per_kwh}


def result_view(store: Store, member: Member, record: ResultRecord) -> dict[str, Any]:
    """The part of ``record`` that ``member`` may see."""
    result = ResultDocument.from_json(record.document)
    if member.role in ("admin", "validator"):
        return {**_header(record, result), "view": "full", "result": record.document}
    if member.role in ("prosumer", "aggregator"):
        sellers, buyers = result.rows_of(member.id)
        return {**_header(record, result), "view": "member", "sellers": [r.to_json() for r in sellers],
                "buyers": [r.to_json() for r in buyers]}
    if member.role == "dso":
        buses = {m.id: m.bus for m in store.list_members(record.community)}
        return {**_header(record, result), "view": "dso", **ChannelView.dso_of_result(result, buses)}
    raise MarketError("Authorization", f"role {member.role} has no result view", "forbidden")
